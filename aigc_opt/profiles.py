"""Seeded scenario generation from named parameter profiles.

Each profile is a :class:`Profile` (ranges drawn uniformly unless said otherwise). Sources:

* **LyDROO** -- S. Bi, L. Huang, H. Wang, Y.-J. A. Zhang, "Lyapunov-guided deep reinforcement
  learning for stable online computation offloading in mobile-edge computing networks", IEEE
  TWC 2021, and its public code: path loss ``A_d (c / (4 pi f_c d))^3`` with ``A_d = 3``,
  ``f_c = 915 MHz``, distances 120-255 m, Rician fading with LOS power fraction 0.3 (K = 3/7),
  2 MHz TDMA uplink, noise -174 dBm/Hz, user weights alternating 1.5 and 1.
* **Hybrid inference (ICC 2025)** -- "QoS-driven hybrid inference" of diffusion models split
  between device and edge: device CPU 1.4-1.6 GHz, kappa = 1e-27, 15 Mcycles per diffusion step.
  In that profile one "FLOP" stands for one CPU cycle.
* **AGOD** -- H. Du et al., "Diffusion-based reinforcement learning for edge-enabled AI-generated
  content services" (IEEE TMC 2024): edge servers with 24 GB GPUs.

Values marked *assumed* below are ours (typical hardware), not from a paper: diffusion workload
per step (0.4-3 TFLOP, Stable Diffusion 1.5 to SDXL at 512-1024 px), model footprints, GPU
speed, phone NPU speed, content sizes, deadlines, cloud figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .channel import dbm_to_watt, fading_power, path_loss_gain
from .errors import UnknownNameError
from .schema import FIELDS, QUALITY_KINDS
from .validate import MAX_ENTRIES, check_choice, check_entries, check_int, check_seed, check_size

Range = tuple[float, float]


@dataclass(frozen=True)
class Profile:
    """Parameter ranges of a generated scenario (SI units; see the module docstring)."""

    distance_m: Range = (120.0, 255.0)  # LyDROO
    antenna_gain: float = 3.0  # LyDROO
    carrier_hz: float = 915e6  # LyDROO
    path_loss_exponent: float = 3.0  # LyDROO
    fading: str = "rician"
    rician_k: float = 3.0 / 7.0  # LyDROO: LOS power fraction 0.3
    noise_dbm_per_hz: float = -174.0  # LyDROO
    user_tx_power_w: Range = (0.1, 0.2)  # assumed (20-23 dBm UE)
    user_compute_flops: Range = (2e12, 6e12)  # assumed: phone NPU, FP16
    user_kappa: float = 5e-38  # assumed: ~3 W at 4 TFLOP/s (P = kappa f^3)
    user_energy_budget_j: Range = (20.0, 60.0)  # assumed
    request_input_bits: Range = (1e4, 1e6)  # assumed: prompt to small image
    request_output_bits: Range = (5e5, 4e6)  # assumed: compressed 512-1024 px image
    request_steps: Range = (20, 50)  # assumed: DDIM / DPM-Solver step counts
    request_deadline_s: Range = (10.0, 40.0)  # assumed
    weight_pattern: tuple[float, ...] = (1.5, 1.0)  # LyDROO / DROO alternating weights
    server_compute_flops: Range = (8e13, 1.6e14)  # assumed: RTX 4090-class GPU, FP16 tensor
    server_gpu_memory_bytes: float = 24e9  # AGOD
    server_uplink_hz: float = 2e6  # LyDROO
    server_downlink_hz: float = 2e6  # LyDROO bandwidth, used for the downlink too
    server_tx_power_w: float = 1.0  # assumed
    server_backhaul_bps: Range = (1e8, 1e9)  # assumed
    server_subchannels: int = 20  # assumed
    server_gpu_slots: int = 4  # assumed
    server_energy_per_flop_j: float = 4e-12  # assumed: 300 W at 75 TFLOP/s
    server_load_bps: float = 16e9  # assumed: 2 GB/s storage-to-GPU
    cloud_compute_flops: float = 2.5e13  # assumed: shared cloud GPU per request
    cloud_latency_s: float = 0.2  # assumed round trip (WAN)
    cloud_energy_per_flop_j: float = 2e-12  # assumed
    cloud_cost_per_flop: float = 1e-14  # assumed (cost units per FLOP)
    model_size_bytes: Range = (2e9, 14e9)  # assumed: SD 1.5 fp16 to 7B LLM fp16
    model_flop_per_step: Range = (4e11, 3e12)  # assumed
    quality_max: Range = (0.8, 1.0)
    quality_slope: Range = (0.15, 0.35)
    quality_mid: Range = (8.0, 15.0)
    quality_breakpoints: tuple[float, ...] = (1.0, 10.0, 20.0, 35.0, 50.0)


PROFILES: dict[str, Profile] = {
    "edge_aigc": Profile(),
    "lydroo": Profile(fading="rician", user_tx_power_w=(0.1, 0.1)),
    "hybrid_icc2025": Profile(
        user_compute_flops=(1.4e9, 1.6e9),  # ICC 2025: cycles/s
        user_kappa=1e-27,  # ICC 2025
        model_flop_per_step=(15e6, 15e6),  # ICC 2025: 15 Mcycles per step
        server_compute_flops=(1e10, 2e10),  # assumed edge CPU/GPU cycles/s
        server_energy_per_flop_j=1e-10,  # assumed
        cloud_compute_flops=4e10,  # assumed
        cloud_energy_per_flop_j=5e-11,  # assumed
        cloud_cost_per_flop=1e-11,  # assumed
        request_deadline_s=(1.0, 5.0),  # assumed
        user_energy_budget_j=(1.0, 5.0),  # assumed
        request_input_bits=(1e4, 1e5),
        request_output_bits=(1e5, 1e6),
    ),
}


def _u(rng: np.random.Generator, r: Range, n: int | tuple[int, ...]) -> np.ndarray:
    return rng.uniform(r[0], r[1], size=n)


def generate(
    n_users: int,
    n_servers: int,
    n_models: int,
    *,
    seed: int = 0,
    profile: str = "edge_aigc",
    max_entries: int | None = None,
    **overrides: Any,
) -> Any:
    """Draw a scenario (see :meth:`aigc_opt.scenario.Scenario.generate`).

    Servers sit on a square grid with spacing ``2 * max distance``; each user picks a home server
    uniformly and sits at a uniform distance in ``distance_m`` from it at a uniform angle. Channel
    gains to every server are path loss times fading. Quality kinds cycle through sigmoid,
    piecewise-linear and tabulated over the catalogue, so every kind is exercised.

    Sizes must be integers >= 1 (``2.0`` is accepted, ``1.5`` is not). The largest arrays
    (``n_users x n_servers`` channel gains, ``n_models x P`` breakpoints) may hold at most
    ``max_entries`` entries (default :data:`aigc_opt.validate.MAX_ENTRIES` = 1e7, 80 MB per
    array); larger requests are refused before anything is allocated.
    """
    from .scenario import Scenario

    check_choice("profile", profile, PROFILES)
    limit = MAX_ENTRIES if max_entries is None else check_int("max_entries", max_entries, "-", 1)
    N = check_size("n_users", n_users, limit)
    S = check_size("n_servers", n_servers, limit)
    M = check_size("n_models", n_models, limit)
    p = PROFILES[profile]
    check_entries("n_users*n_servers", N * S, limit)
    check_entries("n_models*breakpoints", M * len(p.quality_breakpoints), limit)
    unknown = sorted(set(overrides) - set(FIELDS))
    if unknown:
        raise UnknownNameError("scenario field", unknown[0], FIELDS)
    rng = np.random.default_rng(check_seed("seed", seed))

    side = int(np.ceil(np.sqrt(S)))
    spacing = 2.0 * p.distance_m[1]
    grid = np.stack(np.meshgrid(np.arange(side), np.arange(side), indexing="ij"), -1)
    server_pos = grid.reshape(-1, 2)[:S] * spacing
    home = rng.integers(0, S, size=N)
    dist = _u(rng, p.distance_m, N)
    angle = rng.uniform(0.0, 2.0 * np.pi, size=N)
    user_pos = server_pos[home] + dist[:, None] * np.stack([np.cos(angle), np.sin(angle)], -1)
    d = np.sqrt(((user_pos[:, None, :] - server_pos[None, :, :]) ** 2).sum(-1))
    gain = path_loss_gain(
        d, antenna_gain=p.antenna_gain, carrier_hz=p.carrier_hz, exponent=p.path_loss_exponent
    ) * fading_power(rng, (N, S), kind=p.fading, rician_k=p.rician_k)

    kinds = np.array(QUALITY_KINDS)[np.arange(M) % len(QUALITY_KINDS)]
    qmax = _u(rng, p.quality_max, M)
    slope = _u(rng, p.quality_slope, M)
    mid = _u(rng, p.quality_mid, M)
    bp = np.tile(np.asarray(p.quality_breakpoints), (M, 1))
    bq = qmax[:, None] / (1.0 + np.exp(-slope[:, None] * (bp - mid[:, None])))
    weights = np.resize(np.asarray(p.weight_pattern), N)
    steps = rng.integers(int(p.request_steps[0]), int(p.request_steps[1]) + 1, size=N)

    fields: dict[str, Any] = dict(
        user_position_m=user_pos,
        user_tx_power_w=_u(rng, p.user_tx_power_w, N),
        user_compute_flops=_u(rng, p.user_compute_flops, N),
        user_kappa=np.full(N, p.user_kappa),
        user_energy_budget_j=_u(rng, p.user_energy_budget_j, N),
        request_model=rng.integers(0, M, size=N),
        request_input_bits=_u(rng, p.request_input_bits, N),
        request_output_bits=_u(rng, p.request_output_bits, N),
        request_steps=steps,
        request_deadline_s=_u(rng, p.request_deadline_s, N),
        request_weight=weights,
        server_position_m=server_pos.astype(np.float64),
        server_compute_flops=_u(rng, p.server_compute_flops, S),
        server_gpu_memory_bytes=np.full(S, p.server_gpu_memory_bytes),
        server_uplink_hz=np.full(S, p.server_uplink_hz),
        server_downlink_hz=np.full(S, p.server_downlink_hz),
        server_tx_power_w=np.full(S, p.server_tx_power_w),
        server_backhaul_bps=_u(rng, p.server_backhaul_bps, S),
        server_subchannels=np.full(S, p.server_subchannels),
        server_gpu_slots=np.full(S, p.server_gpu_slots),
        server_energy_per_flop_j=np.full(S, p.server_energy_per_flop_j),
        server_load_bps=np.full(S, p.server_load_bps),
        cloud_compute_flops=p.cloud_compute_flops,
        cloud_latency_s=p.cloud_latency_s,
        cloud_energy_per_flop_j=p.cloud_energy_per_flop_j,
        cloud_cost_per_flop=p.cloud_cost_per_flop,
        model_size_bytes=_u(rng, p.model_size_bytes, M),
        model_flop_per_step=_u(rng, p.model_flop_per_step, M),
        model_quality_kind=kinds,
        model_quality_max=qmax,
        model_quality_slope=slope,
        model_quality_mid=mid,
        model_quality_steps=bp,
        model_quality_values=bq,
        channel_gain=gain,
        noise_psd_w_per_hz=dbm_to_watt(p.noise_dbm_per_hz),
        antenna_gain=p.antenna_gain,
        carrier_hz=p.carrier_hz,
        path_loss_exponent=p.path_loss_exponent,
        fading=p.fading,
        rician_k=p.rician_k,
    )
    fields.update(overrides)
    return Scenario(**fields)
