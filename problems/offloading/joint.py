r"""Joint offloading and resource allocation, solved exactly by outer approximation.

Columns ``j = (n, k)`` are the options of
:func:`aigc_opt.problems.offloading.assignment.option_table` (device, edge server, cloud via the
best server). On top of the binary placement ``x_j`` and the caching ``y_{s,m}`` of the
fixed-share MILP (same assignment, subchannel, GPU-slot, memory and linking rows, built by
:func:`aigc_opt.problems.offloading.assignment.build`), every offloaded column gets a continuous
**uplink share** ``beta_j = b_j / B_r`` of its radio server's band and every edge column a
**compute share** ``phi_j = f_j / F_s`` of its server's FLOP/s.

Power model (stated, exact in the evaluator): the device transmits with the constant power
spectral density ``p_n / B_r`` (full power on the full band), so with bandwidth ``b`` its power
is ``p_n b / B_r`` and its rate is ``b se_j`` with the spectral efficiency
``se_j = log2(1 + p_n g_{n,r} / (N0 B_r))``; the uplink time is ``D_in / (b se_j) = a_j / beta_j``
with ``a_j = D_in / (B_r se_j)`` and the transmit energy ``p_n a_j`` does not depend on ``b``.
The edge compute time is ``W_n / f = c_j / phi_j`` with ``c_j = W_n / F_s``. Downlink,
backhaul and cloud shares stay the fixed equal shares of the option table. With
``L_j = L^0_j + a_j / beta_j + c_j / phi_j`` and the constant part ``K_j`` of the cost:

.. math::

    \min \sum_j \big(K_j x_j + w_n\alpha\,(a_j \tau_j + c_j \sigma_j) + w_n\rho\, z_j\big)
         + \lambda \sum_{s,m} \ell_{s,m} y_{s,m}

    \text{s.t. fixed-share MILP rows on } (x, y), \quad
    \sum_{j \to r} \beta_j \le 1, \quad \sum_{j \to s} \phi_j \le 1, \quad
    \beta_j, \phi_j \le x_j,

    \tau_j \ge x_j^2 / \beta_j, \quad \sigma_j \ge x_j^2 / \phi_j
    \quad\text{(perspective of } 1/\beta,\ 1/\phi),

    (L^0_j - d_n) x_j + a_j \tau_j + c_j \sigma_j \le 0 \;\text{(hard)} \quad\text{or}\quad
    z_j \ge (L^0_j - d_n) x_j + a_j \tau_j + c_j \sigma_j,\ z_j \ge 0 \;\text{(penalty)}.

The only nonlinear constraints are the rotated cones ``tau beta >= x^2``; their tangent planes
at ``r = x/beta`` are ``tau >= 2 r x - r^2 beta`` (valid for every r > 0, exact at
``beta = x/r``). :mod:`aigc_opt.problems.offloading.joint_oa` solves the problem exactly by
outer approximation (registered as ``"outer_approximation"``): a HiGHS MILP master holds the
cuts and gives the lower bound; for the master's placement the convex subproblem
(:func:`solve_inner`) is solved exactly -- in closed form by KKT when no deadline binds
(``beta_j = sqrt(p_j) / sum_{i->r} sqrt(p_i)`` with ``p_j = w_n alpha a_j``, likewise phi),
otherwise with CVXPY/Clarabel -- giving the upper bound and the points of new cuts.

The heuristic ``"decomposition"`` takes the fixed-share MILP's placement and gives it the
optimal shares. (The fixed-share MILP's own objective is not comparable: it transmits at full
power on its subchannel, this model at constant power spectral density.)
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from aigc_opt.backend import SolveOptions
from aigc_opt.cases import CaseKind, register_case
from aigc_opt.errors import NoSolutionError
from aigc_opt.explain import explain_program
from aigc_opt.program import key_positions
from aigc_opt.quality import quality
from aigc_opt.result import Result
from aigc_opt.scenario import Scenario
from aigc_opt.solve import EXPLAIN_TIME_LIMIT, register_heuristic, solve
from aigc_opt.solvers.cvxpy_backend import solve_quietly

from .assignment import option_table
from .data import CLOUD, LOCAL, JointSpec, OffloadAllocation, link_times, objective_param

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class Columns:
    """Per-column data of the joint model (all option-table columns, in table order)."""

    user: np.ndarray
    place: np.ndarray
    radio: np.ndarray
    a: np.ndarray  # uplink time on the full radio band, s (0 for local)
    c: np.ndarray  # edge compute time on the full server, s (0 unless edge)
    lat0: np.ndarray  # latency part that does not depend on the shares, s
    const: np.ndarray  # constant cost K_j (weighted, incl. cloud cost)
    pw: np.ndarray  # w_n * alpha, weight of a second of latency
    rho: np.ndarray  # w_n * rho in penalty mode, else 0
    deadline: np.ndarray  # d_n, s
    feasible: np.ndarray  # hard constraints can be met with the whole band / server
    base: OffloadAllocation  # column allocation at full shares (resources of the table)


def columns(scn: Scenario, spec: JointSpec) -> Columns:
    """Vectorised column data with the evaluator's physics (:func:`link_times`, quality)."""
    o = spec.objective
    t = option_table(scn, spec.base())
    S = scn.n_servers
    remote, edge, cloud = t.placement != LOCAL, t.placement >= 0, t.placement == CLOUD
    rc, pc = np.clip(t.radio_server, 0, S - 1), np.clip(t.placement, 0, S - 1)
    u = t.user
    full = OffloadAllocation(
        placement=t.placement, radio_server=t.radio_server,
        uplink_hz=np.where(remote, scn.server_uplink_hz[rc], 0.0),
        downlink_hz=t.downlink_hz, tx_power_w=t.tx_power_w,
        compute_flops=np.where(edge, scn.server_compute_flops[pc], t.compute_flops),
        backhaul_bps=t.backhaul_bps, remote_steps=t.remote_steps, device_steps=t.device_steps,
        cache=np.zeros((S, scn.n_models), dtype=bool))
    lt = link_times(scn, full, users=u)
    a = lt["t_uplink_s"]
    c = np.where(edge, lt["t_remote_compute_s"], 0.0)
    lat0 = lt["latency_s"] - a - c
    w, d = scn.request_weight[u], scn.request_deadline_s[u]
    q = quality(scn, scn.request_model[u], t.remote_steps + t.device_steps)
    const = w * (o.latency * lat0 + o.device_energy * lt["device_energy_j"]
                 + o.server_energy * lt["server_energy_j"] - o.quality * q)
    const = const + np.where(cloud, o.cloud_cost * scn.cloud_cost_per_flop * lt["remote_flop"],
                             0.0)
    penalty = o.deadline == "penalty"
    const = const + np.where(~remote & penalty, w * o.deadline_penalty
                             * np.maximum(lat0 - d, 0.0), 0.0)
    feasible = (np.isfinite(const) & np.isfinite(a)
                & (lt["device_energy_j"] <= scn.user_energy_budget_j[u]))
    if not penalty:
        feasible &= lt["latency_s"] <= d
    return Columns(user=u, place=t.placement, radio=t.radio_server, a=a, c=c, lat0=lat0,
                   const=np.where(np.isfinite(const), const, 0.0), pw=w * o.latency,
                   rho=w * o.deadline_penalty * (remote & penalty), deadline=d,
                   feasible=feasible, base=full)


# ---------------------------------------------------------------------- inner problem
@dataclass(frozen=True)
class Inner:
    """Optimal shares for a fixed placement (``chosen``: one column per user)."""

    chosen: np.ndarray
    beta: np.ndarray  # uplink share per chosen column (0 for local)
    phi: np.ndarray  # compute share per chosen column (0 unless edge)
    value: float  # objective (incl. load time of the minimal cache), problem units
    feasible: bool
    method: str  # "kkt" or "cvxpy"


def _kkt_shares(weight: np.ndarray, group: np.ndarray, active: np.ndarray, n_groups: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """``min sum p_j / s_j`` s.t. ``sum_{j in g} s_j <= 1``: ``s_j = sqrt(p_j) / sum sqrt(p)``.

    Returns the shares and, per group, ``(sum_j sqrt(p_j))^2`` (the optimal value and the
    multiplier of the group's capacity row). Groups with all ``p = 0`` share equally.
    """
    g = np.where(active, group, 0)
    root = np.sqrt(np.where(active, np.maximum(weight, 0.0), 0.0))
    tot = np.bincount(g, weights=root, minlength=n_groups)
    cnt = np.bincount(g, weights=active.astype(float), minlength=n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(tot[g] > 0, root / tot[g], 1.0 / np.maximum(cnt[g], 1.0))
    return np.where(active, share, 0.0), tot**2


def _value(scn: Scenario, spec: JointSpec, col: Columns, chosen: np.ndarray,
           beta: np.ndarray, phi: np.ndarray) -> tuple[float, np.ndarray]:
    """Objective and per-column latency of a placement with shares (the model's formula)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        a = col.a[chosen]
        c = col.c[chosen]
        lat = (col.lat0[chosen] + np.where(a > 0, a / beta, 0.0)
               + np.where(c > 0, c / phi, 0.0))
    late = np.maximum(lat - col.deadline[chosen], 0.0)
    val = float((col.const[chosen] + col.pw[chosen] * (lat - col.lat0[chosen])
                 + col.rho[chosen] * late).sum())
    cache = minimal_cache(scn, col, chosen)
    load = (cache * (scn.model_size_bytes * 8.0)[None, :] / scn.server_load_bps[:, None]).sum()
    return val + spec.objective.load * float(load), lat


def minimal_cache(scn: Scenario, col: Columns, chosen: np.ndarray) -> np.ndarray:
    """``cache[s, m]`` = some request of model m runs at edge server s."""
    cache = np.zeros((scn.n_servers, scn.n_models), dtype=bool)
    e = chosen[col.place[chosen] >= 0]
    cache[col.place[e], scn.request_model[col.user[e]]] = True
    return cache


def solve_inner(scn: Scenario, spec: JointSpec, col: Columns, chosen: np.ndarray,
                force_cvxpy: bool = False) -> Inner:
    """Optimal uplink and compute shares for the placement ``chosen`` (exact).

    KKT closed form per server; it is optimal also with deadlines when no deadline binds at it
    (it minimises a relaxation). Otherwise (or with ``force_cvxpy``) CVXPY/Clarabel solves the
    convex problem with the deadline rows / lateness terms.
    """
    S = scn.n_servers
    if not col.feasible[chosen].all():  # misses a hard constraint even with whole resources
        n = chosen.size
        return Inner(chosen, np.zeros(n), np.zeros(n), math.inf, False, "kkt")
    up = col.a[chosen] > 0
    ed = col.c[chosen] > 0
    w = col.pw[chosen]
    beta, _ = _kkt_shares(w * col.a[chosen], col.radio[chosen], up, S)
    phi, _ = _kkt_shares(w * col.c[chosen], col.place[chosen], ed, S)
    val, lat = _value(scn, spec, col, chosen, beta, phi)
    ok = bool((lat <= col.deadline[chosen] * (1 + 1e-12)).all())
    if ok and not force_cvxpy:
        return Inner(chosen, beta, phi, val, True, "kkt")
    return _inner_cvxpy(scn, spec, col, chosen, up, ed, val)


def _inner_cvxpy(scn: Scenario, spec: JointSpec, col: Columns, chosen: np.ndarray,
                 up: np.ndarray, ed: np.ndarray, scale: float = 1.0) -> Inner:
    """The shares by CVXPY/Clarabel, the objective divided by ``scale`` (the KKT shares'
    value, so the solver sees O(1) costs: with the weights x1e4 the unscaled shares cost
    1.8e-6 relative, beyond OA's gap_tol, at the same placement)."""
    import cvxpy as cp

    S, n = scn.n_servers, chosen.size
    iu, ie = np.nonzero(up)[0], np.nonzero(ed)[0]
    a, c = col.a[chosen], col.c[chosen]
    pu = sp.csr_matrix((np.ones(iu.size), (iu, np.arange(iu.size))), shape=(n, max(iu.size, 1)))
    pe = sp.csr_matrix((np.ones(ie.size), (ie, np.arange(ie.size))), shape=(n, max(ie.size, 1)))
    b = cp.Variable(max(iu.size, 1), pos=True)
    f = cp.Variable(max(ie.size, 1), pos=True)
    au = np.zeros(max(iu.size, 1))
    au[: iu.size] = a[iu]
    ce = np.zeros(max(ie.size, 1))
    ce[: ie.size] = c[ie]
    tb = cp.multiply(au, cp.inv_pos(b))
    tf = cp.multiply(ce, cp.inv_pos(f))
    lat = col.lat0[chosen] + pu @ tb + pe @ tf
    gu = sp.csr_matrix((np.ones(iu.size), (col.radio[chosen][iu], np.arange(iu.size))),
                       shape=(S, max(iu.size, 1)))
    ge = sp.csr_matrix((np.ones(ie.size), (col.place[chosen][ie], np.arange(ie.size))),
                       shape=(S, max(ie.size, 1)))
    cons = [gu @ b <= 1, ge @ f <= 1]
    w = col.pw[chosen]
    obj = w @ (pu @ tb + pe @ tf)
    d = col.deadline[chosen]
    fin = np.flatnonzero(np.isfinite(d))  # an infinite deadline is no row and no lateness
    if fin.size and spec.objective.deadline == "hard":
        cons.append(lat[fin] <= d[fin])
    elif fin.size:
        obj = obj + col.rho[chosen][fin] @ cp.pos(lat[fin] - d[fin])
    k = abs(scale) if math.isfinite(scale) and scale != 0 else 1.0
    prob = cp.Problem(cp.Minimize(obj / k), cons)
    try:
        solve_quietly(prob, solver="CLARABEL")
    except cp.error.SolverError as exc:  # pragma: no cover - solver failure is a status
        logger.warning("inner CVXPY solve failed: %s", exc)
    if prob.status not in ("optimal", "optimal_inaccurate"):
        return Inner(chosen, np.zeros(n), np.zeros(n), math.inf, False, "cvxpy")
    beta, phi = np.zeros(n), np.zeros(n)
    beta[iu] = np.asarray(b.value).reshape(-1)[: iu.size]
    phi[ie] = np.asarray(f.value).reshape(-1)[: ie.size]
    # make the capacity rows hold exactly (the solver is accurate to ~1e-8)
    for share, grp, act in ((beta, col.radio[chosen], up), (phi, col.place[chosen], ed)):
        tot = np.bincount(np.where(act, grp, 0), weights=share, minlength=S)
        share /= np.maximum(tot[np.where(act, grp, 0)], 1.0)
    val, lat_v = _value(scn, spec, col, chosen, beta, phi)
    ok = spec.objective.deadline == "penalty" or bool((lat_v <= d * (1 + 1e-7)).all())
    return Inner(chosen, beta, phi, val if ok else math.inf, ok, "cvxpy")


# ---------------------------------------------------------------------- allocation
def to_allocation(scn: Scenario, col: Columns, inner: Inner) -> OffloadAllocation:
    """Decode a placement with shares into an :class:`OffloadAllocation` (evaluator input)."""
    ch = inner.chosen
    order = np.argsort(col.user[ch])
    ch, beta, phi = ch[order], inner.beta[order], inner.phi[order]
    S = scn.n_servers
    rc = np.clip(col.radio[ch], 0, S - 1)
    pc = np.clip(col.place[ch], 0, S - 1)
    edge = col.place[ch] >= 0
    base = col.base
    return OffloadAllocation(
        placement=col.place[ch], radio_server=col.radio[ch],
        uplink_hz=beta * scn.server_uplink_hz[rc] * (col.radio[ch] >= 0),
        downlink_hz=base.downlink_hz[ch],
        tx_power_w=beta * base.tx_power_w[ch],
        compute_flops=np.where(edge, phi * scn.server_compute_flops[pc], base.compute_flops[ch]),
        backhaul_bps=base.backhaul_bps[ch], remote_steps=base.remote_steps[ch],
        device_steps=base.device_steps[ch], cache=minimal_cache(scn, col, ch))


def column_of(scn: Scenario, col: Columns, placement: np.ndarray) -> np.ndarray:
    """Column index of each user's placement (LOCAL / CLOUD / server)."""
    S2 = scn.n_servers + 2
    want = np.arange(scn.n_users) * S2 + (np.asarray(placement) + 2)
    pos = key_positions(col.user * S2 + (col.place + 2), want)
    if pos is None:
        raise ValueError("placement uses options that are not columns of this spec")
    return pos


# ---------------------------------------------------------------------- heuristic
def _fixed_share(scn: Scenario, spec: JointSpec, options: SolveOptions | None = None,
                 t0: float | None = None) -> Result:
    """The fixed-share MILP (its penalty form when the plain one has no solution), within what
    is left of ``options.time_limit`` since ``t0`` and unverified (its placement is what is
    used; the joint result is verified): it took no options, and an infeasible plain form was
    explained by a deletion filter (383 HiGHS solves, 13 s of a 2 s limit at 400 users)."""
    opts = options or SolveOptions()
    start = time.perf_counter() if t0 is None else t0

    def left() -> SolveOptions:
        return replace(opts, time_limit=opts.left(start), verify=False)

    res = solve(scn, spec.base(), "highs", options=left())
    return res if res.has_solution else solve(scn, spec.base("penalty"), "highs", options=left())


def decomposition_inner(scn: Scenario, spec: JointSpec, col: Columns,
                        options: SolveOptions | None = None, t0: float | None = None
                        ) -> Inner | None:
    """Placement from the fixed-share MILP, then the exact shares for it (closed form)."""
    res = _fixed_share(scn, spec, options, t0)
    if not res.has_solution:
        return None
    return solve_inner(scn, spec, col, column_of(scn, col, res.allocation.placement))


def decomposition(scn: Scenario, spec: JointSpec, seed: int = 0,
                  options: SolveOptions | None = None) -> OffloadAllocation:
    """Registered heuristic ``decomposition`` (placement first, closed-form shares second),
    within ``options.time_limit`` when given.

    Without a placement it raises :class:`NoSolutionError` carrying the fixed-share MILP's
    explanation (found in what is left of the limit): that MILP fixes the shares, so its
    conflicts need not be the joint problem's (the exact ``outer_approximation`` decides the
    instance)."""
    t0 = time.perf_counter()
    opts = options or SolveOptions()
    col = columns(scn, spec)
    res = _fixed_share(scn, spec, opts, t0)
    if not res.has_solution:
        raise _no_solution(scn, spec, opts, t0, "the fixed-share MILP found no placement")
    inner = solve_inner(scn, spec, col, column_of(scn, col, res.allocation.placement))
    if not inner.feasible:  # the penalty form's placement: no shares meet the deadlines
        raise _no_solution(scn, spec, opts, t0, "no shares meet the hard deadlines of the "
                           "placement the fixed-share MILP's penalty form chose")
    return to_allocation(scn, col, inner)


def _no_solution(scn: Scenario, spec: JointSpec, opts: SolveOptions, t0: float, why: str
                 ) -> NoSolutionError:
    """``decomposition``'s NoSolutionError carrying the explanation of the plain fixed-share
    MILP (explained, not solved again). Before, a placement from its penalty form was given
    zero shares: every request's latency was inf, and the referee's explanation blamed all
    of them and listed 'objective' as a constraint."""
    left = opts.left(t0)
    expl = explain_program(spec.base().build(scn), time_limit=min(
        EXPLAIN_TIME_LIMIT, math.inf if left is None else left))
    if expl is not None:
        expl = replace(expl, message="; ".join(x for x in (
            "conflicts of the fixed-share MILP (shares fixed: a restriction of this "
            "problem, not a proof about it)", expl.message) if x))
    return NoSolutionError(f"decomposition: {why}", explanation=expl)


register_heuristic(JointSpec, "decomposition", decomposition)
register_case(CaseKind(
    name="offloading.joint",
    make_instance=lambda seed, n_users=20, n_servers=3, n_models=4, profile="edge_aigc": (
        Scenario.generate(n_users, n_servers, n_models, seed=seed, profile=profile)),
    make_spec=lambda **params: JointSpec(**objective_param(params)),
    default_methods=("outer_approximation", "decomposition"),
    reference="outer_approximation",
    description="joint placement + uplink/compute shares, exact by outer approximation",
))
