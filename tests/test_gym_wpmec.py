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
from aigc_opt.errors import ValidationError  # noqa: E402
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
        if term or trunc:
            out.append(env.reset()[0])
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


def test_channel_profile_sets_the_drawn_means() -> None:
    from aigc_opt.problems.wpmec import mean_gains

    for cls in (WpmecOffloadEnv, WpmecBatchVectorEnv):
        env = cls(n_users=6, channel_profile="droo_data")  # type: ignore[arg-type]
        np.testing.assert_array_equal(env.model.scale, mean_gains(6, profile="droo_data"))
    with pytest.raises(ValidationError, match="profile"):
        WpmecOffloadEnv(n_users=6, channel_profile="droo")
    # the error named mean_gains' 'profile', and a bad name next to gains was ignored
    for cls in (WpmecOffloadEnv, WpmecBatchVectorEnv):
        for kw in ({"n_users": 6}, {"gains": np.full((2, 3), 1e-6)}):
            with pytest.raises(ValidationError) as err:
                cls(channel_profile="x", **kw)  # type: ignore[arg-type]
            assert err.value.field == "channel_profile"


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


# ---------------------------------------------------------------- native vector env contract
def _step_pair(nat: Any, syn: Any, acts: np.ndarray) -> tuple:
    return nat.step(acts), syn.step(acts)


@pytest.mark.parametrize("kw", [
    {"episode_length": 5, "label_block": 3},
    {"episode_length": 7, "label_block": 4, "max_episode_steps": 3},  # blocks cut short
    {"episode_length": 4, "gains": "replay"},
])
def test_native_vector_env_matches_sync_and_single_envs(kw: dict[str, Any]) -> None:
    """Was: one generator for all sub-environments, a seed list used its first entry only,
    so sub-environment i differed from a single env seeded s + i (and from sync mode)."""
    kw = dict(kw, n_users=4)
    if kw.get("gains") == "replay":
        kw["gains"] = WpmecBatch.generate(9, 4, seed=1).gains
    m = 3
    nat = gym.make_vec(ENV_ID, num_envs=m, vectorization_mode="vector_entry_point", **kw)
    syn = gym.make_vec(ENV_ID, num_envs=m, vectorization_mode="sync", **kw,
                       vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP})
    o_nat, i_nat = nat.reset(seed=7)
    o_syn, _ = syn.reset(seed=7)
    singles = [gym.make(ENV_ID, **kw) for _ in range(m)]
    o_single = np.stack([e.reset(seed=7 + i)[0] for i, e in enumerate(singles)])
    np.testing.assert_array_equal(o_nat, o_syn)
    np.testing.assert_array_equal(o_nat, o_single)
    assert nat.unwrapped.np_random_seed == (7, 8, 9)
    assert i_nat["_gains"].all() and i_nat["frame"].tolist() == [0, 0, 0]
    rng = np.random.default_rng(0)
    ends = 0
    for _ in range(11):  # several episodes
        acts = rng.integers(0, 2, (m, 4)).astype(np.int8)
        (o1, r1, te1, tr1, f1), (o2, r2, te2, tr2, f2) = _step_pair(nat, syn, acts)
        np.testing.assert_array_equal(o1, o2)
        np.testing.assert_allclose(r1, r2, rtol=1e-12)
        np.testing.assert_array_equal(te1, te2)
        np.testing.assert_array_equal(tr1, tr2)
        assert sorted(f1) == sorted(f2)
        if tr1.any():
            ends += 1
            np.testing.assert_array_equal(np.stack(f1["final_obs"]), np.stack(f2["final_obs"]))
            assert f1["final_obs"].dtype == object and f1["_final_info"].all()
            f1, f2 = f1["final_info"], f2["final_info"]
            assert sorted(f1) == sorted(f2)
        for key in ("gains", "mode", "optimal_action", "frame", "labelled", "label_status"):
            np.testing.assert_array_equal(f1[key], f2[key], err_msg=key)
        for key in ("rate_bps", "optimal_reward"):  # the objective: to rounding
            np.testing.assert_allclose(f1[key], f2[key], rtol=1e-12, err_msg=key)
        for key in ("wpt_fraction", "tau"):  # the allocation: to the solver's tolerance
            np.testing.assert_allclose(f1[key], f2[key], rtol=1e-8, atol=1e-12, err_msg=key)
        np.testing.assert_allclose(f1["regret"], f2["regret"],
                                   atol=1e-12 * float(np.max(f2["optimal_reward"])))
        assert np.all(f1["bound"] >= f1["optimal_reward"]) and np.all(f1["gap"] <= 1e-6)
        assert all(f1[f"_{k}"].all() for k in f1 if not k.startswith("_"))
    assert ends >= 2
    # a list of seeds, None entries keep a sub-environment's generator
    o_list, _ = nat.reset(seed=[7, 8, 9])
    np.testing.assert_array_equal(o_list, o_single)
    o_a, _ = nat.reset(seed=[7, 100, None])
    o_b, _ = nat.reset(seed=[7, 300, None])
    assert np.array_equal(o_a[0], o_b[0]) and not np.array_equal(o_a[1], o_b[1])
    assert not np.array_equal(o_a[2], o_b[2])  # the unseeded one continued its stream
    for bad in ([7, 8], [7, 8, 9, 10], "7", 1.5):
        with pytest.raises(ValidationError, match="seed"):
            nat.reset(seed=bad)


def test_native_vector_env_kwargs_like_make() -> None:
    """Was: ``**unused`` swallowed ``max_episode_steps`` (no truncation) and misspelled
    keywords."""
    envs = gym.make_vec(ENV_ID, num_envs=2, n_users=4, max_episode_steps=3)
    assert isinstance(envs, WpmecBatchVectorEnv)
    envs.reset(seed=0)
    trunc = [envs.step(envs.action_space.sample())[3].all() for _ in range(6)]
    assert trunc == [False, False, True, False, False, True]
    long = gym.make_vec(ENV_ID, num_envs=2, n_users=4, episode_length=2, max_episode_steps=9)
    long.reset(seed=0)
    assert [long.step(long.action_space.sample())[3].all() for _ in range(2)] == [False, True]
    with pytest.raises(TypeError, match="bogus_kw"):
        gym.make_vec(ENV_ID, num_envs=2, n_users=4, bogus_kw=1)
    with pytest.raises(ValidationError, match="max_episode_steps"):
        gym.make_vec(ENV_ID, num_envs=2, n_users=4, max_episode_steps=0)
    with pytest.raises(ValidationError, match="action_type"):
        gym.make_vec(ENV_ID, num_envs=2, n_users=4, action_type="relaxed")
    gym.make_vec(ENV_ID, num_envs=2, n_users=4, max_episode_steps=-1, label_block=1,
                 disable_env_checker=True)  # gym.make's keywords are accepted
    with pytest.raises(ValidationError, match="options"):
        envs.reset(options={"reset_mask": np.array([True, False])})


def test_step_before_reset_is_refused() -> None:
    """Was: the single and the native env scored a placeholder frame of gains 1."""
    env = WpmecOffloadEnv(4)
    with pytest.raises(ValidationError, match="not reset"):
        env.step(np.ones(4, dtype=np.int8))
    with pytest.raises(ValidationError, match="not reset"):
        env.current_label()
    envs = WpmecBatchVectorEnv(2, 4)
    with pytest.raises(ValidationError, match="not reset"):
        envs.step(np.ones((2, 4), dtype=np.int8))
    with pytest.raises(ValidationError, match="not reset"):
        envs.labels()


@pytest.mark.parametrize("action", [
    np.array([-5.0, 0.9, 0.2, 7.0]), np.full(4, -1e30, np.float32), np.array([0.5, np.nan, 0, 1]),
    np.array(["0.9", "0.1", "0.8", "0.2"]), np.array([True, False, True, False]),
    np.array([0.5, 0.5, 0.5, 0.5 + 1j]), "abc", None, np.zeros(5),
])
def test_relaxed_action_outside_the_box_is_refused(action: Any) -> None:
    """Was: scores outside [0, 1] were clipped and numeric strings parsed."""
    env = WpmecOffloadEnv(4, action_type="relaxed", quantise_k=2)
    env.reset(seed=0)
    with pytest.raises(ValidationError, match="action"):
        env.step(action)
    _, r, *_ = env.step(np.array([0.0, 1.0, 0.25, 1.0]))  # the box's edges are fine
    assert r > 0


def test_n_users_that_contradicts_the_gains_is_refused() -> None:
    """``WpmecOffloadEnv(7, gains=<5 x 4>)`` silently ran 4 devices."""
    from aigc_opt.gym.wpmec_vector import WpmecBatchVectorEnv

    gains = np.full((5, 4), 1e-6)
    with pytest.raises(ValidationError, match=r"gains \[-\].*n_users = 7"):
        WpmecOffloadEnv(7, gains=gains)
    with pytest.raises(ValidationError, match=r"gains \[-\].*n_users = 7"):
        WpmecBatchVectorEnv(2, 7, gains=gains)
    assert WpmecOffloadEnv(gains=gains).n_users == 4
    assert WpmecOffloadEnv(4, gains=gains).n_users == 4
    assert WpmecOffloadEnv().n_users == 10


@pytest.mark.parametrize("env_id", ["aigc_opt/WpmecOffload-v0", "aigc_opt/LyapunovOffload-v0",
                                    "aigc_opt/EdgeOffload-v0", "aigc_opt/AgodProvider-v0"])
def test_render_after_reset_shows_no_stale_decision(env_id: str) -> None:
    """render() right after a new reset() showed the previous episode's last decision."""
    import gymnasium as gym

    env = gym.make(env_id, render_mode="ansi").unwrapped
    env.reset(seed=0)
    env.step(env.action_space.sample())
    stepped = env.render()
    env.reset(seed=1)
    fresh = env.render()
    assert "no decision yet" in fresh and fresh != stepped


def test_vector_render_after_reset_shows_no_stale_step() -> None:
    from aigc_opt.gym.wpmec_vector import WpmecBatchVectorEnv

    v = WpmecBatchVectorEnv(3, 4, render_mode="ansi", label=False)
    v.reset(seed=0)
    v.step(np.ones((3, 4), np.int8))
    assert v.render() != ("no step yet",)
    v.reset(seed=1)
    assert v.render() == ("no step yet",)
