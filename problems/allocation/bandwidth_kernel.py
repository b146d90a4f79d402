r"""Compiled kernel of the bandwidth/compute closed form (:func:`.bandwidth.closed_form`).

Same maths, branch logic, iteration limits and tolerances as the numpy reference
:func:`.bandwidth.closed_form_numpy`, as loops over users and servers on float64 arrays
(compiled by numba through :func:`.jit.njit`); the function-by-function mirror:

* :func:`_response` = :func:`.bandwidth._response` (per-user minimiser of
  ``w(a/b + C/f) + lambda b + nu f`` with ``b >= b_min`` and the deadline ``a/b + C/f <= T``);
* :func:`_jacobian` = :func:`.bandwidth._jacobian` (derivatives of the minimiser in the prices);
* :func:`_active_set_prices` = :func:`.bandwidth._active_set_prices` with the per-server closed
  form of :func:`.bandwidth._server_prices_scalar` (same IEEE operations);
* :func:`closed_form_kernel` = the body of :func:`.bandwidth.closed_form_numpy`: power-of-two
  weight scaling, start prices, active-set iteration with the damped-Newton / Armijo fallback
  on the concave dual, convergence test, last-ulp feasibility repair, objective and dual bound;
* :func:`solve` wraps it into the :class:`~aigc_opt.result.Result` the numpy path returns.

Per-server sums run in user order like ``np.bincount`` (bit-identical sums); the final
objective and bound are plain loops (numpy: pairwise sums), so results agree with the numpy path
to rounding. Units as in :mod:`.bandwidth`: bit, bit/s/Hz, Hz, FLOP, FLOP/s, s; prices
``lambda`` per Hz and ``nu`` per FLOP/s (in the scaled weight units inside the kernel).
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

import numpy as np

from aigc_opt.result import Result, SolveStats, Termination, relative_gap

from .data import BandwidthComputeAllocation, trusted_allocation
from .jit import njit

if TYPE_CHECKING:
    from .data import BandwidthComputeInstance, BandwidthComputeSpec

logger = logging.getLogger(__name__)


@njit
def _nmin(x: float, y: float) -> float:
    """``np.minimum`` on two floats (NaN propagates)."""
    if x != x or y != y:
        return np.nan
    return x if x <= y else y


@njit
def _nmax(x: float, y: float) -> float:
    """``np.maximum`` on two floats (NaN propagates)."""
    if x != x or y != y:
        return np.nan
    return x if x >= y else y


@njit
def _response(srv: np.ndarray, a: np.ndarray, c: np.ndarray, w: np.ndarray, bmin: np.ndarray,
              T: np.ndarray, lam_s: np.ndarray, nu_s: np.ndarray, b: np.ndarray,
              f: np.ndarray, value: np.ndarray, late: np.ndarray, clipped: np.ndarray,
              tight_clip: np.ndarray) -> None:
    """:func:`.bandwidth._response` at the per-server prices ``lam_s[srv], nu_s[srv]`` into
    ``b, f, value, late, clipped (b <= b_min), tight_clip``."""
    for i in range(srv.shape[0]):
        lam, nu = lam_s[srv[i]], nu_s[srv[i]]
        ai, ci, wi, bm, Ti = a[i], c[i], w[i], bmin[i], T[i]
        b0 = _nmax(bm, math.sqrt(wi * ai / lam))
        f0 = math.sqrt(wi * ci / nu)
        lt = ai / b0 + ci / f0 > Ti
        tc = False
        if not lt:
            bi, fi = b0, f0
        else:
            nuc = nu * ci
            q = (math.sqrt(lam * ai) + math.sqrt(nuc)) / Ti
            w_int = q * q
            wc = lam * (bm * bm) / ai
            a_bpos = ai / _nmax(bm, 1e-300)
            lat_wc = a_bpos + math.sqrt(nuc / _nmax(wc, 1e-300))
            tc = bm > 0 and lat_wc <= Ti
            dd = Ti - a_bpos
            w_clip = nuc / (dd * dd)
            W = _nmax(w_clip if tc else w_int, wi)
            bi = bm if tc else _nmax(bm, math.sqrt(W * ai / lam))
            fi = math.sqrt(W * ci / nu)
        b[i] = bi
        f[i] = fi
        value[i] = wi * (ai / bi + ci / fi) + lam * bi + nu * fi
        late[i] = lt
        clipped[i] = not bi > bm
        tight_clip[i] = tc


@njit
def _seg(srv: np.ndarray, x: np.ndarray, S: int) -> np.ndarray:
    """``np.bincount(srv, weights=x, minlength=S)`` (same summation order)."""
    out = np.zeros(S)
    for i in range(srv.shape[0]):
        out[srv[i]] += x[i]
    return out


@njit
def _dual(srv: np.ndarray, value: np.ndarray, lam: np.ndarray, nu: np.ndarray, B: np.ndarray,
          F: np.ndarray) -> np.ndarray:
    """Per-server dual function ``sum value - lambda B - nu F``."""
    g = _seg(srv, value, B.shape[0])
    for s in range(B.shape[0]):
        g[s] = g[s] - lam[s] * B[s] - nu[s] * F[s]
    return g


@njit
def _active_set_prices(srv: np.ndarray, a: np.ndarray, c: np.ndarray, swa: np.ndarray,
                       swc: np.ndarray, sac: np.ndarray, bmin: np.ndarray, T: np.ndarray,
                       late: np.ndarray, clipped: np.ndarray, B: np.ndarray, F: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`.bandwidth._active_set_prices` (``_server_prices_scalar`` per server)."""
    S = B.shape[0]
    pb, pf, k = np.zeros(S), np.zeros(S), np.zeros(S)
    rb, rf = np.zeros(S), np.zeros(S)
    for i in range(srv.shape[0]):
        s = srv[i]
        lt, cl = late[i], clipped[i]
        act = lt and not cl
        lclip = lt and cl
        Tm = T[i] if lt else 1.0
        pb[s] += swa[i] if (not lt and not cl) else 0.0
        pf[s] += swc[i] if not lt else 0.0
        k[s] += sac[i] / Tm if act else 0.0
        rb[s] += (bmin[i] if cl else 0.0) + (a[i] / Tm if act else 0.0)
        rf[s] += (c[i] / Tm if act else 0.0) + (
            c[i] / (Tm - a[i] / (bmin[i] if lclip else 1.0)) if lclip else 0.0)
    lam, nu = np.empty(S), np.empty(S)
    valid = np.zeros(S, dtype=np.bool_)
    for s in range(S):
        pb_, pf_, k_ = pb[s], pf[s], k[s]
        bp_, fp_ = B[s] - rb[s], F[s] - rf[s]
        if pf_ > 0:
            z = (bp_ * pf_ + k_ * pb_) / (pb_ * fp_ + k_ * pf_)
            y = (fp_ - k_ / z) / pf_
            x = z * y
        else:
            z = k_ / fp_
            x = (bp_ - k_ * z) / pb_ if pb_ > 0 else np.nan
            y = x / z
        if not k_ > 0:
            x, y = bp_ / pb_, fp_ / pf_
        lv, nv = 1.0 / (x * x), 1.0 / (y * y)
        lam[s], nu[s] = lv, nv
        valid[s] = math.isfinite(lv) and math.isfinite(nv) and x > 0 and y > 0
    return lam, nu, valid


@njit
def _jacobian(srv: np.ndarray, a: np.ndarray, c: np.ndarray, T: np.ndarray, b: np.ndarray,
              f: np.ndarray, late: np.ndarray, clipped: np.ndarray, tight_clip: np.ndarray,
              lam_s: np.ndarray, nu_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-server sums of :func:`.bandwidth._jacobian` ``(sum db/dlam, sum db/dnu, sum df/dnu)``."""
    S = lam_s.shape[0]
    h11, h12, h22 = np.zeros(S), np.zeros(S), np.zeros(S)
    for i in range(srv.shape[0]):
        s = srv[i]
        lam, nu = lam_s[s], nu_s[s]
        lt = late[i]
        jbb = -b[i] / (2 * lam) if (not clipped[i] and not lt) else 0.0
        jff = -f[i] / (2 * nu) if not lt else 0.0
        jbf = 0.0
        if lt and not tight_clip[i]:
            kk = math.sqrt(a[i] * c[i]) / T[i] / 2.0
            sq = math.sqrt(nu / lam)
            jbb = -kk * sq / lam
            jbf = kk / math.sqrt(lam * nu)
            jff = -kk / (sq * nu)
        h11[s] += jbb
        h12[s] += jbf
        h22[s] += jff
    return h11, h12, h22


@njit
def closed_form_kernel(srv: np.ndarray, D: np.ndarray, se: np.ndarray, C: np.ndarray,
                       w_in: np.ndarray, rmin: np.ndarray, deadline: np.ndarray,
                       Bs: np.ndarray, Fs: np.ndarray, b_scale: float, f_scale: float,
                       use_min_rate: bool, use_deadline: bool, rtol: float, max_iter: int
                       ) -> tuple[int, int, float, float, np.ndarray, np.ndarray, np.ndarray,
                                  np.ndarray]:
    """The whole closed form: ``(status, iterations, objective, bound, lambda, nu, b, f)``
    (prices in the instance's weight units); status 0 optimal, 1 infeasible (minimum rates
    exceed a bandwidth budget), -1 no convergence or a non-finite result (the caller then runs
    the numpy path, which reports it)."""
    n, S = srv.shape[0], Bs.shape[0]
    B, F = np.empty(S), np.empty(S)
    for s in range(S):
        B[s] = b_scale * Bs[s]
        F[s] = f_scale * Fs[s]
    a, w, bmin, T = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    wmax = -np.inf
    for i in range(n):
        wmax = max(wmax, w_in[i])
    w_exp = 1 - math.frexp(wmax)[1] if n > 0 and wmax > 0 else 0
    swa, swc, sac = np.empty(n), np.empty(n), np.empty(n)
    for i in range(n):
        a[i] = D[i] / se[i]
        w[i] = math.ldexp(w_in[i], w_exp)
        bmin[i] = rmin[i] / se[i] if use_min_rate else 0.0
        T[i] = deadline[i] if use_deadline else np.inf
        swa[i] = math.sqrt(w[i] * a[i])
        swc[i] = math.sqrt(w[i] * C[i])
        sac[i] = math.sqrt(a[i] * C[i])
    e0 = np.empty(0)
    smin = _seg(srv, bmin, S)
    for s in range(S):
        if smin[s] > B[s] * (1 + 1e-12):
            return 1, 0, np.nan, np.nan, e0, e0, e0, e0
    lam, nu = _seg(srv, swa, S), _seg(srv, swc, S)
    for s in range(S):
        x = lam[s] / B[s]
        y = nu[s] / F[s]
        lam[s] = x * x if x * x > 0 else 1.0
        nu[s] = y * y if y * y > 0 else 1.0
    rb_, rf_, rv_ = np.empty(n), np.empty(n), np.empty(n)
    rl_, rc_, rt_ = (np.empty(n, np.bool_), np.empty(n, np.bool_), np.empty(n, np.bool_))
    tb_, tf_, tv_ = np.empty(n), np.empty(n), np.empty(n)
    tl_, tcl_, tt_ = (np.empty(n, np.bool_), np.empty(n, np.bool_), np.empty(n, np.bool_))
    _response(srv, a, C, w, bmin, T, lam, nu, rb_, rf_, rv_, rl_, rc_, rt_)
    g = np.empty(S)
    have_g = False
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        rb = _seg(srv, rb_, S)
        rf = _seg(srv, rf_, S)
        small = True
        for s in range(S):
            rb[s] -= B[s]
            rf[s] -= F[s]
            small = small and abs(rb[s]) <= rtol * B[s] and abs(rf[s]) <= rtol * F[s]
        if small:
            converged = True
            break
        # 1) exact prices for the current regimes
        lam_as, nu_as, ok_as = _active_set_prices(srv, a, C, swa, swc, sac, bmin, T, rl_, rc_,
                                                  B, F)
        take = np.zeros(S, dtype=np.bool_)
        if ok_as.any():
            tl, tn = np.where(ok_as, lam_as, lam), np.where(ok_as, nu_as, nu)
            _response(srv, a, C, w, bmin, T, tl, tn, tb_, tf_, tv_, tl_, tcl_, tt_)
            gt = _dual(srv, tv_, tl, tn, B, F)
            moved = np.zeros(S)
            for i in range(n):
                if tl_[i] != rl_[i] or tcl_[i] != rc_[i]:
                    moved[srv[i]] += 1.0
            fixed = np.empty(S, dtype=np.bool_)
            for s in range(S):
                fixed[s] = ok_as[s] and moved[s] == 0
            if fixed.all():
                lam, nu, g = tl, tn, gt
                rb_, tb_, rf_, tf_, rv_, tv_ = tb_, rb_, tf_, rf_, tv_, rv_
                rl_, tl_, rc_, tcl_, rt_, tt_ = tl_, rl_, tcl_, rc_, tt_, rt_
                have_g = True
                converged = True
                break
            if not have_g:
                g = _dual(srv, rv_, lam, nu, B, F)
                have_g = True
            for s in range(S):
                take[s] = ok_as[s] and (fixed[s] or gt[s] >= g[s] - 1e-14 * abs(g[s]))
            if take.all():
                lam, nu, g = tl, tn, gt
                rb_, tb_, rf_, tf_, rv_, tv_ = tb_, rb_, tf_, rf_, tv_, rv_
                rl_, tl_, rc_, tcl_, rt_, tt_ = tl_, rl_, tcl_, rc_, tt_, rt_
                continue
        if not have_g:
            g = _dual(srv, rv_, lam, nu, B, F)
            have_g = True
        # 2) otherwise a damped Newton step on the concave dual for the remaining servers
        h11, h12, h22 = _jacobian(srv, a, C, T, rb_, rf_, rl_, rc_, rt_, lam, nu)
        dl, dn, step = np.empty(S), np.empty(S), np.empty(S)
        slope = np.empty(S)
        done = np.empty(S, dtype=np.bool_)
        for s in range(S):
            x11 = _nmin(h11[s], -1e-30 * B[s] / lam[s])
            x22 = _nmin(h22[s], -1e-30 * F[s] / nu[s])
            x12 = h12[s]
            det = x11 * x22 - x12 * x12
            det = det if det > 0 else x11 * x22
            if det == x11 * x22:
                x12 = 0.0
            dl[s] = -(x22 * rb[s] - x12 * rf[s]) / det
            dn[s] = -(-x12 * rb[s] + x11 * rf[s]) / det
            if take[s]:
                dl[s] = lam_as[s] - lam[s]
                dn[s] = nu_as[s] - nu[s]
            st = 1.0
            st = _nmin(st, 0.9 * lam[s] / -dl[s] if dl[s] < 0 else 1.0)
            st = _nmin(st, 0.9 * nu[s] / -dn[s] if dn[s] < 0 else 1.0)
            st = _nmin(st, 9 * lam[s] / dl[s] if dl[s] > 0 else 1.0)
            st = _nmin(st, 9 * nu[s] / dn[s] if dn[s] > 0 else 1.0)
            step[s] = 1.0 if take[s] else st
            slope[s] = rb[s] * dl[s] + rf[s] * dn[s]
            done[s] = abs(rb[s]) <= rtol * B[s] and abs(rf[s]) <= rtol * F[s] and not take[s]
        new_lam, new_nu, new_g = lam.copy(), nu.copy(), g.copy()
        tl, tn = np.empty(S), np.empty(S)
        for _ in range(60):
            for s in range(S):
                tl[s] = lam[s] + step[s] * dl[s]
                tn[s] = nu[s] + step[s] * dn[s]
            _response(srv, a, C, w, bmin, T, tl, tn, tb_, tf_, tv_, tl_, tcl_, tt_)
            gt = _dual(srv, tv_, tl, tn, B, F)
            all_done = True
            for s in range(S):
                ok = not done[s] and (take[s] or gt[s] >= g[s] + 1e-4 * step[s] * slope[s]
                                      - 1e-15 * abs(g[s]))
                if ok:
                    new_lam[s], new_nu[s], new_g[s] = tl[s], tn[s], gt[s]
                    done[s] = True
                all_done = all_done and done[s]
            if all_done:
                break
            for s in range(S):
                if not done[s]:
                    step[s] = 0.5 * step[s]
        if not done.any():
            break
        lam, nu, g = new_lam, new_nu, new_g
        _response(srv, a, C, w, bmin, T, lam, nu, rb_, rf_, rv_, rl_, rc_, rt_)
    if not have_g:
        g = _dual(srv, rv_, lam, nu, B, F)
    if not converged:
        return -1, it, np.nan, np.nan, e0, e0, e0, e0
    # feasibility repair of the last ulps: shrink the part above b_min / scale f
    sb, sf = _seg(srv, rb_, S), _seg(srv, rf_, S)
    shrink, fs = np.empty(S), np.empty(S)
    for s in range(S):
        shrink[s] = (B[s] - smin[s]) / _nmax(sb[s] - smin[s], 1e-300) if sb[s] > B[s] else 1.0
        fs[s] = F[s] / sf[s] if sf[s] > F[s] else 1.0
    b, f = np.empty(n), np.empty(n)
    obj = 0.0
    finite = True
    for i in range(n):
        b[i] = bmin[i] + (rb_[i] - bmin[i]) * shrink[srv[i]]
        f[i] = rf_[i] * fs[srv[i]]
        finite = finite and math.isfinite(b[i]) and math.isfinite(f[i])
        obj += w_in[i] * (a[i] / b[i] + C[i] / f[i])
    if not finite:
        return -1, it, np.nan, np.nan, e0, e0, e0, e0
    gs = 0.0
    for s in range(S):
        gs += g[s]
    lam_out, nu_out = np.empty(S), np.empty(S)
    for s in range(S):
        lam_out[s] = math.ldexp(lam[s], -w_exp)
        nu_out[s] = math.ldexp(nu[s], -w_exp)
    return 0, it, obj, math.ldexp(gs, -w_exp), lam_out, nu_out, b, f


def solve(inst: BandwidthComputeInstance, spec: BandwidthComputeSpec, rtol: float = 1e-12,
          max_iter: int = 200) -> Result | None:
    """:func:`.bandwidth.closed_form_numpy` by :func:`closed_form_kernel`: the same Result
    (status, objective, bound, gap, values ``b, f, lambda, nu``, allocation, message), or None
    when the kernel reports no convergence or a non-finite result (the caller then runs the
    numpy path, which reports ``limit`` / ``error``)."""
    t0 = time.perf_counter()
    st, it, obj, bound, lam, nu, b, f = closed_form_kernel(
        inst.server, inst.data_bits, inst.spectral_eff, inst.workload_flop, inst.weight,
        inst.min_rate_bps, inst.deadline_s, inst.bandwidth_hz, inst.compute_flops,
        float(spec.bandwidth_scale), float(spec.compute_scale), bool(spec.use_min_rate),
        bool(spec.use_deadline), float(rtol), int(max_iter))
    stats = SolveStats("closed_form", solve_seconds=time.perf_counter() - t0, iterations=it)
    if st == 1:
        return Result(Termination.INFEASIBLE, False, gap=math.inf, stats=stats,
                      message="minimum rates exceed the bandwidth budget")
    if st != 0:
        logger.debug("bandwidth kernel: no convergence or non-finite result, numpy path")
        return None
    logger.debug("bandwidth closed form: numba kernel, %d iterations", it)
    alloc = trusted_allocation(BandwidthComputeAllocation, bandwidth_hz=b, compute_flops=f)
    return Result(Termination.OPTIMAL, True, objective=obj, bound=bound,
                  gap=relative_gap(obj, bound), values={"b": b, "f": f, "lambda": lam, "nu": nu},
                  allocation=alloc, stats=stats, message=f"{it} iterations")
