"""AGOD provider selection: the environment's formulas and dynamics, its heuristics, and the
offline crash-free MILP (brute force, second backend, >= every heuristic)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt.errors import ValidationError
from aigc_opt.problems import migration as mg
from aigc_opt.problems.migration import data_agod as ad

from conftest import MIP_GAP, OBJ_RTOL


def test_constants_are_agods() -> None:
    # AGOD env/config.py
    assert ad.NUM_SERVICE_PROVIDERS == 20 and ad.CRASH_PENALTY_COEF == 2.0
    assert ad.TOTAL_T_RANGE.tolist() == [400, 500, 600, 700, 800, 900]
    assert ad.T_RANGE[0] == 100 and ad.T_RANGE[-1] == 250 and len(ad.T_RANGE) == 16
    assert ad.LAMBDA * ad.TOTAL_TIME == 1000.0


def test_runtime_and_reward_formulas() -> None:
    # RUNTIME(t) = (0.001 t^2 + 2.5 t - 14) * 60
    np.testing.assert_allclose(mg.runtime_s(np.array([100, 250])),
                               [(10 + 250 - 14) * 60, (62.5 + 625 - 14) * 60])
    coefs = np.array([20.0, 0.1, 200.0, 0.9])
    # below a_x: 0; ramp from 0 at a_x to b_y - a_y at b_x; constant beyond
    np.testing.assert_allclose(mg.reward(coefs, np.array([10, 20, 110, 200, 250])),
                               [0.0, 0.0, 0.8 / 180 * 90, 0.8, 0.8])


def _hand_instance() -> mg.AgodInstance:
    """One provider of capacity 300 and one of 400; four tasks (hand-checked dynamics)."""
    return mg.AgodInstance(provider_capacity=np.array([300, 400]),
                           provider_reward=np.array([[0.0, 0.0, 200.0, 1.0],
                                                     [100.0, 0.2, 200.0, 0.6]]),
                           arrival_s=np.array([0, 1000, 2000, 40_000]),
                           task_steps=np.array([200, 150, 100, 100]))


def test_crash_dynamics_by_hand() -> None:
    inst = _hand_instance()
    rt = mg.runtime_s(inst.task_steps)
    # all on provider 0: task 0 runs (reward 1.0); task 1 (150 > 100 free) crashes it:
    # penalty 2 (1 + (1 - 1000 / rt0)); task 2 fits (reward 0.5); task 3 at 40000: task 2
    # (runtime rt2 = 14760) has finished, so it fits (reward 0.5)
    alloc = mg.AgodAllocation(provider=np.array([0, 0, 0, 0]))
    expect = 1.0 - 2.0 * (1 + (1 - 1000 / rt[0])) + 0.5 + 0.5
    met = ao.evaluate(inst, alloc, mg.AgodSpec())
    np.testing.assert_allclose(met.objective, expect)
    assert met.totals["crashes"] == 1 and met.totals["killed"] == 1
    np.testing.assert_allclose(mg.simulate(inst, alloc)[0], expect)


def _brute_force(inst: mg.AgodInstance) -> tuple[float, float]:
    """Best utility over every provider sequence: (crash-free only, all)."""
    best_free, best_all = -np.inf, -np.inf
    for seq in itertools.product(range(inst.n_providers), repeat=inst.n_tasks):
        met = ao.evaluate(inst, mg.AgodAllocation(provider=np.array(seq)), mg.AgodSpec())
        best_all = max(best_all, met.objective)
        if met.totals["crashes"] == 0:
            best_free = max(best_free, met.objective)
    return best_free, best_all


def _small(seed: int, providers: int = 3, horizon: float = 2e4, rate: float = 3e-4
           ) -> mg.AgodInstance:
    inst = mg.AgodInstance.generate(seed, n_providers=providers, total_time=horizon, rate=rate)
    # tighten: capacities 300-400 so that two or three tasks fill a provider
    cap = np.random.default_rng(seed).choice([300, 400], providers)
    return mg.AgodInstance(cap, inst.provider_reward, inst.arrival_s, inst.task_steps)


@pytest.mark.parametrize("seed", range(6))
def test_offline_milp_equals_brute_force(seed: int) -> None:
    inst = _small(seed)
    inst = mg.AgodInstance(inst.provider_capacity, inst.provider_reward, inst.arrival_s[:7],
                           inst.task_steps[:7])
    res = ao.solve(inst, mg.AgodSpec(), backend="highs", mip_gap=MIP_GAP)
    best_free, best_all = _brute_force(inst)
    if not np.isfinite(best_free):
        assert res.termination is ao.Termination.INFEASIBLE
        return
    assert res.optimal
    np.testing.assert_allclose(res.objective, best_free, rtol=OBJ_RTOL, atol=1e-9)
    # on these episodes no crashing sequence beats the crash-free optimum
    assert best_all <= res.objective + 1e-9
    met = ao.evaluate(inst, res.allocation, mg.AgodSpec())
    assert met.totals["crashes"] == 0
    np.testing.assert_allclose(met.objective, res.objective, rtol=OBJ_RTOL, atol=1e-9)


def test_offline_backends_agree() -> None:
    inst = mg.AgodInstance.generate(1, total_time=2e4)
    ref = ao.solve(inst, mg.AgodSpec(), backend="highs", mip_gap=MIP_GAP)
    assert ref.optimal
    res = ao.solve(inst, mg.AgodSpec(), backend="scip", mip_gap=MIP_GAP)
    np.testing.assert_allclose(res.objective, ref.objective, rtol=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_offline_optimum_beats_every_heuristic(seed: int) -> None:
    inst = mg.AgodInstance.generate(seed, total_time=2.5e4)
    spec = mg.AgodSpec()
    opt = ao.solve(inst, spec, backend="highs", mip_gap=MIP_GAP, time_limit=30)
    assert opt.has_solution
    met = ao.evaluate(inst, opt.allocation, spec)
    np.testing.assert_allclose(met.objective, opt.objective, rtol=OBJ_RTOL, atol=1e-9)
    for name in mg.AGOD_HEURISTICS:
        res = ao.run_heuristic(inst, spec, name, seed=seed)
        assert res.objective <= opt.objective + 1e-9, name
        # the heuristics' own simulator agrees with the referee
        np.testing.assert_allclose(mg.simulate(inst, res.allocation)[0], res.objective,
                                   rtol=1e-12, atol=1e-9)


def test_time_limited_offline_keeps_the_mip_start() -> None:
    """``offline_milp`` starts from the best crash-free heuristic: even stopped after 1 s it is
    >= every crash-free heuristic, and its bound is >= its utility."""
    inst = mg.AgodInstance.generate(0, total_time=1e5)
    spec = mg.AgodSpec()
    res = ao.run_method(inst, spec, "offline_milp", options=ao.SolveOptions(time_limit=1.0))
    assert res.has_solution and res.bound >= res.objective - 1e-9
    met = ao.evaluate(inst, res.allocation, spec)
    np.testing.assert_allclose(met.objective, res.objective, rtol=OBJ_RTOL, atol=1e-9)
    assert met.totals["crashes"] == 0
    for name in mg.AGOD_HEURISTICS:
        h = ao.evaluate(inst, ao.run_heuristic(inst, spec, name).allocation, spec)
        if h.totals["crashes"] == 0:
            assert h.objective <= res.objective + 1e-9, name
        assert h.objective <= res.bound + 1e-9, name


def test_heuristics_follow_agod_rules() -> None:
    inst = mg.AgodInstance.generate(3, total_time=3e4, rate=3e-3)
    spec = mg.AgodSpec()
    rr = ao.run_heuristic(inst, spec, "round_robin").allocation
    assert rr.provider.tolist() == (np.arange(inst.n_tasks) % 20).tolist()
    # crash-avoid picks the most free capacity, so it crashes only when no provider has room
    ca = ao.run_heuristic(inst, spec, "crash_avoid").allocation
    sim = mg.AgodSimulator(inst, 2.0)
    for j, p in enumerate(ca.provider):
        free = sim.available()
        assert free[p] == free.max()
        assert (sim.step(int(p)) >= 0) == (free.max() >= inst.task_steps[j])


def test_overloaded_episode_is_infeasible_status() -> None:
    inst = mg.AgodInstance(provider_capacity=np.array([200]),
                           provider_reward=np.array([[0.0, 0.0, 200.0, 1.0]]),
                           arrival_s=np.array([0, 10]), task_steps=np.array([150, 150]))
    res = ao.solve(inst, mg.AgodSpec(), backend="highs")
    assert res.termination is ao.Termination.INFEASIBLE and not res.has_solution


def test_bad_agod_input_raises() -> None:
    with pytest.raises(ao.ValidationError):
        mg.AgodInstance(np.array([300]), np.array([[0.0, 0.0, 200.0, 1.0]]),
                        np.array([10, 0]), np.array([100, 100]))


@pytest.mark.slow
def test_full_agod_episode() -> None:
    """A full AGOD episode (~1000 tasks, 20 providers): the MIP-started offline MILP is >= every
    heuristic and its proven bound is >= all of them (measured: prophet 0.987 of it)."""
    inst = mg.AgodInstance.generate(0)
    spec = mg.AgodSpec()
    res = ao.run_method(inst, spec, "offline_milp", options=ao.SolveOptions(time_limit=60))
    assert res.has_solution
    met = ao.evaluate(inst, res.allocation, spec)
    np.testing.assert_allclose(met.objective, res.objective, rtol=OBJ_RTOL)
    for name in mg.AGOD_HEURISTICS:
        h = ao.run_heuristic(inst, spec, name)
        assert h.objective <= res.objective + 1e-9 <= res.bound + 2e-9, name


def test_crash_free_check_agrees_with_the_simulator() -> None:
    """The vectorised load check used by the LNS says "crash-free" exactly when AGOD's
    simulator records no crash, on random and heuristic sequences."""
    from aigc_opt.problems.migration.agod import crash_free

    inst = mg.AgodInstance.generate(4, total_time=6e4)
    spec = mg.AgodSpec()
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, inst.n_providers, inst.n_tasks) for _ in range(20)]
    seqs += [ao.run_heuristic(inst, spec, n).allocation.provider for n in mg.AGOD_HEURISTICS]
    verdicts = []
    for seq in seqs:
        _, crashes = mg.simulate(inst, mg.AgodAllocation(provider=seq), spec)
        verdicts.append(crash_free(inst, seq))
        assert verdicts[-1] == (crashes == 0)
    assert any(verdicts) and not all(verdicts)


def test_window_search_improves_a_heuristic_and_stays_below_the_bound() -> None:
    """LNS from prophet: crash-free by the simulator, never worse than prophet, never above
    the proven optimum of the same episode (HiGHS to 1e-6)."""
    from aigc_opt.problems.migration.agod import build, improve_by_windows

    inst = mg.AgodInstance.generate(2, total_time=3.5e4)
    spec = mg.AgodSpec()
    start = ao.run_heuristic(inst, spec, "prophet").allocation.provider
    u0, c0 = mg.simulate(inst, mg.AgodAllocation(provider=start), spec)
    assert c0 == 0
    seq, windows = improve_by_windows(inst, build(inst, spec), start, budget_s=10.0, window=12)
    assert windows >= 1
    u, crashes = mg.simulate(inst, mg.AgodAllocation(provider=seq), spec)
    assert crashes == 0 and u >= u0 - 1e-9
    opt = ao.solve(inst, spec, backend="highs",
                   options=ao.SolveOptions(mip_gap=1e-6, time_limit=60.0))
    assert opt.termination is ao.Termination.OPTIMAL
    assert u <= opt.objective + 1e-6 * abs(opt.objective)


def test_crash_free_is_the_problem_the_milp_solves() -> None:
    """certify seed 143001897: every schedule crashes, so the MILP is infeasible, yet the
    referee called crash-avoid's crashing schedule feasible (a crash was only a penalty). Now a
    crash is a hard violation of the default (crash-free) spec; AGOD's penalty scoring is
    ``crash_free=False``, for which the MILP (a restriction) is not offered."""
    from aigc_opt.benchmarks.certify_bench import make_case, run_case

    inst, spec, _ = make_case("agod.selection", 143001897, None, None)
    assert spec.crash_free
    ca = ao.run_heuristic(inst, spec, "crash_avoid")
    assert not ca.has_solution and ca.metrics is not None
    assert ca.metrics.totals["crashes"] > 0 and ca.metrics.violations["crash"] == 1.0
    assert ao.run_method(inst, spec, "highs").termination is ao.Termination.INFEASIBLE
    assert not run_case("agod.selection", 143001897).failures

    scored = mg.AgodSpec(crash_free=False)
    soft = ao.run_heuristic(inst, scored, "crash_avoid")
    assert soft.verified and soft.objective == pytest.approx(ca.metrics.objective)
    names = ao.methods(scored, inst)
    assert "offline_milp" not in names and "highs" not in names and "crash_avoid" in names
    with pytest.raises(ao.ValidationError, match="crash_free"):
        ao.run_method(inst, scored, "offline_milp")
    with pytest.raises(ao.UnknownNameError, match="highs"):  # no generic backend either
        ao.run_method(inst, scored, "highs")


def test_reward_coefficients_are_bounded() -> None:
    """A coefficient of 1e308 made an episode's utility inf (an 'unverified' solve)."""
    from aigc_opt.errors import ValidationError
    from aigc_opt.problems.migration.data_agod import MAX_REWARD_COEF, AgodInstance

    coef = np.array([[1.0, 1.0, 2.0, MAX_REWARD_COEF * 10]])
    with pytest.raises(ValidationError, match="provider_reward"):
        AgodInstance(np.array([2]), coef, np.array([0]), np.array([1]))


def test_too_many_overlapping_tasks_are_refused_before_allocating() -> None:
    """An episode of about 1e6 tasks (rate 1 over the default horizon) is a valid instance,
    but its exact MILP has 2.7e10 (task, running task) pairs: refused by name, where it raised
    MemoryError asking for 201 GiB."""
    from aigc_opt.cases import get_case

    kind = get_case("agod.selection")
    inst = kind.make_instance(0, rate=1)
    with pytest.raises(ValidationError, match=r"n_tasks \[task\].*pairs of overlapping tasks"):
        ao.run_method(inst, kind.make_spec(), "offline_milp", time_limit=2)
