"""The per-user CSV of one solved result (``aigc-opt solve --out``): one row per user with the
allocation's and the metrics' per-user arrays, and a one-row summary beside it."""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .export import _cell, format_line, metrics_columns


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


def result_summary(result: Any, metrics: Any = None, method: str | None = None
                   ) -> dict[str, Any]:
    """One flat row for a single Result (and its Metrics): the method asked for (default: the
    backend), the backend that solved, termination, objective, bound, gap, times, metric
    totals, and the allocation's arrays that are not per user (JSON)."""
    row: dict[str, Any] = {
        "method": method or result.stats.backend,
        "backend": result.stats.backend,
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
                     summary_path: str | Path | None = None, method: str | None = None) -> Path:
    """Write one Result's allocation and Metrics as a per-user CSV at ``path``, and its flat
    summary (:func:`result_summary`, naming ``method``) at ``summary_path`` (default
    ``<stem>.summary.csv``).

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
    summ = result_summary(result, metrics, method)
    with open(sp, "w", newline="") as fh:
        fh.write(",".join(summ) + "\n")
        fh.write(format_line(summ, list(summ)))
    return sp
