"""Published per-request logs (one row per request with a timestamp, e.g. BurstGPT or the Azure
LLM inference traces) binned into slots: :func:`load_event_log_csv` and its :class:`EventTrace`.

Split from :mod:`aigc_opt.problems.caching.trace` (which re-exports both names) to keep each
module under the 650-line limit.
"""

from __future__ import annotations

import bisect
import csv
import itertools
import logging
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from aigc_opt.errors import ValidationError, did_you_mean
from aigc_opt.validate import (
    MAX_ENTRIES,
    check_choice,
    check_entries,
    check_int,
    check_path,
    check_scalar,
    check_seed,
    check_type,
    first_underscore,
    is_number,
    read_text,
)

from .data import validate_requests

logger = logging.getLogger(__name__)

SERVER_RULES = ("round_robin", "random")
_EPOCH = datetime(1970, 1, 1)
_FRACTION = re.compile(r"(\.\d{6})\d+")  # Azure's 7 fractional digits -> microseconds
_INTEGER = re.compile(r"[+-]?\d+")
_LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+")
_BOUNDARY = 1e-9  # slots: a time this close below a slot boundary counts as on it


@dataclass(frozen=True, eq=False)
class EventTrace:
    """A request log binned into slots: the counts ``R[t, s, m]`` and how to label them.

    Parameters
    ----------
    requests : ndarray of int64, shape (T, S, M)
        Requests for model m at server s whose time falls in slot t (read-only).
    models : tuple of str
        Name of each model index (length M).
    servers : tuple of str
        Name of each server index (length S; ``"0"``, ``"1"`` ... for numbered servers).
    start : float or datetime
        Start of slot 0: seconds (a log with numeric times) or a naive ``datetime`` (a log with
        datetimes; UTC when the log's times carry a UTC offset).
    slot_s : float
        Slot length, s.
    dropped : int
        Requests after the horizon (``n_slots`` of :func:`load_event_log_csv`), not counted.
    """

    requests: np.ndarray
    models: tuple[str, ...]
    servers: tuple[str, ...]
    start: float | datetime
    slot_s: float
    dropped: int = 0

    def __post_init__(self) -> None:
        r = validate_requests(self.requests).astype(np.int64)
        models = tuple(str(m) for m in self.models)
        servers = tuple(str(s) for s in self.servers)
        if r.shape[1:] != (len(servers), len(models)):
            raise ValidationError("requests", "request", r.shape, f"shape does not match "
                                  f"{len(servers)} servers and {len(models)} models")
        check_type("start", self.start, (int, float, datetime), "s")
        r.flags.writeable = False
        object.__setattr__(self, "requests", r)
        object.__setattr__(self, "models", models)
        object.__setattr__(self, "servers", servers)
        object.__setattr__(self, "slot_s", check_scalar("slot_s", self.slot_s, "s", 0.0,
                                                        strict=True))
        object.__setattr__(self, "dropped", check_int("dropped", self.dropped, "request", 0))

    def slot_start(self, t: int) -> float | datetime:
        """Start of slot ``t``: ``start + t * slot_s`` (seconds, or a ``datetime``)."""
        if isinstance(self.start, datetime):
            return self.start + timedelta(seconds=t * self.slot_s)
        return float(self.start) + t * self.slot_s


def load_event_log_csv(
    path: str | Path, *, slot_s: float, time_column: str, model_column: str | None = None,
    server_column: str | None = None, models: Sequence[str] | None = None,
    servers: Sequence[str] | None = None, n_servers: int | None = None,
    n_slots: int | None = None, start: float | str | datetime | np.datetime64 | None = None,
    server_of: str | None = None, seed: int = 0, max_entries: int | None = None,
) -> EventTrace:
    """Bin a per-request log (CSV with a header, one row per request) into ``R[t, s, m]``.

    Reads published logs such as BurstGPT (``time_column="Timestamp"``, seconds from the start;
    ``model_column="Model"``) or the Azure LLM inference traces (``time_column="TIMESTAMP"``,
    datetimes such as ``2023-11-16 18:15:46.6805900``; no model column). Other columns are
    ignored; rows may come in any order. Every data row has as many cells as the header (a
    trailing comma only if the header has one too) and is one line: a quoted field running over
    a line end (a quote left open) is refused; blank and whitespace-only lines are skipped.

    Parameters
    ----------
    path : str or Path
        The CSV file (UTF-8; a byte-order mark is skipped).
    slot_s : float
        Slot length, s (> 0).
    time_column : str
        Column of request times: numbers (seconds) or ISO datetimes (``YYYY-MM-DD[ HH:MM:SS
        [.ffffff]]``, ``T`` or space; digits beyond microseconds are truncated; a UTC offset
        converts to UTC, and a log may not mix times with and without one). Which kind is
        decided by the first data row. A request at time ``x`` falls in slot
        ``t = floor((x - start) / slot_s)`` (a time within 1e-9 slot below a boundary counts
        as on it, so ``0.3`` s with ``slot_s=0.1`` is slot 3 despite binary rounding; numeric
        times also within 4 units in the last place of the largest time or start, so
        ``1700000000.3`` s, stored as ``1700000000.29999995``, is on the boundary at 0.3 s
        after ``1700000000``).
    model_column : str, optional
        Column of model names; the distinct names become models ``0..M-1`` in sorted (code
        point) order, or in the order of ``models``. None: every request is for one model.
    server_column : str, optional
        Column of home servers: integer ids ``0..S-1`` (when every value is an integer;
        ``S = n_servers`` or the largest id + 1), or names mapped like models (sorted, or in
        the order of ``servers``).
    models, servers : sequence of str, optional
        The names and their index order; a value of the column not among them is an error.
        Names never requested get zero counts. Without a model column, ``models`` may give the
        one model's name (default ``"all"``).
    n_servers : int, optional
        Number of servers. Without ``server_column`` the requests are spread over ``n_servers``
        servers (default 1) by ``server_of``.
    n_slots : int, optional
        Horizon T. Requests in slots ``>= n_slots`` are not counted (their number is
        :attr:`EventTrace.dropped`); default: up to the last request.
    start : float or str or datetime or numpy.datetime64, optional
        Start of slot 0 (seconds for numeric times, a datetime or ISO string otherwise); default
        the earliest time. A request before ``start`` is an error. A datetime start carries a
        UTC offset exactly when the log's times do (numpy datetimes carry none).
    server_of : {"round_robin", "random"}, optional
        Without ``server_column`` (default ``"round_robin"``): data row ``i`` in file order goes
        to server ``i % n_servers``, or every row to a server drawn uniformly by
        ``numpy.random.default_rng(seed).integers(0, n_servers)`` in file order. Rows are
        assigned before the horizon cut, so ``n_slots`` does not change any row's server.
    seed : int
        Seed of ``server_of="random"``.
    max_entries : int, optional
        Largest ``T * S * M`` (default :data:`aigc_opt.validate.MAX_ENTRIES`, 1e7); larger
        traces are refused before allocating (and before the file is read when ``n_servers``
        times ``n_slots`` (or 1) is already larger).

    Returns
    -------
    EventTrace
        ``CachingInstance.generate(S, M, T).with_requests(trace.requests)`` puts it on a network.

    Raises
    ------
    ValidationError
        Naming the field or column, its unit, the bad value, the file and the line: missing or
        non-UTF-8 file, no header or no data rows, a missing column (with the header's columns
        and the closest match), an unparseable, NaN or infinite time, a time before ``start``,
        an unknown model or server, a row with more or fewer cells than the header, a quoted
        field over several lines, a bad argument, or a trace above ``max_entries``.
    """
    p = check_path("path", path)
    try:
        cols = {"time_column": time_column, "model_column": model_column,
                "server_column": server_column}
        for name, col in cols.items():
            if col is not None and (not isinstance(col, str) or not col.strip()):
                raise ValidationError(name, "-", col, "must be a column name (a non-empty str)")
        if server_column is not None and server_of is not None:
            raise ValidationError("server_of", "-", server_of,
                                  "only applies without server_column")
        args = _EventArgs(
            slot_s=check_scalar("slot_s", slot_s, "s", 0.0, strict=True),
            models=_names("models", models), servers=_names("servers", servers),
            n_servers=check_int("n_servers", n_servers, "-", 1, optional=True),
            n_slots=check_int("n_slots", n_slots, "-", 1, optional=True), start=start,
            server_of=check_choice("server_of", "round_robin" if server_of is None else server_of,
                                   SERVER_RULES),
            seed=check_seed("seed", seed),
            limit=MAX_ENTRIES if max_entries is None else check_int("max_entries", max_entries,
                                                                   "-", 1))
        if model_column is None and args.models is not None and len(args.models) != 1:
            raise ValidationError("models", "-", list(args.models), "without model_column every "
                                  "request is for one model: give one name at most")
        if server_column is None and args.servers is not None:
            raise ValidationError("servers", "-", list(args.servers), "needs server_column")
        if args.n_servers is not None:  # T * S * M >= n_slots * n_servers: refused unread
            try:
                check_entries("n_slots*n_servers*n_models", args.n_servers * (args.n_slots or 1),
                              args.limit)
            except ValidationError as exc:
                raise exc.with_note(f"n_servers={args.n_servers:,} x {args.n_slots or 'at least 1'}"
                                    " slots x at least 1 model") from None
        return _load_events(p, {k: v.strip() for k, v in cols.items() if v is not None}, args)
    except ValidationError as exc:
        raise (exc if exc.field == "path" else exc.located(str(p))) from None


@dataclass(frozen=True)
class _EventArgs:
    slot_s: float
    models: tuple[str, ...] | None
    servers: tuple[str, ...] | None
    n_servers: int | None
    n_slots: int | None
    start: Any
    server_of: str
    seed: Any
    limit: int


def _names(field: str, names: Sequence[str] | None) -> tuple[str, ...] | None:
    if names is None:
        return None
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise ValidationError(field, "-", names, "must be a sequence of names (str)")
    out = tuple(n.strip() for n in names)
    if not out or len(set(out)) < len(out) or "" in out:
        raise ValidationError(field, "-", list(names), "must be distinct non-empty names")
    return out


def _lines(text: str) -> Iterator[str]:
    """The file's lines (``\\n``, ``\\r\\n`` or ``\\r`` ends kept), one at a time: a copy of
    the text (``io.StringIO`` holds 4 bytes a character) would double the peak memory."""
    return (m.group() for m in _LINE.finditer(text))


def _blank(row: list[str]) -> bool:
    return len(row) <= 1 and not (row and row[0].strip())


def _row_fault(text: str, names: list[str], upto: int | None) -> ValidationError | None:
    """The first row (header, then data rows ``0..upto``; all if None) that runs over several
    lines, or data row whose cell count differs from the header's, as an error naming its file
    line and column; None if there is none. Error path only: parses the text again."""
    reader = csv.reader(_lines(text))
    end, i = 0, -1  # i: index of the data row; -1 the header
    for row in reader:
        first, end = end + 1, reader.line_num
        if _blank(row):
            continue
        if end > first:  # csv read a quoted field on over the line end
            j = next((j for j, c in enumerate(row) if "\n" in c or "\r" in c), len(row) - 1)
            return ValidationError(names[j] if j < len(names) else f"cell {j + 1}", "-",
                                   row[j], f"line {first}: a quoted field runs on to line "
                                   f"{end} (a quote left open?); a request log has one "
                                   "request a line")
        if i >= 0 and len(row) != len(names):
            hint = " (an unquoted comma?)" if len(row) > len(names) else ""
            return ValidationError(names[min(len(row), len(names) - 1)], "-", ",".join(row),
                                   f"line {first}: {len(row)} cells, the header has "
                                   f"{len(names)}{hint}")
        if upto is not None and i >= upto:
            break
        i += 1
    return None


def _load_events(p: Path, cols: dict[str, str], a: _EventArgs) -> EventTrace:
    text = read_text(p, "request log")
    reader = csv.reader(_lines(text))
    names: list[str] = []
    rows: list[str] = []  # the first used column's cells (one per data row read so far)
    skipped: list[int] = []  # data rows read before each blank line skipped
    head = 0  # file line of the header
    try:
        header = next((r for r in reader if not _blank(r)), None)
        if header is None:
            raise ValidationError("path", "-", str(p), "empty request log: no header line")
        head, names = reader.line_num, [h.strip() for h in header]
        idx = []
        for param, col in cols.items():
            if col not in names:
                raise ValidationError(param, "-", col, f"no column {col!r} in the header; "
                                      f"columns: {', '.join(map(repr, names))}"
                                      f"{did_you_mean(col, names)}")
            if names.count(col) > 1:
                raise ValidationError(param, "-", col, "the header names this column twice")
            idx.append(names.index(col))
        cells: list[list[str]] = [[] for _ in idx]
        rows = cells[0]
        pairs = list(zip(idx, [c.append for c in cells], strict=True))
        width, lone = len(names), len(names) == 1  # ' ' reads as one cell: blank, not a row
        for row in reader:  # CSV parsing is per line; everything after it is vectorised
            if len(row) != width or (lone and not row[0].strip()):
                if _blank(row):
                    skipped.append(len(rows))
                    continue
                raise _row_fault(text, names, len(rows)) or ValidationError(
                    "path", "-", str(p), f"data row {len(rows) + 1}: {len(row)} cells")
            for k, add in pairs:
                add(row[k])
    except csv.Error as exc:
        if names:  # an earlier row over several lines is the likelier cause
            fault = _row_fault(text, names, len(rows) - 1)
            if fault is not None:
                raise fault from None
        at = head + len(rows) + len(skipped) + 1 if names else reader.line_num
        line = next(itertools.islice(_lines(text), at - 1, None), "")
        cut = next(csv.reader([line]), [""])
        if names and at < reader.line_num and cut[-1].endswith(("\n", "\r")):
            j = len(cut) - 1  # the cell whose quote runs over the line end
            raise ValidationError(names[j] if j < len(names) else f"cell {j + 1}", "-",
                                  cut[-1], f"line {at}: a quoted field runs on past the line "
                                  f"end (a quote left open?): {exc}") from None
        raise ValidationError("path", "-", str(p), f"not a valid CSV file at line {at}: {exc}"
                              ) from exc
    if not rows:
        raise ValidationError("path", "-", str(p), "no data rows (only a header)")
    if reader.line_num != head + len(rows) + len(skipped):  # a row ran over several lines
        raise _row_fault(text, names, None) or ValidationError(
            "path", "-", str(p), "a row runs over several lines")

    def line_of(i: int) -> int:  # file line of data row i: every row is one line
        return head + 1 + i + bisect.bisect_right(skipped, i)

    cells_of = dict(zip(cols, cells, strict=True))
    del cells, pairs  # each column is freed once converted
    x, start, ulp = _times(cells_of.pop("time_column"), cols["time_column"], a.start, line_of)
    n = len(x)
    if "model_column" in cols:
        m, models = _codes(cells_of.pop("model_column"), cols["model_column"], a.models, line_of)
    else:
        m, models = np.zeros(n, dtype=np.int64), a.models or ("all",)
    if "server_column" in cols:
        s, servers = _servers(cells_of.pop("server_column"), cols["server_column"], a, line_of)
    else:
        servers = a.n_servers or 1  # numbered: the names are made after the size check
        s = (np.arange(n, dtype=np.int64) % servers if a.server_of == "round_robin"
             else np.random.default_rng(a.seed).integers(0, servers, size=n, dtype=np.int64))
    with np.errstate(over="ignore"):  # an overflow is a span of inf slots, refused below
        q = np.floor(x / a.slot_s + max(_BOUNDARY, 4.0 * ulp / a.slot_s))
    S, M = servers if isinstance(servers, int) else len(servers), len(models)
    span = float(q.max()) + 1.0  # slots the log spans (inf when x / slot_s overflows)
    if a.n_slots is None and not span < 2.0**62:  # was capped at 2**62 in the message
        raise ValidationError("n_slots*n_servers*n_models", "entry", f"{span * S * M:.3g}",
                              f"the log spans {span:.3g} slots of {a.slot_s:g} s x {S} "
                              f"servers x {M} models; a larger slot_s or n_slots= shortens "
                              "the horizon")
    T = a.n_slots if a.n_slots is not None else int(span)
    try:
        check_entries("n_slots*n_servers*n_models", T * S * M, a.limit)
    except ValidationError as exc:
        raise exc.with_note(f"{T:,} slots of {a.slot_s:g} s x {S} servers x {M} models; a "
                            "larger slot_s or n_slots= shortens the horizon") from None
    if isinstance(servers, int):
        servers = tuple(str(k) for k in range(servers))
    keep = q < T
    t = q[keep].astype(np.int64)
    key = (t * S + s[keep]) * M + m[keep]
    R = np.bincount(key, minlength=T * S * M).reshape(T, S, M)
    dropped = n - int(keep.sum())
    if dropped:
        logger.info("%s: %d requests after the %d-slot horizon not counted", p, dropped, T)
    return EventTrace(R, models, servers, start, a.slot_s, dropped)


def _times(cells: list[str], field: str, start: Any, line_of: Callable[[int], int]
           ) -> tuple[np.ndarray, float | datetime, float]:
    """Seconds since ``start`` (float64), the start used (seconds or a datetime), and the
    resolution of the times as read, s: one unit in the last place of the largest numeric time
    or start (their difference is only that exact), 0 for datetimes (integer microseconds)."""
    try:
        float(cells[0])
    except ValueError:
        us, aware = _datetimes(cells, field, line_of)
        s0 = int(us.min()) if start is None else _datetime_start(start, aware)
        try:
            when = _EPOCH + timedelta(microseconds=s0)
        except OverflowError:
            raise ValidationError(field, "s", cells[0], "datetime out of range") from None
        return _after_start(cells, field, (us - s0) * 1e-6, when, line_of), when, 0.0
    try:
        if first_underscore(cells) >= 0:
            raise ValueError("an underscore")
        x = np.array(cells, dtype=np.float64)
    except ValueError:
        i = next(i for i, c in enumerate(cells) if not is_number(c))
        raise ValidationError(field, "s", cells[i], f"line {line_of(i)}: not a number of "
                              "seconds (the first row's time is a number)") from None
    bad = ~np.isfinite(x)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValidationError(field, "s", cells[i], f"line {line_of(i)}: must be finite")
    if start is None:
        s1 = float(x.min())
    elif isinstance(start, (str, datetime, np.datetime64)):
        raise ValidationError("start", "s", start, f"column {field!r} holds seconds: give start "
                              "in seconds")
    else:
        s1 = check_scalar("start", start, "s")
    ulp = float(np.spacing(max(float(np.abs(x).max()), abs(s1))))
    return _after_start(cells, field, x - s1, s1, line_of), s1, ulp


def _after_start(cells: list[str], field: str, x: np.ndarray, start: float | datetime,
                 line_of: Callable[[int], int]) -> np.ndarray:
    early = x < 0
    if early.any():
        i = int(np.argmax(early))
        raise ValidationError(field, "s", cells[i], f"line {line_of(i)}: {-x[i]:.9g} s before "
                              f"start={start} (a negative slot)")
    return x


def _datetimes(cells: list[str], field: str, line_of: Callable[[int], int]
               ) -> tuple[np.ndarray, bool]:
    """Microseconds since 1970 (int64; UTC for times with an offset) and whether the times
    carry a UTC offset: numpy's parser when every cell is a plain ISO date(time) (strict
    ``YYYY-MM-DD`` prefix, no UTC offset), else ``datetime.fromisoformat`` per cell."""
    if all(c[4:5] == "-" and c[7:8] == "-" for c in cells):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy warns about (and converts) UTC offsets
            try:
                d = np.array(cells, dtype="datetime64[us]")
            except (ValueError, OverflowError, Warning):
                d = None
        if d is not None and not np.isnat(d).any():
            return d.astype(np.int64), False
    vals, aware = [], None
    for i, c in enumerate(cells):
        try:
            v = datetime.fromisoformat(_FRACTION.sub(r"\1", c.strip()))
        except ValueError:
            raise ValidationError(field, "s", c, f"line {line_of(i)}: not a number of seconds or"
                                  " an ISO datetime (e.g. 2023-11-16 18:15:46.680590)") from None
        if aware is None:
            aware = v.tzinfo is not None
        elif aware != (v.tzinfo is not None):
            raise ValidationError(field, "s", c, f"line {line_of(i)}: the log mixes datetimes "
                                  "with and without a UTC offset")
        vals.append(v.astimezone(UTC).replace(tzinfo=None) if aware else v)
    return np.array(vals, dtype="datetime64[us]").astype(np.int64), bool(aware)


def _datetime_start(start: Any, aware: bool) -> int:
    """``start`` in microseconds since 1970 (UTC when it carries an offset), for a log whose
    times carry a UTC offset (``aware``) or not: like the log's own times, ``start`` must
    then carry one too, or not (a naive start on an offset log, or the reverse, had been
    taken as UTC, silently shifting every slot by the offset)."""
    when: Any = start
    if isinstance(start, str):
        try:
            when = datetime.fromisoformat(_FRACTION.sub(r"\1", start.strip()))
        except ValueError:
            raise ValidationError("start", "s", start, "not an ISO datetime") from None
    if isinstance(start, np.datetime64) and np.isnat(start):
        raise ValidationError("start", "s", start, "not a time (NaT)")
    if not isinstance(when, (datetime, np.datetime64)):
        raise ValidationError("start", "s", start, "the log's times are datetimes: give start "
                              "as a datetime or an ISO string")
    # numpy datetimes carry no UTC offset
    if (isinstance(when, datetime) and when.tzinfo is not None) != aware:
        has = "has a UTC offset, the log's times none" if not aware else \
            "has no UTC offset, the log's times one"
        raise ValidationError("start", "s", start, f"{has}: a log and its start may not mix "
                              "times with and without one")
    if isinstance(when, np.datetime64):
        return int(when.astype("datetime64[us]").astype(np.int64))
    if aware:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return int(np.datetime64(when, "us").astype(np.int64))


def _codes(cells: list[str], field: str, order: tuple[str, ...] | None,
           line_of: Callable[[int], int]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Index of each cell's name: sorted distinct names, or the order given."""
    values = [c.strip() for c in cells]
    distinct = set(values)
    known = order if order is not None else tuple(sorted(distinct - {""}))
    bad = distinct - set(known)
    if bad:
        i = next(i for i, v in enumerate(values) if v in bad)
        what = "an empty name" if not values[i] else f"not one of {list(known)}"
        raise ValidationError(field, "-", values[i], f"line {line_of(i)}: {what}"
                              f"{did_you_mean(values[i], known) if values[i] else ''}")
    code = {name: k for k, name in enumerate(known)}
    return np.fromiter(map(code.__getitem__, values), np.int64, len(values)), known


def _servers(cells: list[str], field: str, a: _EventArgs, line_of: Callable[[int], int]
             ) -> tuple[np.ndarray, tuple[str, ...] | int]:
    """Server index of each cell, and the server names (their number S for integer ids: the
    caller makes the names ``"0".."S-1"`` once ``T * S * M`` has passed its size check)."""
    distinct = {c.strip() for c in cells}
    if a.servers is not None or not all(_INTEGER.fullmatch(v) for v in distinct):
        s, names = _codes(cells, field, a.servers, line_of)
        if a.n_servers is not None and a.n_servers != len(names):
            raise ValidationError("n_servers", "-", a.n_servers, f"column {field!r} names "
                                  f"{len(names)} servers {list(names)[:6]}")
        return s, names
    ids = {v: int(v) for v in distinct}
    lo, hi = min(ids.values()), max(ids.values())
    S = a.n_servers if a.n_servers is not None else hi + 1
    if lo < 0 or hi >= S:
        i = next(i for i, c in enumerate(cells) if not 0 <= ids[c.strip()] < S)
        raise ValidationError(field, "-", cells[i].strip(), f"line {line_of(i)}: server id out"
                              f" of range 0..{S - 1}")
    check_entries("n_servers", S, a.limit)
    get = ids.__getitem__
    return np.fromiter((get(c.strip()) for c in cells), np.int64, len(cells)), S
