"""Offloading family: where each generative-AI request runs (device, edge server, cloud).

Modules (importing this package registers all of them):

* :mod:`.data` -- specs, allocations, objective weights and the physics shared by builders and
  the referee (:func:`~.data.link_times`, :func:`~.data.branch_times`, ...);
* :mod:`.assignment` -- the assignment + model-placement MILP (:class:`OffloadingSpec`);
  its program documents every ``assign`` column in ``program.column_data``;
* :mod:`.heuristics` -- baselines of the assignment problem;
* :mod:`.partial` -- partial offloading LP and closed form (:class:`PartialSpec`);
* :mod:`.multicell` -- multi-cell assignment with forwarding (:class:`MulticellSpec`);
* :mod:`.joint`, :mod:`.joint_oa` -- joint placement and shares, exact by outer approximation
  (:class:`JointSpec`);
* :mod:`.lagrangian`, :mod:`.lagrangian_sub` -- certified assignment at scale: subgradient
  Lagrangian decomposition with primal repair, then LP duals, reduced-cost fixing and a MILP
  on the kept columns when needed (method ``"lagrangian"``);
* :mod:`.evaluate` -- the independent evaluator of the three allocation types.
"""

from __future__ import annotations

from . import assignment, evaluate, heuristics, joint, joint_oa, lagrangian, multicell, partial
from .assignment import OptionTable, option_table
from .data import (
    CLOUD,
    LOCAL,
    REJECT,
    JointSpec,
    MulticellAllocation,
    MulticellSpec,
    OffloadAllocation,
    OffloadingSpec,
    OffloadObjective,
    PartialOffloadAllocation,
    PartialSpec,
    branch_times,
    edge_server_energy,
    link_capacity,
    link_times,
)
from .evaluate import evaluate_multicell, evaluate_offloading, evaluate_partial

__all__ = [
    "CLOUD",
    "LOCAL",
    "REJECT",
    "JointSpec",
    "MulticellAllocation",
    "MulticellSpec",
    "OffloadAllocation",
    "OffloadObjective",
    "OffloadingSpec",
    "OptionTable",
    "PartialOffloadAllocation",
    "PartialSpec",
    "assignment",
    "branch_times",
    "edge_server_energy",
    "evaluate",
    "evaluate_multicell",
    "evaluate_offloading",
    "evaluate_partial",
    "heuristics",
    "joint",
    "joint_oa",
    "lagrangian",
    "link_capacity",
    "link_times",
    "multicell",
    "option_table",
    "partial",
]
