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
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from aigc_opt.backend import SolveOptions
from aigc_opt.cases import CaseKind, register_case
from aigc_opt.errors import ValidationError
from aigc_opt.program import ConvexProgram
from aigc_opt.result import Result, SolveStats, Termination, relative_gap
from aigc_opt.solve import register_algorithm, register_heuristic
from aigc_opt.validate import check_array as _check

logger = logging.getLogger(__name__)

LN2 = math.log(2.0)


def check_array(name: str, unit: str, value: Any, n: int | None, *, low: float | None = 0.0,
                strict: bool = True, allow_inf: bool = False) -> np.ndarray:
    """A non-empty read-only float vector of shape ``(n,)`` (any length if None), checked by
    :func:`aigc_opt.validate.check_array` (NaN, bound, finiteness)."""
    return _check(name, unit, value, None if n is None else (n,), ndim=1, low=low,
                  strict=strict, allow_inf=allow_inf, nonempty=True)

def check_scalar(name: str, unit: str, value: Any, *, low: float = 0.0, strict: bool = True,
                 allow_inf: bool = False) -> float:
    """Validate a scalar (finite unless ``allow_inf``, above ``low``); return it as float."""
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(name, unit, value, "must be a number") from exc
    if math.isnan(v) or (math.isinf(v) and not (allow_inf and v > 0)):
        raise ValidationError(name, unit, v, "must be finite")
    if (v <= low) if strict else (v < low):
        raise ValidationError(name, unit, v, f"must be {'>' if strict else '>='} {low:g}")
    return v


# ---------------------------------------------------------------------------- instance / spec
@dataclass(frozen=True, eq=False)
class PowerInstance:
    """Parallel channels sharing a power budget (N channels / users).

    Parameters
    ----------
    gain : ndarray, shape (N,)
        Linear channel power gain g_n (> 0).
    noise_psd_w_per_hz : ndarray, shape (N,)
        Noise power spectral density N0_n, W/Hz (> 0).
    bandwidth_hz : ndarray, shape (N,)
        Bandwidth b_n of each channel, Hz (> 0).
    total_power_w : float
        Power budget P, W (> 0).
    max_power_w : ndarray, shape (N,)
        Per-channel power cap, W (> 0; inf for none).
    rate_target_bps : ndarray, shape (N,)
        Rate target r_n for ``mode="min_power"``, bit/s (>= 0).
    weight : ndarray, shape (N,)
        Rate weight w_n for ``mode="sum_rate"`` (> 0).
    """

    gain: np.ndarray
    noise_psd_w_per_hz: np.ndarray
    bandwidth_hz: np.ndarray
    total_power_w: float
    max_power_w: np.ndarray
    rate_target_bps: np.ndarray
    weight: np.ndarray

    def __post_init__(self) -> None:
        g = check_array("gain", "-", self.gain, None)
        n = g.shape[0]
        object.__setattr__(self, "gain", g)
        for name, unit, low, strict, inf in (
            ("noise_psd_w_per_hz", "W/Hz", 0.0, True, False),
            ("bandwidth_hz", "Hz", 0.0, True, False),
            ("max_power_w", "W", 0.0, True, True),
            ("rate_target_bps", "bit/s", 0.0, False, False),
            ("weight", "-", 0.0, True, False),
        ):
            v = np.broadcast_to(np.asarray(getattr(self, name), dtype=np.float64), (n,)) \
                if np.ndim(getattr(self, name)) == 0 else getattr(self, name)
            object.__setattr__(self, name, check_array(name, unit, v, n, low=low, strict=strict,
                                                       allow_inf=inf))
        object.__setattr__(self, "total_power_w",
                           check_scalar("total_power_w", "W", self.total_power_w))

    @property
    def n_users(self) -> int:
        """Number of channels N."""
        return int(self.gain.shape[0])

    @property
    def noise_floor_w(self) -> np.ndarray:
        """``h_n = N0_n b_n / g_n``, W: the power at which the SNR is 1."""
        return self.noise_psd_w_per_hz * self.bandwidth_hz / self.gain

    @classmethod
    def generate(cls, n_users: int = 100, *, seed: int = 0, total_power_w: float = 1.0,
                 bandwidth_hz: float = 1.0e6, noise_psd_w_per_hz: float = 4.0e-21,
                 snr_db: tuple[float, float] = (-5.0, 25.0)) -> PowerInstance:
        """Seeded instance whose SNR at the equal share ``P/N`` is uniform in ``snr_db`` (dB).

        Gains follow from the SNR draw (``g = SNR N0 b N / P``), i.e. a cell whose users span
        the cell edge to close-in. Rate targets are the rates at a power drawn in
        ``[0.2, 1.8] P/(2N)``, so the minimum-power solution uses about half the budget.
        """
        rng = np.random.default_rng(seed)
        snr = 10.0 ** (rng.uniform(snr_db[0], snr_db[1], n_users) / 10.0)
        n0 = np.full(n_users, noise_psd_w_per_hz)
        b = np.full(n_users, bandwidth_hz)
        g = snr * n0 * b * n_users / total_power_w
        h = n0 * b / g
        share = total_power_w / (2.0 * n_users) * rng.uniform(0.2, 1.8, n_users)
        r = b * np.log2(1.0 + share / h)
        return cls(gain=g, noise_psd_w_per_hz=n0, bandwidth_hz=b, total_power_w=total_power_w,
                   max_power_w=np.full(n_users, np.inf), rate_target_bps=r,
                   weight=np.ones(n_users))

    @classmethod
    def textbook(cls, seed: int = 0, *, n_strong: int = 50, n_weak: int = 50,
                 total_power_w: float = 3.0) -> PowerInstance:
        """The classic water-filling family: gains U(13,14) and U(0,0.1), noise 1, P = 3, b = 1."""
        rng = np.random.default_rng(seed)
        g = np.concatenate([rng.uniform(13.0, 14.0, n_strong), rng.uniform(0.0, 0.1, n_weak)])
        g = np.maximum(g, 1e-12)
        n = g.size
        return cls(gain=g, noise_psd_w_per_hz=np.ones(n), bandwidth_hz=np.ones(n),
                   total_power_w=total_power_w, max_power_w=np.full(n, np.inf),
                   rate_target_bps=np.zeros(n), weight=np.ones(n))


@dataclass(frozen=True)
class PowerSpec:
    """Power allocation spec.

    Parameters
    ----------
    mode : {"sum_rate", "min_power"}
        Maximise the weighted sum rate (bit/s) under the budget, or minimise the total power (W)
        meeting the rate targets.
    power_budget_scale : float
        Epsilon field for sweeps: the budget used is ``scale * instance.total_power_w``
        (``sum_rate`` mode).
    rate_scale : float
        Epsilon field for sweeps: the targets used are ``scale * instance.rate_target_bps``
        (``min_power`` mode).
    """

    mode: str = "sum_rate"
    power_budget_scale: float = 1.0
    rate_scale: float = 1.0
    problem: str = "allocation"
    variant: str = "power"

    def __post_init__(self) -> None:
        if self.mode not in ("sum_rate", "min_power"):
            raise ValidationError("mode", "-", self.mode, "must be 'sum_rate' or 'min_power'")
        check_scalar("power_budget_scale", "-", self.power_budget_scale)
        check_scalar("rate_scale", "-", self.rate_scale, strict=False)

    def build(self, instance: PowerInstance) -> ConvexProgram:
        """The CVXPY model (see module docstring)."""
        return build_cvxpy(instance, self)

    def decode(self, instance: PowerInstance, program: ConvexProgram, values: Any
               ) -> PowerAllocation:
        """Power from the scaled ``p`` block."""
        scale = np.asarray(program.meta["power_scale"])
        return PowerAllocation(power_w=np.maximum(np.asarray(values["p"]) * scale, 0.0))


@dataclass(frozen=True, eq=False)
class PowerAllocation:
    """Transmit power per channel.

    Parameters
    ----------
    power_w : ndarray, shape (N,)
        Power p_n, W.
    """

    power_w: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "power_w", check_array("power_w", "W", self.power_w, None,
                                                        low=None))


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
    nu = float((total + H[k] - C[k]) / A[k])
    return np.clip(a * nu - h, 0.0, c), nu


def weighted_rate(inst: PowerInstance, power: np.ndarray) -> np.ndarray:
    """``w_n b_n log2(1 + p_n/h_n)``, bit/s per channel."""
    return inst.weight * inst.bandwidth_hz * np.log2(1.0 + power / inst.noise_floor_w)


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
    return float(lam * budget + (a * np.log2(1.0 + p / h) - lam * p).sum())


def closed_form(inst: PowerInstance, spec: PowerSpec, options: SolveOptions | None = None
                ) -> Result:
    """Exact solution: water-filling (``sum_rate``) or the per-user closed form (``min_power``).

    The Result's ``bound`` is the dual function value at the returned multiplier (sum rate) or the
    objective itself (min power: the closed form is the unique feasible minimum per user).
    """
    t0 = time.perf_counter()
    h = inst.noise_floor_w
    if spec.mode == "sum_rate":
        budget = spec.power_budget_scale * inst.total_power_w
        a = inst.weight * inst.bandwidth_hz
        p, level = water_fill_sorted(h, budget, weight=a, cap=inst.max_power_w)
        lam = 0.0 if math.isinf(level) else 1.0 / (level * LN2)
        obj = float(weighted_rate(inst, p).sum())
        bound = sum_rate_dual(inst, budget, lam)
        term = Termination.OPTIMAL
        msg = f"water level {level:.6g}"
    else:
        r = spec.rate_scale * inst.rate_target_bps
        p = np.expm1(r / inst.bandwidth_hz * LN2) * h
        obj = float(p.sum())
        bound = obj
        bad = p > inst.max_power_w * (1 + 1e-12)
        term = Termination.INFEASIBLE if bad.any() else Termination.OPTIMAL
        msg = f"{int(bad.sum())} users cannot meet their rate target" if bad.any() else ""
    seconds = time.perf_counter() - t0
    if term is Termination.INFEASIBLE:
        return Result(term, False, gap=math.inf, message=msg,
                      stats=SolveStats("closed_form", solve_seconds=seconds))
    return Result(term, True, objective=obj, bound=bound, gap=relative_gap(obj, bound),
                  values={"p": p}, allocation=PowerAllocation(power_w=p), message=msg,
                  stats=SolveStats("closed_form", solve_seconds=seconds))


# ---------------------------------------------------------------------------- CVXPY model
def build_cvxpy(inst: PowerInstance, spec: PowerSpec) -> ConvexProgram:
    """Vectorised CVXPY model, scaled so the solver sees O(1) numbers.

    ``sum_rate``: variable ``p~ = p N / P`` (equal-share units, O(1) at any N); budget
    ``sum p~ <= N``; objective ``sum w b log(1 + (P/N) p~/h) / (ln2 * S)`` with ``S = sum w b``
    (``objective_scale = S``). ``min_power``: variable ``p~ = p / h`` per user;
    rate rows ``log(1 + p~) >= r ln2 / b``; objective ``sum h p~ / H`` with ``H = sum h``.
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
        s = float(a.sum())
        cons = [pv >= 0, cp.sum(pv) <= n]
        finite = np.isfinite(inst.max_power_w)
        if finite.any():
            idx = np.nonzero(finite)[0]
            cons.append(pv[idx] <= inst.max_power_w[finite] / unit)
        obj = cp.Maximize(cp.sum(cp.multiply(a / (LN2 * s), cp.log1p(cp.multiply(unit / h, pv)))))
        meta = {"power_scale": np.full(n, unit), "objective_scale": s}
    else:
        r = spec.rate_scale * inst.rate_target_bps
        hs = float(h.sum())
        cons = [pv >= 0, cp.log1p(pv) >= r * LN2 / inst.bandwidth_hz]
        finite = np.isfinite(inst.max_power_w)
        if finite.any():
            idx = np.nonzero(finite)[0]
            cons.append(pv[idx] <= inst.max_power_w[finite] / h[finite])
        obj = cp.Minimize(cp.sum(cp.multiply(h / hs, pv)))
        meta = {"power_scale": h, "objective_scale": hs}
    return ConvexProgram(cp.Problem(obj, cons), {"p": pv}, name=f"power[{spec.mode},N={n}]",
                         meta=meta)


# ---------------------------------------------------------------------------- heuristics
def equal_power(inst: PowerInstance, spec: PowerSpec, seed: int = 0) -> PowerAllocation:
    """Baseline: the budget split equally (``sum_rate``), or each user's target power capped at
    the equal share ``P/N`` (``min_power``: then some targets may be missed)."""
    share = spec.power_budget_scale * inst.total_power_w / inst.n_users
    p = np.minimum(np.full(inst.n_users, share), inst.max_power_w)
    return PowerAllocation(power_w=p)


register_algorithm(PowerSpec, "closed_form", closed_form)
register_heuristic(PowerSpec, "equal_power", equal_power)
register_case(CaseKind(
    name="allocation.power",
    make_instance=lambda seed, n_users=100, **kw: PowerInstance.generate(n_users, seed=seed, **kw),
    make_spec=lambda **params: PowerSpec(**params),
    default_methods=("closed_form", "cvxpy", "equal_power"),
    reference="closed_form",
    description="power over parallel channels: water-filling sum rate / min power for rates",
))
