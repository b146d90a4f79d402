"""Deployment sizing: the minimum-cost GPUs and bandwidth per edge site such that the offloading
assignment of every demand scenario (peak, average, one site down ...) meets its deadlines.

Modules (importing this package registers all of them):

* :mod:`.data` -- catalogue (:class:`GpuOption`, :class:`RadioOption`), :class:`SizingInstance`,
  :class:`SizingSpec`, :class:`SizingPlan`, and the sized scenarios the referee checks;
* :mod:`.milp` -- the exact MILP (capacity and every scenario's assignment together) with the
  binding capacity rows of the optimum;
* :mod:`.heuristics` -- greedy capacity add (``greedy_capacity``);
* :mod:`.evaluate` -- the referee: plan cost plus the offloading referee on every scenario.
"""

from __future__ import annotations

from . import data, evaluate, heuristics, milp
from .data import (
    DOWN_GAIN,
    GpuOption,
    RadioOption,
    SizingInstance,
    SizingPlan,
    SizingSpec,
    capacity_arrays,
    plan_cost,
    site_down,
    sized_scenario,
)
from .evaluate import evaluate_sizing
from .heuristics import greedy_capacity
from .milp import binding_constraints, demand_columns, offloading_spec

__all__ = [
    "DOWN_GAIN",
    "GpuOption",
    "RadioOption",
    "SizingInstance",
    "SizingPlan",
    "SizingSpec",
    "binding_constraints",
    "capacity_arrays",
    "data",
    "demand_columns",
    "evaluate",
    "evaluate_sizing",
    "greedy_capacity",
    "heuristics",
    "milp",
    "offloading_spec",
    "plan_cost",
    "sized_scenario",
    "site_down",
]
