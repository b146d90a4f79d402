"""One-command report: every relevant figure and the summary tables of a results CSV as HTML.

``aigc-opt report results.csv --out report/`` (or :func:`write_report`) writes into ``report/``:

* the PNG figures of :mod:`aigc_opt.plots` (metrics and solve time against size, ratios to the
  optimum, cost over time, Pareto fronts, a solve-time overview);
* ``summary.csv``: the ratio summary (:func:`aigc_opt.results.ratio_summary`);
* ``results.parquet``: the tidy table (:func:`aigc_opt.results.load`, unusable rows' measurements
  blanked) when ``pyarrow`` is installed;
* ``index.html``: one self-contained page (relative links only, no scripts, no network) with the
  tables and the figures, grouped by problem.

Rows that are not usable (infeasible, unverified, failed) are counted and left out of every
table and aggregate, and shown as marked points in the ratio figures.
"""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from . import plots
from . import results as res
from .errors import ValidationError

logger = logging.getLogger(__name__)

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table.data { border-collapse: collapse; font-size: 0.8em; margin: 0.5em 0 1em; }
table.data th, table.data td { border: 1px solid #ddd; padding: 2px 6px; text-align: right; }
table.data th { background: #f3f3f3; } table.data td:nth-child(-n+2) { text-align: left; }
figure { margin: 0.5em 0 1.5em; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
.note { background: #f7f7e8; border-left: 4px solid #cc5; padding: 0.5em 1em; }
"""

_CAPTIONS = {
    "metrics": "Latency, energy, quality and objective against size (feasible, verified runs).",
    "ratio": "Objective / reference optimum per method; red crosses: infeasible or unverified "
             "runs (not dropped).",
    "series": "Cumulative cost over time slots per method.",
    "pareto": "Trade-off over spec variants; the red line joins the non-dominated points.",
    "solve_time": "Solve time against size, log-log, with the fitted exponent in the legend.",
}


def _table(df: pd.DataFrame, caption: str = "") -> str:
    if df.empty:
        return f"<p><em>{html.escape(caption or 'table')}: no rows.</em></p>"
    body = df.to_html(index=False, classes="data", border=0, na_rep="–",
                      float_format=lambda x: f"{x:.4g}")
    return (f"<p>{html.escape(caption)}</p>\n" if caption else "") + body


def _figure_html(path: Path, out: Path) -> str:
    kind = next((k for k in sorted(_CAPTIONS, key=len, reverse=True)
                 if path.name.startswith(k + "_")), "")
    rel = path.relative_to(out).as_posix()
    alt = html.escape(path.stem.replace("_", " "))
    cap = html.escape(_CAPTIONS.get(kind, ""))
    return (f'<figure><img src="{html.escape(rel)}" alt="{alt}" loading="lazy">'
            f"<figcaption>{alt}. {cap}</figcaption></figure>")


def _problem_of(path: Path) -> str:
    stem = path.stem
    for k in sorted(_CAPTIONS, key=len, reverse=True):
        if stem.startswith(k + "_"):
            return stem[len(k) + 1:]
    return ""


def write_report(sources: str | Path | pd.DataFrame | Iterable[Any], out_dir: str | Path, *,
                 pareto: str | Path | None = None, title: str = "aigc_opt benchmark report",
                 parquet: bool = True) -> Path:
    """Write the figures, ``summary.csv``, ``results.parquet`` and ``index.html``.

    Parameters
    ----------
    sources : path, paths, DataFrame or rows
        Results CSVs (anything :func:`aigc_opt.results.load` takes).
    out_dir : path
        Output directory (created).
    pareto : path, optional
        A sweep CSV (one row per point) to draw as a Pareto front as well.
    title : str
        Page title.
    parquet : bool
        Also write the tidy table as Parquet (skipped with a note when pyarrow is missing).

    Returns
    -------
    Path
        The ``index.html`` written.

    Raises
    ------
    ValidationError
        Before anything is written: unreadable results, results without the columns the
        figures and tables need (:data:`aigc_opt.plots.PLOT_COLUMNS`), or an output file
        (``summary.csv``, ``results.parquet``, ``index.html``) that is one of the inputs.
    """
    out = Path(out_dir)
    if not isinstance(sources, str | Path | pd.DataFrame):
        sources = list(sources)  # read twice: by load and by the overwrite check
    raw = res.load(sources, mask_unusable=False)
    res.require_columns(raw, plots.PLOT_COLUMNS, "the report")
    _refuse_overwrite(sources, pareto, out)
    out.mkdir(parents=True, exist_ok=True)
    tidy = res.mask_unusable_rows(raw)
    figures = plots.plot_results(raw, out)
    if pareto is not None:
        figures += plots.plot_pareto_csv(pareto, out)
    summary = res.ratio_summary(raw)
    summary.to_csv(out / "summary.csv", index=False)
    fits = res.time_fits(raw)
    fits = fits[fits["sizes"] >= 2]
    extras: list[str] = ["summary.csv"]
    if parquet:
        try:
            res.to_parquet(tidy, out / "results.parquet")
            extras.append("results.parquet")
        except ImportError as exc:
            logger.warning("%s", exc)
    page = _page(raw, summary, fits, figures, out, title, extras)
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    logger.info("report: %s (%d figures)", index, len(figures))
    return index


#: Files :func:`write_report` writes besides the figures.
OUTPUTS = ("summary.csv", "results.parquet", "index.html")


def _refuse_overwrite(sources: Any, pareto: str | Path | None, out: Path) -> None:
    """ValidationError when an output file of the report would overwrite an input file."""
    paths = [sources] if isinstance(sources, str | Path) else [] if isinstance(
        sources, pd.DataFrame) else [s for s in sources if isinstance(s, str | Path)]
    for src in [*paths, *([pareto] if pareto is not None else [])]:
        for name in OUTPUTS:
            target = out / name
            try:
                same = target.exists() and os.path.samefile(target, src)
            except OSError:
                same = False
            if same:
                raise ValidationError("out_dir", "-", str(target), f"is the input {str(src)!r}: "
                                      "the report would overwrite it; choose another output "
                                      "directory (or rename the input)")


def _page(df: pd.DataFrame, summary: pd.DataFrame, fits: pd.DataFrame, figures: list[Path],
          out: Path, title: str, extras: list[str]) -> str:
    n_bad = int((~df["usable"]).sum())
    sources = sorted({str(s) for s in df.get("source", pd.Series(dtype=str)).dropna()})
    status = res.status_counts(df)
    status = status[(status["status"] != "ok") | (status["termination"].isin(
        ["infeasible", "unverified", "limit", "error"])) | ~status["usable"]]
    sense = (df.groupby("problem", sort=True)["sense"].first().rename("sense").reset_index())
    sense["decided by"] = sense["problem"].map(df.attrs.get("sense_source", {}))
    by_problem: dict[str, list[Path]] = {}
    overview: list[Path] = []
    for f in figures:
        p = _problem_of(f)
        (by_problem.setdefault(p, []) if p and p != "overview" else overview).append(f)
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{len(df)} rows from {html.escape(', '.join(sources) or 'rows')}; "
        f"{df['problem'].nunique()} problems, {df['method'].nunique()} methods; generated "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Files: "
        + ", ".join(f'<a href="{e}">{e}</a>' for e in extras) + ".</p>",
        '<p class="note"><b>How to read the flags.</b> <code>status</code> is how the case run '
        "ended (ok / error / timeout / crashed); <code>termination</code> is what the solver "
        "reported (optimal, feasible, infeasible, ...); <code>feasible</code> and "
        "<code>verified</code> are the evaluator's verdicts. Only <em>usable</em> rows (status "
        f"ok, a solution, feasible and verified) enter the tables and curves: {n_bad} of "
        f"{len(df)} rows were left out and are listed below.</p>",
        "<h2>Ratio to the reference optimum</h2>",
        _table(summary, "Per problem and method over usable rows: ratio = objective / "
               "reference objective (sense min: lower is better; max: higher is better); "
               "regret = (objective - reference) / max(1, |reference|) signed so that > 0 is "
               "worse; wins / ties / losses against the reference; excluded = rows not "
               f"usable ({summary.attrs.get('excluded', 0)} in total)."),
        "<h2>Rows left out or not optimal</h2>",
        _table(status, "Rows per problem, status and termination that are not usable or did "
               "not end optimal/feasible."),
        "<h2>Solve time scaling</h2>",
        _table(fits, "Least-squares fit of solve_seconds = a * size^exponent (log-log) per "
               "method and other size parameters, over usable rows; only groups with two "
               "sizes or more.") if not fits.empty else
        "<p><em>No problem was run at two sizes or more: no scaling fit.</em></p>",
        "<h2>Objective sense</h2>",
        _table(sense, "min: minimised; max: maximised; decided by the row's sense column, "
               "the case registry, or inferred from the data."),
    ]
    for problem in sorted(by_problem):
        parts.append(f'<h2 id="{html.escape(problem)}">{html.escape(problem)}</h2>')
        parts += [_figure_html(f, out) for f in by_problem[problem]]
    if overview:
        parts.append("<h2>Overview</h2>")
        parts += [_figure_html(f, out) for f in overview]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
