"""Resource allocation: bandwidth/compute shares, power, joint bandwidth-power, diffusion steps,
LLM token budgets, and latency-energy-quality Pareto sweeps.

Modules (importing this package imports them all, which registers builders, methods, the
evaluators and the benchmark case kinds):

* :mod:`.data`, :mod:`.data_steps`, :mod:`.data_llm`: instance, spec, allocation and weight
  types and the shared physics;
* :mod:`.bandwidth` (``allocation.bandwidth_compute``), :mod:`.power` (``allocation.power``),
  :mod:`.joint_bp` (``allocation.joint_bp``): exact closed forms and CVXPY models;
* :mod:`.steps` (``allocation.steps``, ``allocation.hybrid_steps``) and :mod:`.llm`
  (``allocation.llm_tokens``): MILPs;
* :mod:`.evaluate`: the referee; :mod:`.pareto`: weight and epsilon-constraint sweeps.
"""

from __future__ import annotations

# every module, so that its registrations happen (most are also used by the imports below)
from . import (  # noqa: F401
    bandwidth,
    data,
    data_llm,
    data_steps,
    evaluate,
    joint_bp,
    llm,
    pareto,
    power,
    steps,
)
from .bandwidth import equal_share, proportional_demand
from .data import (
    BandwidthComputeAllocation,
    BandwidthComputeInstance,
    BandwidthComputeSpec,
    JointBPAllocation,
    JointBPInstance,
    JointBPSpec,
    PowerAllocation,
    PowerInstance,
    PowerSpec,
    time_limit,
)
from .data_llm import LlmAllocation, LlmInstance, LlmObjective, LlmSpec, token_quality
from .data_steps import DEFAULT_OBJECTIVE, EPSILON_METRICS, HybridStepsSpec, StepsSpec
from .evaluate import evaluate_bandwidth_compute, evaluate_joint_bp, evaluate_llm, evaluate_power
from .joint_bp import CVXPY_SETTINGS, lambertw0
from .joint_bp_baselines import equal_area, proportional_area
from .llm import LLM_CASE, greedy_tokens
from .pareto import (
    METRICS,
    FrontStatus,
    ParetoCapable,
    ParetoFront,
    ParetoPoint,
    anchors,
    epsilon_sweep,
    mark_front,
    register_pareto,
    simplex_weights,
    weight_sweep,
)
from .power import equal_power, sum_rate_dual, water_fill, water_fill_sorted
from .steps import (
    HYBRID_STEPS_CASE,
    STEPS_CASE,
    allocation_from_steps,
    serving_server,
    solve_per_server,
    step_terms,
    steps_scenario,
)

__all__ = [
    "CVXPY_SETTINGS",
    "DEFAULT_OBJECTIVE",
    "EPSILON_METRICS",
    "HYBRID_STEPS_CASE",
    "LLM_CASE",
    "METRICS",
    "STEPS_CASE",
    "BandwidthComputeAllocation",
    "BandwidthComputeInstance",
    "BandwidthComputeSpec",
    "FrontStatus",
    "HybridStepsSpec",
    "JointBPAllocation",
    "JointBPInstance",
    "JointBPSpec",
    "LlmAllocation",
    "LlmInstance",
    "LlmObjective",
    "LlmSpec",
    "ParetoCapable",
    "ParetoFront",
    "ParetoPoint",
    "PowerAllocation",
    "PowerInstance",
    "PowerSpec",
    "StepsSpec",
    "allocation_from_steps",
    "anchors",
    "epsilon_sweep",
    "equal_area",
    "equal_power",
    "equal_share",
    "evaluate_bandwidth_compute",
    "evaluate_joint_bp",
    "evaluate_llm",
    "evaluate_power",
    "greedy_tokens",
    "lambertw0",
    "mark_front",
    "proportional_area",
    "proportional_demand",
    "register_pareto",
    "serving_server",
    "simplex_weights",
    "solve_per_server",
    "step_terms",
    "steps_scenario",
    "sum_rate_dual",
    "time_limit",
    "token_quality",
    "water_fill",
    "water_fill_sorted",
    "weight_sweep",
]
