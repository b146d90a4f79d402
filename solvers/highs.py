"""HiGHS backend: passes the LinearProgram's flat CSR arrays straight to ``Highs.passModel``.

This is the fast path (about 0.15 us per nonzero of hand-over cost, see DESIGN.md): no modelling
layer, no per-row Python. LP, MILP and convex QP are supported (HiGHS has no MIQP).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np

from aigc_opt.backend import SolveOptions, check_capability
from aigc_opt.program import LinearProgram, ProgramKind, Sense
from aigc_opt.result import Result, SolveStats, Termination, relative_gap

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


def _status_name(status: Any) -> str:
    return str(status).split(".")[-1]


class HighsBackend:
    """Solve a :class:`LinearProgram` with highspy (LP, MILP, QP)."""

    name: str = "highs"
    kinds: frozenset[ProgramKind] = frozenset({ProgramKind.LP, ProgramKind.MILP, ProgramKind.QP})
    requires: tuple[str, ...] = ("highspy",)

    def solve(self, program: LinearProgram, options: SolveOptions) -> Result:
        """Solve ``program``; limits and infeasibility are statuses, not exceptions."""
        import highspy

        if not isinstance(program, LinearProgram):
            raise TypeError("the highs backend takes a LinearProgram")
        check_capability(self, program.kind)
        t0 = time.perf_counter()
        h = highspy.Highs()
        h.setOptionValue("output_flag", bool(options.verbose))
        if options.time_limit is not None:
            h.setOptionValue("time_limit", float(options.time_limit))
        if options.mip_gap is not None:
            h.setOptionValue("mip_rel_gap", float(options.mip_gap))
        if options.threads is not None:
            h.setOptionValue("threads", int(options.threads))
        for key, value in options.extra.items():
            h.setOptionValue(key, value)
        try:
            self._pass(h, program, highspy)
            h.run()
        except Exception as exc:  # a solver crash becomes a status
            logger.exception("HiGHS failed on %s", program.name)
            return Result(
                Termination.ERROR,
                False,
                message=str(exc),
                stats=SolveStats(self.name, solve_seconds=time.perf_counter() - t0),
            )
        return self._result(h, program, highspy, time.perf_counter() - t0)

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

    def _result(self, h: Any, lp: LinearProgram, highspy: Any, seconds: float) -> Result:
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
            x = np.where(lp.integrality, np.round(x), x)
            objective = lp.objective_value(x)
            values = {b.name: b.take(x).copy() for b in lp.blocks}
            values["x"] = x
            has_sol = True
        mip = bool(lp.integrality.any())
        if mip:
            bound = float(info.mip_dual_bound)
            nodes = int(info.mip_node_count)
        else:
            bound = objective if term is Termination.OPTIMAL else math.nan
            nodes = -1
        gap = 0.0 if term is Termination.OPTIMAL and not mip else relative_gap(objective, bound)
        if not has_sol:
            gap = math.inf
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
