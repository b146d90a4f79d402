"""Offline caching MILP against brute force, the evaluator and the rolling horizon's limit."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt.problems.caching import (
    POLICIES,
    CachingInstance,
    CachingObjective,
    CachingSpec,
    RollingHorizon,
    slot_bound,
    solve_offline,
)
from aigc_opt.problems.caching.milp import start_vector
from aigc_opt.spec import ExtraConstraint

OBJ_RTOL = 1e-6
EXACT = ao.SolveOptions(mip_gap=0.0)


def tiny(seed: int, *, budget_hops: bool = True) -> CachingInstance:
    """2 servers, 4 models, 3 slots; memory admits at most 2 models (few subsets)."""
    rng = np.random.default_rng(seed)
    R = rng.poisson(3.0, size=(3, 2, 4)).astype(float)
    R[:, :, 3] *= rng.integers(0, 2)  # sometimes a model nobody asks for
    init = np.zeros((2, 4), dtype=bool)
    init[0, seed % 4] = True
    lat = np.array([[0.0, 0.004], [0.004, 0.0]]) if budget_hops else np.array(
        [[0.0, 0.05], [0.05, 0.0]])
    base = CachingInstance.generate(2, 4, 3, seed=seed)
    return CachingInstance(**{**_fields(base),
           "requests": R,
           "model_size_bytes": np.array([6e9, 8e9, 10e9, 12e9]),
           "server_gpu_memory_bytes": np.array([16e9, 20e9]),
           "server_latency_s": lat,
           "initial_cache": init,
           "context_window": 2,
           "context_decay": 0.7})


def _fields(inst: CachingInstance) -> dict[str, Any]:
    from dataclasses import fields

    return {f.name: getattr(inst, f.name) for f in fields(inst)}


def brute_force(inst: CachingInstance, obj: CachingObjective) -> float:
    """Enumerate every cache trajectory; route each request group to its cheapest option.

    Written from the model's definition, independently of the package's helpers.
    """
    T, S, M = inst.requests.shape
    R = inst.requests
    size = inst.model_size_bytes
    subsets = [np.array(b, dtype=bool) for b in itertools.product((0, 1), repeat=M)]
    H, dec = inst.context_window, inst.context_decay
    cloud_unit = np.array([
        obj.latency * (inst.cloud_latency_s + f / inst.cloud_compute_flops)
        + obj.cloud * inst.cloud_cost_per_flop * f + obj.accuracy * (1 - a)
        for f, a in zip(inst.model_flop_per_request, inst.model_cloud_accuracy, strict=True)])
    per_server = []
    for k in range(S):
        ok = [b for b in subsets if size[b].sum() <= inst.server_gpu_memory_bytes[k]]
        trajs = np.array(list(itertools.product(ok, repeat=T)))  # (N, T, M)
        load = np.zeros(len(trajs))
        acc = np.full((len(trajs), T, M), np.nan)
        for i, tr in enumerate(trajs):
            prev = inst.initial_cache[k]
            age = np.full(M, -1)
            for t in range(T):
                new = tr[t] & ~prev
                load[i] += sum(obj.load_time * 8 * size[m] / inst.server_load_bps[k]
                               + obj.backhaul * size[m] / 1e9 for m in np.nonzero(new)[0])
                age = np.where(tr[t], np.where(age >= 0, np.minimum(age + 1, H), 0), -1)
                for m in np.nonzero(tr[t])[0]:
                    ex = sum(dec ** (i_ - 1) * R[t - i_, k, m] for i_ in range(1, age[m] + 1))
                    acc[i, t, m] = np.interp(ex, inst.context_examples,
                                             inst.context_accuracy[m])
                prev = tr[t]
        per_server.append((trajs, load, acc))
    assert S == 2
    (tr0, ld0, ac0), (tr1, ld1, ac1) = per_server
    total = ld0[:, None] + ld1[None, :]
    for s in range(S):
        units: list[np.ndarray | None] = []
        for k, (tr, ac) in enumerate(((tr0, ac0), (tr1, ac1))):
            if inst.server_latency_s[s, k] > obj.latency_budget_s:
                units.append(None)
                continue
            base = obj.latency * (inst.server_latency_s[s, k]
                                  + inst.model_flop_per_request / inst.server_compute_flops[k])
            units.append(np.where(tr, base[None, None, :] + obj.accuracy * (1 - ac), np.inf))
        best = np.broadcast_to(cloud_unit, (1, 1, T, M))
        if units[0] is not None:
            best = np.minimum(best, units[0][:, None])
        if units[1] is not None:
            best = np.minimum(best, units[1][None, :])
        total = total + (best * R[None, None, :, s, :]).sum(axis=(2, 3))
    return float(total.min())


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("neighbours", [True, False])
@pytest.mark.parametrize("backhaul", [1.0, 5.0])  # 5: the dominance fixing removes copies
def test_milp_equals_brute_force(seed: int, neighbours: bool, backhaul: float) -> None:
    inst = tiny(seed, budget_hops=neighbours)
    obj = CachingObjective(accuracy=5.0, backhaul=backhaul)
    spec = CachingSpec(objective=obj)
    res = ao.run_method(inst, spec, "offline_milp", options=EXACT)
    assert res.optimal
    bf = brute_force(inst, obj)
    np.testing.assert_allclose(res.objective, bf, rtol=OBJ_RTOL, atol=1e-6)
    met = ao.evaluate(inst, res.allocation, spec)
    assert met.feasible, met.violations
    np.testing.assert_allclose(met.objective, res.objective, rtol=OBJ_RTOL)


def test_dense_and_sparse_builds_agree() -> None:
    inst = tiny(5)
    obj = CachingObjective(accuracy=5.0)
    a = ao.run_method(inst, CachingSpec(objective=obj), "offline_milp", options=EXACT)
    b = ao.run_method(inst, CachingSpec(objective=obj, sparse=False), "offline_milp",
                      options=EXACT)
    np.testing.assert_allclose(a.objective, b.objective, rtol=OBJ_RTOL)
    # the generic path (spec.build / decode through the HiGHS backend) agrees
    c = ao.solve(inst, CachingSpec(objective=obj), backend="highs", options=EXACT)
    np.testing.assert_allclose(c.objective, a.objective, rtol=OBJ_RTOL)
    np.testing.assert_allclose(ao.evaluate(inst, c.allocation, obj).objective, c.objective,
                               rtol=OBJ_RTOL)


def test_builder_is_milp_with_binary_cache_only() -> None:
    inst = CachingInstance.generate(3, 5, 4, seed=0)
    lp = CachingSpec().build(inst)
    S, M, T = 3, 5, 4
    assert lp.kind == ao.ProgramKind.MILP
    assert lp.integrality[: T * S * M].all() and not lp.integrality[T * S * M:].any()


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("compute", [False, True])
def test_evaluator_matches_milp_and_capacity_binds(seed: int, compute: bool) -> None:
    inst = CachingInstance.generate(3, 5, 4, seed=seed, rate=60.0)
    if compute:
        inst = CachingInstance(**{**_fields(inst), "slot_s": 2.0})
    spec = CachingSpec(objective=CachingObjective(compute_capacity=compute))
    res = ao.run_method(inst, spec, "offline_milp", options=EXACT)
    assert res.optimal
    met = ao.evaluate(inst, res.allocation, spec)
    assert met.feasible, met.violations
    assert ("compute" in met.violations) == compute
    np.testing.assert_allclose(met.objective, res.objective, rtol=OBJ_RTOL)
    if compute:  # the capacity costs something on this instance (requests go to the cloud)
        free = ao.run_method(inst, CachingSpec(), "offline_milp", options=EXACT)
        assert free.objective < res.objective - 1e-6
        assert met.totals["misses"] > 0


@pytest.mark.parametrize("warm", [True, False])
def test_rolling_horizon_with_full_window_is_optimal(warm: bool) -> None:
    """Principle of optimality: a look-ahead covering the horizon commits an optimal plan."""
    inst = CachingInstance.generate(3, 5, 5, seed=3)
    spec = CachingSpec(objective=CachingObjective(accuracy=5.0))
    opt = ao.run_method(inst, spec, "offline_milp", options=EXACT)
    alloc = RollingHorizon(window=5, forecast="oracle", warm=warm, mip_gap=0.0).run(
        inst, spec.objective)
    met = ao.evaluate(inst, alloc, spec)
    assert met.feasible
    np.testing.assert_allclose(met.objective, opt.objective, rtol=OBJ_RTOL)


def test_time_limit_is_a_status_with_honest_gap() -> None:
    inst = CachingInstance.generate(6, 30, 20, seed=0)
    res = ao.run_method(inst, CachingSpec(), "offline_milp",
                        options=ao.SolveOptions(time_limit=0.05))
    assert res.termination in (ao.Termination.FEASIBLE, ao.Termination.LIMIT,
                               ao.Termination.OPTIMAL)
    if res.has_solution:
        assert res.bound <= res.objective + 1e-6 * abs(res.objective)
        met = ao.evaluate(inst, res.allocation, CachingSpec())
        np.testing.assert_allclose(met.objective, res.objective, rtol=OBJ_RTOL)


@pytest.mark.parametrize("policy", ["lru", "least_context", "static_popular"])
def test_policy_point_is_feasible_for_milp_with_equal_cost(policy: str) -> None:
    """Any feasible allocation maps to a MILP point whose objective is the evaluator's."""
    inst = CachingInstance.generate(3, 6, 6, seed=2)
    spec = CachingSpec()
    alloc = POLICIES[policy](inst, spec)
    lp = spec.build(inst)
    x0 = start_vector(inst, lp, alloc)
    assert lp.max_violation(x0) < 1e-9
    met = ao.evaluate(inst, alloc, spec)
    np.testing.assert_allclose(lp.objective_value(x0) * lp.meta["objective_scale"],
                               met.objective, rtol=1e-9)


def test_mip_start_gives_at_least_the_start() -> None:
    inst = CachingInstance.generate(4, 8, 8, seed=0)
    spec = CachingSpec()
    alloc = POLICIES["lfu"](inst, spec)
    pol = ao.evaluate(inst, alloc, spec).objective
    res = solve_offline(inst, spec, ao.SolveOptions(time_limit=2.0), start=alloc)
    assert res.has_solution
    met = ao.evaluate(inst, res.allocation, spec)
    assert met.feasible
    np.testing.assert_allclose(met.objective, res.objective, rtol=OBJ_RTOL)
    assert res.objective <= pol + 1e-9 * abs(pol)
    assert res.bound <= res.objective + 1e-9 * abs(res.objective)


def test_slot_bound_is_a_bound_and_exact_without_coupling() -> None:
    inst = CachingInstance.generate(3, 5, 5, seed=1)
    spec = CachingSpec()
    opt = ao.run_method(inst, spec, "offline_milp", options=EXACT)
    b, closed = slot_bound(inst, spec, EXACT)
    assert closed and b <= opt.objective + 1e-9 * abs(opt.objective)
    assert b < opt.objective - 1e-6  # loads and context do cost something here
    free = CachingSpec(objective=CachingObjective(load_time=0.0, backhaul=0.0))
    flat = CachingInstance(**{**_fields(inst), "context_window": 0})
    opt0 = ao.run_method(flat, free, "offline_milp", options=EXACT)
    b0, _ = slot_bound(flat, free, EXACT)
    np.testing.assert_allclose(b0, opt0.objective, rtol=OBJ_RTOL)


@dataclass(frozen=True)
class LoadCapSpec(CachingSpec):
    """A user's subclass: at most ``max_loads`` model loads over the horizon."""

    max_loads: float = 1.0

    def extra_constraints(self, instance: Any) -> tuple[ExtraConstraint, ...]:
        cap = self.max_loads

        def rows(program: Any) -> tuple[dict[str, Any], float, float]:
            n = program.block("load").size
            return {"load": np.ones((1, n))}, -np.inf, cap

        def check(alloc: Any) -> np.ndarray:
            prev = np.concatenate([instance.initial_cache[None], alloc.cache[:-1]], axis=0)
            n_loads = float((alloc.cache & ~prev).sum())
            return np.array([max(n_loads - cap, 0.0) / max(cap, 1.0)])

        return (ExtraConstraint("max_loads", rows, check),)


def test_subclass_inherits_methods_and_adds_a_constraint() -> None:
    inst = tiny(1)
    obj = CachingObjective(accuracy=5.0)
    free = ao.run_method(inst, CachingSpec(objective=obj), "offline_milp", options=EXACT)
    free_loads = ao.evaluate(inst, free.allocation, obj).totals["loads"]
    assert free_loads >= 2  # so that a cap of 1 binds
    capped = LoadCapSpec(objective=obj, max_loads=1.0)
    assert {"offline_milp", "lru", "rolling_horizon"} <= set(ao.methods(capped))
    a = ao.run_method(inst, capped, "offline_milp", options=EXACT)
    b = ao.solve(inst, capped, backend="highs", options=EXACT)
    for res in (a, b):
        assert res.optimal
        met = ao.evaluate(inst, res.allocation, capped)
        assert met.feasible, met.violations
        assert met.totals["loads"] <= 1
        np.testing.assert_allclose(met.objective, res.objective, rtol=OBJ_RTOL)
    np.testing.assert_allclose(a.objective, b.objective, rtol=OBJ_RTOL)
    assert a.objective >= free.objective * (1 - OBJ_RTOL)
    # the referee checks the cap on any allocation: the unconstrained optimum violates it
    assert not ao.evaluate(inst, free.allocation, capped).feasible
    loose = ao.run_method(inst, LoadCapSpec(objective=obj, max_loads=free_loads), "offline_milp",
                          options=EXACT)
    np.testing.assert_allclose(loose.objective, free.objective, rtol=OBJ_RTOL)


def test_case_objective_parameter() -> None:
    """``objective`` of the caching case kinds: None or a dict of fields over the case's
    default; 0, False, '' and [] were taken as 'no objective' and became the default."""
    from aigc_opt.cases import get_case
    from aigc_opt.errors import UnknownNameError
    from aigc_opt.problems.caching import CachingObjective

    kind = get_case("caching.compute")
    assert kind.make_spec().objective == CachingObjective(compute_capacity=True)
    assert kind.make_spec(objective={"accuracy": 0.5}).objective == CachingObjective(
        accuracy=0.5, compute_capacity=True)
    with pytest.raises(UnknownNameError, match="nope"):
        kind.make_spec(objective={"nope": 1.0})
    for bad in (0, False, "", []):
        with pytest.raises(ao.ValidationError, match="objective"):
            kind.make_spec(objective=bad)


@pytest.mark.parametrize("name", ["slot_bound", "solve_offline", "offline_milp", "solve_colgen",
                                  "solve_lagrangian", "solve_relax_memory", "rolling_horizon",
                                  "rolling_forecast"])
@pytest.mark.parametrize("bad", ["x", {"time_limit": 1.0}, 0])
def test_public_functions_check_options(name: str, bad: Any) -> None:
    """``options`` must be a SolveOptions or None: anything else is a ValidationError on
    ``options`` showing the value (it was an AttributeError at the first option read, and 0
    or "" silently meant the defaults)."""
    from aigc_opt.problems import caching

    inst = CachingInstance.generate(2, 3, 4, seed=0)
    with pytest.raises(ao.ValidationError, match="SolveOptions or None") as err:
        getattr(caching, name)(inst, CachingSpec(), options=bad)
    assert err.value.field == "options" and err.value.value == bad


def test_slot_bound_none_options_is_the_default() -> None:
    """None still means the defaults: the slot bound is below the referee's optimum."""
    inst = CachingInstance.generate(2, 3, 4, seed=0)
    spec = CachingSpec()
    res = solve_offline(inst, spec, EXACT)
    met = ao.evaluate(inst, res.allocation, spec)
    assert res.optimal and met.feasible
    b, closed = slot_bound(inst, spec, None)
    assert closed and b <= met.objective + 1e-6


@pytest.mark.parametrize("held", [True, False])
def test_referee_zero_memory_server_without_warning(held: bool) -> None:
    """A server of memory 0 holding a model is over by an infinite fraction (and infeasible);
    an empty one by none. No RuntimeWarning either way (dividing by max(cap, 1e-300) had
    overflowed)."""
    import warnings

    from aigc_opt.problems.caching import CachingAllocation

    inst = CachingInstance.generate(2, 2, 1, seed=0,
                                    server_gpu_memory_bytes=np.array([0.0, 24e9]))
    cache = np.zeros((1, 2, 2), dtype=bool)
    cache[0, 0, 0] = held
    cache[0, 1, 1] = True
    alloc = CachingAllocation(cache=cache, edge=np.zeros((1, 2, 2, 2)),
                              cloud=np.array(inst.requests, dtype=float))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        met = ao.evaluate(inst, alloc, CachingSpec())
    frac = met.totals["memory_peak_frac"]
    if held:
        assert frac == np.inf and not met.feasible
    else:
        assert frac == pytest.approx(inst.model_size_bytes[1] / 24e9, rel=1e-12)
        assert met.feasible and 0.0 < frac <= 1.0
