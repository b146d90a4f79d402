r"""Data types of the resource-allocation family: bandwidth/compute shares, power, joint
bandwidth-power. For each problem: the instance (validated, SI units), the spec (a
:class:`~aigc_opt.spec.ProblemSpec`: the builders in :mod:`.bandwidth`, :mod:`.power` and
:mod:`.joint_bp` register themselves for it), the allocation and the physics that the builders
and the evaluator (:mod:`.evaluate`) share; step specs: :mod:`.data_steps`, LLM: :mod:`.data_llm`.

* ``allocation.power``: channel n has bandwidth ``b_n`` (Hz), gain ``g_n``, noise PSD ``N0_n``
  (W/Hz); at power ``p_n`` (W) its rate is ``b_n log2(1 + p_n / h_n)`` bit/s with the noise floor
  ``h_n = N0_n b_n / g_n`` (W). Sum rate under a budget, or minimum power for rate targets.
* ``allocation.bandwidth_compute``: request n at edge server ``s(n)`` uploads ``D_n`` bits at
  spectral efficiency ``se_n`` over ``b_n`` Hz and needs ``C_n`` FLOP at ``f_n`` FLOP/s; latency
  ``D_n / (b_n se_n) + C_n / f_n`` (s), per-server budgets ``B_s`` (Hz) and ``F_s`` (FLOP/s).
* ``allocation.joint_bp``: user n uploads ``D_n`` bits over ``b_n`` Hz at ``p_n`` W, rate
  ``b log2(1 + p g / (N0 b))``, time ``t = D / r`` (s), energy ``E = p t`` (J); the blocks
  ``b_n t_n`` share the time-frequency budget ``B T_f`` (Hz s).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np

from aigc_opt.errors import ValidationError
from aigc_opt.schema import bound, check_floor, check_floors
from aigc_opt.spec import ProblemSpec
from aigc_opt.validate import check_array as _check
from aigc_opt.validate import check_bool, check_choice, check_seed, check_size, derived_from
from aigc_opt.validate import check_product as _product
from aigc_opt.validate import check_scalar as _scalar

logger = logging.getLogger(__name__)

_A = TypeVar("_A")

LN2 = math.log(2.0)
#: Largest generated instance (users / channels / requests): 1e6 keeps a generated instance
#: under ~100 MB and a second of work.
MAX_USERS = 1_000_000


def _snr_range(snr_db: Any) -> tuple[float, float]:
    r = _check("snr_db", "dB", snr_db, (2,), low=-300.0, high=300.0)
    if r[0] > r[1]:
        raise ValidationError("snr_db", "dB", tuple(r), "must be (low, high) with low <= high")
    return float(r[0]), float(r[1])


#: Physical upper bound of each unit used here (:data:`aigc_opt.schema.BOUNDS`). Noise PSD:
#: 1e3 W/Hz, not the scenario's 1e-6 (the textbook water-filling instances have N0 = 1, b = 1).
_HIGH = {"-": bound("weight"), "W": bound("bs_tx_power_w"), "W/Hz": 1e3,
         "Hz": bound("hz"), "bit": bound("bits"), "bit/s": bound("bps"), "bit/s/Hz": 1e3,
         "FLOP": bound("flop") * bound("steps"), "FLOP/s": bound("flops"), "s": bound("time_s"),
         "1/s": bound("weight"), "1/J": bound("weight")}


def check_array(name: str, unit: str, value: Any, n: int | None, *, low: float | None = 0.0,
                strict: bool = True, allow_inf: bool = False, bounded: bool = True,
                like: str = "") -> np.ndarray:
    """A non-empty read-only float vector of shape ``(n,)`` (any length if None), checked by
    :func:`aigc_opt.validate.check_array` (types, NaN, bounds, finiteness); ``bounded`` applies
    the unit's physical upper bound (gains: 1e3; spectral efficiency: 1e3 bit/s/Hz)."""
    high = _HIGH.get(unit) if bounded else None
    if bounded and name == "gain":
        high = bound("gain")
    return _check(name, unit, value, None if n is None else (n,), ndim=1, low=low, high=high,
                  strict=strict, allow_inf=allow_inf, nonempty=True, like=like)


#: Smallest budget scale of a spec, 1e-6 (5e-324 passed "> 0" and gave infinite objectives).
MIN_SCALE = 1.0 / bound("factor")


def check_scalar(name: str, unit: str, value: Any, *, low: float = 0.0, strict: bool = True,
                 allow_inf: bool = False) -> float:
    """Validate a scalar (a real number, finite unless ``allow_inf``, above ``low``, below the
    unit's physical bound); return it as float."""
    return float(_scalar(name, value, unit, low, _HIGH.get(unit, bound("factor")),
                         strict=strict, allow_inf=allow_inf))


# ---------------------------------------------------------------------------- power
@dataclass(frozen=True, eq=False)
class PowerInstance:
    """Parallel channels sharing a power budget (N channels / users).

    Parameters
    ----------
    gain : ndarray, shape (N,)
        Linear channel power gain g_n (> 0) (-).
    noise_psd_w_per_hz : ndarray, shape (N,)
        Noise power spectral density N0_n, W/Hz (> 0).
    bandwidth_hz : ndarray, shape (N,)
        Bandwidth b_n of each channel, Hz (> 0).
    total_power_w : float
        Power budget P, W (> 0).
    max_power_w : ndarray, shape (N,)
        Per-channel power cap, W (> 0; inf for none).
    rate_target_bps : ndarray, shape (N,)
        Rate target r_n for ``mode="min_power"``, bit/s (>= 0).
    weight : ndarray, shape (N,)
        Rate weight w_n for ``mode="sum_rate"`` (> 0).
    """

    gain: np.ndarray
    noise_psd_w_per_hz: np.ndarray
    bandwidth_hz: np.ndarray
    total_power_w: float
    max_power_w: np.ndarray
    rate_target_bps: np.ndarray
    weight: np.ndarray

    def __post_init__(self) -> None:
        g = check_array("gain", "-", self.gain, None)
        n = g.shape[0]
        object.__setattr__(self, "gain", g)
        for name, unit, low, strict, inf in (
            ("noise_psd_w_per_hz", "W/Hz", 0.0, True, False),
            ("bandwidth_hz", "Hz", 0.0, True, False),
            ("max_power_w", "W", 0.0, True, True),
            ("rate_target_bps", "bit/s", 0.0, False, False),
            ("weight", "-", 0.0, True, False),
        ):
            v = getattr(self, name)
            if isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_)):
                v = np.full(n, v, dtype=np.float64)  # a scalar is broadcast
            object.__setattr__(self, name, check_array(name, unit, v, n, low=low, strict=strict,
                                                       allow_inf=inf, like="gain"))
        object.__setattr__(self, "total_power_w",
                           check_scalar("total_power_w", "W", self.total_power_w))
        check_floors(self, bandwidth_hz="hz")

    @property
    def n_users(self) -> int:
        """Number of channels N."""
        return int(self.gain.shape[0])

    @property
    def noise_floor_w(self) -> np.ndarray:
        """``h_n = N0_n b_n / g_n``, W: the power at which the SNR is 1."""
        return self.noise_psd_w_per_hz * self.bandwidth_hz / self.gain

    @classmethod
    def generate(cls, n_users: int = 100, *, seed: int = 0, total_power_w: float = 1.0,
                 bandwidth_hz: float = 1.0e6, noise_psd_w_per_hz: float = 4.0e-21,
                 snr_db: tuple[float, float] = (-5.0, 25.0)) -> PowerInstance:
        """Seeded instance whose SNR at the equal share ``P/N`` is uniform in ``snr_db`` (dB).

        Gains follow from the SNR draw (``g = SNR N0 b N / P``), i.e. a cell whose users span
        the cell edge to close-in. Rate targets are the rates at a power drawn in
        ``[0.2, 1.8] P/(2N)``, so the minimum-power solution uses about half the budget.
        """
        n_users = check_size("n_users", n_users, MAX_USERS, raise_with=None)
        rng = np.random.default_rng(check_seed("seed", seed))
        total_power_w = check_scalar("total_power_w", "W", total_power_w)
        bandwidth_hz = check_scalar("bandwidth_hz", "Hz", bandwidth_hz)
        noise_psd_w_per_hz = check_scalar("noise_psd_w_per_hz", "W/Hz", noise_psd_w_per_hz)
        snr_db = _snr_range(snr_db)
        snr = 10.0 ** (rng.uniform(snr_db[0], snr_db[1], n_users) / 10.0)
        n0, b = np.full(n_users, noise_psd_w_per_hz), np.full(n_users, bandwidth_hz)
        g = snr * n0 * b * n_users / total_power_w
        h = n0 * b / g
        share = total_power_w / (2.0 * n_users) * rng.uniform(0.2, 1.8, n_users)
        r = b * np.log2(1.0 + share / h)
        with derived_from(total_power_w=total_power_w, bandwidth_hz=bandwidth_hz,
                          noise_psd_w_per_hz=noise_psd_w_per_hz, snr_db=snr_db):
            return cls(gain=g, noise_psd_w_per_hz=n0, bandwidth_hz=b,
                       total_power_w=total_power_w, max_power_w=np.full(n_users, np.inf),
                       rate_target_bps=r, weight=np.ones(n_users))

    @classmethod
    def textbook(cls, seed: int = 0, *, n_strong: int = 50, n_weak: int = 50,
                 total_power_w: float = 3.0) -> PowerInstance:
        """The classic water-filling family: gains U(13,14) and U(0,0.1), noise 1, P = 3, b = 1."""
        n_strong = check_size("n_strong", n_strong, MAX_USERS, lo=0, raise_with=None)
        n_weak = check_size("n_weak", n_weak, MAX_USERS, lo=0, raise_with=None)
        if n_strong + n_weak < 1:
            raise ValidationError("n_strong", "-", n_strong, "n_strong + n_weak must be >= 1")
        rng = np.random.default_rng(check_seed("seed", seed))
        g = np.concatenate([rng.uniform(13.0, 14.0, n_strong), rng.uniform(0.0, 0.1, n_weak)])
        g = np.maximum(g, 1e-12)
        n = g.size
        return cls(gain=g, noise_psd_w_per_hz=np.ones(n), bandwidth_hz=np.ones(n),
                   total_power_w=total_power_w, max_power_w=np.full(n, np.inf),
                   rate_target_bps=np.zeros(n), weight=np.ones(n))


@dataclass(frozen=True)
class PowerSpec(ProblemSpec):
    """Power allocation spec.

    Parameters
    ----------
    mode : {"sum_rate", "min_power"}
        Maximise the weighted sum rate (bit/s) under the budget, or minimise the total power (W)
        meeting the rate targets.
    power_budget_scale : float
        Epsilon field for sweeps: the budget used is ``scale * instance.total_power_w``
        (``sum_rate`` mode); dimensionless, in ``[1e-6, 1e6]``.
    rate_scale : float
        Epsilon field for sweeps: the targets used are ``scale * instance.rate_target_bps``
        (``min_power`` mode).
    """

    mode: str = "sum_rate"
    power_budget_scale: float = 1.0
    rate_scale: float = 1.0
    problem: str = "allocation"
    variant: str = "power"

    instance_type: ClassVar[type] = PowerInstance

    def __post_init__(self) -> None:
        check_choice("mode", self.mode, ("sum_rate", "min_power"))
        object.__setattr__(self, "power_budget_scale", check_scalar(
            "power_budget_scale", "-", self.power_budget_scale, low=MIN_SCALE, strict=False))
        object.__setattr__(self, "rate_scale", check_scalar("rate_scale", "-", self.rate_scale,
                                                            strict=False))


@dataclass(frozen=True, eq=False)
class PowerAllocation:
    """Transmit power per channel.

    Parameters
    ----------
    power_w : ndarray, shape (N,)
        Power p_n, W.
    """

    power_w: np.ndarray

    instance_type: ClassVar[type] = PowerInstance

    def __post_init__(self) -> None:
        object.__setattr__(self, "power_w", check_array("power_w", "W", self.power_w, None,
                                                        low=None, bounded=False))


# ---------------------------------------------------------------------------- bandwidth/compute
@dataclass(frozen=True, eq=False)
class BandwidthComputeInstance:
    """Requests already placed on edge servers (N requests, S servers).

    Parameters
    ----------
    server : ndarray of int, shape (N,)
        Serving edge server s(n) in ``0..S-1``.
    data_bits : ndarray, shape (N,)
        Upload size D_n, bit (> 0).
    spectral_eff : ndarray, shape (N,)
        Spectral efficiency se_n, bit/s/Hz (> 0).
    workload_flop : ndarray, shape (N,)
        Compute C_n, FLOP (> 0).
    weight : ndarray, shape (N,)
        Latency weight w_n (> 0).
    min_rate_bps : ndarray, shape (N,)
        Minimum uplink rate, bit/s (>= 0).
    deadline_s : ndarray, shape (N,)
        Latency deadline T_n, s (> 0; inf for none).
    bandwidth_hz : ndarray, shape (S,)
        Uplink bandwidth B_s, Hz (> 0).
    compute_flops : ndarray, shape (S,)
        Compute capacity F_s, FLOP/s (> 0).
    """

    server: np.ndarray
    data_bits: np.ndarray
    spectral_eff: np.ndarray
    workload_flop: np.ndarray
    weight: np.ndarray
    min_rate_bps: np.ndarray
    deadline_s: np.ndarray
    bandwidth_hz: np.ndarray
    compute_flops: np.ndarray

    def __post_init__(self) -> None:
        bw = check_array("bandwidth_hz", "Hz", self.bandwidth_hz, None)
        S = bw.shape[0]
        object.__setattr__(self, "bandwidth_hz", bw)
        object.__setattr__(self, "compute_flops",
                           check_array("compute_flops", "FLOP/s", self.compute_flops, S,
                                       like="bandwidth_hz"))
        check_floors(self, bandwidth_hz="hz", compute_flops="flops")
        d = check_array("data_bits", "bit", self.data_bits, None)
        n = d.shape[0]
        object.__setattr__(self, "data_bits", d)
        srv = _check("server", "-", self.server, (n,), dtype=np.int64, like="data_bits")
        if ((srv < 0) | (srv >= S)).any():
            bad = srv[(srv < 0) | (srv >= S)][0]
            raise ValidationError("server", "-", int(bad), f"unknown server (have 0..{S - 1})")
        object.__setattr__(self, "server", srv)
        for name, unit, strict, inf in (
                ("spectral_eff", "bit/s/Hz", True, False), ("workload_flop", "FLOP", True, False),
                ("weight", "-", True, False), ("min_rate_bps", "bit/s", False, False),
                ("deadline_s", "s", True, True)):
            object.__setattr__(self, name, check_array(name, unit, getattr(self, name), n,
                                                       strict=strict, allow_inf=inf,
                                                       like="data_bits"))
        _product("weight", "-", self.weight, np.maximum(self.comm_load, self.workload_flop),
                 "the larger of its upload (Hz s) and workload (FLOP)")

    @property
    def n_users(self) -> int:
        """Number of requests N."""
        return int(self.data_bits.shape[0])

    @property
    def n_servers(self) -> int:
        """Number of servers S."""
        return int(self.bandwidth_hz.shape[0])

    @property
    def comm_load(self) -> np.ndarray:
        """``a_n = D_n / se_n``, Hz s (the bandwidth-time the upload needs)."""
        return self.data_bits / self.spectral_eff

    @property
    def users_per_server(self) -> np.ndarray:
        """Requests per server, shape (S,)."""
        return np.bincount(self.server, minlength=self.n_servers)

    @classmethod
    def generate(cls, n_users: int = 50, n_servers: int = 2, *, seed: int = 0,
                 min_rate_frac: float = 0.3, deadline_frac: float = 0.3
                 ) -> BandwidthComputeInstance:
        """Seeded instance; budgets grow with the number of users (1 MHz and 1 TFLOP/s each).

        Prompts of 0.1-1 Mbit at 0.5-8 bit/s/Hz, 0.1-1 TFLOP of work, weights in [0.5, 2].
        A fraction ``min_rate_frac`` of users asks for 0.3-1x its equal-share rate, and a fraction
        ``deadline_frac`` has a deadline of 1-1.3x its equal-share latency, so equal shares are
        feasible (the instance is never infeasible) and both side constraints bind at the optimum
        for some users.
        """
        n_users = check_size("n_users", n_users, MAX_USERS, raise_with=None)
        n_servers = check_size("n_servers", n_servers, MAX_USERS, raise_with=None)
        min_rate_frac = float(_scalar("min_rate_frac", min_rate_frac, "-", 0.0, 1.0))
        deadline_frac = float(_scalar("deadline_frac", deadline_frac, "-", 0.0, 1.0))
        rng = np.random.default_rng(check_seed("seed", seed))
        srv = rng.integers(0, n_servers, n_users)
        cnt = np.maximum(np.bincount(srv, minlength=n_servers), 1)
        B = cnt * 1.0e6
        F = cnt * 1.0e12
        D = rng.uniform(1e5, 1e6, n_users)
        se = rng.uniform(0.5, 8.0, n_users)
        C = rng.uniform(1e11, 1e12, n_users)
        w = rng.uniform(0.5, 2.0, n_users)
        b_eq, f_eq = (B / cnt)[srv], (F / cnt)[srv]
        rmin = np.where(rng.random(n_users) < min_rate_frac,
                        rng.uniform(0.3, 1.0, n_users) * b_eq * se, 0.0)
        lat_eq = D / (b_eq * se) + C / f_eq
        dl = np.where(rng.random(n_users) < deadline_frac,
                      rng.uniform(1.0, 1.3, n_users) * lat_eq, np.inf)
        return cls(server=srv, data_bits=D, spectral_eff=se, workload_flop=C, weight=w,
                   min_rate_bps=rmin, deadline_s=dl, bandwidth_hz=B, compute_flops=F)

    @classmethod
    def from_scenario(cls, scn: Any, servers: np.ndarray) -> BandwidthComputeInstance:
        """Requests of a :class:`aigc_opt.Scenario` with a fixed edge placement ``servers``.

        Spectral efficiency is taken at the equal-share power spectral density,
        ``se_n = log2(1 + p_n g_ns / (N0 B_s / n_s))`` (constant-PSD model), the workload is
        ``request_flop``, deadlines are the requests' deadlines; no minimum rates.
        """
        s = np.asarray(servers, dtype=np.int64)
        n = np.arange(scn.n_users)
        cnt = np.maximum(np.bincount(s, minlength=scn.n_servers), 1)
        share = scn.server_uplink_hz[s] / cnt[s]
        se = np.log1p(scn.user_tx_power_w * scn.gain_at(n, s)
                      / (scn.noise_psd_w_per_hz * share)) / LN2
        return cls(server=s, data_bits=scn.request_input_bits, spectral_eff=se,
                   workload_flop=scn.request_flop, weight=scn.request_weight,
                   min_rate_bps=np.zeros(scn.n_users), deadline_s=scn.request_deadline_s,
                   bandwidth_hz=scn.server_uplink_hz, compute_flops=scn.server_compute_flops)


@dataclass(frozen=True)
class BandwidthComputeSpec(ProblemSpec):
    """Which side constraints apply, and the budgets (epsilon fields for sweeps).

    Parameters
    ----------
    use_min_rate, use_deadline : bool
        Impose the minimum rates / the latency deadlines.
    bandwidth_scale, compute_scale : float
        Epsilon-constraint fields in ``[1e-6, 1e6]``: the budgets are ``scale * B_s`` and
        ``scale * F_s`` (a sweep traces weighted latency against the resources used).
    """

    use_min_rate: bool = True
    use_deadline: bool = True
    bandwidth_scale: float = 1.0
    compute_scale: float = 1.0
    problem: str = "allocation"
    variant: str = "bandwidth_compute"

    instance_type: ClassVar[type] = BandwidthComputeInstance

    def __post_init__(self) -> None:
        for name in ("use_min_rate", "use_deadline"):
            object.__setattr__(self, name, check_bool(name, getattr(self, name)))
        for name in ("bandwidth_scale", "compute_scale"):
            object.__setattr__(self, name, check_scalar(name, "-", getattr(self, name),
                                                        low=MIN_SCALE, strict=False))


@dataclass(frozen=True, eq=False)
class BandwidthComputeAllocation:
    """Per-request shares.

    Parameters
    ----------
    bandwidth_hz : ndarray, shape (N,)
        Uplink bandwidth b_n, Hz.
    compute_flops : ndarray, shape (N,)
        Compute speed f_n, FLOP/s.
    """

    bandwidth_hz: np.ndarray
    compute_flops: np.ndarray

    instance_type: ClassVar[type] = BandwidthComputeInstance

    def __post_init__(self) -> None:
        b = check_array("bandwidth_hz", "Hz", self.bandwidth_hz, None, low=None, bounded=False)
        object.__setattr__(self, "bandwidth_hz", b)
        object.__setattr__(self, "compute_flops", check_array(
            "compute_flops", "FLOP/s", self.compute_flops, b.shape[0], low=None, bounded=False))


def trusted_allocation(cls: type[_A], **arrays: np.ndarray) -> _A:
    """``cls(**arrays)`` for fresh finite float64 vectors computed by an exact method: the
    checked constructor (~15 numpy calls per field, 10-30 us at N = 100) reduces to one
    finiteness test of the sums (finite entries of bounded size cannot sum to inf or NaN); when
    it fails the checked constructor runs and names the bad field. Arrays are made read-only."""
    if not math.isfinite(sum(float(v.sum()) for v in arrays.values())):
        return cls(**arrays)
    alloc = object.__new__(cls)
    for name, v in arrays.items():
        v.flags.writeable = False
        object.__setattr__(alloc, name, v)
    return alloc


def budgets(inst: BandwidthComputeInstance, spec: BandwidthComputeSpec
            ) -> tuple[np.ndarray, np.ndarray]:
    """Scaled per-server budgets ``(B_s, F_s)``."""
    return spec.bandwidth_scale * inst.bandwidth_hz, spec.compute_scale * inst.compute_flops


def side_constraints(inst: BandwidthComputeInstance, spec: BandwidthComputeSpec
                     ) -> tuple[np.ndarray, np.ndarray]:
    """``(b_min, T)`` per user: minimum bandwidth (Hz) and deadline (s, inf when off)."""
    bmin = inst.min_rate_bps / inst.spectral_eff if spec.use_min_rate else np.zeros(inst.n_users)
    T = inst.deadline_s if spec.use_deadline else np.full(inst.n_users, np.inf)
    return bmin, T


def weighted_latency(inst: BandwidthComputeInstance, b: np.ndarray, f: np.ndarray) -> float:
    """``sum_n w_n (a_n / b_n + C_n / f_n)``, s."""
    return float((inst.weight * (inst.comm_load / b + inst.workload_flop / f)).sum())


# ---------------------------------------------------------------------------- joint bandwidth-power
#: Largest full-band SNR ``pbar g / (N0 B)`` accepted (physical links: < 1e15); the closed form's
#: terms overflow near 1e301 (certify seed 78000312), it is exact to 1e298 (scanned).
MAX_FULL_BAND_SNR = 1e250


@dataclass(frozen=True, eq=False)
class JointBPInstance:
    """Uploads in one cell (N users).

    Parameters
    ----------
    data_bits : ndarray, shape (N,)
        Upload size D_n, bit (> 0).
    gain : ndarray, shape (N,)
        Linear channel power gain g_n (> 0) (-).
    max_power_w : ndarray, shape (N,)
        Device power cap pbar_n, W (> 0).
    weight : ndarray, shape (N,)
        Weight w_n (> 0).
    deadline_s : ndarray, shape (N,)
        Transmission deadline T_n, s (> 0; inf for none).
    bandwidth_hz : float
        Cell bandwidth B, Hz (>= 1 Hz, the floor of :data:`aigc_opt.schema.LOWER_BOUNDS`).
    frame_s : float
        Frame length T_f, s (the time-frequency budget is ``B T_f`` Hz s).
    noise_psd_w_per_hz : float
        N0, W/Hz.
    """

    data_bits: np.ndarray
    gain: np.ndarray
    max_power_w: np.ndarray
    weight: np.ndarray
    deadline_s: np.ndarray
    bandwidth_hz: float
    frame_s: float
    noise_psd_w_per_hz: float

    def __post_init__(self) -> None:
        d = check_array("data_bits", "bit", self.data_bits, None)
        n = d.shape[0]
        object.__setattr__(self, "data_bits", d)
        for name, unit, inf in (("gain", "-", False), ("max_power_w", "W", False),
                                ("weight", "-", False), ("deadline_s", "s", True)):
            object.__setattr__(self, name, check_array(name, unit, getattr(self, name), n,
                                                       allow_inf=inf, like="data_bits"))
        for name, unit in (("bandwidth_hz", "Hz"), ("frame_s", "s"),
                           ("noise_psd_w_per_hz", "W/Hz")):
            object.__setattr__(self, name, check_scalar(name, unit, getattr(self, name)))
        check_floor("bandwidth_hz", "Hz", self.bandwidth_hz, "hz")  # else the SNR check blames N0
        with np.errstate(over="ignore", divide="ignore"):
            snr = self.full_band_snr
        if n and not float(snr.max()) <= MAX_FULL_BAND_SNR:
            i = int(np.argmax(snr))
            raise ValidationError(
                "noise_psd_w_per_hz", "W/Hz", self.noise_psd_w_per_hz,
                f"gives user {i} a full-band SNR pbar g / (N0 B) of {float(snr[i]):.3g}, above "
                f"{MAX_FULL_BAND_SNR:.0e}: its rates (2^u - 1 with u ~ log2 SNR) leave float64 "
                f"(a physical link is below ~1e15)")

    @property
    def n_users(self) -> int:
        """Number of users N."""
        return int(self.data_bits.shape[0])

    @property
    def full_band_snr(self) -> np.ndarray:
        """``pbar g / (N0 B)``: SNR at full power over the whole band."""
        return self.max_power_w * self.gain / (self.noise_psd_w_per_hz * self.bandwidth_hz)

    @classmethod
    def generate(cls, n_users: int = 50, *, seed: int = 0, bandwidth_hz: float = 20e6,
                 area_per_user_hz_s: float = 8e4, deadline_frac: float = 0.3,
                 ) -> JointBPInstance:
        """Seeded instance: prompts of 0.1-1 Mbit, full-band SNR 10-40 dB at 0.2 W, N0 =
        -174 dBm/Hz, and a frame of ``N * area_per_user_hz_s / B`` s. The default area is close
        to what users take at full band and full power (~6.6e4 Hz s on average), so whether the
        budget binds depends on the weights and the draw. A fraction ``deadline_frac`` of users
        has a deadline of 1-1.5x its time under the proportional-area baseline."""
        n_users = check_size("n_users", n_users, MAX_USERS, raise_with=None)
        rng = np.random.default_rng(check_seed("seed", seed))
        bandwidth_hz = check_scalar("bandwidth_hz", "Hz", bandwidth_hz)
        area_per_user_hz_s = float(_scalar("area_per_user_hz_s", area_per_user_hz_s, "Hz s", 0.0,
                                           bound("hz") * bound("time_s"), strict=True))
        deadline_frac = float(_scalar("deadline_frac", deadline_frac, "-", 0.0, 1.0))
        n0 = 4.0e-21
        pmax = np.full(n_users, 0.2)
        snr = 10.0 ** rng.uniform(1.0, 4.0, n_users)
        g = snr * n0 * bandwidth_hz / pmax
        D = rng.uniform(1e5, 1e6, n_users)
        w = rng.uniform(0.5, 2.0, n_users)
        frame = n_users * area_per_user_hz_s / bandwidth_hz
        with derived_from(bandwidth_hz=bandwidth_hz, area_per_user_hz_s=area_per_user_hz_s):
            tmp = cls(D, g, pmax, w, np.full(n_users, np.inf), bandwidth_hz, frame, n0)
            t_prop = tight_blocks(tmp, proportional_u(tmp, bandwidth_hz * frame))[2]
            dl = np.where(rng.random(n_users) < deadline_frac,
                          rng.uniform(1.0, 1.5, n_users) * t_prop, np.inf)
            return cls(D, g, pmax, w, dl, bandwidth_hz, frame, n0)


@dataclass(frozen=True)
class JointBPSpec(ProblemSpec):
    """Objective weights and the budget (epsilon field) of the joint problem.

    Parameters
    ----------
    latency_weight : float
        alpha, per second of transmission time (>= 0).
    energy_weight : float
        beta, per joule of device transmit energy (> 0).
    area_scale : float
        Epsilon field: the time-frequency budget is ``area_scale * B * T_f``.
    use_deadline : bool
        Impose the per-user deadlines (the frame length always applies).
    """

    latency_weight: float = 1.0
    energy_weight: float = 1.0
    area_scale: float = 1.0
    use_deadline: bool = True
    problem: str = "allocation"
    variant: str = "joint_bp"

    instance_type: ClassVar[type] = JointBPInstance

    def __post_init__(self) -> None:
        object.__setattr__(self, "latency_weight", check_scalar(
            "latency_weight", "1/s", self.latency_weight, strict=False))
        object.__setattr__(self, "energy_weight", check_scalar("energy_weight", "1/J",
                                                               self.energy_weight))
        object.__setattr__(self, "area_scale", check_scalar("area_scale", "-", self.area_scale))
        object.__setattr__(self, "use_deadline", check_bool("use_deadline", self.use_deadline))


@dataclass(frozen=True, eq=False)
class JointBPAllocation:
    """Bandwidth and transmit power per user (each holds its block for ``D/r`` seconds).

    Parameters
    ----------
    bandwidth_hz : ndarray, shape (N,)
        b_n, Hz.
    power_w : ndarray, shape (N,)
        p_n, W.
    """

    bandwidth_hz: np.ndarray
    power_w: np.ndarray

    instance_type: ClassVar[type] = JointBPInstance

    def __post_init__(self) -> None:
        b = check_array("bandwidth_hz", "Hz", self.bandwidth_hz, None, low=None, bounded=False)
        object.__setattr__(self, "bandwidth_hz", b)
        object.__setattr__(self, "power_w", check_array("power_w", "W", self.power_w,
                                                        b.shape[0], low=None, bounded=False))


def time_limit(inst: JointBPInstance, spec: JointBPSpec) -> np.ndarray:
    """``min(T_n, T_f)`` (s): the latest a user may finish (frame only without deadlines)."""
    if spec.use_deadline:
        return np.minimum(inst.deadline_s, inst.frame_s)
    return np.full(inst.n_users, inst.frame_s)


def upload_energy(inst: JointBPInstance, u: np.ndarray) -> np.ndarray:
    """Energy (J) to send D bits at spectral efficiency u (bit per Hz s): N0 D (2^u-1)/(g u)."""
    return inst.noise_psd_w_per_hz * inst.data_bits * np.expm1(u * LN2) / (inst.gain * u)


def tight_blocks(inst: JointBPInstance, u: np.ndarray) -> tuple[np.ndarray, ...]:
    """(x, E, t, b, p) for spectral efficiencies u with the rate row tight."""
    x = inst.data_bits / u
    E = upload_energy(inst, u)
    t = np.maximum(x / inst.bandwidth_hz, E / inst.max_power_w)
    return x, E, t, x / t, E / t


def proportional_u(inst: JointBPInstance, area: float) -> np.ndarray:
    """Spectral efficiencies when the area is shared in proportion to ``D/u*`` (every user's
    u is the same multiple of its full-band, full-power efficiency u*)."""
    u_star = np.log1p(inst.full_band_snr) / LN2
    return u_star * (inst.data_bits / u_star).sum() / area
