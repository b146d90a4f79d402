"""``SolveOptions.extra`` handed to a solver: a bad value is a ValidationError naming
``extra['key']``, its unit and the value, checked before any work; an option a pass-through
solver rejects is an ``error`` Result in the solver's words; never a raw TypeError/KeyError."""

from __future__ import annotations

import math
from typing import Any

import pytest

import aigc_opt as ao
from aigc_opt.backend import is_available
from aigc_opt.cases import get_case
from aigc_opt.problems.offloading import OffloadingSpec


def _case(kind: str) -> tuple[Any, Any]:
    k = get_case(kind)
    return k.make_instance(0), k.make_spec()


def _refused(inst: Any, spec: Any, method: str, extra: dict[str, Any]) -> ao.ValidationError:
    with pytest.raises(ao.ValidationError) as info:
        ao.run_method(inst, spec, method, time_limit=5, extra=extra)
    return info.value


@pytest.mark.parametrize("extra", [{"verbose": True}, {"verbose": False},
                                   {"solver": "HIGHS", "verbose": False}])
def test_cvxpy_extra_verbose_is_refused_for_solve_options_verbose(extra: dict[str, Any]) -> None:
    """``extra['verbose']`` collided with the backend's own ``verbose=options.verbose``: a raw
    TypeError "got multiple values for keyword argument 'verbose'". It is refused and points
    to ``SolveOptions.verbose``."""
    kind = "offloading.assignment" if "solver" in extra else "allocation.power"
    err = _refused(*_case(kind), "cvxpy", extra)
    assert err.field == "extra['verbose']" and err.unit == "-"
    assert "SolveOptions.verbose" in str(err)


@pytest.mark.parametrize(("key", "value", "unit"), [
    ("max_iter", "abc", "-"), ("max_iter", None, "-"), ("max_iter", [1], "-"),
    ("max_iter", math.nan, "-"), ("max_iter", math.inf, "-"), ("max_iter", 1e30, "-"),
    ("max_iter", -1, "-"), ("max_iter", 2**40, "-"), ("max_iter", True, "-"),
    ("tol_gap_abs", "x", "-"), ("tol_gap_abs", None, "-"), ("tol_gap_abs", [1e-9], "-"),
    ("tol_gap_abs", math.nan, "-"), ("tol_gap_abs", -1.0, "-"), ("tol_gap_abs", math.inf, "-"),
    ("time_limit", "1", "s"), ("time_limit", None, "s"), ("time_limit", -1.0, "s"),
    ("time_limit", math.nan, "s"), ("equilibrate_enable", 0, "-"),
    ("max_step_fraction", 2.0, "-"), ("direct_solve_method", "bogus", "-"),
    ("direct_solve_method", 3, "-"),
])
def test_clarabel_option_values_are_checked(key: str, value: Any, unit: str) -> None:
    """CLARABEL options are checked by the type of Clarabel's default (bool / u32 int / real,
    finite and >= 0, time_limit may be inf) before CVXPY runs: wrong types were raw
    TypeErrors, ``max_iter=-1`` a raw TypeError of the SCS fallback, NaN / negative
    tolerances and a negative time limit were accepted."""
    inst, spec = _case("allocation.power")
    err = _refused(inst, spec, "cvxpy", {key: value})
    assert err.field == f"extra[{key!r}]" and err.unit == unit
    for method in ("reduced_cvxpy",):  # the contract's own CVXPY call uses the same check
        err = _refused(*_case("incentives.contract"), method, {key: value})
        assert err.field == f"extra[{key!r}]"


def test_valid_clarabel_options_still_solve() -> None:
    """Good values of every kind pass (an int for a float setting, inf for time_limit, a
    string Clarabel knows) and the solution is refereed."""
    inst, spec = _case("allocation.power")
    extra = {"max_iter": 300, "tol_gap_abs": 1e-9, "tol_feas": 1, "time_limit": math.inf,
             "equilibrate_enable": True, "direct_solve_method": "qdldl"}
    res = ao.run_method(inst, spec, "cvxpy", time_limit=30, extra=extra)
    assert res.has_solution and res.verified, res.message
    red = ao.run_method(*_case("incentives.contract"), "reduced_cvxpy", time_limit=30,
                        extra=extra)
    assert red.has_solution and red.verified, red.message


def test_scs_fallback_does_not_get_clarabel_options(monkeypatch: pytest.MonkeyPatch) -> None:
    """When CLARABEL fails, SCS is retried without the user's CLARABEL options (it raised a
    raw TypeError on ``max_iter``); its solution is refereed."""
    import aigc_opt.solvers.cvxpy_backend as cb

    real = cb.attempt

    def clarabel_fails(problem: Any, solver: str, verbose: bool, kw: dict[str, Any]) -> Any:
        if solver == "CLARABEL":
            return "SolverError: Solver 'CLARABEL' failed."
        return real(problem, solver, verbose, kw)

    monkeypatch.setattr(cb, "attempt", clarabel_fails)
    inst, spec = _case("allocation.power")
    res = ao.run_method(inst, spec, "cvxpy", time_limit=30,
                        extra={"max_iter": 300, "tol_feas": 1e-9})
    assert res.has_solution and res.verified, res.message
    assert res.message.startswith("SCS: optimal") and "after CLARABEL" in res.message


@pytest.mark.parametrize(("kind", "extra", "words"), [
    ("allocation.power", {"solver": "SCS", "zz_bogus": 1}, "zz_bogus"),
    ("allocation.power", {"solver": "SCS", "eps": "x"}, "real number"),
    ("offloading.assignment", {"solver": "SCIP", "zz": 1}, "zz"),
])
def test_pass_through_solver_rejection_is_an_error_result(kind: str, extra: dict[str, Any],
                                                          words: str) -> None:
    """SCS's TypeError and SCIP's KeyError for an option they reject were raw exceptions; they
    are ``error`` Results carrying the solver's message (as CVXPY's HiGHS errors were)."""
    import cvxpy as cp

    if extra["solver"] not in cp.installed_solvers():
        pytest.skip(f"{extra['solver']} not installed for CVXPY")
    res = ao.run_method(*_case(kind), "cvxpy", time_limit=5, extra=extra)
    assert res.termination is ao.Termination.ERROR and not res.has_solution
    assert res.message.startswith(extra["solver"]) and words in res.message, res.message


@pytest.mark.parametrize("method", ["highs", "cvxpy", "pyomo"])
@pytest.mark.parametrize(("key", "value", "unit"), [
    ("time_limit", [1], "s"), ("presolve", [1], "-"), ("time_limit", math.nan, "s"),
    ("mip_rel_gap", math.nan, "-"), ("primal_feasibility_tolerance", math.nan, "-"),
    ("threads", None, "-"),
])
def test_highs_option_values_are_checked(method: str, key: str, value: Any, unit: str) -> None:
    """A list value was a raw TypeError from highspy's setOptionValue; NaN was accepted for
    every double option (and ``extra['time_limit']=nan`` replaced ``SolveOptions.time_limit``)
    and the solve reported optimal. Both are ValidationErrors, on every path to HiGHS."""
    if method == "pyomo" and not is_available("pyomo"):
        pytest.skip("pyomo not installed")
    err = _refused(*_case("offloading.assignment"), method, {key: value})
    assert err.field == f"extra[{key!r}]" and err.unit == unit


def test_valid_highs_options_still_solve() -> None:
    """+inf is HiGHS's own "no limit" for time_limit and stays allowed; ints go to doubles."""
    inst, spec = _case("offloading.assignment")
    for method in ("highs", "cvxpy"):
        res = ao.run_method(inst, spec, method, time_limit=30,
                            extra={"time_limit": math.inf, "mip_rel_gap": 0,
                                   "presolve": "on"})
        assert res.optimal and res.verified, (method, res.message)


def test_lagrangian_refuses_an_unknown_key_on_every_instance() -> None:
    """The extras reached HiGHS only when the restricted MILP ran: an unknown key was
    accepted on seed 0 (solved by the subgradient phase) and refused on seed 1. They are
    checked up front; a valid one still gives a refereed answer."""
    for seed in (0, 1):
        scn = ao.Scenario.generate(n_users=60, n_servers=4, n_models=4, seed=seed)
        with pytest.raises(ao.UnknownNameError):
            ao.run_method(scn, OffloadingSpec(), "lagrangian", time_limit=5,
                          extra={"zz_bogus": 1})
        err = _refused(scn, OffloadingSpec(), "lagrangian", {"time_limit": math.nan})
        assert err.field == "extra['time_limit']" and err.unit == "s"
    res = ao.run_method(scn, OffloadingSpec(), "lagrangian", time_limit=30,
                        extra={"mip_feasibility_tolerance": 1e-7})
    assert res.has_solution and res.verified, res.message
