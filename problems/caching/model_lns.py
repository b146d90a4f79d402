r"""Large-neighbourhood search over models for the caching primal.

Given a memory-feasible cache, the cost separates by model except for the memory rows (each
model's requests are served only by copies of that model). So re-optimising a few models
``Q`` with every other model fixed is exactly the offline MILP of the instance restricted to
``Q`` (:func:`.milp.build`) with each memory row's right-hand side lowered to what the fixed
models leave, ``1 - sum_{m not in Q} z_km c_tkm``. :func:`reoptimise` solves that MILP with
HiGHS from the current cache (a MIP start, so the answer is never worse) and
:func:`model_lns` repeats it over random groups of models (drawn in proportion to their
requests, seeded) until a deadline, keeping strict improvements of the true cost. No compute
capacity: with it the fixed models' FLOPs would also have to be reserved.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from typing import Any

import numpy as np

from aigc_opt.program import LinearProgram

from .data import CachingInstance, CachingSpec
from .decomposition import Tables, allocation_of, cache_cost, fits_memory
from .formulation import pass_highs
from .milp import build, start_vector

logger = logging.getLogger(__name__)


def model_subset(inst: CachingInstance, models: np.ndarray) -> CachingInstance:
    """The instance restricted to ``models`` (every server and slot)."""
    sel = np.asarray(models, dtype=np.int64)
    return dataclasses.replace(
        inst, requests=inst.requests[:, :, sel], model_size_bytes=inst.model_size_bytes[sel],
        model_flop_per_request=inst.model_flop_per_request[sel],
        model_cloud_accuracy=inst.model_cloud_accuracy[sel],
        context_accuracy=inst.context_accuracy[sel], initial_cache=inst.initial_cache[:, sel])


def move_highs(lp: LinearProgram, time_limit: float) -> tuple[Any, Any]:
    """A quiet HiGHS object holding ``lp`` equilibrated (:func:`aigc_opt.solvers.numerics.
    equilibrate`), with an LNS move's time limit (s) and a 1e-6 gap; returns it and the
    equilibration (its ``col_scale`` and ``obj_scale`` map values back)."""
    import highspy

    from aigc_opt.solvers.highs import new_highs
    from aigc_opt.solvers.numerics import equilibrate

    eq = equilibrate(lp)
    h = new_highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", max(float(time_limit), 0.01))
    h.setOptionValue("mip_rel_gap", 1e-6)
    pass_highs(h, eq.program, highspy)
    return h, eq


def reoptimise(inst: CachingInstance, spec: CachingSpec, tb: Tables, cache: np.ndarray,
               models: np.ndarray, time_limit: float
               ) -> tuple[np.ndarray | None, bool, float]:
    """The cache with ``models`` re-optimised jointly (others fixed; None when HiGHS returns
    no point within ``time_limit`` s), whether HiGHS proved it optimal, and HiGHS's dual
    bound on the group's cost (problem units; with every model in the group it bounds the
    whole problem)."""
    import highspy

    T, S, M = cache.shape
    fixed = np.ones(M, dtype=bool)
    fixed[models] = False
    sub = model_subset(inst, models)
    lp = build(sub, spec)
    rows = np.asarray(lp.meta["mem_rows"])  # row of (t, k) at t * S + k, right-hand side 1
    used = (cache[:, :, fixed] * tb.z[None][:, :, fixed]).sum(axis=2).reshape(-1)
    upper = lp.row_upper.copy()
    # what the fixed models leave (1e-12: the repair's own rounding allowance)
    upper[rows] = np.maximum(upper[rows] - used, 0.0) + 1e-12
    lp = dataclasses.replace(lp, row_upper=upper)
    h, eq = move_highs(lp, time_limit)
    alloc, _ = allocation_of(sub, spec.objective, cache[:, :, models])
    x0 = start_vector(sub, lp, alloc) / eq.col_scale
    from aigc_opt.solvers.highs import run_started

    run_started(h, x0)  # HiGHS's presolve can take a start as optimal
    sol = h.getSolution()
    proven = h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    bound = float(h.getInfo().mip_dual_bound) * eq.obj_scale * float(lp.meta["objective_scale"])
    if not sol.value_valid:
        return None, proven, bound
    n = T * S * len(models)
    out = cache.copy()
    out[:, :, models] = (np.asarray(sol.col_value)[:n] * eq.col_scale[:n]
                         ).reshape(T, S, len(models)) > 0.5
    return out, proven, bound


def model_lns(inst: CachingInstance, spec: CachingSpec, tb: Tables, cache: np.ndarray,
              deadline: float, *, group: int = 3, step_limit: float = 10.0, seed: int = 0
              ) -> tuple[np.ndarray, int, float]:
    """Re-optimise random groups of ``group`` models until ``deadline``; returns the best
    cache, the number of improving moves and a lower bound on the whole problem (``-inf``
    unless a group held every model, i.e. the sub-MILP was the offline MILP itself).

    Stops early once every group has been re-optimised to proven optimality since the last
    improvement (nothing is left to gain from these moves). (Growing the group after quick
    proven solves did worse on 4 x 15 x 25 in 40 s: groups of 4-5 hit the step limit.)
    """
    rng = np.random.default_rng(seed)
    T, S, M = cache.shape
    demand = tb.R.sum(axis=(0, 1))
    # a model nobody requests is never drawn (its best cache is empty: no reward, loads cost
    # >= 0); drawing it with probability ~0 left groups that could never settle, and the
    # loop spun until the deadline
    active = np.flatnonzero(demand > 0)
    best, cost, moves, lower = cache, cache_cost(tb, cache), 0, -math.inf
    if active.size == 0:
        return best, moves, lower
    prob = demand[active] / demand[active].sum()
    q = max(1, min(group, active.size))
    # with every requested model in the group and the others uncached, the sub-MILP is the
    # whole problem up to models that cost 0: its dual bound bounds the whole
    whole = q == active.size and not cache[:, :, demand <= 0].any()
    settled: set[tuple[int, ...]] = set()  # groups proven optimal since the last improvement
    while time.perf_counter() < deadline - 0.05 and len(settled) < math.comb(active.size, q):
        models = np.sort(active[rng.choice(active.size, size=q, replace=False, p=prob)])
        key = tuple(int(m) for m in models)
        if key in settled:
            continue
        left = deadline - time.perf_counter()
        new, proven, bound = reoptimise(inst, spec, tb, best, models, min(step_limit, left))
        if whole:
            lower = max(lower, bound)
        if new is None or not fits_memory(tb, new):
            continue
        c = cache_cost(tb, new)
        if c < cost - 1e-9 * (1.0 + abs(cost)):
            logger.debug("model LNS %s: %.10g -> %.10g", list(key), cost, c)
            best, cost, moves = new, c, moves + 1
            settled.clear()
        if proven:
            settled.add(key)
    return best, moves, lower
