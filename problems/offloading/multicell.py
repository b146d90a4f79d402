r"""Multi-server, multi-cell assignment with edge-to-edge forwarding and cloud fallback: a MILP.

Columns ``j = (n, r, k)``: request n uploads to radio server ``r`` (its ``candidate_radios``
highest-gain servers) and runs at option ``k``: its device (no radio), edge server ``s`` (any
server; ``s != r`` means forwarding over the inter-server link ``r -> s``) or the cloud (relayed
by ``r``). Resources are the fixed equal shares of the single-cell model
(:mod:`aigc_opt.problems.offloading.assignment`): ``B_r/K_r`` Hz up and ``B^dl_r/K_r`` down and
``R_r/K_r`` backhaul on the radio server, ``F_s/G_s`` FLOP/s at the processing server, and one
of ``forward_channels`` equal channels of the link, ``C_{rs}/forward_channels`` bit/s, which
adds ``(D_in + D_out) / (C_{rs}/forward_channels)`` to the latency (see
:mod:`aigc_opt.problems.offloading.evaluate`). Every column's cost ``c_j`` is a constant, so

.. math::

    \min \sum_j c_j x_j + \lambda \sum_{s,m} \ell_{s,m} y_{s,m}
    \quad\text{s.t.}\quad \sum_{j \ni n} x_j = 1, \quad
    \sum_{j: r(j) = r,\,k(j) \ne dev} x_j \le K_r, \quad \sum_{j: s(j) = s} x_j \le G_s,

    \sum_{j: r(j)=r,\, s(j)=s} x_j \le \text{forward\_channels}\ (r \ne s), \quad
    \sum_m size_m\, y_{s,m} \le Mem_s, \quad x_j \le y_{s(j), m(n)}.

Deadlines: ``deadline="hard"`` drops the columns that miss the deadline (a constraint);
``"penalty"`` adds ``w rho (L - d)^+`` to ``c_j``. Links with capacity 0 carry nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from aigc_opt.backend import SolveOptions, get_backend
from aigc_opt.cases import CaseKind, register_case
from aigc_opt.errors import ValidationError
from aigc_opt.metrics import fits
from aigc_opt.program import Block, LinearProgram, RowBuilder
from aigc_opt.quality import quality
from aigc_opt.scenario import Scenario
from aigc_opt.solve import register_heuristic
from aigc_opt.spec import register_builder

from .assignment import frozen_columns, load_seconds, placement_rows
from .data import (
    CLOUD,
    LOCAL,
    MulticellAllocation,
    MulticellSpec,
    forward_times,
    link_capacity,
    link_times,
    objective_param,
)

logger = logging.getLogger(__name__)

_FIELDS = ("placement", "radio_server", "uplink_hz", "downlink_hz", "tx_power_w",
           "compute_flops", "backhaul_bps", "remote_steps", "device_steps", "forward_bps")


@dataclass(frozen=True)
class MulticellColumns:
    """All (request, radio, option) columns with their fixed shares, physics (latency incl.
    forwarding, s; device and remote compute energy, J), cost and feasibility."""

    user: np.ndarray
    alloc: MulticellAllocation  # one row per column (cache unused)
    latency_s: np.ndarray
    device_energy_j: np.ndarray
    remote_energy_j: np.ndarray
    cost: np.ndarray
    feasible: np.ndarray


def multicell_columns(scn: Scenario, spec: MulticellSpec) -> MulticellColumns:
    """Enumerate columns (vectorised) and score them with the evaluator's physics."""
    N, S = scn.n_users, scn.n_servers
    cap = link_capacity(spec.forward_bps, S)
    if cap.shape != (S, S):
        raise ValidationError("forward_bps", "bit/s", cap.shape, f"must be ({S}, {S})")
    link_srv, link_g = scn.links()  # dense: every server; sparse: the servers each user hears
    k = min(link_srv.shape[1], spec.candidate_radios)
    radios = scn.top_servers(k)  # (N, k): highest gain, lowest index on ties (the referee's)
    users = np.arange(N)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (user, radio, place)
    if spec.allow_local:
        parts.append((users, np.full(N, -1), np.full(N, LOCAL)))
    u_r = np.repeat(users, k)
    r_r = radios.reshape(-1)
    u3 = np.repeat(u_r, S)
    r3 = np.repeat(r_r, S)
    s3 = np.tile(np.arange(S), u_r.size)
    fw_ok = (r3 == s3) | (spec.allow_forwarding & (cap[r3, s3] > 0))
    parts.append((u3[fw_ok], r3[fw_ok], s3[fw_ok]))
    if spec.allow_cloud:
        parts.append((u_r, r_r, np.full(u_r.size, CLOUD)))
    u, radio, place = (np.concatenate([p[i] for p in parts]) for i in range(3))
    order = np.lexsort((np.arange(u.size), u))
    u, radio, place = u[order], radio[order], place[order]
    remote, edge, cloud = place != LOCAL, place >= 0, place == CLOUD
    rc, pc = np.clip(radio, 0, S - 1), np.clip(place, 0, S - 1)
    K = scn.server_subchannels[rc].astype(float)
    steps = scn.request_steps[u].astype(float)
    fwd = edge & (radio != place)
    alloc = MulticellAllocation(
        placement=place, radio_server=np.where(remote, radio, -1),
        uplink_hz=np.where(remote, scn.server_uplink_hz[rc] / K, 0.0),
        downlink_hz=np.where(remote, scn.server_downlink_hz[rc] / K, 0.0),
        tx_power_w=np.where(remote, scn.user_tx_power_w[u], 0.0),
        compute_flops=np.where(cloud, scn.cloud_compute_flops,
                               np.where(edge, scn.server_compute_flops[pc]
                                        / scn.server_gpu_slots[pc], 0.0)),
        backhaul_bps=np.where(cloud, scn.server_backhaul_bps[rc] / K, 0.0),
        remote_steps=np.where(remote, steps, 0.0),
        device_steps=np.where(remote, 0.0, steps if spec.local_max_steps is None
                              else np.minimum(steps, spec.local_max_steps)),
        cache=np.zeros((S, scn.n_models), dtype=bool),
        forward_bps=np.where(fwd, cap[rc, pc] / spec.forward_channels, 0.0))
    o = spec.objective
    lt = link_times(scn, alloc, users=u)
    lat = lt["latency_s"] + forward_times(scn, alloc, users=u)
    q = quality(scn, scn.request_model[u], alloc.steps)
    late = np.maximum(lat - scn.request_deadline_s[u], 0.0)
    c = (o.latency * lat + o.device_energy * lt["device_energy_j"]
         + o.server_energy * lt["server_energy_j"] - o.quality * q)
    if o.deadline == "penalty":
        c = c + o.deadline_penalty * late
    c = scn.request_weight[u] * c + np.where(
        cloud, o.cloud_cost * scn.cloud_cost_per_flop * lt["remote_flop"], 0.0)
    feasible = np.isfinite(c) & fits(lt["device_energy_j"], scn.user_energy_budget_j[u])
    if o.deadline == "hard":  # the referee's single-item rule (FIT_TOL), as the assignment's
        feasible &= fits(lat, scn.request_deadline_s[u])
    return MulticellColumns(u, alloc, lat, lt["device_energy_j"], lt["server_energy_j"],
                            np.where(np.isfinite(c), c, 0.0), feasible)


def build(scn: Scenario, spec: MulticellSpec) -> LinearProgram:
    """Assemble the MILP (scipy.sparse, no per-row loops).

    Blocks ``assign`` (columns 0..nx-1) and ``cache`` (S, M). ``program.column_data`` holds one
    read-only array per ``assign`` column, as for the assignment MILP
    (:func:`aigc_opt.problems.offloading.assignment.build`): ``user``, ``placement``,
    ``radio_server``, the fixed resources incl. ``forward_bps``, ``latency_s``,
    ``device_energy_j``, ``server_energy_j`` (J at the edge server ``placement``, 0 for local
    and cloud), ``remote_energy_j``, ``cost`` and ``option`` (index in
    :func:`multicell_columns`).

    Numerics (issue 11): the rows are those of the assignment MILP (counts with entries
    ``+-1``, memory rows divided by each server's memory) plus link-channel counts; the LP
    backends equilibrate by powers of two (:mod:`aigc_opt.solvers.numerics`), so HiGHS and SCIP
    see each row's largest ``|a|`` in [1, 2) and the objective's log-mean ``|c|`` at 1.
    """
    N, S, M = scn.n_users, scn.n_servers, scn.n_models
    col = multicell_columns(scn, spec)
    keep = np.nonzero(col.feasible)[0]
    u = col.user[keep]
    place = col.alloc.placement[keep]
    radio = col.alloc.radio_server[keep]
    nx = keep.size
    n = nx + S * M
    edge = place >= 0
    rb = RowBuilder()
    placement_rows(rb, scn, user=u, radio=radio, place=place, nx=nx, linking=spec.linking)
    fw = np.nonzero(edge & (radio != place))[0]
    link = radio[fw] * S + place[fw]
    rb.add(link, fw, 1.0, S * S, -np.inf, float(spec.forward_channels),  # per directed link
           name="forward_channels", items=_link_labels(S))
    A = rb.matrix(n)
    lo, hi = rb.bounds()
    return LinearProgram(
        c=np.concatenate([col.cost[keep], spec.objective.load * load_seconds(scn)]), A=A,
        row_lower=lo, row_upper=hi, col_lower=np.zeros(n),
        col_upper=np.ones(n), integrality=np.ones(n, dtype=bool),
        blocks=(Block("assign", 0, (nx,)), Block("cache", nx, (S, M))),
        name=f"offloading.multicell[N={N},S={S},M={M}]", meta={"columns": frozen_columns(dict(
            user=u, option=keep, **{f: getattr(col.alloc, f)[keep] for f in _FIELDS},
            latency_s=col.latency_s[keep], device_energy_j=col.device_energy_j[keep],
            server_energy_j=np.where(edge, col.remote_energy_j[keep], 0.0),
            remote_energy_j=col.remote_energy_j[keep], cost=col.cost[keep])),
            "row_groups": rb.groups})


@functools.lru_cache(maxsize=8)
def _link_labels(S: int) -> tuple[str, ...]:
    """``"link r -> s"`` for every row ``r * S + s`` of the directed links (cached per S)."""
    return tuple(f"link {r} -> {s}" for r in range(S) for s in range(S))


def select(col: MulticellColumns, chosen: np.ndarray, cache: np.ndarray) -> MulticellAllocation:
    """The allocation of one chosen column per request (``chosen`` ordered by user)."""
    a = col.alloc
    return MulticellAllocation(cache=cache, **{f: getattr(a, f)[chosen] for f in _FIELDS})


def decode(scn: Scenario, spec: MulticellSpec, program: LinearProgram, values: Any
           ) -> MulticellAllocation:
    """Per request the column with the largest value; cache = y > 1/2 (columns read from
    ``program.column_data``)."""
    cols = program.column_data
    x = np.asarray(values["assign"], dtype=float)
    u = np.asarray(cols["user"])
    order = np.lexsort((-x, u))
    first = np.ones(order.size, dtype=bool)
    first[1:] = u[order][1:] != u[order][:-1]
    chosen = order[first]
    if chosen.size != scn.n_users:
        raise ValueError("solution leaves some requests without an option column")
    return MulticellAllocation(cache=np.asarray(values["cache"]) > 0.5,
                               **{f: np.asarray(cols[f])[chosen] for f in _FIELDS})


def _no_forwarding(scn: Scenario, spec: MulticellSpec, seed: int = 0) -> MulticellAllocation:
    """Baseline: the same MILP without edge-to-edge forwarding (single-cell behaviour)."""
    nof = dataclasses.replace(spec, allow_forwarding=False)
    prog = build(scn, nof)
    res = get_backend("highs").solve(prog, SolveOptions())
    if not res.has_solution:  # no single-cell assignment: the greedy one (the evaluator judges)
        logger.info("no-forwarding MILP: %s; greedy fallback", res.termination.value)
        return _greedy(scn, nof, seed)
    return decode(scn, nof, prog, res.values)


def _greedy(scn: Scenario, spec: MulticellSpec, seed: int = 0) -> MulticellAllocation:
    """Requests in order of weight take their cheapest column that still fits the counts
    (subchannels, GPU slots, link channels, memory for a newly cached model)."""
    col = multicell_columns(scn, spec)
    S, M = scn.n_servers, scn.n_models
    a = col.alloc
    N = scn.n_users  # counts beyond N never bind: clipped before the integer cast
    sub = np.minimum(scn.server_subchannels, N).astype(np.int64)
    gpu = np.minimum(scn.server_gpu_slots, N).astype(np.int64)
    links = np.full((S, S), spec.forward_channels)
    mem = scn.server_gpu_memory_bytes.astype(float).copy()
    cache = np.zeros((S, M), dtype=bool)
    chosen = np.full(scn.n_users, -1)
    for n in np.argsort(-scn.request_weight, kind="stable"):
        js = np.nonzero((col.user == n) & col.feasible)[0]
        for j in js[np.argsort(col.cost[js], kind="stable")]:
            r, s, m = int(a.radio_server[j]), int(a.placement[j]), int(scn.request_model[n])
            if r >= 0 and sub[r] < 1:
                continue
            if s >= 0:
                need = 0.0 if cache[s, m] else float(scn.model_size_bytes[m])
                if gpu[s] < 1 or need > mem[s] or (r != s and links[r, s] < 1):
                    continue
                gpu[s] -= 1
                mem[s] -= need
                cache[s, m] = True
                if r != s:
                    links[r, s] -= 1
            if r >= 0:
                sub[r] -= 1
            chosen[n] = j
            break
        if chosen[n] < 0:  # nothing fits: take the cheapest column (the evaluator flags it)
            chosen[n] = js[np.argmin(col.cost[js])] if js.size else np.nonzero(col.user == n)[0][0]
    return select(col, chosen, cache)


register_builder(MulticellSpec, build, decode)
register_heuristic(MulticellSpec, "no_forwarding", _no_forwarding)
register_heuristic(MulticellSpec, "greedy", _greedy)
register_case(CaseKind(
    name="offloading.multicell",
    make_instance=lambda seed, n_users=20, n_servers=4, n_models=4, profile="edge_aigc": (
        Scenario.generate(n_users, n_servers, n_models, seed=seed, profile=profile)),
    make_spec=lambda **params: MulticellSpec(**objective_param(params)),
    default_methods=("highs", "cvxpy", "no_forwarding", "greedy"),
    reference="highs",
    description="multi-cell assignment with edge-to-edge forwarding and cloud fallback (MILP)",
))
