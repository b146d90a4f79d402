r"""Certified offloading assignment at scale: Lagrangian bound, exact column reduction, MILP.

Method ``"lagrangian"`` (``aigc_opt.run_method(scn, OffloadingSpec(...), "lagrangian")``) for
the assignment MILP ``min c^T x  s.t.  l <= A x <= u,  0 <= x <= 1,  x integer`` of
:mod:`.assignment`:

1. **Multipliers.** The LP relaxation is solved once with HiGHS; its row duals ``y`` are the
   multipliers of the Lagrangian relaxation of *all* rows (assignment, subchannel, GPU-slot,
   memory and linking). For any ``y`` and every feasible ``x``

   .. math::

       c^T x = y^T A x + d^T x \ge L(y) := \sum_i \min(y_i l_i, y_i u_i) + \sum_j \min(0, d_j),
       \qquad d = c - A^T y,

   (``y_i l_i`` is taken only for ``y_i > 0``, ``y_i u_i`` for ``y_i < 0``; a multiplier whose
   side is infinite is set to 0 first), so ``L(y)`` is a certified lower bound computed from
   ``y`` in exact arithmetic order, not taken from the solver's claim. With LP-optimal ``y`` it
   equals the LP bound.
   If the LP optimum is integral and feasible it is returned (certified optimal by ``L(y)``).
2. **Incumbent.** A MILP restricted to each request's ``width`` smallest-``d`` columns (plus the
   LP support and every cache column) gives a feasible assignment of value ``UB``.
3. **Exact reduction (reduced-cost fixing).** Every feasible ``x`` with ``x_j = 1`` costs at
   least ``L(y) + d_j`` when ``d_j > 0``, so columns with ``L(y) + d_j > UB (1 + 1e-9) + 1e-9``
   cannot be in any solution better than the incumbent and are dropped. Hence the optimum over
   the kept columns is the optimum of the full problem.
4. **Final MILP** on the kept columns (HiGHS, the spec's columns and rows unchanged) to the
   requested gap. Its dual bound is a bound for the full problem (step 3), so the reported
   ``bound = max(L(y), bound_final)`` and ``gap = (objective - bound) / max(1, |objective|)``
   are certified for the original instance.

Not implemented (issue 16 part 4, reported): subgradient / bundle updates of ``y`` beyond the LP
duals and per-server Lagrangian subproblems (the LP solve is the bottleneck at 10^6 requests).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import replace
from typing import Any

import numpy as np

from aigc_opt.backend import SolveOptions
from aigc_opt.program import Block, LinearProgram
from aigc_opt.result import Result, SolveStats, Termination, relative_gap
from aigc_opt.scenario import Scenario
from aigc_opt.solve import register_algorithm

from .assignment import decode, frozen_columns
from .data import OffloadingSpec

logger = logging.getLogger(__name__)

#: Columns per request kept in the restricted MILP that finds the incumbent.
WIDTH = 3


def lagrangian_bound(prog: LinearProgram, y: np.ndarray) -> tuple[float, np.ndarray]:
    """``L(y)`` and the reduced costs ``d = c - A^T y`` of the module docstring.

    Multipliers of the wrong sign for a row's finite sides are set to 0 (so ``L`` is finite and
    valid for any input ``y``). Columns must have bounds ``[0, 1]`` (the assignment MILP).
    """
    y = np.asarray(y, dtype=np.float64).copy()
    y[(y > 0) & ~np.isfinite(prog.row_lower)] = 0.0
    y[(y < 0) & ~np.isfinite(prog.row_upper)] = 0.0
    d = prog.c - prog.A.T @ y
    rows = np.where(y > 0, y * np.where(np.isfinite(prog.row_lower), prog.row_lower, 0.0),
                    y * np.where(np.isfinite(prog.row_upper), prog.row_upper, 0.0))
    lo, up = prog.col_lower, prog.col_upper
    cols = np.where(d > 0, d * lo, d * up)
    return float(rows.sum() + cols.sum() + prog.offset), d


def restrict(prog: LinearProgram, keep: np.ndarray) -> LinearProgram:
    """The assignment program with only the ``assign`` columns ``keep`` (sorted indices into the
    block) and every ``cache`` column; rows, bounds and per-column data unchanged/sliced."""
    a, cb = prog.block("assign"), prog.block("cache")
    cols = np.concatenate([a.start + keep, np.arange(cb.start, cb.start + cb.size)])
    nk = keep.size
    meta = dict(prog.meta)
    meta["columns"] = frozen_columns({k: np.asarray(v)[keep]
                                      for k, v in prog.column_data.items()}, copy=False)
    return replace(
        prog,
        c=prog.c[cols], A=prog.A[:, cols], col_lower=prog.col_lower[cols],
        col_upper=prog.col_upper[cols], integrality=prog.integrality[cols],
        blocks=(Block("assign", 0, (nk,)), Block("cache", nk, cb.shape)), meta=meta,
    )


def _lp_duals(prog: LinearProgram, options: SolveOptions) -> tuple[str, np.ndarray, np.ndarray]:
    """Solve the LP relaxation with HiGHS; (model status, x, row duals)."""
    import highspy

    from aigc_opt.solvers.highs import HighsBackend, new_highs

    h = new_highs()
    if options.time_limit is not None:
        h.setOptionValue("time_limit", float(options.time_limit))
    if options.threads is not None:
        h.setOptionValue("threads", int(options.threads))
    try:
        HighsBackend._pass(h, prog.relaxed(), highspy)
    except ValueError as exc:  # HiGHS rejected the model (e.g. coefficients out of its range)
        return f"Error: {exc}", np.zeros(prog.n_cols), np.zeros(prog.n_rows)
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    sol = h.getSolution()
    x = np.asarray(sol.col_value, dtype=np.float64)
    y = np.asarray(sol.row_dual, dtype=np.float64)
    if x.shape != (prog.n_cols,) or y.shape != (prog.n_rows,):
        x, y = np.zeros(prog.n_cols), np.zeros(prog.n_rows)
    return status, x, y


def _smallest_per_user(user: np.ndarray, d: np.ndarray, width: int) -> np.ndarray:
    """Mask of each user's ``width`` smallest-``d`` columns (``user`` grouped or not)."""
    order = np.lexsort((d, user))
    u = user[order]
    starts = np.searchsorted(u, u, side="left")
    rank = np.arange(u.size) - starts
    mask = np.zeros(u.size, dtype=bool)
    mask[order[rank < width]] = True
    return mask


def _milp(prog: LinearProgram, options: SolveOptions, time_left: float) -> Result:
    from aigc_opt.solvers.highs import HighsBackend

    opts = replace(options, time_limit=max(time_left, 1e-3) if math.isfinite(time_left)
                   else None, verify=False)
    return HighsBackend().solve(prog, opts)


def solve_lagrangian(scn: Scenario, spec: OffloadingSpec, options: SolveOptions) -> Result:
    """Run the method of the module docstring; the Result carries the allocation, the certified
    bound and gap, and in ``stats.extra``: ``lp_bound``, ``columns``, ``kept_columns``,
    ``restricted_columns`` and the seconds of each phase."""
    t0 = time.perf_counter()
    deadline = t0 + (options.time_limit if options.time_limit is not None else math.inf)
    target = 1e-4 if options.mip_gap is None else options.mip_gap
    prog = spec.build(scn)
    t_build = time.perf_counter() - t0
    extra: dict[str, Any] = {"build_s": t_build, "columns": prog.block("assign").size}
    status, x_lp, y = _lp_duals(prog, replace(options, time_limit=max(
        deadline - time.perf_counter(), 1e-3) if math.isfinite(deadline) else None))
    extra["lp_s"] = time.perf_counter() - t0 - t_build
    if status.startswith("Error"):
        return Result(Termination.ERROR, False, gap=math.inf, message=status,
                      stats=SolveStats("lagrangian", extra=extra))
    if status == "Infeasible":
        return Result(Termination.INFEASIBLE, False, gap=math.inf, message="LP relaxation "
                      "infeasible", stats=SolveStats("lagrangian", extra=extra))
    lb, d = lagrangian_bound(prog, y)
    extra["lp_bound"] = lb
    x_int = np.round(x_lp)
    if status == "Optimal" and np.abs(x_lp - x_int).max(initial=0.0) <= 1e-9 \
            and prog.max_violation(x_int) <= 1e-9:  # integral LP optimum: nothing to branch on
        obj = prog.objective_value(x_int)
        bound = min(lb, obj)
        values = {b.name: b.take(x_int).copy() for b in prog.blocks}
        values["x"] = x_int
        extra["integral_lp"] = True
        return Result(Termination.OPTIMAL if relative_gap(obj, bound) <= target else
                      Termination.LIMIT, True, objective=obj, bound=bound,
                      gap=relative_gap(obj, bound), values=values,
                      allocation=decode(scn, spec, prog, values),
                      stats=SolveStats("lagrangian", extra=extra))
    a = prog.block("assign")
    da, xa = d[a.start:a.start + a.size], x_lp[a.start:a.start + a.size]
    user = np.asarray(prog.column_data["user"])
    restricted = _smallest_per_user(user, da, WIDTH) | (xa > 1e-9)
    keep_r = np.nonzero(restricted)[0]
    extra["restricted_columns"] = int(keep_r.size)
    t1 = time.perf_counter()
    res_r = _milp(restrict(prog, keep_r), replace(options, mip_gap=target),
                  deadline - time.perf_counter())
    extra["restricted_s"] = time.perf_counter() - t1
    ub = res_r.objective if res_r.has_solution else math.inf
    tol = 1e-9 * max(1.0, abs(ub)) + 1e-9
    keep = np.nonzero(~(lb + np.maximum(da, 0.0) > ub + tol))[0]
    extra["kept_columns"] = int(keep.size)
    best_prog, best = restrict(prog, keep_r), res_r
    bound = lb
    if res_r.has_solution and np.array_equal(keep, keep_r) and res_r.termination is \
            Termination.OPTIMAL:
        bound = max(bound, res_r.bound)  # the restricted program is the reduced one
    elif keep.size:
        t2 = time.perf_counter()
        red = restrict(prog, keep)
        res_k = _milp(red, replace(options, mip_gap=target), deadline - time.perf_counter())
        extra["final_s"] = time.perf_counter() - t2
        if res_k.termination is Termination.INFEASIBLE and not res_r.has_solution:
            return Result(Termination.INFEASIBLE, False, gap=math.inf,
                          stats=SolveStats("lagrangian", extra=extra))
        if math.isfinite(res_k.bound):
            bound = max(bound, min(res_k.bound, ub))
        if res_k.has_solution and res_k.objective < ub:
            best_prog, best = red, res_k
    if not best.has_solution:
        return Result(Termination.LIMIT, False, bound=bound, gap=math.inf,
                      message="no feasible assignment found within the limits",
                      stats=SolveStats("lagrangian", extra=extra))
    obj = best.objective
    bound = min(bound, obj)
    gap = relative_gap(obj, bound)
    term = Termination.OPTIMAL if gap <= target else Termination.LIMIT
    alloc = decode(scn, spec, best_prog, best.values)
    return Result(term, True, objective=obj, bound=bound, gap=gap, values=best.values,
                  allocation=alloc, stats=SolveStats("lagrangian", extra=extra))


register_algorithm(OffloadingSpec, "lagrangian", solve_lagrangian)
