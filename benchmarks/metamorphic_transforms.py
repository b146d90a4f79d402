"""Metamorphic transforms per family: relabelings, unit changes and neutral additions.

Every transform maps ``(instance, spec)`` to ``(instance2, spec2, factor)``, where ``factor`` is
the expected ratio ``objective(instance2, spec2) / objective(instance, spec)`` of the optimum.
The families are those of :data:`aigc_opt.benchmarks.certify_bench.FAMILIES`; the relations
(checked by :mod:`aigc_opt.benchmarks.metamorphic_bench`) are:

``permutation`` (factor 1)
    Reorder the axes that are unordered sets (users, servers, models, bidders, ...), with
    every index field remapped. Not defined for ``incentives.contract`` (types are sorted by
    theta) and for the tasks of ``agod.selection`` (ordered by arrival).
``unit:<group>`` (factor 1, or ``c`` for the objective's own unit)
    Multiply one physical unit by ``c`` in every field that carries it, SI units throughout:

    * ``memory``: GPU memory, model and KV bytes, load rates (B/s) x c -> 1 (caching also
      divides the ``backhaul`` weight, priced per GB of model bytes, by c);
    * ``data``: bits, Hz, bit/s x c and noise PSD (W/Hz) / c -> 1 (multicell ``forward_bps``);
    * ``compute``: FLOP and FLOP/s x c, ``user_kappa`` x c**-3, J/FLOP and money/FLOP / c -> 1;
    * ``state`` (migration): state bytes x c, J/(byte hop) / c -> 1; ``energy``: every J field
      and the J budget x c -> 1;
    * ``power``: W fields and noise PSD x c (joint_bp: ``energy_weight`` / c) -> 1, or c
      for ``allocation.power`` in ``min_power`` mode; ``bandwidth`` (power): Hz and rate
      targets x c, PSD / c -> c in ``sum_rate`` mode, 1 in ``min_power`` mode;
    * ``objective`` / ``weight`` / ``weights`` / ``money``: every objective weight (or
      valuation, budget, cost) x c -> c (``weight`` of ``allocation.power``: 1 in min_power);
    * ``level`` (contract): gamma1 / c (linear cost, / c**2 quadratic), gamma3 / c,
      level_max x c -> 1.
``duplicate`` (factor 2)
    Two copies of every user with doubled shared capacities (power, bandwidth_compute).
``sparse_storage``, ``sparse_permutation`` (factor 1)
    :meth:`aigc_opt.scenario.Scenario.sparse`, alone and followed by a permutation.
``unused_model``, ``zero_bidder`` (factor 1)
    A model no request asks for; a bidder who values nothing.

Online frames (Lyapunov constants in the spec), AGOD (reward-curve shape) and life-cycle
physics (derived fields) have no unit relation; time units are not rescaled.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from aigc_opt.benchmarks.certify_bench import _OBJECTIVE_FIELDS

#: ``(instance2, spec2, expected objective factor)``
Transformed = tuple[Any, Any, float]
Perm = Callable[[Any, Any, np.random.Generator], Transformed]
Unit = Callable[[Any, Any, float], Transformed]
Extra = Callable[[Any, Any], Transformed]


@dataclass(frozen=True)
class Relation:
    """One metamorphic relation applied to one base case.

    Attributes
    ----------
    name : str
        ``permutation``, ``unit:<group>``, ``duplicate``, ... (see the module docstring).
    apply : Callable
        ``apply(instance, spec) -> (instance2, spec2, factor)``.
    c : float or None
        The unit factor of a ``unit:`` relation.
    all_methods : bool
        Compare heuristics too (only the ``determinism`` relation, same seed both sides).
    """

    name: str
    apply: Callable[[Any, Any], Transformed]
    c: float | None = None
    all_methods: bool = False


def _rep(inst: Any, **changes: Any) -> Any:
    rep = getattr(inst, "replace", None)
    return rep(**changes) if callable(rep) else dataclasses.replace(inst, **changes)


def _arrays(inst: Any) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for f in dataclasses.fields(inst):
        v = getattr(inst, f.name)
        if isinstance(v, np.ndarray):
            out[f.name] = v
    return out


def _inv(p: np.ndarray) -> np.ndarray:
    inv = np.empty_like(p)
    inv[p] = np.arange(len(p))
    return inv


def _remap(idx: Any, inv: np.ndarray) -> np.ndarray:
    """Index values into the old order -> into the new order (negative padding kept)."""
    arr = np.asarray(idx)
    out = arr.copy()
    ok = arr >= 0
    out[ok] = inv[arr[ok]]
    return out


def _take(a: Any, p: np.ndarray, axis: int = 0) -> np.ndarray:
    return np.take(np.asarray(a), p, axis=axis)


# ------------------------------------------------------------------ permutations
def perm_scenario(inst: Any, spec: Any, rng: np.random.Generator) -> Transformed:
    """Scenario families: users (``user_*``, ``request_*``), servers, models."""
    if getattr(spec, "candidate_servers", None) is not None:
        raise NotImplementedError("candidate_servers set")
    pu = rng.permutation(inst.n_users)
    ps, pm = rng.permutation(inst.n_servers), rng.permutation(inst.n_models)
    inv_s, inv_m = _inv(ps), _inv(pm)
    ch: dict[str, Any] = {}
    for name, v in _arrays(inst).items():
        if name.startswith(("user_", "request_")):
            ch[name] = _take(v, pu)
        elif name.startswith("server_"):
            ch[name] = _take(v, ps)
        elif name.startswith("model_"):
            ch[name] = _take(v, pm)
    ch["request_model"] = _remap(ch["request_model"], inv_m)
    if inst.link_server is not None:
        ls = _remap(_take(inst.link_server, pu), inv_s)
        lg = _take(inst.link_gain, pu)
        order = np.argsort(ls, axis=1)  # links stay strictly increasing per user
        ch["link_server"] = np.take_along_axis(ls, order, axis=1)
        ch["link_gain"] = np.take_along_axis(lg, order, axis=1)
    else:
        ch["channel_gain"] = _take(_take(inst.channel_gain, pu, 0), ps, 1)
    return _rep(inst, **ch), spec, 1.0


def perm_users(inst: Any, spec: Any, rng: np.random.Generator) -> Transformed:
    """Power and joint bandwidth-power: every array is per user."""
    p = rng.permutation(len(inst.gain))
    return _rep(inst, **{f: _take(v, p) for f, v in _arrays(inst).items()}), spec, 1.0


def perm_bandwidth(inst: Any, spec: Any, rng: np.random.Generator) -> Transformed:
    """Bandwidth-compute: users and servers (``server`` remapped)."""
    pu, ps = rng.permutation(len(inst.server)), rng.permutation(len(inst.bandwidth_hz))
    ch = {f: _take(getattr(inst, f), pu) for f in
          ("server", "data_bits", "spectral_eff", "workload_flop", "weight", "min_rate_bps",
           "deadline_s")}
    ch["server"] = _remap(ch["server"], _inv(ps))
    ch["bandwidth_hz"] = _take(inst.bandwidth_hz, ps)
    ch["compute_flops"] = _take(inst.compute_flops, ps)
    return _rep(inst, **ch), spec, 1.0


def perm_llm(inst: Any, spec: Any, rng: np.random.Generator) -> Transformed:
    """LLM tokens: requests (with the ``quality_*`` rows and per-request KV bytes)."""
    if getattr(spec, "epsilon", ()):
        raise NotImplementedError("epsilon rows")
    n = len(inst.weight)
    p = rng.permutation(n)
    ch = {}
    for f in ("prompt_tokens", "max_tokens", "weight", "deadline_s", "quality_tokens",
              "quality_values", "kv_bytes_per_token"):
        v = getattr(inst, f)
        if isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == n:
            ch[f] = _take(v, p)
    return _rep(inst, **ch), spec, 1.0


def perm_caching(inst: Any, spec: Any, rng: np.random.Generator) -> Transformed:
    """Caching: servers (``requests`` axis 1, latency both axes) and models."""
    _, n_s, n_m = inst.requests.shape
    ps, pm = rng.permutation(n_s), rng.permutation(n_m)
    ch = {
        "requests": inst.requests[:, ps][:, :, pm],
        "server_latency_s": inst.server_latency_s[np.ix_(ps, ps)],
        "initial_cache": inst.initial_cache[np.ix_(ps, pm)],
    }
    for f in ("server_gpu_memory_bytes", "server_load_bps", "server_compute_flops"):
        ch[f] = _take(getattr(inst, f), ps)
    for f in ("model_size_bytes", "model_flop_per_request", "model_cloud_accuracy",
              "context_accuracy"):
        ch[f] = _take(getattr(inst, f), pm)
    return _rep(inst, **ch), spec, 1.0


def perm_stackelberg(inst: Any, spec: Any, rng: np.random.Generator) -> Transformed:
    p = rng.permutation(len(inst.valuation))
    return _rep(inst, valuation=_take(inst.valuation, p), budget=_take(inst.budget, p)), spec, 1.0


def perm_auction(inst: Any, spec: Any, rng: np.random.Generator) -> Transformed:
    n, s, _ = inst.values.shape
    pn, ps = rng.permutation(n), rng.permutation(s)
    return _rep(inst, values=inst.values[pn][:, ps], capacity=_take(inst.capacity, ps)), spec, 1.0


def perm_wpmec(inst: Any, spec: Any, rng: np.random.Generator) -> Transformed:
    p = rng.permutation(len(inst.gains))
    return _rep(inst, gains=_take(inst.gains, p), weights=_take(inst.weights, p)), spec, 1.0


def perm_frame(inst: Any, spec: Any, rng: np.random.Generator) -> Transformed:
    """Online frame: users; ``weights=None`` (index-based weights) made explicit first."""
    p = rng.permutation(len(inst.gains))
    w = spec.weights_for(len(inst.gains))[p]
    spec2 = dataclasses.replace(spec, weights=tuple(float(x) for x in w))
    return _rep(inst, gains=_take(inst.gains, p), queues_bits=_take(inst.queues_bits, p),
                virtual_queues=_take(inst.virtual_queues, p)), spec2, 1.0


def perm_migration(inst: Any, spec: Any, rng: np.random.Generator) -> Transformed:
    """Migration: users (T x U arrays on axis 1), servers (hops both axes), models."""
    n_u = inst.user_cell.shape[1]
    n_s, n_m = len(inst.server_flops), len(inst.model_memory_bytes)
    pu, ps, pm = rng.permutation(n_u), rng.permutation(n_s), rng.permutation(n_m)
    inv_s, inv_m = _inv(ps), _inv(pm)
    ch = {
        "server_hops": inst.server_hops[np.ix_(ps, ps)],
        "server_flops": _take(inst.server_flops, ps),
        "server_gpu_memory_bytes": _take(inst.server_gpu_memory_bytes, ps),
        "user_cell": _remap(inst.user_cell[:, pu], inv_s),
        "access_s": inst.access_s[:, pu],
        "user_model": _remap(_take(inst.user_model, pu), inv_m),
        "user_state_bytes": _take(inst.user_state_bytes, pu),
        "model_memory_bytes": _take(inst.model_memory_bytes, pm),
        "model_flop_per_step": _take(inst.model_flop_per_step, pm),
        "quality": _take(inst.quality, pm),
        "initial_server": _remap(_take(inst.initial_server, pu), inv_s),
    }
    if inst.server_xy_m is not None:
        ch["server_xy_m"] = _take(inst.server_xy_m, ps)
    if inst.user_xy_m is not None:
        ch["user_xy_m"] = inst.user_xy_m[:, pu]
    if getattr(inst, "user_requests", None) is not None:
        ch["user_requests"] = _take(inst.user_requests, pu)
    return _rep(inst, **ch), spec, 1.0


def perm_iscc(inst: Any, spec: Any, rng: np.random.Generator) -> Transformed:
    """ISCC: tasks, sites (the cloud stays last in ``gpu_flops``/``hosted``), models."""
    n_s = len(inst.site_rbs)
    pt = rng.permutation(len(inst.task_weight))
    ps, pm = rng.permutation(n_s), rng.permutation(len(inst.model_class))
    ch = {f: _take(v, pt) for f, v in _arrays(inst).items() if f.startswith(("task_", "link_"))}
    ch["link_site"] = _remap(ch["link_site"], _inv(ps))
    for f in ("site_sensing_units", "site_rbs", "site_gpus"):
        ch[f] = _take(getattr(inst, f), ps)
    ps1 = np.append(ps, n_s)
    ch["gpu_flops"] = _take(inst.gpu_flops, ps1)
    ch["hosted"] = inst.hosted[ps1][:, pm]
    for f in ("model_class", "model_quality", "model_flop_factor"):
        ch[f] = _take(getattr(inst, f), pm)
    return _rep(inst, **ch), spec, 1.0


def perm_lifecycle(inst: Any, spec: Any, rng: np.random.Generator) -> Transformed:
    """Life-cycle: services and regions (``node_region`` remapped)."""
    _, n_s, n_u = inst.demand_rps.shape
    ps, pu = rng.permutation(n_s), rng.permutation(n_u)
    ch = {
        "demand_rps": inst.demand_rps[:, ps][:, :, pu],
        "data_tokens": inst.data_tokens[np.ix_(ps, pu)],
        "node_region": _remap(inst.node_region, _inv(pu)),
        "link_latency_s": _take(inst.link_latency_s, pu),
        "link_bandwidth_bps": _take(inst.link_bandwidth_bps, pu),
    }
    for f in ("service_tokens", "service_request_bits", "service_allowed", "quality_table"):
        ch[f] = _take(getattr(inst, f), ps)
    return _rep(inst, **ch), spec, 1.0


def perm_agod(inst: Any, spec: Any, rng: np.random.Generator) -> Transformed:
    """AGOD: providers only (tasks are ordered by arrival)."""
    p = rng.permutation(len(inst.provider_capacity))
    return _rep(inst, provider_capacity=_take(inst.provider_capacity, p),
                provider_reward=_take(inst.provider_reward, p)), spec, 1.0


_SCN = ("offloading.assignment", "offloading.partial", "offloading.multicell",
        "offloading.joint", "allocation.steps", "allocation.hybrid_steps")

#: family -> its permutation transform.
PERMUTATIONS: dict[str, Perm] = {
    **{f: perm_scenario for f in _SCN},
    "allocation.power": perm_users, "allocation.joint_bp": perm_users,
    "allocation.bandwidth_compute": perm_bandwidth, "allocation.llm_tokens": perm_llm,
    "caching.offline": perm_caching, "caching.compute": perm_caching,
    "incentives.stackelberg": perm_stackelberg, "incentives.auction": perm_auction,
    "wpmec.binary": perm_wpmec, "online.frame": perm_frame,
    "migration.offline": perm_migration, "iscc.matching": perm_iscc,
    "lifecycle.placement": perm_lifecycle, "agod.selection": perm_agod,
}


# ------------------------------------------------------------------ unit changes
def scale_fields(inst: Any, c: float, powers: Mapping[str, float]) -> Any:
    """``inst`` with each field ``f`` multiplied by ``c ** powers[f]`` (integers to float)."""
    ch: dict[str, Any] = {}
    for f, e in powers.items():
        v = getattr(inst, f)
        k = c ** e
        if isinstance(v, np.ndarray) and v.dtype.kind in "iu":
            ch[f] = v.astype(np.float64) * k
        else:
            ch[f] = v * k
    return _rep(inst, **ch) if ch else inst


def _fields_unit(powers: Mapping[str, float], factor: Callable[[Any, float], float] | None = None,
                 spec_fn: Callable[[Any, float], Any] | None = None) -> Unit:
    def apply(inst: Any, spec: Any, c: float) -> Transformed:
        spec2 = spec_fn(spec, c) if spec_fn is not None else spec
        return scale_fields(inst, c, powers), spec2, (factor(spec, c) if factor else 1.0)
    return apply


def _by_c(spec: Any, c: float) -> float:
    return c


def _objective_weights(inst: Any, spec: Any, c: float) -> Transformed:
    obj = spec.objective
    names = _OBJECTIVE_FIELDS[type(obj).__name__]
    new = dataclasses.replace(obj, **{n: getattr(obj, n) * c for n in names})
    return inst, dataclasses.replace(spec, objective=new), c


def _all_weights(inst: Any, spec: Any, c: float) -> Transformed:
    w = spec.weights
    new = dataclasses.replace(w, **{f.name: getattr(w, f.name) * c
                                    for f in dataclasses.fields(w)})
    return inst, dataclasses.replace(spec, weights=new), c


def _forward_bps(spec: Any, c: float) -> Any:
    return dataclasses.replace(spec, forward_bps=spec.forward_bps * c)


def _backhaul_per_byte(spec: Any, c: float) -> Any:
    obj = dataclasses.replace(spec.objective, backhaul=spec.objective.backhaul / c)
    return dataclasses.replace(spec, objective=obj)


def _sum_rate(yes: bool) -> Callable[[Any, float], float]:
    def factor(spec: Any, c: float) -> float:
        return c if (spec.mode == "sum_rate") == yes else 1.0
    return factor


def _contract_money(inst: Any, spec: Any, c: float) -> Transformed:
    if spec.valuation != "linear":
        raise NotImplementedError("money scaling needs the linear valuation")
    return _rep(inst, theta=inst.theta / c, sigma=inst.sigma * c), spec, c


def _contract_level(inst: Any, spec: Any, c: float) -> Transformed:
    k = 1.0 / c if spec.cost == "linear" else 1.0 / (c * c)
    ch = {"gamma1": inst.gamma1 * k, "gamma3": inst.gamma3 / c}
    if np.isfinite(inst.level_max):
        ch["level_max"] = inst.level_max * c
    return _rep(inst, **ch), spec, 1.0


_SCN_DATA = {"request_input_bits": 1, "request_output_bits": 1, "server_uplink_hz": 1,
             "server_downlink_hz": 1, "noise_psd_w_per_hz": -1, "server_backhaul_bps": 1}
_SCN_COMPUTE = {"user_compute_flops": 1, "server_compute_flops": 1, "cloud_compute_flops": 1,
                "model_flop_per_step": 1, "user_kappa": -3, "server_energy_per_flop_j": -1,
                "cloud_energy_per_flop_j": -1, "cloud_cost_per_flop": -1}
_MEMORY = {"server_gpu_memory_bytes": 1, "model_size_bytes": 1, "server_load_bps": 1}


def unit_groups(family: str) -> dict[str, Unit]:
    """The unit changes of ``family``: group name -> ``fn(instance, spec, c)``."""
    if family in _SCN:
        return {
            "memory": _fields_unit(_MEMORY),
            "data": _fields_unit(_SCN_DATA, spec_fn=_forward_bps
                                 if family == "offloading.multicell" else None),
            "compute": _fields_unit(_SCN_COMPUTE),
            "objective": _objective_weights,
        }
    if family.startswith("caching."):
        return {
            "memory": _fields_unit(_MEMORY, spec_fn=_backhaul_per_byte),
            "compute": _fields_unit({"server_compute_flops": 1, "cloud_compute_flops": 1,
                                     "model_flop_per_request": 1, "cloud_cost_per_flop": -1}),
            "objective": _objective_weights,
        }
    table: dict[str, dict[str, Unit]] = {
        "allocation.power": {
            "bandwidth": _fields_unit({"bandwidth_hz": 1, "noise_psd_w_per_hz": -1,
                                       "rate_target_bps": 1}, factor=_sum_rate(True)),
            "power": _fields_unit({"total_power_w": 1, "max_power_w": 1,
                                   "noise_psd_w_per_hz": 1}, factor=_sum_rate(False)),
            "weight": _fields_unit({"weight": 1}, factor=_sum_rate(True)),
        },
        "allocation.bandwidth_compute": {
            "data": _fields_unit({"data_bits": 1, "bandwidth_hz": 1, "min_rate_bps": 1}),
            "compute": _fields_unit({"workload_flop": 1, "compute_flops": 1}),
            "weight": _fields_unit({"weight": 1}, factor=_by_c),
        },
        "allocation.joint_bp": {
            "data": _fields_unit({"data_bits": 1, "bandwidth_hz": 1, "noise_psd_w_per_hz": -1}),
            "power": _fields_unit({"max_power_w": 1, "noise_psd_w_per_hz": 1},
                                  spec_fn=lambda sp, c: dataclasses.replace(
                                      sp, energy_weight=sp.energy_weight / c)),
            "weight": _fields_unit({"weight": 1}, factor=_by_c),
        },
        "allocation.llm_tokens": {
            "memory": _fields_unit({"gpu_memory_bytes": 1, "model_bytes": 1,
                                    "kv_bytes_per_token": 1}),
            "compute": _fields_unit({"compute_flops": 1, "flop_per_token": 1,
                                     "energy_per_flop_j": -1}),
            "objective": _objective_weights,
        },
        "incentives.contract": {"money": _contract_money, "level": _contract_level},
        "incentives.stackelberg": {
            "money": _fields_unit({"valuation": 1, "budget": 1, "unit_cost": 1}, factor=_by_c)},
        "incentives.auction": {"money": _fields_unit({"values": 1}, factor=_by_c)},
        "wpmec.binary": {"weight": _fields_unit({"weights": 1}, factor=_by_c)},
        "migration.offline": {
            "memory": _fields_unit({"model_memory_bytes": 1, "server_gpu_memory_bytes": 1}),
            "state": _fields_unit({"user_state_bytes": 1, "migration_j_per_byte_hop": -1}),
            "compute": _fields_unit({"model_flop_per_step": 1, "server_flops": 1}),
            "energy": _fields_unit({"migration_fixed_j": 1, "migration_j_per_byte_hop": 1},
                                   spec_fn=lambda sp, c: dataclasses.replace(
                                       sp, budget_j=sp.budget_j * c)),
            "weights": _all_weights,
        },
        "iscc.matching": {
            "data": _fields_unit({"task_data_bits": 1, "link_rate_per_rb_bps": 1}),
            "compute": _fields_unit({"task_workload_flop": 1, "gpu_flops": 1}),
            "weight": _fields_unit({"task_weight": 1}, factor=_by_c),
        },
        "lifecycle.placement": {"weights": _all_weights},
    }
    return table.get(family, {})


# ------------------------------------------------------------------ neutral additions
def dup_power(inst: Any, spec: Any) -> Transformed:
    """Every user twice, total power doubled: the optimum doubles."""
    ch = {f: np.concatenate([v, v]) for f, v in _arrays(inst).items()}
    ch["total_power_w"] = inst.total_power_w * 2
    return _rep(inst, **ch), spec, 2.0


def dup_bandwidth(inst: Any, spec: Any) -> Transformed:
    """Every user twice, server bandwidth and FLOP/s doubled: the optimum doubles."""
    ch = {f: np.concatenate([getattr(inst, f)] * 2) for f in
          ("server", "data_bits", "spectral_eff", "workload_flop", "weight", "min_rate_bps",
           "deadline_s")}
    ch["bandwidth_hz"] = inst.bandwidth_hz * 2
    ch["compute_flops"] = inst.compute_flops * 2
    return _rep(inst, **ch), spec, 2.0


def to_sparse(inst: Any, spec: Any) -> Transformed:
    return inst.sparse(), spec, 1.0


def sparse_perm(inst: Any, spec: Any) -> Transformed:
    return perm_scenario(inst.sparse(), spec, np.random.default_rng(777))


def _app(a: Any, axis: int = 0, value: Any = None) -> np.ndarray:
    arr = np.asarray(a)
    extra = np.take(arr, [0], axis=axis)
    if value is not None:
        extra = np.full_like(extra, value)
    return np.concatenate([arr, extra], axis=axis)


def add_model_scenario(inst: Any, spec: Any) -> Transformed:
    """A copy of model 0 that no request asks for."""
    ch = {f: _app(v) for f, v in _arrays(inst).items() if f.startswith("model_")}
    return _rep(inst, **ch), spec, 1.0


def add_model_caching(inst: Any, spec: Any) -> Transformed:
    ch = {"requests": _app(inst.requests, axis=2, value=0.0),
          "initial_cache": _app(inst.initial_cache, axis=1, value=False)}
    for f in ("model_size_bytes", "model_flop_per_request", "model_cloud_accuracy",
              "context_accuracy"):
        ch[f] = _app(getattr(inst, f))
    return _rep(inst, **ch), spec, 1.0


def add_model_migration(inst: Any, spec: Any) -> Transformed:
    ch = {f: _app(getattr(inst, f))
          for f in ("model_memory_bytes", "model_flop_per_step", "quality")}
    return _rep(inst, **ch), spec, 1.0


def add_bidder_auction(inst: Any, spec: Any) -> Transformed:
    return _rep(inst, values=_app(inst.values, value=0.0)), spec, 1.0


#: family -> {relation name: fn(instance, spec)}.
EXTRA: dict[str, dict[str, Extra]] = {
    **{f: {"sparse_storage": to_sparse, "sparse_permutation": sparse_perm,
           "unused_model": add_model_scenario} for f in _SCN},
    "allocation.power": {"duplicate": dup_power},
    "allocation.bandwidth_compute": {"duplicate": dup_bandwidth},
    "caching.offline": {"unused_model": add_model_caching},
    "caching.compute": {"unused_model": add_model_caching},
    "migration.offline": {"unused_model": add_model_migration},
    "incentives.auction": {"zero_bidder": add_bidder_auction},
}

#: Unit factors of the default run (small, odd, large).
DEFAULT_CS = (1e-3, 7.3, 1e4)


def _identity(inst: Any, spec: Any) -> Transformed:
    return inst, spec, 1.0


def _seeded(perm: Perm, seed: int) -> Callable[[Any, Any], Transformed]:
    def apply(inst: Any, spec: Any) -> Transformed:
        return perm(inst, spec, np.random.default_rng(seed))
    return apply


def _at(unit: Unit, c: float) -> Callable[[Any, Any], Transformed]:
    def apply(inst: Any, spec: Any) -> Transformed:
        return unit(inst, spec, c)
    return apply


def relations(family: str, seed: int, cs: tuple[float, ...] = DEFAULT_CS) -> list[Relation]:
    """Every relation of ``family`` for base seed ``seed``, in run order.

    ``determinism`` (the same case twice, heuristics included, factor 1), ``permutation``
    (seeded by ``10_000 + seed``), one ``unit:<group>`` per group and ``c`` in ``cs``, then
    the family's :data:`EXTRA` relations.
    """
    out = [Relation("determinism", _identity, all_methods=True)]
    perm = PERMUTATIONS.get(family)
    if perm is not None:
        out.append(Relation("permutation", _seeded(perm, 10_000 + seed)))
    for group, fn in unit_groups(family).items():
        out += [Relation(f"unit:{group}", _at(fn, c), c=c) for c in cs]
    for name, extra in EXTRA.get(family, {}).items():
        out.append(Relation(name, extra))
    return out
