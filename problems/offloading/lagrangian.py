r"""Certified offloading assignment at scale: Lagrangian decomposition, exact reduction, MILP.

Method ``"lagrangian"`` (``aigc_opt.run_method(scn, OffloadingSpec(...), "lagrangian")``) for
the assignment MILP ``min c^T x  s.t.  l <= A x <= u,  0 <= x <= 1,  x integer`` of
:mod:`.assignment`. The target gap is ``options.mip_gap`` (default 1e-4); the reported
``bound`` is certified for the original instance and ``gap = relative_gap(objective, bound)
= (objective - bound) / max(|objective|, |bound|, 1e-6)``.

1. **Subgradient phase** (:mod:`.lagrangian_sub`). The coupling rows (subchannels, GPU slots,
   model-held linking, user rows) are dualised; the assignment rows and the per-server memory
   knapsacks are kept, so ``L(y)`` separates into a per-request cheapest reduced-cost column and
   an exact per-server knapsack over the models. ``L(y)`` is a valid lower bound for every
   ``y``; ``y`` is improved by projected subgradient steps (Polyak step towards the incumbent),
   and every few iterations the Lagrangian solution is repaired into a feasible assignment
   (greedy by regret into the remaining capacity, then a local improvement pass). If the gap
   reaches the target the method stops here -- no LP is solved (this is what scales to 10^6
   requests).
2. **LP phase** (only for at most :data:`LP_MAX_COLUMNS` assign columns, when the target is
   not reached). The LP relaxation is solved once with HiGHS; its row duals ``y`` are the
   multipliers of the Lagrangian relaxation of *all* rows. For any ``y`` and feasible ``x``

   .. math::

       c^T x = y^T A x + d^T x \ge L(y) := \sum_i \min(y_i l_i, y_i u_i) + \sum_j \min(0, d_j),
       \qquad d = c - A^T y,

   (``y_i l_i`` is taken only for ``y_i > 0``, ``y_i u_i`` for ``y_i < 0``; a multiplier whose
   side is infinite is set to 0 first), so ``L(y)`` is a certified lower bound computed from
   ``y`` in exact arithmetic order, not taken from the solver's claim. With LP-optimal ``y`` it
   equals the LP bound. If the LP optimum is integral and feasible it is returned.
3. **Incumbent.** A MILP restricted to each request's ``width`` smallest-``d`` columns (plus the
   LP support, the subgradient incumbent's columns and every cache column) gives a feasible
   assignment; ``UB`` is the best of it and the subgradient incumbent.
4. **Exact reduction (reduced-cost fixing).** Every feasible ``x`` with ``x_j = 1`` costs at
   least ``L(y) + d_j`` when ``d_j > 0``, so columns with ``L(y) + d_j > UB (1 + 1e-9) + 1e-9``
   cannot be in any solution better than the incumbent and are dropped. Hence the optimum over
   the kept columns is the optimum of the full problem.
5. **Final MILP** on the kept columns (HiGHS, the spec's columns and rows unchanged) to the
   target gap. Its dual bound is a bound for the full problem (step 4), so the reported
   ``bound = max(L_subgradient, L(y), bound_final)`` is certified.

If the program does not have the structure of phase 1 (see
:func:`.lagrangian_sub.decompose`), only the LP phase runs. A time limit hit in any phase
returns the best incumbent with its certified bound (status ``feasible``), or ``limit`` with
no solution.
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
from .lagrangian_sub import Decomposition, SubgradientResult, decompose, subgradient

logger = logging.getLogger(__name__)

#: Columns per request kept in the restricted MILP that finds the incumbent.
WIDTH = 3
#: Largest number of assign columns for which the LP phase runs after the subgradient phase.
LP_MAX_COLUMNS = 2_000_000
#: Columns per request (smallest reduced cost) in the polishing LP, and its size limit.
POLISH_WIDTH = 3
POLISH_MAX_COLUMNS = 1_500_000
#: Subgradient iterations when the LP phase may follow / when it may not.
SG_ITER_BEFORE_LP = 60
SG_ITER = 400


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

    from aigc_opt.solvers.highs import HighsBackend, new_highs, run, use_threads

    h = new_highs()
    if options.time_limit is not None:
        h.setOptionValue("time_limit", float(options.time_limit))
    use_threads(options.threads, h)
    try:
        HighsBackend._pass(h, prog.relaxed(), highspy)
    except ValueError as exc:  # HiGHS rejected the model (e.g. coefficients out of its range)
        return f"Error: {exc}", np.zeros(prog.n_cols), np.zeros(prog.n_rows)
    run(h)
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


def polish(prog: LinearProgram, dec: Decomposition, sg: SubgradientResult, time_left: float
           ) -> np.ndarray | None:
    """The optimal assignment for the incumbent's cache, over each request's
    :data:`POLISH_WIDTH` smallest reduced-cost columns (at the best multipliers) plus its
    incumbent column: an LP with the cache columns fixed (assignment, subchannel, GPU-slot and
    linking rows form two laminar families, so its vertices are integral); None when the
    restricted LP is larger than :data:`POLISH_MAX_COLUMNS`, not solved to optimality, or its
    solution is not integral and feasible for ``prog``."""
    if sg.x is None:
        return None
    a, cb = prog.block("assign"), prog.block("cache")
    d = prog.c - dec.ADT @ sg.y
    keep = _smallest_per_user(np.asarray(prog.column_data["user"]), d[:a.size], POLISH_WIDTH)
    keep |= sg.x[:a.size] > 0.5
    z = sg.x[cb.start:cb.start + cb.size]
    keep &= ~(dec.link @ (z < 0.5).astype(float) > 0)  # drop columns whose model is not held
    keep_i = np.nonzero(keep)[0]
    if keep_i.size > POLISH_MAX_COLUMNS:
        return None
    red = restrict(prog, keep_i)
    lo, up = red.col_lower.copy(), red.col_upper.copy()
    lo[keep_i.size:] = up[keep_i.size:] = z
    red = replace(red, col_lower=lo, col_upper=up).relaxed()
    res = _milp(red, SolveOptions(), time_left)
    if res.termination is not Termination.OPTIMAL or not res.has_solution:
        return None
    x = _full_x(prog, keep_i, np.round(np.asarray(res.values["x"])))
    if np.abs(np.asarray(res.values["x"]) - x[np.r_[keep_i, np.arange(cb.start, cb.start +
                                                   cb.size)]]).max(initial=0.0) > 1e-9:
        return None
    return x if prog.max_violation(x) <= 1e-9 else None


def _full_x(prog: LinearProgram, keep: np.ndarray, x_red: np.ndarray) -> np.ndarray:
    """The full program's ``x`` from a solution of ``restrict(prog, keep)``."""
    a, cb = prog.block("assign"), prog.block("cache")
    x = np.zeros(prog.n_cols)
    x[a.start + keep] = x_red[:keep.size]
    x[cb.start:cb.start + cb.size] = x_red[keep.size:]
    return x


def _finish(scn: Scenario, spec: OffloadingSpec, prog: LinearProgram, x: np.ndarray | None,
            bound: float, target: float, extra: dict[str, Any]) -> Result:
    """The Result for the incumbent ``x`` (full program) and the certified ``bound``."""
    if x is None:
        return Result(Termination.LIMIT, False, bound=bound, gap=math.inf,
                      message="no feasible assignment found within the limits",
                      stats=SolveStats("lagrangian", extra=extra))
    obj = prog.objective_value(x)
    bound = min(bound, obj)
    gap = relative_gap(obj, bound)
    values = {b.name: b.take(x).copy() for b in prog.blocks}
    values["x"] = x
    return Result(Termination.OPTIMAL if gap <= target else Termination.FEASIBLE, True,
                  objective=obj, bound=bound, gap=gap, values=values,
                  allocation=decode(scn, spec, prog, values),
                  stats=SolveStats("lagrangian", extra=extra))


def solve_lagrangian(scn: Scenario, spec: OffloadingSpec, options: SolveOptions) -> Result:
    """Run the method of the module docstring; the Result carries the allocation, the certified
    bound and gap, and in ``stats.extra``: ``sg_bound``, ``sg_objective``, ``sg_iterations``,
    ``lp_bound`` (when the LP phase ran), ``columns``, ``kept_columns``,
    ``restricted_columns`` and the seconds of each phase.

    ``options.extra`` are HiGHS options of the restricted and final MILPs; they are checked
    first (:func:`aigc_opt.solvers.highs.check_extra_options`): checked only when a MILP ran,
    an unknown key was refused on one instance and accepted on another that the subgradient
    phase had solved."""
    from aigc_opt.solvers.highs import check_extra_options

    t0 = time.perf_counter()
    check_extra_options(options.extra)
    deadline = t0 + (options.time_limit if options.time_limit is not None else math.inf)
    target = 1e-4 if options.mip_gap is None else options.mip_gap
    prog = spec.build(scn)
    t_build = time.perf_counter() - t0
    na = prog.block("assign").size
    extra: dict[str, Any] = {"build_s": t_build, "columns": na}
    lp_phase = na <= LP_MAX_COLUMNS
    bound, x_best, ub = -math.inf, None, math.inf
    dec = decompose(prog)
    if dec is not None:  # phase 1: subgradient bound + repaired incumbent
        t1 = time.perf_counter()
        sg = subgradient(dec, deadline=deadline, target=target,
                         max_iter=SG_ITER_BEFORE_LP if lp_phase else SG_ITER)
        extra.update(sg_s=time.perf_counter() - t1, sg_bound=sg.bound, sg_objective=sg.objective,
                     sg_iterations=sg.iterations, exact_knapsacks=sg.exact_knapsacks)
        bound, x_best, ub = sg.bound, sg.x, sg.objective
        if x_best is not None and relative_gap(ub, bound) > target and \
                time.perf_counter() < deadline:
            t1 = time.perf_counter()
            x_pol = polish(prog, dec, sg, deadline - time.perf_counter())
            extra["polish_s"] = time.perf_counter() - t1
            if x_pol is not None and prog.objective_value(x_pol) < ub:
                x_best, ub = x_pol, prog.objective_value(x_pol)
                extra["polish_objective"] = ub
        if x_best is not None and relative_gap(ub, bound) <= target:
            return _finish(scn, spec, prog, x_best, bound, target, extra)
    if not lp_phase or time.perf_counter() >= deadline:
        return _finish(scn, spec, prog, x_best, bound, target, extra)
    t1 = time.perf_counter()
    status, x_lp, y = _lp_duals(prog, replace(options, time_limit=max(
        deadline - time.perf_counter(), 1e-3) if math.isfinite(deadline) else None))
    extra["lp_s"] = time.perf_counter() - t1
    if status.startswith("Error"):
        return Result(Termination.ERROR, False, gap=math.inf, message=status,
                      stats=SolveStats("lagrangian", extra=extra))
    if status == "Infeasible":
        return Result(Termination.INFEASIBLE, False, gap=math.inf, message="LP relaxation "
                      "infeasible", stats=SolveStats("lagrangian", extra=extra))
    if status != "Optimal":  # time limit in the LP: the subgradient answer stands
        return _finish(scn, spec, prog, x_best, bound, target, extra)
    lb, d = lagrangian_bound(prog, y)
    extra["lp_bound"] = lb
    bound = max(bound, lb)
    x_int = np.round(x_lp)
    if np.abs(x_lp - x_int).max(initial=0.0) <= 1e-9 and prog.max_violation(x_int) <= 1e-9:
        extra["integral_lp"] = True  # integral LP optimum: nothing to branch on
        return _finish(scn, spec, prog, x_int, bound, target, extra)
    a = prog.block("assign")
    da, xa = d[a.start:a.start + a.size], x_lp[a.start:a.start + a.size]
    user = np.asarray(prog.column_data["user"])
    restricted = _smallest_per_user(user, da, WIDTH) | (xa > 1e-9)
    if x_best is not None:
        restricted |= x_best[a.start:a.start + a.size] > 0.5
    keep_r = np.nonzero(restricted)[0]
    extra["restricted_columns"] = int(keep_r.size)
    t1 = time.perf_counter()
    res_r = _milp(restrict(prog, keep_r), replace(options, mip_gap=target),
                  deadline - time.perf_counter())
    extra["restricted_s"] = time.perf_counter() - t1
    if res_r.has_solution and res_r.objective < ub:
        ub, x_best = res_r.objective, _full_x(prog, keep_r, np.asarray(res_r.values["x"]))
    tol = 1e-9 * max(1.0, abs(ub)) + 1e-9
    keep = np.nonzero(~(lb + np.maximum(da, 0.0) > ub + tol))[0]
    extra["kept_columns"] = int(keep.size)
    if res_r.has_solution and np.array_equal(keep, keep_r) and res_r.termination is \
            Termination.OPTIMAL:
        bound = max(bound, min(res_r.bound, ub))  # the restricted program is the reduced one
    elif keep.size:
        t2 = time.perf_counter()
        res_k = _milp(restrict(prog, keep), replace(options, mip_gap=target),
                      deadline - time.perf_counter())
        extra["final_s"] = time.perf_counter() - t2
        if res_k.termination is Termination.INFEASIBLE and x_best is None:
            return Result(Termination.INFEASIBLE, False, gap=math.inf,
                          stats=SolveStats("lagrangian", extra=extra))
        if math.isfinite(res_k.bound):
            bound = max(bound, min(res_k.bound, ub))
        if res_k.has_solution and res_k.objective < ub:
            ub, x_best = res_k.objective, _full_x(prog, keep, np.asarray(res_k.values["x"]))
    return _finish(scn, spec, prog, x_best, bound, target, extra)


register_algorithm(OffloadingSpec, "lagrangian", solve_lagrangian)
