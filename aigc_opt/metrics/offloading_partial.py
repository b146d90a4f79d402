r"""Partial offloading: allocation type and its independent evaluator.

Request n (model m, workload ``W = k phi_m`` FLOP at its requested ``k`` steps) sends a
fraction ``lambda_n`` of its workload, with the same fraction of its input and output data, to
edge server ``s_n``; the rest runs on the device. The two branches run **in parallel**:

* device branch ``T^loc = (1 - lambda) W / f_dev``;
* edge branch ``T^rem = lambda (D_in / r_up + W / f_rem + D_out / r_dl)`` with the Shannon
  rates ``r_up = b_up log2(1 + p g / (N0 b_up))``, ``r_dl = b_dl log2(1 + P_s g / (N0 b_dl))``;
* latency ``L = max(T^loc, T^rem)`` (unlike :class:`~aigc_opt.allocation.OffloadAllocation`,
  whose device steps run after the remote ones);
* device energy ``E_dev = p lambda D_in / r_up + kappa (1 - lambda) W f_dev^2``;
* server energy ``E_srv = e_s lambda W``; quality ``Q = q_m(k)`` (all steps run).

Objective (minimised, the :class:`~aigc_opt.allocation.OffloadObjective` weights)::

    sum_n w_n (alpha L_n + beta E_dev + eta E_srv - gamma Q_n [+ rho (L_n - d_n)^+])

Hard constraints: per-server sums of uplink, downlink and compute shares within capacity,
``0 <= lambda <= 1``, device power, energy budget and (``deadline="hard"``) ``L <= d``.
Models are assumed to be resident at every edge server in this variant (no cache decision).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..allocation import _ro
from ..channel import shannon_rate
from ..quality import quality
from ..scenario import Scenario
from . import FEAS_TOL, Metrics, p95, register_evaluator, relative_excess
from .offloading import _objective_of, _safe_div


@dataclass(frozen=True, eq=False)
class PartialOffloadAllocation:
    """Per-request split between device and one edge server (N requests).

    Parameters
    ----------
    server : ndarray of int, shape (N,)
        Edge server that runs the offloaded part (its radio carries the data), ``0..S-1``.
    fraction : ndarray, shape (N,)
        ``lambda_n`` in [0, 1], the offloaded fraction of workload and data.
    uplink_hz, downlink_hz : ndarray, shape (N,)
        Bandwidth given on ``server``, Hz.
    tx_power_w : ndarray, shape (N,)
        Device transmit power, W.
    compute_flops : ndarray, shape (N,)
        Edge compute share, FLOP/s.
    """

    server: np.ndarray
    fraction: np.ndarray
    uplink_hz: np.ndarray
    downlink_hz: np.ndarray
    tx_power_w: np.ndarray
    compute_flops: np.ndarray

    def __post_init__(self) -> None:
        n = int(np.asarray(self.server).shape[0])
        units = {"server": (np.int64, "-"), "fraction": (np.float64, "-"),
                 "uplink_hz": (np.float64, "Hz"), "downlink_hz": (np.float64, "Hz"),
                 "tx_power_w": (np.float64, "W"), "compute_flops": (np.float64, "FLOP/s")}
        for name, (dtype, unit) in units.items():
            object.__setattr__(self, name, _ro(getattr(self, name), dtype, name, unit, (n,)))

    @property
    def n_users(self) -> int:
        """Number of requests N."""
        return int(self.server.shape[0])


def branch_times(scn: Scenario, alloc: PartialOffloadAllocation) -> dict[str, np.ndarray]:
    """Per-request unit branch times and energies (see the module docstring).

    Returns ``a`` (device time of the whole workload, s), ``b`` (edge-branch time of the whole
    workload, s), ``e_tx`` (transmit energy of the whole input, J), ``e_loc`` (local compute
    energy of the whole workload, J), ``e_srv`` (edge energy of the whole workload, J) and the
    workload ``W`` (FLOP); the branch values at ``lambda`` are linear in these.
    """
    S = scn.n_servers
    s = np.clip(alloc.server, 0, S - 1)
    n = np.arange(alloc.n_users)
    g = scn.channel_gain[n, s]
    n0 = scn.noise_psd_w_per_hz
    r_up = shannon_rate(alloc.uplink_hz, alloc.tx_power_w, g, n0)
    r_dl = shannon_rate(alloc.downlink_hz, scn.server_tx_power_w[s], g, n0)
    work = scn.request_flop
    t_up = _safe_div(scn.request_input_bits, r_up)
    b = t_up + _safe_div(work, alloc.compute_flops) + _safe_div(scn.request_output_bits, r_dl)
    f_dev = scn.user_compute_flops
    return {
        "a": work / f_dev,
        "b": b,
        "e_tx": alloc.tx_power_w * t_up,
        "e_loc": scn.user_kappa * work * f_dev**2,
        "e_srv": scn.server_energy_per_flop_j[s] * work,
        "W": work,
    }


def evaluate_partial(scn: Scenario, alloc: PartialOffloadAllocation, objective: Any = None
                     ) -> Metrics:
    """Metrics of a partial-offloading allocation (parallel branches, see module docstring)."""
    obj = _objective_of(objective)
    N, S = scn.n_users, scn.n_servers
    if alloc.n_users != N:
        raise ValueError(f"allocation for {alloc.n_users} users does not fit {N} users")
    lam = alloc.fraction
    u = branch_times(scn, alloc)
    with np.errstate(invalid="ignore"):
        t_loc = (1.0 - lam) * u["a"]
        t_rem = np.where(lam > 0, lam * u["b"], 0.0)
        e_dev = np.where(lam > 0, lam * u["e_tx"], 0.0) + (1.0 - lam) * u["e_loc"]
    e_srv = lam * u["e_srv"]
    lat = np.maximum(t_loc, t_rem)
    q = quality(scn, scn.request_model, scn.request_steps.astype(float))
    late = np.maximum(lat - scn.request_deadline_s, 0.0)

    v: dict[str, np.ndarray] = {}
    bad = (alloc.server < 0) | (alloc.server >= S)
    v["server"] = bad.astype(float)
    sv = np.where(bad, 0, alloc.server)
    per = lambda w: np.bincount(sv, weights=np.where(bad, 0.0, w), minlength=S)  # noqa: E731
    v["uplink_hz"] = relative_excess(per(alloc.uplink_hz), scn.server_uplink_hz)
    v["downlink_hz"] = relative_excess(per(alloc.downlink_hz), scn.server_downlink_hz)
    v["compute_flops"] = relative_excess(per(alloc.compute_flops), scn.server_compute_flops)
    v["fraction"] = np.maximum(np.maximum(-lam, lam - 1.0), 0.0)
    v["deadline"] = np.where(np.isinf(late), np.inf, late / scn.request_deadline_s)
    v["energy_budget"] = relative_excess(e_dev, scn.user_energy_budget_j)
    v["tx_power"] = relative_excess(alloc.tx_power_w, scn.user_tx_power_w)
    neg = np.zeros(N)
    for name in ("uplink_hz", "downlink_hz", "tx_power_w", "compute_flops"):
        neg = np.maximum(neg, np.maximum(-getattr(alloc, name), 0.0))
    v["nonnegative"] = neg
    violations = {k: float(np.max(a, initial=0.0)) for k, a in v.items()}
    counts = {k: int((a > FEAS_TOL).sum()) for k, a in v.items()}
    hard = frozenset(k for k in v if not (k == "deadline" and obj.deadline == "penalty"))

    cost = (obj.latency * lat + obj.device_energy * e_dev + obj.server_energy * e_srv
            - obj.quality * q)
    if obj.deadline == "penalty":
        cost = cost + obj.deadline_penalty * late
    cost = scn.request_weight * cost
    per_item = {"latency_s": lat, "t_local_s": t_loc, "t_remote_s": t_rem,
                "device_energy_j": e_dev, "server_energy_j": e_srv, "quality": q,
                "lateness_s": late, "fraction": lam, "cost": cost}
    totals = {
        "latency_mean_s": float(lat.mean()),
        "latency_p95_s": p95(lat),
        "device_energy_total_j": float(e_dev.sum()),
        "energy_total_j": float((e_dev + e_srv).sum()),
        "quality_mean": float(q.mean()),
        "fraction_mean": float(lam.mean()),
    }
    return Metrics(family="offloading.partial", objective=float(cost.sum()), per_item=per_item,
                   totals=totals, violations=violations, violation_counts=counts, hard=hard)


register_evaluator(PartialOffloadAllocation, evaluate_partial)
