r"""Baselines for :class:`~.data.LifecycleSpec`, registered as heuristics.

``all_cloud``
    Everything in the cloud: each service picks, independently, the option whose training
    (at the cloud node) and inference (all regions routed to the cloud) minimise the objective.
    Capacity is not checked (the cloud is provisioned per service in the seeded profile); the
    evaluator reports any violation.
``edge_greedy``
    Fine-tune at the edge, greedily: services in decreasing order of demand pick the (option,
    edge server) pair with the best objective estimate (quality value minus training, transfer,
    privacy and inference terms with all reachable regions served there) that still fits the
    server's residual memory and compute; the model is trained and hosted at that server,
    regions that cannot reach it go to the cloud, which then also hosts the model (delivery).
    Services with no fitting edge option use a ``none`` option in the cloud, packed into its
    residual capacity by :func:`_pack`.
``no_finetune``
    Best placement without fine-tuning: the exact MILP restricted to mode ``none`` (HiGHS), i.e.
    what fine-tuning is worth. Given ``options.time_limit``, the MILP gets what is left of it
    after the build; stopped there it returns the better of its incumbent and ``all_cloud``
    restricted to mode ``none``, and says so.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

import numpy as np

from aigc_opt.backend import SolveOptions, get_backend
from aigc_opt.solve import HeuristicNote, register_heuristic

from .data import (
    CLOUD,
    EDGE,
    NONE,
    SPLIT,
    LifecycleAllocation,
    LifecycleInstance,
    LifecycleSpec,
)
from .data_physics import (
    device_train_share,
    inference_flops,
    mode_codes,
    option_physics,
    privacy_bytes,
    request_latency,
    wire_bytes,
    wire_ok,
)

logger = logging.getLogger(__name__)


def _train_value(inst: LifecycleInstance, spec: LifecycleSpec) -> tuple[np.ndarray, np.ndarray]:
    """Objective contribution of choosing option o trained at node n, (S, O, N), excluding
    inference; and whether it is possible (wire, mode and memory), (S, O, N)."""
    w = spec.weights
    phys = option_physics(inst)
    phi = inst.split_fraction
    mode = inst.option_mode
    split = (mode == SPLIT)[None, :, None]
    f = phys.flops[:, :, None]
    server = np.where(split, (1 - phi) * f, f)
    dev = inst.device_of_region()
    share = device_train_share(inst)
    dev_price = np.where(dev >= 0, inst.node_cost_per_flop[np.maximum(dev, 0)], 0.0)
    dev_en = np.where(dev >= 0, inst.node_energy_per_flop[np.maximum(dev, 0)], 0.0)
    dev_part = np.where(split, phi * f, 0.0)
    cost = (server * inst.node_cost_per_flop + dev_part * (share @ dev_price)[:, None, None]
            + wire_bytes(inst, phys) * inst.transfer_cost_per_byte)
    energy = server * inst.node_energy_per_flop + dev_part * (share @ dev_en)[:, None, None]
    n_req = inst.window_s * inst.demand_rps.mean(axis=0).sum(axis=1)
    val = (w.cost * cost + w.energy * energy + w.privacy * privacy_bytes(inst, phys)
           + w.quality * (n_req[:, None] * (1.0 - phys.quality))[:, :, None])
    ok = wire_ok(inst, phys) & inst.service_allowed[:, :, None]
    ok &= np.isin(mode, mode_codes(spec.modes))[None, :, None]
    ok &= phys.mem[:, :, None] <= inst.node_memory_bytes[None, None, :]
    return val, ok


def _serve_value(inst: LifecycleInstance, spec: LifecycleSpec) -> np.ndarray:
    """Objective of serving all of region u's requests for s with model m at node n over the
    window, (S, U, M, N) (inf where unreachable)."""
    w = spec.weights
    dem = inst.demand_rps.mean(axis=0)  # (S, U)
    reqs = inst.window_s * dem[:, :, None, None]
    f = inference_flops(inst)[:, None, :, None]
    unit = f * (w.cost * inst.node_cost_per_flop + w.energy * inst.node_energy_per_flop)
    lat = request_latency(inst)
    with np.errstate(invalid="ignore"):  # no requests x an unreachable node: 0 * inf
        val = reqs * (unit + w.latency * lat)
    return np.asarray(np.where(np.isinf(lat) | np.isinf(unit), np.inf, val))


def _pack(order: np.ndarray, total: np.ndarray, mem_need: np.ndarray, cpu_need: np.ndarray,
          mem_left: float, cpu_left: float) -> np.ndarray:
    """Greedy packing into one node: services in ``order`` take their best option (least
    ``total``, (S, O), inf = not allowed) whose memory and compute fit what is left after
    reserving, for every later service, its smallest need (so that the cheapest choice of the
    rest still fits); the smallest option when nothing fits. Returns the option per service."""
    allowed = np.isfinite(total)
    min_mem = np.where(allowed, mem_need, np.inf).min(axis=1)
    min_cpu = np.where(allowed, cpu_need, np.inf).min(axis=1)
    rest_mem = float(min_mem[order].sum())
    rest_cpu = float(min_cpu[order].sum())
    option = np.zeros(total.shape[0], dtype=np.int64)
    for s in order:  # one pass per service
        rest_mem -= min_mem[s]
        rest_cpu -= min_cpu[s]
        fits = allowed[s] & (mem_need[s] + rest_mem <= mem_left) & (
            cpu_need[s] + rest_cpu <= cpu_left)
        if fits.any():
            o = int(np.argmin(np.where(fits, total[s], np.inf)))
        else:
            o = int(np.argmin(np.where(allowed[s], mem_need[s], np.inf)))
        option[s] = o
        mem_left -= mem_need[s, o]
        cpu_left -= cpu_need[s, o]
    return option


def all_cloud(inst: LifecycleInstance, spec: LifecycleSpec, *, seed: int = 0
              ) -> LifecycleAllocation:
    """Train (if at all) and serve every service in the cloud (see module docstring); services
    in decreasing order of demand take the best option that fits the cloud's residual memory
    and compute (:func:`_pack`)."""
    sh = inst.shape
    T, S, U, N = sh["T"], sh["S"], sh["U"], sh["N"]
    cloud = int(np.nonzero(inst.node_kind == CLOUD)[0][0])
    tv, ok = _train_value(inst, spec)
    phys = option_physics(inst)
    none_ok = inst.service_allowed & (inst.option_mode == NONE)[None, :] & np.isin(
        inst.option_mode, mode_codes(spec.modes))[None, :]
    n_req = inst.window_s * inst.demand_rps.mean(axis=0).sum(axis=1)
    none_val = spec.weights.quality * n_req[:, None] * (1.0 - phys.quality)
    sv = _serve_value(inst, spec)[:, :, :, cloud]  # (S, U, M)
    serve = np.where(np.isfinite(sv), sv, 0.0).sum(axis=1)[:, inst.option_model]  # (S, O)
    train_ok = ok[:, :, cloud] & (inst.option_mode != SPLIT)[None, :]
    total = np.where(train_ok, tv[:, :, cloud], np.where(none_ok, none_val, np.inf)) + serve
    wbytes = inst.bytes_per_param * inst.model_params[inst.option_model]  # (O,)
    mem_need = np.where(train_ok, phys.mem, 0.0) + wbytes[None, :]
    peak = inst.demand_rps.max(axis=0).sum(axis=1)  # (S,)
    cpu_need = (peak[:, None] * inference_flops(inst)[:, inst.option_model]
                + np.where(train_ok, phys.flops, 0.0) / inst.window_s)
    option = _pack(np.argsort(-peak, kind="stable"), total, mem_need, cpu_need,
                   float(inst.node_memory_bytes[cloud]),
                   float(inst.utilisation * inst.node_flops[cloud]))
    trained = inst.option_mode[option] != NONE
    host = np.zeros((S, N), dtype=bool)
    host[:, cloud] = True
    route = np.zeros((T, S, U, N))
    route[..., cloud] = (inst.demand_rps > 0).astype(float)
    return LifecycleAllocation(option=option, train_node=np.where(trained, cloud, -1),
                               host=host, route=route, reject=np.zeros((T, S, U)))


def edge_greedy(inst: LifecycleInstance, spec: LifecycleSpec, *, seed: int = 0
                ) -> LifecycleAllocation:
    """Fine-tune at the edge, greedily by demand (see module docstring)."""
    sh = inst.shape
    T, S, U, N = sh["T"], sh["S"], sh["U"], sh["N"]
    cloud = int(np.nonzero(inst.node_kind == CLOUD)[0][0])
    edges = np.nonzero(inst.node_kind == EDGE)[0]
    tv, ok = _train_value(inst, spec)
    phys = option_physics(inst)
    sv = _serve_value(inst, spec)  # (S, U, M, N)
    reach = np.isfinite(inst.link_latency_s)  # (U, N)
    peak = inst.demand_rps.max(axis=0)  # (S, U) capacity is checked at the busiest slot
    f = inference_flops(inst)  # (S, M)
    mem_left = inst.node_memory_bytes.astype(float).copy()
    cpu_left = inst.utilisation * inst.node_flops.astype(float).copy()
    wbytes = inst.bytes_per_param * inst.model_params
    option = np.zeros(S, dtype=np.int64)
    train = np.full(S, -1, dtype=np.int64)
    host = np.zeros((S, N), dtype=bool)
    route = np.zeros((T, S, U, N))
    none_ok = inst.service_allowed & (inst.option_mode == NONE)[None, :] & np.isin(
        inst.option_mode, mode_codes(spec.modes))[None, :]
    n_req = inst.window_s * inst.demand_rps.mean(axis=0).sum(axis=1)
    dev = inst.device_of_region()
    data_dev = [dev[(inst.data_tokens[s] > 0) & (dev >= 0)] for s in range(S)]
    left: list[int] = []  # services no edge server can take: base model in the cloud
    for s in np.argsort(-inst.demand_rps.sum(axis=(0, 2)), kind="stable"):  # one pass/service
        best, pick = np.inf, None
        for n in edges:  # a handful of edge servers
            m_o = inst.option_model
            est = sv[s][:, m_o, n]  # (U, O)
            reach_u = reach[:, n] & (peak[s] > 0)
            load = (peak[s] * reach_u).sum() * f[s][m_o]  # (O,) FLOP/s at n
            cloud_part = np.where(reach_u[:, None], 0.0, sv[s][:, m_o, cloud]).sum(axis=0)
            score = tv[s, :, n] + np.where(reach_u[:, None], est, 0.0).sum(axis=0) + cloud_part
            mem_need = phys.mem[s] + wbytes[m_o]
            cpu_need = load + phys.flops[s] / inst.window_s
            fits = ok[s, :, n] & (mem_need <= mem_left[n]) & (cpu_need <= cpu_left[n])
            dev_room = mem_left[data_dev[s]].min(initial=np.inf)  # split LoRA's device part
            fits &= phys.mem_device[s] <= dev_room
            score = np.where(fits, score, np.inf)
            o = int(np.argmin(score))
            if score[o] < best:
                best, pick = float(score[o]), (o, int(n), reach_u, load[o], mem_need[o])
        if pick is None:
            left.append(int(s))
            continue
        ob, nb, reach_u, load_b, mem_b = pick
        option[s], train[s] = ob, nb
        host[s, nb] = True
        mem_left[nb] -= mem_b
        mem_left[data_dev[s]] -= phys.mem_device[s, ob]
        cpu_left[nb] -= load_b + phys.flops[s, ob] / inst.window_s
        route[:, s, reach_u, nb] = inst.demand_rps[:, s, reach_u] > 0
        rest = ~reach_u & (inst.demand_rps[:, s, :] > 0).any(axis=0)
        if rest.any():
            host[s, cloud] = True
            route[:, s, rest, cloud] = inst.demand_rps[:, s, rest] > 0
    if left:
        ls = np.array(left)
        none_val = spec.weights.quality * n_req[ls, None] * (1.0 - phys.quality[ls])
        serve = np.where(np.isfinite(sv[ls][..., cloud]), sv[ls][..., cloud], 0.0).sum(1)
        total = np.where(none_ok[ls], none_val + serve[:, inst.option_model], np.inf)
        pk = peak[ls].sum(axis=1)
        opts = _pack(np.arange(ls.size), total, np.broadcast_to(
            wbytes[inst.option_model], total.shape), pk[:, None] * f[ls][:, inst.option_model],
            mem_left[cloud], cpu_left[cloud])
        option[ls] = opts
        host[ls, cloud] = True
        route[..., cloud][:, ls, :] = inst.demand_rps[:, ls, :] > 0
    return LifecycleAllocation(option=option, train_node=train, host=host, route=route,
                               reject=np.zeros((T, S, U)))


def no_finetune(inst: LifecycleInstance, spec: LifecycleSpec, *, seed: int = 0,
                options: SolveOptions | None = None) -> LifecycleAllocation | HeuristicNote:
    """The exact optimum without fine-tuning (MILP restricted to mode ``none``, relative gap
    1e-6).

    ``options.time_limit`` is a deadline for the whole call (the MILP gets what is left after
    the build) and ``options.threads`` the MILP's threads. Stopped by the limit, it returns the
    MILP's incumbent or :func:`all_cloud` in mode ``none``, whichever the evaluator scores
    better (only the latter when the MILP has no incumbent), with a note.
    """
    t0 = time.perf_counter()
    opts = options or SolveOptions()
    nspec = replace(spec, modes=("none",))
    program = nspec.build(inst)
    inner = SolveOptions(mip_gap=1e-6, threads=opts.threads)
    left = opts.left(t0, floor=0.0)
    if left is not None:
        if left <= 0.0:
            return HeuristicNote(all_cloud(inst, nspec, seed=seed),
                                 "time limit reached while building the no-fine-tuning MILP: "
                                 "all_cloud allocation in mode none")
        inner = replace(inner, time_limit=left)
    res = get_backend("highs").solve(program, inner)
    timed_out = (opts.time_limit is not None
                 and res.stats.extra.get("native_status") == "kTimeLimit")
    if not res.has_solution and timed_out:
        return HeuristicNote(all_cloud(inst, nspec, seed=seed),
                             "stopped at the time limit before the no-fine-tuning MILP found a "
                             "solution: all_cloud allocation in mode none")
    res.raise_if_no_solution()
    alloc: LifecycleAllocation = nspec.decode(inst, program, res.values)
    if timed_out:
        # an early incumbent can be far worse than the greedy placement: keep the better one
        fallback = all_cloud(inst, nspec, seed=seed)
        if _cost(inst, nspec, fallback) < _cost(inst, nspec, alloc):
            return HeuristicNote(fallback, "stopped at the time limit: all_cloud in mode none, "
                                           f"better than the MILP incumbent (gap {res.gap:.3g})")
        return HeuristicNote(alloc, "stopped at the time limit: no-fine-tuning MILP incumbent "
                                    f"(gap {res.gap:.3g})")
    return alloc


def _cost(inst: LifecycleInstance, spec: LifecycleSpec, alloc: LifecycleAllocation) -> float:
    """The evaluator's objective of ``alloc`` (minimised; inf when infeasible or NaN)."""
    from aigc_opt.metrics import evaluate

    met = evaluate(inst, alloc, spec)
    obj = float(met.objective)
    return obj if met.feasible and obj == obj else float("inf")


register_heuristic(LifecycleSpec, "all_cloud", all_cloud)
register_heuristic(LifecycleSpec, "edge_greedy", edge_greedy)
register_heuristic(LifecycleSpec, "no_finetune", no_finetune)

HEURISTICS: dict[str, Any] = {"all_cloud": all_cloud, "edge_greedy": edge_greedy,
                              "no_finetune": no_finetune}
