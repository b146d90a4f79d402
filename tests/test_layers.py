"""The architecture as a checked rule: import-linter contracts, one package per family.

``problems/``, ``solvers/`` and ``benchmarks/`` are installed as ``aigc_opt.problems`` /
``aigc_opt.solvers`` / ``aigc_opt.benchmarks`` (``package-dir`` in pyproject.toml). The source
tree also carries the installed layout as symbolic links (``aigc_opt/problems -> ../problems``
and so on), so that tools which walk the ``aigc_opt`` directory -- ``lint-imports`` and
``mypy aigc_opt`` run from the repository root -- see the package exactly as installed. These
tests run both from the root, as a developer would.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 650
MAPPED = ("problems", "solvers", "benchmarks")


def test_source_tree_carries_the_installed_layout() -> None:
    for sub in MAPPED:
        link = ROOT / "aigc_opt" / sub
        assert link.is_symlink(), f"aigc_opt/{sub} must be a link to ../{sub}"
        assert link.resolve() == (ROOT / sub).resolve(), f"aigc_opt/{sub} -> {link.resolve()}"


def test_import_contracts_hold() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which(
        "lint-imports")
    if exe is None:
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([exe, "--no-cache"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    tail = out.stdout.split("Contracts:")[-1]
    assert "kept" in tail and "broken" not in tail.replace("0 broken", ""), out.stdout[-2000:]
    assert "Analyzed" in out.stdout and "problems" not in out.stderr, out.stdout[-2000:]


def test_one_package_per_family() -> None:
    entries = sorted(p.name for p in (ROOT / "problems").iterdir() if p.name != "__pycache__")
    loose = [e for e in entries if e != "__init__.py" and not (ROOT / "problems" / e).is_dir()]
    assert not loose, f"problems/ must hold only family packages, found modules {loose}"
    for fam in entries:
        if fam != "__init__.py":
            assert (ROOT / "problems" / fam / "__init__.py").exists(), fam


def test_every_family_has_a_referee_that_imports_no_method() -> None:
    for fam in sorted(p for p in (ROOT / "problems").iterdir() if p.is_dir()):
        if fam.name == "__pycache__" or len(list(fam.glob("*.py"))) <= 1:
            continue  # a family still being written has only its __init__
        ev = fam / "evaluate.py"
        assert ev.exists(), f"family {fam.name} has no evaluate.py"
        tree = ast.parse(ev.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 1:
                assert node.module.startswith("data") or node.module.startswith("model"), (
                    f"{ev}: the referee imports .{node.module}")


def test_modules_are_readable_in_one_sitting() -> None:
    too_long = []
    for folder in ("aigc_opt", "problems", "solvers", "benchmarks"):
        for f in (ROOT / folder).rglob("*.py"):
            n = sum(1 for _ in f.open())
            if n > MAX_LINES:
                too_long.append(f"{f.relative_to(ROOT)}: {n} lines")
    assert not too_long, too_long


@pytest.mark.slow
def test_mypy_is_clean_on_the_installed_layout() -> None:
    """``mypy aigc_opt`` from the root: through the links it checks the package as installed
    (problems/ inside aigc_opt/), where family imports resolve."""
    exe = shutil.which("mypy", path=str(Path(sys.executable).parent)) or shutil.which("mypy")
    if exe is None:
        pytest.skip("mypy is not installed (pip install -e '.[dev]')")
    out = subprocess.run([exe, "aigc_opt"], cwd=ROOT, capture_output=True, text=True,
                         timeout=1200)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]


def test_python_dash_m_runs_the_cli_and_the_gym_extra_is_named() -> None:
    """``python -m aigc_opt`` is the ``aigc-opt`` command (it had no ``__main__``); without
    Gymnasium an environment module names the extra to install (it failed with a bare
    ``No module named 'gymnasium'``), while ``aigc_opt.gym.datasets`` still imports."""
    out = subprocess.run([sys.executable, "-m", "aigc_opt", "--version"], capture_output=True,
                         text=True, timeout=120, cwd=ROOT.parent)
    assert out.returncode == 0 and out.stdout.startswith("aigc-opt "), out
    envs = sorted(p.stem for p in (ROOT / "aigc_opt" / "gym").glob("*.py")
                  if not p.stem.startswith("_") and p.stem != "datasets")
    assert "wpmec_vector" in envs and "wpmec" in envs, envs
    code = ("import sys; sys.modules['gymnasium'] = None\n"
            f"for m in {envs!r}:\n"
            "    try:\n        __import__('aigc_opt.gym.' + m)\n"
            "    except ModuleNotFoundError as e:\n        print(m, e.name, '|', e)\n"
            "import aigc_opt.gym.datasets\nprint('datasets ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    named = [ln for ln in out.stdout.splitlines()
             if "gymnasium | " in ln and "pip install 'aigc-opt[gym]'" in ln]
    assert len(named) == len(envs), (envs, out)  # wpmec_vector's error named no extra
    assert "datasets ok" in out.stdout


def test_the_wheel_ships_the_suite_format_notes() -> None:
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "README.md" in data["package-data"]["aigc_opt.benchmarks.suites"]
    assert (ROOT / "benchmarks" / "suites" / "README.md").is_file()
