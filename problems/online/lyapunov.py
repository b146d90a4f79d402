r"""Exact per-frame drift-plus-penalty solver for the LyDROO model (and its baselines).

Frame problem (see :mod:`aigc_opt.problems.online.data`), with ``v_i = (Q_i/b0 + V w_i)/b0``
the value of one bit and ``y_i = y_scale Y_i`` the price of one joule::

    max  sum_i v_i r_i - y_i e_i   s.t.  r_i <= Q_i,  sum_{x_i = 1} tau_i <= 1,  modes x binary

Local users (closed form)
    ``max_f v f tau_s/phi - y kappa f^3 tau_s`` over ``0 <= f <= min(f_max, phi Q / tau_s)``:
    the objective is concave in f with stationary point ``f* = sqrt(v / (3 phi kappa y))``
    (a square root, not a cube root: the derivative of ``f^3`` is quadratic), clipped at
    ``f_max`` and at the backlog (the code's ``f0 = min(sqrt(a/3/phi/k/Y), phi q, f_max)``);
    ``f = min(f_max, phi Q/tau_s)`` when ``y = 0``. Value ``L_i``.
Offloading users (Lagrange price on time)
    With ``x = ln(1 + p h/N0)`` the spectral efficiency in nats, a unit of frame time carries
    ``rho(x) = tau_s W x / (v_u ln 2)`` bits at power ``p = (e^x - 1) N0/h``. Given the time
    price ``mu >= 0``, the cost of one offloaded bit is ``k(x) = (mu + y tau_s p(x)) / rho(x)``.
    Since the bits ``c = tau rho`` and the time enter linearly once ``x`` is fixed, the user
    offloads all its backlog (``c = Q``) if ``v > min_x k`` and nothing otherwise, and ``x``
    minimises ``k``: ``d k/dx = 0`` gives ``(x - 1) e^x = mu h/(N0 y tau_s) - 1 =: m - 1``,
    i.e. ``x* = 1 + W0((m - 1)/e)`` (principal Lambert W; LyDROO's ``rat`` formula), clipped at
    ``x_max = ln(1 + P_max h/N0)`` (``k`` is quasi-convex in x). ``y = 0`` gives ``x = x_max``.
    The user's Lagrangian value is ``h_i(mu) = Q_i max(0, v_i - k_i(mu))`` with time
    ``tau_i(mu) = Q_i / rho_i`` when active.
Time price (breakpoint search)
    For a fixed mode the problem is convex in ``(c, tau)`` (the energy ``tau (e^{K c/tau} -
    1) / s`` is a perspective) with Slater's condition, so the dual ``D(mu) = mu + sum_loc
    L_i + sum_off h_i(mu)`` is tight. Each user is active exactly for ``mu < end_i`` where
    ``end_i = max_{x <= x_max} (v_i c x - y_i tau_s p(x))`` (closed form: ``x = ln(v c s /
    (y tau_s))``, clipped; :func:`_dropout_price`), and while active needs the time
    ``Q_i / rho_i(mu)``, continuous and decreasing in ``mu``. So ``T(mu) = sum tau_i(mu)`` is
    decreasing with downward jumps at the sorted ``end`` prices; a search over these
    breakpoints finds where ``T`` crosses 1, and ``mu*`` is either a breakpoint (the user(s)
    ending there are served fractionally with the remaining time) or the root of the smooth
    convex ``T`` between two breakpoints (Newton from the right, safeguarded by bisection,
    ``|T - 1| <= 1e-14``). ``mu* = 0`` when ``T(0+) <= 1``. The primal: every user with
    ``end > mu*`` offloads its whole backlog at ``x(mu*)``.
Modes (branch and bound)
    Relaxing only ``sum tau <= 1`` with price ``mu`` decouples the modes too: a free user
    contributes ``max(L_i, h_i(mu))``, so ``D(mu) = mu + sum_i max(L_i, h_i(mu))`` is an upper
    bound for every ``mu >= 0`` (weak duality). Since ``h_i(mu) > L_i <=> mu < max_x ((v_i -
    L_i/Q_i) c x - y_i tau_s p(x))`` (the same closed form with ``v - L/Q``), a free user is
    "offloading while ``mu <`` its switch price", and ``min_mu D`` is found by the same
    breakpoint search. A node (some modes fixed) is bounded by ``D(mu*)``; its Lagrangian
    modes just below and above ``mu*`` are completed by the exact inner solver (incumbents). A
    node whose bound is within ``rtol`` of the incumbent is closed; otherwise branch on a free
    user whose switch price is ``mu*`` (the duality gap comes only from such a user). A user
    whose switch price is 0 never gains from offloading and is fixed local. Best-first.
    Certificate: ``bound = max(incumbent, bounds of closed nodes)``.
Relation to the LyDROO code
    ``ResourceAllocation.Algo1_NUM`` solves the same fixed-mode problem approximately
    (bisection on the time price to an absolute width of 1 in ``[0, 1e4]``, then an LP over the
    bits with the rates frozen, results rounded to 1e-6). Run side by side on 100 random
    (frame, mode, Q, Y) cases at N = 10 (a one-off check, not part of the test suite, since the
    authors' code is not vendored), :func:`solve_mode` was never worse than ``Algo1_NUM`` by more
    than its rounding (-3.5e-8 relative) and up to 2.4 % better.
"""

from __future__ import annotations

import heapq
import logging
import math
from dataclasses import dataclass, field
from typing import Literal, overload

import numpy as np
from scipy.special import lambertw

from aigc_opt.result import GAP_FLOOR
from aigc_opt.validate import check_scalar

from .data import FrameDecision, FrameInstance, LyapunovSpec, frame_objective

logger = logging.getLogger(__name__)

_E = math.e
#: Largest (breakpoints x users) grid evaluated at once by :func:`_price` (else binary search).
_GRID_MAX = 4096
_LN2 = math.log(2.0)


@dataclass(frozen=True, eq=False)
class FrameSolution:
    """A solved frame.

    Parameters
    ----------
    decision : FrameDecision
        Modes, CPU frequencies, time fractions, powers.
    objective : float
        Frame objective of ``decision`` (drift-plus-penalty units).
    bound : float
        Proven upper bound (NaN for heuristics).
    bits, energy_j : ndarray (N,)
        Bits served and energy per user.
    nodes : int
        Branch-and-bound nodes (0 for fixed modes).
    method : str
        Which solver produced it.
    """

    decision: FrameDecision
    objective: float
    bound: float
    bits: np.ndarray
    energy_j: np.ndarray
    nodes: int = 0
    method: str = "exact"

    @property
    def gap(self) -> float:
        """``(bound - objective) / max(|objective|, |bound|, GAP_FLOOR)``: the signed
        :func:`aigc_opt.result.relative_gap` that every Result's label uses."""
        return (self.bound - self.objective) / max(abs(self.objective), abs(self.bound),
                                                   GAP_FLOOR)


@dataclass(frozen=True, eq=False)
class _Prep:
    """Per-frame arrays shared by the dual evaluations (all shape (N,))."""

    v: np.ndarray        # objective value per bit
    y: np.ndarray        # objective price per J
    q: np.ndarray        # backlog cap, bit
    s: np.ndarray        # h / N0, 1/W
    x_max: np.ndarray    # ln(1 + s P_max), nats
    c_rate: float        # bits per unit frame fraction per nat: tau_s W / (v_u ln 2)
    tau_s: float
    f_loc: np.ndarray    # optimal local CPU, Hz
    L: np.ndarray        # local value
    spec: LyapunovSpec
    m_per_mu: np.ndarray  # s / (y tau_s) (inf where y = 0)
    h0: np.ndarray       # h_i(0)
    tau0: np.ndarray     # tau_i(0) (inf for active users with y > 0)
    mu_drop: np.ndarray  # price at which an offloading user stops offloading
    mu_switch: np.ndarray  # price at which a free user prefers local computing
    #: memo ``mu -> (x_i(mu), tau_i(mu))`` for all users (efficiency and time each would use
    #: at price ``mu``), filled by :func:`_fill`; shared by every node of one frame's search
    rows: dict[float, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def prepare(spec: LyapunovSpec, gains: np.ndarray, q: np.ndarray, value_per_bit: np.ndarray,
            energy_price: np.ndarray, tau_s: float) -> _Prep:
    """Arrays of one frame; ``value_per_bit`` and ``energy_price`` may override the Lyapunov
    weights (e.g. the myopic controller's ``w / b0`` and 0)."""
    v = np.asarray(value_per_bit, dtype=np.float64)
    y = np.asarray(energy_price, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    s = np.asarray(gains, dtype=np.float64) / spec.noise_w
    cap = np.minimum(spec.f_max_hz, spec.cycles_per_bit * q / tau_s)
    pos = y > 0
    ysafe = np.where(pos, y, 1.0)
    f_unc = np.where(pos, np.sqrt(np.maximum(v, 0.0) / (3.0 * spec.cycles_per_bit
                                                         * spec.kappa * ysafe)), np.inf)
    f = np.where(v > 0, np.minimum(f_unc, cap), 0.0)
    L = v * f * tau_s / spec.cycles_per_bit - y * spec.kappa * f**3 * tau_s
    x_max = np.log1p(s * spec.p_max_w)
    c_rate = tau_s * spec.bandwidth_hz / (spec.vu * _LN2)
    # mu = 0: y > 0 users transmit infinitely slowly at cost y tau_s/(s c_rate) per bit;
    # y = 0 users at x_max for free
    cost0 = np.where(pos, y * tau_s / (s * c_rate), 0.0)
    act0 = (v > cost0) & (q > 0)
    h0 = np.where(act0, q * (v - cost0), 0.0)
    tau0 = np.where(act0, np.where(pos, np.inf, q / (c_rate * x_max)), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        l_per_bit = np.where(q > 0, L / q, 0.0)
    mu_drop = _dropout_price(v, y, q, s, x_max, c_rate, tau_s, spec.p_max_w)
    mu_switch = _dropout_price(v - l_per_bit, y, q, s, x_max, c_rate, tau_s, spec.p_max_w)
    return _Prep(v, y, q, s, x_max, c_rate, tau_s, f, L, spec,
                 np.where(pos, s / (ysafe * tau_s), np.inf), h0, tau0,
                 mu_drop, np.minimum(mu_switch, mu_drop))


def _dropout_price(v: np.ndarray, y: np.ndarray, q: np.ndarray, s: np.ndarray,
                   x_max: np.ndarray, c_rate: float, tau_s: float, p_max: float) -> np.ndarray:
    """``max_{0 <= x <= x_max} (v c x - y tau_s p(x))``: the time price up to which offloading
    at value ``v`` per bit is profitable (``h(mu) > 0 <=> mu < this``). The maximiser is
    ``x = ln(v c s / (y tau_s))`` (from ``v c = y tau_s e^x / s``), clipped to
    ``[0, x_max]``. With ``v`` replaced by ``v - L/Q`` it is the price below which offloading
    beats local computing (``h(mu) > L <=> mu < max_x ((v - L/Q) c x - y tau_s p(x))``)."""
    pos = y > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(pos, v * s * c_rate / np.where(pos, y * tau_s, 1.0), np.inf)
        x = np.where(ratio > 1.0, np.minimum(np.log(ratio), x_max), 0.0)
    p = np.where(x >= x_max, p_max, np.expm1(x) / s)
    mu = v * c_rate * x - y * tau_s * p
    return np.where((v > 0) & (q > 0) & (x > 0), np.maximum(mu, 0.0), 0.0)


def _fill(pr: _Prep, mus: list[float]) -> None:
    """Memoise ``(x_i(mu), tau_i(mu))`` for all users at each price of ``mus`` (``> 0``) in
    ``pr.rows``: ``x = 1 + W0((m - 1)/e)``, ``m = mu s/(y tau_s)``, series ``sqrt(2m) - 2m/3``
    for ``m < 1e-8`` (near the branch point), clipped at ``x_max``; ``tau = Q/(c x)``.
    The end prices of one frame's search nodes come from the same ``2 N`` switch and drop
    prices, so most rows are computed once per frame (one Lambert-W call per batch)."""
    missing = [mu for mu in mus if mu not in pr.rows]
    if not missing:
        return
    m = np.minimum(np.asarray(missing)[:, None] * pr.m_per_mu, 1e300)
    x = 1.0 + lambertw(np.maximum((m - 1.0) / _E, -1.0 / _E)).real
    x = np.minimum(np.where(m < 1e-8, np.sqrt(2.0 * m) - (2.0 / 3.0) * m, x), pr.x_max)
    with np.errstate(divide="ignore"):
        tau = pr.q / (pr.c_rate * x)
    x.setflags(write=False)
    tau.setflags(write=False)
    for mu, xr, tr in zip(missing, x, tau, strict=True):
        pr.rows[mu] = (xr, tr)


def _efficiency(pr: _Prep, mu: float) -> np.ndarray:
    """Cost-minimising spectral efficiency ``x_i(mu)`` (nats) for ``mu > 0`` (see
    :func:`_fill`)."""
    if mu not in pr.rows:
        _fill(pr, [mu])
    return pr.rows[mu][0]


def _offload_terms(pr: _Prep, mu: float) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                   np.ndarray]:
    """``(h_i(mu), tau_i(mu), x_i, p_i)``: Lagrangian value and time of offloading alone."""
    if mu <= 0.0:
        x0 = np.where(pr.y > 0, 0.0, pr.x_max)
        return pr.h0, pr.tau0, x0, np.expm1(x0) / pr.s
    x = _efficiency(pr, mu)
    p = np.expm1(x) / pr.s
    rho = pr.c_rate * x
    cost = (mu + pr.y * pr.tau_s * p) / rho
    active = (pr.v > cost) & (pr.q > 0)
    h = np.where(active, pr.q * (pr.v - cost), 0.0)
    tau = np.where(active, pr.q / rho, 0.0)
    return h, tau, x, p


def _dual(pr: _Prep, mu: float, fixed: np.ndarray) -> tuple[float, float, np.ndarray]:
    """``D(mu)``, ``sum tau``, chosen modes, for ``fixed`` in {-1 free, 0 local, 1 offload}."""
    h, tau, _, _ = _offload_terms(pr, mu)
    off = (fixed == 1) | ((fixed == -1) & (h > pr.L))
    value = mu + float(np.where(off, h, pr.L).sum())
    return value, float(tau[off].sum()), off


def _times(pr: _Prep, mu: float, users: np.ndarray | slice
           ) -> tuple[np.ndarray, np.ndarray]:
    """``(tau_i(mu), x_i(mu))`` for the index array ``users`` (all active), ``mu > 0``."""
    if mu not in pr.rows:
        _fill(pr, [mu])
    x, tau = pr.rows[mu]
    return tau[users], x[users]


def _rows(pr: _Prep, mus: np.ndarray) -> np.ndarray:
    """``tau_i(mu)`` for every user (columns) at each price of ``mus > 0`` (rows), from the
    memo of :func:`_fill`. Entries of users that are not active at a price are meaningless
    and must be masked by the caller."""
    keys = mus.tolist()
    _fill(pr, keys)
    return np.asarray([pr.rows[mu][1] for mu in keys])


def _bracket(pr: _Prep, ends: np.ndarray, b: np.ndarray) -> tuple[int, int, float]:
    """Binary search over the sorted end prices ``b``: ``(lo, hi, T(b_hi -))`` with
    ``T(b_lo +) > 1 >= T(b_hi +)`` (``lo = -1`` stands for ``mu = 0+``)."""

    def t_both(mu: float) -> tuple[float, float]:
        row = _times(pr, mu, slice(None))[0]
        return (float(np.where(ends >= mu, row, 0.0).sum()),
                float(np.where(ends > mu, row, 0.0).sum()))

    lo, hi = -1, b.size - 1
    cache: dict[int, tuple[float, float]] = {}
    while hi - lo > 1:
        mid = (lo + hi) // 2
        cache[mid] = t_both(float(b[mid]))
        if cache[mid][1] <= 1.0:
            hi = mid
        else:
            lo = mid
    return lo, hi, (cache.get(hi) or t_both(float(b[hi])))[0]


def _price(pr: _Prep, ends: np.ndarray) -> tuple[float, bool]:
    """The time price ``mu*`` for users that offload while ``mu < ends_i``.

    ``T(mu) = sum_{ends_i > mu} Q_i / (c x_i(mu))`` is non-increasing, continuous between the
    sorted end prices and jumps down at them. A binary search over the end prices finds the
    interval where ``T`` crosses 1; either ``mu*`` is an end price (``T(mu*-) >= 1 >=
    T(mu*+)``, a *jump*, returned with ``True``) or the root of the smooth, convex, decreasing
    ``T`` inside the interval, found by Newton's method safeguarded by bisection (``dx/dmu =
    (s/(y tau_s)) / (x e^x)`` for unclipped users). ``mu* = 0`` when ``T(0+) <= 1``.
    """
    act = ends > 0
    if not act.any():
        return 0.0, False
    if np.any(act & (pr.y > 0)):
        t0 = math.inf
    else:
        t0 = float((pr.q[act] / (pr.c_rate * pr.x_max[act])).sum())
    if t0 <= 1.0:
        return 0.0, False
    b = np.sort(ends[act])
    b = b[np.append(True, b[1:] != b[:-1])]         # unique end prices, ascending
    if b.size * ends.size <= _GRID_MAX:
        # all breakpoints at once: T(b_k -) and T(b_k +) from the memoised rows
        tg = _rows(pr, b)
        t_minus_all = np.where(ends >= b[:, None], tg, 0.0).sum(axis=1)
        t_plus_all = np.where(ends > b[:, None], tg, 0.0).sum(axis=1)
        hi = int(np.argmax(t_plus_all <= 1.0))      # t_plus_all[-1] == 0
        lo = hi - 1
        t_minus = float(t_minus_all[hi])
    else:
        lo, hi, t_minus = _bracket(pr, ends, b)
    if t_minus >= 1.0:
        return float(b[hi]), True
    a, c = (0.0 if lo < 0 else float(b[lo])), float(b[hi])
    users = np.flatnonzero(ends >= c)
    priced = pr.y[users] > 0
    mu = c
    for _ in range(100):
        tau, x = _times(pr, mu, users)
        f = float(tau.sum()) - 1.0
        if f > 0:
            a = mu
        else:
            c = mu
        if abs(f) <= 1e-14 or c - a <= 1e-15 * c:
            break
        slope_x = np.where(priced & (x < pr.x_max[users]),
                           pr.m_per_mu[users] / (x * np.exp(x)), 0.0)
        df = -float((tau / x * slope_x).sum())
        step = mu - f / df if df < 0 else math.nan
        if not (a < step < c):
            step = math.sqrt(a * c) if a > 0 and c > 4 * a else 0.5 * (a + c)
        mu = step
    return mu, False


def _primal(pr: _Prep, ends: np.ndarray, mu: float) -> tuple[np.ndarray, np.ndarray]:
    """Time fractions and powers at price ``mu``: users with ``ends > mu`` offload their
    whole backlog at ``x(mu)``; users with ``ends == mu`` (the jump) share what is left of the
    frame; the total is scaled down if rounding left it above 1."""
    n = ends.size
    tf, pw = np.zeros(n), np.zeros(n)
    if mu <= 0.0:
        users = np.flatnonzero(ends > 0)
        x = pr.x_max[users]
        tau = pr.q[users] / (pr.c_rate * x)
    else:
        users = np.flatnonzero(ends >= mu)
        tau, x = _times(pr, mu, users)
        at = ends[users] == mu
        full = float(tau[~at].sum())
        cum = np.cumsum(tau[at])
        tau[at] = np.clip(1.0 - full - (cum - tau[at]), 0.0, tau[at])
    total = float(tau.sum())
    if total > 1.0:
        tau = tau / total
    tf[users] = tau
    pw[users] = np.where(tau > 0, np.expm1(x) / pr.s[users], 0.0)
    return tf, pw


def _mode_value(pr: _Prep, mode: np.ndarray, cpu: np.ndarray, tfrac: np.ndarray,
                power: np.ndarray) -> float:
    bits = np.where(mode, tfrac * pr.c_rate * np.log1p(pr.s * power),
                    cpu * pr.tau_s / pr.spec.cycles_per_bit)
    energy = np.where(mode, power * tfrac * pr.tau_s, pr.spec.kappa * cpu**3 * pr.tau_s)
    return float(pr.v @ bits - pr.y @ energy)


def solve_mode(pr: _Prep, mode: np.ndarray, *, with_bound: bool = True
               ) -> tuple[float, float, np.ndarray, np.ndarray, np.ndarray]:
    """Exact inner problem for fixed modes: ``(value, bound, cpu_hz, time_frac, power_w)``.

    Local users take the closed form; offloading users the price ``mu*`` of :func:`_price`
    with end prices ``mu_drop`` and the primal of :func:`_primal`; ``bound = D(mu*)`` (NaN
    when ``with_bound`` is False).
    """
    mode = np.asarray(mode, dtype=bool)
    cpu = np.where(mode, 0.0, pr.f_loc)
    ends = np.where(mode, pr.mu_drop, 0.0)
    mu, _ = _price(pr, ends)
    tf, pw = _primal(pr, ends, mu)
    value = _mode_value(pr, mode, cpu, tf, pw)
    if not with_bound:
        return value, math.nan, cpu, tf, pw
    bound = _dual(pr, mu, mode.astype(np.int8))[0]
    return value, max(bound, value), cpu, tf, pw


@dataclass
class _Search:
    pr: _Prep
    best_value: float = -math.inf
    best_mode: np.ndarray | None = None
    best_arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    closed_bound: float = -math.inf

    def __post_init__(self) -> None:
        self.cache: dict[bytes, float] = {}

    def try_mode(self, mode: np.ndarray) -> float:
        key = np.packbits(mode).tobytes()
        if key in self.cache:
            return self.cache[key]
        value, _, cpu, tf, pw = solve_mode(self.pr, mode, with_bound=False)
        self.cache[key] = value
        if value > self.best_value:
            self.best_value, self.best_mode, self.best_arrays = value, mode.copy(), (cpu, tf, pw)
        return value


def _branch_and_bound(pr: _Prep, *, rtol: float, max_nodes: int) -> tuple[_Search, int, bool]:
    n = pr.v.size
    search = _Search(pr)
    search.try_mode(np.zeros(n, dtype=bool))
    root = np.where(pr.mu_switch > 0, -1, 0).astype(np.int8)
    heap: list[tuple[float, int, np.ndarray]] = [(-math.inf, 0, root)]
    counter, nodes = 1, 0

    def threshold() -> float:
        return search.best_value + rtol * max(1.0, abs(search.best_value))

    while heap:
        neg_parent, _, fixed = heapq.heappop(heap)
        if -neg_parent <= threshold():
            search.closed_bound = max(search.closed_bound, -neg_parent)
            continue
        if nodes >= max_nodes:
            search.closed_bound = max([search.closed_bound, -neg_parent]
                                      + [-item[0] for item in heap])
            return search, nodes, False
        nodes += 1
        free = fixed == -1
        ends = np.where(free, pr.mu_switch, np.where(fixed == 1, pr.mu_drop, 0.0))
        mu, jump = _price(pr, ends)
        bound = _dual(pr, mu, fixed)[0]
        if bound > threshold():
            m_minus = (ends > 0) & (ends >= mu)
            search.try_mode(m_minus)
            if jump:
                search.try_mode(ends > mu)
        if bound <= threshold():
            search.closed_bound = max(search.closed_bound, bound)
            continue
        cand = np.flatnonzero(free & (ends == mu) & (pr.L > 0)) if jump else np.empty(0, int)
        if cand.size == 0:
            cand = np.flatnonzero(free)
            if cand.size == 0:
                search.closed_bound = max(search.closed_bound, bound)
                continue
            cand = cand[[int(np.argmin(np.abs(ends[cand] - mu)))]]
        j = int(cand[0])
        for val in (1, 0):
            child = fixed.copy()
            child[j] = val
            heapq.heappush(heap, (-bound, counter, child))
            counter += 1
    return search, nodes, True


def frame_maximiser(pr: _Prep, *, rtol: float = 1e-9, max_nodes: int = 100_000
                    ) -> tuple[float, float, np.ndarray, np.ndarray]:
    """``(value, bound, bits, energy_j)`` of ``max sum v r - y e`` for the prepared frame
    ``pr``: the incumbent's value, the certified bound and the incumbent's bits and energy
    per user (a subgradient of the frame value in ``y`` is ``-energy``)."""
    search, _, _ = _branch_and_bound(pr, rtol=rtol, max_nodes=max_nodes)
    assert search.best_mode is not None and search.best_arrays is not None
    cpu, tf, pw = search.best_arrays
    mode = search.best_mode
    bits = np.where(mode, tf * pr.c_rate * np.log1p(pr.s * pw),
                    cpu * pr.tau_s / pr.spec.cycles_per_bit)
    energy = np.where(mode, pw * tf * pr.tau_s, pr.spec.kappa * cpu**3 * pr.tau_s)
    return (search.best_value, max(search.best_value, search.closed_bound), bits, energy)


def _solution(pr: _Prep, spec: LyapunovSpec, inst: FrameInstance, mode: np.ndarray,
              arrays: tuple[np.ndarray, np.ndarray, np.ndarray], bound: float, nodes: int,
              method: str) -> FrameSolution:
    cpu, tf, pw = arrays
    dec = FrameDecision(mode, cpu, tf, pw)
    bits = dec.bits(spec, inst)
    energy = dec.energy(spec, inst)
    obj = frame_objective(spec, inst.queues_bits, inst.virtual_queues, bits, energy)
    # the objective recomputed from the decision can differ from the search's value by
    # rounding (seen: 1 ulp above the bound on LyDROO's published frame 1); a bound that low
    # is lifted to the feasible value, a larger shortfall is left visible
    if obj > bound and obj - bound <= 1e-12 * max(1.0, abs(obj)):
        bound = obj
    return FrameSolution(dec, obj, bound, bits, energy, nodes, method)


def lyapunov_prep(spec: LyapunovSpec, inst: FrameInstance) -> _Prep:
    """:func:`prepare` with the drift-plus-penalty weights ``v = (Q/b0 + V w)/b0``,
    ``y = y_scale Y``."""
    b0 = spec.queue_unit_bits
    v = (inst.queues_bits / b0 + spec.V * spec.weights_for(inst.n_users)) / b0
    return prepare(spec, inst.gains, inst.queues_bits, v, spec.y_scale * inst.virtual_queues,
                   inst.tau_s)


def solve_frame(spec: LyapunovSpec, inst: FrameInstance, *, rtol: float = 1e-9,
                max_nodes: int = 100_000, prep: _Prep | None = None) -> FrameSolution:
    """Exact frame problem by branch and bound (see module docstring).

    ``prep`` overrides the weights (default :func:`lyapunov_prep`); the returned
    ``objective`` is then still the Lyapunov frame objective of the decision, while ``bound``
    is NaN (use :func:`frame_value_bound` for the prep's own objective).
    """
    rtol = check_scalar("rtol", rtol, "-", 0.0, 1.0)  # NaN or -1 had stopped at the root
    pr = prep if prep is not None else lyapunov_prep(spec, inst)
    search, nodes, done = _branch_and_bound(pr, rtol=rtol, max_nodes=max_nodes)
    assert search.best_mode is not None and search.best_arrays is not None
    bound = max(search.best_value, search.closed_bound)
    if not done:
        logger.warning("frame B&B stopped at the node limit %d (gap %.3g)", max_nodes,
                       bound - search.best_value)
    return _solution(pr, spec, inst, search.best_mode, search.best_arrays,
                     bound if prep is None else math.nan, nodes, "exact")


def frame_value_bound(pr: _Prep, *, rtol: float = 1e-9, max_nodes: int = 100_000
                      ) -> tuple[float, float, int]:
    """``(value, bound, nodes)`` of ``max sum v r - y e`` for the prepared frame ``pr``."""
    search, nodes, _ = _branch_and_bound(pr, rtol=rtol, max_nodes=max_nodes)
    return search.best_value, max(search.best_value, search.closed_bound), nodes


@overload
def solve_fixed_modes(spec: LyapunovSpec, inst: FrameInstance, modes: np.ndarray, *,
                      method: str = ..., prep: _Prep | None = ...,
                      return_index: Literal[False] = ...) -> FrameSolution: ...


@overload
def solve_fixed_modes(spec: LyapunovSpec, inst: FrameInstance, modes: np.ndarray, *,
                      method: str = ..., prep: _Prep | None = ...,
                      return_index: Literal[True]) -> tuple[FrameSolution, int]: ...


def solve_fixed_modes(spec: LyapunovSpec, inst: FrameInstance, modes: np.ndarray, *,
                      method: str = "modes", prep: _Prep | None = None,
                      return_index: bool = False) -> FrameSolution | tuple[FrameSolution, int]:
    """Best of the candidate ``modes`` ``[K, N]`` (each completed by the exact inner solver);
    with ``return_index`` also the index of the winning candidate (first on ties)."""
    pr = prep if prep is not None else lyapunov_prep(spec, inst)
    modes = np.atleast_2d(np.asarray(modes, dtype=bool))
    best: tuple[float, int, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None
    for k, mode in enumerate(modes):
        value, _, cpu, tf, pw = solve_mode(pr, mode, with_bound=False)
        if best is None or value > best[0]:
            best = (value, k, (cpu, tf, pw))
    assert best is not None
    sol = _solution(pr, spec, inst, modes[best[1]], best[2], math.nan, 0, method)
    return (sol, best[1]) if return_index else sol


def order_preserving_modes(score: np.ndarray, k: int) -> np.ndarray:
    """LyDROO's order-preserving quantisation (paper eqs. (8)-(9), code ``MemoryDNN.knm``):
    ``K`` binary modes from a relaxed score ``m in [0, 1]^N``.

    The first is ``1(m > 0.5)``; the k-th (k >= 2) thresholds ``m`` at the entry ``m_j`` that
    is the (k-1)-th closest to 0.5: ``1(m > m_j)`` if ``m_j > 0.5`` else ``1(m >= m_j)``.
    """
    m = np.asarray(score, dtype=np.float64)
    out = [m > 0.5]
    if k > 1:
        idx = np.argsort(np.abs(m - 0.5), kind="stable")[: k - 1]
        for j in idx:
            out.append(m > m[j] if m[j] > 0.5 else m >= m[j])
    return np.asarray(out, dtype=bool)
