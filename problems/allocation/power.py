r"""Power allocation over parallel channels: water-filling and minimum power for rate targets.

Channel n has bandwidth ``b_n`` (Hz), power gain ``g_n`` and noise PSD ``N0_n`` (W/Hz); with
transmit power ``p_n`` (W) its rate is ``r_n = b_n log2(1 + p_n / h_n)`` bit/s, where
``h_n = N0_n b_n / g_n`` (W) is the channel's *noise floor*.

``mode="sum_rate"`` (weighted sum-rate maximisation, the water-filling problem):

.. math::

    \max_p \sum_n w_n b_n \log_2(1 + p_n / h_n)
    \quad\text{s.t.}\quad \sum_n p_n \le P,\;\; 0 \le p_n \le \bar p_n .

KKT: ``p_n = clip(w_n b_n nu - h_n, 0, pbar_n)`` with one water level ``nu = 1/(lambda ln 2)``
chosen so that the budget is met. :func:`water_fill` finds nu by bisection (to 1e-12 relative,
batched over many instances) and then polishes it exactly from the active set;
:func:`water_fill_sorted` (used by ``closed_form``) finds it without iterating, from the sorted
breakpoints. The dual function
``D(lambda) = lambda P + sum_n max_{0<=p<=pbar} [w b log2(1+p/h) - lambda p]`` is an upper bound
on the optimum for every ``lambda >= 0``; at the returned level it equals the primal value.

``mode="min_power"`` (minimum total power meeting per-user rate targets ``r_n``): the constraints
decouple and ``p_n = (2^{r_n/b_n} - 1) h_n`` exactly (infeasible when it exceeds ``pbar_n``).
The total power budget ``P`` is not imposed in this mode (it is what is minimised).

Both modes have a CVXPY model (exponential cone through ``cp.log``) as an independent check.

The instance, spec and allocation types are in :mod:`aigc_opt.problems.allocation.data`; this
module registers the CVXPY model as the spec's builder, the exact method as algorithm
``closed_form`` and the baselines as heuristics.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np

from aigc_opt.backend import SolveOptions
from aigc_opt.cases import CaseKind, register_case
from aigc_opt.errors import ValidationError
from aigc_opt.explain import GridLabels
from aigc_opt.explain_convex import convex_meta
from aigc_opt.program import ConvexProgram
from aigc_opt.result import Result, SolveStats, Termination, relative_gap
from aigc_opt.solve import register_algorithm, register_heuristic
from aigc_opt.spec import register_builder

from . import jit as _jit
from .data import LN2, PowerAllocation, PowerInstance, PowerSpec

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------- water-filling
def water_fill(floor: np.ndarray, total: np.ndarray | float, *, weight: np.ndarray | None = None,
               cap: np.ndarray | None = None, rtol: float = 1e-12, max_iter: int = 200,
               ) -> tuple[np.ndarray, np.ndarray]:
    """Weighted, capped water-filling, batched over leading axes.

    Solves ``max sum_n a_n log(1 + p_n / h_n)`` s.t. ``sum_n p_n <= P``, ``0 <= p_n <= c_n`` for
    each row: ``p_n = clip(a_n nu - h_n, 0, c_n)`` with ``sum_n p_n = P`` (or all capped).

    Parameters
    ----------
    floor : ndarray, shape (..., N)
        Noise floors h_n > 0, W.
    total : float or ndarray, shape (...)
        Budgets P > 0, W.
    weight : ndarray, shape (..., N), optional
        a_n > 0 (default 1).
    cap : ndarray, shape (..., N), optional
        c_n > 0, may be inf (default inf).
    rtol : float
        Bisection stops when the bracket on nu is below ``rtol`` relative.
    max_iter : int, default 200
        Most bisection steps (each halves the bracket); an exact active-set polish follows.

    Returns
    -------
    power : ndarray, shape (..., N)
        Optimal powers, W.
    level : ndarray, shape (...)
        Water level nu (inf where every channel is capped and the budget is slack).
    """
    h = np.asarray(floor, dtype=np.float64)
    a = np.ones_like(h) if weight is None else np.broadcast_to(weight, h.shape).astype(np.float64)
    c = np.full_like(h, np.inf) if cap is None else np.broadcast_to(cap, h.shape).astype(np.float64)
    P = np.broadcast_to(np.asarray(total, dtype=np.float64), h.shape[:-1])

    def used(nu: np.ndarray) -> np.ndarray:
        return np.clip(a * nu[..., None] - h, 0.0, c).sum(axis=-1)

    slack = c.sum(axis=-1) <= P
    lo = np.zeros(P.shape)
    hi = ((P[..., None] + h) / a).max(axis=-1)  # every channel alone would hit the budget
    for _ in range(max_iter):
        mid = 0.5 * (lo + hi)
        over = used(mid) > P
        hi = np.where(over, mid, hi)
        lo = np.where(over, lo, mid)
        if np.all(hi - lo <= rtol * hi):
            break
    nu = 0.5 * (lo + hi)
    # exact polish: nu from the active set {0 < a nu - h < c}
    x = a * nu[..., None] - h
    free = (x > 0) & (x < c)
    capped = x >= c
    num = P - np.where(capped, c, 0.0).sum(axis=-1) + np.where(free, h, 0.0).sum(axis=-1)
    den = np.where(free, a, 0.0).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        exact = num / den
    x2 = a * exact[..., None] - h
    same = (den > 0) & (((x2 > 0) & (x2 < c)) == free).all(axis=-1) \
        & ((x2 >= c) == capped).all(axis=-1)
    nu = np.where(same, exact, nu)
    nu = np.where(slack, np.inf, nu)
    p = np.clip(a * nu[..., None] - h, 0.0, c)
    p = np.where(slack[..., None], c, p)
    return p, nu


def water_fill_sorted(floor: np.ndarray, total: float, *, weight: np.ndarray | None = None,
                      cap: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Exact weighted, capped water-filling for one instance by sorting the breakpoints.

    ``S(nu) = sum clip(a nu - h, 0, c)`` is piecewise linear with breakpoints ``h/a`` (channel
    opens) and ``(h + c)/a`` (channel capped); with cumulative sums over the sorted breakpoints,
    ``S = A(nu) nu - H(nu) + C(nu)`` is evaluated at all of them at once, and nu is solved
    linearly on the segment where S crosses P. O(N log N), no iteration; same result as
    :func:`water_fill` (bisection), which the tests check.
    """
    h = np.asarray(floor, dtype=np.float64)
    a = np.ones_like(h) if weight is None else np.asarray(weight, dtype=np.float64)
    c = np.full_like(h, np.inf) if cap is None else np.asarray(cap, dtype=np.float64)
    if c.sum() <= total:
        return c.copy(), math.inf
    s = h / a
    e = (h + c) / a
    so, eo = np.argsort(s), np.argsort(e)
    s_sorted, e_sorted = s[so], e[eo]
    fin = np.isfinite(c[eo])

    def csum(x: np.ndarray) -> np.ndarray:  # prefix sums with a leading 0 (index = count)
        return np.concatenate([[0.0], np.cumsum(x)])

    ca_s, ch_s = csum(a[so]), csum(h[so])
    ca_e = csum(np.where(fin, a[eo], 0.0))
    ch_e = csum(np.where(fin, h[eo], 0.0))
    cc_e = csum(np.where(fin, c[eo], 0.0))
    bp = np.sort(np.concatenate([s_sorted, e_sorted[fin]]))

    def parts(nu: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        i = np.searchsorted(s_sorted, nu, side="right")  # channels open at nu
        j = np.searchsorted(e_sorted, nu, side="right")  # channels capped at nu
        return ca_s[i] - ca_e[j], ch_s[i] - ch_e[j], cc_e[j]

    A, H, C = parts(bp)
    used = A * bp - H + C
    k = int(np.searchsorted(used, total, side="left"))  # first breakpoint with S >= P
    k = max(k - 1, 0)  # S is linear on [bp[k], bp[k+1]] with the set active at bp[k]
    return _segment_powers(h, a, c, s, e, bp, k, total)


def _segment_powers(h: np.ndarray, a: np.ndarray, c: np.ndarray, s: np.ndarray, e: np.ndarray,
                    bp: np.ndarray, k: int, total: float) -> tuple[np.ndarray, float]:
    r"""Powers and level on the segment ``[bp[k], bp[k+1]]``, without cancellation.

    ``nu = (P + H - C) / A`` and ``p = a nu - h`` lose every digit of ``P`` when the budget is
    far below the floors (``P = 1e-300 W`` against ``h ~ 0.1 W``: ``p`` came out ~1e-20 W, a
    budget overrun of 1e280, certify seed 73001182). Here ``nu = bp_k + delta`` with
    ``S(bp_k) = sum_free a (bp_k - s) + sum_capped c`` summed from the small differences
    ``bp_k - s >= 0``, ``delta = (P - S(bp_k)) / A``, ``p = a ((bp_k - s) + delta)`` on the free
    channels: ``sum p = P`` to rounding relative to ``P``. If rounding in the prefix sums
    picked a neighbouring segment (``delta < 0`` or past ``bp[k+1]``), k moves to it, in one
    direction only (a reversal is a rounding tie: the current segment is kept, no cycling).
    """
    step = 0
    while True:
        b = bp[k]
        free = (s <= b) & (e > b)
        capped = e <= b
        d = np.where(free, b - s, 0.0)
        A = float(a[free].sum())
        delta = (total - float((a * d).sum()) - float(c[capped].sum())) / A
        move = -1 if delta < 0 and k > 0 else (
            1 if k + 1 < bp.size and b + delta > bp[k + 1] else 0)
        if move == 0 or move == -step:
            break
        step, k = move, k + move
    p = np.where(capped, c, np.where(free, np.minimum(np.maximum(a * (d + delta), 0.0), c), 0.0))
    return p, float(b + delta)


def weighted_rate(inst: PowerInstance, power: np.ndarray) -> np.ndarray:
    """``w_n b_n log2(1 + p_n/h_n)``, bit/s per channel."""
    return inst.weight * inst.bandwidth_hz * np.log1p(power / inst.noise_floor_w) / LN2


def sum_rate_dual(inst: PowerInstance, budget: float, lam: float) -> float:
    """Dual function of the sum-rate problem at multiplier ``lam`` (bit/s per W): an upper bound.

    ``D(lam) = lam P + sum_n max_{0<=p<=pbar} [w b log2(1+p/h) - lam p]``; the inner maximiser is
    ``clip(w b / (lam ln 2) - h, 0, pbar)``.
    """
    h, a = inst.noise_floor_w, inst.weight * inst.bandwidth_hz
    if lam <= 0:
        p = inst.max_power_w
        if np.isinf(p).any():
            return math.inf
    else:
        p = np.clip(a / (lam * LN2) - h, 0.0, inst.max_power_w)
    return float(lam * budget + (a * np.log1p(p / h) / LN2 - lam * p).sum())


#: Power and SNR below which :func:`least_power` checks the rate it gives (2^-960, far above
#: float64's subnormals, where a product loses significant bits).
_DOUBT = 2.0 ** -960


def least_power(inst: PowerInstance, rate_bps: np.ndarray, rounds: int = 64) -> np.ndarray:
    """Least power (W) per channel meeting ``rate_bps`` (bit/s): ``h expm1(r ln2 / b)``.

    Below the normal float64 range (about 2.2e-308 W: a target of 1e-300 bit/s gives a power
    of ~1e-320 W) that product keeps only a few significant bits, and rounded down it missed
    the target by 3.2e-4 relative. Where the rate ``b log2(1 + p g / (N0 b))`` of the power
    (computed as the evaluator computes it) falls short of a positive target, the power is
    raised by the ratio of target to rate, then by one ulp, up to ``rounds`` times: the
    smallest representable power that meets the target (the rate evaluated in the
    evaluator's order of operations). ``inf`` where it leaves float64. Only powers or SNRs
    below ``2^-960`` are checked: above, the rate misses by a few ulps at most.
    """
    r = np.asarray(rate_bps, dtype=np.float64)
    b, g, n0b = inst.bandwidth_hz, inst.gain, inst.noise_psd_w_per_hz * inst.bandwidth_hz
    with np.errstate(over="ignore", under="ignore"):  # beyond float64: the caller reports it
        p = np.expm1(r / b * LN2) * inst.noise_floor_w
        doubt = (p < _DOUBT) | (p * g / n0b < _DOUBT)

    def rate(i: np.ndarray) -> np.ndarray:
        return b[i] * np.log1p(p[i] * g[i] / n0b[i]) / np.log(2.0)

    # only where the power or the SNR (``doubt``) is far below the normal range can the
    # shortfall be more than a few ulps (which the referee's tolerance absorbs): the check's
    # logarithms for every user had made this closed form 5x slower (116 us at N = 100)
    every = np.nonzero((r > 0) & np.isfinite(p) & doubt)[0]
    if every.size == 0:
        return p
    short = every[rate(every) < r[every]]
    for _ in range(rounds):
        if short.size == 0:
            break
        got = rate(short)
        with np.errstate(over="ignore", divide="ignore"):
            grow = np.where(got > 0, r[short] / got, 2.0)
        p[short] = np.nextafter(np.maximum(p[short] * grow, p[short]), np.inf)
        short = short[rate(short) < r[short]]
    return p


def closed_form(inst: PowerInstance, spec: PowerSpec, options: SolveOptions | None = None
                ) -> Result:
    """Exact solution: water-filling (``sum_rate``) or the per-user closed form (``min_power``).

    ``sum_rate`` runs the compiled :func:`.power_kernel.solve` when :func:`.jit.run_kernel`
    allows it (same maths and Result; numpy below otherwise).

    The Result's ``bound`` is the dual function value at the returned multiplier (sum rate) or the
    objective itself (min power: the closed form is the unique feasible minimum per user).
    """
    if spec.mode == "sum_rate":
        res = _jit.run_kernel("power", inst.n_users, _jit.POWER_MAX_USERS, lambda: _kernel(
            inst, spec.power_budget_scale * inst.total_power_w))
        if res is not None:
            return res
    t0 = time.perf_counter()
    h = inst.noise_floor_w
    if spec.mode == "sum_rate":
        budget = spec.power_budget_scale * inst.total_power_w
        a = inst.weight * inst.bandwidth_hz
        top = float(a.max())  # the solution is invariant to scaling a; 1e-320 weights divided
        p, level = water_fill_sorted(h, budget, weight=a / top, cap=inst.max_power_w)
        level /= top  # by a Lagrangian weight sum that underflowed to 0
        lam = 0.0 if math.isinf(level) else 1.0 / (level * LN2)
        obj = float(weighted_rate(inst, p).sum())
        # D(lam) at its maximiser p (= clip(a nu - h, 0, pbar), computed without cancellation;
        # sum_rate_dual recomputes a nu - h and loses tiny budgets' digits)
        bound = obj + lam * (budget - float(p.sum()))
        term = Termination.OPTIMAL
        msg = f"water level {level:.6g}"
    else:
        r = spec.rate_scale * inst.rate_target_bps
        p = least_power(inst, r)
        obj = float(p.sum())
        bound = obj
        bad = p > inst.max_power_w * (1 + 1e-12)
        term = Termination.INFEASIBLE if bad.any() else Termination.OPTIMAL
        msg = f"{int(bad.sum())} users cannot meet their rate target" if bad.any() else ""
        if not bad.any() and not np.isfinite(p).all():  # uncapped, beyond float64 (seed 76000004)
            top = float(np.max(r / inst.bandwidth_hz))
            term, msg = Termination.ERROR, (
                f"{int((~np.isfinite(p)).sum())} users need more power than float64 holds "
                f"((2^(r/b) - 1) h > 1.8e308 W at r/b up to {top:.3g} bit/s/Hz)")
    seconds = time.perf_counter() - t0
    if term is not Termination.OPTIMAL:
        return Result(term, False, gap=math.inf, message=msg,
                      stats=SolveStats("closed_form", solve_seconds=seconds))
    return Result(term, True, objective=obj, bound=bound, gap=relative_gap(obj, bound),
                  values={"p": p}, allocation=PowerAllocation(power_w=p), message=msg,
                  stats=SolveStats("closed_form", solve_seconds=seconds))


def _kernel(inst: PowerInstance, budget: float) -> Result:
    from .power_kernel import solve  # imports numba on first use

    return solve(inst, budget)


# ---------------------------------------------------------------------------- CVXPY model
#: ``min_power`` rate rows with ``t = r ln2 / b`` below this use the exact linear form
#: ``p~ >= 1`` instead of the exponential cone (see :func:`build_cvxpy`).
LINEAR_RATE_T = 1e-2
#: ``build_cvxpy`` (sum rate): users whose SNR term ``c p~`` stays below this at every feasible
#: power get the series ``x - x^2/2`` of ``log1p(x)`` (error below ``x^3/3``, ``3.4e-9`` of
#: the term).
LOW_SNR_X = 1e-4


def build_cvxpy(inst: PowerInstance, spec: PowerSpec) -> ConvexProgram:
    """Vectorised CVXPY model, scaled so the solver sees O(1) numbers.

    ``sum_rate``: variable ``p~ = p N / P`` (equal-share units, O(1) at any N); budget
    ``sum p~ <= N``; objective ``sum w b log(1 + c p~) / (ln2 * S)``, ``c = (P/N)/h``, written
    ``log(c) + log(p~ + 1/c)`` where ``c > 1`` (O(1) cone coefficients at any SNR) and
    ``x - x^2/2`` (``x = c p~``) where ``x <=`` :data:`LOW_SNR_X` at every feasible power,
    with ``S`` the weighted sum rate of the equal split (``objective_scale = S``; ``sum w b``
    when that is 0), so the scaled objective is O(1) also at tiny SNR. ``min_power``: variable
    ``p~ = p / (h e_n)`` with ``e_n = expm1(r_n ln2 / b_n)`` (the least power of the target is
    ``h e_n``, so ``p~ = 1`` at the optimum; ``e_n = 1`` for a zero target); rate rows
    ``log(1 + e_n p~) / t_n >= 1`` with ``t_n = r_n ln2 / b_n`` (O(1) at any rate scale, issue
    11: unscaled rows missed targets of ``1e-5`` relative by 1e-4), where ``e_n > 1`` their
    equivalent ``log(p~ + 1/e_n) >= -log(1 - exp(-t_n))`` (O(1) coefficients), or their exact linear
    equivalent ``p~ >= 1`` where ``t_n <`` :data:`LINEAR_RATE_T` (the cone cannot resolve
    ``1 + e_n p~`` to better than ~1e-8, i.e. ``1e-8 / t_n`` relative in ``p~``); objective
    ``sum h e p~ / H`` with ``H = sum h e`` over the users with a positive target
    (``objective_scale = H``; a user without one gets ``p = 0`` exactly from the decoder).
    The constraint objects are named for :func:`aigc_opt.explain_convex.explain_convex`
    (``meta["constraint_names"]`` and ``["constraint_items"]``): ``power_nonneg``,
    ``max_power`` and ``rate_target`` at each user, and the ``power_budget``.
    """
    import cvxpy as cp

    h = inst.noise_floor_w
    n = inst.n_users
    pv = cp.Variable(n, name="p")
    obj: Any
    if spec.mode == "sum_rate":
        P = spec.power_budget_scale * inst.total_power_w
        unit = P / n  # equal share: keeps p~ O(1) at any N
        a = inst.weight * inst.bandwidth_hz
        s = float((a * np.log1p(unit / h)).sum() / LN2)
        if not (math.isfinite(s) and s > 0):
            s = float(a.sum())
        cons = [pv >= 0, cp.sum(pv) <= n]
        names: list[str] = ["power_nonneg", "power_budget"]
        items: list[Any] = ["user {i}", None]
        finite = np.isfinite(inst.max_power_w)
        if finite.any():
            idx = np.nonzero(finite)[0]
            cons.append(pv[idx] <= inst.max_power_w[finite] / unit)
            names.append("max_power")
            items.append(GridLabels("user {0}", (n,), idx))
        w, c = a / (LN2 * s), unit / h
        # high SNR (c > 1): log1p(c p~) = log(c) + log(p~ + 1/c), so the cone sees O(1)
        # coefficients; Clarabel failed on log1p(c p~) with c ~ 1e8-1e21 (gains x1e6,
        # bandwidths x1e-20), which the closed form solves
        # low SNR (c p~ <= LOW_SNR_X at every feasible p~): the series c p~ - (c p~)^2 / 2 (its
        # error at most (c p~)^3 / 3, 3.4e-9 of the term); the cone cannot resolve log1p of
        # arguments that small (Clarabel said "unbounded" at c ~ 1e-20, where w ~ 1/c)
        xmax = c * np.minimum(float(n), inst.max_power_w / unit)
        hi, tiny = np.nonzero(c > 1)[0], np.nonzero(xmax <= LOW_SNR_X)[0]
        mid = np.nonzero(~(c > 1) & ~(xmax <= LOW_SNR_X))[0]
        expr: Any = float((w[hi] * np.log(c[hi])).sum())
        if hi.size:
            expr = expr + cp.sum(cp.multiply(w[hi], cp.log(pv[hi] + 1.0 / c[hi])))
        if mid.size:
            expr = expr + cp.sum(cp.multiply(w[mid], cp.log1p(cp.multiply(c[mid], pv[mid]))))
        if tiny.size:
            wc = w[tiny] * c[tiny]
            expr = expr + wc @ pv[tiny] - cp.sum(cp.multiply(wc * c[tiny] / 2,
                                                            cp.square(pv[tiny])))
        obj = cp.Maximize(expr)
        meta = {"power_scale": np.full(n, unit), "objective_scale": s}
    else:
        r = spec.rate_scale * inst.rate_target_bps
        t = r * LN2 / inst.bandwidth_hz
        with np.errstate(over="ignore"):
            e = np.expm1(t)
        # 2^(r/B) - 1 > 1e308: the power needed is over h 1e308, so a cap below that (always
        # when h >= 1) makes the user infeasible, which the program still shows; above it (or
        # uncapped) no float64 program holds the row
        with np.errstate(over="ignore"):
            beyond = (t > 0) & ~np.isfinite(e) & ~(inst.max_power_w < h * np.finfo(float).max)
        if beyond.any():
            i = int(np.argmax(beyond))
            raise ValidationError(
                f"rate_target_bps[{i}]", "bit/s", float(inst.rate_target_bps[i]),
                f"needs a power of more than 1e308 x h at {float(inst.bandwidth_hz[i]):g} Hz "
                "(2^(rate / bandwidth) - 1 overflows float64) and its power cap does not rule "
                "that out: the program cannot be written in float64 (closed_form says the same)")
        e = np.where((t > 0) & np.isfinite(e) & (e > 0), e, 1.0)
        punit = h * e
        # a user without a rate target needs no power: p = 0 exactly (decode_cvxpy), kept out
        # of the objective (its interior-point dust, ~1e-9 of h, was the whole objective when
        # every target was 0 and failed the referee's check)
        need = t > 0
        hs = float(punit[need].sum())
        hs = hs if hs > 0 else 1.0
        cons = [pv >= 0]
        names, items = ["power_nonneg"], ["user {i}"]
        # rate rows in the exponential cone where it resolves them; below t = LINEAR_RATE_T
        # the cone's ~1e-8 precision on 1 + e p~ is ~1e-8 / t relative in p~ (Clarabel stopped
        # "optimal_inaccurate" 1.6e-4 off at t = 4e-6, issue 11) and the row uses its exact
        # linear equivalent: log1p(e p~) >= t with e = expm1(t) <=> p~ >= 1
        # where e > 1 the row is log(p~ + 1/e) >= -log(1 - exp(-t)) (= log1p(e p~) >= t less
        # log(e)): O(1) cone coefficients; log1p(e p~) with e ~ 1e218 made Clarabel fail
        pos = np.nonzero((t >= LINEAR_RATE_T) & ~(e > 1))[0]
        if pos.size:
            cons.append(cp.multiply(1.0 / t[pos], cp.log1p(cp.multiply(e[pos], pv[pos]))) >= 1.0)
            names.append("rate_target")
            items.append(GridLabels("user {0}", (n,), pos))
        big = np.nonzero((t >= LINEAR_RATE_T) & (e > 1))[0]
        if big.size:
            cons.append(cp.log(pv[big] + 1.0 / e[big]) >= -np.log1p(-np.exp(-t[big])))
            names.append("rate_target")
            items.append(GridLabels("user {0}", (n,), big))
        lin = np.nonzero((t > 0) & (t < LINEAR_RATE_T))[0]
        if lin.size:
            cons.append(pv[lin] >= 1.0)
            names.append("rate_target")
            items.append(GridLabels("user {0}", (n,), lin))
        finite = np.isfinite(inst.max_power_w)
        if finite.any():
            idx = np.nonzero(finite)[0]
            cons.append(pv[idx] <= inst.max_power_w[finite] / punit[finite])
            names.append("max_power")
            items.append(GridLabels("user {0}", (n,), idx))
        free = np.nonzero(~need)[0]
        if free.size:
            # a user without a target has no cost and p = 0 from the decoder; unbounded, its
            # interior-point iterate drifted to p~ = 2e7 and Clarabel stopped 'optimal' 1.5 %
            # above the optimum of the others (tester te); p~ <= 1 keeps an interior, never
            # binds at an optimum and cannot make the program infeasible
            cons.append(pv[free] <= 1.0)
            names.append("no_rate_target")
            items.append(GridLabels("user {0}", (n,), free))
        obj = cp.Minimize(cp.sum(cp.multiply(np.where(need, punit / hs, 0.0), pv)))
        meta = {"power_scale": np.where(need, punit, 0.0), "objective_scale": hs}
    return ConvexProgram(cp.Problem(obj, cons), {"p": pv}, name=f"power[{spec.mode},N={n}]",
                         meta={**meta, **convex_meta(names, items, spec, inst, {"p": pv})})


def decode_cvxpy(inst: PowerInstance, spec: PowerSpec, program: ConvexProgram, values: Any
                 ) -> PowerAllocation:
    """Power (W) from the scaled ``p`` block, projected onto the hard constraints the
    interior-point solution meets only to its tolerance (issue 11: rate targets missed by
    1.5e-5 relative): ``min_power`` raises each channel to the least power of its rate target
    ``h expm1(r ln2 / b)`` (where the cap allows), ``sum_rate`` clips to the caps and scales
    the vector into the budget. A solution that meets the constraints is unchanged."""
    scale = np.asarray(program.meta["power_scale"])
    p = np.maximum(np.asarray(values["p"], dtype=np.float64) * scale, 0.0)
    cap = inst.max_power_w
    if spec.mode == "min_power":
        need = least_power(inst, spec.rate_scale * inst.rate_target_bps)
        p = np.where(need <= cap, np.maximum(p, need), p)
    else:
        p = np.minimum(p, cap)
        budget = spec.power_budget_scale * inst.total_power_w
        total = float(p.sum())
        if total > budget > 0:
            p = p * (budget / total)
    return PowerAllocation(power_w=p)


# ---------------------------------------------------------------------------- heuristics
def equal_power(inst: PowerInstance, spec: PowerSpec, seed: int = 0) -> PowerAllocation:
    """Baseline: the budget split equally (``sum_rate``), or each user's target power capped at
    the equal share ``P/N`` (``min_power``: then some targets may be missed)."""
    share = spec.power_budget_scale * inst.total_power_w / inst.n_users
    p = np.minimum(np.full(inst.n_users, share), inst.max_power_w)
    return PowerAllocation(power_w=p)


register_builder(PowerSpec, build_cvxpy, decode_cvxpy)
register_algorithm(PowerSpec, "closed_form", closed_form)
register_heuristic(PowerSpec, "equal_power", equal_power)
register_case(CaseKind(
    sense=lambda spec: "max" if spec.mode == "sum_rate" else "min", name="allocation.power",
    make_instance=lambda seed, n_users=100, **kw: PowerInstance.generate(n_users, seed=seed, **kw),
    make_spec=lambda **params: PowerSpec(**params),
    default_methods=("closed_form", "cvxpy", "equal_power"),
    reference="closed_form",
    description="power over parallel channels: water-filling sum rate / min power for rates",
    warm_up=lambda: closed_form(PowerInstance.generate(4, seed=0), PowerSpec()),  # numba
))
