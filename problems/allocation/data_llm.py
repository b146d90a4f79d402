r"""Data types of LLM token allocation: instance, spec, allocation, objective weights.

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

The MILP builder is :mod:`aigc_opt.problems.allocation.llm`, the referee
:mod:`aigc_opt.problems.allocation.evaluate`.

KV bytes per token: the instance field ``kv_bytes_per_token`` (per request, so requests may use
models of different sizes; a scalar is broadcast); :meth:`LlmInstance.generate`
derives it from the model size as ``model_bytes / 24576``: an fp16 decoder with ``12 L d^2``
parameters (``24 L d^2`` bytes) stores ``2 L d`` fp16 numbers (``4 L d`` bytes) per token, a ratio
``1/(6 d)``, with ``d = 4096`` (a 7B model: 0.57 MB/token; Llama-2-7B's is 0.52 MB).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import numpy as np

from aigc_opt.errors import UnknownNameError, ValidationError
from aigc_opt.metrics import evaluate
from aigc_opt.schema import bound, check_floor
from aigc_opt.spec import ProblemSpec
from aigc_opt.validate import (
    check_array,
    check_bool,
    check_int,
    check_scalar,
    check_seed,
    check_size,
)

from .data_steps import check_epsilon

logger = logging.getLogger(__name__)

#: Metrics an epsilon row can bound (weighted sums over requests).
EPSILON_METRICS = ("latency", "energy", "quality")


#: Physical upper bounds by unit (see :data:`aigc_opt.schema.BOUNDS`).
_HIGH = {"token": bound("tokens"), "-": bound("weight"), "s": bound("time_s"),
         "byte": bound("bytes"), "byte/token": bound("bytes"), "FLOP/s": bound("flops"),
         "FLOP": bound("flop"), "FLOP/token": bound("flop"), "J/FLOP": bound("j_per_flop")}


def _vec(name: str, unit: str, value: Any, n: int | None, *, low: float, strict: bool,
         allow_inf: bool = False, integer: bool = False) -> np.ndarray:
    return check_array(name, unit, value, None if n is None else (n,), ndim=1, low=low,
                       high=_HIGH[unit], strict=strict, allow_inf=allow_inf, integer=integer,
                       like="prompt_tokens")


def _scalar(name: str, unit: str, value: Any, *, low: float, strict: bool) -> float:
    return float(check_scalar(name, value, unit, low, _HIGH[unit], strict=strict))


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
        for name, unit in (("latency", "1/s"), ("energy", "1/J"), ("quality", "-")):
            object.__setattr__(self, name, check_scalar(name, getattr(self, name), unit, 0.0,
                                                        bound("weight")))


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

    instance_type: ClassVar[type]  # set below the LlmInstance class

    def __post_init__(self) -> None:
        a = check_array("admitted", "-", self.admitted, ndim=1, dtype=bool)
        t = check_array("tokens", "token", self.tokens, a.shape, allow_inf=True)
        object.__setattr__(self, "admitted", a)
        object.__setattr__(self, "tokens", t)

    @property
    def n_requests(self) -> int:
        """Number of requests N."""
        return int(self.admitted.shape[0])


@dataclass(frozen=True, eq=False)
class LlmInstance:
    """N LLM requests at one edge GPU in one scheduling slot (SI units, validated).

    Parameters
    ----------
    prompt_tokens : ndarray, shape (N,)
        Prompt length P_n, tokens (>= 0).
    max_tokens : ndarray, shape (N,)
        Largest useful output T^max_n, tokens (integer >= 1).
    weight : ndarray, shape (N,)
        Request weight w_n (> 0).
    deadline_s : ndarray, shape (N,)
        Latency limit d_n, s (> 0, inf for none).
    quality_tokens : ndarray, shape (N, P)
        Breakpoints of each quality curve, tokens: first 0, strictly increasing, P >= 2.
    quality_values : ndarray, shape (N, P)
        Quality at the breakpoints: first 0, nondecreasing, concave (slopes nonincreasing).
    gpu_memory_bytes, model_bytes : float
        GPU memory and model weights, byte; the KV cache gets the difference.
    kv_bytes_per_token : float or ndarray, shape (N,)
        KV-cache bytes per token of each request, byte/token (a scalar is broadcast).
    compute_flops : float
        GPU speed F, FLOP/s.
    flop_per_token : float
        phi, FLOP per (prompt or output) token, FLOP/token.
    batch_slots : int
        B, most requests in the batch.
    slot_s : float
        Scheduling slot length, s (compute per slot = F slot_s).
    decode_step_s : float
        tau, time of one decode iteration, s.
    energy_per_flop_j : float
        e, GPU energy per FLOP, J/FLOP.
    """

    prompt_tokens: np.ndarray
    max_tokens: np.ndarray
    weight: np.ndarray
    deadline_s: np.ndarray
    quality_tokens: np.ndarray
    quality_values: np.ndarray
    gpu_memory_bytes: float
    model_bytes: float
    kv_bytes_per_token: np.ndarray
    compute_flops: float
    flop_per_token: float
    batch_slots: int
    slot_s: float
    decode_step_s: float
    energy_per_flop_j: float

    def __post_init__(self) -> None:
        pt = _vec("prompt_tokens", "token", self.prompt_tokens, None, low=0.0, strict=False)
        n = pt.shape[0]
        if n == 0:
            raise ValidationError("prompt_tokens", "token", [], "no requests")
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        set_("prompt_tokens", pt)
        set_("max_tokens", _vec("max_tokens", "token", self.max_tokens, n, low=1.0, strict=False,
                                integer=True))
        set_("weight", _vec("weight", "-", self.weight, n, low=0.0, strict=True))
        set_("deadline_s", _vec("deadline_s", "s", self.deadline_s, n, low=0.0, strict=True,
                                allow_inf=True))
        kv = self.kv_bytes_per_token
        if isinstance(kv, (int, float, np.number)) and not isinstance(kv, (bool, np.bool_)):
            kv = np.full(n, kv, dtype=np.float64)  # a scalar is broadcast
        set_("kv_bytes_per_token", _vec("kv_bytes_per_token", "byte/token", kv, n, low=0.0,
                                        strict=True))
        for name, unit, hi in (("quality_tokens", "token", bound("tokens")),
                               ("quality_values", "-", bound("quality"))):
            arr = check_array(name, unit, getattr(self, name), low=-hi, high=hi)
            if arr.ndim != 2 or arr.shape[0] != n or arr.shape[1] < 2:
                raise ValidationError(name, unit, arr.shape,
                                      f"wrong shape, expected ({n}, P>=2) to match prompt_tokens")
            set_(name, arr)
        x, q = self.quality_tokens, self.quality_values
        if (x[:, 0] != 0).any() or (np.diff(x, axis=1) <= 0).any():
            raise ValidationError("quality_tokens", "token", x[0],
                                  "must start at 0 and be strictly increasing per request")
        slope = np.diff(q, axis=1) / np.diff(x, axis=1)
        if (q[:, 0] != 0).any() or (slope < 0).any() or (np.diff(slope, axis=1) > 1e-12).any():
            raise ValidationError("quality_values", "-", q[0],
                                  "must start at 0 and be nondecreasing and concave per request")
        for name, unit in (("gpu_memory_bytes", "byte"), ("model_bytes", "byte"),
                           ("compute_flops", "FLOP/s"),
                           ("flop_per_token", "FLOP/token"), ("slot_s", "s"),
                           ("decode_step_s", "s")):
            set_(name, _scalar(name, unit, getattr(self, name), low=0.0, strict=True))
        check_floor("gpu_memory_bytes", "byte", self.gpu_memory_bytes, "bytes")
        check_floor("compute_flops", "FLOP/s", self.compute_flops, "flops")
        set_("energy_per_flop_j", _scalar("energy_per_flop_j", "J/FLOP", self.energy_per_flop_j,
                                          low=0.0, strict=False))
        if self.model_bytes >= self.gpu_memory_bytes:
            raise ValidationError("model_bytes", "byte", self.model_bytes,
                                  f"must be < gpu_memory_bytes = {self.gpu_memory_bytes:g} B "
                                  "(leaves no KV-cache memory)")
        set_("batch_slots", check_int("batch_slots", self.batch_slots, "-", 1,
                                      int(bound("count"))))

    @property
    def n_requests(self) -> int:
        """Number of requests N."""
        return int(self.prompt_tokens.shape[0])

    @property
    def kv_capacity_bytes(self) -> float:
        """GPU memory left for the KV cache, byte."""
        return self.gpu_memory_bytes - self.model_bytes

    def replace(self, **changes: Any) -> LlmInstance:
        """A new, validated instance with some fields changed."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def generate(cls, n_requests: int = 24, *, seed: int = 0, **overrides: Any) -> LlmInstance:
        """Seeded instance. *Assumed* values (typical hardware, not from a paper): a 7B fp16
        model (14 GB) on a 24 GB GPU (the AGOD server size), 1.2e14 FLOP/s, 2 FLOP per parameter
        per token, 4e-12 J/FLOP, 25 ms decode iterations, 16 batch slots, a 2 s slot; prompts of
        50-1000 tokens, outputs up to 64-1024 tokens, deadlines 5-30 s, weights 1.5 / 1
        alternating; quality ``1 - exp(-t / theta)`` (theta = 0.2-0.5 of the request's
        ``max_tokens``) sampled at 0, 1/8, 1/4, 1/2 and 1 of ``max_tokens``.
        """
        N = check_size("n_requests", n_requests, MAX_REQUESTS, raise_with=None)
        rng = np.random.default_rng(check_seed("seed", seed))
        model_bytes = 14e9
        tmax = rng.integers(64, 1025, size=N).astype(float)
        theta = tmax * rng.uniform(0.2, 0.5, size=N)
        x = tmax[:, None] * np.array([0.0, 0.125, 0.25, 0.5, 1.0])[None, :]
        fields: dict[str, Any] = dict(
            prompt_tokens=rng.integers(50, 1001, size=N).astype(float),
            max_tokens=tmax,
            weight=np.resize(np.array([1.5, 1.0]), N),
            deadline_s=rng.uniform(5.0, 30.0, size=N),
            quality_tokens=x,
            quality_values=1.0 - np.exp(-x / theta[:, None]),
            gpu_memory_bytes=24e9,
            model_bytes=model_bytes,
            kv_bytes_per_token=model_bytes / 24576.0,
            compute_flops=1.2e14,
            flop_per_token=model_bytes,  # 2 FLOP x 7e9 parameters
            batch_slots=16,
            slot_s=2.0,
            decode_step_s=0.025,
            energy_per_flop_j=4e-12,
        )
        unknown = sorted(set(overrides) - set(fields))
        if unknown:
            raise UnknownNameError("LlmInstance field", unknown[0], fields)
        fields.update(overrides)
        return cls(**fields)


LlmAllocation.instance_type = LlmInstance
#: Largest generated LLM instance (requests; 5 quality breakpoints each).
MAX_REQUESTS = 1_000_000


@dataclass(frozen=True)
class LlmSpec(ProblemSpec):
    """Token-budget MILP (see :mod:`aigc_opt.problems.allocation.llm`).

    Parameters
    ----------
    objective : LlmObjective
        Weights alpha (latency), beta (energy), gamma (quality).
    integer_tokens : bool
        Integer token counts (True) or a continuous relaxation of the token count (admission
        stays binary).
    epsilon : tuple of (str, float)
        Extra rows on weighted sums: ``latency`` (sum w L <= bound, s), ``energy``
        (sum w E <= bound, J), ``quality`` (sum w Q >= bound).
    problem, variant : str
        Family and variant name (:class:`aigc_opt.ProblemSpec`): labels; keep the defaults.
    """

    objective: LlmObjective = field(default_factory=LlmObjective)
    integer_tokens: bool = True
    epsilon: tuple[tuple[str, float], ...] = ()
    problem: str = "allocation"
    variant: str = "llm_tokens"

    instance_type = LlmInstance

    def __post_init__(self) -> None:
        if not isinstance(self.objective, LlmObjective):
            raise ValidationError("objective", "-", type(self.objective).__name__,
                                  "must be an LlmObjective")
        object.__setattr__(self, "integer_tokens", check_bool("integer_tokens",
                                                              self.integer_tokens))
        object.__setattr__(self, "epsilon", check_epsilon(self.epsilon))

    def with_weights(self, *, latency: float, energy: float, quality: float) -> Self:
        """Same spec with weights alpha = latency, beta = energy, gamma = quality."""
        return dataclasses.replace(self, objective=LlmObjective(latency, energy, quality))

    def with_epsilon(self, metric: str, bound: float) -> Self:
        """Same spec plus the epsilon row ``metric <= bound`` (``>=`` for quality)."""
        return dataclasses.replace(self, epsilon=(*self.epsilon, (metric, float(bound))))

    def pareto_metrics(self, instance: LlmInstance, allocation: LlmAllocation
                       ) -> dict[str, float]:
        """Weighted latency, energy and quality sums, recomputed by the evaluator."""
        tot = evaluate(instance, allocation, self).totals
        return {"latency": tot["latency_weighted_s"], "energy": tot["energy_weighted_j"],
                "quality": tot["quality_weighted"]}


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
