"""HiGHS is asked for a 1e-6 gap unless told otherwise; a time-limited solve within 1e-4 is
``optimal``.

At HiGHS's own 1e-4 three outside testers found ``optimal`` HiGHS results up to 7.6e-5 above
SCIP's (and above a verified heuristic): the caching instance here (their generator's seed
106, 2 slots x 2 servers x 4 models, compute capacity on; brute-force optimum 608.7636564052)
gave HiGHS 608.8061524 "optimal" against SCIP's and offline_milp's 608.7636564052.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import aigc_opt as ao
from aigc_opt.backend import DEFAULT_MIP_GAP
from aigc_opt.cases import load_instance_json
from aigc_opt.problems.caching import CachingInstance, CachingObjective, CachingSpec
from aigc_opt.result import Result, SolveStats, Termination
from aigc_opt.solvers.highs import configured_highs
from aigc_opt.verify import label_by_gap

DATA = Path(__file__).parent / "data" / "caching_gap_106.json"
OPTIMUM = 608.7636564052  # an outside tester's brute force over every cache trajectory


def test_highs_and_scip_optimal_agree_on_the_testers_instance() -> None:
    inst = load_instance_json(DATA, CachingInstance)
    spec = CachingSpec(objective=CachingObjective(
        latency=2.955365610164522, cloud=1.4036450611209779, load_time=0.4379449052371427,
        backhaul=0.3006752221598433, accuracy=3.6317433234682768, latency_budget_s=0.005,
        compute_capacity=True))
    for backend in ("highs", "scip", "pyomo"):
        res = ao.solve(inst, spec, backend=backend, time_limit=30)
        assert res.optimal and res.verified, (backend, res.message)
        assert res.objective == pytest.approx(OPTIMUM, rel=1e-9), backend


def test_the_default_gap_and_the_time_limit_label() -> None:
    h = configured_highs(ao.SolveOptions())
    assert h.getOptionValue("mip_rel_gap")[1] == DEFAULT_MIP_GAP == 1e-6
    assert configured_highs(ao.SolveOptions(mip_gap=0.01)).getOptionValue("mip_rel_gap")[1] \
        == 0.01
    stopped = Result(Termination.FEASIBLE, True, objective=100.0, bound=99.0, gap=0.01,
                     stats=SolveStats("highs"))
    assert label_by_gap(stopped).termination is Termination.FEASIBLE  # labels are unchanged


class _Info:
    primal_solution_status = 2  # kSolutionStatusFeasible
    mip_node_count = 7
    simplex_iteration_count = 11
    ipm_iteration_count = 0

    def __init__(self, bound: float) -> None:
        self.mip_dual_bound = bound


class _StoppedHighs:
    """What a HiGHS object reports after its time limit stopped a MIP at x = (1, 1)."""

    def __init__(self, bound: float) -> None:
        self.bound = bound

    def getModelStatus(self) -> str:  # noqa: N802 - highspy's name
        return "HighsModelStatus.kTimeLimit"

    def getInfo(self) -> _Info:  # noqa: N802
        return _Info(self.bound)

    def getSolution(self) -> object:  # noqa: N802
        return type("Sol", (), {"col_value": [1.0, 1.0]})()


@pytest.mark.parametrize("bound,label", [(1.9999, "optimal"), (1.9, "feasible")])
def test_a_time_limited_highs_mip_within_the_label_gap_is_optimal(bound: float,
                                                                   label: str) -> None:
    """Asked for 1e-6, a MIP that HiGHS's time limit stopped with a proven gap within 1e-4
    (5e-5 here) is optimal, as it would have ended at HiGHS's own 1e-4; at 5 % it is not."""
    import highspy
    import numpy as np
    import scipy.sparse as sp

    from aigc_opt.program import Block, LinearProgram
    from aigc_opt.solvers.highs import HighsBackend

    lp = LinearProgram(c=np.ones(2), A=sp.csr_matrix(np.ones((1, 2))), row_lower=np.array([1.0]),
                       row_upper=np.array([np.inf]), col_lower=np.zeros(2),
                       col_upper=np.ones(2), integrality=np.ones(2, bool),
                       blocks=(Block("x", 0, (2,)),), name="stopped")
    res = HighsBackend()._result(_StoppedHighs(bound), lp, highspy, 1.0)
    assert res.termination.value == label and res.has_solution and res.objective == 2.0
    assert res.gap == pytest.approx((2.0 - bound) / 2.0)


@pytest.mark.parametrize("backend", ["highs", "scip"])
def test_an_optimum_small_against_its_terms_is_solved_again(backend: str) -> None:
    """Lifecycle medical with demand x 1e-6: terms up to 51, optimum 1.3e-4. SCIP (dual
    tolerance 3e-8) claimed 'optimal' with gap 1.6e-16 above a verified baseline, and HiGHS
    stopped at its absolute gap (relative gap 1.75e-5) (outside testers ue and v4). Both now
    solve again at tighter tolerances and end within 2e-5 of the baseline's objective or below
    it (their bounds can still sit up to 1.5e-5 too high there: the README's known limit)."""
    from aigc_opt.cases import get_case

    kind = get_case("lifecycle.medical")
    inst = kind.make_instance(0)
    inst = inst.replace(demand_rps=inst.demand_rps * 1e-6)
    spec = kind.make_spec()
    base = ao.run_method(inst, spec, "no_finetune")
    res = ao.run_method(inst, spec, backend, time_limit=60)
    assert base.verified and res.verified, res.message
    assert res.objective == pytest.approx(res.eval_objective, rel=1e-9)
    assert res.termination is Termination.OPTIMAL and "solved again" in res.message, res
    assert res.objective <= base.objective * (1 + 2e-5)


@pytest.mark.parametrize("backend", ["highs", "scip"])
def test_large_unused_terms_or_a_zero_optimum_stay_optimal(backend: str) -> None:
    """A rejection penalty of 1e5 that no request pays, or an optimum of exactly 0 next to a
    term of 5, lost the 'optimal' label and the bound to a feasibility-slack test that was
    tried and dropped (a reviewer's finding); they stay optimal."""
    import numpy as np
    import scipy.sparse as sp

    from aigc_opt.backend import get_backend
    from aigc_opt.problems.offloading import OffloadingSpec
    from aigc_opt.program import LinearProgram
    from aigc_opt.scenario import Scenario

    scn = Scenario.generate(5, 2, 2, seed=0)
    res = ao.solve(scn, OffloadingSpec(admission=True, rejection_penalty=1e5), backend)
    assert res.verified and res.termination is Termination.OPTIMAL and res.gap <= 1e-6, res
    zero = LinearProgram(c=np.array([0.0, 5.0]), A=sp.csr_matrix(np.ones((1, 2))),
                         row_lower=np.array([1.0]), row_upper=np.array([np.inf]),
                         col_lower=np.zeros(2), col_upper=np.ones(2),
                         integrality=np.ones(2, dtype=bool))
    r0 = get_backend(backend).solve(zero, ao.SolveOptions())
    assert r0.termination is Termination.OPTIMAL and r0.objective == 0.0 and r0.bound == 0.0
