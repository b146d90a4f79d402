"""AIGC life-cycle orchestration (GainNet's closed loop): fine-tuning choice and placement,
inference hosting and routing across devices, edge servers and the cloud.

Modules
-------
data
    :class:`LifecycleInstance`, :class:`LifecycleWeights`, :class:`LifecycleSpec`,
    :class:`LifecycleAllocation` (the model and its sources in the module docstring).
data_physics
    The compute / memory / bytes / quality formulas shared by builder, baselines and referee.
milp
    The exact MILP (registered builder: every LP/MILP backend solves it); :func:`assemble`
    builds it over chosen demand slots, optionally with a fixed :class:`Placement`.
heuristics
    Baselines ``all_cloud``, ``edge_greedy``, ``no_finetune`` (registered heuristics).
timescale
    Two timescales: :func:`rolling` (placement on mean demand, per-slot routing LPs; registered
    algorithm ``"rolling"``) and :func:`compare` with the single-stage optimum.
loop
    GainNet's closed loop over rounds (:func:`closed_loop`, :class:`LoopModel`).
medical
    Case study (a), medical summarisation (:func:`medical_instance`, :func:`pareto_front`) and
    the case kinds ``lifecycle.placement``, ``lifecycle.two_timescale``, ``lifecycle.medical``.
warm
    The MILP from a MIP start (a baseline's allocation): :func:`solve_warm`, algorithm
    ``"highs_warm"``.
bound
    :func:`lagrangian_bound`: a certified lower bound (capacity rows priced) for sizes the MILP
    cannot close.
evaluate
    The independent referee, registered for :class:`LifecycleAllocation`.
"""

from __future__ import annotations

from . import (
    bound,
    data,
    data_physics,
    evaluate,
    heuristics,
    loop,
    medical,
    milp,
    timescale,
    warm,
)
from .bound import lagrangian_bound
from .data import (
    MODES,
    NODE_KINDS,
    LifecycleAllocation,
    LifecycleInstance,
    LifecycleSpec,
    LifecycleWeights,
)
from .data_physics import (
    OptionPhysics,
    option_physics,
)
from .evaluate import evaluate_lifecycle
from .heuristics import all_cloud, edge_greedy, no_finetune
from .loop import LoopModel, closed_loop
from .medical import CASES, medical_instance, medical_spec, pareto_front
from .milp import Placement, assemble
from .timescale import compare, rolling
from .warm import solve_warm, start_vector

__all__ = [
    "CASES",
    "MODES",
    "NODE_KINDS",
    "LifecycleAllocation",
    "LifecycleInstance",
    "LifecycleSpec",
    "LifecycleWeights",
    "LoopModel",
    "OptionPhysics",
    "Placement",
    "all_cloud",
    "assemble",
    "bound",
    "closed_loop",
    "compare",
    "data",
    "data_physics",
    "edge_greedy",
    "evaluate",
    "evaluate_lifecycle",
    "heuristics",
    "lagrangian_bound",
    "loop",
    "medical",
    "medical_instance",
    "medical_spec",
    "milp",
    "no_finetune",
    "option_physics",
    "pareto_front",
    "rolling",
    "solve_warm",
    "start_vector",
    "timescale",
    "warm",
]
