"""Request traces of the caching family as CSV files: ``slot,server,model,count`` rows, and
published per-request logs (one row per request with a timestamp) binned into slots.

A trace is the request-count array ``R[t, s, m]`` of a
:class:`~aigc_opt.problems.caching.data.CachingInstance` (integer counts >= 0); only its nonzero
entries are written. Use :meth:`CachingInstance.with_requests` to put a loaded trace on a network,
and :meth:`CachingInstance.generate` for seeded synthetic (Zipf, drifting) traces.
:func:`load_event_log_csv` reads request logs such as BurstGPT or the Azure LLM inference traces
into an :class:`EventTrace` (the counts with the model and server names and the slot clock); both
live in :mod:`aigc_opt.problems.caching.event_log` and are importable from here.
"""

from __future__ import annotations

import csv
import itertools
import logging
import math
from pathlib import Path

import numpy as np

from aigc_opt.errors import ValidationError
from aigc_opt.validate import (
    MAX_ENTRIES,
    check_entries,
    check_int,
    check_path,
    first_underscore,
    is_number,
    read_text,
)

from .data import validate_requests
from .event_log import SERVER_RULES, EventTrace, _lines, load_event_log_csv

__all__ = ["SERVER_RULES", "TRACE_COLUMNS", "EventTrace", "load_event_log_csv", "load_trace_csv",
           "save_trace_csv"]

logger = logging.getLogger(__name__)

TRACE_COLUMNS = ("slot", "server", "model", "count")


def save_trace_csv(requests: np.ndarray, path: str | Path) -> None:
    """Write the nonzero counts of ``R[t, s, m]`` as CSV rows ``slot,server,model,count``.

    The first line is a comment ``# shape,T,S,M`` so that the trace's size round-trips.
    """
    r = validate_requests(requests)
    t, s, m = np.nonzero(r)
    with Path(path).open("w", newline="") as fh:
        fh.write(f"# shape,{r.shape[0]},{r.shape[1]},{r.shape[2]}\n")
        w = csv.writer(fh)
        w.writerow(TRACE_COLUMNS)
        w.writerows(zip(t.tolist(), s.tolist(), m.tolist(), r[t, s, m].astype(np.int64).tolist(),
                        strict=True))


def load_trace_csv(path: str | Path, *, n_slots: int | None = None, n_servers: int | None = None,
                   n_models: int | None = None, max_entries: int | None = None) -> np.ndarray:
    """Read a trace written by :func:`save_trace_csv` (or any ``slot,server,model,count`` CSV;
    other columns are ignored with a logged warning naming them; a row with more cells than
    the header has columns is refused, naming the file and line).

    Sizes given as arguments win over the file's ``# shape`` line; missing ones are taken from
    it, else inferred as ``max id + 1``. Raises :class:`ValidationError` naming the column for
    an unreadable file, a missing column, a non-integer or negative value, an id out of range
    (e.g. an unknown model) or a duplicate (slot, server, model) row; every message names the
    file and line. A trace whose array ``T x S x M`` would exceed ``max_entries`` entries
    (default :data:`aigc_opt.validate.MAX_ENTRIES`, 1e7) is refused before allocating. A file
    with the ``# shape`` line of :func:`save_trace_csv` must end with a newline (a cut file
    would read as a smaller last count).
    """
    p = check_path("path", path)
    try:
        return _load_trace(p, [check_int(name, v, "-", 1, optional=True) for name, v in (
            ("n_slots", n_slots), ("n_servers", n_servers), ("n_models", n_models))],
            MAX_ENTRIES if max_entries is None else check_int("max_entries", max_entries, "-", 1))
    except ValidationError as exc:
        raise (exc if exc.field == "path" else exc.located(str(p))) from None


def _load_trace(p: Path, shape: list[int | None], max_entries: int) -> np.ndarray:
    text = read_text(p, "trace file")
    body, skip = text, 0  # the CSV, and the lines before it (the '# shape' comment)
    if text.startswith("#"):
        line1 = next(_lines(text))
        body, skip, top = text[len(line1):], 1, line1.rstrip("\r\n")
        parts = top.lstrip("#").strip().split(",")
        if parts[0].strip() == "shape" and len(parts) == 4:
            try:
                dims = [int(x) for x in parts[1:]]
            except ValueError as exc:
                raise ValidationError("shape", "-", top, "bad '# shape,T,S,M' line") from exc
            if min(dims) < 1:
                raise ValidationError("shape", "-", top, "line 1: sizes must be >= 1")
            shape = [a if a is not None else b for a, b in zip(shape, dims, strict=True)]
            if not text.endswith(("\n", "\r")):  # save_trace_csv ends every line
                raise ValidationError("path", "-", str(p), "truncated: a trace with a "
                                      "'# shape' line must end with a newline (its last "
                                      "count may be cut)")
    try:
        cells, at = _trace_cells(p, body, skip)
    except csv.Error as exc:
        raise ValidationError("path", "-", str(p), f"not a valid CSV file: {exc}") from exc
    data = _trace_numbers(cells, at)
    dims = [int(d) if d is not None else int(data[:, j].max(initial=-1)) + 1
            for j, d in enumerate(shape)]
    for j, col in enumerate(TRACE_COLUMNS[:3]):
        bad = data[:, j] >= dims[j]
        if bad.any():
            i = int(np.argmax(bad))
            what = {"model": "unknown model id", "server": "unknown server id",
                    "slot": "slot beyond the horizon"}[col]
            raise ValidationError(col, "-", int(data[i, j]),
                                  f"line {at[i]}: {what} (valid: 0..{dims[j] - 1})")
    if min(dims) < 1:
        raise ValidationError("requests", "request", tuple(dims), "empty trace")
    check_entries("n_slots*n_servers*n_models", dims[0] * dims[1] * dims[2], max_entries)
    key = (data[:, 0] * dims[1] + data[:, 1]) * dims[2] + data[:, 2]
    order = np.argsort(key, kind="stable")  # equal keys keep their file order
    twice = key[order[1:]] == key[order[:-1]]
    if twice.any():
        k = int(np.argmin(np.where(twice, order[1:], len(key))))  # the earliest repeat
        i, first = int(order[k + 1]), int(order[k])
        raise ValidationError("slot", "-", tuple(int(v) for v in data[i, :3]),
                              f"line {at[i]}: duplicate (slot, server, model) row, first on "
                              f"line {at[first]}")
    R = np.zeros(tuple(dims))
    R[data[:, 0], data[:, 1], data[:, 2]] = data[:, 3]
    return validate_requests(R)


def _trace_cells(p: Path, body: str, skip: int) -> tuple[list[list[str]], np.ndarray]:
    """The cells of the columns ``slot,server,model,count`` and the file line of each data
    row of ``body`` (the file after its first ``skip`` lines; empty lines are skipped)."""
    plain = '"' not in body  # no quoting: a line's cells are its comma-separated parts
    rows = body.replace("\r\n", "\n").replace("\r", "\n").split("\n") if plain else []
    reader = csv.reader(_lines(body))
    header = rows[0].split(",") if plain and body else next(reader, None)
    if header is None:
        raise ValidationError("path", "-", str(p), "empty trace file (no header)")
    header = [h.strip() for h in header]
    for col in TRACE_COLUMNS:
        if col not in header:
            raise ValidationError(col, "-", header, f"missing column {col!r} in {p}")
    extra = [h for h in header if h not in TRACE_COLUMNS]
    if extra:  # documented: other columns are ignored, and said so
        logger.warning("%s: columns %s ignored (a trace reads %s)", p, extra,
                       ",".join(TRACE_COLUMNS))
    idx = [header.index(c) for c in TRACE_COLUMNS]
    if plain:  # common case, no per-row Python loop: every row has the header's cell count
        size = np.fromiter(map(len, rows), np.int64, len(rows))
        commas = np.fromiter(map(str.count, rows, itertools.repeat(",")), np.int64, len(rows))
        lines = np.flatnonzero(size[1:]) + 1  # index in rows of each data row
        if np.all(commas[lines] == len(header) - 1):
            flat = ",".join(filter(None, rows[1:])).split(",") if len(lines) else []
            return [flat[k::len(header)] for k in idx], lines + 1 + skip
        del rows, size, commas, lines
        next(reader)  # the header; rows of another width: read as CSV, below
    need = max(idx) + 1
    cells: list[list[str]] = [[] for _ in TRACE_COLUMNS]
    adds = list(zip(idx, [c.append for c in cells], strict=True))
    at: list[int] = []
    end = reader.line_num + skip  # last file line read
    try:
        for row in reader:  # CSV parsing is per line; the numbers are read per column
            first, end = end + 1, reader.line_num + skip  # a quoted field may span lines
            if len(row) < need:
                if not row:
                    continue
                col = TRACE_COLUMNS[next(j for j, k in enumerate(idx) if k >= len(row))]
                raise ValidationError(col, "-", ",".join(row), f"line {first}: not a number "
                                      f"({len(row)} cells, no {col!r} cell)")
            if len(row) > len(header):  # which cell is which is then a guess
                raise ValidationError("path", "-", str(p), f"line {first}: {len(row)} cells, "
                                      f"more than the header's {len(header)} (a stray comma or "
                                      "an unnamed column)")
            for k, add in adds:
                add(row[k])
            at.append(first)
    except csv.Error as exc:
        raise ValidationError("path", "-", str(p), f"not a valid CSV file at line "
                              f"{reader.line_num + skip}: {exc}") from exc
    return cells, np.array(at, dtype=np.int64)


def _trace_numbers(cells: list[list[str]], at: np.ndarray) -> np.ndarray:
    """The cells as integers in ``0..1e9`` (int64, one column each), or the first fault in the
    file (row, then column order) as an error naming its column, line and value."""
    vals = np.zeros((len(at), len(cells)))
    unread = np.zeros(vals.shape, dtype=bool)
    for j, col in enumerate(cells):
        try:
            if first_underscore(col) >= 0:  # float() reads '1_000' as 1000
                raise ValueError(col)
            vals[:, j] = np.array(col, dtype=np.float64)
        except ValueError:  # error path: which cells
            unread[:, j] = [not is_number(c) for c in col]
            vals[:, j] = [float(c) if not u else 0.0 for c, u in zip(col, unread[:, j],
                                                                    strict=True)]
    with np.errstate(invalid="ignore"):
        bad = unread | ~np.isfinite(vals) | (vals != np.round(vals)) | (vals < 0) | (vals > 1e9)
    if bad.any():
        i, j = divmod(int(np.argmax(bad)), len(cells))
        cell, v, line = cells[j][i].strip(), float(vals[i, j]), f"line {at[i]}: "
        if unread[i, j]:
            raise ValidationError(TRACE_COLUMNS[j], "-", cell, line + "not a number")
        if not math.isfinite(v) or v != round(v):
            raise ValidationError(TRACE_COLUMNS[j], "-", cell, line + "must be an integer")
        if v < 0:
            raise ValidationError(TRACE_COLUMNS[j], "-", cell, line + "must be >= 0")
        raise ValidationError(TRACE_COLUMNS[j], "-", cell, line + "out of range (ids and "
                              "counts must be <= 1e9)")
    return vals.astype(np.int64)
