"""ISCC family: integrated sensing, communication and computing orchestration over decoupled
resource pools (GainNet's GaiRom-ISCC, Chen et al., IEEE Network 2024, arXiv 2401.02662).

Modules: :mod:`.data` (instance, specs, allocations, bundle enumeration, physics),
:mod:`.data_shares` (continuous-share types), :mod:`.matching` (one-shot matching MILP),
:mod:`.pipeline` (Z-shaped multi-slot MILP, rolling horizon), :mod:`.continuous` (KKT shares),
:mod:`.heuristics` (greedy, random, static partition), :mod:`.rounding` (LP rounding with
a certified gap, warm-started HiGHS), :mod:`.vehicular` (case study) and
:mod:`.evaluate` (referee).
"""

from __future__ import annotations

from . import continuous, evaluate, heuristics, matching, pipeline, rounding, vehicular
from .data import (
    Bundles,
    IsccAllocation,
    IsccInstance,
    IsccPipelineSpec,
    IsccSpec,
    allocation_from_bundles,
    enumerate_bundles,
    partition_capacity,
    phase_times,
)
from .data_shares import ShareAllocation, ShareInstance, ShareSpec
from .evaluate import evaluate_iscc, evaluate_shares

__all__ = [
    "Bundles",
    "IsccAllocation",
    "IsccInstance",
    "IsccPipelineSpec",
    "IsccSpec",
    "ShareAllocation",
    "ShareInstance",
    "ShareSpec",
    "allocation_from_bundles",
    "continuous",
    "enumerate_bundles",
    "evaluate",
    "evaluate_iscc",
    "evaluate_shares",
    "heuristics",
    "matching",
    "partition_capacity",
    "phase_times",
    "pipeline",
    "rounding",
    "vehicular",
]
