"""Relaxation-guided (RINS) moves of the caching primal: the general block move against brute
force, and a move guided by the optimum reaching the offline MILP's proven optimum; every
cache goes through the evaluator."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt.problems.caching import CachingSpec, solve_offline
from aigc_opt.problems.caching.data import cache_age, context_table
from aigc_opt.problems.caching.decomposition import cache_cost, tables
from aigc_opt.problems.caching.rins import rins_moves
from aigc_opt.problems.caching.window_lns import block_move

from test_caching_window_lns import (  # tests/ is on the path (as for conftest)
    _best_over,
    _evaluated,
    _feasible,
    _random_cache,
    _tight,
)


def _optimum_and_start(S: int, M: int, T: int, seed: int) -> tuple[Any, ...]:
    """A tight instance, its proven optimum (offline MILP) and that optimum's cache as the
    reference, and a random memory-feasible start with its true cost."""
    inst = _tight(S, M, T, seed)
    spec = CachingSpec()
    tb = tables(inst, spec.objective)
    opt = solve_offline(inst, spec, ao.SolveOptions(time_limit=60))
    assert opt.termination is ao.Termination.OPTIMAL and opt.allocation is not None
    ref = np.asarray(opt.allocation.cache, dtype=bool)
    cache = _random_cache(tb, inst.requests.shape, np.random.default_rng(seed))
    return inst, spec, tb, opt, ref, cache, cache_cost(tb, cache)


@pytest.mark.parametrize("seed", [0, 1, 2, 5, 8, 13])
def test_block_move_is_the_exact_best_over_a_scattered_mask(seed: int) -> None:
    """Free 6 scattered entries (several servers, models and slots, the first and last slot
    included when drawn): over every memory-feasible setting of them, the rest fixed, the move
    reaches the minimum true cost, and the evaluator agrees with it."""
    inst = _tight(2, 3, 5, seed)
    spec = CachingSpec()
    tb = tables(inst, spec.objective)
    T, S, M = inst.requests.shape
    rng = np.random.default_rng(seed)
    cache = _random_cache(tb, (T, S, M), rng)
    free = np.zeros((T, S, M), dtype=bool)
    free.reshape(-1)[rng.choice(T * S * M, size=6, replace=False)] = True
    best = _best_over(tb, cache, [tuple(c) for c in np.argwhere(free)])
    _, G = context_table(inst)
    new, proven = block_move(inst, spec, G, cache, cache_age(cache, tb.H), 0, free, 30.0)
    assert proven and new is not None and _feasible(tb, new)
    assert not (new != cache)[~free].any()  # only freed entries moved
    assert cache_cost(tb, new) == pytest.approx(best, rel=1e-7, abs=1e-9)
    assert _evaluated(inst, spec, new) == pytest.approx(best, rel=1e-7, abs=1e-9)


@pytest.mark.parametrize("seed", [0, 3, 7])
def test_move_guided_by_the_optimum_reaches_it(seed: int) -> None:
    """With the proven optimum's cache as reference, every entry where a random feasible cache
    differs from it is freed, so the optimum lies in the neighbourhood: one move reaches the
    offline MILP's optimal cost (an independent proof), never above it."""
    inst, spec, tb, opt, ref, cache, start = _optimum_and_start(3, 4, 6, seed)
    new, moves = rins_moves(inst, spec, tb, cache, [ref], np.inf)
    assert _feasible(tb, new)
    assert cache_cost(tb, new) == pytest.approx(opt.objective, rel=1e-6)
    assert _evaluated(inst, spec, new) == pytest.approx(opt.objective, rel=1e-6)
    assert moves == (1 if start > opt.objective * (1 + 1e-9) else 0)


def test_reference_equal_to_the_cache_frees_nothing() -> None:
    """A reference that agrees everywhere (also within 0.1 when fractional) leaves no move."""
    inst = _tight(2, 3, 5, 0)
    spec = CachingSpec()
    tb = tables(inst, spec.objective)
    cache = _random_cache(tb, inst.requests.shape, np.random.default_rng(0))
    near = np.where(cache, 0.95, 0.05)
    new, moves = rins_moves(inst, spec, tb, cache, [cache, near], np.inf)
    assert moves == 0 and (new == cache).all()


def test_relax_memory_reports_its_rins_moves_and_can_turn_them_off() -> None:
    """``relax_memory`` records its RINS moves (none with ``extra={"rins": False}``); a
    non-boolean value is refused naming the option. Every result passes the referee."""
    inst = _tight(3, 6, 8, 4, window=3)
    spec = CachingSpec()
    for extra in ({}, {"rins": False}, {"rins": True}):
        res = ao.run_method(inst, spec, "relax_memory", options=ao.SolveOptions(
            time_limit=20, extra={**extra, "milp_tail": False}))
        assert res.verified and res.has_solution
        assert res.stats.extra["rins_moves"] >= 0
        if extra.get("rins") is False:
            assert res.stats.extra["rins_moves"] == 0
    with pytest.raises(ao.ValidationError, match="rins"):
        ao.run_method(inst, spec, "relax_memory",
                      options=ao.SolveOptions(time_limit=5, extra={"rins": "yes"}))


@pytest.mark.parametrize("seed", [1, 6])
def test_moves_in_slot_blocks_only_improve_and_touch_freed_entries(seed: int) -> None:
    """With ``max_entries`` below one horizon the moves run over consecutive slot blocks:
    every kept move lowers the true cost, only entries where the reference disagreed change,
    memory holds, and the evaluator agrees; a reference that is a proven optimum is reached
    or approached (never passed: nothing beats the optimum)."""
    inst, spec, tb, opt, ref, cache, start = _optimum_and_start(3, 4, 8, seed)
    S, M = inst.requests.shape[1:]
    new, moves = rins_moves(inst, spec, tb, cache, [ref], np.inf, max_entries=3 * S * M)
    assert _feasible(tb, new)
    assert not (new != cache)[ref == cache].any()
    end = cache_cost(tb, new)
    assert opt.objective * (1 - 1e-9) <= end <= start
    assert (moves > 0) == (end < start)
    assert _evaluated(inst, spec, new) == pytest.approx(end, rel=1e-7)
