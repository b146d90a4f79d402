"""Documentation and packaging: the mkdocs site builds strictly offline; one version source."""

from __future__ import annotations

import importlib.util
import re
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


def _code_blocks(page: str) -> dict[str, str]:
    """The first fenced block of each language of a tutorial page."""
    text = (ROOT / "docs" / "pages" / "tutorials" / page).read_text()
    out: dict[str, str] = {}
    for lang, body in re.findall(r"```(\w+)\n(.*?)```", text, re.S):
        out.setdefault(lang, body)
    return out


def test_size_a_deployment_sweeps_fixed_capacity_servers() -> None:
    """The tutorial's suite passes ``load = "none"`` to the offloading case: servers keep the
    profile's fixed capacity, so adding servers adds capacity (load-aware generation would
    size each server to its demand and make every server count look sufficient)."""
    from aigc_opt.cases import get_case
    from aigc_opt.suites import parse_suite

    suite = parse_suite(_code_blocks("size-a-deployment.md")["toml"], source="tutorial")
    cases = suite.cases()
    assert cases and all(c.sizes["load"] == "none" for c in cases)
    kind = get_case("offloading.assignment")
    fixed = kind.make_instance(0, **{**cases[0].sizes, "n_users": 160, "n_servers": 2})
    assert (fixed.server_subchannels == 20).all() and (fixed.server_gpu_slots == 4).all()
    aware = kind.make_instance(0, n_users=160, n_servers=2)
    assert (aware.server_subchannels > 20).all()


def test_size_a_deployment_code_runs_and_says_when_no_count_suffices(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The tutorial's commands on a smaller grid (one seed; 160 users on 2-3 servers cannot be
    served): its Python block prints the smallest count per N, or says that none sufficed."""
    from aigc_opt.batch import run_suite
    from aigc_opt.suites import parse_suite

    blocks = _code_blocks("size-a-deployment.md")
    assert "aigc-opt bench sizing.toml --out sizing.csv" in blocks["bash"]
    toml = re.sub(r"n_users = \[[^\]]*\], n_servers = \[[^\]]*\]",
                  "n_users = [20, 160], n_servers = [2, 3]", blocks["toml"])
    toml = re.sub(r"seeds = \[[^\]]*\]", "seeds = [0]", toml)
    toml = toml.replace('methods = ["highs", "greedy_latency"]', 'methods = ["highs"]')
    assert toml.count("[20, 160]") == 1 and "seeds = [0]" in toml
    monkeypatch.chdir(tmp_path)
    run_suite(parse_suite(toml, source="sizing.toml"), "sizing.csv", workers=1, progress=False)
    exec(compile(blocks["python"], "size-a-deployment.py", "exec"), {})
    out = capsys.readouterr().out
    assert "N = 20: 2 servers" in out
    assert "N = 160: no server count in [2, 3] serves every seed" in out


def test_errors_page_lists_every_physical_bound_and_the_solve_option_ranges() -> None:
    """docs/pages/errors.md: one row per :data:`aigc_opt.schema.BOUNDS` entry with its value
    and reason, and the ``mip_gap`` range that :class:`SolveOptions` enforces."""
    import aigc_opt as ao
    from aigc_opt.schema import BOUNDS

    page = (ROOT / "docs" / "pages" / "errors.md").read_text(encoding="utf-8")
    for key, (value, why) in BOUNDS.items():
        assert f"| {key} | {value:g} | {why} |" in page, key
    hi = float(re.search(r"`mip_gap` in \[0, ([0-9.e+]+)\]", page).group(1))  # type: ignore[union-attr]
    ao.SolveOptions(mip_gap=hi)
    with pytest.raises(ao.ValidationError, match="mip_gap"):
        ao.SolveOptions(mip_gap=hi * 1.5)


def test_results_page_names_every_unit_the_results_module_gives() -> None:
    from aigc_opt.results import _SUFFIX_UNITS, COLUMN_UNITS

    page = (ROOT / "docs" / "pages" / "results.md").read_text(encoding="utf-8")
    for unit in {*COLUMN_UNITS.values(), *(u for _, u in _SUFFIX_UNITS), "count"} - {""}:
        assert f"`{unit}`" in page, unit
