"""Environment profiles and recorded trajectories of the online family (re-exported by
:mod:`aigc_opt.problems.online.data`, which is the module to import)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aigc_opt.channel import path_loss_gain
from aigc_opt.errors import ValidationError
from aigc_opt.frozen import FrozenMap
from aigc_opt.schema import bound
from aigc_opt.slot_csv import read_slot_user_csv
from aigc_opt.validate import (
    MAX_ENTRIES,
    check_array,
    check_choice,
    check_entries,
    check_int,
    check_scalar,
    check_seed,
    check_type,
    derived_from,
)

from .mobility import (
    arrival_process,
    fading_process,
    gauss_markov,
    jakes_rho,
    random_waypoint,
)

logger = logging.getLogger(__name__)


#: Largest speed of a user, m/s: the speed of light (no device moves faster).
MAX_SPEED_MPS = 299_792_458.0
#: The scalar fields of :class:`EnvironmentProfile`: (name, SI unit, lower bound, strict,
#: upper bound). Every field is checked whatever the mobility model, so junk in a field the
#: chosen model does not use is still reported.
_PROFILE_FIELDS: tuple[tuple[str, str, float, bool, float], ...] = (
    ("tau_s", "s", 0.0, True, bound("time_s")),
    ("area_m", "m", 0.0, True, bound("distance_m")),
    ("speed_min", "m/s", 0.0, False, MAX_SPEED_MPS),
    ("speed_max", "m/s", 0.0, False, MAX_SPEED_MPS),
    ("pause_s", "s", 0.0, False, bound("time_s")),
    ("gm_alpha", "-", 0.0, False, 1.0),
    ("gm_mean_speed", "m/s", 0.0, False, MAX_SPEED_MPS),
    ("gm_speed_std", "m/s", 0.0, False, MAX_SPEED_MPS),
    ("antenna_gain", "-", 0.0, True, bound("antenna_gain")),
    ("carrier_hz", "Hz", 0.0, True, bound("carrier_hz")),
    ("exponent", "-", 0.0, True, bound("exponent")),
    ("rician_k", "-", 0.0, False, bound("rician_k")),
    ("doppler_hz", "Hz", 0.0, False, bound("hz")),
    ("arrival_mean_bits", "bit", 0.0, False, bound("bits")),
    ("packet_bits", "bit", 0.0, True, bound("bits")),
)
MOBILITY_MODELS = ("static", "random_waypoint", "gauss_markov")
FADING_KINDS = ("none", "rayleigh", "rician")
ARRIVAL_KINDS = ("exponential", "poisson", "constant")


def _positions(name: str, value: Any, shape: tuple[int, ...] | None = None, *,
               ndim: int | None = None, like: str = "") -> np.ndarray:
    """Planar coordinates (m) within the physical bound ``position_m``."""
    lim = bound("position_m")
    return check_array(name, "m", value, shape, ndim=ndim, low=-lim, high=lim, like=like)


@dataclass(frozen=True)
class EnvironmentProfile:
    """How :func:`generate_trajectory` builds an environment (SI units).

    Every field is checked (type first, then range, whatever the mobility model) and bad
    input raises :class:`~aigc_opt.errors.ValidationError` naming the field and its unit.

    Parameters
    ----------
    n_users, n_slots : int
        N and T (>= 1).
    tau_s : float
        Slot length, s.
    mobility : str
        ``"static"`` (users on the x axis at ``distances_m`` from the origin),
        ``"random_waypoint"`` or ``"gauss_markov"`` in ``[0, area_m]^2``.
    distances_m : tuple of (float, float) or None
        ``(d_min, d_max)`` for static users at ``linspace(d_min, d_max, N)``.
    area_m, speed_min, speed_max, pause_s : float
        Random-waypoint parameters (m, m/s, m/s, s); random-waypoint mobility needs
        ``0 < speed_min <= speed_max``.
    gm_alpha, gm_mean_speed, gm_speed_std : float
        Gauss-Markov memory (-, in [0, 1]), mean speed and speed std (m/s).
    server_positions_m : tuple of (x, y)
        Server / AP positions, m, shape (S, 2) with S >= 1 (default one AP at the origin).
    antenna_gain, carrier_hz, exponent : float
        Path-loss ``A_d (c/(4 pi f_c d))^{d_e}`` (via :func:`aigc_opt.channel.path_loss_gain`).
    fading : str
        ``"none"``, ``"rayleigh"`` or ``"rician"`` (K = ``rician_k``).
    rician_k : float
        Rician K-factor, LOS-to-scattered power ratio (linear, >= 0), -; default 0.3/0.7.
    doppler_hz : float
        0 -> i.i.d. fading per slot; > 0 -> Gauss-Markov with ``rho = J0(2 pi f_d tau)``.
    arrivals : str
        ``"exponential"`` (``arrival_mean_bits * Exp(1)``), ``"poisson"`` (``packet_bits *
        Poisson(arrival_mean_bits / packet_bits)``) or ``"constant"``, per user and slot.
    arrival_mean_bits : float
        Mean arrivals per user and slot (>= 0), bit.
    packet_bits : float
        Packet size of Poisson arrivals (> 0; unused otherwise), bit.
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
            object.__setattr__(self, name, check_int(name, getattr(self, name), "-", 1,
                                                     MAX_ENTRIES))
        for name, unit, lo, strict, hi in _PROFILE_FIELDS:
            object.__setattr__(self, name, check_scalar(name, getattr(self, name), unit, lo, hi,
                                                        strict=strict))
        check_choice("mobility", self.mobility, MOBILITY_MODELS)
        check_choice("fading", self.fading, FADING_KINDS)
        check_choice("arrivals", self.arrivals, ARRIVAL_KINDS)
        if self.mobility == "random_waypoint":
            if self.speed_min <= 0:
                raise ValidationError("speed_min", "m/s", self.speed_min,
                                      "must be > 0 for random_waypoint mobility")
            if self.speed_max < self.speed_min:
                raise ValidationError("speed_max", "m/s", self.speed_max,
                                      f"must be >= speed_min = {self.speed_min:g}")
        if self.distances_m is not None:
            d = check_array("distances_m", "m", self.distances_m, (2,), low=0.0,
                            high=bound("distance_m"))
            object.__setattr__(self, "distances_m", (float(d[0]), float(d[1])))
        elif self.mobility == "static":
            raise ValidationError("distances_m", "m", None, "static mobility needs (d_min, d_max)")
        xy = _positions("server_positions_m", self.server_positions_m, ndim=2)
        if xy.shape[0] < 1 or xy.shape[1] != 2:
            raise ValidationError("server_positions_m", "m", xy.shape,
                                  "must be (S, 2) (x, y) pairs with at least one server")
        object.__setattr__(self, "server_positions_m",
                           tuple((float(x), float(y)) for x, y in xy))


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
        object.__setattr__(self, "tau_s", check_scalar("tau_s", self.tau_s, "s", 0.0,
                                                       bound("time_s"), strict=True))
        a = check_array("arrivals_bits", "bit", self.arrivals_bits, ndim=2, low=0.0,
                        high=bound("bits"))
        t, n = a.shape
        if t < 1 or n < 1:
            raise ValidationError("arrivals_bits", "bit", a.shape,
                                  "must be a non-empty (T, N) array")
        xy = _positions("server_positions_m", self.server_positions_m, ndim=2)
        if xy.shape[0] < 1 or xy.shape[1] != 2:
            raise ValidationError("server_positions_m", "m", xy.shape,
                                  "must be (S, 2) (x, y) pairs with at least one server")
        s = xy.shape[0]
        object.__setattr__(self, "arrivals_bits", a)
        object.__setattr__(self, "server_positions_m", xy)
        object.__setattr__(self, "positions_m", _positions(
            "positions_m", self.positions_m, (t, n, 2), like="arrivals_bits (T, N)"))
        for name in ("gains", "mean_gains"):
            val = getattr(self, name)
            if val is None and name == "mean_gains":
                continue
            g = check_array(name, "-", val, low=0.0, strict=name == "gains", high=bound("gain"))
            if g.ndim == 2:  # one server: (T, N) -> (T, N, 1)
                g = g[:, :, None]
            if g.shape != (t, n, s):
                raise ValidationError(name, "-", g.shape, f"wrong shape, expected {(t, n, s)} to "
                                      "match arrivals_bits (T, N) and server_positions_m (S, 2)")
            object.__setattr__(self, name, g)
        if not isinstance(self.meta, Mapping):
            raise ValidationError("meta", "-", type(self.meta).__name__, "must be a mapping")
        object.__setattr__(self, "meta", FrozenMap(dict(self.meta)))

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
        n_slots = check_int("n_slots", n_slots, "-", 1)
        mg = None if self.mean_gains is None else self.mean_gains[:n_slots]
        return Trajectory(self.tau_s, self.positions_m[:n_slots], self.gains[:n_slots],
                          self.arrivals_bits[:n_slots], self.server_positions_m, mg,
                          {**self.meta, "head": n_slots})


def load_position_trace(path: str | Path) -> np.ndarray:
    """Positions ``[T, N, 2]`` (m) from a CSV with columns ``slot,user,x,y``
    (:func:`aigc_opt.slot_csv.read_slot_user_csv`)."""
    return read_slot_user_csv(path, ("x", "y"), "position trace")


def load_arrival_trace(path: str | Path) -> np.ndarray:
    """Arrivals ``[T, N]`` (bit) from a CSV with columns ``slot,user,bits``."""
    arr = read_slot_user_csv(path, ("bits",), "arrival trace")[:, :, 0]
    if np.any(arr < 0):
        raise ValidationError("bits", "bit", float(arr.min()), "arrivals must be >= 0")
    return arr


def generate_trajectory(profile: EnvironmentProfile, seed: Any = 0, *,
                        positions_m: np.ndarray | None = None,
                        arrivals_bits: np.ndarray | None = None,
                        max_entries: int | None = None) -> Trajectory:
    """Draw a :class:`Trajectory` from ``profile`` with ``numpy.random.default_rng(seed)``.

    ``positions_m`` ([T, N, 2], m, e.g. from :func:`load_position_trace`) replaces the mobility
    model and ``arrivals_bits`` ([T, N], bit) the arrival process; T and N then come from them.
    Order of random draws: mobility, fading, arrivals (so a trace for one keeps the others').
    ``seed`` is None, an integer >= 0 or a numpy ``Generator`` / ``SeedSequence``;
    ``max_entries`` (default :data:`aigc_opt.validate.MAX_ENTRIES`) caps ``T * N * S``, checked
    before anything is allocated.
    """
    check_type("profile", profile, EnvironmentProfile)
    seed = check_seed("seed", seed)
    rng = np.random.default_rng(seed)
    t_n, n_u = profile.n_slots, profile.n_users
    if positions_m is not None:
        positions_m = _positions("positions_m", positions_m, ndim=3)
        if positions_m.shape[2] != 2 or min(positions_m.shape[:2]) < 1:
            raise ValidationError("positions_m", "m", positions_m.shape,
                                  "must be (T, N, 2), non-empty")
        t_n, n_u = positions_m.shape[:2]
    if arrivals_bits is not None:
        arrivals_bits = check_array("arrivals_bits", "bit", arrivals_bits, ndim=2, low=0.0,
                                    high=bound("bits"))
        if min(arrivals_bits.shape) < 1:
            raise ValidationError("arrivals_bits", "bit", arrivals_bits.shape,
                                  "must be a non-empty (T, N) array")
        if positions_m is None:
            t_n, n_u = arrivals_bits.shape
    check_entries("n_slots*n_users*n_servers", t_n * n_u * len(profile.server_positions_m),
                  max_entries)
    # what the users' positions came from, for an out-of-range gain's message (it named
    # distances_m even for a position trace or a mobility model, where they play no part)
    where: dict[str, Any] = {"positions_m": "array (given)"} if positions_m is not None else \
        {"distances_m": profile.distances_m} if profile.mobility == "static" else \
        {"mobility": profile.mobility, "area_m": profile.area_m}
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
    with derived_from(**where, server_positions_m=profile.server_positions_m,
                      antenna_gain=profile.antenna_gain, carrier_hz=profile.carrier_hz,
                      exponent=profile.exponent, seed=seed):
        return Trajectory(profile.tau_s, positions_m, gains, arrivals_bits, servers, mean,
                          {"seed": seed, "profile": profile, "rho": rho})
