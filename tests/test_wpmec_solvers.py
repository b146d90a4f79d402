"""Wireless-powered MEC: inner solver, exact branch and bound, baselines, batch mode.

Independent truths: CVXPY (CLARABEL, exponential cone via rel_entr), exhaustive enumeration of
all 2^N modes, Lagrangian duality certificates and the evaluator's own physics.
"""

from __future__ import annotations

import numpy as np
import pytest

from aigc_opt.cases import get_case
from aigc_opt.problems.wpmec import WpmecBatch, WpmecInstance, WpmecParams, WpmecSpec
from aigc_opt.problems.wpmec.batch import solve_batch
from aigc_opt.problems.wpmec.evaluate import evaluate_wpmec
from aigc_opt.problems.wpmec.exact import exact_batch
from aigc_opt.problems.wpmec.heuristics import relaxation_batch
from aigc_opt.problems.wpmec.inner import (
    dual_value,
    snr_of_price,
    snr_of_price_lambertw,
    snr_of_price_newton,
    solve_inner,
)
from aigc_opt.result import Termination
from aigc_opt.solve import algorithms, heuristics, run_method

OBJ_RTOL = 1e-6
N_DEFAULT = 200  # frames in the default acceptance run (1,000 under -m slow)


def _all_modes(n: int) -> np.ndarray:
    return ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(bool)


def _enumerate(L: np.ndarray, g: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Optimum per frame over all 2^N modes, each solved by the inner solver."""
    F, N = L.shape
    modes = _all_modes(N)
    M = modes.shape[0]
    out = np.empty(F)
    step = max(1, 8192 // M)
    for s in range(0, F, step):
        f = np.arange(s, min(F, s + step))
        rows = np.repeat(f, M)
        v, *_ = solve_inner(L[rows], g[rows], W[rows], np.tile(modes, (f.size, 1)))
        out[f] = v.reshape(f.size, M).max(axis=1)
    return out


# ---------------------------------------------------------------- inner problem


def test_snr_closed_form_matches_newton_and_equation() -> None:
    y = np.exp(np.linspace(np.log(1e-6), np.log(50.0), 4001))
    z = snr_of_price(y)
    np.testing.assert_allclose(z, snr_of_price_lambertw(y), rtol=1e-7)
    np.testing.assert_allclose(z, snr_of_price_newton(y), rtol=1e-12)
    np.testing.assert_allclose(np.log1p(z) - z / (1 + z), y, rtol=1e-11)


def _cvxpy_inner(L: np.ndarray, g: np.ndarray, W: np.ndarray, off: np.ndarray
                 ) -> tuple[float, float, np.ndarray]:
    cp = pytest.importorskip("cvxpy")
    scale = float(L.sum() + W.sum())
    c0 = float(L[~off].sum())
    j = np.flatnonzero(off)
    a = cp.Variable(nonneg=True)
    tau = cp.Variable(j.size, nonneg=True)
    obj = c0 * cp.power(a, 1.0 / 3.0)
    if j.size:
        obj = obj - cp.sum(cp.multiply(W[j], cp.rel_entr(tau, tau + g[j] * a)))
    prob = cp.Problem(cp.Maximize(obj / scale), [a + cp.sum(tau) <= 1])
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-11, tol_gap_rel=1e-11, tol_feas=1e-11)
    t = np.zeros(L.size)
    t[j] = tau.value
    return float(prob.value) * scale, float(a.value), t


def test_inner_matches_cvxpy() -> None:
    rng = np.random.default_rng(5)
    checked = 0
    for k in range(12):
        n = 4 + k % 5
        inst = WpmecInstance.generate(n, seed=100 + k)
        L, g, W = inst.coefficients()
        off = rng.random(n) < 0.6
        if k % 4 == 0:
            off[:] = True  # all offloading (c0 = 0 branch)
        v, a, tau, _ = solve_inner(L[None], g[None], W[None], off[None])
        cv, ca, ctau = _cvxpy_inner(L, g, W, off)
        assert v[0] == pytest.approx(cv, rel=OBJ_RTOL)
        assert v[0] >= cv * (1 - 1e-9)  # ours is at least as good as the conic solver's
        np.testing.assert_allclose(a[0], ca, atol=1e-4)
        np.testing.assert_allclose(tau[0], ctau, atol=1e-4)
        checked += 1
    assert checked == 12


def test_inner_is_certified_by_strong_duality_to_1e9() -> None:
    """D(nu*) with every user fixed to the mode is an upper bound equal to the value."""
    b = WpmecBatch.generate(300, 12, seed=2)
    L, g, W = b.coefficients()
    off = np.random.default_rng(0).random(L.shape) < 0.5
    off[::7] = True
    off[3::7] = False
    v, a, tau, nu = solve_inner(L, g, W, off)
    ub, *_ = dual_value(nu, L, g, W, off.astype(np.int8))
    assert np.all(ub >= v * (1 - 1e-12))
    np.testing.assert_allclose(ub, v, rtol=1e-9)
    # primal feasibility: the frame is exactly used
    np.testing.assert_allclose(a + tau.sum(axis=1), 1.0, rtol=1e-12)
    assert (tau[~off] == 0).all() and (tau >= 0).all() and (a > 0).all()


# ---------------------------------------------------------------- exact method


def _acceptance(n_frames: int) -> None:
    b = WpmecBatch.generate(n_frames, 10, seed=2020)
    L, g, W = b.coefficients()
    sol = solve_batch(b, "exact")
    truth = _enumerate(L, g, W)
    np.testing.assert_allclose(sol.objective, truth, rtol=OBJ_RTOL)
    assert np.all(sol.bound >= truth * (1 - 1e-12))  # the certificate is a valid bound
    assert np.all(sol.gap <= 1e-6)
    for method in ("cd", "lr", "all_local", "all_offload"):
        h = solve_batch(b, method, seed=1)
        assert np.all(sol.objective >= h.objective * (1 - 1e-12)), method


def test_exact_equals_enumeration_n10() -> None:
    _acceptance(N_DEFAULT)


@pytest.mark.slow
def test_exact_equals_enumeration_n10_1000_frames() -> None:
    _acceptance(1000)


@pytest.mark.parametrize("n", [3, 7, 13])
def test_exact_equals_enumeration_other_sizes_and_params(n: int) -> None:
    prm = WpmecParams(harvest_efficiency=0.51, ap_power_w=2.0, bandwidth_hz=1e6)
    w = np.random.default_rng(n).uniform(0.5, 2.0, n)
    b = WpmecBatch.generate(8 if n == 13 else 40, n, seed=n, weights=w, params=prm)
    L, g, W = b.coefficients()
    sol = exact_batch(L, g, W)
    np.testing.assert_allclose(sol.objective, _enumerate(L, g, W), rtol=OBJ_RTOL)
    assert np.all(sol.gap <= 1e-6)


def test_exact_result_and_evaluator_agree() -> None:
    spec = WpmecSpec()
    for seed in range(5):
        inst = WpmecInstance.generate(10, seed=seed)
        res = run_method(inst, spec, "exact")
        assert res.termination is Termination.OPTIMAL and res.has_solution
        assert res.gap <= 1e-6 and res.bound >= res.objective
        m = evaluate_wpmec(inst, res.allocation, spec)
        assert m.feasible
        assert m.objective == pytest.approx(res.objective, rel=OBJ_RTOL)


def test_exact_n30_certified_and_beats_baselines() -> None:
    b = WpmecBatch.generate(12, 30, seed=30)
    sol = solve_batch(b, "exact")
    assert np.all(sol.gap <= 1e-6)
    for method in ("cd", "lr"):
        assert np.all(sol.objective >= solve_batch(b, method).objective * (1 - 1e-12))
    # evaluator agrees on every frame
    L, g, W = b.coefficients()
    from aigc_opt.problems.wpmec import WpmecAllocation

    for k in range(b.n_frames):
        inst = b.frame(k)
        alloc = WpmecAllocation.from_times(inst, sol.offload[k], sol.a[k], sol.tau[k])
        assert evaluate_wpmec(inst, alloc).objective == pytest.approx(sol.objective[k],
                                                                      rel=OBJ_RTOL)


def test_node_limit_reports_honest_gap() -> None:
    b = WpmecBatch.generate(60, 10, seed=7)
    L, g, W = b.coefficients()
    full = exact_batch(L, g, W)
    k = int(np.argmax(full.nodes))
    assert full.nodes[k] > 1  # this frame needs branching
    inst = b.frame(k)
    res = run_method(inst, WpmecSpec(max_nodes=1), "exact")
    assert res.has_solution and res.bound >= full.objective[k] * (1 - 1e-12)
    if res.gap > 1e-6:
        assert res.termination is Termination.FEASIBLE
    assert res.objective <= full.objective[k] * (1 + 1e-12)


def test_batch_equals_single_frames() -> None:
    b = WpmecBatch.generate(15, 8, seed=4)
    sol = solve_batch(b, "exact", chunk=4)
    for k in range(b.n_frames):
        r = run_method(b.frame(k), WpmecSpec(), "exact")
        assert r.objective == pytest.approx(sol.objective[k], rel=1e-9)


# ---------------------------------------------------------------- baselines


def test_registered_methods_and_case() -> None:
    spec = WpmecSpec()
    assert set(algorithms(spec)) == {"exact"}
    assert {"cd", "lr", "all_local", "all_offload"} <= set(heuristics(spec))
    kind = get_case("wpmec.binary")
    assert kind.reference == "exact"
    inst = kind.make_instance(3, n_users=6)
    assert isinstance(inst, WpmecInstance) and inst.n_users == 6
    assert isinstance(kind.make_spec(), WpmecSpec)


def test_heuristics_scored_by_evaluator_below_exact() -> None:
    spec = WpmecSpec()
    inst = WpmecInstance.generate(12, seed=9)
    best = run_method(inst, spec, "exact").objective
    for name, fn in heuristics(spec).items():
        alloc = fn(inst, spec, seed=0)
        m = evaluate_wpmec(inst, alloc, spec)
        assert m.feasible, name
        assert m.objective <= best * (1 + 1e-9), name


def test_relaxation_matches_cvxpy_and_bounds_the_optimum() -> None:
    cp = pytest.importorskip("cvxpy")
    b = WpmecBatch.generate(4, 6, seed=8)
    L, g, W = b.coefficients()
    val, x, a, s, tau = relaxation_batch(L, g, W)
    opt = exact_batch(L, g, W).objective
    assert np.all(val >= opt * (1 - 1e-9))  # a relaxation bounds the binary optimum
    assert np.all((x >= -1e-12) & (x <= 1 + 1e-12))
    for k in range(4):
        scale = float(L[k].sum() + W[k].sum())
        av = cp.Variable(nonneg=True)
        sv = cp.Variable(6, nonneg=True)
        tv = cp.Variable(6, nonneg=True)
        obj = (cp.sum(cp.multiply(L[k], cp.power(av - sv, 1.0 / 3.0)))
               - cp.sum(cp.multiply(W[k], cp.rel_entr(tv, tv + cp.multiply(g[k], sv)))))
        prob = cp.Problem(cp.Maximize(obj / scale), [av + cp.sum(tv) <= 1, sv <= av])
        prob.solve(solver="CLARABEL")
        assert val[k] == pytest.approx(prob.value * scale, rel=1e-6)


def test_cd_from_optimum_stays_and_lr_is_feasible() -> None:
    from aigc_opt.problems.wpmec.heuristics import cd_batch

    b = WpmecBatch.generate(30, 10, seed=12)
    L, g, W = b.coefficients()
    ex = exact_batch(L, g, W)
    cd = cd_batch(L, g, W, initial=ex.offload)
    np.testing.assert_allclose(cd.objective, ex.objective, rtol=1e-12)
    lr = solve_batch(b, "lr")
    np.testing.assert_allclose(lr.a + lr.tau.sum(axis=1), 1.0, rtol=1e-12)


def test_solve_batch_rejects_unknown_method() -> None:
    from aigc_opt.errors import ValidationError

    with pytest.raises(ValidationError) as info:
        solve_batch(WpmecBatch.generate(2, 3), "magic")
    assert info.value.field == "method"


def test_pipeline_through_core_evaluate_and_run_heuristic() -> None:
    import aigc_opt as ao

    inst = WpmecInstance.generate(9, seed=21)
    spec = WpmecSpec()
    exact = ao.run_method(inst, spec, "exact")
    m = ao.evaluate(inst, exact.allocation, spec)
    assert m.family == "wpmec" and m.feasible
    assert m.objective == pytest.approx(exact.objective, rel=OBJ_RTOL)
    for name in ("cd", "lr", "all_local", "all_offload"):
        r = ao.run_heuristic(inst, spec, name)
        assert r.termination is Termination.FEASIBLE, (name, r.message)
        assert r.objective <= exact.objective * (1 + 1e-9)


def test_evaluator_property_random_time_allocations() -> None:
    """Evaluator physics vs the solver-side closed-form objective on random allocations."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from aigc_opt.problems.wpmec import WpmecAllocation
    from aigc_opt.problems.wpmec.inner import objective_value

    @settings(max_examples=60, deadline=None)
    @given(st.integers(1, 12), st.integers(0, 10**6), st.floats(0.01, 0.99))
    def check(n: int, seed: int, a: float) -> None:
        rng = np.random.default_rng(seed)
        inst = WpmecInstance.generate(n, seed=seed)
        off = rng.random(n) < 0.5
        tau = np.where(off, rng.random(n), 0.0)
        if tau.sum() > 0:
            tau *= (1.0 - a) * rng.uniform(0.5, 1.0) / tau.sum()
        alloc = WpmecAllocation.from_times(inst, off, a, tau)
        m = evaluate_wpmec(inst, alloc)
        L, g, W = inst.coefficients()
        ref = objective_value(L[None], g[None], W[None], off[None], np.array([a]), tau[None])
        assert m.feasible
        assert m.objective == pytest.approx(float(ref[0]), rel=1e-9)
        if off.any():  # stretching the slots past the frame is caught
            late = WpmecAllocation.from_times(inst, off, a, tau * (1.0 - a + 0.1) / tau.sum())
            assert evaluate_wpmec(inst, late).violations["time"] > 0.05

    check()


def test_identical_users_symmetry_breaking_is_exact() -> None:
    """Repeated gains (interchangeable users) give the enumerated optimum with few nodes."""
    b = WpmecBatch(np.tile([3e-6, 1e-6, 5e-6, 3e-6], (3, 3)) * np.array([[1.0], [0.5], [2.0]]))
    L, g, W = b.coefficients()
    sol = exact_batch(L, g, W)
    np.testing.assert_allclose(sol.objective, _enumerate(L, g, W), rtol=OBJ_RTOL)
    same = WpmecBatch(np.full((1, 30), 3e-6), weights=np.ones(30))
    s30 = exact_batch(*same.coefficients(), max_nodes=5000)
    assert s30.gap[0] <= 1e-6 and s30.nodes[0] < 200


def test_time_limit_returns_feasible_with_valid_bound() -> None:
    from aigc_opt.backend import SolveOptions

    inst = WpmecInstance.generate(30, seed=5)
    opt = run_method(inst, WpmecSpec(), "exact")
    res = run_method(inst, WpmecSpec(), "exact", options=SolveOptions(time_limit=1e-9))
    assert res.has_solution and res.termination is Termination.FEASIBLE
    assert np.isfinite(res.bound) and res.bound >= opt.objective
    assert res.gap > 1e-6 and res.objective <= opt.objective * (1 + 1e-12)
