"""Trace and gains files with faults are refused by name (an outside fuzz found a cut gains
CSV read as a 1e9x gain, raw OSError/MemoryError from the online trace readers, slot 1.9
read as slot 1, and an IndexError on an empty migration positions file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aigc_opt.cases import get_case
from aigc_opt.errors import ValidationError
from aigc_opt.problems.migration.mobility import positions_from_csv
from aigc_opt.problems.online import load_arrival_trace, load_position_trace
from aigc_opt.problems.wpmec.data import WpmecBatch
from aigc_opt.slot_csv import read_slot_user_csv


def test_cut_gains_csv_is_refused(tmp_path: Path) -> None:
    b = WpmecBatch.generate(3, 4, seed=0)
    full = tmp_path / "g.csv"
    b.save(full)
    np.testing.assert_array_equal(WpmecBatch.from_file(full).gains, b.gains)
    cut = tmp_path / "cut.csv"
    cut.write_text(full.read_text().rstrip("\n")[:-10])
    with pytest.raises(ValidationError, match="truncated"):
        WpmecBatch.from_file(cut)


@pytest.mark.parametrize(("body", "needle"), [
    ("slot,user,x,y\n0,0,1,2\n1,0,1,2\n", None),
    ("slot,user,x,y\n0,0,1,2\n1.9,0,1,2\n", "integers"),
    ("slot,user,x,y\n0,0,1,2,999\n", "number of cells"),
    ("slot,user,x,y\n0,0,1,2\n100000000000,0,1,2\n", "exactly once"),
    ("slot,user,x,y\n0,0,1,nan\n", "finite"),
    ("slot,user,x,y\n", "no rows"),
    ("", "lacks columns"),
    ("slot,user,x,y\n0,0,1,2\n0,0,1,2\n", "exactly once"),
    # DictReader kept the last 'y' and the first was never read
    ("slot,user,x,y,y\n0,0,1,2,3\n1,0,1,2,3\n", r"columns \['y'\] more than once"),
    ("slot,slot,user,x,y\n0,1,0,1,2\n1,0,0,1,2\n", "more than once"),
    # float() reads '1_000' as 1000
    ("slot,user,x,y\n0,0,1,2\n1,0,1_000,2\n", "line 3: not a number"),
])
def test_slot_user_csv_faults(tmp_path: Path, body: str, needle: str | None) -> None:
    p = tmp_path / "t.csv"
    p.write_text(body)
    readers = (lambda: read_slot_user_csv(p, ("x", "y")), lambda: positions_from_csv(str(p)),
               lambda: load_position_trace(p))
    for read in readers:
        if needle is None:
            assert np.asarray(read()).shape[:2] == (2, 1)
        else:
            with pytest.raises(ValidationError, match=needle):
                read()
    for bad in (tmp_path / "missing.csv", tmp_path):
        with pytest.raises(ValidationError, match="cannot read"):
            read_slot_user_csv(bad, ("x", "y"))
    (tmp_path / "latin.csv").write_bytes(b"slot,user,x,y\n0,0,\xe9,2\n")
    with pytest.raises(ValidationError, match="UTF-8"):
        load_position_trace(tmp_path / "latin.csv")


_H = "slot,user,x,y\n"


@pytest.mark.parametrize(("body", "field", "words"), [
    # a non-numeric cell: neither line nor column ('trace': non-numeric entry (...))
    (_H + "0,0,1,2\n0,1,3,abc\n1,0,5,6\n1,1,7,8\n", "trace y", "t.csv line 3: not a number"),
    # NaN: the line, not the column; and the line after a blank line was one short
    (_H + "0,0,1,2\n\n0,1,nan,4\n1,0,5,6\n1,1,7,8\n", "trace x", "t.csv line 4: must be finite"),
    (_H + "0,0,1,2\n\n0,1.5,3,4\n1,0,5,6\n1,1,7,8\n", "trace user", "line 4 of t.csv"),
    (_H + "\n\n0,0,1,2\n0,1,1_0,2\n", "trace x", "t.csv line 5: not a number"),
    (_H + "0,0,1,2\n\n0,1,3\n", "trace", "line 4 has 3 cells"),
])
def test_slot_user_csv_errors_name_line_and_column(tmp_path: Path, body: str, field: str,
                                                   words: str) -> None:
    p = tmp_path / "t.csv"
    p.write_text(body)
    for read in (lambda: read_slot_user_csv(p, ("x", "y")), lambda: load_position_trace(p)):
        with pytest.raises(ValidationError) as exc:
            read()
        assert exc.value.field == field
        assert words in str(exc.value)
    q = tmp_path / "ok.csv"  # blank lines between good rows are still skipped
    q.write_text(_H + "0,0,1,2\n\n1,0,3,4\n\n")
    np.testing.assert_array_equal(read_slot_user_csv(q, ("x", "y"))[:, 0], [[1, 2], [3, 4]])


@pytest.mark.parametrize("bad", [123, None, b"t.csv", ["t.csv"], ""], ids=repr)
def test_trace_path_that_is_not_a_path_is_refused_by_name(bad: object) -> None:
    """Path(path) ran before any check: 123 and None raised a bare TypeError."""
    for read in (load_arrival_trace, load_position_trace, positions_from_csv,
                 lambda p: read_slot_user_csv(p, ("x", "y"))):
        with pytest.raises(ValidationError, match="must be a file path") as err:
            read(bad)
        assert err.value.field == "path"


def test_unknown_size_name_is_named() -> None:
    for kind in ("allocation.power", "offloading.assignment", "incentives.contract"):
        with pytest.raises(ValidationError, match="n_userz") as err:
            get_case(kind).instance(0, n_userz=7)
        assert err.value.field == f"size of {kind}"


def test_special_files_are_refused(tmp_path: Path) -> None:
    """A FIFO without a writer blocked the read forever; /dev/zero read until MemoryError."""
    import os

    from aigc_opt.validate import read_text

    fifo = tmp_path / "f.json"
    os.mkfifo(fifo)
    zero = tmp_path / "z.json"
    zero.symlink_to("/dev/zero")
    for p in (fifo, zero):
        with pytest.raises(ValidationError, match="not a regular file"):
            read_text(p, "scenario file")
