r"""Outer approximation for :mod:`aigc_opt.problems.offloading.joint` (exact within gap_tol).

The master is the fixed-share MILP's rows (reused from
:func:`aigc_opt.problems.offloading.assignment.build`) plus, per column, the shares ``beta,
phi``, the cone epigraphs ``tau, sigma`` and the lateness ``z`` (see the joint module's
docstring). It is held in one live ``highspy.Highs`` object; cuts are appended with ``addRows``
and the incumbent is passed back with ``setSolution`` every iteration. Cuts:

* per server and resource, the aggregated inequality ``sum_j p_j tau_j >= (sum_j sqrt(p_j)
  x_j)^2`` (implied by the cones and the capacity row by Cauchy-Schwarz), linearised at every
  visited placement -- exact at that placement whenever no deadline binds (the KKT value);
* per column, tangents ``tau >= 2 r x - r^2 beta`` of the cones at the subproblem optimum and
  at the master's point: always with ``cuts="full"`` (plus "what-if" tangents at the share
  each unused column would get at the current prices), only where a deadline binds or the
  subproblem is infeasible with ``cuts="lazy"`` (the default; a much smaller master).

Lower bound: the master's MILP dual bound (its gap is loosened to a tenth of the current OA gap
while that is large). Upper bound: the best subproblem value. Linearisations at the
subproblem optimum make the master exact at that placement, so the loop ends when the bounds
meet (finite convergence); a time or iteration limit returns FEASIBLE with the honest gap.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from aigc_opt.backend import SolveOptions
from aigc_opt.explain import row_group
from aigc_opt.program import Block, LinearProgram, key_positions
from aigc_opt.result import Result, SolveStats, Termination, relative_gap
from aigc_opt.scenario import Scenario
from aigc_opt.solve import register_algorithm

from .assignment import build as build_fixed_share
from .data import CLOUD, LOCAL, JointSpec
from .joint import (
    Columns,
    Inner,
    columns,
    decomposition_inner,
    minimal_cache,
    solve_inner,
    to_allocation,
)

logger = logging.getLogger(__name__)

R_MAX = 1e5  # largest tangent slope r = 1/beta used in a cut (shares below 1e-5 are not cut)


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
    groups = dict(base.meta.get("row_groups", {}))  # the fixed-share rows come first
    u = col.user[keep]
    place, radio = col.place[keep], col.radio[keep]

    def add(name: str, items: Any, r: np.ndarray, cc: np.ndarray, v: np.ndarray, n_rows: int,
            lower: np.ndarray, upper: np.ndarray) -> None:
        nonlocal r0
        rows.append(r + r0)
        cols.append(cc)
        vals.append(v)
        lo.append(lower)
        hi.append(upper)
        groups[name] = row_group(r0, r0 + n_rows, items)
        r0 += n_rows

    def option(js: np.ndarray) -> list[str]:  # one label per x column
        return [f"request {n}, server {p}" if p >= 0 else
                f"request {n}, cloud via server {r}" if p == CLOUD else f"request {n}, local"
                for n, p, r in zip(u[js].tolist(), place[js].tolist(), radio[js].tolist(),
                                   strict=True)]

    iu, ie = j[up], j[ed]
    add("uplink_share", "server {i}", radio[iu], off["beta"] + iu, np.ones(iu.size), S,
        np.full(S, -np.inf), np.ones(S))
    add("compute_share", "server {i}", place[ie], off["phi"] + ie, np.ones(ie.size), S,
        np.full(S, -np.inf), np.ones(S))
    for idx, blk, name in ((iu, "beta", "uplink_linking"), (ie, "phi", "compute_linking")):
        k = np.arange(idx.size)
        add(name, option(idx), np.concatenate([k, k]), np.concatenate([off[blk] + idx, idx]),
            np.concatenate([np.ones(idx.size), -np.ones(idx.size)]), idx.size,
            np.full(idx.size, -np.inf), np.zeros(idx.size))
    ir = j[rem & np.isfinite(col.deadline[keep])]  # no deadline (inf): no row, no penalty
    k = np.arange(ir.size)
    slack = col.lat0[keep][ir] - col.deadline[keep][ir]
    if penalty:  # z - a tau - c sigma - (L0 - d) x >= 0
        add("lateness", option(ir), np.tile(k, 4),
            np.concatenate([off["z"] + ir, off["tau"] + ir, off["sigma"] + ir, ir]),
            np.concatenate([np.ones(ir.size), -a[ir], -c[ir], -slack]), ir.size,
            np.zeros(ir.size), np.full(ir.size, np.inf))
    else:  # (L0 - d) x + a tau + c sigma <= 0
        add("deadline", option(ir), np.tile(k, 3),
            np.concatenate([ir, off["tau"] + ir, off["sigma"] + ir]),
            np.concatenate([slack, a[ir], c[ir]]), ir.size, np.full(ir.size, -np.inf),
            np.zeros(ir.size))
    extra = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows) - base.n_rows,
                                                  np.concatenate(cols))),
                          shape=(r0 - base.n_rows, n))
    A = sp.vstack([sp.hstack([base.A, sp.csr_matrix((base.n_rows, n - base.n_cols))]), extra],
                  format="csr")
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
        meta={"table_columns": keep, "user": u, "row_groups": groups})
    return dataclasses.replace(m, program=prog)


def _base_columns(scn: Scenario, col: Columns, base: LinearProgram) -> np.ndarray:
    """Table column of each x column of the fixed-share program (matched by user and place)."""
    cols = base.column_data
    S2 = scn.n_servers + 2
    want = np.asarray(cols["user"]) * S2 + (np.asarray(cols["placement"]) + 2)
    pos = key_positions(col.user * S2 + (col.place + 2), want)
    if pos is None:
        raise RuntimeError("fixed-share program columns do not match the option table")
    return pos


def _cuts(js: np.ndarray, r: np.ndarray, x0: int, s0: int, e0: int, n: int) -> sp.csr_matrix:
    """Tangent rows ``e/r - 2 x + r s >= 0`` of ``e >= x^2 / s`` at slopes ``r`` (one per j)."""
    k = np.arange(js.size)
    return sp.csr_matrix((np.concatenate([1.0 / r, np.full(js.size, -2.0), r]),
                          (np.tile(k, 3), np.concatenate([e0 + js, x0 + js, s0 + js]))),
                         shape=(js.size, n))


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

    Termination OPTIMAL when ``relative_gap(UB, LB) <= gap_tol``; FEASIBLE with the honest
    bound and gap when the time or iteration limit stops it first; INFEASIBLE when the master
    (a relaxation) is infeasible and no placement was found.
    """
    import highspy

    from aigc_opt.solvers.highs import HighsBackend

    t_start = time.perf_counter()
    if spec.extra_constraints(scn):  # the master is built from the fixed-share rows only
        return Result(Termination.ERROR, False, gap=math.inf,
                      stats=SolveStats("outer_approximation"),
                      message="outer_approximation does not support extra constraints")
    col = columns(scn, spec)
    master = build_master(scn, spec, col)
    mp, keep, nx = master.program, master.keep, master.nx
    off = master.offsets()
    n = mp.n_cols
    pos_of = np.full(col.user.size, -1)
    pos_of[keep] = np.arange(nx)
    from aigc_opt.solvers.highs import (
        new_highs,
        reports_its_solution,
        run,
        set_extra_options,
        use_threads,
    )

    h = new_highs(bool(options.verbose))
    h.setOptionValue("mip_rel_gap", min(spec.gap_tol * 0.1, 1e-4))
    h.setOptionValue("mip_abs_gap", 1e-9)
    use_threads(options.threads, h)
    set_extra_options(h, options.extra, highspy)  # unknown names are refused, not ignored
    # HiGHS sees the master with its costs scaled to O(1) (a power of two, exact): with the
    # objective weights x1e-5 its dual tolerance (1e-7, absolute) hid cost differences, and it
    # returned the warm start as optimal with that start's value as dual bound (a false
    # "optimal" 0.69 % above the optimum; metamorphic probe). Bounds are scaled back.
    big = float(np.abs(mp.c).max()) if mp.c.size else 0.0
    k = 2.0 ** -round(math.log2(big)) if 0.0 < big < math.inf else 1.0
    mps = dataclasses.replace(mp, c=mp.c * k, offset=mp.offset * k)
    try:
        HighsBackend._pass(h, mps, highspy)
    except ValueError as exc:  # certify seed 143001850 (gpu_memory x1e-300): a status
        return Result(Termination.ERROR, False, gap=math.inf, message=f"master: {exc}",
                      stats=SolveStats("outer_approximation",
                                       solve_seconds=time.perf_counter() - t_start))
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
    heur = decomposition_inner(scn, spec, col, options, t_start)
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
    use_start = True
    cuts_before, lb_before = -1, -math.inf
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
        if best is not None and use_start:
            xv = _master_point(scn, spec, col, master, best)
            h.setSolution(n, np.arange(n, dtype=np.int32), xv)
        it += 1
        t0 = time.perf_counter()
        run(h)
        # HiGHS 1.16's presolve, with the MIP start and the cut rows, returned the start as
        # "optimal" under an objective and dual bound it does not have (an infinite deadline:
        # the master never moved, 200 iterations), and with a matching objective it reported
        # the start's value as dual bound (weights x1e4: 109,696,468 above a verified
        # 109,696,267). Such a master, and any bound that would close the gap, is solved again
        # without the MIP start (none from here on; our incumbent ``best`` / ``ub`` does not
        # depend on HiGHS's). It had been solved again with presolve off instead, where HiGHS
        # 1.16 segfaulted and killed the process (certify seed 2511009732, offloading.joint
        # bits x 1e-300: with a MIP start under any heuristic setting, and without one with
        # the feasibility-jump heuristic, ERGO-Code/HiGHS#3262)
        if use_start and (not reports_its_solution(h) or (best is not None and relative_gap(
                ub, float(h.getInfo().mip_dual_bound) / k) <= spec.gap_tol)):
            logger.debug("OA master %d: solved again without the MIP start", it)
            use_start = False
            h.clearSolver()
            run(h)
        t_master += time.perf_counter() - t0
        logger.debug("OA iteration %d: master %.2fs, %s, bound %.9g, ub %.9g, nodes %d", it,
                     time.perf_counter() - t0, h.getModelStatus(), h.getInfo().mip_dual_bound / k,
                     ub, h.getInfo().mip_node_count)
        status = str(h.getModelStatus()).split(".")[-1]
        info = h.getInfo()
        nodes += max(int(info.mip_node_count), 0)
        if status == "kInfeasible":
            lb = ub  # the relaxation has no placement better than the incumbent (or none)
            break
        lb = max(lb, float(info.mip_dual_bound) / k)
        if relative_gap(ub, lb) <= spec.gap_tol:
            break
        if int(info.primal_solution_status) != 2:
            msg = f"master stopped without a solution ({status})"
            break
        x = np.asarray(h.getSolution().col_value)
        xs = x[: nx] > 0.5
        chosen = keep[xs]
        if best is not None and pool.count == cuts_before and lb <= lb_before \
                and np.array_equal(np.sort(chosen), np.sort(best.chosen)):
            # nothing changed since the last master: it would return the same forever
            msg = "stalled: the master returns the incumbent placement, no new cut or bound"
            break
        cuts_before, lb_before = pool.count, lb
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
        why = _explain_master(mp, options, t_start) if infeasible else None
        return Result(Termination.INFEASIBLE if infeasible else Termination.LIMIT, False,
                      bound=lb, gap=math.inf, stats=stats, explanation=why,
                      message="no feasible placement" if infeasible else msg)
    if term is not Termination.ERROR:
        term = Termination.OPTIMAL if gap <= spec.gap_tol else Termination.FEASIBLE
    alloc = to_allocation(scn, col, best)
    return Result(term, True, objective=best.value, bound=min(lb, best.value), gap=gap,
                  values={"placement": alloc.placement, "beta": best.beta, "phi": best.phi},
                  allocation=alloc, stats=stats, message=msg)


def _explain_master(mp: LinearProgram, options: SolveOptions, t_start: float) -> Any:
    """Explanation of an infeasible outcome from the cut-free master (a relaxation: its
    conflicts are conflicts of the instance, named by its row groups: assignment, gpu_slots,
    deadline at "request n, server p", ...). None when that relaxation is feasible: the
    outer-approximation cuts (deadlines under shared uplink and compute) proved the rest."""
    from aigc_opt.explain import TIME_LIMIT, explain_infeasible

    left = (options.time_limit or math.inf) - (time.perf_counter() - t_start)
    why = explain_infeasible(mp, time_limit=max(1.0, min(TIME_LIMIT, left)))
    if not why:
        return None
    # relaxing the named rows makes the relaxation feasible, which does not show the same
    # of the instance (the cuts may still cut every placement): complete only for the master
    note = "conflicts of the cut-free OA master, a relaxation of the instance"
    return dataclasses.replace(why, complete=False,
                               message="; ".join(x for x in (note, why.message) if x))


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



register_algorithm(JointSpec, "outer_approximation", outer_approximation)
