r"""Large-neighbourhood search over (server, slot window) blocks for the caching primal.

A move frees the cache of a few servers ``K`` over a slot window ``[a, b]`` (every model) and
keeps every other cache entry fixed. The sub-problem is the window MILP of
:mod:`.formulation` over the slots ``[a, e]``, ``e = min(T - 1, b + H)``, started from the
cache and context age held before ``a`` (``c_init = cache[a-1]``, ``prev_age = age[a-1]``;
the instance's initial cache and no context at ``a = 0``), with the cache columns outside
``K x [a, b]`` fixed by their bounds to the current cache. The ``H`` slots after ``b`` are
kept so that the loads at ``b + 1`` and the context ages that the window's last ``H`` slots
pass on are priced exactly: a copy's age at slot ``t`` depends on the cache over
``[t - H, t]`` only (ages are capped at ``H``), so from ``e + 1`` on nothing changes. Hence
the window MILP's objective equals the true cost of the full trajectory minus a constant,
its optimum is the best cache over the neighbourhood, and a move never worsens the cost
(HiGHS starts from the current cache). Where :mod:`.model_lns` re-optimises a few models over
the whole horizon, these moves swap models in and out of one server's memory within a
window, which the model moves cannot do without touching the other models.

Measured (10 x 50 x 100, seed 0, from ``relax_memory``'s 120 s primal 70,303.7; one free
server, 10-slot windows, ``window_lns`` alone for 60 s from a scratch driver): 69,813.3, 57
improving moves, each move's MILP 0.1-3 s. No compute capacity (the fixed caches' routing
would also have to reserve FLOPs; :func:`window_lns` is not used then).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import repeat

import numpy as np

from .data import CachingInstance, CachingSpec, cache_age, context_table
from .decomposition import Tables, cache_cost, fits_memory
from .formulation import assemble, layout, window_data
from .model_lns import move_highs

logger = logging.getLogger(__name__)


def window_move(inst: CachingInstance, spec: CachingSpec, G: np.ndarray, cache: np.ndarray,
                age: np.ndarray, a: int, b: int, free: np.ndarray, time_limit: float
                ) -> tuple[np.ndarray | None, bool]:
    """The cache with ``cache[a:b+1, free, :]`` re-optimised exactly (module docstring).

    Parameters
    ----------
    G : ndarray, shape (T, S, M, H+1)
        Accuracy table of the instance (:func:`.data.context_table`), dimensionless.
    cache : ndarray of bool, shape (T, S, M)
        Current memory-feasible cache; ``age`` its :func:`.data.cache_age` (slots).
    a, b : int
        First and last slot of the window (0 <= a <= b < T).
    free : ndarray of int
        Servers whose cache may change.
    time_limit : float
        HiGHS time limit, s.

    Returns
    -------
    (new cache or None when HiGHS returned no point, proven optimal)
    """
    mask = np.zeros((b - a + 1,) + cache.shape[1:], dtype=bool)
    mask[:, free, :] = True
    return block_move(inst, spec, G, cache, age, a, mask, time_limit)


def block_move(inst: CachingInstance, spec: CachingSpec, G: np.ndarray, cache: np.ndarray,
               age: np.ndarray, a: int, free: np.ndarray, time_limit: float
               ) -> tuple[np.ndarray | None, bool]:
    """The cache with the entries ``free`` of slots ``a .. a + len(free) - 1`` re-optimised
    exactly, every other entry fixed (the window MILP of the module docstring, over the slots
    ``[a, min(T - 1, b + H)]`` with ``b = a + len(free) - 1``).

    Parameters
    ----------
    G, cache, age, time_limit
        As in :func:`window_move`.
    a : int
        First slot of the block.
    free : ndarray of bool, shape (W_b, S, M)
        Cache entries (slot ``a + i``, server, model) that may change; ``a + W_b <= T``.

    Returns
    -------
    (new cache or None when HiGHS returned no point, proven optimal)
    """
    import highspy

    T, S, M = cache.shape
    H = inst.context_window
    b = a + free.shape[0] - 1
    e = min(T - 1, b + H)
    W = e - a + 1
    obj = spec.objective
    if a == 0:
        c_init = np.asarray(inst.initial_cache, dtype=bool)
        prev_age = np.full((S, M), -1, dtype=np.int64)
    else:
        c_init, prev_age = cache[a - 1], age[a - 1]
    R, Gw = inst.requests[a: e + 1], G[a: e + 1]
    lay = layout(inst, obj, R, Gw, sparse=True)
    data = window_data(inst, obj, lay, R, Gw, c_init, prev_age)
    lp = assemble(lay, data, f"caching-window[{a}:{b}]")
    nC = W * S * M
    cur = cache[a: e + 1].astype(float)
    fixed = np.ones((W, S, M), dtype=bool)
    fixed[: b - a + 1] = ~free
    lower, upper = lp.col_lower.copy(), lp.col_upper.copy()
    cl, cu = lower[:nC].reshape(W, S, M), upper[:nC].reshape(W, S, M)
    cl[fixed] = cur[fixed]
    # a fixed copy the window's dominance rule would forbid stays as it is (it is not chosen)
    cu[...] = np.where(fixed, cur, cu)
    h, eq = move_highs(dataclasses.replace(lp, col_lower=lower, col_upper=upper), time_limit)
    # the current cache as a partial start (HiGHS completes the routing and ages by LP)
    start = np.minimum(cur.reshape(-1), upper[:nC])
    from aigc_opt.solvers.highs import run_started

    run_started(h, start / eq.col_scale[:nC], np.arange(nC))
    sol = h.getSolution()
    proven = h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    if not sol.value_valid:
        return None, proven
    new = cache.copy()
    vals = np.asarray(sol.col_value)[:nC] * eq.col_scale[:nC]
    new[a: e + 1] = vals.reshape(W, S, M) > 0.5
    return new, proven


def window_lns(inst: CachingInstance, spec: CachingSpec, tb: Tables, cache: np.ndarray,
               deadline: float, *, width: int = 10, n_free: int = 1, step_limit: float = 10.0,
               seed: int = 0, workers: int = 1) -> tuple[np.ndarray, int, bool]:
    """Sweep (server, window) neighbourhoods in a seeded random order until ``deadline``.

    Windows of ``width`` slots start every ``width // 2`` slots (overlapping); each move frees
    ``n_free`` servers (the sweep's server and ``n_free - 1`` random others). Keeps strict
    improvements of the true cost (:func:`.decomposition.cache_cost`) and stops after a
    sweep without one. Returns the best cache, the number of improving moves, and whether
    that last sweep had every move proven optimal (then the cache is a local optimum of
    these neighbourhoods; with ``n_free = 1`` exactly so).

    With ``workers > 1``, up to that many moves on distinct servers are solved at once in
    threads, each from the same best cache; their improving blocks are then applied one by
    one, best first, each kept only while the true cost of the combined cache still falls
    (routing couples neighbouring servers, so two gains need not add up).
    """
    T, S, M = cache.shape
    rng = np.random.default_rng(seed)
    _, G = context_table(inst)
    width = max(1, min(int(width), T))
    starts = np.arange(0, max(T - width, 0) + 1, max(width // 2, 1))
    if starts[-1] + width < T:
        starts = np.append(starts, T - width)
    hoods = [(int(k), int(s)) for k in range(S) for s in starts]
    best, cost, moves = cache, cache_cost(tb, cache), 0
    age = cache_age(best, tb.H)  # the best cache's ages, kept in step with it
    workers = max(1, int(workers))
    pool = ThreadPoolExecutor(workers, thread_name_prefix="window_lns") if workers > 1 else None

    def solve(job: tuple[int, int, np.ndarray], base: np.ndarray, base_age: np.ndarray,
              left: float) -> tuple[np.ndarray | None, bool]:
        _, a, free = job
        return window_move(inst, spec, G, base, base_age, a, min(T - 1, a + width - 1), free,
                           min(step_limit, left))

    try:
        while time.perf_counter() < deadline - 0.05:
            improved, complete = False, True
            for batch in _batches(rng.permutation(len(hoods)), hoods, workers):
                if time.perf_counter() >= deadline - 0.05:
                    complete = False
                    break
                jobs = []
                for i in batch:  # each move frees its server and n_free - 1 random others
                    k, a = hoods[i]
                    others = np.setdiff1d(np.arange(S), [k])
                    extra = rng.choice(others, size=min(n_free - 1, others.size),
                                       replace=False)
                    jobs.append((k, a, np.sort(np.concatenate([[k], extra])).astype(np.int64)))
                left = deadline - time.perf_counter()
                out = list((map if pool is None else pool.map)(
                    solve, jobs, repeat(best), repeat(age), repeat(left)))
                gains = []
                for (k, a, free), (new, proven) in zip(jobs, out, strict=True):
                    complete &= proven
                    if new is None or not fits_memory(tb, new):
                        continue
                    c = cache_cost(tb, new)
                    if c < cost - 1e-9 * (1.0 + abs(cost)):
                        gains.append((c, k, a, free, new))
                if gains:
                    best, cost, n = _combine(tb, best, cost, gains, width)
                    moves, improved = moves + n, True
                    age = cache_age(best, tb.H)
            if not improved:
                # a whole sweep without gain: with every move proven optimal this is a local
                # optimum of the neighbourhood; otherwise the next sweep would repeat it
                return best, moves, complete
        return best, moves, False
    finally:
        if pool is not None:
            pool.shutdown(wait=True)


def _batches(order: np.ndarray, hoods: list[tuple[int, int]], size: int
             ) -> Iterator[list[int]]:
    """Consecutive runs of ``order`` (indices into ``hoods``) of at most ``size`` hoods, each
    run on distinct servers (a run ends early where the next hood's server is already in
    it)."""
    batch: list[int] = []
    for i in order:
        if len(batch) == size or any(hoods[j][0] == hoods[int(i)][0] for j in batch):
            yield batch
            batch = []
        batch.append(int(i))
    if batch:
        yield batch


def _combine(tb: Tables, best: np.ndarray, cost: float,
             gains: list[tuple[float, int, int, np.ndarray, np.ndarray]], width: int
             ) -> tuple[np.ndarray, float, int]:
    """Apply improving moves ``(cost, server, start, free servers, cache)``, all solved from
    ``best``, best first: the first is taken whole, each later one's block is copied into the
    running cache and kept only while the true cost still falls. Returns the cache, its cost
    and the number of moves kept."""
    T = best.shape[0]
    kept = 0
    for c, k, a, free, new in sorted(gains, key=lambda g: g[0]):
        if kept:
            trial = best.copy()
            b = min(T - 1, a + width - 1)
            trial[a: b + 1, free] = new[a: b + 1, free]
            c = cache_cost(tb, trial)
        else:
            trial = new  # solved from best itself: its cost is known
        if c < cost - 1e-9 * (1.0 + abs(cost)):
            logger.debug("window LNS server %d slots %d+%d: %.10g -> %.10g", k, a, width,
                         cost, c)
            best, cost, kept = trial, c, kept + 1
    return best, cost, kept
