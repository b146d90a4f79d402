"""``solve``: scenario + spec -> program -> backend -> Result with a decoded allocation.

A *spec* is any frozen dataclass that implements the :class:`Problem` protocol. Heuristics are
functions registered per spec type; :func:`run_heuristic` scores their allocation with the
independent evaluator and reports it as a Result (``termination=feasible`` when the evaluator
finds no violation, ``error`` with the violated constraints otherwise).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from .backend import SolveOptions, check_capability, get_backend
from .program import ConvexProgram, LinearProgram
from .result import Result, SolveStats, Termination

logger = logging.getLogger(__name__)


@runtime_checkable
class Problem(Protocol):
    """What a problem spec provides."""

    problem: str
    variant: str

    def build(self, scenario: Any) -> LinearProgram | ConvexProgram:
        """Build the program (pure, vectorised)."""
        ...

    def decode(self, scenario: Any, program: Any, values: Any) -> Any:
        """Turn solution blocks into the family's allocation."""
        ...


Heuristic = Callable[..., Any]
Algorithm = Callable[..., Result]
_HEURISTICS: dict[type, dict[str, Heuristic]] = {}
_ALGORITHMS: dict[type, dict[str, Algorithm]] = {}


def register_algorithm(spec_type: type, name: str, fn: Algorithm) -> None:
    """Register a problem-specific solution method ``fn(instance, spec, options) -> Result``.

    Use this for exact or certified algorithms that are not a generic backend (outer
    approximation, closed forms, enumeration with bounds ...). The Result must carry the decoded
    ``allocation`` and an honest ``bound`` / ``gap``.
    """
    _ALGORITHMS.setdefault(spec_type, {})[name] = fn


def algorithms(spec: Any) -> dict[str, Algorithm]:
    """Algorithms registered for the type of ``spec``."""
    return dict(_ALGORITHMS.get(type(spec), {}))


def register_heuristic(spec_type: type, name: str, fn: Heuristic) -> None:
    """Register ``fn(scenario, spec, seed=...) -> allocation`` as heuristic ``name``."""
    _HEURISTICS.setdefault(spec_type, {})[name] = fn


def heuristics(spec: Any) -> dict[str, Heuristic]:
    """Heuristics registered for the type of ``spec`` (importing its module registers them)."""
    return dict(_HEURISTICS.get(type(spec), {}))


def _options(options: SolveOptions | None, kw: dict[str, Any]) -> SolveOptions:
    names = {f.name for f in dataclasses.fields(SolveOptions)}
    unknown = set(kw) - names
    if unknown:
        raise TypeError(f"unknown solve option(s) {sorted(unknown)}; known: {sorted(names)}")
    base = options or SolveOptions()
    return dataclasses.replace(base, **kw) if kw else base


def solve(
    scenario: Any,
    spec: Problem,
    backend: str = "highs",
    *,
    options: SolveOptions | None = None,
    **kw: Any,
) -> Result:
    """Build ``spec`` on ``scenario``, solve it with ``backend`` and decode the allocation.

    Parameters
    ----------
    scenario : Scenario
        The instance.
    spec : Problem
        A problem spec (e.g. :class:`aigc_opt.problems.offloading.OffloadingSpec`).
    backend : str
        Registry name: ``"highs"``, ``"cvxpy"``, ``"pyomo"`` (see :func:`aigc_opt.backends`).
    options : SolveOptions, optional
        Solver options; keyword arguments (``time_limit=``, ``mip_gap=``, ``threads=``,
        ``verbose=``, ``extra=``) override its fields.

    Returns
    -------
    Result
        With ``allocation`` decoded when a solution is present. Infeasible, unbounded and limit
        outcomes are statuses, not exceptions.
    """
    opts = _options(options, kw)
    be = get_backend(backend)
    t0 = time.perf_counter()
    program = spec.build(scenario)
    build_s = time.perf_counter() - t0
    check_capability(be, program.kind)
    res = be.solve(program, opts)
    allocation = None
    if res.has_solution:
        allocation = spec.decode(scenario, program, res.values)
    scale = float(program.meta.get("objective_scale", 1.0))
    stats = dataclasses.replace(res.stats, build_seconds=build_s)
    logger.debug("%s on %s: %s in %.3fs", backend, program.name, res.termination,
                 res.stats.solve_seconds)
    return dataclasses.replace(
        res,
        objective=res.objective * scale,
        bound=res.bound * scale,
        allocation=allocation,
        stats=stats,
    )


def run_heuristic(scenario: Any, spec: Any, name: str, *, seed: int = 0) -> Result:
    """Run heuristic ``name`` for ``spec`` and score it with the evaluator.

    The Result's ``objective`` is the evaluator's; ``bound`` and ``gap`` are NaN (no proof).
    """
    from .metrics import evaluate

    table = heuristics(spec)
    if name not in table:
        raise KeyError(f"unknown heuristic {name!r} for {type(spec).__name__}; "
                       f"known: {', '.join(sorted(table))}")
    t0 = time.perf_counter()
    allocation = table[name](scenario, spec, seed=seed)
    seconds = time.perf_counter() - t0
    metrics = evaluate(scenario, allocation, spec)
    bad = sorted(k for k in metrics.hard if metrics.violations.get(k, 0.0) > 1e-6)
    term = Termination.FEASIBLE if not bad else Termination.ERROR
    return Result(
        term,
        True,
        objective=metrics.objective,
        bound=math.nan,
        gap=math.nan,
        allocation=allocation,
        stats=SolveStats(backend=name, solve_seconds=seconds),
        message="" if not bad else "heuristic allocation violates: " + ", ".join(bad),
    )


def methods(spec: Any, instance: Any = None) -> list[str]:
    """Every method name that :func:`run_method` accepts for ``spec``: registered algorithms,
    heuristics, and (when the spec builds a program) the installed backends. Given an
    ``instance``, the program is built and only the backends that take its kind are listed.
    """
    from .backend import backends as _backends

    names = list(algorithms(spec)) + list(heuristics(spec))
    if hasattr(spec, "build"):
        avail = [b for b, info in _backends().items() if info["available"]]
        if instance is not None:
            kind = spec.build(instance).kind
            avail = [b for b in avail if kind in get_backend(b).kinds]
        names += avail
    return names


def run_method(
    instance: Any, spec: Any, method: str, *, options: SolveOptions | None = None, seed: int = 0
) -> Result:
    """Run ``method`` on ``instance``: an algorithm, a heuristic or a backend name (in that order).
    """
    algos = algorithms(spec)
    if method in algos:
        t0 = time.perf_counter()
        res = algos[method](instance, spec, options or SolveOptions())
        if res.stats.solve_seconds == 0.0:
            res = dataclasses.replace(res, stats=dataclasses.replace(
                res.stats, solve_seconds=time.perf_counter() - t0))
        return res
    if method in heuristics(spec):
        return run_heuristic(instance, spec, method, seed=seed)
    return solve(instance, spec, backend=method, options=options)
