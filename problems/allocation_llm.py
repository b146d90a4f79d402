r"""LLM requests at an edge GPU: admission (batch slots) and output-token budgets as an exact MILP.

The model, units and evaluator are in :mod:`aigc_opt.metrics.allocation_llm`. Decisions per
request n: admission ``a_n in {0,1}``, tokens ``t_n`` (integer, or continuous with
``integer_tokens=False``) and the quality epigraph variable ``u_n``:

.. math::

    \min \sum_n w_n \big(\alpha (a_n P_n\phi/F + \tau t_n)
          + \beta e\phi (a_n P_n + t_n) - \gamma u_n\big)

    \text{s.t.}\quad u_n \le q_{n,p} + s_{n,p} (t_n - x_{n,p}) \;\; \forall p, \qquad
    u_n \le q_{n,P},

    \sum_n a_n \le B, \quad \sum_n \kappa_n (a_n P_n + t_n) \le G - M_{model}, \quad
    \phi \sum_n (a_n P_n + t_n) \le F T_{slot},

    a_n P_n \phi / F + \tau t_n \le d_n, \qquad 0 \le t_n \le T^{max}_n a_n.

**Quality linearisation.** Each request's curve ``q_n`` is concave, nondecreasing and piecewise
linear with ``q_n(0) = 0`` (validated), so it equals the minimum of its segment lines and of the
flat line at its last value; maximising ``u_n`` under those ``P`` rows gives ``u_n = q_n(t_n)``
exactly, with no binaries (a non-concave curve would need the one-hot form of
:mod:`aigc_opt.problems.allocation_steps`). The admission binaries make it a MILP; a rejected
request has ``t_n = 0`` and so ``u_n <= q_n(0) = 0``.

KV bytes per token: the instance field ``kv_bytes_per_token`` (per request, so requests may use
models of different sizes; a scalar is broadcast); :meth:`LlmInstance.generate`
derives it from the model size as ``model_bytes / 24576``: an fp16 decoder with ``12 L d^2``
parameters (``24 L d^2`` bytes) stores ``2 L d`` fp16 numbers (``4 L d`` bytes) per token, a ratio
``1/(6 d)``, with ``d = 4096`` (a 7B model: 0.57 MB/token; Llama-2-7B's is 0.52 MB).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np

from aigc_opt.cases import CaseKind, register_case
from aigc_opt.errors import ValidationError
from aigc_opt.metrics.allocation_llm import LlmAllocation, LlmObjective
from aigc_opt.program import Block, LinearProgram, RowBuilder
from aigc_opt.validate import check_array

logger = logging.getLogger(__name__)

EPSILON_METRICS = ("latency", "energy", "quality")


def _vec(name: str, unit: str, value: Any, n: int | None, *, low: float, strict: bool,
         allow_inf: bool = False, integer: bool = False) -> np.ndarray:
    return check_array(name, unit, value, None if n is None else (n,), ndim=1, low=low,
                       strict=strict, allow_inf=allow_inf, integer=integer)

def _scalar(name: str, unit: str, value: Any, *, low: float, strict: bool) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(name, unit, value, "must be a number") from exc
    if not math.isfinite(v) or (v <= low if strict else v < low):
        raise ValidationError(name, unit, value, f"must be finite and {'>' if strict else '>='} "
                                                 f"{low:g}")
    return v


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
        phi, FLOP per (prompt or output) token.
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
        kv = np.broadcast_to(np.asarray(self.kv_bytes_per_token, dtype=np.float64), (n,)) \
            if np.ndim(self.kv_bytes_per_token) == 0 else self.kv_bytes_per_token
        set_("kv_bytes_per_token", _vec("kv_bytes_per_token", "byte/token", kv, n, low=0.0,
                                        strict=True))
        for name in ("quality_tokens", "quality_values"):
            arr = np.array(getattr(self, name), dtype=np.float64)
            if arr.ndim != 2 or arr.shape[0] != n or arr.shape[1] < 2:
                raise ValidationError(name, "-", arr.shape, f"wrong shape, expected ({n}, P>=2)")
            if not np.isfinite(arr).all():
                raise ValidationError(name, "-", arr[~np.isfinite(arr)][0], "must be finite")
            arr.flags.writeable = False
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
                           ("flop_per_token", "FLOP"), ("slot_s", "s"), ("decode_step_s", "s")):
            set_(name, _scalar(name, unit, getattr(self, name), low=0.0, strict=True))
        set_("energy_per_flop_j", _scalar("energy_per_flop_j", "J/FLOP", self.energy_per_flop_j,
                                          low=0.0, strict=False))
        if self.model_bytes >= self.gpu_memory_bytes:
            raise ValidationError("model_bytes", "byte", self.model_bytes,
                                  f"leaves no KV memory on a {self.gpu_memory_bytes:g} B GPU")
        slots = _scalar("batch_slots", "-", self.batch_slots, low=1.0, strict=False)
        if slots != round(slots):
            raise ValidationError("batch_slots", "-", self.batch_slots, "must be an integer")
        set_("batch_slots", int(slots))

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
        if int(n_requests) < 1:
            raise ValidationError("n_requests", "-", n_requests, "must be >= 1")
        rng = np.random.default_rng(seed)
        N = int(n_requests)
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
        unknown = set(overrides) - set(fields)
        if unknown:
            name = sorted(unknown)[0]
            raise ValidationError(name, "-", overrides[name], "unknown LlmInstance field")
        fields.update(overrides)
        return cls(**fields)


@dataclass(frozen=True)
class LlmSpec:
    """Token-budget MILP (see the module docstring).

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
    """

    objective: LlmObjective = field(default_factory=LlmObjective)
    integer_tokens: bool = True
    epsilon: tuple[tuple[str, float], ...] = ()
    problem: str = "allocation"
    variant: str = "llm_tokens"

    def __post_init__(self) -> None:
        for item in self.epsilon:
            if len(item) != 2 or item[0] not in EPSILON_METRICS or not np.isfinite(item[1]):
                raise ValidationError("epsilon", "-", item, "must be (metric, finite bound), "
                                      f"metric in {EPSILON_METRICS}")

    def build(self, instance: LlmInstance) -> LinearProgram:
        """The token MILP (pure, vectorised)."""
        return build(instance, self)

    def decode(self, instance: LlmInstance, program: LinearProgram, values: Any) -> LlmAllocation:
        """Admission ``a > 1/2``; tokens rounded when integer, 0 for rejected requests."""
        a = np.asarray(values["admit"], dtype=np.float64) > 0.5
        t = np.maximum(np.asarray(values["tokens"], dtype=np.float64), 0.0)
        if self.integer_tokens:
            t = np.round(t)
        return LlmAllocation(admitted=a, tokens=np.where(a, t, 0.0))

    def with_weights(self, *, latency: float, energy: float, quality: float) -> Self:
        """Same spec with weights alpha = latency, beta = energy, gamma = quality."""
        return dataclasses.replace(self, objective=LlmObjective(latency, energy, quality))

    def with_epsilon(self, metric: str, bound: float) -> Self:
        """Same spec plus the epsilon row ``metric <= bound`` (``>=`` for quality)."""
        return dataclasses.replace(self, epsilon=(*self.epsilon, (metric, float(bound))))

    def pareto_metrics(self, instance: LlmInstance, allocation: LlmAllocation
                       ) -> dict[str, float]:
        """Weighted latency, energy and quality sums, recomputed by the evaluator."""
        from aigc_opt.metrics import evaluate

        tot = evaluate(instance, allocation, self).totals
        return {"latency": tot["latency_weighted_s"], "energy": tot["energy_weighted_j"],
                "quality": tot["quality_weighted"]}


def build(inst: LlmInstance, spec: LlmSpec) -> LinearProgram:
    """Assemble the MILP; columns ``admit`` (N), ``tokens`` (N), ``u`` (N). Rows are scaled by
    their right-hand sides so that HiGHS sees O(1) coefficients."""
    N = inst.n_requests
    o = spec.objective
    w = inst.weight
    P = inst.prompt_tokens
    phi, F, tau = inst.flop_per_token, inst.compute_flops, inst.decode_step_s
    prefill_s = P * phi / F
    e_tok = inst.energy_per_flop_j * phi  # J per token
    x, q = inst.quality_tokens, inst.quality_values
    K = x.shape[1]
    ia, it, iu = 0, N, 2 * N
    n_cols = 3 * N
    rN = np.arange(N)
    rb = RowBuilder()
    add = rb.add

    # epigraph: u_n - s_np t_n <= q_np - s_np x_np (segments p), u_n <= q_n,last
    slope = np.diff(q, axis=1) / np.diff(x, axis=1)  # (N, K-1)
    icpt = q[:, :-1] - slope * x[:, :-1]
    ns = N * (K - 1)
    rs = np.arange(ns)
    un = np.repeat(rN, K - 1)
    add(np.concatenate([rs, rs]), np.concatenate([iu + un, it + un]),
        np.concatenate([np.ones(ns), -slope.reshape(-1)]), ns, -np.inf, icpt.reshape(-1))
    add(rN, iu + rN, np.ones(N), N, -np.inf, q[:, -1])
    # t_n - Tmax_n a_n <= 0
    add(np.concatenate([rN, rN]), np.concatenate([it + rN, ia + rN]),
        np.concatenate([np.ones(N), -inst.max_tokens]), N, -np.inf, 0.0)
    # batch slots
    add(np.zeros(N, dtype=np.int64), ia + rN, np.ones(N), 1, -np.inf, float(inst.batch_slots))
    # KV memory and compute per slot, both divided by their capacity
    kv = inst.kv_bytes_per_token
    for per_token, cap in ((kv, inst.kv_capacity_bytes), (np.full(N, phi), F * inst.slot_s)):
        add(np.zeros(2 * N, dtype=np.int64), np.concatenate([ia + rN, it + rN]),
            np.concatenate([per_token * P, per_token]) / cap, 1, -np.inf, 1.0)
    # deadlines (divided by d_n where finite)
    d = inst.deadline_s
    ds = np.where(np.isfinite(d), d, 1.0)
    add(np.concatenate([rN, rN]), np.concatenate([ia + rN, it + rN]),
        np.concatenate([prefill_s / ds, np.full(N, tau) / ds]), N, -np.inf,
        np.where(np.isfinite(d), 1.0, np.inf))
    for metric, bound in spec.epsilon:
        z = np.zeros(2 * N, dtype=np.int64)
        if metric == "latency":
            add(z, np.concatenate([ia + rN, it + rN]), np.concatenate([w * prefill_s, w * tau]),
                1, -np.inf, bound)
        elif metric == "energy":
            add(z, np.concatenate([ia + rN, it + rN]),
                np.concatenate([w * e_tok * P, w * e_tok]), 1, -np.inf, bound)
        else:
            add(z[:N], iu + rN, w, 1, bound, np.inf)

    c = np.zeros(n_cols)
    c[ia:it] = w * (o.latency * prefill_s + o.energy * e_tok * P)
    c[it:iu] = w * (o.latency * tau + o.energy * e_tok)
    c[iu:] = -o.quality * w
    A = rb.matrix(n_cols)
    row_lower, row_upper = rb.bounds()
    col_hi = np.concatenate([np.ones(N), inst.max_tokens, np.full(N, np.inf)])
    integ = np.zeros(n_cols, dtype=bool)
    integ[ia:it] = True
    integ[it:iu] = spec.integer_tokens
    return LinearProgram(
        c=c, A=A, row_lower=row_lower, row_upper=row_upper,
        col_lower=np.concatenate([np.zeros(2 * N), np.full(N, -np.inf)]), col_upper=col_hi,
        integrality=integ,
        blocks=(Block("admit", ia, (N,)), Block("tokens", it, (N,)), Block("u", iu, (N,))),
        name=f"allocation.llm_tokens[N={N}]",
    )


def greedy_tokens(inst: LlmInstance, spec: LlmSpec, seed: int = 0) -> LlmAllocation:
    """Baseline: admit by weight (then index) while slots, KV memory and compute last, each
    request taking its largest token count that fits its deadline and the remaining capacity."""
    N = inst.n_requests
    order = np.lexsort((np.arange(N), -inst.weight))
    kv_left = inst.kv_capacity_bytes  # bytes
    fl_left = inst.compute_flops * inst.slot_s / inst.flop_per_token  # tokens
    a = np.zeros(N, dtype=bool)
    t = np.zeros(N)
    prefill = inst.prompt_tokens * inst.flop_per_token / inst.compute_flops
    for n in order[: inst.batch_slots]:  # sequential greedy: a loop is inherent
        kv_n = inst.kv_bytes_per_token[n]
        room = min(kv_left / kv_n, fl_left) - inst.prompt_tokens[n]
        by_deadline = (inst.deadline_s[n] - prefill[n]) / inst.decode_step_s
        grant = np.floor(min(room, by_deadline, inst.max_tokens[n]))
        if grant < 1:
            continue
        a[n], t[n] = True, grant
        kv_left -= kv_n * (inst.prompt_tokens[n] + grant)
        fl_left -= inst.prompt_tokens[n] + grant
    return LlmAllocation(admitted=a, tokens=t)


LLM_CASE = CaseKind(
    name="allocation.llm_tokens",
    make_instance=lambda seed, n_requests=24: LlmInstance.generate(n_requests, seed=seed),
    make_spec=lambda **params: LlmSpec(**params),
    default_methods=("highs", "greedy_weight"),
    reference="highs",
    description="LLM admission and token budgets under KV memory, compute, batch slots",
)


def _register() -> None:
    from aigc_opt.solve import register_heuristic

    register_heuristic(LlmSpec, "greedy_weight", greedy_tokens)
    register_case(LLM_CASE)


_register()
