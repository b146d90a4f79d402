r"""The migration MILPs: the per-slot drift-plus-penalty problem and the perfect-foresight
offline problem over the whole trajectory, assembled by one vectorised routine.

Columns (C order)::

    x[t, u, s, k]  binary   user u served by server s at step level k in slot t   (T U S K)
    h[t, s, m]     binary   server s hosts model m in slot t                      (T S M)
    w[t, u, a, b]  >= 0     user u moves from server a (slot t) to b (slot t+1)   ((T-1) U S S)

Rows::

    sum_{s,k} x[t,u,s,k] = 1                                   one server and level per request
    sum_{u,k} r_u n_k f_{m_u} x[t,u,s,k] <= F_s tau            GPU work per slot
    sum_k x[t,u,s,k] - h[t,s,m_u] <= 0                         model hosted where used
    sum_m M_m h[t,s,m] <= G_s                                  GPU memory

(the work and memory rows are stored divided by their right-hand sides).
    sum_b w[t,u,a,b] = sum_k x[t,u,a,k]                        transition flow out of a
    sum_a w[t,u,a,b] = sum_k x[t+1,u,b,k]                      transition flow into b
    sum_{u,s,k} E_u(s^0_u, s) x[0,u,s,k]
        + sum_{t,u,a,b} E_u(a, b) w[t,u,a,b] <= T budget        long-term budget (budget_hard)

``meta["row_groups"]`` names these blocks ``assignment``, ``gpu_work``, ``hosting``,
``gpu_memory``, ``flow_out``, ``flow_in`` and ``budget``.

With x integral the flow rows force ``w[t,u,a,b] = x_served[t,u,a] x_served[t+1,u,b]`` exactly
(a transportation problem with one unit in and out), so the budget row and the migration energy
are exact; ``w`` needs no integrality.

Objectives: per slot ``sum (V P + Z E) x`` (:class:`~.data.SlotSpec` on a
:class:`~.data.MigrationSlot`); offline ``(1/T) sum_{t,u,s,k} P[t,u,s,k] x[t,u,s,k]``
(:class:`~.data.MigrationSpec` on a :class:`~.data.MigrationInstance`). Both builders are
registered with :func:`aigc_opt.spec.register_builder`, so every LP/MILP backend takes them;
``offline_milp`` (registered algorithm, in :mod:`.offline`) solves the offline MILP with HiGHS
from a MIP start (:func:`start_vector` of the best online controller the referee calls feasible).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from aigc_opt.backend import SolveOptions
from aigc_opt.explain import GridLabels
from aigc_opt.metrics import fit_weights, fits
from aigc_opt.program import Block, LinearProgram, RowBuilder
from aigc_opt.result import Result
from aigc_opt.spec import register_builder

from .data import (
    MigrationAllocation,
    MigrationInstance,
    MigrationSlot,
    MigrationSpec,
    SlotAllocation,
    SlotSpec,
    migration_from_j,
    migration_matrix_j,
    perf_cost,
    work_flop,
)

logger = logging.getLogger(__name__)


def assemble(cost_x: np.ndarray, work: np.ndarray, capacity: np.ndarray, user_model: np.ndarray,
             model_memory: np.ndarray, server_memory: np.ndarray, *,
             transition_j: np.ndarray | None = None, first_j: np.ndarray | None = None,
             budget_total_j: float | None = None, name: str = "migration") -> LinearProgram:
    """The MILP of the module docstring.

    Parameters
    ----------
    cost_x : ndarray, shape (T, U, S, K)
        Objective coefficient of every ``x`` column.
    work : ndarray, shape (U, K)
        GPU work per option, FLOP.
    capacity : ndarray, shape (S,)
        GPU work per slot, FLOP.
    user_model, model_memory, server_memory : ndarray
        ``m_u`` (U,), ``M_m`` (M,) byte, ``G_s`` (S,) byte.
    transition_j : ndarray, shape (U, S, S), optional
        ``E_u(a, b)``; with it (and T > 1) the ``w`` block and flow rows are added.
    first_j : ndarray, shape (U, S), optional
        Migration energy of slot 0 against the initial servers (budget row only).
    budget_total_j : float, optional
        ``T budget``; adds the budget row (needs ``transition_j``).
    name : str, default "migration"
        The program's name (``LinearProgram.name``, shown in logs and explanations).
    """
    T, U, S, K = cost_x.shape
    M = int(model_memory.shape[0])
    # an option whose work alone exceeds its server's capacity per slot is in no feasible
    # point (the referee's option_fits, to FIT_TOL: a level at the capacity up to rounding
    # stays, one 5e-7 above it goes): its x columns are fixed to 0 and their cost and work
    # entries dropped (exact), so a slow GPU (1 FLOP/s: latencies of 1e15 s) leaves no 1e15
    # next to 1 in the model. (A model larger than a server's memory is kept out by its
    # memory row instead, below, so that an explanation still names gpu_memory.)
    over = ~fits(work[:, None, :], capacity[None, :, None])  # (U, S, K)
    cost_x = np.where(over[None], 0.0, cost_x)
    nx, nh = T * U * S * K, T * S * M
    Tw = T - 1 if transition_j is not None else 0
    nw = Tw * U * S * S
    n = nx + nh + nw
    ix = np.arange(nx).reshape(T, U, S, K)
    ih = nx + np.arange(nh).reshape(T, S, M)
    iw = nx + nh + np.arange(nw).reshape(Tw, U, S, S)
    tt = np.arange(T)[:, None, None, None]
    uu = np.arange(U)[None, :, None, None]
    ss = np.arange(S)[None, None, :, None]
    shape4 = (T, U, S, K)
    rb = RowBuilder()
    # one server and level per request
    rb.add(np.broadcast_to(tt * U + uu, shape4).ravel(), ix.ravel(), 1.0, T * U, 1.0, 1.0,
           name="assignment", items=GridLabels("slot {0}, user {1}", (T, U)))
    # GPU work per server and slot, each row divided by its capacity (FLOP ~ 1e15 is beyond
    # HiGHS's matrix-value limit)
    wscale = np.where(capacity > 0, capacity, 1.0)
    rel = np.where(over, 0.0, work[:, None, :] / wscale[None, :, None])  # (U, S, K)
    rb.add(np.broadcast_to(tt * S + ss, shape4).ravel(), ix.ravel(),
           np.broadcast_to(rel[None], shape4).ravel(),
           T * S, -np.inf, np.tile(capacity / wscale, T),
           name="gpu_work", items=GridLabels("slot {0}, server {1}", (T, S)))
    # hosting: sum_k x[t,u,s,k] <= h[t,s,m_u]
    r_tus = (np.arange(T)[:, None, None] * U + np.arange(U)[None, :, None]) * S \
        + np.arange(S)[None, None, :]
    h_cols = np.transpose(ih[:, :, user_model], (0, 2, 1))  # (T, U, S)
    rb.add(np.concatenate([np.broadcast_to(r_tus[..., None], shape4).ravel(), r_tus.ravel()]),
           np.concatenate([ix.ravel(), h_cols.ravel()]),
           np.concatenate([np.ones(nx), -np.ones(T * U * S)]), T * U * S, -np.inf, 0.0,
           name="hosting", items=GridLabels("slot {0}, user {1}, server {2}", (T, U, S)))
    # GPU memory, each row divided by the server's memory
    # (a model larger than the whole memory weighs at least 2: the referee's option_fits)
    mscale = np.where(server_memory > 0, server_memory, 1.0)
    wm = fit_weights(model_memory[None, :] / mscale[:, None], model_memory[None, :],
                     server_memory[:, None])  # (S, M)
    rb.add(np.broadcast_to(np.arange(T * S).reshape(T, S, 1), (T, S, M)).ravel(), ih.ravel(),
           (wm[None] * np.ones((T, 1, 1))).ravel(),
           T * S, -np.inf, np.tile(server_memory / mscale, T),
           name="gpu_memory", items=GridLabels("slot {0}, server {1}", (T, S)))
    c = np.zeros(n)
    c[:nx] = cost_x.ravel()
    if Tw:
        shape_w = (Tw, U, S, S)
        r_out = (np.arange(Tw)[:, None, None] * U + np.arange(U)[None, :, None]) * S \
            + np.arange(S)[None, None, :]  # (Tw, U, S): row of (t, u, a)
        # flow out of a: sum_b w[t,u,a,b] - sum_k x[t,u,a,k] = 0
        rb.add(np.concatenate([np.broadcast_to(r_out[..., None], shape_w).ravel(),
                               np.broadcast_to(r_out[..., None], (Tw, U, S, K)).ravel()]),
               np.concatenate([iw.ravel(), ix[:-1].ravel()]),
               np.concatenate([np.ones(nw), -np.ones(Tw * U * S * K)]), Tw * U * S, 0.0, 0.0,
               name="flow_out",
               items=GridLabels("user {1} from server {2} after slot {0}", (Tw, U, S)))
        # flow into b: sum_a w[t,u,a,b] - sum_k x[t+1,u,b,k] = 0
        r_in = np.broadcast_to(r_out[:, :, None, :], shape_w)  # row of (t, u, b)
        rb.add(np.concatenate([r_in.ravel(),
                               np.broadcast_to(r_out[..., None], (Tw, U, S, K)).ravel()]),
               np.concatenate([iw.ravel(), ix[1:].ravel()]),
               np.concatenate([np.ones(nw), -np.ones(Tw * U * S * K)]), Tw * U * S, 0.0, 0.0,
               name="flow_in",
               items=GridLabels("user {1} to server {2} after slot {0}", (Tw, U, S)))
    if budget_total_j is not None:
        if transition_j is None:
            raise ValueError("a budget row needs transition_j")
        vals = [np.broadcast_to(transition_j[None], (Tw, U, S, S)).ravel()]
        cols = [iw.ravel()]
        if first_j is not None:
            vals.append(np.broadcast_to(first_j[:, :, None], (U, S, K)).ravel())
            cols.append(ix[0].ravel())
        cv = np.concatenate(cols)
        rb.add(np.zeros(cv.shape[0], dtype=np.int64), cv, np.concatenate(vals), 1, -np.inf,
               float(budget_total_j), name="budget", items="all slots")
    lo, hi = rb.bounds()
    integ = np.zeros(n, dtype=bool)
    integ[: nx + nh] = True
    col_hi = np.ones(n)
    col_hi[:nx] = np.where(np.broadcast_to(over[None], shape4), 0.0, 1.0).ravel()
    col_hi[nx + nh:] = np.inf
    blocks = [Block("assign", 0, (T, U, S, K)), Block("h", nx, (T, S, M))]
    if nw:
        blocks.append(Block("w", nx + nh, (Tw, U, S, S)))
    return LinearProgram(c=c, A=rb.matrix(n), row_lower=lo, row_upper=hi, col_lower=np.zeros(n),
                         col_upper=col_hi, integrality=integ, blocks=tuple(blocks), name=name,
                         meta={"row_groups": rb.groups})


def _choice(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Server and level of the largest ``x`` per (t, u) (the 1 of an integral solution)."""
    T, U, S, K = x.shape
    flat = np.asarray(x).reshape(T, U, S * K).argmax(axis=2)
    return flat // K, flat % K


# ---------------------------------------------------------------------------------- per slot
def build_slot(slot: MigrationSlot, spec: SlotSpec) -> LinearProgram:
    """Per-slot drift-plus-penalty MILP (T = 1, no transition block)."""
    U, S, K = slot.shape
    return assemble(slot.unit_cost()[None], slot.work_flop, slot.capacity_flop, slot.user_model,
                    slot.model_memory_bytes, slot.server_gpu_memory_bytes,
                    name=f"migration-slot[U={U},S={S},K={K}]")


def decode_slot(slot: MigrationSlot, spec: SlotSpec, program: LinearProgram, values: Any
                ) -> SlotAllocation:
    """Server and level per user from ``x``."""
    s, k = _choice(np.asarray(values["assign"]))
    return SlotAllocation(server=s[0], level=k[0])


# ---------------------------------------------------------------------------------- offline
def build_offline(inst: MigrationInstance, spec: MigrationSpec) -> LinearProgram:
    """Perfect-foresight T-slot MILP; with ``spec.budget_hard`` it has the budget row
    ``sum_t E_t <= T budget``. A soft budget is not a constraint of the problem (the referee
    only reports it), so the program omits it and its optimum bounds every controller's cost
    from below."""
    T, U, S = inst.n_slots, inst.n_users, inst.n_servers
    cost = perf_cost(inst, spec.weights) / T
    return assemble(cost, work_flop(inst), inst.server_flops * inst.slot_s, inst.user_model,
                    inst.model_memory_bytes, inst.server_gpu_memory_bytes,
                    transition_j=migration_matrix_j(inst),
                    first_j=migration_from_j(inst, inst.initial_server),
                    budget_total_j=T * spec.budget_j if spec.budget_hard else None,
                    name=f"migration-offline[T={T},U={U},S={S}]")


def decode_offline(inst: MigrationInstance, spec: MigrationSpec, program: LinearProgram,
                   values: Any) -> MigrationAllocation:
    """Servers and levels per slot from ``x``."""
    s, k = _choice(np.asarray(values["assign"]))
    return MigrationAllocation(server=s, level=k, controller="offline")


def start_vector(inst: MigrationInstance, program: LinearProgram, alloc: MigrationAllocation
                 ) -> np.ndarray:
    """The offline MILP's point (``x``, ``h``, ``w``) of a trajectory, e.g. a controller's, for a
    MIP start."""
    T, U = alloc.server.shape
    S, K, M = inst.n_servers, inst.n_levels, inst.n_models
    out = np.zeros(program.n_cols)
    tt, uu = np.meshgrid(np.arange(T), np.arange(U), indexing="ij")
    out[((tt * U + uu) * S + alloc.server) * K + alloc.level] = 1.0
    nx = T * U * S * K
    out[nx + (tt * S + alloc.server) * M + inst.user_model[None, :]] = 1.0
    if T > 1:
        a, b = alloc.server[:-1], alloc.server[1:]
        out[nx + T * S * M + ((tt[:-1] * U + uu[:-1]) * S + a) * S + b] = 1.0
    return out


def solve_highs(program: LinearProgram, options: SolveOptions, start: np.ndarray | None = None
                ) -> Result:
    """HiGHS on ``program`` with an optional MIP start (a full column vector): the backend's
    equilibrated solve, so that a model HiGHS rejects or a crash is a status, not an
    exception."""
    from aigc_opt.solvers.highs import HighsBackend

    return HighsBackend().solve_from(program, options, start)


register_builder(SlotSpec, build_slot, decode_slot)
register_builder(MigrationSpec, build_offline, decode_offline)
