r"""ISCC family data: the instance (decoupled resource pools, tasks, models, sensing-accuracy
curve), the specs, the allocation types and the physics shared by builders and referee.

Model (an exact counterpart of GainNet's GaiRom-ISCC, Chen et al., IEEE Network 2024,
arXiv 2401.02662; see the README section "AIGC life cycle ... and GaiRom-ISCC" for sources and
assumptions).

* Edge sites ``s = 0..S-1`` each own three *decoupled* integer pools: sensing units ``U_s``
  (radar / ISAC sensing beams or frames), communication resource blocks ``B_s`` (RBs) and GPU
  units ``G_s``; a shared cloud pool holds ``G_c`` GPU units. Decoupled means a task may combine
  any amount of each pool (the "twin resource pool" of Chen et al., arXiv 2401.11759).
* Task ``i`` (class / service ``c_i``) reaches candidate sites ``k`` through links
  ``link_site[i, k]`` with a rate per RB ``r_ik`` (bit/s) and a dwell time ``dwell_ik`` (s,
  time the device stays in coverage; ``inf`` for static devices).
* Sensing level ``l`` uses ``u_l`` sensing units for ``tau_l`` seconds and yields data
  ``d_i rho_l`` bit with accuracy ``A[c_i, l]`` (a tabulated curve, nondecreasing in ``l``).
* Model ``m`` serves class ``class_m`` with quality ``q_m`` and FLOP factor ``phi_m``; it is
  available at a site (or the cloud) when ``hosted[site, m]``.
* A *bundle* is ``(task i, link k, level l, RBs r, GPU units g, host h in {edge, cloud},
  model m)``. Its phase times are

  .. math::

      t^{sense} = \tau_l, \quad t^{tx} = \frac{d_i \rho_l}{r\, r_{ik}}, \quad
      t^{cmp} = \frac{W_i \phi_m}{g\, F_h} + [h = cloud]\, \tau_{cloud}

  and its utility is ``u = w_i A[c_i, l] q_m``. A bundle is feasible when (continuous timing)
  ``t^sense + t^tx + t^cmp <= D_i`` and ``t^sense + t^tx <= dwell_ik``, or (Z-shaped slotted
  timing, one slot per phase) every phase fits a slot of ``slot_s``, ``3 slot_s <= D_i`` and
  ``2 slot_s <= dwell_ik``; and ``A[c_i, l] >= a^min_i`` and the model fits class and host.

All quantities are SI (bit, s, FLOP, FLOP/s).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from aigc_opt.errors import UnknownNameError, ValidationError
from aigc_opt.metrics import fits
from aigc_opt.schema import bound, check_floor
from aigc_opt.spec import ProblemSpec
from aigc_opt.validate import (
    MAX_ENTRIES,
    check_array,
    check_bool,
    check_choice,
    check_entries,
    check_int,
    check_scalar,
    check_seed,
    check_size,
)

from .data_checks import axis as _axis
from .data_checks import int_arr as _int_arr
from .data_checks import scalar as _scalar

logger = logging.getLogger(__name__)

#: Bandwidth of one resource block, Hz: 12 subcarriers x 15 kHz (3GPP TS 38.211, numerology 0).
RB_HZ = 180e3
PARTITIONS = ("decoupled", "static")
RADIO_MODES = ("shared", "separate")


# ------------------------------------------------------------------------------ instance
@dataclass(frozen=True, eq=False)
class IsccInstance:
    """Resource pools, tasks, links, sensing levels and models (N tasks, S sites, K links per
    task, L sensing levels, C classes, M models).

    Parameters
    ----------
    site_sensing_units, site_rbs, site_gpus : ndarray of int, shape (S,)
        Pool capacities per edge site: sensing units, resource blocks, GPU units.
    cloud_gpus : int
        GPU units of the shared cloud pool.
    gpu_flops : ndarray, shape (S + 1,)
        Speed of one GPU unit at each site and (last entry) in the cloud, FLOP/s.
    cloud_latency_s : float
        Extra round trip of a task computed in the cloud (backhaul + WAN), s.
    level_units : ndarray of int, shape (L,)
        Sensing units used by each sensing level (>= 1).
    level_time_s : ndarray, shape (L,)
        Sensing time of each level, s.
    level_data_factor : ndarray, shape (L,)
        Data produced at level l relative to the task's base data size.
    accuracy : ndarray, shape (C, L)
        Sensing accuracy ``A[c, l]`` in [0, 1], nondecreasing in l.
    model_class, model_quality, model_flop_factor : ndarray, shape (M,)
        Class served by each model, its quality in (0, 1] and its workload multiplier.
    hosted : ndarray of bool, shape (S + 1, M)
        Models available at each site and (last row) in the cloud.
    task_class : ndarray of int, shape (N,)
        Class (service) ``c_i`` in [0, C) of each task (row of ``accuracy``) (-).
    task_weight : ndarray, shape (N,)
        Priority weight w_i > 0.
    task_data_bits : ndarray, shape (N,)
        Base sensing data size d_i (level factor 1), bit.
    task_workload_flop : ndarray, shape (N,)
        Inference workload W_i with a model of FLOP factor 1, FLOP.
    task_deadline_s : ndarray, shape (N,)
        End-to-end deadline D_i, s.
    task_min_accuracy : ndarray, shape (N,)
        Sensing requirement: the level's accuracy must reach it.
    task_slot : ndarray of int, shape (N,)
        Arrival slot (cohort) for the Z-shaped pipeline; 0 for one-shot matching.
    link_site : ndarray of int, shape (N, K)
        Candidate access sites of each task, -1 for padding.
    link_rate_per_rb_bps : ndarray, shape (N, K)
        Uplink rate of one RB on each link, bit/s.
    link_dwell_s : ndarray, shape (N, K)
        Time the device stays in the site's coverage, s (``inf`` for static devices).
    slot_s : float
        Slot length of the Z-shaped pipeline, s.
    """

    site_sensing_units: np.ndarray
    site_rbs: np.ndarray
    site_gpus: np.ndarray
    cloud_gpus: int
    gpu_flops: np.ndarray
    cloud_latency_s: float
    level_units: np.ndarray
    level_time_s: np.ndarray
    level_data_factor: np.ndarray
    accuracy: np.ndarray
    model_class: np.ndarray
    model_quality: np.ndarray
    model_flop_factor: np.ndarray
    hosted: np.ndarray
    task_class: np.ndarray
    task_weight: np.ndarray
    task_data_bits: np.ndarray
    task_workload_flop: np.ndarray
    task_deadline_s: np.ndarray
    task_min_accuracy: np.ndarray
    task_slot: np.ndarray
    link_site: np.ndarray
    link_rate_per_rb_bps: np.ndarray
    link_dwell_s: np.ndarray
    slot_s: float = 0.2

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        S = _axis(self.site_rbs, "site_rbs", "unit")
        if S == 0:
            raise ValidationError("site_rbs", "unit", self.site_rbs, "needs at least one site")
        for nm in ("site_sensing_units", "site_rbs", "site_gpus"):
            set_(nm, _int_arr(getattr(self, nm), nm, "unit", (S,), like="site_rbs"))
        set_("cloud_gpus", check_int("cloud_gpus", self.cloud_gpus, "unit", 0))
        set_("gpu_flops", check_array("gpu_flops", "FLOP/s", self.gpu_flops, (S + 1,), low=0.0,
                                      high=bound("flops"), strict=True,
                                      like="site_rbs (sites + cloud)"))
        check_floor("gpu_flops", "FLOP/s", self.gpu_flops, "flops")
        set_("cloud_latency_s", _scalar(self.cloud_latency_s, "cloud_latency_s", "s"))
        set_("slot_s", _scalar(self.slot_s, "slot_s", "s", strict=True))
        L = _axis(self.level_units, "level_units", "unit")
        if L == 0:
            raise ValidationError("level_units", "unit", self.level_units,
                                  "needs at least one sensing level")
        set_("level_units", _int_arr(self.level_units, "level_units", "unit", (L,), low=1))
        set_("level_time_s", check_array("level_time_s", "s", self.level_time_s, (L,), low=0.0,
                                         high=bound("time_s"), like="level_units"))
        set_("level_data_factor", check_array("level_data_factor", "-", self.level_data_factor,
                                              (L,), low=0.0, high=bound("factor"), strict=True,
                                              like="level_units"))
        acc = check_array("accuracy", "-", self.accuracy, ndim=2, low=0.0)
        if acc.shape[0] == 0:  # (model_class was refused instead: 'classes are 0..-1')
            raise ValidationError("accuracy", "-", acc.shape,
                                  "needs one row per task class (service): it has none")
        if acc.shape[1] != L or (acc > 1).any() or (np.diff(acc, axis=1) < 0).any():
            raise ValidationError("accuracy", "-", acc.shape,
                                  f"must be (classes, {L}) in [0, 1], nondecreasing in level")
        set_("accuracy", acc)
        C = acc.shape[0]
        M = _axis(self.model_class, "model_class", "-")
        set_("model_class", _int_arr(self.model_class, "model_class", "-", (M,)))
        if (self.model_class >= C).any():
            raise ValidationError("model_class", "-", self.model_class, f"classes are 0..{C - 1}")
        q = check_array("model_quality", "-", self.model_quality, (M,), low=0.0,
                        like="model_class")
        if (q > 1).any():
            raise ValidationError("model_quality", "-", q, "must be in [0, 1]")
        set_("model_quality", q)
        set_("model_flop_factor", check_array("model_flop_factor", "-", self.model_flop_factor,
                                              (M,), low=0.0, high=bound("factor"), strict=True,
                                              like="model_class"))
        set_("hosted", check_array("hosted", "-", self.hosted, (S + 1, M), dtype=bool,
                                   like="site_rbs (sites + cloud) and model_class (models)"))
        N = _axis(self.task_class, "task_class", "-")
        set_("task_class", _int_arr(self.task_class, "task_class", "-", (N,)))
        if (self.task_class >= C).any():
            raise ValidationError("task_class", "-", self.task_class, f"classes are 0..{C - 1}")
        for nm, unit, strict, hi in (
                ("task_weight", "-", True, bound("weight")),
                ("task_data_bits", "bit", False, bound("bits")),
                ("task_workload_flop", "FLOP", False, bound("flop") * bound("steps")),
                ("task_deadline_s", "s", True, bound("time_s")),
                ("task_min_accuracy", "-", False, bound("quality"))):
            set_(nm, check_array(nm, unit, getattr(self, nm), (N,), low=0.0, high=hi,
                                 strict=strict, like="task_class"))
        set_("task_slot", _int_arr(self.task_slot, "task_slot", "slot", (N,)))
        K = _axis(self.link_site, "link_site", "-", ndim=2, dim=1)
        set_("link_site", _int_arr(self.link_site, "link_site", "-", (N, K), low=-1))
        if (self.link_site >= S).any():
            raise ValidationError("link_site", "-", self.link_site, f"sites are 0..{S - 1}")
        srt = np.sort(self.link_site, axis=1)
        twice = (srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)
        if twice.any():  # two rates and dwells for one (task, site): which one holds?
            i, k = (int(v[0]) for v in np.nonzero(twice))
            raise ValidationError("link_site", "-", self.link_site[i].tolist(),
                                  f"task {i} names site {int(srt[i, k + 1])} in two links")
        set_("link_rate_per_rb_bps", check_array("link_rate_per_rb_bps", "bit/s",
                                                 self.link_rate_per_rb_bps, (N, K), low=0.0,
                                                 high=bound("bps"), like="link_site"))
        check_floor("link_rate_per_rb_bps", "bit/s", self.link_rate_per_rb_bps, "bps",
                    zero_ok=True)
        set_("link_dwell_s", check_array("link_dwell_s", "s", self.link_dwell_s, (N, K), low=0.0,
                                         high=bound("time_s"), allow_inf=True))

    # -------------------------------------------------------------- sizes
    @property
    def n_tasks(self) -> int:
        """N."""
        return int(self.task_class.shape[0])

    @property
    def n_sites(self) -> int:
        """S, edge sites (the cloud is extra)."""
        return int(self.site_rbs.shape[0])

    @property
    def n_classes(self) -> int:
        """C, task classes (services)."""
        return int(self.accuracy.shape[0])

    @property
    def n_levels(self) -> int:
        """L, sensing levels."""
        return int(self.level_units.shape[0])

    @property
    def n_slots(self) -> int:
        """Number of arrival cohorts (``max(task_slot) + 1``)."""
        return int(self.task_slot.max(initial=-1)) + 1

    def scaled(self, factor: float) -> IsccInstance:
        """The same instance with every pool scaled by ``factor`` (a number in ``[0, 1e6]``,
        rounded down)."""
        f = float(check_scalar("factor", factor, "-", 0.0, bound("factor")))
        return replace(self, site_sensing_units=np.floor(self.site_sensing_units * f),
                       site_rbs=np.floor(self.site_rbs * f), site_gpus=np.floor(self.site_gpus * f),
                       cloud_gpus=int(math.floor(self.cloud_gpus * f)))

    def without_site(self, site: int) -> IsccInstance:
        """The instance after losing edge site ``site``: its pools are 0 and its links gone."""
        site = check_int("site", site, "-", 0, self.n_sites - 1)
        zero = lambda a: np.where(np.arange(self.n_sites) == site, 0, a)  # noqa: E731
        return replace(self, site_sensing_units=zero(self.site_sensing_units),
                       site_rbs=zero(self.site_rbs), site_gpus=zero(self.site_gpus),
                       link_site=np.where(self.link_site == site, -1, self.link_site))

    # -------------------------------------------------------------- generation
    @classmethod
    def generate(cls, n_tasks: int = 30, n_sites: int = 3, n_classes: int = 3, *, seed: int = 0,
                 n_slots: int = 1, links_per_task: int = 2, pool_factor: float = 0.5,
                 class_skew: float = 0.0, max_entries: int | None = None,
                 **overrides: Any) -> IsccInstance:
        """Seeded instance (values *assumed* unless cited; README section on GaiRom-ISCC).

        Sensing levels use 1 / 2 / 4 units for 20 / 40 / 80 ms and produce 1x / 2x / 4x data;
        accuracy is the power-law learning curve ``A_c(n) = a_c - b_c n^(-gamma_c)`` of the
        sensing samples ``n = u_l`` (concave; a_c in [0.90, 0.98], b_c in [0.25, 0.45], gamma_c
        in [0.5, 1.0]). Links: RB of 180 kHz (3GPP TS 38.211) at SNR 0-25 dB (Shannon).
        Tasks: 0.1-0.5 Mbit, 0.5-3 TFLOP (2 FLOP per parameter per token, ~1B-parameter model,
        a few hundred tokens), deadline 0.4-1.2 s, weight 1-3. Two models per class (quality
        0.85-0.90 and 0.95-1.0, FLOP factor 1 and 3); each site hosts every small model and each
        large one with probability 0.5, the cloud hosts all. GPU unit 10 TFLOP/s at the edge and
        20 TFLOP/s in the cloud, cloud round trip 80 ms. Pools: ``pool_factor`` times the mean
        per-cohort demand of a mid bundle (2 sensing units, 4 RBs, 2 GPU units per task).

        Sizes and ``links_per_task`` are integers >= 1 (more links than sites means every
        site); ``pool_factor`` is in ``[0, 1e6]`` and the Zipf exponent ``class_skew`` in
        ``[0, 100]``. The generated arrays may hold at most ``max_entries`` entries (default
        :data:`aigc_opt.validate.MAX_ENTRIES`).
        """
        limit = MAX_ENTRIES if max_entries is None else check_int("max_entries", max_entries,
                                                                  "-", 1)
        N = check_size("n_tasks", n_tasks, limit)
        S = check_size("n_sites", n_sites, limit)
        C = check_size("n_classes", n_classes, limit)
        n_slots = check_size("n_slots", n_slots, limit)
        K = min(check_int("links_per_task", links_per_task, "link", 1), S)
        pool_factor = check_scalar("pool_factor", pool_factor, "-", 0.0, bound("factor"))
        class_skew = check_scalar("class_skew", class_skew, "-", 0.0, 100.0)
        check_entries("n_tasks*n_sites", N * S, limit)
        check_entries("(n_sites+1)*2*n_classes", (S + 1) * 2 * C, limit)
        rng = np.random.default_rng(check_seed("seed", seed))
        units = np.array([1, 2, 4])
        a = rng.uniform(0.90, 0.98, C)
        b = rng.uniform(0.25, 0.45, C)
        g = rng.uniform(0.5, 1.0, C)
        acc = np.clip(a[:, None] - b[:, None] * units[None, :] ** (-g[:, None]), 0.0, 1.0)
        model_class = np.repeat(np.arange(C), 2)
        quality = np.ravel(np.column_stack([rng.uniform(0.85, 0.90, C),
                                            rng.uniform(0.95, 1.0, C)]))
        flop_factor = np.tile([1.0, 3.0], C)
        hosted = np.ones((S + 1, 2 * C), dtype=bool)
        hosted[:S, 1::2] = rng.random((S, C)) < 0.5
        if class_skew:
            p = np.arange(1, C + 1, dtype=float) ** (-float(class_skew))
            cls_ = rng.permutation(C)[rng.choice(C, size=N, p=p / p.sum())]
        else:
            cls_ = rng.integers(0, C, N)
        order = np.argsort(rng.random((N, S)), axis=1)[:, :K]
        snr = 10 ** (rng.uniform(0.0, 25.0, (N, K)) / 10)
        per_slot = math.ceil(N / n_slots)
        cap = lambda demand: np.full(S, max(1, round(pool_factor * per_slot * demand / S)))  # noqa: E731
        min_acc = np.where(rng.random(N) < 0.3, acc[cls_, 1], 0.0)
        kw: dict[str, Any] = dict(
            site_sensing_units=cap(2.0), site_rbs=cap(4.0), site_gpus=cap(2.0),
            cloud_gpus=max(1, round(0.3 * pool_factor * per_slot * 2.0)),
            gpu_flops=np.r_[np.full(S, 10e12), 20e12], cloud_latency_s=0.08,
            level_units=units, level_time_s=np.array([0.02, 0.04, 0.08]),
            level_data_factor=np.array([1.0, 2.0, 4.0]), accuracy=acc,
            model_class=model_class, model_quality=quality, model_flop_factor=flop_factor,
            hosted=hosted, task_class=cls_, task_weight=rng.uniform(1.0, 3.0, N),
            task_data_bits=rng.uniform(0.1e6, 0.5e6, N),
            task_workload_flop=rng.uniform(0.5e12, 3e12, N),
            task_deadline_s=rng.uniform(0.4, 1.2, N), task_min_accuracy=min_acc,
            task_slot=rng.integers(0, n_slots, N), link_site=order,
            link_rate_per_rb_bps=RB_HZ * np.log2(1 + snr), link_dwell_s=np.full((N, K), np.inf),
            slot_s=0.2)
        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            name = sorted(unknown)[0]
            raise UnknownNameError("IsccInstance field", name, [f.name for f in fields(cls)])
        kw.update(overrides)
        return cls(**kw)


# ------------------------------------------------------------------------------ specs
@dataclass(frozen=True)
class _BundleSpec(ProblemSpec):
    """Shared options: the RB and GPU counts a bundle may use, dominance pruning."""

    problem: str = "iscc"
    variant: str = ""
    rb_options: tuple[int, ...] = (1, 2, 4, 8)
    gpu_options: tuple[int, ...] = (1, 2, 4)
    prune: bool = True

    def __post_init__(self) -> None:
        for nm, unit in (("rb_options", "RB"), ("gpu_options", "unit")):
            a = check_array(nm, unit, getattr(self, nm), ndim=1, low=1, high=bound("count"),
                            dtype=np.int64, nonempty=True)
            opts = tuple(int(v) for v in a)
            if len(set(opts)) != len(opts):
                raise ValidationError(nm, unit, opts, "need distinct integers >= 1")
            object.__setattr__(self, nm, tuple(sorted(opts)))
        object.__setattr__(self, "prune", check_bool("prune", self.prune))


@dataclass(frozen=True)
class IsccSpec(_BundleSpec):
    """One-shot capacitated task-to-resource-model matching (maximise total utility).

    Parameters
    ----------
    partition : {"decoupled", "static"}
        ``decoupled``: every task may draw on every pool (GaiRom-ISCC's universal pools);
        ``static``: each pool is split evenly among the C task classes (services) and a task
        draws only on its class's share (the coupled, per-service slicing baseline).
    rb_options, gpu_options : tuple of int
        RB and GPU-unit counts a bundle may use.
    prune : bool
        Keep only bundles not dominated in (RBs, GPUs) by another bundle with the same
        task, link, level, host and model (exact: the pools are packing constraints).
    problem, variant : str
        Family and variant name (:class:`aigc_opt.ProblemSpec`): labels; keep the defaults.
    """

    variant: str = "matching"
    partition: str = "decoupled"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("partition", self.partition, PARTITIONS)


@dataclass(frozen=True)
class IsccPipelineSpec(_BundleSpec):
    """Z-shaped multi-slot orchestration: cohort t senses in slot t, transmits in t+1 and
    computes in t+2 (one slot per phase).

    Parameters
    ----------
    radio : {"shared", "separate"}
        ``shared`` (ISAC): sensing units and RBs of a site form one radio pool of
        ``U_s + B_s`` units per slot, shared by the sensing of cohort t and the transmission of
        cohort t-1; ``separate``: the pools stay apart (then cohorts decouple).
    lookahead : int
        Cohorts the rolling-horizon method optimises together before committing the first.
    rb_options, gpu_options : tuple of int
        RB and GPU-unit counts a bundle may use (distinct, >= 1; stored sorted), default
        ``(1, 2, 4, 8)`` RB and ``(1, 2, 4)`` units.
    prune : bool, default True
        Keep only bundles not dominated in (RBs, GPUs) by another bundle with the same
        task, link, level, host and model (exact: the pools are packing constraints).
    problem, variant : str
        Family and variant name ``"iscc"``, ``"pipeline"`` (:class:`aigc_opt.ProblemSpec`): labels.
    """

    variant: str = "pipeline"
    radio: str = "shared"
    lookahead: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("radio", self.radio, RADIO_MODES)
        object.__setattr__(self, "lookahead", check_int("lookahead", self.lookahead, "slot", 1))


# ------------------------------------------------------------------------------ allocations
@dataclass(frozen=True, eq=False)
class IsccAllocation:
    """Per-task bundle (N tasks). An unserved task is encoded as ``site = level = model = -1``,
    ``rbs = gpus = 0`` and ``cloud = False`` (what :meth:`empty` and
    :func:`allocation_from_bundles` write; the referee's ``unserved`` violation flags any other
    encoding, e.g. ``site = -2`` or resources held by an unserved task).

    Parameters
    ----------
    site : ndarray of int, shape (N,)
        Access site (sensing and RBs), -1 when unserved.
    level : ndarray of int, shape (N,)
        Sensing level index (-1 when unserved).
    rbs, gpus : ndarray of int, shape (N,)
        Resource blocks and GPU units (0 when unserved).
    cloud : ndarray of bool, shape (N,)
        True when computed in the cloud pool, else at ``site`` (False when unserved).
    model : ndarray of int, shape (N,)
        Model index (-1 when unserved).
    """

    site: np.ndarray
    level: np.ndarray
    rbs: np.ndarray
    gpus: np.ndarray
    cloud: np.ndarray
    model: np.ndarray

    def __post_init__(self) -> None:
        # types and shapes only: out-of-range entries are the referee's to report
        n = _axis(self.site, "site", "-")
        for nm, unit in (("site", "-"), ("level", "-"), ("rbs", "RB"), ("gpus", "unit"),
                         ("model", "-")):
            object.__setattr__(self, nm, _int_arr(getattr(self, nm), nm, unit, (n,), low=None,
                                                  like="site"))
        object.__setattr__(self, "cloud", check_array("cloud", "-", self.cloud, (n,),
                                                      dtype=bool, like="site"))

    @property
    def served(self) -> np.ndarray:
        """True for tasks that received a bundle."""
        return self.site >= 0

    @classmethod
    def empty(cls, n_tasks: int) -> IsccAllocation:
        """Nobody served."""
        m = np.full(n_tasks, -1)
        return cls(m, m, np.zeros(n_tasks), np.zeros(n_tasks), np.zeros(n_tasks, bool), m)


# ------------------------------------------------------------------------------ physics
def phase_times(inst: IsccInstance, task: np.ndarray, link: np.ndarray, level: np.ndarray,
                rbs: np.ndarray, gpus: np.ndarray, cloud: np.ndarray, model: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sensing, transmission and computing times, s (module docstring), elementwise."""
    host = np.where(cloud, inst.n_sites, inst.link_site[task, link])
    t_sense = inst.level_time_s[level]
    with np.errstate(divide="ignore"):
        t_tx = inst.task_data_bits[task] * inst.level_data_factor[level] / (
            rbs * inst.link_rate_per_rb_bps[task, link])
        t_cmp = inst.task_workload_flop[task] * inst.model_flop_factor[model] / (
            gpus * inst.gpu_flops[host]) + np.where(cloud, inst.cloud_latency_s, 0.0)
    return t_sense, np.nan_to_num(t_tx, nan=0.0), t_cmp


def utility(inst: IsccInstance, task: np.ndarray, level: np.ndarray, model: np.ndarray
            ) -> np.ndarray:
    """``w_i A[c_i, l] q_m``."""
    return inst.task_weight[task] * inst.accuracy[inst.task_class[task], level] * \
        inst.model_quality[model]


def partition_capacity(cap: np.ndarray, n_classes: int) -> np.ndarray:
    """Even split of integer capacities among ``n_classes``: shape ``(C,) + cap.shape``; class
    c gets ``floor(cap / C)`` plus one unit of the remainder when ``c < cap mod C``."""
    cap = np.asarray(cap, dtype=np.int64)
    c = np.arange(n_classes).reshape((-1,) + (1,) * cap.ndim)
    return cap // n_classes + (c < cap % n_classes)


@dataclass(frozen=True, eq=False)
class Bundles:
    """Feasible bundles (columns of the matching MILP), one entry per bundle.

    ``task, link, site, level, rbs, gpus, model`` are int arrays, ``cloud`` bool, ``utility``
    ``w A q``, ``t_sense, t_tx, t_cmp`` the phase times (s) and ``units`` the sensing units.
    """

    task: np.ndarray
    link: np.ndarray
    site: np.ndarray
    level: np.ndarray
    rbs: np.ndarray
    gpus: np.ndarray
    cloud: np.ndarray
    model: np.ndarray
    utility: np.ndarray
    t_sense: np.ndarray
    t_tx: np.ndarray
    t_cmp: np.ndarray
    units: np.ndarray

    @property
    def size(self) -> int:
        """Number of bundles."""
        return int(self.task.shape[0])

    def subset(self, mask: np.ndarray) -> Bundles:
        """The bundles where ``mask`` (bool or index array) holds."""
        return Bundles(**{f.name: getattr(self, f.name)[mask] for f in fields(self)})


def enumerate_bundles(inst: IsccInstance, rb_options: tuple[int, ...],
                      gpu_options: tuple[int, ...], *, slotted: bool = False,
                      prune: bool = True) -> Bundles:
    """Every deadline-feasible bundle, vectorised (module docstring for the conditions).

    Base combinations ``(i, k, l, h, m)`` are filtered on link, class, hosting and accuracy;
    they are crossed with the (RB, GPU) grid. With ``prune`` only the minimal feasible (RB, GPU)
    pairs of each base are kept (for each RB count the fewest GPU units that meet the deadline,
    kept when strictly fewer than with the next smaller RB count): every other feasible pair uses
    at least as much of every pool for the same utility, so the optimum is unchanged.
    """
    N, K = inst.link_site.shape
    M = inst.model_class.shape[0]
    S = inst.n_sites
    valid = inst.link_site >= 0
    site_c = np.maximum(inst.link_site, 0)
    cls_ok = inst.model_class[None, :] == inst.task_class[:, None]  # (N, M)
    host_ok = np.stack([inst.hosted[site_c], np.broadcast_to(inst.hosted[S], (N, K, M))],
                       axis=2)  # (N, K, 2, M)
    acc_ok = inst.accuracy[inst.task_class] >= inst.task_min_accuracy[:, None] - 1e-12  # (N, L)
    mask = (valid[:, :, None, None, None] & acc_ok[:, None, :, None, None]
            & host_ok[:, :, None, :, :] & cls_ok[:, None, None, None, :])
    i, k, lv, h, m = (a.astype(np.int64) for a in np.nonzero(mask))
    cloud = h == 1
    rb = np.asarray(rb_options, dtype=np.int64)
    gp = np.asarray(gpu_options, dtype=np.int64)
    G = gp.size
    t_s, t_tx1, t_c1 = phase_times(inst, i, k, lv, np.ones_like(i), np.ones_like(i), cloud, m)
    lat_c = np.where(cloud, inst.cloud_latency_s, 0.0)
    tx = t_tx1[:, None] / rb[None, :]  # (B, R)
    cp = (t_c1 - lat_c)[:, None] / gp[None, :] + lat_c[:, None]  # (B, G)
    # the referee's single-item rule (fits, FIT_TOL): a bundle late by rounding only is on time
    D = inst.task_deadline_s[i]
    dwell = inst.link_dwell_s[i, k]
    feas: np.ndarray
    if slotted:
        slot = inst.slot_s
        base_ok = fits(t_s, slot) & fits(3 * slot, D) & fits(2 * slot, dwell)
        feas = base_ok[:, None, None] & fits(tx, slot)[:, :, None] & fits(cp, slot)[:, None, :]
    else:
        feas = (fits(t_s[:, None, None] + tx[:, :, None] + cp[:, None, :], D[:, None, None])
                & fits(t_s[:, None] + tx, dwell[:, None])[:, :, None])
    if prune:
        exists = np.asarray(feas.any(axis=2))  # (B, R)
        gidx = np.argmax(feas, axis=2)
        prev_ex = np.concatenate([np.zeros((feas.shape[0], 1), bool), exists[:, :-1]], axis=1)
        prev_g = np.concatenate([np.full((feas.shape[0], 1), G), gidx[:, :-1]], axis=1)
        keep = exists & (~prev_ex | (gidx < prev_g))
        b, r = np.nonzero(keep)
        g = gidx[b, r]
    else:
        b, r, g = np.nonzero(feas)
    i, k, lv, m, cloud = i[b], k[b], lv[b], m[b], cloud[b]
    return Bundles(task=i, link=k, site=inst.link_site[i, k], level=lv, rbs=rb[r], gpus=gp[g],
                   cloud=cloud, model=m, utility=utility(inst, i, lv, m), t_sense=t_s[b],
                   t_tx=tx[b, r], t_cmp=cp[b, g], units=inst.level_units[lv])


def allocation_from_bundles(n_tasks: int, bundles: Bundles, chosen: np.ndarray
                            ) -> IsccAllocation:
    """The allocation that gives each task its chosen bundle (``chosen``: bundle indices, at
    most one per task)."""
    chosen = np.asarray(chosen, dtype=np.int64)
    t = bundles.task[chosen]
    if np.unique(t).size != t.size:
        raise ValidationError("chosen", "-", chosen, "at most one bundle per task")
    out = {nm: np.full(n_tasks, -1, dtype=np.int64) for nm in ("site", "level", "model")}
    rbs, gpus, cloud = np.zeros(n_tasks, np.int64), np.zeros(n_tasks, np.int64), \
        np.zeros(n_tasks, bool)
    out["site"][t] = bundles.site[chosen]
    out["level"][t] = bundles.level[chosen]
    out["model"][t] = bundles.model[chosen]
    rbs[t], gpus[t], cloud[t] = bundles.rbs[chosen], bundles.gpus[chosen], bundles.cloud[chosen]
    return IsccAllocation(site=out["site"], level=out["level"], rbs=rbs, gpus=gpus, cloud=cloud,
                          model=out["model"])
