"""The clairvoyant offline caching MILP: builder, decoder, HiGHS solve with a MIP start, a
per-slot lower bound, and the ``caching.*`` case kinds.

The model (variables, rows, why the linearisation is exact) is documented in
:mod:`.formulation`, whose layout and data functions this module and the rolling-horizon policy
(:mod:`.policies`) share. :func:`build` / :func:`decode` are registered for
:class:`~.data.CachingSpec` (so ``spec.build(instance)`` and every LP/MILP backend work), and
``offline_milp`` as its exact algorithm.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import replace
from typing import Any

import numpy as np

from aigc_opt.backend import SolveOptions
from aigc_opt.cases import CaseKind, register_case
from aigc_opt.errors import UnknownNameError, ValidationError
from aigc_opt.program import LinearProgram
from aigc_opt.result import Result, relative_gap
from aigc_opt.solve import register_algorithm
from aigc_opt.spec import register_builder

from .data import (
    CachingAllocation,
    CachingInstance,
    CachingObjective,
    CachingSpec,
    cache_age,
    context_table,
)
from .formulation import assemble, checked_options, layout, pass_highs, window_data

logger = logging.getLogger(__name__)


def build(inst: CachingInstance, spec: CachingSpec) -> LinearProgram:
    """The offline MILP over the whole horizon (see :mod:`.formulation`)."""
    obj = spec.objective
    R = inst.requests
    _, G = context_table(inst)
    lay = layout(inst, obj, R, G, sparse=spec.sparse)
    S, M = inst.n_servers, inst.n_models
    data = window_data(inst, obj, lay, R, G, inst.initial_cache, np.full((S, M), -1))
    return assemble(lay, data, f"caching[T={inst.n_slots},S={S},M={M}]", scale_routing=True)


def routing_from_solution(R: np.ndarray, ix: np.ndarray, iy: np.ndarray, ps: np.ndarray,
                          pk: np.ndarray, x: np.ndarray, cache: np.ndarray,
                          x_scale: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Request counts ``edge[t,s,k,m]`` and ``cloud[t,s,m]`` from the solution, cleaned of
    solver noise: edge flow only to holding servers, and each group's total equal to R.

    ``x_scale`` (``meta["x_scale"]``, shaped like ``ix``) converts scaled routing columns back
    to fractions (``x = s x'``, exact). Noise below ``1e-9`` is cleared in the solver's units
    ``x'``. The edge flows are kept as solved (they carry the compute rows) and the cloud takes
    the rest ``1 - sum x`` (``y`` differs from it only by the demand row's residual); only a
    group routed above 100 % is scaled down, so cleaning never adds compute load.
    """
    W, S, M = R.shape
    s = np.ones(ix.shape) if x_scale is None else np.asarray(x_scale, dtype=np.float64)
    xf = np.where(ix >= 0, np.clip(x[np.maximum(ix, 0)], 0.0, 1.0), 0.0)
    xf = np.where(xf < 1e-9, 0.0, xf) * s * cache[:, pk, :]
    edge = np.zeros((W, S, S, M))
    edge[:, ps, pk, :] = xf  # pairs (s, k) are distinct
    tot = edge.sum(axis=2)
    over = tot > 1.0
    edge = np.where(over[:, :, None, :], edge / np.where(over, tot, 1.0)[:, :, None, :], edge)
    cloud = np.maximum(1.0 - edge.sum(axis=2), 0.0) * R
    edge = edge * R[:, :, None, :]
    return edge, cloud


def decode(inst: CachingInstance, spec: CachingSpec, program: LinearProgram, values: Any
           ) -> CachingAllocation:
    """Cache = c > 1/2; routing from x, y (see :func:`routing_from_solution`)."""
    cache = np.asarray(values["cache"]) > 0.5
    x = np.asarray(values["x"], dtype=float)
    meta = program.meta
    edge, cloud = routing_from_solution(inst.requests, np.asarray(meta["ix"]),
                                        np.asarray(meta["iy"]), np.asarray(meta["ps"]),
                                        np.asarray(meta["pk"]), x, cache,
                                        meta.get("x_scale"))
    return CachingAllocation(cache=cache, edge=edge, cloud=cloud)


EXACT_NOTE = ("exact MILP: load and accuracy-by-age terms are linearised exactly "
              "(no approximation); gap is HiGHS's MIP gap")


def start_vector(inst: CachingInstance, program: LinearProgram, alloc: CachingAllocation
                 ) -> np.ndarray:
    """The MILP point (in ``program``'s columns) of a feasible allocation, e.g. a policy's, for
    use as a MIP start: c = cache, l = loads, x / y = routed fractions (x in the program's
    units ``x / meta["x_scale"]``), u = [age >= j], v = x u (same units as x)."""
    T, S, M = inst.requests.shape
    H = inst.context_window
    meta = program.meta
    ix, iy, iu, iv = (np.asarray(meta[k]) for k in ("ix", "iy", "iu", "iv"))
    ps, pk = np.asarray(meta["ps"]), np.asarray(meta["pk"])
    R = inst.requests
    s = np.asarray(meta["x_scale"]) if "x_scale" in meta else np.ones(ix.shape)
    x0 = np.zeros(program.n_cols)
    cache = alloc.cache
    prev = np.concatenate([inst.initial_cache[None], cache[:-1]], axis=0)
    x0[: T * S * M] = cache.reshape(-1)
    x0[T * S * M: 2 * T * S * M] = (cache & ~prev).reshape(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(R[:, ps, :] > 0, alloc.edge[:, ps, pk, :] / R[:, ps, :], 0.0)
        yfrac = np.where(R > 0, alloc.cloud / R, 0.0)
    m = ix >= 0
    x0[ix[m]] = (frac / s)[m]
    m = iy >= 0
    x0[iy[m]] = yfrac[m]
    if H:
        age = cache_age(cache, H)
        u = age[..., None] >= np.arange(1, H + 1)
        m = iu >= 0
        x0[iu[m]] = u[m]
        vv = (frac / s)[..., None] * u[:, pk, :, :]
        m = iv >= 0
        x0[iv[m]] = vv[m]
    return x0


def solve_offline(inst: CachingInstance, spec: CachingSpec, options: SolveOptions | None = None,
                  *, start: CachingAllocation | None = None) -> Result:
    """Solve the offline MILP with HiGHS, optionally from a MIP start (a feasible allocation,
    e.g. the best online policy's), so that a time-limited solve returns at least that good a
    solution together with HiGHS's proven bound and gap."""
    import highspy

    from aigc_opt.solvers.highs import (
        HighsBackend,
        configured_highs,
        run,
        run_started,
        wide_range_tolerances,
    )
    from aigc_opt.solvers.numerics import equilibrate, range_checked

    opts = checked_options(options)
    if opts.mip_gap is None:
        opts = replace(opts, mip_gap=1e-6)
    t0 = time.perf_counter()
    lp = spec.build(inst)  # includes the spec's extra_constraints
    build_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    h = configured_highs(opts)  # mip_gap is set above (1e-6 unless given)
    # the backend's power-of-two equilibration (exact): HiGHS on its own scaling died with heap
    # corruption on costs spanning 1e-2..3e20 (certify seed 80002034, compute x 1e-20)
    sc = equilibrate(lp)
    wide_range_tolerances(h, sc, opts)  # and no optimality claim beyond the range (below)
    pass_highs(h, sc.program, highspy)
    if start is None:
        run(h)
    else:  # run_started: HiGHS's presolve can take a start as optimal
        run_started(h, start_vector(inst, lp, start) / sc.col_scale)
    res = range_checked(HighsBackend()._result(h, lp, highspy, time.perf_counter() - t1, sc), sc)
    scale = float(lp.meta["objective_scale"])
    objective, bound = res.objective * scale, res.bound * scale
    alloc = None
    if res.has_solution:
        alloc = spec.decode(inst, lp, res.values)
        # A solve stopped early may leave u, v below (and l above) their values at the decoded
        # cache and routing; the same cache and routing with them set exactly costs at most as
        # much, and that is the cost the evaluator reports.
        polished = lp.objective_value(start_vector(inst, lp, alloc)) * scale
        objective = min(objective, polished)
    msg = f"{res.message}; {EXACT_NOTE}" + ("; MIP start given" if start is not None else "")
    gap = res.gap if res.optimal else relative_gap(objective, bound)
    return replace(res, objective=objective, bound=bound, gap=gap, allocation=alloc,
                   message=msg, stats=replace(res.stats, build_seconds=build_s))


def slot_bound(inst: CachingInstance, spec: CachingSpec, options: SolveOptions | None = None
               ) -> tuple[float, bool]:
    """A lower bound on the offline optimum that decomposes by slot.

    Drop the load costs (then slots are coupled only through ages) and give every copy its
    best possible accuracy ``G[t, k, m, H]`` (accuracy is nondecreasing in the age): every
    feasible trajectory costs at least the sum over slots of the single-slot optimum of this
    relaxation. Each slot is a small MILP; the sum of HiGHS's dual bounds is returned, with
    whether every slot closed. Exact (equal to the optimum) when loads are free and H = 0.
    """
    from aigc_opt.backend import get_backend

    opts = checked_options(options, SolveOptions(mip_gap=1e-6))
    obj = replace(spec.objective, load_time=0.0, backhaul=0.0)
    R = inst.requests
    T, S, M = R.shape
    H = inst.context_window
    _, G = context_table(inst)
    best = np.repeat(G[..., H:], H + 1, axis=3)
    be = get_backend("highs")
    total, closed = 0.0, True
    for t in range(T):  # independent single-slot MILPs
        lay = layout(inst, obj, R[t:t + 1], best[t:t + 1], sparse=True)
        data = window_data(inst, obj, lay, R[t:t + 1], best[t:t + 1],
                           np.zeros((S, M), dtype=bool), np.full((S, M), -1))
        res = be.solve(assemble(lay, data, f"caching-slot[{t}]", scale_routing=True), opts)
        closed &= res.optimal
        b = res.objective if res.optimal and not math.isnan(res.objective) else res.bound
        total += (b if not math.isnan(b) else -math.inf) * data.scale
    return total, closed


def offline_milp(inst: CachingInstance, spec: CachingSpec, options: SolveOptions) -> Result:
    """Solve the offline MILP with HiGHS (default ``mip_gap`` 1e-6 unless given), without a
    MIP start (see :func:`solve_offline`)."""
    return solve_offline(inst, spec, options)


def _spec_with(compute: bool) -> Any:
    def make(**params: Any) -> CachingSpec:
        obj = params.pop("objective", None)
        if obj is None:
            obj = CachingObjective(compute_capacity=compute)
        elif isinstance(obj, dict):  # field name -> value over the case's default
            names = [f.name for f in dataclasses.fields(CachingObjective)]
            for k in obj:
                if not isinstance(k, str) or k not in names:
                    raise UnknownNameError("objective", k if isinstance(k, str) else repr(k),
                                           names)
            obj = CachingObjective(**{"compute_capacity": compute, **obj})
        # anything else (0, '', [] were taken as 'no objective') is CachingSpec's to check
        unknown = set(params) - {"sparse"}
        if unknown:
            name = sorted(unknown)[0]
            raise ValidationError(name, "-", params[name], "unknown caching spec parameter")
        return CachingSpec(objective=obj, **params)
    return make


register_builder(CachingSpec, build, decode)
register_algorithm(CachingSpec, "offline_milp", offline_milp)

_METHODS = ("offline_milp", "lru", "lfu", "static_popular", "least_context", "rolling_horizon",
            "rolling_forecast")


def _make_instance(seed: int, n_servers: int = 3, n_models: int = 6, n_slots: int = 8,
                   **kw: Any) -> CachingInstance:
    return CachingInstance.generate(n_servers, n_models, n_slots, seed=seed, **kw)


def _make_instance_compute(seed: int, n_servers: int = 3, n_models: int = 5, n_slots: int = 6,
                           **kw: Any) -> CachingInstance:
    kw.setdefault("slot_s", 10.0)  # short slots so that the compute capacity binds
    return _make_instance(seed, n_servers, n_models, n_slots, **kw)


def _trace_loader(make: Any) -> Any:
    def load(path: Any) -> CachingInstance:
        """A request trace CSV (:mod:`.trace`) on the seed-0 network of the trace's size."""
        from .trace import load_trace_csv

        r = load_trace_csv(path)
        return make(0, r.shape[1], r.shape[2], r.shape[0]).with_requests(r)
    return load


_TRACE_FORMAT = "request trace slot,server,model,count (network: seed 0)"
CASES = (
    CaseKind(name="caching.offline", make_instance=_make_instance, make_spec=_spec_with(False),
             default_methods=_METHODS, reference="offline_milp",
             description="model caching + routing over time: offline MILP vs online policies",
             load_instance=_trace_loader(_make_instance), instance_format=_TRACE_FORMAT,
             instance_suffixes=(".csv",)),
    CaseKind(name="caching.compute", make_instance=_make_instance_compute,
             make_spec=_spec_with(True),
             default_methods=_METHODS, reference="offline_milp",
             description="model caching + routing with per-slot compute capacity",
             load_instance=_trace_loader(_make_instance_compute),
             instance_format=_TRACE_FORMAT, instance_suffixes=(".csv",)),
)
for _kind in CASES:
    register_case(_kind)
