"""Summaries of results rows as plain dicts: ratios to the reference, per-method counts, and
a plain-text table (what ``aigc-opt bench`` and ``aigc-opt summary`` print).

These work on the row dicts of :func:`aigc_opt.export.read_rows` (re-exported there). The typed
pandas version, with sense-aware wins / losses, units and Parquet, is :mod:`aigc_opt.results`.
A row enters the ratios only when :func:`usable_row` (a feasible, verified solution).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

#: ``aigc_opt.export.STATUS_OK`` (not imported: export re-exports this module).
_STATUS_OK = "ok"


def _fnum(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def instance_id(row: Mapping[str, Any]) -> tuple[str, ...]:
    """Rows with the same id solve the same instance (suite, problem, variant, sizes, seed)."""
    return tuple(str(row.get(k, "")) for k in ("suite", "problem", "variant", "sizes", "seed"))


def usable_row(row: Mapping[str, Any]) -> bool:
    """A row whose answer may enter aggregates: it has a solution that the evaluator found
    ``feasible`` and ``verified`` (a row without a ``verified`` cell, from an older file, is
    judged on the other two), with a finite objective."""
    def yes(v: Any) -> bool:
        return v is True or (isinstance(v, str) and v.lower() == "true") or v is np.True_

    verified = row.get("verified")
    try:
        finite = math.isfinite(float(row.get("objective")))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        finite = False
    return yes(row.get("has_solution")) and yes(row.get("feasible")) and finite and (
        verified is None or verified == "" or yes(verified))


#: Columns :func:`add_ratios` adds to every row, in order.
RATIO_COLUMNS: tuple[str, ...] = ("ref_objective", "ratio_to_ref", "excess_to_ref", "regret")


def add_ratios(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Copy rows adding ``ref_objective``, ``ratio_to_ref`` = objective / reference objective,
    ``excess_to_ref`` = (objective - ref) / max(1, |ref|) and ``regret`` (the excess signed so
    that > 0 is worse than the reference whatever the row's ``sense``), the reference being the
    row of the same instance whose method is the row's ``reference`` and which ended
    ``optimal``. NaN where either side is missing, the row is not :func:`usable_row`, the
    reference objective is not positive or the objective is negative (with negative objectives
    ``objective / reference`` falls below 1 for a *worse* minimisation result, so a ratio means
    nothing then; ``excess_to_ref`` still does)."""
    out = [dict(r) for r in rows]
    refs: dict[tuple[str, ...], float] = {}
    for r in out:
        if r.get("method") and r.get("method") == r.get("reference") and \
                r.get("termination") == "optimal":
            refs[instance_id(r)] = _fnum(r.get("objective"))
    for r in out:
        ref = refs.get(instance_id(r), math.nan)
        obj = _fnum(r.get("objective")) if usable_row(r) else math.nan
        r["ref_objective"] = ref
        same_sign = ref > 0 and obj >= 0  # False for NaN
        r["ratio_to_ref"] = obj / ref if same_sign else math.nan
        r["excess_to_ref"] = (obj - ref) / max(1.0, abs(ref)) if ref == ref and obj == obj \
            else math.nan
        r["regret"] = -r["excess_to_ref"] if r.get("sense") == "max" else r["excess_to_ref"]
    return out


SUMMARY_COLUMNS: tuple[str, ...] = ("problem", "method", "cases", "optimal", "feasible",
                                    "failed", "median_solve_s", "mean_ratio", "mean_regret")


def summarize(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per (problem, method): cases, optimal / feasible / failed counts, median solve time, mean
    ratio to the reference objective and mean regret: the excess ``(obj - ref) / max(1, |ref|)``
    signed so that > 0 is worse than the reference whatever the sense (the row's ``sense``,
    ``"min"`` when absent), as in :func:`aigc_opt.results.ratio_summary`.

    ``feasible`` counts :func:`usable_row` rows (a solution the evaluator found feasible and
    verified); ``failed`` counts the rest (errors, time-outs, crashes, no solution, violated
    constraints, unverified objectives), which never enter the ratio means. The typed
    DataFrame version with sense-aware wins / losses is :func:`aigc_opt.results.ratio_summary`.
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in add_ratios(rows):
        groups.setdefault((str(r.get("problem")), str(r.get("method"))), []).append(r)
    out = []
    for (problem, method), rs in sorted(groups.items()):
        ok = [r for r in rs if usable_row(r)]
        times = [t for t in (_fnum(r.get("solve_seconds")) for r in rs
                             if r.get("status") == _STATUS_OK) if t == t]
        ratios = [x for x in (_fnum(r["ratio_to_ref"]) for r in rs) if x == x]
        regret = [x for x in (_fnum(r["regret"]) for r in rs) if x == x]
        out.append({
            "problem": problem,
            "method": method,
            "cases": len(rs),
            "optimal": sum(r.get("termination") == "optimal" for r in rs),
            "feasible": len(ok),
            "failed": len(rs) - len(ok),
            "median_solve_s": statistics.median(times) if times else math.nan,
            "mean_ratio": statistics.fmean(ratios) if ratios else math.nan,
            "mean_regret": statistics.fmean(regret) if regret else math.nan,
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
