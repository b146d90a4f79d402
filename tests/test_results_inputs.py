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
