r"""Offline yardstick: a certified upper bound on the time-average weighted computation rate.

What it bounds
    For a trajectory (gains ``h_i(t)``, arrivals ``A_i(t)``, ``Q(0) = 0``) and per-user energy
    budgets ``E_i`` (J per frame, default ``gamma``), the optimum of the *offline* problem
    (all of the future known)::

        R* = max (1/T) sum_t sum_i w_i r_i(t) / tau_s
             s.t. every frame's constraints (modes, sum tau <= 1, p <= P_max, f <= f_max),
                  r_i(t) <= Q_i(t)  (queue dynamics),
                  (1/T) sum_t e_i(t) <= E_i.

    Every online controller whose per-user average energy is ``<= E_i`` -- in particular any
    of :mod:`~aigc_opt.problems.online.sim` evaluated with ``E_i`` = its own average energy,
    or ``max(gamma, that)`` -- has weighted rate ``<= R* <= bound``.
Relaxation
    ``Q_i(t) <= C_i(t) := sum_{s<t} A_i(s)`` (cumulative arrivals), so ``r_i(t) <= C_i(t)``
    replaces the coupled queue constraint; the energy budgets are dualised with one common
    multiplier ``mu >= 0`` (units (bit/s)/J)::

        g(mu) = (1/T) sum_t F_t(mu) + mu sum_i E_i,
        F_t(mu) = max_frame sum_i (w_i / tau_s) r_i - mu e_i   (r_i <= C_i(t))

    ``F_t`` is the frame problem of :mod:`~aigc_opt.problems.online.lyapunov` with ``v = w /
    tau_s``, ``y = mu``, solved by branch and bound whose *certified bound* is used, so
    ``g(mu) >= R*`` for every ``mu`` (weak duality). ``g`` is convex in ``mu``; it is minimised
    over ``log10 mu`` by golden-section search (unimodal), and ``mu = 0`` is evaluated too. The
    returned bound is ``min(min_mu g(mu), (1/T) sum_i w_i C_i(T) / tau_s)`` (the second term:
    nothing is served that has not arrived). Both terms are valid bounds; the result is a
    bound, not the offline optimum (the queue relaxation and the common multiplier lose
    tightness, most under light load).
Per-user multipliers (:func:`lagrangian_bound`, :func:`lagrangian_gap`)
    One multiplier per user's energy budget, minimised by L-BFGS-B on the subgradient; tight
    up to the ``O(N/T)`` duality gap of the time-shared modes. With infinitely backlogged users
    (``caps="backlogged"``) it is the offline optimum of the long-term problem that
    drift-plus-penalty approaches, and :func:`lagrangian_gap` is the certified gap of a run to
    it at the run's own energy (the quantity that falls like ``O(1/V)``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from aigc_opt.errors import ValidationError

from .data import LyapunovSpec, SimulationResult, Trajectory, max_frame_bits
from .lyapunov import frame_maximiser, frame_value_bound, prepare

logger = logging.getLogger(__name__)

_GOLD = (math.sqrt(5.0) - 1.0) / 2.0


@dataclass(frozen=True, eq=False)
class OfflineBound:
    """Result of :func:`offline_bound`.

    Parameters
    ----------
    bound_bps : float
        Certified upper bound on the time-average weighted rate, bit/s.
    mu : float
        Best multiplier found, (bit/s)/J.
    dual_bps : float
        ``g(mu)`` at that multiplier, bit/s.
    arrival_bps : float
        The arrivals bound ``(1/T) sum_i w_i C_i(T) / tau_s``, bit/s.
    energy_budget_j : ndarray (N,)
        The budgets ``E_i`` used, J.
    evaluations : ndarray (K, 2)
        Every ``(mu, g(mu))`` evaluated.
    """

    bound_bps: float
    mu: float
    dual_bps: float
    arrival_bps: float
    energy_budget_j: np.ndarray
    evaluations: np.ndarray


def dual_value(trajectory: Trajectory, spec: LyapunovSpec, mu: float,
               energy_budget_j: np.ndarray, *, server: int = 0, rtol: float = 1e-9) -> float:
    """``g(mu)`` (see module docstring), bit/s; a valid upper bound for any ``mu >= 0``."""
    n_t, n = trajectory.n_slots, trajectory.n_users
    w = spec.weights_for(n) / trajectory.tau_s
    cum = np.vstack([np.zeros((1, n)), np.cumsum(trajectory.arrivals_bits, axis=0)[:-1]])
    total = 0.0
    for t in range(n_t):
        pr = prepare(spec, trajectory.gains[t, :, server], cum[t], w, np.full(n, mu),
                     trajectory.tau_s)
        total += frame_value_bound(pr, rtol=rtol)[1]
    return total / n_t + mu * float(np.sum(energy_budget_j))


def offline_bound(trajectory: Trajectory, spec: LyapunovSpec, *,
                  energy_budget_j: np.ndarray | float | None = None, server: int = 0,
                  log10_range: tuple[float, float] = (3.0, 12.0), iterations: int = 14
                  ) -> OfflineBound:
    """Certified upper bound on any controller's weighted rate (see module docstring)."""
    n = trajectory.n_users
    budget = np.broadcast_to(np.asarray(
        spec.energy_threshold_j if energy_budget_j is None else energy_budget_j,
        dtype=np.float64), (n,)).copy()
    evals: list[tuple[float, float]] = []

    def g(log_mu: float) -> float:
        mu = 0.0 if log_mu == -math.inf else 10.0 ** log_mu
        val = dual_value(trajectory, spec, mu, budget, server=server)
        evals.append((mu, val))
        return val

    g(-math.inf)
    a, b = log10_range
    c, d = b - _GOLD * (b - a), a + _GOLD * (b - a)
    gc, gd = g(c), g(d)
    for _ in range(iterations):
        if gc <= gd:
            b, d, gd = d, c, gc
            c = b - _GOLD * (b - a)
            gc = g(c)
        else:
            a, c, gc = c, d, gd
            d = a + _GOLD * (b - a)
            gd = g(d)
    arr = np.asarray(evals)
    k = int(np.argmin(arr[:, 1]))
    w = spec.weights_for(n)
    arrivals = float(w @ trajectory.arrivals_bits[:-1].sum(axis=0)) / (
        trajectory.n_slots * trajectory.tau_s)
    bound = min(float(arr[k, 1]), arrivals)
    logger.debug("offline bound %.6g bit/s (mu %.3g, arrivals bound %.6g)", bound, arr[k, 0],
                 arrivals)
    return OfflineBound(bound, float(arr[k, 0]), float(arr[k, 1]), arrivals, budget, arr)


# ------------------------------------------------------------------ per-user Lagrangian bound
@dataclass(frozen=True, eq=False)
class LagrangianBound:
    """Result of :func:`lagrangian_bound`.

    Parameters
    ----------
    mu : ndarray (N,)
        Per-user energy multipliers found, (bit/s)/J.
    bound_bps : float
        ``g(mu) = (1/T) sum_t F_t(mu) + sum_i mu_i E_i``, a certified upper bound, bit/s.
    frame_bounds_bps : ndarray (T,)
        Certified ``F_t(mu)`` per slot, bit/s (for :func:`lagrangian_gap`).
    energy_j : ndarray (N,)
        Time-average energy of the frame maximisers at ``mu`` (``E - energy_j`` is the
        gradient of ``g``; ~0 where ``mu_i > 0`` at the minimum).
    energy_budget_j : ndarray (N,)
        The budgets ``E_i``, J.
    caps : str
        ``"backlogged"`` or ``"arrivals"`` (see :func:`lagrangian_bound`).
    evaluations : int
        Number of ``g`` evaluations (each solves T frames exactly).
    """

    mu: np.ndarray
    bound_bps: float
    frame_bounds_bps: np.ndarray
    energy_j: np.ndarray
    energy_budget_j: np.ndarray
    caps: str
    evaluations: int


def _caps(trajectory: Trajectory, spec: LyapunovSpec, caps: str, server: int) -> np.ndarray:
    gains = trajectory.gains[:, :, server]
    if caps == "backlogged":
        return max_frame_bits(spec, gains, trajectory.tau_s)
    if caps == "arrivals":
        n = trajectory.n_users
        return np.vstack([np.zeros((1, n)), np.cumsum(trajectory.arrivals_bits, axis=0)[:-1]])
    raise ValidationError("caps", "-", caps, "must be 'backlogged' or 'arrivals'")


def lagrangian_bound(trajectory: Trajectory, spec: LyapunovSpec, *,
                     energy_budget_j: np.ndarray | float | None = None,
                     caps: str = "backlogged", server: int = 0, mu0: np.ndarray | None = None,
                     mu_scale: float = 1e7, max_iter: int = 60, rtol: float = 1e-10
                     ) -> LagrangianBound:
    r"""Certified bound on the time-average weighted rate with **one multiplier per user**.

    The offline problem (perfect foresight of the trajectory)::

        R* = max (1/T) sum_t sum_i w_i r_i(t) / tau_s
             s.t. every frame's constraints, r_i(t) <= c_i(t), (1/T) sum_t e_i(t) <= E_i

    with ``c_i(t) = r_max_i(t)`` (:func:`~aigc_opt.problems.online.data.max_frame_bits`:
    infinitely backlogged users, ``caps="backlogged"``) or the cumulative arrivals
    ``C_i(t)`` (a relaxation of the queue constraint, ``caps="arrivals"``). Dualising each
    user's energy budget with ``mu_i >= 0`` gives, for every ``mu``,
    ``R* <= g(mu) = (1/T) sum_t F_t(mu) + mu . E`` with ``F_t(mu) = max_frame sum_i (w_i /
    tau_s) r_i - mu_i e_i`` (the certified branch-and-bound bound is used, so the bound is
    valid whatever ``mu`` is). ``g`` is convex with subgradient ``E - (1/T) sum_t e(t)``
    (energies of the frame maximisers); it is minimised by L-BFGS-B over ``mu / mu_scale``
    from ``mu0`` (default ``mu_scale`` each). Per-user multipliers make the bound tight up to
    the duality gap of the time-shared binary modes (``O(N/T)``, Shapley-Folkman), unlike the
    common multiplier of :func:`offline_bound`.
    """
    n_t, n = trajectory.n_slots, trajectory.n_users
    budget = np.broadcast_to(np.asarray(
        spec.energy_threshold_j if energy_budget_j is None else energy_budget_j,
        dtype=np.float64), (n,)).copy()
    cap = _caps(trajectory, spec, caps, server)
    gains = trajectory.gains[:, :, server]
    tau = trajectory.tau_s
    w = spec.weights_for(n) / tau
    best: list[tuple[float, np.ndarray, np.ndarray, np.ndarray]] = []
    count = [0]

    def frames(mu: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        bounds = np.empty(n_t)
        energy = np.zeros(n)
        for t in range(n_t):
            pr = prepare(spec, gains[t], cap[t], w, mu, tau)
            _, bounds[t], _, e = frame_maximiser(pr, rtol=rtol)
            energy += e
        count[0] += 1
        return float(bounds.mean() + mu @ budget), bounds, energy / n_t

    def fun(z: np.ndarray) -> tuple[float, np.ndarray]:
        mu = np.maximum(z, 0.0) * mu_scale
        val, bounds, energy = frames(mu)
        if not best or val < best[0][0]:
            best[:] = [(val, mu, bounds, energy)]
        return val / 1e6, (budget - energy) * mu_scale / 1e6

    z0 = np.ones(n) if mu0 is None else np.asarray(mu0, dtype=np.float64) / mu_scale
    minimize(fun, z0, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * n,
             options={"maxiter": max_iter, "ftol": 1e-13, "gtol": 1e-10})
    value, mu, bounds, energy = best[0]
    logger.debug("Lagrangian bound %.9g bit/s after %d evaluations", value, count[0])
    return LagrangianBound(mu, value, bounds, energy, budget, caps, count[0])


def lagrangian_gap(bound: LagrangianBound, trajectory: Trajectory, spec: LyapunovSpec,
                   result: SimulationResult, *, start: int = 0) -> float:
    r"""Certified gap (bit/s) of a run to the offline optimum at the run's own energy, over
    slots ``start..T-1``.

    With ``W`` the window, ``E_W`` the run's per-user average energy on it and ``mu`` the
    multipliers of ``bound``, the bound ``g_W(mu; E_W) = (1/|W|) sum_W F_t(mu) + mu . E_W``
    holds for every policy that spends ``E_W`` on ``W``; its excess over the run's rate is ::

        gap = (1/|W|) sum_{t in W} [F_t(mu) - (sum_i w_i r_i(t) / tau_s - mu . e(t))] >= 0,

    the average per-slot Lagrangian regret at ``mu`` (each term ``>= 0`` since ``F_t`` is the
    certified maximum). For drift-plus-penalty with energy queues, whose per-slot prices
    ``y_scale b0 Y_i(t) / V`` fluctuate around ``mu_i`` by ``O(1/sqrt V)``, the regret is
    second order: ``O(1/V)``.
    """
    if result.bits.shape != (trajectory.n_slots, trajectory.n_users) or \
            bound.frame_bounds_bps.shape != (trajectory.n_slots,):
        raise ValidationError("result", "-", result.bits.shape,
                              "result, bound and trajectory must have the same (T, N)")
    if not 0 <= start < trajectory.n_slots:
        raise ValidationError("start", "slot", start, f"must be in [0, {trajectory.n_slots})")
    w = spec.weights_for(trajectory.n_users) / trajectory.tau_s
    lag = result.bits[start:] @ w - result.energy_j[start:] @ bound.mu
    return float((bound.frame_bounds_bps[start:] - lag).mean())
