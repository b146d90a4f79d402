r"""LP rounding with a certified gap, and HiGHS warm-started from it (large instances).

The matching and pipeline MILPs are packing problems with one generalised-upper-bound row per
task and only ``m`` pool rows (``3S + 1`` for the matching). A basic optimal solution of the LP
relaxation has at most ``m`` fractional tasks (basis counting: every basic column beyond one per
task row needs a pool row), so rounding it down loses at most ``m`` tasks' utility.
:func:`lp_round` (algorithm ``lp_round``) solves the relaxation, keeps the bundles at 1 and
fills the capacity left greedily (columns by decreasing LP value, then utility per unit of
normalised row use), checking every row of the program (user-added rows included). Its
``bound`` is the LP optimum, so ``gap`` is certified; the result is ``optimal`` when the gap is
within ``options.mip_gap`` (default 1e-4, as HiGHS). :func:`highs_warm` (algorithm
``highs_warm``) hands that allocation to HiGHS as a MIP start (unless it is already within the
gap), so a time-limited solve returns at least the rounded utility together with HiGHS's
bound.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import replace
from typing import Any

import numpy as np

from aigc_opt.backend import SolveOptions, get_backend
from aigc_opt.program import LinearProgram, Sense
from aigc_opt.result import Result, SolveStats, Termination, relative_gap
from aigc_opt.solve import register_algorithm
from aigc_opt.solvers.highs import configured_highs
from aigc_opt.solvers.numerics import equilibrate, range_checked

from .data import IsccPipelineSpec, IsccSpec

logger = logging.getLogger(__name__)


def round_and_fill(lp: LinearProgram, x: np.ndarray) -> np.ndarray:
    """A 0/1 point feasible for ``lp``'s rows (all of the form ``A x <= upper``, ``A >= 0``):
    the columns at 1 in ``x``, then the others greedily while every row has room."""
    A = lp.A.tocsc()
    upper = lp.row_upper.copy()
    take = x > 1 - 1e-7
    out = take.astype(np.float64)
    left = upper - A @ out
    norm = np.maximum(np.abs(np.where(np.isfinite(upper), upper, 1.0)), 1.0)
    use = np.asarray(abs(A).T @ (1.0 / norm)).ravel()
    density = lp.c / np.maximum(use, 1e-12)
    cand = np.nonzero(~take & (lp.c > 0))[0]
    order = cand[np.lexsort((-density[cand], -x[cand]))]
    indptr, indices, data = A.indptr, A.indices, A.data
    for j in order.tolist():  # sequential by nature: each pick changes what fits
        rows = indices[indptr[j]:indptr[j + 1]]
        vals = data[indptr[j]:indptr[j + 1]]
        if (left[rows] >= vals - 1e-9).all():
            left[rows] -= vals
            out[j] = 1.0
    return out


def _gap_tol(options: SolveOptions) -> float:
    """The relative gap at which a solution counts as optimal (HiGHS's default 1e-4)."""
    return float(options.mip_gap) if options.mip_gap is not None else 1e-4


def _relaxation(lp: LinearProgram, options: SolveOptions) -> Result:
    return get_backend("highs").solve(lp.relaxed(), SolveOptions(
        time_limit=options.time_limit, threads=options.threads, verbose=options.verbose))


def lp_round(inst: Any, spec: Any, options: SolveOptions) -> Result:
    """LP relaxation, rounding down and greedy fill; bound = LP optimum (module docstring)."""
    t0 = time.perf_counter()
    lp = spec.build(inst)
    build_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    rel = _relaxation(lp, options)
    if not rel.optimal:
        return Result(rel.termination, False, message=f"LP relaxation: {rel.termination}",
                      stats=SolveStats("lp_round", build_s, time.perf_counter() - t1))
    x = round_and_fill(lp, np.asarray(rel.values["x"], dtype=np.float64))
    obj = lp.objective_value(x)
    gap = relative_gap(obj, rel.objective)
    term = Termination.OPTIMAL if gap <= _gap_tol(options) else Termination.FEASIBLE
    return Result(term, True, objective=obj, bound=rel.objective, gap=gap, values={"x": x},
                  allocation=spec.decode(inst, lp, {"x": x}),
                  stats=SolveStats("lp_round", build_s, time.perf_counter() - t1),
                  message="LP rounding with greedy fill; bound = LP relaxation")


def highs_warm(inst: Any, spec: Any, options: SolveOptions) -> Result:
    """HiGHS on the MILP from the :func:`lp_round` point (a MIP start)."""
    import highspy

    start = lp_round(inst, spec, options)
    if start.optimal or not start.has_solution:  # already within the gap: nothing to prove
        return replace(start, stats=replace(start.stats, backend="highs_warm"),
                       message=start.message + "; within the MIP gap, HiGHS not run")
    t0 = time.perf_counter()
    lp = spec.build(inst)
    build_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    h = configured_highs(options, mip_gap=1e-4)
    A = lp.A.tocsc()
    h.passModel(lp.n_cols, lp.n_rows, int(A.nnz), int(highspy.MatrixFormat.kColwise),
                int(highspy.ObjSense.kMaximize if lp.sense is Sense.MAX
                    else highspy.ObjSense.kMinimize), float(lp.offset), lp.c, lp.col_lower,
                lp.col_upper, lp.row_lower, lp.row_upper, A.indptr.astype(np.int32),
                A.indices.astype(np.int32), A.data, lp.integrality.astype(np.int32))
    if start.has_solution:
        x0 = np.asarray(start.values["x"], dtype=np.float64)
        h.setSolution(lp.n_cols, np.arange(lp.n_cols, dtype=np.int32), x0)
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    has = int(info.primal_solution_status) == 2
    if not has:
        return Result(Termination.ERROR if start.has_solution else start.termination, False,
                      message=f"HiGHS: {status}", stats=SolveStats("highs_warm", build_s,
                                                                 time.perf_counter() - t1))
    x = np.round(np.asarray(h.getSolution().col_value, dtype=np.float64))
    obj = lp.objective_value(x)
    bound = float(info.mip_dual_bound)
    if not math.isfinite(bound):
        bound = start.bound
    bound = min(bound, start.bound) if lp.sense is Sense.MAX else max(bound, start.bound)
    gap = relative_gap(obj, bound)
    optimal = status == "Optimal"
    res = Result(Termination.OPTIMAL if optimal else Termination.FEASIBLE, True, objective=obj,
                 bound=bound, gap=gap, values={"x": x},
                 allocation=spec.decode(inst, lp, {"x": x}),
                 stats=SolveStats("highs_warm", build_s, time.perf_counter() - t1,
                                  nodes=int(info.mip_node_count)),
                 message=f"HiGHS: {status}; MIP start from lp_round ({start.objective:.10g})")
    return range_checked(res, equilibrate(lp))  # no claim beyond the objective range


for _spec in (IsccSpec, IsccPipelineSpec):
    register_algorithm(_spec, "lp_round", lp_round)
    register_algorithm(_spec, "highs_warm", highs_warm)
