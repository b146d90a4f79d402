r"""Numerical kernels of the wireless-powered MEC family (vectorised, no Python loop per user).

Notation (Bi & Zhang, IEEE TWC 2018; Huang, Bi & Zhang, IEEE TMC 2020 "DROO"), unit frame:

* local coefficient ``L_i = w_i (mu P)^{1/3} (h_i / kappa)^{1/3} / phi`` (bit/s), so a local
  user computes at ``L_i a^{1/3} / w_i``;
* offloading ``W_i = w_i B / (v_u ln 2)`` (bit/s per nat) and ``g_i = mu P h_i^2 / N0`` (-), so
  an offloading user gets ``W_i tau_i ln(1 + g_i a / tau_i) / w_i`` bit/s;
* the frame is shared: ``a + sum_i tau_i <= 1``.

Inner problem for a fixed mode (``S1`` offload, ``S0`` local, ``c0 = sum_{S0} L_i``)::

    max  c0 a^{1/3} + sum_{j in S1} W_j tau_j ln(1 + g_j a / tau_j)   s.t.  a + sum tau_j <= 1.

With the time price ``nu`` (multiplier of the frame constraint), each offloader's SNR
``z_j = g_j a / tau_j`` solves ``psi(z) := ln(1+z) - z/(1+z) = nu / W_j`` whose root is the
Lambert-W closed form ``z = -1 / W_0(-exp(-1 - nu/W_j)) - 1`` (Bi & Zhang, Prop. 1; also
``optimization.py`` of the public DROO code). The best offloading gain per unit of ``a`` is then
``G_j(nu) = g_j W_j / (1 + z_j)`` (bit/s) and, the constraint being tight,
``a(nu) = 1 / (1 + sum_j g_j / z_j)``. The scalar optimality condition in ``a``::

    R(nu) = c0/3 a(nu)^{-2/3} + sum_j G_j(nu) - nu = 0

is strictly decreasing in ``nu``; it is solved by safeguarded Newton steps (bracketing,
geometric bisection fallback) for every row of a batch at once, to ~1e-15 relative. At the root
the optimum equals the Lagrangian value ``nu + (2/3) c0 a^{1/3}``.

The Lagrangian dual function used for certificates (:func:`dual_value`) relaxes only the frame
constraint and keeps the binary choice inside::

    D(nu) = nu + max_{0<=a<=1} sum_i max(L_i a^{1/3}, G_i(nu) a) - nu a

(users fixed local/offload use their one branch). For fixed ``nu`` user i prefers offloading
iff ``a > t_i = (L_i / G_i)^{3/2}``; between sorted thresholds the function is concave with a
closed-form maximiser, so ``D(nu)`` is computed exactly. Any ``nu >= 0`` gives a valid upper
bound (weak duality).
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.special import lambertw

logger = logging.getLogger(__name__)

_TINY = 1e-300


def snr_of_price(y: np.ndarray) -> np.ndarray:
    """Solve ``psi(z) = ln(1+z) - z/(1+z) = y`` for ``z >= 0`` (``y = nu / W``), elementwise.

    Bi & Zhang's Lambert-W closed form ``z = -1/W_0(-e^{-1-y}) - 1`` gives the start; one
    Newton step on ``u = ln(1+z)``, where the equation reads ``u - 1 + e^{-u} = y``, restores
    the digits that the closed form loses near the branch point (small y). The start is kept
    at or right of ``sqrt(2 y)`` (a lower bound of the root) so that the step is defined;
    for ``y < 1e-6`` the series start ``s (1 + s/3)``, ``s = sqrt(2y)``, and for ``y > 30``
    the asymptote ``u = 1 + y`` replace Lambert W.
    """
    return np.expm1(np.minimum(_log1p_snr(y), 700.0))


def _log1p_snr(y: np.ndarray, u0: np.ndarray | None = None) -> np.ndarray:
    """``u = ln(1 + z)`` with ``u - 1 + e^{-u} = y``; cold (Lambert W) or warm-started at u0.

    Warm starts (a previous root for a nearby price) take three Newton steps from
    ``max(u0, sqrt(2y))``; the caller's final evaluation is at a converged price, where the
    warm start is exact to rounding.
    """
    y = np.maximum(np.asarray(y, dtype=np.float64), 0.0)
    s = np.sqrt(2.0 * y)
    if u0 is None:
        z0 = -1.0 / lambertw(-np.exp(-1.0 - np.minimum(y, 30.0))).real - 1.0
        u = np.maximum(np.log1p(np.maximum(z0, 0.0)), s)
        u = np.where(y < 1e-6, s * (1.0 + s / 3.0), np.where(y > 30.0, 1.0 + y, u))
        steps = 2
    else:
        u = np.maximum(u0, s)
        steps = 3
    for _ in range(steps):
        em = np.expm1(-u)  # e^{-u} - 1 <= 0
        u = u - (u + em - y) / np.maximum(-em, 1e-300)
    # z ~ e^{1+y} overflows for y > ~708: the caller caps u (the user's gain is ~0 anyway)
    return u


def snr_of_price_newton(y: np.ndarray) -> np.ndarray:
    """Same root by Newton's method only (reference for tests; no Lambert W).

    Started right of the root at ``u0 = min(1 + y, s (1 + s))`` with ``s = sqrt(2y)``,
    Newton on the convex increasing ``u - 1 + e^{-u}`` decreases monotonically to the root.
    """
    y = np.maximum(np.asarray(y, dtype=np.float64), 0.0)
    s = np.sqrt(2.0 * y)
    u = np.minimum(1.0 + y, s * (1.0 + s))
    for _ in range(8):
        em = np.expm1(-u)
        u = u - (u + em - y) / np.maximum(-em, 1e-300)
    return np.expm1(np.maximum(u, 0.0))


def snr_of_price_lambertw(y: np.ndarray) -> np.ndarray:
    """Bi & Zhang's closed form ``z = -1/W_0(-exp(-1 - y)) - 1`` (reference implementation)."""
    y = np.asarray(y, dtype=np.float64)
    w0 = lambertw(-np.exp(-1.0 - y)).real
    return -1.0 / w0 - 1.0


def _residual(nu: np.ndarray, c0: np.ndarray, gm: np.ndarray, gWm: np.ndarray,
              Winv: np.ndarray, want_derivative: bool = False, u0: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """R(nu), a(nu), z(nu), dR/dnu and u = ln(1+z) for rows of a batch.

    ``gm`` and ``gWm`` are ``g`` and ``g W`` with zeros for local users (they drop out).
    """
    u = _log1p_snr(nu[:, None] * Winv, u0)
    z = np.maximum(np.expm1(np.minimum(u, 700.0)), _TINY)
    sgz = (gm / z).sum(axis=1)
    a = 1.0 / (1.0 + sgz)
    r = c0 / 3.0 * a ** (-2.0 / 3.0) + (gWm / (1.0 + z)).sum(axis=1) - nu
    if not want_derivative:
        return r, a, z, r, u
    zp = 1.0 + z
    da = a * a * (gm * Winv * (zp * zp) / (z * z * z)).sum(axis=1)
    dr = -(2.0 / 9.0) * c0 * a ** (-5.0 / 3.0) * da - sgz - 1.0
    return r, a, z, dr, u


def solve_inner(L: np.ndarray, g: np.ndarray, W: np.ndarray, off: np.ndarray,
                *, nu0: np.ndarray | None = None, rtol: float = 1e-14, max_iter: int = 200
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Optimal ``a`` and ``tau`` for fixed modes, many problems at once.

    Parameters
    ----------
    L, g, W : ndarray, shape (M, N)
        Per-user coefficients (see the module docstring); rows are independent problems.
    off : ndarray of bool, shape (M, N)
        Offloading mode of every user in every problem.
    nu0 : ndarray, shape (M,), optional
        Guess of the time price (warm start, clipped into the proven bracket).
    rtol : float
        Relative tolerance on the time price ``nu`` (the objective is stationary in it).
    max_iter : int
        Cap on Newton/bisection iterations.

    Returns
    -------
    value : ndarray, shape (M,)
        Optimal weighted sum computation rate, bit/s.
    a : ndarray, shape (M,)
        Optimal WPT fraction of the frame.
    tau : ndarray, shape (M, N)
        Optimal offloading fractions (0 for local users).
    nu : ndarray, shape (M,)
        Optimal time price (multiplier of ``a + sum tau <= 1``), bit/s per unit frame.
    """
    L = np.asarray(L, dtype=np.float64)
    g = np.asarray(g, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    off = np.asarray(off, dtype=bool)
    c0 = np.where(off, 0.0, L).sum(axis=1)
    any_off = off.any(axis=1)
    # Bracket (no search needed): value >= nu* >= value - (2/3) c0 and
    # c0 + sum_j W_j ln(1+g_j) >= value >= max(c0, c0 2^{-1/3} + max_j W_j ln(1+g_j) / 2).
    best1 = np.where(off, W * np.log1p(g), 0.0)
    hi = c0 + best1.sum(axis=1)
    v_lb = np.maximum(c0, c0 * 2.0 ** (-1.0 / 3.0) + 0.5 * best1.max(axis=1))
    lo = np.maximum(c0 / 3.0, v_lb - 2.0 / 3.0 * c0)
    hi = np.maximum(hi, 1e-300)
    lo = np.clip(lo, 1e-300, hi)
    active = any_off
    gm = np.where(off, g, 0.0)
    gWm = gm * W
    Winv = 1.0 / W
    # R is decreasing and R(lo) >= 0: Newton from lo (or the guess), safeguarded by the bracket.
    nu = lo.copy() if nu0 is None else np.clip(np.asarray(nu0, dtype=np.float64), lo, hi)
    done = ~active
    err = np.seterr(divide="ignore", invalid="ignore", over="ignore")
    iters = 0
    u: np.ndarray | None = None
    for iters in range(1, max_iter + 1):  # noqa: B007
        r, a, z, dr, u = _residual(nu, c0, gm, gWm, Winv, want_derivative=True, u0=u)
        lo = np.where(r > 0.0, nu, lo)
        hi = np.where(r < 0.0, nu, hi)
        step = r / dr
        newton = nu - step
        conv = (np.abs(step) <= rtol * nu) | (r == 0.0)
        ok = np.isfinite(newton) & (newton >= lo) & (newton <= hi)
        nxt = np.where(ok, newton, np.sqrt(lo * hi))
        nu = np.where(done, nu, np.where(conv & np.isfinite(newton), newton, nxt))
        done = done | conv | (hi - lo <= 4e-16 * hi)
        if done.all():
            break
    np.seterr(**err)
    if not done.all():  # pragma: no cover - defensive
        logger.warning("solve_inner: %d rows did not converge", int((~done).sum()))
    logger.debug("solve_inner: %d rows, %d iterations", len(nu), iters)
    r, a, z, _, _ = _residual(nu, c0, gm, gWm, Winv, u0=u)
    zs = np.where(off, np.maximum(z, _TINY), 1.0)
    tau = np.where(off, g * a[:, None] / zs, 0.0)
    a = np.where(any_off, a, 1.0)
    nu = np.where(any_off, nu, c0 / 3.0)
    value = objective_value(L, g, W, off, a, tau)
    return value, a, tau, nu


def objective_value(L: np.ndarray, g: np.ndarray, W: np.ndarray, off: np.ndarray,
                    a: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Weighted sum rate ``sum_local L a^{1/3} + sum_off W tau ln(1 + g a / tau)`` per row."""
    a = np.asarray(a, dtype=np.float64)
    loc = np.where(off, 0.0, L).sum(axis=1) * np.cbrt(a)
    ts = np.where(off & (tau > 0), tau, 1.0)
    rate = np.where(off & (tau > 0), W * ts * np.log1p(g * a[:, None] / ts), 0.0)
    return loc + rate.sum(axis=1)


def dual_value(nu: np.ndarray, L: np.ndarray, g: np.ndarray, W: np.ndarray,
               status: np.ndarray, u0: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                          np.ndarray]:
    """Lagrangian dual function ``D(nu)`` of the binary problem, exactly, for many nodes.

    Parameters
    ----------
    nu : ndarray, shape (K,)
        Time prices (> 0), bit/s per unit frame.
    L, g, W : ndarray, shape (K, N)
        Coefficients (rows may repeat the same instance).
    status : ndarray of int8, shape (K, N)
        0: user fixed local, 1: fixed offloading, 2: free.
    u0 : ndarray, shape (K, N), optional
        ``ln(1 + z)`` at a nearby price (warm start of the SNR root).

    Returns
    -------
    bound : ndarray, shape (K,)
        ``D(nu)``, an upper bound on the optimum of every node (bit/s).
    a : ndarray, shape (K,)
        A maximiser ``a*`` of the Lagrangian.
    off : ndarray of bool, shape (K, N)
        The Lagrangian-optimal modes at ``a*`` (respecting ``status``).
    slack : ndarray, shape (K,)
        ``1 - a* - sum tau*``: a subgradient of ``D`` at ``nu``.
    threshold : ndarray, shape (K, N)
        ``t_i = (L_i / G_i(nu))^{3/2}``: a free user prefers offloading iff ``a > t_i``.
    u : ndarray, shape (K, N)
        ``ln(1 + z_i(nu))`` (warm start for a later call).
    """
    K, N = L.shape
    u = _log1p_snr(nu[:, None] / W, u0)
    z = np.maximum(np.expm1(np.minimum(u, 700.0)), _TINY)
    G = g * W / (1.0 + z)
    t_free = np.minimum(L / np.maximum(G, _TINY), 1e200) ** 1.5
    t = np.where(status == 2, t_free, np.where(status == 1, -1.0, np.inf))
    order = np.argsort(t, axis=1, kind="stable")
    rix = np.arange(K)[:, None]
    ts = t[rix, order]
    zero = np.zeros((K, 1))
    H = np.concatenate([zero, np.cumsum(G[rix, order], axis=1)], axis=1)
    cl = np.cumsum(L[rix, order], axis=1)
    C = np.maximum(np.concatenate([cl[:, -1:], cl[:, -1:] - cl], axis=1), 0.0)
    bps = np.clip(ts, 0.0, 1.0)
    left = np.concatenate([zero, bps], axis=1)
    right = np.concatenate([bps, np.ones((K, 1))], axis=1)
    slope = nu[:, None] - H
    # concave C a^{1/3} - slope a on [left, right]: stationary point (C / (3 slope))^{3/2}
    ratio = np.minimum(C / (3.0 * np.maximum(slope, _TINY)), 1e200)
    astar = np.where(slope > 0, ratio**1.5, np.inf)
    aseg = np.clip(astar, left, right)
    val = C * np.cbrt(aseg) - slope * aseg
    # a segment that starts at a threshold beyond a = 1 (or a fixed-local user's +inf) is empty
    val[:, 1:][ts > 1.0] = -np.inf
    s = np.argmax(val, axis=1)
    rows = np.arange(K)
    best = val[rows, s]
    a = aseg[rows, s]
    off = np.empty((K, N), dtype=bool)
    off[rix, order] = np.arange(N) < s[:, None]
    off = (off | (status == 1)) & (status != 0)
    used = a + (np.where(off, g, 0.0) / z).sum(axis=1) * a
    return nu + best, a, off, 1.0 - used, t_free, u
