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


@pytest.mark.parametrize("method", ["highs", "pyomo"])
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
    for method in ("highs",):
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
