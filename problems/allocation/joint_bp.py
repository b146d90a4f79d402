r"""Joint bandwidth and power for uploads: transmission latency against device energy.

User n uploads ``D_n`` bits over ``b_n`` Hz at power ``p_n`` W (gain ``g_n``, noise PSD ``N0``):
rate ``r_n = b_n log2(1 + p_n g_n / (N0 b_n))`` (jointly concave: a perspective), transmission
time ``t_n = D_n / r_n`` and energy ``E_n = p_n t_n``. The cell has ``B`` Hz and a frame of
``T_f`` s; user n occupies a ``b_n x t_n`` block of the time-frequency grid and the blocks' total
area may not exceed ``B T_f`` (fluid OFDMA packing). Objective (``alpha`` per s, ``beta`` per J):

.. math::

    \min \sum_n w_n (\alpha t_n + \beta E_n)
    \quad\text{s.t.}\quad \sum_n b_n t_n \le B T_f,\; b_n \le B,\; p_n \le \bar p_n,\;
    t_n \le \min(T_n, T_f).

Not convex in ``(b, p)``; convex after the change of variables ``x_n = b_n t_n`` (Hz s, the
block's area), ``t_n`` and ``E_n = p_n t_n``:

.. math::

    D_n \le x_n \log_2\!\Big(1 + \frac{E_n g_n}{N_0 x_n}\Big)
    \;(\text{perspective of } \log_2(1 + E g / N_0)),\quad
    x_n \le B t_n,\quad E_n \le \bar p_n t_n,\quad \sum_n x_n \le B T_f,

all linear except the perspective (an exponential cone: ``-rel_entr(x, x + E g/N0)``). Then
``b = x/t`` and ``p = E/t``.

Fast exact path (:func:`closed_form`): dualise the area budget with price ``lambda >= 0``. Per user,
with spectral efficiency ``u = D/x``, the rate row is tight, ``E(u) = N0 D (2^u - 1)/(g u)`` and
``t = max(x/B, E/pbar)``: full band while ``u <= u* = log2(1 + pbar g/(N0 B))``, full power
beyond. The per-user problem is convex in x and its stationarity condition
``h(u) = 2^u (u ln2 - 1) + 1 = c`` has the closed-form root ``u = (1 + W0((c - 1)/e)) / ln 2``
(Lambert W) with ``c = g (lambda + w alpha/B) / (w beta N0)`` on the full-band branch and
``c = g lambda / (w (alpha/pbar + beta) N0)`` on the full-power branch (else the kink ``u*``);
the deadline clips u to ``[D/(B T), u_hi]``. The price solves ``sum_n x_n(lambda) = B T_f`` by
a safeguarded Newton method (analytic derivative, monotone from the left); the dual value
``sum_n phi_n - lambda B T_f`` is the certificate.

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
from aigc_opt.program import ConvexProgram
from aigc_opt.result import Result, SolveStats, Termination, relative_gap
from aigc_opt.solve import register_algorithm, register_heuristic
from aigc_opt.spec import register_builder

from .data import (
    LN2,
    JointBPAllocation,
    JointBPInstance,
    JointBPSpec,
    proportional_u,
    tight_blocks,
    time_limit,
)

logger = logging.getLogger(__name__)

#: CLARABEL settings for the CVXPY model: a shorter maximum step keeps the interior-point method
#: from stalling (``InsufficientProgress``) on the exponential cones of high-SNR users; with it,
#: 48/48 test instances solved to within 6e-7 of the closed form (2/36 failed without it).
CVXPY_SETTINGS: dict[str, float] = {"max_step_fraction": 0.95}


def _h(u: np.ndarray) -> np.ndarray:
    """``h(u) = 2^u (u ln2 - 1) + 1``, written to keep accuracy for small u."""
    s = u * LN2
    return np.expm1(s) * (s - 1.0) + s


def lambertw0(y: np.ndarray, steps: int = 3) -> np.ndarray:
    """Principal branch W0 of the Lambert W function for real ``y >= -1/e`` (vectorised).

    Start from the branch-point series (``y < -0.3``) or Winitzki's approximation, then
    ``steps`` Halley steps (cubic convergence from ~1e-2: two reach ~1e-12, three full
    precision). Faster than
    ``scipy.special.lambertw``, which works in complex arithmetic; the tests compare the two.
    """
    y = np.maximum(np.asarray(y, dtype=np.float64), -1.0 / math.e)
    lg = np.log1p(np.maximum(y, -0.3))
    w = lg * (1.0 - np.log1p(lg) / (2.0 + lg))  # Winitzki
    near = np.nonzero(y < -0.3)[0]
    if near.size:  # branch-point series in p = sqrt(2 (e y + 1))
        p = np.sqrt(np.maximum(2.0 * (math.e * y[near] + 1.0), 0.0))
        w[near] = -1.0 + p * (1.0 + p * (-1.0 / 3.0 + p * (11.0 / 72.0)))
    for _ in range(steps):
        ew = np.exp(w)
        f = w * ew - y
        wp1 = np.maximum(w + 1.0, 1e-300)  # w >= -1 on this branch
        den = ew * wp1 - (w + 2.0) * f / (2.0 * wp1)
        w -= f / np.where(den > 0, den, np.inf)
    return w


def _h_inverse(c: np.ndarray) -> np.ndarray:
    """Root u >= 0 of ``h(u) = 2^u (u ln2 - 1) + 1 = c`` for c >= 0 (inf for c = inf).

    ``u = (1 + W0((c - 1)/e)) / ln 2`` (Lambert W), then one Newton step on h itself, which
    restores full relative accuracy near the branch point (small c, where ``u ~ sqrt(2c)/ln2``).
    """
    c = np.asarray(c, dtype=np.float64)
    fin = np.isfinite(c)
    allfin = bool(fin.all())
    cf = np.maximum(c, 0.0) if allfin else np.where(fin, np.maximum(c, 0.0), 1.0)
    # two Halley steps leave W0 accurate to ~1e-12; the Newton step on h squares that
    u = np.maximum((1.0 + lambertw0((cf - 1.0) / math.e, steps=2)) / LN2, 0.0)
    u = np.where(u > 0, u, np.sqrt(2.0 * cf) / LN2)  # series start at the branch point
    # h'(u) = 2^u u ln2^2 (0 only at u = 0, where h(u) - c = 0 too); u <= 1000 keeps 2^u finite
    # (larger u need c > 1e301: the step is then below rounding anyway)
    uu = np.minimum(u, 1000.0)
    step = (_h(uu) - cf) / np.maximum(np.exp2(uu) * uu * LN2**2, 1e-300)
    u = np.maximum(u - np.where(u < 1000.0, step, 0.0), 0.0)
    return u if allfin else np.where(fin, u, np.inf)


def _u_deadline(inst: JointBPInstance, T: np.ndarray, u_star: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Interval ``[u_lo, u_hi]`` of spectral efficiencies that finish within T (s).

    Full band: ``t = D/(u B) <= T`` gives ``u >= D/(B T)``; full power: ``t = E(u)/pbar <= T``,
    increasing in u, gives ``u <= u_hi`` (bisection, independent of the price).
    """
    u_lo = inst.data_bits / (inst.bandwidth_hz * T)
    u_hi = np.full(u_lo.shape, np.inf)
    fin = np.flatnonzero(np.isfinite(T))  # only users with a deadline need the root
    if fin.size == 0:
        return u_lo, u_hi
    u_hi[fin] = _u_full_power_deadline(inst.gain[fin] * inst.max_power_w[fin] * T[fin]
                                       / (inst.noise_psd_w_per_hz * inst.data_bits[fin]),
                                       np.asarray(u_star, dtype=np.float64)[fin])
    return u_lo, u_hi


def _u_full_power_deadline(kappa: np.ndarray, u_star: np.ndarray) -> np.ndarray:
    """Root of ``(2^u - 1)/u = kappa`` (finite kappa), bracketed from ``u*`` upwards."""
    # G(u) = log((2^u - 1)/u) - log(kappa) is increasing (from log ln2 at u=0) and nearly linear
    # for large u: safeguarded Newton inside a bracket [lo, hi] with G(lo) <= 0 <= G(hi).
    lk = np.log(kappa)

    def G(u: np.ndarray) -> np.ndarray:
        return np.log(np.expm1(u * LN2) / u) - lk

    lo = np.array(u_star, dtype=np.float64)
    hi = np.maximum(2.0 * lo, 1.0)
    for _ in range(60):
        grow = G(hi) < 0
        if not grow.any():
            break
        lo = np.where(grow, hi, lo)
        hi = np.where(grow, 2.0 * hi, hi)
    u = np.log2(np.maximum(kappa, 1.0)) + np.log2(np.maximum(np.log2(kappa), 1.0))
    # two fixed-point steps of 2^u = kappa u + 1 (a contraction for u > 1/ln2) sharpen the start
    u = np.clip(np.log2(kappa * np.log2(kappa * np.maximum(u, 1.0) + 1.0) + 1.0), lo, hi)
    for it in range(100):  # noqa: B007
        gu = G(u)
        lo, hi = np.where(gu <= 0, u, lo), np.where(gu >= 0, u, hi)
        s = u * LN2
        dg = LN2 * np.exp(s) / np.expm1(s) - 1.0 / u
        nxt = u - gu / dg
        bad = ~((nxt >= lo) & (nxt <= hi))
        nxt = np.where(bad, 0.5 * (lo + hi), nxt)
        if (np.abs(nxt - u) <= 1e-13 * u).all():  # quadratic: the next step is ~1e-26
            u = nxt
            break
        u = nxt
    logger.debug("deadline interval: %d Newton steps", it + 1)
    return u


def _price_constants(inst: JointBPInstance, spec: JointBPSpec, u_star: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(ka, kb, h(u*), ka w alpha / B)``: the price-independent parts of :func:`_best_u`."""
    w, n0, g = inst.weight, inst.noise_psd_w_per_hz, inst.gain
    al, be = spec.latency_weight, spec.energy_weight
    ka = g / (w * be * n0)  # dc/dlam on the full-band branch
    kb = g / (w * (al / inst.max_power_w + be) * n0)  # ... on the full-power branch
    with np.errstate(over="ignore"):
        hs = _h(u_star)
    return ka, kb, hs, ka * (w * al / inst.bandwidth_hz)


def _best_u(inst: JointBPInstance, spec: JointBPSpec, lam: float, u_star: np.ndarray,
            u_lo: np.ndarray, u_hi: np.ndarray,
            pre: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """Per-user minimiser u of ``w(alpha t + beta E) + lam x`` and ``du/dlam`` (0 at the kink
    and where the deadline clips).

    ``h`` is increasing, so the branch is decided on the right-hand sides before any root is
    taken: full band iff ``c_a <= h(u*)``, full power iff ``c_b >= h(u*)``, else the kink;
    one Lambert-W pass then serves every user. ``pre``: :func:`_price_constants` (computed
    once per solve).
    """
    ka, kb, hs, ca0 = _price_constants(inst, spec, u_star) if pre is None else pre
    ca = ka * lam + ca0
    on_a = ca <= hs
    cb = kb * lam
    on_b = ~on_a & (cb >= hs)
    kink = ~(on_a | on_b)
    u = _h_inverse(np.where(on_a, ca, np.where(on_b, cb, 0.0)))
    u = np.where(kink, u_star, u)
    uc = np.clip(u, u_lo, u_hi)
    free = (uc == u) & ~kink
    err = np.seterr(over="ignore", divide="ignore", invalid="ignore")
    hp = np.exp2(uc) * uc * LN2**2
    du = np.where(free & (hp > 0), np.where(on_a, ka, kb) / hp, 0.0)
    np.seterr(**err)
    return uc, np.where(np.isfinite(du), du, 0.0)


def _phi(inst: JointBPInstance, spec: JointBPSpec, u: np.ndarray) -> np.ndarray:
    x, E, t, _, _ = tight_blocks(inst, u)
    return inst.weight * (spec.latency_weight * t + spec.energy_weight * E)


def objective_value(inst: JointBPInstance, spec: JointBPSpec, u: np.ndarray) -> float:
    """``sum_n w_n (alpha t_n + beta E_n)`` at spectral efficiencies u."""
    return float(_phi(inst, spec, u).sum())


def closed_form(inst: JointBPInstance, spec: JointBPSpec, options: SolveOptions | None = None
                ) -> Result:
    """Exact solution by one price on the area budget (see module docstring).

    ``bound`` is the dual function value at the final price (a valid lower bound for any
    price); ``infeasible`` when even the deadline-limited smallest blocks exceed the budget.
    """
    t0 = time.perf_counter()
    area = spec.area_scale * inst.bandwidth_hz * inst.frame_s
    T = time_limit(inst, spec)
    u_star = np.log2(1.0 + inst.full_band_snr)
    u_lo, u_hi = _u_deadline(inst, T, u_star)
    evals = 0

    def stats() -> SolveStats:
        return SolveStats("closed_form", solve_seconds=time.perf_counter() - t0, iterations=evals)

    if (u_lo > u_hi * (1 + 1e-12)).any() or (inst.data_bits / u_hi).sum() > area * (1 + 1e-12):
        return Result(Termination.INFEASIBLE, False, gap=math.inf, stats=stats(),
                      message="deadlines cannot be met within the time-frequency budget")

    D = inst.data_bits
    pre = _price_constants(inst, spec, u_star)

    def excess(lam: float) -> tuple[float, float, np.ndarray]:
        """Relative area excess ``sum x / A - 1``, its derivative in lam, and u."""
        nonlocal evals
        evals += 1
        u, du = _best_u(inst, spec, lam, u_star, u_lo, u_hi, pre)
        return float((D / u).sum() / area - 1.0), float(-(D / u**2 * du).sum() / area), u

    # Safeguarded Newton on F(lam) = sum x(lam)/A - 1 (decreasing): Newton steps from the left;
    # after an overshoot one Newton step back from the right; bisection (geometric once lo > 0)
    # whenever a step leaves the bracket [lo, hi].
    lam, lo, hi = 0.0, 0.0, math.inf
    F, dF, u = excess(0.0)
    while F > 1e-15:
        lo = lam
        nxt = lam - F / dF if dF < 0 else math.nan
        if not (lo < nxt < hi):
            if math.isinf(hi):
                nxt = 4.0 * lam if lam > 0 else float(np.median(spec.energy_weight * inst.weight
                                                                  * inst.noise_psd_w_per_hz
                                                                  / inst.gain))
            else:
                nxt = math.sqrt(lo * hi) if lo > 0 else 0.5 * hi
        while True:
            Fn, dFn, un = excess(nxt)
            if Fn >= -1e-15 or evals > 400:
                break
            hi = nxt  # overshoot: a Newton step back from the right (it lands left of the
            # root where F is convex, i.e. near the root), else bisection towards lo
            back = nxt - Fn / dFn if dFn < 0 else math.nan
            nxt = back if lo < back < hi else (math.sqrt(lo * hi) if lo > 0 else 0.5 * hi)
        lam, F, dF, u = nxt, Fn, dFn, un
        if (math.isfinite(hi) and hi - lo <= 1e-15 * hi) or evals > 400:
            break
    bound = float(_phi(inst, spec, u).sum() + lam * ((D / u).sum() - area))
    x = D / u
    if x.sum() > area:  # last-ulp repair: shrink every block
        u = u * (x.sum() / area)
    obj = objective_value(inst, spec, u)
    x, E, t, b, p = tight_blocks(inst, u)
    alloc = JointBPAllocation(bandwidth_hz=b, power_w=p)
    return Result(Termination.OPTIMAL, True, objective=obj, bound=bound,
                  gap=relative_gap(obj, bound), values={"x": x, "t": t, "E": E, "u": u,
                                                        "lambda": np.array([lam])},
                  allocation=alloc, stats=stats(), message=f"price {lam:.6g} after {evals} evals")


def build_cvxpy(inst: JointBPInstance, spec: JointBPSpec) -> ConvexProgram:
    """Vectorised CVXPY model in scaled ``(x, t, E)``.

    Per-user scales from the physics (not from the solution): ``x0 = D / u*`` (the area at full
    band and full power, ``u* = log2(1 + SNR_full)``), ``t0 = x0 / B``, ``e0 = pbar t0``; the
    rows read ``x~ <= t~``, ``E~ <= t~``, ``t~ <= T/t0``, ``sum (x0/A) x~ <= 1`` and the rate row
    ``-rel_entr(x~, x~ + SNR_full E~) >= u* ln2`` (divided through by its right-hand side).
    A global ``x0 = A/N`` failed (CLARABEL ``InsufficientProgress``) on 2/36 test instances and
    an energy unit taken at the equal area was ~5e-4 off on high-SNR users; use with
    :data:`CVXPY_SETTINGS`.
    """
    import cvxpy as cp

    n = inst.n_users
    snr = inst.full_band_snr
    u_star = np.log2(1.0 + snr)
    x0 = inst.data_bits / u_star  # area at full band and full power, Hz s
    t0 = x0 / inst.bandwidth_hz
    e0 = inst.max_power_w * t0
    rhs = u_star * LN2
    area = spec.area_scale * inst.bandwidth_hz * inst.frame_s
    xs, ts, es = (cp.Variable(n, name=k) for k in ("x", "t", "E"))
    T = time_limit(inst, spec)
    cons = [
        cp.multiply(1.0 / rhs, -cp.rel_entr(xs, xs + cp.multiply(snr, es))) >= 1.0,
        xs <= ts, es <= ts, es >= 0, ts <= T / t0, (x0 / area) @ xs <= 1.0,
    ]
    ct = inst.weight * spec.latency_weight * t0
    ce = inst.weight * spec.energy_weight * e0
    scale = float((ct + ce).sum())
    obj = cp.Minimize((ct / scale) @ ts + (ce / scale) @ es)
    return ConvexProgram(cp.Problem(obj, cons), {"x": xs, "t": ts, "E": es},
                         name=f"joint_bp[N={n}]",
                         meta={"objective_scale": scale, "x0": x0, "t0": t0, "e0": e0})


def decode_cvxpy(inst: JointBPInstance, spec: JointBPSpec, program: ConvexProgram, values: Any
                 ) -> JointBPAllocation:
    """``b = x/t``, ``p = E/t`` from the scaled blocks."""
    x = np.asarray(values["x"]) * np.asarray(program.meta["x0"])
    t = np.asarray(values["t"]) * np.asarray(program.meta["t0"])
    E = np.asarray(values["E"]) * np.asarray(program.meta["e0"])
    t = np.maximum(t, 1e-300)
    return JointBPAllocation(bandwidth_hz=np.maximum(x, 0.0) / t,
                             power_w=np.maximum(E, 0.0) / t)


def equal_area(inst: JointBPInstance, spec: JointBPSpec, seed: int = 0) -> JointBPAllocation:
    """Baseline: every user gets the same block area ``area_scale B T_f / N`` and sends at full
    band (full power and less band when that is not enough), ignoring weights and deadlines."""
    u = inst.data_bits * inst.n_users / (spec.area_scale * inst.bandwidth_hz * inst.frame_s)
    _, _, _, b, p = tight_blocks(inst, u)
    return JointBPAllocation(bandwidth_hz=b, power_w=p)


def proportional_area(inst: JointBPInstance, spec: JointBPSpec, seed: int = 0
                      ) -> JointBPAllocation:
    """Baseline: areas in proportion to ``D_n / u*_n`` (what each user needs at full band and
    full power), scaled to fill the budget; ignores weights and deadlines."""
    _, _, _, b, p = tight_blocks(inst, proportional_u(inst, spec.area_scale * inst.bandwidth_hz
                                                  * inst.frame_s))
    return JointBPAllocation(bandwidth_hz=b, power_w=p)


register_builder(JointBPSpec, build_cvxpy, decode_cvxpy)
register_algorithm(JointBPSpec, "closed_form", closed_form)
register_heuristic(JointBPSpec, "equal_area", equal_area)
register_heuristic(JointBPSpec, "proportional_area", proportional_area)
register_case(CaseKind(
    name="allocation.joint_bp",
    make_instance=lambda seed, n_users=50, **kw: JointBPInstance.generate(n_users, seed=seed,
                                                                          **kw),
    make_spec=lambda **params: JointBPSpec(**params),
    default_methods=("closed_form", "cvxpy", "equal_area", "proportional_area"),
    reference="closed_form",
    description="joint bandwidth + power for uploads: latency vs energy (time/energy variables)",
))
