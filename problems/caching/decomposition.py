r"""Lagrangian decomposition of the offline caching problem: a certified lower bound from
per-(server, model) dynamic programmes over the cache trajectory, and a primal repair.

Relaxed problem
---------------
Notation as in :mod:`.formulation`: groups ``(t, s, m)`` of ``R[t,s,m] > 0`` requests, edge
pairs ``p = (s, k)`` within the latency budget, per-request edge cost of a copy of age ``a``
``b[t,p,m,a] = e[s,k,m] - w_a G[t,k,m,a]`` (>= 0), cloud cost ``q[m]``, load cost ``L[k,m]``,
memory fraction ``z[k,m] = size_m / Mem_k`` and, with compute capacity, FLOP fraction
``f[k,m] = flop_m / (F_k slot)``. Dualise the demand rows ``sum_k x[t,(s,k),m] + y[t,s,m] = 1``
with multipliers ``pi[t,s,m]`` (cost per request, free), the memory rows
``sum_m z[k,m] c[t,k,m] <= 1`` with ``mu[t,k] >= 0`` and the compute rows
``sum_{p=(.,k),m} R f[k,m] x <= 1`` with ``nu[t,k] >= 0``. For any such multipliers

.. math::

    \mathcal L(\pi,\mu,\nu) = \sum_{t,s,m} R_{tsm} \pi_{tsm} - \sum_{t,k} (\mu_{tk} + \nu_{tk})
      + \sum_{t,s,m} R_{tsm} \min(0, q_m - \pi_{tsm}) + \sum_{k,m} D_{km}(\pi,\mu,\nu)

is a lower bound on the optimum (weak duality: every feasible point of the MILP is feasible for
the relaxation and pays at most its cost there, because ``pi`` multiplies equalities and
``mu, nu >= 0`` multiply ``<=`` rows). ``D_km`` is the exact minimum over the cache trajectories
of model m at server k (``c[t] in {0,1}``, loads ``max(0, c_t - c_{t-1})`` with the initial
cache before slot 0, the copy's age ``a_t`` = slots cached without interruption before t,
capped at H) of

.. math::

    \sum_t L_{km} [\text{load at } t] + c_t \Big(\mu_{tk} z_{km} + \sum_{p=(s,k)}
       R_{tsm} \min\big(0,\; b_{t,p,m,a_t} + \nu_{tk} f_{km} - \pi_{tsm}\big)\Big),

where each group's fraction ``x in [0, 1]`` routed to a holding k is chosen optimally (0 or 1).
The ages make it a shortest path over ``H + 2`` states per slot (not cached, age 0..H), solved
exactly for all (k, m) at once by a vectorised forward DP with back-pointers
(:func:`trajectory_dp`).

Lagrangian decomposition (memory kept integral). Dualising the memory rows loses their
integrality (a server holds a fraction of a model). :func:`lagrangian` with ``lam`` instead
copies the cache, ``c = d``, keeps ``d`` in the exact 0-1 knapsack of every (t, k)
(``sum_m z[k,m] d[t,k,m] <= 1``, weights rounded *down* to ``1/grid`` of the memory, which only
enlarges the knapsack's feasible set) and prices ``c = d`` with free ``lam[t,k,m]``:

.. math::

    \mathcal L(\pi,\lambda,\nu) = \sum R\pi - \sum \nu + \sum R \min(0, q - \pi)
      + \sum_{k,m} D_{km}(\pi, \lambda, \nu) - \sum_{t,k} \max_{d \in K_{tk}}
        \sum_m \lambda_{tkm} d_m,

where ``D_km`` charges ``lam[t,k,m]`` instead of ``mu z`` per held slot. At ``lam = mu z`` the
knapsack term is at most ``mu`` (the memory-dualised term), so this bound is never weaker and
its maximum is at least the Dantzig-Wolfe bound of :mod:`.colgen`. Knapsacks are solved by a
DP over ``grid + 1`` capacities, vectorised over (t, k). :func:`subgradient` maximises it
(Polyak steps ``theta (UB - L) / |g|^2``, ``theta`` halved after ``patience`` (default 15)
iterations without a new best; subgradients
``R (1 - sum x - y)``, ``c - d`` and the compute rows' excess). The best ``L`` over all
iterations is reported as ``Result.bound`` (each ``L`` is a valid bound on its own).

Primal repair
-------------
Every few iterations the DP trajectories are made memory-feasible per (t, k) (models kept by
decreasing Lagrangian value per byte while they fit) and then improved by a block coordinate
descent: for one (k, m) at a time, with all other blocks fixed, a DP over the same states finds
the best trajectory among the slots where m still fits next to the other cached models, valued
against each group's best other option; it is accepted when it lowers the true cost. At the end
the best cache is polished by alternating these sweeps with exact pair moves
(:mod:`.local_search`: two models at one server re-optimised jointly, so one can evict the
other). The
routing is :func:`.policies.route_given_cache` (optimal for a fixed cache without compute
capacity), so the reported objective is the evaluator's. ``gap = (UB - LB) / |UB|``.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from aigc_opt.backend import SolveOptions
from aigc_opt.metrics import fits
from aigc_opt.result import Result, SolveStats, Termination, relative_gap
from aigc_opt.solve import register_algorithm
from aigc_opt.validate import check_bool, check_scalar

from .data import (
    CachingAllocation,
    CachingInstance,
    CachingObjective,
    CachingSpec,
    cache_age,
    cloud_cost,
    context_table,
    edge_cost,
    load_cost,
    neighbours,
)
from .formulation import checked_options
from .local_search import pair_search
from .policies import route_given_cache

logger = logging.getLogger(__name__)

_INF = 1e300


@dataclass(frozen=True)
class Tables:
    """Data of the decomposition (problem cost units).

    ``ps, pk``: edge pairs; ``Rp[t,p,m]`` demand of a pair's home server; ``b[t,p,m,a]``
    per-request edge cost at age a; ``q[m]``; ``L[k,m]``; ``z[k,m]`` memory fractions;
    ``f[k,m]`` FLOP fractions (zeros without compute capacity); ``ok[k,m]`` the model fits the
    server at all; ``P`` (S, Np) incidence of pairs to serving servers.
    """

    R: np.ndarray
    ps: np.ndarray
    pk: np.ndarray
    Rp: np.ndarray
    b: np.ndarray
    q: np.ndarray
    L: np.ndarray
    z: np.ndarray
    f: np.ndarray
    ok: np.ndarray
    P: np.ndarray
    init: np.ndarray
    H: int
    compute: bool


def tables(inst: CachingInstance, obj: CachingObjective) -> Tables:
    """Precompute the per-pair, per-age cost table and the row coefficients (vectorised)."""
    R = inst.requests
    T, S, M = R.shape
    _, G = context_table(inst)
    ps, pk = (a.astype(np.int64) for a in np.nonzero(neighbours(inst, obj)))
    e = edge_cost(inst, obj)
    b = e[ps, pk, :][None, :, :, None] - obj.accuracy * G[:, pk, :, :]
    mem = np.asarray(inst.server_gpu_memory_bytes, dtype=float)
    size = np.asarray(inst.model_size_bytes, dtype=float)
    ok = fits(size[None, :], mem[:, None])  # the referee's rule
    z = np.where(ok, size[None, :] / np.where(mem > 0, mem, 1.0)[:, None], 0.0)
    if obj.compute_capacity:
        f = inst.model_flop_per_request[None, :] / (inst.server_compute_flops[:, None]
                                                    * inst.slot_s)
    else:
        f = np.zeros((S, M))
    P = np.zeros((S, ps.size))
    P[pk, np.arange(ps.size)] = 1.0
    return Tables(R=R, ps=ps, pk=pk, Rp=R[:, ps, :], b=b, q=cloud_cost(inst, obj),
                  L=load_cost(inst, obj), z=z, f=f, ok=ok, P=P,
                  init=np.asarray(inst.initial_cache, dtype=bool), H=inst.context_window,
                  compute=bool(obj.compute_capacity))


def trajectory_dp(val: np.ndarray, L: np.ndarray, init: np.ndarray, allowed: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Exact minimum-cost cache trajectories of every block (vectorised over blocks).

    Parameters
    ----------
    val : ndarray, shape (T, B, H+1)
        Cost of holding the copy in slot t at age a (added when cached).
    L : ndarray, shape (B,)
        Cost of one load.
    init : ndarray of bool, shape (B,)
        Copy held before slot 0 (no load if cached at slot 0).
    allowed : ndarray of bool, shape (T, B)
        Slots in which the copy may be held.

    Returns
    -------
    cost : ndarray, shape (B,)
        Minimum total cost (loads + held-slot costs).
    age : ndarray of int, shape (T, B)
        Optimal trajectory as ages (-1: not cached).
    """
    T, B, A = val.shape
    H = A - 1
    v = np.where(allowed[..., None], val, _INF)
    back = np.zeros((T, B, A + 1), dtype=np.int8)  # predecessor state (0: not cached, 1+a)
    f = np.full((B, A + 1), _INF)
    f[:, 0] = 0.0
    f[:, 1] = v[0, :, 0] + np.where(init, 0.0, L)
    rows = np.arange(B)
    for t in range(1, T):  # recursion over slots, vectorised over blocks and states
        g = np.empty_like(f)
        arg0 = np.argmin(f, axis=1)
        g[:, 0] = f[rows, arg0]
        back[t, :, 0] = arg0
        if H == 0:
            load = f[:, 0] + L
            keep = f[:, 1] <= load
            g[:, 1] = np.where(keep, f[:, 1], load) + v[t, :, 0]
            back[t, :, 1] = np.where(keep, 1, 0)
        else:
            g[:, 1] = f[:, 0] + L + v[t, :, 0]
            back[t, :, 1] = 0
            g[:, 2:A] = f[:, 1:A - 1] + v[t, :, 1:H]
            back[t, :, 2:A] = np.arange(1, A - 1)[None, :]
            keep = f[:, A] <= f[:, A - 1]
            g[:, A] = np.where(keep, f[:, A], f[:, A - 1]) + v[t, :, H]
            back[t, :, A] = np.where(keep, A, A - 1)
        f = np.minimum(g, _INF)
    state = np.argmin(f, axis=1)
    cost = f[rows, state]
    states = np.empty((T, B), dtype=np.int64)
    for t in range(T - 1, -1, -1):  # back-pointers
        states[t] = state
        state = back[t, rows, state]
    return cost, states - 1


@dataclass
class _Eval:
    value: float
    age: np.ndarray  # (T, S, M)
    g_pi: np.ndarray  # (T, S, M) residual R (1 - sum x - y)
    g_mu: np.ndarray  # (T, S)
    g_nu: np.ndarray  # (T, S)
    score: np.ndarray  # (T, S, M) Lagrangian saving per held slot (without mu), >= 0 useful
    block: np.ndarray  # (S, M) DP optimum of every block
    x: np.ndarray  # (T, Np, M) pair serves its group in the DP solution
    g_lam: np.ndarray | None = None  # (T, S, M) held - knapsack choice (decomposition only)


def knapsack_max(profit: np.ndarray, weight: np.ndarray, cap: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Exact 0-1 knapsacks, one per row: ``max sum_m profit d`` s.t. ``sum_m weight d <= cap``.

    ``profit`` (N, M) (items of profit <= 0 are never taken), ``weight`` (N, M) integers >= 0,
    ``cap`` an integer. Dynamic programme over the capacity, vectorised over rows; returns the
    values (N,) and the choices (N, M).
    """
    N, M = profit.shape
    F = np.zeros((N, cap + 1))
    take = np.zeros((M, N, cap + 1), dtype=bool)
    cols = np.arange(cap + 1)
    for m in range(M):  # one item at a time, every row at once
        r = np.nonzero(profit[:, m] > 0)[0]
        if r.size == 0:
            continue
        src = cols[None, :] - weight[r, m][:, None]
        cand = np.where(src >= 0, np.take_along_axis(F[r], np.maximum(src, 0), axis=1)
                        + profit[r, m][:, None], -np.inf)
        tk = cand > F[r]
        F[r] = np.where(tk, cand, F[r])
        take[m, r] = tk
    c = np.full(N, cap)
    d = np.zeros((N, M), dtype=bool)
    rows = np.arange(N)
    for m in range(M - 1, -1, -1):  # back-track the choices
        t = take[m, rows, c]
        d[:, m] = t
        c = c - np.where(t, weight[:, m], 0)
    return F[:, cap], d


def lagrangian(tb: Tables, pi: np.ndarray, mu: np.ndarray, nu: np.ndarray,
               lam: np.ndarray | None = None, grid: int = 240) -> _Eval:
    """``L(pi, mu, nu)``, the DP trajectories and a subgradient (see the module docstring).

    With ``lam`` (T, S, M) the memory rows are handled by Lagrangian *decomposition* instead:
    a copy ``d`` of the cache variables lives in exact per-(t, k) 0-1 knapsacks (weights
    ``floor(grid z)`` in units of ``Mem_k / grid`` -- rounding down only enlarges the feasible
    set, so the bound stays valid), ``lam`` prices ``c = d``, the trajectories pay ``lam`` per
    held slot and the knapsacks earn it: ``L = ... + sum D_km(lam) - sum_tk max_d lam d``;
    ``mu`` is then unused. This bound is at least the memory-dualised one at
    ``lam = mu z`` and sees the integrality of the memory."""
    T, S, M = tb.R.shape
    H = tb.H
    red = tb.b - pi[:, tb.ps, :, None]
    if tb.compute:
        red = red + nu[:, tb.pk, None, None] * tb.f[tb.pk][None, :, :, None]
    gain = tb.Rp[..., None] * np.minimum(red, 0.0)  # (T, Np, M, A)
    serve_val = np.einsum("kp,tpma->tkma", tb.P, gain)  # (T, S, M, A)
    hold = mu[:, :, None] * tb.z[None] if lam is None else lam
    val = serve_val + hold[..., None]
    B = S * M
    cost, age = trajectory_dp(val.reshape(T, B, H + 1), tb.L.reshape(B), tb.init.reshape(B),
                              np.broadcast_to(tb.ok.reshape(B), (T, B)))
    age = age.reshape(T, S, M)
    ycost = tb.R * np.minimum(0.0, tb.q[None, None, :] - pi)
    held = age >= 0
    g_lam = None
    if lam is None:
        value = float((tb.R * pi).sum() - mu.sum() - nu.sum() + ycost.sum() + cost.sum())
    else:
        wt = np.floor(tb.z * grid * (1 - 1e-12)).astype(np.int64)  # (S, M)
        prof = np.where(tb.ok[None], lam, 0.0).reshape(T * S, M)
        kv, d = knapsack_max(prof, np.broadcast_to(wt[None], (T, S, M)).reshape(T * S, M), grid)
        value = float((tb.R * pi).sum() - nu.sum() + ycost.sum() + cost.sum() - kv.sum())
        g_lam = held.astype(float) - d.reshape(T, S, M)
    a_p = np.maximum(age[:, tb.pk, :], 0)
    red_at = np.take_along_axis(red, a_p[..., None], axis=3)[..., 0]
    x = held[:, tb.pk, :] & (red_at < 0)
    served = np.zeros((T, S, M))
    np.add.at(served.transpose(1, 0, 2), tb.ps, x.astype(float).transpose(1, 0, 2))
    y = (tb.q[None, None, :] - pi) < 0
    g_pi = tb.R * (1.0 - served - y)
    g_mu = (held * tb.z[None]).sum(axis=2) - 1.0
    g_nu = np.zeros((T, S))
    if tb.compute:
        load = tb.Rp * x * tb.f[tb.pk][None]
        np.add.at(g_nu.T, tb.pk, load.sum(axis=2).T)
        g_nu -= 1.0
    a = np.maximum(age, 0)
    score = -np.take_along_axis(serve_val, a[..., None], axis=3)[..., 0]
    return _Eval(value, age, g_pi, g_mu, g_nu, score, cost.reshape(S, M), x, g_lam)


# ---------------------------------------------------------------------- primal side
def cache_cost(tb: Tables, cache: np.ndarray) -> float:
    """True cost of a cache trajectory with optimal routing (no compute capacity)."""
    T, S, M = cache.shape
    age = cache_age(cache, tb.H)
    unit = np.take_along_axis(tb.b, np.maximum(age[:, tb.pk, :], 0)[..., None], axis=3)[..., 0]
    unit = np.where(cache[:, tb.pk, :], unit, np.inf)
    best = np.broadcast_to(tb.q[None, None, :], (T, S, M)).copy()
    np.minimum.at(best.transpose(1, 0, 2), tb.ps, unit.transpose(1, 0, 2))
    prev = np.concatenate([tb.init[None], cache[:-1]], axis=0)
    return float((tb.R * best).sum() + ((cache & ~prev) * tb.L[None]).sum())


def fits_memory(tb: Tables, cache: np.ndarray) -> bool:
    """True when ``cache`` (T, S, M) fits every server's GPU memory in every slot
    (``sum_m z_km c_tkm <= 1``, to 1e-9): the check every MILP move's result passes before
    its cost is compared."""
    return not ((cache * tb.z[None]).sum(axis=2) > 1 + 1e-9).any()


def repair(tb: Tables, age: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Memory-feasible cache from DP trajectories: per (t, k) keep held models by decreasing
    ``score / z`` while they fit (vectorised prefix fill, then a second pass for leftovers)."""
    held = (age >= 0) & tb.ok[None]
    z = np.broadcast_to(tb.z[None], held.shape)
    prio = np.where(held, score / np.maximum(z, 1e-300), -np.inf)
    order = np.argsort(-prio, axis=2, kind="stable")
    zs = np.take_along_axis(np.where(held, z, 0.0), order, axis=2)
    fits = np.cumsum(zs, axis=2) <= 1.0 + 1e-12
    keep_sorted = fits & np.take_along_axis(held, order, axis=2)
    keep = np.zeros_like(held)
    np.put_along_axis(keep, order, keep_sorted, axis=2)
    return keep


def improve(tb: Tables, cache: np.ndarray, deadline: float, sweeps: int = 3) -> np.ndarray:
    """Block coordinate descent on the true cost (module docstring); no compute capacity."""
    cache = cache.copy()
    T, S, M = cache.shape
    H = tb.H
    q = tb.q
    size_used = (cache * tb.z[None]).sum(axis=2)  # (T, S)
    into = [np.nonzero(tb.pk == k)[0] for k in range(S)]
    rows = np.arange(T)
    for _ in range(sweeps):
        changed = False
        for m in range(M):
            if time.perf_counter() > deadline:
                return cache
            for k in range(S):
                if not tb.ok[k, m]:
                    continue
                age = cache_age(cache[:, :, m:m + 1], H)[:, :, 0]  # (T, S)
                unit = tb.b[:, :, m, :][rows[:, None], np.arange(tb.ps.size)[None, :],
                                        np.maximum(age[:, tb.pk], 0)]
                unit = np.where(cache[:, tb.pk, m], unit, np.inf)  # (T, Np)
                unit_other = np.where(tb.pk[None, :] == k, np.inf, unit)
                alt = np.full((T, S), q[m])
                np.minimum.at(alt.T, tb.ps, unit_other.T)
                pk_pairs = into[k]
                hs = tb.ps[pk_pairs]
                Rk = tb.R[:, hs, m]  # (T, n)
                val = (Rk[..., None] * np.minimum(
                    0.0, tb.b[:, pk_pairs, m, :] - alt[:, hs][..., None])).sum(axis=1)
                allowed = size_used[:, k] - cache[:, k, m] * tb.z[k, m] + tb.z[k, m] <= 1 + 1e-12
                cost, new_age = trajectory_dp(val[:, None, :], tb.L[k, m:m + 1],
                                              tb.init[k, m:m + 1], allowed[:, None])
                cur = cache[:, k, m]
                a = np.maximum(age[:, k], 0)
                prev = np.concatenate([[tb.init[k, m]], cur[:-1]])
                cur_cost = float(np.where(cur, val[rows, a], 0.0).sum()
                                 + (cur & ~prev).sum() * tb.L[k, m])
                if cost[0] < cur_cost - 1e-9 * (1.0 + abs(cur_cost)):
                    new = new_age[:, 0] >= 0
                    size_used[:, k] += (new.astype(float) - cur) * tb.z[k, m]
                    cache[:, k, m] = new
                    changed = True
        if not changed:
            break
    return cache


def allocation_of(inst: CachingInstance, obj: CachingObjective, cache: np.ndarray
                  ) -> tuple[CachingAllocation, float]:
    """The allocation of a cache trajectory (routing by :func:`.policies.route_given_cache`) and
    its cost by the evaluator's formula (edge + cloud + loads)."""
    edge, cloud = route_given_cache(inst, obj, cache)
    alloc = CachingAllocation(cache=cache, edge=edge, cloud=cloud)
    _, G = context_table(inst)
    age = cache_age(cache, inst.context_window)
    acc = np.where(age >= 0, np.take_along_axis(G, np.maximum(age, 0)[..., None], axis=3)[..., 0],
                   0.0)
    unit = edge_cost(inst, obj)[None] - obj.accuracy * acc[:, None, :, :]
    prev = np.concatenate([inst.initial_cache[None], cache[:-1]], axis=0)
    cost = float((edge * unit).sum() + (cloud * cloud_cost(inst, obj)[None, None, :]).sum()
                 + ((cache & ~prev) * load_cost(inst, obj)[None]).sum())
    return alloc, cost


_EXTRA = ("max_iter", "improve_sweeps", "repair_every", "grid")
NOTE = ("Lagrangian decomposition (demand and compute rows dualised, cache copied into exact "
        "per-(slot, server) memory knapsacks; exact per-(server, model) trajectory DPs): bound = "
        "best Lagrangian value, objective = repaired primal")


def subgradient(tb: Tables, pi: np.ndarray, lam: np.ndarray, nu: np.ndarray, ub: float,
                deadline: float, max_iter: int, target: float,
                primal: Any = None, every: int = 10, grid: int = 240, patience: int = 15
                ) -> tuple[float, int]:
    """Polyak subgradient ascent on the decomposition bound ``L(pi, lam, nu)`` (in place).

    Step ``theta (UB - L) / |g|^2`` with ``theta`` halved after ``patience`` iterations
    without a new best (15 suits runs of a few hundred iterations; over 3,000 iterations on
    4 x 15 x 25 from a cold start, 50 reached 4224 against 4014 with 15);
    ``primal(ev) -> UB`` (optional) is called every ``every`` iterations. Returns the best
    bound and the iteration count; stops at ``deadline``, ``max_iter``, or when
    ``(UB - LB) / UB <= target``. On return ``pi, lam, nu`` hold the last iterate.
    """
    T, S, _ = tb.R.shape
    lb, theta, stall, it = -math.inf, 1.0, 0, 0
    zero = np.zeros((T, S))
    while it < max_iter and time.perf_counter() < deadline:
        ev = lagrangian(tb, pi, zero, nu, lam, grid)
        it += 1
        if not math.isfinite(lb) or ev.value > lb + 1e-12 * max(1.0, abs(lb)):
            lb, stall = ev.value, 0
        else:
            stall += 1
            if stall >= patience:
                theta, stall = theta / 2, 0
        if primal is not None and (it % every == 1 or every == 1):
            ub = min(ub, primal(ev))
        if relative_gap(ub, lb) <= target or theta < 1e-4:
            break
        assert ev.g_lam is not None
        norm = float((ev.g_pi ** 2).sum() + (ev.g_lam ** 2).sum() + (ev.g_nu ** 2).sum())
        if norm <= 0:  # every relaxed row holds: the bound is the optimum
            break
        step = theta * (ub - ev.value) / norm if math.isfinite(ub) else 1.0 / math.sqrt(norm)
        pi += step * ev.g_pi
        lam += step * ev.g_lam
        nu[...] = np.maximum(0.0, nu + step * ev.g_nu)
    return lb, it


class _Primal:
    """Best primal cache so far: memory repair of DP trajectories + coordinate descent."""

    def __init__(self, inst: CachingInstance, obj: CachingObjective, tb: Tables) -> None:
        self.inst, self.obj, self.tb = inst, obj, tb
        self.ub = math.inf
        self.cache = np.zeros(inst.requests.shape, dtype=bool)
        self.offer(self.cache, 0, 0.0)

    def offer(self, cache: np.ndarray, sweeps: int, until: float) -> float:
        if not self.tb.compute:
            if sweeps:
                cache = improve(self.tb, cache, until, sweeps)
            cost = cache_cost(self.tb, cache)
        else:
            cost = allocation_of(self.inst, self.obj, cache)[1]
        if cost < self.ub:
            self.ub, self.cache = cost, cache
        return self.ub

    def from_dp(self, ev: _Eval, sweeps: int, until: float) -> float:
        return self.offer(repair(self.tb, ev.age, ev.score), sweeps, until)

    def polish(self, until: float, cache: np.ndarray | None = None,
               min_gain: float = 0.0) -> float:
        """Alternate pair moves (:func:`.local_search.pair_search`) and coordinate-descent
        sweeps on ``cache`` (default: the best one) until neither gains or ``until``, offering
        every result; no compute capacity. ``min_gain`` > 0 also stops once a round gains less
        than that fraction of the cost (the last rounds' gains are small and each round scans
        every pair: a caller with stronger moves spends the time better)."""
        if self.tb.compute:
            return self.ub
        cur = self.cache if cache is None else cache
        cost = cache_cost(self.tb, cur)
        while time.perf_counter() < until:
            cur = improve(self.tb, pair_search(self.tb, cur, until, 1), until, 1)
            new = cache_cost(self.tb, cur)
            self.offer(cur, 0, until)
            if new >= cost - max(1e-9, min_gain) * (1.0 + abs(cost)):
                break
            cost = new
        return self.ub


def _finish(inst: CachingInstance, obj: CachingObjective, prim: _Primal, lb: float,
            target: float, name: str, t0: float, build_s: float, it: int, message: str,
            extra: dict[str, Any] | None = None) -> Result:
    alloc, objective = allocation_of(inst, obj, prim.cache)
    gap = relative_gap(objective, lb)
    solve_s = time.perf_counter() - t0 - build_s
    logger.info("%s: %d iterations, bound %.6g, objective %.6g, gap %.3g, %.1f s", name, it, lb,
                objective, gap, solve_s)
    return Result(termination=Termination.OPTIMAL if gap <= target else Termination.FEASIBLE,
                  has_solution=True, objective=objective, bound=lb, gap=gap, allocation=alloc,
                  stats=SolveStats(backend=name, build_seconds=build_s, solve_seconds=solve_s,
                                   iterations=it, extra=extra or {}),
                  message=message)


def _checked(inst: CachingInstance, spec: CachingSpec, options: SolveOptions | None, name: str,
             allowed: tuple[str, ...]) -> tuple[SolveOptions, Result | None]:
    """The options (``extra`` keys checked against ``allowed``: UnknownNameError otherwise)
    and the error Result of :func:`_unsupported` (None when the method applies)."""
    from aigc_opt.errors import UnknownNameError

    opts = checked_options(options)
    for key in opts.extra:
        if key not in allowed:
            raise UnknownNameError(f"{name} option", key, allowed)
    return opts, _unsupported(inst, spec, name)


#: Largest knapsack ``extra["grid"]`` (capacity units per server memory): the DP keeps a
#: (models, slots x servers, grid + 1) boolean table, 0.5 GB for 50 models x 10 servers x
#: 100 slots at this grid (12 MB at the default 240).
GRID_MAX = 10_000


def extra_option(opts: SolveOptions, name: str, key: str, default: float, unit: str = "-",
                 lo: float | None = None, hi: float | None = None, *,
                 integer: bool = False) -> Any:
    """One numeric ``opts.extra[key]`` of caching method ``name`` (``default`` when absent),
    checked by :func:`aigc_opt.validate.check_scalar` before any cast.

    Parameters
    ----------
    opts : SolveOptions
        The method's options (keys already checked by :func:`_checked`).
    name, key : str
        Method name and option key; a bad value raises :class:`ValidationError` on the field
        ``"<name> option extra['<key>']"``.
    default : float
        Value used when ``key`` is absent.
    unit : str
        Unit of the option (``"-"``: dimensionless, e.g. a fraction of the time limit).
    lo, hi : float or None
        Inclusive bounds.
    integer : bool
        A whole number is required (returned as ``int``); strings and bools never pass.

    Returns
    -------
    float or int
        The checked value.
    """
    return check_scalar(f"{name} option extra[{key!r}]", opts.extra.get(key, default), unit,
                        lo, hi, integer=integer)


def extra_flag(opts: SolveOptions, name: str, key: str, default: bool) -> bool:
    """One ``True``/``False`` ``opts.extra[key]`` of caching method ``name`` (see
    :func:`extra_option`)."""
    return check_bool(f"{name} option extra[{key!r}]", opts.extra.get(key, default))


def _unsupported(inst: CachingInstance, spec: CachingSpec, name: str) -> Result | None:
    if spec.extra_constraints(inst):
        return Result(termination=Termination.ERROR, has_solution=False,
                      stats=SolveStats(backend=name),
                      message=f"{name} does not support extra constraints")
    return None


def solve_lagrangian(inst: CachingInstance, spec: CachingSpec, options: SolveOptions | None = None
                     ) -> Result:
    """Certified bound (Lagrangian decomposition, :func:`subgradient`) and repaired primal.

    The subgradient stops at 75 % of ``options.time_limit`` (default 60 s), at
    ``options.mip_gap`` (default 1e-4) or after ``extra["max_iter"]`` iterations (default
    5000); the rest of the time polishes the best cache (coordinate descent and pair moves,
    :meth:`_Primal.polish`). ``extra`` may also set
    ``improve_sweeps`` (coordinate-descent sweeps per repair, default 1), ``repair_every``
    (iterations between primal repairs, default 10) and ``grid`` (knapsack capacity units,
    default 240). Each is a whole number (``max_iter``, ``repair_every``, ``grid`` >= 1,
    ``grid`` <= :data:`GRID_MAX`; ``improve_sweeps`` >= 0): anything else raises
    :class:`~aigc_opt.errors.ValidationError` on the field ``"lagrangian option extra['<key>']"``.
    """
    opts, bad = _checked(inst, spec, options, "lagrangian", _EXTRA)
    if bad is not None:
        return bad
    t0 = time.perf_counter()
    limit = 60.0 if opts.time_limit is None else float(opts.time_limit)
    deadline = t0 + limit
    target = 1e-4 if opts.mip_gap is None else float(opts.mip_gap)
    max_iter = extra_option(opts, "lagrangian", "max_iter", 5000, "iteration", 1, integer=True)
    sweeps = extra_option(opts, "lagrangian", "improve_sweeps", 1, "sweep", 0, integer=True)
    every = extra_option(opts, "lagrangian", "repair_every", 10, "iteration", 1, integer=True)
    grid = extra_option(opts, "lagrangian", "grid", 240, "-", 1, GRID_MAX, integer=True)
    obj = spec.objective
    tb = tables(inst, obj)
    build_s = time.perf_counter() - t0
    T, S, M = inst.requests.shape
    prim = _Primal(inst, obj, tb)
    pi = np.broadcast_to(tb.q[None, None, :], (T, S, M)).copy()
    lam, nu = np.zeros((T, S, M)), np.zeros((T, S))
    lb, it = subgradient(tb, pi, lam, nu, math.inf, t0 + 0.75 * limit,
                         max_iter, target, lambda ev: prim.from_dp(ev, sweeps, deadline),
                         every, grid)
    if not tb.compute and relative_gap(prim.ub, lb) > target:
        prim.offer(prim.cache, 50, deadline)
        prim.polish(deadline)
    return _finish(inst, obj, prim, lb, target, "lagrangian", t0, build_s, it,
                   f"{NOTE}; {it} iterations")


register_algorithm(CachingSpec, "lagrangian", solve_lagrangian)
