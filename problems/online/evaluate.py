r"""Referee of the online family: numpy only, imports the data module and the core.

Frame decisions (:class:`FrameDecision` on a :class:`FrameInstance`)
    Recomputes bits and energy from the decision with the physics of
    :mod:`~aigc_opt.problems.online.data` and checks (relative violations):
    ``time_budget`` (``sum_{x=1} tau <= 1``), ``power_max`` (``p <= P_max``), ``cpu_max``
    (``f <= f_max``), ``backlog_cap`` (``r_i <= Q_i``, relative to ``max(Q_i, b0)``),
    ``nonnegative`` (``f, tau, p >= 0``, relative to the limit) and ``mode_consistency`` (a local
    user has no time/power, an offloading user no CPU). Objective: the drift-plus-penalty
    frame objective, with the bits served counted as ``min(r_i, Q_i)`` (processing beyond the
    backlog, within ``backlog_cap``'s tolerance, earns nothing).
Simulations (:class:`SimulationResult` on a :class:`Trajectory`)
    Every frame check above for every slot (queues from the record), plus the recorded
    ``bits``/``energy_j``/``objective`` against the recomputed ones (``record_bits``,
    ``record_energy``, ``record_objective``), the queue identities recomputed from arrivals and
    rates (``queue_update``: ``Q(t+1) = max(Q(t) + A(t) - r(t), 0)``, relative to
    ``max(Q, b0)``; ``virtual_queue_update``, relative to ``max(Y, 1)``; ``initial_state``
    non-negative) and the long-term energy constraint ``average_energy`` (per user,
    ``(1/T) sum_t e_i(t) <= gamma + tol`` with ``tol`` the spec attribute
    ``energy_tolerance_j`` if present, else 0; *soft*: online controllers meet it only
    asymptotically -- by the virtual queue, ``avg e - gamma <= (Y(T) - Y(0)) / (nu T)``,
    reported per user as ``per_item["energy_excess_bound_j"]``). Objective: time-average
    weighted computation rate ``(1/T) sum_t sum_i w_i r_i(t) / tau_s`` in bit/s.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aigc_opt.errors import ValidationError
from aigc_opt.metrics import Metrics, register_evaluator, relative_excess

from .data import (
    FrameDecision,
    FrameInstance,
    LyapunovSpec,
    SimulationResult,
    Trajectory,
    local_bits,
    local_energy,
    offload_bits,
    offload_energy,
)


def _spec_of(objective: Any) -> LyapunovSpec:
    if objective is None:
        return LyapunovSpec()
    if isinstance(objective, LyapunovSpec):
        return objective
    raise ValidationError("objective", "-", type(objective).__name__,
                          "must be a LyapunovSpec or None")


def _frame_checks(spec: LyapunovSpec, offload: np.ndarray, cpu: np.ndarray, tf: np.ndarray,
                  pw: np.ndarray, bits: np.ndarray, q: np.ndarray) -> dict[str, np.ndarray]:
    """Relative violations of the per-frame constraints; arrays ``[..., N]`` or ``[...]``."""
    b0 = spec.queue_unit_bits
    used = np.where(offload, tf, 0.0).sum(axis=-1)
    neg = np.maximum(np.maximum(-cpu / spec.f_max_hz, -tf), -pw / spec.p_max_w)
    wrong = np.where(offload, cpu / spec.f_max_hz, tf + pw / spec.p_max_w)
    return {
        "time_budget": relative_excess(used, np.ones_like(used)),
        "power_max": relative_excess(pw, np.full_like(pw, spec.p_max_w)),
        "cpu_max": relative_excess(cpu, np.full_like(cpu, spec.f_max_hz)),
        "backlog_cap": np.maximum(bits - q, 0.0) / np.maximum(q, b0),
        "nonnegative": np.maximum(neg, 0.0),
        "mode_consistency": np.maximum(wrong, 0.0),
    }


def _bits_energy(spec: LyapunovSpec, offload: np.ndarray, cpu: np.ndarray, tf: np.ndarray,
                 pw: np.ndarray, gains: np.ndarray, tau_s: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    bits = np.where(offload, offload_bits(spec, tf, pw, gains, tau_s),
                    local_bits(spec, cpu, tau_s))
    energy = np.where(offload, offload_energy(tf, pw, tau_s), local_energy(spec, cpu, tau_s))
    return bits, energy


def _objective_terms(spec: LyapunovSpec, q: np.ndarray, y: np.ndarray, bits: np.ndarray,
                     energy: np.ndarray) -> np.ndarray:
    b0 = spec.queue_unit_bits
    a = q / b0 + spec.V * spec.weights_for(q.shape[-1])
    return np.asarray((a * bits / b0).sum(axis=-1) - spec.y_scale * (y * energy).sum(axis=-1))


def evaluate_frame(instance: FrameInstance, decision: FrameDecision,
                   objective: Any = None) -> Metrics:
    """Metrics of one frame decision (see module docstring)."""
    spec = _spec_of(objective)
    n = instance.n_users
    for name in ("offload", "cpu_hz", "time_frac", "power_w"):
        if getattr(decision, name).shape != (n,):
            raise ValidationError(name, "-", getattr(decision, name).shape, f"must be ({n},)")
    bits, energy = _bits_energy(spec, decision.offload, decision.cpu_hz, decision.time_frac,
                                decision.power_w, instance.gains, instance.tau_s)
    checks = _frame_checks(spec, decision.offload, decision.cpu_hz, decision.time_frac,
                           decision.power_w, bits, instance.queues_bits)
    # bits beyond the backlog are not served: the objective counts min(r, Q). backlog_cap's
    # tolerance is relative to max(Q, b0), 1 bit per user at b0 = 1e6, and with queues of a
    # few bits that allowance scored 4 % above a certified optimum (referee fuzz)
    served = np.minimum(bits, np.maximum(instance.queues_bits, 0.0))
    obj = float(_objective_terms(spec, instance.queues_bits, instance.virtual_queues, served,
                                 energy))
    w = spec.weights_for(n)
    return Metrics.from_arrays(
        "online", obj, {"bits": bits, "energy_j": energy},
        {"weighted_bits": float(w @ bits), "energy_total_j": float(energy.sum()),
         "time_used": float(np.where(decision.offload, decision.time_frac, 0.0).sum())},
        checks)


def evaluate_simulation(trajectory: Trajectory, result: SimulationResult,
                        objective: Any = None) -> Metrics:
    """Metrics of a recorded run (see module docstring)."""
    spec = _spec_of(objective)
    n_t, n = trajectory.n_slots, trajectory.n_users
    for name in ("offload", "cpu_hz", "time_frac", "power_w", "bits", "energy_j"):
        if getattr(result, name).shape != (n_t, n):
            raise ValidationError(name, "-", getattr(result, name).shape,
                                  f"must be ({n_t}, {n}) like the trajectory")
    q, y = result.queues_bits, result.virtual_queues
    if q.shape != (n_t + 1, n) or y.shape != (n_t + 1, n):
        raise ValidationError("queues_bits", "bit", q.shape, f"must be ({n_t + 1}, {n})")
    if not 0 <= result.server < trajectory.n_servers:
        raise ValidationError("server", "-", result.server,
                              f"must be in [0, {trajectory.n_servers})")
    gains = trajectory.gains[:, :, result.server]
    tau_s = trajectory.tau_s
    bits, energy = _bits_energy(spec, result.offload, result.cpu_hz, result.time_frac,
                                result.power_w, gains, tau_s)
    checks = _frame_checks(spec, result.offload, result.cpu_hz, result.time_frac,
                           result.power_w, bits, q[:-1])
    b0 = spec.queue_unit_bits
    q_next = np.maximum(q[:-1] + trajectory.arrivals_bits - bits, 0.0)
    y_next = np.maximum(y[:-1] + spec.nu_per_j * (energy - spec.energy_threshold_j), 0.0)
    obj_t = _objective_terms(spec, q[:-1], y[:-1], bits, energy)
    checks["queue_update"] = np.abs(q[1:] - q_next) / np.maximum(q_next, b0)
    checks["virtual_queue_update"] = np.abs(y[1:] - y_next) / np.maximum(y_next, 1.0)
    checks["initial_state"] = np.maximum(-np.minimum(q[0], y[0]), 0.0)
    checks["record_bits"] = np.abs(result.bits - bits) / np.maximum(bits, b0)
    checks["record_energy"] = np.abs(result.energy_j - energy) / np.maximum(
        energy, spec.energy_threshold_j if spec.energy_threshold_j > 0 else 1.0)
    checks["record_objective"] = np.abs(result.objective - obj_t) / np.maximum(
        np.abs(obj_t), 1.0)
    avg_e = energy.mean(axis=0)
    tol = float(getattr(spec, "energy_tolerance_j", 0.0))
    gamma = spec.energy_threshold_j
    checks["average_energy"] = np.maximum(avg_e - gamma - tol, 0.0) / max(gamma, 1e-300)
    w = spec.weights_for(n)
    rate = float((bits @ w).mean() / tau_s)
    hard = set(checks) - {"average_energy"}
    excess = (y[-1] - y[0]) / (spec.nu_per_j * n_t) if spec.nu_per_j > 0 else np.full(n, np.inf)
    return Metrics.from_arrays(
        "online", rate,
        {"average_energy_j": avg_e, "average_backlog_bits": q[:-1].mean(axis=0),
         "average_bits": bits.mean(axis=0), "energy_excess_bound_j": excess},
        {"weighted_rate_bps": rate, "average_backlog_bits": float(q[:-1].mean()),
         "final_backlog_bits": float(q[-1].mean()), "average_energy_j": float(avg_e.mean()),
         "max_user_average_energy_j": float(avg_e.max()),
         "mean_frame_objective": float(obj_t.mean())},
        checks, hard=hard)


register_evaluator(FrameDecision, evaluate_frame)
register_evaluator(SimulationResult, evaluate_simulation)
