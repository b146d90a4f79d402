r"""Stackelberg pricing: a leader prices a resource, followers best-respond.

**Single leader.** The leader (edge operator / ASP) sets a unit price ``p`` for a resource (GPU
time, bandwidth, denoising steps) it provides at unit cost ``c > 0`` with capacity ``C``.
Follower i maximises :math:`a_i \ln(1 + x_i) - p x_i` subject to its budget ``p x_i <= B_i``:

.. math::

    x_i(p) = \min\big(\max(0, a_i/p - 1),\; B_i/p\big).

The leader maximises :math:`\Pi(p) = (p - c) \sum_i x_i(p)` subject to ``sum_i x_i(p) <= C``.
Between consecutive breakpoints ``{a_i} U {a_i - B_i}`` the active set ``I`` (interior) and the
budget-bound set ``B`` are fixed, and with ``S = sum_I a_i + sum_B B_i``, ``n = |I|``

.. math::

    \Pi(p) = S - n p - cS/p + cn, \qquad \Pi'' = -2cS/p^3 < 0,

concave on each piece with stationary point :math:`p = \sqrt{cS/n}` (when every follower is
active and no budget binds: :math:`p^* = \sqrt{c \sum_i a_i / N}`). Demand
``D(p) = S/p - n`` is decreasing, so capacity means ``p >= p_C`` with ``p_C = S/(C + n)`` on its
piece. Method ``"breakpoints"`` evaluates every piece's clipped stationary point with prefix
sums (O(N log N), exact); ``"closed_form"`` is the all-active formula (checked for validity);
the heuristic ``"price_grid"`` is a log-spaced grid baseline.

**Several leaders** (:class:`MultiLeaderInstance`). M ASPs j with unit cost ``c_j`` and
capacity ``C_j`` set prices ``p_j``; user i buys from all of them,
:math:`\max \sum_j a_{ij}\ln(1 + x_{ij}) - p_j x_{ij}` s.t. :math:`\sum_j p_j x_{ij} \le B_i`,
so the leaders compete for each user's budget:
``x_ij = max(0, a_ij mu_i / p_j - 1)`` with ``mu_i = 1/(1 + lambda_i)`` set so that the budget
holds (``mu_i = 1`` when it is slack). **Equilibrium concept:** a Nash equilibrium in prices among
the leaders, each anticipating the followers' best responses (a Stackelberg-Nash equilibrium):
no leader can raise its profit ``(p_j - c_j) sum_i x_ij`` by a unilateral price change that
respects its capacity. **How it is found:** Gauss-Seidel best-response iteration; each leader's
best response is a log-spaced grid search over its price followed by bounded Brent refinement
around the best grid point, with exact follower solves; it stops when no price moves by more
than ``tol`` relative (termination OPTIMAL = converged; otherwise FEASIBLE with the last
prices). A leader's profit is not concave in its own price (users drop in and out, budgets
bind), so best responses can jump and the iteration can cycle (we saw 2-cycles on about 1 in 12
random instances): a pure equilibrium need not exist. The evaluator checks the equilibrium
property independently (:func:`aigc_opt.problems.incentives.evaluate.leader_deviation_gains`).
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np

from aigc_opt.backend import SolveOptions
from aigc_opt.cases import CaseKind, register_case
from aigc_opt.result import Result, SolveStats, Termination
from aigc_opt.solve import HeuristicNote, register_algorithm, register_heuristic

from .data import (
    MultiLeaderInstance,
    MultiLeaderSpec,
    StackelbergAllocation,
    StackelbergInstance,
    StackelbergSpec,
)

logger = logging.getLogger(__name__)


def follower_demand(inst: StackelbergInstance, p: float) -> np.ndarray:
    """``x_i(p) = min(max(0, a_i/p - 1), B_i/p)``."""
    return np.minimum(np.maximum(inst.valuation / p - 1.0, 0.0), inst.budget / p)


def _pieces(inst: StackelbergInstance) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Piece edges (K+1,) and per piece ``n = |I|``, ``S = sum_I a + sum_B B`` (K,)."""
    a, B = inst.valuation, inst.budget
    key = a - B
    edges = np.unique(np.concatenate([[0.0], a, key[key > 0]]))
    edges = np.append(edges, np.inf)
    mid = np.where(np.isfinite(edges[1:]), 0.5 * (edges[:-1] + edges[1:]), edges[:-1] + 1.0)
    oa = np.sort(a)
    ca = np.concatenate([[0.0], np.cumsum(oa)])
    ok = np.argsort(key)
    sk = key[ok]
    fin = np.isfinite(B[ok])
    cka = np.concatenate([[0.0], np.cumsum(np.where(fin, a[ok], 0.0))])
    ckb = np.concatenate([[0.0], np.cumsum(np.where(fin, B[ok], 0.0))])
    N = a.size
    ia = np.searchsorted(oa, mid, side="right")
    ib = np.searchsorted(sk, mid, side="right")
    n_a, s_a = N - ia, ca[-1] - ca[ia]
    n_b, s_ab, s_b = N - ib, cka[-1] - cka[ib], ckb[-1] - ckb[ib]
    return edges, (n_a - n_b).astype(float), s_a - s_ab + s_b, np.asarray(mid)


def profit_and_sold(inst: StackelbergInstance, prices: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Leader profit ``(p - c) sum_i x_i(p)`` and units sold at each price of ``prices`` (the
    evaluator's formulas, exact demand; chunked so that memory stays below ~16 MB)."""
    p = np.asarray(prices, dtype=np.float64).reshape(-1)
    sold = np.empty(p.size)
    step = max(1, 2_000_000 // max(inst.n_followers, 1))
    for i in range(0, p.size, step):
        q = p[i:i + step, None]
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            x = np.minimum(np.maximum(inst.valuation[None, :] / q - 1.0, 0.0),
                           inst.budget[None, :] / q)
        sold[i:i + step] = x.sum(axis=1)
    with np.errstate(over="ignore", invalid="ignore"):
        return (p - inst.unit_cost) * sold, sold


def capacity_price(inst: StackelbergInstance) -> float:
    """Smallest price with ``sum_i x_i(p) <= C`` (0 without a capacity): exact per piece, then
    moved up by a few ulps if rounding leaves the demand above ``C``."""
    if not math.isfinite(inst.capacity):
        return 0.0
    edges, n, S, _ = _pieces(inst)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        p = S / (inst.capacity + n)
        ok = (p >= edges[:-1] * (1.0 - 1e-12)) & (p <= edges[1:] * (1.0 + 1e-12)) & (S > 0)
    pc = float(p[ok].max(initial=0.0))
    if pc <= 0.0:
        return 0.0
    for _ in range(64):  # demand is decreasing in p: step up until it fits
        if profit_and_sold(inst, np.array([pc]))[1][0] <= inst.capacity:
            break
        pc = float(np.nextafter(pc, math.inf)) if _ < 8 else pc * (1.0 + 2.0 ** (_ - 60))
    return pc


#: Candidates kept from the piecewise formula for the exact re-evaluation.
_TOP = 64


def _leader_price(inst: StackelbergInstance) -> float:
    """Exact maximiser of the leader's profit over ``[max(c, p_C), max a]``.

    Every smooth piece's clipped stationary point ``sqrt(c) sqrt(S/n)`` and both piece ends are
    candidates (the profit is concave on each piece). The piece formula ranks them; the best
    ``_TOP`` and their one-ulp neighbours inside the piece are then re-scored with the exact
    demand (the evaluator's formula) and the best price that meets the capacity is returned.
    The neighbours matter at extreme scales: at a breakpoint ``a_i - B_i`` that rounds to
    ``a_i`` (``a_i = 1e300, B_i = 10``) the rounded demand ``a_i/p - 1`` cancels to 0, while one
    ulp below it the budget-bound demand ``B_i/p`` is exact.
    """
    c = inst.unit_cost
    lo_all, hi_all = max(c, capacity_price(inst)), float(inst.valuation.max())
    if lo_all >= hi_all:
        return hi_all  # no profitable sale: price everyone out
    edges, n, S, _ = _pieces(inst)
    lo = np.maximum(edges[:-1], lo_all)
    hi = np.minimum(edges[1:], hi_all)
    keep = lo <= hi
    lo, hi, n, S = lo[keep], hi[keep], n[keep], S[keep]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        stat = np.where(n > 0, math.sqrt(c) * np.sqrt(S / np.where(n > 0, n, 1.0)), np.inf)
        cand = np.concatenate([np.clip(stat, lo, hi), lo, hi])
        S3, n3 = np.tile(S, 3), np.tile(n, 3)
        approx = S3 - n3 * cand - c * (S3 / cand) + c * n3
    approx = np.where(np.isnan(approx), -np.inf, approx)
    top = cand[np.argsort(-approx, kind="stable")[:_TOP]]
    pool = np.unique(np.concatenate([top, np.nextafter(top, 0.0), np.nextafter(top, np.inf)]))
    pool = pool[(pool >= lo_all) & (pool <= hi_all) & (pool > 0)]
    if pool.size == 0:
        return hi_all
    profit, sold = profit_and_sold(inst, pool)
    ok = np.isfinite(profit) & (sold <= inst.capacity)
    if not ok.any():
        return hi_all
    profit = np.where(ok, profit, -np.inf)
    return float(pool[int(np.argmax(profit))])


def _result(inst: StackelbergInstance, p: float, name: str, t0: float, term: Termination,
            msg: str = "") -> Result:
    x = follower_demand(inst, p)
    obj = float((p - inst.unit_cost) * x.sum())
    alloc = StackelbergAllocation(price=np.array([p]), demand=x[:, None])
    bound = obj if term is Termination.OPTIMAL else math.nan
    return Result(term, True, objective=obj, bound=bound,
                  gap=0.0 if term is Termination.OPTIMAL else math.nan,
                  values={"price": np.array([p]), "demand": x}, allocation=alloc,
                  stats=SolveStats(name, solve_seconds=time.perf_counter() - t0), message=msg)


def solve_breakpoints(inst: StackelbergInstance, spec: StackelbergSpec,
                      options: SolveOptions | None = None) -> Result:
    """Exact Stackelberg equilibrium by searching every smooth piece of the profit."""
    t0 = time.perf_counter()
    return _result(inst, _leader_price(inst), "breakpoints", t0, Termination.OPTIMAL)


def solve_closed_form(inst: StackelbergInstance, spec: StackelbergSpec,
                      options: SolveOptions | None = None) -> Result:
    """``p* = sqrt(c sum a / N)``; ERROR (no solution) unless every follower is active at
    ``p*``, no budget binds and the capacity holds. It maximises the all-active piece only, so
    the result is FEASIBLE (use ``"breakpoints"`` for the global optimum)."""
    t0 = time.perf_counter()
    a, B = inst.valuation, inst.budget
    p = math.sqrt(inst.unit_cost * float(a.sum()) / a.size)
    valid = (p < a.min() and p >= float((a - B).max()) and p > inst.unit_cost
             and float(follower_demand(inst, p).sum()) <= inst.capacity)
    if not valid:
        return Result(Termination.ERROR, False, message="closed form does not apply at "
                      f"p={p:.6g} (a follower inactive or budget/capacity binding)",
                      stats=SolveStats("closed_form", solve_seconds=time.perf_counter() - t0))
    return _result(inst, p, "closed_form", t0, Termination.FEASIBLE)


#: Grid prices whose follower demands :func:`price_grid` evaluates per block (bounds memory and
#: the step between deadline checks).
_GRID_BLOCK = 8


def price_grid(inst: StackelbergInstance, spec: StackelbergSpec, seed: int = 0,
               options: SolveOptions | None = None) -> StackelbergAllocation | HeuristicNote:
    """Baseline: best of 64 log-spaced prices in ``[c, max a]`` that respect the capacity.

    ``options.time_limit`` is a deadline: the grid is scanned from the lowest price in blocks
    and the scan stops (with a note) once it has passed, keeping the best price seen (at least
    the first block's).
    """
    t0 = time.perf_counter()
    limit = options.time_limit if options is not None else None
    deadline = math.inf if limit is None else t0 + limit
    grid = np.geomspace(inst.unit_cost, max(float(inst.valuation.max()), inst.unit_cost * 1.01),
                        64)
    grid = grid[grid >= capacity_price(inst)] if grid.size else grid
    profit = np.full(grid.size, -np.inf)
    done = 0
    for lo in range(0, grid.size, _GRID_BLOCK):
        if lo and time.perf_counter() >= deadline:
            break
        g = grid[lo:lo + _GRID_BLOCK]
        x = np.minimum(np.maximum(inst.valuation[None, :] / g[:, None] - 1.0, 0.0),
                       inst.budget[None, :] / g[:, None])
        profit[lo:lo + g.size] = (g - inst.unit_cost) * x.sum(axis=1)
        done = lo + g.size
    p = float(grid[int(np.argmax(profit[:done]))])
    alloc = StackelbergAllocation(price=np.array([p]), demand=follower_demand(inst, p)[:, None])
    if done < grid.size:
        return HeuristicNote(alloc, f"stopped at the time limit after {done} of {grid.size} "
                                    "grid prices")
    return alloc


register_algorithm(StackelbergSpec, "breakpoints", solve_breakpoints)
register_algorithm(StackelbergSpec, "closed_form", solve_closed_form)
register_heuristic(StackelbergSpec, "price_grid", price_grid)


# ------------------------------------------------------------------------------ multi-leader
def multi_demand(a: np.ndarray, budget: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Users' exact demands ``x_ij = max(0, a_ij mu_i / p_j - 1)``.

    Leader j is active for user i when ``mu_i > t_ij = p_j / a_ij``. With the r cheapest
    thresholds active, spending is ``mu A_r - P_r`` (prefix sums of ``a`` and ``p`` in threshold
    order), so the budget binds at ``mu_r = (B_i + P_r) / A_r``; the valid r has ``mu_r`` in
    ``[t_(r), t_(r+1)]``. ``mu_i = 1`` (lambda = 0) when the budget is slack.
    """
    N, M = a.shape
    t = p[None, :] / a
    order = np.argsort(t, axis=1)
    ts = np.take_along_axis(t, order, axis=1)
    A = np.cumsum(np.take_along_axis(a, order, axis=1), axis=1)
    P = np.cumsum(p[order], axis=1)
    mu_r = (budget[:, None] + P) / A
    nxt = np.concatenate([ts[:, 1:], np.full((N, 1), np.inf)], axis=1)
    ok = (mu_r >= ts) & (mu_r <= nxt)
    r = np.argmax(ok, axis=1)
    mu = np.where(ok.any(axis=1), mu_r[np.arange(N), r], 1.0)
    mu = np.minimum(mu, 1.0)
    return np.maximum(a * mu[:, None] / p[None, :] - 1.0, 0.0)


def leader_profit(inst: MultiLeaderInstance, p: np.ndarray, j: int) -> float:
    """Profit of leader j at prices p (``-inf`` if its capacity is exceeded)."""
    x = multi_demand(inst.valuation, inst.budget, p)[:, j]
    if x.sum() > inst.capacity[j] * (1 + 1e-12):
        return -math.inf
    return float((p[j] - inst.unit_cost[j]) * x.sum())


def own_capacity_price(inst: MultiLeaderInstance, p: np.ndarray, j: int) -> float:
    """Smallest price of leader j (others fixed) at which its demand fits its capacity
    (``c_j`` if it already fits there): bisection, demand being decreasing in ``p_j``."""
    c, cap = float(inst.unit_cost[j]), float(inst.capacity[j])
    q = p.copy()

    def sold(x: float) -> float:
        q[j] = x
        return float(multi_demand(inst.valuation, inst.budget, q)[:, j].sum())

    if not math.isfinite(cap) or sold(c) <= cap:
        return c
    lo, hi = c, float(inst.valuation[:, j].max())
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if sold(mid) > cap:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-15 * hi:
            break
    return hi


def best_response(inst: MultiLeaderInstance, p: np.ndarray, j: int, grid: int,
                  deadline: float = math.inf) -> float | None:
    """Leader j's best price against ``p_{-j}``: log grid on ``[max(c_j, p_cap), max_i a_ij]``
    (``p_cap`` the capacity-clearing price) + bounded Brent around the best grid point. None
    when ``deadline`` (a ``time.perf_counter()`` value) passes during the grid search."""
    from scipy.optimize import minimize_scalar  # lazy: slow to import

    lo_all = own_capacity_price(inst, p, j)
    top = float(inst.valuation[:, j].max())
    if top <= lo_all:
        return max(top, lo_all)
    prices = np.geomspace(lo_all, top, grid)
    q = p.copy()

    def f(x: float) -> float:
        q[j] = x
        return float((x - inst.unit_cost[j])
                     * multi_demand(inst.valuation, inst.budget, q)[:, j].sum())

    vals = np.empty(grid)
    for i, x in enumerate(prices):  # one exact follower solve per price
        if i % 64 == 63 and time.perf_counter() > deadline:
            return None
        vals[i] = f(float(x))
    k = int(np.argmax(vals))
    lo, hi = prices[max(k - 1, 0)], prices[min(k + 1, grid - 1)]
    r = minimize_scalar(lambda x: -f(float(x)), bounds=(lo, hi), method="bounded",
                        options={"xatol": 1e-12 * max(1.0, hi)})
    return float(r.x) if -float(r.fun) >= vals[k] else float(prices[k])


def _profits(inst: MultiLeaderInstance, p: np.ndarray) -> np.ndarray:
    return (p - inst.unit_cost) * multi_demand(inst.valuation, inst.budget, p).sum(axis=0)


#: Largest relative profit gain of a leader's own best response at a reported equilibrium.
EQUILIBRIUM_RTOL = 1e-6


def solve_best_response(inst: MultiLeaderInstance, spec: MultiLeaderSpec,
                        options: SolveOptions | None = None) -> Result:
    """Gauss-Seidel best-response iteration to a Stackelberg-Nash price equilibrium."""
    t0 = time.perf_counter()
    limit = None if options is None else options.time_limit
    deadline = math.inf if limit is None else t0 + float(limit)
    M = inst.valuation.shape[1]
    p = 2.0 * inst.unit_cost
    converged = timed_out = False
    rounds = 0
    for rounds in range(1, spec.max_rounds + 1):  # noqa: B007 (rounds reported)
        old = p.copy()
        for j in range(M):
            br = best_response(inst, p, j, spec.grid, deadline)
            if br is None or time.perf_counter() > deadline:
                timed_out = True
                break
            p[j] = br
        if timed_out:
            break
        if np.max(np.abs(p - old) / np.maximum(old, 1.0)) <= spec.tol:
            converged = True
            break
    # Others moved after a capacity-bound leader priced at its limit: re-clear capacities.
    for _ in range(50):
        raised = False
        for jj in np.nonzero(np.isfinite(inst.capacity))[0]:
            pc = own_capacity_price(inst, p, int(jj))
            if pc > p[jj]:
                p[jj], raised = pc, True
        if not raised:
            break
    x = multi_demand(inst.valuation, inst.budget, p)
    profit = (p - inst.unit_cost) * x.sum(axis=0)
    # 'optimal' (an equilibrium) only when no leader's own best response gains: a loose
    # ``tol`` (1.0) stopped after one round with a leader still 0.042 better off by moving
    gain = math.nan
    if converged:
        gains = np.zeros(M)
        for j in range(M):
            br = best_response(inst, p, j, spec.grid, deadline)
            if br is None:
                gains[j] = math.inf
                break
            q = p.copy()
            q[j] = br
            gains[j] = (_profits(inst, q)[j] - profit[j]) / max(1.0, abs(float(profit[j])))
        gain = float(gains.max())
    stable = converged and gain <= EQUILIBRIUM_RTOL
    why = ("converged" if converged else "time limit" if timed_out else "not converged")
    if converged and gain == math.inf:
        why += " but the equilibrium check hit the time limit"
    elif converged and not stable:
        why += (f" (tol {spec.tol:g}) but a leader gains {gain:.3g} relative by moving: not an "
                "equilibrium")
    return Result(Termination.OPTIMAL if stable else Termination.FEASIBLE, True,
                  objective=float(profit.sum()), bound=math.nan, gap=math.nan,
                  values={"price": p.copy(), "demand": x},
                  allocation=StackelbergAllocation(price=p.copy(), demand=x),
                  stats=SolveStats("best_response", solve_seconds=time.perf_counter() - t0,
                                   iterations=rounds, extra={"max_leader_gain": gain}),
                  message=f"{why} in {rounds} rounds")


register_algorithm(MultiLeaderSpec, "best_response", solve_best_response)

register_case(CaseKind(
    sense="max", name="incentives.stackelberg",
    make_instance=lambda seed, n_followers=20, budgets=True, unit_cost=1.0: (
        StackelbergInstance.generate(n_followers, seed=seed, budgets=budgets,
                                     unit_cost=unit_cost)),
    make_spec=lambda **params: StackelbergSpec(**params),
    default_methods=("breakpoints", "price_grid"),  # closed_form: only if all are active
    reference="breakpoints",
    description="single-leader pricing, followers a ln(1+x) - p x with budgets (exact search)",
))
register_case(CaseKind(
    sense="max", name="incentives.stackelberg_multi",
    make_instance=lambda seed, n_users=20, n_leaders=3: MultiLeaderInstance.generate(
        n_users, n_leaders, seed=seed),
    make_spec=lambda **params: MultiLeaderSpec(**params),
    default_methods=("best_response",),
    reference="best_response",
    description="leaders compete in prices for budget-limited users (best-response iteration)",
))
