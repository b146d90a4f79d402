r"""Offloading and model placement as a MILP: device, edge server or cloud for every request.

Decisions: ``x_{n,k} in {0,1}`` (request n runs at option k: its device, edge server s, or the
cloud relayed through its best server r(n)), and ``y_{s,m} in {0,1}`` (server s holds model m).
Radio and compute are shared in equal fixed shares: an offloaded request gets one of the
``K_s`` subchannels (``B_s/K_s`` Hz up, ``B^dl_s/K_s`` down, ``R_s/K_s`` bit/s backhaul when
relayed) and one of the ``G_s`` GPU slots (``F_s/G_s`` FLOP/s). The device transmits at full
power. With the shares fixed, every option's latency, energy and quality is a constant
``c_{n,k}`` and the problem is

.. math::

    \min \sum_{n,k} c_{n,k} x_{n,k} + \lambda \sum_{s,m} \frac{8\,size_m}{R^{load}_s} y_{s,m}

    \text{s.t.}\quad \sum_k x_{n,k} = 1 \;\forall n, \qquad
    \sum_n x_{n,s} + \sum_{n: r(n)=s} x_{n,cloud} \le K_s, \qquad
    \sum_n x_{n,s} \le G_s,

    \sum_m size_m\, y_{s,m} \le Mem_s, \qquad x_{n,s} \le y_{s,m(n)}
    \;\text{(or aggregated: } \sum_{n:m(n)=m} x_{n,s} \le \min(U_{s,m}, G_s)\, y_{s,m}).

with ``c_{n,k} = w_n (alpha L + beta E_dev + eta E_srv - gamma Q [+ rho (L-d)^+]) + mu cost``.
Options that miss a hard deadline or the device energy budget are not built as columns (a
request with no option left makes the program infeasible, which the solver reports).
Both linkings give the same integer optimum; the disaggregated one has the tighter relaxation,
the aggregated one has S*M instead of N*S rows (use it for large N).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aigc_opt.allocation import CLOUD, LOCAL, OffloadAllocation, OffloadObjective
from aigc_opt.cases import CaseKind, register_case
from aigc_opt.errors import ValidationError
from aigc_opt.metrics.offloading import link_times
from aigc_opt.program import Block, LinearProgram, RowBuilder
from aigc_opt.scenario import Scenario

logger = logging.getLogger(__name__)

GB = 1e9  # memory rows are written in GB so that coefficients are O(1)


@dataclass(frozen=True)
class OffloadingSpec:
    """Assignment MILP spec (see the module docstring for the formulation).

    Parameters
    ----------
    objective : OffloadObjective
        Weights and deadline mode.
    allow_local, allow_cloud : bool
        Whether device / cloud execution are options.
    local_max_steps : int or None
        The device runs at most this many steps (a truncated schedule, lower quality); None:
        the requested steps.
    candidate_servers : int or None
        Offer each request only its ``k`` highest-gain servers (None: all). The standard way to
        scale to many users (DESIGN.md).
    linking : {"disaggregated", "aggregated"}
        How ``x`` is tied to ``y`` (see module docstring).
    """

    objective: OffloadObjective = field(default_factory=OffloadObjective)
    allow_local: bool = True
    allow_cloud: bool = True
    local_max_steps: int | None = None
    candidate_servers: int | None = None
    linking: str = "disaggregated"
    problem: str = "offloading"
    variant: str = "assignment"

    def __post_init__(self) -> None:
        if self.linking not in ("disaggregated", "aggregated"):
            raise ValidationError("linking", "-", self.linking, "must be disaggregated|aggregated")
        if self.candidate_servers is not None and self.candidate_servers < 1:
            raise ValidationError("candidate_servers", "-", self.candidate_servers, "must be >= 1")
        if self.local_max_steps is not None and self.local_max_steps < 1:
            raise ValidationError("local_max_steps", "step", self.local_max_steps, "must be >= 1")

    def build(self, scenario: Scenario) -> LinearProgram:
        """The assignment MILP (pure, vectorised)."""
        return build(scenario, self)

    def decode(self, scenario: Scenario, program: LinearProgram, values: Any) -> OffloadAllocation:
        """Allocation from a solution's ``assign`` and ``cache`` blocks."""
        return decode(scenario, self, program, values)


@dataclass(frozen=True)
class OptionTable:
    """All candidate (request, option) columns with their fixed resources and cost.

    ``placement`` uses the allocation codes (LOCAL, CLOUD or server index); ``radio_server``
    is the server whose radio the option uses (-1 for local). Resource arrays are the equal shares.
    """

    user: np.ndarray
    placement: np.ndarray
    radio_server: np.ndarray
    uplink_hz: np.ndarray
    downlink_hz: np.ndarray
    tx_power_w: np.ndarray
    compute_flops: np.ndarray
    backhaul_bps: np.ndarray
    remote_steps: np.ndarray
    device_steps: np.ndarray
    cost: np.ndarray
    feasible: np.ndarray


def option_table(scn: Scenario, spec: OffloadingSpec) -> OptionTable:
    """Enumerate options per request, vectorised; ``feasible`` marks the options that meet the
    hard deadline and energy budget."""
    N, S = scn.n_users, scn.n_servers
    users = np.arange(N)
    best = np.argmax(scn.channel_gain, axis=1)
    k = S if spec.candidate_servers is None else min(S, spec.candidate_servers)
    if k < S:
        cand = np.argpartition(-scn.channel_gain, k - 1, axis=1)[:, :k]
    else:
        cand = np.broadcast_to(np.arange(S), (N, S))
    eu, es = np.repeat(users, k), cand.reshape(-1)
    parts_u, parts_p, parts_r = [eu], [es], [es]
    if spec.allow_local:
        parts_u.insert(0, users)
        parts_p.insert(0, np.full(N, LOCAL))
        parts_r.insert(0, np.full(N, -1))
    if spec.allow_cloud:
        parts_u.append(users)
        parts_p.append(np.full(N, CLOUD))
        parts_r.append(best)
    u, place, radio = (np.concatenate(p) for p in (parts_u, parts_p, parts_r))
    order = np.lexsort((np.arange(u.size), u))  # group columns by user, stable
    u, place, radio = u[order], place[order], radio[order]
    remote, cloud = place != LOCAL, place == CLOUD
    rc = np.clip(radio, 0, S - 1)
    pc = np.clip(place, 0, S - 1)
    K = scn.server_subchannels[rc].astype(float)
    steps = scn.request_steps[u].astype(float)
    if spec.local_max_steps is not None:
        local_steps = np.minimum(steps, spec.local_max_steps)
    else:
        local_steps = steps
    t = OptionTable(
        user=u,
        placement=place,
        radio_server=np.where(remote, radio, -1),
        uplink_hz=np.where(remote, scn.server_uplink_hz[rc] / K, 0.0),
        downlink_hz=np.where(remote, scn.server_downlink_hz[rc] / K, 0.0),
        tx_power_w=np.where(remote, scn.user_tx_power_w[u], 0.0),
        compute_flops=np.where(
            cloud, scn.cloud_compute_flops,
            np.where(remote, scn.server_compute_flops[pc] / scn.server_gpu_slots[pc], 0.0),
        ),
        backhaul_bps=np.where(cloud, scn.server_backhaul_bps[rc] / K, 0.0),
        remote_steps=np.where(remote, steps, 0.0),
        device_steps=np.where(remote, 0.0, local_steps),
        cost=np.zeros(u.size),
        feasible=np.ones(u.size, dtype=bool),
    )
    cost, feasible = _option_cost(scn, spec, t)
    object.__setattr__(t, "cost", cost)
    object.__setattr__(t, "feasible", feasible)
    return t


def _option_cost(scn: Scenario, spec: OffloadingSpec, t: OptionTable) -> tuple[np.ndarray, ...]:
    """Per-column cost and hard feasibility, computed with the evaluator's physics."""
    from aigc_opt.quality import quality

    # Every column is scored as its own request row (users= maps rows to scenario users).
    alloc = _allocation_from_columns(t, np.arange(t.user.size), np.zeros((scn.n_servers,
                                                                          scn.n_models), bool))
    lt = link_times(scn, alloc, users=t.user)
    o = spec.objective
    q = quality(scn, scn.request_model[t.user], t.remote_steps + t.device_steps)
    lat = lt["latency_s"]
    late = np.maximum(lat - scn.request_deadline_s[t.user], 0.0)
    c = (o.latency * lat + o.device_energy * lt["device_energy_j"]
         + o.server_energy * lt["server_energy_j"] - o.quality * q)
    if o.deadline == "penalty":
        c = c + o.deadline_penalty * late
    c = scn.request_weight[t.user] * c
    cloud_cost = o.cloud_cost * scn.cloud_cost_per_flop * lt["remote_flop"]
    c = c + np.where(t.placement == CLOUD, cloud_cost, 0.0)
    feasible = np.isfinite(c) & (lt["device_energy_j"] <= scn.user_energy_budget_j[t.user])
    if o.deadline == "hard":
        feasible &= lat <= scn.request_deadline_s[t.user]
    return np.where(np.isfinite(c), c, 0.0), feasible


_RESOURCE_FIELDS = ("user", "placement", "radio_server", "uplink_hz", "downlink_hz",
                    "tx_power_w", "compute_flops", "backhaul_bps", "remote_steps", "device_steps")


def _allocation_from_columns(t: OptionTable, cols: np.ndarray, cache: np.ndarray
                             ) -> OffloadAllocation:
    return OffloadAllocation(
        cache=cache, **{f: getattr(t, f)[cols] for f in _RESOURCE_FIELDS if f != "user"}
    )


def placement_rows(rb: RowBuilder, scn: Scenario, *, user: np.ndarray, radio: np.ndarray,
                   place: np.ndarray, nx: int, linking: str) -> None:
    """Rows shared by the offloading MILPs over ``nx`` option columns and the ``S x M`` cache
    columns that follow them: assignment, subchannels on the radio server, GPU slots at the
    processing server, GPU memory (in GB) and the model-held linking (see module docstring)."""
    N, S, M = scn.n_users, scn.n_servers, scn.n_models
    ecols = np.nonzero(place >= 0)[0]
    rb.add(user, np.arange(nx), 1.0, N, 1.0, 1.0)
    rad = np.nonzero(radio >= 0)[0]
    rb.add(radio[rad], rad, 1.0, S, -np.inf, scn.server_subchannels.astype(float))
    rb.add(place[ecols], ecols, 1.0, S, -np.inf, scn.server_gpu_slots.astype(float))
    ys, ym = np.repeat(np.arange(S), M), np.tile(np.arange(M), S)
    rb.add(ys, nx + ys * M + ym, scn.model_size_bytes[ym] / GB, S, -np.inf,
           scn.server_gpu_memory_bytes / GB)
    key = place[ecols] * M + scn.request_model[user[ecols]]  # cache column of each edge option
    if linking == "disaggregated":  # x_ns <= y_{s,m(n)}
        ne = ecols.size
        r = np.arange(ne)
        rb.add(np.concatenate([r, r]), np.concatenate([ecols, nx + key]),
               np.concatenate([np.ones(ne), -np.ones(ne)]), ne, -np.inf, 0.0)
    else:  # sum_{n: m(n)=m} x_ns <= min(U_sm, G_s) y_sm
        count = np.bincount(key, minlength=S * M)
        used = np.nonzero(count)[0]
        row_of = np.full(S * M, -1)
        row_of[used] = np.arange(used.size)
        big_m = np.minimum(count[used], scn.server_gpu_slots[used // M]).astype(float)
        rb.add(np.concatenate([row_of[key], np.arange(used.size)]),
               np.concatenate([ecols, nx + used]),
               np.concatenate([np.ones(ecols.size), -big_m]), used.size, -np.inf, 0.0)


def load_seconds(scn: Scenario) -> np.ndarray:
    """Model loading time ``8 size_m / R^load_s`` per cache column (s, flattened S x M)."""
    return (scn.model_size_bytes[None, :] * 8.0 / scn.server_load_bps[:, None]).reshape(-1)


def build(scn: Scenario, spec: OffloadingSpec) -> LinearProgram:
    """Assemble the MILP of the module docstring from the option table (scipy.sparse, no loops)."""
    N, S, M = scn.n_users, scn.n_servers, scn.n_models
    t = option_table(scn, spec)
    keep = np.nonzero(t.feasible)[0]
    nx = keep.size
    n = nx + S * M
    rb = RowBuilder()
    placement_rows(rb, scn, user=t.user[keep], radio=t.radio_server[keep],
                   place=t.placement[keep], nx=nx, linking=spec.linking)
    row_lower, row_upper = rb.bounds()
    return LinearProgram(
        c=np.concatenate([t.cost[keep], spec.objective.load * load_seconds(scn)]),
        A=rb.matrix(n),
        row_lower=row_lower,
        row_upper=row_upper,
        col_lower=np.zeros(n),
        col_upper=np.ones(n),
        integrality=np.ones(n, dtype=bool),
        blocks=(Block("assign", 0, (nx,)), Block("cache", nx, (S, M))),
        name=f"offloading[N={N},S={S},M={M}]",
        meta={f: getattr(t, f)[keep] for f in _RESOURCE_FIELDS},
    )


def decode(scn: Scenario, spec: OffloadingSpec, program: LinearProgram, values: Any
           ) -> OffloadAllocation:
    """Pick, for every request, the option column with the largest value; cache = y > 1/2.

    The columns' options and resources are read from ``program.meta`` (stored by :func:`build`),
    so decoding does not rebuild the option table.
    """
    meta = program.meta
    x = np.asarray(values["assign"], dtype=float)
    u = np.asarray(meta["user"])
    order = np.lexsort((-x, u))  # per user, the largest x first
    first = np.ones(order.size, dtype=bool)
    first[1:] = u[order][1:] != u[order][:-1]
    chosen = order[first]
    if chosen.size != scn.n_users:
        raise ValueError("solution leaves some requests without an option column")
    cache = np.asarray(values["cache"]) > 0.5
    return OffloadAllocation(cache=cache, **{f: np.asarray(meta[f])[chosen]
                                            for f in _RESOURCE_FIELDS if f != "user"})


def _make_instance(seed: int, n_users: int = 20, n_servers: int = 3, n_models: int = 4,
                   profile: str = "edge_aigc") -> Scenario:
    return Scenario.generate(n_users, n_servers, n_models, seed=seed, profile=profile)


def _make_spec(**params: Any) -> OffloadingSpec:
    obj = params.pop("objective", None)
    if isinstance(obj, dict):
        params["objective"] = OffloadObjective(**obj)
    return OffloadingSpec(**params)


register_case(CaseKind(
    name="offloading.assignment",
    make_instance=_make_instance,
    make_spec=_make_spec,
    default_methods=("highs", "cvxpy", "pyomo", "greedy_latency", "all_edge_nearest",
                     "all_local", "random"),
    reference="highs",
    description="device / edge / cloud assignment with model placement (MILP)",
))

# Heuristics register themselves for OffloadingSpec on import.
from . import offloading_heuristics as _heuristics  # noqa: E402,F401
