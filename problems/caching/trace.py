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
import logging
import math
from pathlib import Path

import numpy as np

from aigc_opt.errors import ValidationError
from aigc_opt.validate import MAX_ENTRIES, check_entries, check_int, check_path, read_text

from .data import validate_requests
from .event_log import SERVER_RULES, EventTrace, load_event_log_csv

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
    other columns are ignored with a logged warning naming them).

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
    lines = text.splitlines()
    if lines and lines[0].startswith("#"):
        parts = lines[0].lstrip("#").strip().split(",")
        if parts[0].strip() == "shape" and len(parts) == 4:
            try:
                dims = [int(x) for x in parts[1:]]
            except ValueError as exc:
                raise ValidationError("shape", "-", lines[0], "bad '# shape,T,S,M' line") from exc
            if min(dims) < 1:
                raise ValidationError("shape", "-", lines[0], "line 1: sizes must be >= 1")
            shape = [a if a is not None else b for a, b in zip(shape, dims, strict=True)]
            if not text.endswith(("\n", "\r")):  # save_trace_csv ends every line
                raise ValidationError("path", "-", str(p), "truncated: a trace with a "
                                      "'# shape' line must end with a newline (its last "
                                      "count may be cut)")
        lines = lines[1:]
    try:
        rows = list(csv.reader(lines))
    except csv.Error as exc:
        raise ValidationError("path", "-", str(p), f"not a valid CSV file: {exc}") from exc
    if not rows:
        raise ValidationError("path", "-", str(p), "empty trace file (no header)")
    header = [h.strip() for h in rows[0]]
    for col in TRACE_COLUMNS:
        if col not in header:
            raise ValidationError(col, "-", header, f"missing column {col!r} in {p}")
    extra = [h for h in header if h not in TRACE_COLUMNS]
    if extra:  # documented: other columns are ignored, and said so
        logger.warning("%s: columns %s ignored (a trace reads %s)", p, extra,
                       ",".join(TRACE_COLUMNS))
    idx = [header.index(c) for c in TRACE_COLUMNS]
    body = [r for r in rows[1:] if r]
    first = 3 if text.startswith("#") else 2  # file line of body[0]
    data = np.zeros((len(body), 4), dtype=np.int64)
    for i, r in enumerate(body):  # CSV parsing is inherently per line
        for j, (col, k) in enumerate(zip(TRACE_COLUMNS, idx, strict=True)):
            try:
                cell = r[k].strip()
                if "_" in cell:  # float() reads '1_000' as 1000
                    raise ValueError(cell)
                val = float(cell)
            except (IndexError, ValueError) as exc:
                raise ValidationError(col, "-", r, f"line {i + first}: not a number") from exc
            if not math.isfinite(val) or val != round(val):
                raise ValidationError(col, "-", cell, f"line {i + first}: must be an integer")
            if val < 0:
                raise ValidationError(col, "-", cell, f"line {i + first}: must be >= 0")
            if val > 1e9:
                raise ValidationError(col, "-", cell, f"line {i + first}: out of range "
                                      "(ids and counts must be <= 1e9)")
            data[i, j] = int(val)
    dims = [int(d) if d is not None else int(data[:, j].max(initial=-1)) + 1
            for j, d in enumerate(shape)]
    for j, col in enumerate(TRACE_COLUMNS[:3]):
        bad = data[:, j] >= dims[j]
        if bad.any():
            what = {"model": "unknown model id", "server": "unknown server id",
                    "slot": "slot beyond the horizon"}[col]
            raise ValidationError(col, "-", int(data[bad, j][0]),
                                  f"{what} (valid: 0..{dims[j] - 1})")
    key = (data[:, 0] * dims[1] + data[:, 1]) * dims[2] + data[:, 2]
    uniq, counts = np.unique(key, return_counts=True)
    if (counts > 1).any():
        dup = int(uniq[counts > 1][0])
        raise ValidationError("slot", "-", np.unravel_index(dup, dims),
                              "duplicate (slot, server, model) row")
    if min(dims) < 1:
        raise ValidationError("requests", "request", tuple(dims), "empty trace")
    check_entries("n_slots*n_servers*n_models", dims[0] * dims[1] * dims[2], max_entries)
    R = np.zeros(tuple(dims))
    R[data[:, 0], data[:, 1], data[:, 2]] = data[:, 3]
    return validate_requests(R)
