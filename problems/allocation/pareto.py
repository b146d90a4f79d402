r"""Latency-energy-quality trade-off curves: weight sweeps and epsilon-constraint sweeps.

Three metrics, each a weighted sum over requests recomputed by the family's evaluator:
``latency`` (s, minimised), ``energy`` (J, minimised), ``quality`` (maximised). A spec takes part
through a small protocol (:class:`ParetoCapable`):

* ``with_weights(latency=, energy=, quality=)`` -- same spec, objective
  ``latency * Lat + energy * En - quality * Qual`` (plus any constant terms of the family);
* ``with_epsilon(metric, bound)`` -- same spec plus the row ``metric <= bound`` (``>=`` for
  quality);
* ``pareto_metrics(instance, allocation) -> {"latency", "energy", "quality"}``.

The step specs (:mod:`~aigc_opt.problems.allocation.data_steps`) and the LLM spec
(:mod:`~aigc_opt.problems.allocation.data_llm`) implement it; a spec type that cannot be edited
is adapted with :func:`register_pareto` (weights only is enough for :func:`weight_sweep`;
subclasses inherit their parent's adapter). The joint bandwidth-power spec
(:class:`~aigc_opt.problems.allocation.data.JointBPSpec`, weights ``alpha``, ``beta``) is adapted
that way, weights only (a latency-energy curve; quality is reported as 0);
solve it with ``method="closed_form"``.

**Weight sweep.** Metrics are normalised by their ranges over three anchor solves (weight 1 on
one metric and ``augment`` on the others), then every weight vector of a simplex grid with all
entries > 0 is solved. **Epsilon sweep.** One metric is optimised (weight 1, ``augment`` on the
others: the augmented epsilon-constraint method) under ``constrained <= bound`` (``>=`` for
quality) for bounds spaced evenly between the constrained metric's values at the two anchors.
With every weight strictly positive, each exactly solved point is Pareto optimal.

Every point is solved with the given method (any name :func:`aigc_opt.run_method` accepts;
default HiGHS with zero relative and absolute MIP gaps and a 1e-9 MIP feasibility tolerance,
see :func:`default_options`: sweep objectives are O(1) after normalisation, and with HiGHS's
defaults points stopped with proven gaps up to 1e-6) and its status
is recorded. Points without a solution, points dominated by another point and (near-)duplicates
are *kept in* :attr:`ParetoFront.points` but marked (``front_status``); :attr:`ParetoFront.front`
returns only the non-dominated, deduplicated ones (their count removed is
:attr:`ParetoFront.n_removed`).
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from aigc_opt.backend import SolveOptions
from aigc_opt.errors import ValidationError
from aigc_opt.metrics import evaluate
from aigc_opt.solve import run_method

from .data import JointBPSpec

logger = logging.getLogger(__name__)

METRICS = ("latency", "energy", "quality")
#: +1: minimised, -1: maximised.
SENSE = {"latency": 1.0, "energy": 1.0, "quality": -1.0}
#: Default solve options of a sweep point (HiGHS names): zero relative and absolute MIP gaps and
#: a 1e-9 MIP feasibility tolerance, which HiGHS also uses when pruning nodes by bound.
EXACT = SolveOptions(mip_gap=0.0, extra={"mip_abs_gap": 0.0, "mip_feasibility_tolerance": 1e-9})


def default_options(method: str) -> SolveOptions:
    """:data:`EXACT` for ``method="highs"``; ``mip_gap=0`` only for any other method (the extra
    keys are HiGHS option names that other solvers reject)."""
    return EXACT if method == "highs" else SolveOptions(mip_gap=0.0)


@runtime_checkable
class ParetoCapable(Protocol):
    """What a spec provides to be swept (see the module docstring)."""

    def with_weights(self, *, latency: float, energy: float, quality: float) -> Any:
        """Same spec with these objective weights."""
        ...

    def with_epsilon(self, metric: str, bound: float) -> Any:
        """Same spec plus an epsilon row on ``metric``."""
        ...

    def pareto_metrics(self, instance: Any, allocation: Any) -> dict[str, float]:
        """The three metrics of an allocation, from the evaluator."""
        ...


@dataclass(frozen=True)
class _Adapter:
    spec: Any
    weights_fn: Callable[..., Any]
    metrics_fn: Callable[[Any, Any, Any], dict[str, float]]
    epsilon_fn: Callable[[Any, str, float], Any] | None

    def with_weights(self, *, latency: float, energy: float, quality: float) -> Any:
        return self.weights_fn(self.spec, latency=latency, energy=energy, quality=quality)

    def with_epsilon(self, metric: str, bound: float) -> Any:
        if self.epsilon_fn is None:
            raise ValidationError("spec", "-", type(self.spec).__name__,
                                  "supports weight sweeps only (no epsilon rows)")
        return self.epsilon_fn(self.spec, metric, bound)

    def pareto_metrics(self, instance: Any, allocation: Any) -> dict[str, float]:
        return self.metrics_fn(self.spec, instance, allocation)


_ADAPTERS: dict[type, tuple[Callable[..., Any], Callable[..., dict[str, float]],
                            Callable[..., Any] | None]] = {}


def register_pareto(spec_type: type, *, with_weights: Callable[..., Any],
                    pareto_metrics: Callable[..., dict[str, float]],
                    with_epsilon: Callable[..., Any] | None = None) -> None:
    """Make ``spec_type`` sweepable without editing it.

    ``with_weights(spec, latency=, energy=, quality=) -> spec``,
    ``pareto_metrics(spec, instance, allocation) -> dict`` and optionally
    ``with_epsilon(spec, metric, bound) -> spec``.
    """
    _ADAPTERS[spec_type] = (with_weights, pareto_metrics, with_epsilon)


def adapt(spec: Any) -> ParetoCapable:
    """The adapter registered for ``spec``'s type (or its nearest registered base class), else
    ``spec`` itself when it implements :class:`ParetoCapable`."""
    for base in type(spec).__mro__:
        if base in _ADAPTERS:
            w, m, e = _ADAPTERS[base]
            return _Adapter(spec, w, m, e)
    if isinstance(spec, ParetoCapable):
        return spec
    raise ValidationError("spec", "-", type(spec).__name__,
                          "implements no Pareto protocol (with_weights / pareto_metrics); "
                          "see aigc_opt.problems.allocation.pareto.register_pareto")


def _joint_bp_weights(spec: JointBPSpec, *, latency: float, energy: float, quality: float
                      ) -> JointBPSpec:
    return dataclasses.replace(spec, latency_weight=latency, energy_weight=energy)


def _joint_bp_metrics(spec: JointBPSpec, instance: Any, allocation: Any) -> dict[str, float]:
    tot = evaluate(instance, allocation, spec).totals
    return {"latency": float(tot["weighted_latency_s"]),
            "energy": float(tot["weighted_energy_j"]), "quality": 0.0}


# JointBPSpec: objective ``sum w (alpha t + beta E)`` (weights only; quality is not modelled and
# reported as 0).
register_pareto(JointBPSpec, with_weights=_joint_bp_weights, pareto_metrics=_joint_bp_metrics)


class FrontStatus(StrEnum):
    """Whether a solved point is on the returned front."""

    FRONT = "front"
    DOMINATED = "dominated"
    DUPLICATE = "duplicate"
    NO_SOLUTION = "no_solution"


@dataclass(frozen=True)
class ParetoPoint:
    """One solved point of a sweep (metrics NaN without a solution)."""

    sweep: str
    index: int
    weight_latency: float
    weight_energy: float
    weight_quality: float
    epsilon_metric: str
    epsilon_bound: float
    termination: str
    objective: float
    gap: float
    latency: float
    energy: float
    quality: float
    solve_seconds: float
    front_status: FrontStatus = FrontStatus.FRONT

    def vector(self) -> np.ndarray:
        """(latency, energy, -quality): every entry minimised."""
        return np.array([SENSE[m] * getattr(self, m) for m in METRICS])


@dataclass(frozen=True)
class ParetoFront:
    """All points of a sweep; :attr:`front` holds the non-dominated ones."""

    points: tuple[ParetoPoint, ...]

    @property
    def front(self) -> tuple[ParetoPoint, ...]:
        """Non-dominated, deduplicated points with a solution, by increasing latency."""
        pts = [p for p in self.points if p.front_status is FrontStatus.FRONT]
        return tuple(sorted(pts, key=lambda p: (p.latency, p.energy, -p.quality)))

    @property
    def n_removed(self) -> int:
        """Solved points left off :attr:`front` (dominated or duplicates)."""
        return sum(p.front_status in (FrontStatus.DOMINATED, FrontStatus.DUPLICATE)
                   for p in self.points)

    def rows(self, *, front_only: bool = False) -> list[dict[str, Any]]:
        """Points as flat dicts (one CSV row each)."""
        pts = self.front if front_only else self.points
        return [{k: (v.value if isinstance(v, StrEnum) else v)
                 for k, v in dataclasses.asdict(p).items()} for p in pts]

    def to_csv(self, path: str | Path, *, front_only: bool = False) -> None:
        """Write :meth:`rows` to ``path``."""
        names = [f.name for f in dataclasses.fields(ParetoPoint)]
        with Path(path).open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=names)
            writer.writeheader()
            writer.writerows(self.rows(front_only=front_only))


def mark_front(points: Sequence[ParetoPoint], *, rtol: float = 1e-9) -> tuple[ParetoPoint, ...]:
    """Mark dominated points and near-duplicates (all metrics within ``rtol`` of the metric's
    range) of an earlier point; points without a solution are marked ``no_solution``."""
    solved = [i for i, p in enumerate(points) if np.isfinite(p.vector()).all()]
    status = {i: FrontStatus.NO_SOLUTION for i in range(len(points))}
    if solved:
        V = np.array([points[i].vector() for i in solved])
        tol = rtol * np.maximum(V.max(axis=0) - V.min(axis=0), 1.0)
        le = (V[:, None, :] <= V[None, :, :]).all(axis=2)  # le[j, i]: j <= i everywhere
        lt = (V[:, None, :] < V[None, :, :]).any(axis=2)
        dominated = np.asarray((le & lt).any(axis=0), dtype=bool)
        close = (np.abs(V[:, None, :] - V[None, :, :]) <= tol).all(axis=2)
        earlier = np.tril(close, k=-1)  # earlier[i, j]: j < i and close
        for k, i in enumerate(solved):
            if dominated[k]:
                status[i] = FrontStatus.DOMINATED
            elif (earlier[k] & ~dominated).any():
                status[i] = FrontStatus.DUPLICATE
            else:
                status[i] = FrontStatus.FRONT
    return tuple(dataclasses.replace(p, front_status=status[i]) for i, p in enumerate(points))


def _solve_point(instance: Any, spec: Any, cap: ParetoCapable, method: str,
                 options: SolveOptions, *, sweep: str, index: int, weights: Sequence[float],
                 eps: tuple[str, float] = ("", math.nan)) -> ParetoPoint:
    res = run_method(instance, spec, method, options=options)
    if res.has_solution and res.allocation is not None:
        m = cap.pareto_metrics(instance, res.allocation)
    else:
        m = dict.fromkeys(METRICS, math.nan)
    return ParetoPoint(
        sweep=sweep, index=index, weight_latency=float(weights[0]),
        weight_energy=float(weights[1]), weight_quality=float(weights[2]),
        epsilon_metric=eps[0], epsilon_bound=float(eps[1]),
        termination=res.termination.value, objective=float(res.objective), gap=float(res.gap),
        latency=float(m["latency"]), energy=float(m["energy"]), quality=float(m["quality"]),
        solve_seconds=float(res.stats.solve_seconds),
    )


def _weighted(cap: ParetoCapable, w: Sequence[float]) -> Any:
    return cap.with_weights(latency=float(w[0]), energy=float(w[1]), quality=float(w[2]))


def anchors(instance: Any, spec: Any, *, method: str = "highs",
            options: SolveOptions | None = None, augment: float = 1e-3) -> list[ParetoPoint]:
    """Three solves, each with weight 1 on one metric and ``augment`` on the other two."""
    cap = adapt(spec)
    opts = options if options is not None else default_options(method)
    out = []
    for k, name in enumerate(METRICS):
        w = [augment] * 3
        w[k] = 1.0
        out.append(_solve_point(instance, _weighted(cap, w), cap, method, opts,
                                sweep=f"anchor_{name}", index=k, weights=w))
    return out


def _ranges(points: Iterable[ParetoPoint]) -> np.ndarray:
    V = np.array([[getattr(p, m) for m in METRICS] for p in points], dtype=float)
    V = V[np.isfinite(V).all(axis=1)]
    if V.size == 0:
        return np.ones(3)
    span = V.max(axis=0) - V.min(axis=0)
    scale = np.maximum(np.abs(V).max(axis=0), 1e-12)
    return np.where(span > 1e-9 * scale, span, scale)


def simplex_weights(n: int) -> list[tuple[float, float, float]]:
    """All weight vectors ``(i, j, k) / (n + 2)`` with integers ``i, j, k >= 1`` summing to
    ``n + 2``: ``(n + 1) n / 2`` strictly positive vectors (n >= 1)."""
    if n < 1:
        raise ValidationError("n", "-", n, "must be >= 1")
    tot = n + 2
    return [(i / tot, j / tot, (tot - i - j) / tot)
            for i, j in itertools.product(range(1, tot), repeat=2) if tot - i - j >= 1]


def weight_sweep(instance: Any, spec: Any, *, n: int = 4,
                 weights: Sequence[Sequence[float]] | None = None, normalise: bool = True,
                 method: str = "highs", options: SolveOptions | None = None,
                 augment: float = 1e-3) -> ParetoFront:
    """Solve the spec for a grid of (latency, energy, quality) weights.

    Parameters
    ----------
    instance : object
        The instance the spec is solved on.
    spec : object
        A spec that implements :class:`ParetoCapable` or has an adapter
        (:func:`register_pareto`); else ValidationError.
    n : int
        Grid resolution of :func:`simplex_weights` (used when ``weights`` is None).
    weights : sequence of 3-sequences, optional
        Explicit weight vectors (each entry > 0 for Pareto-optimal points).
    normalise : bool
        Divide each weight by the metric's range over the anchors (the anchors are added to the
        returned points).
    method : str, default "highs"
        Any name :func:`aigc_opt.run_method` accepts for the spec, used for every point.
    options : SolveOptions, optional
        Options of every solve; None: :func:`default_options` of ``method``.
    augment : float, default 1e-3
        Weight (-) of the non-optimised metrics in the anchor solves (used only with ``normalise``).

    Returns
    -------
    ParetoFront
        Every point solved (anchors first), with its status and front marking.
    """
    cap = adapt(spec)
    opts = options if options is not None else default_options(method)
    grid = [tuple(map(float, w)) for w in weights] if weights is not None else simplex_weights(n)
    for w in grid:
        if len(w) != 3 or min(w) < 0 or not all(map(math.isfinite, w)):
            raise ValidationError("weights", "-", w, "each must be 3 finite numbers >= 0")
    pts: list[ParetoPoint] = []
    scale = np.ones(3)
    if normalise:
        pts = anchors(instance, spec, method=method, options=opts, augment=augment)
        scale = _ranges(pts)
    for i, w in enumerate(grid):
        ws = [float(x) for x in np.asarray(w) / scale]
        pts.append(_solve_point(instance, _weighted(cap, ws), cap, method, opts,
                                sweep="weights", index=i, weights=ws))
    out = ParetoFront(mark_front(pts))
    logger.info("weight sweep: %d points, %d on the front", len(pts), len(out.front))
    return out


def epsilon_sweep(instance: Any, spec: Any, *, optimise: str = "quality",
                  constrained: str = "latency", n_points: int = 6,
                  bounds: Sequence[float] | None = None, method: str = "highs",
                  options: SolveOptions | None = None, augment: float = 1e-3) -> ParetoFront:
    """Optimise one metric under a sweep of bounds on another (augmented epsilon-constraint).

    Parameters
    ----------
    instance : object
        The instance the spec is solved on.
    spec : object
        A spec that implements :class:`ParetoCapable` or has an adapter
        (:func:`register_pareto`); else ValidationError.
    optimise, constrained : {"latency", "energy", "quality"}
        The optimised and the bounded metric (different).
    n_points : int
        Number of bounds spaced evenly between the constrained metric's values at the anchor
        optimising it and at the anchor optimising ``optimise`` (when ``bounds`` is None).
    bounds : sequence of float, optional
        Explicit bounds (``constrained <= bound``; ``>=`` when ``constrained == "quality"``).
    method : str, default "highs"
        Any name :func:`aigc_opt.run_method` accepts for the spec, used for every point.
    options : SolveOptions, optional
        Options of every solve; None: :func:`default_options` of ``method``.
    augment : float, default 1e-3
        Weight (-) of the non-optimised metrics in the anchor solves and of the other
        metrics at every point.

    Returns
    -------
    ParetoFront
        The three anchors, then one point per bound.
    """
    for name, val in (("optimise", optimise), ("constrained", constrained)):
        if val not in METRICS:
            raise ValidationError(name, "-", val, f"must be one of {METRICS}")
    if optimise == constrained:
        raise ValidationError("constrained", "-", constrained, "must differ from optimise")
    if bounds is None and n_points < 2:
        raise ValidationError("n_points", "-", n_points, "must be >= 2")
    cap = adapt(spec)
    opts = options if options is not None else default_options(method)
    anc = anchors(instance, spec, method=method, options=opts, augment=augment)
    scale = _ranges(anc)
    ko, kc = METRICS.index(optimise), METRICS.index(constrained)
    if bounds is None:
        a, b = getattr(anc[kc], constrained), getattr(anc[ko], constrained)
        if not (math.isfinite(a) and math.isfinite(b)):
            raise ValidationError("bounds", "-", (a, b), "anchor solves failed; give bounds")
        bounds = list(np.linspace(a, b, n_points))
    w = np.full(3, augment)
    w[ko] = 1.0
    ws = [float(x) for x in w / scale]
    pts = list(anc)
    for i, bound in enumerate(bounds):
        sp_ = _weighted(cap, ws)
        sp_ = adapt(sp_).with_epsilon(constrained, float(bound))
        pts.append(_solve_point(instance, sp_, cap, method, opts, sweep="epsilon", index=i,
                                weights=ws, eps=(constrained, float(bound))))
    out = ParetoFront(mark_front(pts))
    logger.info("epsilon sweep: %d points, %d on the front", len(pts), len(out.front))
    return out
