"""WPMEC Gymnasium environments: API conformance, seeding, exact labels vs brute force."""

from __future__ import annotations

import copy
import itertools
import warnings
from typing import Any

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")

from gymnasium.utils.env_checker import check_env  # noqa: E402

import aigc_opt.gym  # noqa: E402,F401  (registers the ids)
from aigc_opt.gym.wpmec import WpmecOffloadEnv  # noqa: E402
from aigc_opt.gym.wpmec_vector import WpmecBatchVectorEnv  # noqa: E402
from aigc_opt.problems.wpmec import WpmecBatch  # noqa: E402

ENV_ID = "aigc_opt/WpmecOffload-v0"


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def _rollout(env: Any, seed: int, steps: int) -> list:
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    out = [obs]
    for _ in range(steps):
        obs, r, term, trunc, info = env.step(env.action_space.sample())
        out += [obs, r, term, trunc, info.get("regret"), info.get("optimal_action")]
    return out


@pytest.mark.parametrize("action_type", ["binary", "relaxed"])
def test_check_env(action_type: str) -> None:
    env = gym.make(ENV_ID, n_users=5, episode_length=4, action_type=action_type,
                   quantise_k=3, render_mode="ansi")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env.unwrapped)
    env.reset(seed=0)
    env.step(env.action_space.sample())
    assert "modes" in env.render()


def test_seeding_reproduces_trajectories() -> None:
    a = _rollout(gym.make(ENV_ID, n_users=6, episode_length=5), 11, 8)
    b = _rollout(gym.make(ENV_ID, n_users=6, episode_length=5), 11, 8)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    c = _rollout(gym.make(ENV_ID, n_users=6, episode_length=5), 12, 1)
    assert not np.array_equal(a[0], c[0])


def test_label_reward_matches_and_beats_brute_force() -> None:
    n = 6
    env = WpmecOffloadEnv(n, episode_length=50)
    env.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(6):
        lab = env.current_label()
        assert lab.status == "optimal" and 0 <= lab.gap <= env.rel_gap
        # taking the labelled action reproduces the labelled reward (black box, on a branch)
        _, r_opt, *_ , info = copy.deepcopy(env).step(lab.action)
        assert _close(r_opt, lab.reward) and info["regret"] == 0.0
        # brute force over all 2^n modes, each on its own branch
        rewards = [copy.deepcopy(env).step(np.array(m))[1]
                   for m in itertools.product((0, 1), repeat=n)]
        assert max(rewards) <= lab.reward * (1 + lab.gap) + 1e-9
        assert _close(max(rewards), lab.reward)
        _, r, *_, info = env.step(rng.integers(0, 2, n))
        assert _close(info["optimal_reward"], lab.reward)
        assert _close(info["regret"], lab.reward - r) and info["regret"] >= -1e-9


def test_relaxed_action_and_label_off() -> None:
    env = WpmecOffloadEnv(6, action_type="relaxed")
    env.reset(seed=5)
    lab = env.current_label()
    assert env.action_space.contains(lab.action)
    _, r, *_ = copy.deepcopy(env).step(lab.action)
    assert _close(r, lab.reward)
    quiet = WpmecOffloadEnv(6, action_type="relaxed", label=False)
    quiet.reset(seed=5)
    _, r2, *_, info = quiet.step(lab.action)
    assert r2 == r and "optimal_action" not in info and info["rate_bps"] > 0


def test_observation_is_normalised_gain_and_replay() -> None:
    gains = WpmecBatch.generate(7, 4, seed=2).gains
    env = WpmecOffloadEnv(gains=gains, episode_length=3)
    obs, info = env.reset(seed=0)
    np.testing.assert_allclose(obs, info["gains"] / gains.mean(axis=0), rtol=1e-6)
    assert any(np.array_equal(info["gains"], row) for row in gains)
    seen = []
    for _ in range(3):  # info["gains"] of a step: the frame that was acted on
        obs, _, _, trunc, info = env.step(np.zeros(4, dtype=np.int8))
        seen.append(info["gains"])
    assert trunc
    i = next(k for k, row in enumerate(gains) if np.array_equal(row, seen[0]))
    for k in (1, 2):
        np.testing.assert_array_equal(seen[k], gains[(i + k) % 7])


def test_sync_vector_env() -> None:
    envs = gym.vector.SyncVectorEnv([lambda: gym.make(ENV_ID, n_users=5) for _ in range(3)])
    obs, _ = envs.reset(seed=4)
    assert obs.shape == (3, 5)
    obs, r, term, trunc, info = envs.step(envs.action_space.sample())
    assert r.shape == (3,) and info["regret"].shape == (3,) and np.all(info["regret"] >= -1e-9)
    envs.close()


def test_batched_vector_env_labels_vs_enumeration() -> None:
    n, b = 6, 16
    envs = gym.make_vec(ENV_ID, num_envs=b, vectorization_mode="vector_entry_point",
                        n_users=n, episode_length=2)
    assert isinstance(envs, WpmecBatchVectorEnv)
    obs, _ = envs.reset(seed=9)
    assert obs.shape == (b, n) and envs.observation_space.contains(obs)
    lab = envs.labels()
    r_opt, _ = envs.evaluate_actions(lab["optimal_action"])
    np.testing.assert_allclose(r_opt, lab["optimal_reward"], rtol=1e-9)
    best = np.full(b, -np.inf)
    for m in itertools.product((0, 1), repeat=n):
        r, _ = envs.evaluate_actions(np.tile(np.array(m), (b, 1)))
        best = np.maximum(best, r)
    assert np.all(best <= lab["optimal_reward"] * (1 + lab["gap"]) + 1e-9)
    np.testing.assert_allclose(best, lab["optimal_reward"], rtol=1e-9)
    acts = envs.action_space.sample()
    _, r, term, trunc, info = envs.step(acts)
    np.testing.assert_allclose(info["regret"], lab["optimal_reward"] - r, rtol=1e-12)
    _, _, _, trunc, info = envs.step(acts)  # episode end: same-step reset
    assert trunc.all() and "final_obs" in info
    # seeding
    again = WpmecBatchVectorEnv(b, n, episode_length=2)
    o2, _ = again.reset(seed=9)
    np.testing.assert_array_equal(obs, o2)
