r"""Joint bandwidth and power for uploads: transmission latency against device energy.

User n uploads ``D_n`` bits over ``b_n`` Hz at power ``p_n`` W (gain ``g_n``, noise PSD ``N0``):
rate ``r_n = b_n log2(1 + p_n g_n / (N0 b_n))`` (jointly concave: a perspective), transmission
time ``t_n = D_n / r_n`` and energy ``E_n = p_n t_n``. The cell has ``B`` Hz and a frame of
``T_f`` s; user n occupies a ``b_n x t_n`` block of the time-frequency grid and the blocks' total
area may not exceed ``B T_f`` (fluid OFDMA packing). Objective (``alpha`` per s, ``beta`` per J):

.. math::

    \min \sum_n w_n (\alpha t_n + \beta E_n)
    \quad\text{s.t.}\quad \sum_n b_n t_n \le B T_f,\; b_n \le B,\; p_n \le \bar p_n,\;
    t_n \le \min(T_n, T_f).

Not convex in ``(b, p)``; convex after the change of variables ``x_n = b_n t_n`` (Hz s, the
block's area), ``t_n`` and ``E_n = p_n t_n``:

.. math::

    D_n \le x_n \log_2\!\Big(1 + \frac{E_n g_n}{N_0 x_n}\Big)
    \;(\text{perspective of } \log_2(1 + E g / N_0)),\quad
    x_n \le B t_n,\quad E_n \le \bar p_n t_n,\quad \sum_n x_n \le B T_f,

all linear except the perspective (an exponential cone: ``-rel_entr(x, x + E g/N0)``). Then
``b = x/t`` and ``p = E/t``.

Fast exact path (:func:`closed_form`): dualise the area budget with price ``lambda >= 0``. Per user,
with spectral efficiency ``u = D/x``, the rate row is tight, ``E(u) = N0 D (2^u - 1)/(g u)`` and
``t = max(x/B, E/pbar)``: full band while ``u <= u* = log2(1 + pbar g/(N0 B))``, full power
beyond. The per-user problem is convex in x and its stationarity condition
``h(u) = 2^u (u ln2 - 1) + 1 = c`` has the closed-form root ``u = (1 + W0((c - 1)/e)) / ln 2``
(Lambert W) with ``c = g (lambda + w alpha/B) / (w beta N0)`` on the full-band branch and
``c = g lambda / (w (alpha/pbar + beta) N0)`` on the full-power branch (else the kink ``u*``);
the deadline clips u to ``[D/(B T), u_hi]``. The price solves ``sum_n x_n(lambda) = B T_f`` by
a safeguarded Newton method (analytic derivative; steps on the budget excess and on its
reciprocal against ``ln(lambda + lambda0)`` from a proportional-share start, see
:func:`closed_form`; ~2 evaluations); the dual value ``sum_n phi_n - lambda B T_f`` is the
certificate. Every evaluation takes one root of ``h`` per user: a tabulated start and one
Halley step (:func:`_h_inverse`).

The instance, spec and allocation types are in :mod:`aigc_opt.problems.allocation.data`; this
module registers the CVXPY model as the spec's builder and the exact method as algorithm
``closed_form``; the baselines are in :mod:`.joint_bp_baselines`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time

import numpy as np

from aigc_opt.backend import SolveOptions
from aigc_opt.cases import CaseKind, register_case
from aigc_opt.program import ConvexProgram
from aigc_opt.result import Result, SolveStats, Termination, relative_gap
from aigc_opt.solve import register_algorithm
from aigc_opt.spec import register_builder

from . import jit as _jit
from .data import (
    LN2,
    JointBPAllocation,
    JointBPInstance,
    JointBPSpec,
    tight_blocks,
    time_limit,
    trusted_allocation,
)
from .joint_bp_model import CVXPY_SETTINGS, HIGH_SNR, build_cvxpy, decode_cvxpy

__all__ = ["CVXPY_SETTINGS", "HIGH_SNR", "build_cvxpy", "build_cvxpy_bounded", "closed_form",
           "decode_cvxpy", "dual_value", "lambertw0", "objective_value"]

logger = logging.getLogger(__name__)

try:  # the compiled kernel behind np.interp, without its Python wrapper (~2 us a call)
    from numpy._core.multiarray import interp as _interp
except ImportError:  # pragma: no cover - other numpy layouts
    _interp = np.interp


def _h(u: np.ndarray) -> np.ndarray:
    """``h(u) = 2^u (u ln2 - 1) + 1``, written to keep accuracy for small u."""
    s = u * LN2
    return np.expm1(s) * (s - 1.0) + s


def lambertw0(y: np.ndarray, steps: int = 3) -> np.ndarray:
    """Principal branch W0 of the Lambert W function for real ``y >= -1/e`` (vectorised).

    Start from the branch-point series (``y < -0.3``) or Winitzki's approximation, then
    ``steps`` Halley steps (cubic convergence from ~1e-2: two reach ~1e-12, three full
    precision). Faster than
    ``scipy.special.lambertw``, which works in complex arithmetic; the tests compare the two.
    """
    y = np.maximum(np.asarray(y, dtype=np.float64), -1.0 / math.e)
    lg = np.log1p(np.maximum(y, -0.3))
    w = lg * (1.0 - np.log1p(lg) / (2.0 + lg))  # Winitzki
    near = np.nonzero(y < -0.3)[0]
    if near.size:  # branch-point series in p = sqrt(2 (e y + 1))
        p = np.sqrt(np.maximum(2.0 * (math.e * y[near] + 1.0), 0.0))
        w[near] = -1.0 + p * (1.0 + p * (-1.0 / 3.0 + p * (11.0 / 72.0)))
    for _ in range(steps):
        ew = np.exp(w)
        f = w * ew - y
        wp1 = np.maximum(w + 1.0, 1e-300)  # w >= -1 on this branch
        den = ew * wp1 - (w + 2.0) * f / (2.0 * wp1)
        w -= f / np.where(den > 0, den, np.inf)
    return w


def _h_inverse(c: np.ndarray, in_range: bool = False) -> np.ndarray:
    """Root u >= 0 of ``h(u) = 2^u (u ln2 - 1) + 1 = c`` for c >= 0 (inf for c = inf).

    For c in [1e-20, 1e250] (every price evaluation in practice): ``ln u`` interpolated in
    ``ln c`` from :data:`_LU_TABLE` (relative error < 1e-7), then one Halley step on ``h``
    (cubic: rounding level), with ``h`` by its series ``sum_k (k-1) s^k / k!`` (``s = u ln2``)
    below ``s = 0.1`` so that no digits cancel. Otherwise :func:`_h_inverse_lambertw` (c = 0,
    inf or extreme), with Halley steps from ``sqrt(2c)/ln2`` for ``0 < c < 1e-6``.
    ``in_range``: the caller knows that every c is in ``[0.01, 1e250]`` (skips the checks).
    """
    if in_range:
        return _h_halley(np.exp(_interp(np.log(c), _LC_GRID, _LU_TABLE)), c, True)
    c = np.asarray(c, dtype=np.float64)
    if c.size == 0 or not (_C_LO <= float(c.min()) and float(c.max()) <= _C_HI):
        u = _h_inverse_lambertw(c)
        tiny = np.flatnonzero((c > 0.0) & (c < 1e-6))  # W0 near its branch point: ~1e-11
        if tiny.size:  # (worse below 1e-12): the branch-point start and Halley steps
            ut, ct = np.sqrt(2.0 * c[tiny]) / LN2, c[tiny]
            for _ in range(3):
                ut = _h_halley(ut, ct)
            u[tiny] = ut
        return u
    return _h_halley(np.exp(_interp(np.log(c), _LC_GRID, _LU_TABLE)), c)


def _h_halley(u: np.ndarray, c: np.ndarray, large: bool = False) -> np.ndarray:
    """One Halley step on ``h(u) = c`` (u > 0), h by its series below ``s = u ln2 = 0.1``
    (``large``: the caller knows that every ``s >= 0.1``).

    With ``e = 2^u``: ``h' = ln2 e s``, ``h'' = ln2^2 e (1 + s)``, so the step
    ``u - 2 f h' / (2 h'^2 - f h'')`` (``f = h - c``) is ``u - f u / (e s^2 - f (1 + s)/2)``.
    """
    s = u * LN2
    em = np.expm1(s)
    if not large and s.size and float(s.min()) < 0.1:
        f = np.where(s < 0.1, s * s * (0.5 + s * (1 / 3 + s * (1 / 8 + s * (1 / 30 + s * (
            1 / 144 + s * (1 / 840 + s * (1 / 5760 + s * (1 / 45360 + s * (
                1 / 403200 + s / 3991680))))))))), em * (s - 1.0) + s)
    else:
        f = s - 1.0
        f *= em
        f += s
    f -= c
    em += 1.0  # e = 2^u
    em *= s
    em *= s  # e s^2
    den = s + 1.0
    den *= f
    den *= -0.5
    den += em
    f *= u
    f /= den
    return u - f


def _h_inverse_lambertw(c: np.ndarray) -> np.ndarray:
    """Root u >= 0 of ``h(u) = 2^u (u ln2 - 1) + 1 = c`` for c >= 0 (inf for c = inf).

    ``u = (1 + W0((c - 1)/e)) / ln 2`` (Lambert W), then one Newton step on h itself, which
    restores full relative accuracy near the branch point (small c, where ``u ~ sqrt(2c)/ln2``).
    """
    c = np.asarray(c, dtype=np.float64)
    fin = np.isfinite(c)
    allfin = bool(fin.all())
    cf = np.maximum(c, 0.0) if allfin else np.where(fin, np.maximum(c, 0.0), 1.0)
    # two Halley steps leave W0 accurate to ~1e-12; the Newton step on h squares that
    u = np.maximum((1.0 + lambertw0((cf - 1.0) / math.e, steps=2)) / LN2, 0.0)
    u = np.where(u > 0, u, np.sqrt(2.0 * cf) / LN2)  # series start at the branch point
    # h'(u) = 2^u u ln2^2 (0 only at u = 0, where h(u) - c = 0 too); u <= 1000 keeps 2^u finite
    # (larger u need c > 1e301: the step is then below rounding anyway)
    uu = np.minimum(u, 1000.0)
    step = (_h(uu) - cf) / np.maximum(np.exp2(uu) * uu * LN2**2, 1e-300)
    u = np.maximum(u - np.where(u < 1000.0, step, 0.0), 0.0)
    return u if allfin else np.where(fin, u, np.inf)


def _lu_table() -> np.ndarray:
    """``ln u(c)`` on :data:`_LC_GRID`: Lambert-W start (the branch-point start
    ``sqrt(2c)/ln2`` below c = 1e-6), then four cancellation-free Halley steps."""
    c = np.exp(_LC_GRID)
    u = np.where(c < 1e-6, np.sqrt(2.0 * c) / LN2, _h_inverse_lambertw(c))
    for _ in range(4):
        u = _h_halley(u, c)
    return np.log(u)


#: ``ln u`` of the root of ``h(u) = c`` on a uniform grid of ``ln c`` in [ln 1e-20, ln 1e250]
#: (32768 points, computed once at import by :func:`_lu_table`).
_C_LO, _C_HI = 1e-20, 1e250
_LC_GRID = np.linspace(math.log(_C_LO), math.log(_C_HI), 32768)
_LU_TABLE = _lu_table()


def _u_deadline(inst: JointBPInstance, T: np.ndarray, u_star: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Interval ``[u_lo, u_hi]`` of spectral efficiencies that finish within T (s).

    Full band: ``t = D/(u B) <= T`` gives ``u >= D/(B T)``; full power: ``t = E(u)/pbar <= T``,
    increasing in u, gives ``u <= u_hi`` (bisection, independent of the price).
    """
    u_lo = inst.data_bits / (inst.bandwidth_hz * T)
    finite = np.isfinite(T)
    if finite.all():  # every user has a deadline: no gathers
        return u_lo, _u_full_power_deadline(inst.gain * inst.max_power_w * T
                                            / (inst.noise_psd_w_per_hz * inst.data_bits),
                                            np.asarray(u_star, dtype=np.float64))
    u_hi = np.full(u_lo.shape, np.inf)
    fin = np.flatnonzero(finite)  # only users with a deadline need the root
    if fin.size == 0:
        return u_lo, u_hi
    u_hi[fin] = _u_full_power_deadline(inst.gain[fin] * inst.max_power_w[fin] * T[fin]
                                       / (inst.noise_psd_w_per_hz * inst.data_bits[fin]),
                                       np.asarray(u_star, dtype=np.float64)[fin])
    return u_lo, u_hi


def _u_full_power_deadline(kappa: np.ndarray, u_star: np.ndarray) -> np.ndarray:
    """Root of ``(2^u - 1)/u = kappa`` (finite kappa), bracketed from ``u*`` upwards."""
    # G(u) = log((2^u - 1)/u) - log(kappa) is increasing (from log ln2 at u=0) and nearly linear
    # for large u: safeguarded Newton inside a bracket [lo, hi] with G(lo) <= 0 <= G(hi).
    lk = np.log(kappa)
    # fast path: plain Newton from a start interpolated in ln(kappa) from a table (or, out of
    # its range, the fixed-point start); accepted when every step shrinks (by half at least)
    # and the last is <= 1e-5 relative, followed by one more step (quadratic convergence:
    # the root is then exact to rounding; equal to the bracketed iteration, the fallback,
    # to <= 1e-15 in the tests)
    if lk.size and _LK_GRID[0] <= float(lk.min()) and float(lk.max()) <= _LK_GRID[-1]:
        u0 = _interp(lk, _LK_GRID, _UK_TABLE)  # finite, > 0: no errstate needed
        if (u0 >= u_star).all():
            em = np.expm1(u0 * LN2)
            step = (np.log(em / u0) - lk) / (LN2 * (em + 1.0) / em - 1.0 / u0)
            u = u0 - step
            step /= u
            if float(np.abs(step).max()) <= 1e-5:  # as the loop below, first pass
                em = np.expm1(u * LN2)
                return u - (np.log(em / u) - lk) / (LN2 * (em + 1.0) / em - 1.0 / u)
    else:
        u0 = np.log2(np.maximum(kappa, 1.0)) + np.log2(np.maximum(np.log2(kappa), 1.0))
        u0 = np.maximum(u0, 1.0)
        u0 = np.log2(kappa * np.log2(kappa * u0 + 1.0) + 1.0)
    if np.isfinite(u0).all() and (u0 >= u_star).all():
        u, prev = u0, np.inf
        with np.errstate(all="ignore"):
            for _ in range(8):
                s = u * LN2
                em = np.expm1(s)
                step = (np.log(em / u) - lk) / (LN2 * (em + 1.0) / em - 1.0 / u)
                u = u - step
                step /= u
                big = float(np.abs(step).max())
                if not big < 0.5 * prev:  # also False for NaN
                    break
                if big <= 1e-5:  # the error is now ~big^2: one more step reaches rounding
                    s = u * LN2
                    em = np.expm1(s)
                    return u - (np.log(em / u) - lk) / (LN2 * (em + 1.0) / em - 1.0 / u)
                prev = big
    return _u_full_power_deadline_bracketed(kappa, u_star)


def _u_full_power_deadline_bracketed(kappa: np.ndarray, u_star: np.ndarray) -> np.ndarray:
    """:func:`_u_full_power_deadline` by safeguarded Newton in a bracket from ``u*`` up."""
    lk = np.log(kappa)

    def G(u: np.ndarray) -> np.ndarray:
        return np.log(np.expm1(u * LN2) / u) - lk

    lo = np.array(u_star, dtype=np.float64)
    hi = np.maximum(2.0 * lo, 1.0)
    for _ in range(60):
        grow = G(hi) < 0
        if not grow.any():
            break
        lo = np.where(grow, hi, lo)
        hi = np.where(grow, 2.0 * hi, hi)
    u = np.log2(np.maximum(kappa, 1.0)) + np.log2(np.maximum(np.log2(kappa), 1.0))
    # two fixed-point steps of 2^u = kappa u + 1 (a contraction for u > 1/ln2) sharpen the start
    u = np.clip(np.log2(kappa * np.log2(kappa * np.maximum(u, 1.0) + 1.0) + 1.0), lo, hi)
    for it in range(100):  # noqa: B007
        gu = G(u)
        lo, hi = np.where(gu <= 0, u, lo), np.where(gu >= 0, u, hi)
        s = u * LN2
        dg = LN2 * np.exp(s) / np.expm1(s) - 1.0 / u
        nxt = u - gu / dg
        bad = ~((nxt >= lo) & (nxt <= hi))
        nxt = np.where(bad, 0.5 * (lo + hi), nxt)
        if (np.abs(nxt - u) <= 1e-13 * u).all():  # quadratic: the next step is ~1e-26
            u = nxt
            break
        u = nxt
    logger.debug("deadline interval: %d Newton steps", it + 1)
    return u


#: Root u of ``(2^u - 1)/u = kappa`` on a uniform grid of ``ln kappa`` in [ln 1, ln 1e250]
#: (65536 points, at import by the bracketed iteration): interpolated starts are within
#: ~6e-6, two Newton steps then reach rounding.
_LK_GRID = np.linspace(0.0, math.log(1e250), 65536)
_UK_TABLE = _u_full_power_deadline_bracketed(np.exp(_LK_GRID), np.full(_LK_GRID.size, 1e-9))


def _price_constants(inst: JointBPInstance, spec: JointBPSpec, u_star: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(ka, kb, h(u*), ka w alpha / B)``: the price-independent parts of :func:`_best_u`."""
    w, n0, g = inst.weight, inst.noise_psd_w_per_hz, inst.gain
    al, be = spec.latency_weight, spec.energy_weight
    ka = g / (w * be * n0)  # dc/dlam on the full-band branch
    kb = g / (w * (al / inst.max_power_w + be) * n0)  # ... on the full-power branch
    if float(u_star.max(initial=0.0)) < 1000.0:  # 2^u* finite: no overflow to silence
        hs = _h(u_star)
    else:
        with np.errstate(over="ignore"):
            hs = _h(u_star)
    return ka, kb, hs, ka * (w * al / inst.bandwidth_hz)


def _price_bounds(pre: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
                  u_lo: np.ndarray) -> tuple[float, float, float, float, float, bool]:
    """``(min ka, min ca0, min h(u*), max kb, max h(u*), min u_lo > 1e-299)``: scalars that
    bound the right-hand sides of :func:`_best_u` at any price without a reduction per
    evaluation (``min(min ka lam + min ca0, min h(u*)) <= c <= max(max kb lam, max h(u*))``).
    """
    ka, kb, hs, ca0 = pre
    return (float(ka.min()), float(ca0.min()), float(hs.min()), float(kb.max()),
            float(hs.max()), bool(float(u_lo.min()) > 1e-299))


def _best_u(inst: JointBPInstance, spec: JointBPSpec, lam: float, u_star: np.ndarray,
            u_lo: np.ndarray, u_hi: np.ndarray,
            pre: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
            bounds: tuple[float, float, float, float, float, bool] | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-user minimiser u of ``w(alpha t + beta E) + lam x``, ``du/dlam`` (0 at the kink
    and where the deadline clips), u before the deadline clip and ``dc/dlam`` (``ka``, ``kb``
    or 0 at the kink).

    ``h`` is increasing, so the branch is decided on the right-hand sides before any root is
    taken: full band iff ``c_a <= h(u*)``, full power iff ``c_b >= h(u*)``, else the kink
    (``c_b < h(u*) < c_a``, u = u*); as ``c_b <= c_a`` this is one root of ``h`` at the
    median of ``(c_b, h(u*), c_a)`` for every user. ``pre``, ``bounds``:
    :func:`_price_constants` and :func:`_price_bounds` (computed once per solve).
    """
    ka, kb, hs, ca0 = _price_constants(inst, spec, u_star) if pre is None else pre
    if bounds is None:
        bounds = _price_bounds((ka, kb, hs, ca0), u_lo) if u_lo.size else (
            0.0, 0.0, 0.0, 0.0, 0.0, False)
    ka_min, ca0_min, hs_min, kb_max, hs_max, tiny_ok = bounds
    c_min = min(ka_min * lam + ca0_min, hs_min)  # bounds on the median below
    c_max = max(kb_max * lam, hs_max)
    ca = ka * lam
    ca += ca0
    cb = kb * lam  # <= ca (kb <= ka, ca0 >= 0)
    # full band (u = h^-1(ca) <= u*), full power (h^-1(cb) >= u*) or the kink (u*, where
    # h(u*) = hs): the root of the median of (cb, hs, ca); dc/dlam = ka, kb or 0
    u = _h_inverse(np.maximum(cb, np.minimum(ca, hs)), 0.01 <= c_min and c_max <= _C_HI)
    k = np.where(ca <= hs, ka, np.where(cb >= hs, kb, 0.0))
    uc = np.minimum(np.maximum(u, u_lo), u_hi)
    # h'(u) = 2^u u ln2^2 (2^u capped: beyond u = 1000 du/dlam is ~0 anyway)
    hp = np.exp2(np.minimum(uc, 1000.0))
    hp *= uc
    hp *= LN2**2
    if tiny_ok:  # min u_lo > 1e-299: then hp >= ln2^2 u_lo > 1e-300
        du = np.where(uc == u, k / hp, 0.0)
    else:
        du = np.where((uc == u) & (hp > 0.0), k / np.maximum(hp, 1e-300), 0.0)
    return uc, du, u, k


def _phi(inst: JointBPInstance, spec: JointBPSpec, u: np.ndarray) -> np.ndarray:
    x, E, t, _, _ = tight_blocks(inst, u)
    return inst.weight * (spec.latency_weight * t + spec.energy_weight * E)


def objective_value(inst: JointBPInstance, spec: JointBPSpec, u: np.ndarray) -> float:
    """``sum_n w_n (alpha t_n + beta E_n)`` at spectral efficiencies u."""
    return float(_phi(inst, spec, u).sum())


#: the last Newton step on the price is replaced by the Taylor extrapolation of u once the
#: relative budget excess is <= _EXTRAP_F and the step <= _EXTRAP_STEP relative
_EXTRAP_F, _EXTRAP_STEP = 3e-5, 3e-4


def closed_form(inst: JointBPInstance, spec: JointBPSpec, options: SolveOptions | None = None
                ) -> Result:
    """Exact solution (see module docstring): the compiled :func:`.joint_bp_kernel.solve` when
    :func:`.jit.use_kernel` allows it, else (or if it fails) :func:`closed_form_numpy`.

    The cost is linear in the user weights ``w`` and in ``(alpha, beta)``, so each is first
    divided by a power of two that brings its largest entry into [0.5, 1) (exact; objective
    and bound multiplied back) when their product is outside ``2^-60 .. 2^60``: with every
    weight and ``beta`` at 1e-200 the price constants ``g / (w beta N0)`` had overflowed.
    """
    kw = math.frexp(float(inst.weight.max()))[1]
    ks = math.frexp(max(spec.latency_weight, spec.energy_weight))[1]
    if abs(kw + ks) > 60:
        res = closed_form(
            dataclasses.replace(inst, weight=np.ldexp(inst.weight, -kw)),
            dataclasses.replace(spec, latency_weight=math.ldexp(spec.latency_weight, -ks),
                                energy_weight=math.ldexp(spec.energy_weight, -ks)), options)
        return dataclasses.replace(res, objective=math.ldexp(res.objective, kw + ks),
                                   bound=math.ldexp(res.bound, kw + ks))

    def kernel() -> Result | None:
        from .joint_bp_kernel import solve  # imports numba on first use
        return solve(inst, spec, _LC_GRID, _LU_TABLE, _LK_GRID, _UK_TABLE, _EXTRAP_F, _EXTRAP_STEP)
    out = _jit.run_kernel("joint_bp", inst.n_users, _jit.JOINT_BP_MAX_USERS, kernel)
    return out if out is not None else closed_form_numpy(inst, spec, options)


def closed_form_numpy(inst: JointBPInstance, spec: JointBPSpec,
                      options: SolveOptions | None = None) -> Result:
    """Exact solution by one price on the area budget (module docstring), numpy reference.

    ``bound`` is the dual function value at the final price (a valid lower bound for any
    price); ``infeasible`` when even the deadline-limited smallest blocks exceed the budget.
    """
    t0 = time.perf_counter()
    area = spec.area_scale * inst.bandwidth_hz * inst.frame_s
    T = time_limit(inst, spec)
    u_star = np.log1p(inst.full_band_snr) / LN2
    u_lo, u_hi = _u_deadline(inst, T, u_star)
    evals = 0

    def stats() -> SolveStats:
        return SolveStats("closed_form", solve_seconds=time.perf_counter() - t0, iterations=evals)

    if (u_lo > u_hi * (1 + 1e-12)).any() or (inst.data_bits / u_hi).sum() > area * (1 + 1e-12):
        return Result(Termination.INFEASIBLE, False, gap=math.inf, stats=stats(),
                      message=(("deadlines and " if spec.use_deadline else "")
                               + "the uploads' data cannot fit the time-frequency budget "
                               "at the power limits"))

    D = inst.data_bits
    # Sums and inner products as np.dot below N = 4096 (a sum as a dot product with ones: ~2x
    # faster than .sum() there); above, plain ufunc reductions: OpenBLAS runs large dot
    # products on several threads, which then spin (2x the CPU time of the whole solve at
    # N = 1e5 on 2 cores), and the ones vector would cost more than it saves.
    small = D.shape[0] <= 4096
    ones = np.ones(D.shape[0]) if small else D

    def total(a: np.ndarray) -> float:
        return float(np.dot(a, ones)) if small else float(a.sum())

    def inner(tmp: np.ndarray, b: np.ndarray) -> float:
        """``tmp . b``; tmp is a temporary that may be overwritten."""
        if small:
            return float(np.dot(tmp, b))
        tmp *= b
        return float(tmp.sum())

    pre = _price_constants(inst, spec, u_star)
    bounds = _price_bounds(pre, u_lo)

    def excess(lam: float) -> tuple[float, float, np.ndarray, np.ndarray, np.ndarray,
                                    np.ndarray]:
        """Relative area excess ``sum x / A - 1``, its derivative in lam, and the four arrays
        of :func:`_best_u`."""
        nonlocal evals
        evals += 1
        u, du, uf, k = _best_u(inst, spec, lam, u_star, u_lo, u_hi, pre, bounds)
        x = D / u
        return total(x) / area - 1.0, -inner(x / u, du) / area, u, du, uf, k

    def extrapolate(lam: float, step: float, u: np.ndarray, du: np.ndarray, uf: np.ndarray,
                    k: np.ndarray) -> tuple[np.ndarray, float] | None:
        """u near the root without another evaluation: second-order Taylor expansion in lam
        (``u'' = -u'^2 h''/h'``, ``h''/h' = ln2 (1 + s)/s``, ``s = u ln2``; error
        O(step^3)) to ``lam + step``, then one more Newton step on the budget with the
        expanded u and u' (error O(step^2) of the first one, squared). None when a user may
        change branch or deadline clip on the way (u is not smooth there)."""
        s_ = u * LN2
        d2u = -(du * du) * (LN2 * (1.0 + s_) / s_)
        u1 = u + du * step + 0.5 * d2u * (step * step)
        du1 = du + d2u * step
        x = D / u1
        dF1 = -inner(x / u1, du1) / area
        step2 = -(total(x) / area - 1.0) / dF1 if dF1 < 0 else 0.0
        ka_, kb_, hs_, ca0_ = pre
        nxt = lam + step + step2
        same = ((ka_ * nxt + ca0_ <= hs_) == (ka_ * lam + ca0_ <= hs_)) & (
            (kb_ * nxt >= hs_) == (kb_ * lam >= hs_))
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            uf_n = uf + k / (np.exp2(np.minimum(uf, 1000.0)) * uf * LN2**2) * (nxt - lam)
            same &= ((uf_n < u_lo) == (uf < u_lo)) & ((uf_n > u_hi) == (uf > u_hi))
        if not same.all() or not abs(step2) <= abs(step):
            return None
        return u1 + du1 * step2, nxt

    # Safeguarded Newton on the area budget. Two candidate steps from the latest price: Newton
    # on F(lam) = sum x / A - 1 (convex decreasing on most instances: from the left it stays
    # left of the root) and Newton on G = A / sum x - 1 against tau = ln(lam + lam0), with
    # lam0 the D-weighted mean of the full-band offsets ca0/ka (then c = ka (lam + lam0) and,
    # u growing like log c, G is nearly linear in tau). The G step is used when it stays in
    # the bracket [lo, hi] (from the left at most 4 F-steps long), else the F step, else
    # (geometric) bisection; each evaluation shrinks the bracket. Once |F| <= 3e-5 and the F
    # step is <= 3e-4 relative, that last step is not evaluated: u moves by its second-order
    # Taylor expansion in lam (error O(step^3) <~ 1e-11) and one more Newton step on the
    # expanded budget keeps the budget tight; u(lam) minimising the Lagrangian, objective and
    # bound (the Lagrangian at that u) then agree with a full evaluation to rounding. Skipped
    # when a user could change branch or deadline clip on the way. Started at the
    # proportional-share price: 2.1 evaluations on average (max 7) against 5.8 (max 17) with
    # the F step alone from lam = 0, on 247 instances (N = 1 ... 10^4, seven specs).
    ka, _, _, ca0 = pre
    lam0 = inner(ca0 / ka, D) / total(D)
    # start at the price at which the users' proportional-share efficiencies would be
    # optimal (a D/u-weighted mean; within a factor ~2 of the root on the test instances)
    # rather than at lam = 0, which is evaluated only if the steps head below 0 (lam = 0 is
    # optimal when the budget does not bind there)
    # (proportional_u inlined: u_p = u* r with r = sum(D/u*)/A; weights D/u_p ~ D/u*, and
    # u_p <= u* for all users iff r <= 1)
    q_p = D / u_star
    s_p = total(q_p)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        h_p = _h(u_star * (s_p / area))
        lam_p = inner((h_p - ca0) / ka if s_p <= area else h_p / pre[1], q_p) / s_p
    lam = lam_p if math.isfinite(lam_p) and lam_p > 0.0 else 0.0
    lo, hi, zero_seen = 0.0, math.inf, lam == 0.0
    F, dF, u, du, uf, k = excess(lam)
    while F > 1e-15 or F < -1e-15:
        if F > 0.0:
            lo = max(lo, lam)
        else:
            hi = min(hi, lam)
        if (math.isfinite(hi) and hi - lo <= 1e-15 * hi) or evals > 400:
            break
        c_f = lam - F / dF if dF < 0 else math.nan
        den = -dF / (1.0 + F) ** 2 * (lam + lam0)  # dG/dtau
        c_g = ((lam + lam0) * math.exp(-(1.0 / (1.0 + F) - 1.0) / den) - lam0
               if den > 0 and lam + lam0 > 0 else math.nan)
        if F > 0.0 and math.isfinite(c_f) and c_g > c_f + 3.0 * (c_f - lam):
            c_g = c_f + 3.0 * (c_f - lam)
        if abs(F) <= _EXTRAP_F and lo < c_f < hi and abs(c_f - lam) <= _EXTRAP_STEP * c_f:
            # last step (<= 3e-4 relative): Taylor extrapolation of u
            ext = extrapolate(lam, c_f - lam, u, du, uf, k)
            if ext is not None:
                u, lam = ext
                break
        if lo < c_g < hi:
            nxt = c_g
        elif lo < c_f < hi:
            nxt = c_f
        elif math.isinf(hi):
            nxt = 4.0 * lam if lam > 0 else float(np.median(spec.energy_weight * inst.weight
                                                              * inst.noise_psd_w_per_hz
                                                              / inst.gain))
        elif lo == 0.0 and not zero_seen:  # no step lands in (0, hi): try lam = 0 itself
            nxt = 0.0
        else:
            nxt = math.sqrt(lo * hi) if lo > 0 else 0.5 * hi
        lam = nxt
        zero_seen |= lam == 0.0
        F, dF, u, du, uf, k = excess(lam)
    x, E, t, b, p = tight_blocks(inst, u)
    obj = inner(spec.latency_weight * t + spec.energy_weight * E, inst.weight)
    xs = total(x)
    bound = obj + lam * (xs - area)
    if xs > area:  # last-ulp repair: shrink every block
        u = u * (xs / area)
        obj = objective_value(inst, spec, u)
        x, E, t, b, p = tight_blocks(inst, u)
    alloc = _allocation(b, p)
    return Result(Termination.OPTIMAL, True, objective=obj, bound=bound,
                  gap=relative_gap(obj, bound), values={"x": x, "t": t, "E": E, "u": u,
                                                        "lambda": np.array([lam])},
                  allocation=alloc, stats=stats(), message=f"price {lam:.6g} after {evals} evals")


def _allocation(b: np.ndarray, p: np.ndarray) -> JointBPAllocation:
    """``JointBPAllocation(b, p)`` for fresh float64 vectors computed here, without repeating
    the constructor's per-array checks (:func:`.data.trusted_allocation`)."""
    return trusted_allocation(JointBPAllocation, bandwidth_hz=b, power_w=p)


def dual_value(inst: JointBPInstance, spec: JointBPSpec, lam: float) -> float:
    """The Lagrangian dual function of the area budget at price ``lam`` (per Hz s, in
    objective units), ``g(lam) = sum_n min_u [w_n (alpha t_n + beta E_n) + lam x_n] - lam A``
    with the per-user minimum in closed form (:func:`_best_u`): a lower bound on the optimum
    for every ``lam >= 0`` (negative prices are read as 0); ``-inf`` when a deadline leaves
    some user no feasible block."""
    lam = max(float(lam), 0.0) if math.isfinite(lam) else 0.0
    area = spec.area_scale * inst.bandwidth_hz * inst.frame_s
    u_star = np.log1p(inst.full_band_snr) / LN2
    u_lo, u_hi = _u_deadline(inst, time_limit(inst, spec), u_star)
    if (u_lo > u_hi * (1 + 1e-12)).any():
        return -math.inf
    u = _best_u(inst, spec, lam, u_star, u_lo, u_hi)[0]
    x, E, t, _, _ = tight_blocks(inst, u)
    cost = inst.weight * (spec.latency_weight * t + spec.energy_weight * E)
    return float(cost.sum() + lam * (x.sum() - area))


def build_cvxpy_bounded(inst: JointBPInstance, spec: JointBPSpec) -> ConvexProgram:
    """:func:`.joint_bp_model.build_cvxpy` with ``meta["dual_bound"]``: the dual function
    :func:`dual_value` at the area budget's price read from the conic solver's dual
    (``lam = mu s / A`` for the scaled row ``sum x / A <= 1`` and objective scale ``s``),
    in the program's scaled units. A conic solve has no bound of its own, and CLARABEL's
    'optimal' was up to 5e-5 above the closed form's optimum at power caps x1e5 with a
    reported gap of 0; this bound makes the gap honest."""
    prog = build_cvxpy(inst, spec)
    budget = prog.problem.constraints[-1]  # the area_budget row (see build_cvxpy)
    scale = float(prog.meta["objective_scale"])
    area = spec.area_scale * inst.bandwidth_hz * inst.frame_s

    def bound(problem: object) -> float:
        mu = budget.dual_value
        if mu is None:
            return math.nan
        return dual_value(inst, spec, float(np.asarray(mu).reshape(-1)[0]) * scale / area) / scale
    return dataclasses.replace(prog, meta={**prog.meta, "dual_bound": bound})


register_builder(JointBPSpec, build_cvxpy_bounded, decode_cvxpy)
register_algorithm(JointBPSpec, "closed_form", closed_form)
register_case(CaseKind(
    name="allocation.joint_bp",
    make_instance=lambda seed, n_users=50, **kw: JointBPInstance.generate(n_users, seed=seed,
                                                                          **kw),
    make_spec=lambda **params: JointBPSpec(**params),
    default_methods=("closed_form", "cvxpy", "equal_area", "proportional_area"),
    reference="closed_form",
    description="joint bandwidth + power for uploads: latency vs energy (time/energy variables)",
    warm_up=lambda: closed_form(JointBPInstance.generate(4, seed=0), JointBPSpec()),  # numba
))
