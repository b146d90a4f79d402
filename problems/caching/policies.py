"""Online caching policies: LRU, LFU, static most-popular, Least Context and rolling horizon.

Every policy decides the cache of slot t at the start of the slot, from the requests of slots
``< t`` only (the rolling horizon with ``forecast="oracle"`` also sees the next ``window``
slots' requests; static most-popular uses the horizon's total popularity, a standard
clairvoyant-in-aggregate baseline). Once slot t's requests arrive they are routed by
:func:`route_given_cache`: each request group goes to the cheapest option among the servers
within the latency budget that hold its model and the cloud (exactly optimal for a fixed cache
without compute capacity; with compute capacity a greedy fill by saving per request). All
policies return a :class:`CachingAllocation`, scored by the same evaluator as the MILP.

Cache fills respect the GPU memory by construction: a server's candidate models are taken in
priority order and a model is added only if it still fits.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from aigc_opt.backend import SolveOptions
from aigc_opt.errors import ValidationError
from aigc_opt.solve import HeuristicNote, register_heuristic
from aigc_opt.validate import check_bool, check_choice, check_int, check_scalar

from .data import (
    CachingAllocation,
    CachingInstance,
    CachingObjective,
    CachingSpec,
    cache_age,
    cloud_cost,
    context_table,
    edge_cost,
    neighbours,
)
from .formulation import Layout, assemble, checked_options, layout, pass_highs, window_data

logger = logging.getLogger(__name__)


def route_given_cache(inst: CachingInstance, obj: CachingObjective, cache: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Best routing of every slot's requests for a fixed cache trajectory ``cache`` (T, S, M).

    Returns ``edge[t,s,k,m]`` and ``cloud[t,s,m]`` request counts.
    """
    T, S, M = inst.requests.shape
    R = inst.requests
    _, G = context_table(inst)
    age = cache_age(cache, inst.context_window)
    acc = np.take_along_axis(G, np.maximum(age, 0)[..., None], axis=3)[..., 0]
    unit = edge_cost(inst, obj)[None] - obj.accuracy * acc[:, None, :, :]  # (t, s, k, m)
    ok = cache[:, None, :, :] & neighbours(inst, obj)[None, :, :, None]
    unit = np.where(ok, unit, np.inf)
    qc = cloud_cost(inst, obj)
    edge = np.zeros((T, S, S, M))
    if not obj.compute_capacity:
        k_best = np.argmin(unit, axis=2)  # (t, s, m)
        best = np.take_along_axis(unit, k_best[:, :, None, :], axis=2)[:, :, 0, :]
        use = best < qc[None, None, :]
        tu, su, mu = np.nonzero(use)
        edge[tu, su, k_best[tu, su, mu], mu] = R[tu, su, mu]
        cloud = np.where(use, 0.0, R)
        return edge, cloud
    cloud = R.copy()
    saving = qc[None, None, None, :] - unit
    flop = inst.model_flop_per_request
    for t in range(T):  # greedy per slot: largest saving per request first
        cap = inst.server_compute_flops * inst.slot_s
        s_, k_, m_ = np.nonzero((saving[t] > 0) & (R[t][:, None, :] > 0))
        order = np.argsort(-saving[t][s_, k_, m_], kind="stable")
        left = R[t].copy()
        for i in order:
            s, k, m = s_[i], k_[i], m_[i]
            amount = min(left[s, m], cap[k] / flop[m])
            if amount <= 0:
                continue
            edge[t, s, k, m] += amount
            left[s, m] -= amount
            cap[k] -= amount * flop[m]
        cloud[t] = left
    return edge, cloud


def fill(priority: np.ndarray, eligible: np.ndarray, size: np.ndarray, memory: float
         ) -> np.ndarray:
    """Models to hold: eligible ones by decreasing priority, each added only if it still fits."""
    chosen = np.zeros(priority.shape[0], dtype=bool)
    free = memory
    idx = np.nonzero(eligible)[0]
    for m in idx[np.argsort(-priority[idx], kind="stable")]:
        if size[m] <= free * (1 + 1e-12):
            chosen[m] = True
            free -= size[m]
    return chosen


Decide = Callable[[int, np.ndarray, np.ndarray], np.ndarray]


def _simulate(inst: CachingInstance, obj: CachingObjective, decide: Decide) -> CachingAllocation:
    """Run ``decide(t, cache_prev, age_prev) -> cache_t`` over the horizon, then route."""
    T, S, M = inst.requests.shape
    H = inst.context_window
    cache = np.zeros((T, S, M), dtype=bool)
    prev, age = inst.initial_cache.copy(), np.full((S, M), -1, dtype=np.int64)
    for t in range(T):
        cache[t] = decide(t, prev, age)
        age = np.where(cache[t], np.where(age >= 0, np.minimum(age + 1, H), 0), -1)
        prev = cache[t]
    edge, cloud = route_given_cache(inst, obj, cache)
    return CachingAllocation(cache=cache, edge=edge, cloud=cloud)


def _by_priority(inst: CachingInstance, priority: np.ndarray, eligible: np.ndarray
                 ) -> np.ndarray:
    mem = inst.server_gpu_memory_bytes
    return np.stack([fill(priority[s], eligible[s], inst.model_size_bytes, float(mem[s]))
                     for s in range(priority.shape[0])])


def lru(inst: CachingInstance, spec: CachingSpec, seed: int = 0) -> CachingAllocation:
    """Least recently used: hold the most recently requested models that fit (ties: more
    requests in that slot); the initial cache counts as used just before slot 0."""
    R = inst.requests
    last = np.where(inst.initial_cache, -0.5, -np.inf)
    last_n = np.zeros(R.shape[1:])

    def decide(t: int, prev: np.ndarray, age: np.ndarray) -> np.ndarray:
        nonlocal last, last_n
        if t:
            hit = R[t - 1] > 0
            last = np.where(hit, t - 1.0, last)
            last_n = np.where(hit, R[t - 1], last_n)
        return _by_priority(inst, last + 0.5 * last_n / (1.0 + last_n), np.isfinite(last))

    return _simulate(inst, spec.objective, decide)


def lfu(inst: CachingInstance, spec: CachingSpec, seed: int = 0) -> CachingAllocation:
    """Least frequently used: hold the models with the most requests so far that fit."""
    R = inst.requests
    freq = np.where(inst.initial_cache, 0.5, 0.0)

    def decide(t: int, prev: np.ndarray, age: np.ndarray) -> np.ndarray:
        nonlocal freq
        if t:
            freq = freq + R[t - 1]
        return _by_priority(inst, freq, freq > 0)

    return _simulate(inst, spec.objective, decide)


def static_popular(inst: CachingInstance, spec: CachingSpec, seed: int = 0) -> CachingAllocation:
    """Static most-popular: each server holds, for the whole horizon, the models with the most
    requests at it over the horizon that fit (knows aggregate popularity, not the order)."""
    total = inst.requests.sum(axis=0)
    fixed = _by_priority(inst, total, total > 0)
    return _simulate(inst, spec.objective, lambda t, prev, age: fixed)


def least_context(inst: CachingInstance, spec: CachingSpec, seed: int = 0) -> CachingAllocation:
    """Least Context (Xu et al., GLOBECOM 2023): a model requested in the last slot and not
    cached is loaded (most requested first); room is made by evicting the cached copies with
    the fewest effective in-context examples ``K`` (ties: fewer requests in the last slot).
    Copies loaded in the same slot are not evicted; a model that cannot fit is skipped."""
    R = inst.requests
    K, _ = context_table(inst)
    size = inst.model_size_bytes
    H = inst.context_window

    def decide(t: int, prev: np.ndarray, age: np.ndarray) -> np.ndarray:
        if t == 0:
            return prev.copy()
        out = prev.copy()
        nxt_age = np.minimum(age + 1, H)
        for s in range(out.shape[0]):
            ctx = np.where(age[s] >= 0, K[t, s, np.arange(R.shape[2]), np.maximum(nxt_age[s], 0)],
                           0.0)
            new = np.nonzero((R[t - 1, s] > 0) & ~out[s])[0]
            inserted = np.zeros(R.shape[2], dtype=bool)
            mem = float(inst.server_gpu_memory_bytes[s])
            for m in new[np.argsort(-R[t - 1, s, new], kind="stable")]:
                used = float(size[out[s]].sum())
                removable = out[s] & ~inserted
                if used - float(size[removable].sum()) + size[m] > mem * (1 + 1e-12):
                    continue
                while used + size[m] > mem * (1 + 1e-12):
                    cand = np.nonzero(out[s] & ~inserted)[0]
                    victim = cand[np.lexsort((R[t - 1, s, cand], ctx[cand]))[0]]
                    out[s, victim] = False
                    used -= size[victim]
                out[s, m] = True
                inserted[m] = True
        return out

    return _simulate(inst, spec.objective, decide)


# ---------------------------------------------------------------------- rolling horizon
def _shift(lay: Layout, x: np.ndarray) -> np.ndarray:
    """A dense window solution moved one slot earlier; the new last slot keeps the old last
    slot's cache and routing fractions (no loads, no context credit): a feasible MIP start."""
    out = np.zeros(lay.n)
    W, S, M = lay.W, lay.S, lay.M
    nC = W * S * M
    blocks = [(np.arange(nC).reshape(W, S, M), True), (nC + np.arange(nC).reshape(W, S, M), False),
              (lay.ix, True), (lay.iy, True), (lay.iu, False), (lay.iv, False)]
    for idx, keep_last in blocks:
        if idx.size == 0:
            continue
        vals = x[idx]
        last = vals[-1:] if keep_last else np.zeros_like(vals[-1:])
        out[idx] = np.concatenate([vals[1:], last], axis=0)
    return out


#: Longest look-ahead window of :class:`RollingHorizon` (slots): its dense MILP has
#: ``window x servers x models`` cache columns and more per context age.
WINDOW_MAX = 10_000


class RollingHorizon:
    """Solve the caching MILP over a look-ahead window each slot and commit its first slot.

    Parameters
    ----------
    window : int
        Look-ahead slots W (the committed slot included), 1 to :data:`WINDOW_MAX`.
    forecast : {"oracle", "ewma"}
        Demand in the window: the true requests of slots t..t+W-1 ("oracle", a W-slot
        look-ahead), or an exponentially weighted average of past slots ("ewma", fully online).
    warm : bool
        Keep one ``highspy.Highs`` object alive and only change costs, column bounds, the load
        rows' bounds (and the compute coefficients) between slots (needs ``sparse=False``, a
        structure that does not depend on the demand); False builds a new model every slot.
    sparse : bool
        Build only the columns that matter for the window's demand (much smaller for many
        models; implies a cold rebuild every slot).
    mip_start : bool
        With ``warm``, give HiGHS the previous window's plan shifted by one slot as a start.
    mip_gap, time_limit : float
        HiGHS options per window solve (relative gap in [0, 1]; time limit in s, > 0, None:
        none). Without a solution the previous cache is kept.
    alpha : float
        Weight in [0, 1] of the last slot in the "ewma" forecast.
    threads : int, optional
        HiGHS threads per window solve, 1 to 4096 (None: the solver's default).

    Raises
    ------
    ValidationError
        A bad argument (named, with its unit and value), or ``warm`` with ``sparse``;
        an unknown ``forecast`` raises :class:`~aigc_opt.errors.UnknownNameError`.
    """

    def __init__(self, window: int = 3, forecast: str = "oracle", warm: bool = True,
                 mip_gap: float = 1e-4, time_limit: float | None = None, alpha: float = 0.5,
                 sparse: bool = False, mip_start: bool = True,
                 threads: int | None = None) -> None:
        self.window = int(check_int("window", window, "slot", 1, WINDOW_MAX))
        self.forecast = check_choice("forecast", forecast, ("oracle", "ewma"))
        self.warm = check_bool("warm", warm)
        self.sparse = check_bool("sparse", sparse)
        self.mip_start = check_bool("mip_start", mip_start)
        if self.warm and self.sparse:
            raise ValidationError("warm", "-", warm, "warm re-solves need the dense structure: "
                                  "pass sparse=False, or warm=False with sparse=True")
        # the ranges of SolveOptions (gap in [0, 1], time limit <= 1e9 s, threads <= 4096)
        self.mip_gap = float(check_scalar("mip_gap", mip_gap, "-", 0.0, 1.0))
        self.time_limit = check_scalar("time_limit", time_limit, "s", 0.0, 1e9, strict=True,
                                       optional=True)
        self.alpha = float(check_scalar("alpha", alpha, "-", 0.0, 1.0))
        self.threads = check_int("threads", threads, "-", 1, 4096, optional=True)
        #: Wall time spent building and solving window MILPs, and the number of windows.
        self.solve_seconds = 0.0
        self.slots = 0
        #: Of the last :meth:`run` with a deadline: window solves cut by their share of it, and
        #: slots left without a solve (cache kept) because it had passed.
        self.cut = 0
        self.skipped = 0

    def _new_highs(self, highspy: Any) -> Any:
        from aigc_opt.solvers.highs import new_highs, use_threads

        h = new_highs(False)
        h.setOptionValue("mip_rel_gap", float(self.mip_gap))
        if self.time_limit is not None:
            h.setOptionValue("time_limit", float(self.time_limit))
        use_threads(self.threads, h)
        return h

    def note(self, n_slots: int) -> str:
        """What the deadline of the last :meth:`run` cut short (empty when nothing)."""
        done = n_slots - self.skipped
        parts = []
        if self.skipped:
            parts.append(f"stopped at the time limit after {done} of {n_slots} window solves "
                         "(later slots keep the cache)")
        if self.cut:
            parts.append(f"{self.cut} of {done} window solves stopped at their share of the "
                         "time limit (best plan found used)")
        return "; ".join(parts)

    def run(self, inst: CachingInstance, obj: CachingObjective, *,
            deadline: float = math.inf) -> CachingAllocation:
        """Simulate the policy over the instance's horizon.

        ``deadline`` (a ``time.perf_counter()`` value) bounds the whole run: each window solve
        gets an equal share of the time left to the remaining slots (at most ``time_limit``),
        and once it has passed the remaining slots keep the cache (see :meth:`note`).
        """
        import highspy

        from aigc_opt.solvers.highs import run, run_started

        T, S, M = inst.requests.shape
        H, W, R = inst.context_window, self.window, inst.requests
        fixed: Layout | None = None
        if not self.sparse:
            fixed = layout(inst, obj, np.zeros((W, S, M)), np.zeros((W, S, M, H + 1)),
                           sparse=False)
        h: Any = None
        est = np.zeros((S, M))
        last_x: np.ndarray | None = None
        self.cut = self.skipped = 0

        def decide(t: int, prev: np.ndarray, age: np.ndarray) -> np.ndarray:
            nonlocal h, est, last_x
            share = (deadline - time.perf_counter()) / (T - t)
            if share <= 0.0:
                self.skipped += 1
                return prev.copy()
            if self.forecast == "oracle":
                Rw = np.zeros((W, S, M))
                Rw[: min(W, T - t)] = R[t: t + W]
            else:
                if t:
                    est = R[t - 1] if t == 1 else self.alpha * R[t - 1] + (1 - self.alpha) * est
                Rw = np.broadcast_to(est, (W, S, M)).copy()
            lo = max(0, t - H)
            _, Gcat = context_table(inst, np.concatenate([R[lo:t], Rw], axis=0))
            Gw = Gcat[t - lo:]
            t0 = time.perf_counter()
            lay = fixed if fixed is not None else layout(inst, obj, Rw, Gw, sparse=True)
            # each window its own cost scale (every cost is passed again, so the scale may
            # change): the first window's, kept for all, divided costs of 78 by 1.7e-19 once
            # the demand came (model sizes x 1e-20): 4.6e20, infinite to HiGHS, which crashed
            data = window_data(inst, obj, lay, Rw, Gw, prev, age)
            start = None
            if h is None or not self.warm:
                h = self._new_highs(highspy)
                pass_highs(h, assemble(lay, data, f"caching-window[t={t}]"), highspy)
            else:
                idx = np.arange(lay.n, dtype=np.int32)
                if self.mip_start and last_x is not None:  # previous plan, one slot on
                    start = _shift(lay, last_x)
                h.changeColsCost(lay.n, idx, data.c / data.scale)
                h.changeColsBounds(lay.n, idx, np.zeros(lay.n), data.col_upper)
                rows = lay.load_rows.astype(np.int32)
                h.changeRowsBounds(rows.size, rows, data.load_lower, np.full(rows.size, np.inf))
                for r, c, v in zip(lay.comp_entry_row.tolist(), lay.comp_entry_col.tolist(),
                                   data.comp_values.tolist(), strict=True):
                    h.changeCoeff(r, c, v)
            if math.isfinite(deadline):
                share = (deadline - time.perf_counter()) / (T - t)
                h.setOptionValue("time_limit", max(min(share, self.time_limit or math.inf),
                                                   1e-3))
            if start is None:
                run(h)
            else:  # run_started: HiGHS's presolve can take a start as optimal
                run_started(h, start)
            if (math.isfinite(deadline)
                    and h.getModelStatus() == highspy.HighsModelStatus.kTimeLimit):
                self.cut += 1
            self.solve_seconds += time.perf_counter() - t0
            self.slots += 1
            if int(h.getInfo().primal_solution_status) != 2:
                logger.warning("rolling horizon: no solution at slot %d, keeping the cache", t)
                return prev.copy()
            x = np.asarray(h.getSolution().col_value)
            last_x = x
            return x[: S * M].reshape(S, M) > 0.5

        return _simulate(inst, obj, decide)


def _rolling(inst: CachingInstance, spec: CachingSpec, forecast: str,
             options: SolveOptions | None) -> CachingAllocation | HeuristicNote:
    """A 3-slot :class:`RollingHorizon` with ``options.time_limit`` as the deadline of the
    whole run and ``options.threads`` per window solve; a note says what the limit cut."""
    t0 = time.perf_counter()
    opts = checked_options(options)
    deadline = math.inf if opts.time_limit is None else t0 + opts.time_limit
    policy = RollingHorizon(window=3, forecast=forecast, threads=opts.threads)
    alloc = policy.run(inst, spec.objective, deadline=deadline)
    note = policy.note(inst.requests.shape[0])
    return HeuristicNote(alloc, note) if note else alloc


def rolling_horizon(inst: CachingInstance, spec: CachingSpec, seed: int = 0,
                    options: SolveOptions | None = None
                    ) -> CachingAllocation | HeuristicNote:
    """Rolling-horizon MILP with a 3-slot oracle look-ahead (warm HiGHS object)."""
    return _rolling(inst, spec, "oracle", options)


def rolling_forecast(inst: CachingInstance, spec: CachingSpec, seed: int = 0,
                     options: SolveOptions | None = None
                     ) -> CachingAllocation | HeuristicNote:
    """Rolling-horizon MILP, 3-slot window on an EWMA forecast of past demand (fully online)."""
    return _rolling(inst, spec, "ewma", options)


POLICIES: dict[str, Callable[..., CachingAllocation | HeuristicNote]] = {
    "lru": lru,
    "lfu": lfu,
    "static_popular": static_popular,
    "least_context": least_context,
    "rolling_horizon": rolling_horizon,
    "rolling_forecast": rolling_forecast,
}
for _name, _fn in POLICIES.items():
    register_heuristic(CachingSpec, _name, _fn)
