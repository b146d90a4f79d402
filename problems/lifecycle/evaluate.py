r"""Independent referee of :class:`~.data.LifecycleAllocation` (numpy only, no solver data).

From the instance and the allocation it recomputes, per epoch window (T demand slots, slot t
weighted ``window / T``):

* training: FLOPs (``6 P D E`` full, ``4 P D E + 6 P_a D E`` LoRA), their cost and energy on the
  trainer (split LoRA: the fraction ``phi`` on each region's devices, by data share), the bytes
  sent to the trainer (raw data or activations) and the raw bytes that leave devices (privacy);
* delivery: the fine-tuned model (full) or adapter (LoRA) sent to every hosting node other than
  the trainer, to each of its replicas;
* inference: requests routed to each node, their FLOPs, cost, energy and latency;
* quality: requests of the window times the option's quality at the service's data volume,

and the objective ``w_c C + w_l Lambda + w_e E + w_p Pi + w_d Delta + w_r R + w_q (n - Q)``
(n requests in the window: quality enters as the loss ``1 - q`` per request, so J >= 0).
Violations (relative): ``option`` (not allowed), ``train_node`` (wrong node kind, unreachable
data, or a trainer for mode none), ``upload_window`` (1 where a region's data/activation upload
is longer than the window, beyond float rounding: :func:`aigc_opt.metrics.misfit`),
``host_kind``, ``route_host`` (routed to a node that does not host the service), ``reach``
(unreachable node), ``served`` (routing + rejection != 1 per demand group), ``nonnegative``,
``reject`` (rejection without a penalty), ``memory`` (per node), ``compute`` (per node and
slot), and ``cost_budget`` / ``quality_floor`` / ``privacy_limit`` when the spec sets them.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from aigc_opt.metrics import (
    Metrics,
    allocation_mismatch,
    misfit,
    register_evaluator,
    relative_excess,
)

from .data import (
    DEVICE,
    FULL,
    LORA,
    NONE,
    SPLIT,
    LifecycleAllocation,
    LifecycleInstance,
    spec_of,
)
from .data_physics import (
    inference_flops,
    kind_codes,
    mode_codes,
    option_physics,
    request_latency,
)

logger = logging.getLogger(__name__)


def evaluate_lifecycle(inst: LifecycleInstance, alloc: LifecycleAllocation,
                       objective: Any = None) -> Metrics:
    """Metrics of a life-cycle allocation: cost, latency, energy, privacy, quality, violations.

    Returns
    -------
    Metrics
        ``totals`` (over the epoch window): ``cost``, ``train_cost``, ``inference_cost``,
        ``transfer_cost`` (cost unit); ``latency_total_s`` (request*s: each request's latency,
        s, times the requests of the window that take it, summed; the quantity the weight
        ``latency``, cost/(request*s), prices) and ``latency_mean_s`` (s per served
        request); ``energy_j`` (J); ``privacy_bytes``, ``wire_bytes``, ``delivery_bytes``
        (byte); ``delivery_time_s`` (s); ``quality_total`` (request), ``quality_mean`` (1);
        ``requests``, ``rejected``, ``fine_tuned`` (count). ``per_item``: ``quality`` (1, per
        service), ``memory_bytes`` (byte, per node), ``train_flop`` (FLOP, the training work of
        each service, not a rate), ``compute_load`` (FLOP/s, per slot and node) and
        ``delivery_bytes`` (byte, per service).
    """
    spec = spec_of(objective)
    w = spec.weights
    sh = inst.shape
    T, S, U, N = sh["T"], sh["S"], sh["U"], sh["N"]
    if alloc.route.shape != (T, S, U, N) or alloc.option.shape != (S,):
        raise allocation_mismatch(
            f"allocation route {alloc.route.shape} does not fit an instance with "
            f"(T, S, U, N) = {(T, S, U, N)}")
    win = inst.window_s
    phys = option_physics(inst)
    svc = np.arange(S)
    opt = np.clip(alloc.option, 0, sh["O"] - 1)
    mode = inst.option_mode[opt]
    model = inst.option_model[opt]
    tn = alloc.train_node
    trained = (mode != NONE) & (tn >= 0) & (tn < N)
    tn0 = np.where(trained, tn, 0)
    dev = inst.device_of_region()
    kind = inst.node_kind
    v: dict[str, np.ndarray] = {}

    # --- choice checks
    ok_opt = (alloc.option >= 0) & (alloc.option < sh["O"])
    ok_opt &= inst.service_allowed[svc, opt] & np.isin(mode, mode_codes(spec.modes))
    v["option"] = (~ok_opt).astype(float)
    bad_tn = np.where(mode == NONE, tn != -1, ~trained)
    bad_tn |= trained & ~np.isin(kind[tn0], kind_codes(spec.train_kinds))
    bad_tn |= trained & (mode == SPLIT) & (kind[tn0] == DEVICE)
    has = inst.data_tokens > 0  # (S, U)
    local = dev[None, :] == tn0[:, None]  # (S, U): trainer is region u's devices
    moves = has & trained[:, None] & ~(local & (mode != SPLIT)[:, None])
    reach = np.isfinite(inst.link_latency_s[:, tn0].T)  # (S, U)
    bad_tn |= (moves & ~reach).any(axis=1)
    bad_tn |= ((mode == SPLIT)[:, None] & has & (dev[None, :] < 0)).any(axis=1)
    v["train_node"] = bad_tn.astype(float)
    wire_u = phys.wire_bytes_region[svc, opt] * moves  # (S, U) bytes each region sends
    bw = inst.link_bandwidth_bps[:, tn0].T
    t_up = np.where(moves & reach, 8.0 * wire_u / bw, 0.0)
    v["upload_window"] = misfit(t_up.max(axis=1, initial=0.0), win)  # one region's upload
    v["host_kind"] = (alloc.host & ~np.isin(kind, kind_codes(spec.host_kinds))[None, :]).any(
        axis=1).astype(float)

    # --- routing checks
    dem = inst.demand_rps
    route, rej = alloc.route, alloc.reject
    need = dem > 0
    served = route.sum(axis=3) + rej
    v["served"] = np.where(need, np.abs(served - 1.0), 0.0)
    v["nonnegative"] = np.maximum(np.maximum(-route, 0.0).max(axis=3), np.maximum(-rej, 0.0))
    v["route_host"] = (route * ~alloc.host[None, :, None, :]).max(axis=3) * need
    unreach = ~np.isfinite(inst.link_latency_s)  # (U, N)
    v["reach"] = (route * unreach[None, None]).max(axis=3) * need
    if spec.reject_penalty is None:
        v["reject"] = rej * need

    # --- memory per node (per replica)
    wbytes = inst.bytes_per_param * inst.model_params[model]  # (S,)
    mem = (alloc.host * wbytes[:, None]).sum(axis=0)
    np.add.at(mem, tn0[trained], phys.mem[svc, opt][trained])
    split = trained & (mode == SPLIT)
    sd, ud = np.nonzero(split[:, None] & has & (dev[None, :] >= 0))
    np.add.at(mem, dev[ud], phys.mem_device[sd, opt[sd]])
    v["memory"] = relative_excess(mem, inst.node_memory_bytes)

    # --- training work, energy and cost
    phi = inst.split_fraction
    flops = phys.flops[svc, opt] * trained
    server_f = np.where(split, (1 - phi) * flops, flops)
    D = inst.data_tokens
    Ds = D.sum(axis=1)
    dev_f = np.where(split[:, None] & (Ds[:, None] > 0),
                     phi * flops[:, None] * D / np.where(Ds > 0, Ds, 1.0)[:, None], 0.0)
    train_load = np.zeros(N)
    np.add.at(train_load, tn0, server_f)
    np.add.at(train_load, np.where(dev >= 0, dev, 0), np.where(dev >= 0, dev_f, 0.0).sum(0))
    price, epf = inst.node_cost_per_flop, inst.node_energy_per_flop
    train_cost = float((train_load * price).sum())
    train_energy = float((train_load * epf).sum())
    wire_bytes = float(wire_u.sum())
    raw = D * inst.token_bytes
    priv = float((raw * moves * np.isin(mode, (FULL, LORA))[:, None]).sum())

    # --- delivery
    deliver = phys.deliver_bytes[svc, opt] * (mode != NONE)  # per replica
    recv = alloc.host & ~(trained[:, None] & (np.arange(N)[None, :] == tn0[:, None]))
    recv &= (mode != NONE)[:, None]
    dbytes = recv * deliver[:, None] * inst.node_replicas[None, :]  # (S, N)
    deliver_bytes = float(dbytes.sum())
    deliver_time = float((dbytes * 8.0 / (inst.node_backhaul_bps * inst.node_replicas)).sum())

    # --- inference
    f = inference_flops(inst)[svc, model]  # (S,)
    lat = request_latency(inst)[svc, :, model, :]  # (S, U, N)
    reqs = win / T * dem[..., None] * route  # requests in the window, (T, S, U, N)
    node_flop = (reqs * f[None, :, None, None]).sum(axis=(1, 2))  # (T, N)
    inf_cost = float((node_flop * price).sum())
    inf_energy = float((node_flop * epf).sum())
    with np.errstate(invalid="ignore"):
        lat_total = float(np.where(reqs > 0, reqs * lat[None], 0.0).sum())
    load = T * node_flop / win + train_load[None, :] / win  # FLOP/s per slot
    v["compute"] = relative_excess(load, np.broadcast_to(inst.utilisation * inst.node_flops,
                                                         (T, N)))
    n_req = win * dem.mean(axis=0).sum(axis=1)  # (S,)
    q = phys.quality[svc, opt]
    quality_total = float((n_req * q).sum())
    rejected = float((win / T * dem * rej).sum())

    cost = train_cost + inf_cost + inst.transfer_cost_per_byte * (wire_bytes + deliver_bytes)
    energy = train_energy + inf_energy
    objective = (w.cost * cost + w.latency * lat_total + w.energy * energy + w.privacy * priv
                 + w.delivery_time * deliver_time + w.quality * (n_req.sum() - quality_total))
    if spec.reject_penalty is not None:
        objective += spec.reject_penalty * rejected
    if spec.cost_budget < np.inf:
        v["cost_budget"] = relative_excess(np.array([cost]), np.array([spec.cost_budget]))
    if spec.quality_floor > -np.inf:
        v["quality_floor"] = relative_excess(np.array([-quality_total]),
                                             np.array([-spec.quality_floor]))
    if spec.privacy_limit_bytes < np.inf:
        v["privacy_limit"] = np.array([max(priv - spec.privacy_limit_bytes, 0.0)
                                       / max(spec.privacy_limit_bytes, 1.0)])
    n_all = float(n_req.sum())
    totals = {
        "cost": cost,
        "train_cost": train_cost,
        "inference_cost": inf_cost,
        "transfer_cost": inst.transfer_cost_per_byte * (wire_bytes + deliver_bytes),
        "latency_total_s": lat_total,
        "latency_mean_s": lat_total / max(n_all - rejected, 1e-300),
        "energy_j": energy,
        "privacy_bytes": priv,
        "wire_bytes": wire_bytes,
        "delivery_bytes": deliver_bytes,
        "delivery_time_s": deliver_time,
        "quality_total": quality_total,
        "quality_mean": quality_total / n_all if n_all else 0.0,
        "requests": n_all,
        "rejected": rejected,
        "fine_tuned": float((mode != NONE).sum()),
    }
    per_item = {
        "quality": q,
        "memory_bytes": mem,
        "train_flop": flops,
        "compute_load": load,
        "delivery_bytes": dbytes.sum(axis=1),
    }
    return Metrics.from_arrays("lifecycle", float(objective), per_item, totals, v)


register_evaluator(LifecycleAllocation, evaluate_lifecycle)
