r"""Online migration controllers: they see one slot at a time (the users' current cells, the
previous servers and the virtual queue), never the future.

* ``lyapunov``: drift-plus-penalty (Ouyang et al. 2018, Sec. IV): in slot t solve
  ``min_x sum (V P_t + Z_t E_t)`` exactly (the per-slot MILP :class:`~.data.SlotSpec`, through
  :func:`aigc_opt.solve` with ``spec.slot_backend``; ``lyapunov_warm`` builds the slot MILP
  once, changes only its costs and starts HiGHS from the last slot's point), then
  ``Z_{t+1} = max(Z_t + E_t - \bar E, 0)``. Larger V weighs performance over the migration
  budget; the time-average cost is within ``O(1/V)`` of the optimum of the stationary problem
  and ``Z_T = O(V)``.
* ``never_migrate``: stay on the previous server (initially the initial server, or the nearest);
  move only when the GPU work or memory there does not fit.
* ``always_nearest``: serve at the user's current cell (the nearest server), falling back to
  the next nearest when it does not fit.
* ``greedy``: users in decreasing work order take their cheapest (server, level) under the
  same per-slot cost ``V P + Z E`` as ``lyapunov`` among the options that still fit.

All choose the step level greedily (the cheapest that fits) except ``lyapunov`` (exact).
Every controller keeps the same virtual queue, so the evaluator can check the sample-path
identity ``(1/T) sum E_t <= \bar E + Z_T / T`` for all of them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from aigc_opt.backend import SolveOptions, backend_names
from aigc_opt.errors import OutOfTime
from aigc_opt.program import LinearProgram
from aigc_opt.solve import HeuristicNote, register_heuristic, solve
from aigc_opt.validate import check_name

from .data import (
    MigrationAllocation,
    MigrationInstance,
    MigrationSlot,
    MigrationSpec,
    SlotAllocation,
    SlotSpec,
    migration_from_j,
    perf_cost,
    slot_problem,
)
from .milp import build_slot, decode_slot

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class SlotState:
    """What an online controller sees in slot ``t``.

    Parameters
    ----------
    t : int
        Slot index in [0, T) (-).
    cell : ndarray of int, shape (U,)
        The users' current cells.
    prev : ndarray of int, shape (U,)
        Previous serving servers (-1: none).
    queue_j : float
        Virtual queue ``Z_t``, J.
    slot : MigrationSlot
        The slot's drift-plus-penalty data (costs, work, capacities).
    hops : ndarray of int, shape (S, S)
        Backhaul hop count between servers (-).
    """

    t: int
    cell: np.ndarray
    prev: np.ndarray
    queue_j: float
    slot: MigrationSlot
    hops: np.ndarray


class Controller(Protocol):
    """An online controller: ``act(state) -> SlotAllocation`` (the same shape as the online
    family's ``aigc_opt.problems.online.data.Controller``: ``name``, ``reset()``, ``act``)."""

    name: str

    def reset(self) -> None:
        """Forget state from a previous run."""
        ...

    def act(self, state: SlotState) -> SlotAllocation:
        """The slot's decision (must not modify ``state``)."""
        ...


def greedy_place(slot: MigrationSlot, cost: np.ndarray) -> SlotAllocation:
    """Users in decreasing top-level work take their cheapest option ``cost[u, s, k]`` that fits
    the residual GPU work and memory; a user with no fitting option takes the lowest level at
    the server with the most residual work among those with memory for its model (the
    evaluator then reports the overload). With tight GPU memory the greedy order can block a
    model everywhere; the exact ``lyapunov`` controller cannot."""
    U, S, K = slot.shape
    work_left = slot.capacity_flop.astype(float).copy()
    mem_left = slot.server_gpu_memory_bytes.astype(float).copy()
    hosted = np.zeros((S, slot.model_memory_bytes.shape[0]), dtype=bool)
    server = np.zeros(U, dtype=np.int64)
    level = np.zeros(U, dtype=np.int64)
    for u in np.argsort(-slot.work_flop[:, -1], kind="stable"):
        m = slot.user_model[u]
        need_mem = np.where(hosted[:, m], 0.0, slot.model_memory_bytes[m])
        fits = (slot.work_flop[u][None, :] <= work_left[:, None] * (1 + 1e-12)) \
            & (need_mem <= mem_left * (1 + 1e-12))[:, None]
        c = np.where(fits, cost[u], np.inf)
        if np.isfinite(c).any():
            s, k = divmod(int(np.argmin(c)), K)
        else:  # overload the least loaded server that can hold the model, else any
            room = hosted[:, m] | (need_mem <= mem_left * (1 + 1e-12))
            s, k = int(np.argmax(np.where(room, work_left, work_left - np.inf))), 0
            if not room.any():
                s = int(np.argmax(work_left))
        server[u], level[u] = s, k
        work_left[s] -= slot.work_flop[u, k]
        if not hosted[s, m]:
            mem_left[s] -= slot.model_memory_bytes[m]
            hosted[s, m] = True
    return SlotAllocation(server=server, level=level)


class _Stateless:
    name = "controller"

    def reset(self) -> None:
        """Nothing to forget."""


class Lyapunov:
    """Exact per-slot drift-plus-penalty MILP.

    Parameters
    ----------
    backend : str
        LP/MILP backend of the cold path (:func:`aigc_opt.solve` on a :class:`SlotSpec`).
    warm : bool
        Keep one HiGHS model alive over the slots: only the objective changes between slots
        (the rows and bounds do not), so each slot changes the costs and re-solves from the
        previous slot's solution as a MIP start.
    mip_gap : float
        Relative MIP gap of every slot's solve.
    """

    name = "lyapunov"

    def __init__(self, backend: str = "highs", *, warm: bool = False, mip_gap: float = 1e-9
                 ) -> None:
        # a misspelt spec.slot_backend is named before the first slot, not at its solve
        self.backend = check_name("slot_backend", backend, backend_names())
        self.warm = warm
        self.mip_gap = mip_gap
        self.slot_seconds: list[float] = []
        self._x: np.ndarray | None = None
        self._lp: LinearProgram | None = None

    def reset(self) -> None:
        """Clear the per-slot solve times and the warm model."""
        self.slot_seconds = []
        self._x, self._lp = None, None

    def act(self, state: SlotState) -> SlotAllocation:
        """Solve the slot's MILP (falls back to :func:`greedy_place` without a solution)."""
        t0 = time.perf_counter()
        alloc = self._solve_warm(state) if self.warm else self._solve_cold(state)
        self.slot_seconds.append(time.perf_counter() - t0)
        if alloc is None:
            logger.warning("slot %d: no MILP solution; greedy fallback", state.t)
            return greedy_place(state.slot, state.slot.unit_cost())
        return alloc

    def _solve_cold(self, state: SlotState) -> SlotAllocation | None:
        res = solve(state.slot, SlotSpec(), backend=self.backend, mip_gap=self.mip_gap)
        return res.allocation if res.has_solution else None

    def _solve_warm(self, state: SlotState) -> SlotAllocation | None:
        """The slot's MILP built once (only the costs change between slots), passed to a new
        HiGHS object each slot with the slot's costs and started from the last slot's point
        (same rows and bounds, so it stays feasible). Changing the costs of one live HiGHS
        object and re-running it (with the last point as start) returned stale answers with
        highspy 1.16: 'optimal' values no point reaches, and decisions up to 5x the slot
        optimum."""
        import highspy

        from aigc_opt.solvers.highs import HighsBackend, new_highs, run, run_started

        if self._lp is None:  # (reset clears the last point with it)
            self._lp = build_slot(state.slot, SlotSpec())
        lp = self._lp
        c = np.array(lp.c, dtype=np.float64)
        cost = state.slot.unit_cost().ravel()
        c[: cost.size] = cost
        lp = replace(lp, c=c)
        h = new_highs(False)
        h.setOptionValue("mip_rel_gap", float(self.mip_gap))
        try:
            HighsBackend._pass(h, lp, highspy)
        except ValueError:  # HiGHS refuses the raw numbers: the equilibrated cold solve
            logger.info("slot %d: warm HiGHS model refused; cold solve", state.t)
            return self._solve_cold(state)
        if self._x is None:
            run(h)
        else:  # the last slot's point (run_started: HiGHS's presolve took it as optimal)
            run_started(h, self._x)
        res = HighsBackend()._result(h, lp, highspy, 0.0)
        if not res.has_solution:
            return None
        self._x = np.asarray(h.getSolution().col_value, dtype=np.float64)
        return decode_slot(state.slot, SlotSpec(), lp, res.values)


def _big(slot: MigrationSlot) -> float:
    return 1e3 * (float(np.abs(slot.perf).max()) + 1.0)


class NeverMigrate(_Stateless):
    """Stay where the service is unless it no longer fits."""

    name = "never_migrate"

    def act(self, state: SlotState) -> SlotAllocation:
        """Cheapest level on the previous server (nearest first when there is none)."""
        prev = np.where(state.prev >= 0, state.prev, state.cell)
        S = state.slot.shape[1]
        away = (np.arange(S)[None, :] != prev[:, None]) * _big(state.slot)
        dist = state.hops[prev] * _big(state.slot)
        return greedy_place(state.slot, state.slot.perf + (away + dist)[:, :, None])


class AlwaysNearest(_Stateless):
    """Follow the user: serve at its current cell."""

    name = "always_nearest"

    def act(self, state: SlotState) -> SlotAllocation:
        """Cheapest level at the nearest server that fits."""
        dist = state.hops[state.cell] * _big(state.slot)
        return greedy_place(state.slot, state.slot.perf + dist[:, :, None])


class Greedy(_Stateless):
    """Per-user cheapest ``V P + Z E`` in work order."""

    name = "greedy"

    def act(self, state: SlotState) -> SlotAllocation:
        """Greedy on the drift-plus-penalty costs."""
        return greedy_place(state.slot, state.slot.unit_cost())


def run_online(inst: MigrationInstance, spec: MigrationSpec, controller: Controller, *,
               name: str | None = None, deadline: float | None = None,
               fallback: Controller | None = None) -> MigrationAllocation:
    """Run ``controller`` (after ``reset()``) slot by slot with the virtual queue of
    ``spec.budget_j``; the allocation is labelled ``name`` (default ``controller.name``).

    ``deadline`` (a ``time.perf_counter()`` value, s) is checked after every slot: past it the
    run stops with :class:`~aigc_opt.errors.OutOfTime` (a MIP start that would cost the solver
    its limit), or, given a ``fallback`` controller, goes on with it (after its ``reset()``)
    for the remaining slots (:func:`run_online_until` says from which slot)."""
    return run_online_until(inst, spec, controller, name=name, deadline=deadline,
                            fallback=fallback)[0]


def run_online_until(inst: MigrationInstance, spec: MigrationSpec, controller: Controller, *,
                     name: str | None = None, deadline: float | None = None,
                     fallback: Controller | None = None) -> tuple[MigrationAllocation, int]:
    """:func:`run_online` and the first slot the ``fallback`` decided (``n_slots`` when the
    controller ran the whole horizon)."""
    T, U = inst.n_slots, inst.n_users
    switched, label = T, controller.name
    P = perf_cost(inst, spec.weights)
    server = np.zeros((T, U), dtype=np.int64)
    level = np.zeros((T, U), dtype=np.int64)
    z = np.zeros(T + 1)
    prev = inst.initial_server.copy()
    controller.reset()
    for t in range(T):
        slot = slot_problem(inst, spec, t, prev, z[t], perf=P[t])
        state = SlotState(t=t, cell=inst.user_cell[t], prev=prev, queue_j=float(z[t]),
                          slot=slot, hops=inst.server_hops)
        dec = controller.act(state)
        server[t], level[t] = dec.server, dec.level
        e = float(migration_from_j(inst, prev)[np.arange(U), dec.server].sum())
        z[t + 1] = max(z[t] + e - spec.budget_j, 0.0)
        prev = np.asarray(dec.server, dtype=np.int64)
        if switched == T and deadline is not None and t + 1 < T and \
                time.perf_counter() > deadline:
            if fallback is None:
                raise OutOfTime(f"{controller.name}: deadline passed after slot {t + 1} of "
                                f"{T}", done=t + 1, total=T)
            switched, controller = t + 1, fallback
            controller.reset()
    return MigrationAllocation(server=server, level=level, queue_j=z,
                               controller=label if name is None else name), switched


CONTROLLERS: dict[str, Callable[[MigrationSpec], Controller]] = {
    "lyapunov": lambda spec: Lyapunov(spec.slot_backend),
    "lyapunov_warm": lambda spec: Lyapunov(warm=True),
    "never_migrate": lambda spec: NeverMigrate(),
    "always_nearest": lambda spec: AlwaysNearest(),
    "greedy": lambda spec: Greedy(),
}


#: The controller that finishes the horizon when a heuristic run reaches its time limit
#: (stateless and fast: one greedy placement per slot).
FALLBACK = "greedy"


def _heuristic(name: str) -> Callable[..., MigrationAllocation | HeuristicNote]:
    def run(inst: MigrationInstance, spec: MigrationSpec, *, seed: int = 0,
            options: SolveOptions | None = None) -> MigrationAllocation | HeuristicNote:
        # time_limit is a deadline for the whole run (the per-slot MILPs of lyapunov took
        # their full time whatever the limit): past it the remaining slots go to FALLBACK
        limit = None if options is None else options.time_limit
        deadline = None if limit is None else time.perf_counter() + limit
        alloc, switched = run_online_until(inst, spec, CONTROLLERS[name](spec), name=name,
                                           deadline=deadline,
                                           fallback=CONTROLLERS[FALLBACK](spec))
        if switched == inst.n_slots:
            return alloc
        return HeuristicNote(alloc, f"time limit {limit:g} s: {name} decided slots 0-"
                                    f"{switched - 1} of {inst.n_slots}, {FALLBACK!r} the rest")
    run.__name__ = name
    run.__doc__ = f"Online controller {name!r} (see :mod:`{__name__}`)."
    return run


for _name in CONTROLLERS:
    register_heuristic(MigrationSpec, _name, _heuristic(_name))
