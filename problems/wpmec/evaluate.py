"""Independent evaluator of wireless-powered MEC allocations (numpy only, no solver).

Physics per device i (frame length T, gains h_i, see :mod:`aigc_opt.problems.wpmec.data`):

* harvested energy ``E_i = mu P h_i a T`` (J);
* local device (``offload_i = 0``): CPU at ``f_i`` cycle/s for the whole frame, energy
  ``kappa f_i^3 T``, rate ``f_i / phi`` bit/s;
* offloading device (``offload_i = 1``): power ``p_i`` during ``tau_i T``, energy
  ``p_i tau_i T``, rate ``(B tau_i / v_u) log2(1 + p_i h_i / N0)`` bit/s.

Objective (maximised, ``Sense.MAX``): ``sum_i w_i r_i`` in bit/s -- the same number as a
solver's ``Result.objective``. Constraints (all hard): ``time`` (``a + sum tau <= 1``),
``energy`` (energy used <= harvested, per device, relative to the harvested energy),
``nonnegative`` (a, tau, p, f), ``binary`` (modes in {0, 1}), ``wpt_fraction`` (``a <= 1``),
``unused_zero`` (what a device's mode does not use is 0, as :class:`WpmecAllocation` documents:
``tau`` and ``tx_power_w`` of a local device, ``cpu_hz`` of an offloader; the absolute value in
the field's unit, like ``nonnegative``, so ``inf`` is an infinite violation).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aigc_opt.metrics import FEAS_TOL, Metrics, allocation_mismatch, register_evaluator

from .data import WpmecAllocation, WpmecInstance


def evaluate_wpmec(instance: WpmecInstance, alloc: WpmecAllocation,
                   objective: Any = None) -> Metrics:
    """Rates, energies, objective and violations of a WP-MEC allocation.

    Parameters
    ----------
    instance : WpmecInstance
        The frame.
    alloc : WpmecAllocation
        Modes, WPT fraction, slots, powers and CPU speeds.
    objective : ignored
        The family has a single objective (weighted sum rate); accepted for the common API.
    """
    if alloc.n_users != instance.n_users:
        raise allocation_mismatch(
            f"allocation for {alloc.n_users} devices does not fit an instance "
            f"with {instance.n_users}")
    prm = instance.params
    h, w = instance.gains, instance.weights
    T = prm.frame_s
    x = alloc.offload
    off = x > 0.5
    a = alloc.wpt_fraction
    tau, p, f = alloc.tau, alloc.tx_power_w, alloc.cpu_hz

    harvested = prm.harvest_efficiency * prm.ap_power_w * h * max(a, 0.0) * T
    with np.errstate(invalid="ignore", over="ignore"):  # inf x 0 of an unused field: NaN
        e_local = prm.kappa * np.maximum(f, 0.0) ** 3 * T  # ... of the mode not taken; a used
        e_tx = np.maximum(p, 0.0) * np.maximum(tau, 0.0) * T  # NaN is a violation
        r_local = np.maximum(f, 0.0) / prm.cycles_per_bit
        snr = np.maximum(p, 0.0) * h / prm.noise_w
        r_off = prm.bandwidth_hz * np.maximum(tau, 0.0) / prm.comm_overhead * np.log2(1.0 + snr)
    used = np.where(off, e_tx, e_local)
    rate = np.where(off, r_off, r_local)
    weighted = w * rate

    time_used = a + float(np.where(off, tau, 0.0).sum())
    v: dict[str, np.ndarray] = {
        "time": np.array([max(time_used - 1.0, 0.0)]),
        "energy": np.maximum(used - harvested, 0.0) / np.maximum(harvested, 1e-300)
        * (used > harvested),
        "nonnegative": np.maximum.reduce([np.maximum(-tau, 0.0), np.maximum(-p, 0.0),
                                          np.maximum(-f, 0.0),
                                          np.full(x.shape, max(-a, 0.0))]),
        "binary": np.minimum(np.abs(x), np.abs(x - 1.0)),
        "wpt_fraction": np.array([max(a - 1.0, 0.0)]),
        "unused_zero": np.where(off, np.abs(f), np.maximum(np.abs(tau), np.abs(p))),
    }
    # energy spent with zero harvest is an infinite relative violation
    v["energy"] = np.where((harvested <= 0) & (used > 0), np.inf, v["energy"])
    violations = {k: float(np.max(arr, initial=0.0)) for k, arr in v.items()}
    counts = {k: int((arr > FEAS_TOL).sum()) for k, arr in v.items()}
    per_item = {
        "rate_bps": rate,
        "weighted_rate_bps": weighted,
        "harvested_energy_j": harvested,
        "energy_used_j": used,
        "local_rate_bps": np.where(off, 0.0, r_local),
        "offload_rate_bps": np.where(off, r_off, 0.0),
        "offload": x,
    }
    totals = {
        "weighted_sum_rate_bps": float(weighted.sum()),
        "sum_rate_bps": float(rate.sum()),
        "energy_total_j": float(used.sum()),
        "harvested_total_j": float(harvested.sum()),
        "time_used": time_used,
        "wpt_fraction": float(a),
        "frac_offload": float(off.mean()),
    }
    return Metrics(family="wpmec", objective=float(weighted.sum()), per_item=per_item,
                   totals=totals, violations=violations, violation_counts=counts,
                   hard=frozenset(v))


register_evaluator(WpmecAllocation, evaluate_wpmec)
