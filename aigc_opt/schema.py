"""The scenario schema: one row per field (axes, unit, bounds, default, description).

The table drives validation, documentation and JSON I/O of :class:`aigc_opt.scenario.Scenario`
(in the spirit of PyPSA's component attribute tables). Axis names: ``user`` (N), ``server`` (S),
``model`` (M), ``point`` (P, quality-curve breakpoints), ``xy`` (2, planar coordinates). A field
with no axes is a scalar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

QUALITY_KINDS = ("sigmoid", "piecewise_linear", "tabulated")
FADING_KINDS = ("none", "rayleigh", "rician")


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
) -> FieldSpec:
    return FieldSpec(name, axes, unit, dtype, low, strict, description, allow_inf, choices)


U, S, M = ("user",), ("server",), ("model",)

SCHEMA: tuple[FieldSpec, ...] = (
    # --- users (mobile devices) and their single AIGC request --------------------------------
    _f("user_position_m", ("user", "xy"), "m", None, False, "planar position of each device"),
    _f("user_tx_power_w", U, "W", 0.0, True, "maximum uplink transmit power"),
    _f("user_compute_flops", U, "FLOP/s", 0.0, True, "device compute speed"),
    _f(
        "user_kappa",
        U,
        "J s^2/FLOP^3",
        0.0,
        False,
        "effective switched capacitance: local energy = kappa * W * f^2 for W FLOP at f FLOP/s",
    ),
    _f("user_energy_budget_j", U, "J", 0.0, True, "device energy budget per request",
       allow_inf=True),
    _f("request_model", U, "-", 0, False, "model id (index into the catalogue)", dtype="int"),
    _f("request_input_bits", U, "bit", 0.0, False, "uploaded input size (prompt, image, ...)"),
    _f("request_output_bits", U, "bit", 0.0, False, "downloaded output size (generated content)"),
    _f("request_steps", U, "-", 1, False, "requested denoising steps / output tokens", dtype="int"),
    _f("request_deadline_s", U, "s", 0.0, True, "end-to-end latency deadline", allow_inf=True),
    _f("request_weight", U, "-", 0.0, False, "importance weight of the request"),
    # --- edge servers --------------------------------------------------------------------------
    _f("server_position_m", ("server", "xy"), "m", None, False, "planar position of each server"),
    _f("server_compute_flops", S, "FLOP/s", 0.0, True, "GPU compute speed"),
    _f("server_gpu_memory_bytes", S, "byte", 0.0, False, "GPU memory for cached models"),
    _f("server_uplink_hz", S, "Hz", 0.0, True, "uplink bandwidth"),
    _f("server_downlink_hz", S, "Hz", 0.0, True, "downlink bandwidth"),
    _f("server_tx_power_w", S, "W", 0.0, True, "downlink transmit power"),
    _f("server_backhaul_bps", S, "bit/s", 0.0, True, "backhaul rate to the cloud"),
    _f("server_subchannels", S, "-", 1, False, "orthogonal subchannels (uplink and downlink)",
       dtype="int"),
    _f("server_gpu_slots", S, "-", 1, False, "concurrent requests the GPU is shared among",
       dtype="int"),
    _f("server_energy_per_flop_j", S, "J/FLOP", 0.0, False, "edge compute energy per FLOP"),
    _f("server_load_bps", S, "bit/s", 0.0, True, "model loading rate into GPU memory"),
    # --- cloud -----------------------------------------------------------------------------------
    _f("cloud_compute_flops", (), "FLOP/s", 0.0, True, "cloud compute speed given to one request"),
    _f("cloud_latency_s", (), "s", 0.0, False, "backhaul propagation delay, round trip"),
    _f("cloud_energy_per_flop_j", (), "J/FLOP", 0.0, False, "cloud compute energy per FLOP"),
    _f("cloud_cost_per_flop", (), "cost/FLOP", 0.0, False, "price of cloud compute"),
    # --- model catalogue -------------------------------------------------------------------------
    _f("model_size_bytes", M, "byte", 0.0, True, "GPU memory footprint of the model"),
    _f("model_flop_per_step", M, "FLOP", 0.0, True, "compute per denoising step / token"),
    _f("model_quality_kind", M, "-", None, False, "quality curve kind", dtype="str",
       choices=QUALITY_KINDS),
    _f("model_quality_max", M, "-", 0.0, False, "sigmoid: asymptotic quality q_max"),
    _f("model_quality_slope", M, "1/step", 0.0, False, "sigmoid: slope a"),
    _f("model_quality_mid", M, "step", None, False, "sigmoid: midpoint b"),
    _f("model_quality_steps", ("model", "point"), "step", 0.0, False,
       "piecewise_linear/tabulated: breakpoints, strictly increasing per model"),
    _f("model_quality_values", ("model", "point"), "-", None, False,
       "piecewise_linear/tabulated: quality at the breakpoints"),
    # --- channel ---------------------------------------------------------------------------------
    _f("channel_gain", ("user", "server"), "-", 0.0, True, "linear channel power gain"),
    _f("noise_psd_w_per_hz", (), "W/Hz", 0.0, True, "noise power spectral density"),
    _f("antenna_gain", (), "-", 0.0, True, "path-loss antenna gain A_d (generation only)"),
    _f("carrier_hz", (), "Hz", 0.0, True, "carrier frequency f_c (generation only)"),
    _f("path_loss_exponent", (), "-", 0.0, True, "path-loss exponent d_e (generation only)"),
    _f("fading", (), "-", None, False, "small-scale fading used in generation", dtype="str",
       choices=FADING_KINDS),
    _f("rician_k", (), "-", 0.0, False, "Rician K-factor (generation only)"),
)

FIELDS: dict[str, FieldSpec] = {f.name: f for f in SCHEMA}


def schema_table() -> str:
    """The schema as a Markdown table (field, axes, unit, description)."""
    rows = ["| field | axes | unit | description |", "|---|---|---|---|"]
    for f in SCHEMA:
        rows.append(f"| {f.name} | {','.join(f.axes) or 'scalar'} | {f.unit} | {f.description} |")
    return "\n".join(rows)
