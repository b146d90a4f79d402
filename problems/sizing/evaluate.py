r"""The referee of the sizing family: cost of the plan and the offloading referee per scenario.

For a :class:`~aigc_opt.problems.sizing.data.SizingPlan`:

* objective: the capacity cost ``sum_s (c_{g(s)} k_s + c_{b(s)})`` (money units);
* ``plan``: the codes index the catalogue and ``k_s <= kmax_g`` (1 per bad site);
* for every demand scenario ``d``: the scenario with the plan's capacities
  (:func:`~aigc_opt.problems.sizing.data.sized_scenario`) and the plan's assignment are scored
  by the offloading family's own evaluator (:func:`aigc_opt.metrics.evaluate` with an
  :class:`~aigc_opt.problems.offloading.data.OffloadingSpec`, hard deadlines); each of its hard
  violations ``v`` is reported as ``"<d>:<v>"``;
* ``"<d>:unbuilt_site"``: requests placed at a site without GPUs (its phantom slot);
* ``"<d>:model_fits"``: a model held at a site whose GPU type has less memory than the model
  (a model runs on one GPU; the memory row only pools the site's GPUs for several models);
* ``"<d>:quality_target"``: ``max(0, q_min - Q_n) / max(|q_min|, 1e-9)`` per request.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aigc_opt.metrics import Metrics, allocation_mismatch, evaluate, register_evaluator
from aigc_opt.problems.offloading.data import OffloadingSpec, OffloadObjective

from .data import SizingInstance, SizingPlan, SizingSpec, plan_cost, plan_valid, sized_scenario


def evaluate_sizing(inst: SizingInstance, plan: SizingPlan, objective: Any = None) -> Metrics:
    """Metrics of a sizing plan (see module docstring); ``objective`` is the
    :class:`SizingSpec` (or None: defaults)."""
    spec = objective if isinstance(objective, SizingSpec) else SizingSpec()
    S = inst.n_sites
    if plan.gpu_type.shape[0] != S or len(plan.assignments) != len(inst.demands):
        raise allocation_mismatch(
            f"plan for {plan.gpu_type.shape[0]} sites / {len(plan.assignments)} "
            f"scenarios does not fit an instance with {S} sites / "
            f"{len(inst.demands)} scenarios")
    cost = plan_cost(inst, plan)
    ok = plan_valid(inst, plan)
    v: dict[str, np.ndarray] = {"plan": (~ok).astype(float)}
    totals: dict[str, float] = {"cost": cost["total"], "gpu_cost": cost["gpu_cost"],
                                "radio_cost": cost["radio_cost"],
                                "gpus": float(plan.gpu_count.sum())}
    per_item: dict[str, np.ndarray] = {"gpu_count": plan.gpu_count.astype(float)}
    off_obj = OffloadObjective(**{f: getattr(spec.objective, f) for f in (
        "latency", "device_energy", "server_energy", "quality", "deadline_penalty",
        "cloud_cost", "load")}, deadline="hard")
    off_spec = OffloadingSpec(objective=off_obj, allow_local=spec.allow_local,
                              allow_cloud=spec.allow_cloud)
    hard = {"plan"}
    built = (plan.gpu_type >= 0) & (plan.gpu_count > 0)
    for d, name in enumerate(inst.names):
        scn = sized_scenario(inst, d, plan)
        alloc = plan.assignments[d]
        m = evaluate(scn, alloc, off_spec)
        for k in sorted(m.hard):  # the same key order whatever PYTHONHASHSEED
            key = f"{name}:{k}"
            v[key] = np.array([m.violations.get(k, 0.0)])
            hard.add(key)
        pl = alloc.placement
        edge = (pl >= 0) & (pl < S)
        v[f"{name}:unbuilt_site"] = (edge & ~built[np.clip(pl, 0, S - 1)]).astype(float)
        hard.add(f"{name}:unbuilt_site")
        gmem = np.array([g.memory_bytes for g in inst.gpus], dtype=float)
        one = np.where(plan.gpu_type >= 0, gmem[np.clip(plan.gpu_type, 0, None)], 0.0)
        big = np.asarray(scn.model_size_bytes, dtype=float)[None, :] > one[:, None]
        v[f"{name}:model_fits"] = (np.asarray(alloc.cache, dtype=bool) & big).any(axis=1
                                                                                 ).astype(float)
        hard.add(f"{name}:model_fits")
        if spec.min_quality is not None:
            q = np.asarray(m.per_item["quality"], dtype=float)
            den = max(abs(spec.min_quality), 1e-9)
            v[f"{name}:quality_target"] = np.maximum(spec.min_quality - q, 0.0) / den
            hard.add(f"{name}:quality_target")
        totals[f"{name}:offloading_objective"] = float(m.objective)
        totals[f"{name}:frac_edge"] = float(m.totals.get("frac_edge", np.nan))
    return Metrics.from_arrays("sizing", cost["total"], per_item, totals, v, frozenset(hard))


register_evaluator(SizingPlan, evaluate_sizing)
