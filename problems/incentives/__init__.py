"""Incentive mechanisms for AIGC services: contracts, Stackelberg pricing, GPU-slot auctions.

Modules
-------
``data``
    Instance, spec and allocation types of the three mechanisms (and the contract's utility
    forms on :class:`ContractSpec`).
``contract``
    Screening by contract: the full IR/IC convex program (builder of :class:`ContractSpec`), the
    exact reduction with ironing (``"reduction"``) and the reduced CVXPY model
    (``"reduced_cvxpy"``); case ``incentives.contract``.
``stackelberg``
    Single-leader pricing (``"breakpoints"``, ``"closed_form"``, heuristic ``"price_grid"``) and
    competing leaders (``"best_response"``); cases ``incentives.stackelberg`` and
    ``incentives.stackelberg_multi``.
``auction``
    Winner determination MILP (builder of :class:`AuctionSpec`), VCG payments (``"vcg"``) and
    the greedy uniform-price baseline (``"greedy_uniform"``); case ``incentives.auction``.
``evaluate``
    The referees: :func:`evaluate_contract`, :func:`evaluate_stackelberg`,
    :func:`evaluate_auction`, plus :func:`leader_deviation_gains` and
    :func:`empirical_truthfulness`.

Importing this package registers the builders, methods, heuristics, evaluators and case kinds.
"""

from __future__ import annotations

from .auction import build_wdp, decode_wdp, greedy_uniform, solve_vcg, vcg, won_value
from .contract import (
    build_full,
    decode_full,
    ic_matrix,
    ironed_levels,
    operator_utility,
    rewards_from_levels,
    solve_reduced_convex,
    solve_reduction,
    virtual_weights,
)
from .data import (
    COSTS,
    VALUATIONS,
    AuctionAllocation,
    AuctionInstance,
    AuctionSpec,
    ContractAllocation,
    ContractInstance,
    ContractSpec,
    MultiLeaderInstance,
    MultiLeaderSpec,
    StackelbergAllocation,
    StackelbergInstance,
    StackelbergSpec,
)
from .evaluate import (
    TruthfulnessReport,
    empirical_truthfulness,
    evaluate_auction,
    evaluate_contract,
    evaluate_stackelberg,
    leader_deviation_gains,
)
from .stackelberg import (
    best_response,
    capacity_price,
    follower_demand,
    leader_profit,
    multi_demand,
    own_capacity_price,
    price_grid,
    solve_best_response,
    solve_breakpoints,
    solve_closed_form,
)

__all__ = [
    "COSTS",
    "VALUATIONS",
    "AuctionAllocation",
    "AuctionInstance",
    "AuctionSpec",
    "ContractAllocation",
    "ContractInstance",
    "ContractSpec",
    "MultiLeaderInstance",
    "MultiLeaderSpec",
    "StackelbergAllocation",
    "StackelbergInstance",
    "StackelbergSpec",
    "TruthfulnessReport",
    "best_response",
    "build_full",
    "build_wdp",
    "capacity_price",
    "decode_full",
    "decode_wdp",
    "empirical_truthfulness",
    "evaluate_auction",
    "evaluate_contract",
    "evaluate_stackelberg",
    "follower_demand",
    "greedy_uniform",
    "ic_matrix",
    "ironed_levels",
    "leader_deviation_gains",
    "leader_profit",
    "multi_demand",
    "operator_utility",
    "own_capacity_price",
    "price_grid",
    "rewards_from_levels",
    "solve_best_response",
    "solve_breakpoints",
    "solve_closed_form",
    "solve_reduced_convex",
    "solve_reduction",
    "solve_vcg",
    "vcg",
    "virtual_weights",
    "won_value",
]
