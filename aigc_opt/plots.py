"""Figures of benchmark results, readable at a glance (matplotlib, Agg: no display needed).

Every figure labels its axes with units, has a legend and a title that says what to look for.
Each ``figure_*`` function returns a :class:`matplotlib.figure.Figure` (or None when the data
cannot support it); :func:`plot_results` writes every supported one as PNG:

* ``metrics_<problem>.png``: latency, energy, quality and objective against the primary size
  per method, mean over seeds and its 95 % band; usable rows only; needs two sizes or more.
* ``ratio_<problem>.png``: objective / reference optimum per method, "lower is better" or
  "higher is better" from the problem's sense; a box per method with five samples or more,
  single points below that; infeasible, unverified or failed runs are not dropped but counted,
  a red cross per method in a band above the data (never placed at a ratio: their objective
  was rejected by the referee or never checked).
* ``series_<problem>.png``: cumulative cost per slot (caching), mean and min-max band.
* ``pareto_<problem>.png``: latency against energy over >= 3 spec variants (a weight sweep),
  non-dominated points joined; :func:`plot_pareto_csv` draws a sweep CSV, using the objective
  columns (not the weights) by default and the CSV's own ``front_status`` when it has one.
* ``solve_time_<problem>.png`` (log-log, fitted ``t ~ n^b`` per method) and
  ``solve_time_overview.png`` (median per (problem, method)): finite positive times only.

Paths, row dicts or a DataFrame all go through :func:`prepare`: same data, same figures.
"""

from __future__ import annotations

import csv
import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import results as res
from .errors import UnknownNameError, ValidationError
from .validate import read_text

logger = logging.getLogger(__name__)

#: Metrics drawn against size (those a problem reports), in this order.
SIZE_METRICS: tuple[str, ...] = ("latency_mean_s", "energy_total_j", "quality_mean", "objective")

#: Columns of a results table that :func:`plot_results` needs (metrics and solve time against
#: size, ratios to the reference, and what makes a row usable): without them it raises a
#: ValidationError listing them.
PLOT_COLUMNS: tuple[str, ...] = ("problem", "method", "size", "reference", "status",
                                 "termination", "has_solution", "feasible", "objective",
                                 "solve_seconds")

#: Fewer usable samples than this per method: points instead of a box.
MIN_BOX_SAMPLES = 5

_DPI = 110


def _figure(width: float = 6.4, height: float = 4.4, **kw: Any) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.subplots(**kw)
    return fig, ax


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name)  # \w: letters of any script (ü, 漢) stay


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=_DPI)
    return path


def prepare(rows: Any) -> pd.DataFrame:
    """The frame every figure is drawn from: paths, row dicts and DataFrames (raw rows, or
    :func:`aigc_opt.results.load` output, masked or not) all give the tidy frame with unusable
    runs' measurements blanked, as ``results.load`` does by default; figures draw usable runs'
    values and count the others, so nothing depends on whether the caller masked."""
    return res.load(rows)


def _colors(methods: Iterable[str]) -> dict[str, str]:
    return {m: f"C{i % 10}" for i, m in enumerate(sorted(set(methods)))}


def _better(sense: str) -> str:
    return "higher is better" if sense == "max" else "lower is better"


def _groups(df: pd.DataFrame, problem: str) -> tuple[list[str], Any]:
    """Other varying size columns of ``problem`` and its rows grouped by method and them."""
    g = df[df["problem"] == problem]
    others = res.other_sizes(df, problem)
    return others, g.groupby(["method", *others], sort=True, dropna=False)


def _group_label(method: str, others: Sequence[str], key: Sequence[Any]) -> str:
    extra = ", ".join(f"{c}={v}" for c, v in zip(others, key, strict=True))
    return f"{method} ({extra})" if extra else method


def _styles(grouped: Any) -> dict[tuple[Any, ...], str]:
    """Line style per value of the other size parameters (the key after the method)."""
    keys = sorted({(k if isinstance(k, tuple) else (k,))[1:] for k, _ in grouped}, key=str)
    return {k: ("-", "--", ":", "-.")[j % 4] for j, k in enumerate(keys)}


def _plain_log_ticks(ax: Any, sizes: Iterable[float]) -> None:
    """Plain numbers (10, 20, 50) instead of 2x10^1 on a log x axis; the sizes themselves as
    ticks when they span less than two decades."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    xs = sorted({float(x) for x in sizes if x > 0})
    if xs and xs[-1] / xs[0] < 100 and len(xs) <= 12:
        ax.set_xticks(xs)
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())


#: Fewer samples than this at a size: the band is the min-max range, not a 95 % CI (a t
#: interval from two samples is 12.7 standard errors wide and says little).
MIN_CI_SAMPLES = 3


def _band(values: np.ndarray) -> tuple[float, float]:
    """Lower and upper edge of the band around the mean: the 95 % confidence interval of the
    mean (t distribution) from :data:`MIN_CI_SAMPLES` samples, else the min-max range."""
    n = values.size
    mean = float(values.mean())
    if n < MIN_CI_SAMPLES:
        return float(values.min()), float(values.max())
    from scipy import stats

    half = float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n))
    return mean - half, mean + half


def _size_label(df: pd.DataFrame) -> str:
    names = [s for s in df["size_name"].dropna().unique() if s]
    return res.label(str(names[0]) if names else "size", "count")


# ---------------------------------------------------------------------------------- figures
def figure_metrics_vs_size(df: pd.DataFrame, problem: str) -> Any:
    """Mean (95 % CI band over seeds) of each reported metric against the primary size."""
    g = df[(df["problem"] == problem) & df["usable"]]
    metrics = [m for m in SIZE_METRICS if m in g and g[m].notna().any()]
    if g["size"].nunique() < 2 or not metrics:
        return None
    others, grouped = _groups(df[df["usable"]], problem)
    colors = _colors(g["method"])
    markers = {m: "osD^vP*Xh<>"[i % 11] for i, m in enumerate(sorted(colors))}
    styles = _styles(grouped)
    fig, axes = _figure(3.6 * len(metrics) + 2.2, 3.8, ncols=len(metrics), squeeze=False)
    sense = str(g["sense"].iloc[0])
    for ax, metric in zip(axes[0], metrics, strict=True):
        for key, h in grouped:
            kt = key if isinstance(key, tuple) else (key,)
            # one array of values per size (a plain dict: pandas 2.1 and 2.2.0 refuse an
            # aggregation that returns arrays, measured)
            stats = {x: s.dropna().to_numpy() for x, s in h.groupby("size")[metric]}
            xs = np.array([x for x in sorted(stats) if stats[x].size])
            if not xs.size:
                continue
            mean = np.array([stats[x].mean() for x in xs])
            band = np.array([_band(stats[x]) for x in xs])
            ax.plot(xs, mean, marker=markers[kt[0]], ms=5, mfc="none", color=colors[kt[0]],
                    ls=styles[kt[1:]], label=_group_label(kt[0], others, kt[1:]))
            ax.fill_between(xs, band[:, 0], band[:, 1], color=colors[kt[0]], alpha=0.12,
                            lw=0)
        unit = res.unit_of(metric)
        hint = _better(sense) if metric == "objective" else (
            "higher is better" if "quality" in metric else "lower is better")
        ax.set_xlabel(_size_label(g))
        ax.set_ylabel(res.label(metric, unit))
        ax.set_title(f"{metric} ({hint})", fontsize=9)
        ax.grid(True, alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize=7, title="method",
               title_fontsize=7)
    fig.suptitle(f"{problem}: metrics vs size (feasible, verified runs; line: mean over seeds, "
                 f"band: 95% CI, min-max below {MIN_CI_SAMPLES} seeds)", fontsize=9)
    return fig


def figure_ratio(df: pd.DataFrame, problem: str) -> Any:
    """Objective / reference optimum per method (the regret when no usable run has a ratio:
    negative objectives); boxes from :data:`MIN_BOX_SAMPLES` usable samples, points below; runs
    not usable are counted, one red cross per method above the data (masked ``df`` or not)."""
    r = res.add_ratios(df[df["problem"] == problem])
    if not r["ref_objective"].notna().any():
        return None
    r = r[(r["method"] != r["reference"]) & r["ref_objective"].notna()]
    methods = sorted(r["method"].unique())
    if not methods:
        return None
    sense, reference = str(r["sense"].iloc[0]), str(r["reference"].iloc[0])
    col = "ratio_to_ref" if r.loc[r["usable"], "ratio_to_ref"].notna().any() else "regret"
    what, better, ref_y = (("objective / optimum", _better(sense), 1.0) if col == "ratio_to_ref"
                           else ("regret to the optimum", "lower is better", 0.0))
    fig, ax = _figure(max(6.4, 1.0 * len(methods) + 2.5), 4.6)
    n_none: dict[int, int] = {}
    seen: set[str] = set()

    def once(name: str) -> str:
        if name in seen:
            return "_nolegend_"
        seen.add(name)
        return name

    for i, m in enumerate(methods, start=1):
        h = r[r["method"] == m]
        good = h.loc[h["usable"], col].dropna().to_numpy()
        if good.size >= MIN_BOX_SAMPLES:
            ax.boxplot([good], positions=[i], widths=0.5, showfliers=False, patch_artist=True,
                       boxprops={"facecolor": "none", "edgecolor": "C0"},
                       medianprops={"color": "C0"})
        jitter = np.linspace(-0.12, 0.12, good.size) if good.size > 1 else np.zeros(good.size)
        if good.size:
            ax.scatter(i + jitter, good, s=16, color="C0", alpha=0.8, zorder=3,
                       label=once("feasible, verified run"))
        n_none[i] = int((~h["usable"]).sum())  # counted, not placed: same masked or not
    ax.axhline(ref_y, color="k", lw=0.8, ls="--", label=f"reference ({reference}, optimal)")
    if any(n_none.values()):  # runs not usable: crosses in a band above the data
        lo, hi = ax.get_ylim()
        span = max(hi - lo, 1e-9)
        ax.set_ylim(lo, hi + 0.18 * span)
        ax.axhspan(hi + 0.04 * span, hi + 0.18 * span, color="0.94", zorder=0)
        for i, n in n_none.items():
            if n:
                ax.scatter([i], [hi + 0.09 * span], s=40, marker="x", color="C3", zorder=4,
                           label=once("infeasible, unverified or failed run"))
                ax.annotate(f"{n} not usable", (i, hi + 0.14 * span), ha="center",
                            fontsize=6, color="C3")
    ax.set_xticks(range(1, len(methods) + 1), methods, rotation=30, ha="right")
    ax.set_xlim(0.4, len(methods) + 0.6)
    ax.set_xlabel("method [-]")
    ax.set_ylabel(f"{what} [-] ({better})")
    ax.set_title(f"{problem}: {what} ({sense}imised: {better})", fontsize=9)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return fig


def figure_series(df: pd.DataFrame, problem: str, series: str | None = None) -> Any:
    """Cumulative per-slot series (default: the first whose name contains ``cost``) per
    method: mean over the usable runs' seeds with a min-max band."""
    st = res.series_table(df[df["problem"] == problem])
    if st.empty:
        return None
    names = sorted(st["series"].unique())
    name = series or next((n for n in names if "cost" in n), None)
    if name is None:
        return None
    s = st[(st["series"] == name)]
    good = s[s["usable"].astype(bool)]
    excluded = s.loc[~s["usable"].astype(bool), "run"].nunique()
    if good.empty:
        return None
    unit = res.unit_of(name)
    fig, ax = _figure()
    colors = _colors(good["method"])
    for method, h in good.groupby("method", sort=True):
        wide = h.pivot_table(index="slot", columns="run", values="value", aggfunc="first")
        cum = wide.cumsum().to_numpy()
        slots = wide.index.to_numpy() + 1
        ax.plot(slots, np.nanmean(cum, axis=1), color=colors[str(method)],
                label=f"{method} (n={cum.shape[1]})")
        if cum.shape[1] > 1:
            ax.fill_between(slots, np.nanmin(cum, axis=1), np.nanmax(cum, axis=1),
                            color=colors[str(method)], alpha=0.15, lw=0)
    ax.set_xlabel("time slot [slot]")
    ax.set_ylabel(res.label(f"cumulative {name}", unit))
    note = f"; {excluded} infeasible run(s) left out" if excluded else ""
    ax.set_title(f"{problem}: {name} over time (lower is better; band: min-max over seeds"
                 f"{note})", fontsize=8)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, title="method", title_fontsize=7)
    return fig


def _positive(col: pd.Series) -> pd.Series:  # log axes: a tidy frame may hold inf and -1 s
    return ((v := pd.to_numeric(col, errors="coerce")) > 0) & (v < 1e300)


def figure_solve_time(df: pd.DataFrame, problem: str) -> Any:
    """Solve time against the primary size on log-log axes, with the least-squares exponent
    ``b`` of ``t = a n^b`` in the legend; one line per (method, other size parameters)."""
    g = df[(df["problem"] == problem) & df["usable"] & _positive(df["solve_seconds"])]
    if g["size"].nunique() < 2:
        return None
    others, grouped = _groups(df[df["usable"] & _positive(df["solve_seconds"])], problem)
    colors = _colors(g["method"])
    styles = _styles(grouped)
    fig, ax = _figure(7.0, 4.6)
    for key, h in grouped:
        kt = key if isinstance(key, tuple) else (key,)
        c = colors[kt[0]]
        t = np.maximum(h["solve_seconds"].to_numpy(dtype=float), 1e-6)
        n = h["size"].to_numpy(dtype=float)
        a, b, _ = res.fit_power_law(n, t)
        ax.scatter(n, t, s=10, color=c, alpha=0.5)
        med = h.assign(t=t).groupby("size")["t"].median()
        fit = f": t ~ n^{b:.2f}" if b == b else ": (one size)"
        ax.plot(med.index, med.to_numpy(), marker="o", ms=4, color=c, ls=styles[kt[1:]],
                label=_group_label(kt[0], others, kt[1:]) + fit)
        if b == b:
            xs = np.geomspace(n.min(), n.max(), 20)
            ax.plot(xs, a * xs**b, color=c, lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_log_ticks(ax, g["size"])
    ax.set_xlabel(_size_label(g))
    ax.set_ylabel("solve time [s]")
    ax.set_title(f"{problem}: solve time vs size (log-log; dotted: fit; lower is better)",
                 fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, title="method: fitted exponent", title_fontsize=7)
    return fig


def figure_solve_time_overview(df: pd.DataFrame) -> Any:
    """Median solve time of every (problem, method) over usable runs, on a log axis."""
    g = df[df["usable"] & _positive(df["solve_seconds"])]
    if g.empty:
        return None
    med = g.groupby(["problem", "method"], sort=True)["solve_seconds"].median()
    labels = [f"{p} / {m}" for p, m in med.index]
    problems = sorted({p for p, _ in med.index})
    colors = {p: f"C{i % 10}" for i, p in enumerate(problems)}
    fig, ax = _figure(7.5, max(3.0, 0.16 * len(med) + 1.2))
    y = np.arange(len(med))[::-1]
    for p in problems:
        sel = np.array([q == p for q, _ in med.index])
        ax.scatter(np.maximum(med.to_numpy()[sel], 1e-6), y[sel], s=14, color=colors[p],
                   label=p)
    ax.set_yticks(y, labels, fontsize=5)
    ax.set_xscale("log")
    ax.set_xlabel("median solve time [s]")
    ax.set_ylabel("problem / method [-]")
    ax.set_title("Median solve time per method (feasible, verified runs; lower is better)",
                 fontsize=9)
    ax.grid(True, axis="x", which="both", alpha=0.3)
    ax.legend(fontsize=5, loc="lower right", title="problem", title_fontsize=6)
    return fig


def pareto_mask(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-dominated points when both ``x`` and ``y`` are minimised (ties kept once)."""
    return nondominated(np.column_stack([x, y]))


def nondominated(values: np.ndarray) -> np.ndarray:
    """Rows of ``values`` (points x objectives, every one minimised) that no other row
    dominates (``<=`` in every objective and ``<`` in one); of equal rows the first is kept."""
    v = np.asarray(values, dtype=float).reshape(len(values), -1)
    keep = np.zeros(len(v), dtype=bool)
    front: list[np.ndarray] = []
    for i in np.lexsort(v.T[::-1]):  # a dominating row sorts first; compare with the front
        if not front or not (np.array(front) <= v[i]).all(axis=1).any():
            keep[i] = True
            front.append(v[i])
    return keep


def _pareto_axes(ax: Any, x: np.ndarray, y: np.ndarray, labels: Sequence[str],
                 color: np.ndarray | None = None, color_label: str = "", *,
                 front: np.ndarray | None = None, join: bool = True,
                 front_label: str = "Pareto front (non-dominated)") -> None:
    """All points, and the ``front`` (default: non-dominated in ``x`` and ``y``) joined by a
    line, or as circles when ``join`` is False (a front over more objectives than the two
    axes: its 2-D projection is no curve)."""
    keep = pareto_mask(x, y) if front is None else np.asarray(front, dtype=bool)
    if color is None:
        ax.scatter(x, y, s=18, alpha=0.7, color="C0", label="all points", zorder=2)
    else:
        sc = ax.scatter(x, y, s=18, alpha=0.7, c=color, cmap="viridis", label="all points",
                        zorder=2)
        cb = ax.figure.colorbar(sc, ax=ax)
        cb.set_label(color_label)
    order = np.argsort(x[keep])
    ax.plot(x[keep][order], y[keep][order], "r-o" if join else "ro", ms=4 if join else 8,
            mfc="none", label=front_label, zorder=3)
    for xi, yi, lab in zip(x[keep], y[keep], np.asarray(labels)[keep], strict=True):
        ax.annotate(str(lab), (xi, yi), fontsize=6, alpha=0.7)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)


def figure_pareto(df: pd.DataFrame, problem: str, *, x: str = "latency_mean_s",
                  y: str = "energy_total_j") -> Any:
    """``x`` against ``y`` (both minimised) over the spec variants of ``problem`` (>= 3)."""
    g = df[(df["problem"] == problem) & df["usable"]]
    if x not in g or y not in g:
        return None
    g = g[g[x].notna() & g[y].notna()]
    if g["variant"].nunique() < 3:
        return None
    fig, ax = _figure()
    _pareto_axes(ax, g[x].to_numpy(float), g[y].to_numpy(float), g["variant"].tolist())
    ax.set_xlabel(res.label(x))
    ax.set_ylabel(res.label(y))
    ax.set_title(f"{problem}: trade-off over spec variants (both lower is better)", fontsize=9)
    return fig


#: Objective columns of a sweep CSV, in order of preference, and whether each is maximised.
PARETO_OBJECTIVES: tuple[tuple[str, bool], ...] = (
    ("latency", False), ("energy", False), ("quality", True), ("cost", False),
    ("utility", True))


def _pareto_columns(cols: Sequence[str], rows: Sequence[Mapping[str, str]]) -> list[str]:
    """Numeric objective columns (not weights, bounds or indices), preferred ones first."""
    def numeric(c: str) -> bool:
        return any(_num(r[c]) == _num(r[c]) for r in rows)

    skip = re.compile(r"weight|^w_|eps|bound|index|seconds|gap|^objective$", re.I)
    cand = [c for c in cols if not skip.search(c) and numeric(c)
            and any(k in c.lower() for k, _ in PARETO_OBJECTIVES)]
    rank = {k: i for i, (k, _) in enumerate(PARETO_OBJECTIVES)}
    return sorted(cand, key=lambda c: min(rank[k] for k in rank if k in c.lower()))


def _num(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


#: Largest magnitude of a plotted sweep value: beyond it matplotlib's axis range (max - min
#: plus margins) overflows float64 (1e308 and -1e308 gave "arange: cannot compute length").
PLOT_LIMIT = 1e300

#: Cells of a sweep CSV that mean "no value" (a point without a solution): left out.
_MISSING = frozenset({"", "nan", "na", "n/a", "none", "null"})


def _read_sweep(path: str | Path) -> tuple[list[str], list[dict[str, str]], list[int]]:
    """Header, rows and their line numbers of a sweep CSV, strictly: one record per line, the
    header's field count on every line, unique column names; else a ValidationError naming
    the file and line (never a row merged across lines or shifted silently)."""
    text = read_text(path, "Pareto CSV")
    lines = [(n, line.rstrip("\r")) for n, line in enumerate(text.split("\n"), start=1)]
    lines = [(n, line) for n, line in lines if line.strip()]
    if not lines:
        raise ValidationError("path", "-", str(path), "the Pareto CSV is empty (no header)")
    parsed = []
    for n, line in lines:
        try:
            parsed.append(next(csv.reader([line], strict=True)))
        except csv.Error as exc:
            raise ValidationError("path", "-", str(path), f"cannot parse the Pareto CSV: "
                                  f"line {n}: {exc} ({line[:60]!r})") from None
    cols = parsed[0]
    dup = sorted({c for c in cols if cols.count(c) > 1})
    if dup:
        raise ValidationError("path", "-", str(path), f"duplicate column(s) {dup} in the "
                              "header of the Pareto CSV")
    for (n, line), fields in zip(lines[1:], parsed[1:], strict=True):
        if len(fields) != len(cols):
            raise ValidationError("path", "-", str(path), f"cannot parse the Pareto CSV: line "
                                  f"{n} has {len(fields)} field(s), the header {len(cols)} "
                                  f"({line[:60]!r})")
    rows = [dict(zip(cols, f, strict=True)) for f in parsed[1:]]
    return cols, rows, [n for n, _ in lines[1:]]


def _sweep_values(path: str | Path, column: str, rows: Sequence[Mapping[str, str]],
                  lines: Sequence[int]) -> np.ndarray:
    """Column values (NaN for a missing cell); a cell that is not a finite number of
    magnitude <= :data:`PLOT_LIMIT` raises a ValidationError naming column, line and file."""
    out = np.full(len(rows), np.nan)
    for i, (r, n) in enumerate(zip(rows, lines, strict=True)):
        cell = r[column].strip()
        if cell.lower() in _MISSING:
            continue
        v = _num(cell)
        if not abs(v) <= PLOT_LIMIT:  # text (NaN), inf or too large to plot
            why = ("not a number" if v != v else
                   f"not a finite number of magnitude <= {PLOT_LIMIT:g} (cannot be plotted)")
            raise ValidationError(column, _pareto_unit(column), cell,
                                  f"{why} (line {n} of {path})")
        out[i] = v
    return out


def plot_pareto_csv(path: str | Path, out_dir: Path, *, x: str | None = None,
                    y: str | None = None) -> list[Path]:
    """Plot a CSV of sweep points (one row per point) as a Pareto front of ``x`` vs ``y``.

    Without ``x`` / ``y`` the first two objective columns (latency, energy, quality, cost,
    utility; never the weights) are used, and a third objective, when present, colours the
    points. Maximised objectives (quality, utility) are plotted negated so that both axes are
    minimised. Rows without values (empty or ``nan``: no solution) are left out. The front is
    the CSV's own ``front_status == "front"`` when it has that column (a ``ParetoFront`` CSV:
    non-dominated over latency, energy and quality, which are labelled as the request-weighted
    totals they are), else the points non-dominated over the plotted objectives, colour
    included; a front over more objectives than the axes is drawn unjoined, as a 2-D view.

    Raises
    ------
    UnknownNameError
        ``x`` or ``y`` is not a column (also a ``KeyError``).
    ValidationError
        A file that is missing, not UTF-8, empty or not a CSV of one record per line (naming
        the line), has no two numeric objective columns, an ``x``/``y`` cell that is not a
        finite number (naming column and line) or no row with both values.
    """
    cols, rows, lines = _read_sweep(path)
    cand = _pareto_columns(cols, rows)
    for c in (x, y):
        if c is not None and c not in cols:
            raise UnknownNameError("column", c, cols, f" (in {path})")
    if x is None or y is None:
        rest = [c for c in cand if c not in (x, y)]
        if x is None:
            x = rest.pop(0) if rest else None
        if y is None:
            y = rest.pop(0) if rest else None
        if x is None or y is None:
            raise ValidationError("path", "-", str(path), "need two numeric objective columns "
                                  f"({', '.join(k for k, _ in PARETO_OBJECTIVES)}; not "
                                  f"weights) with values; columns: {cols}")
    third = next((c for c in cand if c not in (x, y)), None)
    xs = _sweep_values(path, x, rows, lines)
    ys = _sweep_values(path, y, rows, lines)
    ok = ~(np.isnan(xs) | np.isnan(ys))
    if not ok.any():
        raise ValidationError("path", "-", str(path), f"no row has values in both {x!r} and "
                              f"{y!r}: nothing to plot")
    sums = "front_status" in cols  # a ParetoFront.to_csv file: weighted sums over requests
    sign = {c: -1.0 if any(k in c.lower() for k, mx in PARETO_OBJECTIVES if mx) else 1.0
            for c in (x, y, third) if c is not None}  # maximised ones negated
    xs, ys = sign[x] * xs, sign[y] * ys
    xl, yl = (("-" if sign[c] < 0 else "") + _sweep_label(c, sums) for c in (x, y))
    color = None
    if third is not None:  # colour only when every plotted point has a plottable value
        color = np.array([_num(r[third]) for r in rows])[ok]
        if not (np.abs(color) <= PLOT_LIMIT).all():
            color = None
    extra = [sign[third] * color] if third is not None and color is not None else []
    if sums:  # the sweep's own marking, over all its objectives
        named = [m for m in SWEEP_METRICS if m in cols]
        front = np.array([r["front_status"].strip() == "front" for r in rows])[ok]
    else:
        named = [x, y] + ([third] if third is not None and extra else [])
        front = nondominated(np.column_stack([xs[ok], ys[ok], *extra]))
    projected = not set(named) <= {x, y}
    fig, ax = _figure(7.0 if color is not None else 6.4, 4.6)
    _pareto_axes(ax, xs[ok], ys[ok], [str(i) for i in np.flatnonzero(ok)], color,
                 "" if third is None else _sweep_label(third, sums) + (
                     " (higher is better)" if sign[third] < 0 else " (lower is better)"),
                 front=front, join=not projected, front_label=(
                     f"Pareto front over {len(named)} objectives ({', '.join(named)})"
                     if projected else "Pareto front (non-dominated)")
                 + (" = front_status 'front'" if sums else ""))
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    note = [f"2-D view of a {len(named)}-objective front"] if projected else []
    note += ["totals: sums over requests weighted by w_n"] if sums else []
    ax.set_title(f"Pareto front: {Path(path).stem} ({int(ok.sum())} points, "
                 f"{int(front.sum())} on the front; lower is better on both axes)"
                 + ("\n" + "; ".join(note) if note else ""), fontsize=9)
    p = _save(fig, Path(out_dir) / f"pareto_{_safe(Path(path).stem)}.png")
    return [p]


#: Objectives of a :class:`~aigc_opt.problems.allocation.pareto.ParetoFront` CSV (the one with
#: a ``front_status`` column): sums over requests weighted by ``w_n``, its front over all three.
SWEEP_METRICS: tuple[str, ...] = ("latency", "energy", "quality")


def _sweep_label(column: str, sums: bool) -> str:
    """Axis label with unit; ``weighted total ...`` for the sums of a ParetoFront CSV."""
    name = f"weighted total {column}" if sums and column in SWEEP_METRICS else column
    return res.label(name, _pareto_unit(column))


def _pareto_unit(column: str) -> str:
    low = column.lower()
    for key, unit in (("latency", "s"), ("energy", "J"), ("quality", "1"), ("cost", "cost unit"),
                      ("utility", "utility")):
        if low == key:
            return unit
    return res.unit_of(column)


# ---------------------------------------------------------------------------------- writers
def _write_each(df: pd.DataFrame, out_dir: Path, prefix: str, fn: Any) -> list[Path]:
    written = []
    for problem in sorted(df["problem"].dropna().unique()):
        fig = fn(df, str(problem))
        if fig is not None:
            written.append(_save(fig, out_dir / f"{prefix}_{_safe(str(problem))}.png"))
    return written


def plot_metrics(rows: Any, out_dir: Path) -> list[Path]:
    """``metrics_<problem>.png`` for every problem run at two sizes or more."""
    return _write_each(prepare(rows), Path(out_dir), "metrics", figure_metrics_vs_size)


def plot_ratio(rows: Any, out_dir: Path) -> list[Path]:
    """``ratio_<problem>.png`` for every problem with an optimal reference."""
    return _write_each(prepare(rows), Path(out_dir), "ratio", figure_ratio)


def plot_series(rows: Any, out_dir: Path) -> list[Path]:
    """``series_<problem>.png`` for every problem whose rows carry a cost series."""
    return _write_each(prepare(rows), Path(out_dir), "series", figure_series)


def plot_pareto(rows: Any, out_dir: Path) -> list[Path]:
    """``pareto_<problem>.png`` for every problem run under >= 3 spec variants."""
    return _write_each(prepare(rows), Path(out_dir), "pareto", figure_pareto)


def plot_solve_time(rows: Any, out_dir: Path) -> list[Path]:
    """``solve_time_<problem>.png`` per problem run at two sizes or more, and
    ``solve_time_overview.png``."""
    df = prepare(rows)
    written = _write_each(df, Path(out_dir), "solve_time", figure_solve_time)
    fig = figure_solve_time_overview(df)
    if fig is not None:
        written.append(_save(fig, Path(out_dir) / "solve_time_overview.png"))
    return written


def plot_results(results: str | Path | pd.DataFrame | Iterable[Any], out_dir: str | Path
                 ) -> list[Path]:
    """Every figure that the rows support, written to ``out_dir``; returns the PNG paths.

    Raises a ValidationError listing the :data:`PLOT_COLUMNS` the results lack, before
    writing anything.
    """
    df = prepare(results)
    res.require_columns(df, PLOT_COLUMNS, "plot")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if df.empty:
        return written
    for fn in (plot_metrics, plot_ratio, plot_series, plot_pareto, plot_solve_time):
        written += fn(df, out)
    logger.info("wrote %d figures to %s", len(written), out)
    return written
