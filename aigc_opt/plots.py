"""Plots of benchmark results as PNG files (matplotlib, Agg backend, no display needed).

* ``solve_time_<problem>.png``: median solve time (s) against the primary size per method,
  log-log, from rows with status ``ok`` and a solution.
* ``ratio_<problem>.png``: distribution of objective / reference objective per method (the
  reference is the problem's exact method; ratio 1 is optimal).
* ``pareto_<problem>.png``: when a problem was run under at least three spec variants (a weight
  sweep), mean latency against total energy of every feasible row with the non-dominated points
  joined (both minimised). :func:`plot_pareto_csv` plots any CSV of sweep points.
* ``caching_cost_<problem>.png``: cumulative cost over time slots per method, when rows carry a
  per-slot cost series (``series`` column); skipped otherwise.

Every function returns the paths it wrote (an empty list when there is nothing to plot).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import export

logger = logging.getLogger(__name__)


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _num(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _ok(r: Mapping[str, Any]) -> bool:
    return r.get("status") == export.STATUS_OK and r.get("has_solution") in (True, "true")


def _size_name(row: Mapping[str, Any]) -> str:
    """The name of the size parameter whose value is the row's ``size`` (``"size"`` if none)."""
    size = _num(row.get("size"))
    for part in str(row.get("sizes", "")).split(","):
        k, _, v = part.partition("=")
        if v and _num(v) == size:
            return k
    return "size"


def plot_solve_time(rows: Sequence[Mapping[str, Any]], out_dir: Path) -> list[Path]:
    """Median solve time against size, one line per method, one PNG per problem."""
    plt = _plt()
    data: dict[str, dict[str, dict[float, list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list)))
    size_names: dict[str, str] = {}
    for r in rows:
        size, t = _num(r.get("size")), _num(r.get("solve_seconds"))
        if _ok(r) and size == size and t == t:
            data[str(r["problem"])][str(r["method"])][size].append(t)
            size_names.setdefault(str(r["problem"]), _size_name(r))
    written = []
    for problem, by_method in sorted(data.items()):
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        for method, pts in sorted(by_method.items()):
            xs = sorted(pts)
            ax.plot(xs, [max(statistics.median(pts[x]), 1e-6) for x in xs], marker="o",
                    label=method)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(size_names.get(problem, "size"))
        ax.set_ylabel("median solve time [s]")
        ax.set_title(f"{problem}: solve time")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        p = out_dir / f"solve_time_{_safe(problem)}.png"
        fig.tight_layout()
        fig.savefig(p, dpi=110)
        plt.close(fig)
        written.append(p)
    return written


def plot_ratio(rows: Sequence[Mapping[str, Any]], out_dir: Path) -> list[Path]:
    """Box plot of objective / reference objective per method, one PNG per problem."""
    plt = _plt()
    data: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in export.add_ratios(rows):
        x = _num(r.get("ratio_to_ref"))
        if x == x and r.get("method") != r.get("reference"):
            data[str(r["problem"])][str(r["method"])].append(x)
    written = []
    for problem, by_method in sorted(data.items()):
        methods = sorted(by_method)
        fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(methods) + 2), 4.4))
        ax.boxplot([by_method[m] for m in methods], tick_labels=methods)
        for i, m in enumerate(methods, start=1):  # every case as a point, jittered
            jitter = np.linspace(-0.12, 0.12, len(by_method[m])) if len(by_method[m]) > 1 \
                else np.zeros(1)
            ax.scatter(i + jitter, by_method[m], s=10, alpha=0.6, color="C1", zorder=3)
        ax.axhline(1.0, color="k", lw=0.8, ls="--")
        ax.set_ylabel("objective / exact optimum")
        ax.set_title(f"{problem}: ratio to the reference")
        ax.tick_params(axis="x", labelrotation=30)
        p = out_dir / f"ratio_{_safe(problem)}.png"
        fig.tight_layout()
        fig.savefig(p, dpi=110)
        plt.close(fig)
        written.append(p)
    return written


def pareto_mask(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-dominated points when both ``x`` and ``y`` are minimised (ties kept once)."""
    order = np.lexsort((y, x))
    keep = np.zeros(x.size, dtype=bool)
    best = math.inf
    for i in order:
        if y[i] < best:
            keep[i] = True
            best = y[i]
    return keep


def _pareto_axes(ax: Any, x: np.ndarray, y: np.ndarray, labels: Sequence[str]) -> None:
    keep = pareto_mask(x, y)
    ax.scatter(x, y, s=14, alpha=0.5, label="all points")
    order = np.argsort(x[keep])
    ax.plot(x[keep][order], y[keep][order], "r-o", ms=4, label="Pareto front")
    for xi, yi, lab in zip(x[keep], y[keep], np.asarray(labels)[keep], strict=True):
        ax.annotate(str(lab), (xi, yi), fontsize=6, alpha=0.7)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)


def plot_pareto(rows: Sequence[Mapping[str, Any]], out_dir: Path, *,
                x: str = "latency_mean_s", y: str = "energy_total_j") -> list[Path]:
    """Latency-energy scatter and front for problems run under >= 3 spec variants."""
    plt = _plt()
    data: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    for r in rows:
        xv, yv = _num(r.get(x)), _num(r.get(y))
        if _ok(r) and r.get("feasible") in (True, "true") and xv == xv and yv == yv:
            data[str(r["problem"])].append((xv, yv, str(r.get("variant"))))
    written = []
    for problem, pts in sorted(data.items()):
        if len({p[2] for p in pts}) < 3:
            continue
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        _pareto_axes(ax, np.array([p[0] for p in pts]), np.array([p[1] for p in pts]),
                     [p[2] for p in pts])
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.set_title(f"{problem}: trade-off over spec variants")
        p = out_dir / f"pareto_{_safe(problem)}.png"
        fig.tight_layout()
        fig.savefig(p, dpi=110)
        plt.close(fig)
        written.append(p)
    return written


def plot_pareto_csv(path: str | Path, out_dir: Path, *, x: str | None = None,
                    y: str | None = None) -> list[Path]:
    """Plot a CSV of sweep points (one row per point) as a Pareto front of ``x`` vs ``y``.

    Without ``x`` / ``y`` the first two numeric columns whose names mention latency, energy,
    quality, cost or utility are used. Raises ``KeyError`` naming a missing column.
    """
    plt = _plt()
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    cols = list(rows[0]) if rows else []
    if x is None or y is None:
        cand = [c for c in cols if re.search(r"latency|energy|quality|cost|utility", c)
                and all(_num(r[c]) == _num(r[c]) for r in rows)]
        if len(cand) < 2:
            raise KeyError(f"{path}: need two numeric objective columns; have {cols}")
        x, y = x or cand[0], y or next(c for c in cand if c != (x or cand[0]))
    for c in (x, y):
        if c not in cols:
            raise KeyError(f"column {c!r} not in {path} (columns: {', '.join(cols)})")
    xs = np.array([_num(r[x]) for r in rows])
    ys = np.array([_num(r[y]) for r in rows])
    ok = ~(np.isnan(xs) | np.isnan(ys))
    if "quality" in y:  # maximised: plot its negative on the minimised axis
        ys = -ys
        y = f"-{y}"
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    _pareto_axes(ax, xs[ok], ys[ok], [str(i) for i in np.flatnonzero(ok)])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"Pareto front: {Path(path).stem}")
    p = out_dir / f"pareto_{_safe(Path(path).stem)}.png"
    fig.tight_layout()
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return [p]


def plot_caching_cost(rows: Sequence[Mapping[str, Any]], out_dir: Path) -> list[Path]:
    """Cumulative per-slot cost per method for the first instance of each problem whose rows
    carry a cost series (``series`` JSON with a key containing ``cost``)."""
    plt = _plt()
    data: dict[str, dict[tuple[str, ...], dict[str, list[float]]]] = defaultdict(dict)
    labels: dict[str, str] = {}
    for r in rows:
        text = r.get("series")
        if not _ok(r) or not isinstance(text, str) or not text:
            continue
        try:
            series = json.loads(text)
        except json.JSONDecodeError:
            continue
        key = next((k for k in sorted(series) if "cost" in k), None)
        if key is None:
            continue
        inst = export.instance_id(r)
        data[str(r["problem"])].setdefault(inst, {})[str(r["method"])] = series[key]
        labels[str(r["problem"])] = key
    written = []
    for problem, by_inst in sorted(data.items()):
        inst, by_method = next(iter(sorted(by_inst.items())))
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        for method, s in sorted(by_method.items()):
            ax.plot(np.arange(1, len(s) + 1), np.cumsum(s), label=method)
        ax.set_xlabel("time slot")
        ax.set_ylabel(f"cumulative {labels[problem]}")
        ax.set_title(f"{problem}: policy cost over time ({inst[3]}, seed {inst[4]})",
                     fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        p = out_dir / f"caching_cost_{_safe(problem)}.png"
        fig.tight_layout()
        fig.savefig(p, dpi=110)
        plt.close(fig)
        written.append(p)
    return written


def plot_results(results: str | Path | Iterable[Mapping[str, Any]], out_dir: str | Path
                 ) -> list[Path]:
    """Every plot that the rows support, written to ``out_dir``; returns the PNG paths."""
    rows = export.read_rows(results) if isinstance(results, str | Path) else list(results)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for fn in (plot_solve_time, plot_ratio, plot_pareto, plot_caching_cost):
        written += fn(rows, out)
    logger.info("wrote %d plots to %s", len(written), out)
    return written
