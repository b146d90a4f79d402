r"""Exact binary offloading for wireless-powered MEC: Lagrangian branch and bound.

Upper bounds
    Relaxing only the frame constraint ``a + sum tau <= 1`` with a time price ``nu >= 0``
    decouples the users for every ``a``: user i contributes ``max(L_i a^{1/3}, G_i(nu) a)``
    (best of local computing and of offloading minus ``nu tau_i``), users fixed by branching
    contribute their one branch. :func:`~aigc_opt.problems.wpmec.inner.dual_value` maximises
    over ``a in [0, 1]`` exactly (sorted thresholds, concave pieces), so ``D(nu)`` is a valid
    upper bound for *every* ``nu`` (weak duality). ``D`` is convex in ``nu`` with subgradient
    ``slack = 1 - a* - sum tau*`` and, on smooth pieces, ``D'' = d slack / d nu`` in closed
    form (``dual_value(..., curvature=...)``); a node is bounded by minimising ``D`` over a
    bracket: the first vectorised call evaluates the bracket ends and a few log-spaced
    interior prices (:func:`_probes`; the tightest sign change is kept), then safeguarded
    Newton steps on the slack (accepted inside the bracket when each is at most half the
    previous one) alternate with the tangent-intersection step (Kelley's method in 1-D, with
    a geometric-bisection safeguard at least every third step). The intersection of the two
    bracket tangents is a *lower*
    bound on ``min D``, so the node is closed as soon as some ``D(nu) <= incumbent (1 +
    rel_gap)`` (prune) or known to need branching as soon as the tangent bound exceeds that
    threshold or comes within ``rel_gap / 100`` of the best ``D``. A price with slack exactly
    0 (e.g. nobody offloads and ``a* = 1``, typical for N >= 1000) has the subgradient 0 and
    is an exact minimiser. The bracket is widened by squared factors (4, 16, 256, ...), so
    every node costs O(log log range + log 1/tol) dual evaluations (see :func:`_bound_nodes`).
Branching
    On the free users whose Lagrangian mode differs between the two ends of the final bracket
    (the users that make the dual non-differentiable), nearest to their switching threshold
    first; two users at a time (four children) for single frames, one for large batches. When
    all users are fixed the node is a convex problem solved exactly by
    :func:`~aigc_opt.problems.wpmec.inner.solve_inner` (strong duality).
Incumbents
    All-local, all-offload, and the Lagrangian modes at both (initial) bracket ends of every
    node, each completed by the exact inner solver (Newton started at the end with the smaller
    ``D``; single-user flips at the root, ``flip_passes``, off by default: they cost more).

All nodes of all frames are processed together (numpy arrays over nodes x users), so one call
solves a batch of frames. A single frame of at most :data:`SCALAR_MAX_N` users is solved by
the same algorithm written with plain Python floats (depth first, binary branching, cached
inner solves; :func:`~aigc_opt.problems.wpmec.inner.dual_value_1` and
:func:`~aigc_opt.problems.wpmec.inner.solve_inner_1`), where numpy's per-call overhead would
dominate. Certificate: ``bound = max(incumbent, bounds of pruned nodes, bounds
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
from aigc_opt.errors import ValidationError
from aigc_opt.result import Result, SolveStats, Termination
from aigc_opt.solve import register_algorithm
from aigc_opt.validate import check_scalar

from .data import WpmecAllocation, WpmecBatch, WpmecInstance, WpmecSpec
from .inner import dual_value, exact_scalar, solve_inner

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
        rows = _winners(fid, value, self.value.shape[0] == 1)
        f = fid[rows]
        better = value[rows] > self.value[f]
        rows, f = rows[better], f[better]
        self.value[f] = value[rows]
        self.off[f] = off[rows]
        self.a[f] = a[rows]
        self.tau[f] = tau[rows]


def _winners(fid: np.ndarray, value: np.ndarray, single: bool) -> np.ndarray:
    """Rows that :meth:`_Incumbents.offer` considers: one frame (``single``): the first
    largest value; else per frame the last of its largest values (``np.lexsort`` order, NaN
    last). Folding (winners of earlier rows + later rows) gives the winners of all rows."""
    if single:
        return np.array([int(np.argmax(value))])
    order = np.lexsort((value, fid))
    f_sorted = fid[order]
    last = np.r_[f_sorted[1:] != f_sorted[:-1], True]
    return order[last]


def _inner_rows(L: np.ndarray, g: np.ndarray, W: np.ndarray, fid: np.ndarray,
                off: np.ndarray, inc: _Incumbents, nu0: np.ndarray | None = None) -> np.ndarray:
    """Solve the inner problem for modes ``off`` of frames ``fid``; offer them; return values."""
    if fid.size == 0:
        return np.zeros(0)
    val, a, tau, _ = solve_inner(L[fid], g[fid], W[fid], off, nu0=nu0)
    inc.offer(fid, val, off, a, tau)
    return val


#: Largest number of (flip x user) entries :func:`_flip_search` hands to one inner solve
#: (256 Ki: 2 MiB per float array; 28 MiB peak at N = 3000, measured), so its memory is
#: O(max(N, FLIP_ENTRIES) + F N), not O(F N^2).
FLIP_ENTRIES = 1 << 18


def _flip_search(L: np.ndarray, g: np.ndarray, W: np.ndarray, frames: np.ndarray,
                 inc: _Incumbents, passes: int, *, max_entries: int = FLIP_ENTRIES) -> None:
    """Best-improvement single flips from the incumbents of ``frames`` (vectorised).

    The ``len(frames) * N`` flipped modes (flat index ``i * N + j``: frame ``frames[i]`` with
    user ``j`` flipped) are solved in blocks of at most ``max_entries`` entries; only the best
    row per frame so far is kept (:func:`_winners`, the rule of :meth:`_Incumbents.offer`), so
    the incumbents are those of offering every flip at once (identical when one block holds
    them all) without an N x N array.
    """
    N = L.shape[1]
    if passes <= 0 or N == 0:
        return
    single = inc.value.shape[0] == 1
    step = max(1, int(max_entries) // N)
    todo = frames
    for _ in range(passes):
        if todo.size == 0:
            break
        before = inc.value[todo].copy()
        base = inc.off[todo]
        total = todo.size * N
        best: tuple[np.ndarray, ...] | None = None
        for start in range(0, total, step):
            i, j = np.divmod(np.arange(start, min(start + step, total)), N)
            fid = todo[i]
            off = base[i]
            off[np.arange(i.size), j] ^= True
            val, a, tau, _ = solve_inner(L[fid], g[fid], W[fid], off)
            cand: tuple[np.ndarray, ...] = (fid, val, off, a, tau)
            if best is not None:
                cand = tuple(np.concatenate((b, c)) for b, c in zip(best, cand, strict=True))
            keep = _winners(cand[0], cand[1], single)
            best = tuple(c[keep] for c in cand)
        if best is not None:
            inc.offer(*best)
        todo = todo[inc.value[todo] > before * (1 + 1e-12)]


def _twin_matrix(L: np.ndarray, g: np.ndarray, W: np.ndarray) -> np.ndarray | None:
    """``T[f, j, i]``: users ``i < j`` of frame f are identical (same L, g, W); None if none.

    Identical users are interchangeable, so only modes with ``x_i >= x_j`` for twins ``i < j``
    need exploring (symmetry breaking; without it B&B visits every permutation).
    """
    N = L.shape[1]
    if N < 2:
        return None
    # cheap test first (O(F N log N)): any frame with two equal (L, g, W) triples?
    order = np.lexsort((W, g, L), axis=1)
    rix = np.arange(L.shape[0])[:, None]
    Ls, gs, Ws = L[rix, order], g[rix, order], W[rix, order]
    dup = ((Ls[:, 1:] == Ls[:, :-1]) & (gs[:, 1:] == gs[:, :-1])
           & (Ws[:, 1:] == Ws[:, :-1])).any(axis=1)
    if not dup.any():
        return None
    same = ((L[:, :, None] == L[:, None, :]) & (g[:, :, None] == g[:, None, :])
            & (W[:, :, None] == W[:, None, :]))
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


#: Largest N for which ``exact_batch(..., kernel="auto")`` solves a single frame with the
#: scalar kernel (plain Python floats; below this size a numpy call costs more than its work).
#: Measured (CPU ms, median / p95 of 60 frames, shared machine): N = 16 scalar 1.6 / 6.8,
#: numpy 2.2 / 4.4; N = 24 scalar 2.4 / 8.8, numpy 2.6 / 4.8; N = 32 scalar 2.9 / 16,
#: numpy 2.5 / 6.4.
SCALAR_MAX_N = 20


def _probes(F: int, N: int, root: bool) -> int:
    """Interior prices evaluated with a node's bracket ends in the first dual call.

    One vectorised call costs about the same for a few rows more while per-call overhead
    dominates (few frames, N up to a few hundred), and a tighter first bracket saves whole
    calls later; measured on single frames (CPU ms, median): N = 100: 3.9 -> 2.6 ms with
    16 / 5 probes (root / other nodes); N = 500: 4.3 -> 3.8 ms with 4 / 1. Batches of many
    frames already fill the arrays: none.
    """
    if F > 8:
        return 0
    if N <= 100:
        return 16 if root else 5
    if N <= 250:
        return 8 if root else 3
    return 4 if root else 1


def exact_batch(L: np.ndarray, g: np.ndarray, W: np.ndarray, *, rel_gap: float = 1e-6,
                max_nodes: int = 1_000_000, flip_passes: int = 0,
                branch_width: int | None = None, time_limit: float | None = None,
                kernel: str = "auto") -> BatchSolution:
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
    kernel : {"auto", "scalar", "numpy"}
        ``"scalar"``: one frame by plain-Python kernels (depth-first, binary branching);
        ``"numpy"``: the vectorised loop over all nodes of all frames; ``"auto"``: scalar for
        a single frame of at most :data:`SCALAR_MAX_N` users without identical users.

    Returns
    -------
    BatchSolution
    """
    rel_gap = check_scalar("rel_gap", rel_gap, "-", 0.0, 1.0)  # NaN had certified nothing
    t0 = time.perf_counter()
    L = np.asarray(L, dtype=np.float64)
    g = np.asarray(g, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    F, N = L.shape
    if kernel not in ("auto", "scalar", "numpy"):
        raise ValidationError("kernel", "-", kernel, "must be 'auto', 'scalar' or 'numpy'")
    bad = ~(np.isfinite(L) & np.isfinite(g) & np.isfinite(W) & (L >= 0) & (g >= 0) & (W > 0))
    if bad.any():  # e.g. gains so large that g = mu P h^2 / N0 overflows: no honest answer
        f, n = np.argwhere(bad)[0]
        sign_ok = {"L": L[f, n] >= 0, "g": g[f, n] >= 0, "W": W[f, n] > 0}
        name, value = next((k, float(a[f, n])) for k, a in (("L", L), ("g", g), ("W", W))
                           if not (np.isfinite(a[f, n]) and sign_ok[k]))
        raise ValidationError(f"{name}[{f}, {n}]", "-", value,
                              "L >= 0, g >= 0 and W > 0 must be finite (gains too large?)")
    if kernel == "scalar" and F != 1:
        raise ValidationError("kernel", "-", kernel, "the scalar kernel takes one frame")
    if kernel == "scalar" or (kernel == "auto" and F == 1 and N <= SCALAR_MAX_N
                              and len(set(zip(L[0].tolist(), g[0].tolist(),
                                              W[0].tolist(), strict=True))) == N):
        val, off, a, tau, bnd, nodes = exact_scalar(L[0], g[0], W[0], rel_gap, max_nodes,
                                                   time_limit, t0)
        return BatchSolution(objective=np.array([val]), offload=np.array([off]),
                             a=np.array([a]), tau=np.array([tau]), bound=np.array([bnd]),
                             gap=np.array([(bnd - val) / max(abs(val), 1e-300)]),
                             nodes=np.array([nodes], dtype=np.int64),
                             seconds=time.perf_counter() - t0, method="exact")
    if branch_width is None:
        branch_width = 2 if F <= 8 else 1
    inc = _Incumbents(F, N)
    frames = np.arange(F)
    twins = _twin_matrix(L, g, W)
    # trivial incumbents: all local (a = 1, value sum L), all offload
    inc.offer(frames, L.sum(axis=1), np.zeros((F, N), dtype=bool), np.ones(F), np.zeros((F, N)))
    # all offload: solved with the root's first incumbents (one inner call fewer); the root
    # bracket is the all-offload price bracket of solve_inner (widened if needed)
    best1 = W * np.log1p(g)
    closed = np.full(F, -np.inf)  # max bound of closed nodes per frame
    nodes_used = np.zeros(F, dtype=np.int64)
    # open nodes
    fid = frames.copy()
    status = np.full((F, N), 2, dtype=np.int8)
    lo = np.maximum(0.5 * best1.max(axis=1), 1e-300)
    hi = np.maximum(best1.sum(axis=1), 4.0 * lo)
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
        out = _bound_nodes(L, g, W, fid, status, lo, hi, inc, rel_gap, all_offload=first,
                           probes=_probes(F, N, first))
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
                 rel_gap: float, max_iter: int = 120, all_offload: bool = False,
                 probes: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Minimise ``D(nu)`` per node until it is pruned or must be branched.

    Bracket: ``slack(lo) < 0 < slack(hi)``; a price with ``slack == 0`` exactly (e.g. nobody
    offloads and ``a* = 1``) has the subgradient 0, so it *is* a minimiser of the convex
    ``D`` and the node's bound is exact there. The bracket is widened by factors
    ``4, 16, 256, ...`` (squared each step), so at most ``log2(log4(range))`` steps
    (<= 10 for any price in [1e-300, 1e300]) are needed; ``probes`` log-spaced interior
    prices are evaluated in the same first call and the tightest sign change of the slack
    is kept. Inside, a Newton step on the slack (``D'`` = slack, ``D''`` from
    :func:`~aigc_opt.problems.wpmec.inner.dual_value`) from the latest price is taken when it
    lies inside the bracket and is at most half the previous accepted Newton step (so the
    Newton steps shrink geometrically); otherwise Kelley's tangent intersection, safeguarded
    by a geometric bisection at least every third such step, so the bracket's log-width
    halves every three of them; with ``|slack| <= S`` the distance from
    ``best`` to ``min D`` is at most ``S (hi - lo)``, so the search stops after
    ``O(log(1/tol))`` steps once ``best - lower <= tol * best`` (``tol = max(rel_gap / 100,
    1e-12)``): the node is then branched (always valid; no bound is lost).

    Returns the best ``D`` found per node, the final bracket and a branching score per user
    (lower is better: users whose mode differs across the bracket first, then by closeness of
    their switching threshold to ``a*``; ``inf`` for fixed users).
    """
    K, N = status.shape
    Lk, gk, Wk = L[fid], g[fid], W[fid]
    lo = lo.copy()
    hi = hi.copy()
    tol = max(rel_gap * 1e-2, 1e-12)
    # first call: D at lo, hi and `probes` log-spaced prices between them (one vectorised
    # call costs about the same for a few rows more); the tightest bracket among them is kept
    m = max(int(probes), 0)
    P = np.empty((K, m + 2))
    P[:, 0], P[:, -1] = lo, hi
    if m:
        P[:, 1:-1] = lo[:, None] * (hi / lo)[:, None] ** (np.arange(1, m + 1) / (m + 1))
    rp = np.repeat(np.arange(K), m + 2)
    cP = np.empty(K * (m + 2))
    dP, aP, offP, sP, tP, uP = dual_value(P.ravel(), Lk[rp], gk[rp], Wk[rp], status[rp],
                                          curvature=cP)
    dP, aP, sP, cP = (x.reshape(K, m + 2) for x in (dP, aP, sP, cP))
    offP, tP, uP = (x.reshape(K, m + 2, N) for x in (offP, tP, uP))
    # the slack is nondecreasing in nu (D convex): negatives first
    n_neg = (sP < 0.0).sum(axis=1)
    rk = np.arange(K)
    j_lo = np.clip(n_neg - 1, 0, m + 1)
    j_hi = np.clip(n_neg, 0, m + 1)
    lo, d_lo, a_lo, off_lo = P[rk, j_lo], dP[rk, j_lo], aP[rk, j_lo], offP[rk, j_lo]
    s_lo, t_lo, u_lo, c_lo = sP[rk, j_lo], tP[rk, j_lo], uP[rk, j_lo], cP[rk, j_lo]
    hi, d_hi, a_hi, off_hi = P[rk, j_hi], dP[rk, j_hi], aP[rk, j_hi], offP[rk, j_hi]
    s_hi, t_hi, u_hi, c_hi = sP[rk, j_hi], tP[rk, j_hi], uP[rk, j_hi], cP[rk, j_hi]
    # the smallest D among all evaluated prices (each is a valid bound)
    j_b = dP.argmin(axis=1)
    best_p, t_bp, a_bp = dP[rk, j_b], tP[rk, j_b], aP[rk, j_b]
    # exact minimisers found (zero subgradient)
    exact = (s_lo == 0.0) | (s_hi == 0.0)
    factor = np.full(K, 4.0)
    # widen the bracket until slack(lo) < 0 < slack(hi) (or an exact minimiser is hit)
    for _ in range(64):
        bad_lo = (s_lo > 0.0) & ~exact
        bad_hi = (s_hi < 0.0) & ~exact
        if not (bad_lo.any() or bad_hi.any()):
            break
        if bad_lo.any():
            i = np.flatnonzero(bad_lo)
            hi[i], d_hi[i], s_hi[i], off_hi[i] = lo[i], d_lo[i], s_lo[i], off_lo[i]
            a_hi[i], t_hi[i], u_hi[i], c_hi[i] = a_lo[i], t_lo[i], u_lo[i], c_lo[i]
            lo[i] = np.maximum(lo[i] / factor[i], 1e-300)
            ci = np.empty(i.size)
            d_lo[i], a_lo[i], off_lo[i], s_lo[i], t_lo[i], u_lo[i] = dual_value(
                lo[i], Lk[i], gk[i], Wk[i], status[i], curvature=ci)
            c_lo[i] = ci
        if bad_hi.any():
            i = np.flatnonzero(bad_hi)
            lo[i], d_lo[i], s_lo[i], off_lo[i] = hi[i], d_hi[i], s_hi[i], off_hi[i]
            a_lo[i], t_lo[i], u_lo[i], c_lo[i] = a_hi[i], t_hi[i], u_hi[i], c_hi[i]
            hi[i] = np.minimum(hi[i] * factor[i], 1e300)
            ci = np.empty(i.size)
            d_hi[i], a_hi[i], off_hi[i], s_hi[i], t_hi[i], u_hi[i] = dual_value(
                hi[i], Lk[i], gk[i], Wk[i], status[i], curvature=ci)
            c_hi[i] = ci
        moved = bad_lo | bad_hi
        factor[moved] = np.minimum(factor[moved], 1e150) ** 2
        exact |= (s_lo == 0.0) | (s_hi == 0.0)
    # incumbents from the Lagrangian modes at both ends
    # Newton of the inner solves starts at the bracket end with the smaller D (nearer the
    # dual minimiser, where the primal price of these modes tends to be: ~15 % fewer steps
    # than starting each row at its own end)
    p0 = np.where(d_lo <= d_hi, lo, hi)
    if all_offload:  # root: the all-offload incumbent joins this inner call
        _inner_rows(L, g, W, np.concatenate([fid, fid, fid]),
                    np.concatenate([off_lo, off_hi, np.ones_like(off_lo)]), inc,
                    nu0=np.concatenate([p0, p0, p0]))
    else:
        _inner_rows(L, g, W, np.concatenate([fid, fid]), np.concatenate([off_lo, off_hi]), inc,
                    nu0=np.concatenate([p0, p0]))
    lo_best = (d_lo <= d_hi) | (s_lo == 0.0)
    lo_best &= ~((s_hi == 0.0) & (s_lo != 0.0))
    best = np.where(lo_best, d_lo, d_hi)
    t_best = np.where(lo_best[:, None], t_lo, t_hi)
    a_best = np.where(lo_best, a_lo, a_hi)
    pb = best_p < best
    best = np.where(pb, best_p, best)
    t_best = np.where(pb[:, None], t_bp, t_best)
    a_best = np.where(pb, a_bp, a_best)
    thr_all = inc.value[fid] * (1.0 + rel_gap)  # incumbents do not change during the search
    # Newton on the slack (D' = slack, D'' = curvature) from the latest point, accepted only
    # inside the bracket and if its step is at most half the previous accepted Newton step
    # (so accepted Newton steps shrink geometrically); otherwise the Kelley/bisection step.
    with np.errstate(divide="ignore", invalid="ignore"):
        use_lo = ~(np.abs(s_hi / c_hi) < np.abs(s_lo / c_lo)) & np.isfinite(s_lo / c_lo)
    # the search works on compact copies of the still-active nodes' state (rows `act` of
    # the K nodes); finished nodes are written back when they leave
    act = np.flatnonzero(~exact)
    if act.size:
        A_lo, A_hi, A_dlo, A_dhi = lo[act], hi[act], d_lo[act], d_hi[act]
        A_slo, A_shi, A_offlo, A_offhi = s_lo[act], s_hi[act], off_lo[act], off_hi[act]
        A_best, A_tb, A_ab = best[act], t_best[act], a_best[act]
        A_pnu = np.where(use_lo[act], A_lo, A_hi)
        A_ps = np.where(use_lo[act], A_slo, A_shi)
        A_pc = np.where(use_lo[act], c_lo[act], c_hi[act])
        A_lastn = np.full(act.size, np.inf)
        A_streak = np.zeros(act.size, dtype=np.int8)
        A_side = np.zeros(act.size, dtype=np.int8)
        A_zero = np.zeros(act.size, dtype=bool)
        A_thr = thr_all[act]
        A_L, A_g, A_W, A_st = Lk[act], gk[act], Wk[act], status[act]
    for _ in range(max_iter):
        if not act.size:
            break
        den = np.minimum(A_slo - A_shi, -1e-300)  # < 0 (slack(lo) < 0 < slack(hi))
        nux = (A_dhi - A_dlo + A_slo * A_lo - A_shi * A_hi) / den
        np.clip(nux, A_lo, A_hi, out=nux)
        lower = A_dlo + A_slo * (nux - A_lo)
        done = ((A_best <= A_thr) | (lower > A_thr) | (A_best - lower <= tol * np.abs(A_best))
                | (A_hi - A_lo <= 1e-15 * A_hi) | A_zero)
        if done.any():
            fin = act[done]
            lo[fin], hi[fin], off_lo[fin], off_hi[fin] = (A_lo[done], A_hi[done],
                                                          A_offlo[done], A_offhi[done])
            best[fin], t_best[fin], a_best[fin] = A_best[done], A_tb[done], A_ab[done]
            keep = ~done
            act = act[keep]
            if not act.size:
                break
            A_lo, A_hi, A_dlo, A_dhi = A_lo[keep], A_hi[keep], A_dlo[keep], A_dhi[keep]
            A_slo, A_shi = A_slo[keep], A_shi[keep]
            A_offlo, A_offhi = A_offlo[keep], A_offhi[keep]
            A_best, A_tb, A_ab = A_best[keep], A_tb[keep], A_ab[keep]
            A_pnu, A_ps, A_pc = A_pnu[keep], A_ps[keep], A_pc[keep]
            A_lastn, A_streak, A_side = A_lastn[keep], A_streak[keep], A_side[keep]
            A_zero, A_thr, nux = A_zero[keep], A_thr[keep], nux[keep]
            A_L, A_g, A_W, A_st = A_L[keep], A_g[keep], A_W[keep], A_st[keep]
        with np.errstate(divide="ignore", invalid="ignore"):
            step = A_ps / A_pc
        nwt = A_pnu - step
        astep = np.abs(step)
        take = (A_pc > 0.0) & (nwt > A_lo) & (nwt < A_hi) & (astep <= 0.5 * A_lastn)
        nu = np.where(take, nwt, np.where(A_streak >= 2, np.sqrt(A_lo * A_hi), nux))
        A_lastn = np.where(take, astep, A_lastn)
        ci = np.empty(act.size)
        d, a, off, sl, t, _ = dual_value(nu, A_L, A_g, A_W, A_st, curvature=ci)
        A_pnu, A_ps, A_pc = nu, sl, ci
        A_zero = sl == 0.0  # zero subgradient: exact minimiser, best is min D
        better = (d < A_best) | A_zero
        A_best = np.where(better, d, A_best)
        A_tb = np.where(better[:, None], t, A_tb)
        A_ab = np.where(better, a, A_ab)
        right = sl > 0.0
        side = np.where(right, 1, -1).astype(np.int8)
        A_streak = np.where(take | (side != A_side), 0, A_streak + 1).astype(np.int8)
        A_streak[A_streak >= 3] = 0
        A_side = side
        left = sl < 0.0
        A_hi, A_dhi, A_shi = np.where(right, nu, A_hi), np.where(right, d, A_dhi), np.where(
            right, sl, A_shi)
        A_lo, A_dlo, A_slo = np.where(left, nu, A_lo), np.where(left, d, A_dlo), np.where(
            left, sl, A_slo)
        A_offhi = np.where(right[:, None], off, A_offhi)
        A_offlo = np.where(left[:, None], off, A_offlo)
    else:  # pragma: no cover - the step bound above makes this unreachable
        logger.warning("_bound_nodes: %d nodes hit the iteration cap", int(act.size))
        lo[act], hi[act], off_lo[act], off_hi[act] = A_lo, A_hi, A_offlo, A_offhi
        best[act], t_best[act], a_best[act] = A_best, A_tb, A_ab
    # the modes at the final bracket ends are not solved here: the children's first inner
    # call (their Lagrangian modes at this bracket) covers them a round later, one call fewer
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
    name="wpmec.binary", sense="max",
    make_instance=lambda seed, n_users=10, **kw: WpmecInstance.generate(
        n_users, seed=seed, **kw),
    make_spec=lambda **params: WpmecSpec(**params),
    default_methods=("exact", "cd", "lr", "all_local", "all_offload"),
    reference="exact",
    description="Wireless-powered MEC, binary offloading, max weighted sum rate "
                "(Bi & Zhang 2018 / DROO)",
    load_instance=lambda path: WpmecBatch.from_file(path).frame(0),
    instance_format="channel gains, one frame per row, the first row is solved (DROO .mat "
                    "variable 'input_h')",
    instance_suffixes=(".mat", ".npy", ".csv"),
))
