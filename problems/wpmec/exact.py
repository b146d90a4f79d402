r"""Exact binary offloading for wireless-powered MEC: Lagrangian branch and bound.

Upper bounds
    Relaxing only the frame constraint ``a + sum tau <= 1`` with a time price ``nu >= 0``
    decouples the users for every ``a``: user i contributes ``max(L_i a^{1/3}, G_i(nu) a)``
    (best of local computing and of offloading minus ``nu tau_i``), users fixed by branching
    contribute their one branch. :func:`~aigc_opt.problems.wpmec.inner.dual_value` maximises
    over ``a in [0, 1]`` exactly (sorted thresholds, concave pieces), so ``D(nu)`` is a valid
    upper bound for *every* ``nu`` (weak duality). ``D`` is convex in ``nu`` with subgradient
    ``slack = 1 - a* - sum tau*``; a node is bounded by minimising ``D`` with a bracketing
    tangent-intersection method (Kelley's method in 1-D, with a bisection safeguard). The
    intersection of the two bracket tangents is a *lower* bound on ``min D``, so the node is
    closed as soon as some ``D(nu) <= incumbent (1 + rel_gap)`` (prune) or known to need
    branching as soon as the tangent bound exceeds that threshold.
Branching
    On the free users whose Lagrangian mode differs between the two ends of the final bracket
    (the users that make the dual non-differentiable), nearest to their switching threshold
    first; two users at a time (four children) for single frames, one for large batches. When
    all users are fixed the node is a convex problem solved exactly by
    :func:`~aigc_opt.problems.wpmec.inner.solve_inner` (strong duality).
Incumbents
    All-local, all-offload, and the Lagrangian modes at both bracket ends of every node, each
    completed by the exact inner solver (optionally improved by single-user flips at the
    root, ``flip_passes``; off by default because it costs more than it saves).

All nodes of all frames are processed together (numpy arrays over nodes x users), so one call
solves a batch of frames. Certificate: ``bound = max(incumbent, bounds of pruned nodes, bounds
of nodes left open by a node limit)``; ``gap = (bound - objective) / objective``. Identical
users (same gain and weight) are ordered (``x_i >= x_j``) to break the symmetry.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from aigc_opt.cases import CaseKind, register_case
from aigc_opt.result import Result, SolveStats, Termination
from aigc_opt.solve import register_algorithm

from .data import WpmecAllocation, WpmecInstance, WpmecSpec
from .inner import dual_value, solve_inner

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class BatchSolution:
    """Per-frame results of a batch solve (arrays over frames, SI units).

    Parameters
    ----------
    objective : ndarray, shape (F,)
        Weighted sum computation rate of the returned allocation, bit/s.
    offload : ndarray of bool, shape (F, N)
        Modes.
    a : ndarray, shape (F,)
        WPT fraction of the frame.
    tau : ndarray, shape (F, N)
        Offloading fractions.
    bound : ndarray, shape (F,)
        Proven upper bound on the optimum, bit/s (NaN for heuristics).
    gap : ndarray, shape (F,)
        ``(bound - objective) / objective`` (NaN for heuristics).
    nodes : ndarray of int, shape (F,)
        Branch-and-bound nodes per frame (0 for heuristics).
    seconds : float
        Wall time of the whole batch, s.
    method : str
        Method name.
    """

    objective: np.ndarray
    offload: np.ndarray
    a: np.ndarray
    tau: np.ndarray
    bound: np.ndarray
    gap: np.ndarray
    nodes: np.ndarray
    seconds: float
    method: str


class _Incumbents:
    """Best known solution per frame."""

    def __init__(self, F: int, N: int) -> None:
        self.value = np.full(F, -np.inf)
        self.off = np.zeros((F, N), dtype=bool)
        self.a = np.ones(F)
        self.tau = np.zeros((F, N))

    def offer(self, fid: np.ndarray, value: np.ndarray, off: np.ndarray, a: np.ndarray,
              tau: np.ndarray) -> None:
        if fid.size == 0:
            return
        order = np.lexsort((value, fid))
        f_sorted = fid[order]
        last = np.r_[f_sorted[1:] != f_sorted[:-1], True]
        rows = order[last]
        f = fid[rows]
        better = value[rows] > self.value[f]
        rows, f = rows[better], f[better]
        self.value[f] = value[rows]
        self.off[f] = off[rows]
        self.a[f] = a[rows]
        self.tau[f] = tau[rows]


def _inner_rows(L: np.ndarray, g: np.ndarray, W: np.ndarray, fid: np.ndarray,
                off: np.ndarray, inc: _Incumbents, nu0: np.ndarray | None = None) -> np.ndarray:
    """Solve the inner problem for modes ``off`` of frames ``fid``; offer them; return values."""
    if fid.size == 0:
        return np.zeros(0)
    val, a, tau, _ = solve_inner(L[fid], g[fid], W[fid], off, nu0=nu0)
    inc.offer(fid, val, off, a, tau)
    return val


def _flip_search(L: np.ndarray, g: np.ndarray, W: np.ndarray, frames: np.ndarray,
                 inc: _Incumbents, passes: int) -> None:
    """Best-improvement single flips from the incumbents of ``frames`` (vectorised)."""
    N = L.shape[1]
    eye = np.eye(N, dtype=bool)
    todo = frames
    for _ in range(passes):
        if todo.size == 0:
            break
        before = inc.value[todo].copy()
        modes = inc.off[todo][:, None, :] ^ eye[None, :, :]
        fid = np.repeat(todo, N)
        _inner_rows(L, g, W, fid, modes.reshape(-1, N), inc)
        todo = todo[inc.value[todo] > before * (1 + 1e-12)]


def _twin_matrix(L: np.ndarray, g: np.ndarray, W: np.ndarray) -> np.ndarray | None:
    """``T[f, j, i]``: users ``i < j`` of frame f are identical (same L, g, W); None if none.

    Identical users are interchangeable, so only modes with ``x_i >= x_j`` for twins ``i < j``
    need exploring (symmetry breaking; without it B&B visits every permutation).
    """
    same = ((L[:, :, None] == L[:, None, :]) & (g[:, :, None] == g[:, None, :])
            & (W[:, :, None] == W[:, None, :]))
    N = L.shape[1]
    earlier = np.arange(N)[None, :] < np.arange(N)[:, None]  # [j, i]: i < j
    twins = same & earlier[None]
    return twins if twins.any() else None


def _order_twins(status: np.ndarray, twins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Propagate ``x_i >= x_j`` over twins; return new statuses and the nodes left feasible."""
    must_local = (twins & (status == 0)[:, None, :]).any(axis=2)
    must_off = (twins.transpose(0, 2, 1) & (status == 1)[:, None, :]).any(axis=2)
    bad = (must_local & must_off) | (must_local & (status == 1)) | (must_off & (status == 0))
    status = np.where(must_local & (status == 2), 0, status)
    status = np.where(must_off & (status == 2), 1, status).astype(np.int8)
    return status, ~bad.any(axis=1)


def exact_batch(L: np.ndarray, g: np.ndarray, W: np.ndarray, *, rel_gap: float = 1e-6,
                max_nodes: int = 1_000_000, flip_passes: int = 0,
                branch_width: int | None = None, time_limit: float | None = None
                ) -> BatchSolution:
    """Certified optimum of the binary problem for every frame (rows of ``L, g, W``).

    Parameters
    ----------
    L, g, W : ndarray, shape (F, N)
        Coefficients per frame (:meth:`WpmecParams.coefficients`).
    rel_gap : float
        Stop a frame when ``bound <= objective (1 + rel_gap)``.
    max_nodes : int
        Node limit per frame; frames that hit it report their open gap.
    flip_passes : int
        Passes of single-flip improvement of the root incumbents (0: none; the Lagrangian
        incumbents are usually good enough and flips cost more than they save).
    branch_width : int, optional
        Users fixed per branching (``2^width`` children). Processing a level costs a few
        numpy calls whatever its number of nodes, so wider branching (fewer levels) is faster
        for one or a few frames, narrower branching (fewer nodes) for large batches. Default:
        2 for up to 8 frames, else 1.
    time_limit : float, optional
        Wall-time limit in seconds for the whole batch; open nodes then enter the bound.

    Returns
    -------
    BatchSolution
    """
    t0 = time.perf_counter()
    L = np.asarray(L, dtype=np.float64)
    g = np.asarray(g, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    F, N = L.shape
    if branch_width is None:
        branch_width = 2 if F <= 8 else 1
    inc = _Incumbents(F, N)
    frames = np.arange(F)
    twins = _twin_matrix(L, g, W)
    # trivial incumbents: all local (a = 1, value sum L), all offload
    inc.offer(frames, L.sum(axis=1), np.zeros((F, N), dtype=bool), np.ones(F), np.zeros((F, N)))
    val, a_off, tau_off, nu_off = solve_inner(L, g, W, np.ones((F, N), dtype=bool))
    inc.offer(frames, val, np.ones((F, N), dtype=bool), a_off, tau_off)
    closed = np.full(F, -np.inf)  # max bound of closed nodes per frame
    nodes_used = np.zeros(F, dtype=np.int64)
    # open nodes
    fid = frames.copy()
    status = np.full((F, N), 2, dtype=np.int8)
    lo = nu_off / 2.0
    hi = nu_off * 2.0
    # trivial bound: every user alone gets the whole frame (a <= 1, tau <= 1)
    pbound = np.maximum(L, W * np.log1p(g)).sum(axis=1)
    first = True
    rounds = 0
    while fid.size:
        rounds += 1
        thr = inc.value * (1.0 + rel_gap)
        keep = pbound > thr[fid]
        closed_now = ~keep
        np.maximum.at(closed, fid[closed_now], np.minimum(pbound[closed_now], thr[fid[closed_now]]))
        over = nodes_used[fid] >= max_nodes
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            over[:] = True
        if over.any():  # node/time limit: leave these open (they enter the final bound)
            np.maximum.at(closed, fid[over & keep], pbound[over & keep])
            keep &= ~over
        fid, status, lo, hi, pbound = fid[keep], status[keep], lo[keep], hi[keep], pbound[keep]
        if not fid.size:
            break
        np.add.at(nodes_used, fid, 1)
        # leaves: all users fixed -> convex problem, exact
        leaf = ~(status == 2).any(axis=1)
        if leaf.any():
            vals = _inner_rows(L, g, W, fid[leaf], status[leaf] == 1, inc)
            np.maximum.at(closed, fid[leaf], vals)
            fid, status, lo, hi, pbound = (fid[~leaf], status[~leaf], lo[~leaf], hi[~leaf],
                                           pbound[~leaf])
            if not fid.size:
                break
        out = _bound_nodes(L, g, W, fid, status, lo, hi, inc, rel_gap)
        best_d, new_lo, new_hi, branch_score = out
        if first:
            _flip_search(L, g, W, frames, inc, flip_passes)
            first = False
        thr = inc.value * (1.0 + rel_gap)
        prune = best_d <= thr[fid]
        np.maximum.at(closed, fid[prune], best_d[prune])
        br = ~prune
        if not br.any():
            break
        # children: fix the `width` best-scored free users of every branched node
        bf, bs, bsc = fid[br], status[br], branch_score[br]
        nfree = (bs == 2).sum(axis=1)
        width = np.minimum(nfree, max(1, branch_width))
        parts = []
        for m in np.unique(width):
            sel = width == m
            users = np.argsort(bsc[sel], axis=1)[:, :m]
            combos = ((np.arange(2**m)[:, None] >> np.arange(m)) & 1).astype(np.int8)
            k, c = int(sel.sum()), combos.shape[0]
            cs = np.repeat(bs[sel], c, axis=0)
            rows = np.repeat(np.arange(k * c), m)
            cols = np.repeat(users, c, axis=0).ravel()
            cs[rows, cols] = np.tile(combos, (k, 1)).ravel()
            parts.append((np.repeat(bf[sel], c), cs, np.repeat(new_lo[br][sel], c),
                          np.repeat(new_hi[br][sel], c), np.repeat(best_d[br][sel], c)))
        fid = np.concatenate([p[0] for p in parts])
        status = np.concatenate([p[1] for p in parts])
        lo = np.concatenate([p[2] for p in parts])
        hi = np.concatenate([p[3] for p in parts])
        pbound = np.concatenate([p[4] for p in parts])
        if twins is not None:
            status, ok = _order_twins(status, twins[fid])
            fid, status, lo, hi, pbound = fid[ok], status[ok], lo[ok], hi[ok], pbound[ok]
    bound = np.maximum(inc.value, closed)
    gap = (bound - inc.value) / np.maximum(np.abs(inc.value), 1e-300)
    logger.debug("exact_batch: %d frames, %d rounds, %d nodes", F, rounds, int(nodes_used.sum()))
    return BatchSolution(objective=inc.value.copy(), offload=inc.off.copy(), a=inc.a.copy(),
                         tau=inc.tau.copy(), bound=bound, gap=gap, nodes=nodes_used,
                         seconds=time.perf_counter() - t0, method="exact")


def _bound_nodes(L: np.ndarray, g: np.ndarray, W: np.ndarray, fid: np.ndarray,
                 status: np.ndarray, lo: np.ndarray, hi: np.ndarray, inc: _Incumbents,
                 rel_gap: float, max_iter: int = 80
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Minimise ``D(nu)`` per node until it is pruned or must be branched.

    Returns the best ``D`` found per node, the final bracket and a branching score per user
    (lower is better: users whose mode differs across the bracket first, then by closeness of
    their switching threshold to ``a*``; ``inf`` for fixed users).
    """
    K, N = status.shape
    Lk, gk, Wk = L[fid], g[fid], W[fid]
    lo = lo.copy()
    hi = hi.copy()
    both = dual_value(np.concatenate([lo, hi]), np.concatenate([Lk, Lk]),
                      np.concatenate([gk, gk]), np.concatenate([Wk, Wk]),
                      np.concatenate([status, status]))
    d_lo, _, off_lo, s_lo, t_lo, u_lo = (x[:K] for x in both)
    d_hi, a_hi, off_hi, s_hi, t_hi, u_hi = (x[K:] for x in both)
    # fix the bracket so that slack(lo) < 0 < slack(hi)
    for _ in range(200):
        bad_lo = s_lo >= 0.0
        bad_hi = s_hi <= 0.0
        if not (bad_lo.any() or bad_hi.any()):
            break
        if bad_lo.any():
            i = np.flatnonzero(bad_lo)
            hi[i], d_hi[i], s_hi[i], off_hi[i] = lo[i], d_lo[i], s_lo[i], off_lo[i]
            lo[i] = lo[i] / 4.0
            u_hi[i] = u_lo[i]
            d_lo[i], _, off_lo[i], s_lo[i], t_lo[i], u_lo[i] = dual_value(
                lo[i], Lk[i], gk[i], Wk[i], status[i])
        bad_hi = s_hi <= 0.0
        if bad_hi.any():
            i = np.flatnonzero(bad_hi)
            lo[i], d_lo[i], s_lo[i], off_lo[i] = hi[i], d_hi[i], s_hi[i], off_hi[i]
            hi[i] = hi[i] * 4.0
            u_lo[i] = u_hi[i]
            d_hi[i], _, off_hi[i], s_hi[i], t_hi[i], u_hi[i] = dual_value(
                hi[i], Lk[i], gk[i], Wk[i], status[i])
    # incumbents from the Lagrangian modes at both ends
    _inner_rows(L, g, W, np.concatenate([fid, fid]), np.concatenate([off_lo, off_hi]), inc,
                nu0=np.concatenate([lo, hi]))
    off_lo0, off_hi0 = off_lo.copy(), off_hi.copy()
    best = np.minimum(d_lo, d_hi)
    t_best = np.where((d_lo <= d_hi)[:, None], t_lo, t_hi)
    a_best = a_hi.copy()
    last_side = np.zeros(K, dtype=np.int8)
    streak = np.zeros(K, dtype=np.int8)
    active = np.ones(K, dtype=bool)
    for _ in range(max_iter):
        thr = inc.value[fid] * (1.0 + rel_gap)
        den = np.minimum(s_lo - s_hi, -1e-300)  # < 0 (slack(lo) < 0 < slack(hi))
        nux = (d_hi - d_lo + s_lo * lo - s_hi * hi) / den
        nux = np.clip(nux, lo, hi)
        lower = d_lo + s_lo * (nux - lo)
        done = (best <= thr) | (lower > thr) | (best - lower <= 1e-13 * np.abs(best))
        done |= hi - lo <= 1e-15 * hi
        active &= ~done
        if not active.any():
            break
        i = np.flatnonzero(active)
        mid = np.sqrt(lo[i] * hi[i])
        nu = np.where(streak[i] >= 2, mid, nux[i])
        near_lo = (nu * nu < lo[i] * hi[i])[:, None]
        d, a, off, s, t, u = dual_value(nu, Lk[i], gk[i], Wk[i], status[i],
                                        u0=np.where(near_lo, u_lo[i], u_hi[i]))
        better = d < best[i]
        best[i] = np.where(better, d, best[i])
        t_best[i] = np.where(better[:, None], t, t_best[i])
        a_best[i] = np.where(better, a, a_best[i])
        right = s > 0.0
        left = s < 0.0
        zero = ~(right | left)
        side = np.where(right, 1, -1).astype(np.int8)
        streak[i] = np.where(side == last_side[i], streak[i] + 1, 0)
        streak[i] = np.where(streak[i] >= 3, 0, streak[i])
        last_side[i] = side
        ir, il = i[right], i[left]
        hi[ir], d_hi[ir], s_hi[ir], off_hi[ir] = nu[right], d[right], s[right], off[right]
        lo[il], d_lo[il], s_lo[il], off_lo[il] = nu[left], d[left], s[left], off[left]
        u_hi[ir], u_lo[il] = u[right], u[left]
        if zero.any():  # exact minimiser: best is min D
            iz = i[zero]
            active[iz] = False
    # new modes at the final bracket ends may improve the incumbents
    branch = best > inc.value[fid] * (1.0 + rel_gap)
    new_lo = branch & (off_lo != off_lo0).any(axis=1) & (off_lo != off_hi0).any(axis=1)
    new_hi = branch & (off_hi != off_hi0).any(axis=1) & (off_hi != off_lo0).any(axis=1)
    if new_lo.any() or new_hi.any():
        il, ih = np.flatnonzero(new_lo), np.flatnonzero(new_hi)
        _inner_rows(L, g, W, np.concatenate([fid[il], fid[ih]]),
                    np.concatenate([off_lo[il], off_hi[ih]]), inc,
                    nu0=np.concatenate([lo[il], hi[ih]]))
    free = status == 2
    diff = (off_lo ^ off_hi) & free
    with np.errstate(divide="ignore", invalid="ignore"):
        closeness = np.abs(np.log(np.maximum(t_best, 1e-300) / np.maximum(a_best, 1e-300)[:, None]))
    closeness = np.where(np.isfinite(closeness), closeness, 1e300)
    score = np.where(free, closeness, np.inf) - np.where(diff, 1e301, 0.0)
    return best, lo, hi, score


def to_result(sol: BatchSolution, instance: Any, name: str, rel_gap: float, k: int = 0) -> Any:
    """Frame ``k`` of a batch solution as a :class:`~aigc_opt.result.Result`.

    ``termination`` is OPTIMAL when the certified gap is ``<= rel_gap``, FEASIBLE otherwise
    (node limit), with the honest bound and gap.
    """
    alloc = WpmecAllocation.from_times(instance, sol.offload[k], float(sol.a[k]), sol.tau[k])
    gap = float(sol.gap[k])
    return Result(
        Termination.OPTIMAL if gap <= rel_gap else Termination.FEASIBLE,
        True,
        objective=float(sol.objective[k]),
        bound=float(sol.bound[k]),
        gap=gap,
        values={"offload": sol.offload[k].astype(np.float64), "a": sol.a[k:k + 1].copy(),
                "tau": sol.tau[k].copy()},
        allocation=alloc,
        stats=SolveStats(backend=name, solve_seconds=sol.seconds, nodes=int(sol.nodes[k])),
    )


def solve_exact(instance: Any, spec: Any, options: Any = None) -> Any:
    """Registered algorithm ``"exact"``: certified optimum of one frame as a Result.

    Honours ``spec.rel_gap``, ``spec.max_nodes`` and ``options.time_limit``; a stopped search
    returns its best solution with ``termination=feasible`` and the open gap.
    """
    L, g, W = instance.coefficients()
    limit = getattr(options, "time_limit", None)
    sol = exact_batch(L[None], g[None], W[None], rel_gap=spec.rel_gap,
                      max_nodes=spec.max_nodes, time_limit=limit)
    return to_result(sol, instance, "exact", spec.rel_gap)


register_algorithm(WpmecSpec, "exact", solve_exact)

register_case(CaseKind(
    name="wpmec.binary",
    make_instance=lambda seed, n_users=10, **kw: WpmecInstance.generate(
        n_users, seed=seed, **kw),
    make_spec=lambda **params: WpmecSpec(**params),
    default_methods=("exact", "cd", "lr", "all_local", "all_offload"),
    reference="exact",
    description="Wireless-powered MEC, binary offloading, max weighted sum rate "
                "(Bi & Zhang 2018 / DROO)",
))
