"""Pyomo backend: rebuilds a LinearProgram as a Pyomo ``ConcreteModel`` and solves it through
Pyomo's own solver interfaces (``pyomo.contrib.solver``): HiGHS by default, SCIP (PySCIPOpt) with
``extra={"solver": "scip"}``.

It exists as an independent cross-check of the array path (a different model writer and solver
interface); it is slow (about 12-14 us per nonzero of overhead; `scale_bench build`), so use it on
small and medium instances. The model is built from the power-of-two equilibrated copy of the
program (:mod:`aigc_opt.solvers.numerics`); non-finite data and Pyomo model errors are ``error``
statuses.

Pyomo's solver interfaces redirect the process's stdout and stderr (``capture_output``: file
descriptors 1 and 2 and a reader thread) around every solve, which is process-wide state: two
threads inside it at once deadlocked (found by running every method of every family from four
threads). Pyomo solves are therefore serialised by :data:`_SOLVE_LOCK`; the time spent waiting
for it counts against the caller's time limit.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from aigc_opt.backend import DEFAULT_MIP_GAP, SolveOptions, check_capability
from aigc_opt.errors import BackendUnavailableError, CapabilityError, UnknownNameError
from aigc_opt.program import LinearProgram, ProgramKind, Sense
from aigc_opt.result import Result, SolveStats, Termination, relative_gap

from .highs import highs_wide_options, use_threads
from .numerics import (
    empty_program_result,
    equilibrate,
    range_checked,
    solution_point,
    unusable_result,
)

logger = logging.getLogger(__name__)

#: One Pyomo solve at a time per process: Pyomo redirects file descriptors 1 and 2 around a
#: solve, and concurrent redirections deadlock (see the module docstring).
_SOLVE_LOCK = threading.Lock()

#: Pyomo TerminationCondition name -> (termination with a solution, termination without)
CONDITION_MAP: dict[str, tuple[Termination, Termination]] = {
    "convergenceCriteriaSatisfied": (Termination.OPTIMAL, Termination.ERROR),
    "maxTimeLimit": (Termination.FEASIBLE, Termination.LIMIT),
    "iterationLimit": (Termination.FEASIBLE, Termination.LIMIT),
    "objectiveLimit": (Termination.FEASIBLE, Termination.LIMIT),
    "minStepLength": (Termination.FEASIBLE, Termination.ERROR),
    "interrupted": (Termination.FEASIBLE, Termination.LIMIT),
    "unbounded": (Termination.UNBOUNDED, Termination.UNBOUNDED),
    "provenInfeasible": (Termination.INFEASIBLE, Termination.INFEASIBLE),
    "locallyInfeasible": (Termination.INFEASIBLE, Termination.INFEASIBLE),
    "infeasibleOrUnbounded": (
        Termination.INFEASIBLE_OR_UNBOUNDED,
        Termination.INFEASIBLE_OR_UNBOUNDED,
    ),
    "emptyModel": (Termination.OPTIMAL, Termination.OPTIMAL),
    "error": (Termination.ERROR, Termination.ERROR),
    "licensingProblems": (Termination.ERROR, Termination.ERROR),
    "unknown": (Termination.FEASIBLE, Termination.ERROR),
}


def build_model(lp: LinearProgram) -> tuple[Any, Any]:
    """The Pyomo model of ``lp`` and its indexed variable ``x``."""
    import pyomo.environ as pyo

    m = pyo.ConcreteModel(name=lp.name)
    idx = range(lp.n_cols)
    lo = [None if not math.isfinite(v) else float(v) for v in lp.col_lower]
    up = [None if not math.isfinite(v) else float(v) for v in lp.col_upper]
    integ = lp.integrality
    m.x = pyo.Var(
        idx,
        domain=lambda _m, j: pyo.Integers if integ[j] else pyo.Reals,
        bounds=lambda _m, j: (lo[j], up[j]),
    )
    x = m.x
    A = lp.A
    rl, ru = lp.row_lower, lp.row_upper

    def row_rule(_m: Any, i: int) -> Any:
        s, e = A.indptr[i], A.indptr[i + 1]
        expr = pyo.quicksum(float(v) * x[int(j)] for j, v in zip(A.indices[s:e], A.data[s:e],
                                                                 strict=True))
        if s == e:  # 0 in [rl, ru] here (checked in solve); Feasible is a trivial expression
            return pyo.Constraint.Skip  # that Pyomo's SCIP writer cannot write
        lo_i = float(rl[i]) if math.isfinite(rl[i]) else None
        up_i = float(ru[i]) if math.isfinite(ru[i]) else None
        if lo_i is None and up_i is None:
            return pyo.Constraint.Skip  # a free row
        if lo_i is not None and lo_i == up_i:
            return expr == lo_i
        return (lo_i, expr, up_i)

    m.rows = pyo.Constraint(range(lp.n_rows), rule=row_rule)
    nz = np.nonzero(lp.c)[0]
    obj = pyo.quicksum(float(lp.c[j]) * x[int(j)] for j in nz) + float(lp.offset)
    if lp.Q is not None and lp.Q.nnz:
        Q = lp.Q.tocoo()
        obj = obj + 0.5 * pyo.quicksum(
            float(v) * x[int(i)] * x[int(j)] for i, j, v in zip(Q.row, Q.col, Q.data, strict=True)
        )
    m.obj = pyo.Objective(expr=obj, sense=pyo.maximize if lp.sense is Sense.MAX else pyo.minimize)
    return m, x


#: Solvers the pyomo backend can hand its model to (``extra={"solver": name}``): HiGHS through
#: Pyomo's HiGHS interface (default) or SCIP through Pyomo's PySCIPOpt interface (LP/MILP).
PYOMO_SOLVERS = ("highs", "scip")


def _solver(name: str) -> Any:
    if name == "scip":
        try:
            from pyomo.contrib.solver.solvers.scip.scip_direct import ScipDirect
        except ImportError as exc:  # Pyomo's PySCIPOpt interface came with Pyomo 6.10.1
            import pyomo

            raise BackendUnavailableError(
                f"pyomo solver 'scip' needs Pyomo >= 6.10.1 (installed: {pyomo.__version__}); "
                "upgrade Pyomo or use extra={'solver': 'highs'}") from exc
        return ScipDirect()
    from pyomo.contrib.solver.solvers.highs import Highs

    from .highs import new_highs

    new_highs()  # the first HiGHS object of the process prints a banner: keep it off stdout
    return Highs()


def _check_solver_options(solver: str, extra: dict[str, Any]) -> None:
    """Refuse option names (and, for HiGHS, values) the solver does not know, as the
    ``highs`` and ``scip`` backends do: Pyomo would pass them on and the solver ignore them."""
    if not extra:
        return
    if solver == "highs":
        import highspy

        from .highs import new_highs, set_extra_options

        set_extra_options(new_highs(), extra, highspy)
        return
    import pyscipopt

    known = pyscipopt.Model().getParams()
    for key in extra:
        if key not in known:
            raise UnknownNameError("SCIP option", key, known)


class PyomoBackend:
    """Solve a LinearProgram via a Pyomo model and Pyomo's HiGHS interface (LP, MILP, QP)."""

    name: str = "pyomo"
    kinds: frozenset[ProgramKind] = frozenset({ProgramKind.LP, ProgramKind.MILP, ProgramKind.QP})
    requires: tuple[str, ...] = ("pyomo", "highspy")

    def solve(self, program: LinearProgram, options: SolveOptions) -> Result:
        """Build the Pyomo model, solve with HiGHS, map the status."""
        if not isinstance(program, LinearProgram):
            raise TypeError("the pyomo backend takes a LinearProgram")
        check_capability(self, program.kind)
        extra = dict(options.extra)
        solver = str(extra.pop("solver", "highs")).lower()
        if solver not in PYOMO_SOLVERS:
            raise UnknownNameError("pyomo solver (extra['solver'])", solver, PYOMO_SOLVERS)
        if solver == "scip" and program.Q is not None and program.Q.nnz:
            raise CapabilityError("pyomo with solver 'scip' takes LP/MILP programs, not QP")
        _check_solver_options(solver, extra)
        # Pyomo's one-time import (1-3 s, 4 s on a loaded machine) is not this solve's: at a
        # 2 s limit a 10-user model ended 'limit' ("building the Pyomo model") on a process's
        # first call and solved in 0.1 s on the next
        import pyomo.environ  # noqa: F401

        t0 = time.perf_counter()
        unusable = unusable_result(self.name, program, t0)
        if unusable is not None:
            return unusable
        if program.n_cols == 0:  # Pyomo's HiGHS says "unknown" for a model without columns
            return empty_program_result(self.name, program, time.perf_counter() - t0)
        empty = np.diff(program.A.indptr) == 0
        if (empty & ~((program.row_lower <= 0) & (program.row_upper >= 0))).any():
            return Result(Termination.INFEASIBLE, False, gap=math.inf,
                          message="a row without coefficients excludes 0",
                          stats=SolveStats(self.name, solve_seconds=time.perf_counter() - t0))
        sc = equilibrate(program)
        if solver == "highs":  # the HiGHS backend's wide-range settings
            for key, value in highs_wide_options(sc.program).items():
                extra.setdefault(key, value)
        try:
            model, x = build_model(sc.program)
        except Exception as exc:  # Pyomo refusing the data is a status, not an exception
            logger.warning("pyomo could not build %s: %s", program.name, exc)
            return Result(Termination.ERROR, False, gap=math.inf,
                          message=f"pyomo model: {type(exc).__name__}: {exc}",
                          stats=SolveStats(self.name, solve_seconds=time.perf_counter() - t0))
        t_model = time.perf_counter() - t0
        if options.time_limit is not None and t_model >= options.time_limit:
            # Pyomo's translation to the solver inside solve() takes longer still (40,000
            # requests: 3.5 s build, then 6 s in solve at a 1 s limit): stop here instead
            return Result(Termination.LIMIT, False, gap=math.inf,
                          message=f"time limit reached while building the Pyomo model "
                                  f"({t_model:.2f} s of {options.time_limit:g} s)",
                          stats=SolveStats(self.name, solve_seconds=t_model))
        opt = _solver(solver)
        cfg: dict[str, Any] = {
            "tee": bool(options.verbose),
            "load_solutions": False,
            "raise_exception_on_nonoptimal_result": False,
            "solver_options": extra,
        }
        if options.mip_gap is not None or solver == "highs":
            cfg["rel_gap"] = float(DEFAULT_MIP_GAP if options.mip_gap is None
                                   else options.mip_gap)
        if options.threads is not None:
            cfg["threads"] = int(options.threads)
        with _SOLVE_LOCK:
            if options.time_limit is not None:  # building the model and waiting count too
                if time.perf_counter() - t0 >= options.time_limit:
                    return Result(Termination.LIMIT, False, gap=math.inf,
                                  message="time limit reached before the Pyomo solve started "
                                          "(waiting for another thread's Pyomo solve)",
                                  stats=SolveStats(self.name,
                                                   solve_seconds=time.perf_counter() - t0))
                cfg["time_limit"] = float(options.left(t0) or options.time_limit)
            if solver == "highs":  # HiGHS's process-wide scheduler must match the count
                use_threads(extra.get("threads", options.threads))
            try:
                res = opt.solve(model, **cfg)
            except Exception as exc:  # a solver crash becomes a status
                logger.exception("pyomo/HiGHS failed on %s", program.name)
                return Result(Termination.ERROR, False, message=str(exc),
                              stats=SolveStats(self.name,
                                               solve_seconds=time.perf_counter() - t0))
        seconds = time.perf_counter() - t0
        cond = str(res.termination_condition).split(".")[-1]
        sol_status = str(res.solution_status).split(".")[-1]
        has_sol = sol_status in ("feasible", "optimal")
        with_sol, without = CONDITION_MAP.get(cond, (Termination.ERROR, Termination.ERROR))
        term = with_sol if has_sol else without
        values: dict[str, np.ndarray] = {}
        objective = math.nan
        if has_sol:
            try:
                loader = res.solution_loader
                # Pyomo >= 6.10.1 names it get_vars, 6.10.0 get_primals
                get = getattr(loader, "get_vars", None) or loader.get_primals
                primals = get()
                # a column in no bounded row and not in the objective is not handed to the
                # solver (partial offloading, one user of weight 0 without a deadline): any
                # value in its bounds is optimal
                free = np.clip(0.0, program.col_lower, program.col_upper)
                bounded = np.isfinite(program.row_lower) | np.isfinite(program.row_upper)
                # stored zeros count as absent: Pyomo drops a 0.0 term, so a column whose
                # only entries are stored zeros never reaches the solver either
                a = sp.csc_matrix(program.A)[np.flatnonzero(bounded)]  # a copy
                a.eliminate_zeros()
                idle = (program.c == 0) & (np.diff(a.indptr) == 0)
                if program.Q is not None:
                    q = sp.csc_matrix(program.Q, copy=True)
                    q.eliminate_zeros()
                    idle &= (np.diff(q.indptr) == 0) & (np.diff(q.tocsr().indptr) == 0)
                xv = np.array([primals[x[j]] if x[j] in primals or not idle[j] else free[j]
                               for j in range(program.n_cols)], dtype=np.float64)
            except Exception as exc:  # no readable primal values: a status
                return Result(Termination.ERROR, False, gap=math.inf,
                              message=f"pyomo/{solver}: {cond}: no primal values ({exc})",
                              stats=SolveStats(self.name, solve_seconds=seconds))
            values, bad = solution_point(program, sc, xv, f"pyomo/{solver}: {cond}", SolveStats(
                self.name, solve_seconds=seconds, extra={"native_status": cond}))
            if bad is not None:
                return bad
            objective = program.objective_value(values["x"])
        bound = res.objective_bound
        bound = (float(bound) * sc.obj_scale if bound is not None and math.isfinite(bound)
                 else math.nan)
        if term is Termination.OPTIMAL and not program.integrality.any():
            bound = objective
        gap = relative_gap(objective, bound) if has_sol else math.inf
        if term is Termination.OPTIMAL and not program.integrality.any():
            gap = 0.0
        stats = SolveStats(self.name, solve_seconds=seconds,
                           extra={"native_status": cond, "model_seconds": t_model})
        return range_checked(Result(term, has_sol, objective=objective, bound=bound, gap=gap,
                                    values=values, stats=stats,
                                    message=f"pyomo/{solver}: {cond}"), sc)
