r"""Column generation for the offline caching problem: a Dantzig-Wolfe master over
per-(server, model) cache trajectories, certified by the Lagrangian bound at its duals, then
strengthened by the decomposition with exact memory knapsacks, with price-and-branch for the
primal.

Master LP (restricted to the generated columns; all in problem cost units): a column ``j`` of
block (k, m) is a trajectory ``c^j`` (with its ages) together with the groups it serves
``x^j_g in {0, 1}``; its cost is ``sum_t L_km [load] + sum_g R_g b_{g,k,m,a_t}``.

.. math::

    \min \sum_j cost_j \lambda_j + \sum_g R_g q_m y_g \quad\text{s.t.}\quad
    \sum_j x^j_g \lambda_j + y_g \ge 1 \;(g),\quad
    \sum_{j \in (k,\cdot)} z_{k,m_j} c^j_t \lambda_j \le 1 \;(t,k),\quad
    [\textstyle\sum_j \sum_{g \ni t} R_g f_{k,m_j} x^j_g \lambda_j \le 1 \;(t,k)],\quad
    \sum_{j \in (k,m)} \lambda_j \le 1 \;(k,m),

``lambda, y >= 0`` (``y <= 1``). Its LP optimum over *all* columns is the Dantzig-Wolfe bound.
Pricing is the trajectory DP of :func:`.decomposition.lagrangian` at ``pi_g = dual_g / R_g``,
``mu = -dual_mem``, ``nu = -dual_comp``: a block's best column has reduced cost
``D_km - sigma_km``; whatever the duals, ``L(pi, mu, nu)`` is a valid lower bound, so the
bound is certified at every round (not only at convergence). Duals are smoothed (Wentges:
pricing at ``alpha`` times the best Lagrangian point plus ``1 - alpha`` times the master's,
``alpha = 1/2``, falling back to the master's duals when that misprices). Then the subgradient
of :func:`.decomposition.subgradient` (exact per-(t, k) knapsacks, ``lam = mu z`` at start)
can only raise the bound further, because the knapsack value at ``lam = mu z`` is at most the
memory-dualised term ``mu``. The primal is the best of: memory repairs of DP trajectories, the
restricted master solved as a MIP (binary ``lambda``: memory-feasible by its rows), each
polished by coordinate descent (:func:`.decomposition.improve`) alternated with exact pair
moves (:mod:`.local_search`: two models of one server re-optimised jointly, so one may evict
the other; at 10 x 50 x 100 they take the primal from 82,193 to about 73,000 in 120 s).
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np

from aigc_opt.backend import SolveOptions
from aigc_opt.result import Result, relative_gap
from aigc_opt.solve import register_algorithm

from .data import CachingInstance, CachingSpec
from .decomposition import (
    GRID_MAX,
    Tables,
    _checked,
    _Eval,
    _finish,
    _Primal,
    extra_option,
    lagrangian,
    repair,
    subgradient,
    tables,
)

logger = logging.getLogger(__name__)

#: Masters with more covering rows than this are solved by interior point (no crossover).
IPM_ROWS = 5000


class Master:
    """Dantzig-Wolfe restricted master LP over trajectory columns (HiGHS, warm-started).

    Rows: one covering row ``sum lambda + y >= 1`` per group with ``R > 0`` (dual ``R pi``),
    memory rows ``sum z c lambda <= 1`` and compute rows per (t, k), and ``sum lambda <= 1`` per
    (k, m) (the empty trajectory is implicit). A column is one block's trajectory together with
    the groups it serves; its cost is its loads plus the served requests' edge costs.
    """

    def __init__(self, tb: Tables) -> None:
        import highspy

        from aigc_opt.solvers.highs import new_highs

        self.tb = tb
        T, S, M = tb.R.shape
        self.shape = (T, S, M)
        g = tb.R > 0
        self.gidx = np.full((T, S, M), -1, dtype=np.int64)
        self.nG = int(g.sum())
        self.gidx[g] = np.arange(self.nG)
        self.Rg = tb.R[g]
        self.mem0 = self.nG
        self.comp0 = self.mem0 + T * S
        self.conv0 = self.comp0 + (T * S if tb.compute else 0)
        n_rows = self.conv0 + S * M
        lower = np.full(n_rows, -np.inf)
        lower[: self.nG] = 1.0
        upper = np.ones(n_rows)
        upper[: self.nG] = np.inf
        ycost = (tb.R * tb.q[None, None, :])[g]
        # typical cost magnitude (the median |cost|, ignoring zeros; 1 when every cost is 0)
        nz = np.abs(ycost[ycost != 0])
        self.scale = float(np.median(nz)) if nz.size else 1.0
        h = new_highs()
        # large masters: interior point without crossover (any duals give a valid bound; the
        # simplex needed minutes for the first 10 x 50 x 100 master), else warm simplex
        self.lp_solver = "ipm" if self.nG > IPM_ROWS else "simplex"
        h.setOptionValue("solver", self.lp_solver)
        if self.lp_solver == "ipm":
            h.setOptionValue("run_crossover", "off")
        A = np.arange(self.nG + 1, dtype=np.int32)
        h.passModel(self.nG, n_rows, self.nG, int(highspy.MatrixFormat.kColwise),
                    int(highspy.ObjSense.kMinimize), 0.0, ycost / self.scale, np.zeros(self.nG),
                    np.ones(self.nG), lower, upper, A, A[:-1], np.ones(self.nG),
                    np.zeros(self.nG, dtype=np.int32))
        self.h = h
        self.hs = highspy
        self.col_k: list[np.ndarray] = []
        self.col_m: list[np.ndarray] = []
        self.col_held: list[np.ndarray] = []
        self.seen: set[bytes] = set()

    @property
    def n_columns(self) -> int:
        return int(sum(a.size for a in self.col_k))

    def add(self, ev: _Eval, mask: np.ndarray) -> int:
        """Add the DP columns of the blocks in ``mask`` (S, M); returns how many were new."""
        tb = self.tb
        T, S, M = self.shape
        kb, mb = np.nonzero(mask & tb.ok)
        if kb.size == 0:
            return 0
        age = ev.age[:, kb, mb]  # (T, nb)
        held = age >= 0
        keepb = held.any(axis=0)
        kb, mb, age, held = kb[keepb], mb[keepb], age[:, keepb], held[:, keepb]
        nb = kb.size
        if nb == 0:
            return 0
        j_ = np.arange(nb)
        X = ev.x[:, :, mb] & (tb.pk[None, :, None] == kb[None, None, :])  # (T, Np, nb)
        ts, pp, jj = np.nonzero(X)
        grow = self.gidx[ts, tb.ps[pp], mb[jj]]
        ok = grow >= 0
        ts, pp, jj, grow = ts[ok], pp[ok], jj[ok], grow[ok]
        a = np.maximum(age[ts, jj], 0)
        r = tb.R[ts, tb.ps[pp], mb[jj]]
        serve_cost = np.zeros(nb)
        np.add.at(serve_cost, jj, r * tb.b[ts, pp, mb[jj], a])
        prev = np.concatenate([tb.init[kb, mb][None], held[:-1]], axis=0)
        cost = serve_cost + (held & ~prev).sum(axis=0) * tb.L[kb, mb]
        th, jh = np.nonzero(held)
        rows = [grow, self.mem0 + th * S + kb[jh], self.conv0 + kb * M + mb]
        cols = [jj, jh, j_]
        vals = [np.ones(grow.size), tb.z[kb[jh], mb[jh]], np.ones(nb)]
        if tb.compute:
            rows.append(self.comp0 + ts * S + kb[jj])
            cols.append(jj)
            vals.append(r * tb.f[kb[jj], mb[jj]])
        import scipy.sparse as sp

        A = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(self.conv0 + S * M, nb))
        A.sum_duplicates()
        A.sort_indices()
        new = np.zeros(nb, dtype=bool)
        for j in range(nb):  # de-duplicate columns (one hash per column)
            sl = slice(A.indptr[j], A.indptr[j + 1])
            key = A.indices[sl].tobytes() + A.data[sl].tobytes()
            if key not in self.seen:
                self.seen.add(key)
                new[j] = True
        if not new.any():
            return 0
        A = A[:, new]
        n = int(new.sum())
        self.h.addCols(n, cost[new] / self.scale, np.zeros(n), np.full(n, np.inf), int(A.nnz),
                       A.indptr[:-1].astype(np.int32), A.indices.astype(np.int32), A.data)
        self.col_k.append(kb[new])
        self.col_m.append(mb[new])
        self.col_held.append(held[:, new])
        return n

    def solve(self, time_limit: float
              ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """Master LP value and its duals as multipliers ``(pi per request, mu, nu, sigma)``;
        None when the LP did not finish within ``time_limit`` s."""
        from aigc_opt.solvers.highs import run

        T, S, M = self.shape
        if time_limit <= 0:
            return None
        self.h.setOptionValue("time_limit", float(time_limit))
        run(self.h)
        sol = self.h.getSolution()
        if self.h.getModelStatus() != self.hs.HighsModelStatus.kOptimal or not sol.dual_valid:
            return None
        d = np.asarray(sol.row_dual) * self.scale
        z = float(self.h.getInfo().objective_function_value) * self.scale
        pi = np.broadcast_to(self.tb.q[None, None, :], (T, S, M)).copy()
        g = self.gidx >= 0
        pi[g] = d[: self.nG] / self.Rg
        mu = np.maximum(0.0, -d[self.mem0:self.mem0 + T * S]).reshape(T, S)
        nu = (np.maximum(0.0, -d[self.comp0:self.conv0]).reshape(T, S) if self.tb.compute
              else np.zeros((T, S)))
        sigma = np.minimum(0.0, d[self.conv0:]).reshape(S, M)
        return z, pi, mu, nu, sigma

    def integer_cache(self, time_limit: float) -> np.ndarray | None:
        """Restricted master MIP (binary columns) within ``time_limit``: its cache, or None."""
        from aigc_opt.solvers.highs import run

        T, S, M = self.shape
        n_y = self.nG
        n = self.h.getNumCol()
        if n == n_y or time_limit <= 0:
            return None
        integ = np.ones(n - n_y, dtype=np.int32)
        self.h.changeColsIntegrality(n - n_y, np.arange(n_y, n, dtype=np.int32), integ)
        self.h.setOptionValue("time_limit", float(time_limit))
        self.h.setOptionValue("mip_rel_gap", 1e-4)
        self.h.setOptionValue("solver", "choose")
        # the master LP's last point would be taken as a MIP start; HiGHS completes such a
        # partial start with a sub-MIP that its time limit does not cover (4 x 15 x 25 at
        # 60 s: 26 s of completion, then the full 37 s MIP, so the method ran 82 s)
        self.h.clearSolver()
        run(self.h)
        self.h.setOptionValue("solver", self.lp_solver)
        sol = self.h.getSolution()
        cache = None
        if sol.value_valid:
            lam = np.asarray(sol.col_value)[n_y:] > 0.5
            cache = np.zeros((T, S, M), dtype=bool)
            k = np.concatenate(self.col_k)
            m = np.concatenate(self.col_m)
            held = np.concatenate(self.col_held, axis=1)
            for j in np.nonzero(lam)[0]:  # chosen columns only
                cache[:, k[j], m[j]] |= held[:, j]
        self.h.changeColsIntegrality(n - n_y, np.arange(n_y, n, dtype=np.int32),
                                     np.zeros(n - n_y, dtype=np.int32))
        return cache


_CG_EXTRA = ("warm", "cg_share", "ld_share", "mip_share", "grid", "patience")


def solve_colgen(inst: CachingInstance, spec: CachingSpec, options: SolveOptions | None = None
                 ) -> Result:
    """Column generation on the Dantzig-Wolfe master (see :class:`Master`), certified by the
    Lagrangian bound at the master's duals, with price-and-branch and coordinate descent for the
    primal.

    Phases within ``options.time_limit`` (default 120 s): ``extra["warm"]`` subgradient
    iterations (default 10) whose DP trajectories seed the master; column generation until the
    master value and the bound agree to ``1e-6`` (or ``cg_share`` of the time is used;
    pricing at Wentges-smoothed duals); subgradient ascent on the decomposition bound with exact
    memory knapsacks (:func:`lagrangian` with ``lam``), started at ``lam = mu z`` from the best
    duals (until ``ld_share``; ``theta`` halved after ``patience`` = 15 stalls); the restricted
    master as a MIP (until ``mip_share``), its cache polished; then the best cache polished by
    coordinate descent and exact pair moves (:meth:`.decomposition._Primal.polish`,
    :mod:`.local_search`) until the deadline or no gain. Default shares (cg, ld, mip):
    50/70/90 % with a simplex master, 5/60/70 % with an interior-point one (more than
    :data:`IPM_ROWS` covering rows). ``options.mip_gap`` (default 1e-4) stops early when
    ``(UB - LB) / UB`` reaches it. The shares are fractions in [0, 1], ``warm`` (>= 0),
    ``patience`` (>= 1) and ``grid`` (1 to :data:`.decomposition.GRID_MAX`) whole numbers;
    anything else raises :class:`~aigc_opt.errors.ValidationError` on the field
    ``"colgen option extra['<key>']"``.
    """
    opts, bad = _checked(inst, spec, options, "colgen", _CG_EXTRA)
    t0 = time.perf_counter()
    limit = 120.0 if opts.time_limit is None else float(opts.time_limit)
    target = 1e-4 if opts.mip_gap is None else float(opts.mip_gap)
    warm = extra_option(opts, "colgen", "warm", 10, "iteration", 0, integer=True)
    patience = extra_option(opts, "colgen", "patience", 15, "iteration", 1, integer=True)
    grid = extra_option(opts, "colgen", "grid", 240, "-", 1, GRID_MAX, integer=True)
    deadline = t0 + limit
    if bad is not None:
        return bad
    obj = spec.objective
    tb = tables(inst, obj)
    master = Master(tb)
    # an interior-point master needs tens of seconds per round at 10 x 50 x 100 and the
    # Lagrangian at its duals is poor (50,255 after the first round; 120 s runs gave bounds
    # 65,810 with a 40 % phase and 66,181 with 5 %), so large masters get a short phase
    # (a simplex master keeps the longer phases that suit the restricted-master MIP)
    shares = (0.5, 0.7, 0.9) if master.lp_solver == "simplex" else (0.05, 0.6, 0.7)
    cg_end, ld_end, mip_end = (
        t0 + extra_option(opts, "colgen", key, share, "-", 0.0, 1.0) * limit
        for key, share in zip(("cg_share", "ld_share", "mip_share"), shares, strict=True))
    build_s = time.perf_counter() - t0
    T, S, M = inst.requests.shape
    lb = -math.inf
    prim = _Primal(inst, obj, tb)

    def primal(cache: np.ndarray, sweeps: int, until: float) -> None:
        prim.offer(cache, sweeps, until)

    pi = np.broadcast_to(tb.q[None, None, :], (T, S, M)).copy()
    mu, nu = np.zeros((T, S)), np.zeros((T, S))
    theta = 1.0
    best = (pi.copy(), mu.copy(), nu.copy(), np.zeros((S, M)))
    for it in range(warm):  # subgradient warm-up: good multipliers and seed columns
        ev = lagrangian(tb, pi, mu, nu)
        if ev.value > lb:
            lb = ev.value
            best = (pi.copy(), mu.copy(), nu.copy(), np.minimum(0.0, ev.block))
        master.add(ev, np.ones((S, M), dtype=bool))
        if it % 10 == 0:
            primal(repair(tb, ev.age, ev.score), 1, cg_end)
        norm = float((ev.g_pi ** 2).sum() + (ev.g_mu ** 2).sum() + (ev.g_nu ** 2).sum())
        if norm <= 0 or time.perf_counter() > cg_end:
            break
        step = theta * (prim.ub - ev.value) / norm
        pi += step * ev.g_pi
        mu = np.maximum(0.0, mu + step * ev.g_mu)
        nu = np.maximum(0.0, nu + step * ev.g_nu)
        theta *= 0.95
    rounds, z = 0, math.inf
    alpha = 0.5  # Wentges smoothing: price at alpha * best + (1 - alpha) * master duals
    while time.perf_counter() < cg_end and relative_gap(prim.ub, lb) > target:
        out = master.solve(cg_end - time.perf_counter())
        if out is None:
            break
        z, pi, mu, nu, sigma = out
        rounds += 1
        scale = max(1.0, abs(z))
        added = 0
        for a in (alpha, 0.0) if alpha > 0 else (0.0,):
            mix = [a * bst + (1 - a) * cur
                   for bst, cur in zip(best, (pi, mu, nu, sigma), strict=True)]
            ev = lagrangian(tb, mix[0], mix[1], mix[2])
            if ev.value > lb:
                lb, best = ev.value, tuple(np.copy(v) for v in mix)  # type: ignore[assignment]
                best[3][...] = np.minimum(0.0, ev.block)
            added = master.add(ev, ev.block - mix[3] < -1e-9 * scale)
            if added:
                break
        if rounds % 10 == 0:
            primal(repair(tb, ev.age, ev.score), 1, cg_end)
        logger.debug("colgen round %d: master %.6g, bound %.6g, columns %d", rounds, z, lb,
                     master.n_columns)
        if z - lb <= 1e-6 * scale or not added:
            break
    ld_it = 0
    if relative_gap(prim.ub, lb) > target and time.perf_counter() < ld_end:
        # decomposition with exact memory knapsacks, from the best duals (lam = mu z)
        pi, mu, nu = (np.copy(v) for v in best[:3])
        lam = mu[:, :, None] * tb.z[None]
        ld, ld_it = subgradient(tb, pi, lam, nu, prim.ub, ld_end, 10**9, target, grid=grid,
                                patience=patience)
        lb = max(lb, ld)
    if relative_gap(prim.ub, lb) > target:
        cache = master.integer_cache(mip_end - time.perf_counter())
        if cache is not None:
            primal(cache, 0, deadline)
            prim.polish(mip_end + 0.5 * (deadline - mip_end), cache)
    if relative_gap(prim.ub, lb) > target:
        prim.polish(deadline)
    return _finish(inst, obj, prim, lb, target, "colgen", t0, build_s, rounds,
                   f"column generation: {rounds} rounds, {master.n_columns} columns, "
                   f"{ld_it} decomposition iterations; bound = best Lagrangian value",
                   {"columns": master.n_columns, "master_lp": z, "ld_iterations": ld_it})


register_algorithm(CachingSpec, "colgen", solve_colgen)
