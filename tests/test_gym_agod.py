"""AGOD provider-selection Gymnasium environment: API, seeding, dynamics, exact step labels."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")

from gymnasium.utils.env_checker import check_env  # noqa: E402

import aigc_opt  # noqa: E402
import aigc_opt.gym  # noqa: E402,F401
from aigc_opt.gym.agod import AgodProviderEnv  # noqa: E402
from aigc_opt.problems.migration import AgodAllocation, AgodSpec  # noqa: E402

ENV_ID = "aigc_opt/AgodProvider-v0"


def test_check_env() -> None:
    env = gym.make(ENV_ID, n_providers=4, total_time=2e4, render_mode="ansi")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env.unwrapped)
    env.reset(seed=0)
    env.step(env.action_space.sample())
    assert "provider" in env.render()


def test_seeding_reproduces_trajectories() -> None:
    def roll(seed: int) -> list:
        env = gym.make(ENV_ID, n_providers=5, total_time=3e4)
        obs, _ = env.reset(seed=seed)
        env.action_space.seed(seed)
        out = [obs]
        done = False
        while not done:
            obs, r, term, trunc, info = env.step(env.action_space.sample())
            out += [obs, r, term, info["regret"], info["optimal_action"]]
            done = term or trunc
        return out

    a, b = roll(3), roll(3)
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert a[-3] is True  # the episode terminates after its last task
    assert not np.array_equal(a[0], roll(4)[0])


def test_episode_replays_the_referee() -> None:
    """Rewards summed over an episode equal the family evaluator's utility of the actions."""
    env = AgodProviderEnv(4, total_time=5e4, label=False)
    env.reset(seed=5)
    inst = env._inst
    rng = np.random.default_rng(2)
    actions, total, done = [], 0.0, False
    while not done:
        a = int(rng.integers(4))
        _, r, done, _, info = env.step(a)
        actions.append(a)
        total += r
    m = aigc_opt.evaluate(inst, AgodAllocation(provider=np.array(actions)), AgodSpec())
    assert abs(m.objective - total) <= 1e-9 * max(1.0, abs(total))
    assert info["crashes"] == m.totals["crashes"]


def test_label_reward_matches_and_beats_brute_force() -> None:
    env = AgodProviderEnv(5, total_time=6e4)
    env.reset(seed=1)
    rng = np.random.default_rng(0)
    done, steps, crash_seen = False, 0, False
    while not done:
        lab = env.current_label()
        rewards = [copy.deepcopy(env).step(p)[1] for p in range(5)]
        assert lab.reward == max(rewards) and lab.gap == 0.0
        _, r_opt, *_ = copy.deepcopy(env).step(lab.action)
        assert abs(r_opt - lab.reward) <= 1e-9
        crash_seen |= min(rewards) < 0
        _, r, done, _, info = env.step(int(rng.integers(5)))
        assert abs(info["regret"] - (lab.reward - r)) <= 1e-12 and info["regret"] >= 0
        steps += 1
    assert steps > 10 and crash_seen


def test_sync_vector_env() -> None:
    envs = gym.vector.SyncVectorEnv([lambda: gym.make(ENV_ID, n_providers=3, total_time=2e4)
                                     for _ in range(2)])
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (2, 10)
    obs, r, term, trunc, info = envs.step(envs.action_space.sample())
    assert r.shape == (2,) and np.all(info["regret"] >= 0)
    envs.close()


def test_offline_action_is_marked_invalid_without_an_offline_plan() -> None:
    """Was: with an infeasible offline MILP (4 providers cannot run the tasks crash-free)
    every step still reported offline_action = 0, as if provider 0 were the plan."""
    env = gym.make(ENV_ID, n_providers=4, total_time=3e4, offline_label=True,
                   offline_time_limit=20)
    _, info = env.reset(seed=0)
    assert info["offline_status"] == "infeasible" and np.isnan(info["offline_utility"])
    env.action_space.seed(0)
    done, actions = False, set()
    while not done:
        *_, done, _, step_info = env.step(env.action_space.sample())
        actions.add(step_info["offline_action"])
        assert step_info["offline_status"] == "infeasible"
    assert actions == {-1}
