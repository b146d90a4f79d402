"""Infeasibility explained: every infeasible outcome carries named constraints whose rows,
relaxed, make the instance feasible, and each conflict is irreducible (dropping any one of its
rows removes it)."""

from __future__ import annotations

import dataclasses
from typing import Any

import cvxpy as cp
import numpy as np
import pytest
import scipy.sparse as sp
from explain_checks import OPTS, check

import aigc_opt as ao
from aigc_opt.backend import SolveOptions, get_backend
from aigc_opt.explain import explain_infeasible, relax_convex, row_group
from aigc_opt.problems.offloading import OffloadingSpec
from aigc_opt.problems.sizing import GpuOption, RadioOption, SizingInstance, SizingSpec
from aigc_opt.program import ConvexProgram, LinearProgram
from aigc_opt.result import Termination


def toy(integer: bool = False) -> LinearProgram:
    # rows: x + y >= 3 (x, y <= 1) | z >= 2 | x <= 1 | z <= 1 | x + y == 1 | x - y == 0
    A = sp.csr_matrix(np.array([[1, 1, 0], [0, 0, 1], [1, 0, 0], [0, 0, 1],
                                [1, 1, 0], [1, -1, 0]], dtype=float))
    return LinearProgram(
        c=np.zeros(3), A=A, row_lower=np.array([3, 2, 0, -np.inf, 1, 0]),
        row_upper=np.array([np.inf, np.inf, 1, 1, 1, 0]), col_lower=np.zeros(3),
        col_upper=np.array([1, 1, 5]), integrality=np.array([integer, integer, False]),
        meta={"row_groups": {"demand": row_group(0, 2, "item {i}"),
                             "caps": row_group(2, 4, ("x", "z")),
                             "pair": row_group(4, 6, "equation {i}")}})


def test_toy_lp_two_conflicts_named() -> None:
    p = toy()
    exp = explain_infeasible(p)
    check(p, exp)
    assert "demand at item 0" in exp.labels  # infeasible on its own (x, y <= 1)
    assert {"demand at item 1", "caps at z"} <= set(exp.labels)
    assert "pair" not in exp.groups  # x = y = 1/2 is fine for the LP


def test_milp_conflict_that_the_lp_relaxation_does_not_see() -> None:
    p = dataclasses.replace(toy(integer=True), row_lower=np.array([-np.inf, -np.inf, 0, -np.inf,
                                                                  1, 0]))
    exp = explain_infeasible(p)
    check(p, exp)
    assert set(exp.labels) == {"pair at equation 0", "pair at equation 1"}


def test_column_bounds_alone() -> None:
    p = LinearProgram(c=np.zeros(1), A=sp.csr_matrix((0, 1)), row_lower=np.zeros(0),
                      row_upper=np.zeros(0), col_lower=np.array([0.2]),
                      col_upper=np.array([0.8]), integrality=np.array([True]))
    exp = explain_infeasible(p)
    assert exp.conflicts and exp.conflicts[0].rows == () and not exp.complete


def test_empty_column_box_is_named_by_its_group_or_block() -> None:
    from aigc_opt.program import Block

    p = LinearProgram(c=np.zeros(3), A=sp.csr_matrix(np.ones((1, 3))), row_lower=np.zeros(1),
                      row_upper=np.array([5.0]), col_lower=np.array([0.0, 1.0, 0.0]),
                      col_upper=np.array([1.0, 0.0, 1.0]), integrality=np.zeros(3, dtype=bool),
                      blocks=(Block("share", 0, (3,)),))
    exp = explain_infeasible(p)
    assert exp.labels == ("share at 1",) and exp.columns == (1,) and exp.rows == ()
    named = dataclasses.replace(p, meta={"column_groups": {"budget": row_group(0, 3,
                                                                              "user {i}")}})
    assert explain_infeasible(named).labels == ("budget at user 1",)


@pytest.mark.parametrize("backend", ["highs", "scip"])
def test_offloading_no_option_meets_the_deadline(backend: str) -> None:
    s = ao.Scenario.generate(6, 2, 2, seed=0).replace(request_deadline_s=np.full(6, 1e-3))
    spec = OffloadingSpec()
    res = ao.solve(s, spec, backend)
    assert res.termination is Termination.INFEASIBLE
    check(spec.build(s), res.explanation)
    assert len(res.explanation.conflicts) == 6  # one per request: its assignment row


def test_offloading_capacity_conflicts() -> None:
    s = ao.Scenario.generate(30, 3, 4, seed=0).replace(
        server_gpu_slots=np.array([1, 1, 1]), server_subchannels=np.array([2, 2, 2]))
    spec = OffloadingSpec(allow_local=False, allow_cloud=False)
    res = ao.solve(s, spec)
    assert res.termination is Termination.INFEASIBLE
    check(spec.build(s), res.explanation)


def test_sizing_infeasible_names_sites_and_requests() -> None:
    scn = ao.Scenario.generate(6, 2, 2, seed=1).replace(cloud_latency_s=20.0)
    inst = SizingInstance((scn,), (GpuOption("small", 1.0, 2.2e13, 12e9, 1),),
                          (RadioOption("narrow", 0.5, 1e6, 1e6, 4),))
    spec = SizingSpec(allow_local=False)
    res = ao.solve(inst, spec)
    assert res.termination is Termination.INFEASIBLE
    check(spec.build(inst), res.explanation)
    assert any(lab.startswith("assignment[d0] at request") for lab in res.explanation.labels)
    assert any(g.startswith(("gpu_max", "gpu_slots")) for g in res.explanation.groups)


def test_infeasible_heuristic_allocation_is_explained_by_the_referee() -> None:
    s = ao.Scenario.generate(30, 3, 4, seed=0).replace(
        server_gpu_slots=np.array([1, 1, 1]), server_subchannels=np.array([2, 2, 2]))
    res = ao.run_heuristic(s, OffloadingSpec(), "all_edge_nearest")
    assert res.termination is Termination.INFEASIBLE
    assert res.explanation and res.explanation.method == "violations"
    assert set(res.explanation.groups) == set(res.metrics.violated())


def test_feasible_results_have_no_explanation() -> None:
    res = ao.solve(ao.Scenario.generate(6, 2, 2, seed=0), OffloadingSpec())
    assert res.success and res.explanation is None


def _convex_feasible(program: ConvexProgram) -> bool:
    res = get_backend("cvxpy").solve(
        dataclasses.replace(program, problem=cp.Problem(cp.Minimize(0),
                                                        program.problem.constraints)), OPTS)
    return res.has_solution


def _cases() -> list[tuple[str, Any, Any, str]]:
    from aigc_opt.problems.allocation import (
        BandwidthComputeInstance,
        BandwidthComputeSpec,
        PowerInstance,
        PowerSpec,
        StepsSpec,
    )

    n = 3
    power = PowerInstance(gain=np.array([1.0, 2.0, 4.0]), noise_psd_w_per_hz=np.ones(n),
                          bandwidth_hz=np.ones(n), total_power_w=1.0,
                          max_power_w=np.array([np.inf, np.inf, 0.5]),
                          rate_target_bps=np.array([1.0, 2.0, 3.0]), weight=np.ones(n))
    bw = BandwidthComputeInstance.generate(30, 1, seed=2, min_rate_frac=1.0)
    steps = ao.Scenario.generate(3, 2, 2, seed=0).replace(
        request_deadline_s=np.array([1e-4, 1.0, 1.0]))
    return [
        ("power closed form", power, PowerSpec(mode="min_power"), "closed_form"),
        ("bandwidth closed form", bw, BandwidthComputeSpec(bandwidth_scale=0.2), "closed_form"),
        ("bandwidth cvxpy", bw, BandwidthComputeSpec(bandwidth_scale=0.2), "cvxpy"),
        ("steps highs", steps, StepsSpec(max_steps=5), "highs"),
    ]


@pytest.mark.parametrize("case", range(4))
def test_infeasible_outcomes_of_other_families_are_explained(case: int) -> None:
    _, inst, spec, method = _cases()[case]
    res = ao.run_method(inst, spec, method)
    assert res.termination is Termination.INFEASIBLE
    exp = res.explanation
    assert exp and exp.labels and exp.complete, exp
    program = spec.build(inst)
    if isinstance(program, LinearProgram):
        check(program, exp)
    else:
        assert _convex_feasible(relax_convex(program, exp))
        assert not _convex_feasible(dataclasses.replace(program, problem=cp.Problem(
            cp.Minimize(0), [program.problem.constraints[i] for i in exp.conflicts[0].rows])))


def test_explanation_tests_run_on_highs_whatever_backend_solved(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The feasibility tests of an explanation use HiGHS: with SCIP's own tests an explanation
    asked for within 30 s took 69 s (SCIP overran one test by 34 s on a 2,000-request steps
    program that HiGHS answers in 0.6 s). SCIP still solves the program itself."""
    from aigc_opt.solvers.scip_backend import ScipBackend

    calls: list[str] = []
    real = ScipBackend.solve

    def spy(self: ScipBackend, program: LinearProgram, options: SolveOptions) -> ao.Result:
        calls.append(program.name)
        return real(self, program, options)

    monkeypatch.setattr(ScipBackend, "solve", spy)
    s = ao.Scenario.generate(6, 2, 2, seed=0).replace(request_deadline_s=np.full(6, 1e-3))
    spec = OffloadingSpec()
    res = ao.solve(s, spec, "scip")
    assert res.termination is Termination.INFEASIBLE and res.stats.backend == "scip"
    assert len(calls) == 1  # the solve; none of the explanation's tests
    check(spec.build(s), res.explanation)
