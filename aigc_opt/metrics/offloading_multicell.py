r"""Multi-cell offloading with edge-to-edge forwarding: allocation type and evaluator.

A request uploads to its radio server ``r`` (``radio_server``) and is processed at server
``s`` (``placement``); when ``s != r`` its input and output cross the inter-server link
``r -> s`` (and back) at the rate ``forward_bps`` given to it, which adds

    ``t_fw = (D_in + D_out) / forward_bps``

to the latency of :func:`aigc_opt.metrics.offloading.link_times` (whose other terms are used
unchanged: uplink/downlink on the radio server's channel, compute at ``s``, cloud backhaul).
Forwarding energy is not modelled. Constraints are those of the single-cell evaluator, with the
radio resources (band, subchannels, backhaul) summed per radio server and compute, GPU slots
and cached models per processing server, plus the link capacity: the forwarding rates on each
directed link ``r -> s`` sum to at most its capacity (given by the spec's ``forward_bps``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..allocation import CLOUD, LOCAL, OffloadAllocation, _ro
from ..quality import quality
from ..scenario import Scenario
from . import FEAS_TOL, Metrics, p95, register_evaluator, relative_excess
from .offloading import _objective_of, _safe_div, link_times


@dataclass(frozen=True, eq=False)
class MulticellAllocation(OffloadAllocation):
    """An :class:`OffloadAllocation` whose edge requests may run away from their radio server.

    Parameters
    ----------
    forward_bps : ndarray, shape (N,)
        Rate given on the inter-server link ``radio_server -> placement``, bit/s (0 when the
        request is not forwarded). Other fields as in :class:`OffloadAllocation`; for an edge
        request ``radio_server`` may differ from ``placement``.
    """

    forward_bps: np.ndarray

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "forward_bps", _ro(self.forward_bps, np.float64,
                                                    "forward_bps", "bit/s", (self.n_users,)))

    @property
    def forwarded(self) -> np.ndarray:
        """True for edge requests processed away from their radio server."""
        return (self.placement >= 0) & (self.radio_server != self.placement)


def link_capacity(forward_bps: Any, n_servers: int) -> np.ndarray:
    """The (S, S) link-capacity matrix from a scalar or an (S, S) array, bit/s."""
    cap = np.asarray(forward_bps, dtype=float)
    if cap.ndim == 0:
        cap = np.full((n_servers, n_servers), float(cap))
    return cap


def evaluate_multicell(scn: Scenario, alloc: MulticellAllocation, objective: Any = None
                       ) -> Metrics:
    """Metrics of a multi-cell allocation (module docstring); ``objective`` may be the spec,
    whose ``forward_bps`` gives the link capacities (without it they are not checked)."""
    obj = _objective_of(objective)
    N, S, M = scn.n_users, scn.n_servers, scn.n_models
    if alloc.n_users != N or alloc.cache.shape != (S, M):
        raise ValueError(f"allocation for {alloc.n_users} users / cache {alloc.cache.shape} "
                         f"does not fit {N} users, {S} servers, {M} models")
    pl, rs = alloc.placement, alloc.radio_server
    remote, cloud, edge = pl != LOCAL, pl == CLOUD, pl >= 0
    t = dict(link_times(scn, alloc))
    fwd = alloc.forwarded
    t["t_forward_s"] = np.where(fwd, _safe_div(scn.request_input_bits + scn.request_output_bits,
                                               alloc.forward_bps), 0.0)
    lat = t["latency_s"] + t["t_forward_s"]
    t["latency_s"] = lat
    q = quality(scn, scn.request_model, alloc.steps)
    late = np.maximum(lat - scn.request_deadline_s, 0.0)
    late = np.where(np.isnan(late), np.inf, late)
    cloud_cost = scn.cloud_cost_per_flop * float(t["remote_flop"][cloud].sum())
    load_time = float((alloc.cache * (scn.model_size_bytes * 8.0)[None, :]
                       / scn.server_load_bps[:, None]).sum())

    v: dict[str, np.ndarray] = {}
    bad_code = ~((pl == LOCAL) | (pl == CLOUD) | ((pl >= 0) & (pl < S)))
    v["placement"] = bad_code.astype(float)
    bad_radio = remote & ~((rs >= 0) & (rs < S))
    v["radio_server"] = bad_radio.astype(float)
    ok = remote & ~bad_radio & ~bad_code
    rsv = np.where(ok, rs, 0)
    per = lambda w: np.bincount(rsv, weights=np.where(ok, w, 0.0), minlength=S)  # noqa: E731
    v["uplink_hz"] = relative_excess(per(alloc.uplink_hz), scn.server_uplink_hz)
    v["downlink_hz"] = relative_excess(per(alloc.downlink_hz), scn.server_downlink_hz)
    v["subchannels"] = relative_excess(per(np.ones(N)), scn.server_subchannels)
    v["backhaul_bps"] = relative_excess(per(np.where(cloud, alloc.backhaul_bps, 0.0)),
                                        scn.server_backhaul_bps)
    okc = edge & ~bad_code
    plv = np.where(okc, pl, 0)
    per_e = lambda w: np.bincount(plv, weights=np.where(okc, w, 0.0), minlength=S)  # noqa: E731
    v["compute_flops"] = relative_excess(per_e(alloc.compute_flops), scn.server_compute_flops)
    v["gpu_slots"] = relative_excess(per_e(np.ones(N)), scn.server_gpu_slots)
    v["cloud_compute"] = relative_excess(np.where(cloud, alloc.compute_flops, 0.0),
                                         np.full(N, scn.cloud_compute_flops))
    mem = (alloc.cache * scn.model_size_bytes[None, :]).sum(axis=1)
    v["gpu_memory"] = relative_excess(mem, scn.server_gpu_memory_bytes)
    v["model_cached"] = (okc & ~alloc.cache[plv, scn.request_model]).astype(float)
    spec_cap = getattr(objective, "forward_bps", None)
    checked = spec_cap is not None
    if checked:
        cap = link_capacity(spec_cap, S)
        okf = fwd & ok & okc
        key = np.where(okf, rsv * S + plv, 0)
        used = np.bincount(key, weights=np.where(okf, alloc.forward_bps, 0.0), minlength=S * S)
        v["link_capacity"] = relative_excess(used, cap.reshape(-1))
    v["deadline"] = np.where(np.isinf(late), np.inf, late / scn.request_deadline_s)
    v["energy_budget"] = relative_excess(t["device_energy_j"], scn.user_energy_budget_j)
    v["tx_power"] = relative_excess(np.where(remote, alloc.tx_power_w, 0.0), scn.user_tx_power_w)
    v["steps"] = np.maximum(1.0 - alloc.steps, 0.0)
    neg = np.zeros(N)
    for name in ("uplink_hz", "downlink_hz", "tx_power_w", "compute_flops", "backhaul_bps",
                 "remote_steps", "device_steps", "forward_bps"):
        neg = np.maximum(neg, np.maximum(-getattr(alloc, name), 0.0))
    v["nonnegative"] = neg
    violations = {k: float(np.max(a, initial=0.0)) for k, a in v.items()}
    counts = {k: int((a > FEAS_TOL).sum()) for k, a in v.items()}
    hard = frozenset(k for k in v if not (k == "deadline" and obj.deadline == "penalty"))

    per_user_cost = (obj.latency * lat + obj.device_energy * t["device_energy_j"]
                     + obj.server_energy * t["server_energy_j"] - obj.quality * q)
    if obj.deadline == "penalty":
        per_user_cost = per_user_cost + obj.deadline_penalty * late
    with np.errstate(invalid="ignore"):
        total = float((scn.request_weight * per_user_cost).sum())
    value = total + obj.cloud_cost * cloud_cost + obj.load * load_time
    per_item = dict(t)
    per_item.update({"quality": q, "lateness_s": late,
                     "cost": scn.request_weight * per_user_cost})
    totals = {
        "latency_mean_s": float(lat.mean()),
        "latency_p95_s": p95(lat),
        "device_energy_total_j": float(t["device_energy_j"].sum()),
        "energy_total_j": float((t["device_energy_j"] + t["server_energy_j"]).sum()),
        "quality_mean": float(q.mean()),
        "cloud_cost": cloud_cost,
        "load_time_s": load_time,
        "frac_local": float((pl == LOCAL).mean()),
        "frac_edge": float(edge.mean()),
        "frac_cloud": float(cloud.mean()),
        "frac_forwarded": float(fwd.mean()),
        "link_capacity_checked": float(checked),
    }
    return Metrics(family="offloading.multicell", objective=value, per_item=per_item,
                   totals=totals, violations=violations, violation_counts=counts, hard=hard)


register_evaluator(MulticellAllocation, evaluate_multicell)
