r"""Partial offloading between device and edge with fixed radio/compute shares: an LP.

Every request n attaches to its highest-gain server ``s_n`` and gets an equal share of that
server's resources among the ``n_s`` requests attached to it: ``B_s/n_s`` Hz up,
``B^dl_s/n_s`` Hz down, ``F_s/n_s`` FLOP/s, full device power. It offloads a fraction
``lambda_n`` of its workload and data (see :mod:`aigc_opt.problems.offloading.evaluate` for
the physics); the branches run in parallel, so with ``a_n = W_n/f_dev`` and
``b_n = D_in/r_up + W_n/f_rem + D_out/r_dl`` the latency is ``max(a_n (1-lambda), b_n lambda)``.
With shares fixed the problem is convex and separable; as an LP with an epigraph latency
``L_n`` (and lateness ``z_n`` in penalty mode):

.. math::

    \min \sum_n w_n \big(\alpha L_n + \beta (e^{tx}_n - e^{loc}_n)\lambda_n
         + \eta e^{srv}_n \lambda_n + \rho z_n\big) + \text{const}

    \text{s.t.}\; L_n \ge a_n (1 - \lambda_n),\; L_n \ge b_n \lambda_n,\;
    z_n \ge L_n - d_n,\; (e^{tx}_n - e^{loc}_n)\lambda_n \le E^{max}_n - e^{loc}_n,\;
    0 \le \lambda_n \le 1,\; [L_n \le d_n \text{ if hard}].

The closed form (:func:`closed_form`) minimises each request's convex piecewise-linear cost over
its feasible interval by evaluating it at the interval ends and the breakpoints
``a/(a+b)`` (balanced branches), ``1 - d/a`` and ``d/b`` (deadline crossings).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from aigc_opt.backend import SolveOptions
from aigc_opt.cases import CaseKind, register_case
from aigc_opt.explain import row_group
from aigc_opt.program import Block, LinearProgram
from aigc_opt.quality import quality
from aigc_opt.result import Result, SolveStats, Termination
from aigc_opt.scenario import Scenario
from aigc_opt.solve import register_algorithm, register_heuristic
from aigc_opt.spec import register_builder

from .data import PartialOffloadAllocation, PartialSpec, branch_times, objective_param

logger = logging.getLogger(__name__)


def shares(scn: Scenario, fraction: np.ndarray | None = None) -> PartialOffloadAllocation:
    """Best-gain server per request and equal shares among the requests attached to it."""
    S = scn.n_servers
    s = scn.best_server  # dense or sparse channel
    n_s = np.bincount(s, minlength=S).astype(float)[s]
    lam = np.zeros(scn.n_users) if fraction is None else fraction
    return PartialOffloadAllocation(
        server=s, fraction=lam, uplink_hz=scn.server_uplink_hz[s] / n_s,
        downlink_hz=scn.server_downlink_hz[s] / n_s, tx_power_w=scn.user_tx_power_w,
        compute_flops=scn.server_compute_flops[s] / n_s)


@dataclass(frozen=True)
class _Coef:
    a: np.ndarray  # device time of the whole workload, s
    b: np.ndarray  # edge-branch time of the whole workload, s
    de: np.ndarray  # device energy slope e_tx - e_loc, J
    e_loc: np.ndarray  # device energy at lambda = 0, J
    e_srv: np.ndarray  # server energy slope, J
    lo: np.ndarray  # feasible lambda interval (hard constraints)
    hi: np.ndarray
    const: np.ndarray  # weighted cost terms independent of lambda
    e_tx: np.ndarray  # transmit energy of the whole input, J


def _coefficients(scn: Scenario, spec: PartialSpec) -> _Coef:
    o = spec.objective
    u = branch_times(scn, shares(scn))
    a, b = u["a"], u["b"]
    de = u["e_tx"] - u["e_loc"]
    d = scn.request_deadline_s
    budget = scn.user_energy_budget_j
    lo, hi = np.zeros(scn.n_users), np.ones(scn.n_users)
    with np.errstate(divide="ignore", invalid="ignore"):
        lim = (budget - u["e_loc"]) / de  # lambda <= lim where de > 0, >= lim where de < 0
        hi = np.where(de > 0, np.minimum(hi, lim), hi)
        lo = np.where(de < 0, np.maximum(lo, lim), lo)
        lo = np.where((de == 0) & (u["e_loc"] > budget), np.inf, lo)
        # offloading costs energy (or an infinite amount) and lambda = 0 is over budget
        lo = np.where((de > 0) & (u["e_loc"] > budget), np.inf, lo)
        if o.deadline == "hard":
            lo = np.maximum(lo, 1.0 - d / a)
            hi = np.minimum(hi, np.where(b > 0, d / b, np.inf))
    q = quality(scn, scn.request_model, scn.request_steps.astype(float))
    const = -scn.request_weight * o.quality * q
    return _Coef(a, b, de, u["e_loc"], u["e_srv"], lo, np.minimum(hi, 1.0), const, u["e_tx"])


def _cost(scn: Scenario, spec: PartialSpec, k: _Coef, lam: np.ndarray) -> np.ndarray:
    """Weighted per-request cost at ``lam`` (broadcasts over a leading candidate axis), with
    the evaluator's formulas: ``E_dev = lam e_tx + (1 - lam) e_loc`` (no cancellation of a large
    ``e_loc`` against ``lam (e_tx - e_loc)``) and no remote term at ``lam = 0`` (an infinite
    edge time or energy then costs nothing); NaN counts as ``inf``."""
    o = spec.objective
    with np.errstate(invalid="ignore", over="ignore"):
        off = lam > 0
        lat = np.maximum(k.a * (1.0 - lam), np.where(off, k.b * lam, 0.0))
        e_dev = np.where(off, lam * k.e_tx, 0.0) + (1.0 - lam) * k.e_loc
        c = (o.latency * lat + o.device_energy * e_dev
             + o.server_energy * np.where(off, lam * k.e_srv, 0.0))
        if o.deadline == "penalty":
            c = c + o.deadline_penalty * np.maximum(lat - scn.request_deadline_s, 0.0)
        out = scn.request_weight * c + k.const
    return np.where(np.isnan(out), np.inf, out)


def build(scn: Scenario, spec: PartialSpec) -> LinearProgram:
    """Columns ``[lambda (N), mu (N), L (N), z (N)]`` with ``mu = 1 - lambda`` the local
    fraction; rows: two epigraph rows ``L >= a mu``, ``L >= b lambda``, lateness, energy and
    ``lambda + mu = 1``.

    Numerics (issue 11): the device energy is written as ``e_tx lambda + e_loc mu`` (both terms
    nonnegative, as the evaluator computes it) instead of ``e_loc + (e_tx - e_loc) lambda``,
    whose cancellation lost 2e-4 of the objective when ``e_loc`` was 1e12 times the rest. A
    branch whose time or energy is not finite is closed by its column bound (``lambda <= 0``
    or ``mu <= 0``) with a zero coefficient. Entries are ``1``, ``a_n``, ``b_n`` (s) and
    ``e^tx_n``, ``e^loc_n`` (J) in problem units; the LP backends equilibrate rows, columns and
    the objective by powers of two (:mod:`aigc_opt.solvers.numerics`: each row's largest
    ``|a|`` in [1, 2)). The exact method is :func:`closed_form`.
    """
    o = spec.objective
    N = scn.n_users
    k = _coefficients(scn, spec)
    w = scn.request_weight
    i = np.arange(N)
    lam, mu, L, z = i, N + i, 2 * N + i, 3 * N + i
    rem_ok = np.isfinite(k.b) & np.isfinite(k.e_tx) & np.isfinite(k.e_srv)
    loc_ok = np.isfinite(k.a) & np.isfinite(k.e_loc)
    a = np.where(loc_ok, k.a, 0.0)
    e_loc = np.where(loc_ok, k.e_loc, 0.0)
    b = np.where(rem_ok, k.b, 0.0)
    e_tx = np.where(rem_ok, k.e_tx, 0.0)
    e_srv = np.where(rem_ok, k.e_srv, 0.0)
    # rows (N each, named in meta["row_groups"]): latency_device [L - a mu >= 0],
    #   latency_edge [L - b lam >= 0], lateness [z - L >= -d], energy_budget
    #   [(e_tx - e_loc) lam <= E - e_loc] (one coefficient per row: e_tx and e_loc may differ
    #   by 1e20), split [lam + mu = 1]
    rows = np.concatenate([i, i, N + i, N + i, 2 * N + i, 2 * N + i, 3 * N + i,
                           4 * N + i, 4 * N + i])
    cols = np.concatenate([L, mu, L, lam, z, L, lam, lam, mu])
    de = np.where(rem_ok & loc_ok, k.de, np.where(rem_ok, e_tx, 0.0))
    vals = np.concatenate([np.ones(N), -a, np.ones(N), -b, np.ones(N), -np.ones(N), de,
                           np.ones(N), np.ones(N)])
    row_lower = np.concatenate([np.zeros(2 * N), -scn.request_deadline_s, np.full(N, -np.inf),
                                np.ones(N)])
    row_upper = np.concatenate([np.full(3 * N, np.inf), scn.user_energy_budget_j - e_loc,
                                np.ones(N)])
    A = sp.csr_matrix((vals, (rows, cols)), shape=(5 * N, 4 * N))
    penalty = o.deadline == "penalty"
    c = np.concatenate([w * (o.device_energy * e_tx + o.server_energy * e_srv),
                        w * o.device_energy * e_loc, w * o.latency,
                        w * o.deadline_penalty * penalty])
    # requests with no feasible fraction (the exact interval of _coefficients, as in the
    # closed form) get the empty box 1 <= lambda <= 0: after row scaling a budget row with
    # coefficient 1e16 and right-hand side -0.4 J looks satisfied to any solver (issue 11)
    none = ~(k.lo <= k.hi + 1e-12)
    col_lower = np.zeros(4 * N)
    col_lower[:N] = np.where(none, 1.0, 0.0)
    col_upper = np.concatenate([np.where(rem_ok & ~none, 1.0, 0.0), np.where(loc_ok, 1.0, 0.0),
                                scn.request_deadline_s if not penalty else np.full(N, np.inf),
                                np.full(N, np.inf) if penalty else np.zeros(N)])
    return LinearProgram(
        c=c, A=A, row_lower=row_lower, row_upper=row_upper, col_lower=col_lower,
        col_upper=col_upper, integrality=np.zeros(4 * N, dtype=bool),
        blocks=(Block("fraction", 0, (N,)), Block("local", N, (N,)),
                Block("latency", 2 * N, (N,))),
        offset=float(k.const.sum()), name=f"offloading.partial[N={N}]",
        meta={"row_groups": {name: row_group(g * N, (g + 1) * N, "request {i}") for g, name in
                             enumerate(("latency_device", "latency_edge", "lateness",
                                        "energy_budget", "split"))},
              # an empty fraction box is a request whose deadline and energy budget no
              # fraction meets: named so, not "column bounds / integrality"
              "column_groups": {"deadline_and_energy_budget": row_group(0, N, "request {i}")}})


def closed_form(scn: Scenario, spec: PartialSpec) -> tuple[np.ndarray, np.ndarray]:
    """Optimal fractions per request and a feasibility mask (exact, vectorised).

    The per-request cost is convex piecewise linear in ``lambda`` on ``[lo, hi]``; its minimum
    is at an end or a breakpoint, so evaluating the five candidates is exact.
    """
    k = _coefficients(scn, spec)
    feasible = k.lo <= k.hi + 1e-12
    lo, hi = np.minimum(k.lo, k.hi), k.hi
    d = scn.request_deadline_s
    with np.errstate(divide="ignore", invalid="ignore"):
        cand = np.stack([lo, hi, k.a / (k.a + k.b), 1.0 - d / k.a, d / k.b])
    cand = np.clip(np.nan_to_num(cand, nan=0.0), lo, hi)
    cost = _cost(scn, spec, k, cand)
    best = cand[np.argmin(cost, axis=0), np.arange(scn.n_users)]
    return best, feasible


def solve_closed_form(scn: Scenario, spec: PartialSpec, options: SolveOptions) -> Result:
    """Registered algorithm ``closed_form``: exact optimum without a solver."""
    t0 = time.perf_counter()
    lam, feasible = closed_form(scn, spec)
    seconds = time.perf_counter() - t0
    stats = SolveStats("closed_form", solve_seconds=seconds)
    if not feasible.all():
        bad = np.flatnonzero(~feasible)
        shown = ", ".join(str(int(i)) for i in bad[:10]) + (", ..." if bad.size > 10 else "")
        return Result(Termination.INFEASIBLE, False, gap=math.inf, stats=stats,
                      message=f"{bad.size} request(s) have no fraction that meets both the "
                              f"deadline and the energy budget: request {shown}")
    k = _coefficients(scn, spec)
    obj = float(_cost(scn, spec, k, lam).sum())
    return Result(Termination.OPTIMAL, True, objective=obj, bound=obj, gap=0.0,
                  values={"fraction": lam}, allocation=shares(scn, lam), stats=stats)


def _all_local(scn: Scenario, spec: PartialSpec, seed: int = 0) -> PartialOffloadAllocation:
    return shares(scn, np.zeros(scn.n_users))


def _balanced(scn: Scenario, spec: PartialSpec, seed: int = 0) -> PartialOffloadAllocation:
    """Balance the two branches (``lambda = a/(a+b)``, minimum latency; energy ignored),
    clipped into the request's feasible interval."""
    k = _coefficients(scn, spec)
    return shares(scn, np.clip(k.a / (k.a + k.b), np.minimum(k.lo, k.hi), k.hi))


def decode(scn: Scenario, spec: PartialSpec, program: LinearProgram, values: Any
           ) -> PartialOffloadAllocation:
    """Allocation from the ``fraction`` (lambda) and ``local`` (mu) blocks.

    A solver satisfies ``lambda + mu = 1`` only to its feasibility tolerance; the evaluator
    charges the unassigned ``1 - lambda - mu`` at the local branch's cost, which can be
    1e7 per unit (issue 11: SCIP returned ``lambda = 1 - 5.4e-8, mu = 0`` and the objective
    moved by 1.6). So the offloaded fraction is ``lambda / (lambda + mu)`` (both clipped to
    [0, 1]), the projection along the ray that keeps the solver's split.
    """
    lam = np.clip(np.asarray(values["fraction"], float), 0.0, 1.0)
    mu = np.clip(np.asarray(values.get("local", 1.0 - lam), float), 0.0, 1.0)
    tot = lam + mu
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(tot > 0, lam / tot, lam)
    return shares(scn, np.clip(frac, 0.0, 1.0))


register_builder(PartialSpec, build, decode)
register_algorithm(PartialSpec, "closed_form", solve_closed_form)
register_heuristic(PartialSpec, "all_local", _all_local)
register_heuristic(PartialSpec, "balanced", _balanced)
register_case(CaseKind(
    name="offloading.partial",
    make_instance=lambda seed, n_users=20, n_servers=3, n_models=4, profile="hybrid_icc2025": (
        Scenario.generate(n_users, n_servers, n_models, seed=seed, profile=profile)),
    make_spec=lambda **params: PartialSpec(**objective_param(params)),
    default_methods=("closed_form", "highs", "balanced", "all_local"),
    reference="closed_form",
    description="partial offloading device+edge in parallel, fixed shares (LP / closed form)",
))
