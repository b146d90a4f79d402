"""An allocation that does not fit is reported under the field that is wrong.

Found by an outside tester: a migration trajectory whose ``level`` had shape (7, 6) was
reported as ``allocation shape (8, 6) does not fit (T, U) = (8, 6)`` (the referee printed
``server``'s shape whichever array was wrong), and an ``OffloadAllocation`` with
``remote_steps=inf`` or ``device_steps=inf`` was accepted, then refused by the referee as field
``steps`` (the total the quality curve reads), a name no constructor argument has.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt.problems import migration as mg
from aigc_opt.problems.offloading import OffloadingSpec


@pytest.mark.parametrize("field", ["server", "level"])
def test_migration_referee_names_the_wrong_shaped_field(field: str) -> None:
    inst = mg.generate(4, 2, 3, seed=0, n_models=2, steps=(10, 40))
    spec = mg.MigrationSpec()
    res = ao.run_method(inst, spec, "highs", time_limit=20)
    assert res.verified and ao.evaluate(inst, res.allocation, spec).feasible
    a = res.allocation
    bad = dataclasses.replace(a, **{field: getattr(a, field)[:-1]})
    with pytest.raises(ao.ValidationError, match=rf"{field} has shape \(2, 4\), "
                                                 r"\(T, U\) = \(3, 4\)"):
        ao.evaluate(inst, bad, spec)

    slot = mg.slot_problem(inst, spec, 1, a.server[0], 0.0)
    one = ao.solve(slot, mg.SlotSpec(), backend="highs")
    assert one.verified and ao.evaluate(slot, one.allocation).feasible
    short = dataclasses.replace(one.allocation, **{field: getattr(one.allocation, field)[:-1]})
    with pytest.raises(ao.ValidationError, match=rf"{field} has shape \(3,\), \(U,\) = \(4,\)"):
        ao.evaluate(slot, short)


@pytest.mark.parametrize("value", [np.inf, -np.inf, 2e7])
@pytest.mark.parametrize("field", ["remote_steps", "device_steps"])
def test_offloading_steps_are_refused_under_their_own_name(field: str, value: float) -> None:
    scn = ao.Scenario.generate(4, 2, 2, seed=0)
    res = ao.solve(scn, OffloadingSpec(), "highs", time_limit=20)
    assert res.verified and ao.evaluate(scn, res.allocation, OffloadingSpec()).feasible
    steps = np.array(getattr(res.allocation, field))
    steps[0] = value
    with pytest.raises(ao.ValidationError, match=rf"^{field} \[step\] = ") as err:
        dataclasses.replace(res.allocation, **{field: steps})
    assert err.value.field == field
