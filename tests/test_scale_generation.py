"""Load-aware scenario generation (issue 16 part 1): feasible for every N at the default load,
today's fixed capacities on request, sizing rules as documented."""

from __future__ import annotations

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt.errors import ValidationError
from aigc_opt.problems.offloading import OffloadingSpec
from aigc_opt.problems.offloading.assignment import allocation_from_columns, option_table
from aigc_opt.problems.offloading.data import CLOUD


def _all_cloud(scn: ao.Scenario) -> ao.Metrics:
    t = option_table(scn, OffloadingSpec(candidate_servers=1))
    cols = np.nonzero(t.placement == CLOUD)[0]
    alloc = allocation_from_columns(t, cols, np.zeros((scn.n_servers, scn.n_models), bool))
    return ao.evaluate(scn, alloc, OffloadingSpec())


@pytest.mark.parametrize("n,s", [(10, 1), (30, 1), (100, 3), (400, 5)])
def test_default_load_is_feasible_for_the_milp(n: int, s: int) -> None:
    for seed in range(3):
        scn = ao.Scenario.generate(n, s, 4, seed=seed)
        res = ao.solve(scn, OffloadingSpec(), "highs", time_limit=60)
        assert res.has_solution and res.verified
        # the all-cloud assignment is a feasibility certificate by construction
        assert _all_cloud(scn).feasible


def test_fixed_capacities_stay_available_and_become_infeasible() -> None:
    scn = ao.Scenario.generate(100, 3, 4, seed=0, load=None)
    assert (scn.server_subchannels == 20).all() and (scn.server_gpu_slots == 4).all()
    assert ao.solve(scn, OffloadingSpec(), "highs").termination is ao.Termination.INFEASIBLE


def test_sizing_rules() -> None:
    rho = 0.5
    fixed = ao.Scenario.generate(300, 4, 3, seed=2, load=None)
    scn = ao.Scenario.generate(300, 4, 3, seed=2, load=rho)
    best = np.argmax(scn.channel_gain, axis=1)
    # same random draws: only capacities and (possibly) deadlines differ
    np.testing.assert_array_equal(scn.channel_gain, fixed.channel_gain)
    np.testing.assert_array_equal(scn.request_model, fixed.request_model)
    K = scn.server_subchannels
    assert (np.bincount(best, minlength=4) <= rho * K).all()
    np.testing.assert_allclose(scn.server_uplink_hz / K, fixed.server_uplink_hz / 20)
    np.testing.assert_allclose(scn.server_compute_flops / scn.server_gpu_slots,
                               fixed.server_compute_flops / 4)
    assert (scn.request_deadline_s >= fixed.request_deadline_s).all()
    assert (scn.user_energy_budget_j >= fixed.user_energy_budget_j).all()


@pytest.mark.parametrize("seed", [2, 5])
def test_one_link_in_a_deep_fade_keeps_the_cloud_option_feasible(seed: int) -> None:
    # tester tg: one link per user, Rician deep fade (gain 2.4e-17): uploading to the cloud
    # took 100.8 J against a drawn 57.0 J budget, so the default problem was infeasible
    scn = ao.Scenario.generate(20_000, 1_000, 5, seed=seed, links=1)
    m = _all_cloud(scn)
    assert m.feasible, {k: v for k, v in m.violation_counts.items() if v}


def test_small_scenarios_are_unchanged() -> None:
    a = ao.Scenario.generate(12, 3, 5, seed=7)
    b = ao.Scenario.generate(12, 3, 5, seed=7, load=None)
    assert a == b


@pytest.mark.parametrize("bad", [0.0, -1.0, 1e4, "high", True])
def test_load_is_validated(bad: object) -> None:
    with pytest.raises(ValidationError, match="load"):
        ao.Scenario.generate(10, 1, 2, load=bad)  # type: ignore[arg-type]


def test_too_small_load_names_the_generator_arguments() -> None:
    with pytest.raises(ValidationError, match="server_subchannels") as exc:
        ao.Scenario.generate(50, 1, 2, load=1e-5)
    assert "load" in str(exc.value)


def test_sparse_default_load_is_feasible() -> None:
    for seed in range(2):
        scn = ao.Scenario.generate(2000, 100, 6, seed=seed, links=3)
        assert _all_cloud(scn).feasible
        res = ao.run_method(scn, OffloadingSpec(linking="aggregated"), "lagrangian")
        assert res.has_solution and res.verified and res.gap <= 1e-4
