"""The scenario schema: one row per field (axes, unit, bounds, default, description).

The table drives validation, documentation and JSON I/O of :class:`aigc_opt.scenario.Scenario`
(in the spirit of PyPSA's component attribute tables). Axis names: ``user`` (N), ``server`` (S),
``model`` (M), ``point`` (P, quality-curve breakpoints), ``xy`` (2, planar coordinates), ``link``
(L, servers each user hears when the channel is stored sparsely). A field with no axes is a
scalar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .errors import ValidationError

QUALITY_KINDS = ("sigmoid", "piecewise_linear", "tabulated")
FADING_KINDS = ("none", "rayleigh", "rician")


#: Named physical bounds: (value, why no real system exceeds it). Every numeric scenario field
#: has an upper bound (and positions a lower one), so that a typo such as ``1e300`` is rejected
#: with a clear message instead of overflowing a product or wrapping around in an integer cast.
#: The limits are generous -- orders of magnitude above today's hardware -- and only keep values
#: physically meaningful; they are not modelling assumptions.
BOUNDS: dict[str, tuple[float, str]] = {
    "position_m": (1e7, "10,000 km: planar coordinates beyond a quarter of the Earth's "
                        "circumference are not an edge network"),
    "tx_power_w": (1e3, "1 kW: above any mobile or small-cell transmitter (UEs ~0.2 W)"),
    "bs_tx_power_w": (1e5, "100 kW: above the largest broadcast transmitters"),
    "flops": (1e19, "10 EFLOP/s: above the fastest supercomputer (~2 EFLOP/s, 2024)"),
    "kappa": (1e-20, "J s^2/FLOP^3: 1e-20 already means 10 kJ per GFLOP at 1 GHz; real chips "
                     "are ~1e-26 (per cycle) to ~1e-38 (per FLOP at TFLOP/s)"),
    "energy_j": (1e9, "1 GJ (~280 kWh): above any device battery"),
    "bits": (1e16, "10 Pbit (1.25 PB): above any single request's content"),
    "steps": (1e7, "10 million denoising steps / output tokens per request: above any "
                   "model's context or schedule"),
    "time_s": (1e7, "~116 days: above any request deadline or round-trip time"),
    "weight": (1e9, "importance weights are relative; 1e9 keeps objectives finite"),
    "bytes": (1e15, "1 PB: above the memory of any single server or model"),
    "hz": (1e12, "1 THz: above every radio band (mmWave / sub-THz up to ~300 GHz)"),
    "bps": (1e15, "1 Pbit/s: above any backhaul or storage link"),
    "count": (1e6, "one million subchannels / GPU slots per server"),
    "j_per_flop": (1.0, "1 J/FLOP: 1e11 times a GPU's ~4 pJ/FLOP (normalised toy instances "
                        "use up to 1e-3)"),
    "cost_per_flop": (1e3, "cost units per FLOP: prices are ~1e-14 per FLOP; 1e3 keeps "
                           "objectives finite"),
    "flop": (1e18, "1 EFLOP per step or token: above any model (SDXL ~3 TFLOP/step)"),
    "quality": (1e6, "quality scores are normalised (~[0, 1] or [0, 100])"),
    "slope": (1e3, "sigmoid slope per step: steeper than a step function at unit spacing"),
    "gain": (1e3, "linear power gain <= 30 dB: antenna / beamforming gain at zero path loss"),
    "noise_psd": (1e-6, "W/Hz: -30 dBm/Hz, 144 dB above thermal noise (-174 dBm/Hz)"),
    "antenna_gain": (1e6, "60 dB: above any antenna array"),
    "carrier_hz": (1e15, "1 PHz: above visible light (optical wireless ~5e14 Hz)"),
    "exponent": (10.0, "path-loss exponents are 2-6 in every measured environment"),
    "rician_k": (1e6, "Rician K-factor of 60 dB: pure line of sight"),
    "models": (1e6, "one million models in a catalogue"),
    # --- used by the problem families' instance and spec types --------------------------------
    "money": (1e15, "money units are each problem's own; 1e15 keeps objectives and payments "
                    "finite and exact to ~1 unit in float64"),
    "rel_tol": (1.0, "relative gaps / tolerances above 1 (100 %) stop nothing"),
    "iterations": (1e9, "iteration / node limits above 1e9 never finish in practice"),
    "noise_w": (1.0, "1 W of receiver noise power: 30 dBm, far above any receiver"),
    "cycles_per_bit": (1e9, "CPU cycles per task bit (DROO: 100)"),
    "overhead": (1e3, "raw bits sent per task bit (coding overhead, DROO: 1.1)"),
    "distance_m": (1e7, "10,000 km between a device and its access point"),
    "tokens": (1e9, "prompt / output tokens of one request (1e9: above any context)"),
    "examples": (1e12, "in-context examples of a cached model"),
    "slots": (1e7, "slots / frames / windows of a horizon (116 days of 1-s slots)"),
    "factor": (1e6, "dimensionless scale factors (budget / rate / epsilon scales)"),
    "utilisation": (1e3, "target load / capacity ratio of generated networks; above 1 the "
                         "network is oversubscribed on purpose, 1e3 keeps sizes finite"),
}


#: Named physical LOWER bounds of capacities (rates, bandwidths, compute speeds): (value, why no
#: real system is that small). A capacity of ``1e-11`` bit/s is not a slow link but a typo or
#: a unit error, and it made the models' cost coefficients span ``1e20`` (a backhaul transfer of
#: ``1e20`` s next to costs of 1), beyond what any LP/MILP solver resolves (issue 11: CVXPY/HiGHS
#: returned "optimal" 41.05 next to a verified 18.25). The floors are far below any real
#: device, so they only reject values that are physically meaningless. A capacity whose value
#: may legitimately be 0 ("none": no GPU memory, no link) is either exactly 0 or at least its
#: floor (:func:`check_floor`); a value strictly between (``1e-300`` byte of memory) is refused.
LOWER_BOUNDS: dict[str, tuple[float, str]] = {
    "hz": (1.0, "1 Hz: no radio channel is narrower (NB-IoT subcarriers are 3.75 kHz, "
                "LoRa 7.8 kHz); below it a kilobit takes a quarter of an hour"),
    "bps": (1.0, "1 bit/s: no backhaul or loading link is slower (a 1960s modem: 300 bit/s); "
                 "below it a 1 GB model takes 250 years to load"),
    "flops": (1.0, "1 FLOP/s: no processor is slower (a 1970s microprocessor: ~1e5 FLOP/s); "
                   "below it one diffusion step takes 10^5 years"),
    "bytes": (1.0, "1 byte: the smallest addressable unit of memory (no GPU holds a fraction "
                   "of one); 1e-300 byte made a model's size over the memory overflow"),
}


def bound(key: str) -> float:
    """The value of physical bound ``key`` of :data:`BOUNDS`."""
    return BOUNDS[key][0]


def floor(key: str) -> float:
    """The physical lower bound ``key`` of :data:`LOWER_BOUNDS` (0 when it has none)."""
    return LOWER_BOUNDS[key][0] if key in LOWER_BOUNDS else 0.0


def check_floor(name: str, unit: str, value: Any, key: str, *, zero_ok: bool = False) -> None:
    """Refuse a capacity below the physical floor ``key`` of :data:`LOWER_BOUNDS`.

    Parameters
    ----------
    name, unit : str
        Field name and SI unit, named in the error.
    value : float or ndarray
        The (already type-checked, NaN-free) value(s), in ``unit``.
    key : str
        Key of :data:`LOWER_BOUNDS` (``"hz"``, ``"bps"``, ``"flops"``, ``"bytes"``).
    zero_ok : bool
        Exactly 0 means "none" (no memory, no link) and is accepted; only values strictly
        between 0 and the floor are refused.

    Raises
    ------
    ValidationError
        Naming the field, its unit, the first bad value, the floor and its reason.
    """
    lo, why = LOWER_BOUNDS[key]
    v = np.asarray(value, dtype=np.float64)
    bad = v < lo
    if zero_ok:
        bad &= v != 0.0
    if bad.any():
        allowed = f"0 (none) or >= {lo:g}" if zero_ok else f">= {lo:g}"
        raise ValidationError(name, unit, float(v[bad].ravel()[0]),
                              f"below the physical floor: must be {allowed} {unit} ({why})")


#: Unit of each :data:`LOWER_BOUNDS` key.
FLOOR_UNITS = {"hz": "Hz", "bps": "bit/s", "flops": "FLOP/s", "bytes": "byte"}


def check_floors(obj: Any, **keys: str) -> None:
    """:func:`check_floor` on the fields of ``obj`` named by ``keys`` (field name -> key of
    :data:`LOWER_BOUNDS`), each in the key's unit."""
    for name, key in keys.items():
        check_floor(name, FLOOR_UNITS[key], getattr(obj, name), key)


@dataclass(frozen=True)
class FieldSpec:
    """One scenario field.

    Parameters
    ----------
    name : str
        Attribute name.
    axes : tuple of str
        Named axes of the array (empty for a scalar).
    unit : str
        SI unit ("-" for dimensionless).
    dtype : {"float", "int", "str"}
        Element type.
    low : float or None
        Lower bound (None: no bound).
    strict : bool
        True if the bound is strict (value must be > low).
    allow_inf : bool
        Whether +inf is a meaningful value (e.g. "no deadline").
    choices : tuple of str
        Allowed values of a string field.
    description : str
        What the field means.
    bound : str
        Key of :data:`BOUNDS`: the physical upper bound and why ("" for string fields).
    optional : bool
        The field may be None (absent): the channel is given either densely
        (``channel_gain``) or as links (``link_server`` and ``link_gain``), never both.
    """

    name: str
    axes: tuple[str, ...]
    unit: str
    dtype: Literal["float", "int", "str"]
    low: float | None
    strict: bool
    description: str
    allow_inf: bool = False
    choices: tuple[str, ...] = ()
    bound: str = ""
    optional: bool = False

    @property
    def high(self) -> float | None:
        """Upper bound (inclusive; +inf entries skip it when ``allow_inf``)."""
        return BOUNDS[self.bound][0] if self.bound else None

    @property
    def zero_allowed(self) -> bool:
        """A capacity with a physical floor whose own ``low`` admits 0 (``>= 0``, e.g. GPU
        memory): exactly 0 means "none"; values strictly between 0 and the floor are refused."""
        return (self.bound in LOWER_BOUNDS and self.low is not None and float(self.low) == 0.0
                and not self.strict)

    @property
    def lower(self) -> float | None:
        """Smallest allowed value: ``low`` raised to the physical floor of :data:`LOWER_BOUNDS`
        for capacities (``bound`` key ``hz``, ``bps``, ``flops``, ``bytes``; 0 when
        :attr:`zero_allowed`, with nothing allowed between 0 and the floor), or ``-high`` for
        signed fields (positions, sigmoid midpoints, quality values)."""
        if self.low is None and self.bound:
            return -BOUNDS[self.bound][0]
        if self.zero_allowed:
            return 0.0
        if self.low is not None and self.bound in LOWER_BOUNDS:
            return max(float(self.low), LOWER_BOUNDS[self.bound][0])
        return self.low

    @property
    def lower_strict(self) -> bool:
        """Whether :attr:`lower` is strict: a physical floor is inclusive (``>= 1 FLOP/s``),
        the field's own ``low`` keeps its ``strict`` flag (``> 0``)."""
        if self.low is not None and self.bound in LOWER_BOUNDS:
            return self.strict and float(self.low) >= LOWER_BOUNDS[self.bound][0]
        return self.strict


def _f(
    name: str,
    axes: tuple[str, ...],
    unit: str,
    low: float | None,
    strict: bool,
    description: str,
    *,
    dtype: Literal["float", "int", "str"] = "float",
    allow_inf: bool = False,
    choices: tuple[str, ...] = (),
    bound: str = "",
    optional: bool = False,
) -> FieldSpec:
    return FieldSpec(name, axes, unit, dtype, low, strict, description, allow_inf, choices, bound,
                     optional)


U, S, M = ("user",), ("server",), ("model",)

SCHEMA: tuple[FieldSpec, ...] = (
    # --- users (mobile devices) and their single AIGC request --------------------------------
    _f("user_position_m", ("user", "xy"), "m", None, False, "planar position of each device",
       bound="position_m"),
    _f("user_tx_power_w", U, "W", 0.0, True, "maximum uplink transmit power", bound="tx_power_w"),
    _f("user_compute_flops", U, "FLOP/s", 0.0, True, "device compute speed", bound="flops"),
    _f(
        "user_kappa",
        U,
        "J s^2/FLOP^3",
        0.0,
        False,
        "effective switched capacitance: local energy = kappa * W * f^2 for W FLOP at f FLOP/s",
        bound="kappa",
    ),
    _f("user_energy_budget_j", U, "J", 0.0, True, "device energy budget per request",
       allow_inf=True, bound="energy_j"),
    _f("request_model", U, "-", 0, False, "model id (index into the catalogue)", dtype="int",
       bound="models"),
    _f("request_input_bits", U, "bit", 0.0, False, "uploaded input size (prompt, image, ...)",
       bound="bits"),
    _f("request_output_bits", U, "bit", 0.0, False, "downloaded output size (generated content)",
       bound="bits"),
    _f("request_steps", U, "step", 1, False, "requested denoising steps / output tokens",
       dtype="int", bound="steps"),
    _f("request_deadline_s", U, "s", 0.0, True, "end-to-end latency deadline", allow_inf=True,
       bound="time_s"),
    _f("request_weight", U, "-", 0.0, False, "importance weight of the request", bound="weight"),
    # --- edge servers --------------------------------------------------------------------------
    _f("server_position_m", ("server", "xy"), "m", None, False, "planar position of each server",
       bound="position_m"),
    _f("server_compute_flops", S, "FLOP/s", 0.0, True, "GPU compute speed", bound="flops"),
    _f("server_gpu_memory_bytes", S, "byte", 0.0, False, "GPU memory for cached models",
       bound="bytes"),
    _f("server_uplink_hz", S, "Hz", 0.0, True, "uplink bandwidth", bound="hz"),
    _f("server_downlink_hz", S, "Hz", 0.0, True, "downlink bandwidth", bound="hz"),
    _f("server_tx_power_w", S, "W", 0.0, True, "downlink transmit power", bound="bs_tx_power_w"),
    _f("server_backhaul_bps", S, "bit/s", 0.0, True, "backhaul rate to the cloud", bound="bps"),
    _f("server_subchannels", S, "-", 1, False, "orthogonal subchannels (uplink and downlink)",
       dtype="int", bound="count"),
    _f("server_gpu_slots", S, "-", 1, False, "concurrent requests the GPU is shared among",
       dtype="int", bound="count"),
    _f("server_energy_per_flop_j", S, "J/FLOP", 0.0, False, "edge compute energy per FLOP",
       bound="j_per_flop"),
    _f("server_load_bps", S, "bit/s", 0.0, True, "model loading rate into GPU memory",
       bound="bps"),
    # --- cloud -----------------------------------------------------------------------------------
    _f("cloud_compute_flops", (), "FLOP/s", 0.0, True, "cloud compute speed given to one request",
       bound="flops"),
    _f("cloud_latency_s", (), "s", 0.0, False, "backhaul propagation delay, round trip",
       bound="time_s"),
    _f("cloud_energy_per_flop_j", (), "J/FLOP", 0.0, False, "cloud compute energy per FLOP",
       bound="j_per_flop"),
    _f("cloud_cost_per_flop", (), "cost/FLOP", 0.0, False, "price of cloud compute",
       bound="cost_per_flop"),
    # --- model catalogue -------------------------------------------------------------------------
    _f("model_size_bytes", M, "byte", 0.0, True, "GPU memory footprint of the model",
       bound="bytes"),
    _f("model_flop_per_step", M, "FLOP", 0.0, True, "compute per denoising step / token",
       bound="flop"),
    _f("model_quality_kind", M, "-", None, False, "quality curve kind", dtype="str",
       choices=QUALITY_KINDS),
    _f("model_quality_max", M, "-", 0.0, False, "sigmoid: asymptotic quality q_max",
       bound="quality"),
    _f("model_quality_slope", M, "1/step", 0.0, False, "sigmoid: slope a", bound="slope"),
    _f("model_quality_mid", M, "step", None, False, "sigmoid: midpoint b", bound="steps"),
    _f("model_quality_steps", ("model", "point"), "step", 0.0, False,
       "piecewise_linear/tabulated: breakpoints, strictly increasing per model (P >= 1 when "
       "any model uses them)", bound="steps"),
    _f("model_quality_values", ("model", "point"), "-", None, False,
       "piecewise_linear/tabulated: quality at the breakpoints", bound="quality"),
    # --- channel ---------------------------------------------------------------------------------
    _f("channel_gain", ("user", "server"), "-", 0.0, True,
       "linear channel power gain, dense (None when the channel is given as links)",
       bound="gain", optional=True),
    _f("link_server", ("user", "link"), "-", 0, False,
       "links: the L servers each user hears, strictly increasing per user (None: dense)",
       dtype="int", bound="count", optional=True),
    _f("link_gain", ("user", "link"), "-", 0.0, True,
       "links: linear channel power gain to link_server (None: dense)", bound="gain",
       optional=True),
    _f("noise_psd_w_per_hz", (), "W/Hz", 0.0, True, "noise power spectral density",
       bound="noise_psd"),
    _f("antenna_gain", (), "-", 0.0, True, "path-loss antenna gain A_d (generation only)",
       bound="antenna_gain"),
    _f("carrier_hz", (), "Hz", 0.0, True, "carrier frequency f_c (generation only)",
       bound="carrier_hz"),
    _f("path_loss_exponent", (), "-", 0.0, True, "path-loss exponent d_e (generation only)",
       bound="exponent"),
    _f("fading", (), "-", None, False, "small-scale fading used in generation", dtype="str",
       choices=FADING_KINDS),
    _f("rician_k", (), "-", 0.0, False, "Rician K-factor (generation only)", bound="rician_k"),
)

FIELDS: dict[str, FieldSpec] = {f.name: f for f in SCHEMA}


def _allowed(f: FieldSpec) -> str:
    if f.dtype == "str":
        return " / ".join(f.choices)
    lo = "" if f.lower is None else f"{'>' if f.lower_strict else '>='} {f.lower:g}"
    if f.zero_allowed:
        lo = f"0 or >= {floor(f.bound):g}"
    hi = "" if f.high is None else f"<= {f.high:g}"
    text = ", ".join(x for x in (lo, hi) if x)
    return text + (" or inf" if f.allow_inf else "") + (", integer" if f.dtype == "int" else "")


def schema_table() -> str:
    """The schema as a Markdown table (field, axes, unit, allowed values, description)."""
    rows = ["| field | axes | unit | allowed | description |", "|---|---|---|---|---|"]
    for f in SCHEMA:
        rows.append(f"| {f.name} | {','.join(f.axes) or 'scalar'} | {f.unit} | {_allowed(f)} "
                    f"| {f.description} |")
    return "\n".join(rows)


def bounds_table() -> str:
    """The physical bounds as a Markdown table (name, value, why): upper bounds, then the
    lower bounds of capacities (rows ``<name> (lower)``)."""
    rows = ["| bound | value | why |", "|---|---|---|"]
    rows += [f"| {k} | {v:g} | {why} |" for k, (v, why) in BOUNDS.items()]
    rows += [f"| {k} (lower) | {v:g} | {why} |" for k, (v, why) in LOWER_BOUNDS.items()]
    return "\n".join(rows)
