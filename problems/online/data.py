r"""Online (time-slotted) MEC: environment trajectories, the LyDROO frame model, decisions.

Stable public names (other families -- ``problems/migration`` -- import these):

* :class:`EnvironmentProfile` -- how to generate an environment (mobility, path loss, fading,
  arrivals, servers); :func:`lydroo_profile` gives LyDROO's.
* :func:`generate_trajectory` ``(profile, seed, *, positions_m=None, arrivals_bits=None)
  -> Trajectory``; :func:`load_position_trace` / :func:`load_arrival_trace` read CSV traces
  (columns ``slot,user,x,y`` and ``slot,user,bits``). The processes themselves
  (:func:`random_waypoint`, :func:`gauss_markov`, :func:`fading_process`, :func:`jakes_rho`,
  :func:`arrival_process`) live in :mod:`aigc_opt.problems.online.mobility`, the profile and
  trajectory types in :mod:`aigc_opt.problems.online.environment`; both are re-exported here.
* :class:`Trajectory` -- frozen per-slot arrays ``positions_m [T, N, 2]`` (m), ``gains
  [T, N, S]`` (dimensionless power gain to each of S servers; ``gains_to(0)`` -> ``[T, N]``),
  ``mean_gains`` (path loss only), ``arrivals_bits [T, N]``, ``server_positions_m [S, 2]``,
  ``tau_s`` (slot length, s). Replay it against any controller.
* :class:`SlotState` and :class:`Controller` -- the controller interface
  (``controller.act(state) -> decision``; :mod:`aigc_opt.problems.online.sim` re-exports them).

The LyDROO model (Bi, Huang, Wang, Zhang, IEEE TWC 2021, arXiv 2010.01370; parameters checked
against the authors' code github.com/revenol/LyDROO, files ``LyDROO.py`` and
``ResourceAllocation.py`` at commit d1084ab)
-----------------------------------------------------------------------------------------
Frame t of length ``tau_s`` (the code's frame is 1 s: the local CPU runs all frame, offloading
times are fractions with ``sum tau <= 1``). User i in mode ``x_i``:

* local (``x_i = 0``): CPU ``f_i <= f_max``, bits ``r_i = f_i tau_s / phi``, energy
  ``e_i = kappa f_i^3 tau_s``;
* offload (``x_i = 1``): fraction ``tau_i`` of the frame at power ``p_i <= P_max``, bits
  ``r_i = tau_i tau_s (W / v_u) log2(1 + p_i h_i / N0)``, energy ``e_i = p_i tau_i tau_s``,
  ``N0`` the noise power in the band (W).

Both are capped by the backlog, ``r_i <= Q_i(t)`` (the code's ``f0 = min(phi q, f_max)`` and
``c = q``/LP bound ``r <= d = q``), so the queue update ``Q(t+1) = max(Q(t) + A(t) - r(t), 0)``
never clips except by rounding; arrivals of frame t are served from frame t+1 on. Virtual energy
queues ``Y(t+1) = max(Y(t) + nu (e(t) - gamma), 0)``. Per-frame problem (26) of the paper as
the code evaluates it (``Algo1_NUM``; the code scales ``Y`` by ``Y_factor = 10`` and works in
Mbit, so ``b0 = 1e6`` bit here)::

    max  sum_i (Q_i / b0 + V w_i) r_i / b0  -  y_scale sum_i Y_i e_i       ("drift-plus-penalty")

Parameters (LyDROO code): N = 10 users, ``w_i = 1.5`` for even i and 1 for odd i (0-based),
``V = 20``, ``gamma = 0.08`` J per frame, ``nu = 1000`` 1/J, ``Y_factor = 10``, arrivals
exponential with mean 3 Mbit per frame, ``phi = 100`` cycles/bit, ``kappa = 1e-26``,
``f_max = 300`` MHz, ``W = 2`` MHz, ``v_u = 1.1``, ``N0 = W 10^{-17.4} 1e-3`` W (-174 dBm/Hz),
``P_max = 0.1`` W; channel ``h0 = A_d (c / (4 pi f_c d))^{d_e}`` with ``A_d = 3``,
``f_c = 915`` MHz, ``d_e = 3``, ``d = linspace(120, 255, N)`` m, Rician fading with LOS power
fraction 0.3 (``racian_mec(h0, 0.3)``, i.e. K = 3/7), i.i.d. per frame. The code's
``CHFACT = 1e10`` channel scaling and its rounding to 6 decimals of Mbit are numerical devices
and are not reproduced (they cancel / are below 1 bit).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from aigc_opt.errors import ValidationError
from aigc_opt.frozen import FrozenMap
from aigc_opt.schema import bound, floor
from aigc_opt.spec import ProblemSpec
from aigc_opt.validate import check_array, check_int, check_scalar

from .environment import (
    EnvironmentProfile,
    Trajectory,
    generate_trajectory,
    load_arrival_trace,
    load_position_trace,
    lydroo_profile,
)
from .mobility import (
    arrival_process,
    fading_process,
    gauss_markov,
    jakes_rho,
    random_waypoint,
)

logger = logging.getLogger(__name__)

__all__ = [
    "EnvironmentProfile", "Trajectory", "generate_trajectory", "lydroo_profile",
    "load_position_trace", "load_arrival_trace", "LyapunovSpec", "FrameInstance",
    "FrameDecision", "SlotState", "Controller", "SimulationResult", "local_bits",
    "local_energy", "offload_bits", "offload_energy", "frame_objective", "max_frame_bits",
    "random_waypoint",
    "gauss_markov", "fading_process", "jakes_rho", "arrival_process", "LYDROO",
]

#: LyDROO code constants (``LyDROO.py`` / ``ResourceAllocation.py``), SI units.
LYDROO: Mapping[str, float] = FrozenMap({
    "n_users": 10, "V": 20.0, "energy_threshold_j": 0.08, "nu_per_j": 1000.0, "y_scale": 10.0,
    "arrival_mean_bits": 3e6, "cycles_per_bit": 100.0, "kappa": 1e-26, "f_max_hz": 300e6,
    "bandwidth_hz": 2e6, "vu": 1.1, "noise_w": 2e6 * 10 ** (-17.4) * 1e-3, "p_max_w": 0.1,
    "antenna_gain": 3.0, "carrier_hz": 915e6, "exponent": 3.0, "d_min_m": 120.0,
    "d_max_m": 255.0, "los_fraction": 0.3, "queue_unit_bits": 1e6, "tau_s": 1.0,
})


#: The scalar fields of :class:`LyapunovSpec`: (name, SI unit, > 0 (else >= 0), key of the
#: physical upper bound in :data:`aigc_opt.schema.BOUNDS`).
_SPEC_FIELDS: tuple[tuple[str, str, bool, str], ...] = (
    ("V", "-", False, "weight"), ("energy_threshold_j", "J", False, "energy_j"),
    ("nu_per_j", "1/J", False, "factor"), ("y_scale", "-", False, "factor"),
    ("queue_unit_bits", "bit", True, "bits"), ("cycles_per_bit", "cycle/bit", True,
                                                "cycles_per_bit"),
    ("kappa", "J s^2/cycle^3", True, "kappa"), ("f_max_hz", "Hz", True, "hz"),
    ("bandwidth_hz", "Hz", True, "hz"), ("vu", "-", True, "overhead"),
    ("noise_w", "W", True, "noise_w"), ("p_max_w", "W", True, "tx_power_w"))
#: Smallest values of :data:`_SPEC_FIELDS` that have a floor: a queue unit below one bit is
#: meaningless, and 1e-300 bit made ``Q / b0`` overflow (every method 'unverified', objective inf).
_SPEC_FLOORS = {"queue_unit_bits": 1.0, "f_max_hz": floor("hz"), "bandwidth_hz": floor("hz")}
#: Largest energy virtual queue ``Y`` (units of ``nu`` x J): the largest ``nu`` (a factor)
#: times the largest energy (:data:`aigc_opt.schema.BOUNDS`).
MAX_VIRTUAL_QUEUE = bound("factor") * bound("energy_j")


# ------------------------------------------------------------------------------ spec
@dataclass(frozen=True)
class LyapunovSpec(ProblemSpec):
    """Drift-plus-penalty frame problem and queue dynamics (defaults: the LyDROO code's).

    Parameters
    ----------
    V : float
        Lyapunov penalty weight (code ``V = 20``); ``V = 0`` is pure backlog reduction.
    weights : tuple of float or None
        Rate weights ``w_i``; None -> LyDROO's ``1.5`` for even, ``1`` for odd user index.
    energy_threshold_j : float
        Average energy budget ``gamma`` per user and frame, J (code 0.08).
    nu_per_j : float
        Energy-queue factor ``nu``, 1/J (code 1000).
    y_scale : float
        Factor on ``Y`` in the frame objective (code ``Y_factor = 10``).
    queue_unit_bits : float
        ``b0``, bit (>= 1): the code works in Mbit (``b0 = 1e6``); objective uses ``Q/b0`` and
        ``r/b0``.
    cycles_per_bit, kappa, f_max_hz : float
        ``phi`` (100), effective capacitance (1e-26), CPU limit (300e6 Hz).
    bandwidth_hz, vu, noise_w, p_max_w : float
        ``W`` (2e6 Hz), overhead ``v_u`` (1.1), noise power in W (``W 10^-20.4``), ``P_max``
        (0.1 W).
    problem, variant : str
        Family and variant name (:class:`aigc_opt.ProblemSpec`): labels; keep the defaults.
    """

    problem: str = "online"
    variant: str = "lyapunov"
    V: float = 20.0
    weights: tuple[float, ...] | None = None
    energy_threshold_j: float = 0.08
    nu_per_j: float = 1000.0
    y_scale: float = 10.0
    queue_unit_bits: float = 1e6
    cycles_per_bit: float = 100.0
    kappa: float = 1e-26
    f_max_hz: float = 300e6
    bandwidth_hz: float = 2e6
    vu: float = 1.1
    noise_w: float = LYDROO["noise_w"]
    p_max_w: float = 0.1

    def __post_init__(self) -> None:
        for name, unit, lo_strict, key in _SPEC_FIELDS:
            low = _SPEC_FLOORS.get(name, 0.0)
            object.__setattr__(self, name, check_scalar(
                name, getattr(self, name), unit, low, bound(key), strict=lo_strict and not low))
        if self.weights is not None:
            w = check_array("weights", "-", self.weights, ndim=1, low=0.0, high=bound("weight"))
            object.__setattr__(self, "weights", tuple(float(x) for x in w))

    def weights_for(self, n_users: int) -> np.ndarray:
        """Weights ``w`` of length ``n_users`` (LyDROO's alternating 1.5 / 1 by default)."""
        if self.weights is None:
            return np.where(np.arange(n_users) % 2 == 0, 1.5, 1.0)
        w = np.asarray(self.weights, dtype=np.float64)
        if w.size != n_users:
            raise ValidationError("weights", "-", w.size, f"must have {n_users} entries")
        return w


# ------------------------------------------------------------------------------ physics
def local_bits(spec: LyapunovSpec, cpu_hz: np.ndarray, tau_s: float) -> np.ndarray:
    """Bits processed locally in a frame: ``f tau_s / phi``."""
    return np.asarray(cpu_hz) * tau_s / spec.cycles_per_bit


def local_energy(spec: LyapunovSpec, cpu_hz: np.ndarray, tau_s: float) -> np.ndarray:
    """Local computing energy in a frame: ``kappa f^3 tau_s`` (J)."""
    return spec.kappa * np.asarray(cpu_hz) ** 3 * tau_s


def offload_bits(spec: LyapunovSpec, time_frac: np.ndarray, power_w: np.ndarray,
                 gains: np.ndarray, tau_s: float) -> np.ndarray:
    """Bits offloaded in a frame: ``tau tau_s (W / v_u) log2(1 + p h / N0)``."""
    snr = np.asarray(power_w) * np.asarray(gains) / spec.noise_w
    return np.asarray(time_frac) * tau_s * spec.bandwidth_hz / spec.vu * np.log2(1.0 + snr)


def offload_energy(time_frac: np.ndarray, power_w: np.ndarray, tau_s: float) -> np.ndarray:
    """Transmit energy in a frame: ``p tau tau_s`` (J)."""
    return np.asarray(power_w) * np.asarray(time_frac) * tau_s


def max_frame_bits(spec: LyapunovSpec, gains: np.ndarray, tau_s: float) -> np.ndarray:
    """Most bits a user can serve in one frame, whatever the others do:
    ``max(f_max tau_s / phi, tau_s (W / v_u) log2(1 + P_max h / N0))`` (the whole frame
    locally at ``f_max`` or offloading for the whole frame at ``P_max``). A backlog cap
    ``r_i <= Q_i`` with ``Q_i`` at least this is never binding (infinitely backlogged user)."""
    return np.maximum(spec.f_max_hz * tau_s / spec.cycles_per_bit,
                      offload_bits(spec, np.ones_like(np.asarray(gains, dtype=np.float64)),
                                   np.full(np.shape(gains), spec.p_max_w), gains, tau_s))


def frame_objective(spec: LyapunovSpec, queues_bits: np.ndarray, virtual_queues: np.ndarray,
                    bits: np.ndarray, energy_j: np.ndarray) -> float:
    """Drift-plus-penalty objective ``sum (Q/b0 + V w) r/b0 - y_scale sum Y e``."""
    q = np.asarray(queues_bits, dtype=np.float64)
    b0 = spec.queue_unit_bits
    a = q / b0 + spec.V * spec.weights_for(q.size)
    return float(a @ (np.asarray(bits) / b0)
                 - spec.y_scale * (np.asarray(virtual_queues) @ np.asarray(energy_j)))


# ------------------------------------------------------------------------------ frame problem
@dataclass(frozen=True, eq=False)
class FrameInstance:
    """One frame's state: the instance of the per-frame problem.

    Parameters
    ----------
    gains : ndarray (N,)
        Channel power gains ``h_i`` (dimensionless).
    queues_bits : ndarray (N,)
        Data backlogs ``Q_i(t)``, bit (caps the bits served this frame).
    virtual_queues : ndarray (N,)
        Energy virtual queues ``Y_i(t)`` (units of ``nu`` x J).
    tau_s : float
        Frame length, s.
    """

    gains: np.ndarray
    queues_bits: np.ndarray
    virtual_queues: np.ndarray
    tau_s: float = 1.0

    def __post_init__(self) -> None:
        g = check_array("gains", "-", self.gains, ndim=1, low=0.0, strict=True,
                        high=bound("gain"))
        n = (g.shape[0],)
        object.__setattr__(self, "gains", g)
        object.__setattr__(self, "queues_bits", check_array(
            "queues_bits", "bit", self.queues_bits, n, low=0.0, high=bound("bits"), like="gains"))
        object.__setattr__(self, "virtual_queues", check_array(
            "virtual_queues", "-", self.virtual_queues, n, low=0.0, high=MAX_VIRTUAL_QUEUE,
            like="gains"))
        object.__setattr__(self, "tau_s", check_scalar("tau_s", self.tau_s, "s", 0.0,
                                                       bound("time_s"), strict=True))

    @property
    def n_users(self) -> int:
        return int(self.gains.size)


@dataclass(frozen=True, eq=False)
class FrameDecision:
    """A frame's decision (the allocation of the per-frame problem).

    Parameters
    ----------
    offload : ndarray of bool (N,)
        Modes ``x_i``.
    cpu_hz : ndarray (N,)
        Local CPU frequency (0 for offloading users), Hz.
    time_frac : ndarray (N,)
        Offloading time as a fraction of the frame (0 for local users).
    power_w : ndarray (N,)
        Transmit power (0 for local users), W.
    """

    offload: np.ndarray
    cpu_hz: np.ndarray
    time_frac: np.ndarray
    power_w: np.ndarray

    def __post_init__(self) -> None:
        n: tuple[int, ...] | None = None
        for name, unit in (("offload", "-"), ("cpu_hz", "Hz"), ("time_frac", "-"),
                           ("power_w", "W")):  # real, finite, one value per user
            arr = check_array(name, unit, getattr(self, name), n, ndim=1, like="offload",
                              dtype=bool if name == "offload" else np.float64)
            n = arr.shape
            object.__setattr__(self, name, arr)

    def bits(self, spec: LyapunovSpec, instance: FrameInstance) -> np.ndarray:
        """Bits served per user (local or offloaded by mode)."""
        loc = local_bits(spec, self.cpu_hz, instance.tau_s)
        off = offload_bits(spec, self.time_frac, self.power_w, instance.gains, instance.tau_s)
        return np.where(self.offload, off, loc)

    def energy(self, spec: LyapunovSpec, instance: FrameInstance) -> np.ndarray:
        """Energy per user, J."""
        loc = local_energy(spec, self.cpu_hz, instance.tau_s)
        off = offload_energy(self.time_frac, self.power_w, instance.tau_s)
        return np.where(self.offload, off, loc)


# ------------------------------------------------------------------------------ controllers
@dataclass(frozen=True, eq=False)
class SlotState:
    """What a controller observes at the start of slot ``slot``.

    Parameters
    ----------
    slot : int
        Index t.
    tau_s : float
        Slot length, s.
    queues_bits : ndarray (N,)
        Data backlogs ``Q(t)``, bit.
    virtual_queues : ndarray (N,)
        Energy virtual queues ``Y(t)``.
    gains : ndarray (N, S)
        Current channel gains to every server.
    arrivals_bits : ndarray (N,)
        Arrivals of slot t (join the queue at t + 1).
    positions_m : ndarray (N, 2)
        Current user positions, m.
    extra : Mapping
        Family-specific state (e.g. current service placement for migration).
    """

    slot: int
    tau_s: float
    queues_bits: np.ndarray
    virtual_queues: np.ndarray
    gains: np.ndarray
    arrivals_bits: np.ndarray
    positions_m: np.ndarray
    extra: Mapping[str, Any] = field(default_factory=dict)

    def frame(self, server: int = 0) -> FrameInstance:
        """The per-frame problem instance against ``server``."""
        return FrameInstance(self.gains[:, server], self.queues_bits, self.virtual_queues,
                             self.tau_s)


@runtime_checkable
class Controller(Protocol):
    """An online controller: ``act(state) -> decision`` (a :class:`FrameDecision` here).

    ``name`` labels results; ``reset()`` clears internal memory before a new trajectory.
    """

    name: str

    def reset(self) -> None:
        """Forget state from a previous run."""
        ...

    def act(self, state: SlotState) -> Any:
        """Decision for the current slot (must not modify ``state``)."""
        ...


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """A recorded run of a controller on a trajectory (the allocation type of a simulation).

    Arrays are ``[T, N]`` unless noted; ``queues_bits`` and ``virtual_queues`` are ``[T + 1,
    N]`` (state at the start of every slot plus the final one).

    Parameters
    ----------
    controller : str
        Controller name.
    offload, cpu_hz, time_frac, power_w : ndarray (T, N)
        The decisions (see :class:`FrameDecision`).
    bits, energy_j : ndarray (T, N)
        Bits served and energy spent per slot (recomputed from the decisions by the simulator).
    queues_bits, virtual_queues : ndarray (T + 1, N)
        ``Q(t)`` and ``Y(t)``.
    objective : ndarray (T,)
        Per-frame drift-plus-penalty objective.
    seconds : ndarray (T,)
        Controller wall time per slot, s.
    server : int
        Index of the trajectory's server whose gains were used.
    """

    controller: str
    offload: np.ndarray
    cpu_hz: np.ndarray
    time_frac: np.ndarray
    power_w: np.ndarray
    bits: np.ndarray
    energy_j: np.ndarray
    queues_bits: np.ndarray
    virtual_queues: np.ndarray
    objective: np.ndarray
    seconds: np.ndarray
    server: int = 0

    def __post_init__(self) -> None:
        bits = check_array("bits", "bit", self.bits, ndim=2)
        T, N = bits.shape
        shapes = {"offload": (T, N), "cpu_hz": (T, N), "time_frac": (T, N), "power_w": (T, N),
                  "bits": (T, N), "energy_j": (T, N), "queues_bits": (T + 1, N),
                  "virtual_queues": (T + 1, N), "objective": (T,), "seconds": (T,)}
        units = {"cpu_hz": "Hz", "power_w": "W", "bits": "bit", "energy_j": "J",
                 "queues_bits": "bit", "seconds": "s"}
        for name, shape in shapes.items():
            object.__setattr__(self, name, check_array(
                name, units.get(name, "-"), getattr(self, name), shape, like="bits (T, N)",
                dtype=bool if name == "offload" else np.float64))
        object.__setattr__(self, "server", check_int("server", self.server, "-", 0))

    @property
    def n_slots(self) -> int:
        return int(self.bits.shape[0])

    def weighted_rate(self, spec: LyapunovSpec, tau_s: float) -> float:
        """Time-average weighted computation rate ``(1/T) sum_t sum_i w_i r_i(t) / tau_s``,
        bit/s (LyDROO's long-term objective)."""
        w = spec.weights_for(self.bits.shape[1])
        return float((self.bits @ w).mean() / tau_s)

    def average_energy_j(self) -> np.ndarray:
        """Per-user time-average energy per frame, J."""
        return np.asarray(self.energy_j.mean(axis=0))

    def average_backlog_bits(self) -> float:
        """Time-average of the mean backlog ``(1/(T N)) sum_t sum_i Q_i(t)``, bit."""
        return float(self.queues_bits[:-1].mean())
