"""CSV export: one flat row per benchmark case, append-safe writing, summaries, per-user tables.

Row schema
----------
:data:`COLUMNS` is the fixed, ordered column set of a results CSV. Metric totals that a family
reports under a known name (:data:`METRIC_COLUMNS`) get their own column; any other total is
kept in ``metrics_extra`` (JSON), so the header never changes between families or runs. Per-slot
series (a family's ``per_item`` arrays whose name contains ``slot``, e.g. a caching policy's
cost per slot) go to ``series`` (JSON) for the time plots. Empty cells mean "not applicable".

Writing
-------
:class:`RowWriter` appends each row as one physical line with a single ``write`` followed by
``flush`` and ``os.fsync``: a killed run keeps every finished row and can leave at most one
partial trailing line, which :func:`repair_tail` drops on resume. Newlines inside cells are
escaped as ``\\n`` so that one record is always one line.

Per-user export
---------------
:func:`allocation_rows` / :func:`write_result_csv` turn one Result's allocation and its Metrics
into per-user rows (one column per 1-D array of the user axis, ``name[j]`` for 2-D ones).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import math
import os
import statistics
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: Packages whose versions every row records (column ``v_<name>``).
VERSIONED_PACKAGES: tuple[str, ...] = ("aigc_opt", "numpy", "scipy", "highspy", "cvxpy", "pyomo")

#: Metric totals with a column of their own (others go to ``metrics_extra``).
METRIC_COLUMNS: tuple[str, ...] = (
    "latency_mean_s",
    "latency_p95_s",
    "latency_max_s",
    "energy_total_j",
    "device_energy_total_j",
    "server_energy_total_j",
    "quality_mean",
    "utility_total",
    "cost_total",
    "revenue",
    "welfare",
    "hit_ratio",
    "n_violations",
    "max_violation",
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
    "status",
    "termination",
    "has_solution",
    "feasible",
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


def version_columns() -> dict[str, str]:
    """``{"python": ..., "v_numpy": ..., ...}`` for a row."""
    import platform

    cols = {"python": platform.python_version()}
    cols.update({f"v_{k}": v for k, v in package_versions().items()})
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
        else:
            extra[k] = v
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


def repair_tail(path: str | Path) -> int:
    """Drop a trailing partial line (a write cut by a kill); return the bytes removed."""
    p = Path(path)
    if not p.exists():
        return 0
    data = p.read_bytes()
    if not data or data.endswith(b"\n"):
        return 0
    keep = data.rfind(b"\n") + 1
    with open(p, "r+b") as fh:
        fh.truncate(keep)
    logger.warning("%s: dropped a partial last line (%d bytes)", p, len(data) - keep)
    return len(data) - keep


def read_header(path: str | Path) -> list[str] | None:
    """The header of an existing CSV, or None when the file is missing or empty."""
    p = Path(path)
    if not p.exists() or p.stat().st_size == 0:
        return None
    with open(p, newline="") as fh:
        first = fh.readline()
    if not first.endswith("\n"):
        return None
    return next(csv.reader([first]))


class RowWriter:
    """Append rows to a CSV, one complete line per ``write`` + ``fsync``.

    Parameters
    ----------
    path : path-like
        Output CSV. Created with a header when missing or empty; otherwise rows are appended with
        the existing header's columns (cells of unknown columns are dropped).
    columns : sequence of str
        Columns for a new file (default :data:`COLUMNS`).
    """

    def __init__(self, path: str | Path, columns: Sequence[str] = COLUMNS) -> None:
        self.path = Path(path)
        repair_tail(self.path)
        header = read_header(self.path)
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


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Read a results CSV; numeric columns become floats (NaN for empty), booleans bools.

    A trailing partial line is ignored (not removed; see :func:`repair_tail`).
    """
    p = Path(path)
    text = p.read_text()
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    rows = []
    for raw in csv.DictReader(io.StringIO(text)):
        rows.append({k: _parse(k, v) for k, v in raw.items() if k is not None})
    return rows


def _parse(column: str, value: str | None) -> Any:
    if value is None:
        return None
    if column in _FLOAT_COLUMNS:
        try:
            return float(value) if value != "" else math.nan
        except ValueError:
            return math.nan
    if column in ("has_solution", "feasible"):
        return {"true": True, "false": False}.get(value.lower())
    if column == "seed":
        return int(value) if value.lstrip("-").isdigit() else value
    if column in ("error", "message"):
        return value.replace("\\n", "\n")
    return value


# ---------------------------------------------------------------------------------- summaries
def _fnum(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def instance_id(row: Mapping[str, Any]) -> tuple[str, ...]:
    """Rows with the same id solve the same instance (suite, problem, variant, sizes, seed)."""
    return tuple(str(row.get(k, "")) for k in ("suite", "problem", "variant", "sizes", "seed"))


def add_ratios(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Copy rows adding ``ref_objective``, ``ratio_to_ref`` = objective / reference objective
    and ``excess_to_ref`` = (objective - ref) / max(1, |ref|), the reference being the row of
    the same instance whose method is the row's ``reference`` and which ended ``optimal``.
    NaN where either side is missing, the row's solution is not feasible (evaluator), the
    reference objective is 0 or the two objectives differ in sign (a ratio means nothing then;
    ``excess_to_ref`` still does)."""
    out = [dict(r) for r in rows]
    refs: dict[tuple[str, ...], float] = {}
    for r in out:
        if r.get("method") and r.get("method") == r.get("reference") and \
                r.get("termination") == "optimal":
            refs[instance_id(r)] = _fnum(r.get("objective"))
    for r in out:
        ref = refs.get(instance_id(r), math.nan)
        usable = r.get("has_solution") in (True, "true") and r.get("feasible") in (True, "true")
        obj = _fnum(r.get("objective")) if usable else math.nan
        r["ref_objective"] = ref
        same_sign = ref == ref and obj == obj and ref != 0 and (obj >= 0) == (ref > 0)
        r["ratio_to_ref"] = obj / ref if same_sign else math.nan
        r["excess_to_ref"] = (obj - ref) / max(1.0, abs(ref)) if ref == ref and obj == obj \
            else math.nan
    return out


SUMMARY_COLUMNS: tuple[str, ...] = ("problem", "method", "cases", "optimal", "feasible",
                                    "failed", "median_solve_s", "mean_ratio", "mean_excess")


def summarize(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per (problem, method): cases, optimal / feasible / failed counts, median solve time, mean
    ratio to the reference objective and mean excess ``(obj - ref) / max(1, |ref|)`` (>= 0 for
    a minimisation, <= 0 for a maximisation when the reference is optimal).

    ``feasible`` counts rows with a solution the evaluator found feasible; ``failed`` counts the
    rest (errors, time-outs, crashes, no solution, violated constraints).
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in add_ratios(rows):
        groups.setdefault((str(r.get("problem")), str(r.get("method"))), []).append(r)
    out = []
    for (problem, method), rs in sorted(groups.items()):
        ok = [r for r in rs if r.get("has_solution") in (True, "true")
              and r.get("feasible") in (True, "true")]
        times = [t for t in (_fnum(r.get("solve_seconds")) for r in rs
                             if r.get("status") == STATUS_OK) if t == t]
        ratios = [x for x in (_fnum(r["ratio_to_ref"]) for r in rs) if x == x]
        excess = [x for x in (_fnum(r["excess_to_ref"]) for r in rs) if x == x]
        out.append({
            "problem": problem,
            "method": method,
            "cases": len(rs),
            "optimal": sum(r.get("termination") == "optimal" for r in rs),
            "feasible": len(ok),
            "failed": len(rs) - len(ok),
            "median_solve_s": statistics.median(times) if times else math.nan,
            "mean_ratio": statistics.fmean(ratios) if ratios else math.nan,
            "mean_excess": statistics.fmean(excess) if excess else math.nan,
        })
    return out


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Plain-text table (floats with 4 significant digits)."""
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return "-" if v != v else f"{v:.4g}"
        return str(v)

    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- per-user
def _arrays(obj: Any) -> dict[str, np.ndarray]:
    if obj is None:
        return {}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        items = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    elif isinstance(obj, Mapping):
        items = dict(obj)
    else:
        items = dict(vars(obj))
    return {k: np.asarray(v) for k, v in items.items()
            if isinstance(v, np.ndarray | list | tuple) and np.asarray(v).ndim >= 1}


def allocation_rows(allocation: Any, metrics: Any = None) -> tuple[list[str], list[list[Any]]]:
    """Per-user table of an allocation and (optionally) its Metrics' ``per_item`` arrays.

    The user axis has the length ``N`` shared by most 1-D arrays (metrics first). Arrays whose
    first axis is ``N`` become columns (``name`` for 1-D, ``name[j]`` per column for 2-D,
    metrics columns prefixed ``metric.``); other arrays are left out (see
    :func:`result_summary`).

    Returns
    -------
    columns, rows
        Header (starting with ``user``) and one list of cells per user.
    """
    alloc = _arrays(allocation)
    per = {f"metric.{k}": np.asarray(v) for k, v in (metrics.per_item.items() if metrics else ())}
    lengths = [a.shape[0] for a in (*per.values(), *alloc.values()) if a.ndim == 1]
    if not lengths:
        return ["user"], []
    n = max(set(lengths), key=lengths.count)
    cols: list[str] = ["user"]
    data: list[np.ndarray] = [np.arange(n)]
    for name, a in (*alloc.items(), *per.items()):
        if a.shape[0] != n or a.ndim > 2:
            continue
        if a.ndim == 1:
            cols.append(name)
            data.append(a)
        else:
            for j in range(a.shape[1]):
                cols.append(f"{name}[{j}]")
                data.append(a[:, j])
    rows = [[_cell(d[i].item() if hasattr(d[i], "item") else d[i]) for d in data]
            for i in range(n)]
    return cols, rows


def result_summary(result: Any, metrics: Any = None) -> dict[str, Any]:
    """One flat row for a single Result (and its Metrics): termination, objective, bound, gap,
    times, metric totals, and the allocation's arrays that are not per user (JSON)."""
    row: dict[str, Any] = {
        "method": result.stats.backend,
        "termination": str(result.termination),
        "has_solution": result.has_solution,
        "objective": result.objective,
        "bound": result.bound,
        "gap": result.gap,
        "build_seconds": result.stats.build_seconds,
        "solve_seconds": result.stats.solve_seconds,
        "message": result.message,
    }
    if metrics is not None:
        row.update(metrics_columns(metrics))
    cols, _ = allocation_rows(result.allocation, metrics)
    shown = {c.split("[")[0] for c in cols}
    other = {k: v.tolist() for k, v in _arrays(result.allocation).items() if k not in shown}
    if other:
        row["allocation_other"] = json.dumps(other)
    return row


def write_result_csv(path: str | Path, result: Any, metrics: Any = None,
                     summary_path: str | Path | None = None) -> Path:
    """Write one Result's allocation and Metrics as a per-user CSV at ``path``, and its flat
    summary (:func:`result_summary`) at ``summary_path`` (default ``<stem>.summary.csv``).

    Returns the summary path.
    """
    p = Path(path)
    if result.allocation is None:
        cols: list[str] = ["user"]
        rows: list[list[Any]] = []
    else:
        cols, rows = allocation_rows(result.allocation, metrics)
    with open(p, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(cols)
        w.writerows(rows)
    sp = Path(summary_path) if summary_path else p.with_name(p.stem + ".summary.csv")
    summ = result_summary(result, metrics)
    with open(sp, "w", newline="") as fh:
        fh.write(",".join(summ) + "\n")
        fh.write(format_line(summ, list(summ)))
    return sp
