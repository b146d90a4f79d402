r"""Compiled (numba) kernel of the weighted sum-rate water-filling closed form.

The same maths as :func:`.power.water_fill_sorted` (exact water level from the sorted
breakpoints ``h/a`` and ``(h + c)/a`` of ``S(nu) = sum_n clip(a_n nu - h_n, 0, c_n)``), the
objective :func:`.power.weighted_rate` and the dual bound ``D(lam)`` evaluated at its maximiser
``p`` as :func:`.power.closed_form` does, in one compiled call: at N = 100 the numpy path
spends ~70 us in the fixed cost of ~40 numpy calls (``benchmarks/allocation_bench.py
--problems power_sum_rate``); above ~3,000 users numpy's sorts make the numpy path faster
(:data:`.jit.POWER_MAX_USERS`). Units: floors ``h`` and caps ``c``
in W, ``a = w b`` in bit/s (weighted bandwidth), water level ``nu`` in W per (bit/s),
multiplier ``lambda = 1 / (nu ln 2)`` in bit/s per W, rates in bit/s.

The kernel evaluates the breakpoints with the same sorts, prefix sums and ``searchsorted``
conventions as the numpy function, so both pick the same segment and agree to rounding
(tests/test_allocation_jit.py compares them on several hundred instances).
"""

from __future__ import annotations

import math
import time

import numpy as np

from aigc_opt.result import Result, SolveStats, Termination, relative_gap

from .data import LN2, PowerAllocation, PowerInstance
from .jit import njit


@njit
def _csum(x: np.ndarray) -> np.ndarray:
    out = np.zeros(x.size + 1)
    acc = 0.0
    for i in range(x.size):
        acc += x[i]
        out[i + 1] = acc
    return out


@njit
def sum_rate_kernel(h: np.ndarray, a: np.ndarray, c: np.ndarray, total: float
                    ) -> tuple[np.ndarray, float, float, float]:
    """Powers ``p`` (W), water level ``nu`` (inf: every cap fits the budget), objective
    ``sum a log2(1 + p/h)`` and the dual bound ``D(lam)`` at ``lam = 1/(nu ln 2)`` (bit/s)."""
    n = h.size
    if c.sum() <= total:
        p = c.copy()
        nu = math.inf
    else:
        s = h / a
        e = (h + c) / a
        so = np.argsort(s)
        eo = np.argsort(e)
        s_sorted = s[so]
        e_sorted = e[eo]
        af = np.zeros(n)
        hf = np.zeros(n)
        cf = np.zeros(n)
        nfin = 0
        for i in range(n):
            j = eo[i]
            if np.isfinite(c[j]):
                af[i], hf[i], cf[i] = a[j], h[j], c[j]
                nfin += 1
        ca_s, ch_s = _csum(a[so]), _csum(h[so])
        ca_e, ch_e, cc_e = _csum(af), _csum(hf), _csum(cf)
        bp = np.empty(n + nfin)
        bp[:n] = s_sorted
        k = n
        for i in range(n):
            if np.isfinite(c[eo[i]]):
                bp[k] = e_sorted[i]
                k += 1
        bp = np.sort(bp)
        ii = np.searchsorted(s_sorted, bp, side="right")
        jj = np.searchsorted(e_sorted, bp, side="right")
        A = ca_s[ii] - ca_e[jj]
        H = ch_s[ii] - ch_e[jj]
        C = cc_e[jj]
        used = A * bp - H + C
        k = int(np.searchsorted(used, total, side="left"))
        k = max(k - 1, 0)
        p, nu = _segment_powers(h, a, c, s, e, bp, k, total)
    lam = 0.0 if math.isinf(nu) else 1.0 / (nu * LN2)
    obj = 0.0
    used_p = 0.0
    for i in range(n):
        obj += a[i] * math.log1p(p[i] / h[i]) / LN2
        used_p += p[i]
    return p, nu, obj, obj + lam * (total - used_p)


@njit
def _segment_powers(h: np.ndarray, a: np.ndarray, c: np.ndarray, s: np.ndarray, e: np.ndarray,
                    bp: np.ndarray, k: int, total: float) -> tuple[np.ndarray, float]:
    """:func:`.power._segment_powers` (cancellation-free powers on a breakpoint segment)."""
    n = h.size
    free = np.zeros(n, dtype=np.bool_)
    capped = np.zeros(n, dtype=np.bool_)
    d = np.zeros(n)
    step = 0
    while True:
        b = bp[k]
        for i in range(n):
            free[i] = (s[i] <= b) and (e[i] > b)
            capped[i] = e[i] <= b
            d[i] = b - s[i] if free[i] else 0.0
        A = 0.0
        for i in range(n):
            if free[i]:
                A += a[i]
        # plain sums over the full arrays (numpy sums pairwise: rounding may differ slightly)
        delta = (total - np.sum(a * d) - np.sum(np.where(capped, c, 0.0))) / A
        move = 0
        if delta < 0 and k > 0:
            move = -1
        elif k + 1 < bp.size and b + delta > bp[k + 1]:
            move = 1
        if move == 0 or move == -step:
            break
        step = move
        k += move
    p = np.zeros(n)
    for i in range(n):
        if capped[i]:
            p[i] = c[i]
        elif free[i]:
            p[i] = min(max(a[i] * (d[i] + delta), 0.0), c[i])
    return p, b + delta


def solve(inst: PowerInstance, budget: float) -> Result:
    """:func:`.power.closed_form` in ``sum_rate`` mode by :func:`sum_rate_kernel`: the same
    Result (status, objective, bound, gap, values, allocation, message). Used up to
    :data:`.jit.POWER_MAX_USERS` users (numpy's sorts win above)."""
    t0 = time.perf_counter()
    p, level, obj, bound = sum_rate_kernel(
        np.ascontiguousarray(inst.noise_floor_w, dtype=np.float64),
        np.ascontiguousarray(inst.weight * inst.bandwidth_hz, dtype=np.float64),
        np.ascontiguousarray(inst.max_power_w, dtype=np.float64), float(budget))
    return Result(Termination.OPTIMAL, True, objective=obj, bound=bound,
                  gap=relative_gap(obj, bound), values={"p": p},
                  allocation=PowerAllocation(power_w=p), message=f"water level {level:.6g}",
                  stats=SolveStats("closed_form", solve_seconds=time.perf_counter() - t0))
