"""Caching decomposition (Lagrangian bound, column generation) against the exact MILP."""

from __future__ import annotations

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt.problems.caching import CachingInstance, CachingObjective, CachingSpec, solve_offline
from aigc_opt.problems.caching.data import cache_age
from aigc_opt.problems.caching.decomposition import (
    cache_cost,
    lagrangian,
    tables,
    trajectory_dp,
)

EXACT = ao.SolveOptions(mip_gap=0.0)
CASES = [(2, 3, 4, 0), (3, 4, 5, 1), (2, 5, 6, 2), (3, 5, 3, 3)]


def _opt(inst: CachingInstance, spec: CachingSpec) -> float:
    res = solve_offline(inst, spec, EXACT)
    assert res.optimal
    return res.objective


@pytest.mark.parametrize("method", ["colgen", "lagrangian"])
@pytest.mark.parametrize(("S", "M", "T", "seed"), CASES)
def test_bound_below_optimum_below_primal(method: str, S: int, M: int, T: int, seed: int
                                          ) -> None:
    inst = CachingInstance.generate(S, M, T, seed=seed)
    spec = CachingSpec()
    opt = _opt(inst, spec)
    res = ao.run_method(inst, spec, method,
                        options=ao.SolveOptions(time_limit=10.0, mip_gap=1e-3))
    assert res.has_solution and res.verified
    met = ao.evaluate(inst, res.allocation, spec)
    assert met.feasible
    assert met.objective == pytest.approx(res.objective, rel=1e-9, abs=1e-9)
    tol = 1e-7 * max(1.0, abs(opt))
    assert res.bound <= opt + tol <= res.objective + 2 * tol
    assert res.gap == pytest.approx((res.objective - res.bound) / max(1.0, res.objective))
    # on these sizes both close to the optimum within the stated gap (1e-3) or 1 %
    assert res.objective <= opt * (1 + 1e-2) + tol
    assert res.bound >= opt * (1 - 1e-2) - tol


def test_compute_capacity_bound_and_primal() -> None:
    inst = CachingInstance.generate(3, 4, 4, seed=5, slot_s=10.0)
    spec = CachingSpec(objective=CachingObjective(compute_capacity=True))
    opt = _opt(inst, spec)
    for method in ("colgen", "lagrangian"):
        res = ao.run_method(inst, spec, method, options=ao.SolveOptions(time_limit=5.0))
        assert res.has_solution and res.verified, res.message
        tol = 1e-7 * max(1.0, abs(opt))
        assert res.bound <= opt + tol <= res.objective + 2 * tol


def test_trajectory_dp_matches_enumeration() -> None:
    rng = np.random.default_rng(0)
    T, B, H = 5, 6, 2
    val = rng.normal(size=(T, B, H + 1))
    L = rng.uniform(0.0, 2.0, size=B)
    init = rng.random(B) < 0.5
    allowed = rng.random((T, B)) < 0.8
    cost, age = trajectory_dp(val, L, init, allowed)
    for b in range(B):
        best = np.inf
        for bits in range(2 ** T):
            c = np.array([(bits >> t) & 1 for t in range(T)], dtype=bool)
            if (c & ~allowed[:, b]).any():
                continue
            a = cache_age(c[:, None, None], H)[:, 0, 0]
            prev = np.concatenate([[init[b]], c[:-1]])
            v = sum(val[t, b, a[t]] for t in range(T) if c[t]) + L[b] * (c & ~prev).sum()
            best = min(best, v)
        assert cost[b] == pytest.approx(best)
        c = age[:, b] >= 0
        assert (cache_age(c[:, None, None], H)[:, 0, 0] == age[:, b]).all()


def test_lagrangian_value_is_a_bound_for_any_multipliers() -> None:
    inst = CachingInstance.generate(2, 3, 4, seed=7)
    spec = CachingSpec()
    opt = _opt(inst, spec)
    tb = tables(inst, spec.objective)
    rng = np.random.default_rng(1)
    T, S, M = inst.requests.shape
    for _ in range(20):
        pi = rng.uniform(-1.0, 2.0, size=(T, S, M)) * tb.q[None, None, :]
        mu = rng.uniform(0.0, 50.0, size=(T, S))
        ev = lagrangian(tb, pi, mu, np.zeros((T, S)))
        assert ev.value <= opt + 1e-7 * abs(opt)
    # the primal cost formula is the evaluator's
    cache = np.zeros((T, S, M), dtype=bool)
    cache[:, 0, 0] = True
    edge = np.zeros((T, S, S, M))
    from aigc_opt.problems.caching import route_given_cache

    edge, cloud = route_given_cache(inst, spec.objective, cache)
    alloc = ao.problems.caching.CachingAllocation(cache=cache, edge=edge, cloud=cloud)
    assert cache_cost(tb, cache) == pytest.approx(ao.evaluate(inst, alloc, spec).objective)


def test_interior_point_master_gives_valid_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    import aigc_opt.problems.caching.colgen as cg

    monkeypatch.setattr(cg, "IPM_ROWS", 0)
    inst = CachingInstance.generate(3, 4, 5, seed=1)
    spec = CachingSpec()
    opt = _opt(inst, spec)
    res = ao.run_method(inst, spec, "colgen", options=ao.SolveOptions(time_limit=5.0))
    assert res.verified
    tol = 1e-7 * max(1.0, abs(opt))
    assert res.bound <= opt + tol <= res.objective + 2 * tol
    assert res.bound >= opt * (1 - 2e-2)


def test_unknown_option_and_extra_constraints() -> None:
    from aigc_opt.errors import UnknownNameError

    inst = CachingInstance.generate(2, 3, 3, seed=0)
    for method in ("colgen", "lagrangian"):
        with pytest.raises(UnknownNameError):
            ao.run_method(inst, CachingSpec(), method,
                          options=ao.SolveOptions(extra={"nope": 1}))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pair_move_is_the_exact_best_pair_reoptimisation(seed: int) -> None:
    """One pair pass at server 0 (three models, so every two pairs overlap and exactly the best
    move is applied) reaches the minimum, over the three pairs, of the enumerated joint
    trajectories (other models and the other server fixed), and stays memory-feasible."""
    from itertools import product

    from aigc_opt.problems.caching.local_search import pair_pass

    base = CachingInstance.generate(2, 3, 4, seed=seed)
    size = np.asarray(base.model_size_bytes)
    # memory for the two smallest models only: the pair moves have to trade models off
    mem = float(np.sort(size)[:2].sum()) * 1.01
    inst = CachingInstance.generate(2, 3, 4, seed=seed,
                                    server_gpu_memory_bytes=np.full(2, mem))
    spec = CachingSpec()
    tb = tables(inst, spec.objective)
    T, S, M = inst.requests.shape
    rng = np.random.default_rng(seed)
    cache = np.zeros((T, S, M), dtype=bool)
    for t, k in product(range(T), range(S)):  # a random memory-feasible start
        for m in rng.permutation(M):
            if rng.random() < 0.6 and (cache[t, k] * tb.z[k]).sum() + tb.z[k, m] <= 1:
                cache[t, k, m] = True
    start = cache_cost(tb, cache)
    best = start
    for m1, m2 in ((0, 1), (0, 2), (1, 2)):
        for bits in range(4 ** T):
            c = cache.copy()
            c[:, 0, m1] = [(bits >> t) & 1 for t in range(T)]
            c[:, 0, m2] = [(bits >> (T + t)) & 1 for t in range(T)]
            if ((c[:, 0] * tb.z[0]).sum(axis=1) > 1 + 1e-12).any():
                continue
            best = min(best, cache_cost(tb, c))
    gain = pair_pass(tb, cache, 0)
    after = cache_cost(tb, cache)
    assert ((cache * tb.z[None]).sum(axis=2) <= 1 + 1e-12).all()
    assert after == pytest.approx(best, rel=1e-9, abs=1e-9)
    assert start - after == pytest.approx(gain, rel=1e-9, abs=1e-9)
    # the referee agrees with the cost formula on the improved cache
    from aigc_opt.problems.caching import route_given_cache

    edge, cloud = route_given_cache(inst, spec.objective, cache)
    alloc = ao.problems.caching.CachingAllocation(cache=cache, edge=edge, cloud=cloud)
    met = ao.evaluate(inst, alloc, spec)
    assert met.feasible and met.objective == pytest.approx(after, rel=1e-9)


def _dense_pair_dp(v1: np.ndarray, v2: np.ndarray, feas: np.ndarray, f0: np.ndarray,
                   L1: np.ndarray, L2: np.ndarray) -> np.ndarray:
    """Reference: the joint recursion as a dense min-plus product over the full transition
    matrices (state 0 from any, 1 from 0 at the load cost, j from j - 1, the last from
    itself), optimal costs only."""
    T, P, n = v1.shape
    big = 1e300

    def trans(L: np.ndarray) -> np.ndarray:
        tr = np.full((L.size, n, n), big)
        tr[:, :, 0] = 0.0
        tr[:, 0, 1] = L
        for j in range(2, n):
            tr[:, j - 1, j] = 0.0
        tr[:, n - 1, n - 1] = 0.0
        return tr

    tr1, tr2 = trans(L1), trans(L2)
    f = np.where(feas[0], f0 + v1[0][:, :, None] + v2[0][:, None, :], big)
    for t in range(1, T):
        hh = (f[:, :, :, None] + tr2[:, None, :, :]).min(axis=2)
        g = (hh[:, :, None, :] + tr1[:, :, :, None]).min(axis=1)
        f = np.where(feas[t], np.minimum(g + v1[t][:, :, None] + v2[t][:, None, :], big), big)
    return f.reshape(P, -1).min(axis=1)


@pytest.mark.parametrize(("H", "seed"), [(0, 0), (1, 1), (3, 2), (5, 3)])
def test_sparse_pair_dp_equals_the_dense_min_plus_recursion(H: int, seed: int) -> None:
    """The pair DP's sparse transitions give the dense recursion's optimal costs, and its
    state sequences are feasible paths whose cost is that optimum (random values, loads,
    infeasible joint states)."""
    from aigc_opt.problems.caching.local_search import _pair_dp

    rng = np.random.default_rng(seed)
    T, P, n = 7, 40, H + 2
    v1 = np.concatenate([np.zeros((T, P, 1)), -rng.random((T, P, n - 1)) * 5], axis=2)
    v2 = np.concatenate([np.zeros((T, P, 1)), -rng.random((T, P, n - 1)) * 5], axis=2)
    feas = rng.random((T, P, n, n)) < 0.7
    feas[:, :, 0, 0] = True  # holding neither copy always fits
    L1, L2 = rng.random(P) * 6, rng.random(P) * 6
    f0 = np.full((P, n, n), 1e300)
    f0[:, 0, 0], f0[:, 1, 0], f0[:, 0, 1] = 0.0, L1, L2
    f0[:, 1, 1] = L1 + L2
    cost, s1, s2 = _pair_dp(v1, v2, feas, f0, L1, L2)
    assert np.allclose(cost, _dense_pair_dp(v1, v2, feas, f0, L1, L2), rtol=1e-12, atol=1e-9)
    rows = np.arange(P)
    path = f0[rows, s1[0], s2[0]] + v1[0, rows, s1[0]] + v2[0, rows, s2[0]]
    assert feas[0, rows, s1[0], s2[0]].all()
    for t in range(1, T):
        for s, L in ((s1, L1), (s2, L2)):
            prev, cur = s[t - 1], s[t]
            ok = (cur == 0) | ((cur == 1) & (prev == 0)) | ((cur >= 2) & (prev == cur - 1)) \
                | ((cur == n - 1) & (prev == n - 1))
            assert ok.all()
            path = path + np.where((cur == 1) & (prev == 0), L, 0.0)
        assert feas[t, rows, s1[t], s2[t]].all()
        path = path + v1[t, rows, s1[t]] + v2[t, rows, s2[t]]
    assert np.allclose(path, cost, rtol=1e-12, atol=1e-9)


def test_zero_median_cost_keeps_the_master_finite() -> None:
    """Most cloud costs 0 (latency and cloud weights 0, two models as accurate in the cloud):
    the master's costs were divided by their median, 0, and HiGHS got inf/NaN costs."""
    import dataclasses
    import warnings

    inst = dataclasses.replace(CachingInstance.generate(2, 3, 4, seed=0),
                               model_cloud_accuracy=np.array([1.0, 1.0, 0.2]))
    spec = CachingSpec(objective=CachingObjective(latency=0, cloud=0))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        res = ao.run_method(inst, spec, "colgen", options=ao.SolveOptions(time_limit=20))
    assert res.verified and res.has_solution
    opt = _opt(inst, spec)
    assert res.bound <= opt + 1e-6 * max(1.0, abs(opt)) <= res.objective + 2e-6 * abs(opt)


@pytest.mark.parametrize(("method", "key", "value"), [
    ("colgen", "grid", "x"), ("colgen", "grid", 0), ("colgen", "grid", 2.5),
    ("colgen", "warm", -1), ("colgen", "patience", 0), ("colgen", "cg_share", 5.0),
    ("colgen", "ld_share", float("nan")), ("colgen", "mip_share", -0.1),
    ("lagrangian", "grid", -1), ("lagrangian", "grid", 10**9), ("lagrangian", "max_iter", "many"),
    ("lagrangian", "max_iter", 0), ("lagrangian", "improve_sweeps", True),
    ("lagrangian", "repair_every", 0), ("relax_memory", "patience", "x"),
    ("relax_memory", "patience", -5), ("relax_memory", "rins", 1)])
def test_extra_options_are_checked(method: str, key: str, value: object) -> None:
    """A bad ``extra`` value is a ValidationError naming the key (never a bare int()/float()
    error, an IndexError deep in the knapsack, or silently accepted)."""
    inst = CachingInstance.generate(2, 3, 3, seed=0)
    with pytest.raises(ao.ValidationError, match=rf"{method} option extra\['{key}'\]") as err:
        ao.run_method(inst, CachingSpec(), method, time_limit=5.0, extra={key: value})
    assert err.value.field == f"{method} option extra['{key}']"
    assert err.value.value is value or err.value.value == value


@pytest.mark.parametrize(("method", "extra"), [
    ("colgen", {"grid": 1.0, "warm": 0, "patience": 1, "cg_share": 0.0}),
    ("lagrangian", {"grid": 1, "max_iter": 1, "improve_sweeps": 0, "repair_every": 1})])
def test_extra_options_at_their_limits_run(method: str, extra: dict[str, object]) -> None:
    """Values on the edge of each range are accepted and give a verified solution."""
    inst = CachingInstance.generate(2, 3, 3, seed=0)
    res = ao.run_method(inst, CachingSpec(), method, time_limit=5.0, extra=extra)
    assert res.has_solution and res.verified
    assert res.bound <= res.objective + 1e-9 * abs(res.objective)
