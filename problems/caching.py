r"""Model caching over time: the clairvoyant offline MILP (and the window MILP of the rolling
horizon policy), built vectorised with scipy.sparse and solved with HiGHS.

Indices: slot t, home server s, serving server k, model m, edge pair p = (s, k) with
``lat[s, k] <= budget`` (p includes (s, s)), context age level j = 1..H. Data: ``R[t,s,m]``
requests; ``G[t,k,m,a]`` accuracy of a copy of age a (see :mod:`.caching_trace`),
``Delta[t,k,m,j] = G[..., j] - G[..., j-1] >= 0``; per-request costs ``e[s,k,m]`` (edge, for a
copy of accuracy 0, i.e. including the full accuracy loss ``w_a``) and ``q[m]`` (cloud), and
``L[k,m]`` per load (:class:`.caching_trace.CachingObjective`).

Variables (all in [0, 1]): ``c[t,k,m]`` binary cache; ``l[t,k,m]`` load; ``x[t,p,m]`` fraction
of ``R[t,s,m]`` served at k; ``y[t,s,m]`` fraction sent to the cloud; ``u[t,k,m,j]`` = 1 iff the
copy has age >= j; ``v[t,p,m,j]`` = ``x[t,p,m] * u[t,k,m,j]``.

.. math::

    \min \sum_{t,k,m} L_{k,m} l_{t,k,m}
       + \sum_{t,p,m} R_{t,s,m} (e_{s,k,m} - w_a G_{t,k,m,0}) x_{t,p,m}
       + \sum_{t,s,m} R_{t,s,m} q_m y_{t,s,m}
       - w_a \sum_{t,p,m,j} R_{t,s,m} \Delta_{t,k,m,j} v_{t,p,m,j}

    \text{s.t.}\quad \sum_{p=(s,\cdot)} x_{t,p,m} + y_{t,s,m} = 1, \quad x_{t,p,m} \le c_{t,k,m},
    \quad \sum_m size_m c_{t,k,m} \le Mem_k,

    l_{t,k,m} \ge c_{t,k,m} - c_{t-1,k,m} \;(c_{-1} = c^{init}), \quad
    u_{t,k,m,j} \le c_{t,k,m}, \quad u_{t,k,m,j} \le u_{t-1,k,m,j-1} \;(u_{\cdot,0} = c),

    v_{t,p,m,j} \le x_{t,p,m}, \quad v_{t,p,m,j} \le u_{t,k,m,j}, \quad
    [\,\textstyle\sum_{p=(\cdot,k),m} R_{t,s,m} flop_m x_{t,p,m} \le F_k \, slot\,].

Exactness. ``l`` carries a cost >= 0, so at an optimum ``l = max(0, c_t - c_{t-1})``: the load
count is exact. The accuracy terms are rewards with ``Delta >= 0`` (accuracy is nondecreasing in
the examples and the examples in the age), and ``u``, ``v`` appear only in upper-bound rows, so
at an optimum ``u_{t,j} = min(c_t, ..., c_{t-j})`` (binary, = 1 iff age >= j) and
``v = min(x, u) = x u`` (exact for binary u). Hence ``G(age) = G_0 + sum_j Delta_j u_j`` and the
MILP objective equals the true cost of its cache trajectory and routing: no approximation
(``Result.message`` says so). Ages at t=0 start at 0 (``u[0, j] = 0``) unless a window is
given the committed history (``prev_age``), which sets ``u[0, j] <= [prev_age + 1 >= j]``.
Exact dominance: a model not cached before the window whose largest possible saving over
the window (every request it could serve, at its best accuracy) is below one load's cost is
fixed out of that server's cache (``c <= 0``). Columns are created only where they matter in
``sparse`` mode (x, y where R > 0, v where
R Delta > 0, u where some v needs it); the rolling-horizon policy builds every column
(``sparse=False``) so that only costs and bounds change between slots.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from aigc_opt.backend import SolveOptions
from aigc_opt.cases import CaseKind, register_case
from aigc_opt.errors import ValidationError
from aigc_opt.program import Block, LinearProgram
from aigc_opt.result import Result, relative_gap
from aigc_opt.solve import register_algorithm

from .caching_trace import (
    GB,
    CachingAllocation,
    CachingInstance,
    CachingObjective,
    cache_age,
    cloud_cost,
    context_table,
    edge_cost,
    load_cost,
    neighbours,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CachingSpec:
    """Offline (clairvoyant) caching-and-routing MILP over the whole horizon.

    Parameters
    ----------
    objective : CachingObjective
        Weights, latency budget and whether compute capacity is enforced.
    sparse : bool
        Create only the columns that can matter (see module docstring); False builds all.
    """

    objective: CachingObjective = field(default_factory=CachingObjective)
    sparse: bool = True
    problem: str = "caching"
    variant: str = "offline"

    def build(self, instance: CachingInstance) -> LinearProgram:
        """The offline MILP (pure, vectorised)."""
        return build(instance, self)

    def decode(self, instance: CachingInstance, program: LinearProgram, values: Any
               ) -> CachingAllocation:
        """Allocation from the ``cache``, ``x`` and ``y`` blocks."""
        return decode(instance, program, values)


@dataclass(frozen=True)
class Layout:
    """Column and row structure of a (window) caching MILP; independent of costs and bounds.

    ``ix[t, p, m]``, ``iy[t, s, m]``, ``iu[t, k, m, j-1]``, ``iv[t, p, m, j-1]`` are column
    indices (-1: no column); ``A`` has the structural coefficients; ``comp_*`` locate the
    compute-capacity entries whose values depend on R.
    """

    W: int
    S: int
    M: int
    H: int
    ps: np.ndarray
    pk: np.ndarray
    ix: np.ndarray
    iy: np.ndarray
    iu: np.ndarray
    iv: np.ndarray
    n: int
    A: sp.csr_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    integrality: np.ndarray
    load_rows: np.ndarray
    mem_rows: np.ndarray
    comp_rows: np.ndarray
    comp_entry_row: np.ndarray
    comp_entry_col: np.ndarray
    comp_entry_x: np.ndarray


def pairs(inst: CachingInstance, obj: CachingObjective) -> tuple[np.ndarray, np.ndarray]:
    """Allowed (home, serving) server pairs ``(ps, pk)`` within the latency budget."""
    ps, pk = np.nonzero(neighbours(inst, obj))
    return ps.astype(np.int64), pk.astype(np.int64)


def _index(mask: np.ndarray, start: int) -> tuple[np.ndarray, int]:
    idx = np.full(mask.shape, -1, dtype=np.int64)
    cnt = int(mask.sum())
    idx[mask] = start + np.arange(cnt)
    return idx, start + cnt


def layout(inst: CachingInstance, obj: CachingObjective, R: np.ndarray, G: np.ndarray,
           *, sparse: bool) -> Layout:
    """Build the structure of the MILP for a window of ``R.shape[0]`` slots (vectorised)."""
    W, S, M = R.shape
    H = inst.context_window
    ps, pk = pairs(inst, obj)
    Np = ps.size
    nC = W * S * M
    t_ = np.arange(W)
    cidx = np.arange(nC).reshape(W, S, M)
    lidx = nC + cidx
    start = 2 * nC
    Rp = R[:, ps, :]  # (W, Np, M) demand of the pair's home server
    delta = np.diff(G, axis=3)  # (W, S, M, H)
    if sparse:
        mx = Rp > 0
        my = R > 0
        mv = mx[..., None] & (delta[:, pk, :, :] > 0)
        need_v = np.zeros((W, S, M, H), dtype=bool)
        if H:
            wv, pv, mm, jv = np.nonzero(mv)
            need_v[wv, pk[pv], mm, jv] = True
        mu = need_v.copy()
        for t in range(W - 2, -1, -1):  # u[t+1, j+1] chains to u[t, j]
            mu[t, :, :, : H - 1] |= mu[t + 1, :, :, 1:]
    else:
        mx = np.ones((W, Np, M), dtype=bool)
        my = np.ones((W, S, M), dtype=bool)
        mv = np.ones((W, Np, M, H), dtype=bool)
        mu = np.ones((W, S, M, H), dtype=bool)
    iu, start = _index(mu, start)
    ix, start = _index(mx, start)
    iy, start = _index(my, start)
    iv, start = _index(mv, start)
    n = start
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    lo: list[np.ndarray] = []
    hi: list[np.ndarray] = []
    r0 = 0

    def add(r: np.ndarray, c: np.ndarray, v: np.ndarray, n_rows: int, lower: Any,
            upper: Any) -> np.ndarray:
        nonlocal r0
        rows.append(r + r0)
        cols.append(c)
        vals.append(v)
        lo.append(np.broadcast_to(np.asarray(lower, dtype=float), (n_rows,)))
        hi.append(np.broadcast_to(np.asarray(upper, dtype=float), (n_rows,)))
        out = np.arange(r0, r0 + n_rows)
        r0 += n_rows
        return out

    ones = lambda k: np.ones(k)  # noqa: E731
    # demand: sum_p x + y = 1 per (t, s, m) with a y column
    ycols = iy[my]
    ny = ycols.size
    yrow = np.full((W, S, M), -1, dtype=np.int64)
    yrow[my] = np.arange(ny)
    tx, px, mx_ = np.nonzero(mx)
    xcols = ix[tx, px, mx_]
    add(np.concatenate([np.arange(ny), yrow[tx, ps[px], mx_]]),
        np.concatenate([ycols, xcols]), ones(ny + xcols.size), ny, 1.0, 1.0)
    # link: x - c[t, k, m] <= 0
    nx = xcols.size
    add(np.concatenate([np.arange(nx)] * 2), np.concatenate([xcols, cidx[tx, pk[px], mx_]]),
        np.concatenate([ones(nx), -ones(nx)]), nx, -np.inf, 0.0)
    # v <= x and v <= u
    tv, pv, mv_, jv = np.nonzero(mv)
    vcols = iv[tv, pv, mv_, jv]
    nv = vcols.size
    add(np.concatenate([np.arange(nv)] * 2), np.concatenate([vcols, ix[tv, pv, mv_]]),
        np.concatenate([ones(nv), -ones(nv)]), nv, -np.inf, 0.0)
    add(np.concatenate([np.arange(nv)] * 2), np.concatenate([vcols, iu[tv, pk[pv], mv_, jv]]),
        np.concatenate([ones(nv), -ones(nv)]), nv, -np.inf, 0.0)
    # u <= c and the age chain u[t, j] <= u[t-1, j-1] (u[., 0] = c)
    tu, ku, mu_, ju = np.nonzero(mu)
    ucols = iu[tu, ku, mu_, ju]
    nu = ucols.size
    add(np.concatenate([np.arange(nu)] * 2), np.concatenate([ucols, cidx[tu, ku, mu_]]),
        np.concatenate([ones(nu), -ones(nu)]), nu, -np.inf, 0.0)
    ch = tu >= 1
    prev = np.where(ju[ch] == 0, cidx[tu[ch] - 1, ku[ch], mu_[ch]],
                    iu[tu[ch] - 1, ku[ch], mu_[ch], np.maximum(ju[ch] - 1, 0)])
    nch = int(ch.sum())
    add(np.concatenate([np.arange(nch)] * 2), np.concatenate([ucols[ch], prev]),
        np.concatenate([ones(nch), -ones(nch)]), nch, -np.inf, 0.0)
    # memory per (t, k), in GB
    tw, kw, mw = np.nonzero(np.ones((W, S, M), dtype=bool))
    mem_rows = add(tw * S + kw, cidx[tw, kw, mw], inst.model_size_bytes[mw] / GB, W * S,
                   -np.inf, np.tile(inst.server_gpu_memory_bytes / GB, W))
    # loads: l[t] - c[t] + c[t-1] >= 0 (t >= 1); l[0] - c[0] >= -c_init
    flat = np.arange(nC)
    tl = flat // (S * M)
    later = tl >= 1
    r_l = np.concatenate([flat, flat, flat[later]])
    c_l = np.concatenate([lidx.reshape(-1), cidx.reshape(-1), cidx.reshape(-1)[later] - S * M])
    v_l = np.concatenate([ones(nC), -ones(nC), ones(int(later.sum()))])
    load_rows = add(r_l, c_l, v_l, nC, 0.0, np.inf)
    # compute capacity per (t, k): sum R flop / (F_k slot) x <= 1 (values set per data)
    comp_rows = np.zeros(0, dtype=np.int64)
    ce_row = ce_col = ce_x = np.zeros(0, dtype=np.int64)
    if obj.compute_capacity:
        ce_x = np.arange(nx)
        ce_row = tx * S + pk[px]
        ce_col = xcols
        comp_rows = add(ce_row, ce_col, ones(nx), W * S, -np.inf, 1.0)
        ce_row = comp_rows[ce_row]
    A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(r0, n))
    integ = np.zeros(n, dtype=bool)
    integ[:nC] = True
    del t_
    return Layout(W=W, S=S, M=M, H=H, ps=ps, pk=pk, ix=ix, iy=iy, iu=iu, iv=iv, n=n, A=A,
                  row_lower=np.concatenate(lo), row_upper=np.concatenate(hi), integrality=integ,
                  load_rows=load_rows, mem_rows=mem_rows, comp_rows=comp_rows,
                  comp_entry_row=ce_row, comp_entry_col=ce_col, comp_entry_x=ce_x)


@dataclass(frozen=True)
class WindowData:
    """Costs and bounds of a window MILP (problem units; ``scale`` divides the costs)."""

    c: np.ndarray
    col_upper: np.ndarray
    load_lower: np.ndarray
    comp_values: np.ndarray
    scale: float


def window_data(inst: CachingInstance, obj: CachingObjective, lay: Layout, R: np.ndarray,
                G: np.ndarray, c_init: np.ndarray, prev_age: np.ndarray,
                scale: float | None = None) -> WindowData:
    """Costs and bounds for demand ``R`` (W, S, M), accuracy table ``G`` (W, S, M, H+1), the
    cache before the window ``c_init`` (S, M) and its age ``prev_age`` (S, M; -1: none)."""
    W, S, M, H = lay.W, lay.S, lay.M, lay.H
    ps, pk = lay.ps, lay.pk
    nC = W * S * M
    c = np.zeros(lay.n)
    ub = np.ones(lay.n)
    c[nC:2 * nC] = np.broadcast_to(load_cost(inst, obj), (W, S, M)).reshape(-1)
    e = edge_cost(inst, obj)  # (s, k, m)
    Rp = R[:, ps, :]
    xc = Rp * (e[ps, pk, :][None] - obj.accuracy * G[..., 0][:, pk, :])
    m = lay.ix >= 0
    c[lay.ix[m]] = xc[m]
    m = lay.iy >= 0
    c[lay.iy[m]] = (R * cloud_cost(inst, obj)[None, None, :])[m]
    if H:
        delta = np.diff(G, axis=3)
        vc = -obj.accuracy * Rp[..., None] * delta[:, pk, :, :]
        m = lay.iv >= 0
        c[lay.iv[m]] = vc[m]
        # window start: u[0, k, m, j] <= [prev_age + 1 >= j]
        j = np.arange(1, H + 1)
        ok = (prev_age[:, :, None] + 1 >= j[None, None, :]).astype(float)
        m0 = lay.iu[0] >= 0
        ub[lay.iu[0][m0]] = ok[m0]
    # Dominance (exact): a copy of m at k that is not in c_init costs at least one load and
    # saves at most sum_t sum_s R max(0, q - (e - w_a G_max)) over the window; if that is
    # below the load cost, dropping m from k's trajectory never hurts, so fix c[., k, m] = 0.
    gain = np.maximum(cloud_cost(inst, obj)[None, None, :]
                      - (e[ps, pk, :][None] - obj.accuracy * G[..., H][:, pk, :]), 0.0)
    bound = np.zeros((S, M))
    np.add.at(bound, pk, (Rp * gain).sum(axis=0))
    useless = (bound < load_cost(inst, obj)) & ~np.asarray(c_init, dtype=bool)
    ub[:nC] = np.where(np.broadcast_to(useless, (W, S, M)), 0.0, 1.0).reshape(-1)
    load_lower = np.zeros(nC)
    load_lower[: S * M] = -np.asarray(c_init, dtype=float).reshape(-1)
    comp = np.zeros(0)
    if lay.comp_entry_x.size:
        tx, px, mx_ = np.nonzero(lay.ix >= 0)
        cap = inst.server_compute_flops[pk[px]] * inst.slot_s
        comp = Rp[tx, px, mx_] * inst.model_flop_per_request[mx_] / cap
    if scale is None:
        nz = np.abs(c[c != 0])
        scale = float(np.median(nz)) if nz.size else 1.0
    return WindowData(c=c, col_upper=ub, load_lower=load_lower, comp_values=comp, scale=scale)


def assemble(lay: Layout, data: WindowData, name: str) -> LinearProgram:
    """The LinearProgram of a layout with its data (costs scaled by ``data.scale``)."""
    A = lay.A
    row_lower = lay.row_lower.copy()
    row_lower[lay.load_rows] = data.load_lower
    if lay.comp_entry_x.size:
        A = A.tolil()
        A[lay.comp_entry_row, lay.comp_entry_col] = data.comp_values
        A = A.tocsr()
    W, S, M = lay.W, lay.S, lay.M
    nC = W * S * M
    return LinearProgram(
        c=data.c / data.scale, A=A, row_lower=row_lower, row_upper=lay.row_upper,
        col_lower=np.zeros(lay.n), col_upper=data.col_upper, integrality=lay.integrality,
        blocks=(Block("cache", 0, (W, S, M)), Block("load", nC, (W, S, M))),
        name=name,
        meta={"objective_scale": data.scale, "ix": lay.ix, "iy": lay.iy, "iu": lay.iu,
              "iv": lay.iv, "ps": lay.ps, "pk": lay.pk},
    )


def build(inst: CachingInstance, spec: CachingSpec) -> LinearProgram:
    """The offline MILP over the whole horizon (see the module docstring)."""
    obj = spec.objective
    R = inst.requests
    _, G = context_table(inst)
    lay = layout(inst, obj, R, G, sparse=spec.sparse)
    S, M = inst.n_servers, inst.n_models
    data = window_data(inst, obj, lay, R, G, inst.initial_cache, np.full((S, M), -1))
    return assemble(lay, data, f"caching[T={inst.n_slots},S={S},M={M}]")


def routing_from_solution(R: np.ndarray, ix: np.ndarray, iy: np.ndarray, ps: np.ndarray,
                          pk: np.ndarray, x: np.ndarray, cache: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Request counts ``edge[t,s,k,m]`` and ``cloud[t,s,m]`` from the x / y fractions, cleaned of
    solver noise: edge flow only to holding servers, and each group's total equal to R."""
    W, S, M = R.shape
    xf = np.where(ix >= 0, np.clip(x[np.maximum(ix, 0)], 0.0, 1.0), 0.0)
    yf = np.where(iy >= 0, np.clip(x[np.maximum(iy, 0)], 0.0, 1.0), 0.0)
    xf = xf * cache[:, pk, :]
    xf = np.where(xf < 1e-9, 0.0, xf)
    edge = np.zeros((W, S, S, M))
    edge[:, ps, pk, :] = xf  # pairs (s, k) are distinct
    tot = edge.sum(axis=2) + yf
    fix = np.where(tot > 0, 1.0 / np.where(tot > 0, tot, 1.0), 0.0)
    edge = edge * fix[:, :, None, :] * R[:, :, None, :]
    cloud = np.where(tot > 0, yf * fix, 1.0) * R
    return edge, cloud


def decode(inst: CachingInstance, program: LinearProgram, values: Any) -> CachingAllocation:
    """Cache = c > 1/2; routing from x, y (see :func:`routing_from_solution`)."""
    cache = np.asarray(values["cache"]) > 0.5
    x = np.asarray(values["x"], dtype=float)
    meta = program.meta
    edge, cloud = routing_from_solution(inst.requests, np.asarray(meta["ix"]),
                                        np.asarray(meta["iy"]), np.asarray(meta["ps"]),
                                        np.asarray(meta["pk"]), x, cache)
    return CachingAllocation(cache=cache, edge=edge, cloud=cloud)


EXACT_NOTE = ("exact MILP: load and accuracy-by-age terms are linearised exactly "
              "(no approximation); gap is HiGHS's MIP gap")


def start_vector(inst: CachingInstance, program: LinearProgram, alloc: CachingAllocation
                 ) -> np.ndarray:
    """The MILP point (in ``program``'s columns) of a feasible allocation, e.g. a policy's, for
    use as a MIP start: c = cache, l = loads, x / y = routed fractions, u = [age >= j],
    v = x u."""
    T, S, M = inst.requests.shape
    H = inst.context_window
    meta = program.meta
    ix, iy, iu, iv = (np.asarray(meta[k]) for k in ("ix", "iy", "iu", "iv"))
    ps, pk = np.asarray(meta["ps"]), np.asarray(meta["pk"])
    R = inst.requests
    x0 = np.zeros(program.n_cols)
    cache = alloc.cache
    prev = np.concatenate([inst.initial_cache[None], cache[:-1]], axis=0)
    x0[: T * S * M] = cache.reshape(-1)
    x0[T * S * M: 2 * T * S * M] = (cache & ~prev).reshape(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(R[:, ps, :] > 0, alloc.edge[:, ps, pk, :] / R[:, ps, :], 0.0)
        yfrac = np.where(R > 0, alloc.cloud / R, 0.0)
    m = ix >= 0
    x0[ix[m]] = frac[m]
    m = iy >= 0
    x0[iy[m]] = yfrac[m]
    if H:
        age = cache_age(cache, H)
        u = age[..., None] >= np.arange(1, H + 1)
        m = iu >= 0
        x0[iu[m]] = u[m]
        vv = frac[..., None] * u[:, pk, :, :]
        m = iv >= 0
        x0[iv[m]] = vv[m]
    return x0


def pass_highs(h: Any, lp: LinearProgram, highspy: Any) -> None:
    """Hand a minimisation LinearProgram to a ``highspy.Highs`` object as flat CSC arrays."""
    A = lp.A.tocsc()
    h.passModel(lp.n_cols, lp.n_rows, int(A.nnz), int(highspy.MatrixFormat.kColwise),
                int(highspy.ObjSense.kMinimize), float(lp.offset), lp.c, lp.col_lower,
                lp.col_upper, lp.row_lower, lp.row_upper, A.indptr.astype(np.int32),
                A.indices.astype(np.int32), A.data, lp.integrality.astype(np.int32))


def solve_offline(inst: CachingInstance, spec: CachingSpec, options: SolveOptions | None = None,
                  *, start: CachingAllocation | None = None) -> Result:
    """Solve the offline MILP with HiGHS, optionally from a MIP start (a feasible allocation,
    e.g. the best online policy's), so that a time-limited solve returns at least that good a
    solution together with HiGHS's proven bound and gap."""
    import highspy

    from aigc_opt.solvers.highs import HighsBackend

    opts = options or SolveOptions()
    if opts.mip_gap is None:
        opts = replace(opts, mip_gap=1e-6)
    t0 = time.perf_counter()
    lp = build(inst, spec)
    build_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    h = highspy.Highs()
    h.setOptionValue("output_flag", bool(opts.verbose))
    h.setOptionValue("mip_rel_gap", float(opts.mip_gap or 0.0))
    if opts.time_limit is not None:
        h.setOptionValue("time_limit", float(opts.time_limit))
    if opts.threads is not None:
        h.setOptionValue("threads", int(opts.threads))
    for key, value in opts.extra.items():
        h.setOptionValue(key, value)
    pass_highs(h, lp, highspy)
    if start is not None:
        x0 = start_vector(inst, lp, start)
        h.setSolution(lp.n_cols, np.arange(lp.n_cols, dtype=np.int32), x0)
    h.run()
    res = HighsBackend()._result(h, lp, highspy, time.perf_counter() - t1)
    scale = float(lp.meta["objective_scale"])
    objective, bound = res.objective * scale, res.bound * scale
    alloc = None
    if res.has_solution:
        alloc = decode(inst, lp, res.values)
        # A solve stopped early may leave u, v below (and l above) their values at the decoded
        # cache and routing; the same cache and routing with them set exactly costs at most as
        # much, and that is the cost the evaluator reports.
        polished = lp.objective_value(start_vector(inst, lp, alloc)) * scale
        objective = min(objective, polished)
    msg = f"{res.message}; {EXACT_NOTE}" + ("; MIP start given" if start is not None else "")
    gap = res.gap if res.optimal else relative_gap(objective, bound)
    return replace(res, objective=objective, bound=bound, gap=gap, allocation=alloc,
                   message=msg, stats=replace(res.stats, build_seconds=build_s))


def slot_bound(inst: CachingInstance, spec: CachingSpec, options: SolveOptions | None = None
               ) -> tuple[float, bool]:
    """A lower bound on the offline optimum that decomposes by slot.

    Drop the load costs (then slots are coupled only through ages) and give every copy its
    best possible accuracy ``G[t, k, m, H]`` (accuracy is nondecreasing in the age): every
    feasible trajectory costs at least the sum over slots of the single-slot optimum of this
    relaxation. Each slot is a small MILP; the sum of HiGHS's dual bounds is returned, with
    whether every slot closed. Exact (equal to the optimum) when loads are free and H = 0.
    """
    from aigc_opt.backend import get_backend

    opts = options or SolveOptions(mip_gap=1e-6)
    obj = replace(spec.objective, load_time=0.0, backhaul=0.0)
    R = inst.requests
    T, S, M = R.shape
    H = inst.context_window
    _, G = context_table(inst)
    best = np.repeat(G[..., H:], H + 1, axis=3)
    be = get_backend("highs")
    total, closed = 0.0, True
    for t in range(T):  # independent single-slot MILPs
        lay = layout(inst, obj, R[t:t + 1], best[t:t + 1], sparse=True)
        data = window_data(inst, obj, lay, R[t:t + 1], best[t:t + 1],
                           np.zeros((S, M), dtype=bool), np.full((S, M), -1))
        res = be.solve(assemble(lay, data, f"caching-slot[{t}]"), opts)
        closed &= res.optimal
        b = res.objective if res.optimal and not math.isnan(res.objective) else res.bound
        total += (b if not math.isnan(b) else -math.inf) * data.scale
    return total, closed


def offline_milp(inst: CachingInstance, spec: CachingSpec, options: SolveOptions) -> Result:
    """Solve the offline MILP with HiGHS (default ``mip_gap`` 1e-6 unless given), without a
    MIP start (see :func:`solve_offline`)."""
    return solve_offline(inst, spec, options)


def _spec_with(compute: bool) -> Any:
    def make(**params: Any) -> CachingSpec:
        obj = params.pop("objective", None) or CachingObjective(compute_capacity=compute)
        unknown = set(params) - {"sparse"}
        if unknown:
            name = sorted(unknown)[0]
            raise ValidationError(name, "-", params[name], "unknown caching spec parameter")
        return CachingSpec(objective=obj, **params)
    return make


register_algorithm(CachingSpec, "offline_milp", offline_milp)

_METHODS = ("offline_milp", "lru", "lfu", "static_popular", "least_context", "rolling_horizon",
            "rolling_forecast")


def _make_instance(seed: int, n_servers: int = 3, n_models: int = 6, n_slots: int = 8,
                   **kw: Any) -> CachingInstance:
    return CachingInstance.generate(n_servers, n_models, n_slots, seed=seed, **kw)


def _make_instance_compute(seed: int, n_servers: int = 3, n_models: int = 5, n_slots: int = 6,
                           **kw: Any) -> CachingInstance:
    kw.setdefault("slot_s", 10.0)  # short slots so that the compute capacity binds
    return _make_instance(seed, n_servers, n_models, n_slots, **kw)


CASES = (
    CaseKind(name="caching.offline", make_instance=_make_instance, make_spec=_spec_with(False),
             default_methods=_METHODS, reference="offline_milp",
             description="model caching + routing over time: offline MILP vs online policies"),
    CaseKind(name="caching.compute", make_instance=_make_instance_compute,
             make_spec=_spec_with(True),
             default_methods=_METHODS, reference="offline_milp",
             description="model caching + routing with per-slot compute capacity"),
)
for _kind in CASES:
    register_case(_kind)

# the policies register themselves as heuristics of CachingSpec
from . import caching_policies as _policies  # noqa: E402,F401
