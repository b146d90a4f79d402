"""Faults in results files and sweep CSVs: ``results`` / ``report`` / ``plots`` refuse them with
a :class:`ValidationError` naming the file, column or value (CLI exit 2), never a KeyError,
a pandas/pyarrow error or an overwritten input.
"""

from __future__ import annotations

import json
from itertools import product
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from aigc_opt import plots, results
from aigc_opt.cli import main
from aigc_opt.errors import ValidationError
from aigc_opt.export import COLUMNS, RowWriter, read_rows
from aigc_opt.report import write_report


def _row(problem: str, method: str, size: int, seed: int, obj: float, **kw: Any) -> dict:
    row = {"suite": "s", "problem": problem, "variant": "default", "sizes": f"n={size}",
           "size": float(size), "seed": seed, "method": method, "reference": "exact",
           "status": "ok", "termination": "optimal" if method == "exact" else "feasible",
           "has_solution": True, "feasible": True, "verified": True, "objective": obj,
           "solve_seconds": 0.01 * size}
    row.update(kw)
    row["key"] = f"s|{problem}|default|n={size}|seed={seed}|{method}"
    return row


def _rows() -> list[dict]:
    rows = []
    for size, seed in product([10, 20], [0, 1]):
        rows.append(_row("toy", "exact", size, seed, 10.0))
        rows.append(_row("toy", "greedy", size, seed, 11.0 + seed))
    return rows


def _csv(path: Path, rows: list[dict], columns: Any = COLUMNS) -> Path:
    with RowWriter(path, list(columns)) as w:
        for r in rows:
            w.write(r)
    return path


# ------------------------------------------------------------------------------ parquet
@pytest.mark.parametrize("content", [b"", b"PAR1 not really parquet", b"PAR1\x00\x00"])
def test_bad_parquet_is_a_validation_error_naming_the_path(tmp_path: Path,
                                                           content: bytes) -> None:
    p = tmp_path / "bad.parquet"
    p.write_bytes(content)
    with pytest.raises(ValidationError, match=r"path.*bad\.parquet.*cannot read Parquet"):
        results.load(p)
    with pytest.raises(ValidationError, match=r"bad\.parquet"):
        write_report([p], tmp_path / "rep")
    assert not (tmp_path / "rep").exists()  # nothing written


def test_cli_report_on_bad_parquet_exits_2(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "fake.parquet"
    p.write_text("not parquet")
    assert main(["report", str(p), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "fake.parquet" in err and "internal error" not in err


# ------------------------------------------------------------------------------ series
@pytest.mark.parametrize("bad", ["a", [1], {"x": 1}, True])
def test_non_numeric_series_values_are_named(tmp_path: Path, bad: Any) -> None:
    rows = _rows()
    rows[1]["series"] = json.dumps({"cost_per_slot": [1.0, bad, 2.0]})
    p = _csv(tmp_path / "garbage_json.csv", rows)
    df = results.load(p)
    with pytest.raises(ValidationError, match=r"series.*cost_per_slot.*slot 1.*greedy.*"
                                              r"garbage_json\.csv"):
        results.series_table(df)
    with pytest.raises(ValidationError, match="series"):
        plots.plot_results(read_rows(p), tmp_path / "plots")
    assert main(["plot", str(p), "--out", str(tmp_path / "p2")]) == 2


def test_numeric_and_null_series_values_are_read(tmp_path: Path) -> None:
    rows = _rows()
    rows[1]["series"] = json.dumps({"cost_per_slot": [1, None, 2.5]})
    st = results.series_table(results.load(_csv(tmp_path / "ok.csv", rows)))
    assert st["value"].tolist()[::2] == [1.0, 2.5] and st["value"].isna().sum() == 1


# ------------------------------------------------------------------------------ columns
@pytest.mark.parametrize("col", ["reference", "objective", "size", "solve_seconds", "status",
                                 "termination", "has_solution", "feasible"])
def test_missing_columns_are_refused_up_front(tmp_path: Path, col: str) -> None:
    p = _csv(tmp_path / f"no_{col}.csv", _rows(), [c for c in COLUMNS if c != col])
    with pytest.raises(ValidationError, match=rf"columns.*plot needs.*{col}"):
        plots.plot_results(read_rows(p), tmp_path / "plt")
    assert not (tmp_path / "plt").exists()
    with pytest.raises(ValidationError, match=rf"{col}.*no_{col}\.csv"):
        write_report([p], tmp_path / "rep")
    assert not (tmp_path / "rep").exists()
    df = results.load(p)
    if col in ("reference", "objective"):
        with pytest.raises(ValidationError, match=col):
            results.ratio_summary(df)
    else:
        assert len(results.ratio_summary(df)) == 2  # it does not need the column
    if col in ("size", "solve_seconds"):
        with pytest.raises(ValidationError, match=col):
            results.time_fits(df)
    else:
        assert len(results.time_fits(df)) == 2


def test_minimal_csv_lists_every_missing_column(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    p = _csv(tmp_path / "minimal.csv", _rows(), ["key", "problem", "method", "objective"])
    with pytest.raises(ValidationError) as info:
        write_report([p], tmp_path / "rep")
    assert info.value.value == ["size", "reference", "status", "termination", "has_solution",
                                "feasible", "solve_seconds"]
    assert main(["report", str(p), "--out", str(tmp_path / "r")]) == 2
    assert main(["plot", str(p), "--out", str(tmp_path / "p")]) == 2
    assert "KeyError" not in capsys.readouterr().err


def test_missing_problem_column_loads_but_is_refused_by_summaries(tmp_path: Path) -> None:
    p = _csv(tmp_path / "noprob.csv", _rows(), [c for c in COLUMNS if c != "problem"])
    df = results.load(p)  # used to fail inside pyarrow (the sense of problem "")
    assert (df["sense"] == "min").all()
    with pytest.raises(ValidationError, match="problem"):
        results.ratio_summary(df)


def test_complete_results_still_report(tmp_path: Path) -> None:
    p = _csv(tmp_path / "good.csv", _rows())
    index = write_report([p], tmp_path / "rep")
    assert index.exists() and (tmp_path / "rep" / "summary.csv").exists()


# ------------------------------------------------------------------------------ overwrite
def test_report_refuses_to_overwrite_its_input(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rp"
    out.mkdir()
    p = _csv(out / "summary.csv", _rows())
    before = p.read_bytes()
    with pytest.raises(ValidationError, match=r"summary\.csv.*overwrite"):
        write_report([p], out)
    assert main(["report", str(p), "--out", str(out)]) == 2
    assert "summary.csv" in capsys.readouterr().err
    assert p.read_bytes() == before and sorted(x.name for x in out.iterdir()) == ["summary.csv"]
    # the same file through another path (a symlink), and a Pareto input named index.html
    link = tmp_path / "link.csv"
    link.symlink_to(p)
    with pytest.raises(ValidationError, match="overwrite"):
        write_report(link, out)
    good = _csv(tmp_path / "good.csv", _rows())
    (out / "index.html").write_text("latency,energy\n1,2\n2,1\n")
    with pytest.raises(ValidationError, match=r"index\.html"):
        write_report([good], out, pareto=out / "index.html")
    assert p.read_bytes() == before


# ------------------------------------------------------------------------------ pareto
PARETO_BAD = {
    "empty.csv": (b"", "empty"),
    "nocols.csv": (b"a,b\n1,2\n", "two numeric objective columns"),
    "allnan.csv": (b"latency,energy\nnan,nan\n", "two numeric objective columns"),
    "nonutf8.csv": (b"\xff\xfelatency,energy\n1,2\n", "not UTF-8"),
    "badquote.csv": (b"latency,energy\n\"1,2\n", "cannot parse.*line 2"),
    "short.csv": (b"latency,energy\n1,2\n3\n", "line 3 has 1 field"),
    "dupcol.csv": (b"latency,latency,energy\n1,2,3\n", "duplicate"),
    "huge.csv": (b"latency_s,energy_j\n1e308,1e308\n-1e308,5\n", r"latency_s.*1e308.*line 2"),
    "inf.csv": (b"latency,energy\ninf,1\n2,2\n", r"latency.*inf.*line 2"),
    "text.csv": (b"latency,energy\n1,fast\n2,1\n", r"energy.*fast.*not a number.*line 2"),
}


@pytest.mark.parametrize("name", sorted(PARETO_BAD))
def test_bad_pareto_csv_raises_only_validation_error(tmp_path: Path, name: str,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    content, match = PARETO_BAD[name]
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(ValidationError, match=match):
        plots.plot_pareto_csv(p, tmp_path)
    good = _csv(tmp_path / "good.csv", _rows())
    assert main(["report", str(good), "--out", str(tmp_path / "r"), "--pareto", str(p)]) == 2
    assert "internal error" not in capsys.readouterr().err


def test_pareto_missing_column_is_a_key_error_and_a_validation_error(tmp_path: Path) -> None:
    p = tmp_path / "sweep.csv"
    p.write_text("weight,latency_s,energy_j\n0.1,1,5\n1,2,3\n")
    with pytest.raises(KeyError, match="nope"):
        plots.plot_pareto_csv(p, tmp_path, x="nope", y="energy_j")
    with pytest.raises(ValidationError, match="nope"):
        plots.plot_pareto_csv(p, tmp_path, x="latency_s", y="nope")


def test_pareto_large_but_plottable_values_and_gaps(tmp_path: Path) -> None:
    p = tmp_path / "big.csv"
    p.write_text("\ufefflatency_s,energy_j\r\n1e300,1e300\r\n-1e300,5\r\n0,-1e300\r\n,3\r\n")
    out = plots.plot_pareto_csv(p, tmp_path)
    assert out[0].exists() and out[0].stat().st_size > 1000


def test_report_from_a_dataframe_has_no_input_path_to_check(tmp_path: Path) -> None:
    rows = pd.DataFrame(_rows())
    index = write_report(rows, tmp_path / "frame")  # a DataFrame: no input path to check
    assert index.exists()


def test_a_nul_byte_in_a_path_is_a_validation_error() -> None:
    """The OS refuses such a path with a plain ValueError, which ``except ValidationError``
    missed (Scenario.load, results.load, read_rows)."""
    import aigc_opt as ao

    for load in (ao.Scenario.load, results.load, read_rows):
        with pytest.raises(ValidationError, match="NUL"):
            load("a\0b.csv")


def test_a_field_longer_than_csvs_default_limit_reads_back(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]
                                                           ) -> None:
    """A 4,000-slot online run writes a per-slot ``series`` cell of 467,538 characters;
    Python's csv stops at 131,072, so summary, report, plot, results.load and --resume
    failed on the file bench had just written ("field larger than field limit")."""
    rows = _rows()
    rows[1]["message"] = "x" * 300_000
    p = _csv(tmp_path / "long.csv", rows)
    back = read_rows(p)
    assert len(back) == len(rows) and back[1]["message"] == "x" * 300_000
    assert len(results.load(p)) == len(rows)
    assert main(["summary", str(p)]) == 0
    assert "greedy" in capsys.readouterr().out


def test_foreign_parquet_is_refused_like_a_foreign_csv(tmp_path: Path) -> None:
    """A Parquet file that is neither tidy results nor raw rows was read as raw rows with a
    blank status (a foreign CSV is refused)."""
    pytest.importorskip("pyarrow")
    import pandas as pd

    from aigc_opt import results

    p = tmp_path / "foreign.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(p)
    with pytest.raises(ValidationError, match="is not an aigc-opt results file"):
        results.load(p)
