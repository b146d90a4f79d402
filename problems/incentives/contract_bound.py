r"""A certified bound for the contract full problem with a log valuation.

The conic solve of :func:`.contract.build_full` has no bound of its own: CVXPY's 'optimal'
is the solver's tolerance, not a proof. With a log valuation and ``sigma ~ 2e-4`` the payments
``exp(a) - 1`` are ~1e-6, at CLARABEL's absolute accuracy, and its 'optimal' menus were up to
1.4e-5 relative below ``reduced_cvxpy``'s verified ones (3 of 60 fuzzed solves).

The bound is the Lagrangian dual function at the solver's multipliers ``lambda >= 0`` of the
IR, IC and monotonicity rows ``G [a'; e'] >= 0`` (scaled variables, rows with zero right-hand
side), the boxes ``a' >= 0``, ``0 <= e' <= c(L_max) / s_e`` kept:

.. math::

    g(\lambda) = \sum_k \max_{0 \le e \le \bar e} \Big[\frac{p_k \sigma}{s_o}
        \ln(\gamma_2\xi + \gamma_3 L(s_e e)) + (G^T\lambda)_{e,k} e\Big]
      + \sum_k \max_{a \ge 0} \Big[-\frac{p_k}{s_o}(e^{a} - 1) + (G^T\lambda)_{a,k} a\Big]

(objective divided by ``s_o``), an upper bound on the optimum for every ``lambda >= 0`` (weak
duality). The ``a`` maxima are in closed form (``a* = max(0, ln(g s_o / p))``); each ``e``
maximum is of a concave function, found by bisection on its decreasing derivative to the last
bit. Only for the log valuation: with a linear one the ``a`` terms are ``max_a (g - p/s_o) a``,
``+inf`` whenever an interior-point multiplier puts ``g`` a rounding error above ``p/s_o``, and
the exact method there is the reduction.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from .data import ContractInstance, ContractSpec

#: Bisection steps of the ``e`` maxima (the bracket shrinks by 2^-200: to the last bit).
BISECTION_STEPS = 200


def _level_and_slope(inst: ContractInstance, spec: ContractSpec, x: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """``L(x)`` and ``L'(x)`` of the cost ``x`` (linear: ``x / gamma1``; quadratic:
    ``sqrt(2 x / gamma1)``, slope ``1 / (gamma1 L)``, infinite at 0)."""
    L = spec.c_inv(inst, x)
    if spec.cost == "linear":
        return L, np.full_like(L, 1.0 / inst.gamma1)
    with np.errstate(divide="ignore"):
        return L, 1.0 / (inst.gamma1 * L)


def value_part(inst: ContractInstance, spec: ContractSpec, g: np.ndarray, s_e: float,
               s_obj: float, cap: float) -> float:
    """``sum_k max_{0 <= e <= cap} p_k sigma ln(gamma2 xi + gamma3 L(s_e e)) / s_obj + g_k e``
    (``+inf`` when unbounded: no cap and some ``g_k >= 0``)."""
    A = inst.prob * inst.sigma / s_obj
    base = inst.gamma2 * inst.xi

    def slope(e: np.ndarray) -> np.ndarray:
        L, dL = _level_and_slope(inst, spec, s_e * e)
        with np.errstate(invalid="ignore"):
            return np.asarray(A * inst.gamma3 * s_e * dL / (base + inst.gamma3 * L) + g)

    if not math.isfinite(cap):
        if (g >= 0).any():
            return math.inf
        hi = np.ones_like(g)
        for _ in range(2100):  # doubling to a point past every maximiser
            up = slope(hi) > 0
            if not up.any():
                break
            hi = np.where(up, hi * 2.0, hi)
    else:
        hi = np.full_like(g, cap)
    lo = np.zeros_like(g)
    at_cap = slope(hi) >= 0
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        up = slope(mid) > 0
        lo, hi = np.where(up, mid, lo), np.where(up, hi, mid)
    e = np.where(at_cap, hi, 0.5 * (lo + hi))
    L = spec.c_inv(inst, s_e * e)
    with np.errstate(divide="ignore"):
        vals = A * np.log(base + inst.gamma3 * L) + g * e
    return float(np.sum(vals))


def payment_part(inst: ContractInstance, g: np.ndarray, s_obj: float) -> float:
    """``sum_k max_{a >= 0} -p_k (exp(a) - 1) / s_obj + g_k a`` in closed form."""
    p = inst.prob
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(g > 0, np.maximum(np.log(g * s_obj / p), 0.0), 0.0)
    return float(np.sum(-p * np.expm1(a) / s_obj + g * a))


def log_dual_bound(inst: ContractInstance, spec: ContractSpec, s_e: float, s_obj: float,
                   rows: list[tuple[Any, sp.spmatrix]], cap: float) -> Callable[[Any], float]:
    """``meta["dual_bound"]`` of the full problem: ``rows`` pairs each dualised CVXPY
    constraint (``G_i [a'; e'] >= 0``) with its matrix ``G_i`` on ``[a'; e']``; ``cap`` is the
    scaled cost cap ``c(L_max) / s_e`` (``inf`` without one). The callable returns the bound
    in the program's scaled units, NaN without multipliers."""
    K = inst.n_types

    def bound(problem: Any) -> float:
        g = np.zeros(2 * K)
        for con, G in rows:
            lam = con.dual_value
            if lam is None:
                return math.nan
            g += G.T @ np.maximum(np.asarray(lam, dtype=np.float64).reshape(-1), 0.0)
        return value_part(inst, spec, g[K:], s_e, s_obj, cap) + payment_part(inst, g[:K], s_obj)
    return bound
