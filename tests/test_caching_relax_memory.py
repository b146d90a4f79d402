"""Memory-row Lagrangian with exact per-model subproblems, and the model LNS, against the
exact offline MILP and brute force."""

from __future__ import annotations

import time

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt.problems.caching import (
    CachingAllocation,
    CachingInstance,
    CachingObjective,
    CachingSpec,
    route_given_cache,
    solve_offline,
)
from aigc_opt.problems.caching.decomposition import cache_cost, tables
from aigc_opt.problems.caching.model_lns import model_subset, reoptimise
from aigc_opt.problems.caching.relax_memory import Subproblems, memory_term

EXACT = ao.SolveOptions(mip_gap=0.0)
CASES = [(2, 3, 4, 0), (3, 4, 5, 1), (2, 5, 6, 2), (3, 5, 3, 3), (2, 4, 5, 4)]


def _opt(inst: CachingInstance, spec: CachingSpec) -> float:
    res = solve_offline(inst, spec, EXACT)
    assert res.optimal
    return res.objective


def _tight(S: int, M: int, T: int, seed: int) -> CachingInstance:
    """Memory for about two of the models, so the memory rows bind."""
    base = CachingInstance.generate(S, M, T, seed=seed)
    mem = float(np.sort(np.asarray(base.model_size_bytes))[:2].sum()) * 1.05
    return CachingInstance.generate(S, M, T, seed=seed, server_gpu_memory_bytes=np.full(S, mem))


@pytest.mark.parametrize("tight", [False, True])
@pytest.mark.parametrize(("S", "M", "T", "seed"), CASES)
def test_bound_below_optimum_below_primal(S: int, M: int, T: int, seed: int, tight: bool
                                          ) -> None:
    """Valid bound, verified primal within 1 % of the optimum; on the default memory the
    bound is within 1 % too. With memory for about two models (``tight``) the relaxation
    itself is weak (3 x 4 x 5 seed 1: 456.3 against the optimum 573.5; the per-(server,
    model) decomposition of ``colgen`` gives 467.1), so only validity is asserted there."""
    inst = _tight(S, M, T, seed) if tight else CachingInstance.generate(S, M, T, seed=seed)
    spec = CachingSpec()
    opt = _opt(inst, spec)
    res = ao.run_method(inst, spec, "relax_memory",
                        options=ao.SolveOptions(time_limit=10.0, mip_gap=1e-3))
    assert res.has_solution and res.verified, res.message
    met = ao.evaluate(inst, res.allocation, spec)
    assert met.feasible
    assert met.objective == pytest.approx(res.objective, rel=1e-9, abs=1e-9)
    tol = 1e-7 * max(1.0, abs(opt))
    assert res.bound <= opt + tol <= res.objective + 2 * tol
    assert res.objective <= opt * (1 + 1e-2) + tol
    if not tight:
        assert res.bound >= opt * (1 - 1e-2) - tol


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lagrangian_is_a_bound_for_any_prices(seed: int) -> None:
    """``L(mu) = sum_m v_m(mu) - sum_tk K_tk(mu)`` with LP or MILP subproblems is below the
    optimum for any ``mu >= 0`` (and above plain dualisation, ``K <= sum mu``), and at
    ``mu = 0`` with no binding memory it is the optimum."""
    inst = _tight(2, 4, 4, seed)
    spec = CachingSpec()
    opt = _opt(inst, spec)
    tb = tables(inst, spec.objective)
    sub = Subproblems(inst, spec, tb)
    rng = np.random.default_rng(seed)
    T, S, M = inst.requests.shape
    tol = 1e-7 * max(1.0, abs(opt))
    for scale in (0.0, 1.0, 10.0, 100.0):
        mu = rng.uniform(0.0, scale, size=(T, S))
        out = sub.lp(mu)
        assert out is not None
        kv, use = memory_term(tb, mu)
        assert kv <= mu.sum() * (1 + 1e-12) and (use <= 1 + 1e-12).all()
        values, frac = out
        value = float(values.sum()) - kv
        assert value <= opt + tol
        assert ((frac >= -1e-9) & (frac <= 1 + 1e-9)).all()
        again = sub.lp(mu)  # warm-started from this basis: the same optimum
        assert again is not None
        assert again[0] == pytest.approx(values, rel=1e-9, abs=1e-9)
        total, cache, done = sub.milp(mu, frac, values, 1e9)
        milp = total - kv
        assert done == M
        assert value - tol <= milp <= opt + tol
        assert cache.dtype == bool and cache.shape == (T, S, M)
    # roomy memory: the memory rows never bind and L(0) is the optimum (per-model MILPs)
    roomy = CachingInstance.generate(2, 3, 4, seed=seed, server_gpu_memory_bytes=np.full(2, 1e15))
    sub = Subproblems(roomy, spec, tables(roomy, spec.objective))
    zero = np.zeros((4, 2))
    out = sub.lp(zero)
    assert out is not None
    total, _, _ = sub.milp(zero, out[1], out[0], 1e9)
    assert total == pytest.approx(_opt(roomy, spec), rel=1e-7)


@pytest.mark.parametrize("seed", [0, 1])
def test_reoptimise_is_the_exact_best_over_the_group(seed: int) -> None:
    """Re-optimising models {0, 1} of three (model 2 fixed) reaches the minimum, over every
    memory-feasible cache of those two models, enumerated (a model larger than a server's
    memory is never cached there)."""
    inst = _tight(2, 3, 3, seed)
    spec = CachingSpec()
    tb = tables(inst, spec.objective)
    T, S, M = inst.requests.shape
    rng = np.random.default_rng(seed)
    cache = np.zeros((T, S, M), dtype=bool)
    cache[:, :, 2] = rng.random((T, S)) < 0.5
    cache &= (tb.z[None] <= 1.0)
    best = cache_cost(tb, cache)
    n = T * S
    for bits in range(4 ** n):
        c = cache.copy()
        c[:, :, 0] = np.array([(bits >> i) & 1 for i in range(n)], dtype=bool).reshape(T, S)
        c[:, :, 1] = np.array([(bits >> (n + i)) & 1 for i in range(n)],
                              dtype=bool).reshape(T, S)
        if ((c * tb.z[None]).sum(axis=2) > 1 + 1e-12).any() or (c & ~tb.ok[None]).any():
            continue  # over memory, or a model larger than the server's memory
        best = min(best, cache_cost(tb, c))
    new, proven, bound = reoptimise(inst, spec, tb, cache, np.array([0, 1]), 30.0)
    assert new is not None and proven
    assert (new[:, :, 2] == cache[:, :, 2]).all()
    assert ((new * tb.z[None]).sum(axis=2) <= 1 + 1e-9).all() and not (new & ~tb.ok[None]).any()
    assert cache_cost(tb, new) == pytest.approx(best, rel=1e-9, abs=1e-9)
    edge, cloud = route_given_cache(inst, spec.objective, new)
    met = ao.evaluate(inst, CachingAllocation(cache=new, edge=edge, cloud=cloud), spec)
    assert met.feasible and met.objective == pytest.approx(best, rel=1e-9)
    # HiGHS's bound is on the group's own cost (the two models' requests and loads)
    sub = model_subset(inst, np.array([0, 1]))
    group_cost = cache_cost(tables(sub, spec.objective), new[:, :, [0, 1]])
    assert bound <= group_cost * (1 + 1e-9) + 1e-9
    assert bound >= group_cost * (1 - 1e-5)
    # a group of every model is the offline MILP: its bound is the optimum's
    whole, proven, bound = reoptimise(inst, spec, tb, cache, np.arange(M), 30.0)
    opt = _opt(inst, spec)
    assert whole is not None and proven
    assert cache_cost(tb, whole) == pytest.approx(opt, rel=1e-6)
    assert opt * (1 - 1e-5) <= bound <= opt * (1 + 1e-9)


def test_three_models_are_closed_by_the_whole_milp() -> None:
    """With at most three models the LNS group is the offline MILP itself: the primal and its
    proven bound close the gap on an instance where the Lagrangian bound alone cannot."""
    inst = _tight(3, 3, 5, 1)
    spec = CachingSpec()
    opt = _opt(inst, spec)
    res = ao.run_method(inst, spec, "relax_memory", options=ao.SolveOptions(time_limit=10.0))
    assert res.verified and res.optimal, res.message
    assert res.objective == pytest.approx(opt, rel=1e-6)
    assert res.bound <= opt * (1 + 1e-9)


def test_compute_capacity_bound_and_primal() -> None:
    inst = CachingInstance.generate(3, 4, 4, seed=5, slot_s=10.0)
    spec = CachingSpec(objective=CachingObjective(compute_capacity=True))
    opt = _opt(inst, spec)
    res = ao.run_method(inst, spec, "relax_memory", options=ao.SolveOptions(time_limit=5.0))
    assert res.has_solution and res.verified, res.message
    tol = 1e-7 * max(1.0, abs(opt))
    assert res.bound <= opt + tol <= res.objective + 2 * tol


def test_options_and_extra_constraints() -> None:
    from aigc_opt.errors import UnknownNameError

    inst = CachingInstance.generate(2, 3, 3, seed=0)
    with pytest.raises(UnknownNameError):
        ao.run_method(inst, CachingSpec(), "relax_memory",
                      options=ao.SolveOptions(extra={"nope": 1}))
    with pytest.raises(ao.ValidationError, match="milp_tail"):
        ao.run_method(inst, CachingSpec(), "relax_memory",
                      options=ao.SolveOptions(extra={"milp_tail": "no"}))
    res = ao.run_method(inst, CachingSpec(), "relax_memory",
                        options=ao.SolveOptions(extra={"sg_share": 0.2, "milp_share": 0.3,
                                                       "patience": 2}))
    assert res.verified
    assert {"lp_bound", "milp_bound", "milp_models", "lns_moves"} <= set(res.stats.extra)


def test_milp_tail_proves_what_the_moves_leave_open() -> None:
    """2 x 6 x 10 (seed 1): the decomposition and the moves stop with an open gap; the
    offline MILP run with the time left proves the optimum (and finds it)."""
    inst = CachingInstance.generate(2, 6, 10, seed=1)
    spec = CachingSpec()
    opt = _opt(inst, spec)
    pure = ao.run_method(inst, spec, "relax_memory",
                         options=ao.SolveOptions(time_limit=20.0, extra={"milp_tail": False}))
    assert pure.verified and not pure.optimal, pure.message
    assert pure.bound < opt * (1 - 1e-4)
    assert pure.stats.extra["tail_bound"] == -np.inf
    res = ao.run_method(inst, spec, "relax_memory", options=ao.SolveOptions(time_limit=20.0))
    assert res.verified and res.optimal, res.message
    assert res.objective == pytest.approx(opt, rel=1e-6)
    assert res.eval_objective == pytest.approx(res.objective, rel=1e-9)
    assert pure.bound <= res.bound <= opt * (1 + 1e-9)
    assert res.stats.extra["tail_bound"] == pytest.approx(res.bound)


def test_threaded_subproblems_equal_the_sequential_ones() -> None:
    """With a thread pool the per-model LPs and MILPs give the same values and caches."""
    inst = CachingInstance.generate(3, 6, 5, seed=2)
    spec = CachingSpec()
    tb = tables(inst, spec.objective)
    T, S, M = inst.requests.shape
    one, two = Subproblems(inst, spec, tb), Subproblems(inst, spec, tb, workers=2)
    rng = np.random.default_rng(0)
    try:
        for _ in range(3):
            mu = rng.uniform(0, 5, size=(T, S))
            a, b = one.lp(mu), two.lp(mu)
            assert a is not None and b is not None
            np.testing.assert_allclose(a[0], b[0], rtol=1e-9)
            np.testing.assert_allclose(a[1], b[1], atol=1e-7)
            ma = one.milp(mu, a[1], a[0], time.perf_counter() + 30)
            mb = two.milp(mu, b[1], b[0], time.perf_counter() + 30)
            assert ma[0] == pytest.approx(mb[0], rel=1e-9) and ma[2] == mb[2] == M
    finally:
        two.close()


@pytest.mark.parametrize(("S", "M", "T", "seed"), CASES[:3])
def test_two_threads_keep_bound_below_optimum_below_primal(S: int, M: int, T: int, seed: int
                                                           ) -> None:
    inst = _tight(S, M, T, seed)
    spec = CachingSpec()
    opt = _opt(inst, spec)
    res = ao.run_method(inst, spec, "relax_memory",
                        options=ao.SolveOptions(time_limit=10.0, mip_gap=1e-3, threads=2))
    assert res.has_solution and res.verified, res.message
    assert res.stats.extra["threads"] == 2 and "2 thread(s)" in res.message
    met = ao.evaluate(inst, res.allocation, spec)
    assert met.feasible and met.objective == pytest.approx(res.objective, rel=1e-9, abs=1e-9)
    tol = 1e-7 * max(1.0, abs(opt))
    assert res.bound <= opt + tol <= res.objective + 2 * tol


def test_model_nobody_requests_does_not_stall_the_model_moves() -> None:
    """A model with no requests at all: the model LNS drew it with probability ~0, so the
    groups holding it never settled and the move loop spun until the deadline, leaving the
    MILP tail no time (3 x 6 x 10, seed 1: 'feasible', gap 11 %, in a 20 s run). It is now
    never drawn: the loop stops when every group of requested models is proven, long before
    the deadline, and relax_memory proves HiGHS's optimum."""
    from aigc_opt.problems.caching.model_lns import model_lns

    base = CachingInstance.generate(3, 6, 10, seed=1)
    R = np.array(base.requests)
    R[:, :, 2] = 0
    inst = CachingInstance.generate(3, 6, 10, seed=1, requests=R)
    spec = CachingSpec()
    tb = tables(inst, spec.objective)
    opt_res = solve_offline(inst, spec, EXACT)
    assert opt_res.optimal
    cache = np.asarray(opt_res.allocation.cache, dtype=bool)
    t0 = time.perf_counter()
    best, moves, lower = model_lns(inst, spec, tb, cache, t0 + 60.0)
    assert time.perf_counter() - t0 < 30.0  # settles (about 1 s), not the 60 s deadline
    assert moves == 0 and cache_cost(tb, best) == pytest.approx(cache_cost(tb, cache))
    assert lower == -np.inf  # groups of 3 out of 5 requested models: no whole bound
    res = ao.run_method(inst, spec, "relax_memory", options=ao.SolveOptions(time_limit=30.0))
    assert res.verified and res.optimal, res.message
    assert res.objective == pytest.approx(opt_res.objective, rel=1e-6)
    assert res.eval_objective == pytest.approx(res.objective, rel=1e-9)


def test_polish_stops_on_small_gains() -> None:
    """``min_gain`` ends the polish after the first round that gains less than that fraction
    of the cost: at 1.0 exactly one round (pair moves then coordinate descent) is kept; at 0
    it runs to a cache that one more round cannot improve, at least as good."""
    from aigc_opt.problems.caching.decomposition import _Primal, improve
    from aigc_opt.problems.caching.local_search import pair_search

    inst = CachingInstance.generate(4, 12, 15, seed=0)
    obj = CachingSpec().objective
    tb = tables(inst, obj)
    far = time.perf_counter() + 60.0
    one = _Primal(inst, obj, tb)
    start = one.cache.copy()
    one.polish(far, min_gain=1.0)
    once = improve(tb, pair_search(tb, start, far, 1), far, 1)
    assert one.ub == pytest.approx(cache_cost(tb, once), rel=1e-12)
    full = _Primal(inst, obj, tb)
    full.polish(far, min_gain=0.0)
    assert full.ub <= one.ub + 1e-9 * abs(one.ub)
    again = improve(tb, pair_search(tb, full.cache, far, 1), far, 1)
    assert cache_cost(tb, again) >= full.ub - 1e-9 * (1.0 + abs(full.ub))
    assert full.ub < one.ub  # on this instance the later rounds do gain


@pytest.mark.parametrize("key", ["sg_share", "milp_share", "polish_gain"])
@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan"), "x"])
def test_share_options_are_checked(key: str, value: object) -> None:
    inst = CachingInstance.generate(2, 3, 3, seed=0)
    with pytest.raises(ao.ValidationError, match=key):
        ao.run_method(inst, CachingSpec(), "relax_memory",
                      options=ao.SolveOptions(time_limit=5.0, extra={key: value}))
