"""The caching bound study's relaxations (per-server Lagrangian, knapsack-hull pattern LP) are valid
bounds, at least the LP."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt.benchmarks.caching_bound_study import (
    PerServer,
    _highs,
    fitting_sets,
    pattern_program,
    per_server_bound,
    server_of_columns,
    study,
)
from aigc_opt.problems.caching import CachingInstance, CachingSpec, solve_offline
from aigc_opt.problems.caching.milp import build


def _setup(S: int, M: int, T: int, seed: int) -> tuple:
    inst = CachingInstance.generate(S, M, T, seed=seed)
    spec = CachingSpec()
    lp = build(inst, spec)
    opt = solve_offline(inst, spec, ao.SolveOptions(mip_gap=1e-9))
    assert opt.optimal
    checked = ao.evaluate(inst, opt.allocation, spec)
    assert checked.feasible
    assert checked.objective == pytest.approx(opt.objective, rel=1e-6)
    h = _highs(lp, relax=True)
    h.run()
    ny = int((np.asarray(lp.meta["iy"]) >= 0).sum())
    pi = np.asarray(h.getSolution().row_dual)[:ny]
    scale = float(lp.meta["objective_scale"])
    return lp, opt.objective / scale, float(h.getInfo().objective_function_value), pi


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lagrangian_is_a_bound_for_any_prices(seed: int) -> None:
    S, M, T = 2, 5, 8
    lp, opt, lp_val, pi_lp = _setup(S, M, T, seed)
    ev = PerServer(lp, S, M, T)
    at_lp, _ = ev.value(pi_lp)
    assert lp_val - 1e-6 * abs(lp_val) <= at_lp <= opt * (1 + 1e-6)
    rng = np.random.default_rng(seed)
    for _ in range(5):
        pi = pi_lp + rng.normal(scale=np.abs(pi_lp).mean() + 1e-3, size=pi_lp.size)
        assert ev.value(pi)[0] <= opt * (1 + 1e-6)


def test_ascent_stays_below_the_optimum_and_above_the_lp() -> None:
    S, M, T = 2, 6, 10
    lp, opt, lp_val, pi_lp = _setup(S, M, T, 0)
    best, steps = per_server_bound(lp, S, M, T, pi_lp, opt, 15, 60.0)
    assert steps >= 1
    assert lp_val - 1e-6 * abs(lp_val) <= best <= opt * (1 + 1e-6)


def test_columns_split_by_server() -> None:
    inst = CachingInstance.generate(3, 4, 5, seed=0)
    lp = build(inst, CachingSpec())
    own = server_of_columns(lp, 3, 4, 5)
    assert set(np.unique(own)) <= {-1, 0, 1, 2}
    assert np.array_equal(np.nonzero(own < 0)[0],
                          np.sort(np.asarray(lp.meta["iy"])[np.asarray(lp.meta["iy"]) >= 0]))


def test_study_rows_order_the_bounds() -> None:
    rows = {r["relaxation"]: r for r in study(2, 4, 6, seed=1, rate=30.0, iterations=10,
                                               time_limit=30.0, milp_limit=30.0)}
    primal = rows["lp"]["primal"]
    for name in ("lp", "pattern", "per_model", "per_server", "optimum"):
        assert rows[name]["value"] <= primal * (1 + 1e-6)
    assert rows["per_server"]["value"] >= rows["lp"]["value"] - 1e-6 * abs(primal)
    assert rows["pattern"]["value"] >= rows["lp"]["value"] - 1e-6 * abs(primal)


def test_fitting_sets_are_every_subset_that_fits() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        z = rng.uniform(0.05, 0.7, size=int(rng.integers(1, 9)))
        got = {tuple(np.nonzero(r)[0]) for r in fitting_sets(z)}
        want = {c for n in range(z.size + 1) for c in itertools.combinations(range(z.size), n)
                if z[list(c)].sum() <= 1.0}
        assert got == want
        assert len(got) == fitting_sets(z).shape[0]  # no set twice
    assert fitting_sets(np.full(30, 0.01), limit=1000) is None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pattern_bound_between_lp_and_optimum_and_exact_when_integral(seed: int) -> None:
    S, M, T = 2, 5, 8
    inst = CachingInstance.generate(S, M, T, seed=seed)
    lp, opt, lp_val, _ = _setup(S, M, T, seed)
    pat = pattern_program(lp, inst)
    assert pat is not None
    h = _highs(pat, relax=True)
    h.run()
    val = float(h.getInfo().objective_function_value)
    assert lp_val - 1e-6 * abs(lp_val) <= val <= opt * (1 + 1e-6)
    # with the cache columns binary the set weights describe the same caches: the optimum
    integral = replace(pat, integrality=np.concatenate(
        [lp.integrality, np.zeros(pat.n_cols - lp.n_cols, dtype=bool)]))
    h = _highs(integral)
    h.run()
    assert float(h.getInfo().objective_function_value) == pytest.approx(opt, rel=1e-6)
