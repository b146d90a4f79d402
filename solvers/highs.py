"""HiGHS backend: passes the LinearProgram's flat CSR arrays straight to ``Highs.passModel``.

This is the fast path (about 0.15 us per nonzero of hand-over cost, ``scale_bench build``): no
modelling layer, no per-row Python. LP, MILP and convex QP are supported (HiGHS has no MIQP).
HiGHS sees the power-of-two equilibrated copy of the program (:mod:`aigc_opt.solvers.numerics`:
rows with largest ``|a|`` in [1, 2), objective with largest ``|c|`` in [1, 2)); a program with
non-finite coefficients is an ``error`` status without a solve.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from typing import Any

import numpy as np

from aigc_opt.backend import DEFAULT_MIP_GAP, SolveOptions, check_capability
from aigc_opt.errors import UnknownNameError, ValidationError
from aigc_opt.program import LinearProgram, ProgramKind, Sense
from aigc_opt.result import OPTIMAL_GAP, Result, SolveStats, Termination, relative_gap

from .interrupts import call_interruptibly
from .numerics import (
    Scaled,
    empty_program_result,
    equilibrate,
    highs_wide_options,
    presolve_off_options,
    range_checked,
    solution_point,
    unreachable_row,
    unusable_result,
)

logger = logging.getLogger(__name__)

#: HiGHS model status name -> common termination (used when a solution is present / absent).
CONDITION_MAP: dict[str, tuple[Termination, Termination]] = {
    # name: (termination with a feasible solution, termination without)
    "kOptimal": (Termination.OPTIMAL, Termination.OPTIMAL),
    "kInfeasible": (Termination.INFEASIBLE, Termination.INFEASIBLE),
    "kUnbounded": (Termination.UNBOUNDED, Termination.UNBOUNDED),
    "kUnboundedOrInfeasible": (
        Termination.INFEASIBLE_OR_UNBOUNDED,
        Termination.INFEASIBLE_OR_UNBOUNDED,
    ),
    "kTimeLimit": (Termination.FEASIBLE, Termination.LIMIT),
    "kIterationLimit": (Termination.FEASIBLE, Termination.LIMIT),
    "kSolutionLimit": (Termination.FEASIBLE, Termination.LIMIT),
    "kObjectiveBound": (Termination.FEASIBLE, Termination.LIMIT),
    "kObjectiveTarget": (Termination.FEASIBLE, Termination.LIMIT),
    "kInterrupt": (Termination.FEASIBLE, Termination.LIMIT),
    "kHighsInterrupt": (Termination.FEASIBLE, Termination.LIMIT),
    "kMemoryLimit": (Termination.FEASIBLE, Termination.LIMIT),
    "kModelEmpty": (Termination.OPTIMAL, Termination.OPTIMAL),
    "kUnknown": (Termination.FEASIBLE, Termination.ERROR),
}


_BANNER_SILENCED = False


_BANNER_LOCK = threading.Lock()


def _first_highs(highspy: Any) -> Any:
    """A ``Highs`` object created with file descriptor 1 at /dev/null (its banner)."""
    import ctypes
    import os
    import sys

    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    libc = ctypes.CDLL(None)
    try:
        os.dup2(devnull, 1)
        h = highspy.Highs()
        libc.fflush(None)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
    return h


def new_highs(verbose: bool = False) -> Any:
    """A ``highspy.Highs`` object that prints nothing unless ``verbose``.

    HiGHS prints its banner on stdout when the first ``Highs`` object of a process is created,
    before any option can be set; that first construction runs with file descriptor 1 pointed at
    /dev/null (C buffers flushed before it is restored), so the banner never reaches stdout of
    the Python API or the CLI. Every later object is created normally with ``output_flag`` off.
    """
    import highspy

    global _BANNER_SILENCED
    if _BANNER_SILENCED or verbose:
        h = highspy.Highs()
    else:
        with _BANNER_LOCK:  # two threads redirecting at once could leave fd 1 at /dev/null
            if _BANNER_SILENCED:
                h = highspy.Highs()
            else:
                h = _first_highs(highspy)
                _BANNER_SILENCED = True
    h.setOptionValue("output_flag", bool(verbose))
    return h


_THREADS_LOCK = threading.Lock()
#: Worker threads of HiGHS's process-wide task scheduler as last (re)started here; None before.
_scheduler_threads: int | None = None


def use_threads(threads: Any, h: Any = None) -> None:
    """Make HiGHS's process-wide task scheduler run ``threads`` worker threads (and set the
    ``threads`` option of ``h`` when given); anything but a positive int (None, 0 = any
    count) leaves both alone.

    HiGHS starts one scheduler per process, at the first solve, with that solve's ``threads``
    (default: its own count, 2 on this 2-core machine) and then refuses every solve that asks
    for another count: ``run()`` returns an error and the model status ``kNotset``. A method
    that solved with default options first (the migration controllers) left every later
    ``threads=1`` solve of the process -- HiGHS, CVXPY/HiGHS, Pyomo/HiGHS -- an ``error``.
    The scheduler is therefore restarted (``Highs.resetGlobalScheduler``) whenever a count
    other than the last one asked for here is asked for. A solve without a count runs on
    whatever scheduler exists. Restarting it while another thread is inside a HiGHS solve is
    not safe; the library's own parallel sub-solves never ask for a count.
    """
    global _scheduler_threads
    if not isinstance(threads, int) or isinstance(threads, bool) or threads <= 0:
        return  # None, or a value HiGHS itself will judge (0 = any count)
    import highspy

    n = threads
    with _THREADS_LOCK:
        if _scheduler_threads != n:
            highspy.Highs.resetGlobalScheduler(True)
            # start the new scheduler at n now: recording n without starting it let a later
            # solve without a count start it at HiGHS's default (a failed option, an early
            # return), and every threads=n solve after that was an error again
            starter = new_highs()
            starter.setOptionValue("threads", n)
            starter.run()
            _scheduler_threads = n
    if h is not None:
        h.setOptionValue("threads", n)


def run(h: Any) -> Any:
    """``h.run()`` that a Ctrl-C (SIGINT) stops within about
    :data:`.interrupts.STOP_WAIT_SECONDS` s (then ``KeyboardInterrupt``); returns what
    ``h.run()`` returns. Every library call site runs HiGHS through it.

    ``Highs.run`` is native code: a SIGINT was seen by Python only when the run returned, so
    ``aigc-opt solve`` answered a Ctrl-C 29-39 s late (at its 30 s time limit). In the main
    thread with Python's default SIGINT handler the run goes to a worker thread
    (:func:`.interrupts.call_interruptibly`); a Ctrl-C switches highspy's user-interrupt
    callbacks on (``HandleUserInterrupt``; HiGHS polls them from then on, also when switched
    on mid-run) and asks for a stop (``cancelSolve``); they are off again once HiGHS stopped.
    Switched on for the whole run they cost 11 % (market-split MILP 4 x 26, 1 thread: 12.18 s
    against 10.97 s for ``h.run()``, 71,456 nodes each); the worker thread alone costs nothing
    measurable (10.92 s).
    Elsewhere ``h.run()`` is called directly. highspy's own ``joinSolve`` is not used: it
    prints and calls ``sys.exit``.
    """

    def stop() -> None:
        h.HandleUserInterrupt = True
        h.cancelSolve()

    def stopped() -> None:
        h.HandleUserInterrupt = False

    return call_interruptibly(h.run, stop, "HiGHS", stopped)


def wide_range_tolerances(h: Any, sc: Scaled, options: SolveOptions) -> None:
    """Set :func:`.numerics.highs_wide_options` of the equilibrated program on ``h`` (each
    unless ``options.extra`` sets it)."""
    for key, value in highs_wide_options(sc.program).items():
        if key not in options.extra:
            h.setOptionValue(key, value)


def option_unit(key: str) -> str:
    """Unit of a solver option for error messages: ``"s"`` for a time limit (HiGHS's and
    Clarabel's ``time_limit``, SCS's ``time_limit_secs``), else ``"-"``."""
    return "s" if key.startswith("time_limit") else "-"


def _checked_value(h: Any, key: str, value: Any, highspy: Any) -> Any:
    """``value`` converted to the type of the HiGHS option ``key`` (bool, int, float or str);
    a ValidationError naming ``extra[key]``, its unit and the value for another type (a list
    or None reached highspy's ``setOptionValue`` as a raw TypeError) or NaN (HiGHS accepted
    NaN for every double option, e.g. ``time_limit``, which then also replaced
    ``SolveOptions.time_limit``; ``+inf`` stays allowed: HiGHS's own "no limit")."""
    from aigc_opt.validate import check_bool, check_int, to_number

    name, unit = f"extra[{key!r}]", option_unit(key)
    kind = h.getOptionType(key)[1]
    if kind == highspy.HighsOptionType.kBool:
        return check_bool(name, value)
    if kind == highspy.HighsOptionType.kInt:
        return check_int(name, value, unit, -(2**31), 2**31 - 1)  # HiGHS's int is 32-bit
    if kind == highspy.HighsOptionType.kDouble:  # +-inf are HiGHS's "none" (objective_target)
        v = float(to_number(name, unit, value))
        if math.isnan(v):
            raise ValidationError(name, unit, value, f"NaN is not allowed for HiGHS option "
                                  f"{key!r}: give a number")
        return v
    if not isinstance(value, str):
        raise ValidationError(name, unit, value, f"HiGHS option {key!r} takes a string, "
                              f"not a {type(value).__name__}")
    return value


def set_extra_options(h: Any, extra: Any, highspy: Any) -> None:
    """Pass ``extra`` HiGHS options; an unknown name, a value of the wrong type, NaN or a
    value HiGHS rejects is a ValidationError (never silently ignored, never a raw TypeError).
    ``presolve="off"`` also switches the feasibility-jump heuristic
    off unless ``extra`` sets it (:func:`.numerics.presolve_off_options`: with presolve off it
    segfaults in HiGHS 1.15-1.16)."""
    known = [a for a in dir(h.getOptions()) if not a.startswith("_")]
    if extra.get("presolve") == "off":
        extra = {**presolve_off_options(True), **extra}
    for key, value in extra.items():
        if key not in known:
            raise UnknownNameError("HiGHS option", key, known)
        value = _checked_value(h, key, value, highspy)
        if key == "threads":
            use_threads(value)  # the scheduler must match (see use_threads)
        if h.setOptionValue(key, value) == highspy.HighsStatus.kError:
            raise ValidationError(f"extra[{key!r}]", option_unit(key), value,
                                  "rejected by HiGHS (not a value the option takes)")


def check_extra_options(extra: Any) -> None:
    """Validate ``extra`` as HiGHS options (:func:`set_extra_options` on a throwaway
    ``Highs``), for callers that reach HiGHS only on some paths or through another layer
    (CVXPY's HiGHS interface, a method's late MILP): the same extras are then refused on
    every path and before any work. Nothing to check, no ``Highs`` is made."""
    if not extra:
        return
    import highspy

    set_extra_options(new_highs(), extra, highspy)


def configured_highs(options: SolveOptions, *, mip_gap: float | None = None) -> Any:
    """A banner-free ``highspy.Highs`` (:func:`new_highs`) with the :class:`SolveOptions`
    applied: ``time_limit`` (s), ``mip_rel_gap`` (``options.mip_gap``, else ``mip_gap`` when
    given, else :data:`aigc_opt.backend.DEFAULT_MIP_GAP`), ``threads`` and the validated
    ``extra`` HiGHS options (:func:`set_extra_options`).
    The one place every HiGHS caller (the backend, warm starts, MIP-started methods) turns
    options into HiGHS settings."""
    import highspy

    h = new_highs(options.verbose)
    if options.time_limit is not None:
        h.setOptionValue("time_limit", float(options.time_limit))
    gap = options.mip_gap if options.mip_gap is not None else mip_gap
    h.setOptionValue("mip_rel_gap", float(DEFAULT_MIP_GAP if gap is None else gap))
    use_threads(options.threads, h)
    set_extra_options(h, options.extra, highspy)
    return h


def _status_name(status: Any) -> str:
    return str(status).split(".")[-1]


def _model_cost(h: Any, x: np.ndarray) -> float:
    """``offset + c x`` of the model ``h`` holds."""
    lp = h.getLp()
    return float(lp.offset_ + np.asarray(lp.col_cost_, dtype=np.float64) @ x)


def reports_its_solution(h: Any, rtol: float = 1e-6) -> bool:
    """Whether the objective HiGHS reports is the cost of the solution it returns (``True``
    without one). HiGHS 1.16's presolve, with a MIP start, has returned the start as optimal
    under another objective: callers then solve again without presolve."""
    info = h.getInfo()
    if int(info.primal_solution_status) != 2:
        return True
    val = _model_cost(h, np.asarray(h.getSolution().col_value, dtype=np.float64))
    return abs(val - float(info.objective_function_value)) <= rtol * max(1.0, abs(val))


def run_started(h: Any, start: np.ndarray, cols: np.ndarray | None = None) -> bool:
    """Run ``h`` from the MIP start ``start`` (values of the columns ``cols``, default every
    column, in the units of the model ``h`` holds); returns whether it ran again without
    presolve.

    HiGHS 1.16's presolve values a MIP start in its reduced space without the offset of the
    columns it removed: on an offline migration MILP it took a start at -6.37 (truly -2.22),
    on a slot MILP at -6,370.8 (truly 17,304.6), and returned the start as 'optimal' with that
    value as objective and bound (the slot optimum is 11,886.0). Such a run is recognised by
    an objective that is not its solution's cost (:func:`reports_its_solution`), or, for a
    full start, by an 'optimal' answer at the start's own cost (a start that is optimal is
    then merely proved again), and is repeated with presolve off (restored afterwards) in
    what is left of the time limit."""
    import highspy

    x0 = np.asarray(start, dtype=np.float64)
    full = cols is None
    idx = np.arange(x0.size, dtype=np.int32) if full else np.asarray(cols, dtype=np.int32)
    h.setSolution(idx.size, idx, x0)
    t0 = time.perf_counter()
    run(h)
    opts = h.getOptions()
    if opts.presolve == "off" or int(h.getInfo().primal_solution_status) != 2:
        return False
    reported = float(h.getInfo().objective_function_value)
    at_start = full and h.getModelStatus() == highspy.HighsModelStatus.kOptimal and \
        abs(reported - _model_cost(h, x0)) <= 1e-9 * max(1.0, abs(reported))
    if reports_its_solution(h) and not at_start:
        return False
    logger.info("HiGHS: a MIP start taken as optimal by presolve; again without presolve")
    before, limit = opts.presolve, float(opts.time_limit)
    jump = bool(opts.mip_heuristic_run_feasibility_jump)
    presolve_off(h)
    h.setOptionValue("time_limit", max(limit - (time.perf_counter() - t0), 1e-3))
    h.setSolution(idx.size, idx, x0)
    run(h)
    h.setOptionValue("presolve", before)
    h.setOptionValue("mip_heuristic_run_feasibility_jump", jump)
    h.setOptionValue("time_limit", limit)
    return True


def presolve_off(h: Any) -> None:
    """Switch ``h``'s presolve off the safe way (:func:`.numerics.presolve_off_options`: with
    the feasibility-jump heuristic, which segfaults without presolve in HiGHS 1.15-1.16)."""
    for key, value in presolve_off_options(True).items():
        h.setOptionValue(key, value)


def _set_time_left(h: Any, options: SolveOptions, t0: float) -> None:
    """HiGHS's time limit: what is left of ``options.time_limit`` since ``t0`` (unless
    ``options.extra`` sets ``time_limit`` itself)."""
    left = options.left(t0)
    if left is not None and "time_limit" not in options.extra:
        h.setOptionValue("time_limit", left)


class HighsBackend:
    """Solve a :class:`LinearProgram` with highspy (LP, MILP, QP)."""

    name: str = "highs"
    kinds: frozenset[ProgramKind] = frozenset({ProgramKind.LP, ProgramKind.MILP, ProgramKind.QP})
    requires: tuple[str, ...] = ("highspy",)

    def solve(self, program: LinearProgram, options: SolveOptions) -> Result:
        """Solve ``program``; limits and infeasibility are statuses, not exceptions."""
        return self.solve_from(program, options)

    def solve_from(self, program: LinearProgram, options: SolveOptions,
                   start: np.ndarray | None = None) -> Result:
        """:meth:`solve` with an optional MIP start ``start`` (a full column vector in the
        program's own units; it is scaled with the columns)."""
        import highspy

        if not isinstance(program, LinearProgram):
            raise TypeError("the highs backend takes a LinearProgram")
        check_capability(self, program.kind)
        t0 = time.perf_counter()
        unusable = unusable_result(self.name, program, t0)
        if unusable is not None:
            return unusable
        if program.n_cols == 0:
            return empty_program_result(self.name, program, time.perf_counter() - t0)
        sc = equilibrate(program)
        why = unreachable_row(sc.program)
        if why is not None:  # HiGHS would refuse the model: the bounds prove infeasibility
            return Result(Termination.INFEASIBLE, False, gap=math.inf, message=why,
                          stats=SolveStats(self.name, solve_seconds=time.perf_counter() - t0))
        h = configured_highs(options)
        wide_range_tolerances(h, sc, options)
        try:
            self._pass(h, sc.program, highspy)
            _set_time_left(h, options, t0)  # equilibration and passing the model count
            if start is None:
                run(h)
            else:  # see run_started: HiGHS's presolve can take a start as optimal
                run_started(h, np.asarray(start, dtype=np.float64) / sc.col_scale)
        except Exception as exc:  # a solver crash becomes a status
            logger.exception("HiGHS failed on %s", program.name)
            return Result(
                Termination.ERROR,
                False,
                message=str(exc),
                stats=SolveStats(self.name, solve_seconds=time.perf_counter() - t0),
            )
        res = self._result(h, program, highspy, time.perf_counter() - t0, sc)
        if not (program.integrality.any() and res.termination is Termination.OPTIMAL
                and options.mip_gap is None and "mip_abs_gap" not in options.extra
                and "time_limit" not in options.extra  # a second solve would get it again
                and res.gap > DEFAULT_MIP_GAP and options.left(t0, floor=0.0) != 0.0):
            return range_checked(res, sc)
        # HiGHS also stops at its absolute gap, 1e-6 in the equilibrated objective's units:
        # an optimum small against the terms then ends far above DEFAULT_MIP_GAP (lifecycle
        # medical, demand x 1e-6: 4.25095e-5 at a gap of 4.9e-5, optimum 4.25077e-5)
        abs_gap = max(1e-14, DEFAULT_MIP_GAP * abs(res.objective) / sc.obj_scale)
        logger.info("HiGHS ended at its absolute gap (relative %.3g): solving again with "
                    "mip_abs_gap %.3g", res.gap, abs_gap)
        try:
            h.setOptionValue("mip_abs_gap", abs_gap)
            _set_time_left(h, options, t0)
            run(h)
        except Exception:  # the first answer stands
            logger.exception("HiGHS failed on the second solve of %s", program.name)
            return range_checked(res, sc)
        again = self._result(h, program, highspy, time.perf_counter() - t0, sc)
        if again.termination is not Termination.OPTIMAL:
            return range_checked(res, sc)
        return range_checked(dataclasses.replace(
            again, message=f"{again.message}; solved again at mip_abs_gap {abs_gap:.3g} "
            f"(first gap {res.gap:.3g})"), sc)

    def iis(self, program: LinearProgram) -> np.ndarray | None:
        """Rows of an infeasible subset of the LP relaxation of ``program`` (not necessarily
        irreducible), or None when the relaxation is not proven infeasible (used by
        :mod:`aigc_opt.explain`, which reduces the set to an IIS).

        The support of the dual (Farkas) ray of the simplex, presolve off, is such a set and
        costs one LP solve; without a ray, HiGHS ``getIis`` with the elasticity filter
        (``kIisStrategyFromLp``; HiGHS's own reduction to an irreducible set solves one LP per
        row, minutes at 10,000 rows, so it is not asked for).
        """
        import highspy

        h = new_highs()
        h.setOptionValue("presolve", "off")
        if hasattr(highspy, "IisStrategy"):
            h.setOptionValue("iis_strategy", int(highspy.IisStrategy.kIisStrategyFromLp))
        self._pass(h, program.relaxed(), highspy)
        run(h)
        if _status_name(h.getModelStatus()) != "kInfeasible":
            return None
        try:
            _, has_ray, ray = h.getDualRay()
            ray = np.abs(np.asarray(ray, dtype=np.float64))
            if has_ray and ray.size == program.n_rows and ray.max(initial=0.0) > 0:
                return np.nonzero(ray > 1e-9 * ray.max())[0].astype(np.int64)
        except (TypeError, ValueError):  # another highspy signature: use getIis
            logger.debug("no dual ray", exc_info=True)
        if not hasattr(h, "getIis"):
            return None
        status, iis = h.getIis()
        if status == highspy.HighsStatus.kError or not iis.valid_:
            return None
        return np.asarray(iis.row_index_, dtype=np.int64)

    @staticmethod
    def _pass(h: Any, lp: LinearProgram, highspy: Any) -> None:
        A = lp.A.tocsc()  # HiGHS prefers column-wise storage
        integ = lp.integrality.astype(np.int32)  # kContinuous = 0, kInteger = 1
        sense = highspy.ObjSense.kMaximize if lp.sense is Sense.MAX else highspy.ObjSense.kMinimize
        status = h.passModel(
            lp.n_cols,
            lp.n_rows,
            int(A.nnz),
            int(highspy.MatrixFormat.kColwise),
            int(sense),
            float(lp.offset),
            lp.c,
            lp.col_lower,
            lp.col_upper,
            lp.row_lower,
            lp.row_upper,
            A.indptr.astype(np.int32),
            A.indices.astype(np.int32),
            A.data,
            integ,
        )
        if status == highspy.HighsStatus.kError:
            raise ValueError(f"HiGHS rejected the model {lp.name!r}")
        if lp.Q is not None and lp.Q.nnz:
            import scipy.sparse as sp

            # HiGHS stores the lower triangle, column-wise.
            tri = sp.tril(lp.Q, format="csc")
            tri.sort_indices()
            h.passHessian(
                lp.n_cols,
                int(tri.nnz),
                int(highspy.HessianFormat.kTriangular),
                tri.indptr.astype(np.int32),
                tri.indices.astype(np.int32),
                tri.data,
            )

    def _result(self, h: Any, lp: LinearProgram, highspy: Any, seconds: float,
                sc: Scaled | None = None) -> Result:
        status = _status_name(h.getModelStatus())
        info = h.getInfo()
        has_sol = int(info.primal_solution_status) == 2  # kSolutionStatusFeasible
        with_sol, without = CONDITION_MAP.get(status, (Termination.ERROR, Termination.ERROR))
        term = with_sol if has_sol else without
        if term is Termination.OPTIMAL and lp.n_cols and not has_sol:
            term = Termination.ERROR
        objective = math.nan
        values: dict[str, np.ndarray] = {}
        x = np.zeros(lp.n_cols)
        if has_sol or (term is Termination.OPTIMAL and lp.n_cols == 0):
            x = np.asarray(h.getSolution().col_value, dtype=np.float64)
            if x.shape[0] != lp.n_cols:
                x = np.zeros(lp.n_cols)
            values, bad = solution_point(lp, sc, x, status, SolveStats(
                self.name, solve_seconds=seconds, extra={"native_status": status}))
            if bad is not None:
                return bad
            objective = lp.objective_value(values["x"])
            has_sol = True
        mip = bool(lp.integrality.any())
        if mip:
            bound = float(info.mip_dual_bound) * (sc.obj_scale if sc is not None else 1.0)
            nodes = int(info.mip_node_count)
        else:
            bound = objective if term is Termination.OPTIMAL else math.nan
            nodes = -1
        gap = 0.0 if term is Termination.OPTIMAL and not mip else relative_gap(objective, bound)
        if not has_sol:
            gap = math.inf
        elif mip and term is Termination.FEASIBLE and status == "kTimeLimit" \
                and gap <= OPTIMAL_GAP:  # asked for 1e-6 (DEFAULT_MIP_GAP), proven within 1e-4
            term, status = Termination.OPTIMAL, f"{status}; gap {gap:.3g} within {OPTIMAL_GAP:g}"
        stats = SolveStats(
            self.name,
            solve_seconds=seconds,
            iterations=int(info.simplex_iteration_count) + int(info.ipm_iteration_count),
            nodes=nodes,
            extra={"native_status": status},
        )
        return Result(
            term,
            has_sol,
            objective=objective,
            bound=bound,
            gap=gap,
            values=values,
            stats=stats,
            message=status,
        )
