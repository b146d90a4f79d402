r"""How far each relaxation of the offline caching MILP sits below the optimum (small instances).

Why this exists: issue 16 asks for a certified 1 % gap on the 10 x 50 x 100 caching instance in
120 s, and the methods' primals are close to the optimum where it is known, so the gap is in
the *bound*. This study measures, on instances small enough for HiGHS to prove the optimum,
the lower bound each relaxation can give at best:

``lp``
    the compact LP relaxation of :func:`aigc_opt.problems.caching.milp.build`;
``per_model``
    ``relax_memory``'s Lagrangian bound (memory rows dualised, one exact subproblem per
    model; its final offline-MILP phase off, and an LNS group's MILP bound left out);
``per_server``
    the Lagrangian dual of the *demand* rows ``sum_k x[t,s,k,m] + y[t,s,m] = 1`` (prices
    ``pi[t,s,m]``, free): the rest splits into one MILP per serving server ``k`` (its whole
    cache trajectory with GPU memory, loads and ages exactly, plus the routing it serves) and
    the cloud columns ``y`` (closed form ``min(0, c_y - pi)``), so

    .. math::

        L(\pi) = \sum \pi + \sum_k \underline{v}_k(\pi) + \sum_{y} \min(0, c_y - \pi_y)
        \le \mathrm{OPT},

    with ``v_k`` bounded below by HiGHS's MIP dual bound of server ``k``'s MILP (valid even
    when a solve stops early). It starts at the LP's demand duals (so ``L >= LP``) and climbs
    by Polyak subgradient steps towards the best known primal; it is an upper estimate of the
    bound *any* per-server decomposition (column generation over whole server trajectories,
    branch-and-price at the root) could certify;
``pattern``
    the compact LP with each GPU-memory row replaced by the convex hull of its knapsack: for
    every (slot, server), ``c[t,k,:] = sum_P w[t,k,P] 1_P`` over every model set ``P`` that
    fits the server's memory, ``sum_P w = 1``, ``w >= 0`` (the sets are enumerated, so only
    for a few models: at most :data:`MAX_PATTERNS` per server). It is the bound a Lagrangian
    *decomposition* with free prices ``lam[t,k,m]`` on the copies ``c = d`` (per-model
    subproblems, per-(slot, server) knapsacks) converges to; ``relax_memory`` prices memory
    by ``mu[t,k] z[k,m]`` instead, which cannot see it;
``optimum``
    the offline MILP solved by HiGHS from ``relax_memory``'s primal (its proven bound and gap
    are printed: the row is the optimum only where the status says ``optimal``).

Each row gives the value and its gap to the best primal, ``(primal - bound) / primal`` (printed
as 0.00 % within 1e-12 of zero: a bound equal to the primal up to round-off). All
costs are in the problem's cost units. The per-server subproblems are MILPs of ``T x M``
binaries each and are slow (seconds to a minute each on 3 x 10 x 20): this is a study, not a
method.

Usage::

    python -m aigc_opt.benchmarks.caching_bound_study --size 3 10 20 --iterations 20
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import replace
from typing import Any

import numpy as np
import scipy.sparse as sp

import aigc_opt as ao
from aigc_opt.benchmarks.caching_scale_bench import shown_gap
from aigc_opt.problems.caching import CachingInstance, CachingSpec, solve_offline
from aigc_opt.problems.caching.formulation import pass_highs
from aigc_opt.problems.caching.milp import build
from aigc_opt.program import LinearProgram


def _highs(prog: LinearProgram, *, relax: bool = False) -> Any:
    """A silent HiGHS object holding ``prog`` (its LP relaxation with ``relax``)."""
    import highspy

    from aigc_opt.solvers.highs import new_highs

    h = new_highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", 1e-6)
    pass_highs(h, replace(prog, integrality=np.zeros(prog.n_cols, dtype=bool)) if relax
               else prog, highspy)
    return h


#: Largest number of fitting model sets per server for which ``pattern`` is computed.
MAX_PATTERNS = 20_000


def fitting_sets(z: np.ndarray, limit: int = MAX_PATTERNS) -> np.ndarray | None:
    """Every model set that fits one server, as rows of a 0-1 matrix (the empty set first);
    ``z[m]`` is model m's share of the server's memory. None when there are more than
    ``limit`` sets."""
    sets = np.zeros((1, z.size), dtype=bool)
    used = np.zeros(1)
    for m in range(z.size):  # extend every set by model m where it still fits
        ok = used + z[m] <= 1.0 + 1e-12
        more = sets[ok].copy()
        more[:, m] = True
        sets, used = np.vstack([sets, more]), np.concatenate([used, used[ok] + z[m]])
        if sets.shape[0] > limit:
            return None
    return sets


def pattern_program(lp: LinearProgram, inst: CachingInstance) -> LinearProgram | None:
    """``lp`` (:func:`build`'s program for ``inst``) relaxed, plus per-(slot, server) set
    weights ``w`` with ``c[t,k,:] = sum_P w_P 1_P`` and ``sum_P w_P = 1`` (``c[t,k,m]`` is
    column ``(t S + k) M + m``). None when a server has more than :data:`MAX_PATTERNS` sets."""
    T, S, M = inst.requests.shape
    size = np.asarray(inst.model_size_bytes, dtype=float)
    mem = np.asarray(inst.server_gpu_memory_bytes, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):  # no memory: only size-0 models fit
        z = np.where(size[None, :] > 0, size[None, :] / mem[:, None], 0.0)
    per = [fitting_sets(z[k]) for k in range(S)]
    if any(sets is None for sets in per):
        return None
    rows, cols, vals = [], [], []
    n, r0 = lp.n_cols, lp.n_rows
    link0, conv0 = r0, r0 + T * S * M
    rows.append(link0 + np.arange(T * S * M))  # c[t,k,m] in its linking row
    cols.append(np.arange(T * S * M))
    vals.append(np.ones(T * S * M))
    for k, sets in enumerate(per):
        assert sets is not None
        nP = sets.shape[0]
        p_idx, m_idx = np.nonzero(sets)
        t = np.arange(T)[:, None]
        first = n + t * nP  # this server's w columns of slot t start here
        rows.append((link0 + (t * S + k) * M + m_idx[None, :]).ravel())
        cols.append((first + p_idx[None, :]).ravel())
        vals.append(np.full(T * p_idx.size, -1.0))
        rows.append(np.repeat(conv0 + np.arange(T) * S + k, nP))
        cols.append((first + np.arange(nP)[None, :]).ravel())
        vals.append(np.ones(T * nP))
        n += T * nP
    extra = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows) - r0,
                                                  np.concatenate(cols))),
                          shape=(T * S * (M + 1), n))
    nw = n - lp.n_cols
    top = sp.hstack([sp.csr_matrix(lp.A), sp.csr_matrix((r0, nw))])
    A = sp.csr_matrix(sp.vstack([top, extra]))
    return LinearProgram(
        c=np.concatenate([lp.c, np.zeros(nw)]), A=A,
        row_lower=np.concatenate([lp.row_lower, np.zeros(T * S * M), np.ones(T * S)]),
        row_upper=np.concatenate([lp.row_upper, np.zeros(T * S * M), np.ones(T * S)]),
        col_lower=np.concatenate([lp.col_lower, np.zeros(nw)]),
        col_upper=np.concatenate([lp.col_upper, np.ones(nw)]),
        integrality=np.zeros(n, dtype=bool), offset=lp.offset, name="caching-pattern-lp",
        meta=lp.meta)


def server_of_columns(lp: LinearProgram, S: int, M: int, T: int) -> np.ndarray:
    """The serving server of every column of :func:`build`'s program (-1: cloud ``y``)."""
    meta = lp.meta
    own = np.full(lp.n_cols, -1, dtype=np.int64)
    k_tsm = np.broadcast_to(np.arange(S)[None, :, None], (T, S, M)).reshape(-1)
    own[: T * S * M] = k_tsm  # c
    own[T * S * M: 2 * T * S * M] = k_tsm  # l
    iu, ix, iv = (np.asarray(meta[n]) for n in ("iu", "ix", "iv"))
    pk = np.asarray(meta["pk"])
    m = iu >= 0
    own[iu[m]] = np.broadcast_to(np.arange(S)[None, :, None, None], iu.shape)[m]
    m = ix >= 0
    own[ix[m]] = np.broadcast_to(pk[None, :, None], ix.shape)[m]
    m = iv >= 0
    own[iv[m]] = np.broadcast_to(pk[None, :, None, None], iv.shape)[m]
    return own


class PerServer:
    """Evaluator of ``L(pi)`` (the demand rows dualised; see the module docstring).

    Parameters
    ----------
    lp : LinearProgram
        :func:`build`'s offline MILP (costs divided by ``meta["objective_scale"]``).
    S, M, T : int
        Servers, models, slots.
    """

    def __init__(self, lp: LinearProgram, S: int, M: int, T: int) -> None:
        import highspy

        self._optimal = highspy.HighsModelStatus.kOptimal
        self.lp = lp
        self.ny = int((np.asarray(lp.meta["iy"]) >= 0).sum())  # demand rows come first
        A = sp.csr_matrix(lp.A)
        self.Ad = A[: self.ny]
        rest = A[self.ny:].tocsc()
        own = server_of_columns(lp, S, M, T)
        self.y = np.nonzero(own < 0)[0]
        self.blocks: list[tuple[np.ndarray, Any]] = []
        row_owner = np.full(rest.shape[0], -2, dtype=np.int64)
        coo = rest.tocoo()
        row_owner[coo.row] = own[coo.col]
        if np.any(own[coo.col] != row_owner[coo.row]) or np.any(row_owner[coo.row] < 0):
            raise RuntimeError("a non-demand row spans two servers or a cloud column")
        lo, hi = lp.row_lower[self.ny:], lp.row_upper[self.ny:]
        for k in range(S):
            cols = np.nonzero(own == k)[0]
            rows = np.nonzero(row_owner == k)[0]
            sub = LinearProgram(
                c=lp.c[cols], A=sp.csr_matrix(rest[rows][:, cols]), row_lower=lo[rows],
                row_upper=hi[rows], col_lower=lp.col_lower[cols], col_upper=lp.col_upper[cols],
                integrality=lp.integrality[cols], name=f"server[{k}]")
            self.blocks.append((cols, _highs(sub)))

    def value(self, pi: np.ndarray) -> tuple[float, np.ndarray]:
        """``L(pi)`` in the program's (scaled) units, with a subgradient ``1 - A_d x``."""
        from aigc_opt.solvers.highs import run

        c = self.lp.c - self.Ad.T @ pi
        x = np.zeros(self.lp.n_cols)
        total = float(pi.sum()) + float(self.lp.offset)
        cy = c[self.y]
        x[self.y] = (cy < 0).astype(float)
        total += float(np.minimum(cy, 0.0).sum())
        for cols, h in self.blocks:
            h.changeColsCost(cols.size, np.arange(cols.size, dtype=np.int32), c[cols])
            run(h)
            info = h.getInfo()
            # HiGHS's MIP dual bound is valid when a solve stops early; a solve closed in
            # presolve reports it as -inf, and then the proven optimum is the bound
            lb = float(info.mip_dual_bound)
            if not math.isfinite(lb) and h.getModelStatus() == self._optimal:
                lb = float(info.objective_function_value)
            total += lb
            x[cols] = np.asarray(h.getSolution().col_value)
        return total, 1.0 - self.Ad @ x


def per_server_bound(lp: LinearProgram, S: int, M: int, T: int, pi0: np.ndarray,
                     target: float, iterations: int, time_limit: float) -> tuple[float, int]:
    """Best ``L(pi)`` over Polyak subgradient steps from ``pi0`` towards ``target`` (scaled
    units); the step factor halves after three non-improving steps. Returns (bound, steps)."""
    ev = PerServer(lp, S, M, T)
    pi, best, theta, stall, t0 = pi0.copy(), -math.inf, 1.0, 0, time.perf_counter()
    steps = 0
    while steps < iterations:
        steps += 1
        val, g = ev.value(pi)
        if not math.isfinite(best) or val > best + 1e-9 * max(1.0, abs(best)):
            best, stall = val, 0
        else:
            stall += 1
            if stall >= 3:
                theta, stall = theta / 2, 0
        gg = float(g @ g)
        room = target - best
        if gg < 1e-12 or room <= 1e-9 * max(1.0, abs(target)) \
                or time.perf_counter() - t0 > time_limit:
            break  # at the primal (then the bound proves it optimal) or out of time
        pi = pi + theta * max(target - val, 0.0) / gg * g
    return best, steps


def study(S: int, M: int, T: int, *, seed: int, rate: float, iterations: int,
          time_limit: float, milp_limit: float) -> list[dict[str, Any]]:
    """One row per bound for one instance."""
    import highspy

    from aigc_opt.solvers.highs import run

    inst = CachingInstance.generate(S, M, T, seed=seed, rate=rate)
    spec = CachingSpec()
    lp = build(inst, spec)
    scale = float(lp.meta["objective_scale"])
    ny = int((np.asarray(lp.meta["iy"]) >= 0).sum())
    rows: list[dict[str, Any]] = []

    def row(name: str, value: float, sec: float, note: str) -> None:
        rows.append({"size": f"{S}x{M}x{T}", "seed": seed, "relaxation": name, "value": value,
                     "seconds": sec, "note": note})

    t0 = time.perf_counter()
    h = _highs(lp, relax=True)
    run(h)
    lp_val = float(h.getInfo().objective_function_value) * scale
    pi0 = np.asarray(h.getSolution().row_dual)[:ny]
    row("lp", lp_val, time.perf_counter() - t0, "compact LP relaxation")
    t0 = time.perf_counter()
    pat = pattern_program(lp, inst)
    if pat is not None:
        h = _highs(pat, relax=True)
        run(h)
        if h.getModelStatus() == highspy.HighsModelStatus.kOptimal:  # else no bound
            row("pattern", float(h.getInfo().objective_function_value) * scale,
                time.perf_counter() - t0, "LP + knapsack hull per (slot, server), "
                f"{pat.n_cols - lp.n_cols} set columns")
    t0 = time.perf_counter()
    rm = ao.run_method(inst, spec, "relax_memory",
                       options=ao.SolveOptions(time_limit=time_limit, mip_gap=1e-6,
                                               extra={"milp_tail": False}))
    lagr = max(rm.stats.extra["lp_bound"], rm.stats.extra["milp_bound"])
    row("per_model", lagr, time.perf_counter() - t0,
        f"relax_memory's Lagrangian bound (primal {rm.objective:.1f}, verified={rm.verified})")
    t0 = time.perf_counter()
    opt = solve_offline(inst, spec, ao.SolveOptions(time_limit=milp_limit, mip_gap=1e-6),
                        start=rm.allocation)
    primal = min(rm.objective, opt.objective)
    t1 = time.perf_counter()
    ps, steps = per_server_bound(lp, S, M, T, pi0, primal / scale, iterations, time_limit)
    row("per_server", ps * scale, time.perf_counter() - t1,
        f"demand rows dualised, {steps} subgradient steps from the LP duals")
    row("optimum", opt.bound, t1 - t0,
        f"offline MILP {opt.termination.value}: primal {opt.objective:.1f}, bound {opt.bound:.1f}")
    for r in rows:
        r["primal"] = primal
        r["gap_to_primal"] = (primal - r["value"]) / max(1.0, abs(primal))
    return rows


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, nargs=3, action="append", metavar=("S", "M", "T"),
                    help="servers models slots (repeatable; default 3 10 20)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rate", type=float, default=30.0, help="requests per server per slot")
    ap.add_argument("--iterations", type=int, default=20, help="per-server subgradient steps")
    ap.add_argument("--time-limit", type=float, default=600.0,
                    help="s, for relax_memory and for the per-server ascent each")
    ap.add_argument("--milp-limit", type=float, default=600.0, help="s, offline MILP")
    args = ap.parse_args(argv)
    print(f"{'size':>10} {'relaxation':>11} {'value':>12} {'gap':>8} {'s':>7}  note")
    for S, M, T in args.size or [(3, 10, 20)]:
        for r in study(S, M, T, seed=args.seed, rate=args.rate, iterations=args.iterations,
                       time_limit=args.time_limit, milp_limit=args.milp_limit):
            print(f"{r['size']:>10} {r['relaxation']:>11} {r['value']:12.1f} "
                  f"{100 * shown_gap(r['gap_to_primal']):7.2f}% {r['seconds']:7.1f}  {r['note']}",
                  flush=True)


if __name__ == "__main__":
    main()
