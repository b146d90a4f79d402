"""Joint offloading + resource allocation: outer approximation vs brute force over placements,
inner closed form vs CVXPY and SciPy, evaluator referee, honest bounds and statuses."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from scipy.optimize import minimize

import aigc_opt as ao
from aigc_opt.errors import ValidationError
from aigc_opt.problems.offloading import JointSpec
from aigc_opt.problems.offloading.data import LOCAL, OffloadObjective
from aigc_opt.problems.offloading.joint import (
    Inner,
    column_of,
    columns,
    solve_inner,
    to_allocation,
)

OBJ_RTOL = 1e-6


def _tiny(seed: int, n: int = 5) -> ao.Scenario:
    """2 servers with few GPU slots and subchannels so that capacity rows bind."""
    return ao.Scenario.generate(n, 2, 3, seed=seed, server_gpu_slots=np.array([2, 2]),
                                server_subchannels=np.array([3, 3]))


def _brute_force(scn: ao.Scenario, spec: JointSpec) -> float:
    """Best evaluator objective over every placement, with its optimal (inner) shares.

    Columns flagged infeasible (a hard constraint fails even with the whole band and server;
    checked against the evaluator by ``test_infeasible_columns_are_infeasible``) are skipped.
    """
    col = columns(scn, spec)
    per_user = [np.nonzero((col.user == i) & col.feasible)[0] for i in range(scn.n_users)]
    best = np.inf
    for combo in itertools.product(*per_user):
        chosen = np.array(combo)
        # capacity counts first (cheap): subchannels on radio, GPU slots on edge servers
        rad = col.radio[chosen]
        pl = col.place[chosen]
        if (np.bincount(rad[rad >= 0], minlength=2) > scn.server_subchannels).any():
            continue
        if (np.bincount(pl[pl >= 0], minlength=2) > scn.server_gpu_slots).any():
            continue
        inner = solve_inner(scn, spec, col, chosen)
        if not inner.feasible:
            continue
        met = ao.evaluate(scn, to_allocation(scn, col, inner), spec)
        if met.feasible:
            best = min(best, met.objective)
    return best


@pytest.mark.parametrize(("seed", "n", "local_steps"), [(0, 5, None), (1, 5, 5), (4, 6, None)])
def test_outer_approximation_equals_brute_force_hard(seed: int, n: int,
                                                     local_steps: int | None) -> None:
    scn = _tiny(seed, n=n)
    truth = None
    for cuts in ("lazy", "full"):
        spec = JointSpec(objective=OffloadObjective(load=0.05), cuts=cuts,
                         local_max_steps=local_steps)
        res = ao.run_method(scn, spec, "outer_approximation")
        assert res.optimal and res.gap <= spec.gap_tol
        assert res.bound <= res.objective + 1e-9
        met = ao.evaluate(scn, res.allocation, spec)
        assert met.feasible, met.violations
        np.testing.assert_allclose(met.objective, res.objective, rtol=OBJ_RTOL)
        truth = _brute_force(scn, spec) if truth is None else truth
        np.testing.assert_allclose(res.objective, truth, rtol=OBJ_RTOL)


def test_outer_approximation_equals_brute_force_penalty_binding() -> None:
    """Deadlines tight enough that lateness is paid: the inner problem needs CVXPY."""
    scn = _tiny(3, n=4)
    scn = scn.replace(request_deadline_s=np.full(4, 1.5))
    spec = JointSpec(objective=OffloadObjective(deadline="penalty", deadline_penalty=3.0))
    res = ao.run_method(scn, spec, "outer_approximation")
    assert res.optimal
    met = ao.evaluate(scn, res.allocation, spec)
    assert met.feasible
    assert met.totals["latency_p95_s"] > 1.5  # some request is late: the penalty is active
    np.testing.assert_allclose(met.objective, res.objective, rtol=OBJ_RTOL)
    np.testing.assert_allclose(res.objective, _brute_force(scn, spec), rtol=1e-6)


def test_outer_approximation_equals_brute_force_binding_hard_deadline() -> None:
    """Hard deadlines that bind at the optimum (shares are bent to meet them)."""
    scn = _tiny(3, n=4)
    scn = scn.replace(request_deadline_s=np.full(4, 2.0))
    truth = None
    for cuts in ("lazy", "full"):
        spec = JointSpec(cuts=cuts)
        res = ao.run_method(scn, spec, "outer_approximation")
        assert res.optimal
        # the optimum's shares are bent: the KKT shares miss a deadline there, so CVXPY set
        # them (in the loop, or already in the decomposition start that OA may prove optimal)
        col = columns(scn, spec)
        assert solve_inner(scn, spec, col, column_of(scn, col, res.allocation.placement)
                           ).method == "cvxpy"
        met = ao.evaluate(scn, res.allocation, spec)
        assert met.feasible, met.violations
        np.testing.assert_allclose(met.objective, res.objective, rtol=OBJ_RTOL)
        truth = _brute_force(scn, spec) if truth is None else truth
        np.testing.assert_allclose(res.objective, truth, rtol=1e-6)


def test_infeasible_columns_are_infeasible() -> None:
    """A column flagged infeasible fails a hard constraint even given a whole server."""
    scn = _tiny(0, n=5).replace(request_deadline_s=np.linspace(2.0, 20.0, 5))
    spec = JointSpec()
    col = columns(scn, spec)
    bad = np.nonzero(~col.feasible)[0]
    assert bad.size > 0
    for j in bad:
        others = [np.nonzero((col.user == i) & (col.place == LOCAL))[0][0]
                  for i in range(scn.n_users) if i != col.user[j]]
        chosen = np.sort(np.array(others + [j]))
        chosen = chosen[np.argsort(col.user[chosen])]
        n = chosen.size
        beta = (col.a[chosen] > 0).astype(float)  # the whole band and server for column j
        phi = (col.c[chosen] > 0).astype(float)
        alloc = to_allocation(scn, col, Inner(chosen, beta, phi, 0.0, True, "kkt"))
        met = ao.evaluate(scn, alloc, spec)
        i = int(col.user[j])
        late = met.per_item["latency_s"][i] > scn.request_deadline_s[i]
        over = met.per_item["device_energy_j"][i] > scn.user_energy_budget_j[i]
        assert late or over, (j, n)


def test_inner_closed_form_matches_cvxpy() -> None:
    scn = ao.Scenario.generate(12, 3, 3, seed=4)
    spec = JointSpec()
    col = columns(scn, spec)
    rng = np.random.default_rng(0)
    chosen = np.array([rng.choice(np.nonzero((col.user == i) & (col.place != -1))[0])
                       for i in range(scn.n_users)])
    kkt = solve_inner(scn, spec, col, chosen)
    cvx = solve_inner(scn, spec, col, chosen, force_cvxpy=True)
    assert kkt.method == "kkt" and cvx.method == "cvxpy"
    np.testing.assert_allclose(kkt.value, cvx.value, rtol=1e-7)
    np.testing.assert_allclose(kkt.beta, cvx.beta, atol=1e-4)
    np.testing.assert_allclose(kkt.phi, cvx.phi, atol=1e-4)


def test_inner_with_binding_hard_deadline_matches_scipy() -> None:
    """Three requests on one server, one deadline binds: CVXPY inner vs SciPy SLSQP."""
    scn = _tiny(5, n=3)
    spec = JointSpec()
    col = columns(scn, spec)
    chosen = np.array([np.nonzero((col.user == i) & (col.place == 0))[0][0] for i in range(3)])
    free = solve_inner(scn, spec, col, chosen)
    lat = col.lat0[chosen] + col.a[chosen] / free.beta + col.c[chosen] / free.phi
    d = lat.copy()
    d[0] = lat[0] * 0.9  # request 0 must be faster than the unconstrained optimum gives
    scn = scn.replace(request_deadline_s=d * 1.0 + np.array([0.0, 1.0, 1.0]))
    col = columns(scn, spec)
    inner = solve_inner(scn, spec, col, chosen)
    assert inner.method == "cvxpy" and inner.feasible
    a, c, l0, w = col.a[chosen], col.c[chosen], col.lat0[chosen], col.pw[chosen]

    def f(z: np.ndarray) -> float:
        return float(w @ (a / z[:3] + c / z[3:]))

    cons = [{"type": "ineq", "fun": lambda z: 1.0 - z[:3].sum()},
            {"type": "ineq", "fun": lambda z: 1.0 - z[3:].sum()},
            {"type": "ineq",
             "fun": lambda z: scn.request_deadline_s - (l0 + a / z[:3] + c / z[3:])}]
    z0 = np.concatenate([inner.beta, inner.phi]) * 0.9
    sol = minimize(f, z0, constraints=cons, bounds=[(1e-4, 1.0)] * 6, method="SLSQP",
                   options={"ftol": 1e-14, "maxiter": 500})
    assert sol.success
    const = float(col.const[chosen].sum())
    np.testing.assert_allclose(inner.value, sol.fun + const, rtol=1e-6)
    assert inner.value > free.value  # the binding deadline costs something


def test_decomposition_heuristic_is_scored_and_not_better() -> None:
    scn = ao.Scenario.generate(15, 3, 4, seed=7)
    spec = JointSpec()
    opt = ao.run_method(scn, spec, "outer_approximation")
    heur = ao.run_method(scn, spec, "decomposition")
    assert opt.optimal and heur.termination is ao.Termination.FEASIBLE
    assert heur.objective >= opt.objective - 1e-9 * abs(opt.objective)
    met = ao.evaluate(scn, opt.allocation, spec)
    np.testing.assert_allclose(met.objective, opt.objective, rtol=OBJ_RTOL)


def test_iteration_limit_reports_honest_gap() -> None:
    scn = ao.Scenario.generate(30, 3, 4, seed=2)
    spec = JointSpec(max_iterations=1)
    res = ao.run_method(scn, spec, "outer_approximation")
    assert res.has_solution
    assert res.bound <= res.objective + 1e-9
    if res.termination is ao.Termination.FEASIBLE:
        assert res.gap > spec.gap_tol
    else:
        assert res.optimal and res.gap <= spec.gap_tol
    full = ao.run_method(scn, JointSpec(), "outer_approximation")
    assert full.optimal
    assert res.bound <= full.objective + 1e-9 * abs(full.objective)
    assert res.objective >= full.objective - 1e-9 * abs(full.objective)


def test_infeasible_is_a_status() -> None:
    scn = _tiny(0, n=3).replace(request_deadline_s=np.full(3, 1e-3))
    res = ao.run_method(scn, JointSpec(), "outer_approximation")
    assert res.termination is ao.Termination.INFEASIBLE and not res.has_solution


def test_infeasible_names_the_requests_and_relaxing_them_is_feasible() -> None:
    base = _tiny(0, n=4)
    d = base.request_deadline_s.copy()
    d[[1, 3]] = 1e-6  # no option meets a microsecond
    res = ao.run_method(base.replace(request_deadline_s=d), JointSpec(), "outer_approximation")
    assert res.termination is ao.Termination.INFEASIBLE
    assert res.explanation is not None and not res.explanation.complete  # from a relaxation
    assert set(res.explanation.labels) == {"assignment at request 1", "assignment at request 3"}
    d[[1, 3]] = base.request_deadline_s[[1, 3]]
    fixed = ao.run_method(base.replace(request_deadline_s=d), JointSpec(), "outer_approximation")
    assert fixed.has_solution and fixed.verified


def test_bad_spec_names_field() -> None:
    with pytest.raises(ValidationError, match="gap_tol"):
        JointSpec(gap_tol=-1.0)
    with pytest.raises(ValidationError, match="linking"):
        JointSpec(linking="nope")


def test_case_kind_registered() -> None:
    # read the registry directly: get_case() imports every problem module, including ones
    # other people are still writing
    from aigc_opt.cases import _CASES

    kind = _CASES["offloading.joint"]
    scn = kind.make_instance(0, n_users=10)
    assert kind.reference == "outer_approximation"
    res = ao.run_method(scn, kind.make_spec(), kind.reference)
    assert res.optimal


@pytest.mark.parametrize("deadline", ["hard", "penalty"])
def test_infinite_deadline_is_no_deadline(deadline: str) -> None:
    """An infinite deadline (valid: 'no deadline') gave a HiGHS-rejected master (-inf
    coefficient), then a master whose presolve reported a value its solution did not have
    (200 iterations, 'feasible' 14.59). It is the same optimum as a deadline of 1e7 s."""
    scn = ao.Scenario.generate(3, 1, 1, seed=0)
    spec = JointSpec(objective=OffloadObjective(deadline=deadline))
    out = {}
    for d0 in (1e7, np.inf):
        d = scn.request_deadline_s.copy()
        d[0] = d0
        res = ao.run_method(scn.replace(request_deadline_s=d), spec, "outer_approximation")
        assert res.termination == "optimal" and res.verified, (d0, res.message)
        out[d0] = res.objective
    assert out[np.inf] == pytest.approx(out[1e7], rel=1e-9)


def test_outer_approximation_refuses_extra_constraints() -> None:
    """Its master is built from the fixed-share rows, so a subclass's rows would be dropped
    (the unconstrained point came back 'unverified'): an explained error instead."""
    import dataclasses

    import scipy.sparse as sp

    @dataclasses.dataclass(frozen=True)
    class MinLocal(JointSpec):
        def extra_constraints(self, scn: ao.Scenario) -> tuple[ao.ExtraConstraint, ...]:
            def rows(program: object) -> tuple[dict[str, object], np.ndarray, np.ndarray]:
                cols = program.column_data  # type: ignore[attr-defined]
                j = np.nonzero(cols["placement"] == -1)[0]
                a = sp.csr_matrix((np.ones(j.size), (np.zeros(j.size, int), j)),
                                  shape=(1, program.block("assign").size))  # type: ignore
                return {"assign": a}, np.array([2.0]), np.array([np.inf])

            return (ao.ExtraConstraint("min_local", rows,
                                       lambda al: np.zeros(1)),)

    res = ao.run_method(ao.Scenario.generate(5, 2, 2, seed=0), MinLocal(), "outer_approximation")
    assert res.termination == "error" and "extra constraints" in res.message


@pytest.mark.parametrize("factor", [1e-5, 1e-8, 1e4])
def test_outer_approximation_is_invariant_to_the_objective_scale(factor: float) -> None:
    """All objective weights x c multiply the optimum by c (metamorphic probe): at x1e-5 the
    unscaled master had returned the warm start as "optimal" 0.69 % above the optimum, at
    x1e-8 it stalled for 200 iterations, and at x1e4 the unscaled inner shares were 1.8e-6
    off (beyond gap_tol) under a bound HiGHS's presolve had set to the warm start's value."""
    import dataclasses

    from aigc_opt.cases import get_case

    kind = get_case("offloading.joint")
    scn = kind.make_instance(2, n_users=5, n_servers=2, n_models=3)
    spec = kind.make_spec(objective={"deadline": "hard"})
    o = spec.objective
    names = ("latency", "device_energy", "server_energy", "quality", "deadline_penalty",
             "cloud_cost", "load")
    scaled = dataclasses.replace(spec, objective=dataclasses.replace(
        o, **{n: getattr(o, n) * factor for n in names}))
    base = ao.run_method(scn, spec, "outer_approximation")
    res = ao.run_method(scn, scaled, "outer_approximation")
    assert base.optimal and res.optimal and res.verified, res.message
    np.testing.assert_allclose(res.objective / factor, base.objective, rtol=2e-6)
    assert res.bound <= res.objective
    met = ao.evaluate(scn, base.allocation, scaled)  # the unscaled optimum is no better
    assert met.objective >= res.objective * (1 - 2e-6) if res.objective > 0 else True


def test_outer_approximation_large_weights_on_a_binding_fuzzed_case() -> None:
    """certify_bench's offloading.joint case 7 (request steps x1e2) with the weights x1e4:
    the inner shares by CVXPY were 1.8e-6 off with an unscaled objective, and HiGHS's presolve
    returned the warm start's value as the master's dual bound, so OA said "optimal" with gap
    1e-16 at 1.8e-6 above the optimum (gap_tol 1e-6)."""
    import dataclasses

    from aigc_opt.benchmarks.certify_bench import _OBJECTIVE_FIELDS, make_case

    scn, spec, _ = make_case("offloading.joint", 7)
    o = spec.objective
    scaled = dataclasses.replace(spec, objective=dataclasses.replace(
        o, **{n: getattr(o, n) * 1e4 for n in _OBJECTIVE_FIELDS["OffloadObjective"]}))
    base = ao.run_method(scn, spec, "outer_approximation")
    res = ao.run_method(scn, scaled, "outer_approximation")
    assert base.optimal and res.optimal and res.verified, res.message
    np.testing.assert_allclose(res.objective / 1e4, base.objective, rtol=1e-6)
    assert ao.evaluate(scn, base.allocation, scaled).objective >= res.objective * (1 - 1e-6)


def test_fixed_share_solves_keep_to_the_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fixed-share MILP inside ``decomposition`` and ``outer_approximation`` was solved
    without options: at 400 users (fixed-share infeasible) its explanation's deletion filter
    ran 383 HiGHS solves, 10-16 s at time_limit=2. Every such solve now gets the time left of
    the call's limit, and the warm start none of the explanation."""
    from aigc_opt.problems.offloading import joint

    seen: list[ao.SolveOptions] = []
    solve = joint.solve

    def spy(scn: Any, spec: Any, backend: str, options: Any = None) -> Any:
        seen.append(options)
        return solve(scn, spec, backend, options=options)

    monkeypatch.setattr(joint, "solve", spy)
    scn = ao.Scenario.generate(12, 2, 3, seed=1)
    for method in ("outer_approximation", "decomposition"):
        seen.clear()
        res = ao.run_method(scn, JointSpec(), method, options=ao.SolveOptions(time_limit=5))
        assert res.has_solution and res.verified
        assert seen and all(o is not None and o.time_limit is not None and o.time_limit <= 5
                            for o in seen), seen
        assert not seen[0].verify  # the placement only: no explanation, no referee


def test_decomposition_without_shares_meeting_the_deadlines_finds_no_allocation() -> None:
    """Two deadlines no option can meet (an outside tester's case): the fixed-share MILP's
    penalty form still chose a placement, and decomposition gave it zero shares, every
    request's latency inf and an explanation blaming all six plus 'objective'. It now finds
    no allocation and carries the plain MILP's conflicts (the two requests), as OA's."""
    from aigc_opt.cases import get_case

    k = get_case("offloading.joint")
    base = k.instance(0, n_users=6, n_servers=2)
    dl = base.request_deadline_s.copy()
    dl[[0, 2]] = 1e-4
    scn = base.replace(request_deadline_s=dl)
    res = ao.run_method(scn, k.spec(), "decomposition", time_limit=10)
    exact = ao.run_method(scn, k.spec(), "outer_approximation", time_limit=10)
    assert res.termination == "infeasible" and exact.termination == "infeasible"
    assert "found no allocation" in res.message
    assert res.explanation is not None
    assert set(res.explanation.labels) == {"assignment at request 0", "assignment at request 2"}
