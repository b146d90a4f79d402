"""Environment profiles and recorded trajectories of the online family (re-exported by
:mod:`aigc_opt.problems.online.data`, which is the module to import)."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from aigc_opt.channel import path_loss_gain
from aigc_opt.errors import ValidationError

from .mobility import (
    arrival_process,
    fading_process,
    gauss_markov,
    jakes_rho,
    load_csv_trace,
    random_waypoint,
)

logger = logging.getLogger(__name__)


def _check_pos(field_: str, unit: str, value: float, *, zero: bool = False) -> None:
    ok = value >= 0 if zero else value > 0
    if not (isinstance(value, int | float) and math.isfinite(value) and ok):
        raise ValidationError(field_, unit, value, "must be finite and " +
                              ("non-negative" if zero else "positive"))


def _check_array(field_: str, unit: str, arr: np.ndarray, shape: tuple[int, ...]) -> None:
    if arr.shape != shape:
        raise ValidationError(field_, unit, arr.shape, f"must have shape {shape}")
    if not np.all(np.isfinite(arr)):
        raise ValidationError(field_, unit, arr, "must be finite")


@dataclass(frozen=True)
class EnvironmentProfile:
    """How :func:`generate_trajectory` builds an environment (SI units).

    Parameters
    ----------
    n_users, n_slots : int
        N and T.
    tau_s : float
        Slot length, s.
    mobility : str
        ``"static"`` (users on the x axis at ``distances_m`` from the origin),
        ``"random_waypoint"`` or ``"gauss_markov"`` in ``[0, area_m]^2``.
    distances_m : tuple of (float, float) or None
        ``(d_min, d_max)`` for static users at ``linspace(d_min, d_max, N)``.
    area_m, speed_min, speed_max, pause_s : float
        Random-waypoint parameters (m, m/s, m/s, s).
    gm_alpha, gm_mean_speed, gm_speed_std : float
        Gauss-Markov memory (-), mean speed and speed std (m/s).
    server_positions_m : tuple of (x, y)
        Server / AP positions, m (default one AP at the origin).
    antenna_gain, carrier_hz, exponent : float
        Path-loss ``A_d (c/(4 pi f_c d))^{d_e}`` (via :func:`aigc_opt.channel.path_loss_gain`).
    fading : str
        ``"none"``, ``"rayleigh"`` or ``"rician"`` (K = ``rician_k``).
    doppler_hz : float
        0 -> i.i.d. fading per slot; > 0 -> Gauss-Markov with ``rho = J0(2 pi f_d tau)``.
    arrivals : str
        ``"exponential"``, ``"poisson"`` or ``"constant"``; mean ``arrival_mean_bits`` per
        user and slot; Poisson packets of ``packet_bits``.
    """

    n_users: int = 10
    n_slots: int = 500
    tau_s: float = 1.0
    mobility: str = "static"
    distances_m: tuple[float, float] | None = (120.0, 255.0)
    area_m: float = 400.0
    speed_min: float = 0.5
    speed_max: float = 2.0
    pause_s: float = 0.0
    gm_alpha: float = 0.8
    gm_mean_speed: float = 1.0
    gm_speed_std: float = 0.5
    server_positions_m: tuple[tuple[float, float], ...] = ((0.0, 0.0),)
    antenna_gain: float = 3.0
    carrier_hz: float = 915e6
    exponent: float = 3.0
    fading: str = "rician"
    rician_k: float = 0.3 / 0.7
    doppler_hz: float = 0.0
    arrivals: str = "exponential"
    arrival_mean_bits: float = 3e6
    packet_bits: float = 1e4

    def __post_init__(self) -> None:
        for name in ("n_users", "n_slots"):
            v = getattr(self, name)
            if not (isinstance(v, int | np.integer) and v >= 1):
                raise ValidationError(name, "-", v, "must be an integer >= 1")
        for name, unit in (("tau_s", "s"), ("area_m", "m"), ("carrier_hz", "Hz"),
                           ("antenna_gain", "-"), ("exponent", "-"), ("packet_bits", "bit")):
            _check_pos(name, unit, getattr(self, name))
        for name, unit in (("doppler_hz", "Hz"), ("arrival_mean_bits", "bit"),
                           ("rician_k", "-")):
            _check_pos(name, unit, getattr(self, name), zero=True)
        if self.mobility not in ("static", "random_waypoint", "gauss_markov"):
            raise ValidationError("mobility", "-", self.mobility,
                                  "must be static, random_waypoint or gauss_markov")
        if self.mobility == "static" and self.distances_m is None:
            raise ValidationError("distances_m", "m", None, "static mobility needs (d_min, d_max)")
        if len(self.server_positions_m) < 1:
            raise ValidationError("server_positions_m", "m", self.server_positions_m,
                                  "needs at least one server")


def lydroo_profile(n_users: int = 10, n_slots: int = 500) -> EnvironmentProfile:
    """LyDROO's environment: static users at ``linspace(120, 255, N)`` m from one AP, Rician
    (LOS fraction 0.3) i.i.d. per 1-s frame, exponential arrivals of mean 3 Mbit."""
    return EnvironmentProfile(n_users=n_users, n_slots=n_slots)


@dataclass(frozen=True, eq=False)
class Trajectory:
    """A recorded environment: per-slot arrays, replayable against every controller.

    Parameters
    ----------
    tau_s : float
        Slot length, s.
    positions_m : ndarray (T, N, 2)
        User positions at the start of each slot, m.
    gains : ndarray (T, N, S)
        Channel power gain user -> server (path loss x fading), dimensionless.
    arrivals_bits : ndarray (T, N)
        Bits arriving in slot t (servable from slot t + 1 on), bit.
    server_positions_m : ndarray (S, 2)
        Server positions, m.
    mean_gains : ndarray (T, N, S) or None
        Path-loss-only gains (fading removed), dimensionless.
    meta : Mapping
        Provenance (profile, seed, trace file ...).
    """

    tau_s: float
    positions_m: np.ndarray
    gains: np.ndarray
    arrivals_bits: np.ndarray
    server_positions_m: np.ndarray
    mean_gains: np.ndarray | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_pos("tau_s", "s", self.tau_s)
        for name in ("positions_m", "gains", "arrivals_bits", "server_positions_m",
                     "mean_gains"):
            val = getattr(self, name)
            if val is None:
                continue
            arr = np.array(val, dtype=np.float64)
            if name in ("gains", "mean_gains") and arr.ndim == 2:
                arr = arr[:, :, None]
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))
        t, n = self.arrivals_bits.shape if self.arrivals_bits.ndim == 2 else (-1, -1)
        if t < 1 or n < 1:
            raise ValidationError("arrivals_bits", "bit", self.arrivals_bits.shape,
                                  "must be a non-empty (T, N) array")
        s = self.server_positions_m.shape[0] if self.server_positions_m.ndim == 2 else 0
        _check_array("server_positions_m", "m", self.server_positions_m, (s, 2))
        _check_array("positions_m", "m", self.positions_m, (t, n, 2))
        _check_array("gains", "-", self.gains, (t, n, s))
        _check_array("arrivals_bits", "bit", self.arrivals_bits, (t, n))
        if self.mean_gains is not None:
            _check_array("mean_gains", "-", self.mean_gains, (t, n, s))
        if np.any(self.gains <= 0):
            raise ValidationError("gains", "-", float(self.gains.min()), "must be > 0")
        if np.any(self.arrivals_bits < 0):
            raise ValidationError("arrivals_bits", "bit", float(self.arrivals_bits.min()),
                                  "must be >= 0")

    @property
    def n_slots(self) -> int:
        return int(self.arrivals_bits.shape[0])

    @property
    def n_users(self) -> int:
        return int(self.arrivals_bits.shape[1])

    @property
    def n_servers(self) -> int:
        return int(self.server_positions_m.shape[0])

    def gains_to(self, server: int = 0) -> np.ndarray:
        """Gains ``[T, N]`` to one server."""
        return self.gains[:, :, server]

    def head(self, n_slots: int) -> Trajectory:
        """The first ``n_slots`` slots (a new Trajectory)."""
        mg = None if self.mean_gains is None else self.mean_gains[:n_slots]
        return Trajectory(self.tau_s, self.positions_m[:n_slots], self.gains[:n_slots],
                          self.arrivals_bits[:n_slots], self.server_positions_m, mg,
                          {**self.meta, "head": n_slots})


def load_position_trace(path: str | Path) -> np.ndarray:
    """Positions ``[T, N, 2]`` (m) from a CSV with columns ``slot,user,x,y``."""
    return load_csv_trace(path, ("x", "y"))


def load_arrival_trace(path: str | Path) -> np.ndarray:
    """Arrivals ``[T, N]`` (bit) from a CSV with columns ``slot,user,bits``."""
    arr = load_csv_trace(path, ("bits",))[:, :, 0]
    if np.any(arr < 0):
        raise ValidationError("bits", "bit", float(arr.min()), "arrivals must be >= 0")
    return arr


def generate_trajectory(profile: EnvironmentProfile, seed: int = 0, *,
                        positions_m: np.ndarray | None = None,
                        arrivals_bits: np.ndarray | None = None) -> Trajectory:
    """Draw a :class:`Trajectory` from ``profile`` with ``numpy.random.default_rng(seed)``.

    ``positions_m`` ([T, N, 2], e.g. from :func:`load_position_trace`) replaces the mobility
    model and ``arrivals_bits`` ([T, N]) the arrival process; T and N then come from them.
    Order of random draws: mobility, fading, arrivals (so a trace for one keeps the others').
    """
    rng = np.random.default_rng(seed)
    t_n, n_u = profile.n_slots, profile.n_users
    if positions_m is not None:
        positions_m = np.asarray(positions_m, dtype=np.float64)
        if positions_m.ndim != 3 or positions_m.shape[2] != 2:
            raise ValidationError("positions_m", "m", positions_m.shape, "must be (T, N, 2)")
        t_n, n_u = positions_m.shape[:2]
    elif arrivals_bits is not None:
        t_n, n_u = np.shape(arrivals_bits)
    if positions_m is None:
        if profile.mobility == "static":
            assert profile.distances_m is not None
            d = np.linspace(profile.distances_m[0], profile.distances_m[1], n_u)
            positions_m = np.zeros((t_n, n_u, 2))
            positions_m[:, :, 0] = d
        elif profile.mobility == "random_waypoint":
            positions_m = random_waypoint(
                rng, t_n, n_u, profile.tau_s, area_m=profile.area_m,
                speed_min=profile.speed_min, speed_max=profile.speed_max,
                pause_s=profile.pause_s)
        else:
            positions_m = gauss_markov(
                rng, t_n, n_u, profile.tau_s, area_m=profile.area_m, alpha=profile.gm_alpha,
                mean_speed=profile.gm_mean_speed, speed_std=profile.gm_speed_std)
    servers = np.asarray(profile.server_positions_m, dtype=np.float64).reshape(-1, 2)
    dist = np.linalg.norm(positions_m[:, :, None, :] - servers[None, None, :, :], axis=-1)
    mean = path_loss_gain(dist, antenna_gain=profile.antenna_gain,
                          carrier_hz=profile.carrier_hz, exponent=profile.exponent)
    rho = jakes_rho(profile.doppler_hz, profile.tau_s) if profile.doppler_hz > 0 else 0.0
    fade = fading_process(rng, mean.shape, kind=profile.fading, rician_k=profile.rician_k,
                          rho=rho)
    if arrivals_bits is None:
        arrivals_bits = arrival_process(rng, t_n, n_u, kind=profile.arrivals,
                                        mean_bits=profile.arrival_mean_bits,
                                        packet_bits=profile.packet_bits)
    arrivals_bits = np.asarray(arrivals_bits, dtype=np.float64)
    if arrivals_bits.shape != (t_n, n_u):
        raise ValidationError("arrivals_bits", "bit", arrivals_bits.shape,
                              f"must be ({t_n}, {n_u}) to match the positions")
    # fading power underflow guard: a gain of exactly 0 is not a channel
    gains = np.maximum(mean * fade, np.finfo(float).tiny * 1e10)
    return Trajectory(profile.tau_s, positions_m, gains, arrivals_bits, servers, mean,
                      {"seed": seed, "profile": profile, "rho": rho})
