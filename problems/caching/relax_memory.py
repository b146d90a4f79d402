r"""Lagrangian relaxation of the memory rows: one exact subproblem per model.

Dualising only the GPU-memory rows ``sum_m z_km c_tkm <= 1`` of the offline MILP
(:mod:`.formulation`) with prices ``mu[t, k] >= 0`` (problem cost units per server memory)
leaves one independent problem per model ``m``: the whole MILP restricted to that model
(all servers, slots, ages and neighbour routing, :func:`.milp.build` on the one-model
instance) with ``mu[t, k] z_km`` added to the cost of ``c[t, k, m]``. Hence

.. math::

    L(\mu) = \sum_m v_m(\mu) - \sum_{t,k} K_{t,k}(\mu) \;\le\; \mathrm{OPT}
    \quad (\mu \ge 0),

for ``v_m`` the optimum of model ``m``'s LP relaxation (valid) or any lower bound of its
MILP (stronger), and ``K_tk(mu) = max {sum_m mu_tk z_km d_m : d in {0,1}^M fits Mem_k}`` the
memory block of the Lagrangian decomposition at ``lam = mu z`` (:func:`memory_term`; at most
``mu_tk``, the value of plain dualisation, so the knapsacks only raise the bound, most where
few models fit). Unlike :func:`.decomposition.lagrangian` the demand rows are *not*
dualised: each model's routing between neighbours is kept exactly, so with LP subproblems
``L`` reaches the compact LP bound in seconds where the compact LP itself takes minutes
(10 x 50 x 100: 66,998 after 1,800 warm-started per-model LP solves in 60 s, against a
compact LP of 67,051 that HiGHS's interior point does not finish in 400 s).

Phases within ``options.time_limit`` (default 120 s):

1. a search for the best uniform price ``mu = c`` (``L`` is concave along the ray, so the
   geometric grid stops once it falls), then projected subgradient ascent
   ``mu <- max(0, mu + theta (UB - L) / |g|^2 g)`` with ``g = sum_m z (c_m - d_m)`` (``d``
   the knapsacks' choice; ``theta``
   halved after ``patience`` non-improving steps), each model's LP warm-started from its
   previous basis, until ``sg_share`` of the time;
2. every model's MILP at the best prices (until ``milp_share``): its dual bound (at least its
   LP value) gives the stronger ``L``, its solution a cache;
3. the primal: the subproblems' caches (MILP where solved, LP rounded at 1/2 otherwise) made
   memory-feasible by :func:`.decomposition.repair` (models kept by serving value per byte)
   and polished by coordinate descent and exact pair moves
   (:meth:`.decomposition._Primal.polish`, until a round gains less than
   :data:`POLISH_GAIN` of the cost); one relaxation-guided move (every entry where the
   model MILPs' caches disagree with the primal freed, the rest fixed, :mod:`.rins`; up to
   :data:`RINS_STEP`, polished again when it gains); then rounds of exact MILP moves
   until the deadline or until both kinds settle: one server's cache over a 10-slot window
   (:mod:`.window_lns`, up to 20 s), then groups of three models over the whole horizon
   (:mod:`.model_lns`, up to 20 s; with at most three models the group is the whole offline
   MILP, whose proven bound then replaces the Lagrangian one).
4. when every group is settled with more than a second left, the offline MILP
   (:func:`.milp.solve_offline`) from the best primal for the rest of the time: its
   incumbent is a candidate and its proven bound, when higher, replaces the Lagrangian one
   (on small instances it proves the optimum the moves stop short of).

With compute capacity, each model's subproblem keeps its own compute rows (one model alone
within the server's FLOP budget), a relaxation of the coupled rows, so the bound stays valid
but is weaker, and the primal is the repaired cache routed within capacity (no polishing).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from aigc_opt.backend import SolveOptions
from aigc_opt.result import Result, relative_gap
from aigc_opt.solve import register_algorithm

from .data import CachingInstance, CachingSpec
from .decomposition import (
    Tables,
    _checked,
    _finish,
    _Primal,
    allocation_of,
    extra_flag,
    extra_option,
    knapsack_max,
    repair,
    tables,
)
from .formulation import pass_highs
from .milp import build, solve_offline
from .model_lns import model_lns, model_subset
from .rins import rins_moves
from .window_lns import window_lns

logger = logging.getLogger(__name__)

_EXTRA = ("sg_share", "milp_share", "patience", "milp_tail", "polish_gain", "rins")
#: Pair-move rounds of the primal polish stop once one gains less than this fraction of the
#: cost (10 x 50 x 100, seed 0: the last six rounds gained 2e-5 to 2.3e-4 of it in about 1.8 s
#: each; the window and model moves gained more per second).
POLISH_GAIN = 5e-4
#: Longest HiGHS run of one RINS move, s.
RINS_STEP = 6.0
#: Knapsack capacity units per server memory in :func:`memory_term`.
GRID = 240


class Subproblems:
    """The per-model programs, each in its own warm-started HiGHS object.

    Model ``m``'s cache columns are its program's first ``T S`` columns (``c[t, k]``); those
    of servers the model does not fit are fixed to 0 (exact: its memory row forbids them).
    """

    def __init__(self, inst: CachingInstance, spec: CachingSpec, tb: Tables,
                 workers: int = 1) -> None:
        import highspy

        from aigc_opt.solvers.highs import new_highs
        from aigc_opt.solvers.numerics import equilibrate

        self.hs = highspy
        T, S, M = inst.requests.shape
        self.shape = (T, S, M)
        self.nC = T * S
        self.z = tb.z
        self.models: list[tuple[Any, Any, float]] = []
        self.ints: list[np.ndarray] = []
        for m in range(M):
            lp = build(model_subset(inst, np.array([m])), spec)
            eq = equilibrate(lp)  # exact powers of two; the cache columns (integer) keep D = 1
            h = new_highs()
            h.setOptionValue("output_flag", False)
            pass_highs(h, eq.program, highspy)
            idx = np.nonzero(lp.integrality)[0].astype(np.int32)
            h.changeColsIntegrality(idx.size, idx, np.zeros(idx.size, dtype=np.int32))
            shut = np.nonzero(np.tile(~tb.ok[:, m], T))[0].astype(np.int32)
            if shut.size:
                h.changeColsBounds(shut.size, shut, np.zeros(shut.size), np.zeros(shut.size))
            # problem units = (scaled objective incl. offset) * sigma * objective_scale
            self.models.append((h, eq, float(lp.meta["objective_scale"]) * eq.obj_scale))
            self.ints.append(idx)
        self.cols = np.arange(self.nC, dtype=np.int32)
        self.workers = max(1, int(workers))
        self._pool: ThreadPoolExecutor | None = None

    def _price(self, m: int, mu: np.ndarray) -> None:
        h, eq, unit = self.models[m]
        # cache columns: c' = c D / sigma with D = 1; mu z in problem units -> / unit
        h.changeColsCost(self.nC, self.cols,
                         eq.program.c[: self.nC] + (mu * self.z[:, m]).ravel() / unit)

    def _map(self, fn: Callable[[int], Any]) -> list[Any]:
        """``fn(m)`` for every model, in ``self.workers`` threads (each model's HiGHS object is
        used by one thread at a time; HiGHS releases the GIL while it solves)."""
        M = self.shape[2]
        if self.workers <= 1:
            return [fn(m) for m in range(M)]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="relax_memory")
        return list(self._pool.map(fn, range(M)))

    def close(self) -> None:
        """Shut the thread pool down (if one was started)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def lp(self, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """``(v, c)`` with LP subproblems: each model's value ``v_m(mu)`` (M,) in problem units
        and the caches ``c`` (T, S, M), fractional; None when an LP did not end optimal (then
        no bound is claimed)."""
        from aigc_opt.solvers.highs import run

        T, S, M = self.shape

        def one(m: int) -> tuple[float, np.ndarray] | None:
            h, _, unit = self.models[m]
            self._price(m, mu)
            run(h)
            if h.getModelStatus() != self.hs.HighsModelStatus.kOptimal:
                logger.debug("model %d LP ended %s", m, h.getModelStatus())
                return None
            return (float(h.getInfo().objective_function_value) * unit,
                    np.asarray(h.getSolution().col_value)[: self.nC].reshape(T, S))

        out = self._map(one)
        if any(o is None for o in out):
            return None
        values = np.array([o[0] for o in out])
        cache = np.stack([o[1] for o in out], axis=2)
        return values, cache

    def milp(self, mu: np.ndarray, lp_cache: np.ndarray, lp_values: np.ndarray,
             deadline: float) -> tuple[float, np.ndarray, int]:
        """Every model's MILP at ``mu`` while time lasts: ``(sum of the models' terms, cache,
        models solved)``.

        A model's term is the larger of its MILP dual bound and ``lp_values[m]`` (both valid);
        its cache is the MILP's solution when there is one, else ``lp_cache`` rounded. Each
        MILP gets an equal share of the time left among the models not yet started (times the
        number of threads).
        """
        from aigc_opt.solvers.highs import run

        T, S, M = self.shape
        cache = lp_cache >= 0.5
        started = [0]
        lock = threading.Lock()

        def one(m: int) -> tuple[float, np.ndarray | None, bool]:
            with lock:
                left = deadline - time.perf_counter()
                share = left * self.workers / max(M - started[0], 1)
                started[0] += 1
            if left <= 0:
                return float(lp_values[m]), None, False
            h, _, unit = self.models[m]
            self._price(m, mu)
            idx = self.ints[m]
            h.changeColsIntegrality(idx.size, idx, np.ones(idx.size, dtype=np.int32))
            h.setOptionValue("time_limit", min(share, left))
            h.setOptionValue("mip_rel_gap", 1e-6)
            run(h)
            term = max(float(lp_values[m]), float(h.getInfo().mip_dual_bound) * unit)
            x = (np.asarray(h.getSolution().col_value)[: self.nC].reshape(T, S) > 0.5
                 if h.getSolution().value_valid else None)
            solved = h.getModelStatus() == self.hs.HighsModelStatus.kOptimal
            h.changeColsIntegrality(idx.size, idx, np.zeros(idx.size, dtype=np.int32))
            h.setOptionValue("time_limit", math.inf)
            return term, x, solved

        out = self._map(one)
        for m, (_, x, _) in enumerate(out):
            if x is not None:
                cache[:, :, m] = x
        return float(sum(o[0] for o in out)), cache, sum(int(o[2]) for o in out)


def memory_term(tb: Tables, mu: np.ndarray, grid: int = GRID) -> tuple[float, np.ndarray]:
    """``sum_{t,k} max_d sum_m mu_tk z_km d_m`` over 0-1 ``d`` that fit the memory, and the
    memory each maximiser uses, ``sum_m z_km d_m`` (T, S).

    This is the memory block of the Lagrangian *decomposition* at ``lam = mu z`` (the cache
    copied into per-(t, k) knapsacks, :func:`.decomposition.lagrangian`): at most
    ``sum mu`` (the fractional knapsack), so ``L`` only gains over plain dualisation, most
    where few models fit. Weights are ``floor(grid z)`` in units of ``Mem_k / grid``:
    rounding down only enlarges the feasible set, so the bound stays valid; where the 0-1
    value then exceeds the fractional ``mu min(1, sum_m z_km)`` (also an upper bound), the
    fractional one is taken.
    """
    T, S = mu.shape
    M = tb.z.shape[1]
    wt = np.floor(tb.z * grid * (1 - 1e-12)).astype(np.int64)
    prof = (mu[:, :, None] * tb.z[None]).reshape(T * S, M)
    kv, d = knapsack_max(prof, np.broadcast_to(wt[None], (T, S, M)).reshape(T * S, M), grid)
    use = (d.reshape(T, S, M) * tb.z[None]).sum(axis=2)
    # the fractional knapsack mu min(1, sum z) is a second upper bound (rounded weights can
    # let the 0-1 choice overfill by up to M / grid): the smaller one is kept
    frac_use = np.minimum(1.0, tb.z.sum(axis=1))[None, :]
    frac = (mu * frac_use).reshape(-1)
    capped = kv.reshape(T, S) >= frac.reshape(T, S)
    value = np.minimum(kv, frac)
    use = np.where(capped, np.broadcast_to(frac_use, (T, S)), use)
    return float(value.sum()), use


def serving_value(tb: Tables) -> np.ndarray:
    """``s[t, k, m]``: requests a copy at k could serve times their saving over the cloud at
    age 0 (the repair's priority, per byte after dividing by ``z``)."""
    T, S, M = tb.R.shape
    gain = tb.Rp * np.maximum(tb.q[None, None, :] - tb.b[..., 0], 0.0)
    out = np.zeros((T, S, M))
    np.add.at(out.transpose(1, 0, 2), tb.pk, gain.transpose(1, 0, 2))
    return out


class _BoundSearch:
    """The dual side of :func:`solve_relax_memory`: the uniform-price ray search, projected
    subgradient ascent on ``mu`` and every model's MILP at the best prices (phases 1-2 of the
    module docstring); its state (best prices, caches, bounds) is read by the primal phases
    after :meth:`run`."""

    def __init__(self, sub: Subproblems, tb: Tables, target: float, patience: int) -> None:
        T, S = tb.R.shape[:2]
        M = tb.z.shape[1]
        self.sub, self.tb, self.target, self.patience = sub, tb, target, patience
        self.lb = -math.inf
        self.best_mu, self.best_c = np.zeros((T, S)), np.zeros((T, S, M))
        self.best_v = np.full(M, math.nan)  # the models' LP values at best_mu
        self.it = self.done = 0
        self.lp_bound = self.milp_bound = -math.inf
        self.milp_cache: np.ndarray | None = None

    def _lagr(self, mu: np.ndarray) -> tuple[float, np.ndarray, np.ndarray] | None:
        """``(L(mu), c, g)``: the bound, the subproblems' caches and a subgradient."""
        self.it += 1
        out = self.sub.lp(mu)
        if out is None:
            return None
        kv, use = memory_term(self.tb, mu)
        v, c = out
        val = float(v.sum()) - kv
        lb = self.lb
        if val > lb + (1e-12 * max(1.0, abs(lb)) if math.isfinite(lb) else 0.0):
            self.lb, self.best_mu, self.best_c, self.best_v = val, mu.copy(), c, v
        return val, c, (c * self.tb.z[None]).sum(axis=2) - use

    def _value(self, mu: np.ndarray) -> float:
        out = self._lagr(mu)
        return -math.inf if out is None else out[0]

    def run(self, sg_end: float, milp_end: float, ub: Callable[[], float],
            on_cache: Callable[[np.ndarray], None]) -> None:
        """Phases 1-2 until ``sg_end`` and ``milp_end``; ``ub()`` is the best primal so far
        (Polyak steps, early stop); ``on_cache`` receives the best prices' rounded caches
        after the ray search."""
        tb, target = self.tb, self.target
        T, S = self.best_mu.shape
        # uniform prices on a geometric grid around the mean cloud cost per (slot, server): L
        # is concave along the ray, so the search walks uphill from 2^-2 of it until the
        # first fall (the second point only while time lasts: with a limit shorter than one
        # evaluation of the M cold model LPs, one point gives the bound)
        base = max(float((tb.R * tb.q[None, None, :]).sum()) / max(T * S, 1), 1e-300)
        ray = {-2: self._value(np.full((T, S), base / 4))}
        ray[-3] = self._value(np.full((T, S), base / 8)) if time.perf_counter() < sg_end \
            else -math.inf
        step = -1 if ray[-3] > ray[-2] else 1
        j = -3 if step < 0 else -2
        while -40 < j < 40 and time.perf_counter() < sg_end:
            ray[j + step] = self._value(np.full((T, S), base * 2.0 ** (j + step)))
            if not ray[j + step] > ray[j]:
                break
            j += step
        if self.best_c.any():
            on_cache(self.best_c >= 0.5)
        mu = self.best_mu.copy()
        theta, stall = 1.0, 0
        while time.perf_counter() < sg_end and theta > 1e-6 \
                and relative_gap(ub(), self.lb) > target:
            before = self.lb
            out = self._lagr(mu)
            if out is None:
                break
            val, c, g = out
            if self.lb > before:
                stall = 0
            else:
                stall += 1
                if stall >= self.patience:
                    theta, stall = theta / 2, 0
            logger.debug("relax_memory step %d: L %.10g, best %.10g, theta %.3g", self.it, val,
                         self.lb, theta)
            g = np.where((mu <= 0) & (g < 0), 0.0, g)  # projected: a zero price cannot fall
            norm = float((g ** 2).sum())
            if norm <= 0:  # the subproblems' caches fill the knapsacks' choice exactly
                break
            u = ub()
            u = u if math.isfinite(u) else abs(val) * 2 + 1.0
            mu = np.maximum(0.0, mu + theta * max(u - val, 0.0) / norm * g)
        self.lp_bound = self.lb
        if relative_gap(ub(), self.lb) > target and time.perf_counter() < milp_end \
                and np.isfinite(self.best_v).all():
            total, cache, self.done = self.sub.milp(self.best_mu, self.best_c, self.best_v,
                                                    milp_end)
            self.milp_bound = total - memory_term(tb, self.best_mu)[0]
            self.lb = max(self.lb, self.milp_bound)
            self.milp_cache = cache


def solve_relax_memory(inst: CachingInstance, spec: CachingSpec,
                       options: SolveOptions | None = None) -> Result:
    """Lagrangian relaxation of the memory rows with exact per-model subproblems (module
    docstring): certified bound ``max L(mu)`` and a repaired, polished primal.

    ``extra``: ``sg_share`` and ``milp_share`` end the subgradient and MILP phases as
    fractions of the time limit (defaults 0.3 and 0.45 with two or more threads, 0.4 and 0.6
    with one, whose subgradient steps take twice as long); ``patience`` (default 3)
    non-improving steps halve the step; ``milp_tail`` (default True) runs the offline MILP
    with the time the moves leave (phase 4; False keeps the pure decomposition);
    ``polish_gain`` (default :data:`POLISH_GAIN`) stops a polish once a round of pair moves
    gains less than that fraction of the cost (0: until no gain); ``rins`` (default True)
    runs the relaxation-guided move of :mod:`.rins` after the polish (False: none).
    The shares and ``polish_gain`` are fractions in [0, 1], ``patience`` a whole number >= 1,
    the flags bools; anything else raises :class:`~aigc_opt.errors.ValidationError` on the
    field ``"relax_memory option extra['<key>']"``.
    ``options.threads`` (default 1) solves the models' LPs and MILPs, and the window moves,
    that many at a time in threads (HiGHS releases the GIL while it solves).
    ``options.mip_gap`` (default 1e-4) stops early.
    """
    opts, bad = _checked(inst, spec, options, "relax_memory", _EXTRA)
    if bad is not None:
        return bad
    t0 = time.perf_counter()
    limit = 120.0 if opts.time_limit is None else float(opts.time_limit)
    target = 1e-4 if opts.mip_gap is None else float(opts.mip_gap)
    workers = 1 if opts.threads is None else int(opts.threads)
    deadline = t0 + limit
    # one thread gets half the subgradient steps per second: it keeps the longer phases
    sg_share, milp_share = (0.3, 0.45) if workers > 1 else (0.4, 0.6)
    sg_end = t0 + extra_option(opts, "relax_memory", "sg_share", sg_share, "-", 0.0, 1.0) * limit
    milp_end = t0 + extra_option(opts, "relax_memory", "milp_share", milp_share, "-", 0.0,
                                 1.0) * limit
    tail_on = extra_flag(opts, "relax_memory", "milp_tail", True)
    polish_gain = extra_option(opts, "relax_memory", "polish_gain", POLISH_GAIN, "-", 0.0, 1.0)
    rins_on = extra_flag(opts, "relax_memory", "rins", True)
    patience = extra_option(opts, "relax_memory", "patience", 3, "iteration", 1, integer=True)
    obj = spec.objective
    tb = tables(inst, obj)
    sub = Subproblems(inst, spec, tb, workers)
    build_s = time.perf_counter() - t0
    M = inst.requests.shape[2]
    prim = _Primal(inst, obj, tb)
    score = serving_value(tb)  # repair() divides by z

    def offer(cache: np.ndarray) -> None:
        prim.offer(repair(tb, np.where(cache, 0, -1), score), 0, deadline)

    bs = _BoundSearch(sub, tb, target, patience)
    try:
        bs.run(sg_end, milp_end, lambda: prim.ub, offer)
    finally:
        sub.close()
    if bs.milp_cache is not None:
        offer(bs.milp_cache)
    offer(bs.best_c >= 0.5)
    # the model MILPs' caches only: the LP caches as a second reference gained 242 in 16 s
    # (seed 0) and nothing in 6 s (seed 1), less than the window moves in that time
    refs = [bs.milp_cache] if rins_on and bs.milp_cache is not None else []
    moves, window_moves, whole, n_rins = _primal_search(inst, spec, tb, prim, lambda: bs.lb,
                                                        target, deadline, workers, polish_gain,
                                                        refs)
    lb = max(bs.lb, whole)
    tail = -math.inf
    if tail_on:
        tail = _milp_tail(inst, spec, prim, lb, target, deadline)
        lb = max(lb, tail)
    return _finish(inst, obj, prim, lb, target, "relax_memory", t0, build_s, bs.it,
                   f"memory rows dualised, {M} exact per-model subproblems: {bs.it} LP "
                   f"evaluations (bound {bs.lp_bound:.10g}), {bs.done}/{M} model MILPs solved "
                   f"(bound {bs.milp_bound:.10g}), {n_rins} RINS, {moves} model-LNS and "
                   f"{window_moves} window-LNS moves, {workers} thread(s); bound = best "
                   "Lagrangian value (or the offline MILP's, when an LNS group held every "
                   "model or the final offline MILP proved more)",
                   {"lp_bound": bs.lp_bound, "milp_bound": bs.milp_bound,
                    "milp_models": bs.done, "lns_moves": moves, "window_moves": window_moves,
                    "rins_moves": n_rins,
                    "tail_bound": tail, "threads": workers})


def _primal_search(inst: CachingInstance, spec: CachingSpec, tb: Tables, prim: _Primal,
                   lb: Callable[[], float], target: float, deadline: float, workers: int = 1,
                   min_gain: float = 0.0, refs: list[np.ndarray] | None = None
                   ) -> tuple[int, int, float, int]:
    """Phase 3 after the first offers: polish, the relaxation-guided moves of each reference
    cache in ``refs`` (:func:`.rins.rins_moves`, up to :data:`RINS_STEP` each; polished
    again when one gains), then rounds of window moves (up to 20 s) and model moves (up to
    20 s) until the deadline, the gap target against ``lb()``, or both kinds settle. Returns
    (model moves, window moves, the proven bound of a model-LNS group that held every model,
    i.e. of the offline MILP itself, else -inf, RINS moves)."""
    moves = window_moves = rounds = n_rins = 0
    whole = -math.inf

    def gap() -> float:
        return relative_gap(prim.ub, max(lb(), whole))

    if gap() > target:
        prim.polish(deadline, min_gain=min_gain)
    logger.debug("relax_memory polished primal %.10g", prim.ub)
    if refs and gap() > target and not tb.compute:
        cache, n_rins = rins_moves(inst, spec, tb, prim.cache, refs, deadline,
                                   step_limit=RINS_STEP)
        prim.offer(cache, 0, deadline)
        if n_rins:
            prim.polish(deadline, min_gain=min_gain)
        logger.debug("relax_memory after %d RINS moves: %.10g", n_rins, prim.ub)
    while not tb.compute and gap() > target and time.perf_counter() < deadline - 0.1:
        # the pair moves are at a local optimum: re-optimise (server, slot window) blocks,
        # then groups of models, by MILP (at most 20 s each per round)
        cache, nw, local = window_lns(inst, spec, tb, prim.cache,
                                      min(deadline, time.perf_counter() + 20), seed=rounds,
                                      workers=workers)
        window_moves += nw
        prim.offer(cache, 0, deadline)
        if gap() <= target or time.perf_counter() >= deadline - 0.1:
            break
        window = min(deadline, time.perf_counter() + 20)
        cache, n, group_bound = model_lns(inst, spec, tb, prim.cache, window, seed=rounds)
        moves += n
        rounds += 1
        whole = max(whole, group_bound)
        prim.offer(cache, 0, deadline)
        if n or nw:
            prim.polish(deadline, min_gain=min_gain)
        elif local and time.perf_counter() < window - 0.05:
            break  # both kinds of moves settled with no gain: nothing is left to them
    return moves, window_moves, whole, n_rins


def _milp_tail(inst: CachingInstance, spec: CachingSpec, prim: _Primal, lb: float,
               target: float, deadline: float) -> float:
    """When the moves have settled with more than a second left and the gap is open, the
    offline MILP (:func:`.milp.solve_offline`, HiGHS) from the best primal until the deadline:
    its incumbent's cache is offered to ``prim`` and its proven bound returned (``-inf`` when
    it has none). Exact on both sides; on small instances it closes what the decomposition
    leaves (2 x 10 x 20, seed 0: the moves settle at 2,149.5, 3.2 % above the optimum
    2,083.2 that HiGHS proves in about 10 s)."""
    # the build and hand-over come before HiGHS's clock starts: about 6 us per cache entry
    # measured (2.4 s at 20 x 100 x 200); 10 us per entry is kept back
    build = 1e-5 * inst.requests.size
    left = deadline - time.perf_counter() - build
    if relative_gap(prim.ub, lb) <= target or left <= 1.0:
        return -math.inf
    start, _ = allocation_of(inst, spec.objective, prim.cache)
    res = solve_offline(inst, spec, SolveOptions(time_limit=left, mip_gap=target), start=start)
    if res.has_solution and res.allocation is not None:
        prim.offer(np.asarray(res.allocation.cache, dtype=bool), 0, deadline)
    logger.debug("relax_memory MILP tail: %s, bound %.10g", res.termination, res.bound)
    return float(res.bound) if math.isfinite(res.bound) else -math.inf


register_algorithm(CachingSpec, "relax_memory", solve_relax_memory)
