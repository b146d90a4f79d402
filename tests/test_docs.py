"""Documentation and packaging: the mkdocs site builds strictly offline; one version source."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None
                    or importlib.util.find_spec("mkdocstrings") is None,
                    reason="mkdocs / mkdocstrings not installed (pip install 'aigc-opt[docs]')")
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f",
         str(ROOT / "docs" / "mkdocs.yml"), "--site-dir", str(site)],
        capture_output=True, text=True, timeout=300, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    api = (site / "api" / "results" / "index.html").read_text()
    assert "aigc_opt.results.load" in api and "ratio_summary" in api
    assert "offloading.assignment" in (site / "formulations" / "index.html").read_text()
    for page in ("score-a-policy", "size-a-deployment", "add-a-constraint"):
        assert (site / "tutorials" / page / "index.html").is_file()
    # the built site needs no network: no scripts or styles from a CDN
    assert "cdnjs" not in (site / "index.html").read_text()


def test_version_comes_from_pyproject_and_nothing_is_printed() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    proc = subprocess.run([sys.executable, "-c", "import aigc_opt; print(aigc_opt.__version__)"],
                          capture_output=True, text=True, timeout=120, check=True)
    assert proc.stdout == meta["version"] + "\n"


def test_packaging_metadata() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["license"] == "MIT" and meta["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert (ROOT / "aigc_opt" / "py.typed").is_file()
    assert "Typing :: Typed" in meta["classifiers"]
    assert any(d.startswith("pandas") for d in meta["dependencies"])
    extras = meta["optional-dependencies"]
    assert any(d.startswith("pyarrow") for d in extras["parquet"])
    for extra in ("docs", "dev"):
        assert any(d.startswith("mkdocstrings[python]") for d in extras[extra])
