r"""Bandwidth and compute shares at edge servers: minimise weighted latency, exactly.

Request n is served at edge server ``s(n)``; it uploads ``D_n`` bits at spectral efficiency
``se_n`` (bit/s/Hz) over ``b_n`` Hz and needs ``C_n`` FLOP at ``f_n`` FLOP/s. Writing
``a_n = D_n / se_n`` (Hz s):

.. math::

    \min_{b, f > 0} \sum_n w_n \Big(\frac{a_n}{b_n} + \frac{C_n}{f_n}\Big)
    \quad\text{s.t.}\quad \sum_{n: s(n)=s} b_n \le B_s,\;\; \sum_{n: s(n)=s} f_n \le F_s
    \;\;\forall s,

    b_n\, se_n \ge r^{min}_n \;(b_n \ge \underline b_n), \qquad
    \frac{a_n}{b_n} + \frac{C_n}{f_n} \le T_n \;\text{(deadline)} .

Convex (``1/x`` is convex on x > 0); servers are independent. Dualising only the two budgets of
each server with prices ``lambda_s, nu_s`` leaves one small convex problem per user whose
minimiser is closed form (KKT, with ``mu_n >= 0`` the deadline multiplier and
``W_n = w_n + mu_n``):

* ``b_n = max(b_min, sqrt(W_n a_n / lambda))``, ``f_n = sqrt(W_n C_n / nu)``;
* ``mu_n = 0`` when the deadline holds at ``W_n = w_n``; otherwise ``W_n`` makes it tight:
  ``W = ((sqrt(lambda a) + sqrt(nu C)) / T)^2`` with ``b`` unclipped, or
  ``W = nu C / (T - a/b_min)^2`` with ``b = b_min``.

Without deadlines and minimum rates this is ``b_n ∝ sqrt(w_n a_n)``, ``f_n ∝ sqrt(w_n C_n)``.
:func:`closed_form` finds the prices on the concave dual function
``g(lambda, nu) = sum_n L_n(lambda, nu) - lambda B - nu F`` (gradient = budget residuals),
vectorised over servers with ``np.bincount``: with each user's regime (free / b at b_min /
deadline tight) held fixed the budget equations have a closed-form solution, which is taken
whenever it does not decrease g (an active-set iteration that ends exactly once the regimes are
right); otherwise a damped Newton step (Hessian from the closed-form derivatives, Armijo
backtracking) is made. Any
``lambda, nu > 0`` gives a valid lower bound ``g``; it is the Result's ``bound``.

The CVXPY model (``inv_pos``, solved by CLARABEL) is the independent check. Equal shares and
shares proportional to demand (``a_n``, ``C_n``) are the baselines.

The instance, spec and allocation types are in :mod:`aigc_opt.problems.allocation.data`; this
module registers the CVXPY model as the spec's builder, the exact method as algorithm
``closed_form`` and the baselines as heuristics.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from typing import Any, NamedTuple

import numpy as np

from aigc_opt.backend import SolveOptions
from aigc_opt.cases import CaseKind, register_case
from aigc_opt.explain import GridLabels
from aigc_opt.explain_convex import convex_meta
from aigc_opt.program import ConvexProgram
from aigc_opt.result import Result, SolveStats, Termination, relative_gap
from aigc_opt.solve import register_algorithm, register_heuristic
from aigc_opt.solvers.numerics import sqrt_shares
from aigc_opt.spec import register_builder

from . import jit as _jit
from .data import (
    BandwidthComputeAllocation,
    BandwidthComputeInstance,
    BandwidthComputeSpec,
    budgets,
    side_constraints,
    trusted_allocation,
    weighted_latency,
)

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------- fast exact path
class _Response(NamedTuple):
    b: np.ndarray
    f: np.ndarray
    value: np.ndarray  # per-user Lagrangian minimum
    late: np.ndarray  # deadline tight
    clipped: np.ndarray  # b at its lower bound, b <= b_min
    tight_clip: np.ndarray  # deadline tight on the branch where b_min binds


class _Consts(NamedTuple):
    """Per-user data of one solve and the price-free products :func:`_response` reuses (each
    computed with the same operation order as inline, so results are bit-identical)."""

    a: np.ndarray  # comm load, bit / (bit/s/Hz)
    c: np.ndarray  # workload, FLOP
    w: np.ndarray  # weight
    bmin: np.ndarray  # minimum bandwidth, Hz
    T: np.ndarray  # deadline, s (inf when off)
    wa: np.ndarray  # w a
    wc: np.ndarray  # w c
    bmin2: np.ndarray  # b_min^2
    a_bpos: np.ndarray  # a / max(b_min, 1e-300)
    bpos: np.ndarray  # b_min > 0


def _consts(a: np.ndarray, c: np.ndarray, w: np.ndarray, bmin: np.ndarray, T: np.ndarray
            ) -> _Consts:
    with np.errstate(divide="ignore", over="ignore"):
        return _Consts(a, c, w, bmin, T, w * a, w * c, bmin**2, a / np.maximum(bmin, 1e-300),
                       bmin > 0)


def _response(k: _Consts, lam: np.ndarray, nu: np.ndarray) -> _Response:
    """Per-user minimiser of ``w(a/b + c/f) + lam b + nu f`` s.t. ``b >= bmin``, ``a/b+c/f <= T``.
    All arrays shape (N,); the derivatives are :func:`_jacobian` (only the Newton fallback
    needs them). Call under ``np.errstate(all="ignore")`` (:func:`closed_form` holds one for
    the whole solve): the clipped branch divides by ``b_min`` and ``T - a/b_min``."""
    a, c, w, bmin, T = k.a, k.c, k.w, k.bmin, k.T
    b0 = np.maximum(bmin, np.sqrt(k.wa / lam))
    f0 = np.sqrt(k.wc / nu)
    late = a / b0 + c / f0 > T
    if not late.any():  # every deadline slack: the unconstrained minimisers
        b, f, clipped = b0, f0, late  # (clipped: all False)
    else:
        # deadline-tight weight W: unclipped branch, then the clipped branch when b_min binds
        nuc = nu * c
        w_int = ((np.sqrt(lam * a) + np.sqrt(nuc)) / T) ** 2
        wc = lam * k.bmin2 / a  # W at which b leaves b_min
        lat_wc = k.a_bpos + np.sqrt(nuc / np.maximum(wc, 1e-300))
        clipped = late & k.bpos & (lat_wc <= T)
        w_clip = nuc / (T - k.a_bpos) ** 2
        W = np.where(late, np.maximum(np.where(clipped, w_clip, w_int), w), w)
        b = np.where(clipped, bmin, np.maximum(bmin, np.sqrt(W * a / lam)))
        f = np.sqrt(W * c / nu)
    value = w * (a / b + c / f) + lam * b + nu * f
    return _Response(b, f, value, late, ~(b > bmin), clipped)


def _jacobian(a: np.ndarray, c: np.ndarray, T: np.ndarray, r: _Response, lam: np.ndarray,
              nu: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Derivatives ``(db/dlam, db/dnu = df/dlam, df/dnu)`` of the minimiser in ``r`` at the
    per-user prices ``(lam, nu)``."""
    late = r.late
    jbb = np.where(~r.clipped & ~late, -r.b / (2 * lam), 0.0)
    jff = np.where(~late, -r.f / (2 * nu), 0.0)
    jbf = np.zeros_like(r.b)
    act = late & ~r.tight_clip
    k = np.sqrt(a * c) / np.where(act, T, 1.0) / 2.0
    s = np.sqrt(nu / lam)
    jbb = np.where(act, -k * s / lam, jbb)
    jbf = np.where(act, k / np.sqrt(lam * nu), jbf)
    jff = np.where(act, -k / (s * nu), jff)
    return jbb, jbf, jff


def _active_set_prices(a: np.ndarray, c: np.ndarray, roots: tuple[np.ndarray, ...],
                       bmin: np.ndarray, T: np.ndarray, r: _Response, srv: np.ndarray,
                       B: np.ndarray, F: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact prices for the regimes in ``r`` held fixed (one closed form per server).

    With ``X = lambda^-1/2`` and ``Y = nu^-1/2`` the budgets read
    ``P_b X + K X/Y + R_b = B`` and ``P_f Y + K Y/X + R_f = F``, where ``P_b = sum sqrt(w a)``
    over free users, ``P_f = sum sqrt(w C)`` over users whose deadline is slack,
    ``K = sum sqrt(a C)/T`` over deadline-tight users with b above b_min, and ``R`` collects
    the constant shares; ``z = X/Y = (B' P_f + K P_b) / (P_b F' + K P_f)``. Returns
    ``(lambda, nu, valid)``; ``valid`` is False where the fixed regimes admit no positive
    solution. ``roots`` are the per-user constants ``(sqrt(w a), sqrt(w C), sqrt(a C))``,
    computed once per solve. Call under ``np.errstate(all="ignore")``.
    """
    S = B.shape[0]

    def seg(x: np.ndarray) -> np.ndarray:
        return np.bincount(srv, weights=x, minlength=S)

    slack = ~r.late
    act = r.late & ~r.clipped
    lclip = r.late & r.clipped
    Tm = np.where(r.late, T, 1.0)
    swa, swc, sac = roots
    pb = seg(np.where(slack & ~r.clipped, swa, 0.0))
    pf = seg(np.where(slack, swc, 0.0))
    k = seg(np.where(act, sac / Tm, 0.0))
    rb = seg(np.where(r.clipped, bmin, 0.0) + np.where(act, a / Tm, 0.0))
    rf = seg(np.where(act, c / Tm, 0.0)
             + np.where(lclip, c / (Tm - a / np.where(lclip, bmin, 1.0)), 0.0))
    bp, fp = B - rb, F - rf
    if S <= SCALAR_MAX_SERVERS:
        return _server_prices_scalar(pb, pf, k, bp, fp)
    return _server_prices(pb, pf, k, bp, fp)


#: Up to this many servers the per-server closed form runs on Python floats (numpy's fixed
#: cost per call, ~1 us, dominates on arrays this short; measured at N = 100, S = 1).
SCALAR_MAX_SERVERS = 8


def _server_prices(pb: np.ndarray, pf: np.ndarray, k: np.ndarray, bp: np.ndarray,
                   fp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(lambda, nu, valid)`` per server from the regime sums (see :func:`_active_set_prices`),
    vectorised; call under ``np.errstate(all="ignore")``."""
    z = np.where(pf > 0, (bp * pf + k * pb) / (pb * fp + k * pf), k / fp)
    y = np.where(pf > 0, (fp - k / z) / pf, 0.0)
    x = np.where(pf > 0, z * y, np.where(pb > 0, (bp - k * z) / pb, np.nan))
    y = np.where(pf > 0, y, x / z)
    x = np.where(k > 0, x, bp / pb)
    y = np.where(k > 0, y, fp / pf)
    lam, nu = 1.0 / x**2, 1.0 / y**2
    valid = np.isfinite(lam) & np.isfinite(nu) & (x > 0) & (y > 0)
    return lam, nu, valid


def _div(p: float, q: float) -> float:
    """``p / q`` with numpy's IEEE semantics (``+-inf`` or ``nan`` instead of an exception)."""
    try:
        return p / q
    except ZeroDivisionError:
        if p != p or p == 0.0:
            return math.nan
        return math.copysign(math.inf, p) * math.copysign(1.0, q)


def _server_prices_scalar(pb: np.ndarray, pf: np.ndarray, k: np.ndarray, bp: np.ndarray,
                          fp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_server_prices` on Python floats, one server at a time: the same IEEE
    operations on the selected branch, so the results are bit-identical (tested)."""
    lam, nu, valid = [], [], []
    for pb_, pf_, k_, bp_, fp_ in zip(pb.tolist(), pf.tolist(), k.tolist(), bp.tolist(),
                                      fp.tolist(), strict=True):
        if pf_ > 0:
            z = _div(bp_ * pf_ + k_ * pb_, pb_ * fp_ + k_ * pf_)
            y = _div(fp_ - _div(k_, z), pf_)
            x = z * y
        else:
            z = _div(k_, fp_)
            x = _div(bp_ - k_ * z, pb_) if pb_ > 0 else math.nan
            y = _div(x, z)
        if not k_ > 0:
            x, y = _div(bp_, pb_), _div(fp_, pf_)
        lv, nv = _div(1.0, x * x), _div(1.0, y * y)
        lam.append(lv)
        nu.append(nv)
        valid.append(math.isfinite(lv) and math.isfinite(nv) and x > 0 and y > 0)
    return np.array(lam), np.array(nu), np.array(valid, dtype=bool)


def deadline_certificate(inst: BandwidthComputeInstance, spec: BandwidthComputeSpec
                         ) -> np.ndarray:
    r"""Per server, a lower bound (FLOP/s) on the compute that meeting every deadline needs
    when the bandwidth budget is split in the best way; above ``F_s`` it proves infeasibility.

    The least compute is :math:`\min \sum_n C_n / (T_n - a_n / b_n)` over
    :math:`\sum_n b_n \le B_s`, :math:`b_n \ge b^{min}_n` (convex, decreasing in each
    :math:`b_n`). For every price :math:`\lambda > 0` the dual function
    :math:`\sum_n \min_{b_n} [C_n / (T_n - a_n / b_n) + \lambda b_n] - \lambda B_s` bounds it
    from below (weak duality); the inner minimum is at
    :math:`b_n = \max(b^{min}_n, (a_n + \sqrt{C_n a_n / \lambda}) / T_n)`. The best
    :math:`\lambda` of a bisection on :math:`\log \lambda` (where :math:`\sum_n b_n = B_s`)
    is returned; requests without a deadline need no compute (``inf`` when even
    :math:`b_n = a_n / T_n` exhausts the budget). The closed form's prices diverge on such
    instances; this turns its ``limit`` into a certified ``infeasible``.
    """
    S, srv = inst.n_servers, inst.server
    B, _ = budgets(inst, spec)
    bmin, T = side_constraints(inst, spec)
    a, c = inst.comm_load, inst.workload_flop
    dl = np.isfinite(T)
    Td = np.where(dl, T, 1.0)

    def seg(x: np.ndarray) -> np.ndarray:
        return np.bincount(srv, weights=x, minlength=S)

    def respond(lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lam_n = lam[srv]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            b = np.where(dl, np.maximum(bmin, (a + np.sqrt(c * a / lam_n)) / Td), bmin)
            slack = Td - a / b
            f = np.where(dl & (c > 0), c / slack, 0.0)
        f = np.where(dl & (c > 0) & ~(slack > 0), np.inf, f)
        return b, f

    floor_b = seg(np.where(dl, np.maximum(bmin, a / Td), bmin))
    lo, hi = np.full(S, -700.0), np.full(S, 700.0)  # log(lambda) brackets
    best = np.full(S, -np.inf)
    for _ in range(120):  # bisection on sum_n b_n(lambda) = B_s, keeping the best dual value
        mid = 0.5 * (lo + hi)
        lam = np.exp(mid)
        b, f = respond(lam)
        used = seg(b)
        with np.errstate(invalid="ignore", over="ignore"):
            # sum f + lambda (sum b - B), with the budget term taken 1e-12 B lower: rounding in
            # sum b, times a huge lambda, must not inflate the bound (b_min summing to B
            # exactly gave 7.9e28 FLOP/s where CVXPY finds the optimum)
            value = seg(f) + lam * (used - B * (1 + 1e-12))
        best = np.fmax(best, np.where(np.isfinite(value), value, -np.inf))
        over = used > B
        lo, hi = np.where(over, mid, lo), np.where(over, hi, mid)
    # b_n = a_n / T_n for every deadline user would use more than the budget (equality can
    # be feasible: a user held by b_min > a/T has slack; the dual values decide then)
    return np.where(floor_b > B * (1 + 1e-12), np.inf, best)


def closed_form(inst: BandwidthComputeInstance, spec: BandwidthComputeSpec,
                options: SolveOptions | None = None, *, rtol: float = 1e-12, max_iter: int = 200
                ) -> Result:
    """Exact KKT solution (see the module docstring): the compiled
    :func:`.bandwidth_kernel.solve` when :func:`.jit.use_kernel` allows it, else, or if the
    kernel reports no convergence or a non-finite result, :func:`closed_form_numpy` (which then
    reports ``limit`` / ``error``)."""
    def kernel() -> Result | None:
        from .bandwidth_kernel import solve  # imports numba on first use
        return solve(inst, spec, rtol, max_iter)
    res = _jit.run_kernel("bandwidth", inst.n_users, _jit.BANDWIDTH_MAX_USERS, kernel)
    res = res if res is not None else closed_form_numpy(inst, spec, options, rtol=rtol,
                                                        max_iter=max_iter)
    if res.termination is Termination.LIMIT and spec.use_deadline:
        need = deadline_certificate(inst, spec)
        _, F = budgets(inst, spec)
        bad = np.flatnonzero(need > F * (1 + 1e-9))
        if bad.size:
            s0 = int(bad[0])
            return dataclasses.replace(
                res, termination=Termination.INFEASIBLE,
                message=(f"deadlines infeasible at {bad.size} server(s): server {s0} needs at "
                         f"least {need[s0]:.6g} FLOP/s with its bandwidth split optimally, "
                         f"budget {F[s0]:.6g} (dual certificate)"))
    return res


def closed_form_numpy(inst: BandwidthComputeInstance, spec: BandwidthComputeSpec,
                      options: SolveOptions | None = None, *, rtol: float = 1e-12,
                      max_iter: int = 200) -> Result:
    """Exact KKT solution: active-set closed-form prices, damped Newton as the fallback (see
    the module docstring); the numpy reference of the compiled kernel.

    Returns ``optimal`` with ``bound`` = the dual function value (a certificate), ``infeasible``
    when the minimum rates alone exceed a bandwidth budget, and ``limit`` (no solution) if the
    prices did not converge (e.g. deadlines that no split of the budgets can meet).
    """
    t0 = time.perf_counter()
    S, srv = inst.n_servers, inst.server
    B, F = budgets(inst, spec)
    bmin, T = side_constraints(inst, spec)
    a, c, w = inst.comm_load, inst.workload_flop, inst.weight
    # weights in units of a power of two (largest in [1, 2)): the minimisers depend on w / lam
    # and w / nu only, so they are unchanged (products with 2^e are exact) while prices, dual
    # values and bound stay well inside the float range for weights like 1e-300 (issue 11)
    w_exp = 1 - int(np.frexp(w.max())[1]) if w.size and w.max() > 0 else 0
    w = np.ldexp(w, w_exp)

    def seg(x: np.ndarray) -> np.ndarray:
        return np.bincount(srv, weights=x, minlength=S)

    def stats() -> SolveStats:
        return SolveStats("closed_form", solve_seconds=time.perf_counter() - t0, iterations=it)

    it = 0
    if (seg(bmin) > B * (1 + 1e-12)).any():
        return Result(Termination.INFEASIBLE, False, gap=math.inf, stats=stats(),
                      message="minimum rates exceed the bandwidth budget")
    roots = (np.sqrt(w * a), np.sqrt(w * c), np.sqrt(a * c))
    kc = _consts(a, c, w, bmin, T)
    lam = (seg(roots[0]) / B) ** 2
    nu = (seg(roots[1]) / F) ** 2
    lam = np.where(lam > 0, lam, 1.0)
    nu = np.where(nu > 0, nu, 1.0)

    def dual(r: _Response, lam: np.ndarray, nu: np.ndarray) -> np.ndarray:
        return seg(r.value) - lam * B - nu * F

    with np.errstate(all="ignore"):  # one context for the whole solve (see _response)
        r = _response(kc, lam[srv], nu[srv])
        g: np.ndarray | None = None  # dual value at (lam, nu), computed when a test needs it
        converged = False
        for it in range(1, max_iter + 1):  # noqa: B007
            rb, rf = seg(r.b) - B, seg(r.f) - F
            if (np.abs(rb) <= rtol * B).all() and (np.abs(rf) <= rtol * F).all():
                converged = True
                break
            # 1) exact prices for the current regimes (lands on the optimum once they are right)
            lam_as, nu_as, ok_as = _active_set_prices(a, c, roots, bmin, T, r, srv, B, F)
            if ok_as.any():
                tl, tn = np.where(ok_as, lam_as, lam), np.where(ok_as, nu_as, nu)
                rt = _response(kc, tl[srv], tn[srv])
                gt = dual(rt, tl, tn)
                # regimes unchanged at the new prices: the KKT system is solved exactly (up to
                # the rounding of the per-server sums, ~N eps for N users on a server)
                moved = (rt.late != r.late) | (rt.clipped != r.clipped)
                fixed = ok_as & (np.bincount(srv, weights=moved, minlength=S) == 0)
                if fixed.all():
                    lam, nu, g, r = tl, tn, gt, rt
                    converged = True
                    break
                if g is None:
                    g = dual(r, lam, nu)
                take = ok_as & (fixed | (gt >= g - 1e-14 * np.abs(g)))
                if take.all():
                    lam, nu, g, r = tl, tn, gt, rt
                    continue
            else:
                take = np.zeros(S, dtype=bool)
            if g is None:
                g = dual(r, lam, nu)
            # 2) otherwise a damped Newton step on the concave dual for the remaining servers
            jbb, jbf, jff = _jacobian(a, c, T, r, lam[srv], nu[srv])
            h11 = np.minimum(seg(jbb), -1e-30 * B / lam)
            h22 = np.minimum(seg(jff), -1e-30 * F / nu)
            h12 = seg(jbf)
            det = h11 * h22 - h12**2
            det = np.where(det > 0, det, h11 * h22)
            h12 = np.where(det == h11 * h22, 0.0, h12)
            dl = -(h22 * rb - h12 * rf) / det
            dn = -(-h12 * rb + h11 * rf) / det
            # servers whose regime step was accepted move there in full
            dl = np.where(take, lam_as - lam, dl)
            dn = np.where(take, nu_as - nu, dn)
            # fraction to the boundary (prices stay positive, at most x10 per step)
            step = np.ones(S)
            with np.errstate(divide="ignore", over="ignore"):
                step = np.minimum(step, np.where(dl < 0, 0.9 * lam / -dl, 1.0))
                step = np.minimum(step, np.where(dn < 0, 0.9 * nu / -dn, 1.0))
                step = np.minimum(step, np.where(dl > 0, 9 * lam / dl, 1.0))
                step = np.minimum(step, np.where(dn > 0, 9 * nu / dn, 1.0))
            step = np.where(take, 1.0, step)
            slope = rb * dl + rf * dn  # directional derivative of the concave dual
            # servers that have converged stay put (their line search would only see rounding)
            done = (np.abs(rb) <= rtol * B) & (np.abs(rf) <= rtol * F) & ~take
            new_lam, new_nu, new_g = lam.copy(), nu.copy(), g.copy()
            for _ in range(60):
                tl, tn = lam + step * dl, nu + step * dn
                rt = _response(kc, tl[srv], tn[srv])
                gt = dual(rt, tl, tn)
                ok = ~done & (take | (gt >= g + 1e-4 * step * slope - 1e-15 * np.abs(g)))
                new_lam, new_nu, new_g = (np.where(ok, tl, new_lam), np.where(ok, tn, new_nu),
                                          np.where(ok, gt, new_g))
                done |= ok
                if done.all():
                    break
                step = np.where(done, step, 0.5 * step)
            if not done.any():
                break
            lam, nu, g = new_lam, new_nu, new_g
            r = _response(kc, lam[srv], nu[srv])
    if g is None:
        g = dual(r, lam, nu)
    if not converged:
        rb, rf = seg(r.b) - B, seg(r.f) - F
        logger.info("bandwidth closed form: no convergence after %d iterations (%.3g, %.3g)",
                    it, np.max(np.abs(rb) / B), np.max(np.abs(rf) / F))
        return Result(Termination.LIMIT, False, gap=math.inf, stats=stats(),
                      message="dual prices did not converge (infeasible deadlines?)")
    # feasibility repair of the last ulps: shrink the part above b_min / scale f
    b, f = r.b, r.f
    sb, smin = seg(b), seg(bmin)
    shrink = np.where(sb > B, (B - smin) / np.maximum(sb - smin, 1e-300), 1.0)
    b = bmin + (b - bmin) * shrink[srv]
    sf = seg(f)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = f * np.where(sf > F, F / sf, 1.0)[srv]
    if not (np.isfinite(b).all() and np.isfinite(f).all()):
        return Result(Termination.ERROR, False, gap=math.inf, stats=stats(),
                      message="bandwidth closed form: non-finite shares (extreme instance scales)")
    obj = weighted_latency(inst, b, f)
    bound = math.ldexp(float(g.sum()), -w_exp)
    alloc = trusted_allocation(BandwidthComputeAllocation, bandwidth_hz=b, compute_flops=f)
    return Result(Termination.OPTIMAL, True, objective=obj, bound=bound,
                  gap=relative_gap(obj, bound),
                  values={"b": b, "f": f, "lambda": np.ldexp(lam, -w_exp),
                          "nu": np.ldexp(nu, -w_exp)},
                  allocation=alloc, stats=stats(), message=f"{it} iterations")


# ---------------------------------------------------------------------------- CVXPY model
def build_cvxpy(inst: BandwidthComputeInstance, spec: BandwidthComputeSpec) -> ConvexProgram:
    """Vectorised CVXPY model in square-root-share units ``b~ = b / b^0``, ``f~ = f / f^0``.

    ``b^0_n = B_s r_n / sum_{j in s} r_j`` with ``r_n = sqrt(w_n a_n)`` (and ``f^0`` likewise
    with ``sqrt(w_n C_n)``) is the optimum without minimum rates and deadlines (KKT:
    ``w a / b^2 = lambda_s``), so every variable and every ``inv_pos`` epigraph is O(1) at the
    optimum whatever the number of users and however uneven the weights: budget-fraction
    units ``b/B_s`` made CLARABEL stop 15-20 % above the optimum at 10^4 users, and
    equal-share units ``b n_s / B_s`` stopped it 2.2e-4 above, reporting success, when one
    weight was 1e-9 of the others (its share, 3e-5 of the equal share at the optimum, was
    left at 2e-3). ``r`` is floored at 1e-6 of its server's mean (a zero weight or load).
    The objective is divided by its value at ``b~ = f~ = 1`` (``objective_scale``); the
    per-server budget rows ``sum_n (b^0_n / B_s) b~_n <= 1`` are one sparse matrix product.
    ``variables`` holds the scaled blocks ``b``, ``f`` and, for a user's
    :class:`~aigc_opt.spec.ExtraConstraint`, the allocation in SI units ``bandwidth_hz``
    (Hz) and ``compute_flops`` (FLOP/s): write ``v["bandwidth_hz"][0] / cap <= 1``, which
    does not depend on the internal units. The constraint objects are named for
    :func:`aigc_opt.explain_convex.explain_convex` (``meta["constraint_names"]`` and
    ``["constraint_items"]``): ``bandwidth_share`` and ``compute_share`` at each server,
    ``compute_nonneg``, ``min_rate`` (``b_n >= r^min_n / se_n``) and ``deadline`` at each user.
    """
    import cvxpy as cp
    import scipy.sparse as sp

    n, S, srv = inst.n_users, inst.n_servers, inst.server
    B, F = budgets(inst, spec)
    bmin, T = side_constraints(inst, spec)
    sb = sqrt_shares(inst.weight * inst.comm_load, srv, S)
    sf = sqrt_shares(inst.weight * inst.workload_flop, srv, S)
    # a deadline or minimum rate binds where the square-root share is below what it needs
    # (each half of the deadline is enough for one leg)
    b_eq = np.maximum(B[srv] * sb, np.maximum(bmin, 2.0 * inst.comm_load / T))
    f_eq = np.maximum(F[srv] * sf, 2.0 * inst.workload_flop / T)
    la = inst.comm_load / b_eq  # upload time at the unit share, s
    lc = inst.workload_flop / f_eq  # compute time at the unit share, s
    scale = float((inst.weight * (la + lc)).sum())
    bt, ft = cp.Variable(n, name="b"), cp.Variable(n, name="f")
    agg_b = sp.csr_matrix((b_eq / B[srv], (srv, np.arange(n))), shape=(S, n))
    agg_f = sp.csr_matrix((f_eq / F[srv], (srv, np.arange(n))), shape=(S, n))
    tb, tf = cp.multiply(la, cp.inv_pos(bt)), cp.multiply(lc, cp.inv_pos(ft))
    obj = cp.Minimize(cp.sum(cp.multiply(inst.weight / scale, tb + tf)))
    cons = [agg_b @ bt <= 1.0, agg_f @ ft <= 1.0, ft >= 0, bt >= bmin / b_eq]
    names = ["bandwidth_share", "compute_share", "compute_nonneg", "min_rate"]
    items: list[Any] = ["server {i}", "server {i}", "user {i}", "user {i}"]
    dl = np.nonzero(np.isfinite(T))[0]
    if dl.size:
        # deadline rows divided by T so that they read "relative latency <= 1"
        cons.append(cp.multiply(1.0 / T[dl], tb[dl] + tf[dl]) <= 1.0)
        names.append("deadline")
        items.append(GridLabels("user {0}", (n,), dl))
    variables = {"b": bt, "f": ft, "bandwidth_hz": cp.multiply(b_eq, bt),
                 "compute_flops": cp.multiply(f_eq, ft)}
    return ConvexProgram(cp.Problem(obj, cons), variables,
                         name=f"bandwidth_compute[N={n},S={S}]",
                         meta={"objective_scale": scale,
                               **convex_meta(names, items, spec, inst, variables)})


def decode_cvxpy(inst: BandwidthComputeInstance, spec: BandwidthComputeSpec,
                 program: ConvexProgram, values: Any) -> BandwidthComputeAllocation:
    """The model's SI-unit blocks ``bandwidth_hz`` (Hz) and ``compute_flops`` (FLOP/s)."""
    return BandwidthComputeAllocation(bandwidth_hz=np.asarray(values["bandwidth_hz"]),
                                      compute_flops=np.asarray(values["compute_flops"]))


# ---------------------------------------------------------------------------- baselines
def _proportional(inst: BandwidthComputeInstance, spec: BandwidthComputeSpec,
                  xa: np.ndarray, xc: np.ndarray) -> BandwidthComputeAllocation:
    B, F = budgets(inst, spec)
    srv, S = inst.server, inst.n_servers
    return BandwidthComputeAllocation(bandwidth_hz=B[srv] * _shares(xa, srv, S),
                                      compute_flops=F[srv] * _shares(xc, srv, S))


def _shares(x: np.ndarray, srv: np.ndarray, S: int) -> np.ndarray:
    """``x_n / sum_{m at server(n)} x_m`` without overflow: weights are divided by their
    server's largest first, and infinite weights (a demand ``D / se`` beyond float64, certify
    seed 76000475) share their server equally (``B x / sum x`` gave ``inf`` and the baseline
    raised on its own output)."""
    top = np.zeros(S)
    np.maximum.at(top, srv, x)
    with np.errstate(invalid="ignore", divide="ignore"):
        y = np.where(np.isinf(top)[srv], np.isinf(x).astype(float), x / top[srv])
    return y / np.bincount(srv, weights=y, minlength=S)[srv]


def equal_share(inst: BandwidthComputeInstance, spec: BandwidthComputeSpec, seed: int = 0
                ) -> BandwidthComputeAllocation:
    """Baseline: every request at a server gets ``B_s/n_s`` Hz and ``F_s/n_s`` FLOP/s."""
    one = np.ones(inst.n_users)
    return _proportional(inst, spec, one, one)


def proportional_demand(inst: BandwidthComputeInstance, spec: BandwidthComputeSpec,
                        seed: int = 0) -> BandwidthComputeAllocation:
    """Baseline: bandwidth in proportion to ``a_n = D_n/se_n`` and compute to ``C_n`` (equal
    latency per resource, ignoring weights)."""
    return _proportional(inst, spec, inst.comm_load, inst.workload_flop)


register_builder(BandwidthComputeSpec, build_cvxpy, decode_cvxpy)
register_algorithm(BandwidthComputeSpec, "closed_form", closed_form)
register_heuristic(BandwidthComputeSpec, "equal_share", equal_share)
register_heuristic(BandwidthComputeSpec, "proportional_demand", proportional_demand)
register_case(CaseKind(
    name="allocation.bandwidth_compute",
    make_instance=lambda seed, n_users=50, n_servers=2, **kw: BandwidthComputeInstance.generate(
        n_users, n_servers, seed=seed, **kw),
    make_spec=lambda **params: BandwidthComputeSpec(**params),
    default_methods=("closed_form", "cvxpy", "equal_share", "proportional_demand"),
    reference="closed_form",
    description="bandwidth + compute shares per edge server, weighted latency (KKT / CVXPY)",
    warm_up=lambda: closed_form(BandwidthComputeInstance.generate(4, 1, seed=0),
                                BandwidthComputeSpec()),  # compiles the numba kernel
))
