r"""The exact life-cycle MILP: fine-tuning choice and placement, hosting, routing.

Variables (only candidate columns are created; see :func:`candidates`)

* ``z[s,o,n]`` binary: service s uses option o (base model, mode) fine-tuned at node n (n = -1,
  "no node", for mode ``none``); ``sum_{o,n} z = 1``;
* ``y[s,m]`` in [0, 1]: ``y = sum_{o: model(o)=m, n} z`` (the chosen base model; integral);
* ``x[s,m,n]`` binary: node n hosts s's (fine-tuned) model m; ``x <= y``;
* ``a[t,s,u,m,n]`` >= 0: share of region u's requests for s served by n in slot t;
  ``sum_{m,n} a + r = 1`` and ``a <= x``; ``r[t,s,u]`` >= 0 is the rejected share (only with a
  reject penalty);
* ``b[s]`` = ``sum B_{s,o} z`` (GB delivered per receiving replica) and ``d[s,n]`` >= 0 (GB
  delivered to node n, all replicas) with the exact big-M linearisation of
  ``d = rep_n B_s [x_n = 1 and trained elsewhere]``:
  ``d[s,n] >= rep_n (b[s] - sum_o B_{s,o} z[s,o,n]) - rep_n Bmax_s (1 - sum_m x[s,m,n])``.

Rows (``meta["row_groups"]`` names): one option per service (``one_option``), model selection
(``model_selection``), hosting <= selection (``hosting``), routing (``routing``; ``no_host``: an
empty row when a demand group has no candidate host), a <= x (``route_hosted``), sum_n a <= y
(``route_model``), GPU memory per node (``gpu_memory``: hosted weights + training footprint;
split LoRA's device part on each region's devices), compute per node and slot (``compute``:
``window * inference rate + training FLOP <= util F window``), delivery (``delivery_size``,
``delivery``), and the spec's optional cost budget, quality floor and privacy limit
(``cost_budget``, ``quality_floor``, ``privacy_limit``). Capacity rows are divided by their
capacity for conditioning.

Objective (see :class:`~.data.LifecycleWeights`): training, transfer and privacy terms on ``z``,
inference cost, energy and latency on ``a`` (slot t weighted ``window / T``), delivery on ``d``,
rejection on ``r``, and the quality loss ``requests x (1 - q)`` on ``z``. Everything is linear
in the columns and every term equals the evaluator's quantity at integral z, x and d at its
lower envelope, which an optimum attains when delivery has a positive weight (else d does not
matter): the MILP is exact.

Blocks: ``train`` (z), ``model`` (y), ``host`` (x), ``route`` (a), ``reject`` (r),
``deliver_size`` (b), ``deliver`` (d). ``program.column_data`` gives, per column, the service,
option, node, slot, region (``z_service``, ``z_option``, ``z_node``, ``x_model``, ``a_slot``,
``a_region``, ``a_host`` (index into the host columns), ...) and the cost of every z and a column
(``z_cost``, ``a_cost``) for user-added constraints (:class:`aigc_opt.spec.ExtraConstraint`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from aigc_opt.explain import GridLabels
from aigc_opt.program import Block, LinearProgram, RowBuilder
from aigc_opt.spec import register_builder

from .data import (
    GB,
    NONE,
    SPLIT,
    LifecycleAllocation,
    LifecycleInstance,
    LifecycleSpec,
)
from .data_physics import (
    device_train_share,
    inference_flops,
    kind_codes,
    mode_codes,
    option_physics,
    privacy_bytes,
    request_latency,
    wire_bytes,
    wire_ok,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Placement:
    """A fixed fine-tuning choice and hosting (for the fast timescale)."""

    option: np.ndarray
    train_node: np.ndarray
    host: np.ndarray


@dataclass(frozen=True)
class Candidates:
    """Candidate columns: z (s, o, n), x (s, m, n), a (t, s, u, m, n, x-index), r (t, s, u)."""

    zs: np.ndarray
    zo: np.ndarray
    zn: np.ndarray
    xs: np.ndarray
    xm: np.ndarray
    xn: np.ndarray
    at: np.ndarray
    as_: np.ndarray
    au: np.ndarray
    ax: np.ndarray
    rt: np.ndarray
    rs: np.ndarray
    ru: np.ndarray


def candidates(inst: LifecycleInstance, spec: LifecycleSpec, slots: np.ndarray,
               fix: Placement | None = None) -> Candidates:
    """Columns that can be nonzero in a feasible solution (pruning is exact: a pruned column
    violates a constraint by itself)."""
    sh = inst.shape
    S, n_opt, N = sh["S"], sh["O"], sh["N"]
    phys = option_physics(inst)
    mode_ok = np.isin(inst.option_mode, mode_codes(spec.modes))
    allow = inst.service_allowed & mode_ok[None, :]
    dev = inst.device_of_region()
    mem = inst.node_memory_bytes
    # training columns
    ok = wire_ok(inst, phys) & allow[:, :, None]
    ok &= np.isin(inst.node_kind, kind_codes(spec.train_kinds))[None, None, :]
    ok &= phys.mem[:, :, None] <= mem[None, None, :]
    has = np.asarray(inst.data_tokens > 0)
    dev_mem = np.where(dev >= 0, mem[np.maximum(dev, 0)], 0.0)  # (U,)
    too_big: np.ndarray = (phys.mem_device[:, :, None] > dev_mem[None, None, :]) & has[:, None, :]
    split_fit = np.asarray(~too_big.any(axis=2))
    ok &= np.where((inst.option_mode == SPLIT)[None, :, None], split_fit[:, :, None], True)
    none = allow & (inst.option_mode == NONE)[None, :]
    if fix is not None:
        pick = np.zeros((S, n_opt), dtype=bool)
        pick[np.arange(S), fix.option] = True
        ok &= pick[:, :, None] & (np.arange(N)[None, None, :] == fix.train_node[:, None, None])
        none &= pick
    zs, zo, zn = np.nonzero(ok)
    ns, no = np.nonzero(none)
    zs, zo = np.r_[ns, zs], np.r_[no, zo]
    zn = np.r_[np.full(ns.size, -1), zn]
    order = np.lexsort((zn, zo, zs))
    zs, zo, zn = zs[order], zo[order], zn[order]
    # hosting columns
    used = np.zeros((S, sh["M"]), dtype=bool)
    used[zs, inst.option_model[zo]] = True
    dem = inst.demand_rps[slots]  # (T', S, U)
    reach = np.isfinite(inst.link_latency_s)  # (U, N)
    wanted = (dem > 0).any(axis=0)  # (S, U)
    serve = (wanted.astype(float) @ reach.astype(float)) > 0  # (S, N)
    fits = inst.bytes_per_param * inst.model_params[:, None] <= mem[None, :]  # (M, N)
    if fix is None:
        hok = used[:, :, None] & fits[None] & serve[:, None, :]
        hok &= np.isin(inst.node_kind, kind_codes(spec.host_kinds))[None, None, :]
    else:  # exactly the given hosts (fixed to 1 by the caller's column bounds)
        hok = used[:, :, None] & fix.host[:, None, :]
    xs, xm, xn = np.nonzero(hok)
    # routing columns, slot by slot (T is a handful of slots)
    X = xs.size
    parts = []
    for t in slots:
        live = (inst.demand_rps[t][xs] > 0) & reach[:, xn].T  # (X, U)
        xi, u = np.nonzero(live)
        parts.append((np.full(xi.size, t), xs[xi], u, xi))
    at, as_, au, ax = (np.concatenate([p[i] for p in parts]) if parts else np.zeros(0, int)
                       for i in range(4))
    del X
    if spec.reject_penalty is not None:
        rt, rs, ru = np.nonzero(dem > 0)
        rt = np.asarray(slots)[rt]
    else:
        rt = rs = ru = np.zeros(0, dtype=np.int64)
    return Candidates(zs, zo, zn, xs, xm, xn, at.astype(np.int64), as_.astype(np.int64),
                      au.astype(np.int64), ax.astype(np.int64), rt, rs, ru)


def assemble(inst: LifecycleInstance, spec: LifecycleSpec, *, slots: Any = None,
             fix: Placement | None = None) -> LinearProgram:
    """The MILP over the demand slots ``slots`` (default: all) of ``inst``.

    Slot t's routing terms are weighted ``window / T`` with T the instance's slot count, so the
    program over all slots is the single-stage problem, and the program over one slot with a
    fixed placement ``fix`` (then an LP) is that slot's routing problem of the rolling method.
    """
    sh = inst.shape
    T, S, U, N, M = sh["T"], sh["S"], sh["U"], sh["N"], sh["M"]
    slots = np.arange(T) if slots is None else np.atleast_1d(np.asarray(slots, dtype=np.int64))
    w = spec.weights
    cand = candidates(inst, spec, slots, fix)
    phys = option_physics(inst)
    Z, X, A, R = cand.zs.size, cand.xs.size, cand.at.size, cand.rt.size
    pairs = np.unique(cand.xs * N + cand.xn)  # (s, n) pairs that may receive a delivery
    ds, dn = pairs // N, pairs % N
    Dn = pairs.size
    off = np.cumsum([0, Z, S * M, X, A, R, S, Dn])
    oz, oy, ox, oa, orr, ob, od, n_cols = (int(v) for v in off)
    win = inst.window_s
    dev = inst.device_of_region()
    share = device_train_share(inst)
    price, energy = inst.node_cost_per_flop, inst.node_energy_per_flop
    tp = inst.transfer_cost_per_byte
    mode_z = inst.option_mode[cand.zo]
    trained = cand.zn >= 0
    zn0 = np.maximum(cand.zn, 0)
    split = mode_z == SPLIT
    phi = inst.split_fraction
    flops_z = phys.flops[cand.zs, cand.zo]
    server_flops = np.where(split, (1 - phi) * flops_z, flops_z) * trained
    dev_flops = np.where(split, phi * flops_z, 0.0)[:, None] * share[cand.zs]  # (Z, U)
    dev_price = np.where(dev >= 0, price[np.maximum(dev, 0)], 0.0)
    dev_energy = np.where(dev >= 0, energy[np.maximum(dev, 0)], 0.0)
    wire = np.where(trained, wire_bytes(inst, phys)[cand.zs, cand.zo, zn0], 0.0)
    priv = np.where(trained, privacy_bytes(inst, phys)[cand.zs, cand.zo, zn0], 0.0)
    cost_z = server_flops * price[zn0] + dev_flops @ dev_price + wire * tp
    energy_z = server_flops * energy[zn0] + dev_flops @ dev_energy
    n_req = win * inst.demand_rps.mean(axis=0).sum(axis=1)  # requests per window (S,)
    qual_z = n_req[cand.zs] * phys.quality[cand.zs, cand.zo]
    xs_a, xm_a, xn_a = cand.xs[cand.ax], cand.xm[cand.ax], cand.xn[cand.ax]
    dem_a = inst.demand_rps[cand.at, cand.as_, cand.au]
    f_a = inference_flops(inst)[xs_a, xm_a]
    reqs_a = win / T * dem_a  # requests in the window from this slot
    lat_a = request_latency(inst)[xs_a, cand.au, xm_a, xn_a]
    cost_a = reqs_a * f_a * price[xn_a]
    energy_a = reqs_a * f_a * energy[xn_a]
    rep = inst.node_replicas
    c = np.zeros(n_cols)
    c[oz:oy] = (w.cost * cost_z + w.energy * energy_z + w.privacy * priv
                + w.quality * (n_req[cand.zs] - qual_z))  # quality loss: requests x (1 - q)
    c[oa:orr] = w.cost * cost_a + w.energy * energy_a + w.latency * reqs_a * lat_a
    if R:
        pen = float(spec.reject_penalty or 0.0)
        c[orr:ob] = pen * win / T * inst.demand_rps[cand.rt, cand.rs, cand.ru]
    c[od:] = w.cost * tp * GB + w.delivery_time * 8.0 * GB / (
        inst.node_backhaul_bps[dn] * rep[dn])
    integ = np.zeros(n_cols, dtype=bool)
    integ[oz:oy] = True
    integ[ox:oa] = True
    lo, hi = np.zeros(n_cols), np.ones(n_cols)
    hi[ob:] = np.inf

    rb = RowBuilder()
    rb.add(cand.zs, oz + np.arange(Z), 1.0, S, 1.0, 1.0, name="one_option",
           items="service {i}")
    zm = inst.option_model[cand.zo]
    ym = cand.zs * M + zm
    rb.add(np.r_[np.arange(S * M), ym], np.r_[oy + np.arange(S * M), oz + np.arange(Z)],
           np.r_[np.ones(S * M), -np.ones(Z)], S * M, 0.0, 0.0,  # y = sum z
           name="model_selection", items=GridLabels("service {}, model {}", (S, M)))
    rb.add(np.r_[np.arange(X), np.arange(X)],
           np.r_[ox + np.arange(X), oy + cand.xs * M + cand.xm], np.r_[np.ones(X), -np.ones(X)],
           X, -np.inf, 0.0, name="hosting",  # x <= y
           items=GridLabels("service {}, model {}, node {}", (S, M, N),
                            (cand.xs * M + cand.xm) * N + cand.xn))
    tsu = (cand.at * S + cand.as_) * U + cand.au
    rtsu = (cand.rt * S + cand.rs) * U + cand.ru
    keys, inv = np.unique(np.r_[tsu, rtsu], return_inverse=True)
    dem_all = inst.demand_rps[slots]
    n_need = int(np.count_nonzero(dem_all > 0))
    if keys.size < n_need:
        logger.info("%d demand groups have no candidate host: the program is infeasible",
                    n_need - keys.size)
    tsu_items = "slot {}, service {}, region {}"
    rb.add(inv, np.r_[oa + np.arange(A), orr + np.arange(R)], 1.0, keys.size, 1.0, 1.0,
           name="routing", items=GridLabels(tsu_items, (T, S, U), keys))
    if keys.size < n_need:  # a group nobody can serve: an explicitly infeasible empty row
        dt, dsv, du = np.nonzero(dem_all > 0)
        lost = np.setdiff1d((slots[dt] * S + dsv) * U + du, keys)
        rb.add(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), 1.0, 1, 1.0, 1.0,
               name="no_host",
               items=tsu_items.format(lost[0] // (S * U), lost[0] // U % S, lost[0] % U)
               + (f" (and {lost.size - 1} more)" if lost.size > 1 else ""))
    rb.add(np.r_[np.arange(A), np.arange(A)], np.r_[oa + np.arange(A), ox + cand.ax],
           np.r_[np.ones(A), -np.ones(A)], A, -np.inf, 0.0, name="route_hosted",  # a <= x
           items=GridLabels(tsu_items + ", model {}, node {}", (T, S, U, M, N),
                            (tsu * M + xm_a) * N + xn_a))
    # valid inequality sum_n a[t,s,u,m,n] <= y[s,m] (implied at integral points; it stops the
    # relaxation from taking one model's quality while routing to another model's hosts)
    tsum = tsu * M + xm_a
    gk, ginv = np.unique(tsum, return_inverse=True)
    gs, gm = (gk // M // U) % S, gk % M
    rb.add(np.r_[ginv, np.arange(gk.size)], np.r_[oa + np.arange(A), oy + gs * M + gm],
           np.r_[np.ones(A), -np.ones(gk.size)], gk.size, -np.inf, 0.0, name="route_model",
           items=GridLabels(tsu_items + ", model {}", (T, S, U, M), gk))
    # GPU memory per node (per replica)
    mem = np.maximum(inst.node_memory_bytes, 1e-300)
    wbytes = inst.bytes_per_param * inst.model_params
    has = inst.data_tokens > 0
    sz, su = np.nonzero(split[:, None] & has[cand.zs] & (dev[None, :] >= 0))
    mem_dev = phys.mem_device[cand.zs, cand.zo]
    rows = np.r_[cand.xn, zn0[trained], dev[su]]
    cols = np.r_[ox + np.arange(X), oz + np.nonzero(trained)[0], oz + sz]
    vals = np.r_[wbytes[cand.xm], phys.mem[cand.zs, cand.zo][trained], mem_dev[sz]] / mem[rows]
    rb.add(rows, cols, vals, N, -np.inf, 1.0, name="gpu_memory", items="node {i}")
    # compute per node and slot: window * inference + training <= util F window
    K = slots.size
    slot_row = np.full(T, -1)
    slot_row[slots] = np.arange(K)
    cap = inst.utilisation * inst.node_flops * win
    ra = slot_row[cand.at] * N + xn_a
    rz = (np.arange(K)[:, None] * N + zn0[None, :])
    zt = np.nonzero(trained & (server_flops > 0))[0]
    dz, du = np.nonzero(dev_flops > 0)
    rdz = np.arange(K)[:, None] * N + dev[du][None, :]
    rows = np.r_[ra, rz[:, zt].ravel(), rdz.ravel()]
    cols = np.r_[oa + np.arange(A), np.tile(oz + zt, K), np.tile(oz + dz, K)]
    vals = np.r_[win * dem_a * f_a, np.tile(server_flops[zt], K), np.tile(dev_flops[dz, du], K)]
    rb.add(rows, cols, vals / cap[rows % N], K * N, -np.inf, 1.0, name="compute",
           items=GridLabels("slot {}, node {}", (T, N),
                            np.add.outer(slots * N, np.arange(N)).ravel()))
    # delivery: b = sum B z ; d >= rep (b - sum_o B z[., ., n]) - rep Bmax (1 - X)
    B = phys.deliver_bytes / GB  # (S, O) GB per replica
    Bz = B[cand.zs, cand.zo]
    rb.add(np.r_[np.arange(S), cand.zs], np.r_[ob + np.arange(S), oz + np.arange(Z)],
           np.r_[np.ones(S), -Bz], S, 0.0, 0.0, name="delivery_size", items="service {i}")
    bmax = np.zeros(S)
    np.maximum.at(bmax, cand.zs, Bz)
    pid = np.full(S * N, -1)
    pid[pairs] = np.arange(Dn)
    zd = np.nonzero(trained & (pid[cand.zs * N + zn0] >= 0))[0]
    rz_d = pid[cand.zs[zd] * N + cand.zn[zd]]
    rx = pid[cand.xs * N + cand.xn]
    r_rep, r_b = rep[dn], bmax[ds]
    rb.add(np.r_[np.arange(Dn), np.arange(Dn), rz_d, rx],
           np.r_[od + np.arange(Dn), ob + ds, oz + zd, ox + np.arange(X)],
           np.r_[np.ones(Dn), -r_rep, r_rep[rz_d] * Bz[zd], -r_rep[rx] * r_b[rx]],
           Dn, -r_rep * r_b, np.inf, name="delivery",
           items=GridLabels("service {}, node {}", (S, N), pairs))
    # optional budget rows
    if spec.cost_budget < np.inf:
        rb.add(np.zeros(Z + A + Dn, dtype=np.int64),
               np.r_[oz + np.arange(Z), oa + np.arange(A), od + np.arange(Dn)],
               np.r_[cost_z, cost_a, np.full(Dn, tp * GB)], 1, -np.inf, spec.cost_budget,
               name="cost_budget", items="all services")
    if spec.quality_floor > -np.inf:
        rb.add(np.zeros(Z, dtype=np.int64), oz + np.arange(Z), qual_z, 1, spec.quality_floor,
               np.inf, name="quality_floor", items="all services")
    if spec.privacy_limit_bytes < np.inf:
        rb.add(np.zeros(Z, dtype=np.int64), oz + np.arange(Z), priv, 1, -np.inf,
               spec.privacy_limit_bytes, name="privacy_limit", items="all services")
    if fix is not None:  # placement given: an LP over the routing, hosts fixed open
        integ[:] = False
        lo[ox:oa] = 1.0
    lower, upper = rb.bounds()
    # block names: the backends reserve "x" for the full vector
    blocks = (Block("train", oz, (Z,)), Block("model", oy, (S * M,)), Block("host", ox, (X,)),
              Block("route", oa, (A,)), Block("reject", orr, (R,)),
              Block("deliver_size", ob, (S,)), Block("deliver", od, (Dn,)))
    columns = {"z_service": cand.zs, "z_option": cand.zo, "z_node": cand.zn,
               "x_service": cand.xs, "x_model": cand.xm, "x_node": cand.xn,
               "a_slot": cand.at, "a_service": cand.as_, "a_region": cand.au,
               "a_host": cand.ax, "r_slot": cand.rt, "r_service": cand.rs, "r_region": cand.ru,
               "d_service": ds, "d_node": dn, "z_cost": cost_z, "a_cost": cost_a}
    return LinearProgram(c=c, A=rb.matrix(n_cols), row_lower=lower, row_upper=upper,
                         col_lower=lo, col_upper=hi, integrality=integ, blocks=blocks,
                         name=f"lifecycle[T={len(slots)},S={S},U={U},N={N}]",
                         meta={"columns": columns, "slots": slots, "row_groups": rb.groups})


def build(inst: LifecycleInstance, spec: LifecycleSpec) -> LinearProgram:
    """The single-stage MILP over all of the instance's demand slots."""
    return assemble(inst, spec)


def decode(inst: LifecycleInstance, spec: LifecycleSpec, program: LinearProgram, values: Any
           ) -> LifecycleAllocation:
    """Option/trainer from the z with the largest value, hosts from x > 1/2, routing from a
    (cleaned of solver noise: clipped to [0, 1], renormalised per demand group)."""
    sh = inst.shape
    T, S, U, N = sh["T"], sh["S"], sh["U"], sh["N"]
    col = program.column_data
    z = np.asarray(values["train"], dtype=float)
    zs = np.asarray(col["z_service"])
    best = np.full(S, -np.inf)
    np.maximum.at(best, zs, z)
    pick = np.nonzero(z >= best[zs] - 1e-9)[0]
    option = np.zeros(S, dtype=np.int64)
    train = np.full(S, -1, dtype=np.int64)
    option[zs[pick]] = np.asarray(col["z_option"])[pick]
    train[zs[pick]] = np.asarray(col["z_node"])[pick]
    x = np.asarray(values["host"], dtype=float) > 0.5
    xs, xn = np.asarray(col["x_service"]), np.asarray(col["x_node"])
    host = np.zeros((S, N), dtype=bool)
    host[xs[x], xn[x]] = True
    a = np.clip(np.asarray(values["route"], dtype=float), 0.0, 1.0)
    ax = np.asarray(col["a_host"])
    route = np.zeros((T, S, U, N))
    np.add.at(route, (np.asarray(col["a_slot"]), np.asarray(col["a_service"]),
                      np.asarray(col["a_region"]), xn[ax]), np.where(a < 1e-10, 0.0, a))
    reject = np.zeros((T, S, U))
    if np.asarray(values["reject"]).size:
        r = np.clip(np.asarray(values["reject"], dtype=float), 0.0, 1.0)
        reject[np.asarray(col["r_slot"]), np.asarray(col["r_service"]),
               np.asarray(col["r_region"])] = np.where(r < 1e-10, 0.0, r)
    tot = route.sum(axis=3) + reject
    slots = np.asarray(program.meta.get("slots", np.arange(T)))
    need = np.zeros((T, S, U), dtype=bool)
    need[slots] = inst.demand_rps[slots] > 0
    scale = np.where(need & (tot > 0), 1.0 / np.where(tot > 0, tot, 1.0), 1.0)
    return LifecycleAllocation(option=option, train_node=train, host=host,
                               route=route * scale[..., None], reject=reject * scale)


register_builder(LifecycleSpec, build, decode)
