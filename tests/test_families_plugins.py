"""Third-party problem families found through entry points: one whose entry point is named
like a built-in family is loaded too (it was dropped silently), and one that fails to import
is a logged warning, not an ImportError from every ``get_case`` (an outside tester's
``offloading = tlplug.knap`` and ``broken = brokenplug``)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

from aigc_opt import cases, families
from aigc_opt.errors import UnknownNameError

PLUG = '''
from dataclasses import dataclass
import numpy as np
from aigc_opt.cases import CaseKind, register_case
from aigc_opt.problems.offloading import OffloadingSpec
from aigc_opt.scenario import Scenario

register_case(CaseKind(name="fe_dup.basic",
                       make_instance=lambda seed, n_users=4: Scenario.generate(n_users, 2, 2,
                                                                                seed=seed),
                       make_spec=lambda **p: OffloadingSpec(**p), default_methods=("highs",)))
'''


@pytest.fixture()
def plug_ins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Two plug-in entry points besides the built-in ones: ``offloading = fe_dup_plug`` (the
    name of a built-in family) and ``fe_broken = fe_broken_plug`` (raises ImportError)."""
    (tmp_path / "fe_dup_plug.py").write_text(PLUG)
    (tmp_path / "fe_broken_plug.py").write_text('raise ImportError("fe_broken_plug needs libfoo")')
    monkeypatch.syspath_prepend(str(tmp_path))
    group = families.GROUP
    extra = [metadata.EntryPoint("offloading", "fe_dup_plug", group),
             metadata.EntryPoint("fe_broken", "fe_broken_plug", group)]
    real = list(metadata.entry_points(group=group))

    def entry_points(*, group: str) -> list[metadata.EntryPoint]:
        return [*real, *extra] if group == families.GROUP else []

    families.load_families(strict=False)  # every built-in family is imported first
    monkeypatch.setattr(families.metadata, "entry_points", entry_points)
    monkeypatch.setattr(families, "_LOADED", dict(families._LOADED))
    monkeypatch.setattr(cases, "_CASES", dict(cases._CASES))
    yield
    for mod in ("fe_dup_plug", "fe_broken_plug"):
        sys.modules.pop(mod, None)


def test_a_plug_in_named_like_a_built_in_family_is_loaded_too(plug_ins: None) -> None:
    kinds = cases.case_kinds()
    assert "fe_dup.basic" in kinds and "offloading.assignment" in kinds
    kind = cases.get_case("fe_dup.basic")
    res = __import__("aigc_opt").solve(kind.instance(0), kind.spec(), "highs")
    assert res.verified


def test_a_broken_plug_in_leaves_the_built_in_problems_reachable(
        plug_ins: None, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="aigc_opt.families"):
        kind = cases.get_case("offloading.assignment")
        again = cases.get_case("offloading.assignment")  # every call, not only the first
    assert kind is again
    warned = [r.getMessage() for r in caplog.records if "fe_broken_plug" in r.getMessage()]
    assert len(warned) == 1, caplog.text  # once, naming the entry point and its module
    assert "'fe_broken' = 'fe_broken_plug'" in warned[0] and "needs libfoo" in warned[0]
    res = __import__("aigc_opt").solve(kind.instance(0, n_users=4), kind.spec(), "highs")
    assert res.verified


def test_asking_for_the_broken_plug_ins_problem_names_its_failure(plug_ins: None) -> None:
    with pytest.raises(UnknownNameError) as info:
        cases.get_case("fe_broken.knap")
    msg = str(info.value)
    assert "problem family fe_broken_plug failed to import: ImportError: fe_broken_plug " \
           "needs libfoo" in msg
    assert families.load_families(strict=False) == {
        "fe_broken_plug": "ImportError: fe_broken_plug needs libfoo"}
