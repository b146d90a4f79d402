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

from .channel import dbm_to_watt, fading_power, path_loss_gain, shannon_rate
from .errors import UnknownNameError
from .schema import FIELDS, QUALITY_KINDS, bound
from .validate import (
    MAX_ENTRIES,
    check_array,
    check_choice,
    check_entries,
    check_int,
    check_scalar,
    check_seed,
    check_size,
    derived_from,
)

#: Sentinel: take the target utilisation from the profile (:attr:`Profile.load`).
PROFILE_LOAD = "profile"
#: The arguments of :meth:`aigc_opt.scenario.Scenario.generate` besides field overrides (a
#: misspelt one, e.g. ``n_user``, is suggested by name).
GENERATE_ARGUMENTS = ("n_users", "n_servers", "n_models", "seed", "profile", "max_entries",
                      "load", "links")

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
    load: float | None = 0.7  # target utilisation of load-aware sizing (None: fixed capacity)
    deadline_margin: float = 1.01  # load-aware: deadline >= margin x the request's cloud latency


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
    load: float | str | None = PROFILE_LOAD,
    links: int | None = None,
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

    Load-aware sizing (``load`` = target utilisation rho in (0, 1e3], default the profile's 0.7;
    ``load=None`` keeps the profile's fixed per-server capacities). Let ``d_s`` be the number of
    users whose highest-gain server is s (the radio of their cloud option) or who live in s's
    cell, whichever is larger, and ``K0, G0`` the profile's subchannels and GPU slots. Then

    * subchannels ``K_s = max(K0, ceil(d_s / rho))``; up/downlink bandwidth and backhaul scale
      with ``K_s / K0`` (the bandwidth, backhaul rate per subchannel stay the profile's);
    * GPU slots ``G_s = max(G0, ceil(K_s G0 / K0))``; compute and GPU memory scale with
      ``G_s / G0`` (more GPUs of the same kind: per-slot speed and memory per GPU unchanged);
    * a drawn deadline below the request's cloud latency at these shares (relayed by its
      highest-gain server) is raised to ``deadline_margin`` (1.01) times that latency, and a
      drawn energy budget below that upload's transmit energy ``p D_in / r_up`` to
      ``deadline_margin`` times it (a deep fade on a user's only link, ``links=1``, can make
      it tens of joules).

    Consequence (by construction, for every N and seed): the all-cloud assignment uses at most
    ``rho K_s`` subchannels per server and meets every deadline with zero device compute, so the
    default :class:`~aigc_opt.problems.offloading.data.OffloadingSpec` (cloud allowed, hard
    deadlines, energy budgets) is feasible with probability 1 when ``rho <= 1``: every
    request's cloud option meets its deadline and its energy budget. Small scenarios with
    ``d_s <= rho K0`` and no floor binding are unchanged (same random draws; sizing consumes
    no random numbers).

    Sparse channel (``links=k``): each user hears only its ``k`` nearest servers, searched in
    the ``(2r+1)^2`` grid cells around its home server (``r = max(1, ceil(sqrt(k) / 2))``, doubled
    until every user has ``k`` servers in its window); the
    scenario stores ``link_server`` / ``link_gain`` (N, k) instead of the dense
    ``channel_gain``, so time and memory are O(N k) (the ``max_entries`` limit applies to
    ``N * k``). Fading is drawn for the links only, so the scenario is not the dense one of
    the same seed (use :meth:`aigc_opt.scenario.Scenario.sparse` for that).
    """
    from .scenario import Scenario

    check_choice("profile", profile, PROFILES)
    limit = MAX_ENTRIES if max_entries is None else check_int("max_entries", max_entries, "-", 1)
    N = check_size("n_users", n_users, limit)
    S = check_size("n_servers", n_servers, limit)
    M = check_size("n_models", n_models, limit)
    p = PROFILES[profile]
    K = None if links is None else min(check_int("links", links, "-", 1, int(bound("count"))), S)
    check_entries("n_users*n_servers" if K is None else "n_users*links", N * (S if K is None
                                                                              else K), limit)
    check_entries("n_models*breakpoints", M * len(p.quality_breakpoints), limit)
    rho = p.load if isinstance(load, str) and load == PROFILE_LOAD else load
    rho = check_scalar("load", rho, "-", 0.0, bound("utilisation"), strict=True, optional=True)
    unknown = sorted(set(overrides) - set(FIELDS))
    if unknown:  # the closest match among the fields and generate's own arguments
        raise UnknownNameError("scenario field", unknown[0], [*FIELDS, *GENERATE_ARGUMENTS])
    rng = np.random.default_rng(check_seed("seed", seed))

    side = int(np.ceil(np.sqrt(S)))
    spacing = 2.0 * p.distance_m[1]
    grid = np.stack(np.meshgrid(np.arange(side), np.arange(side), indexing="ij"), -1)
    server_pos = grid.reshape(-1, 2)[:S] * spacing
    home = rng.integers(0, S, size=N)
    dist = _u(rng, p.distance_m, N)
    angle = rng.uniform(0.0, 2.0 * np.pi, size=N)
    user_pos = server_pos[home] + dist[:, None] * np.stack([np.cos(angle), np.sin(angle)], -1)
    if K is None:
        link_server = None
        d = np.sqrt(((user_pos[:, None, :] - server_pos[None, :, :]) ** 2).sum(-1))
    else:
        link_server, d = _nearest_servers(user_pos, server_pos, home, side, K)
    gain = path_loss_gain(
        d, antenna_gain=p.antenna_gain, carrier_hz=p.carrier_hz, exponent=p.path_loss_exponent
    ) * fading_power(rng, d.shape, kind=p.fading, rician_k=p.rician_k)

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
        channel_gain=gain if K is None else None,
        link_server=link_server,
        link_gain=None if K is None else gain,
        noise_psd_w_per_hz=dbm_to_watt(p.noise_dbm_per_hz),
        antenna_gain=p.antenna_gain,
        carrier_hz=p.carrier_hz,
        path_loss_exponent=p.path_loss_exponent,
        fading=p.fading,
        rician_k=p.rician_k,
    )
    if rho is not None:
        with derived_from(n_users=N, n_servers=S, load=rho):
            fields.update(_load_sizing(p, fields, home, rho))
    fields.update(overrides)
    return Scenario(**fields)


def _nearest_servers(user_pos: np.ndarray, server_pos: np.ndarray, home: np.ndarray,
                     side: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest servers of each user among the grid cells around its home server
    (see :func:`generate`), sorted by server index, and their distances; O(N r^2)."""
    S = server_pos.shape[0]
    r = max(1, int(np.ceil(np.sqrt(k) / 2.0)))
    while True:  # widen the window until every user (corners too) has k servers in it
        off = np.arange(-r, r + 1)
        di, dj = (a.reshape(-1) for a in np.meshgrid(off, off, indexing="ij"))
        ci = (home // side)[:, None] + di[None, :]
        cj = (home % side)[:, None] + dj[None, :]
        cand = ci * side + cj
        ok = (ci >= 0) & (ci < side) & (cj >= 0) & (cj < side) & (cand < S)
        if int(ok.sum(axis=1).min()) >= k or r >= side:
            break
        r *= 2
    cand = np.where(ok, cand, 0)
    dx = user_pos[:, 0, None] - server_pos[cand, 0]
    dy = user_pos[:, 1, None] - server_pos[cand, 1]
    d = np.sqrt(dx * dx + dy * dy)
    d[~ok] = np.inf
    top = np.argpartition(d, k - 1, axis=1)[:, :k]
    srv = np.take_along_axis(cand, top, axis=1)
    dist = np.take_along_axis(d, top, axis=1)
    order = np.argsort(srv, axis=1)
    return np.take_along_axis(srv, order, axis=1), np.take_along_axis(dist, order, axis=1)


def _load_sizing(p: Profile, f: dict[str, Any], home: np.ndarray, rho: float
                 ) -> dict[str, Any]:
    """Per-server capacities sized to utilisation ``rho``, deadline and energy-budget floors (see
    :func:`generate`); returns the changed fields."""
    N, S = f["request_model"].shape[0], f["server_compute_flops"].shape[0]
    if f["channel_gain"] is not None:
        best = np.argmax(f["channel_gain"], axis=1)
        g = f["channel_gain"][np.arange(N), best]
    else:
        col = np.argmax(f["link_gain"], axis=1)
        best = f["link_server"][np.arange(N), col]
        g = f["link_gain"][np.arange(N), col]
    demand = np.maximum(np.bincount(best, minlength=S), np.bincount(home, minlength=S))
    k0, g0 = int(p.server_subchannels), int(p.server_gpu_slots)
    K = check_array("server_subchannels", "-", np.maximum(k0, np.ceil(demand / rho)),
                    high=bound("count"), dtype=np.int64)
    G = check_array("server_gpu_slots", "-", np.maximum(g0, np.ceil(K * g0 / k0)),
                    high=bound("count"), dtype=np.int64)
    kf, gf = K / k0, G / g0
    out: dict[str, Any] = dict(
        server_subchannels=K,
        server_gpu_slots=G,
        server_uplink_hz=f["server_uplink_hz"] * kf,
        server_downlink_hz=f["server_downlink_hz"] * kf,
        server_backhaul_bps=f["server_backhaul_bps"] * kf,
        server_compute_flops=f["server_compute_flops"] * gf,
        server_gpu_memory_bytes=f["server_gpu_memory_bytes"] * gf,
    )
    # cloud latency relayed by the best server at the per-subchannel shares (the physics of
    # aigc_opt.problems.offloading.data.link_times; the core cannot import a family)
    n0 = f["noise_psd_w_per_hz"]
    b_up = (out["server_uplink_hz"] / K)[best]
    b_dl = (out["server_downlink_hz"] / K)[best]
    r_up = shannon_rate(b_up, f["user_tx_power_w"], g, n0)
    r_dl = shannon_rate(b_dl, f["server_tx_power_w"][best], g, n0)
    bits_in, bits_out = f["request_input_bits"], f["request_output_bits"]
    work = f["request_steps"] * f["model_flop_per_step"][f["request_model"]]
    with np.errstate(divide="ignore"):
        lat = (bits_in / r_up + bits_out / r_dl
               + (bits_in + bits_out) / (out["server_backhaul_bps"] / K)[best]
               + f["cloud_latency_s"] + work / f["cloud_compute_flops"])
    floor = np.where(np.isfinite(lat), p.deadline_margin * lat, np.inf)
    out["request_deadline_s"] = np.maximum(f["request_deadline_s"], floor)
    # the cloud option's device energy is the upload's transmit energy p D_in / r_up: under a
    # deep fade (one link, gain 1e-17) it exceeds any drawn budget, so it is a floor too
    with np.errstate(divide="ignore", invalid="ignore"):
        e_tx = f["user_tx_power_w"] * bits_in / r_up
    floor = np.where(np.isfinite(e_tx), p.deadline_margin * e_tx, np.inf)
    out["user_energy_budget_j"] = np.maximum(f["user_energy_budget_j"], floor)
    return out
