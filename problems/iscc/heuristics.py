r"""Baselines for the ISCC matching (registered as heuristics of :class:`~.data.IsccSpec`).

* ``greedy_density``: bundles in decreasing *utility density*
  ``u_b / (u_b^{sense}/U_s + r_b/B_s + g_b/G_h)`` (utility per unit of normalised pool use),
  each taken when its task is still unserved and every pool it draws on has room (with
  ``partition="static"``, its class's share of each pool).
* ``random``: tasks in a seeded random order, each takes a uniformly random bundle among
  those that still fit.
* ``static_partition``: the exact optimum when every pool is split evenly among the C task
  classes (services), i.e. the coupled per-service slicing that GainNet's decoupled universal
  pools replace; solved with HiGHS over the ``partition="static"`` program (gap 1e-6, 60 s).
  Feasible for the decoupled problem, so its utility never exceeds the decoupled optimum.
  Given ``options.time_limit``, the MILP gets what is left of it after the build (the best
  incumbent when it stops there; ``greedy_density`` when it has none), and says so.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import numpy as np

from aigc_opt.backend import SolveOptions, get_backend
from aigc_opt.solve import HeuristicNote, register_heuristic

from .data import (
    Bundles,
    IsccAllocation,
    IsccInstance,
    IsccSpec,
    allocation_from_bundles,
    partition_capacity,
)
from .matching import build, bundles_for, decode

logger = logging.getLogger(__name__)


def _pool_index(inst: IsccInstance, bun: Bundles, partition: str = "decoupled"
                ) -> tuple[np.ndarray, np.ndarray]:
    """Capacities of the flat pool vector ``[U (S), B (S), G (S), G_c]`` and, per bundle, the
    three pools it draws on. With ``partition == "static"`` every pool is split among the C
    classes (:func:`~.data.partition_capacity`, as in the program and the referee): the vector
    is ``[U (C, S), B (C, S), G (C, S), G_c (C)]`` and a bundle draws on its task's class's
    pools (the class pools were ignored: 35 of 40 runs on static instances were refused by the
    referee)."""
    S = inst.n_sites
    caps = (inst.site_sensing_units, inst.site_rbs, inst.site_gpus, np.array([inst.cloud_gpus]))
    if partition != "static":
        cap = np.concatenate(caps).astype(np.float64)
        gpu_pool = np.where(bun.cloud, 3 * S, 2 * S + bun.site)
        return cap, np.stack([bun.site, S + bun.site, gpu_pool], axis=1)
    C = inst.n_classes
    cap = np.concatenate([partition_capacity(c, C).reshape(-1) for c in caps]).astype(np.float64)
    cls = inst.task_class[bun.task]
    site = cls * S + bun.site
    gpu_pool = np.where(bun.cloud, 3 * C * S + cls, 2 * C * S + site)
    return cap, np.stack([site, C * S + site, gpu_pool], axis=1)


def _pack(inst: IsccInstance, bun: Bundles, order: np.ndarray, partition: str = "decoupled"
          ) -> IsccAllocation:
    """Take bundles in ``order`` while their task is free and their pools have room."""
    cap, pools = _pool_index(inst, bun, partition)
    left = cap.copy()
    need = np.stack([bun.units, bun.rbs, bun.gpus], axis=1).astype(np.float64)
    free = np.ones(inst.n_tasks, dtype=bool)
    chosen = []
    task, pl = bun.task, pools
    for b in order.tolist():  # sequential by nature: each pick changes what fits
        t = task[b]
        if free[t]:
            p = pl[b]
            n = need[b]
            if (left[p] >= n).all():
                left[p] -= n
                free[t] = False
                chosen.append(b)
    return allocation_from_bundles(inst.n_tasks, bun, np.array(chosen, dtype=np.int64))


def greedy_density(inst: IsccInstance, spec: IsccSpec, seed: int = 0) -> IsccAllocation:
    """Greedy by utility per unit of normalised pool use (module docstring)."""
    bun = bundles_for(inst, spec)
    cap, pools = _pool_index(inst, bun, spec.partition)
    inv = np.where(cap > 0, 1.0 / np.maximum(cap, 1e-300), np.inf)
    use = bun.units * inv[pools[:, 0]] + bun.rbs * inv[pools[:, 1]] + bun.gpus * inv[pools[:, 2]]
    density = np.where(np.isfinite(use), bun.utility / np.maximum(use, 1e-300), -np.inf)
    order = np.lexsort((-bun.utility, -density))
    return _pack(inst, bun, order[np.isfinite(density[order])], spec.partition)


def random_fit(inst: IsccInstance, spec: IsccSpec, seed: int = 0) -> IsccAllocation:
    """Tasks in random order, each a random bundle among those that fit."""
    bun = bundles_for(inst, spec)
    rng = np.random.default_rng(seed)
    rank_task = rng.permutation(inst.n_tasks)[bun.task]
    order = np.lexsort((rng.random(bun.size), rank_task))
    return _pack(inst, bun, order, spec.partition)


def static_partition(inst: IsccInstance, spec: IsccSpec, seed: int = 0,
                     options: SolveOptions | None = None) -> IsccAllocation | HeuristicNote:
    """Optimum of the per-class even split of every pool (HiGHS, relative gap 1e-6 and 60 s by
    default; the best incumbent when the limit stops it).

    ``options`` override the gap, the time limit (a deadline for the whole call: the MILP gets
    what is left after the build) and the threads. When the caller's time limit stops the MILP,
    the incumbent (or, without one, :func:`greedy_density`) is returned with a note.
    """
    t0 = time.perf_counter()
    opts = options or SolveOptions()
    pspec = replace(spec, partition="static")
    lp = build(inst, pspec)
    limit = opts.left(t0, floor=0.0)
    if limit is not None and limit <= 0.0:
        return HeuristicNote(greedy_density(inst, spec, seed),
                             "time limit reached while building the static-partition "
                             "MILP: greedy_density allocation")
    gap = 1e-6 if opts.mip_gap is None else opts.mip_gap
    res = get_backend("highs").solve(lp, replace(opts, mip_gap=gap,
                                                 time_limit=60.0 if limit is None else limit))
    timed_out = (opts.time_limit is not None
                 and res.stats.extra.get("native_status") == "kTimeLimit")
    if not res.has_solution:
        logger.warning("static partition: %s", res.termination)
        if timed_out:
            return HeuristicNote(greedy_density(inst, spec, seed),
                                 "stopped at the time limit before the static-partition MILP "
                                 "found a solution: greedy_density allocation")
        return IsccAllocation.empty(inst.n_tasks)
    alloc = decode(inst, pspec, lp, res.values)
    if timed_out:
        return HeuristicNote(alloc, "stopped at the time limit: static-partition MILP incumbent "
                                    f"(gap {res.gap:.3g})")
    return alloc


def static_partition_bound(inst: IsccInstance, spec: IsccSpec,
                           options: SolveOptions | None = None) -> tuple[float, bool]:
    """``(objective, optimal)`` of the static-partition MILP (for comparisons)."""
    lp = build(inst, replace(spec, partition="static"))
    res = get_backend("highs").solve(lp, options or SolveOptions(mip_gap=0.0))
    return float(res.objective), bool(res.optimal)


register_heuristic(IsccSpec, "greedy_density", greedy_density)
register_heuristic(IsccSpec, "random", random_fit)
register_heuristic(IsccSpec, "static_partition", static_partition)
