"""A spec's ``problem`` / ``variant`` are labels: the referee's rules follow the spec's type.

Found by an outside tester: ``OffloadingSpec(problem="my-offloading")`` (or ``variant=
"assignment_v2"``, ``variant=None``) was solved to the certified optimum 34.8246, after which
an allocation breaking the spec's fixed shares was judged *feasible* with objective 15.2765,
because the offloading referee picked its decision-space rules (``option``, ``schedule``,
``step_level``, ``shares``) and its exact-time judging from the label strings. A subclass
naming its own CSV variant (README, "Adding a constraint") lost every rule the same way.
Labels of every family's spec must also be strings (None or a number used to be accepted).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt.cases import case_kinds
from aigc_opt.problems.allocation import HybridStepsSpec, StepsSpec
from aigc_opt.problems.offloading import MulticellSpec, OffloadingSpec, PartialSpec

OPTS = ao.SolveOptions(time_limit=30, mip_gap=1e-9)


@dataclasses.dataclass(frozen=True)
class _RelabelledSpec(OffloadingSpec):
    """A user's subclass that names its own rows in the results CSV."""

    problem: str = "my-offloading"
    variant: str = "assignment_v2"


def _solved(scn: ao.Scenario, spec: Any) -> Any:
    method = "closed_form" if isinstance(spec, PartialSpec) else "highs"
    res = ao.run_method(scn, spec, method, options=OPTS)
    assert res.optimal and res.verified, res.message
    assert ao.evaluate(scn, res.allocation, spec).feasible
    return res.allocation


def _shared_out(scn: ao.Scenario, alloc: Any) -> Any:
    """Each used radio server's whole downlink band split among its remote requests: the
    capacities still hold, the spec's fixed shares do not."""
    up = getattr(alloc, "radio_server", getattr(alloc, "server", None))
    on = alloc.downlink_hz > 0
    assert on.any()
    n_on = np.bincount(up[on], minlength=scn.n_servers).astype(float)
    dn = np.where(on, scn.server_downlink_hz[up] / np.maximum(n_on[up], 1.0), 0.0)
    return dataclasses.replace(alloc, downlink_hz=dn)


def _halved(alloc: Any) -> Any:
    """One remote request's downlink share halved (capacities still hold, the share not)."""
    dn = alloc.downlink_hz.copy()
    dn[np.flatnonzero(dn > 0)[0]] *= 0.5
    return dataclasses.replace(alloc, downlink_hz=dn)


SPECS = [OffloadingSpec(), MulticellSpec(forward_bps=1e12), PartialSpec(),
         StepsSpec(levels=(5, 10, 20)), HybridStepsSpec(levels=(5, 10, 20))]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: type(s).__name__)
def test_relabelled_spec_keeps_its_decision_space(spec: Any) -> None:
    scn = ao.Scenario.generate(6, 2, 3, seed=1)
    bad = _halved(_solved(scn, spec))
    want = ao.evaluate(scn, bad, spec)
    assert not want.feasible and want.violations["shares"] > 1e-6
    for label in ({"problem": "my-offloading"}, {"variant": "assignment_v2"},
                  {"problem": "x", "variant": "partial" if spec.variant != "partial" else "y"}):
        other = dataclasses.replace(spec, **label)
        met = ao.evaluate(scn, bad, other)
        assert not met.feasible, label
        assert met.violations == pytest.approx(want.violations), label
        assert met.objective == pytest.approx(want.objective), label


def test_subclass_with_its_own_labels_is_judged_as_its_parent() -> None:
    scn = ao.Scenario.generate(10, 2, 3, seed=1)
    spec = _RelabelledSpec()
    res = ao.solve(scn, spec, "highs", time_limit=10)
    assert res.optimal and res.verified
    np.testing.assert_allclose(res.objective, 34.8246, atol=1e-4)  # the tester's case
    bad = _shared_out(scn, res.allocation)
    met = ao.evaluate(scn, bad, spec)
    assert not met.feasible and met.violations["shares"] > 1e-6
    assert met.objective < res.objective  # what it would have "beaten"
    assert met.violations == pytest.approx(ao.evaluate(scn, bad, OffloadingSpec()).violations)


def _kinds_specs() -> list[tuple[str, Any]]:
    out: dict[type, tuple[str, Any]] = {}
    for name, kind in sorted(case_kinds().items()):
        spec = kind.make_spec()
        out.setdefault(type(spec), (name, spec))
    return list(out.values())


SPEC_TYPES = _kinds_specs()  # imports every family once, at collection


def test_non_string_label_is_a_validation_error() -> None:
    specs = SPEC_TYPES
    assert len(specs) >= 20  # every family's spec types
    for field in ("problem", "variant"):
        for bad in (None, 3, b"offloading"):
            for name, spec in specs:
                with pytest.raises(ao.ValidationError, match=rf"^{field} \[-\] = .*str label"
                                   ) as err:
                    dataclasses.replace(spec, **{field: bad})
                assert err.value.field == field, name
            with pytest.raises(ao.ValidationError, match=field):
                _RelabelledSpec(**{field: bad})


def test_a_subclass_may_set_its_label_in_its_own_post_init() -> None:
    """The label check runs after the subclass's own ``__post_init__``: a label computed there
    (``field(init=False, default=None)``, filled from other fields) worked before the check
    was added and raised "must be a str label" with it (a reviewer's finding)."""
    from aigc_opt.errors import ValidationError

    @dataclasses.dataclass(frozen=True)
    class Capped(OffloadingSpec):
        cap: float = 2.0
        variant: str = dataclasses.field(init=False, default=None)  # type: ignore[assignment]

        def __post_init__(self) -> None:
            object.__setattr__(self, "variant", f"capped_{self.cap:g}")
            super().__post_init__()

    assert Capped().variant == "capped_2"

    @dataclasses.dataclass(frozen=True)
    class Unset(OffloadingSpec):
        variant: str = dataclasses.field(init=False, default=None)  # type: ignore[assignment]

        def __post_init__(self) -> None:
            super().__post_init__()

    with pytest.raises(ValidationError, match="variant"):
        Unset()
