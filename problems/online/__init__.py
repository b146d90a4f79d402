"""Online (time-slotted) MEC: trajectories, LyDROO's Lyapunov model, controllers, referee.

Modules: :mod:`.data` (environment, trajectory, spec, decisions, controller interface),
:mod:`.environment` (profiles,
trajectories), :mod:`.mobility` (stochastic processes), :mod:`.lyapunov` (exact frame solver),
:mod:`.sim` (controllers, simulator), :mod:`.evaluate` (referee), :mod:`.yardstick` (offline
bound), :mod:`.methods` (registered algorithms and case kinds).

Example::

    import aigc_opt
    from aigc_opt.problems.online import (LyapunovSpec, generate_trajectory, lydroo_profile,
                                          make_controller, offline_bound, simulate)

    tr = generate_trajectory(lydroo_profile(n_users=10, n_slots=500), seed=0)
    spec = LyapunovSpec(V=20)                     # LyDROO code defaults
    run = simulate(tr, spec, make_controller("exact", spec))
    metrics = aigc_opt.evaluate(tr, run, spec)     # referee: constraints, rate in bit/s
    bound = offline_bound(tr, spec).bound_bps       # no controller can beat it (same energy)
"""

from . import data, environment, evaluate, lyapunov, methods, mobility, sim, yardstick
from .data import (
    Controller,
    EnvironmentProfile,
    FrameDecision,
    FrameInstance,
    LyapunovSpec,
    SimulationResult,
    SlotState,
    Trajectory,
    generate_trajectory,
    load_arrival_trace,
    load_position_trace,
    lydroo_profile,
)
from .evaluate import evaluate_frame, evaluate_simulation
from .lyapunov import FrameSolution, order_preserving_modes, solve_fixed_modes, solve_frame
from .methods import random_frame
from .sim import (
    BackloggedLyapunov,
    LocalOnly,
    LyapunovExact,
    LyDROOQuantised,
    Myopic,
    OffloadAll,
    make_controller,
    simulate,
)
from .yardstick import (
    LagrangianBound,
    OfflineBound,
    lagrangian_bound,
    lagrangian_gap,
    offline_bound,
)

__all__ = [
    "data", "environment", "evaluate", "lyapunov", "mobility", "sim",
    "Controller", "EnvironmentProfile", "FrameDecision", "FrameInstance", "LyapunovSpec",
    "SimulationResult", "SlotState", "Trajectory", "generate_trajectory", "load_arrival_trace",
    "load_position_trace", "lydroo_profile", "evaluate_frame", "evaluate_simulation",
    "FrameSolution", "order_preserving_modes", "solve_fixed_modes", "solve_frame",
    "LocalOnly", "LyapunovExact", "LyDROOQuantised", "Myopic", "OffloadAll", "make_controller",
    "simulate", "methods", "yardstick", "random_frame", "OfflineBound", "offline_bound",
    "BackloggedLyapunov", "LagrangianBound", "lagrangian_bound", "lagrangian_gap",
]
