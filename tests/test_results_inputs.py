"""Results CSVs that ``summary`` / ``report`` / ``plot`` must refuse (exit 2, naming the file):
one above the file-size limit every other reader has, one without a header line, and cells
with impossible values."""

from __future__ import annotations

from pathlib import Path

import pytest

from aigc_opt import export, results, validate
from aigc_opt.cli import main
from aigc_opt.errors import ValidationError

LIMIT = 4096  # a small validate.MAX_FILE_BYTES for the size tests (bytes)


def _sparse(path: Path, size: int) -> Path:
    """A file of ``size`` bytes of NULs that takes no disk space (``truncate``)."""
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def test_results_csv_above_the_size_limit_is_refused_unread(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """``read_rows`` read a results CSV whole (100 MB of NULs: 7 s and 330 MB before the
    refusal; 2 GiB: over a minute), while every other reader stops at MAX_FILE_BYTES."""
    monkeypatch.setattr(validate, "MAX_FILE_BYTES", LIMIT)
    big = _sparse(tmp_path / "big.csv", LIMIT + 1)
    match = r"big\.csv.*results CSV is 4,097 bytes, above the 4,096-byte limit"
    with pytest.raises(ValidationError, match=match):
        export.read_rows(big)
    with pytest.raises(ValidationError, match=match):
        results.load(big)
    for argv in (["summary", str(big)], ["report", str(big), "--out", str(tmp_path / "r")],
                 ["plot", str(big), "--out", str(tmp_path / "p")]):
        assert main(argv) == 2
        assert "4,096-byte limit" in capsys.readouterr().err
    assert not (tmp_path / "r").exists() and not (tmp_path / "p").exists()


def test_plot_pareto_above_the_size_limit_is_refused_before_plotting(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The ``plot --pareto`` pre-check read the sweep CSV whole (``Path.read_text``), then the
    results were plotted before the sweep was refused."""
    rows = tmp_path / "rows.csv"
    with export.RowWriter(rows) as w:
        w.write({"key": "s|toy|default|n=10|seed=0|exact", "problem": "toy", "method": "exact",
                 "status": "ok", "objective": 1.0, "solve_seconds": 0.1})
    monkeypatch.setattr(validate, "MAX_FILE_BYTES", LIMIT)
    sweep = _sparse(tmp_path / "sweep.csv", LIMIT + 1)
    out = tmp_path / "png"
    assert main(["plot", str(rows), "--out", str(out), "--pareto", str(sweep)]) == 2
    err = capsys.readouterr().err
    assert "sweep.csv" in err and "4,096-byte limit" in err, err
    assert not out.exists()


@pytest.mark.parametrize("content", [b"", b"k", b"key", b"key,sta"])
def test_results_csv_without_a_header_line_is_refused_as_input(
        tmp_path: Path, content: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    """A 0-byte results CSV (or one holding a cut prefix of the header) gave ``summary`` an
    empty table and ``report`` an index.html, exit 0 with a warning, while a ``key,value``
    file was refused naming its missing columns: the column check was skipped with no rows."""
    p = tmp_path / "r.csv"
    p.write_bytes(content)
    with pytest.raises(export.ForeignFileError, match=r"r\.csv: .*no header line"):
        results.load(p)
    for argv in (["summary", str(p)], ["report", str(p), "--out", str(tmp_path / "rep")],
                 ["plot", str(p), "--out", str(tmp_path / "png")]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "r.csv" in err and "no header line" in err and err.count("\n") == 1, err
    assert not (tmp_path / "rep").exists() and not (tmp_path / "png").exists()
    assert p.read_bytes() == content
    assert export.read_rows(p) == []  # bench --resume's reader: such a file is started afresh


def test_bench_resume_on_an_empty_out_starts_afresh(tmp_path: Path) -> None:
    """A kill before the first row may leave a 0-byte --out: ``bench --resume`` runs every case
    into it (the refusal is for inputs only)."""
    suite = tmp_path / "one.toml"
    suite.write_text('[[cases]]\nproblem = "incentives.contract"\nseeds = [0]\n'
                     'methods = ["reduction"]\n')
    out = tmp_path / "bench.csv"
    out.write_bytes(b"")
    assert main(["bench", str(suite), "--out", str(out), "--resume", "--workers", "0",
                 "--no-progress"]) == 0
    rows = export.read_rows(out)
    assert [(r["method"], r["status"]) for r in rows] == [("reduction", "ok")]
    assert main(["summary", str(out)]) == 0


def _one_row(path: Path, **cells: object) -> Path:
    row = {"key": "s|toy|default|n=10|seed=0|exact", "problem": "toy", "method": "exact",
           "reference": "exact", "status": "ok", "termination": "optimal", "has_solution": True,
           "feasible": True, "objective": 1.0, "solve_seconds": 0.1}
    row.update(cells)
    with export.RowWriter(path) as w:
        w.write(row)
    return path


def test_summary_refuses_an_unknown_termination_naming_line_column_value(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """termination='weird' was read and the row silently left the optimal count."""
    p = _one_row(tmp_path / "t.csv", termination="weird")
    assert main(["summary", str(p)]) == 2
    err = capsys.readouterr().err
    assert "t.csv, line 2: column termination = 'weird': unknown value" in err, err


def test_cells_at_the_ends_of_their_ranges_are_read(tmp_path: Path) -> None:
    """The range checks refuse impossible values only: 0, 1, inf, empty and NaN pass."""
    p = _one_row(tmp_path / "ok.csv", solve_seconds=0.0, wall_seconds=float("inf"),
                 time_limit=float("nan"), mip_gap=1.0, hit_ratio=0.0, n_violations=3.0,
                 max_violation=float("inf"), termination="")
    df = results.load(p)
    assert len(df) == 1 and df["hit_ratio"].iloc[0] == 0.0 and df["n_violations"].iloc[0] == 3


def test_tidy_parquet_with_an_impossible_cell_is_refused(tmp_path: Path) -> None:
    """A tidy Parquet file is not parsed again: its cells get the same range checks."""
    pytest.importorskip("pyarrow")
    df = results.load(_one_row(tmp_path / "ok.csv"), registry=False)
    df["mip_gap"] = 7.0
    p = results.to_parquet(df, tmp_path / "t.parquet")
    with pytest.raises(ValidationError, match=r"mip_gap.*7\.0.*in \[0, 1\].*row 0 of .*"
                                              r"t\.parquet"):
        results.load(p)


def test_a_hit_ratio_the_caching_referee_writes_loads(tmp_path: Path) -> None:
    """The caching referee lets edge service exceed demand within its tolerance, so a row may
    carry ``hit_ratio`` 1 + 1e-9; the reader had refused the whole file for it (a reviewer's
    finding); a negative ratio is still refused."""
    df = results.load(_one_row(tmp_path / "h.csv", hit_ratio=1.0 + 1e-9), registry=False)
    assert df["hit_ratio"].iloc[0] > 1.0
    with pytest.raises(export.CsvFormatError, match="hit_ratio"):
        results.load(_one_row(tmp_path / "n.csv", hit_ratio=-0.5), registry=False)
