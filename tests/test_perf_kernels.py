"""Performance kernels (issue 18): the new kernels must give the same answers as the old ones.

* WPMEC: the Halley SNR root, the scalar (plain Python) kernels against the vectorised ones,
  the scalar and numpy branch and bound against brute-force enumeration (N <= 10) and against
  the previous implementation (commit ``814abce``, loaded from git), the zero-slack and
  huge-N bracket cases with a bounded number of dual evaluations, and clean refusals.
* Allocation fast paths: covered by ``tests/test_allocation_*.py`` (CVXPY comparisons).
"""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aigc_opt.errors import ValidationError
from aigc_opt.problems.wpmec import WpmecBatch, WpmecInstance, WpmecParams, WpmecSpec
from aigc_opt.problems.wpmec import exact as ex
from aigc_opt.problems.wpmec.inner import (
    _log1p_snr,
    dual_value,
    dual_value_1,
    log1p_snr_1,
    snr_of_price,
    snr_of_price_lambertw,
    snr_of_price_newton,
    solve_inner,
    solve_inner_1,
)

ROOT = Path(__file__).resolve().parents[1]
OLD_COMMIT = "814abce"  # last commit with the capped Kelley search and the Lambert-W start


def _all_modes(n: int) -> np.ndarray:
    return ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(bool)


def _enumerate(L: np.ndarray, g: np.ndarray, W: np.ndarray) -> np.ndarray:
    F, N = L.shape
    modes = _all_modes(N)
    M = modes.shape[0]
    rows = np.repeat(np.arange(F), M)
    v, *_ = solve_inner(L[rows], g[rows], W[rows], np.tile(modes, (F, 1)))
    return v.reshape(F, M).max(axis=1)


def _load_old() -> types.ModuleType:
    """The previous exact.py/inner.py from git, as private modules (no registrations)."""
    def show(path: str) -> str:
        out = subprocess.run(["git", "-C", str(ROOT), "show", f"{OLD_COMMIT}:{path}"],
                             capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            pytest.skip(f"git history not available: {out.stderr.strip()}")
        return out.stdout

    inner = types.ModuleType("_old_wpmec_inner")
    sys.modules["_old_wpmec_inner"] = inner
    exec(compile(show("problems/wpmec/inner.py"), "old_inner.py", "exec"), inner.__dict__)
    src = show("problems/wpmec/exact.py")
    src = src[:src.index("register_algorithm(WpmecSpec")]
    src = src.replace("from .data import", "from aigc_opt.problems.wpmec.data import")
    src = src.replace("from .inner import", "from _old_wpmec_inner import")
    old = types.ModuleType("_old_wpmec_exact")
    sys.modules["_old_wpmec_exact"] = old  # dataclasses look their module up
    exec(compile(src, "old_exact.py", "exec"), old.__dict__)
    return old


# ---------------------------------------------------------------- SNR root and scalar kernels


def test_halley_root_matches_lambertw_newton_and_equation() -> None:
    y = np.exp(np.linspace(np.log(1e-6), np.log(50.0), 4001))
    z = snr_of_price(y)
    np.testing.assert_allclose(z, snr_of_price_lambertw(y), rtol=1e-7)
    np.testing.assert_allclose(z, snr_of_price_newton(y), rtol=1e-12)
    # the equation in u = ln(1+z), evaluated without cancellation, down to y = 1e-300
    yy = np.logspace(-300, 2.8, 3001)
    u = _log1p_snr(yy)
    small = u < 0.1
    series = sum((-u) ** k / float(np.prod(np.arange(1, k + 1))) for k in range(2, 14))
    f = np.where(small, series, u + np.expm1(-u))
    np.testing.assert_allclose(f, yy, rtol=5e-15)
    scal = np.array([log1p_snr_1(v) for v in yy])
    np.testing.assert_allclose(scal, u, rtol=4e-15)


def test_scalar_dual_and_inner_equal_vectorised() -> None:
    b = WpmecBatch.generate(150, 12, seed=3)
    L, g, W = b.coefficients()
    rng = np.random.default_rng(0)
    st = rng.integers(0, 3, L.shape).astype(np.int8)
    nu = np.exp(rng.uniform(np.log(1e3), np.log(1e8), L.shape[0]))
    D, a, off, s, t, _ = dual_value(nu, L, g, W, st)
    offm = rng.random(L.shape) < 0.5
    offm[::10] = False
    offm[5::10] = True
    v, ai, tau, nui = solve_inner(L, g, W, offm)
    for k in range(L.shape[0]):
        d1, a1, o1, s1, t1 = dual_value_1(float(nu[k]), list(L[k]), list(g[k]), list(W[k]),
                                          list(st[k]))
        assert d1 == pytest.approx(D[k], rel=1e-14)
        assert a1 == pytest.approx(a[k], rel=1e-13, abs=1e-15)
        assert (np.array(o1) == off[k]).all()
        assert s1 == pytest.approx(s[k], rel=1e-11, abs=1e-12)
        v1, a1, tau1, nu1 = solve_inner_1(list(L[k]), list(g[k]), list(W[k]), list(offm[k]))
        assert v1 == pytest.approx(v[k], rel=1e-14)
        assert a1 == pytest.approx(ai[k], rel=1e-9)  # the value is stationary in a, tau
        np.testing.assert_allclose(tau1, tau[k], rtol=1e-9, atol=1e-15)
        assert a1 + sum(tau1) == pytest.approx(1.0, rel=1e-14)


def test_tabulated_snr_start_gives_the_cold_start_root() -> None:
    """Prices in the table range take one Halley step from the table: same root to rounding."""
    from aigc_opt.problems.wpmec import inner

    y = np.exp(np.linspace(np.log(1e-8), np.log(700.0), 200_001))
    u = _log1p_snr(y)  # table path (every y in range)
    cold = inner._halley(y, inner._u_start(y), 6)
    np.testing.assert_allclose(u, cold, rtol=4e-15)
    np.testing.assert_allclose(np.expm1(u), snr_of_price_newton(y), rtol=1e-12)
    small = u < 0.1
    series = sum((-u) ** k / float(np.prod(np.arange(1, k + 1))) for k in range(2, 14))
    np.testing.assert_allclose(np.where(small, series, u + np.expm1(-u)), y, rtol=5e-15)


def test_dual_curvature_matches_finite_differences_of_the_slack() -> None:
    """``curvature`` = d slack / d nu wherever the Lagrangian modes do not change nearby."""
    b = WpmecBatch.generate(40, 12, seed=11)
    L, g, W = b.coefficients()
    rng = np.random.default_rng(5)
    st = rng.integers(0, 3, size=L.shape).astype(np.int8)
    st[:10] = 2
    checked = 0
    for scale in (0.3, 1.0, 3.0, 10.0):
        nu = scale * np.median(W) * rng.uniform(0.5, 2.0, L.shape[0])
        c = np.empty(L.shape[0])
        _, a, off, s, _, _ = dual_value(nu, L, g, W, st, curvature=c)
        h = 1e-6 * nu
        _, a1, off1, s1, _, _ = dual_value(nu + h, L, g, W, st)
        _, a0, off0, s0, _, _ = dual_value(nu - h, L, g, W, st)
        smooth = (off1 == off).all(axis=1) & (off0 == off).all(axis=1) & (a > 0)
        fd = (s1 - s0) / (2 * h)
        np.testing.assert_allclose(c[smooth], fd[smooth], rtol=1e-4)
        assert np.all(c[smooth] > 0)  # D is convex
        checked += int(smooth.sum())
    assert checked >= 100


@pytest.mark.parametrize("probes", [0, 1, 6])
def test_probed_bounding_gives_valid_bounds_and_a_bracket(probes: int) -> None:
    """Nodes with fixed users: every probe count bounds the node optimum (enumeration of the
    free users' modes) from above and returns a bracket of the dual minimiser."""
    n = 7
    b = WpmecBatch.generate(12, n, seed=21)
    L, g, W = b.coefficients()
    rng = np.random.default_rng(probes)
    modes = _all_modes(n)
    for k in range(L.shape[0]):
        status = rng.integers(0, 3, size=(1, n)).astype(np.int8)
        status[0, :3] = 2
        ok = np.all((status[0] == 2) | (modes == (status[0] == 1)), axis=1)
        sub = modes[ok]
        rows = np.zeros(len(sub), dtype=int) + k
        v, *_ = solve_inner(L[rows], g[rows], W[rows], sub)
        truth = float(v.max())
        inc = ex._Incumbents(1, n)
        inc.offer(np.array([0]), np.array([0.5 * truth]), np.zeros((1, n), bool), np.ones(1),
                  np.zeros((1, n)))
        best, lo, hi, _ = ex._bound_nodes(L[k:k + 1], g[k:k + 1], W[k:k + 1], np.array([0]),
                                          status, np.array([1e3]), np.array([1e10]), inc, 1e-9,
                                          probes=probes)
        assert best[0] >= truth * (1 - 1e-12)
        _, _, _, s_lo, _, _ = dual_value(lo, L[k:k + 1], g[k:k + 1], W[k:k + 1], status)
        _, _, _, s_hi, _, _ = dual_value(hi, L[k:k + 1], g[k:k + 1], W[k:k + 1], status)
        assert s_lo[0] <= 0.0 or s_hi[0] == 0.0
        assert s_hi[0] >= 0.0 or s_lo[0] == 0.0


# ---------------------------------------------------------------- exact method


@pytest.mark.parametrize("kernel", ["scalar", "numpy"])
@pytest.mark.parametrize("n", [1, 2, 5, 8, 10])
def test_exact_kernels_equal_enumeration(kernel: str, n: int) -> None:
    prm = WpmecParams(harvest_efficiency=0.6, ap_power_w=2.5, bandwidth_hz=1.5e6)
    w = np.random.default_rng(n).uniform(0.5, 2.0, n)
    for b in (WpmecBatch.generate(25, n, seed=n), WpmecBatch.generate(15, n, seed=n + 50,
                                                                      weights=w, params=prm)):
        L, g, W = b.coefficients()
        truth = _enumerate(L, g, W)
        for k in range(L.shape[0]):
            sol = ex.exact_batch(L[k:k + 1], g[k:k + 1], W[k:k + 1], kernel=kernel)
            assert sol.objective[0] == pytest.approx(truth[k], rel=1e-6)
            assert sol.bound[0] >= truth[k] * (1 - 1e-12)
            assert sol.gap[0] <= 1e-6


def test_scalar_and_numpy_kernels_agree_and_auto_dispatch() -> None:
    for n in (3, 15, 30):
        b = WpmecBatch.generate(20, n, seed=100 + n)
        L, g, W = b.coefficients()
        for k in range(L.shape[0]):
            a = ex.exact_batch(L[k:k + 1], g[k:k + 1], W[k:k + 1], kernel="scalar")
            c = ex.exact_batch(L[k:k + 1], g[k:k + 1], W[k:k + 1], kernel="numpy")
            assert a.objective[0] == pytest.approx(c.objective[0], rel=1e-6)
            assert a.bound[0] >= c.objective[0] * (1 - 1e-12)
            assert c.bound[0] >= a.objective[0] * (1 - 1e-12)
    with pytest.raises(ValidationError):
        ex.exact_batch(L[:2], g[:2], W[:2], kernel="scalar")
    with pytest.raises(ValidationError):
        ex.exact_batch(L[:1], g[:1], W[:1], kernel="fast")


def test_exact_equals_previous_implementation_on_random_frames() -> None:
    old = _load_old()
    cases = [(10, 150), (30, 20), (100, 4), (500, 1)]
    for n, frames in cases:
        b = WpmecBatch.generate(frames, n, seed=7 * n + 1)
        L, g, W = b.coefficients()
        ref = old.exact_batch(L, g, W)
        new = ex.exact_batch(L, g, W)  # vectorised batch
        np.testing.assert_allclose(new.objective, ref.objective, rtol=1e-6)
        assert np.all(new.bound >= ref.objective * (1 - 1e-12))
        assert np.all(ref.bound >= new.objective * (1 - 1e-12))
        assert np.all(new.gap <= 1e-6)
        for k in range(min(frames, 40)):  # single frames (scalar kernel for N <= 32)
            one = ex.exact_batch(L[k:k + 1], g[k:k + 1], W[k:k + 1])
            assert one.objective[0] == pytest.approx(ref.objective[k], rel=1e-6)
            assert one.gap[0] <= 1e-6


class _Count:
    """Wraps a function and counts its calls."""

    def __init__(self, fn: Any) -> None:
        self.fn, self.calls = fn, 0

    def __call__(self, *args: Any, **kw: Any) -> Any:
        self.calls += 1
        return self.fn(*args, **kw)


def test_zero_slack_is_the_exact_minimiser(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large N: nobody offloads, a* = 1, slack == 0 exactly -> one dual evaluation, gap 0.

    The old bracket loop treated this end as wrong on both sides and bounced 200 times.
    """
    b = WpmecBatch.generate(2, 2000, seed=4)
    L, g, W = b.coefficients()
    cnt = _Count(ex.dual_value)
    monkeypatch.setattr(ex, "dual_value", cnt)
    sol = ex.exact_batch(L, g, W, kernel="numpy")
    assert cnt.calls <= 3
    np.testing.assert_allclose(sol.objective, L.sum(axis=1), rtol=1e-15)  # all local
    assert np.all(sol.gap <= 1e-12)
    # a node with every user fixed local: D is flat at sum(L) for nu <= sum(L)/3
    status = np.zeros((1, 50), dtype=np.int8)
    Lk, gk, Wk = L[:1, :50], g[:1, :50], W[:1, :50]
    inc = ex._Incumbents(1, 50)
    inc.offer(np.array([0]), Lk.sum(axis=1), status == 1, np.ones(1), np.zeros((1, 50)))
    c = Lk.sum() / 3.0
    best, lo, hi, _ = ex._bound_nodes(Lk, gk, Wk, np.array([0]), status, np.array([c / 8]),
                                      np.array([c / 2]), inc, 1e-6)
    assert best[0] == pytest.approx(Lk.sum(), rel=1e-15)


@pytest.mark.parametrize("n", [500, 1000])
def test_bounding_work_is_bounded_at_large_n(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The old search hit its 80-step cap on every node at N = 500 (412 dual evaluations)."""
    b = WpmecBatch.generate(3, n, seed=n)
    L, g, W = b.coefficients()
    for k in range(3):
        cnt = _Count(ex.dual_value)
        monkeypatch.setattr(ex, "dual_value", cnt)
        sol = ex.exact_batch(L[k:k + 1], g[k:k + 1], W[k:k + 1])
        assert sol.gap[0] <= 1e-6
        assert cnt.calls <= 4 * max(1, int(sol.nodes[0])) + 30


def test_bracket_search_step_bound_on_a_far_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start the bracket 1e12 away from the minimiser: widening by squared factors is short."""
    b = WpmecBatch.generate(1, 20, seed=9)
    L, g, W = b.coefficients()
    status = np.full((1, 20), 2, dtype=np.int8)
    for lo0 in (1e-200, 1e-3, 1e15):
        inc = ex._Incumbents(1, 20)
        cnt = _Count(dual_value)
        monkeypatch.setattr(ex, "dual_value", cnt)
        best, lo, hi, _ = ex._bound_nodes(L, g, W, np.array([0]), status, np.array([lo0]),
                                          np.array([2 * lo0]), inc, 1e-6)
        monkeypatch.setattr(ex, "dual_value", dual_value)
        assert cnt.calls <= 12 + 60
        ref = ex._bound_nodes(L, g, W, np.array([0]), status, np.array([1e5]),
                              np.array([1e7]), ex._Incumbents(1, 20), 1e-6)[0]
        assert best[0] >= inc.value[0]
        assert np.isfinite(best[0]) and np.isfinite(ref[0])


def test_identical_users_use_the_numpy_kernel_and_stay_exact() -> None:
    h = np.full(8, 3e-6)
    h[4:] = 5e-6
    inst = WpmecInstance(h, np.ones(8))
    L, g, W = inst.coefficients()
    sol = ex.exact_batch(L[None], g[None], W[None])
    assert sol.objective[0] == pytest.approx(_enumerate(L[None], g[None], W[None])[0], rel=1e-6)


def test_refuses_non_finite_coefficients_and_extreme_gains_are_honest() -> None:
    import aigc_opt as ao

    inst = WpmecInstance.generate(10, seed=1)
    L, g, W = inst.coefficients()
    with pytest.raises(ValidationError):
        ex.exact_batch(L[None], np.where(np.arange(10) == 3, np.inf, g)[None], W[None])
    with pytest.raises(ValidationError):  # the reproducer of issue 11: gains x 1e300
        WpmecInstance(inst.gains * 1e300)
    for h in (1e-300, 1e-30, 1e3):
        extreme = WpmecInstance(np.full(6, h) * np.linspace(0.5, 1.0, 6))
        r = ao.run_method(extreme, WpmecSpec(), "exact")
        assert r.verified and r.has_solution
        assert np.isfinite(r.objective)
        assert r.eval_objective == pytest.approx(r.objective, rel=1e-9)


# ---------------------------------------------------------------- joint bandwidth-power


def test_joint_bp_single_pass_equals_previous_implementation() -> None:
    """The tabulated root of h, the two-step price iteration from the proportional-share
    price and the Taylor-extrapolated last step = the old Lambert-W / F-Newton method."""
    from aigc_opt.problems.allocation import JointBPInstance, JointBPSpec
    from aigc_opt.problems.allocation import joint_bp as jb

    out = subprocess.run(["git", "-C", str(ROOT), "show",
                          f"{OLD_COMMIT}:problems/allocation/joint_bp.py"],
                         capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        pytest.skip("git history not available")
    src = out.stdout[:out.stdout.index("register_builder(JointBPSpec")]
    src = src.replace("from .data import", "from aigc_opt.problems.allocation.data import")
    old = types.ModuleType("_old_joint_bp")
    sys.modules[old.__name__] = old
    exec(compile(src, "old_joint_bp.py", "exec"), old.__dict__)
    specs = [JointBPSpec(area_scale=0.8), JointBPSpec(area_scale=0.6),
             JointBPSpec(latency_weight=0.2, energy_weight=3.0, area_scale=0.9),
             JointBPSpec(area_scale=0.95), JointBPSpec(latency_weight=0.0, area_scale=0.7),
             JointBPSpec(area_scale=2.0)]  # the last: the budget often does not bind (lam = 0)
    for n in (1, 7, 100, 2000):
        for seed in range(3):
            inst = JointBPInstance.generate(n, seed=seed)
            for spec in specs:
                a, b = jb.closed_form(inst, spec), old.closed_form(inst, spec)
                assert a.termination == b.termination
                if not b.has_solution:
                    continue
                assert a.objective == pytest.approx(b.objective, rel=1e-12)
                assert a.gap <= 1e-12
                assert (a.values["lambda"][0] == 0.0) == (b.values["lambda"][0] == 0.0)
                np.testing.assert_allclose(a.values["u"], b.values["u"], rtol=1e-9)
    c = np.concatenate([np.geomspace(1e-10, 1e-3, 200), np.geomspace(1e-3, 1e250, 800)])
    # the old root (Lambert W + Newton on h with cancellation) is itself off by ~1.2e-11 at
    # c ~ 1e-10 (see the extended-precision test below)
    np.testing.assert_allclose(jb._h_inverse(c), old._h_inverse(c), rtol=3e-11)
    np.testing.assert_allclose(jb._h_inverse(c[200:]), old._h_inverse(c[200:]), rtol=1e-12)
    assert np.isinf(jb._h_inverse(np.array([np.inf]))[0])
    assert jb._h_inverse(np.array([0.0]))[0] == 0.0


def test_h_inverse_table_start_against_extended_precision_newton() -> None:
    """Tabulated start + one Halley step: root of h(u) = c to ~1e-15 (np.longdouble Newton on
    the cancellation-free series of h as the reference), c in [1e-20, 1e250]."""
    from aigc_opt.problems.allocation import joint_bp as jb

    c = np.concatenate([np.geomspace(1e-20, 1e-3, 3000), np.geomspace(1e-3, 1e250, 7000)])
    u = jb._h_inverse(c)
    ln2 = np.log(np.longdouble(2))
    r = jb._h_inverse_lambertw(c).astype(np.longdouble)
    cl = c.astype(np.longdouble)
    for _ in range(6):
        s = r * ln2
        term, ser = s.copy(), np.zeros_like(s)
        for k in range(2, 30):
            term = term * s / k
            ser = ser + (k - 1) * term
        h = np.where(s < 0.1, ser, np.expm1(s) * (s - 1) + s)
        r = r - (h - cl) / (np.exp(s) * s * ln2)
    np.testing.assert_allclose(u, r.astype(np.float64), rtol=4e-15)


def test_joint_bp_extreme_bandwidth_is_refused_or_exact() -> None:
    """Issue 11: ``bandwidth_hz=1e300`` reported optimal 0.0173 while the evaluator gave inf."""
    import dataclasses

    import aigc_opt as ao
    from aigc_opt.problems.allocation import JointBPInstance, JointBPSpec

    inst = JointBPInstance.generate(10, seed=0)
    with pytest.raises(ValidationError):
        dataclasses.replace(inst, bandwidth_hz=1e300)
    for bw in (1e12, 1e10, 1e3):
        r = ao.run_method(dataclasses.replace(inst, bandwidth_hz=bw), JointBPSpec(),
                          "closed_form")
        if r.has_solution:
            assert r.verified and np.isfinite(r.objective)
            assert r.eval_objective == pytest.approx(r.objective, rel=1e-9)
        else:
            assert r.termination.value == "infeasible"


# ---------------------------------------------------------------- equilibration


def test_equilibrate_equals_previous_implementation() -> None:
    """Row/column scaling on the CSR data equals the sparse-product implementation exactly
    (integer and continuous columns, empty rows, duplicate entries, wide magnitude ranges)."""
    import scipy.sparse as sp

    from aigc_opt.program import LinearProgram
    from aigc_opt.solvers import numerics

    # eee290e: the last commit with the sparse-product scaling
    out = subprocess.run(["git", "-C", str(ROOT), "show", "eee290e:solvers/numerics.py"],
                         capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        pytest.skip("git history not available")
    old = types.ModuleType("_old_numerics")
    sys.modules[old.__name__] = old  # its dataclass needs the module registered
    exec(compile(out.stdout, "old_numerics.py", "exec"), old.__dict__)
    rng = np.random.default_rng(3)
    for trial in range(12):
        m, n = int(rng.integers(1, 40)), int(rng.integers(1, 60))
        nnz = int(rng.integers(0, m * n + 1))
        rows, cols = rng.integers(0, m, nnz), rng.integers(0, n, nnz)
        vals = rng.choice([-1.0, 1.0], nnz) * 10.0 ** rng.uniform(-6, 6, nnz)
        vals[rng.random(nnz) < 0.05] = 0.0
        A = sp.csr_matrix((vals, (rows, cols)), shape=(m, n))
        lo = np.where(rng.random(m) < 0.5, -np.inf, rng.normal(size=m))
        lp = LinearProgram(c=rng.normal(size=n) * 10.0 ** rng.uniform(-4, 4, n), A=A,
                           row_lower=lo, row_upper=lo + np.abs(rng.normal(size=m)) + 1.0,
                           col_lower=np.zeros(n), col_upper=np.full(n, 10.0),
                           integrality=rng.random(n) < (trial % 3) / 2)
        a, b = numerics.equilibrate(lp), old.equilibrate(lp)
        np.testing.assert_array_equal(a.col_scale, b.col_scale)
        np.testing.assert_array_equal(a.row_scale, b.row_scale)
        assert a.obj_scale == b.obj_scale
        assert (a.program.A != b.program.A).nnz == 0
        np.testing.assert_array_equal(a.program.A.toarray(), b.program.A.toarray())
        for f in ("c", "row_lower", "row_upper", "col_lower", "col_upper"):
            np.testing.assert_array_equal(getattr(a.program, f), getattr(b.program, f))


def test_joint_bp_deadline_root_fast_path_equals_bracketed_iteration() -> None:
    """The plain-Newton fast path of the full-power deadline root equals the bracketed
    iteration it falls back to, and solves ``(2^u - 1)/u = kappa``."""
    from aigc_opt.problems.allocation import joint_bp as jb

    rng = np.random.default_rng(8)
    kappa = 10.0 ** rng.uniform(0.2, 12.0, 400)
    u_star = np.full(kappa.size, 1e-3)
    fast = jb._u_full_power_deadline(kappa, u_star)
    slow = jb._u_full_power_deadline_bracketed(kappa, u_star)
    np.testing.assert_allclose(fast, slow, rtol=1e-14)
    np.testing.assert_allclose(np.expm1(fast * np.log(2.0)) / fast, kappa, rtol=1e-13)


def test_joint_bp_price_bounds_enclose_every_right_hand_side() -> None:
    """The scalar bounds of :func:`_price_bounds` (which let ``_best_u`` skip the range checks
    of the tabulated root) enclose the median right-hand side at every price, and the skipped
    checks give the same root as the checked path."""
    from aigc_opt.problems.allocation import JointBPInstance, JointBPSpec, time_limit
    from aigc_opt.problems.allocation import joint_bp as jb

    rng = np.random.default_rng(11)
    for n, seed, spec in ((1, 0, JointBPSpec()), (50, 1, JointBPSpec(latency_weight=0.0)),
                          (300, 2, JointBPSpec(energy_weight=30.0, area_scale=0.7))):
        inst = JointBPInstance.generate(n, seed=seed)
        u_star = np.log2(1.0 + inst.full_band_snr)
        u_lo, u_hi = jb._u_deadline(inst, time_limit(inst, spec), u_star)
        pre = jb._price_constants(inst, spec, u_star)
        bounds = jb._price_bounds(pre, u_lo)
        ka, kb, hs, ca0 = pre
        for lam in np.concatenate([[0.0], 10.0 ** rng.uniform(-12, -3, 30)]):
            c = np.maximum(kb * lam, np.minimum(ka * lam + ca0, hs))
            assert min(bounds[0] * lam + bounds[1], bounds[2]) <= c.min()
            assert c.max() <= max(bounds[3] * lam, bounds[4])
            a = jb._best_u(inst, spec, float(lam), u_star, u_lo, u_hi, pre, bounds)
            b = jb._best_u(inst, spec, float(lam), u_star, u_lo, u_hi, pre,
                           (0.0, 0.0, 0.0, np.inf, np.inf, False))  # every check taken
            for x, y in zip(a, b, strict=True):
                np.testing.assert_array_equal(x, y)
    c = np.geomspace(0.01, 1e250, 5000)
    np.testing.assert_array_equal(jb._h_inverse(c, True), jb._h_inverse(c))


def test_joint_bp_trusted_allocation_equals_checked_constructor() -> None:
    """``_allocation`` (no per-array checks for finite results) builds what the checked
    constructor builds, read-only; non-finite input still goes through the checks."""
    from aigc_opt.problems.allocation import JointBPAllocation
    from aigc_opt.problems.allocation import joint_bp as jb

    b, p = np.linspace(1e3, 2e7, 9), np.linspace(1e-3, 0.2, 9)
    fast, ref = jb._allocation(b.copy(), p.copy()), JointBPAllocation(b, p)
    assert type(fast) is JointBPAllocation
    for f in ("bandwidth_hz", "power_w"):
        x, y = getattr(fast, f), getattr(ref, f)
        np.testing.assert_array_equal(x, y)
        assert x.dtype == y.dtype and not x.flags.writeable
    with pytest.raises(ValidationError, match="power_w"):
        jb._allocation(b.copy(), np.where(np.arange(9) == 4, np.nan, p))


def test_bandwidth_scalar_server_prices_are_bit_identical_to_numpy() -> None:
    """The per-server closed form on Python floats (small S) gives exactly the numpy path's
    ``(lambda, nu, valid)``, including the zero / inf / nan branches (regime sums of 0, an
    empty budget, deadline-tight-only servers)."""
    from aigc_opt.problems.allocation import bandwidth as bw

    rng = np.random.default_rng(3)
    vals = np.array([0.0, 0.0, 1e-300, 1e-3, 0.5, 1.0, 7.0, 1e12, 1e300, np.inf, -0.5, np.nan])
    n = 4000
    cols = [rng.choice(vals, n) * rng.uniform(0.5, 2.0, n) for _ in range(5)]
    pos = rng.random((5, n)) < 0.6  # mostly generic positive sums
    cols = [np.where(m, rng.uniform(1e-3, 1e3, n), c) for m, c in zip(pos, cols, strict=True)]
    with np.errstate(all="ignore"):
        ref = bw._server_prices(*cols)
        got = bw._server_prices_scalar(*cols)
    for r, g in zip(ref, got, strict=True):
        np.testing.assert_array_equal(r, g)


def test_bandwidth_closed_form_scalar_and_numpy_paths_agree(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A whole solve through the scalar per-server path equals the numpy path bit for bit,
    and the answer passes the evaluator."""
    import dataclasses

    import aigc_opt as ao
    from aigc_opt.benchmarks.allocation_bench import PROBLEMS
    from aigc_opt.problems.allocation import bandwidth as bw

    for n, seed in ((10, 0), (100, 1), (300, 2)):
        inst, spec = PROBLEMS["bandwidth_compute"][0](n, seed)
        for kw in ({}, {"use_deadline": False}):
            sp = dataclasses.replace(spec, **kw)
            monkeypatch.setattr(bw, "SCALAR_MAX_SERVERS", 10**9)
            a = bw.closed_form_numpy(inst, sp)
            monkeypatch.setattr(bw, "SCALAR_MAX_SERVERS", -1)
            b = bw.closed_form_numpy(inst, sp)
            assert a.termination == b.termination
            if a.has_solution:
                np.testing.assert_array_equal(a.values["b"], b.values["b"])
                np.testing.assert_array_equal(a.values["f"], b.values["f"])
                m = ao.evaluate(inst, a.allocation, sp)
                assert m.feasible and m.objective == pytest.approx(a.objective, rel=1e-12)
