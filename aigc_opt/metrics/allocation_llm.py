r"""LLM token allocation: the allocation type, objective weights and the independent evaluator.

One edge GPU serves N LLM requests in a scheduling slot of ``slot_s`` seconds. Request n, if
admitted (``a_n = 1``, one of ``batch_slots`` batch slots), is prefilled (``P_n`` prompt tokens)
and then decodes ``t_n`` output tokens, one per decode iteration of ``decode_step_s``
(memory-bound decode: the iteration time is taken as independent of the batch size up to
``batch_slots``). Per request, SI units:

* latency   ``L_n = a_n P_n \phi / F + t_n \tau``  [s] (prefill at the full GPU speed F);
* energy    ``E_n = e \phi (a_n P_n + t_n)``      [J];
* quality   ``Q_n = q_n(t_n)``, the request's concave piecewise-linear curve (0 at 0 tokens);
* KV cache  ``\kappa_n (a_n P_n + t_n)`` bytes, ``\kappa_n`` = the request's bytes per token.

Constraints: ``sum a <= batch_slots``; ``sum_n KV_n <= gpu_memory - model_bytes``;
``sum \phi (a P + t) <= F slot_s`` (compute per slot); ``L_n <= d_n``; ``0 <= t_n <= T^max_n a_n``
(and ``t_n`` integer when the spec asks for integer tokens).

Objective (minimised)::

    sum_n w_n (alpha L_n + beta E_n - gamma Q_n)

The evaluator reads only the instance's arrays (duck-typed: any object with the fields of
:class:`aigc_opt.problems.allocation_llm.LlmInstance`) and the allocation, never a solver's
matrices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ValidationError
from . import FEAS_TOL, Metrics, p95, register_evaluator, relative_excess


@dataclass(frozen=True)
class LlmObjective:
    """Weights of the LLM objective ``sum_n w_n (alpha L_n + beta E_n - gamma Q_n)``.

    Parameters
    ----------
    latency : float
        alpha, per second of request latency.
    energy : float
        beta, per joule of GPU energy spent on the request.
    quality : float
        gamma, per unit of quality (a reward).
    """

    latency: float = 0.01
    energy: float = 0.002
    quality: float = 1.0

    def __post_init__(self) -> None:
        for name in ("latency", "energy", "quality"):
            v = getattr(self, name)
            if not np.isfinite(v) or v < 0:
                raise ValidationError(name, "weight", v, "must be finite and >= 0")


@dataclass(frozen=True, eq=False)
class LlmAllocation:
    """Admission and token budgets of N LLM requests.

    Parameters
    ----------
    admitted : ndarray of bool, shape (N,)
        Whether request n gets a batch slot in this scheduling slot.
    tokens : ndarray, shape (N,)
        Output tokens granted (0 for a rejected request), tokens.
    """

    admitted: np.ndarray
    tokens: np.ndarray

    def __post_init__(self) -> None:
        a = np.array(self.admitted, dtype=bool)
        t = np.array(self.tokens, dtype=np.float64)
        if a.ndim != 1:
            raise ValidationError("admitted", "-", a.shape, "must be a 1-D array")
        if t.shape != a.shape:
            raise ValidationError("tokens", "token", t.shape, f"wrong shape, expected {a.shape}")
        if np.isnan(t).any():
            raise ValidationError("tokens", "token", float("nan"), "NaN is not allowed")
        a.flags.writeable = False
        t.flags.writeable = False
        object.__setattr__(self, "admitted", a)
        object.__setattr__(self, "tokens", t)

    @property
    def n_requests(self) -> int:
        """Number of requests N."""
        return int(self.admitted.shape[0])


def _objective_of(objective: Any) -> tuple[LlmObjective, bool]:
    """Weights and whether integer tokens are required (from a spec, if given one)."""
    if objective is None:
        return LlmObjective(), False
    if isinstance(objective, LlmObjective):
        return objective, False
    obj = getattr(objective, "objective", None)
    if isinstance(obj, LlmObjective):
        return obj, bool(getattr(objective, "integer_tokens", False))
    raise TypeError(f"expected an LlmObjective or a spec with one, got {type(objective)}")


def token_quality(breakpoints: np.ndarray, values: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """Row-wise linear interpolation ``q_n(t_n)``, constant beyond the last breakpoint.

    Parameters
    ----------
    breakpoints, values : ndarray, shape (N, P)
        Strictly increasing token breakpoints (first 0) and quality at them.
    tokens : ndarray, shape (N,)
    """
    t = np.asarray(tokens, dtype=np.float64)
    P = breakpoints.shape[1]
    idx = np.clip((breakpoints <= t[:, None]).sum(axis=1) - 1, 0, P - 2)
    r = np.arange(t.size)
    x0, x1 = breakpoints[r, idx], breakpoints[r, idx + 1]
    q0, q1 = values[r, idx], values[r, idx + 1]
    frac = np.clip((t - x0) / (x1 - x0), 0.0, 1.0)
    return q0 + frac * (q1 - q0)


def evaluate_llm(inst: Any, alloc: LlmAllocation, objective: Any = None) -> Metrics:
    """Metrics of a token allocation: latency, energy, quality, objective and violations."""
    obj, integer = _objective_of(objective)
    N = int(np.asarray(inst.prompt_tokens).shape[0])
    if alloc.n_requests != N:
        raise ValueError(f"allocation for {alloc.n_requests} requests does not fit an instance "
                         f"with {N}")
    a = alloc.admitted.astype(np.float64)
    t = alloc.tokens
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
    v["nonnegative"] = np.maximum(-t, 0.0)
    if integer:
        v["integer_tokens"] = np.abs(t - np.round(t))
    violations = {k: float(np.max(x, initial=0.0)) for k, x in v.items()}
    counts = {k: int((x > FEAS_TOL).sum()) for k, x in v.items()}

    w = np.asarray(inst.weight, dtype=np.float64)
    cost = w * (obj.latency * lat + obj.energy * energy - obj.quality * q)
    totals = {
        "latency_mean_s": float(lat[a > 0].mean()) if a.any() else 0.0,
        "latency_p95_s": p95(lat[a > 0]) if a.any() else 0.0,
        "energy_total_j": float(energy.sum()),
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
