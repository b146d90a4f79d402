r"""Diffusion steps per request (edge only, or a hybrid edge-then-device split) as an exact MILP.

Every request n is served by its highest-gain edge server s(n). The server's up/downlink
bandwidth is split equally among the ``n_s`` requests it serves (``B_s / n_s``), the device
transmits at full power, and the server's GPU (``F_s`` FLOP/s) is shared in proportion to the
edge work, so that every edge request of server s finishes its edge part together after

.. math::  T_s = \frac{1}{F_s} \sum_{n: s(n)=s} \phi_{m(n)}\, k^e_n \quad [s].

(The share of request n is ``f_n = \phi k^e_n / T_s``; the shares sum to ``F_s``.)
In the hybrid variant (QoS-driven hybrid inference, ICC 2025) the first ``k^e_n >= 1`` steps run
on the edge server, the intermediate latent (``request_output_bits``) is sent down and the device
runs the remaining ``k^d_n`` steps at ``f^dev_n``. The edge-only variant has ``k^d_n = 0``.
Every request runs its own edge steps: denoising steps shared by several requests (one
trajectory for similar prompts) are not modelled.

Per request (all terms linear in ``k^e, k^d, T``; ``c_n = t^up_n + t^dl_n`` is a constant):

* latency ``L_n = c_n + T_{s(n)} + (\phi / f^dev_n) k^d_n``;
* device energy ``E^dev_n = p_n t^up_n + \kappa_n \phi (f^dev_n)^2 k^d_n``;
* server energy ``E^srv_n = e_s \phi k^e_n``;
* quality ``Q_n = q_{m(n)}(k^e_n + k^d_n)`` from the scenario's curve.

**Linearisation of the quality curve: one-hot over candidate step counts.** With levels
``\ell_1 < ... < \ell_K`` (default ``1..max_steps``) and binaries ``z_{n,j}``:

.. math::

    \sum_j z_{n,j} = 1, \qquad k^e_n + k^d_n = \sum_j \ell_j z_{n,j}, \qquad
    Q_n = \sum_j q_{m(n)}(\ell_j)\, z_{n,j}.

This is exact for every curve kind (sigmoid, piecewise-linear, tabulated) because the steps are
integers and ``q(\ell_j)`` is a constant per level; SOS2 / incremental forms would be exact only
for the piecewise-linear kind and would still need integrality of the step count on top, while a
sigmoid (non-concave) or tabulated (discontinuous) curve needs a choice among the integer points
anyway. The one-hot block is built as a dense ``(N, K)`` array of columns, fully vectorised;
levels dominated by a smaller level of no lower quality are fixed to 0 (exact, see
:func:`dominated_levels`).

Problem (minimised, weights of :class:`~aigc_opt.problems.offloading.data.OffloadObjective`)::

    sum_n w_n (alpha L_n + beta E^dev_n + eta E^srv_n - gamma Q_n + rho ell_n) + lambda * load
    s.t. one-hot and linking rows above,
         F_s T_s = sum_{n at s} phi k^e_n                      (one row per server)
         T_{s(n)} + (phi/f^dev) k^d_n - ell_n <= d_n - c_n       (deadline; ell_n = 0 if hard)
         kappa phi f^2 k^d_n <= E^max_n - p_n t^up_n             (device energy budget)
         k^e_n >= min_edge_steps (hybrid),  k^d_n >= 0 integer,  ell_n >= 0,
         optional epsilon rows on the weighted sums of latency, energy or quality.

Without epsilon rows the MILP is block-diagonal by server; :func:`solve_per_server` (algorithm
``"highs_per_server"``) solves the blocks one by one and sums objectives and bounds.

The specs (:class:`StepsSpec`, :class:`HybridStepsSpec`) are in
:mod:`aigc_opt.problems.allocation.data_steps`; :func:`build` / :func:`decode` are registered as
their builder. The decoded allocation is an
:class:`~aigc_opt.problems.offloading.data.OffloadAllocation` (placement = radio server = s(n),
equal bandwidth shares, compute share ``F_s k^e phi / (F_s T_s)``, ``remote_steps = k^e``,
``device_steps = k^d``, cache = the models requested at each server), so the offloading
evaluator (:mod:`aigc_opt.problems.offloading.evaluate`) is the referee: its latency, energy,
quality and objective must equal the solver's. Its GPU-slot and subchannel counts require
``n_s <= server_gpu_slots`` and ``n_s <= server_subchannels`` (checked at build: the model gives
every request at a server a concurrent share), and the cached models must fit in GPU memory.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

# the offloading evaluator is the referee of step allocations: make sure it is registered
import aigc_opt.problems.offloading.evaluate  # noqa: F401
from aigc_opt.backend import SolveOptions
from aigc_opt.cases import CaseKind, register_case
from aigc_opt.channel import shannon_rate
from aigc_opt.errors import ValidationError
from aigc_opt.problems.offloading.data import OffloadAllocation
from aigc_opt.program import Block, LinearProgram, RowBuilder
from aigc_opt.quality import quality
from aigc_opt.result import Result, SolveStats, Termination, relative_gap
from aigc_opt.scenario import Scenario
from aigc_opt.solve import register_algorithm, solve
from aigc_opt.spec import register_builder
from aigc_opt.validate import MAX_ENTRIES, check_seed, check_size

from .data_steps import HybridStepsSpec, StepsSpec

logger = logging.getLogger(__name__)

# -------------------------------------------------------------------- physics shared by build
@dataclass(frozen=True)
class StepTerms:
    """Per-request constants of the model (SI units), shape (N,) unless noted."""

    server: np.ndarray  # s(n)
    n_served: np.ndarray  # (S,) requests per server
    uplink_hz: np.ndarray
    downlink_hz: np.ndarray
    t_comm_s: np.ndarray  # t_up + t_dl
    e_tx_j: np.ndarray  # p t_up
    edge_s_per_step: np.ndarray  # phi / F_s  (contribution of one edge step to T_s)
    dev_s_per_step: np.ndarray  # phi / f_dev
    dev_j_per_step: np.ndarray  # kappa phi f_dev^2
    srv_j_per_step: np.ndarray  # e_s phi
    cache: np.ndarray  # (S, M) bool


def serving_server(scn: Scenario) -> np.ndarray:
    """s(n): each request's highest-gain edge server (dense or sparse channel)."""
    return np.asarray(scn.best_server)


def step_terms(scn: Scenario) -> StepTerms:
    """Constants of the model; validates that slots, subchannels and memory allow it."""
    N, S, M = scn.n_users, scn.n_servers, scn.n_models
    s = serving_server(scn)
    n_s = np.bincount(s, minlength=S)
    for name in ("server_gpu_slots", "server_subchannels"):
        cap = getattr(scn, name)
        if (n_s > cap).any():
            j = int(np.argmax(n_s > cap))
            raise ValidationError(name, "-", int(cap[j]),
                                  f"server {j} serves {int(n_s[j])} requests concurrently; "
                                  "the step model needs one slot/subchannel per request; "
                                  "aigc_opt.problems.allocation.steps_scenario(n_users, "
                                  "n_servers, n_models, seed=...) generates a scenario sized "
                                  "for it (slots, subchannels and model sizes)")
    cache = np.zeros((S, M), dtype=bool)
    cache[s, scn.request_model] = True
    mem = (cache * scn.model_size_bytes[None, :]).sum(axis=1)
    if (mem > scn.server_gpu_memory_bytes).any():
        j = int(np.argmax(mem > scn.server_gpu_memory_bytes))
        raise ValidationError("server_gpu_memory_bytes", "byte",
                              float(scn.server_gpu_memory_bytes[j]),
                              f"server {j} cannot hold the models its requests need ({mem[j]:g} B)")
    n = np.arange(N)
    g = scn.gain_at(n, s)
    b_up = scn.server_uplink_hz[s] / n_s[s]
    b_dl = scn.server_downlink_hz[s] / n_s[s]
    p = scn.user_tx_power_w
    n0 = scn.noise_psd_w_per_hz
    with np.errstate(divide="ignore"):
        t_up = np.where(scn.request_input_bits > 0,
                        scn.request_input_bits / shannon_rate(b_up, p, g, n0), 0.0)
        t_dl = np.where(scn.request_output_bits > 0,
                        scn.request_output_bits / shannon_rate(b_dl, scn.server_tx_power_w[s], g,
                                                               n0), 0.0)
    phi = scn.model_flop_per_step[scn.request_model]
    f_dev = scn.user_compute_flops
    return StepTerms(
        server=s,
        n_served=n_s,
        uplink_hz=b_up,
        downlink_hz=b_dl,
        t_comm_s=t_up + t_dl,
        e_tx_j=p * t_up,
        edge_s_per_step=phi / scn.server_compute_flops[s],
        dev_s_per_step=phi / f_dev,
        dev_j_per_step=scn.user_kappa * phi * f_dev**2,
        srv_j_per_step=scn.server_energy_per_flop_j[s] * phi,
        cache=cache,
    )


def allocation_from_steps(scn: Scenario, ke: np.ndarray, kd: np.ndarray) -> OffloadAllocation:
    """The :class:`OffloadAllocation` of edge steps ``ke`` and device steps ``kd`` (shape (N,)).

    Compute shares are proportional to the edge work at each server (all finish at ``T_s``).
    """
    t = step_terms(scn)
    ke = np.asarray(ke, dtype=np.float64)
    kd = np.asarray(kd, dtype=np.float64)
    work = ke * scn.model_flop_per_step[scn.request_model]
    per_server = np.bincount(t.server, weights=work, minlength=scn.n_servers)
    denom = per_server[t.server]
    share = np.where(denom > 0, scn.server_compute_flops[t.server] * work
                     / np.where(denom > 0, denom, 1.0), 0.0)
    N = scn.n_users
    return OffloadAllocation(
        placement=t.server,
        radio_server=t.server,
        uplink_hz=t.uplink_hz,
        downlink_hz=t.downlink_hz,
        tx_power_w=scn.user_tx_power_w,
        compute_flops=share,
        backhaul_bps=np.zeros(N),
        remote_steps=ke,
        device_steps=kd,
        cache=t.cache,
    )


def step_levels(spec: StepsSpec) -> np.ndarray:
    """Candidate total step counts ``ell_j``, shape (K,)."""
    if spec.levels:
        return np.asarray(spec.levels, dtype=np.float64)
    return np.arange(1, int(spec.max_steps) + 1, dtype=np.float64)


def dominated_levels(q: np.ndarray, lev: np.ndarray, spec: StepsSpec) -> np.ndarray:
    """Levels no better than a smaller admissible level of the same request, shape (N, K).

    Exact reduction: every cost and every row coefficient of ``k^e``, ``k^d`` and ``T`` is
    nonnegative, so replacing level ``j`` by a smaller level ``j'`` with ``q(j') >= q(j)``
    (cutting device steps first, keeping ``k^e >= min_edge_steps``) never costs more nor breaks
    a row. Such columns get upper bound 0 (the block keeps its (N, K) shape). On tabulated
    curves this leaves one level per step of the table.
    """
    admissible = lev >= (spec.min_edge_steps if spec.hybrid else 1)
    qa = np.where(admissible[None, :], q, -np.inf)
    best_before = np.maximum.accumulate(qa, axis=1)
    best_before = np.concatenate([np.full((q.shape[0], 1), -np.inf), best_before[:, :-1]],
                                 axis=1)
    return best_before >= q


def build(scn: Scenario, spec: StepsSpec) -> LinearProgram:
    """Assemble the MILP of the module docstring (scipy.sparse COO blocks, no per-row loops).

    Columns: ``z`` (N, K) binary, ``ke`` (N,) integer, ``kd`` (N,) integer, ``T`` (S,) seconds,
    ``late`` (N,) seconds.

    Numerics (issue 11): the device energy-budget rows are divided by the budget (right-hand
    side 1 where finite); the other rows are in seconds / steps as the module docstring writes
    them. The LP backends equilibrate rows, continuous columns (``T``, ``late``) and the
    objective by powers of two (:mod:`aigc_opt.solvers.numerics`): HiGHS and SCIP see each
    row's largest ``|a|`` in [1, 2) and the objective's log-mean ``|c|`` at 1. Instances whose
    per-step times or energies overflow (``inf``) give an ``error`` status of the backend.
    """
    N, S = scn.n_users, scn.n_servers
    t = step_terms(scn)
    lev = step_levels(spec)
    K = lev.size
    o = spec.objective
    w = scn.request_weight
    q = quality(scn, scn.request_model[:, None], lev[None, :])  # (N, K)
    iz, ike, ikd, iT, il = 0, N * K, N * K + N, N * K + 2 * N, N * K + 2 * N + S
    n_cols = il + N
    rN = np.arange(N)

    rb = RowBuilder()
    zr = np.repeat(rN, K)
    zc = iz + np.arange(N * K)
    # one-hot: sum_j z_nj = 1
    rb.add(zr, zc, np.ones(N * K), N, np.ones(N), np.ones(N), name="one_hot",
           items="request {i}")
    # linking: ke + kd - sum_j lev_j z_nj = 0
    rb.add(np.concatenate([rN, rN, zr]), np.concatenate([ike + rN, ikd + rN, zc]),
           np.concatenate([np.ones(2 * N), -np.tile(lev, N)]), N, np.zeros(N), np.zeros(N),
           name="linking", items="request {i}")
    # batch time per server: T_s - sum_{n at s} (phi/F_s) ke_n = 0
    rb.add(np.concatenate([np.arange(S), t.server]), np.concatenate([iT + np.arange(S), ike + rN]),
           np.concatenate([np.ones(S), -t.edge_s_per_step]), S, np.zeros(S), np.zeros(S),
           name="batch_time", items="server {i}")
    # deadline: T_s(n) + a_n kd_n - late_n <= d_n - c_n
    rb.add(np.concatenate([rN, rN, rN]), np.concatenate([iT + t.server, ikd + rN, il + rN]),
           np.concatenate([np.ones(N), t.dev_s_per_step, -np.ones(N)]), N,
           np.full(N, -np.inf), scn.request_deadline_s - t.t_comm_s, name="deadline",
           items="request {i}")
    # device energy budget, scaled by the budget: (e_step / E^max) kd <= 1 - p t_up / E^max
    budget = scn.user_energy_budget_j
    fin = np.isfinite(budget)
    scale_e = np.where(fin, budget, 1.0)
    rb.add(rN, ikd + rN, t.dev_j_per_step / scale_e, N, np.full(N, -np.inf),
           np.where(fin, (budget - t.e_tx_j) / scale_e, np.inf), name="device_energy",
           items="request {i}")

    # objective
    c = np.zeros(n_cols)
    c[iz:ike] = (-o.quality * w[:, None] * q).reshape(-1)
    c[ike:ikd] = o.server_energy * w * t.srv_j_per_step
    c[ikd:iT] = w * (o.latency * t.dev_s_per_step + o.device_energy * t.dev_j_per_step)
    c[iT:il] = o.latency * np.bincount(t.server, weights=w, minlength=S)
    penalty = o.deadline == "penalty"
    c[il:] = o.deadline_penalty * w if penalty else 0.0
    load_s = float((t.cache * (scn.model_size_bytes * 8.0)[None, :]
                    / scn.server_load_bps[:, None]).sum())
    offset = float((w * (o.latency * t.t_comm_s + o.device_energy * t.e_tx_j)).sum())
    offset += o.load * load_s

    # epsilon rows on the weighted sums (constants moved to the right-hand side)
    first = rb.n_rows
    for metric, bound in spec.epsilon:
        one = np.zeros(1)
        if metric == "latency":
            const = float((w * t.t_comm_s).sum())
            rb.add(np.zeros(S + N, dtype=np.int64),
                   np.concatenate([iT + np.arange(S), ikd + rN]),
                   np.concatenate([np.bincount(t.server, weights=w, minlength=S),
                                   w * t.dev_s_per_step]), 1, -np.inf + one, bound - const + one)
        elif metric == "energy":
            const = float((w * t.e_tx_j).sum())
            rb.add(np.zeros(2 * N, dtype=np.int64), np.concatenate([ikd + rN, ike + rN]),
                   np.concatenate([w * t.dev_j_per_step, w * t.srv_j_per_step]), 1,
                   -np.inf + one, bound - const + one)
        else:
            rb.add(np.zeros(N * K, dtype=np.int64), zc, (w[:, None] * q).reshape(-1), 1,
                   bound + one, np.inf + one)
    if spec.epsilon:  # one row per (metric, bound), named by its metric
        rb.name_rows("epsilon", first, [f"weighted {m} {'>=' if m == 'quality' else '<='} {b:g}"
                                        for m, b in spec.epsilon])

    A = rb.matrix(n_cols)
    row_lower, row_upper = rb.bounds()
    col_lo = np.zeros(n_cols)
    col_hi = np.full(n_cols, np.inf)
    zub = np.ones((N, K))
    if spec.cap_at_requested:
        zub[lev[None, :] > scn.request_steps[:, None]] = 0.0
    zub[dominated_levels(q, lev, spec)] = 0.0
    col_hi[iz:ike] = zub.reshape(-1)
    col_lo[ike:ikd] = float(spec.min_edge_steps) if spec.hybrid else 0.0
    col_hi[ike:ikd] = lev[-1]
    col_hi[ikd:iT] = lev[-1] if spec.hybrid else 0.0
    if not penalty:
        col_hi[il:] = 0.0
    integ = np.zeros(n_cols, dtype=bool)
    integ[iz:iT] = True
    return LinearProgram(
        c=c, A=A, row_lower=row_lower, row_upper=row_upper,
        col_lower=col_lo, col_upper=col_hi, integrality=integ,
        blocks=(Block("z", iz, (N, K)), Block("ke", ike, (N,)), Block("kd", ikd, (N,)),
                Block("T", iT, (S,)), Block("late", il, (N,))),
        offset=offset,
        name=f"allocation.{spec.variant}[N={N},S={S},K={K}]",
        meta={"levels": lev, "row_groups": rb.groups},
    )


def decode(scn: Scenario, spec: StepsSpec, program: LinearProgram, values: Any
           ) -> OffloadAllocation:
    """Allocation from the ``ke`` / ``kd`` blocks (rounded to whole steps)."""
    ke = np.round(np.asarray(values["ke"], dtype=np.float64)) + 0.0
    kd = np.round(np.asarray(values["kd"], dtype=np.float64)) + 0.0
    return allocation_from_steps(scn, ke, kd)


register_builder(StepsSpec, build, decode)


# -------------------------------------------------------------------- exact decomposition
def solve_per_server(scn: Scenario, spec: StepsSpec, options: SolveOptions) -> Result:
    """Exact decomposition by server (registered as algorithm ``"highs_per_server"``).

    Without epsilon rows the MILP is block-diagonal: every row and every objective term belongs
    to one server's requests (one-hot, linking, deadline and energy rows per request; ``T_s``
    per server; cache and load per server). Each server's block is solved on its own with HiGHS
    (``scn.subset`` of its requests) and the objectives and dual bounds are summed, so the
    result is the monolithic optimum with an honest bound. With epsilon rows (which couple all
    servers) or a subclass's :meth:`~aigc_opt.spec.ProblemSpec.extra_constraints` (rows over
    any requests: per block they would be imposed once per server) it falls back to the
    monolithic MILP. ``options.time_limit`` bounds the total; each block gets the time left
    in proportion to its share of the requests not yet solved.
    """
    problem: Any = spec  # frozen fields do not match the Problem protocol's settable ones
    if spec.epsilon or spec.extra_constraints(scn):
        return solve(scn, problem, "highs", options=options)
    t_start = time.perf_counter()
    srv = serving_server(scn)
    order = np.argsort(srv, kind="stable")
    cuts = np.flatnonzero(np.diff(srv[order])) + 1
    ke, kd = np.zeros(scn.n_users), np.zeros(scn.n_users)
    objective, bound, build_s = 0.0, 0.0, 0.0
    terms: list[Termination] = []
    blocks = np.split(order, cuts)
    pending = scn.n_users
    # a block that runs out of its share without a solution is tried again with the time
    # the others leave (it gave up after 0.13 s of a 1 s limit, optimal in 2.3 s unbounded)
    queue = [(users, False) for users in blocks]
    while queue:  # one sub-MILP per server: inherent to decomposition
        users, retried = queue.pop(0)
        opts = options
        left = options.left(t_start, floor=0.0)
        if left is not None:
            # each block gets the time left in proportion to its share of the pending
            # requests (the time a block does not use passes on): with the whole remainder
            # the first block of 472 of 2,000 requests used it all and the others got none
            opts = dataclasses.replace(options, time_limit=max(left * users.size / pending,
                                                               1e-3))
        res = solve(scn.subset(users), problem, "highs", options=opts)
        build_s += res.stats.build_seconds
        if (not res.has_solution and res.termination is Termination.LIMIT and not retried
                and len(queue) > 0):
            queue.append((users, True))
            continue
        pending -= users.size
        terms.append(res.termination)
        if not res.has_solution:
            return Result(res.termination, False, gap=math.inf,
                          stats=SolveStats("highs_per_server", build_seconds=build_s,
                                           solve_seconds=time.perf_counter() - t_start),
                          message=f"server block of {users.size} requests: {res.message}")
        ke[users] = np.round(res.values["ke"])
        kd[users] = np.round(res.values["kd"])
        objective += res.objective
        bound += res.bound
    term = (Termination.OPTIMAL if all(t is Termination.OPTIMAL for t in terms)
            else Termination.FEASIBLE)
    return Result(
        term, True, objective=objective, bound=bound, gap=relative_gap(objective, bound),
        values={"ke": ke + 0.0, "kd": kd + 0.0},
        allocation=allocation_from_steps(scn, ke + 0.0, kd + 0.0),
        stats=SolveStats("highs_per_server", build_seconds=build_s,
                         solve_seconds=time.perf_counter() - t_start,
                         extra={"blocks": len(terms)}),
        message=f"{len(terms)} server blocks",
    )


register_algorithm(StepsSpec, "highs_per_server", solve_per_server)  # HybridStepsSpec inherits


# -------------------------------------------------------------------- batch-runner cases
def steps_scenario(n_users: int = 12, n_servers: int = 2, n_models: int = 3, *, seed: int = 0,
                   profile: str = "edge_aigc", **overrides: Any) -> Scenario:
    """A generated scenario this model accepts: one GPU slot and subchannel per request and
    models small enough (2-7 GB) for every server to hold all of them."""
    sizes = {"n_users": n_users, "n_servers": n_servers, "n_models": n_models}
    n_users, n_servers, n_models = (check_size(k, v, MAX_ENTRIES, raise_with=None)
                                    for k, v in sizes.items())
    seed = check_seed("seed", seed)
    rng = np.random.default_rng(None if seed is None else seed + 7919)
    fields: dict[str, Any] = {
        "server_gpu_slots": np.full(n_servers, max(n_users, 1)),
        "server_subchannels": np.full(n_servers, max(n_users, 1)),
        "model_size_bytes": rng.uniform(2e9, 24e9 / max(n_models, 1) * 0.85, n_models),
    }
    fields.update(overrides)
    return Scenario.generate(n_users, n_servers, n_models, seed=seed, profile=profile, **fields)


STEPS_CASE = CaseKind(
    name="allocation.steps",
    make_instance=lambda seed, n_users=12, n_servers=2, n_models=3: steps_scenario(
        n_users, n_servers, n_models, seed=seed),
    make_spec=lambda **params: StepsSpec(**params),
    default_methods=("highs",),
    reference="highs",
    description="integer diffusion steps per request, one-hot quality levels, shared edge GPU",
)
HYBRID_STEPS_CASE = CaseKind(
    name="allocation.hybrid_steps",
    make_instance=lambda seed, n_users=12, n_servers=2, n_models=3: steps_scenario(
        n_users, n_servers, n_models, seed=seed, profile="hybrid_icc2025"),
    make_spec=lambda **params: HybridStepsSpec(**params),
    default_methods=("highs",),
    reference="highs",
    description="hybrid edge-then-device diffusion steps (ICC 2025 scheme), one-hot quality",
)
register_case(STEPS_CASE)
register_case(HYBRID_STEPS_CASE)
