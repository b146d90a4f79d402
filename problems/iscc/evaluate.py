r"""Independent evaluators (referees) of the ISCC allocations.

:func:`evaluate_iscc` scores an :class:`~.data.IsccAllocation` from the instance and the
allocation only (numpy; no bundle list, no solver data). For every served task it finds the link
to its access site, recomputes the phase times (:func:`~.data.phase_times`), the utility
``w_i A[c_i, l] q_m`` and the pool usage, and reports relative violations:

* ``domain``: a served task with a level, model or site out of range or fewer than 1 RB / GPU;
* ``unserved``: a task with ``site < 0`` not in the documented unserved encoding (site, level
  and model -1, rbs and gpus 0, cloud False; :class:`~.data.IsccAllocation`);
* ``coverage``: the access site is not one of the task's links;
* ``model``: the model serves another class or is not hosted where the task computes;
* ``rb_options`` / ``gpu_options``: a served task's RB or GPU count is not one of the
  spec's options (the spec's problem, not a larger one);
* ``accuracy``: ``(a^min_i - A[c_i, l]) / a^min_i`` when positive;
* ``deadline``: 1 where ``t^sense + t^tx + t^cmp > D_i`` (one-shot) or, for the Z-shaped
  pipeline, a phase exceeds a slot or ``3 slot > D_i``; ``dwell``: 1 where the device leaves
  coverage before its upload ends. Both are one task's times against its own limits, judged
  to float rounding only (:func:`aigc_opt.metrics.misfit`, ``FIT_TOL``), as the bundle
  filter of the builders: a bundle 5e-7 late is late, whatever the capacity rows' 1e-6;
* pools: ``sensing``, ``rbs``, ``gpus`` per site and ``cloud`` (``usage / capacity - 1``), per
  class for ``partition="static"``; for the pipeline per slot (sensing of cohort t and RBs of
  cohort t-1 share ``radio`` when ``radio="shared"``, GPUs serve cohort t-2).

:func:`evaluate_shares` scores a :class:`~.data.ShareAllocation`: objective
``sum_i w_i (d_i / (eta_i b_i) + c_i / f_i)`` and the per-site budgets.
"""

from __future__ import annotations

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
    IsccAllocation,
    IsccInstance,
    IsccPipelineSpec,
    IsccSpec,
    partition_capacity,
    phase_times,
    utility,
)
from .data_shares import ShareAllocation, ShareInstance, share_cost


def _usage(key: np.ndarray, amount: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(key, weights=amount.astype(np.float64), minlength=n)[:n]


def evaluate_iscc(inst: IsccInstance, alloc: IsccAllocation, objective: Any = None) -> Metrics:
    """Metrics of an ISCC allocation (module docstring); ``objective`` is the spec (an
    :class:`~.data.IsccSpec` by default)."""
    spec = objective if isinstance(objective, (IsccSpec, IsccPipelineSpec)) else IsccSpec()
    N, S, L, C = inst.n_tasks, inst.n_sites, inst.n_levels, inst.n_classes
    M = int(inst.model_class.shape[0])
    if alloc.site.shape != (N,):
        raise allocation_mismatch(f"allocation has {alloc.site.shape[0]} tasks, the instance {N}")
    served = alloc.site >= 0
    idx = np.nonzero(served)[0]
    site, lvl, mdl = alloc.site[idx], alloc.level[idx], alloc.model[idx]
    rbs, gpus, cloud = alloc.rbs[idx], alloc.gpus[idx], alloc.cloud[idx]
    bad = ((site >= S) | (lvl < 0) | (lvl >= L) | (mdl < 0) | (mdl >= M) | (rbs < 1)
           | (gpus < 1))
    site_c, lvl_c = np.clip(site, 0, S - 1), np.clip(lvl, 0, L - 1)
    mdl_c = np.clip(mdl, 0, M - 1)
    match = inst.link_site[idx] == site_c[:, None]
    link = np.argmax(match, axis=1)
    rbs_c, gpus_c = np.maximum(rbs, 1), np.maximum(gpus, 1)
    t_s, t_tx, t_c = phase_times(inst, idx, link, lvl_c, rbs_c, gpus_c, cloud, mdl_c)
    latency = t_s + t_tx + t_c
    D = inst.task_deadline_s[idx]
    dwell = inst.link_dwell_s[idx, link]
    acc = inst.accuracy[inst.task_class[idx], lvl_c]
    host = np.where(cloud, S, site_c)
    out = ~served
    v: dict[str, np.ndarray] = {
        "domain": bad.astype(float),
        "unserved": (out & ((alloc.site != -1) | (alloc.level != -1) | (alloc.model != -1)
                            | (alloc.rbs != 0) | (alloc.gpus != 0) | alloc.cloud)).astype(float),
        "coverage": (~match.any(axis=1)).astype(float),
        "model": ((inst.model_class[mdl_c] != inst.task_class[idx])
                  | ~inst.hosted[host, mdl_c]).astype(float),
        # the spec's problem, not a larger one: a bundle uses one of its RB and GPU counts
        "rb_options": (~np.isin(rbs, np.asarray(spec.rb_options))).astype(float),
        "gpu_options": (~np.isin(gpus, np.asarray(spec.gpu_options))).astype(float),
    }
    amin = inst.task_min_accuracy[idx]
    v["accuracy"] = np.where(amin > acc, (amin - acc) / np.maximum(amin, 1e-300), 0.0)
    if isinstance(spec, IsccPipelineSpec):
        slot = inst.slot_s
        phase = np.maximum.reduce([t_s, t_tx, t_c])
        v["deadline"] = np.maximum(misfit(phase, slot), misfit(3 * slot, D))
        v["dwell"] = misfit(2 * slot, dwell)
    else:
        v["deadline"] = misfit(latency, D)
        v["dwell"] = misfit(t_s + t_tx, dwell)
    on_time = v["deadline"] == 0.0
    units = inst.level_units[lvl_c]
    edge = ~cloud
    caps = {"sensing": inst.site_sensing_units, "rbs": inst.site_rbs, "gpus": inst.site_gpus,
            "cloud": np.array([inst.cloud_gpus])}
    used: dict[str, np.ndarray] = {}
    if isinstance(spec, IsccPipelineSpec):
        T = inst.n_slots + 2
        t0 = inst.task_slot[idx]
        sense = _usage(t0 * S + site_c, units, T * S).reshape(T, S)
        rb_use = _usage((t0 + 1) * S + site_c, rbs_c, T * S).reshape(T, S)
        used["gpus"] = _usage((t0 + 2)[edge] * S + site_c[edge], gpus_c[edge], T * S
                              ).reshape(T, S)
        used["cloud"] = _usage((t0 + 2)[cloud], gpus_c[cloud], T)
        v["gpus"] = relative_excess(used["gpus"], np.broadcast_to(inst.site_gpus, (T, S)))
        v["cloud"] = relative_excess(used["cloud"], np.full(T, float(inst.cloud_gpus)))
        if spec.radio == "shared":
            used["radio"] = sense + rb_use
            v["radio"] = relative_excess(used["radio"], np.broadcast_to(
                inst.site_sensing_units + inst.site_rbs, (T, S)))
        else:
            v["sensing"] = relative_excess(sense, np.broadcast_to(caps["sensing"], (T, S)))
            v["rbs"] = relative_excess(rb_use, np.broadcast_to(caps["rbs"], (T, S)))
        used["sensing"], used["rbs"] = sense, rb_use
        peak = {k: used[k].max(axis=0) for k in ("sensing", "rbs", "gpus", "cloud")}
    else:
        cls = inst.task_class[idx]
        static = spec.partition == "static"
        G = C if static else 1
        part = cls if static else np.zeros_like(cls)
        zero = np.zeros(int(cloud.sum()), np.int64)
        parts = {"sensing": (part * S + site_c, units, S), "rbs": (part * S + site_c, rbs_c, S),
                 "gpus": (part[edge] * S + site_c[edge], gpus_c[edge], S),
                 "cloud": (part[cloud] + zero, gpus_c[cloud], 1)}
        for name, (key, amount, n) in parts.items():
            u = _usage(key, amount, G * n).reshape(G, n)
            cap = partition_capacity(caps[name], C) if static else caps[name][None]
            v[name] = relative_excess(u, cap.astype(float))
            used[name] = u.sum(axis=0)
        peak = used
    u_served = utility(inst, idx, lvl_c, mdl_c)
    util = np.zeros(N)
    util[idx] = u_served
    lat_all = np.full(N, np.nan)
    lat_all[idx] = latency
    ok = np.zeros(N, bool)
    ok[idx] = on_time
    total_cap = {k: float(np.sum(c)) for k, c in caps.items()}
    totals = {
        "utility": float(u_served.sum()),
        "served": float(idx.size),
        "served_ratio": idx.size / N if N else 0.0,
        "deadline_satisfaction": float(ok.sum()) / N if N else 0.0,
        "accuracy_mean": float(acc.mean()) if idx.size else 0.0,
        "latency_max_s": float(latency.max()) if idx.size else 0.0,
        "cloud_share": float(cloud.mean()) if idx.size else 0.0,
    }
    for k in ("sensing", "rbs", "gpus", "cloud"):
        totals[f"{k}_peak_util"] = float(np.sum(peak[k])) / total_cap[k] if total_cap[k] else 0.0
    per_item = {"utility": util, "latency_s": lat_all, "on_time": ok.astype(float),
                **{f"{k}_used": np.asarray(a, dtype=float) for k, a in used.items()}}
    return Metrics.from_arrays("iscc", float(u_served.sum()), per_item, totals, v)


def evaluate_shares(inst: ShareInstance, alloc: ShareAllocation, objective: Any = None
                    ) -> Metrics:
    """Weighted latency of continuous bandwidth / compute shares and the site budgets."""
    b, f = alloc.bandwidth_hz, alloc.compute_flops
    N, S = inst.site.shape[0], inst.n_sites
    if b.shape != (N,):
        raise allocation_mismatch(f"allocation has {b.shape[0]} tasks, the instance {N}")
    cost = share_cost(inst, b, f)
    bw = np.bincount(inst.site, weights=b, minlength=S)
    cp = np.bincount(inst.site, weights=f, minlength=S)
    scale_b = np.maximum(np.abs(b), 1.0)
    v = {"bandwidth": relative_excess(bw, inst.site_bandwidth_hz),
         "compute": relative_excess(cp, inst.site_compute_flops),
         "nonnegative": np.maximum(np.maximum(-b, 0) / scale_b,
                                   np.maximum(-f, 0) / np.maximum(np.abs(f), 1.0))}
    totals = {"weighted_latency": float(cost.sum()),
              "bandwidth_util": float(bw.sum() / inst.site_bandwidth_hz.sum()),
              "compute_util": float(cp.sum() / inst.site_compute_flops.sum())}
    return Metrics.from_arrays("iscc", float(cost.sum()), {"cost": cost}, totals, v)


register_evaluator(IsccAllocation, evaluate_iscc)
register_evaluator(ShareAllocation, evaluate_shares)
