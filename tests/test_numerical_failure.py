"""A method whose own arithmetic fails on accepted input returns an ``error`` Result that says
so; a method that refuses an input or option still raises. Inputs at the edge of the accepted
range (subnormal 1e-320 constants, weights of 1e-200) had raised ValidationErrors naming
quantities the caller never gave (``wpt_fraction = nan``, ``bandwidth_hz = inf``)."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt.errors import ValidationError
from aigc_opt.problems import allocation as al
from aigc_opt.problems import incentives as inc
from aigc_opt.problems import wpmec as wp
from aigc_opt.result import Termination
from aigc_opt.solve import numerical_failure


@pytest.mark.parametrize("field", ["kappa", "noise_w", "cycles_per_bit"])
@pytest.mark.parametrize("method", ["exact", "cd"])
def test_wpmec_overflow_is_an_error_result(field: str, method: str) -> None:
    inst = wp.WpmecInstance.generate(5)
    inst = dataclasses.replace(inst, params=dataclasses.replace(inst.params, **{field: 1e-320}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = ao.run_method(inst, wp.WpmecSpec(), method,
                            options=ao.SolveOptions(time_limit=5))
    assert res.termination is Termination.ERROR and not res.has_solution
    assert "numerical failure" in res.message and not res.verified
    assert math.isnan(res.objective)


def test_refusals_and_options_still_raise() -> None:
    """Only a non-finite computed value counts as a numerical failure."""
    assert numerical_failure(ValidationError("wpt_fraction", "-", math.nan, "NaN"))
    assert numerical_failure(ValidationError("bandwidth_hz", "Hz", np.float64(np.inf), "x"))
    assert not numerical_failure(ValidationError("valuation", "-", "log", "needs sqrt"))
    assert not numerical_failure(ValidationError("extra.rins", "-", math.nan, "NaN"))
    assert not numerical_failure(ValidationError("relax_memory option sg_share", "-", math.nan,
                                                 "NaN is not allowed"))
    assert not numerical_failure(ValidationError("level", "-", 3.0, "too large"))
    with pytest.raises(ValidationError, match="valuation"):  # out of the method's scope
        ao.run_method(inc.ContractInstance.teleoperation(), inc.ContractSpec(valuation="log"),
                      "reduction")


@pytest.mark.parametrize(("w", "s"), [(1e-200, 1e-1), (1e-200, 1e-100), (1.0, 1e-150),
                                      (1e-150, 1.0), (1e9, 1e6)])
def test_joint_bp_closed_form_is_scale_free(w: float, s: float) -> None:
    """Every weight ``w`` and (alpha, beta) = (s, 10 s): the allocation of unit weights and
    (1, 10), the objective times ``w s``. Weights of 1e-200 had overflowed the price
    constants (``bandwidth_hz = nan`` raised)."""
    inst = dataclasses.replace(al.JointBPInstance.generate(8, seed=3), weight=np.ones(8))
    ref = ao.run_method(inst, al.JointBPSpec(latency_weight=1.0, energy_weight=10.0),
                        "closed_form")
    res = ao.run_method(dataclasses.replace(inst, weight=np.full(8, w)),
                        al.JointBPSpec(latency_weight=s, energy_weight=10 * s), "closed_form")
    assert ref.verified and res.verified and res.termination is Termination.OPTIMAL
    np.testing.assert_allclose(res.objective, ref.objective * w * s, rtol=1e-9)
    np.testing.assert_allclose(res.eval_objective, res.objective, rtol=1e-9)
    np.testing.assert_allclose(res.allocation.bandwidth_hz, ref.allocation.bandwidth_hz,
                               rtol=1e-9)


def test_power_beyond_float64_is_refused_not_infeasible() -> None:
    """min_power with rate targets whose ``2^(r/B) - 1`` overflows and no power cap: the
    closed form says error; the CVXPY model had replaced the overflow by 1 and its solver
    said "infeasible" (a false claim). It now refuses to build, naming the target."""
    from aigc_opt.benchmarks.certify_bench import make_case

    inst, spec, _ = make_case("allocation.power", 321001659)
    cf = ao.run_method(inst, spec, "closed_form", options=ao.SolveOptions(time_limit=5))
    assert cf.termination is Termination.ERROR and "float64" in cf.message
    with pytest.raises(ValidationError, match="rate_target_bps") as err:
        ao.run_method(inst, spec, "cvxpy", options=ao.SolveOptions(time_limit=5))
    assert "float64" in str(err.value)


def test_shannon_rate_resolves_tiny_snr() -> None:
    """``log2(1 + snr)`` is 0 below snr ~ 1e-16; the rate is ``b snr / ln 2`` there."""
    from aigc_opt.channel import shannon_rate

    b, p, n0 = np.array([1e7, 1e7]), np.array([0.2, 0.2]), 4e-21
    g = np.array([1.76e-31, 1e-10])
    r = shannon_rate(b, p, g, n0)
    snr = p * g / (n0 * b)
    np.testing.assert_allclose(r[0], b[0] * snr[0] / math.log(2.0), rtol=1e-12)
    np.testing.assert_allclose(r[1], b[1] * np.log2(1.0 + snr[1]), rtol=1e-14)


def test_explanation_time_is_reported() -> None:
    """An infeasible closed-form solve takes ~1e-4 s and its explanation (an IIS search on
    the convex model) up to the time limit: the latter is in stats.extra, not hidden."""
    from aigc_opt.benchmarks.certify_bench import make_case

    inst, spec, _ = make_case("allocation.joint_bp", 7000304)
    res = ao.run_method(inst, spec, "closed_form", options=ao.SolveOptions(time_limit=2))
    assert res.termination is Termination.INFEASIBLE and res.explanation is not None
    assert 0.0 < res.stats.extra["explain_seconds"] <= 2 * 2.0 + 2.0  # CVXPY compiles on top
    assert res.stats.solve_seconds < res.stats.extra["explain_seconds"]
