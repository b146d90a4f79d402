r"""Pair-exchange local search for offline caching trajectories (primal side of
:mod:`.decomposition` and :mod:`.colgen`; no compute capacity).

With every other server's cache fixed, the cost of model m's copy at server k separates from
the other models at k: holding it in slot t at age a changes the cost by

.. math::

    v_{t,m,a} = \sum_{p=(s,k)} R_{tsm} \min\big(0,\; b_{t,p,m,a} - alt_{t,s,m}\big) \le 0,

where ``alt`` is the group's best option without k (another server's copy at its age, or the
cloud), plus ``L_km`` per load. Models at the same server are coupled only by the memory rows
``sum_m z_km c_tkm <= 1``. :func:`pair_sweep` re-optimises the trajectories of every *pair*
(m1, m2) of models at k jointly and exactly (a shortest path over ``(H + 2)^2`` states per
slot, the memory row checked in every slot with the other models fixed), vectorised over all
pairs. A pair move can evict one model to make room for the other, which the single-block
coordinate descent (:func:`.decomposition.improve`) cannot. Moves with a positive gain are
applied greedily, best first, when their models are untouched by an earlier move of the same
pass and they still fit the memory; the gains stay exact because ``v`` at k does not depend on
k's own cache. The true cost never increases.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from .data import cache_age

#: ``tb`` below is a :class:`.decomposition.Tables` (not imported: that module imports this one)
Tables = Any

logger = logging.getLogger(__name__)

_INF = 1e300


def block_values(tb: Tables, cache: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Holding values ``v`` (T, M, H+1) of every model at server ``k`` (others fixed) and the
    ages (T, S, M) of ``cache``."""
    T, S, M = cache.shape
    age = cache_age(cache, tb.H)
    a_p = np.maximum(age[:, tb.pk, :], 0)
    unit = np.take_along_axis(tb.b, a_p[..., None], axis=3)[..., 0]  # (T, Np, M)
    unit = np.where(cache[:, tb.pk, :] & (tb.pk != k)[None, :, None], unit, np.inf)
    alt = np.broadcast_to(tb.q[None, None, :], (T, S, M)).copy()
    np.minimum.at(alt.transpose(1, 0, 2), tb.ps, unit.transpose(1, 0, 2))
    into = np.nonzero(tb.pk == k)[0]
    hs = tb.ps[into]
    val = (tb.R[:, hs, :, None]
           * np.minimum(0.0, tb.b[:, into, :, :] - alt[:, hs, :, None])).sum(axis=1)
    return val, age


def _step(f: np.ndarray, L: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """One slot of one block's transitions along ``axis`` of ``f`` (P, n, n), min-plus.

    States 0 (not cached) and 1 + age (ages 0..H, ``n = H + 2``): state 0 is reached from
    any state (evict, free), state 1 from 0 (load, ``L`` per pair), state j >= 2 from j - 1
    (ageing) and the last state also from itself (age capped at H; with H = 0 state 1 is kept
    from itself). Each state has at most two predecessors besides state 0's, so a slot costs
    O(P n^2) instead of the dense O(P n^3) min-plus product. Returns the values and the
    predecessor indices (int8), the lowest index on ties (as ``np.argmin`` would).
    """
    g = np.moveaxis(f, axis, -1)  # (P, other, n): the block's states last
    n = g.shape[-1]
    out = np.empty_like(g)
    back = np.empty(g.shape, dtype=np.int8)
    back[..., 0] = np.argmin(g, axis=-1)
    out[..., 0] = np.take_along_axis(g, back[..., :1].astype(np.intp), axis=-1)[..., 0]
    load = g[..., 0] + L[:, None]
    if n == 2:  # H = 0: state 1 from 0 (load) or from itself
        keep = g[..., 1] < load
        out[..., 1] = np.where(keep, g[..., 1], load)
        back[..., 1] = keep
    else:
        out[..., 1] = load
        back[..., 1] = 0
        out[..., 2:n - 1] = g[..., 1:n - 2]
        back[..., 2:n - 1] = np.arange(1, n - 2, dtype=np.int8)
        keep = g[..., n - 1] < g[..., n - 2]
        out[..., n - 1] = np.where(keep, g[..., n - 1], g[..., n - 2])
        back[..., n - 1] = np.where(keep, n - 1, n - 2)
    return np.moveaxis(out, -1, axis), np.moveaxis(back, -1, axis)


def _pair_dp(v1: np.ndarray, v2: np.ndarray, feas: np.ndarray, f0: np.ndarray,
             L1: np.ndarray, L2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Joint shortest path of P pairs: state values ``v1, v2`` (T, P, A+1), feasibility
    (T, P, A+1, A+1), start costs ``f0`` (P, A+1, A+1), load costs ``L1, L2`` (P,). Returns
    optimal costs (P,) and the state sequences (T, P) of both blocks. The transitions are
    separable (block 2 first, then block 1), each by :func:`_step`; equal to the dense
    min-plus recursion (tested against it)."""
    T, P, n = v1.shape
    f = np.where(feas[0], np.minimum(f0 + v1[0][:, :, None] + v2[0][:, None, :], _INF), _INF)
    b1 = np.zeros((T, P, n, n), dtype=np.int8)
    b2 = np.zeros((T, P, n, n), dtype=np.int8)
    for t in range(1, T):
        hh, b2[t] = _step(f, L2, 2)  # (P, i1, j2), predecessor i2
        g, b1[t] = _step(hh, L1, 1)  # (P, j1, j2), predecessor i1
        g = g + v1[t][:, :, None] + v2[t][:, None, :]
        f = np.where(feas[t], np.minimum(g, _INF), _INF)
    flat = f.reshape(P, -1)
    st = np.argmin(flat, axis=1)
    rows = np.arange(P)
    cost = flat[rows, st]
    s1, s2 = st // n, st % n
    seq1 = np.empty((T, P), dtype=np.int64)
    seq2 = np.empty((T, P), dtype=np.int64)
    for t in range(T - 1, -1, -1):  # back-pointers, all pairs at once
        seq1[t], seq2[t] = s1, s2
        if t:
            i1 = b1[t, rows, s1, s2].astype(np.int64)
            s2 = b2[t, rows, i1, s2].astype(np.int64)
            s1 = i1
    return cost, seq1, seq2


def _current_cost(tb: Tables, cache: np.ndarray, age: np.ndarray, val: np.ndarray, k: int,
                  m: np.ndarray) -> np.ndarray:
    """Cost (loads + holding values) of the current trajectories of models ``m`` at ``k``."""
    c = cache[:, k, m]
    a = np.maximum(age[:, k, m], 0)
    prev = np.concatenate([tb.init[k, m][None], c[:-1]], axis=0)
    held = np.take_along_axis(val[:, m, :], a[..., None], axis=2)[..., 0]
    return np.where(c, held, 0.0).sum(axis=0) + (c & ~prev).sum(axis=0) * tb.L[k, m]


def pair_pass(tb: Tables, cache: np.ndarray, k: int, max_pairs: int = 2000) -> float:
    """One pass of pair moves at server ``k`` (in place); returns the total gain (cost units).

    Candidate pairs: models that fit k, at least one of them held at some slot or with a
    holding value below minus its load cost (the others cannot gain), at most ``max_pairs``
    (those with the largest potential first)."""
    T, S, M = cache.shape
    H = tb.H
    val, age = block_values(tb, cache, k)
    ok = tb.ok[k]
    held_any = cache[:, k, :].any(axis=0)
    potential = -val.min(axis=2).sum(axis=0)  # (M,) >= 0
    useful = ok & (held_any | (potential > tb.L[k]))
    cand = np.nonzero(useful)[0]
    if cand.size < 2:
        return 0.0
    i1, i2 = np.triu_indices(cand.size, 1)
    m1, m2 = cand[i1], cand[i2]
    if m1.size > max_pairs:
        keep = np.argsort(-(potential[m1] + potential[m2]), kind="stable")[:max_pairs]
        m1, m2 = m1[keep], m2[keep]
    z = tb.z[k]
    used = (cache[:, k, :] * z[None]).sum(axis=1)
    base = used[:, None] - cache[:, k, m1] * z[m1] - cache[:, k, m2] * z[m2]  # (T, P)
    on = np.arange(H + 2) > 0
    feas = (base[:, :, None, None] + on[None, None, :, None] * z[m1][None, :, None, None]
            + on[None, None, None, :] * z[m2][None, :, None, None]) <= 1 + 1e-12
    zero = np.zeros((T, m1.size, 1))
    v1 = np.concatenate([zero, val[:, m1, :]], axis=2)
    v2 = np.concatenate([zero, val[:, m2, :]], axis=2)

    def start(m: np.ndarray) -> np.ndarray:
        f = np.full((m.size, H + 2), _INF)
        f[:, 0] = 0.0
        f[:, 1] = np.where(tb.init[k, m], 0.0, tb.L[k, m])
        return f

    f0 = start(m1)[:, :, None] + start(m2)[:, None, :]
    cost, seq1, seq2 = _pair_dp(v1, v2, feas, f0, tb.L[k, m1], tb.L[k, m2])
    cur = (_current_cost(tb, cache, age, val, k, m1)
           + _current_cost(tb, cache, age, val, k, m2))
    gain = cur - cost
    total = 0.0
    touched = np.zeros(M, dtype=bool)
    for p in np.argsort(-gain, kind="stable"):  # greedy: best first, disjoint, still fitting
        if gain[p] <= 1e-9 * (1.0 + abs(cur[p])):
            break
        a, b = m1[p], m2[p]
        if touched[a] or touched[b]:
            continue
        n1, n2 = seq1[:, p] > 0, seq2[:, p] > 0
        rest = used - cache[:, k, a] * z[a] - cache[:, k, b] * z[b]
        new_used = rest + n1 * z[a] + n2 * z[b]
        if (new_used > 1 + 1e-12).any():
            continue
        cache[:, k, a], cache[:, k, b] = n1, n2
        used = new_used
        touched[a] = touched[b] = True
        total += float(gain[p])
    return total


def pair_search(tb: Tables, cache: np.ndarray, deadline: float, sweeps: int = 20) -> np.ndarray:
    """Pair moves at every server, repeated until a sweep gains nothing, ``sweeps`` sweeps or
    ``deadline`` (``time.perf_counter()``); returns the improved cache (a copy)."""
    cache = cache.copy()
    S = cache.shape[1]
    for sweep in range(sweeps):
        total = 0.0
        for k in range(S):
            if time.perf_counter() > deadline:
                return cache
            total += pair_pass(tb, cache, k)
        logger.debug("pair sweep %d: gain %.6g", sweep, total)
        if total <= 0.0:
            break
    return cache
