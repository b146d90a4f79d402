"""Online caching policies and the caching evaluator: offline optimum <= every policy, zero
memory violations, hand-computed hits/loads/accuracy, and violations that the evaluator flags."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import aigc_opt as ao
from aigc_opt.cases import _CASES
from aigc_opt.problems.caching import (
    CASES,
    POLICIES,
    CachingAllocation,
    CachingInstance,
    CachingObjective,
    CachingSpec,
    RollingHorizon,
    route_given_cache,
)

OBJ_RTOL = 1e-6
EXACT = ao.SolveOptions(mip_gap=1e-7)


def _fields(inst: CachingInstance) -> dict[str, Any]:
    return {f.name: getattr(inst, f.name) for f in fields(inst)}


TRACES = [
    ("base", dict(seed=0)),
    ("drift", dict(seed=1, drift=1.0)),
    ("flat", dict(seed=2, zipf_alpha=0.2, rate=10.0)),
]


@pytest.mark.parametrize(("label", "kw"), TRACES)
@pytest.mark.parametrize("compute", [False, True])
def test_offline_bounds_every_policy(label: str, kw: dict[str, Any], compute: bool) -> None:
    inst = CachingInstance.generate(3, 4 if compute else 5, 4 if compute else 6, **kw)
    if compute:
        inst = CachingInstance(**{**_fields(inst), "slot_s": 3.0})
    spec = CachingSpec(objective=CachingObjective(compute_capacity=compute))
    opt = ao.run_method(inst, spec, "offline_milp", options=EXACT)
    assert opt.optimal
    np.testing.assert_allclose(ao.evaluate(inst, opt.allocation, spec).objective, opt.objective,
                               rtol=OBJ_RTOL)
    for name in POLICIES:
        res = ao.run_method(inst, spec, name)
        met = ao.evaluate(inst, res.allocation, spec)
        assert met.violations["gpu_memory"] == 0.0, name
        assert met.feasible, (name, met.violations)
        assert res.objective == met.objective
        assert opt.objective <= met.objective + 1e-7 * abs(opt.objective), name  # mip_gap
        # the evaluator's counts add up
        t = met.totals
        np.testing.assert_allclose(t["hits"] + t["neighbour_hits"] + t["misses"], t["requests"])


def test_least_context_keeps_the_copy_with_more_context() -> None:
    """One server, room for two of three equal models: the newcomer evicts the copy with the
    fewest effective examples, not the least recently used one."""
    R = np.zeros((5, 1, 3))
    R[0, 0, :2] = 1   # slot 1: both models 0 and 1 are loaded
    R[1, 0, 1] = 30   # model 1 gathers many in-context examples while cached
    R[2, 0, 0] = 1    # model 0 is used more recently (LRU keeps it)
    R[3, 0, 2] = 5    # slot 4: model 2 must come in and one copy must go
    base = CachingInstance.generate(1, 3, 5, seed=0)
    inst = CachingInstance(**{**_fields(base), "requests": R,
                              "model_size_bytes": np.full(3, 10e9),
                              "server_gpu_memory_bytes": np.array([20e9])})
    alloc = POLICIES["least_context"](inst, CachingSpec())
    # at slot 4 model 0 holds K = 0.8 examples, model 1 holds K = 0.64 * 30: model 0 goes
    assert alloc.cache[4, 0].tolist() == [False, True, True]
    lru = POLICIES["lru"](inst, CachingSpec())
    assert lru.cache[4, 0].tolist() == [True, False, True]


def test_evaluator_hand_example() -> None:
    """1 server, 2 models, 3 slots; loads, hits, memory and accuracy by hand."""
    R = np.array([[[4.0, 1.0]], [[2.0, 3.0]], [[5.0, 0.0]]])
    base = CachingInstance.generate(1, 2, 3, seed=0)
    inst = CachingInstance(**{
        **_fields(base), "requests": R, "model_size_bytes": np.array([4e9, 6e9]),
        "context_examples": np.array([0.0, 10.0]),
        "context_accuracy": np.array([[0.5, 1.0], [0.6, 0.6]]),
        "context_decay": 0.5, "context_window": 2,
        "model_cloud_accuracy": np.array([0.4, 0.4])})
    cache = np.array([[[True, False]], [[True, True]], [[True, True]]])
    obj = CachingObjective()
    edge, cloud = route_given_cache(inst, obj, cache)
    met = ao.evaluate(inst, CachingAllocation(cache, edge, cloud), obj)
    assert met.totals["loads"] == 2.0
    np.testing.assert_allclose(met.per_item["memory_bytes"][:, 0], [4e9, 10e9, 10e9])
    # model 0 at slot 2 has age 2: K = R[1] + 0.5 R[0] = 2 + 2 = 4 -> A = 0.5 + 0.5 * 0.4
    np.testing.assert_allclose(met.per_item["accuracy"][:, 0, 0], [0.5, 0.5 + 0.05 * 4,
                                                                    0.5 + 0.05 * 4])
    np.testing.assert_allclose(met.per_item["age"][:, 0, 0], [0, 1, 2])
    # the edge is cheaper than the cloud here, so every request is a hit except slot 0 model 1
    assert met.totals["hits"] == R.sum() - 1.0
    assert met.totals["misses"] == 1.0
    load = 8 * np.array([4e9, 6e9]) / inst.server_load_bps[0] + np.array([4.0, 6.0])
    np.testing.assert_allclose(met.totals["load_cost"], load.sum())


def test_evaluator_flags_violations() -> None:
    inst = CachingInstance.generate(2, 3, 2, seed=0, rate=20.0)
    obj = CachingObjective(compute_capacity=True)
    T, S, M = 2, 2, 3
    R = inst.requests
    cache = np.zeros((T, S, M), dtype=bool)
    edge = np.zeros((T, S, S, M))
    edge[:, 0, 0, :] = R[:, 0, :]  # served at server 0, which holds nothing
    cloud = R.copy()
    cloud[:, 0, :] = 0.0
    cloud[:, 1, :] *= 0.5  # half of server 1's requests are never served
    met = ao.evaluate(inst, CachingAllocation(cache, edge, cloud), obj)
    assert met.violations["model_cached"] == pytest.approx(1.0)
    assert met.violations["unserved"] == pytest.approx(0.5, rel=0.2)
    assert not met.feasible
    big = np.ones((T, S, M), dtype=bool)
    met = ao.evaluate(inst, CachingAllocation(big, np.zeros((T, S, S, M)), R.copy()), obj)
    over = (inst.model_size_bytes.sum() - 24e9) / 24e9
    if over > 0:
        assert met.violations["gpu_memory"] == pytest.approx(over)
    far = CachingInstance(**{**_fields(inst), "server_latency_s": np.array([[0, 1.0], [1.0, 0]])})
    e2 = np.zeros((T, S, S, M))
    e2[:, 0, 1, :] = R[:, 0, :]
    c2 = R.copy()
    c2[:, 0, :] = 0
    met = ao.evaluate(far, CachingAllocation(np.ones((T, S, M), bool) & (
        inst.model_size_bytes < 12e9), e2, c2), CachingObjective())
    assert met.violations["latency_budget"] > 0
    slow = CachingInstance(**{**_fields(inst), "slot_s": 1e-3})
    cache = np.zeros((T, S, M), dtype=bool)
    cache[:, :, int(np.argmin(inst.model_size_bytes))] = True
    e3, c3 = route_given_cache(slow, CachingObjective(), cache)
    met = ao.evaluate(slow, CachingAllocation(cache, e3, c3), obj)
    assert met.violations["compute"] > 0


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_evaluator_loads_and_memory_property(seed: int) -> None:
    rng = np.random.default_rng(seed)
    inst = CachingInstance.generate(2, 4, 5, seed=seed % 7)
    cache = rng.random((5, 2, 4)) < 0.4
    edge, cloud = route_given_cache(inst, CachingObjective(), cache)
    met = ao.evaluate(inst, CachingAllocation(cache, edge, cloud))
    loads = 0
    prev = inst.initial_cache
    for t in range(5):
        loads += int((cache[t] & ~prev).sum())
        prev = cache[t]
    assert met.totals["loads"] == loads
    np.testing.assert_allclose(met.per_item["memory_bytes"],
                               (cache * inst.model_size_bytes).sum(axis=2))
    assert met.violations["model_cached"] == 0.0
    assert met.violations["unserved"] == 0.0


def test_rolling_warm_equals_cold_and_forecast_runs() -> None:
    inst = CachingInstance.generate(3, 6, 6, seed=4)
    obj = CachingObjective()
    warm = RollingHorizon(window=2, warm=True, mip_gap=0.0).run(inst, obj)
    cold = RollingHorizon(window=2, warm=False, mip_gap=0.0).run(inst, obj)
    a, b = ao.evaluate(inst, warm, obj), ao.evaluate(inst, cold, obj)
    np.testing.assert_allclose(a.objective, b.objective, rtol=1e-9)
    fc = RollingHorizon(window=2, forecast="ewma").run(inst, obj)
    assert ao.evaluate(inst, fc, obj).feasible


def get_registered(name: str) -> Any:
    # the registry itself (get_case would import every other family's module too)
    return _CASES[name]


@pytest.mark.parametrize("name", ["caching.offline", "caching.compute"])
def test_case_kinds(name: str) -> None:
    kind = {k.name: k for k in CASES}[name]
    assert kind is get_registered(name)
    inst = kind.make_instance(0)
    spec = kind.make_spec()
    assert kind.reference == "offline_milp"
    for method in kind.default_methods:
        res = ao.run_method(inst, spec, method)
        assert res.has_solution
        assert ao.evaluate(inst, res.allocation, spec).feasible, method


def test_rolling_sparse_window_matches_dense() -> None:
    inst = CachingInstance.generate(3, 6, 6, seed=5)
    obj = CachingObjective()
    dense = RollingHorizon(window=2, warm=True, mip_gap=0.0).run(inst, obj)
    sparse = RollingHorizon(window=2, warm=False, sparse=True, mip_gap=0.0).run(inst, obj)
    np.testing.assert_allclose(ao.evaluate(inst, sparse, obj).objective,
                               ao.evaluate(inst, dense, obj).objective, rtol=1e-9)


@pytest.mark.parametrize(("kw", "field"), [
    ({"window": 0}, "window"), ({"window": -1}, "window"), ({"window": "a"}, "window"),
    ({"window": 2.5}, "window"), ({"forecast": "x"}, "forecast"), ({"forecast": 1}, "forecast"),
    ({"warm": True, "sparse": True}, "warm"), ({"warm": "yes"}, "warm"),
    ({"sparse": 1, "warm": False}, "sparse"), ({"mip_gap": -1e-3}, "mip_gap"),
    ({"time_limit": 0.0}, "time_limit"), ({"alpha": float("nan")}, "alpha"),
    ({"threads": 0}, "threads")])
def test_rolling_horizon_arguments_are_checked(kw: dict[str, Any], field: str) -> None:
    """A bad argument is a ValidationError naming it at construction (it was an IndexError,
    a negative-dimension ValueError or a bare int() error deep in run(), or a ValueError)."""
    with pytest.raises(ao.ValidationError) as err:
        RollingHorizon(**kw)
    assert err.value.field == field


def test_rolling_horizon_one_slot_window_runs() -> None:
    """window=1 (the smallest allowed) is a myopic policy the referee accepts."""
    inst = CachingInstance.generate(2, 3, 4, seed=0)
    obj = CachingObjective()
    alloc = RollingHorizon(window=1, time_limit=5.0, threads=1).run(inst, obj)
    assert ao.evaluate(inst, alloc, obj).feasible


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_entry_positions_match_lil_assignment(seed: int) -> None:
    """``formulation.entry_positions`` (which replaced a LIL round trip that took 13.6 s of a
    3 s rolling-horizon call with a 3,000-slot context window) writes the same matrix as
    ``A.tolil()[rows, cols] = values``, and refuses an entry that is not stored."""
    import scipy.sparse as sp

    from aigc_opt.problems.caching.formulation import entry_positions

    rng = np.random.default_rng(seed)
    A = sp.random(int(rng.integers(1, 30)), int(rng.integers(1, 30)), density=0.3,
                  format="csr", random_state=rng)
    if A.nnz == 0:
        return
    r, c = A.nonzero()
    pick = rng.choice(r.size, size=int(rng.integers(1, r.size + 1)), replace=False)
    vals = rng.normal(size=pick.size)
    ref = A.tolil()
    ref[r[pick], c[pick]] = vals
    got = sp.csr_matrix(A, copy=True)
    got.data[entry_positions(got, r[pick], c[pick])] = vals
    assert abs(got - ref.tocsr()).max() == 0.0
    dense = A.toarray()
    zr, zc = np.nonzero(dense == 0)
    if zr.size:
        with pytest.raises(ValueError):
            entry_positions(got, zr[:1], zc[:1])
