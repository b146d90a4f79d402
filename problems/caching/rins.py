r"""Relaxation-guided moves for the caching primal (RINS: relaxation induced neighbourhoods).

A reference cache ``r[t, k, m]`` in ``[0, 1]`` comes from a relaxation: the per-model LP or
MILP caches of :mod:`.relax_memory` at its best prices, which each model chose for itself
(so they break memory together). Where the current memory-feasible cache ``c`` agrees with
the reference (``|r - c| <= 0.1``) the entry is kept; every entry where they disagree is
freed, and the offline MILP re-optimises the freed entries exactly with every other entry
fixed (:func:`.window_lns.block_move`; the whole horizon in one move up to
:data:`MAX_ENTRIES` cache entries, else consecutive blocks of slots, one move each). The
relaxation's choices are the candidates the memory repair and the pair moves had to give
up; the MILP decides which of them fit together, across servers and models at once, which
neither the window moves (one server, a few slots) nor the model moves (three models) can.

Exact like the other moves: the move's MILP objective is the true cost of the trajectory
minus a constant, it starts from ``c`` (never worse), and each result is kept only when its
true cost (:func:`.decomposition.cache_cost`) falls and memory holds in every slot.

Measured (10 x 50 x 100, ``relax_memory`` with two threads and a 120 s limit, debug log of a
scratch driver, the machine otherwise idle): from the polished primal at 72 s, the model
MILPs' caches freed 2,506 of 50,000 entries and the move ended optimal after 3.4 s at
70,013.9 from 70,369.0 (seed 0; 2,479 entries, 4.7 s, 72,898.9 -> 72,713.2 on seed 1), about
100 and 40 per second, where the window and model moves of runs without it averaged 16-19
per second over the remaining 48 s (72,898.9 -> 72,143.0 and 70,369.0 -> 69,472.5, taking
the same polished start). The LP caches as a second reference gained 242 in 16 s (seed 0)
and nothing in 6 s (seed 1).
"""

from __future__ import annotations

import logging
import time

import numpy as np

from .data import CachingInstance, CachingSpec, cache_age, context_table
from .decomposition import Tables, cache_cost, fits_memory
from .window_lns import block_move

logger = logging.getLogger(__name__)

#: A cache entry is freed when the reference differs from it by more than this.
AGREE = 0.1
#: Seconds per cache entry kept back for building a move's MILP over the whole horizon,
#: which runs before HiGHS's clock starts (as :func:`.relax_memory._milp_tail` keeps back);
#: a move starts only when four times that is left.
BUILD_S = 1e-5
#: Largest number of cache entries (slots x servers x models) one move frees from (a longer
#: horizon is cut into blocks): one move over the whole 20 x 100 x 200 horizon (400,000
#: entries) peaked at 3.9 GB and took 7.5 s to build (scratch, HiGHS limited to 5 s).
MAX_ENTRIES = 60_000


def rins_moves(inst: CachingInstance, spec: CachingSpec, tb: Tables, cache: np.ndarray,
               refs: list[np.ndarray], deadline: float, *, step_limit: float = 15.0,
               max_entries: int = MAX_ENTRIES) -> tuple[np.ndarray, int]:
    """Apply the relaxation-guided moves of each reference, in order, until ``deadline``.

    Parameters
    ----------
    cache : ndarray of bool, shape (T, S, M)
        Current memory-feasible cache.
    refs : list of ndarray, shape (T, S, M)
        Reference caches in [0, 1] (bool or fractional); each frees the entries of the
        current cache that differ from it by more than :data:`AGREE`.
    deadline : float
        ``time.perf_counter()`` value after which no move starts; each move's HiGHS run also
        stops there (less the build time kept back, :data:`BUILD_S`).
    step_limit : float
        Longest HiGHS run of one move, s.
    max_entries : int
        Largest number of cache entries ``slots x S x M`` one move frees from: a longer
        horizon is cut into consecutive blocks of ``max(1, max_entries // (S M))`` slots,
        one move each, first to last (each move's MILP also holds the ``H`` slots after its
        block, :func:`.window_lns.block_move`), which bounds a move's memory and build time.

    Returns
    -------
    (best cache, number of improving moves)
    """
    T, S, M = cache.shape
    if T == 0 or tb.compute:
        return cache, 0
    _, G = context_table(inst)
    best, cost, moves = cache, cache_cost(tb, cache), 0
    age = cache_age(best, tb.H)  # the best cache's ages, kept in step with it
    span = max(1, int(max_entries) // max(S * M, 1))
    for ref in refs:
        for a in range(0, T, span):
            b = min(T, a + span)
            size = (min(T, b + tb.H) - a) * S * M
            left = deadline - time.perf_counter() - BUILD_S * size
            if left <= max(0.5, 3 * BUILD_S * size):
                return best, moves
            free = np.abs(np.asarray(ref[a:b], dtype=float) - best[a:b]) > AGREE
            if not free.any():
                continue
            new, proven = block_move(inst, spec, G, best, age, a, free, min(step_limit, left))
            if new is None or not fits_memory(tb, new):
                continue
            c = cache_cost(tb, new)
            logger.debug("RINS move, slots %d-%d: %d entries free, %.10g -> %.10g (proven %s)",
                         a, b - 1, int(free.sum()), cost, c, proven)
            if c < cost - 1e-9 * (1.0 + abs(cost)):
                best, cost, moves = new, c, moves + 1
                age = cache_age(best, tb.H)
    return best, moves
