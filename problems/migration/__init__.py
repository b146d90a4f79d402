"""AIGC service migration with user mobility (after Ouyang, Zhou, Chen, "Follow Me at the Edge",
IEEE JSAC 2018) and AGOD online service-provider selection (Du et al., IEEE TMC 2024).

Modules
-------
data
    :class:`MigrationInstance`, :class:`MigrationSpec`, :class:`MigrationSlot`,
    :class:`SlotSpec`, the allocations (:class:`MigrationAllocation`, :class:`SlotAllocation`)
    and the physics (latency, quality, migration energy, virtual queue).
mobility
    Random-waypoint / Gauss-Markov mobility and :func:`generate`.
milp
    The per-slot drift-plus-penalty MILP and the offline T-slot MILP (registered builders).
controllers
    Online controllers (``lyapunov``, ``lyapunov_warm``, ``never_migrate``, ``always_nearest``,
    ``greedy``), registered as heuristics of :class:`MigrationSpec`; :func:`run_online`.
cases
    ``migration.lyapunov`` / ``migration.offline`` case kinds, :func:`solve_offline`.
data_agod, agod
    AGOD's environment (:class:`AgodInstance`, :class:`AgodSpec`, :class:`AgodAllocation`),
    its heuristics and the offline crash-free MILP; case ``agod.selection``.
evaluate
    The referee for all three allocation types.
"""

from __future__ import annotations

from . import agod, cases, controllers, data, data_agod, evaluate, milp, mobility, offline
from .agod import HEURISTICS as AGOD_HEURISTICS
from .agod import AgodSimulator, simulate
from .cases import CASES, solve_offline
from .controllers import (
    CONTROLLERS,
    AlwaysNearest,
    Controller,
    Greedy,
    Lyapunov,
    NeverMigrate,
    SlotState,
    greedy_place,
    run_online,
)
from .data import (
    CostWeights,
    MigrationAllocation,
    MigrationInstance,
    MigrationSlot,
    MigrationSpec,
    SlotAllocation,
    SlotSpec,
    latency_s,
    migration_from_j,
    migration_matrix_j,
    perf_cost,
    queue_trace,
    slot_problem,
    user_quality,
    work_flop,
)
from .data_agod import (
    AGOD_PROFILE,
    AgodAllocation,
    AgodInstance,
    AgodProfile,
    AgodSpec,
    reward,
    reward_table,
    runtime_s,
)
from .evaluate import evaluate_agod, evaluate_slot, evaluate_trajectory
from .milp import assemble, build_offline, build_slot, solve_highs, start_vector
from .mobility import gauss_markov, generate, random_waypoint
from .offline import offline_milp

__all__ = [
    "AGOD_HEURISTICS",
    "AGOD_PROFILE",
    "AgodAllocation",
    "AgodInstance",
    "AgodProfile",
    "AgodSimulator",
    "AgodSpec",
    "AlwaysNearest",
    "CASES",
    "CONTROLLERS",
    "Controller",
    "CostWeights",
    "Greedy",
    "Lyapunov",
    "MigrationAllocation",
    "MigrationInstance",
    "MigrationSlot",
    "MigrationSpec",
    "NeverMigrate",
    "SlotAllocation",
    "SlotSpec",
    "SlotState",
    "agod",
    "assemble",
    "build_offline",
    "build_slot",
    "cases",
    "controllers",
    "data",
    "data_agod",
    "evaluate",
    "evaluate_agod",
    "evaluate_slot",
    "evaluate_trajectory",
    "gauss_markov",
    "generate",
    "greedy_place",
    "latency_s",
    "migration_from_j",
    "migration_matrix_j",
    "milp",
    "offline",
    "mobility",
    "offline_milp",
    "perf_cost",
    "queue_trace",
    "random_waypoint",
    "reward",
    "reward_table",
    "run_online",
    "runtime_s",
    "simulate",
    "slot_problem",
    "solve_highs",
    "solve_offline",
    "start_vector",
    "user_quality",
    "work_flop",
]
