r"""Stochastic processes of the time-slotted environment (pure numpy, seeded by a Generator).

All arrays are indexed ``[slot, user, ...]``; slot ``t`` covers ``[t tau, (t+1) tau)`` with
``tau`` the slot length in s. Public functions (re-exported by
:mod:`aigc_opt.problems.online.data`, which is the module other families should import):

``random_waypoint(rng, n_slots, n_users, tau_s, area_m, speed_min, speed_max, pause_s)``
    Random waypoint (Johnson & Maltz): each user walks in a straight line at a speed drawn
    uniformly from ``[speed_min, speed_max]`` m/s towards a waypoint drawn uniformly in the
    square ``[0, area_m]^2``, pauses ``pause_s`` s there, and draws the next one.
``gauss_markov(rng, n_slots, n_users, tau_s, area_m, alpha, mean_speed, speed_std)``
    Gauss-Markov mobility (Liang & Haas 1999) on the velocity vector:
    ``v_t = alpha v_{t-1} + (1 - alpha) vbar + sqrt(1 - alpha^2) sigma w_t``, ``w_t ~ N(0, I_2)``,
    ``vbar`` of norm ``mean_speed`` with a per-user uniform heading; positions reflect at the
    area border (the velocity component normal to the wall flips).
``jakes_rho(doppler_hz, tau_s)``
    Clarke/Jakes slot-to-slot correlation of the complex fading: ``J0(2 pi f_d tau)``.
``fading_process(rng, shape, kind, rician_k, rho)``
    Unit-mean fading power ``[T, ...]``. Scattered part ``s_t = rho s_{t-1} + sqrt(1 - rho^2)
    w_t`` (first-order Gauss-Markov, ``s_0, w_t ~ CN(0, 1)``), so each slot's marginal is
    exactly Rayleigh/Rician; power ``|sqrt(K/(K+1)) + s_t / sqrt(K+1)|^2``. ``rho = 0`` gives
    i.i.d. fading (drawn with :func:`aigc_opt.channel.fading_power`).
``arrival_process(rng, n_slots, n_users, kind, mean_bits, packet_bits)``
    Bits arriving per user and slot: ``"exponential"`` (i.i.d. sizes of mean ``mean_bits``,
    LyDROO's ``np.random.exponential``), ``"poisson"`` (Poisson count of mean
    ``mean_bits / packet_bits`` packets of ``packet_bits`` bit) or ``"constant"``.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from scipy.special import j0

from aigc_opt.channel import fading_power
from aigc_opt.errors import ValidationError

logger = logging.getLogger(__name__)


def _positive(field: str, unit: str, value: float, *, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if not (math.isfinite(value) and ok):
        raise ValidationError(field, unit, value, "must be finite and " +
                              ("non-negative" if allow_zero else "positive"))


def random_waypoint(rng: np.random.Generator, n_slots: int, n_users: int, tau_s: float, *,
                    area_m: float, speed_min: float, speed_max: float,
                    pause_s: float = 0.0) -> np.ndarray:
    """Random-waypoint positions ``[T, N, 2]`` in m (see module docstring).

    The process starts at stationary-ish uniform positions with a fresh waypoint; the position
    recorded for slot t is the one at the start of the slot.
    """
    _positive("area_m", "m", area_m)
    _positive("speed_min", "m/s", speed_min)
    if not speed_max >= speed_min:
        raise ValidationError("speed_max", "m/s", speed_max, "must be >= speed_min")
    _positive("pause_s", "s", pause_s, allow_zero=True)
    pos = rng.uniform(0.0, area_m, size=(n_users, 2))
    target = rng.uniform(0.0, area_m, size=(n_users, 2))
    speed = rng.uniform(speed_min, speed_max, size=n_users)
    pause = np.zeros(n_users)
    out = np.empty((n_slots, n_users, 2))
    for t in range(n_slots):
        out[t] = pos
        budget = np.full(n_users, tau_s)
        # at most two legs per slot are handled exactly; longer remainders are dropped
        for _ in range(3):
            waiting = np.minimum(pause, budget)
            pause = pause - waiting
            budget = budget - waiting
            delta = target - pos
            dist = np.hypot(delta[:, 0], delta[:, 1])
            step = np.minimum(speed * budget, dist)
            frac = np.divide(step, dist, out=np.zeros_like(dist), where=dist > 0)
            pos = pos + delta * frac[:, None]
            used = np.divide(step, speed)
            budget = budget - used
            arrived = (dist - step) <= 1e-12
            if np.any(arrived):
                k = int(arrived.sum())
                target[arrived] = rng.uniform(0.0, area_m, size=(k, 2))
                speed[arrived] = rng.uniform(speed_min, speed_max, size=k)
                pause[arrived] = pause_s
            if not np.any(budget > 1e-12):
                break
    return out


def gauss_markov(rng: np.random.Generator, n_slots: int, n_users: int, tau_s: float, *,
                 area_m: float, alpha: float, mean_speed: float,
                 speed_std: float) -> np.ndarray:
    """Gauss-Markov positions ``[T, N, 2]`` in m (see module docstring)."""
    _positive("area_m", "m", area_m)
    if not 0.0 <= alpha <= 1.0:
        raise ValidationError("alpha", "-", alpha, "must lie in [0, 1]")
    _positive("mean_speed", "m/s", mean_speed, allow_zero=True)
    _positive("speed_std", "m/s", speed_std, allow_zero=True)
    heading = rng.uniform(0.0, 2.0 * np.pi, size=n_users)
    vbar = mean_speed * np.stack([np.cos(heading), np.sin(heading)], axis=1)
    vel = vbar.copy()
    pos = rng.uniform(0.0, area_m, size=(n_users, 2))
    noise = rng.standard_normal((n_slots, n_users, 2)) * speed_std * math.sqrt(1 - alpha**2)
    out = np.empty((n_slots, n_users, 2))
    for t in range(n_slots):
        out[t] = pos
        vel = alpha * vel + (1.0 - alpha) * vbar + noise[t]
        pos = pos + vel * tau_s
        low, high = pos < 0.0, pos > area_m
        pos = np.where(low, -pos, np.where(high, 2.0 * area_m - pos, pos))
        pos = np.clip(pos, 0.0, area_m)
        flip = low | high
        vel = np.where(flip, -vel, vel)
        vbar = np.where(flip, -vbar, vbar)
    return out


def jakes_rho(doppler_hz: float, tau_s: float) -> float:
    """Slot-to-slot correlation ``J0(2 pi f_d tau)`` of Clarke/Jakes fading (dimensionless)."""
    _positive("doppler_hz", "Hz", doppler_hz, allow_zero=True)
    return float(j0(2.0 * math.pi * doppler_hz * tau_s))


def fading_process(rng: np.random.Generator, shape: tuple[int, ...], *, kind: str,
                   rician_k: float = 0.0, rho: float = 0.0) -> np.ndarray:
    """Unit-mean fading power of shape ``shape = (T, ...)`` (see module docstring)."""
    if kind not in ("none", "rayleigh", "rician"):
        raise ValidationError("fading", "-", kind, "must be one of none, rayleigh, rician")
    if not -1.0 <= rho <= 1.0:
        raise ValidationError("rho", "-", rho, "must lie in [-1, 1]")
    _positive("rician_k", "-", rician_k, allow_zero=True)
    if kind == "none":
        return np.ones(shape)
    k = rician_k if kind == "rician" else 0.0
    if rho == 0.0:
        return fading_power(rng, shape, kind=kind, rician_k=k)
    w = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / math.sqrt(2.0)
    s = np.empty(shape, dtype=np.complex128)
    s[0] = w[0]
    c = math.sqrt(max(1.0 - rho * rho, 0.0))
    for t in range(1, shape[0]):
        s[t] = rho * s[t - 1] + c * w[t]
    los = math.sqrt(k / (k + 1.0))
    return np.abs(los + s / math.sqrt(k + 1.0)) ** 2


def arrival_process(rng: np.random.Generator, n_slots: int, n_users: int, *, kind: str,
                    mean_bits: float | np.ndarray, packet_bits: float = 1.0) -> np.ndarray:
    """Arrivals ``[T, N]`` in bit (see module docstring); ``mean_bits`` scalar or per user."""
    mean = np.broadcast_to(np.asarray(mean_bits, dtype=np.float64), (n_users,))
    if not np.all(np.isfinite(mean) & (mean >= 0)):
        raise ValidationError("mean_bits", "bit", mean, "must be finite and >= 0")
    _positive("packet_bits", "bit", packet_bits)
    if kind == "exponential":
        return rng.exponential(1.0, size=(n_slots, n_users)) * mean
    if kind == "poisson":
        return rng.poisson(mean / packet_bits, size=(n_slots, n_users)) * packet_bits
    if kind == "constant":
        return np.tile(mean, (n_slots, 1))
    raise ValidationError("arrivals", "-", kind, "must be exponential, poisson or constant")
