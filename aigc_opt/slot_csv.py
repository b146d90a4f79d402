"""Long-format per-slot, per-user CSV traces (``slot,user,<values...>`` with a header), the
format of the online family's position and arrival traces and the migration family's
positions: one reader, so that both refuse the same faults by name."""

from __future__ import annotations

import csv
import io
import itertools
from pathlib import Path

import numpy as np

from .errors import ValidationError
from .validate import check_path, first_underscore, is_number, read_text

#: Largest ``T x N`` a trace may span (its array is allocated before the pairs are checked).
MAX_TRACE_PAIRS = 50_000_000


def read_slot_user_csv(path: str | Path, value_columns: tuple[str, ...],
                       what: str = "trace CSV") -> np.ndarray:
    """Read ``slot,user,<value_columns...>`` into an array ``[T, N, C]``.

    Slots and users are 0-based integers (``1.9`` is refused, not read as 1); every
    ``(slot, user)`` pair in ``0..T-1 x 0..N-1`` appears exactly once (T, N from the largest
    indices); a row with another number of cells than the header, a column read twice in the
    header, a non-numeric or non-finite value and an empty file are refused. Empty lines are
    skipped; line numbers in errors count them. ``path`` is a ``str`` or
    ``os.PathLike`` (anything else is refused by name, not with ``Path``'s TypeError). The
    file is read through :func:`aigc_opt.validate.read_text` (a missing file, a directory,
    non-UTF-8 bytes or an oversized file are named).

    Raises
    ------
    ValidationError
        Naming the file, the column (``"trace <column>"`` for a bad cell) and the file line
        of the row at fault.
    """
    p = check_path("path", path)  # Path(123) had raised a bare TypeError
    text = read_text(p, what)
    reader = csv.reader(io.StringIO(text, newline=""))
    cols = ("slot", "user", *value_columns)
    header = next(reader, [])
    missing = [c for c in cols if c not in header]
    if missing:
        raise ValidationError("trace columns", "-", header,
                              f"{p.name} lacks columns {missing} (needs {','.join(cols)})")
    twice = [c for c in cols if header.count(c) > 1]
    if twice:  # a dict of the row kept the last of them: 'slot,user,bits,bits' read the second
        raise ValidationError("trace columns", "-", header,
                              f"{p.name} has columns {twice} more than once")
    pos = [header.index(c) for c in cols]
    rows: list[list[str]] = []
    at: list[int] = []  # file line of each row (csv.DictReader's count had no blank lines)
    for row in reader:
        if not row:  # an empty line, skipped (as DictReader did)
            continue
        if len(row) != len(header):
            raise ValidationError("trace", "-", str(p), f"line {reader.line_num} has "
                                  f"{len(row)} cells, a different number of cells than the "
                                  f"header's {len(header)}")
        rows.append([row[k] for k in pos])
        at.append(reader.line_num)
    if not rows:
        raise ValidationError("trace", "-", str(p), "has no rows")
    arr = _numbers(p, rows, cols, at)
    idx = arr[:, :2]
    bad = (idx != np.round(idx)) | (idx < 0)
    if bad.any():
        r, c = (int(v) for v in np.argwhere(bad)[0])
        raise ValidationError(f"trace {cols[c]}", "-", float(idx[r, c]),
                              f"line {at[r]} of {p.name}: indices are integers >= 0")
    n_t, n_u = int(idx[:, 0].max()) + 1, int(idx[:, 1].max()) + 1
    if n_t * n_u != len(rows):  # before allocating: a slot of 1e11 asked for 745 GiB
        raise ValidationError("trace (slot,user)", "-", (n_t, n_u),
                              f"{p.name} has {len(rows)} rows; every pair of the {n_t} slots x "
                              f"{n_u} users must appear exactly once")
    if n_t * n_u > MAX_TRACE_PAIRS:
        raise ValidationError("trace (slot,user)", "-", (n_t, n_u),
                              f"more than {MAX_TRACE_PAIRS} pairs")
    slot, user = idx[:, 0].astype(np.int64), idx[:, 1].astype(np.int64)
    counts = np.bincount(slot * n_u + user, minlength=n_t * n_u)
    if np.any(counts != 1):
        b = int(np.flatnonzero(counts != 1)[0])
        raise ValidationError("trace (slot,user)", "-", (b // n_u, b % n_u),
                              "every pair must appear exactly once")
    out = np.empty((n_t, n_u, len(value_columns)))
    out[slot, user] = arr[:, 2:]
    return out


def _numbers(p: Path, rows: list[list[str]], cols: tuple[str, ...], at: list[int]) -> np.ndarray:
    """The cells as finite floats ``[rows, cols]``; else an error naming the first bad cell's
    column (``"trace <column>"``), value and file line."""
    bad = first_underscore(itertools.chain.from_iterable(rows))
    if bad >= 0:  # float() reads '1_000' as 1000
        r, c = divmod(bad, len(cols))
        raise ValidationError(f"trace {cols[c]}", "-", rows[r][c], f"{p.name} line {at[r]}: "
                              "not a number (digits without '_')")
    try:
        arr = np.asarray(rows, dtype=np.float64)
    except ValueError:  # error path: the first bad cell, in file order
        first = next(((r, c) for r, row in enumerate(rows) for c, cell in enumerate(row)
                      if not is_number(cell)), None)
        if first is None:
            raise
        r, c = first
        raise ValidationError(f"trace {cols[c]}", "-", rows[r][c], f"{p.name} line {at[r]}: "
                              "not a number") from None
    if not np.all(np.isfinite(arr)):
        r, c = (int(v) for v in np.argwhere(~np.isfinite(arr))[0])
        raise ValidationError(f"trace {cols[c]}", "-", rows[r][c], f"{p.name} line {at[r]}: "
                              "must be finite")
    return arr
