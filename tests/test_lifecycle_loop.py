"""Life-cycle two timescales, closed loop, medical Pareto front, baselines and case kinds."""

from __future__ import annotations

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt.cases import get_case
from aigc_opt.problems.lifecycle import (
    MODES,
    LifecycleInstance,
    LifecycleSpec,
    LoopModel,
    closed_loop,
    compare,
    lagrangian_bound,
    medical_instance,
    medical_spec,
    pareto_front,
    rolling,
    solve_warm,
    start_vector,
)

OBJ_RTOL = 1e-6
EXACT = ao.SolveOptions(mip_gap=1e-9)
TIGHT = {"node_flops": np.r_[np.full(3, 2e13), np.full(2, 1.5e14), 4e14]}


def check(inst: LifecycleInstance, spec: LifecycleSpec, res: ao.Result) -> ao.Metrics:
    assert res.has_solution, res
    met = ao.evaluate(inst, res.allocation, spec)
    assert met.feasible, met.violated()
    np.testing.assert_allclose(met.objective, res.objective, rtol=OBJ_RTOL, atol=1e-9)
    return met


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_single_stage_not_worse_than_rolling(seed: int) -> None:
    inst = LifecycleInstance.generate(4, 3, 2, n_slots=4, seed=seed, **TIGHT)
    spec = LifecycleSpec(reject_penalty=0.05)
    c = compare(inst, spec, EXACT)
    check(inst, spec, c["single"])
    check(inst, spec, c["rolling_result"])
    assert c["single"].optimal
    assert c["single_stage"] <= c["rolling"] * (1 + 1e-9) + 1e-9


def test_rolling_can_lose() -> None:
    """Seed 1 has a slot peak the mean-demand placement cannot carry: rolling rejects requests
    that the single-stage placement anticipates."""
    inst = LifecycleInstance.generate(4, 3, 2, n_slots=4, seed=1, **TIGHT)
    spec = LifecycleSpec(reject_penalty=0.05)
    c = compare(inst, spec, EXACT)
    assert c["single_stage"] < c["rolling"] * (1 - 1e-3)


def test_rolling_is_exact_on_one_slot() -> None:
    inst = LifecycleInstance.generate(3, 2, 2, seed=4)
    spec = LifecycleSpec()
    single = ao.solve(inst, spec, "highs", options=EXACT)
    roll = ao.run_method(inst, spec, "rolling", options=EXACT)
    check(inst, spec, roll)
    np.testing.assert_allclose(roll.objective, single.objective, rtol=1e-7)
    assert rolling(inst, spec, EXACT).termination == ao.Termination.FEASIBLE


def test_closed_loop_raises_quality() -> None:
    inst = LifecycleInstance.generate(4, 3, 2, seed=1, data_tokens=np.full((4, 3), 2e4))
    spec = LifecycleSpec()
    rows = closed_loop(inst, spec, rounds=4, model=LoopModel(harvest=0.05, elasticity=2.0))
    assert len(rows) == 4
    for r in rows:
        assert r["status"] == "optimal" and r["feasible"]
        np.testing.assert_allclose(r["eval_objective"], r["objective"], rtol=OBJ_RTOL)
    data = [r["data_tokens"] for r in rows]
    assert all(b > a for a, b in zip(data, data[1:], strict=False))
    assert rows[-1]["quality_mean"] > rows[0]["quality_mean"] + 0.01
    assert rows[0]["fine_tuned"] < rows[-1]["fine_tuned"]


def test_closed_loop_without_harvest_is_stationary() -> None:
    inst = LifecycleInstance.generate(3, 2, 1, seed=2)
    rows = closed_loop(inst, LifecycleSpec(), rounds=3, model=LoopModel(harvest=0.0))
    np.testing.assert_allclose([r["objective"] for r in rows], rows[0]["objective"], rtol=1e-9)


def test_medical_pareto_front() -> None:
    inst = medical_instance(0)
    spec = medical_spec()
    rows = pareto_front(inst, spec, n_points=5, options=EXACT)
    assert len(rows) >= 3
    for r in rows:
        assert r["status"] == "optimal" and r["feasible"]
        np.testing.assert_allclose(r["eval_objective"], r["objective"], rtol=OBJ_RTOL,
                                   atol=1e-9)
        assert r["cost"] <= r["budget"] * (1 + 1e-7) + 1e-9
    cost = np.array([r["cost"] for r in rows])
    qual = np.array([r["quality_total"] for r in rows])
    assert (np.diff(cost) > 0).all() and (np.diff(qual) > 0).all()  # non-dominated
    # the max-quality point: no allocation of any method has higher quality
    for m in ("highs", "all_cloud", "edge_greedy", "no_finetune"):
        res = ao.run_method(inst, spec, m, options=EXACT)
        met = ao.evaluate(inst, res.allocation, spec)
        assert met.totals["quality_total"] <= qual[-1] * (1 + 1e-9)


def test_medical_no_raw_data_leaves_hospitals() -> None:
    inst = medical_instance(1)
    spec = medical_spec(privacy_limit_bytes=0.0)
    res = ao.solve(inst, spec, "highs", options=EXACT)
    met = check(inst, spec, res)
    assert met.totals["privacy_bytes"] == 0.0
    modes = {MODES[k] for k in inst.option_mode[res.allocation.option]}
    assert modes <= {"none", "split_lora"}  # every hospital holds data: no central training
    rows = pareto_front(inst, spec, n_points=3, options=EXACT)
    assert all(r["privacy_bytes"] == 0.0 for r in rows)


@pytest.mark.parametrize("seed", [0, 3])
def test_baselines_feasible_and_not_better(seed: int) -> None:
    inst = LifecycleInstance.generate(5, 3, 2, seed=seed)
    spec = LifecycleSpec()
    opt = ao.solve(inst, spec, "highs", options=EXACT)
    check(inst, spec, opt)
    for name in ("all_cloud", "edge_greedy", "no_finetune"):
        res = ao.run_heuristic(inst, spec, name)
        assert res.termination == ao.Termination.FEASIBLE, (name, res.message)
        assert res.objective >= opt.objective * (1 - 1e-9), name


def test_case_kinds() -> None:
    for name in ("lifecycle.placement", "lifecycle.two_timescale", "lifecycle.medical"):
        kind = get_case(name)
        inst = kind.make_instance(0)
        spec = kind.make_spec()
        res = ao.run_method(inst, spec, kind.reference or "highs", options=EXACT)
        check(inst, spec, res)
        assert set(kind.default_methods) <= set(ao.methods(spec, inst))


@pytest.mark.parametrize("seed", [0, 3])
def test_program_prices_an_allocation_like_the_referee(seed: int) -> None:
    """The MILP's objective at any allocation's column vector equals the evaluator's objective,
    and a feasible allocation satisfies every row (builder and referee agree term by term)."""
    inst = LifecycleInstance.generate(5, 3, 2, n_slots=2, seed=seed)
    spec = LifecycleSpec(reject_penalty=0.5)
    lp = spec.build(inst)
    for name in ("all_cloud", "edge_greedy"):
        alloc = ao.heuristics(spec)[name](inst, spec)
        met = ao.evaluate(inst, alloc, spec)
        x0 = start_vector(inst, lp, alloc)
        np.testing.assert_allclose(lp.objective_value(x0), met.objective, rtol=1e-9)
        if met.feasible:
            assert lp.max_violation(x0) <= 1e-7


def test_warm_start_not_worse_than_its_start() -> None:
    inst = LifecycleInstance.generate(6, 3, 2, seed=7)
    spec = LifecycleSpec()
    start = ao.heuristics(spec)["all_cloud"](inst, spec)
    res = solve_warm(inst, spec, ao.SolveOptions(mip_gap=1e-9), start=start)
    check(inst, spec, res)
    assert res.objective <= ao.evaluate(inst, start, spec).objective * (1 + 1e-9)
    ref = ao.solve(inst, spec, "highs", options=EXACT)
    np.testing.assert_allclose(res.objective, ref.objective, rtol=1e-7)
    assert ao.run_method(inst, spec, "highs_warm", options=EXACT).optimal


@pytest.mark.parametrize(("seed", "slots"), [(0, 1), (3, 1), (1, 4)])
def test_lagrangian_bound_is_a_bound(seed: int, slots: int) -> None:
    kw = TIGHT if slots > 1 else {}
    inst = LifecycleInstance.generate(4, 3, 2, n_slots=slots, seed=seed, **kw)
    spec = LifecycleSpec(reject_penalty=0.05 if slots > 1 else None)
    opt = ao.solve(inst, spec, "highs", options=EXACT)
    check(inst, spec, opt)
    upper = ao.run_heuristic(inst, spec, "all_cloud").objective
    lag, lam = lagrangian_bound(inst, spec, upper=upper)
    first, _ = lagrangian_bound(inst, spec, iters=1)
    assert first <= lag <= opt.objective * (1 + 1e-9)
    assert lag >= 0.95 * opt.objective  # and it is useful (within 5 % on these instances)
    assert (lam >= 0).all()


@pytest.mark.parametrize("seed", [627, 3, 11])
def test_rolling_keeps_the_cost_budget_over_the_epoch(seed: int) -> None:
    """Each slot's routing LP had the whole epoch's cost budget, so three slots could spend
    up to three times it (seeds 627, 3, 11: 'unverified', cost_budget violated by 2, checked
    before the fix). The slots now share it; the result passes the referee, and the
    single-stage optimum is no worse."""
    kind = get_case("lifecycle.two_timescale")
    inst = kind.make_instance(seed, n_services=2, n_regions=2, n_edge=2, n_slots=3)
    spec = kind.spec(cost_budget=0.001, train_kinds=())
    roll = ao.run_method(inst, spec, "rolling")
    single = ao.run_method(inst, spec, "highs")
    assert single.termination == "optimal" and single.verified
    assert roll.termination == "feasible" and roll.verified, roll.message
    assert ao.evaluate(inst, roll.allocation, spec).violations["cost_budget"] <= 1e-6
    assert single.objective <= roll.objective * (1 + 1e-9) + 1e-9


def test_rolling_leaves_later_slots_their_least_routing_cost() -> None:
    """Sharing the budget greedily let slot 0 spend it on fast, costly routing and left slot 2
    less than its cheapest routing: rolling said 'infeasible' (seed 627, cheap devices, a
    budget between the least and the unconstrained rolling cost) while the single-stage MILP
    is optimal. Each slot now leaves the later slots their least routing cost."""
    kind = get_case("lifecycle.two_timescale")
    base_inst = kind.make_instance(627, n_services=2, n_regions=2, n_edge=2, n_slots=3)
    price = base_inst.node_cost_per_flop
    inst = base_inst.replace(node_cost_per_flop=np.r_[1e-18, 1e-18, price[2:]])
    w = {"latency": 1.0, "cost": 1e-6}
    free = kind.spec(train_kinds=(), reject_penalty=None, weights=w)
    c_free = ao.evaluate(inst, ao.run_method(inst, free, "rolling").allocation,
                         free).totals["cost"]
    cheap = kind.spec(train_kinds=(), reject_penalty=None,
                      weights={"latency": 1e-9, "cost": 1.0, "quality": 1e-9, "energy": 0.0,
                               "privacy": 0.0})
    c_min = ao.evaluate(inst, ao.solve(inst, cheap, "highs").allocation, cheap).totals["cost"]
    spec = kind.spec(train_kinds=(), reject_penalty=None, weights=w,
                     cost_budget=c_min + 0.3 * (c_free - c_min))
    roll = ao.run_method(inst, spec, "rolling")
    single = ao.run_method(inst, spec, "highs")
    assert single.termination == "optimal" and single.verified
    assert roll.termination == "feasible" and roll.verified, roll.message
    assert single.objective <= roll.objective * (1 + 1e-9) + 1e-9


def test_rolling_explains_the_instance_not_its_mean_demand_stage() -> None:
    """An infeasible placement stage (a one-slot mean-demand program) used to hand back its own
    explanation, whose row numbers name other rows of the instance's T-slot program: relaxing
    them there left it infeasible (probe, seed 0, 2 slots, no rejection, zero cost budget)."""
    import dataclasses

    from aigc_opt.backend import SolveOptions, get_backend
    from aigc_opt.explain import relax

    k = get_case("lifecycle.two_timescale")
    inst = k.make_instance(0, n_slots=2)
    spec = dataclasses.replace(k.make_spec(), reject_penalty=None, cost_budget=0.0)
    res = ao.run_method(inst, spec, "rolling")
    assert res.termination is ao.Termination.INFEASIBLE and res.explanation
    assert any("slot 1" in lab for lab in res.explanation.labels)
    relaxed = get_backend("highs").solve(relax(spec.build(inst), res.explanation),
                                         SolveOptions(verify=False))
    assert relaxed.termination is ao.Termination.OPTIMAL
