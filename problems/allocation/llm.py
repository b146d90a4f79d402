r"""LLM requests at an edge GPU: admission (batch slots) and output-token budgets as an exact MILP.

The model and units are in :mod:`aigc_opt.problems.allocation.data_llm` (instance, spec,
allocation, weights), the evaluator in :mod:`aigc_opt.problems.allocation.evaluate`.
Decisions per request n: admission ``a_n in {0,1}``, tokens ``t_n`` (integer, or continuous with
``integer_tokens=False``) and the quality epigraph variable ``u_n``:

.. math::

    \min \sum_n w_n \big(\alpha (a_n P_n\phi/F + \tau t_n)
          + \beta e\phi (a_n P_n + t_n) - \gamma u_n\big)

    \text{s.t.}\quad u_n \le q_{n,p} + s_{n,p} (t_n - x_{n,p}) \;\; \forall p, \qquad
    0 \le u_n \le q_{n,P},

    \sum_n a_n \le B, \quad \sum_n \kappa_n (a_n P_n + t_n) \le G - M_{model}, \quad
    \phi \sum_n (a_n P_n + t_n) \le F T_{slot},

    a_n P_n \phi / F + \tau t_n \le d_n, \qquad 0 \le t_n \le T^{max}_n a_n.

**Quality linearisation.** Each request's curve ``q_n`` is concave, nondecreasing and piecewise
linear with ``q_n(0) = 0`` (validated), so it equals the minimum of its segment lines and of the
flat line at its last value; maximising ``u_n`` under those ``P`` rows gives ``u_n = q_n(t_n)``
exactly, with no binaries (a non-concave curve would need the one-hot form of
:mod:`aigc_opt.problems.allocation.steps`). The admission binaries make it a MILP; a rejected
request has ``t_n = 0`` and so ``u_n <= q_n(0) = 0``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from aigc_opt.cases import CaseKind, register_case
from aigc_opt.explain import GridLabels
from aigc_opt.program import Block, LinearProgram, RowBuilder
from aigc_opt.solve import register_heuristic
from aigc_opt.spec import register_builder

from .data_llm import LlmAllocation, LlmInstance, LlmSpec

logger = logging.getLogger(__name__)


def build(inst: LlmInstance, spec: LlmSpec) -> LinearProgram:
    """Assemble the MILP; columns ``admit`` (N), ``tokens`` (N), ``u`` (N).

    Numerics: the KV-memory, compute and deadline rows are divided by their right-hand sides
    (capacity, ``F T_slot``, ``d_n``), so their right-hand sides are 1; the quality epigraph
    ``u_n`` is boxed in ``[0, q_{n,P}]`` (``q_n(0) = 0``, nondecreasing: no slack below the
    curve at ``t = 0`` and none above its last value). The objective is in problem units; the
    LP backends equilibrate rows, continuous columns and the objective by powers of two
    (:mod:`aigc_opt.solvers.numerics`), so HiGHS and SCIP see each row's largest ``|a|`` and
    the largest ``|c|`` in [1, 2). Instances whose coefficients overflow (``inf``) are refused
    by the backends with an ``error`` status.
    """
    N = inst.n_requests
    o = spec.objective
    w = inst.weight
    P = inst.prompt_tokens
    phi, F, tau = inst.flop_per_token, inst.compute_flops, inst.decode_step_s
    kv = inst.kv_bytes_per_token
    # a request whose prompt alone exceeds the slot's compute, the KV memory or its deadline is
    # never admitted: its columns are fixed to 0 and its coefficients dropped, so that a slow
    # GPU (1 FLOP/s: a prefill of 1e13 s) does not put 1e13 next to 1 in the rows and objective
    never = ((P * phi > F * inst.slot_s) | (kv * P > inst.kv_capacity_bytes)
             | (P * phi > F * inst.deadline_s))
    keep = (~never).astype(np.float64)
    prefill_s = np.where(never, 0.0, P * phi / F)
    e_tok = inst.energy_per_flop_j * phi  # J per token
    x, q = inst.quality_tokens, inst.quality_values
    K = x.shape[1]
    ia, it, iu = 0, N, 2 * N
    n_cols = 3 * N
    rN = np.arange(N)
    rb = RowBuilder()
    # epigraph: u_n - s_np t_n <= q_np - s_np x_np (segments p), u_n <= q_n,last
    slope = np.diff(q, axis=1) / np.diff(x, axis=1)  # (N, K-1)
    icpt = q[:, :-1] - slope * x[:, :-1]
    ns = N * (K - 1)
    rs = np.arange(ns)
    un = np.repeat(rN, K - 1)
    rb.add(np.concatenate([rs, rs]), np.concatenate([iu + un, it + un]),
           np.concatenate([np.ones(ns), -slope.reshape(-1)]), ns, -np.inf, icpt.reshape(-1),
           name="quality", items=GridLabels("request {0}, segment {1}", (N, K - 1)))
    # t_n - Tmax_n a_n <= 0
    rb.add(np.concatenate([rN, rN]), np.concatenate([it + rN, ia + rN]),
           np.concatenate([np.ones(N), -inst.max_tokens]), N, -np.inf, 0.0, name="max_tokens",
           items="request {i}")
    # u_n - q_n,last a_n <= 0: no quality without admission (exact: u <= q_last anyway, and a
    # rejected request earns none). Without it, a = 1e-6 inside HiGHS's integrality tolerance
    # admitted 8e-4 tokens that already gave full quality on a curve scaled x1e-6: the decoder
    # rejected the request, and three backends' "optimal" answers were unverified
    rb.add(np.concatenate([rN, rN]), np.concatenate([iu + rN, ia + rN]),
           np.concatenate([np.ones(N), -q[:, -1]]), N, -np.inf, 0.0, name="admitted_quality",
           items="request {i}")
    # batch slots
    rb.add(np.zeros(N, dtype=np.int64), ia + rN, np.ones(N), 1, -np.inf,
           float(inst.batch_slots), name="batch_slots", items="edge GPU")
    # KV memory and compute per slot, both divided by their capacity
    for name, per_token, cap in (("kv_memory", kv * keep, inst.kv_capacity_bytes),
                                 ("compute", phi * keep, F * inst.slot_s)):
        rb.add(np.zeros(2 * N, dtype=np.int64), np.concatenate([ia + rN, it + rN]),
               np.concatenate([per_token * P, per_token]) / cap, 1, -np.inf, 1.0, name=name,
               items="edge GPU")
    # deadlines (divided by d_n where finite)
    d = inst.deadline_s
    ds = np.where(np.isfinite(d), d, 1.0)
    rb.add(np.concatenate([rN, rN]), np.concatenate([ia + rN, it + rN]),
           np.concatenate([prefill_s / ds, tau * keep / ds]), N, -np.inf,
           np.where(np.isfinite(d), 1.0, np.inf), name="deadline", items="request {i}")
    first = rb.n_rows
    for metric, bound in spec.epsilon:
        z = np.zeros(2 * N, dtype=np.int64)
        if metric == "latency":
            rb.add(z, np.concatenate([ia + rN, it + rN]),
                   np.concatenate([w * prefill_s, w * tau]), 1, -np.inf, bound)
        elif metric == "energy":
            rb.add(z, np.concatenate([ia + rN, it + rN]),
                   np.concatenate([w * e_tok * P, w * e_tok]), 1, -np.inf, bound)
        else:
            rb.add(z[:N], iu + rN, w, 1, bound, np.inf)
    if spec.epsilon:  # one row per (metric, bound)
        rb.name_rows("epsilon", first, [f"weighted {m} {'>=' if m == 'quality' else '<='} {b:g}"
                                        for m, b in spec.epsilon])

    c = np.zeros(n_cols)
    c[ia:it] = w * keep * (o.latency * prefill_s + o.energy * e_tok * P)
    c[it:iu] = w * keep * (o.latency * tau + o.energy * e_tok)
    c[iu:] = -o.quality * w * keep
    A = rb.matrix(n_cols)
    row_lower, row_upper = rb.bounds()
    col_hi = np.concatenate([keep, inst.max_tokens * keep, q[:, -1] * keep])
    integ = np.zeros(n_cols, dtype=bool)
    integ[ia:it] = True
    integ[it:iu] = spec.integer_tokens
    return LinearProgram(
        c=c, A=A, row_lower=row_lower, row_upper=row_upper,
        col_lower=np.zeros(3 * N), col_upper=col_hi,
        integrality=integ,
        blocks=(Block("admit", ia, (N,)), Block("tokens", it, (N,)), Block("u", iu, (N,))),
        name=f"allocation.llm_tokens[N={N}]", meta={"row_groups": rb.groups},
    )


def decode(inst: LlmInstance, spec: LlmSpec, program: LinearProgram, values: Any
           ) -> LlmAllocation:
    """Admission ``a > 1/2``; tokens rounded when integer, 0 for rejected requests."""
    a = np.asarray(values["admit"], dtype=np.float64) > 0.5
    t = np.maximum(np.asarray(values["tokens"], dtype=np.float64), 0.0)
    if spec.integer_tokens:
        t = np.round(t)
    return LlmAllocation(admitted=a, tokens=np.where(a, t, 0.0))


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

register_builder(LlmSpec, build, decode)
register_heuristic(LlmSpec, "greedy_weight", greedy_tokens)
register_case(LLM_CASE)
