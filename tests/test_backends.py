"""Known-answer programs solved by every backend that can take them (StandardTestLPs pattern)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse as sp

import aigc_opt as ao
from aigc_opt import Block, LinearProgram, ProgramKind, SolveOptions, Termination
from aigc_opt.backend import backend_names, check_capability, get_backend, is_available

from conftest import OBJ_RTOL

INF = np.inf


def _lp(c, A, rl, ru, cl, cu, integ=None, Q=None, sense="min"):  # type: ignore[no-untyped-def]
    n = len(c)
    return LinearProgram(
        c=np.asarray(c, float), A=sp.csr_matrix(np.asarray(A, float)),
        row_lower=np.asarray(rl, float), row_upper=np.asarray(ru, float),
        col_lower=np.asarray(cl, float), col_upper=np.asarray(cu, float),
        integrality=np.zeros(n, bool) if integ is None else np.asarray(integ, bool),
        blocks=(Block("x", 0, (n,)),), Q=Q, sense=ao.Sense(sense),
    )


def lp_max() -> tuple[LinearProgram, float, np.ndarray]:
    """max 3x + 2y s.t. x + y <= 4, x + 3y <= 6, 0 <= x <= 3, y >= 0  ->  (3, 1), 11."""
    return _lp([3, 2], [[1, 1], [1, 3]], [-INF, -INF], [4, 6], [0, 0], [3, INF],
               sense="max"), 11.0, np.array([3.0, 1.0])


def milp_knapsack() -> tuple[LinearProgram, float, np.ndarray]:
    """max 10a + 13b + 7c + 8d s.t. 3a + 4b + 2c + 3d <= 7, binary.

    By hand: weight-7 sets a+b (23), b+c (20, weight 6), a+d (18), b+d (21), a+c (17), c+d (15);
    no three items fit (smallest three weigh 8) -> a + b, 23.
    """
    return _lp([10, 13, 7, 8], [[3, 4, 2, 3]], [-INF], [7], [0] * 4, [1] * 4, [1] * 4,
               sense="max"), 23.0, np.array([1, 1, 0, 0.0])


def milp_equality() -> tuple[LinearProgram, float, np.ndarray]:
    """min x + 2y with x + y = 3.5 - z, z in {0.5}, x, y integer >= 0 -> x=3, y=0, obj 3."""
    return _lp([1, 2, 0], [[1, 1, 1]], [3.5], [3.5], [0, 0, 0.5], [INF, INF, 0.5],
               [1, 1, 0]), 3.0, np.array([3.0, 0.0, 0.5])


def qp_simple() -> tuple[LinearProgram, float, np.ndarray]:
    """min 1/2 (x^2 + y^2) - x - y s.t. x + y <= 1 -> (1/2, 1/2), -3/4."""
    return _lp([-1, -1], [[1, 1]], [-INF], [1], [-INF, -INF], [INF, INF],
               Q=sp.identity(2, format="csc")), -0.75, np.array([0.5, 0.5])


CASES: dict[str, Callable[[], tuple[LinearProgram, float, np.ndarray]]] = {
    "lp_max": lp_max, "milp_knapsack": milp_knapsack, "milp_equality": milp_equality,
    "qp_simple": qp_simple,
}


def _backends_for(kind: ProgramKind) -> list[object]:
    out: list[object] = []
    for name in backend_names():
        if not is_available(name):
            out.append(pytest.param(name, marks=pytest.mark.skip(reason=f"{name} not installed")))
        elif kind in get_backend(name).kinds:
            out.append(name)
    return out


@pytest.mark.parametrize(
    ("case", "backend"),
    [(c, b) for c, f in CASES.items() for b in _backends_for(f()[0].kind)],
)
def test_known_answers(case: str, backend: str) -> None:
    prog, obj, x = CASES[case]()
    res = get_backend(backend).solve(prog, SolveOptions())
    assert res.termination is Termination.OPTIMAL and res.has_solution
    assert res.objective == pytest.approx(obj, rel=OBJ_RTOL, abs=1e-7)
    np.testing.assert_allclose(res.values["x"], x, atol=1e-5)
    assert prog.max_violation(res.values["x"]) <= 1e-6
    assert res.gap <= 1e-6


INFEASIBLE = _lp([1, 1], [[1, 1]], [3], [INF], [0, 0], [1, 1])
UNBOUNDED = _lp([-1, 0], [[1, -1]], [-INF], [1], [0, 0], [INF, INF])


@pytest.mark.parametrize("backend", _backends_for(ProgramKind.LP))
def test_infeasible_is_a_status(backend: str) -> None:
    res = get_backend(backend).solve(INFEASIBLE, SolveOptions())
    assert res.termination in (Termination.INFEASIBLE, Termination.INFEASIBLE_OR_UNBOUNDED)
    assert not res.has_solution and math.isnan(res.objective)
    with pytest.raises(ao.NoSolutionError):
        res.raise_if_no_solution()


@pytest.mark.parametrize("backend", _backends_for(ProgramKind.LP))
def test_unbounded_is_a_status(backend: str) -> None:
    res = get_backend(backend).solve(UNBOUNDED, SolveOptions())
    assert res.termination in (Termination.UNBOUNDED, Termination.INFEASIBLE_OR_UNBOUNDED)


def test_capability_error_for_miqp() -> None:
    prog = _lp([1, 1], [[1, 1]], [1], [INF], [0, 0], [5, 5], [1, 1],
               Q=sp.identity(2, format="csc"))
    assert prog.kind is ProgramKind.MIQP
    with pytest.raises(ao.CapabilityError, match="cannot solve miqp"):
        check_capability(get_backend("highs"), prog.kind)


def test_registry_and_options_errors() -> None:
    with pytest.raises(KeyError, match="unknown backend 'gurobi'"):
        get_backend("gurobi")
    info = ao.backends()
    assert {"highs", "cvxpy", "pyomo"} <= set(info)
    assert "milp" in info["highs"]["kinds"]
    with pytest.raises(ao.ValidationError, match="time_limit"):
        SolveOptions(time_limit=-1)
    with pytest.raises(ao.ValidationError, match="mip_gap"):
        SolveOptions(mip_gap=-0.1)


def test_program_validation_names_the_field() -> None:
    with pytest.raises(ao.ValidationError, match="row_upper"):
        _lp([1, 1], [[1, 1]], [1], [1, 2], [0, 0], [1, 1])
    with pytest.raises(ao.ValidationError, match="c .*NaN"):
        _lp([np.nan, 1], [[1, 1]], [1], [1], [0, 0], [1, 1])


def test_programs_are_immutable() -> None:
    prog, _, _ = lp_max()
    with pytest.raises(ValueError):
        prog.c[0] = 5.0
    get_backend("highs").solve(prog, SolveOptions())
    np.testing.assert_array_equal(prog.c, [3.0, 2.0])


# ---------------------------------------------------------------- issue 11: scaling, statuses
def badly_scaled() -> tuple[LinearProgram, float, np.ndarray]:
    """``lp_max`` with row 1 times 1e-12, row 2 times 1e12, x in kB-scale units (column times
    1e-9) and the objective times 1e-20: same optimum (3, 1) after unscaling, objective 1.1e-19.
    The equilibration in :mod:`aigc_opt.solvers.numerics` must undo all of it."""
    A = np.array([[1e-12, 1e-12], [1e12, 3e12]]) * np.array([1e9, 1.0])
    return _lp(np.array([3e-20 * 1e9, 2e-20]), A, [-INF, -INF], [4e-12, 6e12], [0, 0],
               [3e-9, INF], sense="max"), 11e-20, np.array([3e-9, 1.0])


@pytest.mark.parametrize("backend", _backends_for(ProgramKind.LP))
def test_badly_scaled_known_answer(backend: str) -> None:
    prog, obj, x = badly_scaled()
    res = get_backend(backend).solve(prog, SolveOptions())
    assert res.termination is Termination.OPTIMAL and res.has_solution
    assert res.objective == pytest.approx(obj, rel=1e-6)
    np.testing.assert_allclose(res.values["x"], x, rtol=1e-6)


def test_equilibration_ranges_and_exactness() -> None:
    from aigc_opt.solvers.numerics import equilibrate

    prog, _, x = badly_scaled()
    sc = equilibrate(prog)
    rows = np.abs(sc.program.A).max(axis=1).toarray().ravel()
    assert np.all((rows >= 1.0) & (rows < 2.0))
    gm = np.exp2(np.mean(np.log2(np.abs(sc.program.c[sc.program.c != 0]))))
    assert 2.0**-0.5 <= gm <= 2.0**0.5
    # powers of two: scaling and unscaling are exact
    assert np.all(np.log2(sc.col_scale) == np.round(np.log2(sc.col_scale)))
    xs = x / sc.col_scale
    np.testing.assert_array_equal(sc.unscale_x(xs), x)
    knap, _, _ = milp_knapsack()
    assert np.all(equilibrate(knap).col_scale == 1.0)  # integer columns are never scaled


@pytest.mark.parametrize("backend", _backends_for(ProgramKind.LP))
def test_nonfinite_coefficients_are_an_error_status(backend: str) -> None:
    prog = _lp([np.inf, 1], [[1, 1]], [1], [INF], [0, 0], [1, 1])
    res = get_backend(backend).solve(prog, SolveOptions())
    assert res.termination is Termination.ERROR and not res.has_solution
    assert "non-finite" in res.message


def test_cvxpy_errors_are_statuses(monkeypatch: pytest.MonkeyPatch) -> None:
    import cvxpy as cp

    from aigc_opt.solvers.cvxpy_backend import CONDITION_MAP

    assert CONDITION_MAP["optimal_inaccurate"][0] is Termination.FEASIBLE
    prog, _, _ = lp_max()
    for msg in ("Cannot unpack invalid solution: Solution(status=UNKNOWN)",
                "Problem data contains NaN or Inf. Check your parameter values and constants."):
        def boom(self: object, *a: object, _m: str = msg, **k: object) -> None:
            raise ValueError(_m)

        monkeypatch.setattr(cp.Problem, "solve", boom)
        res = get_backend("cvxpy").solve(prog, SolveOptions())
        assert res.termination is Termination.ERROR and not res.has_solution
        assert msg[:20] in res.message


def _family_programs() -> list[tuple[str, object, object]]:
    from aigc_opt.cases import get_case

    out = []
    for name, sizes in (("offloading.assignment", {"n_users": 8, "n_servers": 2, "n_models": 3}),
                        ("offloading.multicell", {"n_users": 8, "n_servers": 3, "n_models": 3}),
                        ("offloading.partial", {"n_users": 8}),
                        ("allocation.steps", {"n_users": 5, "n_servers": 2, "n_models": 2}),
                        ("allocation.llm_tokens", {"n_requests": 8}),
                        ("caching.offline", {"n_servers": 2, "n_models": 3, "n_slots": 4}),
                        ("incentives.auction", {"n_bidders": 6, "n_servers": 2})):
        kind = get_case(name)
        for seed in (0, 1):
            out.append((name, kind.make_instance(seed, **sizes), kind.make_spec()))
    return out


@pytest.mark.skipif(not is_available("scip"), reason="pyscipopt not installed")
@pytest.mark.parametrize("idx", range(14))
def test_highs_and_scip_agree_on_families(idx: int) -> None:
    """Two independent solvers on every LP/MILP family: both verified optimal, same objective
    within their gaps (mip_gap 0)."""
    name, inst, spec = _family_programs()[idx]
    opts = SolveOptions(mip_gap=0.0, time_limit=30.0)
    rh = ao.solve(inst, spec, "highs", options=opts)
    rs = ao.solve(inst, spec, "scip", options=opts)
    assert rh.termination is rs.termination, (name, rh, rs)
    if rh.has_solution:
        assert rh.verified and rs.verified, (name, rh, rs)
        tol = max(rh.gap, rs.gap, 0.0) * max(1.0, abs(rh.objective)) + 1e-6 * abs(rh.objective)
        assert abs(rh.objective - rs.objective) <= tol + 1e-9, (name, rh, rs)


@pytest.mark.parametrize("backend", _backends_for(ProgramKind.LP))
def test_program_without_columns(backend: str) -> None:
    """Every backend: optimal at the constant when the rows admit 0, infeasible otherwise (the
    pyomo backend reported an "unknown" error)."""
    empty = _lp([], np.zeros((1, 0)), [-1.0], [1.0], [], [])
    res = get_backend(backend).solve(replace(empty, offset=2.5), SolveOptions())
    assert res.termination is Termination.OPTIMAL and res.objective == 2.5
    bad = get_backend(backend).solve(_lp([], np.zeros((1, 0)), [1.0], [2.0], [], []),
                                     SolveOptions())
    assert bad.termination in (Termination.INFEASIBLE, Termination.INFEASIBLE_OR_UNBOUNDED)


@pytest.mark.parametrize("backend", ["highs", "scip", "pyomo"])
def test_unknown_solver_option_is_refused(backend: str) -> None:
    if not ao.backends().get(backend, {}).get("available"):
        pytest.skip(f"{backend} not installed")
    lp, _, _ = CASES["lp_max"]()
    with pytest.raises(ao.UnknownNameError, match="no_such_option_xyz"):
        get_backend(backend).solve(lp, SolveOptions(extra={"no_such_option_xyz": 1}))
    if backend == "pyomo":
        with pytest.raises(ao.UnknownNameError, match="no_such_option_xyz"):
            get_backend(backend).solve(lp, SolveOptions(
                extra={"solver": "scip", "no_such_option_xyz": 1}))


def test_presolve_off_through_extra_also_turns_feasibility_jump_off() -> None:
    # HiGHS 1.15-1.16's feasibility jump segfaults with presolve off (ERGO-Code/HiGHS#3262);
    # extra={"presolve": "off"} is the documented way around a long HiGHS setup phase
    from aigc_opt.solvers.highs import configured_highs

    h = configured_highs(SolveOptions(extra={"presolve": "off"}))
    opts = h.getOptions()
    assert opts.presolve == "off" and opts.mip_heuristic_run_feasibility_jump is False
    h = configured_highs(SolveOptions(extra={"presolve": "off",
                                             "mip_heuristic_run_feasibility_jump": True}))
    assert h.getOptions().mip_heuristic_run_feasibility_jump is True  # asked for explicitly
    lp, _, _ = CASES["lp_max"]()
    res = get_backend("highs").solve(lp, SolveOptions(extra={"presolve": "off"}))
    assert res.termination is Termination.OPTIMAL


def _pyomo_solver_or_skip(solver: str) -> None:
    if solver == "scip":
        pytest.importorskip("pyomo.contrib.solver.solvers.scip.scip_direct",
                            reason="Pyomo's SCIP interface came with Pyomo 6.10.1")


@pytest.mark.parametrize("solver", ["highs", "scip"])
def test_pyomo_rows_without_coefficients(solver: str) -> None:
    """A row with no coefficient (multi-cell offloading has two) is skipped when it admits 0
    (Pyomo's SCIP writer failed on the trivial constraint: 'TrivialRelationalExpression') and
    makes the program infeasible when it does not."""
    _pyomo_solver_or_skip(solver)
    A = [[1, 1], [0, 0]]
    ok = _lp([1, 2], A, [1, -1], [INF, 1], [0, 0], [INF, INF], integ=[True, False])
    res = get_backend("pyomo").solve(ok, ao.SolveOptions(extra={"solver": solver}))
    assert res.termination == "optimal" and res.objective == pytest.approx(1.0)
    bad = _lp([1, 2], A, [1, 0.5], [INF, 1], [0, 0], [INF, INF], integ=[True, False])
    res = get_backend("pyomo").solve(bad, ao.SolveOptions(extra={"solver": solver}))
    assert res.termination == "infeasible" and "without coefficients" in res.message


def test_pyomo_scip_agrees_on_multicell_offloading() -> None:
    from aigc_opt.problems.offloading import MulticellSpec

    _pyomo_solver_or_skip("scip")
    scn = ao.Scenario.generate(4, 2, 2, seed=0)
    ref = ao.solve(scn, MulticellSpec(), backend="highs")
    res = ao.solve(scn, MulticellSpec(), backend="pyomo", extra={"solver": "scip"})
    assert res.termination == "optimal" and res.verified
    assert res.objective == pytest.approx(ref.objective, rel=1e-7)


_THREADS_SCRIPT = r"""
import highspy
import aigc_opt as ao
from aigc_opt.problems.offloading import OffloadingSpec
scn = ao.Scenario.generate(6, 2, 3, seed=0)
# a solve without a thread count first: HiGHS starts its process-wide scheduler at its default
h = highspy.Highs(); h.setOptionValue("output_flag", False)
h.addVar(0, 1); h.changeColCost(0, 1.0); h.run()
# a count asked for by a solve that then fails before running (an unknown option), and a
# solve without a count after it: the count must still be the one HiGHS runs at
try:
    ao.solve(scn, OffloadingSpec(), "highs", options=ao.SolveOptions(threads=1,
                                                                      extra={"nope": 1}))
except ao.UnknownNameError:
    pass
h.run()
out = []
for threads in (1, 2, 1, None, 3):
    for backend in ("highs", "cvxpy", "pyomo"):
        res = ao.solve(scn, OffloadingSpec(), backend, options=ao.SolveOptions(threads=threads))
        out.append(f"{threads}:{backend}:{res.termination.value}:{res.objective:.9g}")
print(" ".join(out))
"""


def test_a_thread_count_after_a_default_solve_is_not_an_error() -> None:
    """HiGHS's task scheduler is per process: after a solve at its default count, a solve
    asking for threads=1 returned 'error' (kNotset) on HiGHS, CVXPY/HiGHS and Pyomo/HiGHS,
    for every later problem of the process. Each count asked for now restarts it (a fresh
    process, since the scheduler outlives every test)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _THREADS_SCRIPT], capture_output=True,
                          text=True, timeout=300, check=True)
    runs = done.stdout.strip().splitlines()[-1].split()  # after HiGHS's banner
    assert len(runs) == 15, done.stdout + done.stderr
    assert {r.split(":")[2] for r in runs} == {"optimal"}, runs
    values = {round(float(r.split(":")[3]), 6) for r in runs}
    assert len(values) == 1, runs


@pytest.mark.parametrize("backend", ["highs", "scip", "cvxpy", "pyomo"])
def test_no_optimality_claim_beyond_the_objective_range(backend: str) -> None:
    """A MILP whose costs span 1e14 (beyond MAX_OBJECTIVE_RANGE = 1e12): the solution is
    returned, but as 'feasible' with no bound; the same program with costs spanning 1e6, and
    the LP relaxation (limit 1e15), keep their optimality claims."""
    from aigc_opt.solvers.numerics import MAX_OBJECTIVE_RANGE

    def prog(small: float, integer: bool) -> LinearProgram:
        # min x + small y  s.t.  x + y >= 1,  x, y in {0, 1}: optimum y = 1, value small
        return LinearProgram(c=np.array([1.0, small]), A=sp.csr_matrix(np.ones((1, 2))),
                             row_lower=np.array([1.0]), row_upper=np.array([np.inf]),
                             col_lower=np.zeros(2), col_upper=np.ones(2),
                             integrality=np.array([integer, integer]))

    be = get_backend(backend)
    wide = be.solve(prog(1e-14, True), SolveOptions())
    assert 1e14 > MAX_OBJECTIVE_RANGE
    assert wide.termination is Termination.FEASIBLE and wide.has_solution
    assert math.isnan(wide.bound) and "objective coefficients span" in wide.message
    assert wide.objective == pytest.approx(1e-14, abs=1e-20)
    narrow = be.solve(prog(1e-6, True), SolveOptions())
    assert narrow.termination is Termination.OPTIMAL
    lp = be.solve(prog(1e-14, False), SolveOptions())
    assert lp.termination is Termination.OPTIMAL


def test_time_left_after_setup() -> None:
    import time

    assert SolveOptions().left(time.perf_counter()) is None
    t0 = time.perf_counter() - 0.4  # 0.4 s of setup already spent
    assert SolveOptions(time_limit=1.0).left(t0) == pytest.approx(0.6, abs=0.05)
    assert SolveOptions(time_limit=0.1).left(t0) == 0.05  # the floor: the solver still runs


def test_pyomo_stops_when_building_its_model_used_the_limit() -> None:
    """The probe: 40,000 partial-offloading requests took Pyomo 3.5 s to build and 6 s more in
    solve() at a 1 s limit (11.5 s in all); now a build past the limit is a ``limit`` status."""
    if not is_available("pyomo"):
        pytest.skip("pyomo not installed")
    scn = ao.Scenario.generate(200, 3, 3, seed=0)
    from aigc_opt.problems.offloading import OffloadingSpec

    res = ao.solve(scn, OffloadingSpec(), "pyomo", time_limit=1e-6)
    assert res.termination is Termination.LIMIT and not res.has_solution
    assert "building the Pyomo model" in res.message
    assert ao.solve(scn, OffloadingSpec(), "pyomo", time_limit=60).optimal


def test_cvxpy_retries_a_conic_program_with_scs_when_clarabel_fails(monkeypatch) -> None:
    """A conic program whose default solver (CLARABEL) fails is retried with SCS: a solution
    is kept (and refereed), any other SCS status stays an error naming both solvers."""
    import aigc_opt.solvers.cvxpy_backend as cb
    from aigc_opt.problems.allocation import PowerInstance, PowerSpec

    real = cb.attempt

    def clarabel_fails(problem, solver, verbose, kw):  # type: ignore[no-untyped-def]
        if solver == "CLARABEL":
            return "SolverError: Solver 'CLARABEL' failed."
        return real(problem, solver, verbose, kw)

    monkeypatch.setattr(cb, "attempt", clarabel_fails)
    inst, spec = PowerInstance.generate(6, seed=1), PowerSpec(mode="sum_rate")
    ref = ao.run_method(inst, spec, "closed_form")
    res = ao.solve(inst, spec, backend="cvxpy")
    assert res.has_solution and res.verified, res.message
    assert res.message.startswith("SCS: optimal") and "after CLARABEL" in res.message
    assert res.objective == pytest.approx(ref.objective, rel=1e-5)
    # an explicit solver choice is not second-guessed
    res = ao.solve(inst, spec, backend="cvxpy", extra={"solver": "CLARABEL"})
    assert res.termination is Termination.ERROR and "SCS" not in res.message

    def both_fail(problem, solver, verbose, kw):  # type: ignore[no-untyped-def]
        return f"SolverError: {solver} failed."

    monkeypatch.setattr(cb, "attempt", both_fail)
    res = ao.solve(inst, spec, backend="cvxpy")
    assert res.termination is Termination.ERROR and not res.has_solution
    assert "CLARABEL" in res.message and "SCS" in res.message


def test_pyomo_solves_from_several_threads_at_once() -> None:
    """Pyomo redirects the process's stdout/stderr around each solve; four threads solving at
    once deadlocked (every method of every family run from a thread pool). Pyomo solves are
    now serialised: each thread's answer is the HiGHS backend's optimum, refereed."""
    import threading

    if not is_available("pyomo"):
        pytest.skip("pyomo not installed")
    from aigc_opt.problems.offloading import OffloadingSpec

    scns = [ao.Scenario.generate(12, 3, 3, seed=s) for s in range(4)]
    want = [ao.solve(s, OffloadingSpec(), "highs") for s in scns]
    assert all(r.optimal and r.verified for r in want)
    got: dict[int, ao.Result] = {}

    def work(i: int) -> None:
        got[i] = ao.solve(scns[i % 4], OffloadingSpec(), "pyomo", time_limit=60)

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(8)]
    for t in threads:
        t.start()
    import time

    deadline = time.monotonic() + 120
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "a Pyomo solve hung"
    for i in range(8):
        r = got[i]
        assert r.optimal and r.verified, r.message
        assert r.objective == pytest.approx(want[i % 4].objective, rel=OBJ_RTOL)


def test_a_row_beyond_highs_infinity_is_proven_infeasible() -> None:
    """HiGHS refuses a row bound beyond its 1e20 on the impossible side ('HiGHS rejected the
    model': allocation steps with power x 1e-300 asked rows for at most -1.6e297, and every
    HiGHS path returned 'error' where SCIP said infeasible); the column bounds prove it."""
    from aigc_opt.solvers.numerics import unreachable_row

    def prog(lo: float, up: float, col_lo: float = 0.0) -> LinearProgram:
        return LinearProgram(c=np.array([1.0, 1.0]), A=sp.csr_matrix(np.array([[1.0, -2.0]])),
                             row_lower=np.array([lo]), row_upper=np.array([up]),
                             col_lower=np.array([col_lo, 0.0]), col_upper=np.array([1.0, 1.0]),
                             integrality=np.array([True, False]))

    for lo, up in ((-np.inf, -1e297), (1e297, np.inf)):
        res = get_backend("highs").solve(prog(lo, up), SolveOptions())
        assert res.termination is Termination.INFEASIBLE and not res.has_solution, res
        assert "infeasible" in res.message and "row 0" in res.message
        assert get_backend("scip").solve(prog(lo, up), SolveOptions()).termination in (
            Termination.INFEASIBLE, Termination.INFEASIBLE_OR_UNBOUNDED)
    # an unbounded column could reach it: no proof, HiGHS's refusal stays an error status
    assert unreachable_row(prog(-np.inf, -1e297, col_lo=-np.inf)) is None
    assert unreachable_row(prog(-np.inf, 5.0)) is None
