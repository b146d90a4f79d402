r"""The referee of the offloading family: numpy only, no builder, no solver.

Three allocation types are scored here, each recomputed from the scenario and the allocation
alone (the physics is in :mod:`aigc_opt.problems.offloading.data`):

* :class:`~aigc_opt.problems.offloading.data.OffloadAllocation` (assignment and joint
  variants): latency and energies of :func:`~aigc_opt.problems.offloading.data.link_times`,
  every capacity checked as a sum per server with ``np.bincount``.
* :class:`~aigc_opt.problems.offloading.data.MulticellAllocation`: as above, plus the
  forwarding time ``t_fw = (D_in + D_out) / forward_bps`` of a request processed at server
  ``s`` but uploaded to radio server ``r != s``; radio resources (band, subchannels, backhaul)
  are summed per radio server, compute, GPU slots and cached models per processing server, and
  the forwarding rates on each directed link ``r -> s`` sum to at most its capacity (the
  spec's ``forward_bps``; without the spec it is not checked, and ``totals`` says so).
  Forwarding energy is not modelled.
* :class:`~aigc_opt.problems.offloading.data.PartialOffloadAllocation`: a fraction
  ``lambda`` of the workload and data goes to the edge, the branches run **in parallel**:
  ``T^loc = (1 - lambda) W / f_dev``, ``T^rem = lambda (D_in / r_up + W / f_rem + D_out / r_dl)``,
  ``L = max(T^loc, T^rem)``, ``E_dev = p lambda D_in / r_up + kappa (1 - lambda) W f_dev^2``,
  ``E_srv = e_s lambda W``, ``Q = q_m(k)``; models are resident at every edge server.

Objective (minimised, the :class:`~aigc_opt.problems.offloading.data.OffloadObjective`
weights)::

    sum_n w_n (alpha L_n + beta E_dev + eta E_srv - gamma Q_n [+ rho (L_n - d_n)^+])
      + mu cloud_cost + lambda load_time          (the last two: assignment / multicell only)

Hard constraints: the capacities above, placement codes, non-negativity, device power, energy
budget and (``deadline="hard"``) ``L <= d`` (under an assignment or multi-cell spec, whose
shares are fixed so that a request's time and energy are data, both judged to
:data:`aigc_opt.metrics.FIT_TOL` as one item, like the builders' column filters);
``model_fits`` is 1 at a server that holds a model larger than its whole GPU memory
(beyond ``FIT_TOL``; the memory rows themselves allow ``FEAS_TOL``).

The spec's decision space (when the spec itself is passed, not only its ``OffloadObjective``;
chosen by the spec's type -- a subclass included -- never by its ``problem``/``variant`` labels):
a solver's "optimal" is optimal over the options its spec offers, so an allocation outside
them is a hard violation, not a better answer (:func:`decision_violations`): ``option``
(device or cloud execution the spec forbids, an edge server outside the
``candidate_servers`` highest-gain ones, a cloud relay other than the best server, a radio
outside the ``candidate_radios``, forwarding without ``allow_forwarding``), ``schedule`` (the
assignment specs run the requested steps remotely, ``min(request_steps, local_max_steps)`` on
the device), ``step_level`` (the step specs: total steps a candidate level, integral,
``<= request_steps`` with ``cap_at_requested``, at least ``min_edge_steps`` at the edge and none
on the device unless hybrid) and ``shares`` (the fixed-share models -- assignment, multi-cell,
partial, steps -- give every request the stated equal or proportional share; the joint spec
chooses the uplink and edge compute shares itself, and the rest is its model's: the fixed
downlink, backhaul and cloud shares of the option table, the constant transmit power spectral
density ``p_n b_n / B_r``, nothing on the device's radio when it runs locally). To
score any physically valid allocation against capacities alone, pass the ``OffloadObjective``.

Totals (every allocation type): latency mean, p95 and max (s, over served requests), device,
server and total energy (J, sums over requests) fill the results CSV's metric columns.

Rejected requests (placement ``REJECT``, elastic assignment specs ``admission=True``) are
served by nobody: zero latency, energies, quality and lateness, no resources; each adds
``w_n * rejection_penalty`` to the objective and is listed in ``per_item["rejected"]`` (bool;
present under an elastic spec or when some request is rejected) and
``totals["n_rejected"]``. Without an elastic spec (including the multi-cell evaluator) a
rejected request is a hard ``admission`` violation.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from aigc_opt.errors import ValidationError
from aigc_opt.metrics import Metrics, misfit, p95, register_evaluator, relative_excess
from aigc_opt.quality import quality
from aigc_opt.scenario import Scenario

from .data import (
    CLOUD,
    LOCAL,
    REJECT,
    JointSpec,
    MulticellAllocation,
    MulticellSpec,
    OffloadAllocation,
    OffloadingSpec,
    OffloadObjective,
    PartialOffloadAllocation,
    PartialSpec,
    branch_times,
    forward_times,
    link_capacity,
    link_times,
    objective_of,
    rejection_penalty_of,
)


# ---------------------------------------------------------------------- assignment
def evaluate_offloading(
    scn: Scenario, alloc: OffloadAllocation, objective: Any = None
) -> Metrics:
    """Metrics of an offloading allocation: latency, energy, quality, objective, violations.

    A spec with epsilon constraints (the step specs of the allocation family: ``epsilon =
    ((metric, bound), ...)`` on ``sum_n w_n L_n``, ``sum_n w_n (E^dev_n + E^srv_n)`` (<=) or
    ``sum_n w_n Q_n`` (>=)) gets each as a hard violation ``epsilon_<metric>``, relative to
    ``max(|bound|, 1e-9 * sum of |terms|)``.
    """
    eps = tuple(getattr(objective, "epsilon", ()) or ())
    penalty = rejection_penalty_of(objective)
    _check_fits(scn, alloc)
    rules = decision_violations(scn, alloc, objective)
    if not eps:
        return offloading_metrics(scn, alloc, objective_of(objective), rejection_penalty=penalty,
                                  extra_violations=rules,
                                  exact_times=isinstance(objective, OffloadingSpec))
    base = offloading_metrics(scn, alloc, objective_of(objective), rejection_penalty=penalty)
    w = scn.request_weight
    per = base.per_item
    terms = {"latency": w * per["latency_s"],
             "energy": w * (per["device_energy_j"] + per["server_energy_j"]),
             "quality": w * per["quality"]}
    extra: dict[str, np.ndarray] = {}
    for i, (metric, bound) in enumerate(eps):
        with np.errstate(invalid="ignore", over="ignore"):
            value = float(terms[metric].sum())
            scale = float(np.abs(terms[metric]).sum())
        excess = bound - value if metric == "quality" else value - bound
        den = max(abs(float(bound)), 1e-9 * scale, 1e-300)
        rel = math.inf if math.isnan(excess) else max(excess, 0.0) / den
        extra[f"epsilon_{metric}" + (f"_{i}" if i else "")] = np.array([rel])
    return offloading_metrics(scn, alloc, objective_of(objective),
                              extra_violations={**rules, **extra}, rejection_penalty=penalty)


def offloading_metrics(
    scn: Scenario,
    alloc: OffloadAllocation,
    obj: OffloadObjective,
    *,
    family: str = "offloading",
    forward_s: np.ndarray | None = None,
    extra_violations: dict[str, np.ndarray] | None = None,
    extra_totals: dict[str, float] | None = None,
    rejection_penalty: float | None = None,
    exact_times: bool = False,
) -> Metrics:
    """The offloading metrics; the multi-cell evaluator extends them with ``forward_s``
    (per-request edge-to-edge forwarding time, s, added to the latency; an edge request may
    then use another server's radio) and its own violations and totals.

    Rejected requests (placement ``REJECT``) are served by nobody: their latency, energies,
    quality and lateness are 0 and they use no resource. With ``rejection_penalty`` (an
    elastic spec) each costs ``w_n * rejection_penalty``; without it every rejected request
    is a hard ``admission`` violation. ``per_item["rejected"]`` (bool, present under an
    elastic spec or when some request is rejected) flags them, ``totals["n_rejected"]``
    (always present) counts them; latency and quality means are over served requests
    (0 when none is served)."""
    N = scn.n_users
    _check_fits(scn, alloc)
    pl = alloc.placement
    rejected = pl == REJECT
    served = ~rejected
    remote, cloud, edge = (pl != LOCAL) & served, pl == CLOUD, pl >= 0
    t = dict(link_times(scn, alloc))
    if forward_s is not None:
        t["t_forward_s"] = forward_s
        t["latency_s"] = t["latency_s"] + forward_s
    lat = t["latency_s"]
    q = np.where(served, quality(scn, scn.request_model, alloc.steps), 0.0)
    late = np.maximum(lat - scn.request_deadline_s, 0.0)
    late = np.where(np.isnan(late), np.inf, late)
    cloud_cost = scn.cloud_cost_per_flop * float(t["remote_flop"][cloud].sum())
    load_time = float((alloc.cache * (scn.model_size_bytes * 8.0)[None, :]
                       / scn.server_load_bps[:, None]).sum())

    v = resource_violations(scn, alloc, forwarding=forward_s is not None)
    if exact_times:  # fixed shares: a request's time and energy are data, judged as one item
        v["deadline"] = np.where(np.isinf(late), np.inf, misfit(lat, scn.request_deadline_s))
        v["energy_budget"] = misfit(t["device_energy_j"], scn.user_energy_budget_j)
    else:
        v["deadline"] = np.where(np.isinf(late), np.inf, late / scn.request_deadline_s)
        v["energy_budget"] = relative_excess(t["device_energy_j"], scn.user_energy_budget_j)
    v["tx_power"] = relative_excess(np.where(remote, alloc.tx_power_w, 0.0), scn.user_tx_power_w)
    v["steps"] = np.where(served, np.maximum(1.0 - alloc.steps, 0.0), 0.0)
    v["admission"] = (rejected if rejection_penalty is None else np.zeros(N, bool)).astype(float)
    v.update(extra_violations or {})
    hard = frozenset(k for k in v if not (k == "deadline" and obj.deadline == "penalty"))

    w = scn.request_weight
    per_user_cost = (
        obj.latency * lat
        + obj.device_energy * t["device_energy_j"]
        + obj.server_energy * t["server_energy_j"]
        - obj.quality * q
    )
    if obj.deadline == "penalty":
        per_user_cost = per_user_cost + obj.deadline_penalty * late
    if rejection_penalty is not None:
        per_user_cost = np.where(rejected, rejection_penalty, per_user_cost)
    with np.errstate(invalid="ignore"):
        total = float((w * per_user_cost).sum())
    objective_value = total + obj.cloud_cost * cloud_cost + obj.load * load_time

    per_item = dict(t)
    per_item.update({"quality": q, "lateness_s": late, "cost": w * per_user_cost})
    if rejection_penalty is not None or rejected.any():
        per_item["rejected"] = rejected
    energy = t["device_energy_j"] + t["server_energy_j"]
    n_served = int(served.sum())
    totals = {
        "latency_mean_s": float(lat[served].mean()) if n_served else 0.0,
        "latency_p95_s": p95(lat[served]) if n_served else 0.0,
        "latency_max_s": float(lat[served].max()) if n_served else 0.0,
        "device_energy_total_j": float(t["device_energy_j"].sum()),
        "server_energy_total_j": float(t["server_energy_j"].sum()),
        "energy_total_j": float(energy.sum()),
        "quality_mean": float(q[served].mean()) if n_served else 0.0,
        "cloud_cost": cloud_cost,
        "load_time_s": load_time,
        "frac_local": float((pl == LOCAL).mean()),
        "frac_edge": float(edge.mean()),
        "frac_cloud": float(cloud.mean()),
        "n_rejected": float(rejected.sum()),
    }
    totals.update(extra_totals or {})
    return Metrics.from_arrays(family, objective_value, per_item, totals, v, hard)


def _check_fits(scn: Scenario, alloc: OffloadAllocation) -> None:
    N, S, M = scn.n_users, scn.n_servers, scn.n_models
    if alloc.n_users != N or alloc.cache.shape != (S, M):
        raise ValidationError(
            "allocation", "-", f"{alloc.n_users} requests, cache {alloc.cache.shape}",
            f"does not fit the scenario ({N} users, cache ({S}, {M}) for {S} servers and "
            f"{M} models)")


def _deviation(x: np.ndarray, want: np.ndarray) -> np.ndarray:
    """``|x - want| / |want|`` (inf where ``want`` is 0 and ``x`` is not)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.abs(x - want) / np.abs(want)
    return np.where(x == want, 0.0, np.where(np.isnan(d), np.inf, d))


def _worst_deviation(alloc: Any, want: dict[str, np.ndarray]) -> np.ndarray:
    """Per request, the largest :func:`_deviation` of the fields ``want`` names."""
    return np.max([_deviation(getattr(alloc, k), w) for k, w in want.items()], axis=0)


def _among_top(scn: Scenario, users: np.ndarray, servers: np.ndarray, k: int | None
               ) -> np.ndarray:
    """``servers[i]`` is a server user ``users[i]`` hears and, with ``k``, one of its ``k``
    highest-gain ones (:meth:`~aigc_opt.scenario.Scenario.top_servers`: a server tied with the
    k-th but of higher index is not; admitting it let an allocation on a server the builder
    never offered beat a certified optimum)."""
    g = scn.gain_at(users, np.clip(servers, 0, scn.n_servers - 1))
    ok = (servers >= 0) & (servers < scn.n_servers) & (g > 0)
    if k is None or k >= scn.links()[1].shape[1]:
        return ok
    return ok & (scn.top_servers(k)[users] == servers[:, None]).any(axis=1)


def _steps_spec() -> type | None:
    """The allocation family's ``StepsSpec`` type (whose allocations this referee scores), or
    None while that family is not imported: then no step spec can exist, and importing it here
    would load a whole other family (its builders included) into the referee."""
    mod = sys.modules.get("aigc_opt.problems.allocation.data_steps")
    steps = getattr(mod, "StepsSpec", None)
    return steps if isinstance(steps, type) else None


def decision_violations(scn: Scenario, alloc: OffloadAllocation, spec: Any
                        ) -> dict[str, np.ndarray]:
    """Per-request violations of ``spec``'s decision space (module docstring): ``option``,
    ``schedule``, ``step_level`` (0/1 flags or relative step deviations) and ``shares``
    (largest relative deviation from the model's share); empty for an objective or None.

    The rules follow the spec's *type* (:class:`OffloadingSpec`, :class:`JointSpec`,
    :class:`MulticellSpec`, the step specs, and their subclasses), never its ``problem`` /
    ``variant`` labels: a relabelled spec (a subclass naming its own CSV variant) keeps the
    decision space its builder offers."""
    steps_type = _steps_spec()
    is_steps = steps_type is not None and isinstance(spec, steps_type)
    if not (is_steps or isinstance(spec, (OffloadingSpec, JointSpec, MulticellSpec))):
        return {}
    N, S = scn.n_users, scn.n_servers
    n = np.arange(N)
    pl, rs = alloc.placement, alloc.radio_server
    served = pl != REJECT
    local, cloud, edge = pl == LOCAL, pl == CLOUD, pl >= 0
    remote = served & ~local
    rc, pc = np.clip(rs, 0, S - 1), np.clip(pl, 0, S - 1)
    req = scn.request_steps.astype(float)
    ke, kd = alloc.remote_steps, alloc.device_steps
    v: dict[str, np.ndarray] = {}
    want: dict[str, np.ndarray] = {}
    if is_steps:
        best = scn.best_server
        v["option"] = ((pl != best) | (rs != best)).astype(float)
        total = ke + kd
        lv = (np.asarray(spec.levels, float) if spec.levels
              else np.arange(1.0, float(spec.max_steps) + 1.0))
        pos = np.clip(np.searchsorted(lv, total), 1, lv.size - 1) if lv.size > 1 else \
            np.zeros(N, int)
        near = np.minimum(np.abs(total - lv[pos]), np.abs(total - lv[np.maximum(pos - 1, 0)]))
        bad = (near > 1e-6) | (np.abs(kd - np.round(kd)) > 1e-6)
        if spec.cap_at_requested:
            bad |= total > req + 1e-6
        if getattr(spec, "hybrid", False):
            bad |= (ke < spec.min_edge_steps - 1e-6) | (kd < -1e-6)
        else:
            bad |= np.abs(kd) > 1e-6
        v["step_level"] = np.where(np.isnan(total), True, bad).astype(float)
        n_s = np.bincount(best, minlength=S).astype(float)[best]
        work = ke * scn.model_flop_per_step[scn.request_model]
        per = np.bincount(best, weights=work, minlength=S)[best]
        want = {"uplink_hz": scn.server_uplink_hz[best] / n_s,
                "downlink_hz": scn.server_downlink_hz[best] / n_s,
                "tx_power_w": scn.user_tx_power_w, "backhaul_bps": np.zeros(N),
                "compute_flops": np.where(per > 0, scn.server_compute_flops[best] * work
                                          / np.where(per > 0, per, 1.0), 0.0)}
    else:
        lmax = spec.local_max_steps
        dev_n = req if lmax is None else np.minimum(req, float(lmax))
        v["schedule"] = np.maximum(_deviation(ke, np.where(remote, req, 0.0)),
                                   _deviation(kd, np.where(local, dev_n, 0.0)))
        opt = (local & (not spec.allow_local)) | (cloud & (not spec.allow_cloud))
        if isinstance(spec, MulticellSpec):
            opt |= remote & ~_among_top(scn, n, rs, spec.candidate_radios)
            if not spec.allow_forwarding:
                opt |= edge & (rs != pl)
        else:
            opt |= edge & ~_among_top(scn, n, pl, spec.candidate_servers)
            opt |= cloud & ~_among_top(scn, n, rs, 1)
        v["option"] = opt.astype(float)
        if isinstance(spec, (OffloadingSpec, MulticellSpec)):
            K = scn.server_subchannels[rc].astype(float)
            want = {"uplink_hz": np.where(remote, scn.server_uplink_hz[rc] / K, 0.0),
                    "downlink_hz": np.where(remote, scn.server_downlink_hz[rc] / K, 0.0),
                    "tx_power_w": np.where(remote, scn.user_tx_power_w, 0.0),
                    "backhaul_bps": np.where(cloud, scn.server_backhaul_bps[rc] / K, 0.0),
                    "compute_flops": np.where(cloud, scn.cloud_compute_flops, np.where(
                        edge, scn.server_compute_flops[pc] / scn.server_gpu_slots[pc], 0.0))}
        else:  # JointSpec
            K = scn.server_subchannels[rc].astype(float)
            up = scn.server_uplink_hz[rc]
            want = {"uplink_hz": np.where(remote, alloc.uplink_hz, 0.0),
                    "downlink_hz": np.where(remote, scn.server_downlink_hz[rc] / K, 0.0),
                    "tx_power_w": np.where(remote, scn.user_tx_power_w * alloc.uplink_hz / up,
                                           0.0),
                    "backhaul_bps": np.where(cloud, scn.server_backhaul_bps[rc] / K, 0.0),
                    "compute_flops": np.where(cloud, scn.cloud_compute_flops, np.where(
                        edge, alloc.compute_flops, 0.0))}
        if isinstance(spec, MulticellSpec):
            cap = link_capacity(spec.forward_bps, S)
            want["forward_bps"] = np.where(edge & (rs != pl) & remote,
                                           cap[rc, pc] / spec.forward_channels, 0.0)
    if want:
        v["shares"] = _worst_deviation(alloc, want)
    return v


def partial_violations(scn: Scenario, alloc: PartialOffloadAllocation, spec: Any
                       ) -> dict[str, np.ndarray]:
    """The partial spec's model: every request at its best server with the equal shares
    ``B_s/n_s``, ``B^dl_s/n_s``, ``F_s/n_s`` and full power (empty for an objective; by the
    spec's type, :class:`PartialSpec` or a subclass, never its labels)."""
    if not isinstance(spec, PartialSpec):
        return {}
    best = scn.best_server
    n_s = np.bincount(best, minlength=scn.n_servers).astype(float)[best]
    want = {"uplink_hz": scn.server_uplink_hz[best] / n_s,
            "downlink_hz": scn.server_downlink_hz[best] / n_s,
            "tx_power_w": scn.user_tx_power_w,
            "compute_flops": scn.server_compute_flops[best] / n_s}
    return {"option": (alloc.server != best).astype(float),
            "shares": _worst_deviation(alloc, want)}


def valid_masks(scn: Scenario, alloc: OffloadAllocation, *, forwarding: bool = False
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(bad placement code, bad radio server, remote and valid, edge and valid).

    A remote request's radio is a server index; a local or rejected request uses none, so its
    ``radio_server`` is -1 (as :class:`~aigc_opt.problems.offloading.data.OffloadAllocation`
    documents). Without ``forwarding`` an edge request must use its processing server's
    radio."""
    S = scn.n_servers
    pl, rs = alloc.placement, alloc.radio_server
    remote, edge = (pl != LOCAL) & (pl != REJECT), pl >= 0
    bad_code = ~((pl == LOCAL) | (pl == CLOUD) | (pl == REJECT) | ((pl >= 0) & (pl < S)))
    bad_radio = np.where(remote, ~((rs >= 0) & (rs < S)), rs != -1)
    if not forwarding:
        bad_radio |= edge & (rs != pl)
    return bad_code, bad_radio, remote & ~bad_radio & ~bad_code, edge & ~bad_code


def resource_violations(scn: Scenario, alloc: OffloadAllocation, *, forwarding: bool = False
                        ) -> dict[str, np.ndarray]:
    """Relative violations of the shared resources: radio band, subchannels and backhaul per
    radio server; compute, GPU slots, memory and held models per processing server; cloud
    compute; placement codes and non-negativity."""
    N, S = scn.n_users, scn.n_servers
    pl, rs = alloc.placement, alloc.radio_server
    cloud = pl == CLOUD
    bad_code, bad_radio, ok, okc = valid_masks(scn, alloc, forwarding=forwarding)
    v: dict[str, np.ndarray] = {
        "placement": bad_code.astype(float),
        "radio_server": bad_radio.astype(float),
    }
    rsv = np.where(ok, rs, 0)

    def per(w: np.ndarray) -> np.ndarray:  # sum per radio server
        return np.bincount(rsv, weights=np.where(ok, w, 0.0), minlength=S)

    v["uplink_hz"] = relative_excess(per(alloc.uplink_hz), scn.server_uplink_hz)
    v["downlink_hz"] = relative_excess(per(alloc.downlink_hz), scn.server_downlink_hz)
    v["subchannels"] = relative_excess(per(np.ones(N)), scn.server_subchannels)
    v["backhaul_bps"] = relative_excess(per(np.where(cloud, alloc.backhaul_bps, 0.0)),
                                        scn.server_backhaul_bps)
    plv = np.where(okc, pl, 0)

    def per_e(w: np.ndarray) -> np.ndarray:  # sum per processing (edge) server
        return np.bincount(plv, weights=np.where(okc, w, 0.0), minlength=S)

    v["compute_flops"] = relative_excess(per_e(alloc.compute_flops), scn.server_compute_flops)
    v["gpu_slots"] = relative_excess(per_e(np.ones(N)), scn.server_gpu_slots)
    v["cloud_compute"] = relative_excess(np.where(cloud, alloc.compute_flops, 0.0),
                                         np.full(N, scn.cloud_compute_flops))
    mem = (alloc.cache * scn.model_size_bytes[None, :]).sum(axis=1)
    v["gpu_memory"] = relative_excess(mem, scn.server_gpu_memory_bytes)
    v["model_fits"] = (alloc.cache * misfit(scn.model_size_bytes[None, :],
                                            scn.server_gpu_memory_bytes[:, None])).max(
        axis=1, initial=0.0)
    v["model_cached"] = (okc & ~alloc.cache[plv, scn.request_model]).astype(float)
    neg = np.zeros(N)
    for name in ("uplink_hz", "downlink_hz", "tx_power_w", "compute_flops", "backhaul_bps",
                 "remote_steps", "device_steps", "forward_bps"):
        if hasattr(alloc, name):
            neg = np.maximum(neg, np.maximum(-getattr(alloc, name), 0.0))
    v["nonnegative"] = neg
    return v


# ---------------------------------------------------------------------- multi-cell
def evaluate_multicell(scn: Scenario, alloc: MulticellAllocation, objective: Any = None
                       ) -> Metrics:
    """Metrics of a multi-cell allocation (module docstring); ``objective`` may be the spec,
    whose ``forward_bps`` gives the link capacities (without it they are not checked)."""
    S = scn.n_servers
    _check_fits(scn, alloc)
    fwd = alloc.forwarded
    t_fw = forward_times(scn, alloc)
    extra: dict[str, np.ndarray] = decision_violations(scn, alloc, objective)
    spec_cap = getattr(objective, "forward_bps", None)
    if spec_cap is not None:
        _, _, ok, okc = valid_masks(scn, alloc, forwarding=True)
        okf = fwd & ok & okc
        key = np.where(okf, alloc.radio_server * S + alloc.placement, 0)
        used = np.bincount(key, weights=np.where(okf, alloc.forward_bps, 0.0), minlength=S * S)
        extra["link_capacity"] = relative_excess(used, link_capacity(spec_cap, S).reshape(-1))
    totals = {"frac_forwarded": float(fwd.mean()),
              "link_capacity_checked": float(spec_cap is not None)}
    return offloading_metrics(scn, alloc, objective_of(objective),
                              family="offloading.multicell", forward_s=t_fw,
                              extra_violations=extra, extra_totals=totals,
                              exact_times=isinstance(objective, MulticellSpec))


# ---------------------------------------------------------------------- partial
def evaluate_partial(scn: Scenario, alloc: PartialOffloadAllocation, objective: Any = None
                     ) -> Metrics:
    """Metrics of a partial-offloading allocation (parallel branches, see module docstring)."""
    obj = objective_of(objective)
    N, S = scn.n_users, scn.n_servers
    if alloc.n_users != N:
        raise ValidationError("allocation", "-", f"{alloc.n_users} requests",
                              f"does not fit the scenario's {N} users")
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

    def per(w: np.ndarray) -> np.ndarray:  # sum per edge server
        return np.bincount(sv, weights=np.where(bad, 0.0, w), minlength=S)

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
    v.update(partial_violations(scn, alloc, objective))
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
        "latency_max_s": float(lat.max()),
        "device_energy_total_j": float(e_dev.sum()),
        "server_energy_total_j": float(e_srv.sum()),
        "energy_total_j": float((e_dev + e_srv).sum()),
        "quality_mean": float(q.mean()),
        "fraction_mean": float(lam.mean()),
    }
    return Metrics.from_arrays("offloading.partial", float(cost.sum()), per_item, totals, v,
                               hard)


register_evaluator(OffloadAllocation, evaluate_offloading)
register_evaluator(MulticellAllocation, evaluate_multicell)
register_evaluator(PartialOffloadAllocation, evaluate_partial)
