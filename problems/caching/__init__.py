"""Model caching over time: which generative models each edge server keeps in GPU memory, slot
by slot, and where every request is served (home server, a neighbour within the latency budget,
or the cloud), with in-context learning that makes a copy more accurate the longer it stays.

Modules
-------
data
    :class:`CachingInstance`, :class:`CachingObjective`, :class:`CachingSpec`,
    :class:`CachingAllocation` and the cost / context physics shared by everything below.
trace
    Trace CSV files (:func:`save_trace_csv`, :func:`load_trace_csv`) and per-request logs
    (BurstGPT, Azure LLM traces) binned into slots (:func:`load_event_log_csv`,
    :class:`EventTrace`).
formulation
    The MILP's column/row layout and window data, shared by the offline MILP and the rolling
    horizon (:class:`~.formulation.Layout`, :func:`~.formulation.window_data`, ...).
milp
    The offline (clairvoyant) MILP: registered :func:`~.milp.build` / :func:`~.milp.decode`,
    ``offline_milp``, :func:`solve_offline` with a MIP start, :func:`slot_bound`, and the
    ``caching.offline`` / ``caching.compute`` case kinds.
decomposition
    Lagrangian decomposition at scale: exact per-(server, model) trajectory DPs and per-(slot,
    server) memory knapsacks, a certified bound by subgradient ascent and a primal repair;
    registered as algorithm ``lagrangian`` (:func:`solve_lagrangian`).
local_search
    Exact pair moves for the primal: per server, the jointly optimal trajectories of every
    pair of models (one may evict the other), memory checked in every slot.
colgen
    Column generation over trajectory columns (Dantzig-Wolfe master, price-and-branch),
    certified by the same bound; registered as algorithm ``colgen`` (:func:`solve_colgen`).
relax_memory
    Lagrangian relaxation of the memory rows only, with one exact subproblem per model (its
    LP warm-started, then its MILP), a repaired and polished primal; registered as algorithm
    ``relax_memory`` (:func:`solve_relax_memory`).
model_lns
    Large-neighbourhood search for the primal: a few models re-optimised jointly by MILP with
    the others fixed (exact: the cost separates by model except for memory).
policies
    Online policies (LRU, LFU, static most-popular, Least Context, rolling horizon), registered
    as heuristics of :class:`CachingSpec`.
evaluate
    The independent referee, registered for :class:`CachingAllocation`.
"""

from __future__ import annotations

from . import (
    colgen,
    data,
    decomposition,
    evaluate,
    formulation,
    local_search,
    milp,
    model_lns,
    policies,
    relax_memory,
    trace,
)
from .colgen import solve_colgen
from .data import (
    GB,
    CachingAllocation,
    CachingInstance,
    CachingObjective,
    CachingSpec,
    cache_age,
    cloud_cost,
    context_table,
    edge_cost,
    load_cost,
    neighbours,
    objective_of,
    validate_requests,
)
from .decomposition import solve_lagrangian
from .evaluate import evaluate_caching
from .milp import CASES, offline_milp, slot_bound, solve_offline
from .policies import (
    POLICIES,
    RollingHorizon,
    fill,
    least_context,
    lfu,
    lru,
    rolling_forecast,
    rolling_horizon,
    route_given_cache,
    static_popular,
)
from .relax_memory import solve_relax_memory
from .trace import (
    SERVER_RULES,
    TRACE_COLUMNS,
    EventTrace,
    load_event_log_csv,
    load_trace_csv,
    save_trace_csv,
)

__all__ = [
    "CASES",
    "GB",
    "POLICIES",
    "SERVER_RULES",
    "TRACE_COLUMNS",
    "CachingAllocation",
    "CachingInstance",
    "CachingObjective",
    "CachingSpec",
    "EventTrace",
    "RollingHorizon",
    "cache_age",
    "cloud_cost",
    "colgen",
    "context_table",
    "data",
    "decomposition",
    "edge_cost",
    "evaluate",
    "evaluate_caching",
    "fill",
    "formulation",
    "least_context",
    "local_search",
    "lfu",
    "load_cost",
    "load_event_log_csv",
    "load_trace_csv",
    "lru",
    "milp",
    "model_lns",
    "neighbours",
    "objective_of",
    "offline_milp",
    "policies",
    "relax_memory",
    "rolling_forecast",
    "rolling_horizon",
    "route_given_cache",
    "save_trace_csv",
    "slot_bound",
    "solve_colgen",
    "solve_lagrangian",
    "solve_relax_memory",
    "solve_offline",
    "static_popular",
    "trace",
    "validate_requests",
]
