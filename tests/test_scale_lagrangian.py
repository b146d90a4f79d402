"""The certified "lagrangian" method of the offloading assignment (issue 16 part 4): same optimum
as the full MILP, valid bounds, exact column reduction."""

from __future__ import annotations

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt.backend import SolveOptions
from aigc_opt.problems.offloading import OffloadingSpec, OffloadObjective
from aigc_opt.problems.offloading.lagrangian import lagrangian_bound, restrict

SPECS = [
    OffloadingSpec(),
    OffloadingSpec(candidate_servers=2, linking="aggregated"),
    OffloadingSpec(local_max_steps=10, objective=OffloadObjective(deadline="penalty", load=0.5)),
    OffloadingSpec(allow_local=False),
]


@pytest.mark.parametrize("k", range(len(SPECS)))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_the_full_milp_optimum(k: int, seed: int) -> None:
    spec = SPECS[k]
    scn = ao.Scenario.generate(40, 3, 5, seed=seed)
    full = ao.solve(scn, spec, "highs", mip_gap=1e-9)
    res = ao.run_method(scn, spec, "lagrangian", options=SolveOptions(mip_gap=1e-9))
    assert full.optimal and res.optimal and res.verified
    assert res.objective == pytest.approx(full.objective, rel=1e-7, abs=1e-7)
    assert res.bound <= full.objective + 1e-6 * max(1.0, abs(full.objective))
    assert res.gap <= 1e-9
    assert res.eval_objective == pytest.approx(res.objective, rel=1e-7)
    assert res.stats.extra["lp_bound"] <= full.objective + 1e-6 * abs(full.objective)


@pytest.mark.parametrize("seed", range(6))
def test_reduction_never_drops_an_optimal_column(seed: int) -> None:
    """Every column the full MILP's optimum uses has L(y) + d_j <= optimum, i.e. is kept."""
    from aigc_opt.problems.offloading.lagrangian import _lp_duals

    scn = ao.Scenario.generate(30, 3, 4, seed=100 + seed)
    prog = OffloadingSpec().build(scn)
    full = ao.solve(scn, OffloadingSpec(), "highs", mip_gap=1e-9)
    _, _, y = _lp_duals(prog, SolveOptions())
    lb, d = lagrangian_bound(prog, y)
    x = full.values["x"]
    used = x > 0.5
    assert (lb + np.maximum(d[used], 0.0) <= full.objective * (1 + 1e-9) + 1e-9).all()
    # the LP-dual Lagrangian bound is the LP relaxation's value
    from aigc_opt.solvers.highs import HighsBackend

    relax = HighsBackend().solve(prog.relaxed(), SolveOptions(verify=False))
    assert lb == pytest.approx(relax.objective, rel=1e-7, abs=1e-7)


def test_lagrangian_bound_is_valid_for_any_multipliers() -> None:
    scn = ao.Scenario.generate(20, 2, 3, seed=5)
    prog = OffloadingSpec().build(scn)
    full = ao.solve(scn, OffloadingSpec(), "highs", mip_gap=1e-9)
    rng = np.random.default_rng(0)
    for _ in range(20):
        lb, _ = lagrangian_bound(prog, rng.normal(0.0, 5.0, prog.n_rows))
        assert lb <= full.objective + 1e-9


def test_restrict_keeps_rows_and_column_data() -> None:
    scn = ao.Scenario.generate(15, 2, 3, seed=1)
    prog = OffloadingSpec().build(scn)
    keep = np.arange(0, prog.block("assign").size, 2)
    red = restrict(prog, keep)
    assert red.n_rows == prog.n_rows
    assert red.block("cache").size == prog.block("cache").size
    np.testing.assert_array_equal(red.column_data["user"],
                                  np.asarray(prog.column_data["user"])[keep])


def test_infeasible_instance_is_a_status() -> None:
    scn = ao.Scenario.generate(100, 3, 4, seed=0, load=None)
    res = ao.run_method(scn, OffloadingSpec(), "lagrangian")
    assert res.termination is ao.Termination.INFEASIBLE and not res.has_solution
