"""Edge offloading assignment Gymnasium environment: API, seeding, MILP labels vs brute force."""

from __future__ import annotations

import copy
import itertools
import warnings

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")

from gymnasium.utils.env_checker import check_env  # noqa: E402

import aigc_opt  # noqa: E402
import aigc_opt.gym  # noqa: E402,F401
from aigc_opt.gym.offloading import EdgeOffloadEnv  # noqa: E402
from aigc_opt.problems.offloading import OffloadObjective  # noqa: E402

ENV_ID = "aigc_opt/EdgeOffload-v0"


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def test_check_env() -> None:
    env = gym.make(ENV_ID, n_users=4, n_servers=2, n_models=2, episode_length=3,
                   render_mode="ansi")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env.unwrapped)
    env.reset(seed=0)
    env.step(env.action_space.sample())
    assert "placement" in env.render()


def test_seeding_reproduces_trajectories() -> None:
    def roll(seed: int) -> list:
        env = gym.make(ENV_ID, n_users=4, n_servers=2, n_models=2, episode_length=3)
        obs, _ = env.reset(seed=seed)
        env.action_space.seed(seed)
        out = [obs]
        for _ in range(4):  # crosses the end of the 3-step episode
            obs, r, term, trunc, info = env.step(env.action_space.sample())
            out += [obs, r, trunc, info["regret"], info["optimal_action"]]
            if trunc:
                out.append(env.reset()[0])
        return out

    a, b = roll(6), roll(6)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert not np.array_equal(a[0], roll(7)[0])


@pytest.mark.parametrize("deadline", ["hard", "penalty"])
def test_label_reward_matches_and_beats_brute_force(deadline: str) -> None:
    env = EdgeOffloadEnv(3, n_servers=2, n_models=2, episode_length=10,
                         objective=OffloadObjective(deadline=deadline))
    env.reset(seed=3)
    rng = np.random.default_rng(0)
    n_infeasible = 0
    for _ in range(4):
        lab = env.current_label()
        assert lab.status == "optimal"
        _, r_opt, *_, info = copy.deepcopy(env).step(lab.action)
        assert _close(r_opt, lab.reward) and info["feasible"]
        # the label is the MILP optimum; the referee agrees with the solver's objective
        res = aigc_opt.solve(env._scn, env.problem_spec, "highs")
        assert _close(-res.objective, lab.reward)
        scored = [env.evaluate_action(np.array(a))
                  for a in itertools.product(range(4), repeat=3)]
        rewards = [r for r, _ in scored]
        n_infeasible += sum(not i["feasible"] for _, i in scored)
        best = max(rewards)
        assert best <= lab.reward + abs(lab.reward) * lab.gap + 1e-9
        assert _close(best, lab.reward)
        # every infeasible placement scores below every feasible one
        feas = [r for r, i in scored if i["feasible"]]
        infeas = [r for r, i in scored if not i["feasible"]]
        if infeas:
            assert max(infeas) < min(feas)
        _, r, *_, info = env.step(rng.integers(0, 4, 3))
        assert _close(info["regret"], lab.reward - r) and info["regret"] >= -1e-9
    if deadline == "hard":
        assert n_infeasible > 0  # the penalty branch was exercised


def test_violations_reported_and_label_off() -> None:
    env = EdgeOffloadEnv(6, n_servers=1, n_models=2, label=False)
    env.reset(seed=1)
    # everybody on the one edge server: more requests than GPU slots may be violated
    r, info = env.evaluate_action(np.ones(6, dtype=np.int64))
    assert isinstance(info["violations"], dict)
    if not info["feasible"]:
        assert info["violations"] and r < env._floor
    _, r2, *_, info2 = env.step(np.ones(6, dtype=np.int64))
    assert r2 == r and "optimal_action" not in info2
    with pytest.raises(ValueError):
        env.evaluate_action(np.full(6, 3))


def test_sync_vector_env() -> None:
    envs = gym.vector.SyncVectorEnv([
        lambda: gym.make(ENV_ID, n_users=3, n_servers=2, n_models=2, episode_length=2)
        for _ in range(2)])
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (2, 3, 2 + 8 + 2)
    for _ in range(2):  # one episode (the next step would be the autoreset)
        obs, r, term, trunc, info = envs.step(envs.action_space.sample())
        assert r.shape == (2,) and np.all(info["regret"] >= -1e-9)
    assert trunc.all()
    envs.close()


def test_step_info_names_the_scenario_of_the_returned_observation() -> None:
    """``info["scenario"]`` of a step is the scenario acted on; ``info["next_scenario"]`` is
    the one behind the returned observation (a user study compared labels one step off)."""
    from aigc_opt.gym.offloading import EdgeOffloadEnv, features

    env = EdgeOffloadEnv(n_users=4, n_servers=2, n_models=2, label=False)
    obs0, info0 = env.reset(seed=3)
    obs1, _, _, _, info1 = env.step(env.action_space.sample())
    assert info1["scenario"] is info0["scenario"]
    np.testing.assert_array_equal(features(info1["next_scenario"]), obs1)
    np.testing.assert_array_equal(features(info0["scenario"]), obs0)
