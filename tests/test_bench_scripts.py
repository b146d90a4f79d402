"""The benchmark scripts' own contracts: argument refusals, timing protocols, labels and the
display helpers of their printed tables (small sizes only: no benchmark is run at scale)."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import pytest

from aigc_opt.benchmarks import (
    batch_bench,
    caching_scale_bench,
    migration_bench,
    offloading_family_bench,
    online_bench,
    published_data,
    scale_bench,
    sizing_bench,
    wpmec_bench,
)


def _refused(main: Any, argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    return capsys.readouterr().err


# ------------------------------------------------------------------ scale_bench
def test_scale_bench_times_pyomo_like_highs(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Pyomo gets the HiGHS path's protocol: one untimed warm-up, then the median of
    ``repeats`` (it used to be timed once, cold); the table goes to stdout."""
    calls: list[float] = []
    times = iter([9.0, 3.0, 1.0, 2.0])  # warm-up 9 s must not count: median of 3, 1, 2

    def fake(prog: Any) -> float:
        calls.append(1.0)
        return next(times)

    monkeypatch.setattr(scale_bench, "_pyomo_build_seconds", fake)
    rows = scale_bench.build([200], 20, 5, 3, repeats=3, pyomo_max=10_000)
    assert len(calls) == 4 and rows[0]["pyomo_s"] == 2.0
    out, err = capsys.readouterr()
    assert "pyomo_ratio" in out.splitlines()[0] and "users=200" in err


def test_scale_bench_refuses_zero_repeats(capsys: pytest.CaptureFixture[str]) -> None:
    err = _refused(scale_bench.main, ["build", "--repeats", "0"], capsys)
    assert "must be >= 1" in err


# ------------------------------------------------------------------ batch_bench
@pytest.mark.parametrize("cases", [["10", "10"], ["20", "10"], ["0", "5"]])
def test_batch_bench_refuses_case_counts_without_a_slope(
        cases: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    err = _refused(batch_bench.main, ["--executors", "in-process", "--cases", *cases], capsys)
    assert "1 <= FEW < MANY" in err


def test_batch_bench_refuses_zero_workers_for_a_pool(capsys: pytest.CaptureFixture[str]) -> None:
    assert "--workers" in _refused(batch_bench.main,
                                   ["--executors", "pool", "--workers", "0"], capsys)


def test_batch_bench_warms_up_before_timing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first (cold) run is discarded: the slope comes from two warm runs."""
    walls = iter([5.0, 0.3, 0.6])  # cold warm-up, then FEW = 3 and MANY = 6 cases
    seen: list[int] = []

    def fake(n: int, executor: str, workers: int) -> float:
        seen.append(n)
        return next(walls)

    monkeypatch.setattr(batch_bench, "measure", fake)
    row = batch_bench.main(["--cases", "3", "6", "--executors", "in-process"])[0]
    assert seen == [3, 3, 6]
    assert row["per_case_ms"] == pytest.approx(100.0) and row["startup_s"] == pytest.approx(0.0)


# ------------------------------------------------------------------ wpmec_bench
def test_wpmec_compare_old_works_without_exact_only(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """``--compare-old`` in the default mode prints the old-vs-new block (it was ignored)."""
    import types

    from aigc_opt.problems.wpmec.exact import exact_batch

    monkeypatch.setattr(wpmec_bench, "load_old_exact",
                        lambda rev: types.SimpleNamespace(exact_batch=exact_batch))
    wpmec_bench.main(["--sizes", "3", "--frames", "2", "--batch-frames", "2",
                      "--compare-old", "HEAD", "--compare-frames", "2"])
    out = capsys.readouterr().out
    assert "old (HEAD) vs new exact" in out and "n_users=10, frames=2, both_certified=2" in out


# ------------------------------------------------------------------ online_bench
def test_online_bench_labels_the_smallest_v_run(capsys: pytest.CaptureFixture[str]) -> None:
    online_bench.v_sweep([100.0, 300.0], 3, 12, 0, 6)
    out = capsys.readouterr().out
    assert "V = 100 backlog" in out and "V = 0" not in out


# ------------------------------------------------------------------ docstrings
def test_offloading_family_bench_names_the_solver_cvxpy_uses() -> None:
    doc = offloading_family_bench.__doc__ or ""
    assert "CVXPY/Clarabel" not in doc and "HiGHS too" in doc


# ------------------------------------------------------------------ display helpers
def test_gap_display_has_no_negative_zero() -> None:
    shown = caching_scale_bench.shown_gap
    assert f"{shown(-1.4e-16):.2%}" == "0.00%" and f"{shown(-0.0):.2%}" == "0.00%"
    assert shown(-1e-6) == -1e-6 and shown(0.07) == 0.07 and math.isnan(shown(math.nan))


def test_caching_scale_bench_verifies_the_milp_row() -> None:
    rows = caching_scale_bench.run_size(2, 4, 6, seed=0, time_limit=10.0,
                                        methods=["relax_memory"], milp=True, rate=30.0)
    milp = rows[-1]
    assert milp["method"] == "offline_milp" and milp["verified"] is True
    assert milp["eval_objective"] == pytest.approx(milp["objective"], rel=1e-6)


def test_migration_excess_round_off_prints_as_zero() -> None:
    shown = migration_bench.shown
    assert shown("excess_own", -7.105e-15) == 0.0 and shown("excess", 7.1e-15) == 0.0
    assert shown("excess_own", 2e-9) == 2e-9 and shown("excess", -0.5) == -0.5
    assert shown("cost_avg", -7.1e-15) == -7.1e-15


# ------------------------------------------------------------------ sizing_bench
def test_sizing_bench_prints_and_writes_csv(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """``--csv`` writes the rows and still prints the tables; the greedy's cost ratio is
    ``excess_vs_milp``, not an optimality ``gap``."""
    out_csv = tmp_path / "s.csv"
    rows = sizing_bench.main(["--sites", "2", "--iis-users", "10", "--iis-kinds", "edge_only",
                              "--csv", str(out_csv)])
    out = capsys.readouterr().out
    assert "excess_vs_milp" in out and "greedy_capacity" in out and "iis:" in out
    with out_csv.open() as fh:
        written = list(csv.DictReader(fh))
    assert len(written) == len(rows)
    greedy = next(r for r in rows if r["method"] == "greedy_capacity")
    milp = next(r for r in rows if r["method"] == "milp_highs")
    assert math.isnan(greedy["gap"]) and greedy["excess_vs_milp"] >= -1e-9
    assert math.isnan(milp["excess_vs_milp"]) and milp["gap"] <= 1e-6


# ------------------------------------------------------------------ published_data
@pytest.mark.parametrize("flag", ["--droo", "--lydroo"])
def test_published_data_names_a_missing_file(flag: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "absent.mat")
    err = _refused(published_data.main, [flag, missing], capsys)
    assert err.count("\n") == 1 and missing in err and "Traceback" not in err


def test_published_data_refuses_bad_weights(capsys: pytest.CaptureFixture[str]) -> None:
    assert "--weights" in _refused(published_data.main,
                                   ["--droo", "x.mat", "--weights", "1,x"], capsys)
