r"""Independent evaluators of the resource-allocation family (numpy only, no solver).

Imports only the family's data modules and the core (the referee never sees a builder).

* :class:`~aigc_opt.problems.allocation.data.PowerAllocation`: per-channel rate
  ``b log2(1 + p g/(N0 b))``, weighted sum rate (objective of ``mode="sum_rate"``, bit/s) or total
  power (objective of ``mode="min_power"``, W), and the budget / cap / rate-target violations.
* :class:`~aigc_opt.problems.allocation.data.BandwidthComputeAllocation`: weighted latency
  ``sum_n w_n (D_n/(b_n se_n) + C_n/f_n)`` (s) and the per-server budget, minimum-rate and
  deadline violations.
* :class:`~aigc_opt.problems.allocation.data.JointBPAllocation`: per-user rate from
  bandwidth and power, transmission time ``t = D/r``, energy ``E = p t``, time-frequency area
  ``b t`` and the objective ``sum w (alpha t + beta E)``.
* :class:`~aigc_opt.problems.allocation.data_llm.LlmAllocation`: latency
  ``L_n = a_n P_n phi / F + t_n tau`` (s), energy ``E_n = e phi (a_n P_n + t_n)`` (J), quality
  ``q_n(t_n)`` and ``sum_n w_n (alpha L_n + beta E_n - gamma Q_n)``, with the batch-slot,
  KV-memory, compute, deadline and token-cap violations (model in
  :mod:`~aigc_opt.problems.allocation.data_llm`). The LLM evaluator reads only the instance's
  arrays (duck-typed: any object with the fields of
  :class:`~aigc_opt.problems.allocation.data_llm.LlmInstance`).

The step allocations (:mod:`~aigc_opt.problems.allocation.steps`) are offloading allocations,
scored by the offloading family's evaluator.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from aigc_opt.errors import ValidationError
from aigc_opt.metrics import (
    FEAS_TOL,
    Metrics,
    allocation_mismatch,
    p95,
    register_evaluator,
    relative_excess,
)

from .data import (
    LN2,
    BandwidthComputeAllocation,
    BandwidthComputeInstance,
    BandwidthComputeSpec,
    JointBPAllocation,
    JointBPInstance,
    JointBPSpec,
    PowerAllocation,
    PowerInstance,
    PowerSpec,
)
from .data_llm import LlmAllocation, LlmObjective, token_quality


def _pack(family: str, objective: float, per_item: dict[str, np.ndarray],
          totals: dict[str, float], v: dict[str, np.ndarray],
          hard: frozenset[str] | set[str]) -> Metrics:
    return Metrics.from_arrays(family, objective, per_item, totals, v, hard)


def _spec(objective: Any, cls: type, default: Any) -> Any:
    if objective is None:
        return default
    if isinstance(objective, cls):
        return objective
    raise ValidationError("objective", "-", type(objective).__name__,
                          f"must be a {cls.__name__} (or None for its defaults)")


def evaluate_power(inst: PowerInstance, alloc: PowerAllocation, objective: Any = None
                   ) -> Metrics:
    """Metrics of a power allocation; ``objective`` is a :class:`PowerSpec` (default sum rate).

    Violations: ``power_budget`` (sum p vs the scaled budget; hard in ``sum_rate`` mode only),
    ``max_power`` (per channel), ``rate_target`` (relative shortfall; hard in ``min_power``
    mode), ``nonnegative`` (W).
    """
    spec: PowerSpec = _spec(objective, PowerSpec, PowerSpec())
    if alloc.power_w.shape != (inst.n_users,):
        raise allocation_mismatch(f"allocation has {alloc.power_w.shape[0]} channels, "
                                  f"instance has {inst.n_users}")
    p = np.maximum(alloc.power_w, 0.0)
    snr = p * inst.gain / (inst.noise_psd_w_per_hz * inst.bandwidth_hz)
    rate = inst.bandwidth_hz * np.log1p(snr) / np.log(2.0)  # log1p: exact at tiny SNR
    budget = spec.power_budget_scale * inst.total_power_w
    target = spec.rate_scale * inst.rate_target_bps
    v = {
        "power_budget": relative_excess(np.array([p.sum()]), np.array([budget])),
        "max_power": relative_excess(p, inst.max_power_w),
        "rate_target": np.where(target > 0, np.maximum(target - rate, 0.0)
                                / np.where(target > 0, target, 1.0), 0.0),
        "nonnegative": np.maximum(-alloc.power_w, 0.0),
    }
    if spec.mode == "sum_rate":
        obj = float((inst.weight * rate).sum())
        hard = frozenset({"power_budget", "max_power", "nonnegative"})
    else:
        obj = float(p.sum())
        hard = frozenset({"rate_target", "max_power", "nonnegative"})
    totals = {
        "sum_rate_bps": float(rate.sum()),
        "weighted_sum_rate_bps": float((inst.weight * rate).sum()),
        "power_total_w": float(p.sum()),
        "rate_min_bps": float(rate.min()),
        "active_channels": float((p > 0).sum()),
    }
    return _pack("allocation.power", obj, {"rate_bps": rate, "snr": snr, "power_w": p}, totals,
                 v, hard)


register_evaluator(PowerAllocation, evaluate_power)


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num/den with x/0 = inf (x > 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.inf)


def evaluate_bandwidth_compute(inst: BandwidthComputeInstance, alloc: BandwidthComputeAllocation,
                               objective: Any = None) -> Metrics:
    """Metrics of bandwidth/compute shares; ``objective`` is a :class:`BandwidthComputeSpec`.

    Latency ``L_n = D_n / (b_n se_n) + C_n / f_n`` (s); objective ``sum w_n L_n``. Violations:
    ``bandwidth`` / ``compute`` (per-server sums vs the scaled budgets), ``min_rate`` (relative
    rate shortfall), ``deadline`` (relative lateness), ``nonnegative``. The side constraints are
    hard only when the spec enables them.
    """
    spec: BandwidthComputeSpec = _spec(objective, BandwidthComputeSpec, BandwidthComputeSpec())
    n, S = inst.n_users, inst.n_servers
    if alloc.bandwidth_hz.shape != (n,):
        raise allocation_mismatch(
            f"allocation has {alloc.bandwidth_hz.shape[0]} users, instance has {n}")
    b, f = alloc.bandwidth_hz, alloc.compute_flops
    rate = np.maximum(b, 0.0) * inst.spectral_eff
    t_up = _div(inst.data_bits, rate)
    t_cmp = _div(inst.workload_flop, np.maximum(f, 0.0))
    lat = t_up + t_cmp
    B = spec.bandwidth_scale * inst.bandwidth_hz
    F = spec.compute_scale * inst.compute_flops
    v = {
        "bandwidth": relative_excess(np.bincount(inst.server, weights=b, minlength=S), B),
        "compute": relative_excess(np.bincount(inst.server, weights=f, minlength=S), F),
        "min_rate": np.where(inst.min_rate_bps > 0, np.maximum(inst.min_rate_bps - rate, 0.0)
                             / np.where(inst.min_rate_bps > 0, inst.min_rate_bps, 1.0), 0.0),
        "deadline": relative_excess(lat, inst.deadline_s),
        "nonnegative": np.maximum(np.maximum(-b, 0.0) / np.maximum(B[inst.server], 1e-300),
                                  np.maximum(-f, 0.0) / np.maximum(F[inst.server], 1e-300)),
    }
    hard = {"bandwidth", "compute", "nonnegative"}
    if spec.use_min_rate:
        hard.add("min_rate")
    if spec.use_deadline:
        hard.add("deadline")
    wl = inst.weight * lat
    totals = {
        "latency_mean_s": float(lat.mean()),
        "latency_p95_s": p95(lat),
        "latency_max_s": float(lat.max()),
        "weighted_latency_s": float(wl.sum()),
        "uplink_time_mean_s": float(t_up.mean()),
        "compute_time_mean_s": float(t_cmp.mean()),
    }
    per_item = {"latency_s": lat, "t_uplink_s": t_up, "t_compute_s": t_cmp, "rate_bps": rate}
    return _pack("allocation.bandwidth_compute", float(wl.sum()), per_item, totals, v,
                 frozenset(hard))


register_evaluator(BandwidthComputeAllocation, evaluate_bandwidth_compute)


def evaluate_joint_bp(inst: JointBPInstance, alloc: JointBPAllocation, objective: Any = None
                      ) -> Metrics:
    """Metrics of a joint bandwidth/power allocation; ``objective`` is a :class:`JointBPSpec`.

    Physics: ``r = b log2(1 + p g/(N0 b))``, ``t = D/r`` (s), ``E = p t`` (J), block area
    ``b t`` (Hz s); objective ``sum w (alpha t + beta E)``. Violations: ``area`` (sum b t vs
    ``area_scale B T_f``), ``bandwidth`` (b <= B), ``max_power``, ``frame`` (t <= T_f),
    ``deadline`` (t <= T_n, hard when the spec uses deadlines), ``nonnegative``.
    """
    spec: JointBPSpec = _spec(objective, JointBPSpec, JointBPSpec())
    n = inst.n_users
    if alloc.bandwidth_hz.shape != (n,):
        raise allocation_mismatch(
            f"allocation has {alloc.bandwidth_hz.shape[0]} users, instance has {n}")
    b, p = np.maximum(alloc.bandwidth_hz, 0.0), np.maximum(alloc.power_w, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(b > 0, p * inst.gain / (inst.noise_psd_w_per_hz * b), 0.0)
    rate = b * np.log1p(snr) / LN2  # log1p: exact at any SNR (log2(1 + 1e-17) = 0)
    t = _div(inst.data_bits, rate)
    E = np.where(p > 0, p * t, 0.0)
    blk = np.where(b > 0, b * t, 0.0)
    B = inst.bandwidth_hz
    v = {
        "area": relative_excess(np.array([blk.sum()]),
                                np.array([spec.area_scale * B * inst.frame_s])),
        "bandwidth": relative_excess(b, np.full(n, B)),
        "max_power": relative_excess(p, inst.max_power_w),
        "frame": relative_excess(t, np.full(n, inst.frame_s)),
        "deadline": relative_excess(t, inst.deadline_s),
        "nonnegative": np.maximum(np.maximum(-alloc.bandwidth_hz, 0.0) / B,
                                  np.maximum(-alloc.power_w, 0.0) / inst.max_power_w),
    }
    hard = {"area", "bandwidth", "max_power", "frame", "nonnegative"}
    if spec.use_deadline:
        hard.add("deadline")
    cost = inst.weight * (spec.latency_weight * t + spec.energy_weight * E)
    totals = {
        "latency_mean_s": float(t.mean()),
        "latency_p95_s": p95(t),
        "latency_max_s": float(t.max()),
        "energy_total_j": float(E.sum()),
        "area_used_hz_s": float(blk.sum()),
        "weighted_latency_s": float((inst.weight * t).sum()),
        "weighted_energy_j": float((inst.weight * E).sum()),
    }
    per_item = {"rate_bps": rate, "latency_s": t, "energy_j": E, "area_hz_s": blk, "cost": cost}
    return _pack("allocation.joint_bp", float(cost.sum()), per_item, totals, v, frozenset(hard))


register_evaluator(JointBPAllocation, evaluate_joint_bp)


def _objective_of(objective: Any) -> tuple[LlmObjective, bool]:
    """Weights and whether integer tokens are required (from a spec, if given one)."""
    if objective is None:
        return LlmObjective(), False
    if isinstance(objective, LlmObjective):
        return objective, False
    obj = getattr(objective, "objective", None)
    if isinstance(obj, LlmObjective):
        return obj, bool(getattr(objective, "integer_tokens", False))
    raise ValidationError("objective", "-", type(objective).__name__,
                          "must be an LlmObjective or a spec that carries one")


def epsilon_violations(objective: Any, sums: dict[str, float], scale: dict[str, float]
                       ) -> dict[str, np.ndarray]:
    """Relative violations of a spec's epsilon constraints (hard; issue 11).

    ``objective.epsilon`` holds ``(metric, bound)`` pairs: ``sums[metric] <= bound`` for latency
    and energy, ``>= bound`` for quality. The excess is divided by ``max(|bound|, 1e-9 *
    scale[metric])`` (``scale``: the sum of the absolute terms), so a bound of 0 is checked as
    strictly as any other (a positive latency against ``latency <= 0`` is violated).
    """
    out: dict[str, np.ndarray] = {}
    for i, (metric, bound) in enumerate(getattr(objective, "epsilon", ()) or ()):
        value = float(sums[metric])
        excess = bound - value if metric == "quality" else value - bound
        den = max(abs(float(bound)), 1e-9 * abs(float(scale[metric])), 1e-300)
        rel = math.inf if math.isnan(excess) else max(excess, 0.0) / den
        out[f"epsilon_{metric}" + (f"_{i}" if i else "")] = np.array([rel])
    return out


def evaluate_llm(inst: Any, alloc: LlmAllocation, objective: Any = None) -> Metrics:
    """Metrics of a token allocation: latency, energy, quality, objective and violations.

    Epsilon rows of an :class:`~aigc_opt.problems.allocation.data_llm.LlmSpec` (weighted sums
    ``sum w L <= bound``, ``sum w E <= bound``, ``sum w Q >= bound``) are hard constraints
    ``epsilon_<metric>`` (see :func:`epsilon_violations`)."""
    obj, integer = _objective_of(objective)
    N = int(np.asarray(inst.prompt_tokens).shape[0])
    if alloc.n_requests != N:
        raise allocation_mismatch(
            f"allocation for {alloc.n_requests} requests does not fit an instance "
            f"with {N}")
    a = alloc.admitted.astype(np.float64)
    t_raw = np.asarray(alloc.tokens, dtype=np.float64)
    # the physics sees tokens clipped at 0: a negative count within the nonnegative row's
    # tolerance (-1e-6 token) must not earn a negative latency or energy (certify probe:
    # at energy x1e6 it beat the certified optimum 0 by 1e-3)
    t = np.maximum(t_raw, 0.0)
    P = np.asarray(inst.prompt_tokens, dtype=np.float64)
    phi, F, tau = inst.flop_per_token, inst.compute_flops, inst.decode_step_s
    ctx = a * P + t  # tokens held in the KV cache / processed
    lat = a * P * phi / F + tau * t
    energy = inst.energy_per_flop_j * phi * ctx
    q = token_quality(np.asarray(inst.quality_tokens), np.asarray(inst.quality_values), t)

    v: dict[str, np.ndarray] = {}
    v["batch_slots"] = relative_excess(np.array([a.sum()]), np.array([float(inst.batch_slots)]))
    kv_cap = inst.gpu_memory_bytes - inst.model_bytes
    kv_bytes = float((np.asarray(inst.kv_bytes_per_token) * ctx).sum())
    v["kv_memory"] = relative_excess(np.array([kv_bytes]), np.array([kv_cap]))
    v["compute"] = relative_excess(np.array([phi * ctx.sum()]), np.array([F * inst.slot_s]))
    v["deadline"] = relative_excess(lat, np.asarray(inst.deadline_s))
    cap = np.asarray(inst.max_tokens, dtype=np.float64) * a
    v["max_tokens"] = np.maximum(t - cap, 0.0) / np.maximum(np.asarray(inst.max_tokens), 1.0)
    v["nonnegative"] = np.maximum(-t_raw, 0.0)
    if integer:
        v["integer_tokens"] = np.abs(t_raw - np.round(t_raw))
    w = np.asarray(inst.weight, dtype=np.float64)
    v.update(epsilon_violations(
        objective,
        {"latency": float((w * lat).sum()), "energy": float((w * energy).sum()),
         "quality": float((w * q).sum())},
        {"latency": float(np.abs(w * lat).sum()), "energy": float(np.abs(w * energy).sum()),
         "quality": float(np.abs(w * q).sum())}))
    violations = {k: float(np.max(x, initial=0.0)) for k, x in v.items()}
    counts = {k: int((x > FEAS_TOL).sum()) for k, x in v.items()}

    cost = w * (obj.latency * lat + obj.energy * energy - obj.quality * q)
    totals = {
        "latency_mean_s": float(lat[a > 0].mean()) if a.any() else 0.0,
        "latency_p95_s": p95(lat[a > 0]) if a.any() else 0.0,
        "latency_max_s": float(lat[a > 0].max()) if a.any() else 0.0,
        "energy_total_j": float(energy.sum()),
        "server_energy_total_j": float(energy.sum()),  # all of it is the GPU's compute
        "quality_mean": float(q.mean()),
        "tokens_total": float(t.sum()),
        "admitted": float(a.sum()),
        "kv_bytes": kv_bytes,
        "latency_weighted_s": float((w * lat).sum()),
        "energy_weighted_j": float((w * energy).sum()),
        "quality_weighted": float((w * q).sum()),
    }
    return Metrics(
        family="allocation.llm_tokens",
        objective=float(cost.sum()),
        per_item={"latency_s": lat, "energy_j": energy, "quality": q, "cost": cost},
        totals=totals,
        violations=violations,
        violation_counts=counts,
        hard=frozenset(v),
    )


register_evaluator(LlmAllocation, evaluate_llm)


__all__ = ["evaluate_bandwidth_compute", "evaluate_joint_bp", "evaluate_llm", "evaluate_power"]
