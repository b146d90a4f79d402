"""Adding a constraint to a family by subclassing its spec (the README's worked example).

``CappedSpec`` caps the compute energy each edge server spends (J). The cap's rows are written
over the assignment MILP's documented per-column data (``program.column_data``), and its referee
check recomputes each server's energy from the allocation with the family's physics, never
from the program. Proven against three backends, a brute force over every placement of a tiny
instance, and the uncapped optimum (which the cap must cut off).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

import aigc_opt as ao
from aigc_opt.backend import is_available
from aigc_opt.errors import ValidationError
from aigc_opt.metrics import relative_excess
from aigc_opt.problems.offloading import OffloadingSpec
from aigc_opt.problems.offloading.assignment import allocation_from_columns, option_table
from aigc_opt.problems.offloading.data import edge_server_energy, link_times

OBJ_RTOL = 1e-6
MIP_GAP = 1e-9
BACKENDS = [b if is_available(b) else pytest.param(b, marks=pytest.mark.skip(reason="missing"))
            for b in ("highs", "cvxpy", "pyomo")]


@dataclass(frozen=True)
class CappedSpec(OffloadingSpec):
    """The assignment MILP plus ``sum_{n at s} E^srv_n <= cap_s`` for every edge server s.

    ``server_energy_cap_j`` is one cap for every server or a tuple with one per server, J.
    """

    server_energy_cap_j: float | tuple[float, ...] = math.inf

    def __post_init__(self) -> None:
        super().__post_init__()
        cap = np.asarray(self.server_energy_cap_j, dtype=float)
        if cap.ndim > 1 or np.isnan(cap).any() or (cap < 0).any():
            raise ValidationError("server_energy_cap_j", "J", self.server_energy_cap_j,
                                  "must be a number or a tuple of numbers >= 0")

    def extra_constraints(self, scenario: ao.Scenario) -> tuple[ao.ExtraConstraint, ...]:
        S = scenario.n_servers
        cap = np.broadcast_to(np.asarray(self.server_energy_cap_j, dtype=float), (S,))
        scale = np.where(np.isfinite(cap) & (cap > 0), cap, 1.0)  # rows in units of the cap

        def rows(program: ao.LinearProgram) -> tuple[dict[str, Any], float, np.ndarray]:
            cols = program.column_data
            j = np.nonzero(cols["placement"] >= 0)[0]  # edge columns
            s = cols["placement"][j]
            A = sp.csr_matrix((cols["server_energy_j"][j] / scale[s], (s, j)),
                              shape=(S, program.block("assign").size))
            return {"assign": A}, -np.inf, np.where(np.isfinite(cap), cap / scale, np.inf)

        def check(allocation: Any) -> np.ndarray:
            pl = allocation.placement
            edge = (pl >= 0) & (pl < S)
            e = link_times(scenario, allocation)["server_energy_j"]
            used = np.bincount(np.where(edge, pl, 0), weights=np.where(edge, e, 0.0),
                               minlength=S)
            return relative_excess(used, cap)

        return (ao.ExtraConstraint("energy_cap", rows, check),)


def _binding(scn: ao.Scenario, frac: float = 0.7) -> tuple[ao.Result, CappedSpec]:
    """The uncapped optimum and a spec capping every server at ``frac`` of its energy there."""
    free = ao.solve(scn, OffloadingSpec(), "highs", mip_gap=MIP_GAP)
    assert free.optimal
    used = edge_server_energy(scn, free.allocation)
    assert (used > 0).all()
    return free, CappedSpec(server_energy_cap_j=tuple(float(e) for e in frac * used))


@pytest.fixture(scope="module")
def case() -> tuple[ao.Scenario, ao.Result, CappedSpec]:
    scn = ao.Scenario.generate(10, 2, 3, seed=1)
    free, capped = _binding(scn)
    return scn, free, capped


def test_rows_are_appended_over_the_documented_columns(case: Any) -> None:
    scn, _, capped = case
    base = OffloadingSpec().build(scn)
    prog = capped.build(scn)
    assert prog.n_rows == base.n_rows + scn.n_servers
    assert prog.row_blocks["energy_cap"] == (base.n_rows, base.n_rows + scn.n_servers)
    cols = prog.column_data
    nx = prog.block("assign").size
    for name in ("user", "placement", "radio_server", "latency_s", "device_energy_j",
                 "server_energy_j"):
        assert cols[name].shape == (nx,) and not cols[name].flags.writeable, name
    local_or_cloud = cols["placement"] < 0
    assert (cols["server_energy_j"][local_or_cloud] == 0).all()
    assert (cols["server_energy_j"][~local_or_cloud] > 0).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_capped_optimum_on_every_backend(case: Any, backend: str) -> None:
    scn, free, capped = case
    ref = ao.solve(scn, capped, "highs", mip_gap=MIP_GAP)
    res = ao.solve(scn, capped, backend, mip_gap=MIP_GAP)
    assert ref.optimal and res.optimal, (ref, res)
    np.testing.assert_allclose(res.objective, ref.objective, rtol=OBJ_RTOL)
    met = ao.evaluate(scn, res.allocation, capped)
    assert met.violations["energy_cap"] == 0.0
    assert "energy_cap" in met.hard and met.feasible, met.violations
    np.testing.assert_allclose(met.objective, res.objective, rtol=OBJ_RTOL)
    # the cap binds: the uncapped optimum violates it, so capping costs something
    assert res.objective >= free.objective - 1e-9 * abs(free.objective)
    bad = ao.evaluate(scn, free.allocation, capped)
    assert bad.violations["energy_cap"] > 1e-3 and not bad.feasible
    assert res.objective > free.objective + 1e-9 * abs(free.objective)


def test_column_data_match_the_evaluator(case: Any) -> None:
    """The per-column physics a user reads equals the referee's for the chosen columns."""
    scn, _, capped = case
    prog = capped.build(scn)
    res = ao.solve(scn, capped, "highs", mip_gap=MIP_GAP)
    chosen = np.nonzero(np.asarray(res.values["assign"]) > 0.5)[0]
    cols = prog.column_data
    assert (cols["user"][chosen] == np.arange(scn.n_users)).all()
    met = ao.evaluate(scn, res.allocation, capped)
    for name in ("latency_s", "device_energy_j"):
        np.testing.assert_allclose(cols[name][chosen], met.per_item[name], rtol=1e-12)
    per_server = np.bincount(np.clip(cols["placement"][chosen], 0, None),
                             weights=cols["server_energy_j"][chosen], minlength=scn.n_servers)
    np.testing.assert_allclose(per_server, edge_server_energy(scn, res.allocation), rtol=1e-12)
    assert (per_server <= np.asarray(capped.server_energy_cap_j)).all()


def test_capped_milp_equals_brute_force() -> None:
    """Every placement of a 6-request instance (equal shares, minimal cache), scored by the
    evaluator with the cap's check: the best feasible one is the capped MILP's optimum."""
    scn = ao.Scenario.generate(6, 2, 3, seed=2)
    free, capped = _binding(scn, 0.6)
    t = option_table(scn, capped)
    per_user = [np.nonzero(t.user == i)[0] for i in range(scn.n_users)]
    best = math.inf
    for combo in itertools.product(*per_user):
        chosen = np.array(combo)
        pl = t.placement[chosen]
        cache = np.zeros((scn.n_servers, scn.n_models), dtype=bool)
        cache[pl[pl >= 0], scn.request_model[pl >= 0]] = True
        met = ao.evaluate(scn, allocation_from_columns(t, chosen, cache), capped)
        if met.feasible:
            best = min(best, met.objective)
    res = ao.solve(scn, capped, "highs", mip_gap=MIP_GAP)
    assert res.optimal and math.isfinite(best)
    np.testing.assert_allclose(res.objective, best, rtol=OBJ_RTOL)
    assert best > free.objective + 1e-9 * abs(free.objective)


def test_heuristics_inherit_and_are_checked_against_the_cap(case: Any) -> None:
    scn, _, capped = case
    assert "greedy_latency" in ao.heuristics(capped)
    h = ao.run_heuristic(scn, capped, "greedy_latency")
    met = ao.evaluate(scn, h.allocation, capped)
    assert met.violations["energy_cap"] > 0 and met.feasible is False
    assert met.violation_counts["energy_cap"] >= 1
    assert h.termination is ao.Termination.INFEASIBLE and "energy_cap" in h.message
    # without the cap the same allocation is fine
    assert ao.evaluate(scn, h.allocation, OffloadingSpec()).feasible


def test_bad_cap_names_field() -> None:
    with pytest.raises(ValidationError, match="server_energy_cap_j"):
        CappedSpec(server_energy_cap_j=-1.0)
    with pytest.raises(ValidationError, match="linking"):
        CappedSpec(linking="nope")  # the parent's validation still runs


def test_relative_excess_over_a_zero_limit_is_inf_without_a_warning() -> None:
    """An excess over a zero limit overflows the tiny denominator: inf (a violation), quietly
    (numpy 2.5 on Python 3.13 warned 'overflow encountered in divide' in the suite)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = relative_excess(np.array([1e10, 0.0, 2.0, 5.0]), np.array([0.0, 0.0, np.inf, 4.0]))
    np.testing.assert_array_equal(got, [np.inf, 0.0, 0.0, 0.25])
