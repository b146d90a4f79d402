"""The MILP with a MIP start: HiGHS begins from a baseline's allocation.

At large sizes HiGHS may reach its time limit before its own heuristics find a good incumbent;
started from the better of ``all_cloud`` and ``edge_greedy`` (when the referee finds it
feasible), it returns at least that good a solution together with its proven bound and gap.
Registered as the algorithm ``"highs_warm"``.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import replace

import numpy as np

from aigc_opt.backend import SolveOptions
from aigc_opt.metrics import evaluate
from aigc_opt.program import LinearProgram
from aigc_opt.result import Result, relative_gap
from aigc_opt.solve import register_algorithm

from .data import GB, NONE, LifecycleAllocation, LifecycleInstance, LifecycleSpec
from .data_physics import option_physics
from .heuristics import all_cloud, edge_greedy

logger = logging.getLogger(__name__)


def start_vector(inst: LifecycleInstance, program: LinearProgram,
                 alloc: LifecycleAllocation) -> np.ndarray:
    """The program's column vector of ``alloc`` (z, y, x one-hot; routes, rejections; delivery
    sizes and volumes); entries without a column (pruned) are dropped."""
    col = program.column_data
    x0 = np.zeros(program.n_cols)
    sh = inst.shape
    S, M, N = sh["S"], sh["M"], sh["N"]
    zs, zo, zn = (np.asarray(col[k]) for k in ("z_service", "z_option", "z_node"))
    b = program.block("train")
    x0[b.start:b.start + b.size] = (zo == alloc.option[zs]) & (zn == alloc.train_node[zs])
    model = inst.option_model[alloc.option]
    b = program.block("model")
    y = np.zeros((S, M))
    y[np.arange(S), model] = 1.0
    x0[b.start:b.start + b.size] = y.ravel()
    xs, xm, xn = (np.asarray(col[k]) for k in ("x_service", "x_model", "x_node"))
    b = program.block("host")
    x0[b.start:b.start + b.size] = alloc.host[xs, xn] & (xm == model[xs])
    at, as_, au, ax = (np.asarray(col[k]) for k in ("a_slot", "a_service", "a_region",
                                                    "a_host"))
    b = program.block("route")
    x0[b.start:b.start + b.size] = alloc.route[at, as_, au, xn[ax]] * (xm[ax] == model[as_])
    b = program.block("reject")
    if b.size:
        rt, rs, ru = (np.asarray(col[k]) for k in ("r_slot", "r_service", "r_region"))
        x0[b.start:b.start + b.size] = alloc.reject[rt, rs, ru]
    phys = option_physics(inst)
    B = phys.deliver_bytes[np.arange(S), alloc.option] * (inst.option_mode[alloc.option] != NONE)
    b = program.block("deliver_size")
    x0[b.start:b.start + b.size] = B / GB
    ds, dn = np.asarray(col["d_service"]), np.asarray(col["d_node"])
    recv = alloc.host[ds, dn] & (dn != alloc.train_node[ds])
    b = program.block("deliver")
    x0[b.start:b.start + b.size] = recv * B[ds] / GB * inst.node_replicas[dn]
    del N
    return x0


def solve_warm(inst: LifecycleInstance, spec: LifecycleSpec,
               options: SolveOptions | None = None, *,
               start: LifecycleAllocation | None = None) -> Result:
    """HiGHS on the MILP from the MIP start ``start`` (default: the better feasible baseline)."""
    from aigc_opt.solvers.highs import HighsBackend

    opts = options or SolveOptions()
    t0 = time.perf_counter()
    if start is None:
        best = math.inf
        for fn in (all_cloud, edge_greedy):
            cand = fn(inst, spec)
            met = evaluate(inst, cand, spec)
            if met.feasible and met.objective < best:
                best, start = met.objective, cand
    lp = spec.build(inst)
    build_s = time.perf_counter() - t0
    x0 = None if start is None else start_vector(inst, lp, start)
    # HiGHS gets what the baselines and the build left of the limit (it had all of it again)
    res = HighsBackend().solve_from(lp, replace(opts, time_limit=opts.left(t0)), x0)
    alloc = spec.decode(inst, lp, res.values) if res.has_solution else None
    gap = res.gap if res.optimal else relative_gap(res.objective, res.bound)
    msg = res.message + ("; MIP start from a baseline" if start is not None else "")
    return replace(res, allocation=alloc, gap=gap, message=msg,
                   stats=replace(res.stats, backend="highs_warm", build_seconds=build_s))


def highs_warm(inst: LifecycleInstance, spec: LifecycleSpec, options: SolveOptions
               ) -> Result:
    """Registered algorithm: :func:`solve_warm` with the baselines' best start."""
    return solve_warm(inst, spec, options)


register_algorithm(LifecycleSpec, "highs_warm", highs_warm)
