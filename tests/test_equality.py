"""``==`` never raises on the library's frozen objects, and frozen options hash.

Found by an outside tester: ``x == copy.deepcopy(x)`` raised ValueError ("truth value of an
array is ambiguous") for the incentives instances and allocations and for every Result and
Metrics (their generated field-wise ``__eq__`` compared arrays), while the other 18 instance
and allocation types compare by identity; ``hash(SolveOptions())`` raised TypeError (its
``extra`` is an unhashable read-only mapping) although the options are frozen.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

import aigc_opt as ao
from aigc_opt.cases import get_case

KINDS = {name: get_case(name) for name in
         ("incentives.contract", "incentives.stackelberg", "incentives.auction")}


@pytest.mark.parametrize("name", sorted(KINDS))
def test_equality_of_array_holding_objects_is_identity(name: str) -> None:
    kind = KINDS[name]
    inst, spec = kind.make_instance(0), kind.make_spec()
    res = ao.run_method(inst, spec, kind.reference, time_limit=20)
    assert res.verified and res.has_solution
    met = ao.evaluate(inst, res.allocation, spec)
    assert met.feasible
    objs: list[Any] = [inst, res.allocation, res, met]
    for x in objs:
        twin = copy.deepcopy(x)
        assert x == x and not (x != x), type(x).__name__
        assert (x == twin) is False and (x != twin) is True, type(x).__name__
        assert x in [twin, x] and hash(x) == hash(x)


def test_solve_options_hash_and_compare_by_value() -> None:
    a = ao.SolveOptions(time_limit=3.0, extra={"presolve": "off"})
    b = copy.deepcopy(a)
    assert a == b and hash(a) == hash(b)
    assert hash(ao.SolveOptions()) == hash(ao.SolveOptions())
    assert a != ao.SolveOptions(time_limit=3.0, extra={"presolve": "on"})
    assert len({a, b, ao.SolveOptions()}) == 2
