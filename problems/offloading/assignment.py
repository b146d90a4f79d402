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

Elastic mode (``OffloadingSpec(admission=True)``): every request gets one more column,
``REJECT``, that uses no resource and costs ``w_n * rejection_penalty``; the program is then
always feasible and the rejected requests are those whose ``REJECT`` column is chosen.
Both linkings give the same integer optimum; the disaggregated one has the tighter relaxation,
the aggregated one has S*M instead of N*S rows (use it for large N).

Per-column data for extensions
------------------------------
The program built for an :class:`~aigc_opt.problems.offloading.data.OffloadingSpec` (or a
subclass) documents its ``assign`` columns in ``program.column_data`` (``meta["columns"]``,
see :func:`build`), so that a user's ``extra_constraints`` can write rows over them without
rebuilding the option table, e.g. a per-server energy cap::

    cols = program.column_data
    edge = cols["placement"] >= 0
    A = sp.csr_matrix((cols["server_energy_j"][edge] / cap[cols["placement"][edge]],
                       (cols["placement"][edge], np.nonzero(edge)[0])),
                      shape=(S, program.block("assign").size))
    return {"assign": A}, -np.inf, 1.0
"""

from __future__ import annotations

import functools
import logging
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

import numpy as np

from aigc_opt.cases import CaseKind, register_case
from aigc_opt.explain import GridLabels
from aigc_opt.frozen import FrozenMap
from aigc_opt.metrics import fit_weights, fits
from aigc_opt.program import Block, LinearProgram, RowBuilder
from aigc_opt.quality import quality
from aigc_opt.scenario import Scenario
from aigc_opt.spec import register_builder

from .data import (
    CLOUD,
    LOCAL,
    REJECT,
    OffloadAllocation,
    OffloadingSpec,
    link_times,
    objective_param,
    rejection_penalty_of,
)

logger = logging.getLogger(__name__)

GB = 1e9  # bytes per GB (kept for importers; memory rows are divided by each server's memory)


@dataclass(frozen=True)
class OptionTable:
    """All candidate (request, option) columns with their fixed resources, physics and cost.

    ``placement`` uses the allocation codes (LOCAL, CLOUD or server index); ``radio_server``
    is the server whose radio the option uses (-1 for local). Resource arrays are the equal
    shares; ``latency_s``, ``device_energy_j``, ``remote_energy_j`` (edge or cloud compute
    energy, J) and ``quality`` are those of the evaluator's physics
    (:func:`~aigc_opt.problems.offloading.data.link_times`) for the option; ``cost`` is the
    weighted objective term ``c_{n,k}`` and ``feasible`` marks the options that meet the hard
    deadline and the device energy budget.
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
    latency_s: np.ndarray
    device_energy_j: np.ndarray
    remote_energy_j: np.ndarray
    quality: np.ndarray
    cost: np.ndarray
    feasible: np.ndarray


_RESOURCE_FIELDS = ("placement", "radio_server", "uplink_hz", "downlink_hz", "tx_power_w",
                    "compute_flops", "backhaul_bps", "remote_steps", "device_steps")


def option_table(scn: Scenario, spec: OffloadingSpec) -> OptionTable:
    """Enumerate options per request and score them, in time linear in the number of columns.

    Columns are laid out per user without sorting: grouped by user, in the order local,
    candidate servers (all servers the user hears -- every server of a dense scenario, the
    links of a sparse one -- in index order, or the ``k`` highest-gain ones, best first, ties
    to the lower index: :meth:`~aigc_opt.scenario.Scenario.top_servers`), cloud, and -- for
    an elastic spec (``admission=True``) -- ``REJECT`` (no resources, zero
    latency/energy/quality, cost ``w_n * rejection_penalty``, always feasible, so the program
    always has a solution). Time and memory are O(N L) for
    L links per user.
    Per-user terms (quality of the full and of the device schedule, weights, deadlines) are
    computed once per user and gathered; per-server shares (``B_s/K_s``, ``F_s/G_s``,
    ``R_s/K_s``) once per server; channel gains come with the links; the physics of every
    column is :func:`~aigc_opt.problems.offloading.data.link_times` (the evaluator's) on a
    lightweight column record (no per-column validation).
    """
    N, S = scn.n_users, scn.n_servers
    users = np.arange(N)
    server, gain = scn.links()  # dense: every server; sparse: the servers each user hears
    L = server.shape[1]
    best = scn.best_server
    k = L if spec.candidate_servers is None else min(L, spec.candidate_servers)
    if k < L:
        cand = scn.top_servers(k)  # the referee's rule: highest gain, lower index on ties
        cgain = scn.gain_at(users[:, None], cand)
    else:
        cand, cgain = server, gain
    parts_p: list[np.ndarray] = [cand]
    parts_r: list[np.ndarray] = [cand]
    parts_g: list[np.ndarray] = [cgain]
    if spec.allow_local:
        parts_p.insert(0, np.full((N, 1), LOCAL))
        parts_r.insert(0, np.full((N, 1), -1))
        parts_g.insert(0, np.zeros((N, 1)))  # unused: a local column has no radio
    if spec.allow_cloud:
        parts_p.append(np.full((N, 1), CLOUD))
        parts_r.append(best[:, None])
        parts_g.append(gain.max(axis=1)[:, None])
    penalty = rejection_penalty_of(spec)
    if penalty is not None:  # elastic: a last, resource-free "reject" column per request
        parts_p.append(np.full((N, 1), REJECT))
        parts_r.append(np.full((N, 1), -1))
        parts_g.append(np.zeros((N, 1)))
    place = np.hstack(parts_p).reshape(-1)
    radio = np.hstack(parts_r).reshape(-1)
    col_gain = np.hstack(parts_g).reshape(-1)
    width = place.size // N
    u = np.repeat(users, width)
    served = place != REJECT
    remote, cloud = (place != LOCAL) & served, place == CLOUD
    rc = np.clip(radio, 0, S - 1)
    pc = np.clip(place, 0, S - 1)
    K = scn.server_subchannels.astype(float)
    steps_n = scn.request_steps.astype(float)
    if spec.local_max_steps is not None:
        local_n = np.minimum(steps_n, spec.local_max_steps)
    else:
        local_n = steps_n
    steps = steps_n[u]
    cols = SimpleNamespace(  # one row per column, scored with users=u (duck-typed allocation)
        placement=place,
        radio_server=np.where(remote, radio, -1),
        uplink_hz=np.where(remote, (scn.server_uplink_hz / K)[rc], 0.0),
        downlink_hz=np.where(remote, (scn.server_downlink_hz / K)[rc], 0.0),
        tx_power_w=np.where(remote, scn.user_tx_power_w[u], 0.0),
        compute_flops=np.where(
            cloud, scn.cloud_compute_flops,
            np.where(remote, (scn.server_compute_flops / scn.server_gpu_slots)[pc], 0.0),
        ),
        backhaul_bps=np.where(cloud, (scn.server_backhaul_bps / K)[rc], 0.0),
        remote_steps=np.where(remote, steps, 0.0),
        device_steps=np.where(remote | ~served, 0.0, local_n[u]),
    )
    lt = link_times(scn, cast(OffloadAllocation, cols), users=u, gain=col_gain)
    o = spec.objective
    model = scn.request_model
    q_full = quality(scn, model, steps_n)  # per request, then gathered per column
    q_dev = q_full if local_n is steps_n else quality(scn, model, local_n)
    q = np.where(remote, q_full[u], q_dev[u])
    lat = lt["latency_s"]
    deadline = scn.request_deadline_s[u]
    c = (o.latency * lat + o.device_energy * lt["device_energy_j"]
         + o.server_energy * lt["server_energy_j"] - o.quality * q)
    if o.deadline == "penalty":
        c = c + o.deadline_penalty * np.maximum(lat - deadline, 0.0)
    c = scn.request_weight[u] * c
    c = c + np.where(cloud, o.cloud_cost * scn.cloud_cost_per_flop * lt["remote_flop"], 0.0)
    # the referee's single-item rule (FIT_TOL): an option over its budget or deadline by
    # rounding only is a column; one 5e-7 over is not (and is not feasible to the referee)
    feasible = np.isfinite(c) & fits(lt["device_energy_j"], scn.user_energy_budget_j[u])
    if o.deadline == "hard":
        feasible &= fits(lat, deadline)
    if penalty is not None:
        q = np.where(served, q, 0.0)
        c = np.where(served, c, scn.request_weight[u] * penalty)
        feasible |= ~served
    return OptionTable(
        user=u, **{f: getattr(cols, f) for f in _RESOURCE_FIELDS},
        latency_s=lat, device_energy_j=lt["device_energy_j"],
        remote_energy_j=lt["server_energy_j"], quality=q,
        cost=np.where(np.isfinite(c), c, 0.0), feasible=feasible,
    )


def allocation_from_columns(t: OptionTable, cols: np.ndarray, cache: np.ndarray
                            ) -> OffloadAllocation:
    """The allocation that gives request ``i`` the option ``cols[i]`` of table ``t``."""
    return OffloadAllocation(cache=cache, **{f: getattr(t, f)[cols] for f in _RESOURCE_FIELDS})


def placement_rows(rb: RowBuilder, scn: Scenario, *, user: np.ndarray, radio: np.ndarray,
                   place: np.ndarray, nx: int, linking: str) -> None:
    """Rows shared by the offloading MILPs over ``nx`` option columns and the ``S x M`` cache
    columns that follow them: assignment, subchannels on the radio server, GPU slots at the
    processing server, GPU memory (each server's row divided by its memory, right-hand side 1)
    and the model-held linking (see module docstring), each named in ``rb.groups`` (the
    ``meta["row_groups"]`` of :mod:`aigc_opt.explain`)."""
    N, S, M = scn.n_users, scn.n_servers, scn.n_models
    ecols = np.nonzero(place >= 0)[0]
    rb.add(user, np.arange(nx), 1.0, N, 1.0, 1.0, name="assignment", items="request {i}")
    rad = np.nonzero(radio >= 0)[0]
    rb.add(radio[rad], rad, 1.0, S, -np.inf, scn.server_subchannels.astype(float),
           name="subchannels", items="server {i}")
    rb.add(place[ecols], ecols, 1.0, S, -np.inf, scn.server_gpu_slots.astype(float),
           name="gpu_slots", items="server {i}")
    ys, ym = np.repeat(np.arange(S), M), np.tile(np.arange(M), S)
    mem = np.asarray(scn.server_gpu_memory_bytes, dtype=np.float64)
    den = np.where(mem > 0, mem, max(float(scn.model_size_bytes.max(initial=0.0)), 1.0))
    # a model larger than the whole memory weighs at least 2 (the referee's model_fits)
    w = fit_weights(scn.model_size_bytes[ym] / den[ys], scn.model_size_bytes[ym], mem[ys])
    rb.add(ys, nx + ys * M + ym, w, S, -np.inf, mem / den, name="memory", items="server {i}")
    key = place[ecols] * M + scn.request_model[user[ecols]]  # cache column of each edge option
    if linking == "disaggregated":  # x_ns <= y_{s,m(n)}
        ne = ecols.size
        r = np.arange(ne)
        rb.add(np.concatenate([r, r]), np.concatenate([ecols, nx + key]),
               np.concatenate([np.ones(ne), -np.ones(ne)]), ne, -np.inf, 0.0, name="model_held",
               items=GridLabels("request {0}, server {1}", (N, S),
                                user[ecols] * S + place[ecols]))
    else:  # sum_{n: m(n)=m} x_ns <= min(U_sm, G_s) y_sm
        count = np.bincount(key, minlength=S * M)
        used = np.nonzero(count)[0]
        row_of = np.full(S * M, -1)
        row_of[used] = np.arange(used.size)
        big_m = np.minimum(count[used], scn.server_gpu_slots[used // M]).astype(float)
        labels = _pair_labels(S, M)
        rb.add(np.concatenate([row_of[key], np.arange(used.size)]),
               np.concatenate([ecols, nx + used]),
               np.concatenate([np.ones(ecols.size), -big_m]), used.size, -np.inf, 0.0,
               name="model_held", items=operator.itemgetter(*used.tolist())(labels)
               if used.size > 1 else tuple(labels[k] for k in used.tolist()))


@functools.lru_cache(maxsize=8)
def _pair_labels(S: int, M: int) -> tuple[str, ...]:
    """``"server s, model m"`` for every cache column ``s * M + m`` (cached per shape)."""
    return tuple(f"server {s}, model {m}" for s in range(S) for m in range(M))


def load_seconds(scn: Scenario) -> np.ndarray:
    """Model loading time ``8 size_m / R^load_s`` per cache column (s, flattened S x M)."""
    return (scn.model_size_bytes[None, :] * 8.0 / scn.server_load_bps[:, None]).reshape(-1)


def frozen_columns(arrays: Mapping[str, np.ndarray], *, copy: bool = True
                   ) -> Mapping[str, np.ndarray]:
    """A read-only mapping of read-only copies of ``arrays`` (for ``meta["columns"]``);
    ``copy=False`` freezes the given arrays in place (for arrays nobody else holds)."""
    out = {}
    for k, v in arrays.items():
        a = np.array(v) if copy else np.asarray(v)
        a.flags.writeable = False
        out[k] = a
    return FrozenMap(out)


def column_arrays(t: OptionTable, keep: np.ndarray) -> dict[str, np.ndarray]:
    """The per-column data of :func:`build` for the table columns ``keep``."""
    place = t.placement[keep]
    cols = {f: getattr(t, f)[keep] for f in ("user", *_RESOURCE_FIELDS)}
    cols.update(
        option=keep,
        latency_s=t.latency_s[keep],
        device_energy_j=t.device_energy_j[keep],
        server_energy_j=np.where(place >= 0, t.remote_energy_j[keep], 0.0),
        remote_energy_j=t.remote_energy_j[keep],
        quality=t.quality[keep],
        cost=t.cost[keep],
    )
    return cols


def build(scn: Scenario, spec: OffloadingSpec) -> LinearProgram:
    """Assemble the MILP of the module docstring from the option table (scipy.sparse, no loops).

    Blocks: ``assign`` (the ``nx`` option columns ``x``, starting at column 0) and ``cache``
    (``y``, shape (S, M), starting at column ``nx``). The objective is in problem units
    (``meta["objective_scale"]`` is 1).

    Numerics (issue 11): as built, assignment, subchannel, GPU-slot and linking rows have
    entries in ``{1, -1, -min(U, G)}`` (right-hand sides are counts), memory rows are divided by
    the server's memory (entries ``size_m / Mem_s``, right-hand side 1) and the objective is in
    problem units. The LP backends equilibrate by powers of two
    (:mod:`aigc_opt.solvers.numerics`), so HiGHS and SCIP see every row's largest ``|a|`` in
    [1, 2) and the objective's log-mean ``|c|`` at 1; options whose cost overflows (``inf``)
    are not built as columns.

    ``program.meta["columns"]`` (read it as ``program.column_data``) is a read-only mapping of
    read-only arrays of length ``nx``, entry ``j`` describing ``assign`` column ``j`` (global
    column ``program.block("assign").start + j``):

    * ``user``: request index n;
    * ``placement``: ``LOCAL`` (-1), ``CLOUD`` (-2), ``REJECT`` (-3, elastic specs) or the
      edge server index;
    * ``radio_server``: server whose radio carries the request (-1 for local);
    * ``uplink_hz``, ``downlink_hz``, ``tx_power_w``, ``compute_flops``, ``backhaul_bps``,
      ``remote_steps``, ``device_steps``: the option's fixed resources (as in
      :class:`~aigc_opt.problems.offloading.data.OffloadAllocation`);
    * ``latency_s`` (s), ``device_energy_j`` (J), ``quality`` (-): the evaluator's values
      for the request if it takes this option;
    * ``server_energy_j``: J consumed at the edge server ``placement`` (0 for local and cloud);
    * ``remote_energy_j``: J of remote compute, edge or cloud (the objective's ``E_srv``);
    * ``cost``: the objective coefficient ``c_{n,k}``;
    * ``option``: index of the column in :func:`option_table` (options that miss a hard
      deadline or the energy budget are not columns).
    """
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
        meta={"row_groups": rb.groups,
              "columns": frozen_columns(column_arrays(t, keep), copy=False)},
    )


def decode(scn: Scenario, spec: OffloadingSpec, program: LinearProgram, values: Any
           ) -> OffloadAllocation:
    """Pick, for every request, the option column with the largest value; cache = y > 1/2.

    The columns' options and resources are read from ``program.column_data`` (stored by
    :func:`build`), so decoding does not rebuild the option table.
    """
    cols = program.column_data
    x = np.asarray(values["assign"], dtype=float)
    u = np.asarray(cols["user"])
    order = np.lexsort((-x, u))  # per user, the largest x first
    first = np.ones(order.size, dtype=bool)
    first[1:] = u[order][1:] != u[order][:-1]
    chosen = order[first]
    if chosen.size != scn.n_users:
        raise ValueError("solution leaves some requests without an option column")
    cache = np.asarray(values["cache"]) > 0.5
    return OffloadAllocation(cache=cache, **{f: np.asarray(cols[f])[chosen]
                                            for f in _RESOURCE_FIELDS})


def _make_instance(seed: int, n_users: int = 20, n_servers: int = 3, n_models: int = 4,
                   profile: str = "edge_aigc", load: float | str | None = "profile",
                   links: int | str | None = None) -> Scenario:
    """The case's scenario: :meth:`aigc_opt.scenario.Scenario.generate` with the case's sizes.

    Parameters
    ----------
    seed : int
        Random seed.
    n_users, n_servers, n_models : int
        Sizes of the scenario.
    profile : str
        Parameter profile (:data:`aigc_opt.profiles.PROFILES`).
    load : float, str or None
        Target utilisation the servers are sized to (load-aware generation; ``"profile"``, the
        default, takes the profile's, 0.7). ``None`` or ``"none"`` (suite files have no null)
        keeps the profile's fixed capacity per server, so that adding servers adds capacity.
        A number given as text (``--size load=0.5``) is read as that number.
    links : int, str or None
        Each user hears its ``links`` nearest servers (sparse channel); ``None`` or ``"none"``:
        every server.

    Raises
    ------
    aigc_opt.errors.ValidationError
        A size out of range or of the wrong type; the message names it (``load``, ``links``,
        ...). An unknown word for ``load`` or ``links`` lists the accepted ones.
    """
    from aigc_opt.errors import UnknownNameError

    def word(name: str, v: Any, words: tuple[str, ...]) -> Any:
        if not isinstance(v, str):
            return v
        text = v.strip().lower()
        if text in ("none", "null"):
            return None
        if text in words:
            return text
        try:
            return float(text)
        except ValueError:
            raise UnknownNameError(name, v, ("none", *words),
                                   " (or a number)") from None

    return Scenario.generate(n_users, n_servers, n_models, seed=seed, profile=profile,
                             load=word("load", load, ("profile",)),
                             links=word("links", links, ()))


def _make_spec(**params: Any) -> OffloadingSpec:
    return OffloadingSpec(**objective_param(params))


register_builder(OffloadingSpec, build, decode)
register_case(CaseKind(
    name="offloading.assignment",
    make_instance=_make_instance,
    make_spec=_make_spec,
    default_methods=("highs", "cvxpy", "pyomo", "greedy_latency", "all_edge_nearest",
                     "all_local", "random"),
    reference="highs",
    description="device / edge / cloud assignment with model placement (MILP)",
))
