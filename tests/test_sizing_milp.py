"""Deployment sizing: the MILP against brute force over every capacity choice (feasibility of
each choice decided by the offloading family's own MILP), the plan refereed by the offloading
evaluator on every demand scenario, binding constraints, the greedy baseline and validation."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt.errors import ValidationError
from aigc_opt.problems.offloading import OffloadingSpec
from aigc_opt.problems.sizing import (
    GpuOption,
    RadioOption,
    SizingInstance,
    SizingPlan,
    SizingSpec,
    capacity_arrays,
    site_down,
)
from aigc_opt.result import Termination

GPUS = (GpuOption("small", 1.0, 2.2e13, 12e9, 2), GpuOption("big", 2.5, 5e13, 24e9, 1))
RADIOS = (RadioOption("narrow", 0.5, 1e6, 1e6, 4), RadioOption("wide", 1.5, 4e6, 4e6, 10))


def tiny(seed: int, n: int = 6, down: bool = True) -> SizingInstance:
    """Two sites, two models; the cloud is 20 s away, so short deadlines need an edge GPU."""
    scn = ao.Scenario.generate(n, 2, 2, seed=seed).replace(cloud_latency_s=20.0)
    if not down:
        return SizingInstance((scn,), GPUS, RADIOS, ("peak",))
    return SizingInstance((scn, site_down(scn.subset(np.arange(4)), 0)), GPUS, RADIOS,
                          ("peak", "down0"))


def brute_force(inst: SizingInstance, spec: SizingSpec) -> float:
    """Cheapest capacity choice whose every demand scenario has a feasible offloading
    assignment (decided by the offloading MILP on the scenario with those capacities). Every
    model fits one GPU of every type here, so the sizing MILP's ``model_fits`` rows (a model
    is held on one GPU) do not bind and the offloading MILP's pooled memory is the same
    model."""
    size = inst.demands[0].model_size_bytes
    assert all(size.max() <= g.memory_bytes for g in inst.gpus)
    per_site = [(-1, 0)] + [(g, c) for g, gpu in enumerate(inst.gpus)
                            for c in range(1, gpu.max_count + 1)]
    choices = []
    for gpu_choice in itertools.product(per_site, repeat=inst.n_sites):
        for radio in itertools.product(range(len(inst.radios)), repeat=inst.n_sites):
            cost = sum(inst.gpus[g].cost * c for g, c in gpu_choice if g >= 0) \
                + sum(inst.radios[b].cost for b in radio)
            choices.append((cost, gpu_choice, radio))
    off = OffloadingSpec(allow_local=spec.allow_local, allow_cloud=spec.allow_cloud)
    for cost, gpu_choice, radio in sorted(choices, key=lambda c: c[0]):
        cap = capacity_arrays(inst, np.array([g for g, _ in gpu_choice]),
                              np.array([c for _, c in gpu_choice]), np.array(radio))
        if all(ao.solve(d.replace(**cap), off).has_solution for d in inst.demands):
            return cost
    return np.inf


@pytest.mark.parametrize("seed", [1, 2, 4])
def test_milp_equals_brute_force(seed: int) -> None:
    inst, spec = tiny(seed), SizingSpec(allow_local=False)
    res = ao.solve(inst, spec)
    ref = brute_force(inst, spec)
    if not np.isfinite(ref):
        assert res.termination is Termination.INFEASIBLE
        return
    assert res.termination is Termination.OPTIMAL and res.verified
    assert res.objective == pytest.approx(ref, abs=1e-9)
    assert res.eval_objective == pytest.approx(ref, abs=1e-9)


def test_plan_passes_offloading_evaluator_on_every_scenario() -> None:
    inst, spec = tiny(1), SizingSpec(allow_local=False)
    res = ao.solve(inst, spec)
    plan = res.allocation
    assert res.success and isinstance(plan, SizingPlan)
    cap = capacity_arrays(inst, plan.gpu_type, plan.gpu_count, plan.radio)
    off = OffloadingSpec(allow_local=False)
    for d, alloc in zip(inst.demands, plan.assignments, strict=True):
        m = ao.evaluate(d.replace(**cap), alloc, off)
        assert m.feasible, m.violated()
        # nothing runs at a site without GPUs
        edge = alloc.placement >= 0
        assert np.all(plan.gpu_count[alloc.placement[edge]] > 0)
    m = ao.evaluate(inst, plan, spec)
    assert m.feasible and m.objective == pytest.approx(res.objective)
    assert m.totals["cost"] == pytest.approx(res.objective)


def test_binding_constraints_are_tight() -> None:
    inst, spec = tiny(1), SizingSpec(allow_local=False)
    plan = ao.solve(inst, spec).allocation
    assert plan.binding, "an optimal plan buys no idle capacity here"
    assert all(b.split("[")[0] in ("gpu_slots", "subchannels", "memory") for b in plan.binding)
    for label in plan.binding:
        if not label.startswith("gpu_slots"):
            continue
        demand = label.split("[")[1].split("]")[0]
        site = int(label.split("site ")[1].split(" ")[0])
        alloc = plan.assignments[inst.names.index(demand)]
        assert int(np.sum(alloc.placement == site)) == plan.gpu_count[site]


def test_greedy_is_feasible_and_never_cheaper() -> None:
    for seed in (1, 2):
        inst, spec = tiny(seed), SizingSpec(allow_local=False)
        opt = ao.solve(inst, spec)
        greedy = ao.run_heuristic(inst, spec, "greedy_capacity")
        assert greedy.success, greedy.message
        assert greedy.objective >= opt.objective - 1e-9
        assert "greedy_capacity" in ao.methods(spec)


def test_robust_plan_costs_at_least_the_peak_plan() -> None:
    spec = SizingSpec(allow_local=False)
    peak = ao.solve(tiny(1, down=False), spec)
    robust = ao.solve(tiny(1), spec)
    assert peak.success and robust.success
    assert robust.objective >= peak.objective - 1e-9


def test_quality_target_is_met_or_explained() -> None:
    inst = tiny(1)
    spec = SizingSpec(allow_local=False, min_quality=0.0)
    res = ao.solve(inst, spec)
    assert res.success
    assert "peak:quality_target" in res.metrics.violations
    impossible = SizingSpec(allow_local=False, min_quality=1e5)  # above every quality curve
    bad = ao.solve(inst, impossible)
    assert bad.termination is Termination.INFEASIBLE
    assert bad.explanation and any(lab.startswith("assignment[") for lab in bad.explanation.labels)


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_evaluator_flags_unbuilt_sites_and_overbooked_slots() -> None:
    inst, spec = tiny(1), SizingSpec(allow_local=False)
    plan = ao.solve(inst, spec).allocation
    used = plan.assignments[0].placement
    site = int(used[used >= 0][0])
    none = SizingPlan(np.where(np.arange(inst.n_sites) == site, -1, plan.gpu_type),
                      np.where(np.arange(inst.n_sites) == site, 0, plan.gpu_count),
                      plan.radio, plan.assignments)
    m = ao.evaluate(inst, none, spec)
    assert not m.feasible and m.violations["peak:unbuilt_site"] > 0
    bad = SizingPlan(plan.gpu_type, plan.gpu_count, plan.radio + 5, plan.assignments)
    assert ao.evaluate(inst, bad, spec).violations["plan"] > 0


def test_validation() -> None:
    with pytest.raises(ValidationError):
        GpuOption("x", -1.0, 1e13, 1e9)
    with pytest.raises(ValidationError):
        GpuOption("x", 1.0, 0.0, 1e9)
    with pytest.raises(ValidationError):
        RadioOption("r", 1.0, 1e6, 1e6, 0)
    with pytest.raises(ValidationError):
        SizingSpec(objective=ao.problems.offloading.OffloadObjective(deadline="penalty"))
    with pytest.raises(ValidationError):
        SizingSpec(min_quality=float("nan"))
    a = ao.Scenario.generate(4, 2, 2, seed=0)
    b = ao.Scenario.generate(4, 3, 2, seed=0)
    with pytest.raises(ValidationError):
        SizingInstance((a, b), GPUS, RADIOS)
    with pytest.raises(ValidationError):
        SizingInstance((a,), (), RADIOS)
    with pytest.raises(ValidationError):
        SizingInstance((a, a), GPUS, RADIOS, ("x", "x"))
    with pytest.raises(ValidationError):
        ao.solve(a, SizingSpec())


def test_catalogue_names_are_distinct_and_any_sequence_is_accepted() -> None:
    a = ao.Scenario.generate(6, 2, 2, seed=1).replace(cloud_latency_s=20.0)
    for gpus, radios, field in (((GPUS[0], GPUS[1], GPUS[0]), RADIOS, "gpus[2].name"),
                                (GPUS, (RADIOS[1], RADIOS[1]), "radios[1].name")):
        with pytest.raises(ValidationError) as err:
            SizingInstance((a,), gpus, radios)
        dup = gpus[0].name if field.startswith("gpus") else radios[0].name
        assert err.value.field == field and err.value.value == dup
        assert dup in str(err.value) and "distinct" in str(err.value)
    with pytest.raises(ValidationError, match="gpus.*sequence.*GpuOption"):
        SizingInstance((a,), GPUS[0], RADIOS)  # one option, not a sequence of them
    inst = SizingInstance((a,), np.array(GPUS, dtype=object), np.array(RADIOS[:1]))
    assert inst.gpus == GPUS and inst.radios == RADIOS[:1]
    r = ao.solve(inst, SizingSpec(allow_local=False), time_limit=10)
    assert r.termination == Termination.OPTIMAL and r.verified
    assert r.objective == ao.solve(SizingInstance((a,), GPUS, RADIOS[:1]),
                                   SizingSpec(allow_local=False), time_limit=10).objective


def test_a_model_is_held_on_one_gpu_not_pooled() -> None:
    """A 20 GB model and 12 GB GPUs: two GPUs have 24 GB together, but a request runs on one
    GPU, so no plan serves it at the edge; the referee flags such a pooled plan, and the
    explanation names the model_fits row."""
    scn = ao.Scenario.generate(2, 1, 1, seed=0).replace(model_size_bytes=np.array([20e9]),
                                                       cloud_latency_s=50.0)
    small = (GpuOption("L4-12GB", 1.0, 3e13, 12e9, 4),)
    inst = SizingInstance((scn,), small, (RadioOption("r", 0.1, 8e6, 8e6, 4),))
    spec = SizingSpec(allow_local=False, allow_cloud=False)
    res = ao.solve(inst, spec, time_limit=10)
    assert res.termination is Termination.INFEASIBLE
    assert res.explanation is not None and "model_fits" in str(res.explanation)
    big = SizingInstance((scn,), (*small, GpuOption("A100", 2.6, 1e14, 40e9, 3)),
                         (RadioOption("r", 0.1, 8e6, 8e6, 4),))
    ok = ao.solve(big, spec, time_limit=10)
    assert ok.optimal and ok.verified and ok.allocation.gpu_type[0] == 1
    pooled = SizingPlan(gpu_type=np.array([0]), gpu_count=np.array([2]), radio=np.array([0]),
                        assignments=ok.allocation.assignments)
    met = ao.evaluate(inst, pooled, spec)
    assert not met.feasible and met.violations["d0:model_fits"] == 1.0


def test_drivers_explain_every_gpu_count() -> None:
    inst, spec = tiny(1), SizingSpec(allow_local=False)
    plan = ao.solve(inst, spec).allocation
    built = int(((plan.gpu_type >= 0) & (plan.gpu_count > 0)).sum())
    assert len(plan.drivers) == built > 0
    for text, s in zip(plan.drivers, np.nonzero(plan.gpu_count > 0)[0], strict=True):
        k = int(plan.gpu_count[s])
        assert text.startswith(f"site {s}: {k} x ") and "forced by" in text
        here = max((a.placement == s).sum() for a in plan.assignments)
        assert (f"({here} request" in text) == ("gpu_slots" in text.split(";")[0])


def test_each_demand_is_sized_with_its_own_model_sizes() -> None:
    """A demand whose models are the first demand's relabelled (sizes swapped, requests
    mapped) is the same demand: the optimum is that of two identical copies. The builder
    used the first demand's model sizes for every demand (cost 6.0, a big GPU per site, both
    backends 'optimal', while the referee passed the 3.0 plan)."""
    scn = ao.Scenario.generate(6, 2, 2, seed=0).replace(
        cloud_latency_s=20.0, model_size_bytes=np.array([20e9, 8e9]),
        request_model=np.ones(6, dtype=np.int64))
    per_model = ("model_size_bytes", "model_flop_per_step", "model_quality_kind",
                 "model_quality_max", "model_quality_slope", "model_quality_mid",
                 "model_quality_steps", "model_quality_values")
    swapped = scn.replace(**{f: getattr(scn, f)[::-1] for f in per_model},
                          request_model=np.zeros(6, dtype=np.int64))
    spec = SizingSpec()
    same = ao.solve(SizingInstance((scn, scn), GPUS, RADIOS, ("a", "b")), spec)
    assert same.termination == Termination.OPTIMAL and same.objective == pytest.approx(3.0)
    for demands in ((scn, swapped), (swapped, scn)):
        inst = SizingInstance(demands, GPUS, RADIOS, ("a", "b"))
        for backend in ("highs", "scip"):
            res = ao.solve(inst, spec, backend=backend)
            assert res.termination == Termination.OPTIMAL and res.verified
            assert res.objective == pytest.approx(same.objective, rel=1e-9)


def test_greedy_stops_at_the_time_limit_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """``greedy_capacity`` took no options: 106-159 s at ``time_limit=3`` on 8 sites. Here each
    fixed-capacity solve is made 0.1 s slow: with 0.3 s the search stops at the limit with a
    note (the plan so far, scored by the referee); without a limit it ends feasible."""
    import time

    from aigc_opt.problems.sizing import heuristics as sh

    fixed = sh._fixed

    def slow(*a: Any, **k: Any) -> Any:
        time.sleep(0.1)
        return fixed(*a, **k)

    monkeypatch.setattr(sh, "_fixed", slow)
    inst, spec = tiny(1), SizingSpec(allow_local=False)
    res = ao.run_heuristic(inst, spec, "greedy_capacity", options=ao.SolveOptions(time_limit=0.3))
    assert "stopped at the time limit" in res.message, res.message
    assert res.metrics is not None
    full = ao.run_heuristic(inst, spec, "greedy_capacity")
    assert full.success and "time limit" not in full.message
