"""Independent evaluator of :class:`~aigc_opt.allocation.OffloadAllocation`.

Physics (per request n with model m, radio server s, all SI):

* uplink   ``t_up = D_in / (b_up log2(1 + p g_ns / (N0 b_up)))``;
* downlink ``t_dl = D_out / (b_dl log2(1 + P_s g_ns / (N0 b_dl)))``;
* remote compute ``t_rc = k_rem * phi_m / f_rem`` (edge share or cloud speed);
* cloud backhaul ``t_bh = (D_in + D_out) / R_n + tau_cloud`` (cloud requests only);
* device compute ``t_dc = k_dev * phi_m / f_dev``;
* latency ``L = t_up + t_bh + t_rc + t_dl + t_dc`` (0 comm terms for local execution);
* device energy ``E_dev = p t_up + kappa k_dev phi_m f_dev^2``;
* server energy ``E_srv = e * k_rem * phi_m`` (edge or cloud energy per FLOP);
* quality ``Q = q_m(k_rem + k_dev)``.

Every capacity is checked as a sum per server with ``np.bincount``; nothing here reads a
solver's matrices.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..allocation import CLOUD, LOCAL, OffloadAllocation, OffloadObjective
from ..channel import shannon_rate
from ..quality import quality
from ..scenario import Scenario
from . import Metrics, p95, register_evaluator, relative_excess


def _objective_of(objective: Any) -> OffloadObjective:
    if objective is None:
        return OffloadObjective()
    if isinstance(objective, OffloadObjective):
        return objective
    obj = getattr(objective, "objective", None)
    if isinstance(obj, OffloadObjective):
        return obj
    raise TypeError(f"expected an OffloadObjective or a spec with one, got {type(objective)}")


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with 0/0 = 0 and x/0 = inf for x > 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(num > 0, num / den, 0.0)
    return np.where((num > 0) & (den <= 0), np.inf, out)


def link_times(scn: Scenario, alloc: OffloadAllocation, users: np.ndarray | None = None
               ) -> dict[str, np.ndarray]:
    """Per-request time components and energies, s / J (see the module docstring).

    ``users[i]`` is the scenario user of allocation row i (default: row i is user i); builders
    use it to score many candidate options of the same user in one vectorised call.
    """
    S = scn.n_servers
    pl, rs = alloc.placement, alloc.radio_server
    remote = pl != LOCAL
    cloud = pl == CLOUD
    rs_c = np.clip(rs, 0, S - 1)
    n = np.arange(alloc.n_users) if users is None else np.asarray(users)
    g = scn.channel_gain[n, rs_c]
    n0 = scn.noise_psd_w_per_hz
    r_up = shannon_rate(alloc.uplink_hz, alloc.tx_power_w, g, n0)
    r_dl = shannon_rate(alloc.downlink_hz, scn.server_tx_power_w[rs_c], g, n0)
    t_up = np.where(remote, _safe_div(scn.request_input_bits[n], r_up), 0.0)
    t_dl = np.where(remote, _safe_div(scn.request_output_bits[n], r_dl), 0.0)
    t_bh = np.where(
        cloud,
        _safe_div(scn.request_input_bits[n] + scn.request_output_bits[n], alloc.backhaul_bps)
        + scn.cloud_latency_s,
        0.0,
    )
    phi = scn.model_flop_per_step[scn.request_model[n]]
    w_rem = np.where(remote, alloc.remote_steps * phi, 0.0)
    w_dev = np.where(remote, alloc.device_steps, alloc.device_steps + alloc.remote_steps) * phi
    t_rc = _safe_div(w_rem, alloc.compute_flops)
    f_dev = scn.user_compute_flops[n]
    t_dc = w_dev / f_dev
    e_dev = alloc.tx_power_w * np.where(np.isfinite(t_up), t_up, np.inf) * remote
    e_dev = np.nan_to_num(e_dev, nan=0.0) + scn.user_kappa[n] * w_dev * f_dev**2
    pl_c = np.clip(pl, 0, S - 1)
    e_srv = np.where(cloud, scn.cloud_energy_per_flop_j, scn.server_energy_per_flop_j[pl_c]) * w_rem
    return {
        "t_uplink_s": t_up,
        "t_downlink_s": t_dl,
        "t_backhaul_s": t_bh,
        "t_remote_compute_s": t_rc,
        "t_device_compute_s": t_dc,
        "latency_s": t_up + t_bh + t_rc + t_dl + t_dc,
        "device_energy_j": e_dev,
        "server_energy_j": e_srv,
        "remote_flop": w_rem,
    }


def evaluate_offloading(
    scn: Scenario, alloc: OffloadAllocation, objective: Any = None
) -> Metrics:
    """Metrics of an offloading allocation: latency, energy, quality, objective, violations."""
    return offloading_metrics(scn, alloc, _objective_of(objective))


def offloading_metrics(
    scn: Scenario,
    alloc: OffloadAllocation,
    obj: OffloadObjective,
    *,
    family: str = "offloading",
    forward_s: np.ndarray | None = None,
    extra_violations: dict[str, np.ndarray] | None = None,
    extra_totals: dict[str, float] | None = None,
) -> Metrics:
    """The offloading metrics; the multi-cell evaluator extends them with ``forward_s``
    (per-request edge-to-edge forwarding time, s, added to the latency; an edge request may
    then use another server's radio) and its own violations and totals."""
    N, S, M = scn.n_users, scn.n_servers, scn.n_models
    if alloc.n_users != N or alloc.cache.shape != (S, M):
        raise ValueError(
            f"allocation for {alloc.n_users} users / cache {alloc.cache.shape} does not fit a "
            f"scenario with {N} users, {S} servers, {M} models"
        )
    pl = alloc.placement
    remote, cloud, edge = pl != LOCAL, pl == CLOUD, pl >= 0
    t = dict(link_times(scn, alloc))
    if forward_s is not None:
        t["t_forward_s"] = forward_s
        t["latency_s"] = t["latency_s"] + forward_s
    lat = t["latency_s"]
    q = quality(scn, scn.request_model, alloc.steps)
    late = np.maximum(lat - scn.request_deadline_s, 0.0)
    late = np.where(np.isnan(late), np.inf, late)
    cloud_cost = scn.cloud_cost_per_flop * float(t["remote_flop"][cloud].sum())
    load_time = float((alloc.cache * (scn.model_size_bytes * 8.0)[None, :]
                       / scn.server_load_bps[:, None]).sum())

    v = resource_violations(scn, alloc, forwarding=forward_s is not None)
    v["deadline"] = np.where(np.isinf(late), np.inf, late / scn.request_deadline_s)
    v["energy_budget"] = relative_excess(t["device_energy_j"], scn.user_energy_budget_j)
    v["tx_power"] = relative_excess(np.where(remote, alloc.tx_power_w, 0.0), scn.user_tx_power_w)
    v["steps"] = np.maximum(1.0 - alloc.steps, 0.0)
    v.update(extra_violations or {})
    hard = frozenset(k for k in v if not (k == "deadline" and obj.deadline == "penalty"))

    w = scn.request_weight
    per_user_cost = (
        obj.latency * lat
        + obj.device_energy * t["device_energy_j"]
        + obj.server_energy * t["server_energy_j"]
        - obj.quality * q
    )
    if obj.deadline == "penalty":
        per_user_cost = per_user_cost + obj.deadline_penalty * late
    with np.errstate(invalid="ignore"):
        total = float((w * per_user_cost).sum())
    objective_value = total + obj.cloud_cost * cloud_cost + obj.load * load_time

    per_item = dict(t)
    per_item.update({"quality": q, "lateness_s": late, "cost": w * per_user_cost})
    energy = t["device_energy_j"] + t["server_energy_j"]
    totals = {
        "latency_mean_s": float(lat.mean()),
        "latency_p95_s": p95(lat),
        "device_energy_total_j": float(t["device_energy_j"].sum()),
        "energy_total_j": float(energy.sum()),
        "quality_mean": float(q.mean()),
        "cloud_cost": cloud_cost,
        "load_time_s": load_time,
        "frac_local": float((pl == LOCAL).mean()),
        "frac_edge": float(edge.mean()),
        "frac_cloud": float(cloud.mean()),
    }
    totals.update(extra_totals or {})
    return Metrics.from_arrays(family, objective_value, per_item, totals, v, hard)


def valid_masks(scn: Scenario, alloc: OffloadAllocation, *, forwarding: bool = False
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(bad placement code, bad radio server, remote and valid, edge and valid).

    Without ``forwarding`` an edge request must use its processing server's radio."""
    S = scn.n_servers
    pl, rs = alloc.placement, alloc.radio_server
    remote, edge = pl != LOCAL, pl >= 0
    bad_code = ~((pl == LOCAL) | (pl == CLOUD) | ((pl >= 0) & (pl < S)))
    bad_radio = remote & ~((rs >= 0) & (rs < S))
    if not forwarding:
        bad_radio |= edge & (rs != pl)
    return bad_code, bad_radio, remote & ~bad_radio & ~bad_code, edge & ~bad_code


def resource_violations(scn: Scenario, alloc: OffloadAllocation, *, forwarding: bool = False
                        ) -> dict[str, np.ndarray]:
    """Relative violations of the shared resources: radio band, subchannels and backhaul per
    radio server; compute, GPU slots, memory and held models per processing server; cloud
    compute; placement codes and non-negativity."""
    N, S = scn.n_users, scn.n_servers
    pl, rs = alloc.placement, alloc.radio_server
    cloud = pl == CLOUD
    bad_code, bad_radio, ok, okc = valid_masks(scn, alloc, forwarding=forwarding)
    v: dict[str, np.ndarray] = {
        "placement": bad_code.astype(float),
        "radio_server": bad_radio.astype(float),
    }
    rsv = np.where(ok, rs, 0)
    per = lambda w: np.bincount(rsv, weights=np.where(ok, w, 0.0), minlength=S)  # noqa: E731
    v["uplink_hz"] = relative_excess(per(alloc.uplink_hz), scn.server_uplink_hz)
    v["downlink_hz"] = relative_excess(per(alloc.downlink_hz), scn.server_downlink_hz)
    v["subchannels"] = relative_excess(per(np.ones(N)), scn.server_subchannels)
    v["backhaul_bps"] = relative_excess(per(np.where(cloud, alloc.backhaul_bps, 0.0)),
                                        scn.server_backhaul_bps)
    plv = np.where(okc, pl, 0)
    per_e = lambda w: np.bincount(plv, weights=np.where(okc, w, 0.0), minlength=S)  # noqa: E731
    v["compute_flops"] = relative_excess(per_e(alloc.compute_flops), scn.server_compute_flops)
    v["gpu_slots"] = relative_excess(per_e(np.ones(N)), scn.server_gpu_slots)
    v["cloud_compute"] = relative_excess(np.where(cloud, alloc.compute_flops, 0.0),
                                         np.full(N, scn.cloud_compute_flops))
    mem = (alloc.cache * scn.model_size_bytes[None, :]).sum(axis=1)
    v["gpu_memory"] = relative_excess(mem, scn.server_gpu_memory_bytes)
    v["model_cached"] = (okc & ~alloc.cache[plv, scn.request_model]).astype(float)
    neg = np.zeros(N)
    for name in ("uplink_hz", "downlink_hz", "tx_power_w", "compute_flops", "backhaul_bps",
                 "remote_steps", "device_steps", "forward_bps"):
        if hasattr(alloc, name):
            neg = np.maximum(neg, np.maximum(-getattr(alloc, name), 0.0))
    v["nonnegative"] = neg
    return v


register_evaluator(OffloadAllocation, evaluate_offloading)
