"""Verification in the loop: no result claims a solution that the referee has not checked.

:func:`verify` re-scores a Result's allocation with the family's evaluator
(:func:`aigc_opt.metrics.evaluate`, numpy only) and compares:

* every hard constraint's relative violation must be ``<= viol_tol`` (NaN and inf count as
  violated);
* the evaluator's objective ``o_e`` and the method's ``o_m`` must agree:
  ``|o_e - o_m| <= obj_rtol * max(|o_e|, |o_m|) + OBJ_ATOL``.

A result that passes keeps its termination and gets ``verified=True``; one that fails becomes
``Termination.UNVERIFIED`` with a message naming the constraint (or the objective difference) and
its size. One exception: when the evaluator's objective lies between the method's objective and
its proven bound (a MIP stopped at its gap whose epigraph variable sits below its cap, so the
allocation is *better* than reported), the result is verified with the evaluator's objective and
the gap recomputed (the message says so). Likewise a result that claims only a feasible point
(``FEASIBLE``, e.g. Clarabel's ``optimal_inaccurate``) and satisfies every hard constraint is
verified with the evaluator's objective when that objective does not cross the result's bound:
the point is what is returned, so its true cost is reported. Tolerances are per method:
LP/MILP solvers (HiGHS, SCIP) work to 1e-6; conic interior-point solvers return allocations
to about 1e-5 relative (Clarabel at default settings), so the CVXPY backend
declares ``(1e-5, 1e-5)``.
A backend states its pair as the attribute ``tolerances = (obj_rtol, viol_tol)``.

An ``optimal`` claim is a proof to :data:`OPTIMAL_GAP` (HiGHS's own default relative MIP gap;
the backends ask it for :data:`aigc_opt.backend.DEFAULT_MIP_GAP` = 1e-6 unless told): a
solve stopped by a looser gap the user asked for (``SolveOptions(mip_gap=0.3)``: HiGHS says
"optimal" at a 19 % gap) is verified as ``feasible`` with its bound and gap, so that no
summary counts it as optimal or takes it as the reference of a ratio.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from typing import Any

from .metrics import FEAS_TOL, evaluate, is_violated
from .result import OPTIMAL_GAP, Result, Termination, relative_gap

logger = logging.getLogger(__name__)

#: Default relative objective tolerance and relative violation tolerance.
OBJ_RTOL = 1e-6
VIOL_TOL = FEAS_TOL
#: Absolute objective tolerance (problem units) for objectives at or near zero.
OBJ_ATOL = 1e-9


def verify(instance: Any, spec: Any, result: Result, *, obj_rtol: float = OBJ_RTOL,
           viol_tol: float = VIOL_TOL, objective_from_evaluator: bool = False) -> Result:
    """Check ``result`` against the family's evaluator (see module docstring).

    Parameters
    ----------
    instance, spec
        What the result was computed for.
    result : Result
        A result; without a solution it is returned unchanged (``verified=False``).
    obj_rtol, viol_tol : float
        Relative objective tolerance and relative violation tolerance.
    objective_from_evaluator : bool
        The method has no objective of its own (heuristics): the evaluator's is taken, and a
        violated hard constraint makes the result ``infeasible`` instead of ``unverified``.
    """
    if not result.has_solution:
        return result
    if result.allocation is None:  # a decoder or heuristic returned None (a plug-in's bug):
        # it claimed a solution the referee cannot see; this passed as 'optimal' unverified
        return dataclasses.replace(
            result, termination=Termination.UNVERIFIED, verified=False,
            message=_join(result.message, "claims a solution but carries no allocation for "
                          "the evaluator (the decoder or heuristic returned None)"))
    t0 = time.perf_counter()
    try:
        metrics = evaluate(instance, result.allocation, spec)
    except Exception as exc:  # the referee could not read the allocation: not verified
        logger.debug("evaluation failed", exc_info=True)
        return dataclasses.replace(
            result, termination=Termination.UNVERIFIED, verified=False,
            message=_join(result.message, f"evaluator failed: {type(exc).__name__}: {exc}"))
    bad = {k: v for k, v in metrics.violations.items()
           if k in metrics.hard and is_violated(v) and not (v <= viol_tol)}
    problems = [f"{k} violated by {v:.3g} (relative, tolerance {viol_tol:g})"
                for k, v in sorted(bad.items(), key=lambda kv: -_num(kv[1]))]
    o_e = float(metrics.objective)
    result = dataclasses.replace(result, stats=dataclasses.replace(
        result.stats, extra={**result.stats.extra, "verify_seconds": time.perf_counter() - t0}))
    if objective_from_evaluator:
        if problems or math.isnan(o_e):
            return dataclasses.replace(
                result, termination=Termination.INFEASIBLE, has_solution=False, objective=o_e,
                eval_objective=o_e, metrics=metrics, verified=False,
                message=_join(result.message, "allocation violates: " + "; ".join(problems)))
        return dataclasses.replace(result, objective=o_e, eval_objective=o_e, metrics=metrics,
                                   verified=True)
    o_m = float(result.objective)
    diff = abs(o_e - o_m)
    note = ""
    if not (diff <= obj_rtol * max(abs(o_e), abs(o_m)) + OBJ_ATOL):
        if not problems and _within_reported_gap(o_e, o_m, float(result.bound), obj_rtol):
            # e.g. a MIP stopped at its gap with an epigraph variable below its cap: the
            # allocation is better than the method said, and still within its proven gap.
            note = (f"objective {o_m:.10g} corrected to the evaluator's {o_e:.10g} "
                    f"(between the method's objective and its bound {result.bound:.10g})")
            result = dataclasses.replace(result, objective=o_e,
                                         gap=relative_gap(o_e, float(result.bound)))
        elif not problems and _feasible_claim(result, o_e, o_m, obj_rtol):
            # a solver that only claims a feasible point (e.g. Clarabel "optimal_inaccurate")
            # misreports that point's cost: the point is what is returned, so its true cost is
            # reported, still as "feasible" (certify seed 84000543: 9.4e-5 relative)
            note = (f"objective {o_m:.10g} corrected to the evaluator's {o_e:.10g} "
                    f"(a feasible, not optimal, claim; difference {diff:.3g})")
            result = dataclasses.replace(result, objective=o_e,
                                         gap=relative_gap(o_e, float(result.bound)))
        else:
            problems.append(f"objective {o_m:.10g} but the evaluator gives {o_e:.10g} "
                            f"(difference {diff:.3g})")
    if problems:
        logger.warning("%s: result not verified: %s", result.stats.backend, "; ".join(problems))
        return dataclasses.replace(
            result, termination=Termination.UNVERIFIED, eval_objective=o_e, metrics=metrics,
            verified=False,
            message=_join(f"was {result.termination.value}: " + "; ".join(problems),
                          result.message))
    return label_by_gap(dataclasses.replace(result, eval_objective=o_e, metrics=metrics,
                                            verified=True, message=_join(result.message, note)))


def label_by_gap(result: Result) -> Result:
    """``result`` as ``feasible`` when it claims ``optimal`` with a gap above
    :data:`OPTIMAL_GAP` (a looser ``mip_gap`` stopped the solve), its message saying so;
    otherwise unchanged. Applied to every result of :func:`aigc_opt.solve` and
    :func:`aigc_opt.run_method`, verified or not (``SolveOptions(verify=False)``)."""
    if result.termination is Termination.OPTIMAL and result.gap > OPTIMAL_GAP * (1 + 1e-9):
        return dataclasses.replace(result, termination=Termination.FEASIBLE, message=_join(
            result.message, f"gap {result.gap:.3g} above the optimality tolerance "
                            f"{OPTIMAL_GAP:g} (a gap limit stopped the solve): feasible"))
    return result


def _within_reported_gap(o_e: float, o_m: float, bound: float, rtol: float) -> bool:
    """True when the evaluator's objective lies between the method's objective and its proven
    bound (so the allocation is at least as good as claimed and the gap still holds)."""
    if not (math.isfinite(o_e) and math.isfinite(o_m) and math.isfinite(bound)):
        return False
    lo, hi = min(o_m, bound), max(o_m, bound)
    tol = rtol * max(abs(o_e), abs(o_m), abs(bound)) + OBJ_ATOL
    return lo - tol <= o_e <= hi + tol and (o_e - o_m) * (bound - o_m) >= 0


def _feasible_claim(result: Result, o_e: float, o_m: float, rtol: float) -> bool:
    """True when ``result`` claims only feasibility (``FEASIBLE``) and the evaluator's finite
    objective does not cross its bound (if any): then the evaluator's objective can replace the
    method's without claiming more than the method proved."""
    if result.termination is not Termination.FEASIBLE or not math.isfinite(o_e):
        return False
    bound = float(result.bound)
    if not (math.isfinite(bound) and math.isfinite(o_m)):
        return True
    tol = rtol * max(abs(o_e), abs(o_m), abs(bound)) + OBJ_ATOL
    side = o_m - bound  # > 0 for a minimisation's lower bound, < 0 for a maximisation's
    return (o_e - bound) * side >= -tol * abs(side) or abs(o_e - bound) <= tol


def tolerances_of(method: Any) -> tuple[float, float]:
    """``(obj_rtol, viol_tol)`` declared by a backend or algorithm (defaults otherwise)."""
    tol = getattr(method, "tolerances", None)
    if isinstance(tol, tuple) and len(tol) == 2:
        return float(tol[0]), float(tol[1])
    return OBJ_RTOL, VIOL_TOL


def _num(v: float) -> float:
    return math.inf if math.isnan(v) else v


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a and b else (a or b)
