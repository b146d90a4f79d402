"""CVXPY backend: solves a LinearProgram (rebuilt as vectorised CVXPY expressions) or a native
:class:`~aigc_opt.program.ConvexProgram`.

The CVXPY solver is chosen with ``SolveOptions(extra={"solver": "CLARABEL"})``; defaults are
HIGHS for programs with integer variables and CLARABEL otherwise (an interior-point method,
independent of HiGHS, which makes it a real cross-check for LPs and QPs). Other ``extra`` keys are
passed to ``Problem.solve``.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np

from aigc_opt.backend import SolveOptions, check_capability
from aigc_opt.program import ConvexProgram, LinearProgram, ProgramKind, Sense
from aigc_opt.result import Result, SolveStats, Termination, relative_gap

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

#: How each CVXPY solver spells the common options.
_TIME_KEY = {"HIGHS": "time_limit", "CLARABEL": "time_limit", "SCS": "time_limit_secs"}
_GAP_KEY = {"HIGHS": "mip_rel_gap"}


def _solver_kwargs(solver: str, options: SolveOptions) -> dict[str, Any]:
    kw: dict[str, Any] = {k: v for k, v in options.extra.items() if k != "solver"}
    if options.time_limit is not None and solver in _TIME_KEY:
        kw.setdefault(_TIME_KEY[solver], float(options.time_limit))
    if options.mip_gap is not None and solver in _GAP_KEY:
        kw.setdefault(_GAP_KEY[solver], float(options.mip_gap))
    if options.threads is not None and solver == "HIGHS":
        kw.setdefault("threads", int(options.threads))
    return kw


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


class CvxpyBackend:
    """Solve a LinearProgram or ConvexProgram through CVXPY (LP, MILP, QP, conic)."""

    name: str = "cvxpy"
    kinds: frozenset[ProgramKind] = frozenset(
        {ProgramKind.LP, ProgramKind.MILP, ProgramKind.QP, ProgramKind.CONIC}
    )
    requires: tuple[str, ...] = ("cvxpy",)

    def solve(self, program: LinearProgram | ConvexProgram, options: SolveOptions) -> Result:
        """Solve; statuses map through :data:`CONDITION_MAP`."""
        import cvxpy as cp

        check_capability(self, program.kind)
        t0 = time.perf_counter()
        integer = program.kind in (ProgramKind.MILP, ProgramKind.MIQP, ProgramKind.MICONIC)
        solver = str(options.extra.get("solver", "HIGHS" if integer else "CLARABEL")).upper()
        if isinstance(program, LinearProgram):
            problem, x = _linear_problem(program)
        else:
            problem, x = program.problem, None
        try:
            problem.solve(solver=solver, verbose=options.verbose,
                          **_solver_kwargs(solver, options))
            status = str(problem.status)
        except cp.error.SolverError as exc:
            logger.warning("CVXPY/%s failed on %s: %s", solver, program.name, exc)
            return Result(Termination.ERROR, False, message=f"{solver}: {exc}",
                          stats=SolveStats(self.name, solve_seconds=time.perf_counter() - t0))
        seconds = time.perf_counter() - t0
        term, has_sol = CONDITION_MAP.get(status, (Termination.ERROR, False))
        values: dict[str, np.ndarray] = {}
        objective = math.nan
        if has_sol:
            if isinstance(program, LinearProgram):
                xv = np.asarray(x.value, dtype=np.float64).reshape(-1)
                xv = np.where(program.integrality, np.round(xv), xv)
                values = {b.name: b.take(xv).copy() for b in program.blocks}
                values["x"] = xv
                objective = program.objective_value(xv)
            else:
                values = {k: np.array(v.value, dtype=np.float64)
                          for k, v in program.variables.items()}
                objective = float(problem.value)
        bound, nodes = self._bound(problem, term, objective, integer)
        gap = relative_gap(objective, bound) if has_sol else math.inf
        st = problem.solver_stats
        stats = SolveStats(
            self.name,
            solve_seconds=seconds,
            iterations=int(st.num_iters) if st is not None and st.num_iters is not None else -1,
            nodes=nodes,
            extra={"native_status": status, "solver": solver},
        )
        return Result(term, has_sol, objective=objective, bound=bound, gap=gap,
                      values=values, stats=stats, message=f"{solver}: {status}")

    @staticmethod
    def _bound(problem: Any, term: Termination, objective: float, integer: bool
               ) -> tuple[float, int]:
        """Dual bound and node count (read from HiGHS's info for MIPs when available)."""
        import cvxpy as cp

        info = getattr(problem.solver_stats, "extra_stats", None) if problem.solver_stats else None
        if integer and info is not None and hasattr(info, "mip_dual_bound"):
            # HiGHS sees CVXPY's internal form: constants dropped, maximisation negated.
            sign = -1.0 if isinstance(problem.objective, cp.Maximize) else 1.0
            internal = float(info.objective_function_value)
            shift = objective - sign * internal if math.isfinite(objective) else 0.0
            return sign * float(info.mip_dual_bound) + shift, int(info.mip_node_count)
        if term is Termination.OPTIMAL and not integer:
            return objective, -1
        return math.nan, -1
