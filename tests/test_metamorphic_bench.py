"""The metamorphic bench: its real relations agree, and a wrong expectation is caught.

Small on purpose (two fast families, one seed): the full run is the benchmark's command line.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from aigc_opt.benchmarks import metamorphic_bench as mb
from aigc_opt.benchmarks.metamorphic_transforms import (
    PERMUTATIONS,
    Relation,
    Transformed,
    relations,
    unit_groups,
)
from aigc_opt.errors import ValidationError

FAST = ("wpmec.binary", "allocation.bandwidth_compute")


@pytest.mark.parametrize("family", FAST)
def test_real_relations_agree(family: str) -> None:
    """Permutation, a unit change (compute or none) and weight scaling: no discrepancy."""
    rows = mb.run_family(family, [0], wanted=["permutation", "unit:compute", "unit:weight"],
                         cs=(1e-3, 7.3), time_limit=10.0)
    names = {r.relation for r in rows}
    assert "permutation" in names and "unit:weight" in names
    assert rows and all(r.status in ("agree", "changed") for r in rows), mb.discrepancies(rows)
    weight = [r for r in rows if r.relation == "unit:weight"]
    assert {r.factor for r in weight} == {1e-3, 7.3}  # the objective's unit scales it


def _wrong_weight(inst: Any, spec: Any) -> Transformed:
    """Weights x 3 but claiming the optimum doubles: must be reported."""
    inst2, spec2, factor = unit_groups("wpmec.binary")["weight"](inst, spec, 3.0)
    assert factor == 3.0
    return inst2, spec2, 2.0


def test_wrong_factor_is_a_discrepancy() -> None:
    rows = mb.run_family("wpmec.binary", [0], wanted=[],
                         extra=[Relation("unit:weight_wrong", _wrong_weight, c=3.0)])
    assert rows and all(r.status == "differ" for r in rows)
    assert any("optimum_changed" in i for r in rows for i in r.issues)
    assert len(mb.discrepancies(rows)) == len(rows)
    table = mb.summarize(rows)
    assert table == [{"relation": "unit:weight_wrong", "family": "wpmec.binary", "seeds": 1,
                      "comparisons": len(rows), "agree": 0, "changed": 0, "differ": len(rows),
                      "refused": 0, "errors": 0}]


def test_main_exit_status(monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    """0 and a table when the relations hold; 1 and the list when one does not."""
    argv = ["--family", "wpmec.binary", "--seeds", "1", "--relation", "permutation"]
    assert mb.main(argv) == 0
    out = capsys.readouterr().out
    assert "permutation" in out and "discrepancies: 0" in out
    monkeypatch.setattr(mb, "relations", lambda family, seed, cs: [
        Relation("unit:weight_wrong", _wrong_weight, c=3.0)])
    assert mb.main(["--family", "wpmec.binary", "--seeds", "1"]) == 1
    out = capsys.readouterr().out
    assert "unit:weight_wrong" in out and "- wpmec.binary seed=0 unit:weight_wrong" in out


def _refuse(inst: Any, spec: Any) -> Transformed:
    raise ValidationError("user_kappa", "J/FLOP", 1e-9, "above its ceiling")


def _crash(inst: Any, spec: Any) -> Transformed:
    raise RuntimeError("boom")


def test_refusal_counts_but_other_exceptions_fail() -> None:
    rows = mb.run_family("wpmec.binary", [0], wanted=[],
                         extra=[Relation("refusing", _refuse), Relation("crashing", _crash)])
    status = {r.relation: r.status for r in rows}
    assert status == {"refusing": "refused", "crashing": "error"}
    assert mb.discrepancies(rows) == [
        "wpmec.binary seed=0 crashing *: error: transform raised RuntimeError: boom"]


def test_compare_tolerance_and_termination_change() -> None:
    """The agreement rule: within the gap + 1e-6, else differ; a termination change alone
    is ``changed``."""
    from aigc_opt.result import Result, Termination

    def res(obj: float, term: Termination = Termination.OPTIMAL, gap: float = 0.0) -> Any:
        return mb.Outcome("result", Result(term, True, objective=obj, bound=obj, gap=gap,
                                           verified=True))

    assert mb.within(1.0, 1.0 + 5e-7, 0.0) and not mb.within(1.0, 1.0 + 5e-6, 0.0)
    same = mb.compare({"m": res(2.0)}, {"m": res(4.0 + 1e-7)}, 2.0, "min", frozenset())
    assert same["m"][0] == "agree"
    off = mb.compare({"m": res(2.0)}, {"m": res(4.1)}, 2.0, "min", frozenset())
    assert off["m"][0] == "differ"
    weak = mb.compare({"m": res(2.0)}, {"m": res(2.0, Termination.FEASIBLE, 0.01)}, 1.0,
                      "min", frozenset())
    assert weak["m"] == ("changed", [])
    assert math.isnan(mb._summary(mb.Outcome("refused", message="x")).get("objective", math.nan))


def test_every_permuted_family_has_a_permutation_relation() -> None:
    for family in PERMUTATIONS:
        assert relations(family, 0, (7.3,))[1].name == "permutation"
