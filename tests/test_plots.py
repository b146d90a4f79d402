"""Figures: axes, labels with units, legends and artists; the report page and the CLI."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import same_color

from aigc_opt import export, plots, results
from aigc_opt.cli import main

UNIT = re.compile(r"\[[^\]]+\]")


def _row(problem: str, method: str, n: int, seed: int, obj: float, **kw: Any) -> dict:
    row = {"suite": "s", "problem": problem, "variant": "default", "params": "{}",
           "sizes": f"n_servers={kw.pop('servers', 2)},n_users={n}", "size": float(n),
           "seed": seed, "method": method, "reference": "exact", "status": "ok",
           "termination": "optimal" if method == "exact" else "feasible",
           "has_solution": True, "feasible": True, "verified": True, "objective": obj,
           "solve_seconds": 1e-4 * n**2 if method == "exact" else 1e-5 * n,
           "latency_mean_s": obj / 10, "energy_total_j": 2 * obj, "quality_mean": 0.8}
    row.update(kw)
    return row


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for n, seed, servers in product([10, 20, 40], range(6), [2, 4]):
        opt = n * (1 + 0.1 * rng.random())
        rows.append(_row("toy.min", "exact", n, seed, opt, servers=servers))
        rows.append(_row("toy.min", "greedy", n, seed, opt * 1.1, servers=servers))
        rows.append(_row("toy.min", "few", n, seed, opt * 1.2, servers=servers)
                    if seed < 2 else _row("toy.min", "few", n, seed, math_nan(),
                                          status="error", has_solution=False))
        rows.append(_row("toy.min", "bad", n, seed, opt * 0.9, servers=servers,
                         feasible=False, termination="infeasible", has_solution=False))
    for seed in range(3):
        rows.append(_row("toy.max", "exact", 10, seed, 5.0, sense="max"))
        rows.append(_row("toy.max", "heur", 10, seed, 4.0, sense="max"))
    for method, per_slot in [("lru", [3.0, 2.0, 2.0]), ("exact", [1.0, 1.0, 1.0])]:
        rows.append(_row("caching.toy", method, 5, 0, sum(per_slot),
                         series=json.dumps({"cost_per_slot": per_slot})))
    for i, r in enumerate(rows):
        r["key"] = f"k{i}"
    return rows


@pytest.fixture(scope="module")
def frame(rows: list[dict]) -> pd.DataFrame:
    return results.load(rows, mask_unusable=False, registry=False)


def math_nan() -> float:
    return float("nan")


def _legend_texts(fig: Any) -> list[str]:
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    assert legends, "figure has no legend"
    return [t.get_text() for lg in legends for t in lg.get_texts()]


def _check_labels(fig: Any) -> None:
    for ax in fig.axes:
        if ax.get_label() == "<colorbar>":
            continue
        assert UNIT.search(ax.get_xlabel()), ax.get_xlabel()
        assert UNIT.search(ax.get_ylabel()), ax.get_ylabel()


def test_ratio_figure_boxes_points_and_infeasible_marks(frame: pd.DataFrame,
                                                        tmp_path: Path) -> None:
    fig = plots.figure_ratio(frame, "toy.min")
    _check_labels(fig)
    ax = fig.axes[0]
    assert "lower is better" in ax.get_ylabel() and "lower is better" in ax.get_title()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["bad", "few", "greedy"]
    # greedy (36 usable samples) and few (12) get a box, bad (none usable) only crosses
    boxes = [p for p in ax.patches if type(p).__name__ == "PathPatch"]
    assert len(boxes) == 2
    # runs that are not usable are counted, one cross per method in a band above the data,
    # never placed at a ratio (bad's infeasible objective is 0.9 x the optimum: not drawn)
    assert sorted(t.get_text() for t in ax.texts) == ["24 not usable", "36 not usable"]
    texts = _legend_texts(fig)
    assert "infeasible, unverified or failed run" in texts and any("reference" in t for t in texts)
    red = [c for c in ax.collections if len(c.get_facecolor())
           and same_color(c.get_facecolor()[0], "C3")]
    crosses = np.vstack([c.get_offsets() for c in red])
    assert len(crosses) == 2 and (crosses[:, 1] > 1.2).all()  # bad and few, in the band
    assert not any(np.isclose(c.get_offsets()[:, 1], 0.9).any() for c in ax.collections)
    fig_max = plots.figure_ratio(frame, "toy.max")
    assert "higher is better" in fig_max.axes[0].get_ylabel()
    assert not fig_max.axes[0].patches  # 3 samples < 5: points, no box, no failure band
    pts = [c for c in fig_max.axes[0].collections if c.get_label() == "feasible, verified run"]
    np.testing.assert_allclose(pts[0].get_offsets()[:, 1], 0.8)
    fig.savefig(tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 5000


def test_ratio_figure_of_negative_objectives_shows_the_regret(rows: list[dict]) -> None:
    """Negative objectives (migration's rewards) have no ratio to the reference; the figure
    draws the regret (> 0 worse) instead of an empty axis."""
    neg = [{**r, "objective": -abs(float(r["objective"])) - 1.0} for r in rows
           if r["problem"] == "toy.min"]
    f = results.load(neg, mask_unusable=False, registry=False)
    fig = plots.figure_ratio(f, "toy.min")
    ax = fig.axes[0]
    assert "regret" in ax.get_ylabel() and "regret" in ax.get_title()
    pts = [c for c in ax.collections if c.get_label() == "feasible, verified run"]
    assert pts and len(pts[0].get_offsets()) > 0


def test_metrics_vs_size_has_bands_units_and_split(frame: pd.DataFrame) -> None:
    fig = plots.figure_metrics_vs_size(frame, "toy.min")
    _check_labels(fig)
    ylabels = [ax.get_ylabel() for ax in fig.axes]
    assert ylabels == ["latency_mean_s [s]", "energy_total_j [J]", "quality_mean [-]",
                       "objective [problem unit]"]
    assert all(ax.get_xlabel() == "n_users [count]" for ax in fig.axes)
    texts = _legend_texts(fig)
    # one line per (method, other size parameter); the infeasible method is not drawn
    assert "greedy (n_servers=2)" in texts and "exact (n_servers=4)" in texts
    assert not any(t.startswith("bad") for t in texts)
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 6 and len(ax.collections) == 6  # lines and CI bands
    assert plots.figure_metrics_vs_size(frame, "toy.max") is None  # one size only


def test_solve_time_log_log_with_exponent(frame: pd.DataFrame) -> None:
    fig = plots.figure_solve_time(frame, "toy.min")
    _check_labels(fig)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_ylabel() == "solve time [s]"
    texts = _legend_texts(fig)
    assert "exact (n_servers=2): t ~ n^2.00" in texts
    assert "greedy (n_servers=4): t ~ n^1.00" in texts
    assert len(texts) == 6
    over = plots.figure_solve_time_overview(frame)
    _check_labels(over)
    assert over.axes[0].get_xscale() == "log"


@pytest.mark.parametrize("bad", [float("inf"), 1e308, -1.0, 0.0])
def test_solve_time_figures_skip_times_a_log_axis_cannot_show(rows: list[dict],
                                                               bad: float) -> None:
    """A tidy frame may hold these solve times (results.load refuses a negative one, but a
    frame can be edited); the log-axis figures had raised matplotlib's ValueError (inf) or
    OverflowError (1e308) when every time was one of them."""
    df = results.load(rows, mask_unusable=False, registry=False)
    df["solve_seconds"] = bad
    assert plots.figure_solve_time(df, "toy.min") is None
    assert plots.figure_solve_time_overview(df) is None
    mixed = results.load(rows, mask_unusable=False, registry=False)
    mixed.loc[mixed["method"] == "greedy", "solve_seconds"] = bad
    texts = _legend_texts(plots.figure_solve_time(mixed, "toy.min"))
    assert not any(t.startswith("greedy") for t in texts) and len(texts) == 4


def test_series_and_pareto_figures(frame: pd.DataFrame, tmp_path: Path) -> None:
    fig = plots.figure_series(frame, "caching.toy")
    _check_labels(fig)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "cumulative cost_per_slot [cost unit]"
    lines = {ln.get_label(): ln.get_ydata() for ln in ax.get_lines()}
    np.testing.assert_allclose(lines["lru (n=1)"], [3, 5, 7])
    assert set(_legend_texts(fig)) == {"lru (n=1)", "exact (n=1)"}
    sweep = tmp_path / "sweep.csv"
    sweep.write_text("weight_latency,weight_energy,latency,energy,quality,solve_seconds\n"
                     "0.1,0.9,1,5,0.5,0.1\n0.5,0.5,2,3,0.6,0.1\n0.9,0.1,4,1,0.7,0.1\n"
                     "0.3,0.3,5,6,0.8,0.1\n")
    out = plots.plot_pareto_csv(sweep, tmp_path)
    assert [p.name for p in out] == ["pareto_sweep.png"] and out[0].stat().st_size > 5000
    with pytest.raises(KeyError, match="nope"):
        plots.plot_pareto_csv(sweep, tmp_path, x="nope", y="energy")
    # file names keep letters of any script: 'sweep ü' and 'sweep é' were both 'pareto_sweep_'
    for stem in ("sweep ü", "sweep é", "sweep ñ"):
        other = tmp_path / f"{stem}.csv"
        other.write_bytes(sweep.read_bytes())
        (got,) = plots.plot_pareto_csv(other, tmp_path)
        assert got.name == f"pareto_{stem.replace(' ', '_')}.png" and got.exists()


def test_pareto_defaults_are_objectives_not_weights(tmp_path: Path, monkeypatch: Any) -> None:
    seen: dict[str, Any] = {}
    real = plots._pareto_axes

    def spy(ax: Any, x: np.ndarray, y: np.ndarray, labels: Any, *a: Any, **kw: Any) -> None:
        real(ax, x, y, labels, *a, **kw)
        seen.update(ax=ax, x=x, y=y)

    monkeypatch.setattr(plots, "_pareto_axes", spy)
    sweep = tmp_path / "s.csv"
    sweep.write_text("weight_latency,weight_energy,latency,energy,quality\n"
                     "0.1,0.9,1,5,0.5\n0.5,0.5,2,3,0.6\n0.9,0.1,,,\n")
    plots.plot_pareto_csv(sweep, tmp_path)
    ax = seen["ax"]
    assert ax.get_xlabel() == "latency [s]" and ax.get_ylabel() == "energy [J]"
    np.testing.assert_allclose(seen["x"], [1, 2])  # the row without a solution is left out
    assert ax.figure.axes[-1].get_label() == "<colorbar>"  # quality colours the points
    # quality is an objective too: the front is over all three, drawn as a 2-D view
    assert "Pareto front over 3 objectives (latency, energy, quality)" in _legend_texts(ax.figure)
    assert "2-D view of a 3-objective front" in ax.get_title()


def _front_points(ax: Any) -> np.ndarray:
    line = next(ln for ln in ax.get_lines() if ln.get_label().startswith("Pareto front"))
    return np.column_stack([line.get_xdata(), line.get_ydata()])


def drawn_pareto_axes(csv: Path, out: Path, monkeypatch: Any) -> Any:
    """The axes on which :func:`plots.plot_pareto_csv` draws the front of ``csv``."""
    seen: dict[str, Any] = {}
    real = plots._pareto_axes

    def spy(ax: Any, *a: Any, **kw: Any) -> None:
        real(ax, *a, **kw)
        seen["ax"] = ax

    monkeypatch.setattr(plots, "_pareto_axes", spy)
    plots.plot_pareto_csv(csv, out)
    return seen["ax"]


def test_pareto_csv_draws_its_own_front_status(tmp_path: Path, monkeypatch: Any) -> None:
    """A ParetoFront CSV: the points marked front (over 3 objectives) are the drawn front, not
    the 2-D latency-energy minimum, and its metrics are labelled as the weighted sums they
    are."""
    sweep = tmp_path / "w.csv"
    # rows 1-3 trade latency and energy for quality: on the 3-objective front although the
    # (latency, energy) projection is dominated by row 0; row 4 duplicates row 0, row 5 has
    # no solution
    sweep.write_text("sweep,index,weight_latency,latency,energy,quality,front_status\n"
                     "w,0,1,10,70,0.7,front\nw,1,1,20,900,9,front\nw,2,1,30,1500,12,front\n"
                     "w,3,1,40,2000,13.3,front\nw,4,1,10,70,0.7,duplicate\n"
                     "w,5,1,,,,no_solution\nw,6,1,25,1600,8,dominated\n")
    ax = drawn_pareto_axes(sweep, tmp_path, monkeypatch)
    np.testing.assert_allclose(_front_points(ax), [[10, 70], [20, 900], [30, 1500], [40, 2000]])
    assert plots.pareto_mask(np.array([10, 20, 30, 40, 10, 25.0]),
                             np.array([70, 900, 1500, 2000, 70, 1600.0])).sum() == 1
    assert ax.get_xlabel() == "weighted total latency [s]"
    assert ax.get_ylabel() == "weighted total energy [J]"
    assert ax.figure.axes[-1].get_ylabel().startswith("weighted total quality [-]")
    legend = _legend_texts(ax.figure)
    assert any(t.startswith("Pareto front over 3 objectives (latency, energy, quality)")
               and "front_status" in t for t in legend), legend
    title = ax.get_title()
    assert "6 points, 4 on the front" in title and "2-D view of a 3-objective front" in title
    assert "sums over requests" in title


def test_nondominated_matches_brute_force() -> None:
    rng = np.random.default_rng(1)
    for _ in range(40):
        v = rng.integers(0, 4, (15, 3)).astype(float)
        keep = plots.nondominated(v)
        for i in range(len(v)):
            dominated = any((v[j] <= v[i]).all() and (v[j] < v[i]).any() for j in range(len(v)))
            if dominated:
                assert not keep[i]
        nd = {tuple(r) for i, r in enumerate(v)
              if not any((v[j] <= r).all() and (v[j] < r).any() for j in range(len(v)))}
        assert sorted(tuple(r) for r in v[keep]) == sorted(nd)  # each once


def test_plot_results_writes_every_kind(frame: pd.DataFrame, tmp_path: Path) -> None:
    written = plots.plot_results(frame, tmp_path)
    names = sorted(p.name for p in written)
    assert names == ["metrics_toy.min.png", "ratio_caching.toy.png", "ratio_toy.max.png",
                     "ratio_toy.min.png", "series_caching.toy.png", "solve_time_overview.png",
                     "solve_time_toy.min.png"]
    assert all(p.stat().st_size > 5000 for p in written)


def test_report_page(rows: list[dict], frame: pd.DataFrame, tmp_path: Path) -> None:
    csv_path = tmp_path / "rows.csv"
    with export.RowWriter(csv_path) as w:
        for r in rows:
            w.write(r)
    out = tmp_path / "rep"
    assert main(["report", str(csv_path), "--out", str(out)]) == 0
    index = out / "index.html"
    page = index.read_text()
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs and all(f'src="{p}"' in page for p in pngs)
    assert page.count("<table") >= 3 and "ratio_to" not in page.split("<table")[0]
    assert "left out" in page and (out / "summary.csv").is_file()
    summary = pd.read_csv(out / "summary.csv")
    bad = summary[(summary["problem"] == "toy.min") & (summary["method"] == "bad")].iloc[0]
    assert bad["usable"] == 0 and bad["excluded"] == 36 and np.isnan(bad["mean_ratio"])
    if (out / "results.parquet").exists():
        assert len(results.load(out / "results.parquet")) == len(frame)
    chromium = shutil.which("chromium") or ("/usr/bin/chromium" if Path(
        "/usr/bin/chromium").exists() else None)
    if chromium is None:
        pytest.skip("no chromium: headless rendering not checked")
    shot = tmp_path / "shot.png"
    proc = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--window-size=1200,3000", f"--screenshot={shot}", index.as_uri()],
        capture_output=True, timeout=120, check=False)
    assert proc.returncode == 0 and shot.stat().st_size > 20_000, proc.stderr[-500:]


def test_report_of_a_missing_file_is_a_user_error(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "r")]) != 0
    assert "not found" in capsys.readouterr().err

