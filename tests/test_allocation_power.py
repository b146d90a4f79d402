"""Power allocation: water-filling and minimum power against independent truth."""

from __future__ import annotations

import math

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt.cases import get_case
from aigc_opt.errors import ValidationError
from aigc_opt.problems.allocation import (
    PowerAllocation,
    PowerInstance,
    PowerSpec,
    sum_rate_dual,
    water_fill,
    water_fill_sorted,
)

OBJ_RTOL = 1e-6
#: Clarabel at tight tolerances; allocations compared with a looser, solver-accuracy tolerance.
TIGHT = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}
ALLOC_ATOL_REL = 1e-4


def _plain_bisection_level(inv_gain: np.ndarray, total: float) -> float:
    """Independent water level: plain scalar bisection on sum max(0, nu - 1/g) = P (no polish)."""
    lo, hi = 0.0, total + float(inv_gain.min())
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if np.maximum(mid - inv_gain, 0.0).sum() > total:
            hi = mid
        else:
            lo = mid
    return 0.5 * (lo + hi)


def test_textbook_family_2000_draws() -> None:
    """100 channels, P = 3, noise 1; 50 gains U(13,14), 50 U(0,0.1)."""
    rng = np.random.default_rng(2024)
    draws = 2000
    g = np.concatenate([rng.uniform(13, 14, (draws, 50)), rng.uniform(0, 0.1, (draws, 50))], axis=1)
    g = np.maximum(g, 1e-12)
    p, nu = water_fill(1.0 / g, 3.0)
    rates = np.log2(1.0 + p * g).sum(axis=1)
    # independent: a separately written bisection per draw, no active-set polish
    ref = np.empty(draws)
    for i in range(draws):
        level = _plain_bisection_level(1.0 / g[i], 3.0)
        ref[i] = np.log2(1.0 + np.maximum(level - 1.0 / g[i], 0.0) * g[i]).sum()
    assert abs(rates.mean() - ref.mean()) <= 0.005 * ref.mean()
    np.testing.assert_allclose(rates, ref, rtol=1e-10)
    # all power on the 50 strong channels, budget met exactly
    assert (p[:, 50:] == 0.0).all()
    assert (p[:, :50] > 0).all()
    np.testing.assert_allclose(p.sum(axis=1), 3.0, rtol=1e-13)
    # the textbook value: nu = (P + sum 1/g_strong)/50, rate = sum log2(nu g)
    nu_ref = (3.0 + (1.0 / g[:, :50]).sum(axis=1)) / 50
    np.testing.assert_allclose(nu, nu_ref, rtol=1e-13)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_textbook_instance_cvxpy_and_evaluator(seed: int) -> None:
    inst = PowerInstance.textbook(seed)
    spec = PowerSpec()
    res = ao.run_method(inst, spec, "closed_form")
    assert res.optimal and res.gap < 1e-12
    cv = ao.solve(inst, spec, backend="cvxpy", extra=TIGHT)
    assert cv.has_solution
    np.testing.assert_allclose(cv.objective, res.objective, rtol=OBJ_RTOL)
    np.testing.assert_allclose(cv.allocation.power_w, res.allocation.power_w,
                               atol=ALLOC_ATOL_REL * 3)
    for r in (res, cv):
        m = ao.evaluate(inst, r.allocation, spec)
        assert m.feasible, m.violations
        np.testing.assert_allclose(m.objective, r.objective, rtol=1e-6)
    assert (res.allocation.power_w[50:] == 0).all()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("mode", ["sum_rate", "min_power"])
def test_closed_form_matches_cvxpy(seed: int, mode: str) -> None:
    inst = PowerInstance.generate(60, seed=seed)
    if seed % 2:  # caps on some channels
        caps = np.where(np.arange(60) % 3 == 0, 0.01, np.inf)
        inst = PowerInstance(inst.gain, inst.noise_psd_w_per_hz, inst.bandwidth_hz,
                             inst.total_power_w, caps, inst.rate_target_bps * 0.5, inst.weight)
    spec = PowerSpec(mode=mode)
    res = ao.run_method(inst, spec, "closed_form")
    cv = ao.solve(inst, spec, backend="cvxpy", extra=TIGHT)
    assert res.optimal and cv.has_solution
    np.testing.assert_allclose(cv.objective, res.objective, rtol=OBJ_RTOL)
    scale = res.allocation.power_w.max()
    np.testing.assert_allclose(cv.allocation.power_w, res.allocation.power_w,
                               atol=ALLOC_ATOL_REL * scale)
    for r in (res, cv):
        m = ao.evaluate(inst, r.allocation, spec)
        assert m.max_violation < 1e-6, m.violations
        np.testing.assert_allclose(m.objective, r.objective, rtol=1e-6)


def test_kkt_conditions_weighted_capped() -> None:
    """Independent optimality check: equal marginal a/(h+p) on free channels, larger when capped,
    smaller when off."""
    rng = np.random.default_rng(5)
    n = 40
    inst = PowerInstance(gain=rng.uniform(0.1, 10, n), noise_psd_w_per_hz=np.full(n, 1e-3),
                         bandwidth_hz=rng.uniform(0.5e3, 2e3, n), total_power_w=5.0,
                         max_power_w=rng.uniform(0.05, 1.0, n), rate_target_bps=np.zeros(n),
                         weight=rng.uniform(0.5, 2, n))
    res = ao.run_method(inst, PowerSpec(), "closed_form")
    p = res.allocation.power_w
    marg = inst.weight * inst.bandwidth_hz / (inst.noise_floor_w + p)
    free = (p > 1e-12) & (p < inst.max_power_w - 1e-12)
    lam = marg[free].mean()
    np.testing.assert_allclose(marg[free], lam, rtol=1e-10)
    assert (marg[p <= 1e-12] <= lam * (1 + 1e-10)).all()
    assert (marg[p >= inst.max_power_w - 1e-12] >= lam * (1 - 1e-10)).all()
    np.testing.assert_allclose(p.sum(), 5.0, rtol=1e-12)


def test_sorted_breakpoints_equal_bisection() -> None:
    """The iteration-free breakpoint method (closed_form) and the bisection agree everywhere:
    weights, caps, all-capped budgets, one channel."""
    rng = np.random.default_rng(8)
    for t in range(300):
        n = int(rng.integers(1, 40))
        h = rng.uniform(0.01, 5, n)
        a = rng.uniform(0.3, 3, n) if t % 2 else np.ones(n)
        c = np.where(rng.random(n) < 0.4, rng.uniform(0.05, 2, n), np.inf)
        if t % 7 == 0:
            c = rng.uniform(0.05, 2, n)
        total = float(rng.uniform(0.1, 20))
        p1, _ = water_fill(h, total, weight=a, cap=c)
        p2, _ = water_fill_sorted(h, total, weight=a, cap=c)
        np.testing.assert_allclose(p2, p1, atol=1e-12 * total)
        assert p2.sum() <= total * (1 + 1e-12) and (p2 <= c).all() and (p2 >= 0).all()


def test_dual_is_an_upper_bound() -> None:
    inst = PowerInstance.generate(50, seed=7)
    res = ao.run_method(inst, PowerSpec(), "closed_form")
    for lam in np.geomspace(1e-12, 1e-4, 30):
        assert sum_rate_dual(inst, inst.total_power_w, float(lam)) >= res.objective * (1 - 1e-12)
    assert res.bound >= res.objective * (1 - 1e-12)


def test_slack_budget_all_capped() -> None:
    n = 5
    inst = PowerInstance(gain=np.ones(n), noise_psd_w_per_hz=np.ones(n), bandwidth_hz=np.ones(n),
                         total_power_w=10.0, max_power_w=np.full(n, 1.0),
                         rate_target_bps=np.zeros(n), weight=np.ones(n))
    res = ao.run_method(inst, PowerSpec(), "closed_form")
    np.testing.assert_allclose(res.allocation.power_w, 1.0)
    np.testing.assert_allclose(res.objective, 5.0)  # 5 * log2(2)
    np.testing.assert_allclose(res.bound, res.objective)


def test_min_power_closed_form_and_infeasible() -> None:
    n = 3
    inst = PowerInstance(gain=np.array([1.0, 2.0, 4.0]), noise_psd_w_per_hz=np.ones(n),
                         bandwidth_hz=np.ones(n), total_power_w=1.0,
                         max_power_w=np.array([np.inf, np.inf, 0.5]),
                         rate_target_bps=np.array([1.0, 2.0, 3.0]), weight=np.ones(n))
    res = ao.run_method(inst, PowerSpec(mode="min_power"), "closed_form")
    # p = (2^r - 1) / g: 1, 1.5, 7/4 > cap 0.5 -> infeasible
    assert res.termination is ao.Termination.INFEASIBLE and not res.has_solution
    ok = ao.run_method(inst, PowerSpec(mode="min_power", rate_scale=0.5), "closed_form")
    np.testing.assert_allclose(ok.allocation.power_w,
                               (2.0 ** (0.5 * np.array([1, 2, 3])) - 1) / np.array([1, 2, 4]))


def test_heuristic_is_scored_and_not_better() -> None:
    inst = PowerInstance.generate(80, seed=3)
    spec = PowerSpec()
    opt = ao.run_method(inst, spec, "closed_form")
    heur = ao.run_method(inst, spec, "equal_power")
    assert heur.termination is ao.Termination.FEASIBLE
    assert heur.objective <= opt.objective * (1 + 1e-12)
    bad = ao.evaluate(inst, PowerAllocation(np.full(80, 1.0)), spec)
    assert not bad.feasible and bad.violations["power_budget"] > 1


def test_case_kind_registered() -> None:
    from aigc_opt.cases import get_case

    kind = get_case("allocation.power")
    inst = kind.make_instance(0, n_users=20)
    res = ao.run_method(inst, kind.make_spec(), kind.reference or "")
    assert res.optimal and math.isfinite(res.objective)


def test_bad_input_names_field() -> None:
    with pytest.raises(ValidationError, match="gain"):
        PowerInstance(gain=[1.0, -1.0], noise_psd_w_per_hz=1.0, bandwidth_hz=1.0,
                      total_power_w=1.0, max_power_w=np.inf, rate_target_bps=0.0, weight=1.0)
    with pytest.raises(ValidationError, match="total_power_w"):
        PowerInstance(gain=[1.0], noise_psd_w_per_hz=1.0, bandwidth_hz=1.0,
                      total_power_w=math.nan, max_power_w=np.inf, rate_target_bps=0.0, weight=1.0)
    with pytest.raises(ValidationError, match="bandwidth_hz"):
        PowerInstance(gain=[1.0, 2.0], noise_psd_w_per_hz=1.0, bandwidth_hz=[1.0],
                      total_power_w=1.0, max_power_w=np.inf, rate_target_bps=0.0, weight=1.0)
    with pytest.raises(ValidationError, match="mode"):
        PowerSpec(mode="max_power")


def test_segment_search_recovers_from_any_start_and_terminates() -> None:
    """``_segment_powers`` walks from a wrong segment (below or above the answer) to the right
    one, in one direction, and equals bisection water-filling; the kernel does the same."""
    from aigc_opt.problems.allocation import jit
    from aigc_opt.problems.allocation.power import _segment_powers

    rng = np.random.default_rng(11)
    n = 40
    h, a = rng.uniform(0.01, 1.0, n), rng.uniform(0.5, 2.0, n)
    c = np.where(rng.random(n) < 0.3, rng.uniform(0.01, 0.2, n), np.inf)
    total = 3.0
    s, e = h / a, (h + c) / a
    bp = np.sort(np.concatenate([s, e[np.isfinite(e)]]))
    ref, _ = water_fill(h, total, weight=a, cap=c)
    impls = [_segment_powers]
    if jit.NUMBA_AVAILABLE:
        from aigc_opt.problems.allocation.power_kernel import _segment_powers as kernel
        impls.append(kernel)
    for seg in impls:
        for k in (0, bp.size // 2, bp.size - 1):
            p, _ = seg(h, a, c, s, e, bp, k, total)
            np.testing.assert_allclose(p, ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("target", [1e-300, 1e-310, 1e-9])
def test_min_power_subnormal_target_is_met_exactly(target: float) -> None:
    """F5: a target of 1e-300 bit/s needs ~1e-320 W, below the normal float64 range; the
    closed form rounded it down and missed the target by 3.2e-4 relative (``unverified``).
    It now returns the least representable power that meets it, both methods verified."""
    import dataclasses

    inst = get_case("allocation.power").make_instance(0, n_users=8)
    t = inst.rate_target_bps.copy()
    t[0] = target
    inst = dataclasses.replace(inst, rate_target_bps=t)
    spec = PowerSpec(mode="min_power")
    for method in ("closed_form", "cvxpy"):
        res = ao.run_method(inst, spec, method)
        assert res.optimal and res.verified, (method, res.message)
    p0 = ao.run_method(inst, spec, "closed_form").allocation.power_w[0]
    exact = inst.noise_floor_w[0] * math.expm1(target / inst.bandwidth_hz[0] * math.log(2.0))
    assert exact <= p0
    if target >= 1e-300:  # (at 1e-310 the evaluator's p g underflows below ~5e-312 W)
        assert p0 <= exact * (1 + 1e-3) + 1e-321  # the least power, to a few ulps


def test_min_power_all_targets_zero_is_zero_power_for_both_methods() -> None:
    """F5: with every target 0, CVXPY's interior-point dust (1.3e-9 W) was the objective and
    disagreed with the referee (2.4e-9 W): ``unverified``. Users without a target get exactly
    0 W now."""
    import dataclasses

    inst = get_case("allocation.power").make_instance(0, n_users=8)
    inst = dataclasses.replace(inst, rate_target_bps=np.zeros(8))
    spec = PowerSpec(mode="min_power")
    for method in ("closed_form", "cvxpy"):
        res = ao.run_method(inst, spec, method)
        assert res.optimal and res.verified, (method, res.message)
        assert res.objective == 0.0 and not res.allocation.power_w.any()


def _cvxpy_default_matches_closed_form(inst: PowerInstance, spec: PowerSpec) -> None:
    """CVXPY with its default solver is optimal, verified and at the closed form's optimum,
    and the referee's objective is the solver's."""
    ref = ao.run_method(inst, spec, "closed_form")
    cv = ao.solve(inst, spec, backend="cvxpy")
    assert ref.optimal and cv.optimal and cv.verified, cv.message
    np.testing.assert_allclose(cv.objective, ref.objective, rtol=OBJ_RTOL)
    m = ao.evaluate(inst, cv.allocation, spec)
    assert m.feasible
    np.testing.assert_allclose(m.objective, cv.objective, rtol=1e-6)


@pytest.mark.parametrize("gain_factor", [1e-20, 1e-9, 1e-4, 1e6, 1e12])
def test_cvxpy_sum_rate_at_extreme_snr_matches_closed_form(gain_factor: float) -> None:
    """The CVXPY model writes log1p(c p) per SNR range (log form above c = 1, the series below
    c p = 1e-4): Clarabel had failed at gains x1e6 (SolverError) and called gains x1e-20
    "unbounded" (certify_bench seeds 1128003723, 77000719)."""
    base = PowerInstance.generate(8, seed=3)
    inst = PowerInstance(base.gain * gain_factor, base.noise_psd_w_per_hz, base.bandwidth_hz,
                         base.total_power_w, base.max_power_w, base.rate_target_bps, base.weight)
    _cvxpy_default_matches_closed_form(inst, PowerSpec(mode="sum_rate"))


@pytest.mark.parametrize("rate_factor", [1e-3, 30.0, 150.0])
def test_cvxpy_min_power_at_extreme_targets_matches_closed_form(rate_factor: float) -> None:
    """Rate targets needing 2^(r/b) up to ~1e229: the rows use log(p~ + 1/e) >= -log(1 - e^-t)
    where e = 2^(r/b) - 1 > 1 (Clarabel had failed on log1p(e p~), seed 1128003429)."""
    base = PowerInstance.generate(8, seed=3)
    inst = PowerInstance(base.gain, base.noise_psd_w_per_hz, base.bandwidth_hz,
                         base.total_power_w, base.max_power_w,
                         base.rate_target_bps * rate_factor, base.weight)
    _cvxpy_default_matches_closed_form(inst, PowerSpec(mode="min_power"))


def test_cvxpy_min_power_with_a_targetless_user_matches_closed_form() -> None:
    """Tester te: a user without a rate target (no cost, cap 5.5e14 in scaled units) let
    Clarabel's iterate drift to p~ = 2e7 and stop 'optimal' 1.5 % above the optimum of about
    1e-12 W; the referee's absolute 1e-9 tolerance let it pass. Its p~ is now capped at 1."""
    inst = PowerInstance(
        gain=[89.93482875252849, 0.015388763333506578, 0.00032149647647997126],
        noise_psd_w_per_hz=[3.437701345244627e-18, 9.75016267517622e-21, 5.997008349255835e-19],
        bandwidth_hz=[150608.78939581302, 23761324.77665014, 207639.80003293222],
        total_power_w=0.0002056372383036987, max_power_w=[3.1763659597283302, np.inf, np.inf],
        rate_target_bps=[0.0, 112783.31066891116, 50345.43514293994],
        weight=[2.217000598716381, 0.12756544022626262, 1.5649966119855239])
    _cvxpy_default_matches_closed_form(inst, PowerSpec(mode="min_power",
                                                       rate_scale=0.014689957361497407))


@pytest.mark.parametrize("w", [1e-320, 1e-300, 1e9])
def test_water_filling_is_invariant_to_a_common_weight_scale(w: float) -> None:
    """Sum-rate water-filling depends on the weights only up to a common factor: weights of
    1e-320 (each > 0, so valid) raised ZeroDivisionError in the closed form, whose weight sum
    underflowed to 0."""
    import dataclasses

    inst = PowerInstance.generate(8, seed=1)
    ref = ao.run_method(inst, PowerSpec(), "closed_form")
    scaled = dataclasses.replace(inst, weight=np.full(8, w))
    res = ao.run_method(scaled, PowerSpec(), "closed_form")
    assert res.termination == ao.Termination.OPTIMAL
    np.testing.assert_allclose(res.allocation.power_w, ref.allocation.power_w, rtol=1e-9)
