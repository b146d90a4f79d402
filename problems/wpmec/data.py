r"""Wireless-powered MEC with binary offloading (Bi & Zhang 2018; DROO, Huang, Bi & Zhang 2020).

An access point (AP) charges N devices by wireless power transfer (WPT) during the first
fraction ``a`` of a frame of length ``T``; device i harvests ``E_i = mu P h_i a T`` joules. Each
device either

* computes **locally** for the whole frame at the CPU speed its energy affords,
  ``f_i = (E_i / (kappa T))^{1/3}``, i.e. at ``r_L,i = f_i / phi = (mu P)^{1/3} (h_i a /
  kappa)^{1/3} / phi`` bit/s, or
* **offloads** in its own TDMA slot ``tau_i T`` with transmit power ``p_i = E_i / (tau_i T)``
  at ``r_O,i = (B tau_i / v_u) log2(1 + p_i h_i / N0) = (B tau_i / v_u) log2(1 + mu P h_i^2 a /
  (tau_i N0))`` bit/s (channel reciprocity: the same power gain ``h_i`` both ways).

The AP maximises the weighted sum computation rate ``sum_i w_i r_i`` (``Sense.MAX``: Result
objectives and the evaluator's objective are this sum, in bit/s) subject to
``a + sum_i tau_i <= 1``, ``a, tau >= 0`` and binary modes.

Parameters and where they were checked
--------------------------------------
Checked against the public DROO code (``revenol/DROO``, ``optimization.py``, function
``bisection``): ``P = 3`` W, ``mu = 0.7``, ``phi = 100`` cycles/bit, ``k_i = 1e-26``,
``N0 = 1e-10`` W (``eta2 = u p / 1e-10``), ``B = 2`` MHz, ``v_u = 1.1``; the rate expressions
``eta1 (h/k)^{1/3} a^{1/3}`` with ``eta1 = (u p)^{1/3} / o`` and
``B/(v_u ln 2) tau ln(1 + eta2 h^2 a / tau)``; default weights
``[1.5 if i % 2 == 1 else 1 for i in range(N)]`` -- the **first** user (index 0) has weight 1,
the second 1.5 (LyDROO's ``LyDROO.py`` uses the opposite order). We could not consult the
papers' own text here; their simulation sections describe Powercast hardware and may quote a
different harvesting efficiency than the code's 0.7 -- it is a parameter
(``WpmecParams.harvest_efficiency``).
Channel model: DROO's own code reads pre-generated ``data_N.mat`` files (variable
``input_h``, which :meth:`WpmecBatch.from_file` loads). To generate frames we use the
free-space model ``hbar_i = A_d (3e8 / (4 pi f_c d_i))^{d_e}`` with ``A_d = 4.11``,
``f_c = 915`` MHz, ``d_e = 2.8`` and ``d_i = linspace(2.5, 5.2, N)`` m, as in public code derived
from DROO (where ``Ad = 4.11`` and ``loss_exponent = 2.8`` appear next to LyDROO's ``Ad = 3``,
``3``), with Rayleigh fading ``h_i = hbar_i alpha_i``, ``alpha_i ~ Exp(1)``. These channel
numbers are therefore "as reproduced by others", not verified against the paper; the gains
they give (1e-7 .. 2e-5) match the order of the sample ``h`` printed in DROO's
``optimization.py``. They are the default channel profile ``"droo_code"``; the profile
``"droo_data"`` (``A_d = 3.0``, the first N devices of the 10-device layout) reproduces the
statistics of DROO's published ``data_5 .. data_10.mat`` (:data:`CHANNEL_PROFILES` says where
each value comes from; ``generate(..., profile="droo_data")``).
"""

from __future__ import annotations

import io
import logging
import math
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aigc_opt.errors import UnknownNameError, ValidationError
from aigc_opt.schema import bound, check_floor
from aigc_opt.spec import ProblemSpec
from aigc_opt.validate import (
    MAX_ENTRIES,
    check_array,
    check_entries,
    check_int,
    check_path,
    check_scalar,
    check_seed,
    check_size,
    derived_from,
    is_number,
    read_text,
)

logger = logging.getLogger(__name__)

LIGHT_M_PER_S = 3e8


#: Header of a gains CSV written by :meth:`WpmecBatch.save` (its first line is ``"# "`` and
#: this; a file that starts so is checked for truncation).
GAINS_CSV_HEADER = "channel power gains, one frame per row"


@dataclass(frozen=True)
class WpmecParams:
    """Physical parameters shared by all devices (DROO defaults, see the module docstring).

    Parameters
    ----------
    ap_power_w : float
        AP transmit power P, W.
    harvest_efficiency : float
        Energy harvesting efficiency mu in (0, 1].
    cycles_per_bit : float
        CPU cycles needed per bit of task data, phi.
    kappa : float
        CPU energy coefficient: ``kappa f^3`` W at ``f`` cycles/s (J s^2 / cycle^3).
    noise_w : float
        Receiver noise power N0 at the AP, W.
    bandwidth_hz : float
        Uplink bandwidth B, Hz.
    comm_overhead : float
        v_u >= 1: raw bits sent per bit of task data.
    frame_s : float
        Frame length T, s (rates do not depend on it; energies do).
    """

    ap_power_w: float = 3.0
    harvest_efficiency: float = 0.7
    cycles_per_bit: float = 100.0
    kappa: float = 1e-26
    noise_w: float = 1e-10
    bandwidth_hz: float = 2e6
    comm_overhead: float = 1.1
    frame_s: float = 1.0

    def __post_init__(self) -> None:
        # (unit, physical upper bound; see aigc_opt.schema.BOUNDS)
        units = {"ap_power_w": ("W", bound("bs_tx_power_w")), "harvest_efficiency": ("-", 1.0),
                 "cycles_per_bit": ("cycle/bit", bound("cycles_per_bit")),
                 "kappa": ("J s^2/cycle^3", bound("kappa")), "noise_w": ("W", bound("noise_w")),
                 "bandwidth_hz": ("Hz", bound("hz")), "comm_overhead": ("-", bound("overhead")),
                 "frame_s": ("s", bound("time_s"))}
        for name, (unit, hi) in units.items():
            object.__setattr__(self, name, check_scalar(name, getattr(self, name), unit, 0.0, hi,
                                                        strict=True))
        # a coding overhead below 1 would send fewer raw bits than the data holds (tester tj)
        check_scalar("comm_overhead", self.comm_overhead, "-", 1.0, bound("overhead"))
        check_floor("bandwidth_hz", "Hz", self.bandwidth_hz, "hz")

    def coefficients(self, gains: np.ndarray, weights: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(L, g, W)`` of :mod:`aigc_opt.problems.wpmec.inner` for gains ``h`` (any shape).

        ``L = w (mu P)^{1/3} (h / kappa)^{1/3} / phi`` (bit/s),
        ``g = mu P h^2 / N0`` (-), ``W = w B / (v_u ln 2)`` (bit/s per nat).
        """
        h = np.asarray(gains, dtype=np.float64)
        w = np.broadcast_to(np.asarray(weights, dtype=np.float64), h.shape)
        mp = self.harvest_efficiency * self.ap_power_w
        L = w * np.cbrt(mp * h / self.kappa) / self.cycles_per_bit
        g = mp * h * h / self.noise_w
        W = w * (self.bandwidth_hz / (self.comm_overhead * math.log(2.0)))
        return L, g, np.array(W)


def default_weights(n_users: int) -> np.ndarray:
    """DROO's weights: 1 for even indices (first user), 1.5 for odd indices."""
    return np.where(np.arange(n_users) % 2 == 1, 1.5, 1.0)


@dataclass(frozen=True)
class WpmecChannel:
    """A named free-space channel profile: ``hbar_i = A_d (c / (4 pi f_c d_i))^{d_e}``.

    Parameters
    ----------
    antenna_gain : float
        ``A_d`` (-).
    carrier_hz : float
        ``f_c``, Hz.
    path_loss_exp : float
        ``d_e`` (-).
    distance_range_m : tuple of float
        Nearest and farthest device, m: ``N`` devices sit at ``linspace(lo, hi, max(N,
        layout_users))[:N]``.
    layout_users : int
        Devices of the layout whose first ``N`` are used (1: every ``N`` spans the range).
    source : str
        Where each value comes from.
    """

    antenna_gain: float
    carrier_hz: float
    path_loss_exp: float
    distance_range_m: tuple[float, float]
    layout_users: int
    source: str

    def __post_init__(self) -> None:
        # the bounds of mean_gains' keywords; a profile is checked when made, not when used
        for name, unit, key in (("antenna_gain", "-", "antenna_gain"),
                                ("carrier_hz", "Hz", "carrier_hz"),
                                ("path_loss_exp", "-", "exponent")):
            object.__setattr__(self, name, float(check_scalar(
                name, getattr(self, name), unit, 0.0, bound(key), strict=True)))
        d = check_array("distance_range_m", "m", self.distance_range_m, (2,), low=0.0,
                        strict=True, high=bound("distance_m"))
        if d[0] > d[1]:
            raise ValidationError("distance_range_m", "m", tuple(d.tolist()),
                                  "must be (nearest, farthest) with nearest <= farthest")
        object.__setattr__(self, "distance_range_m", (float(d[0]), float(d[1])))
        object.__setattr__(self, "layout_users", int(check_int(
            "layout_users", self.layout_users, "-", 1, MAX_ENTRIES)))
        if not isinstance(self.source, str):
            raise ValidationError("source", "-", self.source, "must be a string")

    def distances_m(self, n_users: int) -> np.ndarray:
        """Device distances for ``n_users`` devices, m."""
        lo, hi = self.distance_range_m
        return np.linspace(lo, hi, max(n_users, self.layout_users))[:n_users]


#: Channel profiles of :func:`mean_gains` (and the generators built on it).
CHANNEL_PROFILES: dict[str, WpmecChannel] = {
    "droo_code": WpmecChannel(
        4.11, 915e6, 2.8, (2.5, 5.2), 1,
        "public code derived from DROO (Ad = 4.11, fc = 915 MHz, de = 2.8, devices evenly "
        "spaced over 2.5-5.2 m); not checked against the paper. Its mean gains are 1/0.73 = "
        "1.37 times those of DROO's published data sets"),
    "droo_data": WpmecChannel(
        3.0, 915e6, 2.8, (2.5, 5.2), 10,
        "fitted to DROO's published data sets (revenol/DROO, data/data_5.mat .. data_10.mat, "
        "input_h): fc, de and the 2.5-5.2 m spacing as in 'droo_code'; Ad = 3.0 because the "
        "per-device means of data_10's 20,000 distinct frames are 0.723-0.739 of 'droo_code' "
        "(mean 0.730 = 3.0 / 4.11), 0.990-1.012 of this profile; data_N for N < 10 is the first "
        "N columns of data_10, hence the first N devices of the 10-device layout. The fading "
        "of the files is exponential (coefficient of variation 0.99-1.01), as generated. "
        "data_20 and data_30 were not available to check: N > 10 spans 2.5-5.2 m"),
}


def mean_gains(n_users: int, *, profile: str = "droo_code",
               distances_m: np.ndarray | None = None, antenna_gain: float | None = None,
               carrier_hz: float | None = None, path_loss_exp: float | None = None
               ) -> np.ndarray:
    """Average power gains ``A_d (c / (4 pi f_c d))^{d_e}`` (DROO's free-space model), -.

    ``profile`` names a :data:`CHANNEL_PROFILES` entry (``"droo_code"``: the values of public
    code derived from DROO, the default; ``"droo_data"``: matches DROO's published data sets);
    each keyword that is given replaces the profile's value (distances in m, carrier in Hz).
    """
    if not isinstance(profile, str) or profile not in CHANNEL_PROFILES:
        raise UnknownNameError("profile", profile, CHANNEL_PROFILES)
    pr = CHANNEL_PROFILES[profile]
    if distances_m is None:
        d = pr.distances_m(n_users)
    else:
        d = check_array("distances_m", "m", distances_m, (n_users,), low=0.0, strict=True,
                        high=bound("distance_m"))
    antenna_gain = check_scalar("antenna_gain", pr.antenna_gain if antenna_gain is None
                                else antenna_gain, "-", 0.0, bound("antenna_gain"), strict=True)
    carrier_hz = check_scalar("carrier_hz", pr.carrier_hz if carrier_hz is None
                              else carrier_hz, "Hz", 0.0, bound("carrier_hz"), strict=True)
    path_loss_exp = check_scalar("path_loss_exp", pr.path_loss_exp if path_loss_exp is None
                                 else path_loss_exp, "-", 0.0, bound("exponent"), strict=True)
    return antenna_gain * (LIGHT_M_PER_S / (4.0 * math.pi * carrier_hz * d)) ** path_loss_exp


def _check_gains(h: Any, ndim: int) -> np.ndarray:
    """Channel power gains: real, finite, in (0, 1e3] (see ``BOUNDS["gain"]``)."""
    arr = check_array("gains", "-", h, low=0.0, strict=True, high=bound("gain"))
    if arr.ndim != ndim or 0 in arr.shape:
        want = "(n_users,)" if ndim == 1 else "(n_frames, n_users)"
        raise ValidationError("gains", "-", arr.shape, f"wrong shape, expected {want}")
    return arr


def _check_weights(w: Any, n: int) -> np.ndarray:
    if w is None:
        arr = default_weights(n)
        arr.flags.writeable = False
        return arr
    arr = check_array("weights", "-", w, (n,), low=0.0, strict=True, high=bound("weight"),
                      like="gains (users)")
    tiny = float(np.finfo(np.float64).tiny)
    if (arr < tiny).any():  # a subnormal w: 1/w overflows in the inner solver (inf, NaN)
        raise ValidationError("weights", "-", float(arr.min()), f"below {tiny:.3g}, the "
                              "smallest normal double (the exact method divides by it)")
    return arr


def _check_params(p: Any) -> None:
    if not isinstance(p, WpmecParams):
        raise ValidationError("params", "-", type(p).__name__, "must be a WpmecParams")


_CHANNEL_KEYS = ("profile", "distances_m", "antenna_gain", "carrier_hz", "path_loss_exp")


def _check_channel(channel: dict[str, Any]) -> None:
    unknown = sorted(set(channel) - set(_CHANNEL_KEYS))
    if unknown:
        raise UnknownNameError("channel parameter", unknown[0], _CHANNEL_KEYS)


@dataclass(frozen=True, eq=False)
class WpmecInstance:
    """One frame: channel gains, weights and parameters.

    Parameters
    ----------
    gains : ndarray, shape (N,)
        Channel power gain ``h_i`` between the AP and device i (-), > 0.
    weights : ndarray, shape (N,), optional
        Rate weights ``w_i`` > 0 (default :func:`default_weights`).
    params : WpmecParams
        Physical parameters.
    """

    gains: np.ndarray
    weights: Any = None
    params: WpmecParams = field(default_factory=WpmecParams)

    def __post_init__(self) -> None:
        h = _check_gains(self.gains, 1)
        object.__setattr__(self, "gains", h)
        object.__setattr__(self, "weights", _check_weights(self.weights, h.shape[0]))
        _check_params(self.params)

    @property
    def n_users(self) -> int:
        """Number of devices N."""
        return int(self.gains.shape[0])

    def coefficients(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(L, g, W)``, each of shape (N,) (see :meth:`WpmecParams.coefficients`)."""
        return self.params.coefficients(self.gains, self.weights)

    @classmethod
    def generate(cls, n_users: int = 10, *, seed: int = 0, weights: Any = None,
                 params: WpmecParams | None = None, **channel: Any) -> WpmecInstance:
        """One Rayleigh-faded frame: ``h_i = hbar_i * Exp(1)`` (see :func:`mean_gains`)."""
        return WpmecBatch.generate(1, n_users, seed=seed, weights=weights, params=params,
                                   **channel).frame(0)


@dataclass(frozen=True, eq=False)
class WpmecBatch:
    """Many frames of the same devices: gains ``(K, N)``, one realisation per row.

    Parameters
    ----------
    gains : ndarray, shape (K, N)
        Channel power gains per frame and device (-), > 0.
    weights : ndarray, shape (N,), optional
        Rate weights (default :func:`default_weights`).
    params : WpmecParams
        Physical parameters.
    """

    gains: np.ndarray
    weights: Any = None
    params: WpmecParams = field(default_factory=WpmecParams)

    def __post_init__(self) -> None:
        h = _check_gains(self.gains, 2)
        object.__setattr__(self, "gains", h)
        object.__setattr__(self, "weights", _check_weights(self.weights, h.shape[1]))
        _check_params(self.params)

    @property
    def n_frames(self) -> int:
        """Number of frames K."""
        return int(self.gains.shape[0])

    @property
    def n_users(self) -> int:
        """Number of devices N."""
        return int(self.gains.shape[1])

    def frame(self, k: int) -> WpmecInstance:
        """Frame ``k`` as a :class:`WpmecInstance`."""
        k = check_int("k", k, "-", -self.n_frames, self.n_frames - 1)
        return WpmecInstance(self.gains[k], self.weights, self.params)

    def coefficients(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(L, g, W)``, each of shape (K, N)."""
        return self.params.coefficients(self.gains, self.weights)

    @classmethod
    def generate(cls, n_frames: int, n_users: int = 10, *, seed: int = 0, weights: Any = None,
                 params: WpmecParams | None = None, max_entries: int | None = None,
                 **channel: Any) -> WpmecBatch:
        """``n_frames`` Rayleigh-faded realisations around :func:`mean_gains` (seeded).

        ``n_frames * n_users`` may be at most ``max_entries`` (default
        :data:`aigc_opt.validate.MAX_ENTRIES` = 1e7); larger requests are refused before
        allocating. ``channel`` takes the keyword arguments of :func:`mean_gains`.
        """
        limit = MAX_ENTRIES if max_entries is None else check_int("max_entries", max_entries,
                                                                  "-", 1)
        n_frames = check_size("n_frames", n_frames, limit)
        n_users = check_size("n_users", n_users, limit)
        check_entries("n_frames*n_users", n_frames * n_users, limit)
        _check_channel(channel)
        if params is not None:
            _check_params(params)
        rng = np.random.default_rng(check_seed("seed", seed))
        hbar = mean_gains(n_users, **channel)
        h = hbar[None, :] * rng.exponential(1.0, size=(n_frames, n_users))
        with derived_from(**channel) if channel else nullcontext():
            return cls(h, weights, WpmecParams() if params is None else params)

    @classmethod
    def from_array(cls, gains: Any, *, weights: Any = None,
                   params: WpmecParams | None = None) -> WpmecBatch:
        """From a (K, N) array (a 1-D array is one frame)."""
        arr = check_array("gains", "-", gains, low=0.0, strict=True, high=bound("gain"))
        if arr.ndim == 1:
            arr = arr[None, :]
        # ``params or`` had made a falsy wrong type (0, '') the defaults; __post_init__ refuses it
        return cls(arr, weights, WpmecParams() if params is None else params)

    @classmethod
    def from_file(cls, path: str | Path, *, variable: str = "input_h", weights: Any = None,
                  params: WpmecParams | None = None) -> WpmecBatch:
        """Load gains from ``.npy``, ``.csv`` (comma separated, ``#`` comments) or ``.mat``.

        For ``.mat`` files (``scipy.io.loadmat``) ``variable`` names the matrix (DROO's data
        files use ``"input_h"``). One realisation per row.
        """
        p = check_path("path", path)
        suffix = p.suffix.lower()
        if suffix not in (".npy", ".csv", ".mat"):
            raise ValidationError("path", "-", str(p), "unsupported file type (.npy/.csv/.mat)")
        if not isinstance(variable, str):
            raise ValidationError("variable", "-", variable, "must be a string")
        from aigc_opt.matfile import load_mat, load_npy

        try:
            if suffix == ".npy":  # header (shape, dtype, size) checked before the data
                arr = load_npy(p, "gains .npy file")
            elif suffix == ".csv":
                text = read_text(p, "gains CSV")
                if text.startswith("# " + GAINS_CSV_HEADER) and not text.endswith(("\n", "\r")):
                    # save() ends every line: a cut last number (3.3970528974637688e-09 read
                    # as 3.3970528974) would be a wrong gain, not an unreadable one
                    raise ValidationError("path", "-", str(p), "truncated: a gains CSV "
                                          "written by save() must end with a newline (its "
                                          "last value may be cut)")
                arr = _gains_csv(p, text)
            else:
                data = load_mat(p)
                if variable not in data:
                    names = sorted(k for k in data if not k.startswith("__"))
                    raise ValidationError("variable", "-", variable,
                                          f"not in {p.name}; variables: {names}")
                arr = data[variable]
        except ValidationError:
            raise
        except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file
            raise ValidationError("path", "-", str(p), f"cannot read: {exc}") from None
        try:
            return cls.from_array(arr, weights=weights, params=params)
        except ValidationError as exc:
            raise exc.located(str(p)) from None

    def save(self, path: str | Path, *, variable: str = "input_h") -> Path:
        """Write the gains to ``.npy``, ``.csv`` or ``.mat`` (chosen by the suffix)."""
        p = Path(path)
        suffix = p.suffix.lower()
        if suffix == ".npy":
            np.save(p, np.asarray(self.gains))
        elif suffix == ".csv":
            np.savetxt(p, self.gains, delimiter=",", fmt="%.17g",
                       header=GAINS_CSV_HEADER, comments="# ")
        elif suffix == ".mat":
            import scipy.io

            scipy.io.savemat(p, {variable: np.asarray(self.gains)})
        else:
            raise ValidationError("path", "-", str(p), "unsupported file type (.npy/.csv/.mat)")
        return p


def _gains_csv(path: Path, text: str) -> np.ndarray:
    """The gains matrix of a CSV text (comma separated, ``#`` comments, one frame per row).

    An empty file (no data row) and an unreadable cell or a row of another length are
    reported with the file's line number (numpy counted data rows from 0 and warned on an
    empty file); the parse itself is numpy's.
    """
    rows = [(n, line.split("#", 1)[0]) for n, line in enumerate(text.splitlines(), 1)]
    rows = [(n, r) for n, r in rows if r.strip()]
    if not rows:
        raise ValidationError("path", "-", str(path), "empty gains CSV: no data row (only "
                              "comments or blank lines)")
    try:
        return np.loadtxt(io.StringIO(text), delimiter=",", comments="#", ndmin=2,
                          dtype=np.float64)
    except ValueError as exc:
        why = str(exc)
    width = len(rows[0][1].split(","))
    for n, r in rows:  # find the line numpy stopped at
        cells = r.split(",")
        if len(cells) != width:
            why = (f"line {n} has {len(cells)} values, the first data row (line "
                   f"{rows[0][0]}) has {width}")
            break
        bad = [j for j, c in enumerate(cells, 1) if not is_number(c)]
        if bad:
            why = f"line {n}, column {bad[0]}: {cells[bad[0] - 1].strip()!r} is not a number"
            break
    raise ValidationError("path", "-", str(path), f"cannot read gains CSV: {why}")


def _ro(x: Any, shape: tuple[int, ...], name: str, unit: str) -> np.ndarray:
    """An allocation array: real, no NaN (inf allowed: the evaluator reports it)."""
    return check_array(name, unit, x, shape, allow_inf=True, allow_bool=True)


@dataclass(frozen=True, eq=False)
class WpmecAllocation:
    """What the AP decided for one frame (all fractions of the frame length T).

    Parameters
    ----------
    offload : ndarray, shape (N,)
        1 if device i offloads, 0 if it computes locally (checked binary by the evaluator).
    wpt_fraction : float
        ``a``: fraction of the frame used for wireless power transfer.
    tau : ndarray, shape (N,)
        Offloading slot of device i as a fraction of the frame (0 for local devices).
    tx_power_w : ndarray, shape (N,)
        Uplink transmit power of offloading devices, W (0 for local ones).
    cpu_hz : ndarray, shape (N,)
        Local CPU speed of local devices over the whole frame, cycle/s (0 for offloaders).
    """

    offload: np.ndarray
    wpt_fraction: float
    tau: np.ndarray
    tx_power_w: np.ndarray
    cpu_hz: np.ndarray

    instance_type = WpmecInstance

    def __post_init__(self) -> None:
        off = check_array("offload", "-", self.offload, ndim=1, allow_bool=True)
        n = off.shape[0]
        object.__setattr__(self, "offload", _ro(off, (n,), "offload", "-"))
        a = check_scalar("wpt_fraction", self.wpt_fraction, "-", allow_inf=True)
        object.__setattr__(self, "wpt_fraction", a)
        for name, unit in (("tau", "-"), ("tx_power_w", "W"), ("cpu_hz", "cycle/s")):
            object.__setattr__(self, name, _ro(getattr(self, name), (n,), name, unit))

    @property
    def n_users(self) -> int:
        """Number of devices N."""
        return int(self.offload.shape[0])

    @classmethod
    def from_times(cls, instance: WpmecInstance, offload: Any, wpt_fraction: float,
                   tau: Any) -> WpmecAllocation:
        """Complete a time allocation: every device spends all the energy it harvests.

        ``p_i = mu P h_i a / tau_i`` for offloaders, ``f_i = (mu P h_i a / kappa)^{1/3}`` for
        local devices.
        """
        prm = instance.params
        off = np.asarray(offload, dtype=np.float64) > 0.5
        a = float(wpt_fraction)
        t = np.where(off, np.asarray(tau, dtype=np.float64), 0.0)
        e_rate = prm.harvest_efficiency * prm.ap_power_w * instance.gains * max(a, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(off & (t > 0), e_rate / np.where(t > 0, t, 1.0), 0.0)
        f = np.where(off, 0.0, np.cbrt(e_rate / prm.kappa))
        return cls(off.astype(np.float64), a, t, p, f)


@dataclass(frozen=True)
class WpmecSpec(ProblemSpec):
    """Binary-offloading WP-MEC: maximise the weighted sum computation rate (bit/s).

    No program builder: the problem is solved by the registered exact method ``"exact"``
    (:mod:`aigc_opt.problems.wpmec.exact`) and the heuristics of
    :mod:`aigc_opt.problems.wpmec.heuristics`.

    Parameters
    ----------
    rel_gap : float
        Relative optimality gap at which the exact method stops (certificate
        ``(bound - objective) / objective <= rel_gap``).
    max_nodes : int
        Branch-and-bound node limit per frame (the Result then reports the open gap).
    problem, variant : str
        Family and variant name (:class:`aigc_opt.ProblemSpec`): labels; keep the defaults.
    """

    rel_gap: float = 1e-6
    max_nodes: int = 1_000_000
    problem: str = "wpmec"
    variant: str = "binary"

    instance_type = WpmecInstance

    def __post_init__(self) -> None:
        object.__setattr__(self, "rel_gap", check_scalar("rel_gap", self.rel_gap, "-", 0.0,
                                                         bound("rel_tol")))
        object.__setattr__(self, "max_nodes", check_int("max_nodes", self.max_nodes, "-", 1,
                                                        int(bound("iterations"))))
