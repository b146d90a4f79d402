"""Window LNS moves of the caching primal against brute force and the exact offline MILP; every
cache goes through the evaluator."""

from __future__ import annotations

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt.problems.caching import (
    CachingAllocation,
    CachingInstance,
    CachingSpec,
    route_given_cache,
    solve_offline,
)
from aigc_opt.problems.caching.data import cache_age, context_table
from aigc_opt.problems.caching.decomposition import cache_cost, tables
from aigc_opt.problems.caching.window_lns import window_lns, window_move


def _tight(S: int, M: int, T: int, seed: int, window: int = 2) -> CachingInstance:
    """Memory for about two of the models (the memory rows bind), context window 2 slots
    (so ages carry across a window's end), some models cached at the start."""
    base = CachingInstance.generate(S, M, T, seed=seed)
    mem = float(np.sort(np.asarray(base.model_size_bytes))[:2].sum()) * 1.05
    init = np.zeros((S, M), dtype=bool)
    init[:, 0] = np.asarray(base.model_size_bytes)[0] <= mem
    return CachingInstance.generate(S, M, T, seed=seed, server_gpu_memory_bytes=np.full(S, mem),
                                    context_window=window, initial_cache=init)


def _feasible(tb: object, cache: np.ndarray) -> bool:
    z, ok = tb.z, tb.ok  # type: ignore[attr-defined]
    return bool(((cache * z[None]).sum(axis=2) <= 1 + 1e-9).all() and not (cache & ~ok[None]).any())


def _random_cache(tb: object, shape: tuple[int, int, int], rng: np.random.Generator
                  ) -> np.ndarray:
    """A random memory-feasible cache: models in a random order while they fit."""
    T, S, M = shape
    z, ok = tb.z, tb.ok  # type: ignore[attr-defined]
    cache = np.zeros(shape, dtype=bool)
    for t in range(T):
        for k in range(S):
            used = 0.0
            for m in rng.permutation(M):
                if ok[k, m] and rng.random() < 0.6 and used + z[k, m] <= 1.0:
                    cache[t, k, m], used = True, used + z[k, m]
    return cache


def _best_over(tb: object, cache: np.ndarray, cells: list[tuple[int, int, int]]) -> float:
    """Brute force: the least true cost over every memory-feasible setting of the entries
    ``cells`` of ``cache`` (the others fixed), the cache itself included."""
    best = cache_cost(tb, cache)  # type: ignore[arg-type]
    for bits in range(2 ** len(cells)):
        c = cache.copy()
        for i, (t, k, m) in enumerate(cells):
            c[t, k, m] = bool((bits >> i) & 1)
        if _feasible(tb, c):
            best = min(best, cache_cost(tb, c))  # type: ignore[arg-type]
    return best


def _evaluated(inst: CachingInstance, spec: CachingSpec, cache: np.ndarray) -> float:
    edge, cloud = route_given_cache(inst, spec.objective, cache)
    met = ao.evaluate(inst, CachingAllocation(cache=cache, edge=edge, cloud=cloud), spec)
    assert met.feasible
    return float(met.objective)


@pytest.mark.parametrize(("seed", "a", "b", "k"),
                         [(0, 0, 1, 0), (1, 1, 2, 1), (2, 3, 4, 0), (3, 2, 2, 1), (4, 0, 0, 1),
                          (12, 0, 0, 1), (21, 2, 3, 0), (24, 0, 1, 0), (34, 1, 2, 1)])
def test_window_move_is_the_exact_best_over_its_block(seed: int, a: int, b: int, k: int
                                                      ) -> None:
    """Over every memory-feasible choice of ``cache[a:b+1, k, :]`` (enumerated, the rest
    fixed), the move reaches the minimum true cost, and the evaluator agrees with it. The
    windows include the first and the last slot, and ages that cross the window's end."""
    inst = _tight(2, 3, 5, seed)
    spec = CachingSpec()
    tb = tables(inst, spec.objective)
    T, S, M = inst.requests.shape
    cache = _random_cache(tb, (T, S, M), np.random.default_rng(seed))
    _, G = context_table(inst)
    best = _best_over(tb, cache, [(t, k, m) for t in range(a, b + 1) for m in range(M)])
    new, proven = window_move(inst, spec, G, cache, cache_age(cache, tb.H), a, b,
                              np.array([k]), 30.0)
    assert new is not None and proven
    changed = new != cache
    changed[a: b + 1, k, :] = False
    assert not changed.any()  # nothing outside the block moved
    assert _feasible(tb, new)
    assert cache_cost(tb, new) == pytest.approx(best, rel=1e-9, abs=1e-9)
    assert _evaluated(inst, spec, new) == pytest.approx(best, rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_whole_horizon_and_every_server_is_the_offline_milp(seed: int) -> None:
    """A window over every slot with every server free is the offline MILP: same optimum."""
    inst = _tight(2, 4, 4, seed)
    spec = CachingSpec()
    tb = tables(inst, spec.objective)
    T, S, M = inst.requests.shape
    opt = solve_offline(inst, spec, ao.SolveOptions(mip_gap=0.0))
    assert opt.optimal
    cache = _random_cache(tb, (T, S, M), np.random.default_rng(seed))
    _, G = context_table(inst)
    new, proven = window_move(inst, spec, G, cache, cache_age(cache, tb.H), 0, T - 1,
                              np.arange(S), 30.0)
    assert new is not None and proven
    assert cache_cost(tb, new) == pytest.approx(opt.objective, rel=1e-6)
    assert _evaluated(inst, spec, new) == pytest.approx(opt.objective, rel=1e-6)


@pytest.mark.parametrize(("n_free", "width", "workers"), [(1, 2, 1), (2, 3, 1), (1, 2, 2),
                                                          (1, 3, 3)])
def test_window_lns_never_worsens_and_stops_at_a_local_optimum(n_free: int, width: int,
                                                               workers: int) -> None:
    """From a random cache the sweeps improve strictly and stop after a sweep without gain;
    with one free server that final sweep certifies that no single block move gains
    (checked by re-running every block). With ``workers`` moves solved at once in threads
    and their gains combined, the same holds."""
    import time

    inst = _tight(3, 4, 6, 5)
    spec = CachingSpec()
    tb = tables(inst, spec.objective)
    T, S, M = inst.requests.shape
    cache = _random_cache(tb, (T, S, M), np.random.default_rng(7))
    start = cache_cost(tb, cache)
    new, moves, local = window_lns(inst, spec, tb, cache, time.perf_counter() + 60,
                                   width=width, n_free=n_free, workers=workers)
    cost = cache_cost(tb, new)
    assert _feasible(tb, new) and moves > 0 and cost < start
    assert _evaluated(inst, spec, new) == pytest.approx(cost, rel=1e-9)
    assert local
    if n_free == 1:
        _, G = context_table(inst)
        for k in range(S):
            for a in range(T):
                again, _ = window_move(inst, spec, G, new, cache_age(new, tb.H), a,
                                       min(T - 1, a + width - 1), np.array([k]), 30.0)
                assert again is not None
                assert cache_cost(tb, again) >= cost * (1 - 1e-9) - 1e-9
