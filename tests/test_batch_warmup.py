"""Case kinds' warm-ups run in each pool worker before its first timed case.

A numba compile inside the first timed ``allocation.power`` case (25 s wall on a loaded machine,
fresh install) made quick-suite cases time out. The fake kind here simulates it: its method
"compiles" for 4 s on its first call in a process unless the kind's ``warm_up`` ran; the
case's wall timeout is 2 s.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from aigc_opt import executors, export
from aigc_opt.batch import run_suite

from conftest import case_module

WARM_MODULE = '''
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from aigc_opt.cases import CaseKind, register_case
from aigc_opt.metrics import Metrics, register_evaluator
from aigc_opt.result import Result, SolveStats, Termination
from aigc_opt.solve import register_algorithm
from aigc_opt.spec import ProblemSpec

COMPILED = []


@dataclass(frozen=True)
class WarmInstance:
    values: np.ndarray


@dataclass(frozen=True)
class WarmAlloc:
    pick: np.ndarray


@dataclass(frozen=True)
class WarmSpec(ProblemSpec):
    problem: str = "warm"
    variant: str = "toy"


def compile_once():
    if not COMPILED:
        time.sleep(4.0)  # a JIT compile, once per process
        COMPILED.append(True)


def jitted(inst, spec, options):
    compile_once()
    i = int(np.argmin(inst.values))
    return Result(Termination.OPTIMAL, True, objective=float(inst.values[i]),
                  bound=float(inst.values[i]), gap=0.0, allocation=WarmAlloc(np.array([i])),
                  stats=SolveStats("jitted"))


def broken_warm_up():
    raise RuntimeError("no compiler here")


def evaluate_warm(inst, alloc, objective=None):
    return Metrics("warm", float(inst.values[alloc.pick].sum()),
                   per_item={"value": inst.values}, totals={})


register_evaluator(WarmAlloc, evaluate_warm)
register_algorithm(WarmSpec, "jitted", jitted)
make = lambda seed, n=4: WarmInstance(np.random.default_rng(seed).uniform(1.0, 2.0, n))
register_case(CaseKind("warm.toy", make, lambda **p: WarmSpec(**p), default_methods=("jitted",),
                       reference="jitted", warm_up=compile_once))
register_case(CaseKind("warm.broken", make, lambda **p: WarmSpec(**p),
                       default_methods=("jitted",), reference="jitted",
                       warm_up=broken_warm_up))
'''


@pytest.fixture()
def warm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    yield from case_module(tmp_path, monkeypatch, "warmcases", WARM_MODULE)


def test_pool_workers_warm_up_before_the_first_timed_case(tmp_path: Path, warm: str) -> None:
    suite = tmp_path / "w.toml"
    suite.write_text(f'[suite]\nimports = ["{warm}"]\ntime_limit = 1\ntimeout = 2\n'
                     '[[cases]]\nproblem = "warm.toy"\nseeds = [0, 1]\n')
    out = tmp_path / "w.csv"
    run_suite(suite, out, workers=1, progress=False)
    rows = export.read_rows(out)
    assert [r["status"] for r in rows] == ["ok", "ok"], [r.get("error") for r in rows]
    assert all(r["verified"] in (True, "true", "True") for r in rows)


def test_a_failing_warm_up_is_logged_and_the_cases_still_run(
        tmp_path: Path, warm: str, caplog: pytest.LogCaptureFixture) -> None:
    import importlib

    importlib.import_module(warm)
    with caplog.at_level(logging.WARNING, logger="aigc_opt.executors"):
        executors.warm_kinds(["warm.broken", "warm.broken"])
    assert [r.message for r in caplog.records].count(
        "warm-up of warm.broken failed (RuntimeError: no compiler here)") == 1
    suite = tmp_path / "b.toml"
    suite.write_text(f'[suite]\nimports = ["{warm}"]\ntime_limit = 5\ntimeout = 20\n'
                     '[[cases]]\nproblem = "warm.broken"\nseeds = [0]\n')
    out = tmp_path / "b.csv"
    run_suite(suite, out, workers=1, progress=False)
    assert [r["status"] for r in export.read_rows(out)] == ["ok"]
