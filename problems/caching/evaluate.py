r"""Independent evaluator of :class:`~aigc_opt.problems.caching.data.CachingAllocation`.

From the instance and the allocation only (numpy, no solver data) it recomputes, per slot and
server: memory use, loads ``l[t,k,m] = cache[t,k,m] and not cache[t-1,k,m]`` (with the initial
cache before slot 0), hits (served by the home server), neighbour hits, cloud misses, the age and
context of every copy and the accuracy of every served request, and the objective

.. math::

    J = \sum_{t,s,k,m} edge_{t,s,k,m} (e_{s,k,m} + w_a (1 - A_m(K_{t,k,m}(age))))
      + \sum_{t,s,m} cloud_{t,s,m} q_m + \sum_{t,k,m} L_{k,m} l_{t,k,m}

(see :class:`~aigc_opt.problems.caching.data.CachingObjective`). Violations (relative):
``gpu_memory`` (memory per server per slot), ``model_fits`` (1 where a server holds a model
larger than its whole memory, beyond :data:`aigc_opt.metrics.FIT_TOL`: no tolerance lets a
model in that does not fit), ``model_cached`` (requests routed to a server not
holding the model, relative to the group size), ``latency_budget`` (routed beyond the budget),
``unserved`` / ``overserved`` (routing totals vs requests), ``nonnegative``, and ``compute``
(per server per slot, when the objective enforces compute capacity).
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
    CachingAllocation,
    CachingInstance,
    cache_age,
    cloud_cost,
    context_table,
    edge_cost,
    load_cost,
    neighbours,
    objective_of,
)

logger = logging.getLogger(__name__)


def evaluate_caching(inst: CachingInstance, alloc: CachingAllocation, objective: Any = None
                     ) -> Metrics:
    """Metrics of a caching allocation: cost, hits, loads, memory, accuracy and violations.

    ``totals["memory_peak_frac"]`` is the largest memory use per slot and server as a
    fraction of that server's GPU memory (-): on a server of memory 0 (allowed: "no memory")
    an empty cache counts 0 and any cached model ``inf`` (computed without the
    ``RuntimeWarning`` of an overflowing division).
    """
    obj = objective_of(objective)
    T, S, M = inst.n_slots, inst.n_servers, inst.n_models
    if alloc.cache.shape != (T, S, M):
        raise allocation_mismatch(
            f"allocation cache {alloc.cache.shape} does not fit an instance with "
            f"(slots, servers, models) = {(T, S, M)}")
    R = inst.requests
    cache, edge, cloud = alloc.cache, alloc.edge, alloc.cloud
    prev = np.concatenate([inst.initial_cache[None], cache[:-1]], axis=0)
    loads = cache & ~prev
    mem = (cache * inst.model_size_bytes).sum(axis=2)  # (T, S)
    _, G = context_table(inst)
    age = cache_age(cache, inst.context_window)
    acc = np.where(age >= 0, np.take_along_axis(G, np.maximum(age, 0)[..., None], axis=3)[..., 0],
                   0.0)  # (T, k, M)
    e = edge_cost(inst, obj)  # (s, k, m)
    edge_unit = e[None] - obj.accuracy * acc[:, None, :, :]
    served_at = edge.sum(axis=1)  # (T, k, M)
    edge_slot = (edge * edge_unit).sum(axis=(1, 2, 3))  # (T,) cost per slot, by kind
    cloud_slot = (cloud * cloud_cost(inst, obj)[None, None, :]).sum(axis=(1, 2))
    load_slot = (loads * load_cost(inst, obj)[None]).sum(axis=(1, 2))
    edge_total = float(edge_slot.sum())
    cloud_total = float(cloud_slot.sum())
    load_total = float(load_slot.sum())
    objective_value = edge_total + cloud_total + load_total

    v: dict[str, np.ndarray] = {}
    v["gpu_memory"] = relative_excess(mem, np.broadcast_to(inst.server_gpu_memory_bytes, (T, S)))
    v["model_fits"] = (cache * misfit(inst.model_size_bytes[None, None, :],
                                      inst.server_gpu_memory_bytes[None, :, None])).max(
        axis=2, initial=0.0)
    group = np.maximum(R, 1.0)  # relative to the group's size (1 for empty groups)
    not_held = edge * ~cache[:, None, :, :]  # (t, s, k, m)
    v["model_cached"] = not_held.max(axis=2) / group
    far = edge * ~neighbours(inst, obj)[None, :, :, None]
    v["latency_budget"] = far.max(axis=2) / group
    total = edge.sum(axis=2) + cloud
    v["unserved"] = np.maximum(R - total, 0.0) / group
    v["overserved"] = np.maximum(total - R, 0.0) / group
    v["nonnegative"] = np.maximum(np.maximum(-edge, 0.0).max(axis=2), np.maximum(-cloud, 0.0))
    flop = (served_at * inst.model_flop_per_request).sum(axis=2)  # (T, k)
    if obj.compute_capacity:
        v["compute"] = relative_excess(flop, np.broadcast_to(
            inst.server_compute_flops * inst.slot_s, (T, S)))

    home = np.einsum("tssm->tsm", edge)  # served by the home server itself
    n_req = float(R.sum())
    n_edge = float(edge.sum())
    n_hits = float(home.sum())
    n_cloud = float(cloud.sum())
    acc_sum = float((served_at * acc).sum() + (cloud * inst.model_cloud_accuracy).sum())
    totals = {
        "requests": n_req,
        "hits": n_hits,
        "neighbour_hits": n_edge - n_hits,
        "misses": n_cloud,
        "hit_ratio": n_hits / n_req if n_req else 0.0,
        "edge_ratio": n_edge / n_req if n_req else 0.0,
        "loads": float(loads.sum()),
        "load_cost": load_total,
        "edge_cost": edge_total,
        "cloud_cost": cloud_total,
        "accuracy_mean": acc_sum / n_req if n_req else 0.0,
        "memory_peak_frac": _peak_fraction(mem, inst.server_gpu_memory_bytes),
    }
    per_item = {
        "cost_per_slot": edge_slot + cloud_slot + load_slot,
        "memory_bytes": mem,
        "loads": loads.sum(axis=2).astype(float),
        "hits": home.sum(axis=2),
        "misses": cloud.sum(axis=2),
        "served_at": served_at.sum(axis=2),
        "compute_flop": flop,
        "age": age.astype(float),
        "accuracy": acc,
    }
    return Metrics.from_arrays("caching", objective_value, per_item, totals, v)


def _peak_fraction(mem: np.ndarray, capacity: np.ndarray) -> float:
    """``max(mem[t, k] / capacity[k])`` (-) for memory use ``mem`` (T, S) and capacities
    (S,), both in bytes; a capacity of 0 gives 0 for no use and ``inf`` for any (dividing by
    ``max(capacity, 1e-300)`` had overflowed with a RuntimeWarning). Capacities are 0 or at
    least the byte floor of :func:`aigc_opt.schema.check_floor`, so no other ratio overflows."""
    cap = np.broadcast_to(capacity, mem.shape)
    out = np.where(mem > 0, np.inf, 0.0)
    np.divide(mem, cap, out=out, where=cap > 0)
    return float(out.max(initial=0.0))


register_evaluator(CachingAllocation, evaluate_caching)
