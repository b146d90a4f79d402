"""Shared tolerances for the test-suite (named, as in cvxpy's StandardTestLPs)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: Relative tolerance on objectives between backends / evaluator and solver.
OBJ_RTOL = 1e-6
#: Relative MIP gap asked of solvers in agreement tests.
MIP_GAP = 1e-9


def pytest_xdist_auto_num_workers(config: Any) -> int:
    """``-n auto`` (pyproject's addopts): one worker per core this process may use, at most
    4 (a worker holds up to about 1 GB; ``PYTEST_XDIST_AUTO_NUM_WORKERS`` overrides)."""
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1))


def case_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
                source: str) -> Iterator[str]:
    """A fixture body: write the case module ``name`` (``source``) into ``tmp_path``, make it
    importable here and in child processes, yield its name; afterwards its case kinds leave
    the registry and the module leaves ``sys.modules`` (so the next test registers them
    again). Kinds left behind had made the quick suite's ``problem = "*"`` expand to
    ``fake.badinstance`` in a later test of the same worker."""
    from aigc_opt import cases

    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])]))
    monkeypatch.delitem(sys.modules, name, raising=False)
    yield name
    sys.modules.pop(name, None)
    for kind_name, kind in list(cases._CASES.items()):
        if getattr(kind.make_instance, "__module__", "") == name:
            del cases._CASES[kind_name]
