r"""Joint offloading and resource allocation, solved exactly by outer approximation.

Columns ``j = (n, k)`` are the options of :func:`aigc_opt.problems.offloading.option_table`
(device, edge server, cloud via the best server). On top of the binary placement ``x_j`` and the
caching ``y_{s,m}`` of the fixed-share MILP (same assignment, subchannel, GPU-slot, memory and
linking rows, built by :func:`aigc_opt.problems.offloading.build`), every offloaded column gets
a continuous **uplink share** ``beta_j = b_j / B_r`` of its radio server's band and every edge
column a **compute share** ``phi_j = f_j / F_s`` of its server's FLOP/s.

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
``beta = x/r``). Outer approximation: a HiGHS MILP master holds the cuts and gives the lower
bound (its dual bound); for the master's placement the convex subproblem is solved exactly --
in closed form by KKT when no deadline binds (``beta_j = sqrt(p_j) / sum_{i->r} sqrt(p_i)`` with
``p_j = w_n alpha a_j``, likewise phi), otherwise with CVXPY/Clarabel -- giving the upper bound
and new cuts at its optimum (plus cuts at the master's point and "what-if" cuts at the share
each unused column would get at the current prices). Linearisations at the subproblem optimum
make the master exact at that placement, so the loop stops when the bounds meet.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from aigc_opt.allocation import CLOUD, LOCAL, OffloadAllocation, OffloadObjective
from aigc_opt.backend import SolveOptions
from aigc_opt.cases import CaseKind, register_case
from aigc_opt.errors import ValidationError
from aigc_opt.metrics.offloading import link_times
from aigc_opt.problems.offloading import OffloadingSpec, option_table
from aigc_opt.problems.offloading import build as build_fixed_share
from aigc_opt.program import Block, LinearProgram
from aigc_opt.quality import quality
from aigc_opt.result import Result, SolveStats, Termination, relative_gap
from aigc_opt.scenario import Scenario
from aigc_opt.solve import register_algorithm, register_heuristic

logger = logging.getLogger(__name__)

R_MAX = 1e5  # largest tangent slope r = 1/beta used in a cut (shares below 1e-5 are not cut)


@dataclass(frozen=True)
class JointSpec:
    """Joint placement + uplink/compute shares (module docstring).

    Parameters
    ----------
    objective : OffloadObjective
        Weights and deadline mode.
    allow_local, allow_cloud, candidate_servers, local_max_steps, linking
        As in :class:`~aigc_opt.problems.offloading.OffloadingSpec` (same option columns).
    gap_tol : float
        Relative gap ``(UB - LB) / max(1, |UB|)`` at which outer approximation stops.
    max_iterations : int
        Outer-approximation iteration limit.
    cuts : {"lazy", "full"}
        ``"lazy"`` (default): per-server aggregated cuts at every visited placement, per-column
        tangent cuts only where a deadline binds or the subproblem is infeasible (small
        master). ``"full"``: also per-column cuts at every subproblem optimum and master point
        and, every iteration, "what-if" cuts for every unused column (fewer iterations, much
        larger master).
    """

    objective: OffloadObjective = field(default_factory=OffloadObjective)
    allow_local: bool = True
    allow_cloud: bool = True
    local_max_steps: int | None = None
    candidate_servers: int | None = None
    linking: str = "disaggregated"
    gap_tol: float = 1e-6
    max_iterations: int = 200
    cuts: str = "lazy"
    problem: str = "offloading"
    variant: str = "joint"

    def __post_init__(self) -> None:
        if not (self.gap_tol >= 0 and math.isfinite(self.gap_tol)):
            raise ValidationError("gap_tol", "-", self.gap_tol, "must be finite and >= 0")
        if self.cuts not in ("lazy", "full"):
            raise ValidationError("cuts", "-", self.cuts, "must be 'lazy' or 'full'")
        if self.max_iterations < 1:
            raise ValidationError("max_iterations", "-", self.max_iterations, "must be >= 1")
        self.base()  # validates the shared fields

    def base(self, deadline: str | None = None) -> OffloadingSpec:
        """The fixed-share spec with the same columns (optionally another deadline mode)."""
        obj = self.objective if deadline is None else dataclasses.replace(
            self.objective, deadline=deadline)
        return OffloadingSpec(objective=obj, allow_local=self.allow_local,
                              allow_cloud=self.allow_cloud, local_max_steps=self.local_max_steps,
                              candidate_servers=self.candidate_servers, linking=self.linking)


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
    return _inner_cvxpy(scn, spec, col, chosen, up, ed)


def _inner_cvxpy(scn: Scenario, spec: JointSpec, col: Columns, chosen: np.ndarray,
                 up: np.ndarray, ed: np.ndarray) -> Inner:
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
    if spec.objective.deadline == "hard":
        cons.append(lat <= d)
    else:
        obj = obj + col.rho[chosen] @ cp.pos(lat - d)
    prob = cp.Problem(cp.Minimize(obj), cons)
    try:
        prob.solve(solver="CLARABEL")
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
    keys = col.user * S2 + (col.place + 2)
    order = np.argsort(keys)
    want = np.arange(scn.n_users) * S2 + (np.asarray(placement) + 2)
    pos = np.searchsorted(keys[order], want)
    pos = np.clip(pos, 0, keys.size - 1)
    found = keys[order][pos] == want
    if not found.all():
        raise ValueError("placement uses options that are not columns of this spec")
    return order[pos]


# ---------------------------------------------------------------------- master MILP
@dataclass(frozen=True)
class Master:
    """The outer-approximation master before cuts (a MILP) and its column layout."""

    program: LinearProgram
    keep: np.ndarray  # table column of each x column
    nx: int
    ny: int

    def offsets(self) -> dict[str, int]:
        """Start of each block: x, y, beta, phi, tau, sigma, z."""
        nx, ny = self.nx, self.ny
        b = nx + ny
        return {"x": 0, "y": nx, "beta": b, "phi": b + nx, "tau": b + 2 * nx,
                "sigma": b + 3 * nx, "z": b + 4 * nx}


def build_master(scn: Scenario, spec: JointSpec, col: Columns) -> Master:
    """Fixed-share MILP rows (reused) + share, epigraph and deadline columns/rows, no cuts."""
    N, S = scn.n_users, scn.n_servers
    # The fixed-share builder prunes columns by equal-share feasibility; with no energy budget
    # and penalised deadlines it keeps every column, and we apply our own feasibility below.
    base = build_fixed_share(scn.replace(user_energy_budget_j=np.full(N, np.inf)),
                             spec.base("penalty"))
    keep = _base_columns(scn, col, base)
    nx, ny = keep.size, S * scn.n_models
    a, c = col.a[keep], col.c[keep]
    up, ed = (a > 0) & (col.radio[keep] >= 0), (c > 0) & (col.place[keep] >= 0)
    rem = col.place[keep] != LOCAL
    penalty = spec.objective.deadline == "penalty"
    m = Master(base, keep, nx, ny)  # program replaced below
    off = m.offsets()
    n = off["z"] + nx
    j = np.arange(nx)
    rows, cols, vals, lo, hi = [], [], [], [], []
    r0 = base.n_rows

    def add(r: np.ndarray, cc: np.ndarray, v: np.ndarray, n_rows: int, lower: np.ndarray,
            upper: np.ndarray) -> None:
        nonlocal r0
        rows.append(r + r0)
        cols.append(cc)
        vals.append(v)
        lo.append(lower)
        hi.append(upper)
        r0 += n_rows

    iu, ie = j[up], j[ed]
    add(col.radio[keep][iu], off["beta"] + iu, np.ones(iu.size), S, np.full(S, -np.inf),
        np.ones(S))
    add(col.place[keep][ie], off["phi"] + ie, np.ones(ie.size), S, np.full(S, -np.inf),
        np.ones(S))
    for idx, blk in ((iu, "beta"), (ie, "phi")):
        k = np.arange(idx.size)
        add(np.concatenate([k, k]), np.concatenate([off[blk] + idx, idx]),
            np.concatenate([np.ones(idx.size), -np.ones(idx.size)]), idx.size,
            np.full(idx.size, -np.inf), np.zeros(idx.size))
    ir = j[rem]
    k = np.arange(ir.size)
    slack = col.lat0[keep][ir] - col.deadline[keep][ir]
    if penalty:  # z - a tau - c sigma - (L0 - d) x >= 0
        add(np.tile(k, 4), np.concatenate([off["z"] + ir, off["tau"] + ir, off["sigma"] + ir, ir]),
            np.concatenate([np.ones(ir.size), -a[ir], -c[ir], -slack]), ir.size,
            np.zeros(ir.size), np.full(ir.size, np.inf))
    else:  # (L0 - d) x + a tau + c sigma <= 0
        add(np.tile(k, 3), np.concatenate([ir, off["tau"] + ir, off["sigma"] + ir]),
            np.concatenate([slack, a[ir], c[ir]]), ir.size, np.full(ir.size, -np.inf),
            np.zeros(ir.size))
    extra = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows) - base.n_rows,
                                                  np.concatenate(cols))),
                          shape=(r0 - base.n_rows, n))
    A = sp.vstack([sp.hstack([base.A, sp.csr_matrix((base.n_rows, n - base.n_cols))]), extra],
                  format="csr")
    u = col.user[keep]
    cobj = np.concatenate([col.const[keep], base.c[nx:], np.zeros(2 * nx), col.pw[keep] * a,
                           col.pw[keep] * c, col.rho[keep]])
    cu = np.concatenate([np.where(col.feasible[keep], 1.0, 0.0), np.ones(ny),
                         up.astype(float), ed.astype(float),
                         np.where(up, np.inf, 0.0), np.where(ed, np.inf, 0.0),
                         np.where(rem & penalty, np.inf, 0.0)])
    integ = np.zeros(n, dtype=bool)
    integ[: nx + ny] = True
    prog = LinearProgram(
        c=cobj, A=A, row_lower=np.concatenate([base.row_lower, *lo]),
        row_upper=np.concatenate([base.row_upper, *hi]), col_lower=np.zeros(n), col_upper=cu,
        integrality=integ,
        blocks=tuple(Block(name, start, (nx,) if name != "y" else (S, scn.n_models))
                     for name, start in off.items()),
        name=f"offloading.joint.master[N={N},S={S}]",
        meta={"columns": keep, "user": u})
    return dataclasses.replace(m, program=prog)


def _base_columns(scn: Scenario, col: Columns, base: LinearProgram) -> np.ndarray:
    """Table column of each x column of the fixed-share program (matched by user and place)."""
    meta = base.meta
    if "columns" in meta:
        return np.asarray(meta["columns"])
    S2 = scn.n_servers + 2
    keys = col.user * S2 + (col.place + 2)
    order = np.argsort(keys, kind="stable")
    want = np.asarray(meta["user"]) * S2 + (np.asarray(meta["placement"]) + 2)
    pos = np.clip(np.searchsorted(keys[order], want), 0, keys.size - 1)
    if not (keys[order][pos] == want).all():
        raise RuntimeError("fixed-share program columns do not match the option table")
    return np.asarray(order[pos])


def _cuts(js: np.ndarray, r: np.ndarray, x0: int, s0: int, e0: int, n: int) -> sp.csr_matrix:
    """Tangent rows ``e/r - 2 x + r s >= 0`` of ``e >= x^2 / s`` at slopes ``r`` (one per j)."""
    k = np.arange(js.size)
    return sp.csr_matrix((np.concatenate([1.0 / r, np.full(js.size, -2.0), r]),
                          (np.tile(k, 3), np.concatenate([e0 + js, x0 + js, s0 + js]))),
                         shape=(js.size, n))


# ---------------------------------------------------------------------- heuristic
def decomposition_inner(scn: Scenario, spec: JointSpec, col: Columns) -> Inner | None:
    """Placement from the fixed-share MILP, then the exact shares for it (closed form)."""
    from aigc_opt.solve import solve

    res = solve(scn, spec.base(), "highs")
    if not res.has_solution:
        res = solve(scn, spec.base("penalty"), "highs")
    if not res.has_solution:
        return None
    return solve_inner(scn, spec, col, column_of(scn, col, res.allocation.placement))


def decomposition(scn: Scenario, spec: JointSpec, seed: int = 0) -> OffloadAllocation:
    """Registered heuristic ``decomposition`` (placement first, closed-form shares second)."""
    col = columns(scn, spec)
    inner = decomposition_inner(scn, spec, col)
    if inner is None:
        raise ValueError("decomposition: the fixed-share MILP found no placement")
    return to_allocation(scn, col, inner)


# ---------------------------------------------------------------------- outer approximation
class _CutPool:
    """Tangent cuts added so far (deduplicated per column and slope to 0.1 %)."""

    def __init__(self) -> None:
        self.seen: set[tuple[int, int, int]] = set()
        self.count = 0

    def new(self, kind: int, js: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = np.clip(r, 1.0, R_MAX)
        key = np.round(np.log(r) * 1000).astype(np.int64)
        mask = np.ones(js.size, dtype=bool)
        for i, (jj, kk) in enumerate(zip(js.tolist(), key.tolist(), strict=True)):
            t = (kind, jj, kk)
            if t in self.seen:
                mask[i] = False
            else:
                self.seen.add(t)
        self.count += int(mask.sum())
        return js[mask], r[mask]


def outer_approximation(scn: Scenario, spec: JointSpec, options: SolveOptions) -> Result:
    """Registered algorithm ``outer_approximation`` (module docstring): exact within gap_tol.

    Termination OPTIMAL when ``(UB - LB) / max(1, |UB|) <= gap_tol``; FEASIBLE with the honest
    bound and gap when the time or iteration limit stops it first; INFEASIBLE when the master
    (a relaxation) is infeasible and no placement was found.
    """
    import highspy

    from aigc_opt.solvers.highs import HighsBackend

    t_start = time.perf_counter()
    col = columns(scn, spec)
    master = build_master(scn, spec, col)
    mp, keep, nx = master.program, master.keep, master.nx
    off = master.offsets()
    n = mp.n_cols
    pos_of = np.full(col.user.size, -1)
    pos_of[keep] = np.arange(nx)
    h = highspy.Highs()
    h.setOptionValue("output_flag", bool(options.verbose))
    h.setOptionValue("mip_rel_gap", min(spec.gap_tol * 0.1, 1e-4))
    h.setOptionValue("mip_abs_gap", 1e-9)
    if options.threads is not None:
        h.setOptionValue("threads", int(options.threads))
    for key, value in options.extra.items():
        h.setOptionValue(key, value)
    HighsBackend._pass(h, mp, highspy)
    pool = _CutPool()
    a, c = col.a[keep], col.c[keep]
    up = (a > 0) & (col.radio[keep] >= 0)
    ed = (c > 0) & (col.place[keep] >= 0)

    def add_cuts(kind: int, js: np.ndarray, r: np.ndarray) -> None:
        js, r = pool.new(kind, js, r)
        if js.size == 0:
            return
        s0, e0 = (off["beta"], off["tau"]) if kind == 0 else (off["phi"], off["sigma"])
        m = _cuts(js, r, off["x"], s0, e0, n)
        h.addRows(m.shape[0], np.zeros(m.shape[0]), np.full(m.shape[0], np.inf), int(m.nnz),
                  m.indptr.astype(np.int32), m.indices.astype(np.int32), m.data)

    def whatif(inner: Inner) -> None:
        """Cuts at the full share (r = 1) and at the share each column would get at the prices
        of ``inner`` (``sqrt(p_j) / (sum_{i->r} sqrt(p_i) + sqrt(p_j))``)."""
        ch = inner.chosen
        S = scn.n_servers
        for kind, coef, grp, act in ((0, a, col.radio[keep], up), (1, c, col.place[keep], ed)):
            cact = (col.a[ch] > 0) if kind == 0 else (col.c[ch] > 0)
            cgrp = col.radio[ch] if kind == 0 else col.place[ch]
            p_ch = col.pw[ch] * ((col.a[ch]) if kind == 0 else col.c[ch])
            tot = np.bincount(np.where(cact, cgrp, 0),
                              weights=np.where(cact, np.sqrt(np.maximum(p_ch, 0.0)), 0.0),
                              minlength=S)
            root = np.sqrt(np.maximum(col.pw[keep] * coef, 0.0))
            js = np.nonzero(act & (root > 0))[0]
            share = root[js] / (tot[grp[js]] + root[js])
            add_cuts(kind, js, 1.0 / share)
            add_cuts(kind, np.nonzero(act)[0], np.ones(int(act.sum())))

    S = scn.n_servers
    p_col = (col.pw[keep] * a, col.pw[keep] * c)
    grp_col = (np.where(up, col.radio[keep], 0), np.where(ed, col.place[keep], 0))
    act_col = (up, ed)

    def server_cuts(xs: np.ndarray) -> None:
        """Aggregated cuts ``sum_j p_j e_j >= (sum_j sqrt(p_j) x_j)^2`` per server (implied by
        the cones and the capacity row, by Cauchy-Schwarz), linearised at the placement
        ``xs`` and scaled by ``sigma^2``: ``sum p e / sigma^2 - 2 sum sqrt(p) x / sigma >= -1``.
        """
        for kind in (0, 1):
            p, grp, act = p_col[kind], grp_col[kind], act_col[kind] & (p_col[kind] > 0)
            root = np.sqrt(np.where(act, p, 0.0))
            sig = np.bincount(grp, weights=root * xs, minlength=S)
            e0 = off["tau"] if kind == 0 else off["sigma"]
            for srv in np.nonzero(sig > 0)[0]:
                key = (2 + kind, int(srv), int(np.round(np.log(sig[srv]) * 1000)))
                if key in pool.seen:
                    continue
                pool.seen.add(key)
                pool.count += 1
                js = np.nonzero(act & (grp == srv))[0]
                idx = np.concatenate([e0 + js, off["x"] + js]).astype(np.int32)
                val = np.concatenate([p[js] / sig[srv] ** 2, -2.0 * root[js] / sig[srv]])
                h.addRows(1, np.array([-1.0]), np.array([np.inf]), int(idx.size),
                          np.array([0], dtype=np.int32), idx, val)

    def from_inner(inner: Inner, per_column: bool) -> None:
        js = pos_of[inner.chosen]
        if per_column:
            for kind, share in ((0, inner.beta), (1, inner.phi)):
                sel = share > 0
                add_cuts(kind, js[sel], 1.0 / share[sel])
        xs = np.zeros(nx)
        xs[js] = 1.0
        server_cuts(xs)

    best: Inner | None = None
    t_inner = 0.0
    cvx_calls = 0
    t0 = time.perf_counter()
    heur = decomposition_inner(scn, spec, col)
    t_inner += time.perf_counter() - t0
    full = spec.cuts == "full"
    if heur is not None and heur.feasible:
        best = heur
        from_inner(heur, per_column=full or heur.method != "kkt")
    if full:
        whatif(heur if heur is not None else Inner(np.zeros(0, int), np.zeros(0), np.zeros(0),
                                                   math.inf, False, "none"))
    lb, ub = -math.inf, (best.value if best is not None else math.inf)
    it, nodes, t_master = 0, 0, 0.0
    term, msg = Termination.FEASIBLE, ""
    while it < spec.max_iterations:
        # loose master gaps while the OA gap is large; its dual bound is valid either way
        g = relative_gap(ub, lb)
        loose = min(1e-2, 0.1 * g) if math.isfinite(g) else 1e-2
        h.setOptionValue("mip_rel_gap", float(max(min(spec.gap_tol * 0.1, 1e-4), loose)))
        if options.time_limit is not None:
            left = options.time_limit - (time.perf_counter() - t_start)
            if left <= 0:
                msg = "time limit"
                break
            h.setOptionValue("time_limit", float(left))
        if best is not None:
            xv = _master_point(scn, spec, col, master, best)
            h.setSolution(n, np.arange(n, dtype=np.int32), xv)
        it += 1
        t0 = time.perf_counter()
        h.run()
        t_master += time.perf_counter() - t0
        logger.debug("OA iteration %d: master %.2fs, %s, bound %.9g, ub %.9g, nodes %d", it,
                     time.perf_counter() - t0, h.getModelStatus(), h.getInfo().mip_dual_bound,
                     ub, h.getInfo().mip_node_count)
        status = str(h.getModelStatus()).split(".")[-1]
        info = h.getInfo()
        nodes += max(int(info.mip_node_count), 0)
        if status == "kInfeasible":
            lb = ub  # the relaxation has no placement better than the incumbent (or none)
            break
        lb = max(lb, float(info.mip_dual_bound))
        if relative_gap(ub, lb) <= spec.gap_tol:
            break
        if int(info.primal_solution_status) != 2:
            msg = f"master stopped without a solution ({status})"
            break
        x = np.asarray(h.getSolution().col_value)
        xs = x[: nx] > 0.5
        chosen = keep[xs]
        if chosen.size != scn.n_users:
            msg = "master solution is not an assignment"
            term = Termination.ERROR
            break
        t0 = time.perf_counter()
        inner = solve_inner(scn, spec, col, chosen)
        t_inner += time.perf_counter() - t0
        cvx_calls += inner.method == "cvxpy"
        if inner.feasible and inner.value < ub:
            best, ub = inner, inner.value
        # deadlines bind (or cannot be met) at this placement: the per-server cuts do not see
        # that, the per-column cones must be refined (subproblem optimum and master point)
        binding = not inner.feasible or inner.method != "kkt"
        if inner.feasible:
            from_inner(inner, per_column=full or binding)
            if full:
                whatif(inner)
        js = np.nonzero(xs)[0] if (full or binding) else np.zeros(0, dtype=int)
        for kind, s0, e0 in ((0, off["beta"], off["tau"]), (1, off["phi"], off["sigma"])):
            act = (up if kind == 0 else ed)[js]
            jj = js[act]
            s, e = x[s0 + jj], x[e0 + jj]
            with np.errstate(divide="ignore"):
                viol = e * s < 1.0 - 1e-9
            add_cuts(kind, jj[viol], 1.0 / np.maximum(s[viol], 1.0 / R_MAX))
        server_cuts(xs.astype(float))
        if relative_gap(ub, lb) <= spec.gap_tol:
            break
        if status != "kOptimal":
            msg = f"master {status}"
            break
    else:
        msg = "iteration limit"
    gap = relative_gap(ub, lb)
    seconds = time.perf_counter() - t_start
    stats = SolveStats("outer_approximation", solve_seconds=seconds, iterations=it, nodes=nodes,
                       extra={"oa_iterations": it, "cuts": pool.count,
                              "master_seconds": t_master, "inner_seconds": t_inner,
                              "inner_cvxpy_calls": cvx_calls, "lower_bound": lb})
    if best is None:
        infeasible = lb == ub
        return Result(Termination.INFEASIBLE if infeasible else Termination.LIMIT, False,
                      bound=lb, gap=math.inf, stats=stats,
                      message="no feasible placement" if infeasible else msg)
    if term is not Termination.ERROR:
        term = Termination.OPTIMAL if gap <= spec.gap_tol else Termination.FEASIBLE
    alloc = to_allocation(scn, col, best)
    return Result(term, True, objective=best.value, bound=min(lb, best.value), gap=gap,
                  values={"placement": alloc.placement, "beta": best.beta, "phi": best.phi},
                  allocation=alloc, stats=stats, message=msg)


def _master_point(scn: Scenario, spec: JointSpec, col: Columns, master: Master,
                  inner: Inner) -> np.ndarray:
    """The master vector of a feasible placement with shares (a warm start for HiGHS)."""
    off = master.offsets()
    x = np.zeros(master.program.n_cols)
    pos = np.full(col.user.size, -1)
    pos[master.keep] = np.arange(master.nx)
    js = pos[inner.chosen]
    x[off["x"] + js] = 1.0
    cache = minimal_cache(scn, col, inner.chosen)
    x[off["y"]: off["y"] + master.ny] = cache.reshape(-1)
    with np.errstate(divide="ignore"):
        tau = np.where(inner.beta > 0, 1.0 / inner.beta, 0.0)
        sig = np.where(inner.phi > 0, 1.0 / inner.phi, 0.0)
    x[off["beta"] + js] = inner.beta
    x[off["phi"] + js] = inner.phi
    x[off["tau"] + js] = tau
    x[off["sigma"] + js] = sig
    lat = col.lat0[inner.chosen] + col.a[inner.chosen] * tau + col.c[inner.chosen] * sig
    x[off["z"] + js] = np.where(col.rho[inner.chosen] > 0,
                                np.maximum(lat - col.deadline[inner.chosen], 0.0), 0.0)
    return x


def solve_decomposition(scn: Scenario, spec: JointSpec, options: SolveOptions) -> Result:
    """The decomposition heuristic as an algorithm with its own (no) bound, for benchmarks."""
    t0 = time.perf_counter()
    col = columns(scn, spec)
    inner = decomposition_inner(scn, spec, col)
    stats = SolveStats("decomposition", solve_seconds=time.perf_counter() - t0)
    if inner is None or not inner.feasible:
        return Result(Termination.LIMIT, False, gap=math.inf, stats=stats,
                      message="no feasible decomposition placement")
    return Result(Termination.FEASIBLE, True, objective=inner.value, bound=math.nan,
                  gap=math.nan, allocation=to_allocation(scn, col, inner), stats=stats)


register_algorithm(JointSpec, "outer_approximation", outer_approximation)
register_heuristic(JointSpec, "decomposition", decomposition)
register_case(CaseKind(
    name="offloading.joint",
    make_instance=lambda seed, n_users=20, n_servers=3, n_models=4, profile="edge_aigc": (
        Scenario.generate(n_users, n_servers, n_models, seed=seed, profile=profile)),
    make_spec=lambda **params: JointSpec(**(
        {**params, "objective": OffloadObjective(**params["objective"])}
        if isinstance(params.get("objective"), dict) else params)),
    default_methods=("outer_approximation", "decomposition"),
    reference="outer_approximation",
    description="joint placement + uplink/compute shares, exact by outer approximation",
))
