r"""Deployment sizing as one MILP: capacity choice and the assignment of every demand scenario.

Capacity variables per site ``s``: ``t_{s,g} in {0,1}`` (GPU type g chosen), ``k_{s,g} in
{0..kmax_g}`` (GPUs of type g), ``v_{s,b} in {0,1}`` (bandwidth option b). For every demand
scenario ``d`` the offloading columns ``x^d_{n,o}`` of
:mod:`aigc_opt.problems.offloading.assignment`
are built once per (GPU type, bandwidth option) pair -- an edge option of request n at site s
with type g and option b has the shares ``F_g`` FLOP/s and ``B_b / K_b`` Hz, a cloud option
relayed by ``r(n)`` depends on b only -- plus the cache ``y^d_{s,m}``:

.. math::

    \min \sum_{s,g} c_g k_{s,g} + \sum_{s,b} c_b v_{s,b}

    \text{s.t.}\quad \sum_g t_{s,g} \le 1,\quad k_{s,g} \le kmax_g t_{s,g},\quad
    \sum_b v_{s,b} = 1 \qquad \forall s

    \sum_o x^d_{n,o} = 1,\qquad
    \sum_{n,b} x^d_{n,(s,g,b)} \le k_{s,g},\qquad
    \sum_{n,g} x^d_{n,(s,g,b)} + \sum_{n: r(n)=s} x^d_{n,(cloud,b)} \le K_b v_{s,b},

    \sum_m size_m\, y^d_{s,m} \le \sum_g mem_g k_{s,g},\qquad
    y^d_{s,m} \le \sum_{g:\ mem_g \ge size_m} t_{s,g},\qquad
    x^d_{n,(s,g,b)} \le y^d_{s,m(n)} \qquad \forall d.

A model is held on one GPU (``model_fits``: a site holds model m only if one GPU of its type
has the memory), and the models held at a site share its GPUs' memory in total (the memory
row; packing them onto single GPUs is not modelled).

Options that miss a hard deadline, the energy budget or the quality target are not columns (as
in the offloading MILP). Rows are recorded in ``meta["row_groups"]`` (see
:mod:`aigc_opt.explain`), so an infeasible instance is explained as "assignment[peak] at request
3" or "one_radio at site 0".

The decoder reports the binding capacity rows: at the optimum, the GPU-slot, subchannel and
memory rows whose activity equals the capacity bought (``k_{s,g} > 0`` or ``v_{s,b} = 1``);
and, since with integer counts the row that forces a purchase is seldom exactly full, the
*drivers* of every site's GPU count (:func:`capacity_drivers`).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from aigc_opt.problems.offloading.assignment import frozen_columns, option_table
from aigc_opt.problems.offloading.data import (
    CLOUD,
    LOCAL,
    REJECT,
    OffloadAllocation,
    OffloadingSpec,
)
from aigc_opt.program import Block, LinearProgram, RowBuilder
from aigc_opt.scenario import Scenario
from aigc_opt.spec import register_builder

from .data import SizingInstance, SizingPlan, SizingSpec

logger = logging.getLogger(__name__)

_RESOURCE_FIELDS = ("placement", "radio_server", "uplink_hz", "downlink_hz", "tx_power_w",
                    "compute_flops", "backhaul_bps", "remote_steps", "device_steps")
#: Capacity row groups (per demand) reported as binding by the decoder.
CAPACITY_GROUPS = ("gpu_slots", "subchannels", "memory")


def offloading_spec(spec: SizingSpec) -> OffloadingSpec:
    """The offloading spec whose options and referee the sizing plan uses."""
    return OffloadingSpec(objective=spec.objective, allow_local=spec.allow_local,
                          allow_cloud=spec.allow_cloud)


def demand_columns(inst: SizingInstance, spec: SizingSpec, d: int) -> dict[str, np.ndarray]:
    """The option columns of demand ``d``, grouped by request (stable).

    Returns arrays ``user``, ``gpu`` (GPU type of an edge option, -1 otherwise), ``band``
    (bandwidth option of the radio used, -1 for local), the offloading resources
    (``placement``, ``radio_server``, ... as in :class:`OffloadAllocation`), ``latency_s``,
    ``quality`` and ``cost`` (the offloading objective term, reported only).
    """
    scn = inst.demands[d]
    S = scn.n_servers
    off = offloading_spec(spec)
    parts: list[dict[str, np.ndarray]] = []
    for g, gpu in enumerate(inst.gpus):
        for b, rad in enumerate(inst.radios):
            scn_gb = scn.replace(
                server_compute_flops=np.full(S, gpu.flops),
                server_gpu_slots=np.ones(S, dtype=np.int64),
                server_uplink_hz=np.full(S, rad.uplink_hz),
                server_downlink_hz=np.full(S, rad.downlink_hz),
                server_subchannels=np.full(S, rad.subchannels, dtype=np.int64))
            t = option_table(scn_gb, off)
            take = (t.placement >= 0) | ((t.placement == CLOUD) & (g == 0)) \
                | ((t.placement == LOCAL) & (g == 0) & (b == 0))
            keep = take & t.feasible
            if spec.min_quality is not None:
                keep &= t.quality >= spec.min_quality
            idx = np.nonzero(keep)[0]
            pl = t.placement[idx]
            part = {f: getattr(t, f)[idx] for f in ("user", *_RESOURCE_FIELDS, "latency_s",
                                                    "quality", "cost")}
            part["gpu"] = np.where(pl >= 0, g, -1)
            part["band"] = np.where(pl != LOCAL, b, -1)
            parts.append(part)
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort((np.arange(cols["user"].size), cols["user"]))
    return {k: v[order] for k, v in cols.items()}


def _labels(template: str, **axes: np.ndarray) -> tuple[str, ...]:
    n = len(next(iter(axes.values())))
    return tuple(template.format(**{k: v[i] for k, v in axes.items()}) for i in range(n))


def build(inst: SizingInstance, spec: SizingSpec) -> LinearProgram:
    """Assemble the MILP of the module docstring (vectorised per demand scenario).

    Blocks: ``gpu_type`` (t, shape (S, G)), ``gpu_count`` (k, (S, G)), ``radio`` (v, (S, B)),
    then per demand ``d`` (name ``nm``) ``assign[nm]`` (its option columns) and ``cache[nm]``
    ((S, M)). ``meta["demand_columns"]`` holds each demand's column data
    (:func:`demand_columns`), ``meta["row_groups"]`` the named row ranges.
    """
    S, M = inst.n_sites, inst.n_models
    G, B = len(inst.gpus), len(inst.radios)
    kmax = np.array([g.max_count for g in inst.gpus], dtype=float)
    sites, gt, bt = np.arange(S), np.array([g.name for g in inst.gpus]), \
        np.array([r.name for r in inst.radios])
    sg_s, sg_g = np.repeat(sites, G), np.tile(np.arange(G), S)
    sb_s, sb_b = np.repeat(sites, B), np.tile(np.arange(B), S)
    t0, k0, v0 = 0, S * G, 2 * S * G
    n_cap = 2 * S * G + S * B
    rb = RowBuilder()
    sg_items = _labels("site {s} ({g})", s=sg_s, g=gt[sg_g])
    sb_items = _labels("site {s} ({b})", s=sb_s, b=bt[sb_b])
    rb.add(sg_s, t0 + np.arange(S * G), 1.0, S, -np.inf, 1.0, name="one_gpu_type",
           items="site {i}")
    r = np.arange(S * G)
    rb.add(np.concatenate([r, r]), np.concatenate([k0 + r, t0 + r]),
           np.concatenate([np.ones(S * G), -kmax[sg_g]]), S * G, -np.inf, 0.0, name="gpu_max",
           items=sg_items)
    rb.add(sb_s, v0 + np.arange(S * B), 1.0, S, 1.0, 1.0, name="one_radio", items="site {i}")

    c_parts = [np.zeros(S * G), np.tile([g.cost for g in inst.gpus], S),
               np.tile([r.cost for r in inst.radios], S)]
    ub_parts = [np.ones(S * G), np.tile(kmax, S), np.ones(S * B)]
    blocks = [Block("gpu_type", t0, (S, G)), Block("gpu_count", k0, (S, G)),
              Block("radio", v0, (S, B))]
    columns = []
    mem_g = np.array([g.memory_bytes for g in inst.gpus], dtype=float)
    mscale = max(max(float(np.max(d.model_size_bytes, initial=0.0)) for d in inst.demands),
                 float(mem_g.max(initial=0.0)), 1.0)
    K = np.array([r.subchannels for r in inst.radios], dtype=float)
    off = n_cap
    for d, nm in enumerate(inst.names):
        scn: Scenario = inst.demands[d]
        size = np.array(scn.model_size_bytes, dtype=float)  # each demand's own models
        N = scn.n_users
        cols = demand_columns(inst, spec, d)
        nx = cols["user"].size
        x0, y0 = off, off + nx
        u, pl, rad = cols["user"], cols["placement"], cols["radio_server"]
        rb.add(u, x0 + np.arange(nx), 1.0, N, 1.0, 1.0, name=f"assignment[{nm}]",
               items="request {i}")
        e = np.nonzero(pl >= 0)[0]
        slot_row = pl[e] * G + cols["gpu"][e]
        rb.add(np.concatenate([slot_row, r]), np.concatenate([x0 + e, k0 + r]),
               np.concatenate([np.ones(e.size), -np.ones(S * G)]), S * G, -np.inf, 0.0,
               name=f"gpu_slots[{nm}]", items=sg_items)
        rem = np.nonzero(rad >= 0)[0]
        rr = np.arange(S * B)
        rb.add(np.concatenate([rad[rem] * B + cols["band"][rem], rr]),
               np.concatenate([x0 + rem, v0 + rr]),
               np.concatenate([np.ones(rem.size), -K[sb_b]]), S * B, -np.inf, 0.0,
               name=f"subchannels[{nm}]", items=sb_items)
        ys, ym = np.repeat(sites, M), np.tile(np.arange(M), S)
        rb.add(np.concatenate([ys, sg_s]), np.concatenate([y0 + np.arange(S * M), k0 + r]),
               np.concatenate([size[ym] / mscale, -mem_g[sg_g] / mscale]), S, -np.inf, 0.0,
               name=f"memory[{nm}]", items="site {i}")
        fm, fg = np.nonzero(size[:, None] <= mem_g[None, :])  # (model, GPU type) that fit
        rf = (sites[:, None] * M + fm[None, :]).ravel()
        cf = (t0 + sites[:, None] * G + fg[None, :]).ravel()
        rb.add(np.concatenate([np.arange(S * M), rf]), np.concatenate([y0 + np.arange(S * M), cf]),
               np.concatenate([np.ones(S * M), -np.ones(rf.size)]), S * M, -np.inf, 0.0,
               name=f"model_fits[{nm}]", items=_labels("model {m} at site {s}", m=ym, s=ys))
        ne = e.size
        key = pl[e] * M + scn.request_model[u[e]]
        re_ = np.arange(ne)
        rb.add(np.concatenate([re_, re_]), np.concatenate([x0 + e, y0 + key]),
               np.concatenate([np.ones(ne), -np.ones(ne)]), ne, -np.inf, 0.0,
               name=f"model_held[{nm}]",
               items=_labels("request {n} at site {s}", n=u[e], s=pl[e]))
        c_parts += [np.zeros(nx), np.zeros(S * M)]
        ub_parts += [np.ones(nx), np.ones(S * M)]
        blocks += [Block(f"assign[{nm}]", x0, (nx,)), Block(f"cache[{nm}]", y0, (S, M))]
        columns.append(frozen_columns(cols))
        off = y0 + S * M
    lo, hi = rb.bounds()
    return LinearProgram(
        c=np.concatenate(c_parts), A=rb.matrix(off), row_lower=lo, row_upper=hi,
        col_lower=np.zeros(off), col_upper=np.concatenate(ub_parts),
        integrality=np.ones(off, dtype=bool), blocks=tuple(blocks),
        name=f"sizing[S={S},G={G},B={B},D={len(inst.demands)}]",
        meta={"demand_columns": tuple(columns), "row_groups": rb.groups,
              "demand_names": tuple(inst.names)})


def full_vector(program: LinearProgram, values: Any) -> np.ndarray:
    """The decision vector from the solution blocks (every column belongs to a block)."""
    if "x" in values and np.shape(values["x"]) == (program.n_cols,):
        return np.asarray(values["x"], dtype=float)
    x = np.zeros(program.n_cols)
    for b in program.blocks:
        x[b.start:b.start + b.size] = np.asarray(values[b.name], dtype=float).reshape(-1)
    return x


def binding_constraints(program: LinearProgram, x: np.ndarray, tol: float = 1e-6
                        ) -> tuple[str, ...]:
    """Capacity rows (GPU slots, subchannels, memory of every demand) that are tight at ``x``:
    activity within ``tol`` of the capacity bought, with capacity bought (> 0)."""
    groups = program.meta.get("row_groups", {})
    n_cap = program.block("radio").start + program.block("radio").size
    cap = np.zeros(program.n_cols)
    cap[:n_cap] = x[:n_cap]
    A = program.A
    act_all, act_cap = A @ x, A @ cap
    out: list[str] = []
    from aigc_opt.explain import row_label

    for name, g in groups.items():
        if not name.startswith(CAPACITY_GROUPS):
            continue
        first, stop = int(g[0]), int(g[1])
        rows = np.arange(first, stop)
        tight = (np.abs(act_all[rows]) <= tol) & (act_cap[rows] < -tol)
        out += [row_label(name, g, int(i)) for i in rows[tight]]
    return tuple(out)


def capacity_drivers(inst: SizingInstance, gpu_type: np.ndarray, count: np.ndarray,
                     assignments: tuple[OffloadAllocation, ...]) -> tuple[str, ...]:
    """Why each built site has its GPU count, from the plan's own assignment: the GPU slots
    its requests take (one per request) and the GPUs the memory of the models they use needs
    (``ceil(sum size / mem_g)``), each at its worst demand scenario. A count equal to the larger
    is *forced* by it (one GPU fewer would not serve this assignment); a count above both is
    said to exceed them. E.g. ``"site 0: 3 x L4 forced by memory[peak] (27.33 GB of models;
    2 x 12 GB is too little); gpu_slots need 2 (peak)"``."""
    out: list[str] = []
    for s in np.nonzero((gpu_type >= 0) & (count > 0))[0]:
        gpu = inst.gpus[int(gpu_type[s])]
        slots = np.zeros(len(assignments))
        mem = np.zeros(len(assignments))
        for d, a in enumerate(assignments):
            here = a.placement == s
            slots[d] = here.sum()
            models = np.unique(inst.demands[d].request_model[here])
            mem[d] = np.asarray(inst.demands[d].model_size_bytes, dtype=float)[models].sum()
        ds, dm = int(np.argmax(slots)), int(np.argmax(mem))
        need_s, need_m = int(slots[ds]), int(np.ceil(mem[dm] / gpu.memory_bytes - 1e-12))
        k, name = int(count[s]), gpu.name
        fewer = f"; {k - 1} x {gpu.memory_bytes / 1e9:.4g} GB is too little" if k > 1 else ""
        m_txt = f"memory[{inst.names[dm]}] ({mem[dm] / 1e9:.4g} GB of models{fewer})"
        s_txt = (f"gpu_slots[{inst.names[ds]}] ({need_s} request{'s' * (need_s != 1)}, "
                 "one GPU each)")
        if k > max(need_s, need_m):
            out.append(f"site {s}: {k} x {name} exceeds what this assignment needs "
                       f"(gpu_slots {need_s}, memory {need_m})")
        elif need_m >= need_s:
            extra = f"; gpu_slots need {need_s} ({inst.names[ds]})" if need_s < k else \
                f" and {s_txt}"
            out.append(f"site {s}: {k} x {name} forced by {m_txt}{extra}")
        else:
            out.append(f"site {s}: {k} x {name} forced by {s_txt}; memory needs {need_m}")
    return tuple(out)


def decode(inst: SizingInstance, spec: SizingSpec, program: LinearProgram, values: Any
           ) -> SizingPlan:
    """Capacities from ``k`` and ``v`` (rounded), each demand's option with the largest ``x``
    per request, cache ``y > 1/2``, and the binding capacity rows.

    A request with no option column (every option misses a hard deadline, the energy budget
    or ``min_quality``; the program is then infeasible, but a heuristic may still decode a
    relaxed solution) is decoded as ``REJECT``, which the referee reports as a hard
    ``admission`` (and ``quality_target``) violation, so the plan scores ``infeasible``."""
    k = np.rint(np.asarray(values["gpu_count"], dtype=float)).astype(np.int64)
    v = np.asarray(values["radio"], dtype=float)
    count = k.sum(axis=1)
    gpu_type = np.where(count > 0, np.argmax(k, axis=1), -1)
    assignments = []
    for d, nm in enumerate(inst.names):
        cols = program.meta["demand_columns"][d]
        x = np.asarray(values[f"assign[{nm}]"], dtype=float)
        u = np.asarray(cols["user"])
        order = np.lexsort((-x, u))
        first = np.ones(order.size, dtype=bool)
        first[1:] = u[order][1:] != u[order][:-1]
        chosen = order[first]
        n_users = inst.demands[d].n_users
        served = u[chosen]
        if served.size != n_users:  # no option meets the quality target / deadline / budget
            logger.debug("demand %r: %d of %d requests have no option column (REJECT)", nm,
                         n_users - served.size, n_users)
        fields = {}
        for f in _RESOURCE_FIELDS:
            col = np.asarray(cols[f])
            fill = REJECT if f == "placement" else -1 if f == "radio_server" else 0
            out = np.full(n_users, fill, dtype=col.dtype)
            out[served] = col[chosen]
            fields[f] = out
        cache = np.asarray(values[f"cache[{nm}]"]) > 0.5
        assignments.append(OffloadAllocation(cache=cache, **fields))
    binding = binding_constraints(program, full_vector(program, values))
    return SizingPlan(gpu_type=gpu_type, gpu_count=count, radio=np.argmax(v, axis=1),
                      assignments=tuple(assignments), binding=binding,
                      drivers=capacity_drivers(inst, gpu_type, count, tuple(assignments)))


register_builder(SizingSpec, build, decode)
