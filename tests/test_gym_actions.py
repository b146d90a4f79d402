"""Every registered environment refuses a malformed action by name, before any state changes.

Found by feeding junk actions to each id (NaN, None, a string, a wrong shape, out-of-range
values and non-integer values for a (Multi)Discrete space): AgodProvider-v0 truncated ``2.5``
to provider 2 and took the step, and None or a string raised a bare TypeError/ValueError.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")

import aigc_opt.gym  # noqa: E402  (registers the ids)
from aigc_opt.errors import ValidationError  # noqa: E402


def _junk(sample: Any) -> list[tuple[str, Any]]:
    a = np.asarray(sample)
    out: list[tuple[str, Any]] = [
        ("nan", np.full(a.shape, np.nan) if a.shape else np.nan),
        ("none", None),
        ("string", "abc"),
        ("wrong shape", np.zeros(tuple(d + 1 for d in a.shape) or (2,))),
        ("negative", -np.ones(a.shape) if a.shape else -1),
        ("too large", np.full(a.shape, 10**9) if a.shape else 10**9),
    ]
    if np.issubdtype(a.dtype, np.integer):  # (Multi)Discrete: a fraction is not an action
        out.append(("fraction", a + 0.5))
    return out


@pytest.mark.parametrize("env_id", sorted(aigc_opt.gym.ENV_IDS))
def test_junk_actions_are_refused_by_name(env_id: str) -> None:
    env = gym.make(env_id)
    env.reset(seed=3)
    for kind, action in _junk(env.action_space.sample()):
        with pytest.raises(ValidationError) as err:
            env.step(action)
        assert "action" in str(err.value), kind
    # after the refusals, a valid action still steps from the reset state
    obs, reward, *_ = env.step(env.action_space.sample())
    assert np.isfinite(reward) and env.observation_space.contains(obs)


@pytest.mark.parametrize("env_id", sorted(aigc_opt.gym.ENV_IDS))
def test_refused_actions_leave_the_episode_unchanged(env_id: str) -> None:
    """Two copies from the same seed: one first receives every junk action, then both take
    the same valid actions and see the same rewards."""
    a, b = gym.make(env_id), gym.make(env_id)
    a.reset(seed=11)
    b.reset(seed=11)
    for _kind, action in _junk(a.action_space.sample()):
        with pytest.raises(ValidationError):
            a.step(action)
    a.action_space.seed(0)
    for _ in range(3):
        act = a.action_space.sample()
        ra, rb = a.step(act)[1], b.step(act)[1]
        assert ra == rb


@pytest.mark.parametrize("kwargs,field", [
    ({"rate": 1e12}, "rate"), ({"total_time": 1e12}, "rate"), ({"rate": float("nan")}, "rate"),
    ({"total_time": -1.0}, "total_time"), ({"offline_time_limit": "abc"}, "offline_time_limit"),
    ({"offline_time_limit": None}, "offline_time_limit"),
    ({"offline_time_limit": 0.0}, "offline_time_limit"),
])
def test_agod_episode_arguments_are_refused_by_name(kwargs: dict[str, Any], field: str) -> None:
    """A huge episode (rate x total_time tasks) allocated gigabytes, up to a MemoryError, and a
    non-numeric offline_time_limit raised a bare TypeError/ValueError."""
    from aigc_opt.gym.agod import AgodProviderEnv
    from aigc_opt.problems.migration import AgodInstance

    with pytest.raises(ValidationError, match=field):
        AgodProviderEnv(**kwargs)
    episode = {k: v for k, v in kwargs.items() if k in ("rate", "total_time")}
    if episode:
        with pytest.raises(ValidationError, match=field):
            AgodInstance.generate(0, **episode)
