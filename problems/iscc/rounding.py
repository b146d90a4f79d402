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
    """HiGHS on the MILP from the :func:`lp_round` point (a MIP start), through the HiGHS
    backend's equilibrated path (:meth:`~aigc_opt.solvers.highs.HighsBackend.solve_from`):
    the objective scaled to O(1) and the range check. On the raw program an objective of 1e-5
    (task weights x 1e-6) was within HiGHS's absolute MIP gap (1e-6) at once: 'optimal' with
    a 'bound' of 1.2823e-5 under the feasible 1.2962e-5 (a maximisation)."""
    from aigc_opt.solvers.highs import HighsBackend

    t_call = time.perf_counter()
    start = lp_round(inst, spec, options)
    if start.optimal or not start.has_solution:  # already within the gap: nothing to prove
        return replace(start, stats=replace(start.stats, backend="highs_warm"),
                       message=start.message + "; within the MIP gap, HiGHS not run")
    t0 = time.perf_counter()
    lp = spec.build(inst)
    build_s = time.perf_counter() - t0
    opts = options if options.mip_gap is not None else replace(options, mip_gap=1e-4)
    x0 = np.asarray(start.values["x"], dtype=np.float64)
    # HiGHS gets what the LP rounding and the build left of the limit (it had all of it again)
    res = HighsBackend().solve_from(lp, replace(opts, time_limit=opts.left(t_call)), x0)
    if not res.has_solution:
        return replace(res, termination=Termination.ERROR, stats=replace(
            res.stats, backend="highs_warm", build_seconds=build_s))
    x = np.round(np.asarray(res.values["x"], dtype=np.float64))
    obj = lp.objective_value(x)
    bound = res.bound if math.isfinite(res.bound) else start.bound
    if math.isfinite(bound) and math.isfinite(start.bound):
        bound = min(bound, start.bound) if lp.sense is Sense.MAX else max(bound, start.bound)
    term = res.termination if res.termination in (Termination.OPTIMAL, Termination.FEASIBLE) \
        else Termination.FEASIBLE
    return replace(res, termination=term, objective=obj, bound=bound,
                   gap=relative_gap(obj, bound), values={"x": x},
                   allocation=spec.decode(inst, lp, {"x": x}),
                   stats=replace(res.stats, backend="highs_warm", build_seconds=build_s),
                   message=f"{res.message}; MIP start from lp_round ({start.objective:.10g})")


for _spec in (IsccSpec, IsccPipelineSpec):
    register_algorithm(_spec, "lp_round", lp_round)
    register_algorithm(_spec, "highs_warm", highs_warm)
