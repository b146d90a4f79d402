r"""Deployment sizing data: catalogue, instance, spec, plan and the sized scenarios.

The sizing problem buys capacity at every edge site (server) ``s`` of the offloading
:class:`~aigc_opt.scenario.Scenario` so that the offloading assignment of every demand scenario
``d`` (peak, average, one site down ...) is feasible with hard deadlines, at minimum cost:

* GPUs: at most one GPU type ``g`` per site, ``k_s`` GPUs of it (``0 <= k_s <= kmax_g``). Every
  GPU is one slot of the equal-share model of the offloading family: the site has
  ``G_s = k_s`` slots, ``F_s = k_s F_g`` FLOP/s and ``Mem_s = k_s mem_g`` bytes.
* Radio: exactly one bandwidth option ``b`` per site (``B^up_b``, ``B^dl_b`` Hz, ``K_b``
  subchannels).
* Cost ``sum_s (c_g k_s + c_b)`` (money units of the catalogue).

Demand scenarios share the servers and the model catalogue; users and requests may differ. A
site that is down in a demand scenario is written as that scenario with the site's channel gains
at :data:`DOWN_GAIN` (:func:`site_down`): no request can reach it in time, and nothing else has
to know about it.

A site with no GPU cannot be written as a :class:`Scenario` (slots >= 1, compute > 0); the
sized scenario of :func:`sized_scenario` gives it one phantom slot of :data:`PHANTOM_FLOPS`
FLOP/s and no memory, and the sizing referee flags any request placed there
(``unbuilt_site``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aigc_opt.errors import ValidationError
from aigc_opt.problems.offloading.data import OffloadAllocation, OffloadObjective
from aigc_opt.scenario import Scenario
from aigc_opt.schema import bound, check_floor
from aigc_opt.spec import ProblemSpec
from aigc_opt.validate import check_array, check_bool, check_int, check_scalar, check_type

#: Channel gain of every user towards a site that is down (linear, far below any real link).
DOWN_GAIN = 1e-30
#: Compute speed of the phantom slot of a site without GPUs, FLOP/s.
PHANTOM_FLOPS = 1.0


def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not name:
        raise ValidationError(what, "-", name, "must be a non-empty string")
    return name


@dataclass(frozen=True)
class GpuOption:
    """One GPU type of the catalogue.

    Parameters
    ----------
    name : str
        Label (e.g. ``"L4"``).
    cost : float
        Price of one GPU, money units.
    flops : float
        Compute speed of one GPU (one slot of the equal-share model), FLOP/s.
    memory_bytes : float
        GPU memory of one GPU, byte.
    max_count : int
        Most GPUs of this type one site can hold.
    """

    name: str
    cost: float
    flops: float
    memory_bytes: float
    max_count: int = 4

    def __post_init__(self) -> None:
        _check_name(self.name, "gpu.name")
        object.__setattr__(self, "cost", check_scalar("gpu.cost", self.cost, "money", 0.0,
                                                      bound("money")))
        object.__setattr__(self, "flops", check_scalar("gpu.flops", self.flops, "FLOP/s", 0.0,
                                                       bound("flops"), strict=True))
        object.__setattr__(self, "memory_bytes", check_scalar(
            "gpu.memory_bytes", self.memory_bytes, "byte", 0.0, bound("bytes")))
        check_floor("gpu.flops", "FLOP/s", self.flops, "flops")
        check_floor("gpu.memory_bytes", "byte", self.memory_bytes, "bytes", zero_ok=True)
        object.__setattr__(self, "max_count", check_int("gpu.max_count", self.max_count, "-",
                                                        0, int(bound("count"))))


@dataclass(frozen=True)
class RadioOption:
    """One bandwidth option of the catalogue (uplink, downlink and subchannels of a site).

    Parameters
    ----------
    name : str
        Label.
    cost : float
        Price, money units.
    uplink_hz, downlink_hz : float
        Uplink / downlink bandwidth, Hz.
    subchannels : int
        Orthogonal subchannels (each offloaded request takes one, with ``B / K`` Hz).
    """

    name: str
    cost: float
    uplink_hz: float
    downlink_hz: float
    subchannels: int

    def __post_init__(self) -> None:
        _check_name(self.name, "radio.name")
        object.__setattr__(self, "cost", check_scalar("radio.cost", self.cost, "money", 0.0,
                                                      bound("money")))
        for nm in ("uplink_hz", "downlink_hz"):
            object.__setattr__(self, nm, check_scalar(f"radio.{nm}", getattr(self, nm), "Hz",
                                                      0.0, bound("hz"), strict=True))
            check_floor(f"radio.{nm}", "Hz", getattr(self, nm), "hz")
        object.__setattr__(self, "subchannels", check_int(
            "radio.subchannels", self.subchannels, "-", 1, int(bound("count"))))


def _as_tuple(value: Any) -> tuple[Any, ...] | None:
    """``value`` as a tuple if it is a list, tuple or 1-d array (of objects), else None."""
    if isinstance(value, (list, tuple)):
        return tuple(value)
    if isinstance(value, np.ndarray) and value.ndim == 1:
        return tuple(value.tolist())
    return None


@dataclass(frozen=True, eq=False)
class SizingInstance:
    """Demand scenarios and the capacity catalogue.

    Parameters
    ----------
    demands : tuple of Scenario
        Demand scenarios (the same number of servers and models; users, and each model's size,
        may differ: every demand is sized with its own models). Their own capacity fields
        (compute, slots, memory, bandwidth, subchannels) are ignored: the plan sets them.
    gpus : sequence of GpuOption
        GPU types (at most one type per site); a list, tuple or 1-d array, stored as a tuple.
        Names must be distinct (they label the plan, its binding rows and drivers).
    radios : sequence of RadioOption
        Bandwidth options (exactly one per site); as ``gpus``, with distinct names.
    names : tuple of str
        Demand scenario names (default ``"d0", "d1", ...``).
    """

    demands: tuple[Scenario, ...]
    gpus: tuple[GpuOption, ...]
    radios: tuple[RadioOption, ...]
    names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        demands = tuple(self.demands) if isinstance(self.demands, (list, tuple)) \
            else (self.demands,)
        if not demands:
            raise ValidationError("demands", "-", demands, "needs at least one demand scenario")
        for i, d in enumerate(demands):
            check_type(f"demands[{i}]", d, Scenario)
        S, M = demands[0].n_servers, demands[0].n_models
        for i, d in enumerate(demands):
            if d.n_servers != S or d.n_models != M:
                raise ValidationError(f"demands[{i}]", "-", (d.n_servers, d.n_models),
                                      f"must have the servers and models of demands[0] ({S}, {M})")
        catalogue: dict[str, tuple[Any, ...]] = {}
        for what, value, typ in (("gpus", self.gpus, GpuOption),
                                 ("radios", self.radios, RadioOption)):
            opts = _as_tuple(value)
            if opts is None:
                raise ValidationError(what, "-", type(value).__name__,
                                      f"must be a sequence (list, tuple, 1-d array) of "
                                      f"{typ.__name__}")
            if not opts:
                raise ValidationError(what, "-", opts, "needs at least one option")
            for i, o in enumerate(opts):
                check_type(f"{what}[{i}]", o, typ)
            first: dict[str, int] = {}
            for i, o in enumerate(opts):
                if o.name in first:
                    raise ValidationError(f"{what}[{i}].name", "-", o.name,
                                          f"duplicates {what}[{first[o.name]}].name; option "
                                          f"names must be distinct")
                first[o.name] = i
            catalogue[what] = opts
        if not isinstance(self.names, (list, tuple)):
            raise ValidationError("names", "-", self.names,
                                  "must be a tuple of demand names (strings)")
        names = tuple(self.names) or tuple(f"d{i}" for i in range(len(demands)))
        if len(names) != len(demands) or len(set(names)) != len(names):
            raise ValidationError("names", "-", names,
                                  f"must be {len(demands)} distinct demand names")
        for nm in names:
            _check_name(nm, "names")
        object.__setattr__(self, "demands", demands)
        object.__setattr__(self, "gpus", catalogue["gpus"])
        object.__setattr__(self, "radios", catalogue["radios"])
        object.__setattr__(self, "names", names)

    @property
    def n_sites(self) -> int:
        """Number of sites S (the scenarios' servers)."""
        return int(self.demands[0].n_servers)

    @property
    def n_models(self) -> int:
        """Number of models M."""
        return int(self.demands[0].n_models)


@dataclass(frozen=True)
class SizingSpec(ProblemSpec):
    """Minimum-cost capacity with feasible offloading in every demand scenario.

    Parameters
    ----------
    objective : OffloadObjective
        Offloading weights used to score the per-scenario assignments (reported only; the sizing
        objective is the capacity cost). ``deadline`` must be ``"hard"``: deadlines are QoS
        targets.
    allow_local, allow_cloud : bool
        Whether device / cloud execution are options (as in the offloading spec).
    min_quality : float or None
        Quality target: every request's output quality ``Q_n >= min_quality`` (None: none).
    problem, variant : str
        Family and variant name (:class:`aigc_opt.ProblemSpec`): labels; keep the defaults.
    """

    objective: OffloadObjective = field(default_factory=OffloadObjective)
    allow_local: bool = True
    allow_cloud: bool = True
    min_quality: float | None = None
    problem: str = "sizing"
    variant: str = "capacity"

    instance_type = SizingInstance

    def __post_init__(self) -> None:
        check_type("objective", self.objective, OffloadObjective)
        if self.objective.deadline != "hard":
            raise ValidationError("objective.deadline", "-", self.objective.deadline,
                                  "must be 'hard' for sizing (deadlines are QoS targets)")
        for nm in ("allow_local", "allow_cloud"):
            object.__setattr__(self, nm, check_bool(nm, getattr(self, nm)))
        object.__setattr__(self, "min_quality", check_scalar(
            "min_quality", self.min_quality, "-", -bound("quality"), bound("quality"),
            optional=True))


@dataclass(frozen=True, eq=False)
class SizingPlan:
    """Capacity per site and the offloading assignment of every demand scenario.

    Parameters
    ----------
    gpu_type : ndarray of int, shape (S,)
        Index into ``instance.gpus`` (-1: no GPU at the site).
    gpu_count : ndarray of int, shape (S,)
        GPUs bought at each site (0 when ``gpu_type`` is -1).
    radio : ndarray of int, shape (S,)
        Index into ``instance.radios``.
    assignments : tuple of OffloadAllocation
        One per demand scenario, in the instance's order.
    binding : tuple of str
        Capacity constraints that are tight at the plan (filled by the MILP decoder: row
        activities equal to the capacity bought), e.g. ``"gpu_slots at site 1 in peak"``.
    drivers : tuple of str
        Why each built site has its GPU count (filled by the MILP decoder from the plan's
        assignment, :func:`~aigc_opt.problems.sizing.milp.capacity_drivers`), e.g.
        ``"site 0: 3 x L4 forced by memory[peak] (27.33 GB of models; ...)"``.
    """

    gpu_type: np.ndarray
    gpu_count: np.ndarray
    radio: np.ndarray
    assignments: tuple[OffloadAllocation, ...]
    binding: tuple[str, ...] = ()
    drivers: tuple[str, ...] = ()

    instance_type = SizingInstance

    def __post_init__(self) -> None:
        t = check_array("gpu_type", "-", self.gpu_type, ndim=1, dtype=np.int64, low=-1)
        S = t.shape[0]
        object.__setattr__(self, "gpu_type", t)
        object.__setattr__(self, "gpu_count", check_array(
            "gpu_count", "-", self.gpu_count, (S,), dtype=np.int64, low=0, high=bound("count")))
        object.__setattr__(self, "radio", check_array("radio", "-", self.radio, (S,),
                                                      dtype=np.int64, low=0))
        if not isinstance(self.assignments, (list, tuple)):
            raise ValidationError("assignments", "-", type(self.assignments).__name__,
                                  "must be a tuple of OffloadAllocation, one per demand")
        assignments = tuple(self.assignments)
        for i, a in enumerate(assignments):
            check_type(f"assignments[{i}]", a, OffloadAllocation)
        object.__setattr__(self, "assignments", assignments)
        if not isinstance(self.binding, (list, tuple)):
            raise ValidationError("binding", "-", self.binding,
                                  "must be a tuple of constraint labels (strings)")
        object.__setattr__(self, "binding", tuple(str(b) for b in self.binding))
        if not isinstance(self.drivers, (list, tuple)):
            raise ValidationError("drivers", "-", self.drivers,
                                  "must be a tuple of explanations (strings)")
        object.__setattr__(self, "drivers", tuple(str(b) for b in self.drivers))


# ---------------------------------------------------------------------- physics
def plan_valid(inst: SizingInstance, plan: SizingPlan) -> np.ndarray:
    """Per site: True when the plan's codes index the catalogue and counts fit ``max_count``."""
    G, B = len(inst.gpus), len(inst.radios)
    t, k, r = plan.gpu_type, plan.gpu_count, plan.radio
    kmax = np.array([g.max_count for g in inst.gpus])
    ok_t = (t >= -1) & (t < G)
    ok = ok_t & (r >= 0) & (r < B) & ((t >= 0) | (k == 0))
    tc = np.clip(t, 0, G - 1)
    return ok & (k <= np.where(t >= 0, kmax[tc], 0))


def plan_cost(inst: SizingInstance, plan: SizingPlan) -> dict[str, float]:
    """``gpu_cost = sum_s c_{g(s)} k_s``, ``radio_cost = sum_s c_{b(s)}`` and their ``total``
    (money units); invalid codes cost nothing here (the referee flags them)."""
    gc = np.array([g.cost for g in inst.gpus])
    rc = np.array([r.cost for r in inst.radios])
    t = np.clip(plan.gpu_type, 0, len(gc) - 1)
    gpu = float(np.where(plan.gpu_type >= 0, gc[t] * plan.gpu_count, 0.0).sum())
    radio = float(rc[np.clip(plan.radio, 0, len(rc) - 1)].sum())
    return {"gpu_cost": gpu, "radio_cost": radio, "total": gpu + radio}


def capacity_arrays(inst: SizingInstance, gpu_type: np.ndarray, gpu_count: np.ndarray,
                    radio: np.ndarray) -> dict[str, np.ndarray]:
    """The scenario capacity fields of a plan (see module docstring for sites without GPUs)."""
    G, B = len(inst.gpus), len(inst.radios)
    t = np.clip(np.asarray(gpu_type), 0, G - 1)
    k = np.where(np.asarray(gpu_type) >= 0, np.asarray(gpu_count), 0)
    b = np.clip(np.asarray(radio), 0, B - 1)
    fl = np.array([g.flops for g in inst.gpus])[t]
    mem = np.array([g.memory_bytes for g in inst.gpus])[t]
    return {
        "server_compute_flops": np.where(k > 0, k * fl, PHANTOM_FLOPS),
        "server_gpu_slots": np.maximum(k, 1).astype(np.int64),
        "server_gpu_memory_bytes": (k * mem).astype(np.float64),
        "server_uplink_hz": np.array([r.uplink_hz for r in inst.radios])[b],
        "server_downlink_hz": np.array([r.downlink_hz for r in inst.radios])[b],
        "server_subchannels": np.array([r.subchannels for r in inst.radios],
                                       dtype=np.int64)[b],
    }


def sized_scenario(inst: SizingInstance, d: int, plan: SizingPlan) -> Scenario:
    """Demand scenario ``d`` with the plan's capacities (what the offloading referee checks)."""
    return inst.demands[d].replace(**capacity_arrays(inst, plan.gpu_type, plan.gpu_count,
                                                     plan.radio))


def site_down(scn: Scenario, site: int) -> Scenario:
    """``scn`` with every channel gain towards ``site`` set to :data:`DOWN_GAIN` (the site is
    unreachable: no request can meet a deadline there, and no cloud request relays through it
    unless every site is down)."""
    s = check_int("site", site, "-", 0, scn.n_servers - 1)
    if scn.is_sparse:  # only the links towards the site change
        assert scn.link_server is not None and scn.link_gain is not None
        return scn.replace(link_gain=np.where(scn.link_server == s, DOWN_GAIN, scn.link_gain))
    gain = np.array(scn.channel_gain, dtype=np.float64)
    gain[:, s] = DOWN_GAIN
    return scn.replace(channel_gain=gain)
