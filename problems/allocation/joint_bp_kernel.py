r"""Compiled kernel of the joint bandwidth-power closed form (:func:`.joint_bp.closed_form`).

Same maths, branch logic, iteration limits and tolerances as the numpy reference
:func:`.joint_bp.closed_form_numpy`, written as loops over users on float64 arrays
(compiled by numba through :func:`.jit.njit`); the function-by-function mirror:

* :func:`_h_s`, :func:`_lambertw0_s`, :func:`_h_inverse_lambertw_s`, :func:`_h_halley_s`
  = :func:`.joint_bp._h`, :func:`.joint_bp.lambertw0`, :func:`.joint_bp._h_inverse_lambertw`,
  :func:`.joint_bp._h_halley` for one user; the tabulated start of :func:`.joint_bp._h_inverse`
  interpolates the same tables (``_LC_GRID``, ``_LU_TABLE``; passed in) with numpy's
  ``interp`` formula (:func:`_interp_uniform`);
* :func:`_u_full_power_deadline_s` = :func:`.joint_bp._u_full_power_deadline` (table start,
  plain Newton, safeguarded bracketed Newton as the fallback) for one user; the numpy version
  takes the fast path only when every user's test passes, this one per user, so the two agree
  to the iteration's rounding (~1e-15, as the fast and bracketed numpy paths do);
* :func:`closed_form_kernel` = the body of :func:`.joint_bp.closed_form_numpy`: deadline
  interval ``[u_lo, u_hi]``, infeasibility test, proportional-share start price, safeguarded
  Newton on the area budget ``sum_n D_n / u_n = area`` (F and G steps, bracket, Taylor
  extrapolation of the last step), tight blocks, dual bound, last-ulp repair;
* :func:`solve` wraps it into the :class:`~aigc_opt.result.Result` the numpy path returns (the
  instance was validated at construction; nothing is re-checked).

Units as in :mod:`.joint_bp`: bits, Hz, s, W, J; ``u`` in bit/(Hz s); the price ``lambda`` per
Hz s of area. Sums are plain loops (the numpy path uses BLAS dot products or pairwise sums),
so results agree with it to rounding (~1e-14 relative on the tests), not bit for bit.
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

import numpy as np

from aigc_opt.result import Result, SolveStats, Termination, relative_gap

from .data import JointBPAllocation, trusted_allocation
from .jit import njit

if TYPE_CHECKING:
    from .data import JointBPInstance, JointBPSpec

logger = logging.getLogger(__name__)

LN2 = math.log(2.0)
_E = math.e
_C_LO, _C_HI = 1e-20, 1e250


@njit
def _interp_uniform(x: float, xp: np.ndarray, fp: np.ndarray) -> float:
    """``np.interp(x, xp, fp)`` for an increasing, (nearly) uniform grid ``xp`` and finite x:
    the cell from the grid spacing, corrected by comparisons, then numpy's formula."""
    n = xp.shape[0]
    if x <= xp[0]:
        return fp[0]
    if x >= xp[n - 1]:
        return fp[n - 1]
    j = int((x - xp[0]) / (xp[n - 1] - xp[0]) * (n - 1))
    j = min(max(j, 0), n - 2)
    while j < n - 2 and xp[j + 1] <= x:
        j += 1
    while j > 0 and xp[j] > x:
        j -= 1
    slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])
    r = slope * (x - xp[j]) + fp[j]
    if r != r:
        r = slope * (x - xp[j + 1]) + fp[j + 1]
        if r != r and fp[j] == fp[j + 1]:
            r = fp[j]
    return r


@njit
def _h_s(u: float) -> float:
    """``h(u) = 2^u (u ln2 - 1) + 1`` (:func:`.joint_bp._h`)."""
    s = u * LN2
    return math.expm1(s) * (s - 1.0) + s


@njit
def _lambertw0_s(y: float, steps: int) -> float:
    """W0(y), y >= -1/e (:func:`.joint_bp.lambertw0`)."""
    y = max(y, -1.0 / _E) if y == y else y
    lg = math.log1p(max(y, -0.3))
    w = lg * (1.0 - math.log1p(lg) / (2.0 + lg))
    if y < -0.3:
        p = math.sqrt(max(2.0 * (_E * y + 1.0), 0.0))
        w = -1.0 + p * (1.0 + p * (-1.0 / 3.0 + p * (11.0 / 72.0)))
    for _ in range(steps):
        ew = math.exp(w)
        f = w * ew - y
        wp1 = max(w + 1.0, 1e-300)
        den = ew * wp1 - (w + 2.0) * f / (2.0 * wp1)
        w -= f / (den if den > 0 else np.inf)
    return w


@njit
def _h_inverse_lambertw_s(c: float) -> float:
    """Root of ``h(u) = c``: Lambert W, one Newton step (:func:`.joint_bp._h_inverse_lambertw`)."""
    if not math.isfinite(c):
        return np.inf
    cf = max(c, 0.0)
    u = max((1.0 + _lambertw0_s((cf - 1.0) / _E, 2)) / LN2, 0.0)
    if not u > 0:
        u = math.sqrt(2.0 * cf) / LN2
    uu = min(u, 1000.0)
    step = (_h_s(uu) - cf) / max(np.exp2(uu) * uu * LN2**2, 1e-300)
    return max(u - (step if u < 1000.0 else 0.0), 0.0)


@njit
def _h_halley_s(u: float, c: float, large: bool) -> float:
    """One Halley step on ``h(u) = c`` (:func:`.joint_bp._h_halley`, same operation order)."""
    s = u * LN2
    em = math.expm1(s)
    if not large and s < 0.1:
        f = s * s * (0.5 + s * (1 / 3 + s * (1 / 8 + s * (1 / 30 + s * (
            1 / 144 + s * (1 / 840 + s * (1 / 5760 + s * (1 / 45360 + s * (
                1 / 403200 + s / 3991680)))))))))
    else:
        f = (s - 1.0) * em + s
    f -= c
    es2 = (em + 1.0) * s * s
    den = (s + 1.0) * f * -0.5 + es2
    return u - f * u / den


@njit
def _u_fpd_bracketed_s(kappa: float, u_star: float) -> float:
    """:func:`.joint_bp._u_full_power_deadline_bracketed` for one user."""
    lk = math.log(kappa)
    lo = u_star
    hi = max(2.0 * lo, 1.0)
    for _ in range(60):
        if not math.log(math.expm1(hi * LN2) / hi) - lk < 0:
            break
        lo = hi
        hi = 2.0 * hi
    u = math.log2(max(kappa, 1.0)) + math.log2(max(math.log2(kappa), 1.0))
    u = math.log2(kappa * math.log2(kappa * max(u, 1.0) + 1.0) + 1.0)
    u = min(max(u, lo), hi)
    for _ in range(100):
        gu = math.log(math.expm1(u * LN2) / u) - lk
        if gu <= 0:
            lo = u
        if gu >= 0:
            hi = u
        s = u * LN2
        dg = LN2 * math.exp(s) / math.expm1(s) - 1.0 / u
        nxt = u - gu / dg
        if not (nxt >= lo and nxt <= hi):
            nxt = 0.5 * (lo + hi)
        if abs(nxt - u) <= 1e-13 * u:
            return nxt
        u = nxt
    return u


@njit
def _u_table_start(kappa: float, lk_grid: np.ndarray, uk_table: np.ndarray) -> float:
    """Tabulated start for :func:`_u_full_power_deadline_s` (nan outside the table)."""
    lk = math.log(kappa)
    if lk_grid[0] <= lk and lk <= lk_grid[lk_grid.shape[0] - 1]:
        return _interp_uniform(lk, lk_grid, uk_table)
    return np.nan


@njit
def _u_full_power_deadline_s(kappa: float, u_star: float, u0t: float) -> float:
    """Root of ``(2^u - 1)/u = kappa`` (:func:`.joint_bp._u_full_power_deadline`, one user);
    ``u0t``: :func:`_u_table_start` (nan: out of the table's range)."""
    lk = math.log(kappa)
    if u0t == u0t:
        u0 = u0t
        if u0 >= u_star:
            em = math.expm1(u0 * LN2)
            step = (math.log(em / u0) - lk) / (LN2 * (em + 1.0) / em - 1.0 / u0)
            u = u0 - step
            if abs(step / u) <= 1e-5:
                em = math.expm1(u * LN2)
                return u - (math.log(em / u) - lk) / (LN2 * (em + 1.0) / em - 1.0 / u)
    else:
        u0 = math.log2(max(kappa, 1.0)) + math.log2(max(math.log2(kappa), 1.0))
        u0 = max(u0, 1.0)
        u0 = math.log2(kappa * math.log2(kappa * u0 + 1.0) + 1.0)
    if math.isfinite(u0) and u0 >= u_star:
        u, prev = u0, np.inf
        for _ in range(8):
            em = math.expm1(u * LN2)
            step = (math.log(em / u) - lk) / (LN2 * (em + 1.0) / em - 1.0 / u)
            u = u - step
            big = abs(step / u)
            if not big < 0.5 * prev:
                break
            if big <= 1e-5:
                em = math.expm1(u * LN2)
                return u - (math.log(em / u) - lk) / (LN2 * (em + 1.0) / em - 1.0 / u)
            prev = big
    return _u_fpd_bracketed_s(kappa, u_star)


@njit
def _best_u(lam: float, ka: np.ndarray, kb: np.ndarray, hs: np.ndarray, ca0: np.ndarray,
            u_lo: np.ndarray, u_hi: np.ndarray, in_range: bool, tiny_ok: bool,
            lc_grid: np.ndarray, lu_table: np.ndarray, u: np.ndarray, du: np.ndarray,
            uf: np.ndarray, k: np.ndarray) -> None:
    """:func:`.joint_bp._best_u` at price ``lam`` into ``u`` (clipped), ``du``, ``uf``
    (unclipped) and ``k`` (``dc/dlam``)."""
    n = ka.shape[0]
    cmin, cmax = np.inf, -np.inf
    nan_seen = False
    for i in range(n):  # right-hand sides: median of (cb, h(u*), ca)
        ca = ka[i] * lam + ca0[i]
        cb = kb[i] * lam
        m = ca if ca < hs[i] else hs[i]
        if ca != ca or hs[i] != hs[i]:
            m = np.nan
        c = cb if cb > m else m
        if cb != cb or m != m:
            c = np.nan
        du[i] = c  # (du holds c until the last loop)
        k[i] = ka[i] if ca <= hs[i] else (kb[i] if cb >= hs[i] else 0.0)
        if c != c:
            nan_seen = True
        else:
            cmin = min(cmin, c)
            cmax = max(cmax, c)
    table = in_range or (n > 0 and not nan_seen and _C_LO <= cmin and cmax <= _C_HI)
    if table:  # tabulated starts in a loop of their own: the table reads (cache misses at
        for i in range(n):  # large N) are independent and overlap
            uf[i] = math.exp(_interp_uniform(math.log(du[i]), lc_grid, lu_table))
    for i in range(n):
        c = du[i]
        if table:
            r = _h_halley_s(uf[i], c, in_range)
        else:
            r = _h_inverse_lambertw_s(c)
            if c > 0.0 and c < 1e-6:
                r = math.sqrt(2.0 * c) / LN2
                for _ in range(3):
                    r = _h_halley_s(r, c, False)
        uf[i] = r
        uc = min(max(r, u_lo[i]), u_hi[i])
        u[i] = uc
        if uc == r:  # h'(u) = 2^u u ln2^2; du/dlam = 0 where the deadline clips
            hp = np.exp2(min(uc, 1000.0)) * uc * LN2**2
            if tiny_ok:
                du[i] = k[i] / hp
            else:
                du[i] = k[i] / max(hp, 1e-300) if hp > 0.0 else 0.0
        else:
            du[i] = 0.0


@njit
def _tight_blocks(D: np.ndarray, g: np.ndarray, pbar: np.ndarray, B: float, N0: float,
                  u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                          np.ndarray]:
    """:func:`.data.tight_blocks`: ``(x, E, t, b, p)`` with the rate row tight."""
    n = D.shape[0]
    x, E, t = np.empty(n), np.empty(n), np.empty(n)
    b, p = np.empty(n), np.empty(n)
    for i in range(n):
        x[i] = D[i] / u[i]
        E[i] = N0 * D[i] * math.expm1(u[i] * LN2) / (g[i] * u[i])
        ta, tb = x[i] / B, E[i] / pbar[i]
        t[i] = ta if ta >= tb else tb
        if ta != ta or tb != tb:
            t[i] = np.nan
        b[i] = x[i] / t[i]
        p[i] = E[i] / t[i]
    return x, E, t, b, p


@njit
def closed_form_kernel(D: np.ndarray, g: np.ndarray, pbar: np.ndarray, w: np.ndarray,
                       deadline: np.ndarray, use_deadline: bool, frame: float, B: float,
                       N0: float, area: float, al: float, be: float, lc_grid: np.ndarray,
                       lu_table: np.ndarray, lk_grid: np.ndarray, uk_table: np.ndarray,
                       extrap_f: float, extrap_step: float
                       ) -> tuple[int, float, float, float, int, np.ndarray, np.ndarray,
                                  np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The whole closed form: ``(status, objective, bound, lambda, evaluations, x, E, t, b, p,
    u)``; status 0 optimal, 1 infeasible (deadlines cannot be met within the budget), -1 a
    non-finite result (the caller then runs the numpy path)."""
    n = D.shape[0]
    e0 = np.empty(0)
    if n == 0:
        return -1, np.nan, np.nan, np.nan, 0, e0, e0, e0, e0, e0, e0
    u_star, u_lo, u_hi = np.empty(n), np.empty(n), np.empty(n)
    ka, kb, hs, ca0 = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    infeasible = False
    s_hi = 0.0
    for i in range(n):
        u_star[i] = math.log2(1.0 + pbar[i] * g[i] / (N0 * B))
        T = frame
        if use_deadline:
            T = deadline[i] if deadline[i] < frame else frame
        u_lo[i] = D[i] / (B * T)
        # kappa of the full-power deadline root (ka, kb: scratch until the price constants)
        ka[i] = g[i] * pbar[i] * T / (N0 * D[i]) if math.isfinite(T) else np.nan
        kb[i] = _u_table_start(ka[i], lk_grid, uk_table) if math.isfinite(T) else np.nan
    for i in range(n):
        kappa = ka[i]
        if kappa == kappa:
            u_hi[i] = _u_full_power_deadline_s(kappa, u_star[i], kb[i])
        else:
            u_hi[i] = np.inf
        if u_lo[i] > u_hi[i] * (1 + 1e-12):
            infeasible = True
        s_hi += D[i] / u_hi[i]
    if infeasible or s_hi > area * (1 + 1e-12):
        return 1, np.nan, np.nan, np.nan, 0, e0, e0, e0, e0, e0, e0
    ka_min, ca0_min, hs_min = np.inf, np.inf, np.inf
    kb_max, hs_max, ulo_min = -np.inf, -np.inf, np.inf
    sum_d, sum_l0 = 0.0, 0.0
    for i in range(n):  # _price_constants and _price_bounds
        ka[i] = g[i] / (w[i] * be * N0)
        kb[i] = g[i] / (w[i] * (al / pbar[i] + be) * N0)
        hs[i] = _h_s(u_star[i])
        ca0[i] = ka[i] * (w[i] * al / B)
        ka_min = min(ka_min, ka[i])
        ca0_min = min(ca0_min, ca0[i])
        hs_min = min(hs_min, hs[i])
        kb_max = max(kb_max, kb[i])
        hs_max = max(hs_max, hs[i])
        ulo_min = min(ulo_min, u_lo[i])
        sum_d += D[i]
        sum_l0 += ca0[i] / ka[i] * D[i]
    tiny_ok = ulo_min > 1e-299
    u, du, uf, k = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    evals = 0

    def excess(lam: float) -> tuple[float, float]:
        c_min = min(ka_min * lam + ca0_min, hs_min)
        c_max = max(kb_max * lam, hs_max)
        _best_u(lam, ka, kb, hs, ca0, u_lo, u_hi, 0.01 <= c_min and c_max <= _C_HI, tiny_ok,
                lc_grid, lu_table, u, du, uf, k)
        sx, sd = 0.0, 0.0
        for i in range(n):
            x = D[i] / u[i]
            sx += x
            sd += x / u[i] * du[i]
        return sx / area - 1.0, -sd / area

    lam0 = sum_l0 / sum_d
    s_p = 0.0
    for i in range(n):
        s_p += D[i] / u_star[i]
    acc = 0.0
    for i in range(n):
        q = D[i] / u_star[i]
        h_p = _h_s(u_star[i] * (s_p / area))
        acc += ((h_p - ca0[i]) / ka[i] if s_p <= area else h_p / kb[i]) * q
    lam_p = acc / s_p
    lam = lam_p if math.isfinite(lam_p) and lam_p > 0.0 else 0.0
    lo, hi, zero_seen = 0.0, np.inf, lam == 0.0
    F, dF = excess(lam)
    evals += 1
    while F > 1e-15 or F < -1e-15:
        if F > 0.0:
            lo = max(lo, lam)
        else:
            hi = min(hi, lam)
        if (math.isfinite(hi) and hi - lo <= 1e-15 * hi) or evals > 400:
            break
        c_f = lam - F / dF if dF < 0 else np.nan
        den = -dF / (1.0 + F) ** 2 * (lam + lam0)
        c_g = ((lam + lam0) * math.exp(-(1.0 / (1.0 + F) - 1.0) / den) - lam0
               if den > 0 and lam + lam0 > 0 else np.nan)
        if F > 0.0 and math.isfinite(c_f) and c_g > c_f + 3.0 * (c_f - lam):
            c_g = c_f + 3.0 * (c_f - lam)
        if abs(F) <= extrap_f and lo < c_f and c_f < hi and \
                abs(c_f - lam) <= extrap_step * c_f:
            # last step: second-order Taylor expansion of u in lam, one more Newton step
            step = c_f - lam
            sx, sd = 0.0, 0.0
            u1, du1 = np.empty(n), np.empty(n)
            for i in range(n):
                s_ = u[i] * LN2
                d2u = -(du[i] * du[i]) * (LN2 * (1.0 + s_) / s_)
                u1[i] = u[i] + du[i] * step + 0.5 * d2u * (step * step)
                du1[i] = du[i] + d2u * step
                x = D[i] / u1[i]
                sx += x
                sd += x / u1[i] * du1[i]
            dF1 = -sd / area
            step2 = -(sx / area - 1.0) / dF1 if dF1 < 0 else 0.0
            nxt = lam + step + step2
            same = abs(step2) <= abs(step)
            for i in range(n):
                if not same:
                    break
                ca_l = ka[i] * lam + ca0[i] <= hs[i]
                same = (ka[i] * nxt + ca0[i] <= hs[i]) == ca_l and \
                    (kb[i] * nxt >= hs[i]) == (kb[i] * lam >= hs[i])
                ufi = uf[i]
                uf_n = ufi + k[i] / (np.exp2(min(ufi, 1000.0)) * ufi * LN2**2) * (nxt - lam)
                same = same and ((uf_n < u_lo[i]) == (ufi < u_lo[i])) and \
                    ((uf_n > u_hi[i]) == (ufi > u_hi[i]))
            if same:
                for i in range(n):
                    u[i] = u1[i] + du1[i] * step2
                lam = nxt
                break
        if lo < c_g and c_g < hi:
            nxt = c_g
        elif lo < c_f and c_f < hi:
            nxt = c_f
        elif math.isinf(hi):
            if lam > 0:
                nxt = 4.0 * lam
            else:
                tmp = np.empty(n)
                for i in range(n):
                    tmp[i] = be * w[i] * N0 / g[i]
                nxt = np.median(tmp)
        elif lo == 0.0 and not zero_seen:
            nxt = 0.0
        else:
            nxt = math.sqrt(lo * hi) if lo > 0 else 0.5 * hi
        lam = nxt
        zero_seen = zero_seen or lam == 0.0
        F, dF = excess(lam)
        evals += 1
    x, E, t, b, p = _tight_blocks(D, g, pbar, B, N0, u)
    obj, xs = 0.0, 0.0
    for i in range(n):
        obj += (al * t[i] + be * E[i]) * w[i]
        xs += x[i]
    bound = obj + lam * (xs - area)
    if xs > area:  # last-ulp repair: shrink every block
        for i in range(n):
            u[i] = u[i] * (xs / area)
        x, E, t, b, p = _tight_blocks(D, g, pbar, B, N0, u)
        obj = 0.0
        for i in range(n):
            obj += w[i] * (al * t[i] + be * E[i])
    status = 0 if math.isfinite(obj) and math.isfinite(bound) else -1
    return status, obj, bound, lam, evals, x, E, t, b, p, u


def solve(inst: JointBPInstance, spec: JointBPSpec, lc_grid: np.ndarray, lu_table: np.ndarray,
          lk_grid: np.ndarray, uk_table: np.ndarray, extrap_f: float, extrap_step: float
          ) -> Result | None:
    """:func:`.joint_bp.closed_form_numpy` by :func:`closed_form_kernel`: the same Result
    (status, objective, bound, gap, values ``x, t, E, u, lambda``, allocation, message), or None
    when the kernel reports a non-finite result (the caller then runs the numpy path). The
    tables and extrapolation thresholds are :mod:`.joint_bp`'s (``_LC_GRID``, ``_LU_TABLE``,
    ``_LK_GRID``, ``_UK_TABLE``, ``_EXTRAP_F``, ``_EXTRAP_STEP``)."""
    t0 = time.perf_counter()
    # scalars passed as float / bool: one compiled signature whatever the caller's types
    st, obj, bound, lam, evals, x, E, t, b, p, u = closed_form_kernel(
        inst.data_bits, inst.gain, inst.max_power_w, inst.weight, inst.deadline_s,
        bool(spec.use_deadline), float(inst.frame_s), float(inst.bandwidth_hz),
        float(inst.noise_psd_w_per_hz), float(spec.area_scale * inst.bandwidth_hz * inst.frame_s),
        float(spec.latency_weight), float(spec.energy_weight), lc_grid, lu_table, lk_grid,
        uk_table, float(extrap_f), float(extrap_step))
    stats = SolveStats("closed_form", solve_seconds=time.perf_counter() - t0, iterations=evals)
    if st == 1:
        return Result(Termination.INFEASIBLE, False, gap=math.inf, stats=stats,
                      message=(("deadlines and " if spec.use_deadline else "")
                               + "the uploads' data cannot fit the time-frequency budget "
                               "at the power limits"))
    if st != 0:
        logger.debug("joint_bp kernel: non-finite result, numpy path")
        return None
    logger.debug("joint_bp closed form: numba kernel, %d evaluations", evals)
    alloc = trusted_allocation(JointBPAllocation, bandwidth_hz=b, power_w=p)
    return Result(Termination.OPTIMAL, True, objective=obj, bound=bound,
                  gap=relative_gap(obj, bound),
                  values={"x": x, "t": t, "E": E, "u": u, "lambda": np.array([lam])},
                  allocation=alloc, stats=stats, message=f"price {lam:.6g} after {evals} evals")
