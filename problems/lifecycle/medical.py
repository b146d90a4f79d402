r"""Case study (a): medical text summarisation across devices, hospital edge and cloud.

Three services (discharge summaries, radiology-report impressions, patient-message replies)
in three hospitals (regions). Each hospital has clinicians' devices (aggregated, 20 devices of
8 GB, *assumed*) and the hospitals share two edge servers; a cloud provider hosts the foundation
model. Base models (survey's three tiers): a cloud foundation model (70e9 parameters), an edge
domain model (7e9, a medical domain model such as a Meditron-7B-class model) and a device light
model (1.3e9). Fine-tuning modes: none, full, LoRA r = 8, split LoRA r = 8.

Quality is a ROUGE-L-like score (*assumed*, tabulated, not measured): zero-shot 0.36 / 0.33 /
0.24 (foundation / domain / light); fine-tuning approaches ``q_max`` as
``q_none + (q_max - q_none)(1 - exp(-D / D0))`` with ``q_max`` 0.45 / 0.44 / 0.35 (full),
0.44 / 0.43 / 0.34 (LoRA), 0.43 / 0.42 / 0.33 (split LoRA) and ``D0`` 2e6 tokens (full),
5e5 (LoRA and split), tabulated at 0, 1e5, 3e5, 1e6, 3e6, 1e7 tokens. Each hospital holds
3e5-1.5e6 tokens of notes per service (*assumed*). Clinical text is sensitive: the default
privacy weight is 1e-5 $/byte (100 x the generic default, *assumed*).

:func:`pareto_front` traces the cost-quality front by the epsilon-constraint method: for each
cost budget eps, maximise quality subject to cost <= eps (exact MILP), then minimise cost
subject to that quality (exact MILP), so every point is Pareto-optimal.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from typing import Any

import numpy as np

from aigc_opt.backend import SolveOptions
from aigc_opt.cases import CaseKind, register_case
from aigc_opt.metrics import evaluate
from aigc_opt.solve import solve
from aigc_opt.validate import MAX_ENTRIES, check_seed, check_size

from .data import (
    CLOUD,
    DEVICE,
    EDGE,
    FULL,
    GB,
    LORA,
    MODES,
    NODE_KINDS,
    NONE,
    SPLIT,
    LifecycleInstance,
    LifecycleSpec,
    LifecycleWeights,
    weights_of,
)
from .data_checks import check_fields

logger = logging.getLogger(__name__)

SERVICES = ("discharge_summary", "radiology_impression", "patient_reply")
Q_NONE = np.array([0.24, 0.33, 0.36])  # light, domain, foundation (assumed ROUGE-L)
Q_MAX = {FULL: np.array([0.35, 0.44, 0.45]), LORA: np.array([0.34, 0.43, 0.44]),
         SPLIT: np.array([0.33, 0.42, 0.43])}
D0 = {FULL: 2e6, LORA: 5e5, SPLIT: 5e5}
BREAKS = np.array([0.0, 1e5, 3e5, 1e6, 3e6, 1e7])


def medical_instance(seed: int = 0, *, n_hospitals: int = 3, **overrides: Any
                     ) -> LifecycleInstance:
    """The medical summarisation instance (see module docstring); ``overrides`` replace fields
    (unknown names are refused); ``n_hospitals`` is an integer >= 1."""
    U, S = check_size("n_hospitals", n_hospitals, MAX_ENTRIES), len(SERVICES)
    check_fields(LifecycleInstance, overrides)
    rng = np.random.default_rng(check_seed("seed", seed))
    base = LifecycleInstance.generate(S, U, 2, seed=seed)
    om, ok = base.option_model, base.option_mode
    qt = np.empty((S, om.size, BREAKS.size))
    jitter = 0.01 * rng.standard_normal((S, 1))
    for o, (m, k) in enumerate(zip(om, ok, strict=True)):  # 12 options
        if k == NONE:
            qt[:, o, :] = Q_NONE[m]
        else:
            qt[:, o, :] = Q_NONE[m] + (Q_MAX[int(k)][m] - Q_NONE[m]) * (
                1.0 - np.exp(-BREAKS / D0[int(k)]))
    qt = np.clip(qt + jitter[:, :, None], 0.0, 1.0)
    N = base.shape["N"]
    kind = base.node_kind
    fields = base.fields()
    fields.update(
        demand_rps=rng.uniform(0.05, 0.3, size=(1, S, U)),
        data_tokens=rng.uniform(3e5, 1.5e6, size=(S, U)),
        service_tokens=np.array([2500.0, 800.0, 600.0]),
        quality_data_tokens=BREAKS,
        quality_table=qt,
        node_replicas=np.where(kind == DEVICE, 20.0, 1.0),
        node_flops=np.where(kind == DEVICE, 20 * 2e12, np.where(kind == EDGE, 6e14, 1e15)),
        node_memory_bytes=np.where(kind == DEVICE, 8 * GB,
                                   np.where(kind == EDGE, 160 * GB, 2000 * GB)),
    )
    del N
    fields.update(overrides)
    return LifecycleInstance(**fields)


def medical_spec(**params: Any) -> LifecycleSpec:
    """Default spec of the case: privacy weight 1e-5 $/byte (*assumed*). ``weights`` may be a
    :class:`LifecycleWeights` or a dict of weights applied over that default."""
    weights = weights_of(params.pop("weights", None), LifecycleWeights(privacy=1e-5))
    return LifecycleSpec(weights=weights, **params)


def _lex(inst: LifecycleInstance, spec: LifecycleSpec, budget: float,
         opts: SolveOptions) -> Any:
    """Maximise quality s.t. cost <= budget, then minimise cost s.t. that quality."""
    qspec = replace(spec, weights=LifecycleWeights(0.0, 0.0, 0.0, 0.0, 1.0, 0.0),
                    cost_budget=budget)
    first = solve(inst, qspec, "highs", options=opts)
    if not first.has_solution:
        return first, None
    q = evaluate(inst, first.allocation, qspec).totals["quality_total"]
    cspec = replace(spec, weights=LifecycleWeights(1.0, 0.0, 0.0, 0.0, 0.0, 0.0),
                    cost_budget=budget, quality_floor=q - 1e-7 * max(1.0, abs(q)))
    second = solve(inst, cspec, "highs", options=opts)
    return second, cspec


def pareto_front(inst: LifecycleInstance, spec: LifecycleSpec | None = None, *,
                 n_points: int = 8, options: SolveOptions | None = None
                 ) -> list[dict[str, Any]]:
    """Cost-quality Pareto front by the epsilon-constraint method (each point two exact MILPs).

    The budgets span ``[C_min, C_at_max_quality]``: ``C_min`` is the least cost of any feasible
    allocation, ``C_at_max_quality`` the least cost at the highest attainable quality. Other
    constraints of ``spec`` (privacy limit, node kinds, modes) apply to every point. Rows (one
    per distinct point, by increasing cost): budget, cost, quality_mean, quality_total,
    latency_mean_s, privacy_bytes, options, trainers (node kinds), objective, eval_objective,
    status, feasible.
    """
    base = spec or medical_spec()
    opts = options or SolveOptions(mip_gap=1e-9)
    lo_spec = replace(base, weights=LifecycleWeights(1.0, 0.0, 0.0, 0.0, 0.0, 0.0))
    lo = solve(inst, lo_spec, "highs", options=opts)
    if not lo.has_solution:
        return []
    c_lo = evaluate(inst, lo.allocation, lo_spec).totals["cost"]
    hi, _ = _lex(inst, base, math.inf, opts)
    c_hi = evaluate(inst, hi.allocation, base).totals["cost"] if hi.has_solution else c_lo
    budgets = np.linspace(c_lo, max(c_hi, c_lo), max(int(n_points), 2))
    budgets[0] = c_lo * (1 + 1e-9) + 1e-12
    names = inst.option_names()
    rows: list[dict[str, Any]] = []
    seen: set[tuple[float, float]] = set()
    for eps in budgets:  # one lexicographic pair of MILPs per budget
        res, cspec = _lex(inst, base, float(eps), opts)
        if not res.has_solution or cspec is None:
            continue
        met = evaluate(inst, res.allocation, cspec)
        key = (round(met.totals["cost"], 9), round(met.totals["quality_total"], 6))
        if key in seen:
            continue
        seen.add(key)
        a = res.allocation
        rows.append({
            "budget": float(eps),
            "cost": met.totals["cost"],
            "quality_mean": met.totals["quality_mean"],
            "quality_total": met.totals["quality_total"],
            "latency_mean_s": met.totals["latency_mean_s"],
            "privacy_bytes": met.totals["privacy_bytes"],
            "options": [names[o] for o in a.option],
            "modes": [MODES[k] for k in inst.option_mode[a.option]],
            "trainers": [NODE_KINDS[inst.node_kind[n]] if n >= 0 else "-"
                         for n in a.train_node],
            "objective": res.objective,
            "eval_objective": met.objective,
            "status": res.termination.value,
            "feasible": met.feasible,
        })
    rows.sort(key=lambda r: r["cost"])
    return rows


def _make_placement(seed: int, n_services: int = 4, n_regions: int = 3, n_edge: int = 2,
                    n_slots: int = 1, **kw: Any) -> LifecycleInstance:
    return LifecycleInstance.generate(n_services, n_regions, n_edge, n_slots=n_slots, seed=seed,
                                      **kw)


def _make_timescale(seed: int, n_services: int = 4, n_regions: int = 3, n_edge: int = 2,
                    n_slots: int = 4, **kw: Any) -> LifecycleInstance:
    """:func:`_make_placement` over 4 demand slots by default (its sizes by name, so that an
    unknown size is answered with them, not with the instance's fields alone)."""
    return _make_placement(seed, n_services, n_regions, n_edge, n_slots=n_slots, **kw)


def _make_spec(**params: Any) -> LifecycleSpec:
    return LifecycleSpec(weights=weights_of(params.pop("weights", None)), **params)


def _make_timescale_spec(**params: Any) -> LifecycleSpec:
    params.setdefault("reject_penalty", 1.0)
    return _make_spec(**params)


_METHODS = ("highs", "rolling", "all_cloud", "edge_greedy", "no_finetune")

CASES = (
    CaseKind(name="lifecycle.placement", make_instance=_make_placement, make_spec=_make_spec,
             default_methods=_METHODS, reference="highs",
             description="AIGC life cycle: fine-tuning mode/placement, hosting and routing "
                         "across device/edge/cloud (exact MILP vs baselines)"),
    CaseKind(name="lifecycle.two_timescale",
             make_instance=_make_timescale,
             make_spec=_make_timescale_spec, default_methods=("highs", "rolling"),
             reference="highs",
             description="life cycle over demand slots: single-stage optimum vs rolling"),
    CaseKind(name="lifecycle.medical", make_instance=lambda seed, **kw: medical_instance(seed,
                                                                                          **kw),
             make_spec=medical_spec, default_methods=_METHODS, reference="highs",
             description="medical summarisation: cloud foundation / edge domain / device light "
                         "models and fine-tuning modes"),
)
for _kind in CASES:
    register_case(_kind)

__all__ = ["CASES", "CLOUD", "SERVICES", "medical_instance", "medical_spec", "pareto_front"]
