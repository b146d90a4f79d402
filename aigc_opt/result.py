"""Solve results: termination status, objective, bound, gap, solution blocks and statistics."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from .errors import NoSolutionError
from .frozen import read_only_arrays


class Termination(StrEnum):
    """Why a solve stopped. Kept apart from whether a solution is present."""

    OPTIMAL = "optimal"
    #: A limit (time, nodes, gap) stopped the solve with a feasible solution in hand, or a
    #: heuristic produced a solution with no optimality proof.
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    INFEASIBLE_OR_UNBOUNDED = "infeasible_or_unbounded"
    #: A limit stopped the solve before any feasible solution was found.
    LIMIT = "limit"
    #: The method returned a solution, but the family's evaluator disagrees with it (a hard
    #: constraint violated beyond tolerance, or a different objective): never read as optimal.
    UNVERIFIED = "unverified"
    ERROR = "error"


@dataclass(frozen=True)
class SolveStats:
    """Timing and effort of one solve.

    Parameters
    ----------
    backend : str
        Registry name of the backend (or heuristic) that produced the result.
    build_seconds : float
        Wall time to build the program from the scenario, s.
    solve_seconds : float
        Wall time inside the backend (hand-over plus solver), s.
    iterations : int
        Simplex/IPM iterations reported by the solver (-1 when unknown).
    nodes : int
        Branch-and-bound nodes (-1 when unknown or not a MIP).
    extra : Mapping[str, Any]
        Backend-specific numbers (e.g. the native status string).
    """

    backend: str
    build_seconds: float = 0.0
    solve_seconds: float = 0.0
    iterations: int = -1
    nodes: int = -1
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Result:
    """Outcome of a solve or a heuristic.

    Parameters
    ----------
    termination : Termination
        Why it stopped.
    has_solution : bool
        Whether ``values`` hold a (primal feasible, to solver tolerance) solution.
    objective : float
        Objective of the returned solution in the problem's units (NaN without one).
    bound : float
        Best proven bound on the optimum (dual bound for MIPs; equals ``objective`` for an
        optimal LP; NaN when unknown).
    gap : float
        Relative gap ``|objective - bound| / max(|objective|, |bound|, 1e-6)``
        (:func:`relative_gap`); 0 when optimal, NaN when
        unknown, ``inf`` when there is no solution.
    values : Mapping[str, ndarray]
        Solution arrays by block name (raw decision variables).
    allocation : Any
        The problem family's decoded allocation (what :func:`aigc_opt.evaluate` takes), or
        None without a solution.
    stats : SolveStats
        Times and effort.
    message : str
        Solver message or error text.
    verified : bool
        True when the family's evaluator re-scored the solution and agreed with it (no hard
        violation, same objective within the backend's tolerance); see :mod:`aigc_opt.verify`.
    eval_objective : float
        The evaluator's objective for the solution (NaN when not evaluated).
    metrics : Metrics or None
        The evaluator's full report when the result was verified or rejected.
    explanation : aigc_opt.explain.Explanation or None
        Why an infeasible outcome is infeasible: the named constraints of irreducible
        infeasible subsets (see :mod:`aigc_opt.explain`); None otherwise.

    Compared by identity (``eq=False``, as every instance and allocation type): a field-wise
    ``==`` over arrays has no single truth value and raised ValueError.
    """

    termination: Termination
    has_solution: bool
    objective: float = math.nan
    bound: float = math.nan
    gap: float = math.nan
    values: Mapping[str, np.ndarray] = field(default_factory=dict)
    allocation: Any = None
    stats: SolveStats = field(default_factory=lambda: SolveStats(backend="unknown"))
    message: str = ""
    verified: bool = False
    eval_objective: float = math.nan
    metrics: Any = None
    explanation: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "termination", Termination(self.termination))
        object.__setattr__(self, "values", read_only_arrays(self.values))

    @property
    def optimal(self) -> bool:
        """True when the solver proved optimality: a relative gap of at most 1e-4
        (:data:`aigc_opt.verify.OPTIMAL_GAP`) in every result of ``solve`` / ``run_method``; a
        backend's own Result, before them, may say optimal at a looser requested gap."""
        return self.termination is Termination.OPTIMAL

    @property
    def success(self) -> bool:
        """True for a verified optimal or feasible solution."""
        return self.verified and self.termination in (Termination.OPTIMAL, Termination.FEASIBLE)

    def __repr__(self) -> str:
        extra = f", message={self.message[:60]!r}" if self.message else ""
        return (f"Result(termination={self.termination.value}, objective={self.objective:.6g}, "
                f"gap={self.gap:.3g}, verified={self.verified}, backend={self.stats.backend!r}, "
                f"seconds={self.stats.build_seconds + self.stats.solve_seconds:.3g}{extra})")

    def raise_if_no_solution(self) -> Result:
        """Return self, or raise :class:`NoSolutionError` when no solution is present."""
        if not self.has_solution:
            raise NoSolutionError(
                f"{self.stats.backend}: no solution (termination={self.termination.value})"
                + (f": {self.message}" if self.message else "")
            )
        return self


#: Magnitude below which :func:`relative_gap` measures the gap absolutely (problem units).
GAP_FLOOR = 1e-6


#: Largest relative gap (:func:`relative_gap`) of an ``optimal`` result (HiGHS's own default
#: MIP gap; :mod:`aigc_opt.verify` labels by it, and the HiGHS backend calls a time-limited
#: MIP within it ``optimal``).
OPTIMAL_GAP = 1e-4


def relative_gap(objective: float, bound: float) -> float:
    """``|objective - bound| / max(|objective|, |bound|, GAP_FLOOR)``; NaN if either is NaN.

    Relative to the larger magnitude, so the gap (and the ``optimal`` label it decides) does
    not depend on the objective's units down to :data:`GAP_FLOOR`. With ``max(1, |objective|)``
    an objective of 1e-5 (weights x 1e-6) needed only an absolute gap of 1e-9 for
    ``optimal``: ISCC's LP rounding and the offloading Lagrangian were labelled optimal
    0.7-12.8 % above the optimum there, and feasible at unit weights.

    Objective and bound of opposite signs (both beyond ``GAP_FLOOR``) give ``inf``, as in
    SCIP: there the ratio would fall as the bound weakens (objective 51.1, bound -1,906.2:
    1.027, below the 1.036 of the optimum -1,403.1), so it would not bound the true gap."""
    if math.isnan(objective) or math.isnan(bound):
        return math.nan
    if math.isinf(bound) or math.isinf(objective):
        return math.inf
    if min(abs(objective), abs(bound)) > GAP_FLOOR and (objective > 0) != (bound > 0):
        return math.inf
    return abs(objective - bound) / max(abs(objective), abs(bound), GAP_FLOOR)
