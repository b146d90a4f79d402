r"""Independent referee of the migration family (numpy only, no solver).

:func:`evaluate_trajectory` scores a :class:`~.data.MigrationAllocation` on a
:class:`~.data.MigrationInstance` by recomputing, from the raw instance fields (not the
builders' tables):

* latency ``L = a_{t,u} + delta H[c_{t,u}, s] + n_k f_{m_u} / F_s`` and quality ``q_{m_u,k}``;
* the objective ``(1/T) sum_{t,u} r_u (w_L L - w_Q q)`` (time-average performance cost);
* migration energy ``E_{t,u} = [s_{t,u} != s_{t-1,u}] (e_0 + e_1 B_u H[s_{t-1,u}, s_{t,u}])``
  with ``s_{-1,u}`` the initial server (no cost when it is -1);

and the violations (relative): ``one_server`` (server or level index not a valid option, per
request), ``gpu_work`` and ``gpu_memory`` (per server and slot), ``option_fits`` (1 where a
request's work or its model alone exceeds its server's capacity or memory, beyond
:data:`aigc_opt.metrics.FIT_TOL`: no tolerance admits an option that cannot fit),
``migration_budget``
(``(1/T) sum E > budget``; hard when ``spec.budget_hard``), and for online controllers that
report their virtual queue: ``queue_trace`` (the reported ``Z`` differs from
``Z_{t+1} = max(Z_t + E_t - budget, 0)``) and ``budget_identity`` (the sample-path bound
``(1/T) sum_t E_t <= budget + Z_T / T`` fails; it cannot when Z is right).

:func:`evaluate_slot` scores a :class:`~.data.SlotAllocation` on a
:class:`~.data.MigrationSlot` (objective ``sum (V P + Z E)``), and AGOD allocations are scored
by :func:`evaluate_agod` (the AGOD environment's dynamics replayed, see :mod:`.data_agod`).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from aigc_opt.metrics import (
    Metrics,
    allocation_mismatch,
    misfit,
    register_evaluator,
    relative_excess,
)

from .data import (
    MigrationAllocation,
    MigrationInstance,
    MigrationSlot,
    MigrationSpec,
    SlotAllocation,
)
from .data_agod import AgodAllocation, AgodInstance, AgodSpec, reward_table, runtime_s

logger = logging.getLogger(__name__)


def _valid(idx: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    ok = (idx >= 0) & (idx < n)
    return ok, np.clip(idx, 0, n - 1)


def _check_shapes(alloc: MigrationAllocation | SlotAllocation, want: tuple[int, ...],
                  what: str) -> None:
    """Raise :func:`~aigc_opt.metrics.allocation_mismatch` naming the field (``server`` or
    ``level``) whose shape is not ``want`` (an earlier message showed ``server``'s shape
    whichever field was wrong)."""
    for name in ("server", "level"):
        shape = getattr(alloc, name).shape
        if shape != want:
            raise allocation_mismatch(f"{name} has shape {shape}, {what} = {want}")


def _memory_use(server: np.ndarray, model: np.ndarray, mem: np.ndarray, S: int) -> np.ndarray:
    """GPU memory per (slot, server) of the models its users need: shape (T, S)."""
    T = server.shape[0]
    M = mem.shape[0]
    hosted = np.zeros((T, S, M), dtype=bool)
    tt = np.repeat(np.arange(T), server.shape[1])
    hosted[tt, server.ravel(), np.tile(model, T)] = True
    return (hosted * mem).sum(axis=2)


def evaluate_trajectory(inst: MigrationInstance, alloc: MigrationAllocation,
                        objective: Any = None) -> Metrics:
    """Metrics of a migration trajectory (see the module docstring)."""
    spec = objective if isinstance(objective, MigrationSpec) else MigrationSpec()
    T, U, S, K = inst.n_slots, inst.n_users, inst.n_servers, inst.n_levels
    _check_shapes(alloc, (T, U), "(T, U)")
    ok_s, s = _valid(alloc.server, S)
    ok_k, k = _valid(alloc.level, K)
    m = inst.user_model
    r = np.asarray(inst.user_requests)
    steps = inst.steps[k]  # (T, U)
    f = inst.model_flop_per_step[m][None, :]
    comp = steps * f / inst.server_flops[s]
    back = inst.hop_delay_s * inst.server_hops[inst.user_cell, s]
    lat = inst.access_s + back + comp
    q = inst.quality[m[None, :], k]
    perf = r[None, :] * (spec.weights.latency_per_s * lat - spec.weights.quality * q)
    prev = np.concatenate([inst.initial_server[None, :], s[:-1]], axis=0)
    moved = (prev >= 0) & (prev != s)
    hop = inst.server_hops[np.maximum(prev, 0), s]
    mig = moved * (inst.migration_fixed_j
                   + inst.migration_j_per_byte_hop * inst.user_state_bytes[None, :] * hop)
    mig_slot = mig.sum(axis=1)
    avg_mig = float(mig_slot.sum() / T)
    work = np.zeros((T, S))
    np.add.at(work, (np.repeat(np.arange(T), U), s.ravel()), (r[None, :] * steps * f).ravel())
    mem = _memory_use(s, m, inst.model_memory_bytes, S)

    v: dict[str, np.ndarray] = {
        "one_server": (~(ok_s & ok_k)).astype(float).ravel(),
        "gpu_work": relative_excess(work, np.broadcast_to(inst.server_flops * inst.slot_s,
                                                          (T, S))).ravel(),
        "gpu_memory": relative_excess(mem, np.broadcast_to(inst.server_gpu_memory_bytes,
                                                           (T, S))).ravel(),
        "option_fits": (ok_s & ok_k) * np.maximum(
            misfit(r[None, :] * steps * f, inst.server_flops[s] * inst.slot_s),
            misfit(inst.model_memory_bytes[m][None, :], inst.server_gpu_memory_bytes[s])),
        "migration_budget": relative_excess(np.array([avg_mig]), np.array([spec.budget_j])),
    }
    hard = {"one_server", "gpu_work", "gpu_memory", "option_fits"}
    if spec.budget_hard:
        hard.add("migration_budget")
    totals: dict[str, float] = {
        "perf_cost_avg": float(perf.sum() / T),
        "migration_avg_j": avg_mig,
        "migrations": float(moved.sum()),
        "latency_mean_s": float((r * lat).sum() / max(r.sum() * T, 1e-300)),
        "quality_mean": float((r * q).sum() / max(r.sum() * T, 1e-300)),
        "budget_j": float(spec.budget_j),
    }
    if alloc.queue_j is not None:
        z = np.zeros(T + 1)
        for t in range(T):
            z[t + 1] = max(z[t] + mig_slot[t] - spec.budget_j, 0.0)
        zq = np.asarray(alloc.queue_j, dtype=float)
        if zq.shape != (T + 1,):
            v["queue_trace"] = np.array([np.inf])
        else:
            v["queue_trace"] = np.abs(zq - z) / np.maximum(1.0, np.abs(z))
        bound = spec.budget_j + z[T] / T
        v["budget_identity"] = relative_excess(np.array([avg_mig]), np.array([bound]))
        hard |= {"queue_trace", "budget_identity"}
        totals["queue_final_j"] = float(z[T])
        totals["identity_slack_j"] = float(bound - avg_mig)
    per_item = {"latency_s": lat, "quality": q, "migration_j": mig,
                "perf_cost_per_slot": perf.sum(axis=1), "migration_per_slot_j": mig_slot,
                "gpu_work_flop": work, "gpu_memory_bytes": mem}
    return Metrics.from_arrays("migration", float(perf.sum() / T), per_item, totals, v, hard)


def evaluate_slot(slot: MigrationSlot, alloc: SlotAllocation, objective: Any = None
                  ) -> Metrics:
    """Metrics of one slot's decision: ``sum_u (V P + Z E)`` and the per-slot constraints."""
    U, S, K = slot.shape
    _check_shapes(alloc, (U,), "(U,)")
    ok_s, s = _valid(alloc.server, S)
    ok_k, k = _valid(alloc.level, K)
    u = np.arange(U)
    perf = slot.perf[u, s, k]
    mig = slot.migration_j[u, s]
    work = np.bincount(s, weights=slot.work_flop[u, k], minlength=S)
    mem = _memory_use(s[None], slot.user_model, slot.model_memory_bytes, S)[0]
    v = {
        "one_server": (~(ok_s & ok_k)).astype(float),
        "gpu_work": relative_excess(work, slot.capacity_flop),
        "gpu_memory": relative_excess(mem, slot.server_gpu_memory_bytes),
        "option_fits": (ok_s & ok_k) * np.maximum(
            misfit(slot.work_flop[u, k], slot.capacity_flop[s]),
            misfit(slot.model_memory_bytes[slot.user_model], slot.server_gpu_memory_bytes[s])),
    }
    obj = float((slot.v * perf + slot.queue_j * mig).sum())
    totals = {"perf_cost": float(perf.sum()), "migration_j": float(mig.sum())}
    return Metrics.from_arrays("migration.slot", obj, {"perf_cost": perf, "migration_j": mig},
                               totals, v)


def evaluate_agod(inst: AgodInstance, alloc: AgodAllocation, objective: Any = None) -> Metrics:
    """Replay the AGOD environment on the chosen providers: total utility (rewards of accepted
    tasks minus crash penalties), crashes, and the providers' peak load.

    Dynamics (AGOD ``env/service_provider.py``, ``env/swarm_manager.py``): before task j is
    assigned, tasks with ``arrival + runtime <= arrival_j`` finish; if ``t_j`` exceeds the
    chosen provider's free capacity, the provider crashes: every running task there is lost,
    the utility drops by ``c (1 + sum_k (1 - progress_k))`` and task j is dropped; otherwise j
    runs and earns the provider's reward of ``t_j``. Each crash is a ``crash`` violation: hard
    under ``spec.crash_free`` (the offline problem), reported only otherwise (AGOD's scoring).
    """
    spec = objective if isinstance(objective, AgodSpec) else AgodSpec()
    J, P = inst.n_tasks, inst.n_providers
    if alloc.provider.shape != (J,):
        raise allocation_mismatch(f"allocation has {alloc.provider.shape} providers for {J} tasks")
    ok, prov = _valid(alloc.provider, P)
    rt = runtime_s(inst.task_steps)
    rew = reward_table(inst)  # (J, P)
    end = inst.arrival_s + rt
    alive = np.zeros(J, dtype=bool)
    where = np.full(J, -1)
    gained = np.zeros(J)
    crashed = np.zeros(J, dtype=bool)
    killed = np.zeros(J, dtype=bool)
    peak = np.zeros(P)
    for j in range(J):
        now = inst.arrival_s[j]
        alive &= ~(end <= now)
        p = prov[j]
        here = alive & (where == p)
        used = float(inst.task_steps[here].sum())
        if inst.task_steps[j] > inst.provider_capacity[p] - used:
            progress = (now - inst.arrival_s[here]) / rt[here]
            gained[j] = -spec.crash_penalty * (1.0 + float((1.0 - progress).sum()))
            crashed[j] = True
            killed |= here
            alive &= ~here
        else:
            alive[j] = True
            where[j] = p
            gained[j] = rew[j, p]
            peak[p] = max(peak[p], used + inst.task_steps[j])
    totals = {"utility": float(gained.sum()), "crashes": float(crashed.sum()),
              "killed": float(killed.sum()),
              "reward_accepted": float(gained[~crashed].sum()),
              "mean_reward": float(gained[~crashed].mean()) if (~crashed).any() else 0.0}
    v = {"valid_provider": (~ok).astype(float), "crash": crashed.astype(float)}
    hard = {"valid_provider"} | ({"crash"} if spec.crash_free else set())
    return Metrics.from_arrays("agod", float(gained.sum()),
                               {"utility": gained, "crashed": crashed.astype(float),
                                "peak_load": peak}, totals, v, hard)


register_evaluator(MigrationAllocation, evaluate_trajectory)
register_evaluator(SlotAllocation, evaluate_slot)
register_evaluator(AgodAllocation, evaluate_agod)
