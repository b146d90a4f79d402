"""The referee: ``evaluate(scenario, allocation) -> Metrics`` in numpy only, no solver.

Each problem family registers an evaluator for its allocation type with
:func:`register_evaluator` from its own ``evaluate.py`` (``aigc_opt.problems.<family>.evaluate``);
this core module knows no family. Evaluators recompute every physical quantity (latency, energy,
quality, cost) and every constraint's violation from the scenario and the allocation alone, so
that solver results and heuristics are scored by the same independent code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .errors import PluginError, ValidationError
from .frozen import FrozenMap, read_only_arrays
from .spec import check_instance, lookup

#: Relative violation above which a constraint counts as violated.
FEAS_TOL = 1e-6
#: Relative slack with which one item must fit a capacity on its own (a model in a GPU's
#: memory, one request's work in a slot): float rounding only. Evaluators report a misfit
#: (:func:`misfit`) as a whole violation, 1.0, not as its relative size: under ``FEAS_TOL`` a
#: model 6e-8 larger than a GPU's memory was held by HiGHS's optimum and left out by the
#: knapsack methods', both "optimal", 43.1 against 73.7.
FIT_TOL = 1e-9


def is_violated(v: Any) -> np.ndarray | bool:
    """The one rule for every violation value: above ``FEAS_TOL``, or NaN, or infinite."""
    a = np.asarray(v, dtype=np.float64)
    out = ~(a <= FEAS_TOL)  # NaN compares False, so it counts as violated
    return bool(out) if out.ndim == 0 else out


@dataclass(frozen=True, eq=False)
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

    Compared by identity (``eq=False``, as every instance and allocation type): a field-wise
    ``==`` over arrays has no single truth value and raised ValueError.
    """

    family: str
    objective: float
    per_item: Mapping[str, np.ndarray] = field(default_factory=dict)
    totals: Mapping[str, float] = field(default_factory=dict)
    violations: Mapping[str, float] = field(default_factory=dict)
    violation_counts: Mapping[str, int] = field(default_factory=dict)
    hard: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "per_item", read_only_arrays(self.per_item))
        for name in ("totals", "violations", "violation_counts"):
            object.__setattr__(self, name, FrozenMap(dict(getattr(self, name))))

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
            violations={k: _worst(a) for k, a in violation_arrays.items()},
            violation_counts={k: int(np.sum(is_violated(a)))
                              for k, a in violation_arrays.items()},
            hard=frozenset(violation_arrays if hard is None else hard),
        )

    @property
    def feasible(self) -> bool:
        """True when no hard constraint is violated by more than ``FEAS_TOL`` (a NaN or infinite
        violation counts as violated) and the objective is a finite number (an infinite cost,
        e.g. the latency of a user given 0 Hz, or an infinite rate is no answer)."""
        return not any(is_violated(self.violations.get(k, 0.0)) for k in self.hard) \
            and math.isfinite(self.objective)

    def violated(self) -> dict[str, float]:
        """The hard constraints that are violated, with their relative violation (and
        ``"objective"`` with the value when the objective is not a finite number)."""
        out = {k: float(self.violations.get(k, 0.0)) for k in sorted(self.hard)
               if is_violated(self.violations.get(k, 0.0))}
        if not math.isfinite(self.objective):
            out["objective"] = float(self.objective)
        return out

    def __repr__(self) -> str:
        bad = self.violated()
        worst = f", worst={max(bad, key=lambda k: bad[k])}" if bad else ""
        return (f"Metrics(family={self.family!r}, objective={self.objective:.6g}, "
                f"feasible={self.feasible}, violated={len(bad)}{worst}, "
                f"totals={len(self.totals)})")

    @property
    def n_violations(self) -> int:
        """Number of violated hard-constraint items."""
        return int(sum(self.violation_counts.get(k, 0) for k in self.hard))

    @property
    def max_violation(self) -> float:
        """Largest relative violation over the hard constraints (inf when any is NaN)."""
        vals = [self.violations.get(k, 0.0) for k in self.hard]
        return max((math.inf if math.isnan(v) else v for v in vals), default=0.0)

    def summary(self) -> dict[str, float]:
        """Flat scalars for a CSV row: objective, totals, violation count and maximum."""
        out: dict[str, float] = {"objective": self.objective}
        out.update({k: float(v) for k, v in self.totals.items()})
        out["n_violations"] = float(self.n_violations)
        out["max_violation"] = float(self.max_violation)
        return out


Evaluator = Callable[..., Metrics]
_EVALUATORS: dict[type, Evaluator] = {}


def allocation_mismatch(reason: str) -> ValidationError:
    """The error an evaluator raises for an allocation whose sizes do not fit the instance
    (``reason`` states both sizes)."""
    return ValidationError("allocation", "-", "sizes", f"do not fit the instance: {reason}")


def register_evaluator(allocation_type: type, fn: Evaluator) -> None:
    """Register ``fn(scenario, allocation, objective) -> Metrics`` for ``allocation_type``.

    Parameters
    ----------
    allocation_type : type
        Allocation class scored by ``fn``; subclasses inherit it (MRO lookup). Registering it
        again replaces the earlier evaluator.
    fn : callable
        ``fn(scenario, allocation, objective) -> Metrics``, numpy only (the referee);
        ``objective`` is the spec or objective weights given to :func:`evaluate`, or None.
    """
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
        raise ValidationError("allocation", "-", None,
                              "is None: the result has no solution to evaluate")
    fn = lookup(_EVALUATORS, type(allocation), "allocation type")
    check_instance(allocation, scenario)  # the allocation's / spec's declared instance type
    check_instance(objective, scenario)
    metrics = fn(scenario, allocation, objective)
    if not isinstance(metrics, Metrics):  # a plug-in's bug: said here, not as an AttributeError
        owner = next(c for c in type(allocation).__mro__ if c in _EVALUATORS)
        raise PluginError(f"evaluator registered for {owner.__name__}", fn, metrics,
                          "an aigc_opt.Metrics")
    extras = objective.extra_constraints(scenario) if hasattr(objective, "extra_constraints") \
        else ()
    return with_extra_checks(metrics, extras, allocation) if extras else metrics


def with_extra_checks(metrics: Metrics, extras: Any, allocation: Any) -> Metrics:
    """``metrics`` plus the violations of user-added constraints (see :mod:`aigc_opt.spec`):
    each ``check(allocation)`` gives per-item relative violations; NaN counts as violated."""
    violations = dict(metrics.violations)
    counts = dict(metrics.violation_counts)
    hard = set(metrics.hard)
    for con in extras:
        v = np.asarray(con.check(allocation), dtype=np.float64).ravel()
        violations[con.name] = _worst(v)
        counts[con.name] = int(np.sum(is_violated(v)))
        if con.hard:
            hard.add(con.name)
    return replace(metrics, violations=violations, violation_counts=counts, hard=frozenset(hard))


def _worst(a: Any) -> float:
    """Largest violation of an array; NaN anywhere makes it ``inf`` (one rule, see
    :func:`is_violated`)."""
    arr = np.asarray(a, dtype=np.float64)
    if arr.size and np.isnan(arr).any():
        return math.inf
    return float(np.max(arr, initial=0.0))


def p95(x: np.ndarray) -> float:
    """95th percentile (NaN for an empty array; inf entries, e.g. a request with no uplink,
    give inf or NaN without a RuntimeWarning)."""
    if not np.size(x):
        return math.nan
    with np.errstate(invalid="ignore"):
        return float(np.percentile(x, 95))


def fits(size: Any, capacity: Any) -> np.ndarray:
    """True where an item of ``size`` fits ``capacity`` on its own, to ``FIT_TOL`` (relative;
    broadcast; any unit, the same for both): the builders' filter of options and columns."""
    size = np.asarray(size, dtype=np.float64)
    capacity = np.asarray(capacity, dtype=np.float64)
    return np.asarray(size <= capacity * (1.0 + FIT_TOL))


def misfit(size: Any, capacity: Any) -> np.ndarray:
    """The referee's violation of :func:`fits`: 1.0 where the item does not fit, else 0.0."""
    return (~fits(size, capacity)).astype(np.float64)


def fit_weights(weights: np.ndarray, size: Any, capacity: Any) -> np.ndarray:
    """Coefficients ``weights`` of a capacity row scaled to a right-hand side of at most 1,
    with every item that does not :func:`fits` on its own raised to at least 2: the same
    integer points, but no solver feasibility tolerance (1e-6) lets such an item in."""
    return np.where(fits(size, capacity), weights, np.maximum(weights, 2.0))


def relative_excess(value: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """``max(0, value - limit) / max(|limit|, tiny)`` elementwise (0 where limit is inf; inf,
    without a RuntimeWarning, where an excess over a zero limit overflows)."""
    value = np.asarray(value, dtype=np.float64)
    limit = np.asarray(limit, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        excess = np.where(np.isinf(limit), 0.0, np.maximum(value - limit, 0.0))
        return excess / np.maximum(np.abs(np.where(np.isinf(limit), 1.0, limit)), 1e-300)
