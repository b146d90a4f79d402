"""The command line on a plug-in case kind whose instance generator has a bug: an internal
error of that generator (exit 1), not "Invalid value for --size" when no --size was given
(exit 2), and ``list`` says the generator failed instead of "needs parameters"."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt import cases
from aigc_opt.cases import CaseKind, register_case
from aigc_opt.cli import EXIT_INTERNAL, EXIT_USAGE, main
from aigc_opt.errors import ValidationError
from aigc_opt.metrics import Metrics, register_evaluator
from aigc_opt.result import Result, SolveStats, Termination
from aigc_opt.validate import check_int


@dataclass(frozen=True)
class BoomInstance:
    values: np.ndarray


@dataclass(frozen=True)
class BoomAlloc:
    pick: np.ndarray


@dataclass(frozen=True)
class BoomSpec(ao.ProblemSpec):
    problem: str = "fe_boom"
    variant: str = "toy"


def _pick_first(inst: BoomInstance, spec: Any, options: Any) -> Result:
    v = float(inst.values[0])
    return Result(Termination.OPTIMAL, True, objective=v, bound=v, gap=0.0,
                  allocation=BoomAlloc(np.array([0])), stats=SolveStats("first"))


register_evaluator(BoomAlloc, lambda inst, alloc, objective=None: Metrics(
    "fe_boom", float(inst.values[alloc.pick].sum()), per_item={}, totals={}))
ao.register_algorithm(BoomSpec, "first", _pick_first)


def _boom(seed: int, n: int = 3) -> BoomInstance:
    check_int("n", n, "-", 1, 10)  # a refusal of the user's size: bad input
    if n == 3:
        raise RuntimeError("generator\nexploded")  # a bug on its defaults
    return BoomInstance(np.arange(1.0, n + 1))


@pytest.fixture()
def boom_kind() -> Iterator[CaseKind]:
    kind = CaseKind("fe_boom.toy", _boom, lambda **p: BoomSpec(**p), default_methods=("first",))
    register_case(kind)
    yield kind
    cases._CASES.pop(kind.name, None)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("command", ["instance", "solve"])
def test_a_generator_bug_is_an_internal_error_naming_the_kind(
        command: str, boom_kind: CaseKind, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    argv = ([command, "--problem", boom_kind.name] +
            (["--out", tmp_path / "i.json"] if command == "instance" else []))
    code, out, err = run(argv, capsys)
    assert code == EXIT_INTERNAL, (out, err)
    assert "problem fe_boom.toy: its instance generator failed: RuntimeError: generator " \
           "exploded" in err
    assert "--size" not in err and "Traceback" not in err and err.count("\n") == 1


def test_a_refused_size_stays_a_size_error(boom_kind: CaseKind, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["instance", "--problem", boom_kind.name, "--size", "n=11",
                          "--out", tmp_path / "i.json"], capsys)
    assert code == EXIT_USAGE and "--size" in err and "n [-] = 11" in err, err
    code, out, err = run(["solve", "--problem", boom_kind.name, "--size", "n=4",
                          "--method", "first"], capsys)
    assert code == 0, err  # good sizes pass the buggy defaults by; the referee verified it
    assert "optimal" in out
    res = ao.run_method(boom_kind.instance(0, n=4), BoomSpec(), "first")
    assert res.verified and res.objective == 1.0
    with pytest.raises(ValidationError):
        boom_kind.instance(0, n=11)


def test_list_says_the_generator_failed(boom_kind: CaseKind,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["list"], capsys)
    assert code == 0, err
    line = next(ln for ln in out.splitlines() if ln.startswith("fe_boom.toy"))
    assert "(instance generator failed: RuntimeError: generator exploded)" in line, line
    assert "needs parameters" not in line


@dataclass(frozen=True)
class WrongBuildSpec(ao.ProblemSpec):
    problem: str = "fe_wrong"
    variant: str = "toy"


ao.register_builder(WrongBuildSpec, lambda inst, spec: {"c": [1.0]},
                    lambda inst, spec, prog, values: None)


def test_solve_with_a_builder_bug_is_an_internal_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A plug-in builder returning a dict: `solve` said 'the instance does not fit problem'
    (exit 2, bad input); it is the plug-in's bug, exit 1, naming the builder."""
    kind = CaseKind("fe_wrong.toy", lambda seed, n=3: BoomInstance(np.arange(1.0, n + 1)),
                    lambda **p: WrongBuildSpec(**p), default_methods=("highs",))
    register_case(kind)
    try:
        code, out, err = run(["solve", "--problem", "fe_wrong.toy"], capsys)
    finally:
        cases._CASES.pop(kind.name, None)
    assert code == EXIT_INTERNAL, (code, out, err)
    assert "builder registered for WrongBuildSpec" in err and "does not fit" not in err
