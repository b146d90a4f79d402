"""Faults found by mutating the files the loaders read (suite TOML, results CSV, tidy Parquet).

Every bad input is a :class:`ValidationError` (``CsvFormatError`` for a results CSV,
``SuiteError`` for a suite) naming the file, the column / key / attr and the bad value, never
a bare TypeError, OverflowError, KeyError or RecursionError, and never garbage loaded silently
(a NaN seed, ``{}`` for unparsable JSON, an unknown status kept). On the CLI: exit 2 and one
``Error:`` line.
"""

from __future__ import annotations

import json
import sys
from itertools import product
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import aigc_opt as ao
from aigc_opt import results, results_io
from aigc_opt.batch import SuiteError, expand, load_suite, parse_suite
from aigc_opt.cli import main
from aigc_opt.errors import ValidationError
from aigc_opt.export import COLUMNS, CsvFormatError, RowWriter
from aigc_opt.report import write_report
from aigc_opt.suites import _import

DEEP = "[" * 5000 + "]" * 5000


def _row(method: str, size: int, seed: int, obj: float, **kw: Any) -> dict[str, Any]:
    row = {"suite": "s", "problem": "toy", "variant": "default", "sizes": f"n={size},mode=a",
           "size": float(size), "seed": seed, "method": method, "reference": "exact",
           "sense": "min", "status": "ok",
           "termination": "optimal" if method == "exact" else "feasible",
           "has_solution": True, "feasible": True, "verified": True, "objective": obj,
           "solve_seconds": 0.01 * size, "params": '{"k": 2}',
           "metrics_extra": json.dumps({"foo_s": 1.5, "hits": 3})}
    row.update(kw)
    row["key"] = f"s|toy|default|n={size}|seed={seed}|{method}"
    return row


def _rows() -> list[dict[str, Any]]:
    return [_row(m, size, seed, 10.0 if m == "exact" else 11.0 + seed)
            for size, seed, m in product([10, 20], [0, 1], ["exact", "greedy"])]


def _csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with RowWriter(path, list(COLUMNS)) as w:
        for r in rows:
            w.write(r)
    return path


def _one_error_line(err: str) -> None:
    assert err.startswith("Error: ") and err.count("\n") == 1, err
    assert "internal error" not in err and "Traceback" not in err, err


# ------------------------------------------------------------------ F7 / G6: results CSV cells
BAD_CELLS = [
    ("seed", "1.5"), ("seed", "1e30"), ("seed", "inf"), ("seed", "1e999"), ("seed", "-1"),
    ("seed", str(2**63)), ("seed", "abc"), ("seed", "NaN"),
    ("status", "garbage"), ("status", "null"), ("status", ""), ("sense", "maximise"),
    ("sizes", "n_users"), ("sizes", "=3"), ("sizes", "n=1,n=2"), ("sizes", "999999"),
    ("sizes", "n=abc,mode=a"),  # n is a number in every other row
    ("params", "{broken"), ("params", "[1, 2]"), ("params", '"text"'), ("params", DEEP),
    ("params", '{"a": ' + "9" * 5000 + "}"), ("params", '{"a": ' * 70 + "1" + "}" * 70),
    ("metrics_extra", "[1, 2"), ("metrics_extra", "abc"), ("metrics_extra", "1.5"),
    ("metrics_extra", '{"foo_s": "fast"}'), ("metrics_extra", '{"foo_s": [1]}'),
    ("metrics_extra", DEEP),
    # impossible values that changed the summary silently (an unknown termination dropped the
    # optimal count; a case without a key)
    ("key", ""), ("termination", "weird"), ("termination", "Optimal"),
    ("solve_seconds", "-5"), ("wall_seconds", "-inf"), ("time_limit", "-1"),
    ("mip_gap", "2"), ("hit_ratio", "-0.1"), ("n_violations", "-2"),
    ("n_violations", "1.5"), ("n_violations", "inf"), ("max_violation", "-1"),
]


@pytest.mark.parametrize(("column", "value"), BAD_CELLS)
def test_bad_results_cell_is_a_csv_format_error_naming_line_column_value(
        tmp_path: Path, column: str, value: str) -> None:
    rows = _rows()
    rows[2][column] = value  # the third record: line 4
    p = _csv(tmp_path / "bad_cell.csv", rows)
    with pytest.raises(CsvFormatError) as info:
        results.load(p)
    msg = str(info.value)
    assert isinstance(info.value, ValidationError)
    assert msg.startswith(f"{p}, line 4: column {column} = ") and value[:20] in msg, msg
    assert ("empty" if value == "" else "") in msg
    assert "\n" not in msg


def test_results_seed_cells_f7a_f7b_through_report_and_the_row_reader(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for value in ("1.5", "inf"):
        rows = _rows()
        rows[0]["seed"] = value
        p = _csv(tmp_path / f"seed_{value}.csv", rows)
        assert main(["report", str(p), "--out", str(tmp_path / "rep")]) == 2
        err = capsys.readouterr().err
        _one_error_line(err)
        assert f"seed_{value}.csv, line 2: column seed = '{value}'" in err
        assert not (tmp_path / "rep").exists()
        # the row-dict reader for `aigc-opt summary` / `plot` refuses it the same way
        with pytest.raises(CsvFormatError, match=rf"line 2: column seed = '{value}'"):
            results_io.read_rows(p)


def test_deep_json_cell_f11_through_report(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    rows = _rows()
    rows[1]["params"] = DEEP
    p = _csv(tmp_path / "deep.csv", rows)
    assert main(["report", str(p), "--out", str(tmp_path / "rep")]) == 2
    err = capsys.readouterr().err
    _one_error_line(err)
    assert "deep.csv, line 3: column params" in err and "nested too deeply" in err


def test_g6_every_coerced_cell_is_refused(tmp_path: Path) -> None:
    """G6: each cell results.load used to coerce (seed -> NA, bad JSON -> {}, unknown status
    and junk sizes kept) is refused on its own."""
    for column, value in (("seed", "abc"), ("status", "garbage"), ("sizes", "n_users"),
                          ("params", "{broken"), ("metrics_extra", "[1, 2")):
        rows = _rows()
        rows[-1][column] = value
        p = _csv(tmp_path / f"g6_{column}.csv", rows)
        with pytest.raises(CsvFormatError, match=rf"line 9: column {column} = "):
            results.load(p)
        for cmd in (["summary", str(p)], ["plot", str(p), "--out", str(tmp_path / "f")]):
            assert main(cmd) == 2, cmd  # the CLI readers check the same cells


def test_bad_cell_in_a_superseded_row_is_refused(tmp_path: Path) -> None:
    rows = _rows()
    rerun = dict(rows[0])
    rows[0] = {**rows[0], "seed": "1.5"}
    p = _csv(tmp_path / "history.csv", [*rows, rerun])  # rows[0]'s key is rerun at the end
    with pytest.raises(CsvFormatError, match=r"line 2: column seed = '1.5'"):
        results.load(p)
    with pytest.raises(CsvFormatError, match=r"line 2: column seed"):
        results_io.read_rows(p)


def test_line_numbers_count_blank_lines(tmp_path: Path) -> None:
    rows = _rows()
    rows[1]["status"] = "bogus"
    p = _csv(tmp_path / "blank.csv", rows)
    lines = p.read_text().split("\n")
    p.write_text("\n".join([lines[0], "", lines[1], "", *lines[2:]]))
    with pytest.raises(CsvFormatError, match=r"line 5: column status = 'bogus'"):
        results.load(p)


def test_rows_in_memory_name_the_column_and_row() -> None:
    rows = _rows()
    rows[3]["seed"] = 1.5
    with pytest.raises(ValidationError, match=r"seed \[-\] = 1\.5: not an integer.*\(row 3\)") \
            as info:
        results.load(rows, registry=False)
    assert info.value.field == "seed"
    frame = pd.DataFrame(_rows())
    frame.loc[1, "metrics_extra"] = "{"
    with pytest.raises(ValidationError, match=r"metrics_extra.*not valid JSON.*\(row 1\)"):
        results.load(frame, registry=False)


def test_valid_cells_still_load(tmp_path: Path) -> None:
    rows = _rows()
    rows[0].update(seed=0, sizes="", params="", metrics_extra="")
    rows[1].update(seed=2**63 - 1, status="timeout", sense="", params="{}")
    rows[2].update(status="crashed", sizes="n=10,mode=x,flag=true", metrics_extra='{"x": null}')
    rows[3].update(status="error", metrics_extra='{"hits": true, "foo_s": NaN}')
    df = results.load(_csv(tmp_path / "good.csv", rows))
    assert len(df) == 8 and df["seed"].dtype == "Int64"
    assert df["seed"].tolist()[:2] == [0, 2**63 - 1]
    assert df["param_k"].isna().sum() == 2 and (df["param_k"].dropna() == 2).all()
    assert df["n"].dtype == "Int64" and df["foo_s"].dtype == "float64"
    # float seeds of a frame given in memory (pandas makes ints with gaps floats) are fine
    frame = pd.DataFrame(_rows())
    frame["seed"] = frame["seed"].astype(float)
    assert results.load(frame, registry=False)["seed"].tolist()[:2] == [0, 0]


def test_deep_series_json_is_named_by_series_table(tmp_path: Path) -> None:
    rows = _rows()
    rows[1]["series"] = DEEP
    df = results.load(_csv(tmp_path / "series.csv", rows))
    with pytest.raises(ValidationError, match=r"series.*nested too deeply.*series\.csv"):
        results.series_table(df)


# ------------------------------------------------------------------ F10: tidy Parquet
@pytest.fixture()
def tidy_parquet(tmp_path: Path) -> Path:
    pytest.importorskip("pyarrow")
    df = results.load(_csv(tmp_path / "good.csv", _rows()))
    return results.to_parquet(df, tmp_path / "good.parquet")


@pytest.mark.parametrize("column", ["termination", "status", "sense", "problem", "size_name",
                                    "usable", "has_solution"])
def test_tidy_parquet_without_a_column_is_refused(tmp_path: Path, tidy_parquet: Path,
                                                  column: str) -> None:
    df = pd.read_parquet(tidy_parquet)
    p = tmp_path / f"no_{column}.parquet"
    df.drop(columns=[column]).to_parquet(p, index=False)
    with pytest.raises(ValidationError, match=rf"columns.*{column}.*no_{column}\.parquet"):
        results.load(p)


@pytest.mark.parametrize(("attr", "value"), [
    ("size_columns", 5), ("param_columns", "n"), ("metric_columns", [1]),
    ("absent_columns", {"a": 1}), ("sense_source", ["toy"]), ("sense_source", {"toy": 1}),
    ("units", 3), ("masked", "yes"),
])
def test_tidy_parquet_with_bad_attrs_is_refused(tmp_path: Path, tidy_parquet: Path, attr: str,
                                                value: Any,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    df = pd.read_parquet(tidy_parquet)
    df.attrs[attr] = value
    p = tmp_path / "bad_attrs.parquet"
    df.to_parquet(p, index=False)
    with pytest.raises(ValidationError, match=rf"attrs\['{attr}'\].*bad_attrs\.parquet") as info:
        results.load(p)
    assert info.value.field == f"attrs['{attr}']"
    assert main(["report", str(p), "--out", str(tmp_path / "rep")]) == 2
    _one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize(("column", "values", "needle"), [
    ("usable", ["yes"] * 8, "usable"), ("usable", [True] * 7 + [None], "usable"),
    ("objective", ["x"] * 8, "objective"), ("problem", list(range(8)), "problem"),
    ("feasible", [1.5] * 8, "feasible"), ("seed", [0.5] * 8, "seed"),
    ("seed", [-1] * 8, "seed"), ("status", ["garbage"] * 8, "status"),
    ("sense", ["both"] * 8, "sense"),
])
def test_tidy_parquet_with_bad_dtypes_or_values_is_refused(
        tmp_path: Path, tidy_parquet: Path, column: str, values: list[Any], needle: str) -> None:
    df = pd.read_parquet(tidy_parquet)
    df[column] = pd.Series(values, dtype=object if column != "seed" else None)
    p = tmp_path / "bad_dtype.parquet"
    df.to_parquet(p, index=False)
    with pytest.raises(ValidationError, match=rf"{needle}.*bad_dtype\.parquet"):
        results.load(p)


def test_f10_no_termination_through_the_cli(tmp_path: Path, tidy_parquet: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    df = pd.read_parquet(tidy_parquet)
    p = tmp_path / "F10.parquet"
    df.drop(columns=["termination"]).to_parquet(p, index=False)
    assert main(["report", str(p), "--out", str(tmp_path / "rep")]) == 2
    err = capsys.readouterr().err
    _one_error_line(err)
    assert "termination" in err and "F10.parquet" in err and "KeyError" not in err


def test_good_parquet_still_loads_and_reports(tmp_path: Path, tidy_parquet: Path) -> None:
    back = results.load(tidy_parquet)
    assert len(back) == 8 and len(results.ratio_summary(back)) == 2
    assert len(results.status_counts(back)) >= 1
    assert write_report([tidy_parquet], tmp_path / "rep").exists()
    twice = results.load([tidy_parquet, tidy_parquet])  # the same cases count once
    assert len(twice) == 8 and twice.attrs["replaced_rows"] == 8


def test_mixing_tidy_and_raw_files_is_refused(tmp_path: Path, tidy_parquet: Path) -> None:
    raw = _csv(tmp_path / "raw.csv", _rows())
    with pytest.raises(ValidationError, match=r"sources.*mixes tidy results.*good\.parquet"):
        results.load([tidy_parquet, raw])


# ------------------------------------------------------------------ F6: deep suite TOML
SUITE = '[[cases]]\nproblem = "offloading.assignment"\nsizes = {n_users = [4, 8]}\n'


@pytest.mark.parametrize("value", [
    "{a = " * 400 + "1" + "}" * 400, "[" * 2000 + "]" * 2000,  # tomllib's RecursionError
    "{a = " * 40 + "1" + "}" * 40, "[" * 40 + "]" * 40,  # parsed, but too deep to walk safely
])
def test_deeply_nested_suite_is_a_suite_error(tmp_path: Path, value: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "deep.toml"
    p.write_text(SUITE + f"params = {value}\n")
    with pytest.raises(SuiteError, match=r"deep\.toml.*nested too deeply"):
        load_suite(p)
    code = main(["bench", str(p), "--out", str(tmp_path / "o.csv"), "--only", "NONE",
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    _one_error_line(err)


def test_moderately_nested_params_are_fine() -> None:
    s = parse_suite(SUITE + "params = {a = {b = {c = [[1, 2], [3]]}}}\n", source="ok.toml")
    assert s.entries[0]["params"]["a"]["b"]["c"] == [[1, 2], [3]]


# ------------------------------------------------------------------ F9: suite imports
@pytest.mark.parametrize("name", [".x", "..pkg.mod", "a..b", "x.", "1abc", "a-b", "a b"])
def test_import_names_that_are_not_absolute_modules_are_refused(name: str) -> None:
    text = f'[suite]\nimports = ["os", "{name}"]\n' + SUITE
    with pytest.raises(SuiteError, match=r"bad\.toml: suite\.imports\[1\] = .*absolute") as info:
        parse_suite(text, source="bad.toml")
    assert name in str(info.value) and info.value.field == "suite.imports[1]"
    with pytest.raises(SuiteError, match="absolute module name"):
        _import(name)  # the workers' path (imports of a Case built by hand)


@pytest.mark.parametrize(("body", "raised"), [
    ("raise ZeroDivisionError('boom\\nsecond line')\n", "ZeroDivisionError: boom second line"),
    ("import sys\nsys.exit(3)\n", "SystemExit: 3"),
    ("def broken(:\n", "SyntaxError"),
    ("import no_such_module_xyz\n", "No module named 'no_such_module_xyz'"),
])
def test_a_user_module_that_fails_to_import_is_a_suite_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        body: str, raised: str) -> None:
    (tmp_path / "usermod_fail.py").write_text(body)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "usermod_fail", raising=False)
    p = tmp_path / "imp.toml"
    p.write_text('[suite]\nimports = ["usermod_fail"]\n' + SUITE)
    with pytest.raises(SuiteError) as info:
        expand(load_suite(p))
    msg = str(info.value)
    assert msg.startswith(f"{p}: suite.imports = 'usermod_fail': ") and raised in msg, msg
    assert "\n" not in msg and info.value.field == "suite.imports"
    code = main(["bench", str(p), "--out", str(tmp_path / "o.csv"), "--only", "NONE",
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "usermod_fail" in err
    _one_error_line(err)


# ------------------------------------------------------------------ G8: size_key and seeds
@pytest.mark.parametrize(("entry", "needle"), [
    ('sizes = {n_users = [4, 8]}\nsize_key = "n_servers"\n', "known sizes (cases[0].sizes): "
                                                             "n_users"),
    ('sizes = [{n_users = 4}, {n_servers = 3}]\nsize_key = "n_users"\n',
     "known sizes (cases[0].sizes[1]): n_servers"),
    ('size_key = "n_users"\n', "the entry has no sizes"),
    ('sizes = {mode = ["a", "b"]}\nsize_key = "mode"\n', "not all numbers"),
    ('sizes = {n_users = [true]}\nsize_key = "n_users"\n', "not all numbers"),
])
def test_size_key_must_name_a_numeric_size(entry: str, needle: str) -> None:
    text = '[[cases]]\nproblem = "offloading.assignment"\n' + entry
    with pytest.raises(SuiteError) as info:
        parse_suite(text, source="sk.toml")
    msg = str(info.value)
    assert msg.startswith("sk.toml: cases[0].size_key = ") and needle in msg, msg
    assert info.value.field == "cases[0].size_key"


def test_a_size_key_that_names_a_size_sets_the_primary_size() -> None:
    s = parse_suite(SUITE.replace("[4, 8]}", "[4, 8], n_servers = [3]}") +
                    'size_key = "n_servers"\nmethods = ["greedy_latency"]\n', source="ok.toml")
    assert {c.size for c in expand(s)} == {3.0}


@pytest.mark.parametrize("seed", [2**62 + 1, 2**63, 10**30, -1])
def test_seeds_outside_the_generators_range_are_refused(seed: int) -> None:
    """Seeds up to 2**63 - 1 were accepted by suites although every generator refuses those
    above 2**62 (the case failed when it ran)."""
    with pytest.raises(SuiteError, match=r"cases\[0\]\.seeds = .*\[0, 2\*\*62\]"):
        parse_suite(SUITE + f"seeds = [0, {seed}]\n", source="seeds.toml")


def test_the_largest_seed_is_accepted_and_generates() -> None:
    s = parse_suite(SUITE + f"seeds = [{2**62}]\nmethods = ['greedy_latency']\n",
                    source="ok.toml")
    assert {c.seed for c in expand(s)} == {2**62}
    assert ao.Scenario.generate(3, 1, 1, seed=2**62).n_users == 3


def test_a_byte_order_mark_is_read_past_by_every_text_loader(tmp_path: Path) -> None:
    """Editors on Windows start UTF-8 files with a byte-order mark; every text loader reads
    the file as without it (the gains CSV said "could not convert '\\ufeff0.1'", the position
    trace "needs columns slot,user,x,y" of a header it had, the suite "Invalid statement")."""
    from aigc_opt import Scenario
    from aigc_opt.problems.migration.mobility import positions_from_csv
    from aigc_opt.problems.wpmec.data import WpmecBatch

    bom = b"\xef\xbb\xbf"

    def write(name: str, text: str) -> Path:
        p = tmp_path / name
        p.write_bytes(bom + text.encode())
        return p

    assert WpmecBatch.from_file(write("g.csv", "0.1,0.2\n0.3,0.4\n")).gains.shape == (2, 2)
    xy = positions_from_csv(str(write("xy.csv", "slot,user,x,y\n0,0,1,2\n1,0,2,3\n")))
    assert xy.shape == (2, 1, 2) and xy[1, 0, 1] == 3
    assert {c.sizes["n_users"] for c in expand(load_suite(write("s.toml", SUITE)))} == {4, 8}
    scn = Scenario.generate(n_users=2, n_servers=1, n_models=1, seed=0)
    plain = tmp_path / "scn.json"
    scn.save(plain)
    back = Scenario.load(write("bom.json", plain.read_text()))
    assert back.to_dict() == scn.to_dict()
