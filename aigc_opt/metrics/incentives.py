"""Independent evaluators of the incentive mechanisms: contracts, Stackelberg pricing, auctions.

Each evaluator recomputes the mechanism's defining properties from the instance and the
allocation alone (numpy only, never a solver's matrices):

* contract: every type's utility for every menu item (a K x K table), all K IR and K(K-1) IC
  constraints, information rents and the operator's expected utility;
* Stackelberg: each follower's utility, its exact best response and the gain of deviating
  (the largest must be <= 1e-9), KKT residuals, capacity and budgets, the leader's revenue and
  profit;
* auction: one bundle per bidder, server capacities, individual rationality (payment <= value),
  no positive transfers, social welfare, revenue and (weak) budget balance;
  :func:`empirical_truthfulness` samples misreports and reports the largest gain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..problems.incentives_contract import ContractAllocation, ContractInstance, ContractSpec
from . import FEAS_TOL, Metrics, register_evaluator


def _rel(excess: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return np.maximum(excess, 0.0) / np.maximum(np.abs(scale), 1.0)


def _pack(family: str, objective: float, per_item: dict[str, np.ndarray],
          totals: dict[str, float], v: dict[str, np.ndarray], hard: set[str]) -> Metrics:
    return Metrics(
        family=family,
        objective=objective,
        per_item=per_item,
        totals=totals,
        violations={k: float(np.max(a, initial=0.0)) for k, a in v.items()},
        violation_counts={k: int((a > FEAS_TOL).sum()) for k, a in v.items()},
        hard=frozenset(hard),
    )


# ---------------------------------------------------------------------------------- contract
def evaluate_contract(inst: ContractInstance, alloc: ContractAllocation,
                      spec: Any = None) -> Metrics:
    """Utilities, IR/IC violations and the operator's expected utility of a contract menu.

    ``U[k, j] = theta_k v(R_j) - c(L_j)`` is type k's utility for item j (forms from ``spec``,
    linear/linear when omitted). IR_k: ``U[k, k] >= 0``; IC_{k,j}: ``U[k, k] >= U[k, j]``;
    violations are relative to ``max(1, |U|)``. The objective is
    ``sum_k p_k (sigma ln(gamma2 xi + gamma3 L_k) - R_k)`` (to be maximised).
    """
    sp_ = spec if isinstance(spec, ContractSpec) else ContractSpec()
    K = inst.n_types
    L, R = np.asarray(alloc.level, float), np.asarray(alloc.reward, float)
    if L.shape != (K,):
        raise ValueError(f"menu has {L.size} items for {K} types")
    val = np.log1p(R) if sp_.valuation == "log" else R
    cost = inst.gamma1 * L if sp_.cost == "linear" else 0.5 * inst.gamma1 * L * L
    U = inst.theta[:, None] * val[None, :] - cost[None, :]
    own = np.diag(U).copy()
    off = ~np.eye(K, dtype=bool)
    ic = _rel(U - own[:, None], own[:, None] * np.ones((1, K)))[off]
    op = inst.sigma * np.log(inst.gamma2 * inst.xi + inst.gamma3 * L) - R
    rent = own.copy()
    viol = {
        "IR": _rel(-own, np.ones(K)),
        "IC": ic,
        "level_nonnegative": np.maximum(-L, 0.0),
        "reward_nonnegative": np.maximum(-R, 0.0),
        "level_max": _rel(L - inst.level_max, np.full(K, inst.level_max))
        if np.isfinite(inst.level_max) else np.zeros(K),
    }
    totals = {
        "operator_expected_utility": float(inst.prob @ op),
        "expected_reward": float(inst.prob @ R),
        "expected_level": float(inst.prob @ L),
        "expected_provider_utility": float(inst.prob @ own),
        "n_excluded_types": float(np.sum(L <= 1e-9)),
        "level_monotone": float(np.all(np.diff(L) >= -1e-9)),
    }
    per_item = {"level": L, "reward": R, "provider_utility": own, "information_rent": rent,
                "operator_utility": op, "utility_table": U}
    return _pack("incentives.contract", float(inst.prob @ op), per_item, totals, viol,
                 set(viol))


register_evaluator(ContractAllocation, evaluate_contract)


@dataclass(frozen=True)
class TruthfulnessReport:
    """Outcome of :func:`empirical_truthfulness`.

    Parameters
    ----------
    n_samples : int
        Misreports tried.
    max_gain : float
        Largest utility gain of a misreporting bidder over truthful bidding (money units).
    n_profitable : int
        Misreports whose gain exceeds ``tol``.
    worst : tuple
        ``(bidder, gain)`` of the largest gain.
    """

    n_samples: int
    max_gain: float
    n_profitable: int
    worst: tuple[int, float]


MechanismFn = Callable[[Any], Any]
