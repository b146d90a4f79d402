"""The referee: ``evaluate(scenario, allocation) -> Metrics`` in numpy only, no solver.

Each problem family registers an evaluator for its allocation type with
:func:`register_evaluator`. Evaluators recompute every physical quantity (latency, energy,
quality, cost) and every constraint's violation from the scenario and the allocation alone, so
that solver results and heuristics are scored by the same independent code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

#: Relative violation above which a constraint counts as violated.
FEAS_TOL = 1e-6


@dataclass(frozen=True)
class Metrics:
    """What an evaluator measured.

    Parameters
    ----------
    family : str
        Problem family that produced the metrics.
    objective : float
        The family's objective recomputed from the allocation (same units and sign as the
        solver's objective).
    per_item : Mapping[str, ndarray]
        Per-user (or per-bidder, per-slot ...) arrays, e.g. ``latency_s``, ``device_energy_j``.
    totals : Mapping[str, float]
        Scalar aggregates, e.g. ``energy_total_j``.
    violations : Mapping[str, float]
        For every constraint, its largest *relative* violation (0 when satisfied): the amount
        by which it is exceeded divided by its right-hand side (or by 1 for counts).
    violation_counts : Mapping[str, int]
        For every constraint, how many items violate it by more than ``FEAS_TOL``.
    hard : frozenset of str
        Constraints that make an allocation infeasible (others are reported only).
    """

    family: str
    objective: float
    per_item: Mapping[str, np.ndarray] = field(default_factory=dict)
    totals: Mapping[str, float] = field(default_factory=dict)
    violations: Mapping[str, float] = field(default_factory=dict)
    violation_counts: Mapping[str, int] = field(default_factory=dict)
    hard: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for name in ("per_item", "totals", "violations", "violation_counts"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    @classmethod
    def from_arrays(
        cls,
        family: str,
        objective: float,
        per_item: Mapping[str, np.ndarray],
        totals: Mapping[str, float],
        violation_arrays: Mapping[str, np.ndarray],
        hard: frozenset[str] | set[str] | None = None,
    ) -> Metrics:
        """Metrics from per-item relative-violation arrays: the maximum of each becomes
        ``violations[name]`` and the count above ``FEAS_TOL`` ``violation_counts[name]``;
        ``hard`` defaults to every constraint."""
        return cls(
            family=family,
            objective=objective,
            per_item=per_item,
            totals=totals,
            violations={k: float(np.max(a, initial=0.0)) for k, a in violation_arrays.items()},
            violation_counts={k: int((np.asarray(a) > FEAS_TOL).sum())
                              for k, a in violation_arrays.items()},
            hard=frozenset(violation_arrays if hard is None else hard),
        )

    @property
    def feasible(self) -> bool:
        """True when no hard constraint is violated by more than ``FEAS_TOL``."""
        return all(self.violations.get(k, 0.0) <= FEAS_TOL for k in self.hard)

    @property
    def n_violations(self) -> int:
        """Number of violated hard-constraint items."""
        return int(sum(self.violation_counts.get(k, 0) for k in self.hard))

    @property
    def max_violation(self) -> float:
        """Largest relative violation over the hard constraints."""
        return max((self.violations.get(k, 0.0) for k in self.hard), default=0.0)

    def summary(self) -> dict[str, float]:
        """Flat scalars for a CSV row: objective, totals, violation count and maximum."""
        out: dict[str, float] = {"objective": self.objective}
        out.update({k: float(v) for k, v in self.totals.items()})
        out["n_violations"] = float(self.n_violations)
        out["max_violation"] = float(self.max_violation)
        return out


Evaluator = Callable[..., Metrics]
_EVALUATORS: dict[type, Evaluator] = {}


def register_evaluator(allocation_type: type, fn: Evaluator) -> None:
    """Register ``fn(scenario, allocation, objective) -> Metrics`` for ``allocation_type``."""
    _EVALUATORS[allocation_type] = fn


def evaluate(scenario: Any, allocation: Any, objective: Any = None) -> Metrics:
    """Score ``allocation`` on ``scenario`` with the family's independent evaluator.

    Parameters
    ----------
    scenario : Scenario (or the family's instance type)
        The instance.
    allocation : object
        An allocation of a registered type (e.g. :class:`aigc_opt.allocation.OffloadAllocation`).
    objective : object, optional
        The family's objective weights, or a spec that carries them as ``.objective``; the
        family default when omitted.
    """
    if allocation is None:
        raise ValueError("allocation is None: the result has no solution to evaluate")
    _load_builtin()
    for cls in type(allocation).__mro__:
        if cls in _EVALUATORS:
            return _EVALUATORS[cls](scenario, allocation, objective)
    known = ", ".join(sorted(t.__name__ for t in _EVALUATORS))
    raise TypeError(f"no evaluator for {type(allocation).__name__}; known: {known}")


def _load_builtin() -> None:
    """Import every evaluator module in this package (each registers itself)."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


def p95(x: np.ndarray) -> float:
    """95th percentile (NaN for an empty array)."""
    return float(np.percentile(x, 95)) if np.size(x) else math.nan


def relative_excess(value: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """``max(0, value - limit) / max(|limit|, tiny)`` elementwise (0 where limit is inf)."""
    value = np.asarray(value, dtype=np.float64)
    limit = np.asarray(limit, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        excess = np.where(np.isinf(limit), 0.0, np.maximum(value - limit, 0.0))
    return excess / np.maximum(np.abs(np.where(np.isinf(limit), 1.0, limit)), 1e-300)
