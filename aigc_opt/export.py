"""CSV export: one flat row per benchmark case, append-safe writing, per-user tables.

The row summaries (ratios, counts, plain-text table) are in :mod:`aigc_opt.summary` and
re-exported here.

Row schema
----------
:data:`COLUMNS` is the fixed, ordered column set of a results CSV. Metric totals that a family
reports under a known name (:data:`METRIC_COLUMNS`) get their own column; any other total is
kept in ``metrics_extra`` (JSON), so the header never changes between families or runs. Per-slot
series (a family's ``per_item`` arrays whose name contains ``slot``, e.g. a caching policy's
cost per slot) go to ``series`` (JSON) for the time plots. Empty cells mean "not applicable".

``status`` says how the *case run* ended (``ok`` / ``error`` / ``timeout`` / ``crashed``);
``termination`` is the *solver's* outcome (``optimal``, ``feasible``, ``infeasible``, ...), so
``status=ok`` beside ``termination=infeasible`` is a method that returned an infeasible answer.
``feasible`` and ``verified`` are the evaluator's verdicts; ``sense`` (``min`` / ``max``) is the
direction of the problem's objective. :mod:`aigc_opt.results` loads these files as a typed
DataFrame and keeps unusable rows out of its aggregates.

Writing
-------
:class:`RowWriter` appends each row as one physical line with a single ``write`` followed by
``flush`` and ``os.fsync``: a killed run keeps every finished row and can leave at most one
partial trailing line, which :func:`repair_tail` drops on resume. Newlines inside cells are
escaped as ``\\n`` so that one record is always one line. :func:`output_lock` keeps a second
writer off a file; :func:`check_results_file` refuses (without touching) a file that is not a
results CSV; :func:`read_rows` reads strictly (a bad quote or field count is a
:class:`CsvFormatError` naming the line, never a merged row) and returns the last row per key.

Per-user export
---------------
:func:`allocation_rows` / :func:`write_result_csv` turn one Result's allocation and its Metrics
into per-user rows (one column per 1-D array of the user axis, ``name[j]`` for 2-D ones).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import logging
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ValidationError
from .summary import (  # noqa: F401  (re-exported: the row summaries live in summary.py)
    RATIO_COLUMNS,
    SUMMARY_COLUMNS,
    add_ratios,
    format_table,
    instance_id,
    summarize,
    usable_row,
)
from .validate import check_regular_file

logger = logging.getLogger(__name__)

#: Longest CSV field the readers accept, characters. Python's ``csv`` stops at 131,072 by
#: default, shorter than a per-slot ``series`` cell of a 4,000-slot online run (467,538), so a
#: file ``bench`` wrote could not be read back or resumed; the limit is raised (never lowered)
#: for the process when this module is imported.
MAX_FIELD_CHARS = 1 << 30
csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD_CHARS))

#: Packages whose versions every row records (column ``v_<name>``).
VERSIONED_PACKAGES: tuple[str, ...] = (
    "aigc_opt", "numpy", "scipy", "highspy", "cvxpy", "clarabel", "pyomo", "pyscipopt")

#: Metric totals with a column of their own (others go to ``metrics_extra``).
METRIC_COLUMNS: tuple[str, ...] = (
    "latency_mean_s", "latency_p95_s", "latency_max_s", "energy_total_j",
    "device_energy_total_j", "server_energy_total_j", "quality_mean", "utility_total",
    "cost_total", "revenue", "welfare", "hit_ratio", "n_violations", "max_violation",
)

#: Every column of a results CSV, in order.
COLUMNS: tuple[str, ...] = (
    "key",
    "suite",
    "problem",
    "variant",
    "params",
    "sizes",
    "size",
    "seed",
    "method",
    "reference",
    "sense",
    "status",
    "termination",
    "has_solution",
    "feasible",
    "verified",
    "objective",
    "bound",
    "gap",
    "eval_objective",
    "instance_seconds",
    "build_seconds",
    "solve_seconds",
    "evaluate_seconds",
    "wall_seconds",
    "time_limit",
    "mip_gap",
    *METRIC_COLUMNS,
    "metrics_extra",
    "series",
    "scenario_hash",
    "error",
    "message",
    "python",
    *(f"v_{p}" for p in VERSIONED_PACKAGES),
    "revision",
)

#: Row statuses: how the *case* ended (the solver's own outcome is ``termination``).
STATUS_OK = "ok"
STATUS_ERROR = "error"
STATUS_TIMEOUT = "timeout"
STATUS_CRASHED = "crashed"

_FLOAT_COLUMNS = frozenset(
    {"size", "objective", "bound", "gap", "eval_objective", "instance_seconds", "build_seconds",
     "solve_seconds", "evaluate_seconds", "wall_seconds", "time_limit", "mip_gap",
     *METRIC_COLUMNS}
)


@cache
def package_versions() -> dict[str, str]:
    """Installed versions of :data:`VERSIONED_PACKAGES` (``""`` when not installed)."""
    from importlib import metadata

    out: dict[str, str] = {}
    for name in VERSIONED_PACKAGES:
        dist = "aigc-opt" if name == "aigc_opt" else name
        try:
            out[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[name] = ""
    return out


@cache
def source_revision() -> str:
    """The git commit of the aigc_opt source tree that runs, ``"<sha>+dirty"`` when tracked
    files differ from it, ``""`` outside a git checkout (an installed wheel) or without git:
    rows from different code then differ in their ``revision`` even at one package version."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return ""
    try:
        def git(*args: str) -> str:
            return subprocess.run(["git", "-C", str(root), *args], capture_output=True,
                                  text=True, timeout=20, check=True).stdout.strip()

        sha = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"{sha}+dirty" if dirty else sha


def version_columns() -> dict[str, str]:
    """``{"python": ..., "v_numpy": ..., ..., "revision": ...}`` for a row."""
    import platform

    cols = {"python": platform.python_version()}
    cols.update({f"v_{k}": v for k, v in package_versions().items()})
    cols["revision"] = source_revision()
    return cols


def instance_hash(instance: Any) -> str:
    """Stable content hash of an instance: ``instance.digest()`` when it has one, else a SHA-256
    (first 16 hex digits) over its dataclass fields (arrays by bytes, dtype and shape; other
    values by ``repr``)."""
    import hashlib

    digest = getattr(instance, "digest", None)
    if callable(digest):
        return str(digest())
    h = hashlib.sha256(type(instance).__qualname__.encode())
    if dataclasses.is_dataclass(instance) and not isinstance(instance, type):
        items: Iterable[tuple[str, Any]] = (
            (f.name, getattr(instance, f.name)) for f in dataclasses.fields(instance)
        )
    else:
        items = sorted(vars(instance).items()) if hasattr(instance, "__dict__") else [
            ("repr", instance)]
    for name, value in items:
        h.update(name.encode())
        if isinstance(value, np.ndarray):
            h.update(str((value.dtype.str, value.shape)).encode())
            h.update(np.ascontiguousarray(value).tobytes())
        else:
            h.update(repr(value).encode())
    return h.hexdigest()[:16]


#: Totals that fill a column of another name (they were left in ``metrics_extra`` only).
_ALIASES = {"cost": "cost_total", "utility": "utility_total", "social_welfare": "welfare"}


def metrics_columns(metrics: Any, n_slots: int | None = None) -> dict[str, Any]:
    """Row cells from a :class:`aigc_opt.Metrics`: known totals, ``metrics_extra``, ``series``,
    ``feasible`` and ``eval_objective``.

    ``series`` holds time series for the plots: every 1-D ``per_item`` array whose name contains
    ``slot``, and, when ``n_slots`` (the instance's horizon) is given, every ``per_item`` array
    whose first axis has that length, summed over its other axes (per-slot totals).
    """
    summary = dict(metrics.summary())
    out: dict[str, Any] = {"eval_objective": summary.pop("objective", math.nan),
                           "feasible": bool(metrics.feasible)}
    extra: dict[str, float] = {}
    for k, v in summary.items():
        if k in METRIC_COLUMNS:
            out[k] = v
            continue
        extra[k] = v  # a family's own name of a column's total also fills that column
        if _ALIASES.get(k) is not None and _ALIASES[k] not in summary:
            out[_ALIASES[k]] = v
    if extra:
        out["metrics_extra"] = json.dumps(extra, sort_keys=True, allow_nan=True)
    series: dict[str, list[float]] = {}
    for k, v in metrics.per_item.items():
        a = np.asarray(v)
        if a.dtype.kind not in "biuf" or a.ndim == 0:
            continue
        if "slot" in k and a.ndim == 1:
            series[k] = a.astype(float).tolist()
        elif n_slots and a.shape[0] == n_slots:
            series[k] = a.reshape(n_slots, -1).sum(axis=1).astype(float).tolist()
    if series:
        out["series"] = json.dumps(series, sort_keys=True, allow_nan=True)
    return out


# ---------------------------------------------------------------------------------- CSV I/O
def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return str(value).replace("\r", "").replace("\n", "\\n")


def format_line(row: Mapping[str, Any], columns: Sequence[str]) -> str:
    """One CSV record on one physical line (newline-terminated)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([_cell(row.get(c)) for c in columns])
    return buf.getvalue()


def write_table(path: str | Path, rows: Sequence[Mapping[str, Any]],
                columns: Sequence[str] = ()) -> None:
    """Write ``rows`` as a CSV in the results file's cell format (:func:`format_line`: one
    physical line per row, ``true``/``false``, floats by ``repr``), so that :func:`read_rows`
    reads a key-first table back exactly.

    Parameters
    ----------
    columns : sequence of str
        Leading header columns; the rows' other keys follow in first-seen order. With no rows
        the file is this header alone (it still replaces an existing file: no stale rows stay).
    """
    columns = list(dict.fromkeys([*columns, *(k for r in rows for k in r)]))
    with open(path, "w", newline="", encoding="utf-8") as fh:
        fh.write(format_line({c: c for c in columns}, columns))
        for r in rows:
            fh.write(format_line(r, columns))


class CsvFormatError(ValidationError):
    """A results CSV that cannot be read strictly (bad quoting, wrong field count, not UTF-8).

    The message names the file and the 1-based physical line.
    """

    def __init__(self, path: str | Path, line: int, reason: str) -> None:
        self.path = str(path)
        self.line = line
        ValidationError.__init__(self, "path", "-", str(path), f"line {line}: {reason}")

    def __str__(self) -> str:
        return f"{self.path}, {self.reason}"


class ForeignFileError(ValidationError):
    """An existing file that is not a results CSV of this project (left untouched)."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        ValidationError.__init__(self, "path", "-", str(path), reason)

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class OutputLockedError(RuntimeError):
    """Another process holds the lock of a results CSV (see :func:`output_lock`)."""


def is_results_header(header: Sequence[str] | None) -> bool:
    """Whether ``header`` is a results-CSV header of this project: its first column is ``key``
    and every column name is non-empty and unique (older files may lack newer columns)."""
    if not header:
        return False
    return header[0] == "key" and all(header) and len(set(header)) == len(header)


#: Columns every results CSV has held since the first format. A file to be appended to (or
#: replaced by ``bench --overwrite``) must have them: a foreign ``key,value`` file passed
#: :func:`is_results_header`, and ``bench --resume`` appended rows to it with every cell but
#: the key dropped. (Readers stay lenient: a file without some of them loads, and the
#: summaries name what is missing.)
REQUIRED_COLUMNS: tuple[str, ...] = ("key", "problem", "method", "status", "objective")


def check_results_file(path: str | Path, *, for_writing: bool = False) -> list[str] | None:
    """The header of an existing results CSV without modifying the file.

    Returns None when the file is missing, empty or holds only a cut-off prefix of the header
    (a run killed while writing it). Raises :class:`ForeignFileError` for anything else that
    is not a results CSV of this project (another CSV, binary data, a directory), and with
    ``for_writing`` for a header without every :data:`REQUIRED_COLUMNS`. Without
    ``for_writing`` (an input) the messages are those of :func:`read_rows`: a first line that
    is not UTF-8 is a :class:`CsvFormatError` naming line 1 and the byte, and none suggests
    another ``--out``.
    """
    p = Path(path)
    if not p.exists():
        return None
    if not p.is_file():
        raise ForeignFileError(p, "is not a regular file")
    with open(p, "rb") as fh:
        first = fh.readline(1 << 16)
    if not first:
        return None
    whole = first.endswith(b"\n")
    if not whole and ",".join(COLUMNS).encode().startswith(first) and \
            p.stat().st_size == len(first):
        return None
    if not whole and for_writing:
        raise ForeignFileError(p, "is not an aigc-opt results CSV (no header line); choose "
                                  "another --out")
    try:
        header = next(csv.reader([first.decode("utf-8").removeprefix("\ufeff").rstrip("\r\n")],
                                 strict=True))
    except UnicodeDecodeError as exc:  # (a character cut by the 64 KiB read is no fault)
        if not for_writing and (whole or exc.end < len(first) or len(first) < 1 << 16):
            raise CsvFormatError(p, 1, f"not UTF-8 text (byte 0x{first[exc.start]:02x}); "
                                       "results CSVs are UTF-8") from None
        header = []
    except (csv.Error, StopIteration):
        header = []
    if not is_results_header(header):
        shown = first[:40].decode("utf-8", "replace").rstrip("\r\n")
        what = "header" if whole else "first line"
        raise ForeignFileError(p, f"is not an aigc-opt results CSV ({what} {shown!r} does not "
                                  "start with 'key')" + ("; refusing to touch it" * for_writing))
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if for_writing and missing:
        raise ForeignFileError(p, f"is not an aigc-opt results CSV (its header lacks "
                                  f"{', '.join(missing)}); refusing to touch it")
    return header


def _open_lock(lock: Path) -> int:
    return os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)


@contextlib.contextmanager
def output_lock(path: str | Path) -> Iterator[Path]:
    """Hold the exclusive lock of the results CSV ``path`` while the block runs, and remove the
    lock file when it ends (success, error or interrupt).

    The lock is ``fcntl.flock`` on the sidecar file ``<path>.lock`` beside the file a symlink
    points to, which keeps the holder's pid. The file is removed while still locked, so a run
    that opened it just before takes the lock on a file that is gone: after taking it, a run
    checks that the lock file is still the one at the path and otherwise starts again (two
    runs can never hold the lock at once).

    Raises
    ------
    OutputLockedError
        Another run (or another open lock in this process) holds the lock, or the lock file
        cannot be created.
    """
    import fcntl

    p = Path(path)
    real = p.resolve()  # a symlink to the CSV must find the same lock
    lock = real.with_name(real.name + ".lock")
    while True:
        try:
            fd = _open_lock(lock)
        except OSError as exc:
            raise OutputLockedError(f"cannot create lock file {str(lock)!r}: "
                                    f"{exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise OutputLockedError(
                f"{str(p)!r} is being written by another run (pid {holder}, lock {lock.name}); "
                "wait for it or choose another --out") from None
        try:
            current = os.path.samestat(os.fstat(fd), os.stat(lock))
        except OSError:
            current = False
        if current:
            break
        os.close(fd)  # its holder removed this file after we opened it: lock the new one
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield lock
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)  # while still locked (see above)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _complete_record(header_line: bytes | str, tail: bytes | str) -> bool:
    """Whether an unterminated last line is a whole record (it parses to the header's field
    count: a file whose editor dropped the final newline) rather than a cut write."""
    try:
        h = header_line.decode("utf-8") if isinstance(header_line, bytes) else header_line
        t = tail.decode("utf-8") if isinstance(tail, bytes) else tail
        fields = next(csv.reader([t.rstrip("\r")], strict=True))
        return len(fields) == len(next(csv.reader([h.rstrip("\r")], strict=True)))
    except (UnicodeDecodeError, csv.Error, StopIteration):
        return False


def repair_tail(path: str | Path) -> int:
    """End the file on a whole line: a trailing partial line (a write cut by a kill) is
    dropped, a whole last record without its newline gets one; return the bytes removed."""
    p = Path(path)
    if not p.exists():
        return 0
    data = p.read_bytes()
    if not data or data.endswith(b"\n"):
        return 0
    keep = data.rfind(b"\n") + 1
    if keep and _complete_record(data[: data.find(b"\n")], data[keep:]):
        with open(p, "ab") as fh:
            fh.write(b"\n")
        logger.warning("%s: the last row had no final newline; added one", p)
        return 0
    with open(p, "r+b") as fh:
        fh.truncate(keep)
    logger.warning("%s: dropped a partial last line (%d bytes)", p, len(data) - keep)
    return len(data) - keep


def read_header(path: str | Path) -> list[str] | None:
    """The header of an existing CSV, or None when the file is missing or empty."""
    p = Path(path)
    if not p.exists() or p.stat().st_size == 0:
        return None
    with open(p, newline="", encoding="utf-8-sig", errors="replace") as fh:
        first = fh.readline()
    if not first.endswith("\n"):
        return None
    return next(csv.reader([first]))


class RowWriter:
    """Append rows to a results CSV, one complete line per ``write`` + ``fsync``.

    The writer does not lock: hold :func:`output_lock` around it when other processes may
    write the same file (the batch runner does).

    Parameters
    ----------
    path : path-like
        Output CSV. Created with a header when missing or empty; otherwise rows are appended with
        the existing header's columns (cells of unknown columns are dropped).
    columns : sequence of str
        Columns for a new file (default :data:`COLUMNS`).

    Raises
    ------
    ForeignFileError
        ``path`` exists and is not a results CSV of this project (it is not modified).
    """

    def __init__(self, path: str | Path, columns: Sequence[str] = COLUMNS) -> None:
        self.path = Path(path)
        header = check_results_file(self.path, for_writing=True)
        if header is not None:
            repair_tail(self.path)
        self.columns: list[str] = list(header) if header else list(columns)
        self._fh = open(self.path, "ab")
        if header is None:
            if self.path.stat().st_size:  # header line itself was partial: start over
                self._fh.truncate(0)
            self._write(",".join(self.columns) + "\n")

    def _write(self, line: str) -> None:
        self._fh.write(line.encode())
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def write(self, row: Mapping[str, Any]) -> None:
        """Append one row (a single write of one complete line, then flush and fsync)."""
        self._write(format_line(row, self.columns))

    def close(self) -> None:
        """Close the file."""
        self._fh.close()

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def latest_indices(rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Positions of the last row of every ``key`` (a rerun appends a row; earlier ones are
    history), in order; rows without a key are kept."""
    last = {str(r["key"]): i for i, r in enumerate(rows) if r.get("key")}
    return [i for i, r in enumerate(rows) if not r.get("key") or last[str(r["key"])] == i]


def latest_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Copies of the last row of every ``key`` (:func:`latest_indices`)."""
    copies = [dict(r) for r in rows]
    return [copies[i] for i in latest_indices(copies)]


def read_rows(path: str | Path, *, history: bool = False) -> list[dict[str, Any]]:
    """Read a results CSV strictly; numeric columns become floats (NaN for empty), booleans
    bools.

    Every record is one physical line (as :class:`RowWriter` writes them): a line with an
    unterminated quote or a field count other than the header's raises
    :class:`CsvFormatError` naming the file and line (rows are never merged or dropped
    silently), as does text that is not UTF-8. A trailing partial line (a write cut by a kill)
    is ignored with a warning (not removed; see :func:`repair_tail`); a last line that parses to
    the header's field count is a whole row whose final newline is missing, and is read.

    Parameters
    ----------
    history : bool
        Return every row. By default only the last row of each ``key`` is returned (a case
        rerun with ``--retry-failed`` appends a row; the earlier one stays as history).

    Raises
    ------
    CsvFormatError, ForeignFileError
        Unreadable content, or a header that is not a results header.
    ValidationError
        A missing file, not a regular file, or one above ``validate.MAX_FILE_BYTES``.
    """
    p = check_regular_file(path, "results CSV")  # (a FIFO or a 2 GiB file: refused unread)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ValidationError("path", "-", str(p), f"cannot read: {exc.strerror}") from None
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")  # a BOM some editors add
    except UnicodeDecodeError as exc:
        lineno = data.count(b"\n", 0, exc.start) + 1
        raise CsvFormatError(p, lineno, f"not UTF-8 text (byte 0x{data[exc.start]:02x}); "
                                      "results CSVs are UTF-8") from None
    if text and not text.endswith("\n"):
        cut = text.rfind("\n") + 1
        partial = text[cut:]
        if cut and _complete_record(text[: text.find("\n")], partial):
            text += "\n"  # a whole last row whose final newline was dropped (e.g. by an editor)
        else:
            # a write cut inside the header leaves a prefix of "key,..."; anything else on the
            # first line is another kind of file, not a cut results CSV
            if cut == 0 and not ("key".startswith(partial) or partial.startswith("key,")):
                raise ForeignFileError(p, f"is not an aigc-opt results CSV (first line "
                                          f"{partial[:40]!r} does not start with 'key')")
            logger.warning("%s: ignoring a partial last line", p)
            text = text[:cut]
    lines = text.split("\n")[:-1]
    if not lines:
        logger.warning("%s: no results rows (the file is empty)", p)
        return []
    try:
        header = next(csv.reader([lines[0].rstrip("\r")], strict=True))
    except csv.Error:
        header = []
    if not is_results_header(header):
        raise ForeignFileError(p, f"is not an aigc-opt results CSV (header {lines[0][:40]!r} "
                                  "does not start with 'key')")
    rows = []
    for n, raw in enumerate(lines[1:], start=2):
        line = raw.rstrip("\r")
        if not line:
            continue
        try:
            cells = next(csv.reader([line], strict=True))
        except csv.Error as exc:
            raise CsvFormatError(p, n, f"bad quoting ({exc}); one record per line expected") \
                from None
        if len(cells) != len(header):
            raise CsvFormatError(p, n, f"{len(cells)} fields, the header has {len(header)}")
        try:
            rows.append({k: _parse(k, v) for k, v in zip(header, cells, strict=True)})
        except ValueError as exc:
            raise CsvFormatError(p, n, str(exc)) from None
    return rows if history else latest_rows(rows)


def _parse(column: str, value: str | None) -> Any:
    if value is None:
        return None
    if column in _FLOAT_COLUMNS:
        try:
            return float(value) if value != "" else math.nan
        except ValueError:
            raise ValueError(f"column {column}: {value!r} is not a number") from None
    if column in ("has_solution", "feasible", "verified"):
        flag = {"true": True, "false": False, "": None}.get(value.lower(), value)
        if isinstance(flag, str):
            raise ValueError(f"column {column}: {value!r} is not true/false")
        return flag
    if column == "seed":
        return int(value) if value.lstrip("-").isdigit() else value
    if column in ("error", "message"):
        return value.replace("\\n", "\n")
    return value
