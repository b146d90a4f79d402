"""Every registered environment refuses a malformed action by name, before any state changes.

Found by feeding junk actions to each id (NaN, None, a string, a wrong shape, out-of-range
values and non-integer values for a (Multi)Discrete space): AgodProvider-v0 truncated ``2.5``
to provider 2 and took the step, and None or a string raised a bare TypeError/ValueError.
Later: complex numbers (``1 + 5j`` taken as 1), numeric strings (``"3"``) and bools
(``True`` as provider 1) were accepted by EdgeOffload-v0 and AgodProvider-v0. Also: every
environment refuses a step before ``reset`` and after the end of its episode (LyapunovOffload-v0
raised a bare IndexError, WpmecOffload-v0 and EdgeOffload-v0 kept going past the end).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")

import aigc_opt.gym  # noqa: E402  (registers the ids)
from aigc_opt.errors import ValidationError  # noqa: E402


def _junk(space: Any) -> list[tuple[str, Any]]:
    a = np.asarray(space.sample())
    multibinary = isinstance(space, gym.spaces.MultiBinary)
    out: list[tuple[str, Any]] = [
        ("nan", np.full(a.shape, np.nan) if a.shape else np.nan),
        ("none", None),
        ("string", "abc"),
        ("wrong shape", np.zeros(tuple(d + 1 for d in a.shape) or (2,))),
        ("negative", -np.ones(a.shape) if a.shape else -1),
        ("too large", np.full(a.shape, 10**9) if a.shape else 10**9),
    ]
    ones = np.ones(a.shape, dtype=np.int64) if a.shape else 1
    out += [("complex", np.asarray(ones) + 1j), ("real complex", np.asarray(ones) + 0j),
            ("numeric string", np.asarray(ones).astype(str) if a.shape else "1")]
    if np.issubdtype(a.dtype, np.integer):  # (Multi)Discrete: a fraction is not an action
        out.append(("fraction", a + 0.5))
        if not multibinary:  # a bool is not an index (it is a MultiBinary entry)
            out.append(("bool", np.ones(a.shape, dtype=bool) if a.shape else True))
    return out


@pytest.mark.parametrize("env_id", sorted(aigc_opt.gym.ENV_IDS))
def test_junk_actions_are_refused_by_name(env_id: str) -> None:
    env = gym.make(env_id)
    env.reset(seed=3)
    for kind, action in _junk(env.action_space):
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
    for _kind, action in _junk(a.action_space):
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


_SHORT = {  # small episodes of every id
    "aigc_opt/WpmecOffload-v0": {"n_users": 3, "episode_length": 3},
    "aigc_opt/LyapunovOffload-v0": {"n_users": 3, "episode_length": 3},
    "aigc_opt/EdgeOffload-v0": {"n_users": 3, "n_servers": 2, "n_models": 2,
                                "episode_length": 3},
    "aigc_opt/AgodProvider-v0": {"n_providers": 3, "total_time": 4e3},
}


@pytest.mark.parametrize("env_id", sorted(aigc_opt.gym.ENV_IDS))
def test_step_outside_an_episode_is_refused(env_id: str) -> None:
    """Before reset: "not reset"; after the episode's end: "episode over" (was: IndexError
    for Lyapunov, silently more frames for WPMEC and Edge); reset starts a new episode, and
    gymnasium's vector autoreset (which resets before stepping a done env) still works."""
    env = gym.make(env_id, disable_env_checker=True, **_SHORT[env_id]).unwrapped
    with pytest.raises(ValidationError, match="not reset"):
        env.step(env.action_space.sample())
    env.reset(seed=0)
    env.action_space.seed(0)
    done = False
    while not done:
        *_, term, trunc, _ = env.step(env.action_space.sample())
        done = term or trunc
    for _ in range(2):
        with pytest.raises(ValidationError, match="episode over"):
            env.step(env.action_space.sample())
    env.reset()
    env.step(env.action_space.sample())
    for mode in (gym.vector.AutoresetMode.NEXT_STEP, gym.vector.AutoresetMode.SAME_STEP):
        envs = gym.make_vec(env_id, num_envs=2, vectorization_mode="sync", **_SHORT[env_id],
                            vector_kwargs={"autoreset_mode": mode})
        envs.reset(seed=1)
        envs.action_space.seed(1)
        ends = 0
        for _ in range(12):
            *_, term, trunc, _ = envs.step(envs.action_space.sample())
            ends += int(np.sum(term | trunc))
        assert ends >= 2, mode
        envs.close()


@pytest.mark.parametrize("env_id,kwargs,field", [
    ("aigc_opt/WpmecOffload-v0", {"rel_gap": True}, "rel_gap"),
    ("aigc_opt/LyapunovOffload-v0", {"rtol": True}, "rtol"),
    ("aigc_opt/EdgeOffload-v0", {"penalty": True}, "penalty"),
])
def test_bool_tolerances_are_refused(env_id: str, kwargs: dict[str, Any], field: str) -> None:
    """Was: ``isinstance(x, int | float)`` let ``True`` through as 1 (and refused numpy
    float32)."""
    with pytest.raises(ValidationError, match=field):
        gym.make(env_id, **kwargs)
    gym.make(env_id, **{field: np.float32(0.5)})


def _ctor(kind: str) -> Any:
    from aigc_opt.gym.agod import AgodProviderEnv
    from aigc_opt.gym.lyapunov import LyapunovOffloadEnv
    from aigc_opt.gym.offloading import EdgeOffloadEnv
    from aigc_opt.gym.wpmec import WpmecOffloadEnv

    return {"wpmec": lambda **kw: WpmecOffloadEnv(n_users=3, **kw),
            "lyapunov": lambda **kw: LyapunovOffloadEnv(n_users=3, episode_length=3, **kw),
            "agod": lambda **kw: AgodProviderEnv(n_providers=3, total_time=4e3, **kw),
            "edge": lambda **kw: EdgeOffloadEnv(n_users=2, label=False, **kw)}[kind]


@pytest.mark.parametrize("kind,kwargs,field", [
    ("wpmec", {"reward_scale": "3"}, "reward_scale"),
    ("lyapunov", {"reward_scale": True}, "reward_scale"),
    ("edge", {"reward_scale": 1 + 0j}, "reward_scale"),
    ("wpmec", {"reward_scale": 1e308}, "reward_scale"),  # rewards inf, regret nan before
    ("lyapunov", {"reward_scale": 1e101}, "reward_scale"),
    ("agod", {"offline_label": "no"}, "offline_label"),
    ("agod", {"offline_label": 0.5}, "offline_label"),
    ("wpmec", {"params": 0}, "params"),
    ("edge", {"objective": 0}, "objective"),
    ("edge", {"objective": ""}, "objective"),
    ("edge", {"backend": "nosuch"}, "backend"),
    ("edge", {"backend": 3}, "backend"),
])
def test_constructor_junk_is_refused_by_name(kind: str, kwargs: dict[str, Any],
                                             field: str) -> None:
    """Accepted silently before: ``float()`` took reward_scale '3' and True, ``bool()`` took
    offline_label 'no' as True, ``params or ...`` / ``objective or ...`` made a falsy wrong
    type the defaults, and an unknown label backend failed only at the first label solve."""
    with pytest.raises(ValidationError) as err:
        _ctor(kind)(**kwargs)
    assert err.value.field == field


def test_labels_name_the_channel_profile_by_its_own_name() -> None:
    from aigc_opt.gym.datasets import wpmec_labels

    with pytest.raises(ValidationError) as err:  # was 'profile'
        wpmec_labels(2, 3, channel_profile="nope")
    assert err.value.field == "channel_profile"


def test_constructor_keeps_numpy_scalars_and_registered_backends() -> None:
    assert _ctor("wpmec")(reward_scale=np.float32(2.0)).reward_scale == 2.0
    assert _ctor("agod")(offline_label=np.False_).offline_label is False
    assert _ctor("edge")(backend="scip").backend == "scip"
