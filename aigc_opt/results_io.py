"""Strict reading of results files for :mod:`aigc_opt.results`: the cells it interprets, where a
row came from, and the checks of a frame that is already tidy (a Parquet file).

Cells
-----
:func:`aigc_opt.export.read_rows` already refuses a results CSV with bad quoting, a wrong
field count, or a numeric or flag cell that does not parse. :func:`parse_cells` adds the cells
that :func:`aigc_opt.results.load` interprets further:

``seed``
    An integer in ``[0, 2**63 - 1]`` (what the ``Int64`` column holds), or empty.
``status``
    ``ok``, ``error``, ``timeout`` or ``crashed`` (:data:`STATUSES`), or empty.
``sense``
    ``min`` or ``max``, or empty.
``sizes``
    ``name=value`` parts separated by commas, with non-empty, distinct names; or empty.
``params``
    A JSON object nested at most :data:`MAX_JSON_DEPTH` levels deep, or empty.
``metrics_extra``
    A JSON object whose values are numbers (or ``null``), or empty.
``key``
    Non-empty (it names the case; ``--resume`` and the last-row-per-case rule use it).
``termination``
    A :class:`~aigc_opt.result.Termination` value, or empty (a run that failed before solving).
Numbers (:data:`RANGES`; empty or NaN always passes)
    Durations in s (``*_seconds``, ``time_limit``) and ``max_violation`` (a relative
    violation, 0 when none) ``>= 0``; ``mip_gap`` (a ratio, 1) in ``[0, 1]``,
    ``hit_ratio`` (1) ``>= 0``; ``n_violations`` (a count) an integer ``>= 0``.

A bad cell of a results CSV raises :class:`aigc_opt.export.CsvFormatError` naming the file, the
line, the column and the value; one of a Parquet file or of rows given in memory raises a
:class:`~aigc_opt.errors.ValidationError` whose field is the column, naming the row (and file).

Tidy files
----------
A file whose frame has ``usable`` or ``size_name`` claims to be tidy already (written by
:func:`aigc_opt.results.to_parquet`) and is not parsed again; :func:`check_tidy` checks that it
has the columns the summaries use, with sensible dtypes and values, and that its stored
``attrs`` have the types :func:`aigc_opt.results.load` gives them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import export
from .errors import ValidationError
from .result import Termination
from .validate import check_regular_file

#: Largest seed a results file can hold (``Int64``).
SEED_MAX = 2**63 - 1

#: Valid ``status`` cells (how a case run ended).
STATUSES: frozenset[str] = frozenset(
    {export.STATUS_OK, export.STATUS_ERROR, export.STATUS_TIMEOUT, export.STATUS_CRASHED})

#: Deepest nesting of the JSON in a ``params`` cell.
MAX_JSON_DEPTH = 64

#: Columns of text labels.
LABEL_COLUMNS: tuple[str, ...] = (
    "key", "suite", "problem", "variant", "params", "sizes", "method", "reference", "status",
    "termination", "scenario_hash", "error", "message", "python", "sense", "revision",
)

#: Boolean flags (nullable: a row that failed before solving has none).
FLAG_COLUMNS: tuple[str, ...] = ("has_solution", "feasible", "verified")

#: Columns a tidy frame (a Parquet file from :func:`aigc_opt.results.to_parquet`) must have.
TIDY_COLUMNS: tuple[str, ...] = (
    "problem", "method", "variant", "params", "sizes", "status", "termination", "sense",
    "size_name", *FLAG_COLUMNS, "usable",
)

#: Valid ``termination`` cells (the solver's outcome, :class:`~aigc_opt.result.Termination`).
TERMINATIONS: frozenset[str] = frozenset(t.value for t in Termination)

#: Numeric columns with a range by definition: column -> (low, high, integer, what it is).
RANGES: dict[str, tuple[float, float, bool, str]] = {
    **{c: (0.0, math.inf, False, "a duration in s") for c in (
        "instance_seconds", "build_seconds", "solve_seconds", "evaluate_seconds",
        "wall_seconds", "time_limit")},
    "mip_gap": (0.0, 1.0, False, "a relative gap tolerance (1)"),
    # hits / requests: the caching referee lets edge service exceed demand within its
    # tolerance, so a written ratio may be 1 + 1e-9 (no upper bound is checked)
    "hit_ratio": (0.0, math.inf, False, "a ratio (1)"),
    "n_violations": (0.0, math.inf, True, "a count"),
    "max_violation": (0.0, math.inf, False, "a relative violation (1)"),
}

#: Cells :func:`parse_cells` reads.
CELL_COLUMNS: tuple[str, ...] = ("seed", "status", "sense", "sizes", "params", "metrics_extra",
                                 "key", "termination", *RANGES)

_INTEGER = re.compile(r"[+-]?[0-9]{1,25}")
_LIST_ATTRS = ("size_columns", "param_columns", "metric_columns", "absent_columns")


class BadCell(ValueError):
    """A cell that does not parse; the message is the reason (the caller adds the place)."""


@dataclass(frozen=True)
class Origin:
    """Where a row came from, for error messages.

    Parameters
    ----------
    path : str or None
        The file, or None for rows given in memory.
    index : int
        The row's 0-based position: among the records of a results CSV (``csv``), else among
        the rows of the file or of the given rows.
    csv : bool
        Whether ``path`` is a results CSV (errors are then :class:`export.CsvFormatError`
        naming the line).
    """

    path: str | None
    index: int
    csv: bool = False


@dataclass
class Cells:
    """The parsed cells of :func:`parse_cells`, one entry per row."""

    seeds: list[int | None] = field(default_factory=list)
    sizes: list[dict[str, Any]] = field(default_factory=list)
    params: list[dict[str, Any]] = field(default_factory=list)
    extra: list[dict[str, Any]] = field(default_factory=list)


# ---------------------------------------------------------------------------------- cells
def _scalar(text: str) -> Any:
    """``"10"`` -> 10, ``"0.1"`` -> 0.1, ``"True"``/``"true"`` -> True, else the text."""
    t = text.strip()
    if t.lower() in ("true", "false"):
        return t.lower() == "true"
    try:
        return int(t)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        return t


def parse_sizes(text: Any) -> dict[str, Any]:
    """``"n_models=4,n_servers=3"`` -> ``{"n_models": 4, "n_servers": 3}`` (typed values);
    lenient: parts without ``=`` are skipped (:func:`sizes_cell` refuses them)."""
    out: dict[str, Any] = {}
    if not isinstance(text, str):
        return out
    for part in text.split(","):
        k, sep, v = part.partition("=")
        if sep and k.strip():
            out[k.strip()] = _scalar(v)
    return out


def _missing(v: Any) -> bool:
    if v is None or v is pd.NA:
        return True
    if isinstance(v, float | np.floating):
        return bool(np.isnan(v))
    return isinstance(v, str) and not v.strip()


def seed_cell(v: Any) -> int | None:
    """A seed cell as an int in ``[0, SEED_MAX]``, None when empty; :class:`BadCell` else."""
    if _missing(v):
        return None
    n: int | None = None
    if isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_):
        n = int(v)
    elif isinstance(v, float | np.floating) and math.isfinite(v) and float(v).is_integer():
        n = int(v)
    elif isinstance(v, str) and _INTEGER.fullmatch(v.strip()):
        n = int(v.strip())
    if n is None or not 0 <= n <= SEED_MAX:
        raise BadCell("not an integer in [0, 2**63 - 1]")
    return n


def choice_cell(v: Any, allowed: Iterable[str], *, required: bool = False) -> str:
    """A label that must be one of ``allowed`` ("" when empty and not ``required``)."""
    if _missing(v):
        if not required:
            return ""
        raise BadCell(f"empty; every row needs one of {', '.join(sorted(allowed))}")
    if not isinstance(v, str) or v not in allowed:
        empty = "" if required else " (or empty)"
        raise BadCell(f"unknown value; expected one of {', '.join(sorted(allowed))}{empty}")
    return v


def range_cell(v: Any, column: str) -> None:
    """:class:`BadCell` when a number of a :data:`RANGES` column is outside its range (empty
    and NaN pass; text that is no number is left to the reader of the column)."""
    if _missing(v) or isinstance(v, bool | np.bool_):
        return
    try:
        x = float(v)
    except (TypeError, ValueError):
        return
    lo, hi, integer, what = RANGES[column]
    if not lo <= x <= hi or (integer and not x.is_integer()):
        span = f">= {lo:g}" if hi == math.inf else f"in [{lo:g}, {hi:g}]"
        raise BadCell(f"out of range: {what} must be {'an integer ' * integer}{span} "
                      "(or empty)")


def sizes_cell(v: Any) -> dict[str, Any]:
    """``"n_models=4,n_users=10"`` -> ``{"n_models": 4, "n_users": 10}``; every part must be
    ``name=value`` with a distinct non-empty name ({} when empty)."""
    if _missing(v):
        return {}
    if not isinstance(v, str):
        raise BadCell("not 'name=value,...' text")
    out: dict[str, Any] = {}
    for part in v.split(","):
        k, sep, val = part.partition("=")
        if not sep or not k.strip():
            raise BadCell(f"part {part.strip()[:40]!r} is not name=value")
        if k.strip() in out:
            raise BadCell(f"size {k.strip()!r} is given twice")
        out[k.strip()] = _scalar(val)
    return out


def _too_deep(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        x, depth = stack.pop()
        if depth > limit:
            return True
        children = x.values() if isinstance(x, dict) else x if isinstance(x, list) else ()
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def json_cell(v: Any, *, numbers: bool = False) -> dict[str, Any]:
    """A JSON-object cell as a dict ({} when empty); with ``numbers`` every value must be a
    number, a boolean or null. :class:`BadCell` for text that is not such an object."""
    if _missing(v):
        return {}
    if isinstance(v, Mapping):
        value: Any = dict(v)
    elif not isinstance(v, str):
        raise BadCell("not JSON text")
    else:
        try:
            value = json.loads(v)
        except RecursionError:
            raise BadCell(f"JSON nested too deeply (more than {MAX_JSON_DEPTH} levels)") from None
        except ValueError as exc:  # JSONDecodeError, or an integer literal of > 4300 digits
            raise BadCell(f"not valid JSON ({exc})") from None
    if _too_deep(value, MAX_JSON_DEPTH):  # (Python 3.13's decoder parses what 3.11's
        raise BadCell(f"JSON nested too deeply (more than {MAX_JSON_DEPTH} levels)")  # refuses)
    if not isinstance(value, dict):
        raise BadCell(f"not a JSON object (a JSON {type(value).__name__})")
    if numbers:
        for k, x in value.items():
            if x is not None and not isinstance(x, int | float):
                raise BadCell(f"metric {str(k)[:40]!r} = {str(x)[:40]!r} is not a number")
    return value


# ---------------------------------------------------------------------------------- errors
def csv_line(path: str, index: int) -> int:
    """The physical line of the ``index``-th record of a results CSV (as read by
    :func:`aigc_opt.export.read_rows`, which skips blank lines)."""
    try:
        text = Path(path).read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return index + 2
    n = -1
    for lineno, raw in enumerate(text.split("\n")[1:], start=2):
        if raw.rstrip("\r"):
            n += 1
            if n == index:
                return lineno
    return index + 2


def cell_error(origin: Origin, column: str, value: Any, reason: str) -> ValidationError:
    """The error for a bad cell: :class:`export.CsvFormatError` (file, line, column, value)
    for a results CSV, else a ValidationError whose field is the column, naming the row."""
    if origin.csv and origin.path is not None:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        return export.CsvFormatError(origin.path, csv_line(origin.path, origin.index),
                                     f"column {column} = {shown}: {reason}")
    where = f"row {origin.index}" + (f" of {origin.path}" if origin.path else "")
    return ValidationError(column, "-", value, f"{reason} ({where})")


def parse_cells(columns: Mapping[str, Sequence[Any]], origins: Sequence[Origin]) -> Cells:
    """Parse the :data:`CELL_COLUMNS` of rows (``columns``: column -> one value per row; a
    missing column is empty), row by row so that the first bad row is the one reported.

    Every row of a file with a ``status`` (``key``) column has a status (a key); a size that
    is a number in some rows cannot be text in others (``n_users=abc``).
    """
    n = len(origins)
    empty: list[Any] = [None] * n
    seed, status, sense, sizes, params, extra, key, termination = (
        columns.get(c, empty) for c in CELL_COLUMNS[:8])
    ranged = [(c, columns[c]) for c in RANGES if c in columns]
    out = Cells()
    for i in range(n):
        column, value = "key", key[i]
        try:
            if "key" in columns and _missing(value):
                raise BadCell("empty; every row names its case")
            column, value = "termination", termination[i]
            choice_cell(value, TERMINATIONS)
            for column, cells in ranged:
                value = cells[i]
                range_cell(value, column)
            column, value = "seed", seed[i]
            out.seeds.append(seed_cell(value))
            column, value = "status", status[i]
            choice_cell(value, STATUSES, required="status" in columns)
            column, value = "sense", sense[i]
            choice_cell(value, ("min", "max"))
            column, value = "sizes", sizes[i]
            out.sizes.append(sizes_cell(value))
            column, value = "params", params[i]
            out.params.append(json_cell(value))
            column, value = "metrics_extra", extra[i]
            out.extra.append(json_cell(value, numbers=True))
        except BadCell as exc:
            raise cell_error(origins[i], column, value, str(exc)) from None
    _check_size_types(out.sizes, sizes, origins)
    return out


#: Words a size may take beside numbers (``load = ["none", 0.5]``: fixed capacity or a target
#: utilisation; TOML has no null): such a column is read as text, not refused.
SIZE_WORDS = frozenset({"none", "null", "profile"})


def _check_size_types(parsed: list[dict[str, Any]], cells: Sequence[Any],
                      origins: Sequence[Origin]) -> None:
    """BadCell-style error for the first row whose size is text where other rows give a
    number for it (a number column must not silently become a text column), unless the text
    is one of :data:`SIZE_WORDS`."""
    numeric = {k for d in parsed for k, v in d.items()
               if isinstance(v, int | float) and not isinstance(v, bool)}
    for i, d in enumerate(parsed):
        for k, v in d.items():
            if k in numeric and isinstance(v, str) and v.strip().lower() not in SIZE_WORDS:
                raise cell_error(origins[i], "sizes", cells[i], f"size {k!r} = {v[:20]!r} is "
                                 "not a number, while other rows give numbers for it")


# ---------------------------------------------------------------------------------- files
def is_tidy(frame: pd.DataFrame) -> bool:
    """Whether a frame claims to be tidy already (has ``usable`` or ``size_name``)."""
    return "usable" in frame or "size_name" in frame


def _csv_rows(p: Path) -> tuple[list[dict[str, Any]], list[Origin]]:
    """The rows of a results CSV (the last per key) and their origins; the cells of the
    superseded rows are checked too, so that a bad cell is refused wherever it is."""
    rows = export.read_rows(p, history=True)
    origins = [Origin(str(p), i, csv=True) for i in range(len(rows))]
    kept = export.latest_indices(rows)
    old = sorted(set(range(len(rows))) - set(kept))
    if old:
        parse_cells({c: [rows[i][c] for i in old] for c in CELL_COLUMNS if c in rows[0]},
                    [origins[i] for i in old])
    return [rows[i] for i in kept], [origins[i] for i in kept]


def results_header(path: str | Path) -> list[str]:
    """The header of the results CSV ``path``, which an input must have.

    :func:`aigc_opt.export.read_rows` reads a file without a whole header line (0 bytes, or a
    prefix of the header cut by a kill) as no rows, so that ``bench --resume`` starts such a
    file afresh; an input to ``summary`` / ``report`` / ``plot`` / :func:`aigc_opt.results.load`
    without one is no results file (it gave an empty table and exit status 0).

    Raises
    ------
    ValidationError
        A missing, non-regular or too large file (:func:`~aigc_opt.validate.check_regular_file`).
    aigc_opt.export.ForeignFileError
        Naming the file, when it has no header line or one that is not a results header.
    """
    p = check_regular_file(path, "results CSV")  # (size cap before any byte is read)
    header = export.check_results_file(p)
    with open(p, "rb") as fh:  # ('key,sta' is read as a cut header, not as two columns)
        whole = fh.readline(1 << 20).endswith(b"\n")
    if header is None or not whole:
        size = p.stat().st_size
        raise export.ForeignFileError(p, "is not an aigc-opt results CSV (no header line: "
                                         + ("the file is empty)" if size == 0 else
                                            f"{size} bytes without a newline)"))
    return header


def read_file(source: str | Path) -> tuple[pd.DataFrame, list[Origin]]:
    """One results file as a frame and the origin of each row ([] for a tidy frame, which
    :func:`check_tidy` has checked)."""
    p = Path(source)
    if p.suffix == ".parquet":
        try:
            frame = pd.read_parquet(p)
        except ImportError:
            raise
        except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file
            raise ValidationError("path", "-", str(p), f"cannot read Parquet: {exc}") from None
        origins = [Origin(str(p), i) for i in range(len(frame))]
        columns = [str(c) for c in frame.columns]
        if not is_tidy(frame) and not export.is_results_header(columns):
            # (a foreign Parquet file was read as raw rows, every status blank)
            raise export.ForeignFileError(p, "is not an aigc-opt results file (neither tidy "
                                             f"results nor raw rows: columns {columns[:5]})")
    else:
        header = results_header(p)
        core = export.REQUIRED_COLUMNS[1:]
        if not any(c in header for c in core):
            # a 'key,value' file passed for results: every core column would be blank
            raise export.ForeignFileError(p, "is not an aigc-opt results CSV (its header has "
                                             f"none of {', '.join(core)})")
        rows, origins = _csv_rows(p)
        frame = pd.DataFrame(rows)
        frame["source"] = p.name
    if is_tidy(frame):
        check_tidy(frame, str(p))
        return frame, []
    return frame, origins


def read_files(sources: Sequence[str | Path]) -> tuple[pd.DataFrame, list[Origin]]:
    """Several results files as one frame (attrs of the first) and the rows' origins; a mix of
    tidy and raw files is refused (they cannot be concatenated)."""
    parts = [read_file(s) for s in sources]
    tidy = [is_tidy(f) for f, _ in parts]
    if any(tidy) and not all(tidy):
        names = [str(s) for s, t in zip(sources, tidy, strict=True) if t]
        raise ValidationError("sources", "-", [str(s) for s in sources], "mixes tidy results "
                              f"({', '.join(names)}) with raw results CSVs; load them apart")
    if len(parts) == 1:
        return parts[0]
    frame = pd.concat([f for f, _ in parts], ignore_index=True)
    frame.attrs = dict(parts[0][0].attrs)
    return frame, [o for _, origins in parts for o in origins]


# ---------------------------------------------------------------------------------- tidy
def float_columns(columns: Iterable[Any]) -> list[str]:
    """The columns of a results frame that hold floats (measurements, metrics, times)."""
    return [str(c) for c in columns if c in export.METRIC_COLUMNS or c in (
        "size", "objective", "bound", "gap", "eval_objective", "time_limit", "mip_gap")
        or str(c).endswith("_seconds")]


def _holds(s: pd.Series, kinds: type | tuple[type, ...]) -> bool:
    return bool(s.map(lambda v: _missing(v) or isinstance(v, kinds)).all())


def _bad_dtype(path: str, column: str, s: pd.Series, what: str) -> ValidationError:
    return ValidationError(column, "-", str(s.dtype), f"a column of tidy results must hold "
                           f"{what}; in {path}")


def check_tidy(frame: pd.DataFrame, path: str) -> None:
    """ValidationError naming ``path`` and the column or attr when a frame that claims to be
    tidy lacks a :data:`TIDY_COLUMNS` column, has one of an unusable dtype or value, or stored
    attrs of the wrong type."""
    missing = [c for c in TIDY_COLUMNS if c not in frame]
    if missing:
        raise ValidationError("columns", "-", missing, "tidy results (with 'usable' and "
                              f"'size_name') need the column(s) {', '.join(missing)}, missing "
                              f"from {path}")
    _check_attrs(frame.attrs, path)
    for c in (*LABEL_COLUMNS, "size_name"):
        s = frame[c] if c in frame else pd.Series([], dtype="string")
        if not (_holds(s, str) if s.dtype == object else pd.api.types.is_string_dtype(s.dtype)):
            raise _bad_dtype(path, c, s, "text")
    for c in (*FLAG_COLUMNS, "usable"):
        s = frame[c]
        if not (pd.api.types.is_bool_dtype(s.dtype) or _holds(s, (bool, np.bool_))) or (
                c == "usable" and s.isna().any()):
            raise _bad_dtype(path, c, s, "booleans" + (" without gaps" if c == "usable" else ""))
    metrics = frame.attrs.get("metric_columns", [])
    for c in [*float_columns(frame.columns), *(m for m in metrics if m in frame)]:
        s = frame[c]
        if not pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
            raise _bad_dtype(path, str(c), s, "numbers")
    if "seed" in frame and not (pd.api.types.is_integer_dtype(frame["seed"].dtype)
                                or frame["seed"].isna().all()):
        raise _bad_dtype(path, "seed", frame["seed"], "integers")
    checks = [("seed", seed_cell), ("status", lambda v: choice_cell(v, STATUSES)),
              ("sense", lambda v: choice_cell(v, ("min", "max"))),
              ("termination", lambda v: choice_cell(v, TERMINATIONS)),
              *((c, lambda v, c=c: range_cell(v, c)) for c in RANGES)]
    for c, check in checks:
        for i, v in enumerate(frame[c].tolist() if c in frame else []):
            try:
                check(v)
            except BadCell as exc:
                raise cell_error(Origin(path, i), c, v, str(exc)) from None


def _check_attrs(attrs: Mapping[str, Any], path: str) -> None:
    def bad(name: str, what: str) -> ValidationError:
        return ValidationError(f"attrs[{name!r}]", "-", attrs[name], f"stored attr of tidy "
                               f"results must be {what}; in {path}")

    for name in _LIST_ATTRS:
        v = attrs.get(name, [])
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise bad(name, "a list of column names")
    for name in ("sense_source", "units"):
        v = attrs.get(name, {})
        if not isinstance(v, dict) or not all(isinstance(x, str) for x in (*v, *v.values())):
            raise bad(name, "a table of names to text")
    if not isinstance(attrs.get("masked", False), bool):
        raise bad("masked", "true or false")


def read_rows(path: str | Path, *, history: bool = False) -> list[dict[str, Any]]:
    """:func:`aigc_opt.export.read_rows` plus the cell checks of :func:`parse_cells` on every
    row (superseded ones too): the strict reader for code that works on row dicts. A file
    without a header line is refused (:func:`results_header`)."""
    results_header(path)
    rows = export.read_rows(path, history=True)
    parse_cells({c: [r[c] for r in rows] for c in CELL_COLUMNS if rows and c in rows[0]},
                [Origin(str(path), i, csv=True) for i in range(len(rows))])
    return rows if history else export.latest_rows(rows)


# ---------------------------------------------------------------------------------- fits
def fit_power_law(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray
                  ) -> tuple[float, float, float]:
    """Least-squares fit of ``y = a x^b`` on log-log axes: ``(a, b, r2)`` (NaN when fewer than
    two distinct positive ``x``)."""
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = (xa > 0) & (ya > 0) & np.isfinite(xa) & np.isfinite(ya)
    lx, ly = np.log(xa[ok]), np.log(ya[ok])
    if np.unique(lx).size < 2:
        return math.nan, math.nan, math.nan
    b, loga = np.polyfit(lx, ly, 1)
    resid = ly - (loga + b * lx)
    ss = float(np.sum((ly - ly.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid**2)) / ss if ss > 0 else 1.0
    return float(np.exp(loga)), float(b), r2



# ---------------------------------------------------------------------------------- parquet
def to_parquet(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` as Parquet (needs ``pyarrow``: ``pip install aigc-opt[parquet]``); the
    units and column groups travel in the file's metadata (``df.attrs``). A path that cannot
    be written (missing directory, a directory, no permission) is a ValidationError naming it."""
    try:
        import pyarrow  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("Parquet export needs pyarrow: pip install 'aigc-opt[parquet]'"
                          ) from exc
    p = Path(path)
    try:
        df.to_parquet(p, index=False)
    except OSError as exc:
        raise ValidationError("path", "-", str(p), f"cannot write Parquet: {exc}") from None
    return p
