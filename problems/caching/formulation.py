r"""Structure and data of the caching MILP, shared by the offline MILP (:mod:`.milp`) and the
rolling-horizon policy's window MILPs (:mod:`.policies`), built vectorised with scipy.sparse.

Indices: slot t, home server s, serving server k, model m, edge pair p = (s, k) with
``lat[s, k] <= budget`` (p includes (s, s)), context age level j = 1..H. Data: ``R[t,s,m]``
requests; ``G[t,k,m,a]`` accuracy of a copy of age a (see :mod:`.data`),
``Delta[t,k,m,j] = G[..., j] - G[..., j-1] >= 0``; per-request costs ``e[s,k,m]`` (edge, for a
copy of accuracy 0, i.e. including the full accuracy loss ``w_a``) and ``q[m]`` (cloud), and
``L[k,m]`` per load (:class:`.data.CachingObjective`).

Variables (all in [0, 1]): ``c[t,k,m]`` binary cache; ``l[t,k,m]`` load; ``x[t,p,m]`` fraction
of ``R[t,s,m]`` served at k; ``y[t,s,m]`` fraction sent to the cloud; ``u[t,k,m,j]`` = 1 iff the
copy has age >= j; ``v[t,p,m,j]`` = ``x[t,p,m] * u[t,k,m,j]``.

.. math::

    \min \sum_{t,k,m} L_{k,m} l_{t,k,m}
       + \sum_{t,p,m} R_{t,s,m} (e_{s,k,m} - w_a G_{t,k,m,0}) x_{t,p,m}
       + \sum_{t,s,m} R_{t,s,m} q_m y_{t,s,m}
       - w_a \sum_{t,p,m,j} R_{t,s,m} \Delta_{t,k,m,j} v_{t,p,m,j}

    \text{s.t.}\quad \sum_{p=(s,\cdot)} x_{t,p,m} + y_{t,s,m} = 1, \quad x_{t,p,m} \le c_{t,k,m},
    \quad \sum_m (size_m / Mem_k) c_{t,k,m} \le 1,

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

Numerics (coefficient ranges as built). Every row except memory and compute has entries
``+-1``; memory rows are divided by the server's memory (``size_m / Mem_k``, right-hand side 1)
and compute rows by ``F_k slot`` (right-hand side 1), so a row is violated by the same relative
amount the evaluator measures, at any byte or FLOP scale. Costs are divided by the median
``|c_j|`` (``meta["objective_scale"]``), so the objective's typical coefficient is 1. The LP
backends, and the offline MILP's direct HiGHS path, further equilibrate by powers of two
(:mod:`aigc_opt.solvers.numerics`; on HiGHS's own scaling alone the offline MILP died with heap
corruption on costs spanning 1e-2..3e20). Entries below ``1e-9`` of their row's
right-hand side (a model of ``1e-12`` of the server's memory) are below HiGHS's
``small_matrix_value`` and act as 0: their effect on a row is below the ``1e-6`` verification
tolerance.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from aigc_opt.backend import SolveOptions
from aigc_opt.errors import ValidationError
from aigc_opt.explain import grid_group
from aigc_opt.metrics import fits
from aigc_opt.program import Block, LinearProgram, key_positions

from .data import (
    CachingInstance,
    CachingObjective,
    cloud_cost,
    edge_cost,
    load_cost,
    neighbours,
)

logger = logging.getLogger(__name__)


def checked_options(options: Any, default: SolveOptions | None = None) -> SolveOptions:
    """The ``options`` argument of a public caching function: a :class:`SolveOptions`, or
    None for ``default`` (``SolveOptions()`` when not given).

    Anything else (a string, a dict, ...) raises :class:`~aigc_opt.errors.ValidationError`
    on the field ``options`` (it was an AttributeError at the first option read).
    """
    if options is None:
        return SolveOptions() if default is None else default
    if not isinstance(options, SolveOptions):
        raise ValidationError("options", "-", options, "must be an aigc_opt.SolveOptions or "
                              f"None (the defaults), got a {type(options).__name__}")
    return options


@dataclass(frozen=True)
class Layout:
    """Column and row structure of a (window) caching MILP; independent of costs and bounds.

    ``ix[t, p, m]``, ``iy[t, s, m]``, ``iu[t, k, m, j-1]``, ``iv[t, p, m, j-1]`` are column
    indices (-1: no column); ``A`` has the structural coefficients; ``comp_*`` locate the
    compute-capacity entries whose values depend on R. ``row_groups`` (``meta["row_groups"]``
    of the assembled program, :class:`aigc_opt.explain.GridLabels` items) names the row
    blocks in order:
    ``demand``, ``link`` (x <= c), ``v_route`` (v <= x), ``v_age`` (v <= u), ``u_cache``
    (u <= c), ``age_chain``, ``memory``, ``load`` and ``compute``.
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
    row_groups: dict[str, tuple[int, int, Any]] = field(default_factory=dict)


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
    groups: dict[str, tuple[int, int, Any]] = {}
    r0 = 0

    def add(name: str, labels: tuple[Any, ...], r: np.ndarray, c: np.ndarray, v: np.ndarray,
            n_rows: int, lower: Any, upper: Any) -> np.ndarray:
        nonlocal r0
        rows.append(r + r0)
        cols.append(c)
        vals.append(v)
        lo.append(np.broadcast_to(np.asarray(lower, dtype=float), (n_rows,)))
        hi.append(np.broadcast_to(np.asarray(upper, dtype=float), (n_rows,)))
        groups[name] = grid_group(r0, *labels)  # (template, grid shape, cell of each row)
        if groups[name][1] != r0 + n_rows:
            raise ValueError(f"row group {name}: labels for {groups[name][1] - r0} rows, "
                             f"not {n_rows}")
        out = np.arange(r0, r0 + n_rows)
        r0 += n_rows
        return out

    ones = lambda k: np.ones(k)  # noqa: E731
    tsm, pair = "slot {}, server {}, model {}", "slot {}, server {} -> {}, model {}"
    # demand: sum_p x + y = 1 per (t, s, m) with a y column
    ycols = iy[my]
    ny = ycols.size
    yrow = np.full((W, S, M), -1, dtype=np.int64)
    yrow[my] = np.arange(ny)
    tx, px, mx_ = np.nonzero(mx)
    xcols = ix[tx, px, mx_]
    add("demand", (tsm, (W, S, M), np.flatnonzero(my)),
        np.concatenate([np.arange(ny), yrow[tx, ps[px], mx_]]),
        np.concatenate([ycols, xcols]), ones(ny + xcols.size), ny, 1.0, 1.0)
    # link: x - c[t, k, m] <= 0
    nx = xcols.size
    add("link", (pair, (W, S, S, M), ((tx * S + ps[px]) * S + pk[px]) * M + mx_),
        np.concatenate([np.arange(nx)] * 2), np.concatenate([xcols, cidx[tx, pk[px], mx_]]),
        np.concatenate([ones(nx), -ones(nx)]), nx, -np.inf, 0.0)
    # v <= x and v <= u
    tv, pv, mv_, jv = np.nonzero(mv)
    vcols = iv[tv, pv, mv_, jv]
    nv = vcols.size
    v_labels = (pair + ", age >= {}", (W, S, S, M, H + 1),  # age level j = index + 1
                ((((tv * S + ps[pv]) * S + pk[pv]) * M + mv_) * (H + 1)) + jv + 1)
    add("v_route", v_labels, np.concatenate([np.arange(nv)] * 2),
        np.concatenate([vcols, ix[tv, pv, mv_]]), np.concatenate([ones(nv), -ones(nv)]), nv,
        -np.inf, 0.0)
    add("v_age", v_labels, np.concatenate([np.arange(nv)] * 2),
        np.concatenate([vcols, iu[tv, pk[pv], mv_, jv]]), np.concatenate([ones(nv), -ones(nv)]),
        nv, -np.inf, 0.0)
    # u <= c and the age chain u[t, j] <= u[t-1, j-1] (u[., 0] = c)
    tu, ku, mu_, ju = np.nonzero(mu)
    ucols = iu[tu, ku, mu_, ju]
    nu = ucols.size
    tkmj, grid_u = "slot {}, server {}, model {}, age >= {}", (W, S, M, H + 1)
    u_cells = (((tu * S + ku) * M + mu_) * (H + 1)) + ju + 1
    add("u_cache", (tkmj, grid_u, u_cells),
        np.concatenate([np.arange(nu)] * 2), np.concatenate([ucols, cidx[tu, ku, mu_]]),
        np.concatenate([ones(nu), -ones(nu)]), nu, -np.inf, 0.0)
    ch = tu >= 1
    prev = np.where(ju[ch] == 0, cidx[tu[ch] - 1, ku[ch], mu_[ch]],
                    iu[tu[ch] - 1, ku[ch], mu_[ch], np.maximum(ju[ch] - 1, 0)])
    nch = int(ch.sum())
    add("age_chain", (tkmj, grid_u, u_cells[nu - nch:]),  # the rows of t >= 1 come last
        np.concatenate([np.arange(nch)] * 2), np.concatenate([ucols[ch], prev]),
        np.concatenate([ones(nch), -ones(nch)]), nch, -np.inf, 0.0)
    # memory per (t, k), divided by the server's memory (right-hand side 1; issue 11: a fixed
    # GB constant underflowed at byte scales of 1e-300)
    tw, kw, mw = np.nonzero(np.ones((W, S, M), dtype=bool))
    mem = np.asarray(inst.server_gpu_memory_bytes, dtype=np.float64)
    size = np.asarray(inst.model_size_bytes, dtype=np.float64)
    den = np.where(mem > 0, mem, max(float(size.max(initial=0.0)), 1.0))
    tk = ("slot {}, server {}", (W, S), None)
    mem_rows = add("memory", tk, tw * S + kw, cidx[tw, kw, mw], size[mw] / den[kw], W * S,
                   -np.inf, np.tile(mem / den, W))
    # loads: l[t] - c[t] + c[t-1] >= 0 (t >= 1); l[0] - c[0] >= -c_init
    flat = np.arange(nC)
    tl = flat // (S * M)
    later = tl >= 1
    r_l = np.concatenate([flat, flat, flat[later]])
    c_l = np.concatenate([lidx.reshape(-1), cidx.reshape(-1), cidx.reshape(-1)[later] - S * M])
    v_l = np.concatenate([ones(nC), -ones(nC), ones(int(later.sum()))])
    load_rows = add("load", (tsm, (W, S, M), None), r_l, c_l, v_l, nC, 0.0, np.inf)
    # compute capacity per (t, k): sum R flop / (F_k slot) x <= 1 (values set per data)
    comp_rows = np.zeros(0, dtype=np.int64)
    ce_row = ce_col = ce_x = np.zeros(0, dtype=np.int64)
    if obj.compute_capacity:
        ce_x = np.arange(nx)
        ce_row = tx * S + pk[px]
        ce_col = xcols
        comp_rows = add("compute", tk, ce_row, ce_col, ones(nx), W * S, -np.inf, 1.0)
        ce_row = comp_rows[ce_row]
    A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(r0, n))
    integ = np.zeros(n, dtype=bool)
    integ[:nC] = True
    del t_
    return Layout(W=W, S=S, M=M, H=H, ps=ps, pk=pk, ix=ix, iy=iy, iu=iu, iv=iv, n=n, A=A,
                  row_lower=np.concatenate(lo), row_upper=np.concatenate(hi), integrality=integ,
                  load_rows=load_rows, mem_rows=mem_rows, comp_rows=comp_rows,
                  comp_entry_row=ce_row, comp_entry_col=ce_col, comp_entry_x=ce_x,
                  row_groups=groups)


@dataclass(frozen=True)
class WindowData:
    """Costs and bounds of a window MILP (problem units; ``scale`` divides the costs)."""

    c: np.ndarray
    col_upper: np.ndarray
    load_lower: np.ndarray
    comp_values: np.ndarray
    scale: float


#: Largest ``|c| / scale`` that :func:`cost_scale` lets through (HiGHS takes costs of 1e20 as
#: infinite).
COST_RANGE = 1e9


def cost_scale(c: np.ndarray) -> float:
    """The divisor of a window's costs: their median magnitude, raised so that no cost exceeds
    :data:`COST_RANGE` times it. With model sizes x 1e-20 the load costs (~1e-20) set the
    median and the scaled costs reached 9e19 and 1e20 (infinite to HiGHS), which crashed HiGHS
    1.16 ('double free or corruption') in the rolling-horizon policies (certify seed
    2512008554); costs far below the largest then read as ~0, as they are."""
    nz = np.abs(c[c != 0])
    if not nz.size:
        return 1.0
    return max(float(np.median(nz)), float(nz.max()) / COST_RANGE)


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
    # A model larger than the server's whole GPU memory is in no cache: the referee's
    # model_fits (FIT_TOL); left to the solvers' 1e-6 feasibility tolerance HiGHS cached a
    # model 6e-8 too large that relax_memory (and SCIP, at 5e-7) left out
    useless |= ~fits(inst.model_size_bytes[None, :], inst.server_gpu_memory_bytes[:, None])
    ub[:nC] = np.where(np.broadcast_to(useless, (W, S, M)), 0.0, 1.0).reshape(-1)
    # Dominance (exact): a route costing, even at its copy's best accuracy, no less than the
    # cloud (gain 0) never helps: the cloud share y of its demand row is free. Its x column
    # is fixed to 0 and its cost dropped, so a server of 1 FLOP/s (1e13 s per request) leaves
    # no 1e13 next to 1 in the objective.
    m = (lay.ix >= 0) & (gain <= 0.0)
    ub[lay.ix[m]] = 0.0
    c[lay.ix[m]] = 0.0
    load_lower = np.zeros(nC)
    load_lower[: S * M] = -np.asarray(c_init, dtype=float).reshape(-1)
    comp = np.zeros(0)
    if lay.comp_entry_x.size:
        tx, px, mx_ = np.nonzero(lay.ix >= 0)
        cap = inst.server_compute_flops[pk[px]] * inst.slot_s
        comp = Rp[tx, px, mx_] * inst.model_flop_per_request[mx_] / cap
    if scale is None:
        scale = cost_scale(c)
    return WindowData(c=c, col_upper=ub, load_lower=load_lower, comp_values=comp, scale=scale)


#: Routing columns whose scale ``s`` is below this (``2^-30``, ~1e-9) are left out of their
#: demand row: their whole range moves the row by less than 1e-9 (the decoder's cloud share
#: ``1 - sum x`` keeps every group's total exact).
DEMAND_DROP = 2.0**-30


def routing_scale(lay: Layout, data: WindowData) -> np.ndarray:
    r"""Power-of-two scale ``s`` of each routing column, shaped like ``lay.ix`` (1 where no
    column or no compute row): ``x = s x'`` with ``s = 2^{-e}``, ``2^e <= a < 2^{e+1}`` for a
    compute coefficient ``a = R flop / (F slot) >= 1``, so ``a s`` lies in ``[1, 2)``.

    Why: a server whose compute serves only a fraction ``1/a`` of a group's requests (``a``
    up to ``1e20`` at extreme FLOP or compute scales) needs ``x <= 1/a``, far below the
    solvers' ``1e-6`` feasibility tolerance, which then admitted 100 % compute overloads or
    declared feasible instances infeasible (issue 11). In ``x'`` every feasible routing
    is ``O(1)``.
    """
    s = np.ones(lay.ix.shape)
    if not lay.comp_entry_x.size:
        return s
    a = np.asarray(data.comp_values, dtype=np.float64)
    mant, e = np.frexp(np.where(np.isfinite(a) & (a >= 1.0), a, 1.0))  # a = mant 2^e
    del mant
    tx, px, mx_ = np.nonzero(lay.ix >= 0)
    s[tx, px, mx_] = np.ldexp(1.0, 1 - e)  # 2^(e-1) <= a < 2^e
    return s


def entry_positions(A: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Indices into ``A.data`` of the stored entries ``(rows[i], cols[i])`` (each must be
    stored once), found by one sort of the row-major keys: O(nnz log nnz), where writing them
    through a LIL matrix took 13.6 s on a window MILP with a 3,000-slot context window."""
    key = np.repeat(np.arange(A.shape[0], dtype=np.int64), np.diff(A.indptr)) * A.shape[1]
    want = np.asarray(rows, dtype=np.int64) * A.shape[1] + np.asarray(cols, dtype=np.int64)
    pos = key_positions(key + A.indices, want)
    if pos is None:
        raise ValueError("entry_positions: an entry is not stored in the matrix")
    return pos


def assemble(lay: Layout, data: WindowData, name: str, *, scale_routing: bool = False
             ) -> LinearProgram:
    r"""The LinearProgram of a layout with its data (costs scaled by ``data.scale``).

    With ``scale_routing`` the routing columns are in units of :func:`routing_scale`
    (``x = s x'``, ``v = s v'``, exact: powers of two; ``meta["x_scale"]`` holds ``s`` and
    the decoder multiplies back). The demand row keeps ``s`` as the coefficient of ``x'``;
    the compute row's coefficient becomes ``a s`` in ``[1, 2)``; the rows ``x <= c``,
    ``v <= x``, ``v <= u`` become ``x' <= c``, ``v' <= x'``, ``v' <= u`` (coefficients
    ``+-1``). These are equivalent for binary ``c``, ``u``: the compute row alone gives
    ``x' <= 1 / (a s) <= 1`` (hence also ``v' <= 1``), so ``x' <= c`` is ``x' = 0`` at
    ``c = 0`` and implied at ``c = 1``, as was ``s x' <= c``. Columns without a compute row
    (or with ``a < 1``) keep ``s = 1``: the model is unchanged for them. Where ``s <``
    :data:`DEMAND_DROP` the ``x'`` entry of the demand row is left out (an effect below 1e-9
    of the group; the decoder routes ``1 - sum x`` to the cloud). The rolling-horizon
    policy edits a built model in place with unscaled data and uses the default (False).
    """
    A = lay.A
    row_lower = lay.row_lower.copy()
    row_lower[lay.load_rows] = data.load_lower
    c = data.c / data.scale
    col_upper = data.col_upper
    if lay.comp_entry_x.size:
        A = sp.csr_matrix(A, copy=True)
        A.data[entry_positions(A, lay.comp_entry_row, lay.comp_entry_col)] = data.comp_values
    W, S, M = lay.W, lay.S, lay.M
    nC = W * S * M
    meta: dict[str, Any] = {"objective_scale": data.scale, "ix": lay.ix, "iy": lay.iy,
                            "iu": lay.iu, "iv": lay.iv, "ps": lay.ps, "pk": lay.pk,
                            "mem_rows": lay.mem_rows, "row_groups": lay.row_groups}
    if scale_routing and lay.comp_entry_x.size:
        s = routing_scale(lay, data)
        col = np.ones(lay.n)
        m = lay.ix >= 0
        col[lay.ix[m]] = s[m]
        mv = lay.iv >= 0
        col[lay.iv[mv]] = np.broadcast_to(s[..., None], lay.iv.shape)[mv]
        coo = A.tocoo()
        ny = int((lay.iy >= 0).sum())  # the demand rows are the layout's first ny rows
        demand = coo.row < ny
        keep = demand | np.isin(coo.row, lay.comp_rows)
        vals = np.where(keep, coo.data * col[coo.col], coo.data)
        # demand entries s < DEMAND_DROP are left out (below every solver's matrix tolerance:
        # HiGHS drops them anyway, and with them in, equilibration plus HiGHS's presolve
        # declared a feasible instance infeasible at slot x1e-20)
        live = ~(demand & (col[coo.col] < DEMAND_DROP))
        A = sp.csr_matrix((vals[live], (coo.row[live], coo.col[live])), shape=A.shape)
        c = c * col
        meta["x_scale"] = s
    return LinearProgram(
        c=c, A=A, row_lower=row_lower, row_upper=lay.row_upper,
        col_lower=np.zeros(lay.n), col_upper=col_upper, integrality=lay.integrality,
        blocks=(Block("cache", 0, (W, S, M)), Block("load", nC, (W, S, M))),
        name=name, meta=meta,
    )


def pass_highs(h: Any, lp: LinearProgram, highspy: Any) -> None:
    """Hand a minimisation LinearProgram to a ``highspy.Highs`` object as flat CSC arrays."""
    A = lp.A.tocsc()
    h.passModel(lp.n_cols, lp.n_rows, int(A.nnz), int(highspy.MatrixFormat.kColwise),
                int(highspy.ObjSense.kMinimize), float(lp.offset), lp.c, lp.col_lower,
                lp.col_upper, lp.row_lower, lp.row_upper, A.indptr.astype(np.int32),
                A.indices.astype(np.int32), A.data, lp.integrality.astype(np.int32))
