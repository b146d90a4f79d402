"""Online family, exact frame solver: closed forms and branch and bound against an independent
CVXPY model of the LyDROO frame problem, with enumeration of all 2^N modes."""

from __future__ import annotations

import itertools
import math

import cvxpy as cp
import numpy as np
import pytest
from scipy.optimize import minimize_scalar

import aigc_opt
from aigc_opt.problems.online import (
    FrameInstance,
    LyapunovSpec,
    generate_trajectory,
    lydroo_profile,
    order_preserving_modes,
    solve_fixed_modes,
    solve_frame,
)
from aigc_opt.problems.online.lyapunov import (
    _dual,
    _efficiency,
    lyapunov_prep,
    solve_mode,
)

SPEC = LyapunovSpec()
#: Agreement asked between the closed-form inner solver and CVXPY/Clarabel.
INNER_RTOL = 1e-7


class CvxInner:
    """The fixed-mode frame problem written from the physics only (exponential cone).

    Variables in scaled units: local CPU ``F`` (100 MHz), offloaded ``c`` (Mbit), time ``t``
    (fraction of the frame), ``z >= t exp(K c / t)`` with ``K = ln 2 * 1e6 v_u/(tau W)`` so
    that the transmit energy is ``(tau/s)(z - t)`` and ``p = (e^{K c/t} - 1)/s``. The users
    are reordered so that one compiled (DPP) problem serves every mode with ``k`` offloading
    users.
    """

    def __init__(self, n: int, spec: LyapunovSpec, tau_s: float = 1.0) -> None:
        self.spec, self.tau, self.n = spec, tau_s, n
        self.k_const = math.log(2.0) * 1e6 * spec.vu / (tau_s * spec.bandwidth_hz)
        self.problems: dict[int, tuple[cp.Problem, dict[str, cp.Parameter]]] = {}

    def _problem(self, k: int) -> tuple[cp.Problem, dict[str, cp.Parameter]]:
        if k in self.problems:
            return self.problems[k]
        nl = self.n - k
        par: dict[str, cp.Parameter] = {}
        obj: cp.Expression = cp.Constant(0.0)
        cons: list[cp.Constraint] = []
        if nl:
            f = cp.Variable(nl, nonneg=True)
            par.update(cap_f=cp.Parameter(nl, nonneg=True), val_loc=cp.Parameter(nl),
                       e_loc=cp.Parameter(nl, nonneg=True))
            obj = obj + par["val_loc"] @ f - par["e_loc"] @ cp.power(f, 3)
            cons.append(f <= par["cap_f"])
        if k:
            c = cp.Variable(k, nonneg=True)
            t = cp.Variable(k, nonneg=True)
            z = cp.Variable(k)
            par.update(cap_c=cp.Parameter(k, nonneg=True), rmax=cp.Parameter(k, nonneg=True),
                       val_off=cp.Parameter(k), e_off=cp.Parameter(k, nonneg=True))
            obj = obj + par["val_off"] @ c - par["e_off"] @ (z - t)
            cons += [c <= par["cap_c"], cp.sum(t) <= 1, c <= cp.multiply(par["rmax"], t),
                     cp.constraints.ExpCone(self.k_const * c, t, z)]
        self.problems[k] = (cp.Problem(cp.Maximize(obj), cons), par)
        return self.problems[k]

    def solve(self, inst: FrameInstance, mode: np.ndarray) -> float:
        s, tau = self.spec, self.tau
        mode = np.asarray(mode, bool)
        b0 = s.queue_unit_bits
        v = (inst.queues_bits / b0 + s.V * s.weights_for(inst.n_users)) / b0   # per bit
        y = s.y_scale * inst.virtual_queues
        snr = inst.gains / s.noise_w
        q = inst.queues_bits
        prob, par = self._problem(int(mode.sum()))
        lo, of = ~mode, mode
        if lo.any():
            par["cap_f"].value = np.minimum(s.f_max_hz, s.cycles_per_bit * q[lo] / tau) / 1e8
            par["val_loc"].value = v[lo] * 1e8 * tau / s.cycles_per_bit
            par["e_loc"].value = y[lo] * s.kappa * 1e24 * tau
        if of.any():
            par["cap_c"].value = q[of] / 1e6
            par["rmax"].value = (tau * s.bandwidth_hz / s.vu
                                 * np.log2(1 + snr[of] * s.p_max_w) / 1e6)
            par["val_off"].value = v[of] * 1e6
            par["e_off"].value = y[of] * tau / snr[of]
        prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10,
                   tol_feas=1e-10, max_iter=500)
        assert prob.status == cp.OPTIMAL, prob.status
        return float(prob.value)


def frames(n: int, count: int, seed: int) -> list[FrameInstance]:
    tr = generate_trajectory(lydroo_profile(n, count), seed)
    rng = np.random.default_rng(seed)
    out = []
    for t in range(count):
        q = rng.uniform(0, 20e6, n) * (rng.random(n) < 0.9)
        y = rng.uniform(0, 60, n) * (rng.random(n) < 0.7)
        out.append(FrameInstance(tr.gains_to(0)[t], q, y))
    return out


def test_lambert_w_efficiency_minimises_cost_per_bit() -> None:
    """x*(mu) = 1 + W0((m-1)/e) against a numerical minimisation of (mu + y tau p)/rho."""
    inst = frames(4, 1, 3)[0]
    inst = FrameInstance(inst.gains, np.full(4, 5e6), np.array([3.0, 20.0, 0.5, 80.0]))
    pr = lyapunov_prep(SPEC, inst)
    for mu in (1e-3, 0.3, 5.0, 200.0):
        x = _efficiency(pr, mu)
        for i in range(4):
            def cost(xx: float, i: int = i, mu: float = mu) -> float:
                return float((mu + pr.y[i] * pr.tau_s * np.expm1(xx) / pr.s[i])
                             / (pr.c_rate * xx))
            ref = minimize_scalar(cost, bounds=(1e-9, float(pr.x_max[i])), method="bounded",
                                  options={"xatol": 1e-12})
            assert cost(float(x[i])) <= ref.fun * (1 + 1e-9)


def test_inner_closed_form_matches_cvxpy() -> None:
    n = 5
    cvx = CvxInner(n, SPEC)
    rng = np.random.default_rng(0)
    for inst in frames(n, 6, 11):
        pr = lyapunov_prep(SPEC, inst)
        for mode in [np.zeros(n, bool), np.ones(n, bool)] + [rng.random(n) < 0.5
                                                              for _ in range(3)]:
            value, bound, *_ = solve_mode(pr, mode)
            ref = cvx.solve(inst, mode)
            scale = max(1.0, abs(ref))
            assert abs(value - ref) <= INNER_RTOL * scale, (mode, value, ref)
            assert bound >= ref - INNER_RTOL * scale


@pytest.mark.parametrize("n,count,seed", [(4, 20, 1), (6, 20, 2)])
def test_branch_and_bound_equals_enumeration_with_cvxpy(n: int, count: int, seed: int) -> None:
    cvx = CvxInner(n, SPEC)
    modes = np.array(list(itertools.product([False, True], repeat=n)))
    for inst in frames(n, count, seed):
        sol = solve_frame(SPEC, inst)
        best = max(cvx.solve(inst, m) for m in modes)
        scale = max(1.0, abs(best))
        assert abs(sol.objective - best) <= 1e-6 * scale
        assert sol.bound >= best - INNER_RTOL * scale
        assert sol.gap <= 1e-6
        m = aigc_opt.evaluate(inst, sol.decision, SPEC)
        assert m.feasible
        assert m.objective == pytest.approx(sol.objective, rel=1e-9, abs=1e-9)


def test_lagrangian_bound_is_an_upper_bound_for_every_price() -> None:
    n = 5
    modes = np.array(list(itertools.product([False, True], repeat=n)))
    for inst in frames(n, 5, 4):
        pr = lyapunov_prep(SPEC, inst)
        best = max(solve_mode(pr, m)[0] for m in modes)
        free = -np.ones(n, np.int8)
        for mu in (0.0, 1e-3, 1.0, 30.0, 1e3, 1e5):
            assert _dual(pr, mu, free)[0] >= best * (1 - 1e-12)


def test_extreme_states_branch_and_bound_vs_enumeration_and_inner_certificates() -> None:
    """Random extreme frames (gains 1e-14..1e-8, backlogs 0..3e8 bit, energy queues 0..1e5,
    V in {0, 1, 20, 1e3}, tau in {0.1, 1, 2} s): B&B equals the best of all 2^N closed-form
    inner solves, and every inner solve's dual value certifies it to 1e-6."""
    rng = np.random.default_rng(0)
    for _ in range(120):
        n = int(rng.integers(1, 7))
        spec = LyapunovSpec(V=float(rng.choice([0.0, 1.0, 20.0, 1e3])))
        inst = FrameInstance(10 ** rng.uniform(-14, -8, n),
                             np.where(rng.random(n) < 0.2, 0.0, 10 ** rng.uniform(0, 8.5, n)),
                             np.where(rng.random(n) < 0.3, 0.0, 10 ** rng.uniform(-3, 5, n)),
                             tau_s=float(rng.choice([0.1, 1.0, 2.0])))
        sol = solve_frame(spec, inst)
        pr = lyapunov_prep(spec, inst)
        vals = [solve_mode(pr, np.array(m, bool))[:2]
                for m in itertools.product([False, True], repeat=n)]
        best = max(v for v, _ in vals)
        scale = max(1.0, abs(best))
        assert abs(sol.objective - best) <= 1e-7 * scale
        assert sol.bound >= best - 1e-9 * scale
        for value, bound in vals:
            assert value - 1e-12 <= bound <= value + 1e-6 * max(1.0, abs(value))
        m = aigc_opt.evaluate(inst, sol.decision, spec)
        assert m.feasible and abs(m.objective - sol.objective) <= 1e-9 * scale


def test_edge_cases_empty_queues_and_zero_energy_price() -> None:
    inst = frames(4, 1, 5)[0]
    empty = FrameInstance(inst.gains, np.zeros(4), inst.virtual_queues)
    sol = solve_frame(SPEC, empty)
    assert sol.objective == 0.0 and np.all(sol.bits == 0)
    assert aigc_opt.evaluate(empty, sol.decision, SPEC).objective == 0.0
    free = FrameInstance(inst.gains, np.full(4, 30e6), np.zeros(4))
    sol = solve_frame(SPEC, free)
    # without an energy price local users run at f_max, offloading users at P_max
    dec = sol.decision
    assert np.allclose(dec.cpu_hz[~dec.offload], SPEC.f_max_hz)
    assert np.allclose(dec.power_w[dec.offload & (dec.time_frac > 0)], SPEC.p_max_w)
    assert aigc_opt.evaluate(free, dec, SPEC).feasible


def test_order_preserving_quantisation_follows_the_paper_rule() -> None:
    m = np.array([0.95, 0.45, 0.6, 0.1])
    got = order_preserving_modes(m, 4)
    want = np.array([[1, 0, 1, 0],      # m > 0.5
                     [1, 1, 1, 0],      # closest to 0.5 is 0.45 (<= 0.5): m >= 0.45
                     [1, 0, 0, 0],      # next 0.6 (> 0.5): m > 0.6
                     [1, 1, 1, 1]], bool)   # next 0.1: m >= 0.1
    np.testing.assert_array_equal(got, want)
    inst = frames(6, 1, 9)[0]
    exact = solve_frame(SPEC, inst)
    quant = solve_fixed_modes(SPEC, inst, order_preserving_modes(np.full(6, 0.3), 6))
    assert quant.objective <= exact.objective + 1e-9
    for sol in (exact, quant):
        met = aigc_opt.evaluate(inst, sol.decision, SPEC)
        assert met.feasible and met.objective == pytest.approx(sol.objective, rel=1e-12)


@pytest.mark.slow
def test_branch_and_bound_equals_enumeration_n10_many_frames() -> None:
    """1,000 frames at N = 10 against all 1,024 modes (closed-form inner, independently
    checked against CVXPY above), CVXPY spot check of the winning mode."""
    n = 10
    modes = np.array(list(itertools.product([False, True], repeat=n)))
    cvx = CvxInner(n, SPEC)
    for k, inst in enumerate(frames(n, 1000, 21)):
        sol = solve_frame(SPEC, inst)
        pr = lyapunov_prep(SPEC, inst)
        best = max(solve_mode(pr, m)[0] for m in modes)
        scale = max(1.0, abs(best))
        assert abs(sol.objective - best) <= 1e-6 * scale
        assert sol.bound >= best - 1e-9 * scale
        if k % 50 == 0:
            ref = cvx.solve(inst, sol.decision.offload)
            assert abs(ref - sol.objective) <= INNER_RTOL * max(1.0, abs(ref))


@pytest.mark.parametrize("rtol", [float("nan"), -1.0, 2.0])
def test_solve_frame_refuses_a_bad_rtol(rtol: float) -> None:
    """rtol = NaN or -1 had stopped the branch and bound at once (objective 332.8 against an
    optimum of 1,599.0, scratch s24 h1)."""
    from aigc_opt.problems.online import FrameInstance, LyapunovSpec

    rng = np.random.default_rng(0)
    fi = FrameInstance(rng.exponential(1e-6, 8), rng.exponential(3e6, 8),
                       rng.exponential(50, 8), 1.0)
    with pytest.raises(aigc_opt.ValidationError, match="rtol"):
        solve_frame(LyapunovSpec(), fi, rtol=rtol)
