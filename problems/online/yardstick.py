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
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from .data import LyapunovSpec, Trajectory
from .lyapunov import frame_value_bound, prepare

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
