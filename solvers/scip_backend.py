"""SCIP backend (PySCIPOpt): an independent LP/MILP solver for cross-checks.

HiGHS, the CVXPY HiGHS interface and Pyomo's HiGHS plugin all hand the same matrix to the same
solver, so they cannot catch a HiGHS bug. SCIP has its own presolve, branch and bound, cuts and
LP solver (SoPlex), so HiGHS and SCIP agreeing is two solvers agreeing.

Hand-over: the LinearProgram's flat arrays are written as a free-format MPS file with vectorised
numpy string operations (one line per nonzero, no per-variable model calls) and read by SCIP's own
reader (``Model.readProblem``); the solution is read back by column name. Objective sense is
handled by negating ``c`` (SCIP always minimises here) and the offset is added back in Python.
SCIP sees the power-of-two equilibrated copy of the program (:mod:`aigc_opt.solvers.numerics`);
a program with non-finite coefficients is an ``error`` status without a solve.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import tempfile
import time
from typing import Any

import numpy as np

from aigc_opt.backend import SolveOptions, check_capability
from aigc_opt.errors import UnknownNameError, ValidationError
from aigc_opt.program import LinearProgram, ProgramKind, Sense
from aigc_opt.result import Result, SolveStats, Termination, relative_gap

from .interrupts import call_interruptibly
from .numerics import (
    DUAL_TOL,
    Scaled,
    dual_tolerance,
    equilibrate,
    objective_dual_tolerance,
    range_checked,
    solution_point,
    unusable_result,
)

logger = logging.getLogger(__name__)

#: Primal feasibility tolerance given to SCIP (HiGHS's default ``primal_feasibility_tolerance``).
FEASTOL = 1e-7

#: SCIP status -> (termination with a solution, termination without).
CONDITION_MAP: dict[str, tuple[Termination, Termination]] = {
    "optimal": (Termination.OPTIMAL, Termination.ERROR),
    "infeasible": (Termination.INFEASIBLE, Termination.INFEASIBLE),
    "unbounded": (Termination.UNBOUNDED, Termination.UNBOUNDED),
    "inforunbd": (Termination.INFEASIBLE_OR_UNBOUNDED, Termination.INFEASIBLE_OR_UNBOUNDED),
    "timelimit": (Termination.FEASIBLE, Termination.LIMIT),
    "gaplimit": (Termination.OPTIMAL, Termination.LIMIT),
    "nodelimit": (Termination.FEASIBLE, Termination.LIMIT),
    "totalnodelimit": (Termination.FEASIBLE, Termination.LIMIT),
    "stallnodelimit": (Termination.FEASIBLE, Termination.LIMIT),
    "memlimit": (Termination.FEASIBLE, Termination.LIMIT),
    "sollimit": (Termination.FEASIBLE, Termination.LIMIT),
    "bestsollimit": (Termination.FEASIBLE, Termination.LIMIT),
    "restartlimit": (Termination.FEASIBLE, Termination.LIMIT),
    "userinterrupt": (Termination.FEASIBLE, Termination.LIMIT),
    "terminate": (Termination.FEASIBLE, Termination.LIMIT),
    "unknown": (Termination.FEASIBLE, Termination.ERROR),
}

#: SCIP's infinity: bounds at or beyond it are written as free.
_INF = 1e20


def _num(a: np.ndarray) -> list[str]:
    """Shortest exact text of each float (``repr``: the shortest string that reads back to
    the same double)."""
    return [repr(v) for v in np.asarray(a, dtype=np.float64).tolist()]


def write_mps(lp: LinearProgram, path: str) -> None:
    """Write ``lp`` (minimisation of ``+-c``, see module docstring) as free MPS at ``path``.

    Lines are formatted by Python f-strings over ``tolist()`` values: ``numpy.char`` (one
    call per column of text) took 1.5 s for 123k columns and 598k nonzeros, which SCIP's
    hand-over paid on every solve; the objective entry of each column comes first."""
    n, m = lp.n_cols, lp.n_rows
    sign = -1.0 if lp.sense is Sense.MAX else 1.0
    lo_r, hi_r = lp.row_lower, lp.row_upper
    fin_lo, fin_hi = np.isfinite(lo_r) & (lo_r > -_INF), np.isfinite(hi_r) & (hi_r < _INF)
    rtype = np.full(m, "N", dtype="<U1")
    rtype[fin_hi] = "L"
    rtype[fin_lo & ~fin_hi] = "G"
    rtype[fin_lo & fin_hi & (lo_r == hi_r)] = "E"
    keep = rtype != "N"  # free rows are dropped
    kept = np.flatnonzero(keep)
    out: list[str] = ["NAME aigc", "ROWS", " N obj"]
    out += [f" {t} r{i}" for t, i in zip(rtype[kept].tolist(), kept.tolist(), strict=True)]
    out.append("COLUMNS")
    A = lp.A.tocsc()
    A.sum_duplicates()
    col_of_nz = np.repeat(np.arange(n), np.diff(A.indptr))
    ok = keep[A.indices]
    entries_col = np.concatenate([np.arange(n), col_of_nz[ok]])
    entries_row = np.concatenate([np.full(n, -1), A.indices[ok]])  # -1: the objective
    entries_val = np.concatenate([sign * lp.c, A.data[ok]])
    order = np.argsort(entries_col, kind="stable")
    ec, er = entries_col[order], entries_row[order]
    lines = [f" x{c} r{r} {v!r}" if r >= 0 else f" x{c} obj {v!r}"
             for c, r, v in zip(ec.tolist(), er.tolist(), entries_val[order].tolist(),
                                strict=True)]
    integ = lp.integrality[ec]
    # integer columns are wrapped in MARKER lines: emit contiguous runs
    change = np.flatnonzero(np.diff(integ.astype(np.int8))) + 1
    starts = np.concatenate([[0], change]) if len(ec) else np.zeros(0, dtype=np.int64)
    stops = np.concatenate([change, [len(ec)]]) if len(ec) else np.zeros(0, dtype=np.int64)
    for k, (a, b) in enumerate(zip(starts.tolist(), stops.tolist(), strict=True)):
        if integ[a]:
            out.append(f" M{k} 'MARKER' 'INTORG'")
            out += lines[a:b]
            out.append(f" M{k} 'MARKER' 'INTEND'")
        else:
            out += lines[a:b]
    out.append("RHS")
    rhs = np.where(rtype == "G", lo_r, hi_r)
    sel = np.flatnonzero(keep & (rhs != 0))
    out += [f" rhs r{i} {v}" for i, v in zip(sel.tolist(), _num(rhs[sel]), strict=True)]
    rng = np.flatnonzero(keep & (rtype == "L") & fin_lo)
    if rng.size:
        out.append("RANGES")
        out += [f" rng r{i} {v}" for i, v in zip(rng.tolist(), _num(hi_r[rng] - lo_r[rng]),
                                                   strict=True)]
    out.append("BOUNDS")
    lo_c, hi_c = lp.col_lower, lp.col_upper
    has_lo, has_hi = lo_c > -_INF, hi_c < _INF
    fx = has_lo & has_hi & (lo_c == hi_c)
    for tag, mask, vals in (
        ("FX", fx, lo_c),
        ("LO", has_lo & ~fx, lo_c),
        ("MI", ~has_lo & ~fx, None),
        ("UP", has_hi & ~fx, hi_c),
        ("PL", ~has_hi & ~fx, None),
    ):
        idx = np.flatnonzero(mask)
        if vals is None:
            out += [f" {tag} bnd x{j}" for j in idx.tolist()]
        else:
            out += [f" {tag} bnd x{j} {v}" for j, v in zip(idx.tolist(), _num(vals[idx]),
                                                           strict=True)]
    out.append("ENDATA")
    with open(path, "w", encoding="ascii") as fh:
        fh.write("\n".join(out))
        fh.write("\n")


class ScipBackend:
    """Solve a :class:`LinearProgram` (LP, MILP) with SCIP through PySCIPOpt."""

    name: str = "scip"
    kinds: frozenset[ProgramKind] = frozenset({ProgramKind.LP, ProgramKind.MILP})
    requires: tuple[str, ...] = ("pyscipopt",)

    def solve(self, program: LinearProgram, options: SolveOptions) -> Result:
        """Solve ``program``; limits and infeasibility are statuses, not exceptions.

        An optimum that is small against the objective's terms is solved once more with the
        dual feasibility tolerance of :func:`.numerics.objective_dual_tolerance` (unless
        ``extra`` sets ``numerics/dualfeastol``), in the time left; the second answer is kept
        when it is optimal, else the first."""
        if not isinstance(program, LinearProgram):
            raise TypeError("the scip backend takes a LinearProgram")
        check_capability(self, program.kind)
        t0 = time.perf_counter()
        res, sc, used = self._solve(program, options, t0, None)
        if sc is None or res.termination is not Termination.OPTIMAL or \
                "numerics/dualfeastol" in options.extra or "limits/time" in options.extra:
            return range_checked(res, sc)
        tol = objective_dual_tolerance(sc, res.objective, used)
        if tol is None or options.left(t0, floor=0.0) == 0.0:
            return range_checked(res, sc)
        logger.info("SCIP optimum %.6g is small against the objective's terms: solving "
                    "again at dualfeastol %.3g (was %.3g)", res.objective, tol, used)
        again, _, _ = self._solve(program, options, t0, tol)
        if again.termination is not Termination.OPTIMAL:
            return range_checked(res, sc)
        return range_checked(dataclasses.replace(
            again, message=f"{again.message}; solved again at dualfeastol {tol:.3g} (optimum "
            "small against the objective's terms)"), sc)

    def _solve(self, program: LinearProgram, options: SolveOptions, t0: float,
               dual_tol: float | None) -> tuple[Result, Scaled | None, float]:
        """One SCIP solve (``dual_tol``: the dual feasibility tolerance, None for
        :func:`.numerics.dual_tolerance`'s); the result (not yet
        :func:`.numerics.range_checked`), the scaling and the tolerance used."""
        import pyscipopt

        unusable = unusable_result(self.name, program, t0)
        if unusable is not None:
            return unusable, None, DUAL_TOL
        sc = equilibrate(program)
        model = pyscipopt.Model()
        if not options.verbose:
            model.hideOutput()
        # SCIP's own Ctrl-C handler lost the interrupt in an LP (see _optimize)
        model.setParam("misc/catchctrlc", False)
        self._set_options(model, options)
        tol = dual_tolerance(sc.program) if dual_tol is None else dual_tol
        used = float(options.extra.get("numerics/dualfeastol", tol or DUAL_TOL))
        if tol is not None:  # a wide objective range (or a small optimum): resolve its terms
            if "numerics/dualfeastol" not in options.extra:
                model.setParam("numerics/dualfeastol", tol)
            if "numerics/epsilon" not in options.extra:
                # SCIP's zero (1e-9 by default) also decides which objective changes count:
                # on lifecycle medical (costs 0.05..3.6e12) it stopped at 86.61, above
                # HiGHS's verified 85.72
                model.setParam("numerics/epsilon", min(1e-9, max(1e-12, 0.1 * tol)))
        try:
            # the MPS file lives only while SCIP reads it: a batch worker killed at its wall
            # timeout (SIGKILL) during optimize had left aigc_scip_*/model.mps behind (17.8 MB
            # at 3,000 users), since the directory's cleanup never ran
            with tempfile.TemporaryDirectory(prefix="aigc_scip_") as tmp:
                path = os.path.join(tmp, "model.mps")
                write_mps(sc.program, path)
                if options.left(t0, floor=0.0) == 0.0:
                    return self._handover_limit(program, t0, "writing"), None, used
                model.readProblem(path)
            if options.left(t0, floor=0.0) == 0.0:
                return self._handover_limit(program, t0, "reading"), None, used
            left = options.left(t0)  # the file write and read count against the limit
            if left is not None and "limits/time" not in options.extra:
                model.setParam("limits/time", left)
            self._optimize(model)
        except Exception as exc:  # a solver failure becomes a status
            logger.exception("SCIP failed on %s", program.name)
            return Result(Termination.ERROR, False, message=f"{type(exc).__name__}: {exc}",
                          stats=SolveStats(self.name, solve_seconds=time.perf_counter() - t0)
                          ), None, used
        return self._result(model, program, time.perf_counter() - t0, sc), sc, used

    @staticmethod
    def _optimize(model: Any) -> None:
        """``model.optimize()`` that ends in ``KeyboardInterrupt`` on a Ctrl-C (SIGINT).

        With ``misc/catchctrlc`` on (SCIP's default) SCIP swaps Python's SIGINT handler for its
        own during ``optimize``, which only counts the Ctrl-C for SCIP to look at between
        steps. On ``caching.compute`` 5 x 12 x 24 (30 s limit) SCIP printed "pressed CTRL-C 1
        times" while in its root LP (SoPlex, 17,713 columns x 29,186 rows after presolve),
        which does not look at that count; the LP ran into the time limit ("LP solver hit time
        limit"), SCIP ended ``timelimit`` and the CLI exited 0 with ``feasible`` (the same with
        heuristics or the components handler off). ``optimize`` also held the GIL, so no other
        Python thread ran meanwhile. The backend therefore switches ``misc/catchctrlc`` off and
        runs ``optimizeNogil`` under :func:`.interrupts.call_interruptibly`: Python's handler
        gets the signal and ``interruptSolve`` stops SCIP, also inside that LP (measured: at
        once), and ``KeyboardInterrupt`` follows. A ``userinterrupt`` status that still comes
        back is one too (:meth:`_result`).
        """
        call_interruptibly(model.optimizeNogil, model.interruptSolve, "SCIP")

    def _handover_limit(self, program: LinearProgram, t0: float, stage: str) -> Result:
        """The ``limit`` Result when the MPS hand-over to SCIP used the whole time limit: at
        10,000 users x 200 servers the file took 15 s to write and 8 s to read, and SCIP's
        presolve then ran 5 s more, 36 s in all for a 2 s limit."""
        seconds = time.perf_counter() - t0
        msg = (f"time limit reached while {stage} the MPS file for SCIP ({seconds:.1f} s; "
               f"{program.n_cols} columns): SCIP did not start")
        logger.info("%s on %s", msg, program.name)
        return Result(Termination.LIMIT, False, gap=math.inf, message=msg,
                      stats=SolveStats(self.name, solve_seconds=seconds))

    @staticmethod
    def _set_options(model: Any, options: SolveOptions) -> None:
        # SCIP's default primal feasibility tolerance (1e-6) is ten times HiGHS's (1e-7); at
        # 1e-6 an LP vertex of the equilibrated partial-offloading program violated an epigraph
        # row by 7.7e-6 and claimed an objective 5e-6 below the optimum (issue 11, certify seed
        # 61006540). Matching HiGHS makes the two solvers answer to the same tolerance;
        # ``extra={"numerics/feastol": ...}`` still overrides it.
        model.setParam("numerics/feastol", FEASTOL)
        if options.time_limit is not None:
            model.setParam("limits/time", float(options.time_limit))
        if options.mip_gap is not None:
            model.setParam("limits/gap", float(options.mip_gap))
        if options.threads is not None:
            model.setParam("lp/threads", int(options.threads))
        known = model.getParams()
        for key, value in options.extra.items():
            if key not in known:
                raise UnknownNameError("SCIP option", key, known)
            try:
                model.setParam(key, value)
            except Exception as exc:
                raise ValidationError(f"extra[{key!r}]", "-", value,
                                      f"rejected by SCIP: {exc}") from exc

    def _result(self, model: Any, lp: LinearProgram, seconds: float, sc: Scaled) -> Result:
        status = str(model.getStatus())
        if status == "userinterrupt":  # SCIP caught the user's Ctrl-C: pass it on, not a limit
            raise KeyboardInterrupt("SCIP was interrupted (SIGINT)")
        has_sol = model.getNSols() > 0
        with_sol, without = CONDITION_MAP.get(status, (Termination.ERROR, Termination.ERROR))
        term = with_sol if has_sol else without
        values: dict[str, np.ndarray] = {}
        objective = math.nan
        sign = -1.0 if lp.sense is Sense.MAX else 1.0
        if has_sol:
            sol = model.getBestSol()
            x = np.zeros(lp.n_cols)
            for var in model.getVars():
                x[int(var.name[1:])] = sol[var]
            values, bad = solution_point(lp, sc, x, status, SolveStats(
                self.name, solve_seconds=seconds, extra={"native_status": status}))
            if bad is not None:
                return bad
            objective = lp.objective_value(values["x"])
        bound = sign * float(model.getDualbound()) * sc.obj_scale + lp.offset
        if not math.isfinite(bound) or abs(bound) >= _INF:
            bound = math.nan
        if term is Termination.OPTIMAL and not lp.integrality.any():
            bound = objective
        gap = relative_gap(objective, bound) if has_sol else math.inf
        stats = SolveStats(self.name, solve_seconds=seconds,
                           iterations=int(model.getNLPIterations()),
                           nodes=int(model.getNTotalNodes()),
                           extra={"native_status": status})
        return Result(term, has_sol, objective=objective, bound=bound, gap=gap, values=values,
                      stats=stats, message=status)
