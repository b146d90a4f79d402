r"""Model caching over time: the instance (servers, models, request trace, context model), the
objective weights, the spec, the allocation type and the physics shared by the MILP builder
(:mod:`.milp`), the policies (:mod:`.policies`) and the evaluator (:mod:`.evaluate`). Trace
files are read and written by :mod:`.trace`.

Why a compact instance instead of :class:`aigc_opt.Scenario`: a Scenario is user-centric (one
request per user, channel gains per user), while caching is driven by an aggregate trace of
per-slot, per-server, per-model request counts ``R[t, s, m]`` over a horizon of T slots. The
instance keeps the Scenario's field names and SI units for what they share (GPU memory, load
rate, compute, model sizes, cloud figures) and draws them from the same ``edge_aigc`` profile
ranges (:mod:`aigc_opt.profiles`).

Context model (after Xu et al., "Joint Foundation Model Caching and Inference of Generative AI
Services for Edge Intelligence", IEEE GLOBECOM 2023, "age of context"): a copy of model m kept
at server k accumulates in-context examples from the requests for m that arrive at k while it
stays cached; an example from i slots ago counts ``delta^(i-1)`` (decay by age) and examples
older than the context window H slots are dropped. A copy cached without interruption for
``a`` slots before slot t (its *age*, capped at H; a copy loaded at t, or cached at t = 0, has
age 0) holds

.. math:: K_{t,k,m}(a) = \sum_{i=1}^{\min(a, H)} \delta^{i-1} R_{t-i,k,m}

effective examples, and answers with accuracy ``A_m(K)``: linear interpolation of a table
``(context_examples, context_accuracy[m])`` (constant beyond the last point), nondecreasing in K.
Because ``R`` is data, ``G[t,k,m,a] = A_m(K_{t,k,m}(a))`` is a table and nondecreasing in ``a``;
this is what makes the MILP's accuracy term exact (see :mod:`.formulation`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from aigc_opt.errors import UnknownNameError, ValidationError
from aigc_opt.schema import bound, check_floor
from aigc_opt.spec import ProblemSpec
from aigc_opt.validate import (
    MAX_ENTRIES,
    check_array,
    check_bool,
    check_entries,
    check_int,
    check_scalar,
    check_seed,
    check_size,
)

logger = logging.getLogger(__name__)

GB = 1e9
#: Longest context window, slots.
MAX_WINDOW = 10_000
#: Largest context table ``K[t, k, m, a]`` (entries) an instance may imply (1e8 = 800 MB).
MAX_CONTEXT_TABLE = 100_000_000
#: Largest request count of one (slot, server, model) entry: 1e9 requests per slot.
MAX_COUNT = 1e9


#: Physical upper bounds by unit (see :data:`aigc_opt.schema.BOUNDS`).
_HIGH = {"byte": bound("bytes"), "bit/s": bound("bps"), "FLOP/s": bound("flops"),
         "s": bound("time_s"), "FLOP": bound("flop") * bound("steps"), "-": 1.0,
         "example": bound("examples"), "cost/FLOP": bound("cost_per_flop"),
         "weight": bound("weight"), "request/slot": 1e9}


def _arr(value: Any, name: str, unit: str, shape: tuple[int, ...], *, low: float | None = 0.0,
         strict: bool = False, allow_inf: bool = False, dtype: Any = np.float64,
         high: float | None = None, like: str = "requests") -> np.ndarray:
    return check_array(name, unit, value, shape, low=low, strict=strict, allow_inf=allow_inf,
                       dtype=dtype, high=high, like=like)


def _scalar(value: Any, name: str, unit: str, *, low: float, strict: bool = False,
            high: float | None = None) -> float:
    hi = _HIGH.get(unit, bound("factor")) if high is None else high
    return float(check_scalar(name, value, unit, low, hi, strict=strict))


def validate_requests(requests: Any, shape: tuple[int, int, int] | None = None) -> np.ndarray:
    """Check a request-count array ``R[t, s, m]`` (finite, >= 0, integer counts); read-only copy."""
    r = check_array("requests", "request", requests, low=None)
    if r.ndim != 3 or (shape is not None and r.shape != shape):
        want = shape if shape is not None else "(slots, servers, models)"
        raise ValidationError("requests", "request", r.shape, f"wrong shape, expected {want}")
    if min(r.shape) == 0:
        raise ValidationError("requests", "request", r.shape, "empty trace: every axis needs >= 1")
    if np.isnan(r).any():
        raise ValidationError("requests", "request", math.nan, "NaN is not allowed")
    if np.isinf(r).any():
        raise ValidationError("requests", "request", r[np.isinf(r)][0], "must be finite")
    if (r < 0).any():
        raise ValidationError("requests", "request", r[r < 0][0], "negative request count")
    if (r != np.round(r)).any():
        raise ValidationError("requests", "request", r[r != np.round(r)][0],
                              "request counts must be integers")
    if (r > MAX_COUNT).any():
        raise ValidationError("requests", "request", r[r > MAX_COUNT][0],
                              f"out of range: must be <= {MAX_COUNT:g} requests per slot, server "
                              "and model")
    return r


@dataclass(frozen=True, eq=False)
class CachingInstance:
    """Servers, models, the request trace and the context model (T slots, S servers, M models).

    Parameters
    ----------
    requests : ndarray, shape (T, S, M)
        ``R[t, s, m]``: requests for model m arriving at (home) server s in slot t, integer >= 0.
    slot_s : float
        Slot length, s (compute capacity per slot is ``server_compute_flops * slot_s``).
    server_gpu_memory_bytes : ndarray, shape (S,)
        GPU memory for cached models, byte.
    server_load_bps : ndarray, shape (S,)
        Model loading rate into GPU memory, bit/s (a load of model m takes ``8 size_m / rate``).
    server_compute_flops : ndarray, shape (S,)
        GPU compute speed, FLOP/s.
    server_latency_s : ndarray, shape (S, S)
        Forwarding latency from home server s to serving server k, s (0 on the diagonal,
        ``inf`` when not connected).
    model_size_bytes : ndarray, shape (M,)
        GPU-memory footprint (and download size) of each model, byte.
    model_flop_per_request : ndarray, shape (M,)
        Work of one request, FLOP.
    model_cloud_accuracy : ndarray, shape (M,)
        Accuracy of a request answered by the cloud, in [0, 1].
    context_examples : ndarray, shape (P,)
        Breakpoints of the accuracy table, effective in-context examples; strictly increasing,
        starting at 0.
    context_accuracy : ndarray, shape (M, P)
        Accuracy of an edge copy at each breakpoint, in [0, 1], nondecreasing along P.
    context_decay : float
        delta in (0, 1]: weight of an example per slot of age.
    context_window : int
        H >= 0: examples older than H slots are dropped (ages are capped at H).
    cloud_latency_s : float
        Round trip to the cloud, s.
    cloud_compute_flops : float
        Cloud compute speed per request, FLOP/s.
    cloud_cost_per_flop : float
        Price of cloud compute, cost unit / FLOP.
    initial_cache : ndarray of bool, shape (S, M)
        Models in GPU memory before slot 0 (must fit the memory); their context starts empty.
    """

    requests: np.ndarray
    slot_s: float
    server_gpu_memory_bytes: np.ndarray
    server_load_bps: np.ndarray
    server_compute_flops: np.ndarray
    server_latency_s: np.ndarray
    model_size_bytes: np.ndarray
    model_flop_per_request: np.ndarray
    model_cloud_accuracy: np.ndarray
    context_examples: np.ndarray
    context_accuracy: np.ndarray
    context_decay: float
    context_window: int
    cloud_latency_s: float
    cloud_compute_flops: float
    cloud_cost_per_flop: float
    initial_cache: np.ndarray

    def __post_init__(self) -> None:
        r = validate_requests(self.requests)
        _, S, M = r.shape
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        set_("requests", r)
        set_("slot_s", _scalar(self.slot_s, "slot_s", "s", low=0.0, strict=True))
        set_("server_gpu_memory_bytes", _arr(self.server_gpu_memory_bytes,
                                             "server_gpu_memory_bytes", "byte", (S,),
                                             high=_HIGH["byte"]))
        set_("server_load_bps", _arr(self.server_load_bps, "server_load_bps", "bit/s", (S,),
                                     strict=True, high=_HIGH["bit/s"]))
        set_("server_compute_flops", _arr(self.server_compute_flops, "server_compute_flops",
                                          "FLOP/s", (S,), strict=True, high=_HIGH["FLOP/s"]))
        check_floor("server_gpu_memory_bytes", "byte", self.server_gpu_memory_bytes, "bytes",
                    zero_ok=True)
        check_floor("server_load_bps", "bit/s", self.server_load_bps, "bps")
        check_floor("server_compute_flops", "FLOP/s", self.server_compute_flops, "flops")
        set_("server_latency_s", _arr(self.server_latency_s, "server_latency_s", "s", (S, S),
                                      allow_inf=True, high=_HIGH["s"]))
        if (np.diag(self.server_latency_s) != 0).any():
            raise ValidationError("server_latency_s", "s", np.diag(self.server_latency_s),
                                  "diagonal (a server to itself) must be 0")
        set_("model_size_bytes", _arr(self.model_size_bytes, "model_size_bytes", "byte", (M,),
                                      strict=True, high=_HIGH["byte"]))
        set_("model_flop_per_request", _arr(self.model_flop_per_request,
                                            "model_flop_per_request", "FLOP", (M,), strict=True,
                                            high=_HIGH["FLOP"]))
        set_("model_cloud_accuracy", _arr(self.model_cloud_accuracy, "model_cloud_accuracy", "-",
                                          (M,)))
        ce = check_array("context_examples", "example", self.context_examples, low=0.0,
                         high=_HIGH["example"])
        P = int(ce.shape[0]) if ce.ndim == 1 else -1
        if P < 1:
            raise ValidationError("context_examples", "example", ce.shape,
                                  "must be a non-empty 1-d array")
        set_("context_examples", ce)
        if self.context_examples[0] != 0 or (np.diff(self.context_examples) <= 0).any():
            raise ValidationError("context_examples", "example", self.context_examples,
                                  "must start at 0 and be strictly increasing")
        set_("context_accuracy", _arr(self.context_accuracy, "context_accuracy", "-", (M, P),
                                      like="requests (models) and context_examples"))
        for name in ("context_accuracy", "model_cloud_accuracy"):
            a = getattr(self, name)
            if (a > 1).any():
                raise ValidationError(name, "-", a[a > 1][0], "accuracy must be in [0, 1]")
        if (np.diff(self.context_accuracy, axis=1) < 0).any():
            row = int(np.nonzero((np.diff(self.context_accuracy, axis=1) < 0).any(axis=1))[0][0])
            raise ValidationError("context_accuracy", "-", self.context_accuracy[row],
                                  f"model {row}: must be nondecreasing in the examples")
        set_("context_decay", _scalar(self.context_decay, "context_decay", "-", low=0.0,
                                      strict=True, high=1.0))
        set_("context_window", check_int("context_window", self.context_window, "slot", 0,
                                         MAX_WINDOW))
        table = r.size * (self.context_window + 1)
        if table > MAX_CONTEXT_TABLE:
            raise ValidationError("context_window", "slot", self.context_window,
                                  f"the context table (slots x servers x models x (window + 1)) "
                                  f"would hold {table:,} entries, above {MAX_CONTEXT_TABLE:,}; "
                                  "use a shorter window or horizon")
        set_("cloud_latency_s", _scalar(self.cloud_latency_s, "cloud_latency_s", "s", low=0.0))
        set_("cloud_compute_flops", _scalar(self.cloud_compute_flops, "cloud_compute_flops",
                                            "FLOP/s", low=0.0, strict=True))
        check_floor("cloud_compute_flops", "FLOP/s", self.cloud_compute_flops, "flops")
        set_("cloud_cost_per_flop", _scalar(self.cloud_cost_per_flop, "cloud_cost_per_flop",
                                            "cost/FLOP", low=0.0))
        c0 = np.array(check_array("initial_cache", "-", self.initial_cache, (S, M), dtype=bool,
                                  like="requests (servers, models)"))
        mem = (c0 * self.model_size_bytes).sum(axis=1)
        over = mem > self.server_gpu_memory_bytes * (1 + 1e-12)
        if over.any():
            s = int(np.nonzero(over)[0][0])
            raise ValidationError("initial_cache", "byte", mem[s],
                                  f"server {s}: initial models exceed its GPU memory")
        c0.flags.writeable = False
        set_("initial_cache", c0)

    # ------------------------------------------------------------------ sizes
    @property
    def n_slots(self) -> int:
        """T, the number of slots."""
        return int(self.requests.shape[0])

    @property
    def n_servers(self) -> int:
        """S, the number of edge servers."""
        return int(self.requests.shape[1])

    @property
    def n_models(self) -> int:
        """M, the number of models."""
        return int(self.requests.shape[2])

    def with_requests(self, requests: Any) -> CachingInstance:
        """The same network with another trace (same S and M; any T)."""
        return replace(self, requests=requests)

    # ------------------------------------------------------------------ generation
    @classmethod
    def generate(cls, n_servers: int = 3, n_models: int = 6, n_slots: int = 10, *, seed: int = 0,
                 rate: float = 30.0, zipf_alpha: float = 0.8, drift: float = 0.3,
                 max_entries: int | None = None, **overrides: Any) -> CachingInstance:
        """Seeded instance with a Zipf trace whose popularity ranking drifts.

        Servers sit on a square grid; forwarding latency is 4 ms per grid step (Manhattan).
        Model popularity per server follows Zipf(``zipf_alpha``) over a ranking given by scores
        ``z_{s,m}(t) = z_{s,m}(t-1) + drift * N(0, 1)`` (a random walk, so the ranking drifts);
        counts are Poisson with mean ``rate`` requests per server per slot. Hardware ranges are
        the ``edge_aigc`` profile's (24 GB GPUs, 16 Gbit/s loading, 2-14 GB models, 0.4-3
        TFLOP/step); 20-50 steps per request (assumed). ``overrides`` replace any field.
        The trace (``n_slots * n_servers * n_models`` counts) may hold at most ``max_entries``
        entries (default :data:`aigc_opt.validate.MAX_ENTRIES`, 1e7); larger requests are
        refused before allocating. ``rate`` <= 1e6 requests per slot, ``zipf_alpha`` <= 100,
        ``drift`` <= 1e3.
        """
        from aigc_opt.profiles import PROFILES

        limit = MAX_ENTRIES if max_entries is None else check_int("max_entries", max_entries,
                                                                  "-", 1)
        S = check_size("n_servers", n_servers, limit)
        M = check_size("n_models", n_models, limit)
        T = check_size("n_slots", n_slots, limit)
        check_entries("n_slots*n_servers*n_models", T * S * M, limit)
        check_entries("n_servers*n_servers", S * S, limit)
        rate = _scalar(rate, "rate", "request/slot", low=0.0, high=1e6)
        zipf_alpha = _scalar(zipf_alpha, "zipf_alpha", "-", low=0.0, high=100.0)
        drift = _scalar(drift, "drift", "-", low=0.0, high=1e3)
        unknown = sorted(set(overrides) - {f.name for f in fields(cls)})
        if unknown:
            raise UnknownNameError("caching instance field", unknown[0],
                                   [f.name for f in fields(cls)])
        p = PROFILES["edge_aigc"]
        rng = np.random.default_rng(check_seed("seed", seed))
        side = int(np.ceil(np.sqrt(S)))
        pos = np.stack(np.meshgrid(np.arange(side), np.arange(side), indexing="ij"), -1)
        pos = pos.reshape(-1, 2)[:S]
        hops = np.abs(pos[:, None, :] - pos[None, :, :]).sum(-1)
        common = rng.normal(size=M) * 1.5
        z = common[None, :] + 0.5 * rng.normal(size=(S, M))
        R = np.zeros((T, S, M))
        zipf = 1.0 / np.arange(1, M + 1) ** zipf_alpha
        zipf /= zipf.sum()
        for t in range(T):  # T is small; the per-slot work is vectorised over servers and models
            if t:
                z = z + drift * rng.normal(size=(S, M))
            rank = np.argsort(np.argsort(-z, axis=1), axis=1)
            R[t] = rng.poisson(rate * zipf[rank])
        size = rng.uniform(*p.model_size_bytes, size=M)
        steps = rng.integers(20, 51, size=M)
        flop = rng.uniform(*p.model_flop_per_step, size=M) * steps
        base = rng.uniform(0.55, 0.7, size=M)
        top = base + rng.uniform(0.15, 0.3, size=M)
        ex = np.array([0.0, 5.0, 10.0, 20.0, 40.0, 80.0])
        acc = base[:, None] + (top - base)[:, None] * (1.0 - np.exp(-ex[None, :] / 15.0))
        values: dict[str, Any] = dict(
            requests=R,
            slot_s=60.0,
            server_gpu_memory_bytes=np.full(S, p.server_gpu_memory_bytes),
            server_load_bps=np.full(S, p.server_load_bps),
            server_compute_flops=rng.uniform(*p.server_compute_flops, size=S),
            server_latency_s=0.004 * hops.astype(float),
            model_size_bytes=size,
            model_flop_per_request=flop,
            model_cloud_accuracy=base + 0.5 * (top - base),
            context_examples=ex,
            context_accuracy=acc,
            context_decay=0.8,
            context_window=3,
            cloud_latency_s=p.cloud_latency_s,
            cloud_compute_flops=p.cloud_compute_flops,
            cloud_cost_per_flop=p.cloud_cost_per_flop,
            initial_cache=np.zeros((S, M), dtype=bool),
        )
        values.update(overrides)
        return cls(**values)


# ---------------------------------------------------------------------- objective and allocation
@dataclass(frozen=True)
class CachingObjective:
    r"""Weights and service rules of the caching objective (minimised, in cost units).

    Per request of model m from home server s served by the edge copy at server k (allowed when
    ``server_latency_s[s, k] <= latency_budget_s``), and per request sent to the cloud::

        edge:  latency * (lat[s,k] + flop_m / F_k) + accuracy * (1 - A_m(K))
        cloud: latency * (cloud_latency + flop_m / F_cloud) + cloud * price * flop_m
               + accuracy * (1 - cloud_accuracy_m)

    (accuracy enters as a loss ``1 - A``, so every cost is >= 0 and ratios to the optimum are
    meaningful)
    and per load of model m at server k: ``load_time * 8 size_m / rate_k + backhaul *
    size_m / 1e9``.

    Parameters
    ----------
    latency : float
        Weight per second of request latency.
    cloud : float
        Weight per cost unit of cloud compute.
    load_time : float
        Weight per second of model loading.
    backhaul : float
        Weight per GB downloaded to load a model.
    accuracy : float
        Weight per unit of accuracy loss ``1 - A`` of each request.
    latency_budget_s : float
        A request may be served by any server whose forwarding latency from its home server is
        at most this, s (0: only the home server).
    compute_capacity : bool
        Enforce ``sum flop of requests served at k in a slot <= F_k * slot_s``.
    """

    latency: float = 1.0
    cloud: float = 1.0
    load_time: float = 1.0
    backhaul: float = 1.0
    accuracy: float = 2.0
    latency_budget_s: float = 0.005
    compute_capacity: bool = False

    def __post_init__(self) -> None:
        for name, unit in (("latency", "cost/s"), ("cloud", "cost/cost"),
                           ("load_time", "cost/s"), ("backhaul", "cost/GB"),
                           ("accuracy", "cost")):
            object.__setattr__(self, name, _scalar(getattr(self, name), name, unit, low=0.0,
                                                   high=bound("weight")))
        object.__setattr__(self, "latency_budget_s", _scalar(
            self.latency_budget_s, "latency_budget_s", "s", low=0.0))
        object.__setattr__(self, "compute_capacity", check_bool("compute_capacity",
                                                                self.compute_capacity))


def objective_of(objective: Any) -> CachingObjective:
    """A CachingObjective from None, an objective, or a spec carrying one as ``.objective``."""
    if objective is None:
        return CachingObjective()
    if isinstance(objective, CachingObjective):
        return objective
    obj = getattr(objective, "objective", None)
    if isinstance(obj, CachingObjective):
        return obj
    raise ValidationError("objective", "-", type(objective).__name__,
                          "expected a CachingObjective or a spec with one")


@dataclass(frozen=True)
class CachingSpec(ProblemSpec):
    """Offline (clairvoyant) caching-and-routing MILP over the whole horizon.

    The program is built by :func:`aigc_opt.problems.caching.milp.build` (registered with
    :func:`aigc_opt.spec.register_builder`); the online policies are heuristics of this spec.

    Parameters
    ----------
    objective : CachingObjective
        Weights, latency budget and whether compute capacity is enforced.
    sparse : bool
        Create only the columns that can matter (see :mod:`.formulation`); False builds all.
    problem, variant : str
        Family and variant name (:class:`aigc_opt.ProblemSpec`): labels; keep the defaults.
    """

    objective: CachingObjective = field(default_factory=CachingObjective)
    sparse: bool = True
    problem: str = "caching"
    variant: str = "offline"

    instance_type = CachingInstance

    def __post_init__(self) -> None:
        if not isinstance(self.objective, CachingObjective):
            raise ValidationError("objective", "-", type(self.objective).__name__,
                                  "must be a CachingObjective")
        object.__setattr__(self, "sparse", check_bool("sparse", self.sparse))


@dataclass(frozen=True, eq=False)
class CachingAllocation:
    """Cache contents per server per slot and the routing of every slot's requests.

    Parameters
    ----------
    cache : ndarray of bool, shape (T, S, M)
        ``cache[t, k, m]``: server k holds model m in GPU memory during slot t.
    edge : ndarray, shape (T, S, S, M)
        ``edge[t, s, k, m]``: requests for m from home server s served at server k in slot t
        (request counts; may be fractional when a compute capacity splits a group).
    cloud : ndarray, shape (T, S, M)
        Requests sent to the cloud.
    """

    cache: np.ndarray
    edge: np.ndarray
    cloud: np.ndarray

    instance_type = CachingInstance

    def __post_init__(self) -> None:
        c = np.array(check_array("cache", "-", self.cache, ndim=3, dtype=bool))
        if c.ndim != 3:
            raise ValidationError("cache", "-", c.shape, "must be (slots, servers, models)")
        T, S, M = c.shape
        e = _arr(self.edge, "edge", "request", (T, S, S, M), low=None, allow_inf=True)
        y = _arr(self.cloud, "cloud", "request", (T, S, M), low=None, allow_inf=True)
        c.flags.writeable = False
        object.__setattr__(self, "cache", c)
        object.__setattr__(self, "edge", e)
        object.__setattr__(self, "cloud", y)


# ---------------------------------------------------------------------- shared physics
def neighbours(inst: CachingInstance, obj: CachingObjective) -> np.ndarray:
    """``ok[s, k]``: home server s may forward to server k (latency within budget), bool (S, S)."""
    return inst.server_latency_s <= obj.latency_budget_s


def edge_cost(inst: CachingInstance, obj: CachingObjective) -> np.ndarray:
    """Per-request cost of serving m from home s at k for a copy of accuracy 0, (S, S, M);
    subtract ``accuracy * A`` for the copy's accuracy A."""
    comp = inst.model_flop_per_request[None, :] / inst.server_compute_flops[:, None]  # (k, m)
    lat = np.where(np.isfinite(inst.server_latency_s), inst.server_latency_s, 0.0)
    return obj.latency * (lat[:, :, None] + comp[None, :, :]) + obj.accuracy


def cloud_cost(inst: CachingInstance, obj: CachingObjective) -> np.ndarray:
    """Per-request cost of a cloud request including its accuracy reward, (M,)."""
    f = inst.model_flop_per_request
    return (obj.latency * (inst.cloud_latency_s + f / inst.cloud_compute_flops)
            + obj.cloud * inst.cloud_cost_per_flop * f
            + obj.accuracy * (1.0 - inst.model_cloud_accuracy))


def load_cost(inst: CachingInstance, obj: CachingObjective) -> np.ndarray:
    """Cost of one load of model m at server k, (S, M)."""
    t_load = 8.0 * inst.model_size_bytes[None, :] / inst.server_load_bps[:, None]
    return obj.load_time * t_load + obj.backhaul * inst.model_size_bytes[None, :] / GB


def context_table(inst: CachingInstance, requests: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Effective examples ``K[t,k,m,a]`` and accuracy ``G[t,k,m,a]`` for ages a = 0..H.

    ``requests`` (default: the instance's) supplies the example stream; slots before 0 count 0.
    """
    R = inst.requests if requests is None else np.asarray(requests, dtype=float)
    H = inst.context_window
    T, S, M = R.shape
    K = np.zeros((T, S, M, H + 1))
    for a in range(1, H + 1):  # H is a handful of slots
        shifted = np.zeros_like(R)
        shifted[a:] = R[:-a] if a < T else 0.0
        K[..., a] = K[..., a - 1] + inst.context_decay ** (a - 1) * shifted
    G = np.empty_like(K)
    for m in range(M):  # one interpolation per model's table
        G[:, :, m, :] = np.interp(K[:, :, m, :], inst.context_examples, inst.context_accuracy[m])
    return K, G


def cache_age(cache: np.ndarray, horizon_cap: int, prev_age: np.ndarray | None = None
              ) -> np.ndarray:
    """Age of every cached copy (slots cached without interruption before t, capped), -1 if not
    cached. ``prev_age`` (S, M) is the age in the slot before ``cache[0]`` (-1: not cached or no
    context); by default no copy has context at the start.
    """
    T = cache.shape[0]
    age = np.full(cache.shape, -1, dtype=np.int64)
    prev = np.full(cache.shape[1:], -1, dtype=np.int64) if prev_age is None else prev_age
    for t in range(T):  # recursion over slots, vectorised over servers and models
        age[t] = np.where(cache[t], np.where(prev >= 0, np.minimum(prev + 1, horizon_cap), 0), -1)
        prev = age[t]
    return age
