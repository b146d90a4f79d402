r"""Contract theory (adverse selection): an operator screens AIGC service providers by type.

A provider of private type :math:`\theta_k` (:math:`0 < \theta_1 < \dots < \theta_K`, probability
:math:`p_k > 0`) picks one item :math:`(L, R)` from the operator's menu: an effort / quality level
``L >= 0`` (e.g. teleoperation quality, denoising steps) for a reward ``R >= 0``. Utilities

.. math::

    U_k(L, R) = \theta_k\, v(R) - c(L), \qquad
    V(L, R) = \sigma \ln(\gamma_2 \xi + \gamma_3 L) - R,

with ``v(R) = R`` (``valuation="linear"``) or ``v(R) = ln(1 + R)`` (``"log"``), and
``c(L) = gamma1 L`` (``cost="linear"``) or ``c(L) = gamma1 L^2 / 2`` (``"quadratic"``). The
operator maximises :math:`\sum_k p_k V(L_k, R_k)` subject to

* IR (K rows):       :math:`\theta_k v(R_k) - c(L_k) \ge 0`,
* IC (K(K-1) rows):  :math:`\theta_k v(R_k) - c(L_k) \ge \theta_k v(R_j) - c(L_j)`.

**Convex full problem.** In the variables ``a_k = v(R_k)`` and ``e_k = c(L_k)`` every IR/IC row
is linear (``theta_k a_k - e_k >= theta_k a_j - e_j``) and the objective
:math:`\sum_k p_k[\sigma\ln(\gamma_2\xi + \gamma_3 c^{-1}(e_k)) - v^{-1}(a_k)]` is concave
(``c^{-1}`` is linear or a square root, ``v^{-1}`` is linear or ``exp(a) - 1``). It is built as a
CVXPY :class:`~aigc_opt.program.ConvexProgram` with all K^2 rows (``backend="cvxpy"``).

**Reduction** (method ``"reduction"``, linear valuation). Utility ``theta a - e`` has single
crossing: adding IC(k, j) and IC(j, k) gives :math:`(\theta_k - \theta_j)(a_k - a_j) \ge 0`, so
rewards and levels are *nondecreasing* in theta. A high type gains by mimicking a lower type (it
values the reward more for the same cost), so the binding constraints are IR of the *lowest* type
and the *downward adjacent* IC (type k indifferent to item k-1); the other IR (a type's
information rent is positive once some lower type has a positive level) and the upward IC are
slack. With these binding,

.. math::

    a_1 = e_1/\theta_1, \quad a_k = a_{k-1} + (e_k - e_{k-1})/\theta_k
    \;\Rightarrow\; \sum_k p_k a_k = \sum_j w_j e_j, \quad
    w_j = \frac{p_j}{\theta_j} + \Big(\frac{1}{\theta_j} - \frac{1}{\theta_{j+1}}\Big)
    \sum_{k>j} p_k \;\; (w_K = p_K/\theta_K),

so the operator solves :math:`\max \sum_j p_j\sigma\ln(\gamma_2\xi+\gamma_3 L_j) - w_j c(L_j)`
s.t. :math:`0 \le L_1 \le \dots \le L_K \le L_{max}`: separable, one closed-form first-order
condition per type (``L_j = sigma / (gamma1 w_j/p_j) - gamma2 xi / gamma3`` for linear cost, the
positive root of a quadratic for quadratic cost), clipped to the bounds. Where the unconstrained
``L_j`` decrease (the virtual valuation ``p_j / w_j`` is not monotone) adjacent types are *ironed*
(bunched) by pool-adjacent-violators: a pooled block solves the same condition with
``(sum p, sum w)``. PAVA is exact for separable concave objectives under a chain order.
For a log valuation the payment ``exp(a) - 1`` couples the types; method ``"reduced_cvxpy"``
then solves the reduced problem (K variables, K-1 monotonicity rows) with CVXPY.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from aigc_opt.backend import SolveOptions
from aigc_opt.cases import CaseKind, register_case
from aigc_opt.errors import ValidationError
from aigc_opt.program import ConvexProgram
from aigc_opt.result import Result, SolveStats, Termination
from aigc_opt.solve import register_algorithm
from aigc_opt.solvers.cvxpy_backend import attempt, check_extra
from aigc_opt.spec import register_builder

from .contract_bound import log_dual_bound
from .data import ContractAllocation, ContractInstance, ContractSpec

logger = logging.getLogger(__name__)


def ic_matrix(theta: np.ndarray) -> sp.csr_matrix:
    """Rows ``theta_k a_k - e_k - theta_k a_j + e_j`` for all ordered pairs k != j, acting on
    ``[a; e]`` (shape (K(K-1), 2K)); built vectorised."""
    K = theta.size
    k, j = np.nonzero(~np.eye(K, dtype=bool))
    r = np.arange(k.size)
    rows = np.concatenate([r, r, r, r])
    cols = np.concatenate([k, K + k, j, K + j])
    vals = np.concatenate([theta[k], -np.ones(k.size), -theta[k], np.ones(k.size)])
    return sp.csr_matrix((vals, (rows, cols)), shape=(k.size, 2 * K))


FULL_IC_TYPES = 20
"""Largest K whose full problem carries all K(K-1) IC rows; above it the adjacent rows of
:func:`local_ic_matrix` (the same feasible set)."""


def local_ic_matrix(theta: np.ndarray) -> sp.csr_matrix:
    """The IC rows of adjacent types only, both directions (``k -> k-1`` and ``k-1 -> k``):
    shape (2(K-1), 2K) on ``[a; e]``, the rows of :func:`ic_matrix` with ``|k - j| = 1``.

    With strictly increasing ``theta`` (which :class:`ContractInstance` requires) they imply
    every IC row: adding the two rows of a pair gives ``(theta_k - theta_{k-1})(a_k -
    a_{k-1}) >= 0``, so ``a`` is nondecreasing, and for ``j < k`` the downward rows chain,
    ``theta_k a_k - e_k >= theta_k a_{k-1} - e_{k-1} >= ... >= theta_k a_j - e_j`` (each step
    uses ``theta_k >= theta_i`` and ``a_i >= a_{i-1}``); upward likewise. The feasible set is
    the full problem's, with 2(K-1) rows instead of K(K-1)."""
    K = theta.size
    lo, hi = np.arange(K - 1), np.arange(1, K)
    k = np.concatenate([hi, lo])  # the type whose IC the row states
    j = np.concatenate([lo, hi])  # the item it is offered instead
    r = np.arange(k.size)
    rows = np.concatenate([r, r, r, r])
    cols = np.concatenate([k, K + k, j, K + j])
    vals = np.concatenate([theta[k], -np.ones(k.size), -theta[k], np.ones(k.size)])
    return sp.csr_matrix((vals, (rows, cols)), shape=(k.size, 2 * K))


def variable_scales(inst: ContractInstance, spec: ContractSpec) -> tuple[float, float, float]:
    """``(s_a, s_e, s_obj)``: the CVXPY models use ``a = s_a a'``, ``e = s_e e'`` and divide the
    objective by ``s_obj`` so that the conic solver sees O(1) numbers at any money scale.

    Rewards and costs at the optimum are of the order of ``sigma`` (the operator's marginal
    value): ``s_e = sigma max(theta)``, ``s_a = sigma`` for a linear valuation (1 for the log
    valuation, where ``a = ln(1 + R)``), ``s_obj = sigma``; each is a power of two (exact).

    A finite ``level_max`` caps every cost at ``c(level_max)``: when that is below
    ``sigma max(theta)``, ``s_e = c(level_max)`` and a linear valuation's ``s_a`` shrinks by the
    same factor (payments are ``~ e / theta``). Scaled by ``sigma max(theta)`` alone, the cap
    row read ``e' <= 3.5e-12`` at ``theta ~ 2e7``, ``level_max = 10``, within the conic
    solver's tolerance of 0, and CVXPY's 'optimal' menu stopped at ``L = 7.3``, 0.39 % below
    the reduction's optimum at the cap."""
    def p2(v: float) -> float:
        return float(2.0 ** round(math.log2(v))) if math.isfinite(v) and v > 0 else 1.0

    s_obj = p2(inst.sigma)
    natural = inst.sigma * float(np.max(inst.theta))
    cap = float(spec.c(inst, np.array(inst.level_max))) if math.isfinite(inst.level_max) \
        else math.inf
    shrink = min(1.0, cap / natural) if natural > 0 and cap > 0 else 1.0
    s_e = p2(natural * shrink)
    s_a = p2(inst.sigma * shrink) if spec.valuation == "linear" else 1.0
    return s_a, s_e, s_obj


def log_reward(a: Any, scale: float) -> Any:
    """The payment ``R = exp(a) - 1`` of a log valuation ``a = ln(1 + R)`` as
    ``scale exp(a - ln scale) - 1``: the exponential cone's variable is then O(1) where
    payments are of the order of ``scale`` (``sigma``). Written as ``exp(a)``, its variable
    was ``~sigma``: with ``sigma`` x 1e6 Clarabel said 'optimal' 1.1e-4..3.7e-4 below the
    reduction's verified menu. Callers pass ``max(sigma, 1)``: with ``sigma ~ 1e-3`` the
    scaled form cancelled two terms of ~1e3 (payments ~1e-5) and 'optimal' menus were up to
    4e-5 below the reduction's."""
    import cvxpy as cp

    return scale * cp.exp(a - math.log(scale)) - 1.0


def log_value(inst: ContractInstance, spec: ContractSpec, e_s: Any, s_e: float) -> Any:
    """The operator's value ``sigma ln(gamma2 xi + gamma3 L(e))`` of the levels bought at
    costs ``e = s_e e_s`` (``L = e / gamma1``, or ``sqrt(2 e / gamma1)`` for the quadratic
    cost), written as ``sigma [ln k + ln(alpha + (1 - alpha) L(e) / L(s_e))]`` with
    ``k = gamma2 xi + gamma3 L(s_e)`` and ``alpha = gamma2 xi / k``: the exponential cone's
    variable is then O(1) where ``e_s`` is. Written directly, its variable was
    ``~gamma3 L(s_e)``: with ``theta`` or ``sigma`` x 1e6 (``L ~ 1e8``) CLARABEL failed or
    stopped 'inaccurate' on 6/6 certify instances. Only for a linear valuation, whose costs
    are of the order of ``s_e``: a log valuation's are ``theta ln(1 + R)``, far below
    ``s_e = sigma max(theta)``, and its argument written directly is O(gamma2 xi) (normalised,
    CLARABEL ended 'inaccurate' at sigma x 1e6, 2/3 test instances)."""
    import cvxpy as cp

    if spec.valuation != "linear":
        e = s_e * e_s  # as written before (sqrt(2 s_e/gamma1) sqrt(e_s) failed a test)
        level = e / inst.gamma1 if spec.cost == "linear" else math.sqrt(
            2.0 / inst.gamma1) * cp.sqrt(e)
        return inst.sigma * cp.log(inst.gamma2 * inst.xi + inst.gamma3 * level)
    unit = s_e / inst.gamma1 if spec.cost == "linear" else math.sqrt(2.0 * s_e / inst.gamma1)
    shape = e_s if spec.cost == "linear" else cp.sqrt(e_s)  # L(e) / L(s_e)
    base = inst.gamma2 * inst.xi
    k = base + inst.gamma3 * unit
    alpha = base / k
    return inst.sigma * (math.log(k) + cp.log(alpha + (1.0 - alpha) * shape))


def build_full(inst: ContractInstance, spec: ContractSpec) -> ConvexProgram:
    """CVXPY model of the full screening problem in (a, e) = (v(R), c(L)).

    Numerics: the variables are scaled by :func:`variable_scales` (``a = s_a a'``,
    ``e = s_e e'``, objective divided by ``s_obj``, ``meta["objective_scale"] = s_obj``), so the
    conic solver sees O(1) variables and objective at any money scale; the blocks hold the
    unscaled ``a`` and ``e``. IC: all K(K-1) rows up to ``FULL_IC_TYPES`` types, the
    equivalent adjacent rows (:func:`local_ic_matrix`) with ``a`` and ``e`` nondecreasing
    (implied, stated for the conic solver: without them CLARABEL ended 'inaccurate' 3e-4 below
    the reduction at K = 250) above. All rows: at K = 1000 CVXPY compiled the 999,000 rows for
    17-28 s, outside any time limit (minutes and 7.6 GB at 3000), and with a quadratic cost
    CLARABEL failed from K = 32 on.
    The objective is flat in the levels of improbable types, so conic
    solvers return those levels less accurately than the objective; the
    reduction is exact.
    """
    import cvxpy as cp

    K = inst.n_types
    s_a, s_e, s_obj = variable_scales(inst, spec)
    a_s = cp.Variable(K, name="valuation_scaled")
    e_s = cp.Variable(K, name="cost_scaled")
    a, e = s_a * a_s, s_e * e_s
    reward = a if spec.valuation == "linear" else log_reward(a, max(s_obj, 1.0))
    p = inst.prob
    obj = p @ log_value(inst, spec, e_s, s_e) - p @ reward
    cons = [cp.multiply(inst.theta * s_a / s_e, a_s) - e_s >= 0, a_s >= 0, e_s >= 0]
    eye = sp.eye(K, format="csr")
    rows = [(cons[0], sp.hstack([sp.diags(inst.theta * s_a / s_e), -eye]).tocsr())]
    if K > 1:
        D = sp.diags(np.concatenate([np.full(K, s_a / s_e), np.ones(K)]))
        ic = ic_matrix(inst.theta) if K <= FULL_IC_TYPES else local_ic_matrix(inst.theta)
        cons.append((ic @ D) @ cp.hstack([a_s, e_s]) >= 0)
        rows.append((cons[-1], (ic @ D).tocsr()))
        if K > FULL_IC_TYPES:
            cons += [cp.diff(a_s) >= 0, cp.diff(e_s) >= 0]
            diff = (sp.eye(K, k=1, format="csr") - eye)[:-1]
            zero = sp.csr_matrix((K - 1, K))
            rows += [(cons[-2], sp.hstack([diff, zero]).tocsr()),
                     (cons[-1], sp.hstack([zero, diff]).tocsr())]
    cap = math.inf
    if math.isfinite(inst.level_max):
        cap = float(spec.c(inst, np.array(inst.level_max))) / s_e
        cons.append(e_s <= cap)
    meta: dict[str, Any] = {"objective_scale": s_obj}
    if spec.valuation == "log":  # a certified bound (contract_bound): no proof otherwise
        meta["dual_bound"] = log_dual_bound(inst, spec, s_e, s_obj, rows, cap)
    return ConvexProgram(cp.Problem(cp.Maximize(obj / s_obj), cons),
                         {"valuation": a, "cost": e},
                         name=f"contract-full[K={K},{spec.valuation},{spec.cost}]",
                         meta=meta)


def decode_full(inst: ContractInstance, spec: ContractSpec, program: Any, values: Any
                ) -> ContractAllocation:
    """Menu from the valuation/cost variables of :func:`build_full`.

    Levels are ``L = c^-1(e)`` (negative round-off clipped to 0, made nondecreasing in the
    type, which IC requires, and capped at ``level_max``, which the conic solve meets only
    within its tolerance); the rewards are the cheapest that implement those levels
    (:func:`rewards_from_levels`: IR of the lowest type and the downward IC binding). At an
    optimum these are the solver's own rewards; for an interior-point solution a few 1e-6 off
    they are the IR/IC-feasible menu the solution stands for (issue 11: the raw rewards of an
    ``optimal_inaccurate`` solve violated IR by 1.3e-5)."""
    e = np.maximum(np.asarray(values["cost"], float), 0.0)
    level = np.minimum(np.maximum.accumulate(spec.c_inv(inst, e)), inst.level_max)
    return ContractAllocation(level=level, reward=rewards_from_levels(inst, spec, level))


def virtual_weights(inst: ContractInstance) -> np.ndarray:
    """``w_j = p_j/theta_j + (1/theta_j - 1/theta_{j+1}) sum_{k>j} p_k`` (``w_K = p_K/theta_K``):
    the expected valuation paid per unit of type j's cost when IR_1 and downward IC bind."""
    th, p = inst.theta, inst.prob
    tail = np.concatenate([np.cumsum(p[::-1])[::-1][1:], [0.0]])
    inv_next = np.concatenate([1.0 / th[1:], 1.0 / th[-1:]])
    return p / th + (1.0 / th - inv_next) * tail


def _block_level(inst: ContractInstance, spec: ContractSpec, P: np.ndarray, W: np.ndarray
                 ) -> np.ndarray:
    """Maximiser of ``P sigma ln(g2 xi + g3 L) - W c(L)`` over ``0 <= L <= level_max``."""
    g1, g2, g3, s, xi = inst.gamma1, inst.gamma2, inst.gamma3, inst.sigma, inst.xi
    if spec.cost == "linear":
        L = s * P / (g1 * W) - g2 * xi / g3
    else:  # g3 W g1 L^2 + g2 xi W g1 L - P s g3 = 0, positive root (stable form)
        qa, qb, qc = g3 * W * g1, g2 * xi * W * g1, P * s * g3
        L = 2.0 * qc / (qb + np.sqrt(qb * qb + 4.0 * qa * qc))
    return np.clip(L, 0.0, inst.level_max)


def ironed_levels(inst: ContractInstance, spec: ContractSpec) -> tuple[np.ndarray, np.ndarray]:
    """Levels of the reduced problem by pool-adjacent-violators; returns (levels, block id)."""
    P, W = inst.prob, virtual_weights(inst)
    bp: list[float] = []
    bw: list[float] = []
    bn: list[int] = []
    bl: list[float] = []
    for j in range(inst.n_types):  # PAVA is inherently sequential; O(K) amortised
        bp.append(float(P[j]))
        bw.append(float(W[j]))
        bn.append(1)
        bl.append(float(_block_level(inst, spec, P[j:j + 1], W[j:j + 1])[0]))
        while len(bl) > 1 and bl[-2] > bl[-1]:
            p2, w2, n2 = bp.pop(), bw.pop(), bn.pop()
            bl.pop()
            bp[-1] += p2
            bw[-1] += w2
            bn[-1] += n2
            bl[-1] = float(_block_level(inst, spec, np.array([bp[-1]]), np.array([bw[-1]]))[0])
    counts = np.array(bn)
    return np.repeat(np.array(bl), counts), np.repeat(np.arange(counts.size), counts)


def rewards_from_levels(inst: ContractInstance, spec: ContractSpec, level: np.ndarray
                        ) -> np.ndarray:
    """Cheapest rewards that implement nondecreasing ``level``: IR_1 and downward IC bind,
    ``a_k = a_{k-1} + (e_k - e_{k-1}) / theta_k``."""
    e = spec.c(inst, level)
    a = np.cumsum(np.diff(e, prepend=0.0) / inst.theta)
    return spec.v_inv(a)


def solve_reduction(inst: ContractInstance, spec: ContractSpec,
                    options: SolveOptions | None = None) -> Result:
    """Exact solution by the standard reduction with ironing (linear valuation only)."""
    if spec.valuation != "linear":
        raise ValidationError("valuation", "-", spec.valuation,
                              "the reduction is separable only for a linear valuation; "
                              "use the full problem (backend='cvxpy')")
    t0 = time.perf_counter()
    level, block = ironed_levels(inst, spec)
    reward = rewards_from_levels(inst, spec, level)
    alloc = ContractAllocation(level=level, reward=reward)
    obj = operator_utility(inst, level, reward)
    return Result(Termination.OPTIMAL, True, objective=obj, bound=obj, gap=0.0,
                  values={"level": level, "reward": reward, "block": block.astype(float)},
                  allocation=alloc,
                  stats=SolveStats("reduction", solve_seconds=time.perf_counter() - t0),
                  message=f"{int(block.max()) + 1} blocks after ironing")


def solve_reduced_convex(inst: ContractInstance, spec: ContractSpec,
                         options: SolveOptions | None = None) -> Result:
    r"""The reduced problem (IR_1 and downward IC binding, monotone levels) for any utility
    forms, solved with CVXPY: K variables ``e`` and K-1 monotonicity rows instead of K^2 IC rows.

    .. math::

        \max_e \sum_k p_k[\sigma\ln(\gamma_2\xi + \gamma_3 c^{-1}(e_k)) - v^{-1}(a_k)],
        \quad a_k = \sum_{j \le k} (e_j - e_{j-1})/\theta_j,
        \quad 0 \le e_1 \le \dots \le e_K \le c(L_{max}).

    With a log valuation the payment ``exp(a_k) - 1`` couples the types, so there is no
    per-type closed form; this is the reduction for that case. The chain is still optimal:
    for fixed levels it gives every ``a_k`` its smallest IC/IR-feasible value and ``v^{-1}`` is
    increasing. ``options.extra`` goes to CVXPY (default solver CLARABEL), checked first as
    the cvxpy backend checks it (:func:`aigc_opt.solvers.cvxpy_backend.check_extra`: an
    unknown name is an UnknownNameError, a bad value a ValidationError). The result is
    ``feasible`` (an IR/IC-feasible menu with no optimality bound: the interior-point solution
    is accurate to the solver's tolerance only: 1e-9 relative at ``sigma = 1e6`` with the
    payment written by :func:`log_reward`, 1e-4 before); the exact
    method for a linear valuation is ``"reduction"``.
    """
    import cvxpy as cp

    t0 = time.perf_counter()
    K = inst.n_types
    _, s_e, s_obj = variable_scales(inst, spec)
    e_s = cp.Variable(K, name="cost_scaled")  # e = s_e e_s (see variable_scales)
    e = s_e * e_s
    D = sp.eye(K, format="csr") - sp.eye(K, k=-1, format="csr")
    a = cp.cumsum(cp.multiply(1.0 / inst.theta, D @ e))
    reward = a if spec.valuation == "linear" else log_reward(a, max(s_obj, 1.0))
    p = inst.prob
    obj = p @ log_value(inst, spec, e_s, s_e) - p @ reward
    cons = [e_s >= 0]
    if K > 1:
        cons.append(cp.diff(e_s) >= 0)
    if math.isfinite(inst.level_max):
        cons.append(e_s <= float(spec.c(inst, np.array(inst.level_max))) / s_e)
    prob = cp.Problem(cp.Maximize(obj / s_obj), cons)
    options = options or SolveOptions()
    opts = dict(options.extra)
    solver = str(opts.pop("solver", "CLARABEL")).upper()
    check_extra(solver, options.extra)  # the cvxpy backend's check: unknown names, bad values
    failed = attempt(prob, solver, options.verbose, opts)
    if failed is not None and failed != "solver_error":
        return Result(Termination.ERROR, False,
                      message=f"reduced_cvxpy: {solver} failed ({failed}); "
                              "for a linear valuation the exact method is 'reduction', else "
                              "try the full problem on the 'cvxpy' backend",
                      stats=SolveStats("reduced_cvxpy", solve_seconds=time.perf_counter() - t0))
    status = str(prob.status)
    if status not in ("optimal", "optimal_inaccurate") or e_s.value is None \
            or not np.isfinite(e_s.value).all():
        # e = 0 is feasible and the payments outgrow the log value: neither 'infeasible' nor
        # 'unbounded' can be true, so say it is the solver's numerical failure and why
        spread = float(inst.theta[-1] / inst.theta[0])
        return Result(Termination.ERROR, False,
                      message=f"{solver} reported {status!r} on the reduced problem, which is "
                              f"feasible (every level 0) and bounded: a numerical failure, "
                              f"theta spans {spread:.3g}x ({inst.theta[0]:.3g} to "
                              f"{inst.theta[-1]:.3g}); "
                              + ("use method 'reduction' (exact for a linear valuation)"
                                 if spec.valuation == "linear" else
                                 "rescale the types (theta) to a narrower range"),
                      stats=SolveStats("reduced_cvxpy", solve_seconds=time.perf_counter() - t0))
    ev = np.maximum(np.maximum.accumulate(np.asarray(e_s.value, float) * s_e), 0.0)
    lv = np.minimum(spec.c_inv(inst, ev), inst.level_max)  # the cap within the solver's tolerance
    rv = rewards_from_levels(inst, spec, lv)
    with np.errstate(over="ignore"):  # exp(a) of a wild solve is inf: that menu loses
        objv = operator_utility(inst, lv, rv)
    note = ""
    null = operator_utility(inst, np.zeros(K), np.zeros(K))  # level 0, reward 0: IR/IC hold
    if not objv >= null:  # the solver's menu is worse than offering nothing (theta 1e-9..1e9)
        lv, rv, objv = np.zeros(K), np.zeros(K), null
        note = "; its menu was worse than the null menu (every level 0), which is returned"
    # No optimality claim: the conic solve carries no bound here (at sigma = 1e6 Clarabel's
    # "optimal" menus were once 1e-4 relative below the exact reduction, issue 11).
    term = Termination.FEASIBLE
    return Result(term, True, objective=objv, bound=math.nan, gap=math.nan,
                  values={"level": lv, "reward": rv},
                  allocation=ContractAllocation(level=lv, reward=rv),
                  stats=SolveStats("reduced_cvxpy", solve_seconds=time.perf_counter() - t0),
                  message=f"{solver}: {status}{note}")


def operator_utility(inst: ContractInstance, level: np.ndarray, reward: np.ndarray) -> float:
    """Expected ``sigma ln(gamma2 xi + gamma3 L) - R`` over types."""
    u = inst.sigma * np.log(inst.gamma2 * inst.xi + inst.gamma3 * level) - reward
    return float(inst.prob @ u)


register_builder(ContractSpec, build_full, decode_full)
register_algorithm(ContractSpec, "reduction", solve_reduction,
                   applies=lambda spec: spec.valuation == "linear")
register_algorithm(ContractSpec, "reduced_cvxpy", solve_reduced_convex)

register_case(CaseKind(
    sense="max", name="incentives.contract",
    make_instance=lambda seed, n_types=8: ContractInstance.generate(n_types, seed=seed),
    make_spec=lambda **params: ContractSpec(**params),
    default_methods=("reduction", "reduced_cvxpy", "cvxpy"),
    reference="reduction",
    description="contract menu for K provider types (full IR/IC convex program vs reduction)",
))
