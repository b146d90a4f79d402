"""Bandwidth and compute shares: KKT fast path against closed forms, CVXPY and the evaluator."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt.cases import get_case
from aigc_opt.errors import ValidationError
from aigc_opt.problems.allocation import (
    BandwidthComputeAllocation,
    BandwidthComputeInstance,
    BandwidthComputeSpec,
)
from aigc_opt.problems.allocation.bandwidth import closed_form
from aigc_opt.spec import ExtraConstraint

OBJ_RTOL = 1e-6
TIGHT = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}
#: CLARABEL's allocations are accurate to ~1e-3 of a user's equal share (conic
#: solvers return objectives to ~1e-10 but allocation vectors only to ~1e-4..1e-3).
ALLOC_TOL_SHARE = 1e-2
SOLVER_FEAS = 1e-5

SPECS = [
    BandwidthComputeSpec(use_min_rate=False, use_deadline=False),
    BandwidthComputeSpec(use_min_rate=True, use_deadline=False),
    BandwidthComputeSpec(use_min_rate=False, use_deadline=True),
    BandwidthComputeSpec(),
    BandwidthComputeSpec(bandwidth_scale=0.7, compute_scale=0.8),
]


def test_unconstrained_square_root_rule() -> None:
    """Without side constraints b_n = B sqrt(w a)/sum sqrt(w a), f_n = F sqrt(w C)/sum sqrt(w C),
    optimum (sum sqrt(w a))^2 / B + (sum sqrt(w C))^2 / F per server."""
    inst = BandwidthComputeInstance.generate(40, 1, seed=3)
    spec = BandwidthComputeSpec(use_min_rate=False, use_deadline=False)
    res = ao.run_method(inst, spec, "closed_form")
    sa = np.sqrt(inst.weight * inst.data_bits / inst.spectral_eff)
    sc = np.sqrt(inst.weight * inst.workload_flop)
    B, F = inst.bandwidth_hz[0], inst.compute_flops[0]
    np.testing.assert_allclose(res.allocation.bandwidth_hz, B * sa / sa.sum(), rtol=1e-12)
    np.testing.assert_allclose(res.allocation.compute_flops, F * sc / sc.sum(), rtol=1e-12)
    np.testing.assert_allclose(res.objective, sa.sum() ** 2 / B + sc.sum() ** 2 / F, rtol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"mr{s.use_min_rate:d}dl{s.use_deadline:d}"
                         f"b{s.bandwidth_scale}")
def test_closed_form_matches_cvxpy(seed: int, spec: BandwidthComputeSpec) -> None:
    inst = BandwidthComputeInstance.generate(120, 3, seed=seed)
    res = ao.run_method(inst, spec, "closed_form")
    cv = ao.solve(inst, spec, backend="cvxpy", extra=TIGHT)
    assert res.optimal and cv.has_solution
    np.testing.assert_allclose(cv.objective, res.objective, rtol=OBJ_RTOL)
    # certificate: bound <= optimum <= objective, gap at rounding level
    assert res.bound <= res.objective * (1 + 1e-12) and res.gap < 1e-10
    assert res.bound <= cv.objective * (1 + OBJ_RTOL)  # CVXPY is feasible to ~1e-8 only
    share_b = (inst.bandwidth_hz / inst.users_per_server)[inst.server] * spec.bandwidth_scale
    share_f = (inst.compute_flops / inst.users_per_server)[inst.server] * spec.compute_scale
    dev_b = np.abs(cv.allocation.bandwidth_hz - res.allocation.bandwidth_hz) / share_b
    dev_f = np.abs(cv.allocation.compute_flops - res.allocation.compute_flops) / share_f
    assert dev_b.max() < ALLOC_TOL_SHARE and dev_f.max() < ALLOC_TOL_SHARE
    m = ao.evaluate(inst, res.allocation, spec)
    assert m.max_violation < 1e-9, m.violations
    np.testing.assert_allclose(m.objective, res.objective, rtol=1e-6)
    mc = ao.evaluate(inst, cv.allocation, spec)
    assert mc.max_violation < SOLVER_FEAS, mc.violations
    np.testing.assert_allclose(mc.objective, cv.objective, rtol=1e-6)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("skew", ["one_low", "log_uniform"])
def test_cvxpy_optimal_is_optimal_with_skewed_weights(seed: int, skew: str) -> None:
    """Weights spanning 1e-9..1e6 (default Clarabel tolerances): CVXPY's ``optimal`` is within
    1e-6 of the closed form's certified optimum. In equal-share units Clarabel stopped up to
    1.6e-3 above it (one weight x 1e-9: 2.2e-4), reporting ``optimal``."""
    inst = BandwidthComputeInstance.generate(100 if skew == "log_uniform" else 8, 2, seed=seed)
    w = inst.weight.copy()
    if skew == "one_low":
        w[0] *= 1e-9
    else:
        w *= 10.0 ** np.random.default_rng(seed).uniform(-6, 6, w.size)
    inst = BandwidthComputeInstance(**{**vars(inst), "weight": w})
    spec = BandwidthComputeSpec()
    ref = ao.run_method(inst, spec, "closed_form")
    cv = ao.run_method(inst, spec, "cvxpy")
    assert ref.optimal and cv.termination is ao.Termination.OPTIMAL and cv.verified, cv.message
    assert ref.bound <= cv.objective * (1 + 1e-9)
    assert cv.objective <= ref.objective * (1 + 1e-6), (cv.objective, ref.objective)
    np.testing.assert_allclose(ao.evaluate(inst, cv.allocation, spec).objective, cv.objective,
                               rtol=1e-9)


def test_side_constraints_bind_and_kkt() -> None:
    """Deadlines and min rates are active for some users; budgets are used exactly; users that
    are neither clipped nor late share one bandwidth price: w a / b^2 = lambda."""
    inst = BandwidthComputeInstance.generate(300, 2, seed=11)
    spec = BandwidthComputeSpec()
    res = ao.run_method(inst, spec, "closed_form")
    b, f = res.allocation.bandwidth_hz, res.allocation.compute_flops
    m = ao.evaluate(inst, res.allocation, spec)
    lat = m.per_item["latency_s"]
    bmin = inst.min_rate_bps / inst.spectral_eff
    tight = np.isfinite(inst.deadline_s) & (lat >= inst.deadline_s * (1 - 1e-9))
    clipped = b <= bmin * (1 + 1e-9)
    assert tight.sum() > 5 and (clipped & (bmin > 0)).sum() > 5
    np.testing.assert_allclose(np.bincount(inst.server, weights=b), inst.bandwidth_hz, rtol=1e-12)
    np.testing.assert_allclose(np.bincount(inst.server, weights=f), inst.compute_flops,
                               rtol=1e-12)
    free = ~tight & ~clipped
    price = inst.weight * inst.comm_load / b**2
    for s in range(inst.n_servers):
        p = price[free & (inst.server == s)]
        np.testing.assert_allclose(p, p.mean(), rtol=1e-9)
        np.testing.assert_allclose(res.values["lambda"][s], p.mean(), rtol=1e-9)


def test_baselines_scored_and_not_better() -> None:
    inst = BandwidthComputeInstance.generate(100, 2, seed=4)
    spec = BandwidthComputeSpec(use_min_rate=False, use_deadline=False)
    opt = ao.run_method(inst, spec, "closed_form")
    for name in ("equal_share", "proportional_demand"):
        h = ao.run_method(inst, spec, name)
        assert h.termination is ao.Termination.FEASIBLE
        assert h.objective >= opt.objective * (1 - 1e-12)
    # equal shares meet the generated deadlines and min rates by construction
    eq = ao.run_method(inst, BandwidthComputeSpec(), "equal_share")
    assert eq.termination is ao.Termination.FEASIBLE


def test_infeasible_min_rates_and_deadlines() -> None:
    inst = BandwidthComputeInstance.generate(30, 1, seed=2, min_rate_frac=1.0)
    spec = BandwidthComputeSpec(bandwidth_scale=0.2)
    res = ao.run_method(inst, spec, "closed_form")
    assert res.termination is ao.Termination.INFEASIBLE and not res.has_solution
    cv = ao.solve(inst, spec, backend="cvxpy")
    assert cv.termination is ao.Termination.INFEASIBLE
    # deadlines that no split can meet: 1e-4 of the equal-share latency
    inst2 = BandwidthComputeInstance.generate(30, 1, seed=2, deadline_frac=1.0)
    inst2 = BandwidthComputeInstance(
        inst2.server, inst2.data_bits, inst2.spectral_eff, inst2.workload_flop, inst2.weight,
        inst2.min_rate_bps, inst2.deadline_s * 1e-4, inst2.bandwidth_hz, inst2.compute_flops)
    res2 = closed_form(inst2, BandwidthComputeSpec(), max_iter=60)  # prices diverge: certified
    assert not res2.has_solution and res2.termination is ao.Termination.INFEASIBLE
    assert "dual certificate" in res2.message
    cv2 = ao.solve(inst2, BandwidthComputeSpec(), backend="cvxpy")
    assert cv2.termination is ao.Termination.INFEASIBLE


def test_from_scenario_and_case_kind() -> None:
    scn = ao.Scenario.generate(n_users=30, n_servers=3, n_models=2, seed=1)
    servers = np.argmax(scn.channel_gain, axis=1)
    inst = BandwidthComputeInstance.from_scenario(scn, servers)
    spec = BandwidthComputeSpec(use_deadline=False)
    res = ao.run_method(inst, spec, "closed_form")
    cv = ao.solve(inst, spec, backend="cvxpy", extra=TIGHT)
    np.testing.assert_allclose(cv.objective, res.objective, rtol=OBJ_RTOL)
    kind = get_case("allocation.bandwidth_compute")
    r = ao.run_method(kind.make_instance(0), kind.make_spec(), kind.reference or "")
    assert r.optimal and math.isfinite(r.objective)


def test_evaluator_reports_violations() -> None:
    inst = BandwidthComputeInstance.generate(10, 1, seed=0)
    alloc = BandwidthComputeAllocation(np.full(10, inst.bandwidth_hz[0] / 5),
                                       np.full(10, inst.compute_flops[0] / 10))
    m = ao.evaluate(inst, alloc, BandwidthComputeSpec())
    np.testing.assert_allclose(m.violations["bandwidth"], 1.0)
    assert not m.feasible


def test_bad_input_names_field() -> None:
    inst = BandwidthComputeInstance.generate(5, 2, seed=0)
    kw = {k: getattr(inst, k) for k in ("server", "data_bits", "spectral_eff", "workload_flop",
                                         "weight", "min_rate_bps", "deadline_s", "bandwidth_hz",
                                         "compute_flops")}
    for field, bad in (("server", np.array([0, 1, 2, 0, 1])), ("spectral_eff", -np.ones(5)),
                       ("deadline_s", np.full(5, np.nan)), ("compute_flops", np.ones(3)),
                       ("weight", np.zeros(5))):
        with pytest.raises(ValidationError, match=field):
            BandwidthComputeInstance(**{**kw, field: bad})
    with pytest.raises(ValidationError, match="bandwidth_scale"):
        BandwidthComputeSpec(bandwidth_scale=0.0)


@dataclass(frozen=True)
class CappedFirstUserSpec(BandwidthComputeSpec):
    """A user's subclass: request 0 gets at most ``cap_hz`` of uplink bandwidth."""

    cap_hz: float = 1.0e5

    def extra_constraints(self, instance: Any) -> tuple[ExtraConstraint, ...]:
        cap = self.cap_hz

        def convex(v: Any) -> list[Any]:
            # the CVXPY model's allocation in Hz, divided by the cap (rows of order 1)
            return [v["bandwidth_hz"][0] / cap <= 1.0]

        def check(alloc: Any) -> np.ndarray:
            return np.array([max(float(alloc.bandwidth_hz[0]) - cap, 0.0) / cap])

        return (ExtraConstraint("cap_user0", None, check, convex=convex),)


def test_subclass_inherits_builder_and_methods_and_adds_a_constraint() -> None:
    """Capping b_0 below its optimum on one server: b_0 = cap and the other users split B - cap
    by the square-root rule, so the optimum is w_0 a_0 / cap + (sum_{n>0} sqrt(w a))^2 / (B -
    cap) + (sum sqrt(w C))^2 / F."""
    inst = BandwidthComputeInstance.generate(40, 1, seed=3)
    free = ao.run_method(inst, BandwidthComputeSpec(use_min_rate=False, use_deadline=False),
                         "closed_form")
    cap = 0.5 * float(free.allocation.bandwidth_hz[0])
    spec = CappedFirstUserSpec(use_min_rate=False, use_deadline=False, cap_hz=cap)
    assert {"closed_form", "equal_share", "proportional_demand", "cvxpy"} <= set(
        ao.methods(spec, inst))
    res = ao.solve(inst, spec, backend="cvxpy", extra=TIGHT)
    assert res.optimal
    sa = np.sqrt(inst.weight * inst.comm_load)
    sc = np.sqrt(inst.weight * inst.workload_flop)
    B, F = inst.bandwidth_hz[0], inst.compute_flops[0]
    expected = sa[0] ** 2 / cap + sa[1:].sum() ** 2 / (B - cap) + sc.sum() ** 2 / F
    np.testing.assert_allclose(res.objective, expected, rtol=OBJ_RTOL)
    assert abs(res.allocation.bandwidth_hz[0] - cap) < ALLOC_TOL_SHARE * B / inst.n_users
    met = ao.evaluate(inst, res.allocation, spec)
    assert "cap_user0" in met.violations and met.max_violation < SOLVER_FEAS, met.violations
    np.testing.assert_allclose(met.objective, res.objective, rtol=OBJ_RTOL)
    # the referee checks the cap on any allocation: the uncapped optimum breaks it
    assert not ao.evaluate(inst, free.allocation, spec).feasible


@pytest.mark.parametrize("name", ["bandwidth_scale", "compute_scale"])
def test_subnormal_budget_scale_is_refused(name: str) -> None:
    """5e-324 passed '> 0' and gave infinite objectives ('feasible' heuristics at inf, CVXPY
    'unverified'); budget scales now start at 1e-6."""
    with pytest.raises(ValidationError, match=name):
        BandwidthComputeSpec(**{name: 5e-324})
    assert getattr(BandwidthComputeSpec(**{name: 1e-6}), name) == 1e-6


def test_infeasible_deadlines_are_certified_by_the_closed_form() -> None:
    """The closed form's prices diverge when no split of the budgets meets the deadlines; it
    said 'limit'. A dual bound on the least compute the deadlines need (best bandwidth split)
    now certifies 'infeasible'; CVXPY agrees on every case, and so does the optimum where the
    deadlines can be met (seed 0, 8 users, 2 servers, budgets scaled)."""
    from aigc_opt.cases import get_case
    from aigc_opt.problems.allocation.bandwidth import deadline_certificate
    from aigc_opt.problems.allocation.data import budgets

    kind = get_case("allocation.bandwidth_compute")
    inst = kind.make_instance(0, n_users=8, n_servers=2)
    seen = set()
    for scale in (1e-3, 0.1, 0.3, 1.0):
        spec = kind.spec(bandwidth_scale=scale, compute_scale=scale)
        cf = ao.run_method(inst, spec, "closed_form")
        ref = ao.run_method(inst, spec, "cvxpy")
        assert cf.termination == ref.termination, (scale, cf.message, ref.message)
        seen.add(cf.termination.value)
        need = deadline_certificate(inst, spec)
        _, F = budgets(inst, spec)
        if cf.termination == "infeasible":
            assert "dual certificate" in cf.message and (need > F).any()
        else:  # a feasible point uses at least the least compute the bound states
            f = cf.allocation.compute_flops
            assert (np.bincount(inst.server, weights=f, minlength=2) >= need * (1 - 1e-9)).all()
    assert seen == {"infeasible", "optimal"}


def test_deadline_certificate_is_no_proof_when_min_rates_use_the_budget_exactly() -> None:
    """Minimum rates that add up to the bandwidth budget exactly (each user b_min = B/k):
    feasible (CVXPY and 200 iterations find the optimum), but the certificate said 'at least
    7.9e28 FLOP/s' (rounding in sum b - B times a huge price) and a closed form stopped
    after 2 iterations said 'infeasible'. It now claims nothing there."""
    import dataclasses

    from aigc_opt.problems.allocation.bandwidth import deadline_certificate

    spec = BandwidthComputeSpec()
    inst = BandwidthComputeInstance.generate(8, 2, seed=0, deadline_frac=1.0)
    k = np.bincount(inst.server, minlength=2)
    inst = dataclasses.replace(inst, min_rate_bps=(inst.bandwidth_hz / k)[inst.server]
                               * inst.spectral_eff)
    assert (deadline_certificate(inst, spec) <= inst.compute_flops).all()
    assert closed_form(inst, spec, max_iter=2).termination is not ao.Termination.INFEASIBLE
    assert closed_form(inst, spec).termination is ao.Termination.OPTIMAL
    assert ao.solve(inst, spec, "cvxpy").termination is ao.Termination.OPTIMAL


def test_weight_times_load_overflow_is_refused_by_name() -> None:
    """Each field in range, their product not: weights 1.5e4 times uploads of 7.7e305 Hz s
    (a metamorphic unit transform of a x1e300 certify case) overflowed inside the closed form's
    square-root shares and CVXPY's model (a DCPError raised out of run_method)."""
    import dataclasses

    inst = BandwidthComputeInstance.generate(6, 2, seed=0)
    big = dataclasses.replace(inst, spectral_eff=inst.spectral_eff * 1e-300)  # w a finite
    assert np.isfinite(big.weight * big.comm_load).all() and big.comm_load.max() > 1e306
    with pytest.raises(ValidationError) as err:
        dataclasses.replace(big, weight=big.weight * 1e4)
    msg = str(err.value)
    assert err.value.field == "weight" and "overflows float64" in msg and "upload" in msg
