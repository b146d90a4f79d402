"""CVXPY backend: solves a LinearProgram (rebuilt as vectorised CVXPY expressions) or a native
:class:`~aigc_opt.program.ConvexProgram`.

The CVXPY solver is chosen with ``SolveOptions(extra={"solver": "CLARABEL"})``; defaults are
HIGHS for LPs and MILPs (a simplex vertex: an interior-point LP solution was up to 1.7e-5
relative off on partial offloading, and ``1e-12`` off in a variable whose coefficient is
``1e20``, issue 11; the independent LP/MILP cross-check is the ``scip`` backend) and CLARABEL
for QPs and conic programs (an interior-point method; for QPs with tightened tolerances,
:data:`CLARABEL_LP_TOLERANCES`). Other ``extra`` keys are the solver's options, passed to
``Problem.solve`` after :func:`check_extra` (CLARABEL's and HiGHS's are checked by name, type
and range; ``extra["verbose"]`` is refused: the log is ``SolveOptions.verbose``).

LinearPrograms are rebuilt from their power-of-two equilibrated copy
(:mod:`aigc_opt.solvers.numerics`). Statuses: ``optimal_inaccurate`` is ``feasible`` (a solution
without an optimality proof, the solver's status in the message); CVXPY errors (``SolverError``,
"Cannot unpack invalid solution", "Problem data contains NaN or Inf") are ``error`` statuses
with the message, never exceptions.
"""

from __future__ import annotations

import functools
import logging
import math
import time
import warnings
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from aigc_opt.backend import DEFAULT_MIP_GAP, SolveOptions, check_capability
from aigc_opt.errors import UnknownNameError, ValidationError
from aigc_opt.program import ConvexProgram, LinearProgram, ProgramKind, Sense
from aigc_opt.result import Result, SolveStats, Termination, relative_gap

from .highs import option_unit
from .numerics import (
    Scaled,
    empty_program_result,
    equilibrate,
    highs_wide_options,
    nonfinite_message,
    range_checked,
    solution_point,
)

logger = logging.getLogger(__name__)

#: CVXPY status -> (termination, solution present)
CONDITION_MAP: dict[str, tuple[Termination, bool]] = {
    "optimal": (Termination.OPTIMAL, True),
    "optimal_inaccurate": (Termination.FEASIBLE, True),
    "infeasible": (Termination.INFEASIBLE, False),
    "infeasible_inaccurate": (Termination.INFEASIBLE, False),
    "unbounded": (Termination.UNBOUNDED, False),
    "unbounded_inaccurate": (Termination.UNBOUNDED, False),
    "infeasible_or_unbounded": (Termination.INFEASIBLE_OR_UNBOUNDED, False),
    "user_limit": (Termination.LIMIT, False),
    "solver_error": (Termination.ERROR, False),
}

#: Statuses of a fallback solver that are accepted (their solution goes to the referee). Not
#: ``optimal_inaccurate``: SCS's such points on joint bandwidth-power allocations (gains x1e6)
#: broke the power caps by 1e294 (nine certify_bench cases, seed 78).
_SOLVED = ("optimal",)

#: How each CVXPY solver spells the common options.
_TIME_KEY = {"HIGHS": "time_limit", "CLARABEL": "time_limit", "SCS": "time_limit_secs"}
_GAP_KEY = {"HIGHS": "mip_rel_gap"}


#: Clarabel settings for LinearPrograms (LP/QP): an interior-point method stops at 1e-8 relative
#: gap and feasibility by default, which left partial-offloading optima 1.7e-5 off (issue 11);
#: on the equilibrated LP these tighter settings return vertex-accurate solutions.
CLARABEL_LP_TOLERANCES: dict[str, float] = {
    "tol_gap_abs": 1e-11, "tol_gap_rel": 1e-11, "tol_feas": 1e-11, "tol_ktratio": 1e-9,
}


def solve_quietly(problem: Any, **kwargs: Any) -> None:
    """``problem.solve(**kwargs)`` without CVXPY's "Solution may be inaccurate" warning: the
    caller reads ``problem.status`` (``optimal_inaccurate``) and reports it in its Result."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Solution may be inaccurate")
        problem.solve(**kwargs)


def _solver_kwargs(solver: str, options: SolveOptions, linear: bool = False,
                   model: Any = None, t0: float | None = None) -> dict[str, Any]:
    """``Problem.solve`` keywords: ``options.extra``, then the model's own settings for
    ``solver`` (``meta["solver_settings"]`` of a ConvexProgram), then the defaults. The time
    limit is what is left of ``options.time_limit`` since ``t0`` (the backend's setup counts;
    CVXPY's own compilation inside ``solve`` still comes on top)."""
    kw: dict[str, Any] = {k: v for k, v in options.extra.items() if k != "solver"}
    for k, v in dict((model or {}).get(solver, {})).items():
        kw.setdefault(k, v)
    if linear and solver == "CLARABEL":
        for k, v in CLARABEL_LP_TOLERANCES.items():
            kw.setdefault(k, v)
    if options.time_limit is not None and solver in _TIME_KEY:
        left = options.left(t0) if t0 is not None else options.time_limit
        kw.setdefault(_TIME_KEY[solver], float(left or options.time_limit))
    if solver in _GAP_KEY:
        kw.setdefault(_GAP_KEY[solver], float(
            DEFAULT_MIP_GAP if options.mip_gap is None else options.mip_gap))
    if options.threads is not None and solver == "HIGHS":
        kw.setdefault("threads", int(options.threads))
    if solver == "HIGHS":
        from .highs import use_threads

        use_threads(kw.get("threads"))  # HiGHS's process-wide scheduler must match the count
    return kw


def attempt(problem: Any, solver: str, verbose: bool, kw: dict[str, Any]) -> str | None:
    """Solve; ``None`` when CVXPY returned a status other than ``solver_error``, else what
    failed (SolverError, "Cannot unpack invalid solution", "Problem data contains NaN or Inf",
    a DCPError from NaN coefficients, an option a pass-through solver rejects -- SCS's
    TypeError for an unknown keyword or a string value, SCIP's KeyError for an unknown
    parameter -- or the status)."""
    import cvxpy as cp

    try:
        solve_quietly(problem, solver=solver, verbose=verbose, **kw)
    except (cp.error.SolverError, cp.error.DCPError, ValueError, ArithmeticError, TypeError,
            KeyError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return "solver_error" if str(problem.status) == "solver_error" else None


def _fallback(problem: Any, options: SolveOptions, model: Any, t0: float
              ) -> tuple[str, str | None] | None:
    """Retry a conic program the default solver (CLARABEL) failed on with
    :data:`aigc_opt.explain_convex.CONVEX_FALLBACKS` (SCS at 1e-9) in the time left:
    ``(solver, None)`` when it returned a status, ``(solver, what failed)`` when it failed
    too, ``None`` when no fallback is installed or no time is left. Clarabel failed this way
    on well-posed power allocations (channel gains x1e6: SNR coefficients near 1e12). The
    fallback gets the model's settings for it and the time limit, never ``options.extra``:
    those are CLARABEL's options (SCS raised a TypeError on ``max_iter``)."""
    import cvxpy as cp

    from aigc_opt.explain_convex import CONVEX_FALLBACKS

    have = set(cp.installed_solvers())
    if options.time_limit is not None and time.perf_counter() - t0 >= options.time_limit:
        return None
    for name, settings in CONVEX_FALLBACKS:
        if name not in have:
            continue
        kw = _solver_kwargs(name, replace(options, extra={}), False, model, t0=t0)
        for k, v in settings.items():
            kw.setdefault(k, v)
        return name, attempt(problem, name, options.verbose, kw)
    return None


def _linear_problem(lp: LinearProgram) -> tuple[Any, Any]:
    """Vectorised CVXPY model of ``lp``; returns (problem, x expression)."""
    import cvxpy as cp
    import scipy.sparse as sp

    n = lp.n_cols
    integer = lp.integrality
    ci, ic = np.nonzero(~integer)[0], np.nonzero(integer)[0]
    parts, cons = [], []
    # x = Pc xc + Pi xi  (CVXPY cannot mark only some entries of one variable integer)
    x: Any = 0
    for idx, is_int in ((ci, False), (ic, True)):
        if idx.size == 0:
            continue
        v = cp.Variable(idx.size, integer=is_int)
        P = sp.csr_matrix((np.ones(idx.size), (idx, np.arange(idx.size))), shape=(n, idx.size))
        x = x + P @ v
        parts.append(v)
    if not parts:
        x = cp.Constant(np.zeros(n))
    lo, up = lp.col_lower, lp.col_upper
    if np.isfinite(lo).any():
        f = np.isfinite(lo)
        cons.append(x[np.nonzero(f)[0]] >= lo[f])
    if np.isfinite(up).any():
        f = np.isfinite(up)
        cons.append(x[np.nonzero(f)[0]] <= up[f])
    if lp.n_rows:
        eq = lp.row_lower == lp.row_upper
        lo_f = np.isfinite(lp.row_lower) & ~eq
        up_f = np.isfinite(lp.row_upper) & ~eq
        if eq.any():
            cons.append(lp.A[np.nonzero(eq)[0]] @ x == lp.row_lower[eq])
        if lo_f.any():
            cons.append(lp.A[np.nonzero(lo_f)[0]] @ x >= lp.row_lower[lo_f])
        if up_f.any():
            cons.append(lp.A[np.nonzero(up_f)[0]] @ x <= lp.row_upper[up_f])
    obj = lp.c @ x + lp.offset
    if lp.Q is not None and lp.Q.nnz:
        obj = obj + 0.5 * cp.quad_form(x, cp.psd_wrap(lp.Q))
    sense = cp.Maximize if lp.sense is Sense.MAX else cp.Minimize
    return cp.Problem(sense(obj), cons), x


@functools.cache
def _known_names() -> tuple[tuple[str, ...], dict[str, Any]]:
    """The installed CVXPY solvers and CLARABEL's settings with their defaults (read once:
    1.2 ms a call, against the explanations' many small solves)."""
    import clarabel
    import cvxpy as cp

    defaults = clarabel.DefaultSettings()
    return (tuple(cp.installed_solvers()),
            {k: getattr(defaults, k) for k in dir(defaults)
             if not k.startswith("_") and not callable(getattr(defaults, k))})


#: CLARABEL float settings whose range is not the default ``[0, finite)``:
#: (lower bound, lower bound excluded, upper bound or None, +inf allowed). ``time_limit`` is
#: in seconds (inf: none); the step lengths and fractions are in (0, 1]; the scaling bounds
#: are factors > 0.
_CLARABEL_RANGES: dict[str, tuple[float, bool, float | None, bool]] = {
    "time_limit": (0.0, False, None, True),
    "max_step_fraction": (0.0, True, 1.0, False),
    "linesearch_backtrack_step": (0.0, True, 1.0, False),
    "min_switch_step_length": (0.0, True, 1.0, False),
    "min_terminate_step_length": (0.0, True, 1.0, False),
    "equilibrate_min_scaling": (0.0, True, None, False),
    "equilibrate_max_scaling": (0.0, True, None, False),
}
#: Keys of ``extra`` that CVXPY's HiGHS interface reads itself (not HiGHS options).
_CVXPY_HIGHS_KEYS = ("write_model_file", "highs_options")


def _check_clarabel_value(key: str, value: Any, default: Any) -> None:
    """One CLARABEL setting, by the type of its default (``clarabel.DefaultSettings()``):
    a bool; an int in ``[0, 2**32)`` (Clarabel's ``u32``: iteration counts, 0 threads = all);
    a real number, not NaN, finite and ``>= 0`` unless :data:`_CLARABEL_RANGES` says
    otherwise; a string or a list as Clarabel takes it (checked when set, below)."""
    from aigc_opt.validate import check_bool, check_scalar

    name, unit = f"extra[{key!r}]", option_unit(key)
    if isinstance(default, bool):
        check_bool(name, value)
    elif isinstance(default, int):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise ValidationError(name, unit, value, f"CLARABEL setting {key!r} takes an "
                                  f"integer in [0, 2**32), not a {type(value).__name__}")
        if not 0 <= int(value) < 2**32:
            raise ValidationError(name, unit, value, f"out of range: CLARABEL setting {key!r} "
                                  "takes an integer in [0, 2**32)")
    elif isinstance(default, float):
        lo, strict, hi, allow_inf = _CLARABEL_RANGES.get(key, (0.0, False, None, False))
        check_scalar(name, value, unit, lo, hi, strict=strict, allow_inf=allow_inf)
    elif isinstance(default, str) and not isinstance(value, str):
        raise ValidationError(name, unit, value, f"CLARABEL setting {key!r} takes a string, "
                              f"not a {type(value).__name__}")


def _check_clarabel(extra: Any, defaults: dict[str, Any]) -> None:
    """Every CLARABEL option of ``extra``: its name, its value by type and range
    (:func:`_check_clarabel_value`), then set on a ``clarabel.DefaultSettings`` and, for a
    string, on a one-variable solver, so that Clarabel's own refusals (a list of the wrong
    length, a string it does not know) are ValidationErrors in its words before CVXPY runs.
    Unchecked, a wrong type was a raw TypeError from CVXPY, NaN or a negative tolerance was
    accepted, and ``max_iter=-1`` failed CLARABEL and then the SCS fallback."""
    import clarabel
    import scipy.sparse as sp

    settings, strings = clarabel.DefaultSettings(), False
    settings.verbose = False
    for key, value in extra.items():
        if key == "solver":
            continue
        if key not in defaults:
            raise UnknownNameError("CLARABEL option", key, tuple(defaults))
        _check_clarabel_value(key, value, defaults[key])
        strings = strings or isinstance(value, str)
        try:
            setattr(settings, key, value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValidationError(f"extra[{key!r}]", option_unit(key), value,
                                  f"rejected by CLARABEL: {exc}") from exc
    if strings:
        try:
            clarabel.DefaultSolver(sp.csc_matrix((1, 1)), np.zeros(1), sp.csc_matrix((0, 1)),
                                   np.zeros(0), [], settings)
        except Exception as exc:  # noqa: BLE001 - Clarabel raises a bare Exception here
            key = next(k for k, v in extra.items() if isinstance(v, str) and k != "solver")
            raise ValidationError(f"extra[{key!r}]", "-", extra[key],
                                  f"rejected by CLARABEL: {exc}") from exc


def check_extra(solver: str, extra: Any) -> None:
    """Check ``extra`` for the CVXPY solver ``solver`` before any compilation (the backend
    and every method that calls CVXPY itself use this one check).

    An unknown CVXPY solver or CLARABEL option raises UnknownNameError (as the HiGHS, SCIP
    and Pyomo backends do); ``extra['verbose']`` a ValidationError (the solver log is
    ``SolveOptions.verbose``: both at once were a raw TypeError); a CLARABEL option of the
    wrong type or range, or a HiGHS option HiGHS refuses (:func:`.highs.check_extra_options`,
    the keys CVXPY's HiGHS interface reads itself aside), a ValidationError naming
    ``extra[key]``, its unit and the value. Other solvers' options are passed through as
    given; what they reject is an ``error`` Result carrying their message
    (:func:`attempt`)."""
    installed, clarabel_defaults = _known_names()
    if solver not in installed:
        raise UnknownNameError("CVXPY solver (extra['solver'])", solver, installed)
    if "verbose" in extra:
        raise ValidationError("extra['verbose']", "-", extra["verbose"],
                              "not an extra option: set SolveOptions.verbose (CVXPY's "
                              "verbose argument, the solver's log) instead")
    if solver == "CLARABEL":
        _check_clarabel(extra, clarabel_defaults)
    elif solver == "HIGHS":
        from .highs import check_extra_options

        check_extra_options({k: v for k, v in extra.items()
                             if k != "solver" and k not in _CVXPY_HIGHS_KEYS})
        nested = extra.get("highs_options", {})
        if not isinstance(nested, Mapping):
            raise ValidationError("extra['highs_options']", "-", nested,
                                  "must be a dict of HiGHS options")
        check_extra_options(nested)


def _model_bound(program: ConvexProgram, problem: Any, objective: float, bound: float
                 ) -> float:
    """The bound a model computes from the solver's duals (``meta["dual_bound"]``, a callable
    of the solved problem giving a valid bound in the program's scaled units, e.g. a
    Lagrangian dual function evaluated exactly), clipped to the objective; ``bound``
    unchanged when the model has none or it fails (logged). Without it a conic solve reports
    its objective as the bound: a gap of 0 that its tolerances do not prove."""
    import cvxpy as cp

    fn = program.meta.get("dual_bound")
    if not callable(fn):
        return bound
    try:
        b = float(fn(problem))
    except (ArithmeticError, ValueError, TypeError) as exc:
        logger.warning("dual bound of %s failed: %s", program.name, exc)
        return bound
    if math.isnan(b):
        return bound
    return max(b, objective) if isinstance(problem.objective, cp.Maximize) else min(b, objective)


class CvxpyBackend:
    """Solve a LinearProgram or ConvexProgram through CVXPY (LP, MILP, QP, conic)."""

    name: str = "cvxpy"
    kinds: frozenset[ProgramKind] = frozenset(
        {ProgramKind.LP, ProgramKind.MILP, ProgramKind.QP, ProgramKind.CONIC}
    )
    requires: tuple[str, ...] = ("cvxpy",)
    #: Verification tolerances (objective rtol, relative violation): conic interior-point
    #: solvers return allocations to about 1e-5 relative at their default settings.
    tolerances: tuple[float, float] = (1e-5, 1e-5)

    def solve(self, program: LinearProgram | ConvexProgram, options: SolveOptions) -> Result:
        """Solve; statuses map through :data:`CONDITION_MAP`."""
        check_capability(self, program.kind)
        t0 = time.perf_counter()
        integer = program.kind in (ProgramKind.MILP, ProgramKind.MIQP, ProgramKind.MICONIC)
        vertex = integer or program.kind is ProgramKind.LP
        solver = str(options.extra.get("solver", "HIGHS" if vertex else "CLARABEL")).upper()
        check_extra(solver, options.extra)
        if solver == "HIGHS":
            from .highs import new_highs

            new_highs()  # CVXPY's first Highs object would print HiGHS's banner on stdout
        sc = None
        if isinstance(program, LinearProgram):
            bad = nonfinite_message(program)
            if bad is not None:
                return Result(Termination.ERROR, False, gap=math.inf, message=bad,
                              stats=SolveStats(self.name, solve_seconds=time.perf_counter() - t0))
            if program.n_cols == 0:  # CVXPY 1.7.1 cannot even build a 0-vector constant
                return empty_program_result(self.name, program, time.perf_counter() - t0)
            sc = equilibrate(program)
            problem, x = _linear_problem(sc.program)
        else:
            problem, x = program.problem, None
        kw = _solver_kwargs(solver, options, isinstance(program, LinearProgram),
                            program.meta.get("solver_settings"), t0=t0)
        if sc is not None and solver == "HIGHS":  # the HiGHS backend's wide-range settings
            for key, value in highs_wide_options(sc.program).items():
                kw.setdefault(key, value)
        failed = attempt(problem, solver, options.verbose, kw)
        note = ""
        if failed is not None:
            failed = f"{solver}: {failed}"
            if isinstance(program, ConvexProgram) and "solver" not in options.extra:
                retry = _fallback(problem, options, program.meta.get("solver_settings"), t0)
                if retry is not None and retry[1] is None and str(problem.status) in _SOLVED:
                    note, failed, solver = f" (after {failed})", None, retry[0]
                elif retry is not None:  # its other statuses (unbounded_inaccurate on a
                    # bounded power allocation) are not trusted after CLARABEL's failure
                    failed += f"; {retry[0]}: {retry[1] or problem.status}"
        if failed is not None:
            logger.warning("CVXPY failed on %s: %s", program.name, failed)
            return Result(Termination.ERROR, False, gap=math.inf, message=failed,
                          stats=SolveStats(self.name, solve_seconds=time.perf_counter() - t0))
        status = str(problem.status)
        seconds = time.perf_counter() - t0
        term, has_sol = CONDITION_MAP.get(status, (Termination.ERROR, False))
        values: dict[str, np.ndarray] = {}
        objective = math.nan
        scaled_objective = math.nan
        if has_sol:
            try:
                if isinstance(program, LinearProgram):
                    xs = np.asarray(x.value, dtype=np.float64).reshape(-1)
                    if sc is not None:
                        scaled_objective = sc.program.objective_value(xs)
                    values, cut = solution_point(program, sc, xs, status, SolveStats(self.name))
                    if cut is not None:
                        raise ValueError(cut.message.removeprefix(f"{status}: "))
                    if not np.isfinite(values["x"]).all():
                        raise ValueError("non-finite primal values")
                    objective = program.objective_value(values["x"])
                else:
                    values = {k: np.array(v.value, dtype=np.float64)
                              for k, v in program.variables.items()}
                    objective = float(problem.value)
            except (TypeError, ValueError) as exc:  # a status without usable values
                term, has_sol, values, objective = Termination.ERROR, False, {}, math.nan
                status += f" ({exc})"
        if term is Termination.FEASIBLE and status.endswith("inaccurate"):
            logger.info("CVXPY/%s: %s on %s", solver, status, program.name)
        bound, nodes = self._bound(problem, term, objective, integer, sc, scaled_objective)
        if has_sol and isinstance(program, ConvexProgram) and not integer:
            bound = _model_bound(program, problem, objective, bound)
        gap = relative_gap(objective, bound) if has_sol else math.inf
        st = problem.solver_stats
        stats = SolveStats(
            self.name,
            solve_seconds=seconds,
            iterations=int(st.num_iters) if st is not None and st.num_iters is not None else -1,
            nodes=nodes,
            extra={"native_status": status, "solver": solver},
        )
        return range_checked(Result(term, has_sol, objective=objective, bound=bound, gap=gap,
                                    values=values, stats=stats,
                                    message=f"{solver}: {status}{note}"), sc)

    @staticmethod
    def _bound(problem: Any, term: Termination, objective: float, integer: bool,
               sc: Scaled | None = None, scaled_objective: float = math.nan
               ) -> tuple[float, int]:
        """Dual bound and node count (read from HiGHS's info for MIPs when available).

        HiGHS sees CVXPY's internal form of the equilibrated program: constants dropped,
        maximisation negated. The dropped constant is recovered from the *equilibrated*
        program's objective at the solver's point (``scaled_objective``), not from the
        original objective: the equilibrated objective omits terms below ``2^-60`` of the
        largest (:mod:`.numerics`), and taking the shift from the original objective had
        turned HiGHS's dual bound of 0 into a bound equal to the objective, a false gap of 0
        (issue 11, offloading with backhaul x1e-20: "optimal" 41.05 next to a verified 18.25).
        """
        import cvxpy as cp

        info = getattr(problem.solver_stats, "extra_stats", None) if problem.solver_stats else None
        if integer and info is not None and hasattr(info, "mip_dual_bound"):
            # HiGHS sees CVXPY's internal form: constants dropped, maximisation negated.
            sign = -1.0 if isinstance(problem.objective, cp.Maximize) else 1.0
            k = sc.obj_scale if sc is not None else 1.0
            internal = float(info.objective_function_value)
            if sc is not None:
                ref = scaled_objective
            else:
                ref = objective
            shift = ref - sign * internal if math.isfinite(ref) else 0.0
            return (sign * float(info.mip_dual_bound) + shift) * k, int(info.mip_node_count)
        if term is Termination.OPTIMAL and not integer:
            return objective, -1
        return math.nan, -1
