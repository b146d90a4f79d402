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
geometric bisection fallback) for every row of a batch at once, only over the offloading
(row, user) pairs, until the step is below 1e-10 relative (the value is then exact to
rounding). At the root the optimum equals the Lagrangian value ``nu + (2/3) c0 a^{1/3}``.
The SNR roots use Halley's method instead of Lambert W (:func:`snr_of_price`).

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
import math
import time

import numpy as np
from scipy.special import lambertw

logger = logging.getLogger(__name__)

_TINY = 1e-300


def snr_of_price(y: np.ndarray) -> np.ndarray:
    """Solve ``psi(z) = ln(1+z) - z/(1+z) = y`` for ``z >= 0`` (``y = nu / W``), elementwise.

    Bi & Zhang's closed form is ``z = -1/W_0(-e^{-1-y}) - 1`` (:func:`snr_of_price_lambertw`);
    here the equivalent equation in ``u = ln(1 + z)``, ``f(u) = u - 1 + e^{-u} = y``, is solved
    by three Halley steps (cubic convergence; no complex-arithmetic Lambert W call) from
    ``u0 = min(s (1 + s/3 + s^2/36), 1 + y)``, ``s = sqrt(2 y)`` (the series of the root at 0
    and its asymptote), with ``f`` evaluated by its Taylor series for ``u < 0.1`` so that no
    digits cancel (one step from a table when every ``y`` is in [1e-8, 700]). Relative
    accuracy ~1e-15 for ``y`` in [1e-300, 800] (tested against Lambert W, Newton, cold start).
    """
    return np.expm1(np.minimum(_log1p_snr(y), 700.0))


def _psi_u(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(u - 1 + e^{-u}, e^{-u} - 1)``, the first without cancellation for small ``u``."""
    em = np.expm1(-u)
    f = u + em
    small = u < 0.1
    if small.any():
        series = u * u * (0.5 - u * (1 / 6 - u * (1 / 24 - u * (1 / 120 - u * (
            1 / 720 - u * (1 / 5040 - u * (1 / 40320 - u * (1 / 362880 - u / 3628800))))))))
        f = np.where(small, series, f)
    return f, em


def _log1p_snr(y: np.ndarray, u0: np.ndarray | None = None) -> np.ndarray:
    """``u = ln(1 + z)`` with ``u - 1 + e^{-u} = y``.

    For ``y`` in [1e-8, 700] (all prices met in practice) one Halley step from a tabulated
    start (:data:`_U_TABLE`), otherwise three from the closed-form start. ``u0`` (a nearby
    root) is accepted but not used: the dual bound must use the exact root.
    """
    del u0
    # y >= 1e-300 keeps every Halley denominator positive (y = 0 would give 0/0)
    y = np.maximum(np.asarray(y, dtype=np.float64), 1e-300)
    ly = np.log(y)
    if y.size and _LY_LO <= float(ly.min()) and float(ly.max()) <= _LY_HI:
        # tabulated start (relative error < 3e-7): one Halley step (cubic) reaches rounding
        return _halley(y, np.interp(ly, _LY_GRID, _U_TABLE), 1)
    return _halley(y, _u_start(y), 3)


def _u_start(y: np.ndarray) -> np.ndarray:
    """Closed-form start ``min(s (1 + s/3 + s^2/36), 1 + y)``, ``s = sqrt(2y)`` (error < 16 %)."""
    s = np.sqrt(2.0 * y)
    return np.minimum(s * (1.0 + s * (1.0 / 3.0 + s / 36.0)), 1.0 + y)


_LY_LO, _LY_HI = math.log(1e-8), math.log(700.0)
_LY_GRID = np.linspace(_LY_LO, _LY_HI, 16385)


def _halley(y: np.ndarray, u: np.ndarray, steps: int) -> np.ndarray:
    """``steps`` Halley steps on ``u - 1 + e^{-u} = y`` from ``u`` (``y >= 1e-300``); starts
    ``>= 0.12`` (roots ``>= ~0.118``) need neither the series of :func:`_psi_u` nor a guard."""
    if u.size and float(u.min()) >= 0.12:
        for _ in range(steps):
            em = np.expm1(-u)
            f = u + em - y
            u = u + f * em / (em * em - 0.5 * f * (1.0 + em))  # fp = -em
        return np.maximum(u, 0.0)
    for _ in range(steps):
        f, em = _psi_u(u)
        f = f - y
        fp = np.maximum(-em, 1e-300)
        u = u - 2.0 * f * fp / (2.0 * fp * fp - f * (1.0 + em))
    # z ~ e^{1+y} overflows for y > ~708: the caller caps u (the user's gain is ~0 anyway)
    return np.maximum(u, 0.0)


#: Root ``u(y)`` on a uniform grid of ``ln y`` in [ln 1e-8, ln 700] (16385 points, five
#: Halley steps at import); interpolated starts are within ~3e-7 relative.
_U_TABLE = _halley(np.exp(_LY_GRID), _u_start(np.exp(_LY_GRID)), 5)


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


def _residual(nu: np.ndarray, c0: np.ndarray, rows: np.ndarray, gp: np.ndarray,
              gWp: np.ndarray, Winvp: np.ndarray, want_derivative: bool = False,
              warm: tuple[np.ndarray, int] | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """R(nu), a(nu), z(nu), dR/dnu and u = ln(1+z) for rows of a batch.

    Only the offloading (row, user) pairs enter (``rows``: their row, ``gp, gWp, Winvp``:
    ``g``, ``g W`` and ``1/W`` of the pair); sums over users are ``bincount`` over ``rows``.
    ``warm = (u, steps)``: Halley steps from a previous ``u`` instead of the cold start.
    """
    M = nu.shape[0]
    y = np.maximum(nu[rows] * Winvp, 1e-300)
    u = _log1p_snr(y) if warm is None else _halley(y, warm[0], warm[1])
    z = np.maximum(np.expm1(np.minimum(u, 700.0)), _TINY)
    gz = gp / z
    sgz = np.bincount(rows, gz, minlength=M)
    a = 1.0 / (1.0 + sgz)
    zp = 1.0 + z
    a13 = np.cbrt(a)
    r = c0 / 3.0 / (a13 * a13) + np.bincount(rows, gWp / zp, minlength=M) - nu
    if not want_derivative:
        return r, a, z, r, u
    q = zp / z
    q *= q
    q *= gz
    q *= Winvp
    # d a / d nu = a^2 sum g (1+z)^2 / (W z^3); dR/dnu = -(2/9) c0 a^{-5/3} da - sgz - 1
    dr = -(2.0 / 9.0) * c0 * a13 * np.bincount(rows, q, minlength=M) - sgz - 1.0
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
        Newton stops once its step is ``<= 1e4 rtol nu`` (then ``nu``, ``a`` and ``tau`` are
        accurate to about that; the objective, stationary in ``nu``, to rounding).
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
    rows, cols = np.nonzero(off & (g > 0.0))  # g = 0: no rate, tau = 0
    gp = g[rows, cols]
    gWp = gp * W[rows, cols]
    Winvp = 1.0 / W[rows, cols]
    # R is decreasing and R(lo) >= 0: Newton from lo (or the guess), safeguarded by the bracket.
    nu = lo.copy() if nu0 is None else np.clip(np.asarray(nu0, dtype=np.float64), lo, hi)
    done = ~active
    err = np.seterr(divide="ignore", invalid="ignore", over="ignore")
    iters = 0
    # SNR roots: one Halley step from the table, or from the last u once the prices move by
    # < 1e-5 relative. A row stops at the price of its last evaluation once the Newton step
    # is <= 1e4 rtol nu (default 1e-10: price, a and tau ~1e-10-accurate, the value,
    # stationary in nu, to rounding); (a, tau) of that evaluation are returned: they use
    # the frame exactly (a + sum tau = a (1 + sum g/z) = 1) whatever the rounding.
    warm: tuple[np.ndarray, int] | None = None
    for iters in range(1, max_iter + 1):  # noqa: B007
        r, a, z, dr, u = _residual(nu, c0, rows, gp, gWp, Winvp, want_derivative=True,
                                   warm=warm)
        lo = np.where(r > 0.0, nu, lo)
        hi = np.where(r < 0.0, nu, hi)
        step = r / dr
        newton = nu - step
        # stop: Newton step <= 1e4 rtol nu, r == 0, or the bracket at rounding level
        done |= (np.abs(step) <= 1e4 * rtol * nu) | (r == 0.0) | (hi - lo <= 4e-16 * hi)
        if done.all():
            break
        ok = (newton >= lo) & (newton <= hi)  # False for NaN
        nu_new = np.where(done, nu, np.where(ok, newton, np.sqrt(lo * hi)))
        move = float(np.max(np.abs(nu_new - nu) / nu_new))
        nu = nu_new
        warm = (u, 1) if move < 1e-5 else None  # cold: one Halley step from the table
    np.seterr(**err)
    if not done.all():  # pragma: no cover - defensive
        logger.warning("solve_inner: %d rows did not converge", int((~done).sum()))
    logger.debug("solve_inner: %d rows, %d iterations", len(nu), iters)
    if not done.all() or iters == 0:  # pragma: no cover - evaluate at the last price
        r, a, z, _, _ = _residual(nu, c0, rows, gp, gWp, Winvp)
    tau = np.zeros(off.shape)
    tau[rows, cols] = gp * a[rows] / z
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
               status: np.ndarray, u0: np.ndarray | None = None, *,
               curvature: np.ndarray | None = None
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
    curvature : ndarray, shape (K,), optional
        Output buffer for ``D''(nu) = d slack / d nu`` on smooth pieces (offloaders S,
        ``H = sum_S G_j``, ``sigma = sum_S g_j / z_j``, ``z_j' = (1+z_j)^2 / (W_j z_j)``):
        ``(3/2) a* (1 + sigma)^2 / (nu - H) + a* sum_S g_j (1+z_j)^2 / (W_j z_j^3)``, the first
        term absent when ``a* = 1``; only a model curvature at kinks (safeguard its use).

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
    z = np.expm1(np.minimum(u, 700.0))
    np.maximum(z, _TINY, out=z)
    zp1 = z + 1.0
    G = g * W / zp1
    t_free = L / np.maximum(G, _TINY)
    np.minimum(t_free, 1e200, out=t_free)
    t_free **= 1.5
    free = status == 2
    t = np.where(free, t_free, np.where(status == 1, -1.0, np.inf))
    order = np.argsort(t, axis=1, kind="stable")
    rix = np.arange(K)[:, None]
    ts = t[rix, order]
    # columns 1..N of HC: cumulative G (offloading gain) and L (local coefficient) in order
    HC = np.zeros((2, K, N + 1))
    np.cumsum(np.stack([G, L])[:, rix, order], axis=2, out=HC[:, :, 1:])
    H = HC[0]
    C = HC[1, :, -1:] - HC[1]
    np.maximum(C, 0.0, out=C)
    bnd = np.ones((K, N + 2))
    bnd[:, 0] = 0.0
    np.clip(ts, 0.0, 1.0, out=bnd[:, 1:-1])
    left, right = bnd[:, :-1], bnd[:, 1:]
    slope = nu[:, None] - H
    # concave C a^{1/3} - slope a on [left, right]: stationary point (C / (3 slope))^{3/2}
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        ratio = C / (3.0 * slope)
        np.minimum(ratio, 1e200, out=ratio)
        astar = np.where(slope > 0, ratio**1.5, np.inf)
        aseg = np.clip(astar, left, right)
        val = C * np.cbrt(aseg) - slope * aseg
        # a segment starting at a threshold beyond a = 1 (or at a fixed-local user's +inf)
        # is empty
        val[:, 1:][ts > 1.0] = -np.inf
        s = np.argmax(val, axis=1)
        rows = np.arange(K)
        best = val[rows, s]
        a = aseg[rows, s]
        off = np.empty((K, N), dtype=bool)
        off[rix, order] = np.arange(N) < s[:, None]
        off &= free
        off |= status == 1
        gz = g / z
        sigma = np.where(off, gz, 0.0).sum(axis=1)
        if curvature is not None:  # exact on smooth pieces; callers safeguard it
            q = zp1 / z
            q *= q
            q *= gz
            q /= W
            curv = np.where(off, q, 0.0).sum(axis=1)
            curv += np.where(a < 1.0, 1.5 * (1.0 + sigma) ** 2 / slope[rows, s], 0.0)
            curv *= a
            curvature[:] = curv
    return nu + best, a, off, 1.0 - a * (1.0 + sigma), t_free, u


# ----------------------------------------------------------------------------------------------
# Scalar kernels (plain Python floats and ``math``) for one small frame: for N up to a few
# dozen users a numpy call costs more than the arithmetic it does, so the single-frame branch
# and bound of :mod:`~aigc_opt.problems.wpmec.exact` uses these. Same mathematics as the
# vectorised functions above (tested against them and against enumeration).


def log1p_snr_1(y: float) -> float:
    """Scalar :func:`_log1p_snr`: ``u = ln(1+z)`` with ``u - 1 + e^{-u} = y`` (3 Halley steps)."""
    y = max(y, 1e-300)
    s = math.sqrt(2.0 * y)
    u = min(s * (1.0 + s * (1.0 / 3.0 + s / 36.0)), 1.0 + y)
    for _ in range(3):
        em = math.expm1(-u)
        if u < 0.1:
            f = u * u * (0.5 - u * (1 / 6 - u * (1 / 24 - u * (1 / 120 - u * (1 / 720 - u * (
                1 / 5040 - u * (1 / 40320 - u * (1 / 362880 - u / 3628800)))))))) - y
        else:
            f = u + em - y
        fp = max(-em, 1e-300)
        u -= 2.0 * f * fp / (2.0 * fp * fp - f * (1.0 + em))
    return max(u, 0.0)


def _snr_1(nu: float, W: float) -> float:
    """``z(nu) = e^u - 1`` for one user (capped like the vectorised code)."""
    return max(math.expm1(min(log1p_snr_1(nu / W), 700.0)), _TINY)


def dual_value_1(nu: float, L: list[float], g: list[float], W: list[float],
                 status: list[int]) -> tuple[float, float, list[bool], float, list[float]]:
    """Scalar :func:`dual_value` for one node: ``(D(nu), a*, modes, slack, thresholds)``."""
    N = len(L)
    z = [_snr_1(nu, W[i]) for i in range(N)]
    G = [g[i] * W[i] / (1.0 + z[i]) for i in range(N)]
    t_free = [min(L[i] / max(G[i], _TINY), 1e200) ** 1.5 for i in range(N)]
    t = [t_free[i] if status[i] == 2 else (-1.0 if status[i] == 1 else math.inf)
         for i in range(N)]
    order = sorted(range(N), key=t.__getitem__)
    C = sum(L)
    H = 0.0
    left = 0.0
    best, best_a, best_k = -math.inf, 1.0, 0
    for k in range(N + 1):
        right = 1.0 if k == N else min(max(t[order[k]], 0.0), 1.0)
        if k > 0 and t[order[k - 1]] > 1.0:
            break  # segments beyond a = 1 are empty (thresholds are sorted)
        slope = nu - H
        Cp = max(C, 0.0)
        if slope > 0.0:
            astar = min(Cp / (3.0 * max(slope, _TINY)), 1e200) ** 1.5
        else:
            astar = math.inf
        aseg = min(max(astar, left), right)
        val = Cp * aseg ** (1.0 / 3.0) - slope * aseg
        if val > best:
            best, best_a, best_k = val, aseg, k
        if k < N:
            j = order[k]
            H += G[j]
            C -= L[j]
            left = right
    off = [False] * N
    for k in range(best_k):
        off[order[k]] = True
    for i in range(N):
        if status[i] != 2:
            off[i] = status[i] == 1
    used = best_a + best_a * sum(g[i] / z[i] for i in range(N) if off[i])
    return nu + best, best_a, off, 1.0 - used, t_free


def solve_inner_1(L: list[float], g: list[float], W: list[float], off: list[bool],
                  nu0: float | None = None, rtol: float = 1e-14, max_iter: int = 200
                  ) -> tuple[float, float, list[float], float]:
    """Scalar :func:`solve_inner` for one mode vector: ``(value, a, tau, nu)``."""
    N = len(L)
    c0 = sum(L[i] for i in range(N) if not off[i])
    S = [i for i in range(N) if off[i] and g[i] > 0.0]  # g = 0: no rate, tau = 0
    if not S:
        return c0, 1.0, [0.0] * N, c0 / 3.0
    best1 = [W[j] * math.log1p(g[j]) for j in S]
    hi = max(c0 + sum(best1), 1e-300)
    v_lb = max(c0, c0 * 2.0 ** (-1.0 / 3.0) + 0.5 * max(best1))
    lo = min(max(c0 / 3.0, v_lb - 2.0 / 3.0 * c0, 1e-300), hi)
    nu = lo if nu0 is None else min(max(nu0, lo), hi)
    for _ in range(max_iter):
        sgz = sG = sd = 0.0
        for j in S:
            zj = _snr_1(nu, W[j])
            sgz += g[j] / zj
            sG += g[j] * W[j] / (1.0 + zj)
            q = (1.0 + zj) / zj  # products overflow to inf, never raise
            sd += g[j] / W[j] * q * q / zj
        a = max(1.0 / (1.0 + sgz), 1e-300)
        r = c0 / 3.0 * a ** (-2.0 / 3.0) + sG - nu
        dr = -(2.0 / 9.0) * c0 * a ** (1.0 / 3.0) * sd - sgz - 1.0  # a^{-5/3} a^2 sd
        if r > 0.0:
            lo = nu
        elif r < 0.0:
            hi = nu
        step = r / dr
        newton = nu - step
        if abs(step) <= math.sqrt(rtol) * nu or r == 0.0:
            if math.isfinite(newton):
                nu = newton
            break
        nu = newton if (math.isfinite(newton) and lo <= newton <= hi) else math.sqrt(lo * hi)
        if hi - lo <= 4e-16 * hi:
            break
    zs = [_snr_1(nu, W[j]) for j in S]
    a = 1.0 / (1.0 + sum(g[j] / zj for j, zj in zip(S, zs, strict=True)))
    tau = [0.0] * N
    value = c0 * a ** (1.0 / 3.0)
    for j, zj in zip(S, zs, strict=True):
        tj = g[j] * a / max(zj, _TINY)
        tau[j] = tj
        if tj > 0.0:
            value += W[j] * tj * math.log1p(g[j] * a / tj)
    return value, a, tau, nu


# ---------------------------------------------------------------- single-frame scalar B&B


class _ScalarFrame:
    """One frame's coefficients as Python lists, its incumbent and a cache of inner solves."""

    def __init__(self, L: np.ndarray, g: np.ndarray, W: np.ndarray) -> None:
        self.L, self.g, self.W = L.tolist(), g.tolist(), W.tolist()
        self.N = len(self.L)
        self.value = sum(self.L)  # all local: a = 1
        self.off = [False] * self.N
        self.a = 1.0
        self.tau = [0.0] * self.N
        self.cache: dict[tuple[bool, ...], float] = {}

    def offer(self, off: list[bool], nu0: float | None = None) -> float:
        """Solve the inner problem for ``off`` (cached); keep it if it beats the incumbent."""
        key = tuple(off)
        v = self.cache.get(key)
        if v is None:
            v, a, tau, _ = solve_inner_1(self.L, self.g, self.W, off, nu0)
            self.cache[key] = v
            if v > self.value:
                self.value, self.off, self.a, self.tau = v, list(off), a, tau
        return v

    def dual(self, nu: float, status: list[int]
             ) -> tuple[float, float, list[bool], float, list[float]]:
        return dual_value_1(nu, self.L, self.g, self.W, status)


def _bound_node_1(fr: _ScalarFrame, status: list[int], lo: float, hi: float, rel_gap: float,
                  max_iter: int = 120) -> tuple[float, float, float, list[float]]:
    """Scalar :func:`_bound_nodes` for one node: ``(best D, lo, hi, branching score)``."""
    tol = max(rel_gap * 1e-2, 1e-12)
    d_lo, a_lo, off_lo, s_lo, t_lo = fr.dual(lo, status)
    d_hi, a_hi, off_hi, s_hi, t_hi = fr.dual(hi, status)
    factor = 4.0
    for _ in range(64):
        if s_lo == 0.0 or s_hi == 0.0:
            break
        if s_lo > 0.0:
            hi, d_hi, a_hi, off_hi, s_hi, t_hi = lo, d_lo, a_lo, off_lo, s_lo, t_lo
            lo = max(lo / factor, 1e-300)
            d_lo, a_lo, off_lo, s_lo, t_lo = fr.dual(lo, status)
        elif s_hi < 0.0:
            lo, d_lo, a_lo, off_lo, s_lo, t_lo = hi, d_hi, a_hi, off_hi, s_hi, t_hi
            hi = min(hi * factor, 1e300)
            d_hi, a_hi, off_hi, s_hi, t_hi = fr.dual(hi, status)
        else:
            break
        factor = min(factor * factor, 1e300)
    fr.offer(off_lo, lo)
    fr.offer(off_hi, hi)
    if s_lo == 0.0 or (s_hi != 0.0 and d_lo <= d_hi):
        best, a_best, t_best = d_lo, a_lo, t_lo
    else:
        best, a_best, t_best = d_hi, a_hi, t_hi
    exact = s_lo == 0.0 or s_hi == 0.0
    last_side, streak = 0, 0
    for _ in range(max_iter):
        if exact:
            break
        thr = fr.value * (1.0 + rel_gap)
        den = min(s_lo - s_hi, -1e-300)
        nux = min(max((d_hi - d_lo + s_lo * lo - s_hi * hi) / den, lo), hi)
        lower = d_lo + s_lo * (nux - lo)
        if (best <= thr or lower > thr or best - lower <= tol * abs(best)
                or hi - lo <= 1e-15 * hi):
            break
        nu = math.sqrt(lo * hi) if streak >= 2 else nux
        d, a, off, s, t = fr.dual(nu, status)
        if d < best or s == 0.0:
            best, a_best, t_best = d, a, t
        side = 1 if s > 0.0 else -1
        streak = streak + 1 if side == last_side else 0
        if streak >= 3:
            streak = 0
        last_side = side
        if s > 0.0:
            hi, d_hi, s_hi, off_hi = nu, d, s, off
        elif s < 0.0:
            lo, d_lo, s_lo, off_lo = nu, d, s, off
        else:
            exact = True
    if best > fr.value * (1.0 + rel_gap):  # new modes at the final bracket ends
        fr.offer(off_lo, lo)
        fr.offer(off_hi, hi)
    la = math.log(max(a_best, 1e-300))
    score = []
    for i in range(fr.N):
        if status[i] != 2:
            score.append(math.inf)
            continue
        c = abs(math.log(max(t_best[i], 1e-300)) - la)
        c = c if math.isfinite(c) else 1e300
        score.append(c - 1e301 if off_lo[i] != off_hi[i] else c)
    return best, lo, hi, score


def exact_scalar(L: np.ndarray, g: np.ndarray, W: np.ndarray, rel_gap: float, max_nodes: int,
                 time_limit: float | None, t0: float
                 ) -> tuple[float, list[bool], float, list[float], float, int]:
    """Single-frame branch and bound with the scalar kernels (depth first, binary branching).

    Same bounds, incumbents and certificate as the vectorised loop of
    :func:`~aigc_opt.problems.wpmec.exact.exact_batch` (which calls this for small single
    frames); inner solutions are cached per mode vector. ``t0`` is the start time
    (``time.perf_counter()``) for ``time_limit``. Returns ``(objective, modes, a, tau, bound,
    nodes)``.
    """
    fr = _ScalarFrame(L, g, W)
    N = fr.N
    fr.offer([True] * N)
    best1 = [fr.W[i] * math.log1p(fr.g[i]) for i in range(N)]
    lo0 = max(0.5 * max(best1), 1e-300)  # the all-offload price bracket (see exact_batch)
    hi0 = max(sum(best1), 4.0 * lo0)
    closed = -math.inf
    nodes = 0
    root = sum(max(fr.L[i], fr.W[i] * math.log1p(fr.g[i])) for i in range(N))
    stack: list[tuple[list[int], float, float, float]] = [([2] * N, lo0, hi0, root)]
    while stack:
        status, lo, hi, pb = stack.pop()
        thr = fr.value * (1.0 + rel_gap)
        if pb <= thr:
            closed = max(closed, pb)
            continue
        if nodes >= max_nodes or (time_limit is not None
                                  and time.perf_counter() - t0 > time_limit):
            closed = max(closed, pb)  # left open: enters the bound
            continue
        nodes += 1
        if 2 not in status:
            closed = max(closed, fr.offer([s == 1 for s in status]))
            continue
        bd, lo, hi, score = _bound_node_1(fr, status, lo, hi, rel_gap)
        if bd <= fr.value * (1.0 + rel_gap):
            closed = max(closed, bd)
            continue
        j = min(range(N), key=score.__getitem__)
        for mode in (0, 1):
            child = list(status)
            child[j] = mode
            stack.append((child, lo, hi, bd))
    return fr.value, fr.off, fr.a, fr.tau, max(fr.value, closed), nodes
