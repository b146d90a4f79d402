r"""Results as data: benchmark CSVs as one tidy, typed pandas DataFrame, plus summaries.

::

    from aigc_opt import results
    df = results.load("q.csv")                 # one or many CSVs (or Parquet files)
    results.units(df)["latency_mean_s"]        # 's'
    results.pivot(df, "latency_mean_s", index="method", columns="n_users")
    results.ratio_summary(df)                  # ratios to the reference, infeasible excluded
    results.to_parquet(df, "q.parquet")

What a row's flags mean
-----------------------
A results CSV has one row per *case* (problem x variant x sizes x seed x method). Four columns
say how it went, and they answer different questions:

``status``
    How the **case run** ended: ``ok`` (the method returned), ``error`` (it raised),
    ``timeout`` (the wall-clock limit killed it) or ``crashed`` (its worker process died).
    ``ok`` says nothing about the quality of the answer.
``termination``
    What the **solver** reported (:class:`aigc_opt.Termination`): ``optimal``, ``feasible``,
    ``infeasible``, ``limit``, ``unverified``, ``error``, ... A heuristic whose allocation violates
    a hard constraint is ``infeasible`` while its status is still ``ok``.
``feasible``
    The family's **evaluator** (the referee) found no hard constraint violated.
``verified``
    The evaluator re-scored the solution and agreed with the method's objective.

A row is **usable** (column ``usable``) when ``status == "ok"``, it has a solution, and it is
both ``feasible`` and ``verified``. By default :func:`load` blanks (NaN) the measurement columns
(objective, bound, gap, evaluator objective, every metric such as ``latency_mean_s``) of rows that
are not usable, so that no pivot, mean or ranking ever rewards an infeasible or unverified
answer; the violation columns (``n_violations``, ``max_violation``) and the times are kept. Load
with ``mask_unusable=False`` to see the raw numbers (the plots do, to mark such runs). Every
summary counts the rows it left out (column ``excluded``).

Columns added to the CSV's own
------------------------------
* one column per size parameter, parsed from ``sizes`` (``n_models=4,n_servers=3,n_users=10``
  gives integer columns ``n_models``, ``n_servers``, ``n_users``), and ``size_name``, the name of
  the primary size (whose value is in ``size``);
* one column per spec parameter, parsed from the ``params`` JSON, named ``param_<name>``;
* one column per extra metric in ``metrics_extra`` (JSON), under its own name;
* ``sense``: ``"min"`` or ``"max"``, whether the problem's objective is minimised or maximised;
* ``usable`` as above. The per-slot ``series`` (JSON) go to a long table: :func:`series_table`.

Units
-----
Storage is SI (s, J, W, Hz, bit, byte, FLOP). :func:`units` maps every column to its unit, from
:data:`COLUMN_UNITS` and the name's longest whole-word suffix (``_s`` -> s, ``_bit_s`` -> bit/s,
``_hz_s`` -> Hz*s, ...; :mod:`aigc_opt.units`); ``"1"`` marks a
dimensionless number, ``""`` a label. ``df.attrs["units"]`` holds the same mapping.

Objective sense
---------------
``sense`` comes, in order, from the row's ``sense`` cell (written by the batch runner), from the
case registry (a ``sense`` attribute of :class:`aigc_opt.cases.CaseKind`: ``"min"``, ``"max"``
or a callable ``spec -> str``), or, when neither says, it is inferred from the data: on an
instance whose reference method proved optimality, a minimisation has every other usable
objective ``>=`` the reference and a maximisation ``<=``. ``df.attrs["sense_source"]`` records
where each problem's sense came from.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import export
from . import results_io as rio
from .errors import UnknownNameError, ValidationError
from .results_io import (  # noqa: F401  (re-exported: part of the results API)
    FLAG_COLUMNS,
    LABEL_COLUMNS,
    fit_power_law,
    parse_sizes,
    to_parquet,
)
from .units import _SUFFIX_UNITS, COLUMN_UNITS, unit_of  # noqa: F401  (re-exported)

logger = logging.getLogger(__name__)

#: Columns that identify one instance: rows with equal values solve the same instance.
INSTANCE_COLUMNS: tuple[str, ...] = ("suite", "problem", "variant", "sizes", "seed")

#: Measurements that are blanked for rows that are not usable (``mask_unusable``).
MEASUREMENT_COLUMNS: tuple[str, ...] = (
    "objective", "bound", "gap", "eval_objective",
    *(c for c in export.METRIC_COLUMNS if c not in ("n_violations", "max_violation")),
)


def units(df: pd.DataFrame) -> dict[str, str]:
    """``{column: unit}`` for every column of ``df`` (see :func:`unit_of`)."""
    known = dict(df.attrs.get("units", {}))
    return {c: known.get(c, unit_of(str(c))) for c in df.columns}


def label(column: str, unit: str | None = None) -> str:
    """Axis label ``"column [unit]"`` (``[-]`` for a dimensionless number)."""
    u = unit_of(column) if unit is None else unit
    return f"{column} [{u if u not in ('', '1') else '-'}]"


# ---------------------------------------------------------------------------------- parsing
def _hashable(v: Any) -> Any:
    return json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v


def _typed(values: pd.Series) -> pd.Series:
    """Nullable integer, boolean or float column when every value fits, else text."""
    present = values.dropna()
    if present.empty:
        return values.astype("float64")
    if all(isinstance(v, bool) for v in present):
        return values.astype("boolean")
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return values.astype("Int64")
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return values.astype("float64")
    return values.map(lambda v: v if v is None or (isinstance(v, float) and math.isnan(v))
                      else str(v)).astype("string")


def _flag(v: Any) -> Any:
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    return pd.NA


# ---------------------------------------------------------------------------------- loading
def load(sources: str | Path | pd.DataFrame | Iterable[Any], *, mask_unusable: bool = True,
         registry: bool = True) -> pd.DataFrame:
    """Load results into one tidy DataFrame (see the module docstring for the columns).

    Parameters
    ----------
    sources : path, DataFrame, or iterable of paths / row mappings
        Results CSVs written by ``aigc-opt bench`` (or Parquet files from :func:`to_parquet`),
        a DataFrame of rows, or row dicts (:func:`aigc_opt.export.read_rows`).
    mask_unusable : bool
        Blank the :data:`MEASUREMENT_COLUMNS` and extra metrics of rows that are not usable
        (default True, so that no aggregate counts an infeasible or unverified answer).
    registry : bool
        Consult the case registry for the objective sense when rows do not carry it.

    Returns
    -------
    DataFrame
        One row per case; ``attrs["units"]``, ``attrs["size_columns"]``,
        ``attrs["param_columns"]``, ``attrs["metric_columns"]`` and ``attrs["sense_source"]``
        describe the columns. Over several files each case ``key`` counts once, from the last
        file that has it (as a rerun within one file); ``attrs["replaced_rows"]`` says how
        many rows were replaced so.

    Raises
    ------
    ValidationError
        A cell that does not parse (see :mod:`aigc_opt.results_io`: a ``seed`` that is not an
        integer in [0, 2**63 - 1], an unknown ``status``, junk ``sizes``, ``params`` or
        ``metrics_extra`` that is not a JSON object), naming the column, the value and the
        line of the file (:class:`aigc_opt.export.CsvFormatError`) or the row; a tidy (Parquet)
        file without the columns or attrs the summaries need (:func:`results_io.check_tidy`).
    """
    attrs: dict[str, Any] = {}
    origins: list[rio.Origin] = []
    items: list[Any] = [sources]
    if not isinstance(sources, str | Path | pd.DataFrame):
        items = list(sources)
    if items and all(isinstance(x, str | Path) for x in items):
        raw, origins = rio.read_files(items)
        if len(items) > 1:
            raw, origins = _latest_across_files(raw, origins)
        attrs = dict(raw.attrs)
    elif len(items) == 1 and isinstance(items[0], pd.DataFrame):
        raw = items[0].copy()
        attrs = dict(items[0].attrs)
    else:
        raw = pd.DataFrame([dict(x) for x in items])
    if raw.empty:
        raw, origins = pd.DataFrame(columns=list(export.COLUMNS)), []
    raw = raw.reset_index(drop=True)
    if "usable" in raw and "size_name" in raw:  # already tidy (a Parquet file or a frame)
        raw.attrs = attrs
        raw.attrs["units"] = {str(c): unit_of(str(c)) for c in raw.columns}
        raw.attrs.setdefault("size_columns", [])
        raw.attrs.setdefault("metric_columns", [c for c in export.METRIC_COLUMNS if c in raw])
        if mask_unusable and not attrs.get("masked"):
            return mask_unusable_rows(raw)
        return raw
    origins = origins or [rio.Origin(None, i) for i in range(len(raw))]
    return _tidy(raw, origins, mask_unusable=mask_unusable, registry=registry)


def _latest_across_files(raw: pd.DataFrame, origins: list[rio.Origin]
                         ) -> tuple[pd.DataFrame, list[rio.Origin]]:
    """The last row of every case ``key`` over several files (the rule within one file): the
    same case read twice, e.g. a file listed twice or a rerun kept apart, is counted once, from
    the last file that has it; the number replaced is logged and kept in
    ``attrs["replaced_rows"]``."""
    if "key" not in raw or raw.empty:
        return raw, origins
    key = raw["key"].map(lambda v: "" if v is None or (isinstance(v, float) and v != v)
                         else str(v))
    dup = key.ne("") & key.duplicated(keep="last")
    n = int(dup.sum())
    if not n:
        return raw, origins
    logger.warning("%d rows read again from a later file (same case key) replaced: each case "
                   "counts once, from the last file that has it", n)
    keep = ~dup.to_numpy()
    out = raw[keep].reset_index(drop=True)
    out.attrs = {**raw.attrs, "replaced_rows": n}
    if len(origins) != len(keep):  # tidy files carry no per-row origins
        return out, origins
    return out, [o for o, k in zip(origins, keep, strict=True) if k]


def _tidy(raw: pd.DataFrame, origins: list[rio.Origin], *, mask_unusable: bool,
          registry: bool) -> pd.DataFrame:
    df = raw.copy()
    cells = rio.parse_cells({c: df[c].tolist() for c in rio.CELL_COLUMNS if c in df}, origins)
    for c in ("problem", "method", "status", "termination", "sizes", "params", "variant"):
        if c not in df:
            df[c] = ""
    for c in LABEL_COLUMNS:
        if c in df:
            df[c] = df[c].map(lambda v: "" if v is None or (isinstance(v, float) and v != v)
                              else str(v)).astype("string")
    for c in FLAG_COLUMNS:
        df[c] = (df[c].map(_flag) if c in df else pd.Series(pd.NA, index=df.index)
                 ).astype("boolean")
    for c in rio.float_columns(df.columns):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    if "seed" in df:
        df["seed"] = pd.array(cells.seeds, dtype="Int64")
    existing = set(df.columns)
    new: dict[str, pd.Series] = {}  # added in one concat (no fragmented frame)

    sizes = cells.sizes
    size_cols = sorted({k for d in sizes for k in d})
    size_names = {k: (k if k not in existing else f"size_{k}") for k in size_cols}
    for k, name in size_names.items():
        new[name] = _typed(pd.Series([d.get(k) for d in sizes], index=df.index, dtype=object))
    new["size_name"] = pd.Series([_primary(d, s) for d, s in zip(
        sizes, df["size"] if "size" in df else [math.nan] * len(df), strict=True)],
        index=df.index, dtype="string")

    params = cells.params
    param_cols = sorted({k for d in params for k in d})
    for k in param_cols:
        new[f"param_{k}"] = _typed(pd.Series([_hashable(d.get(k)) for d in params],
                                             index=df.index, dtype=object))

    extra = cells.extra
    taken = existing | set(new)
    extra_cols = {k: (k if k not in taken else f"metric_{k}")
                  for k in sorted({k for d in extra for k in d})}
    for k, name in extra_cols.items():
        new[name] = pd.to_numeric(pd.Series([d.get(k) for d in extra], index=df.index,
                                            dtype=object), errors="coerce").astype("float64")
    df = pd.concat([df, pd.DataFrame(new, index=df.index)], axis=1)

    # a non-finite objective (a row written by hand or another tool) enters no aggregate: it
    # made ratio tables credit 'inf' with a win and average a ratio of 0
    finite = (np.isfinite(pd.to_numeric(df["objective"], errors="coerce"))
              if "objective" in df else True)  # (without the column: refused where needed)
    df["usable"] = ((df["status"] == export.STATUS_OK) & df["has_solution"].fillna(False)
                    & df["feasible"].fillna(False) & _verified(df) & finite).astype(bool)
    senses, source = _senses(df, registry)
    df["sense"] = df["problem"].astype(object).map(lambda p: senses.get(p, "min")).astype("string")
    metric_cols = [c for c in (*export.METRIC_COLUMNS, *extra_cols.values()) if c in df]
    df.attrs["units"] = {str(c): unit_of(str(c)) for c in df.columns}
    df.attrs["size_columns"] = [size_names[k] for k in size_cols]
    df.attrs["param_columns"] = [f"param_{k}" for k in param_cols]
    df.attrs["metric_columns"] = metric_cols
    df.attrs["sense_source"] = source
    df.attrs["masked"] = False
    df.attrs["absent_columns"] = [c for c in export.COLUMNS if c not in raw]
    df.attrs["replaced_rows"] = int(raw.attrs.get("replaced_rows", 0))
    return mask_unusable_rows(df) if mask_unusable else df


def require_columns(df: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """ValidationError listing the ``columns`` that ``what`` needs and the results lack (also
    those :func:`load` filled with blanks, ``attrs["absent_columns"]``)."""
    missing = [c for c in columns if c not in df or c in df.attrs.get("absent_columns", ())]
    if missing:
        src = ", ".join(sorted({str(s) for s in df["source"].dropna()})) if "source" in df else ""
        raise ValidationError("columns", "-", missing, f"{what} needs the column(s) "
                              f"{', '.join(missing)}, missing from the results {src}".rstrip())


def _frame(df: Any) -> pd.DataFrame:
    """``df`` as tidy results: a frame from :func:`load` as it is; a results file path or a raw
    frame (``pd.read_csv`` of a results CSV) through :func:`load`; anything else refused."""
    if isinstance(df, pd.DataFrame) and rio.is_tidy(df):
        return df
    if isinstance(df, str | Path | pd.DataFrame):
        return load(df)
    raise ValidationError("df", "-", type(df).__name__, "results must be a DataFrame from "
                          "aigc_opt.results.load or the path of a results file")


def mask_unusable_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Copy of a loaded frame with the :data:`MEASUREMENT_COLUMNS` and extra metrics of rows
    that are not ``usable`` set to NaN (what :func:`load` does by default)."""
    out = df.copy()
    extra = [c for c in out.attrs.get("metric_columns", []) if c not in export.METRIC_COLUMNS]
    blank = [c for c in (*MEASUREMENT_COLUMNS, *extra) if c in out]
    out.loc[~out["usable"], blank] = np.nan
    out.attrs["masked"] = True
    return out


def _primary(sizes: Mapping[str, Any], size: Any) -> str:
    """Name of the size parameter whose value equals the row's ``size``."""
    try:
        s = float(size)
    except (TypeError, ValueError):
        return ""
    for k, v in sizes.items():
        if isinstance(v, int | float) and not isinstance(v, bool) and float(v) == s:
            return k
    return ""


def _verified(df: pd.DataFrame) -> pd.Series:
    """``verified``, ignored (all True) for files written before the column existed."""
    v = df["verified"]
    if v.isna().all():
        logger.info("no 'verified' flags in the rows: usable rows are not checked for it")
        return pd.Series(True, index=df.index)
    return v.fillna(False)


def _senses(df: pd.DataFrame, registry: bool) -> tuple[dict[str, str], dict[str, str]]:
    """Sense and its source per problem: row cells, then the registry, then the data."""
    out: dict[str, str] = {}
    source: dict[str, str] = {}
    problems = [str(p) for p in df["problem"].dropna().unique() if p]
    if "sense" in df:
        for p in problems:
            cells = {str(s) for s in df.loc[df["problem"] == p, "sense"].dropna() if s}
            if len(cells) == 1 and cells <= {"min", "max"}:
                out[p], source[p] = cells.pop(), "row"
    for p in problems if registry else []:
        s = _registry_sense(p, df) if p not in out else None
        if s:
            out[p], source[p] = s, "registry"
    for p in problems:
        if p not in out:
            out[p], source[p] = _infer_sense(df[df["problem"] == p])
    return out, source


def _registry_sense(problem: str, df: pd.DataFrame) -> str | None:
    try:
        from .cases import case_kinds

        kind = case_kinds().get(problem)
    except Exception:  # a broken family must not stop reading a CSV
        logger.debug("case registry unavailable", exc_info=True)
        return None
    sense = getattr(kind, "sense", None) if kind is not None else None
    if callable(sense):
        try:
            first = df.loc[df["problem"] == problem, "params"].iloc[0]
            sense = sense(kind.spec(**rio.json_cell(first)))  # type: ignore[union-attr]
        except Exception:
            return None
    return str(sense) if sense in ("min", "max") else None


def _infer_sense(rows: pd.DataFrame) -> tuple[str, str]:
    """``("max", "inferred")`` when usable objectives never beat an optimal reference from
    below, ``("min", ...)`` when never from above; ``("min", "default")`` when undecided."""
    if "reference" not in rows or "objective" not in rows:  # nothing to infer it from
        return "min", "default"
    obj = pd.to_numeric(rows["objective"], errors="coerce")
    ref = _reference_objective(rows)
    ok = rows["usable"] & obj.notna() & ref.notna() & (rows["method"] != rows["reference"])
    d = (obj - ref)[ok]
    tol = 1e-9 * np.maximum(1.0, np.abs(ref[ok]))
    above, below = bool((d > tol).any()), bool((d < -tol).any())
    if below and not above:
        return "max", "inferred"
    if above and not below:
        return "min", "inferred"
    return "min", "default"


# ---------------------------------------------------------------------------------- ratios
def _instance_key(df: pd.DataFrame) -> pd.Series:
    cols = [c for c in INSTANCE_COLUMNS if c in df]
    if not len(df):
        return pd.Series([], dtype=object)
    # missing cells (empty seed or sizes) become "" so every key is a string
    text = df[cols].astype("string").fillna("")
    return text.agg("|".join, axis=1)


def _reference_objective(df: pd.DataFrame) -> pd.Series:
    """Per row, the objective of the same instance's reference row when that row is usable
    and ``optimal`` (NaN otherwise)."""
    if df.empty:
        return pd.Series([], dtype="float64")
    key = _instance_key(df)
    is_ref = (df["method"] == df["reference"]) & (df["termination"] == "optimal") & \
        df["usable"] & (df["reference"] != "")
    obj = pd.to_numeric(df["objective"], errors="coerce")
    refs = pd.Series(obj[is_ref].to_numpy(), index=key[is_ref].to_numpy())
    refs = refs[~refs.index.duplicated()]
    return pd.Series(key.map(refs).to_numpy(dtype=float), index=df.index)


def add_ratios(df: pd.DataFrame | str | Path) -> pd.DataFrame:
    """Copy of ``df`` with ``ref_objective``, ``ratio_to_ref`` (objective / reference),
    ``excess_to_ref`` = (objective - ref) / max(1, |ref|) and ``regret`` (the excess signed so
    that > 0 is worse than the reference whatever the sense).

    The reference is the same instance's row whose method is the row's ``reference``, ended
    ``optimal`` and is usable. Ratios are computed for every row with an objective, usable or
    not (load with ``mask_unusable=False`` to see those of unusable rows); ``ratio_to_ref`` is
    defined only for a positive reference and a non-negative objective (NaN otherwise: with
    negative objectives, e.g. migration's rewards, ``objective / reference`` falls below 1 for
    a *worse* minimisation result, so only ``regret`` ranks such rows).
    """
    df = _frame(df)
    require_columns(df, ("problem", "method", "reference", "objective"), "a ratio to the reference")
    out = df.copy()
    ref = _reference_objective(out)
    obj = pd.to_numeric(out["objective"], errors="coerce")
    same = (ref > 0) & (obj >= 0)
    out["ref_objective"] = ref
    out["ratio_to_ref"] = (obj / ref).where(same)
    out["excess_to_ref"] = (obj - ref) / np.maximum(1.0, ref.abs())
    out["regret"] = out["excess_to_ref"] * np.where(out["sense"] == "max", -1.0, 1.0)
    return out


def _counted(df: pd.DataFrame, include_unusable: bool) -> tuple[pd.DataFrame, int]:
    return (df, 0) if include_unusable else (df[df["usable"]], int((~df["usable"]).sum()))


def ratio_summary(df: pd.DataFrame | str | Path, *, include_unusable: bool = False,
                  rtol: float = 1e-6) -> pd.DataFrame:
    """Per (problem, method): cases, usable, excluded, mean / median / worst ratio to the
    reference, mean regret, wins / ties / losses against the reference and median solve time.

    ``median_solve_s`` (s) is taken over the group's rows whose run finished (``status ==
    "ok"``), usable or not, as in the CLI's summary (:func:`aigc_opt.summary.summarize`): a
    proof of infeasibility costs solver time too (it was over the usable rows only).

    A *win* is a regret below ``-rtol`` (better than the reference by more than ``rtol`` times
    ``max(1, |reference|)``), a *loss* above ``rtol``, a *tie* within. Rows that are not usable
    are left out (counted in ``excluded``; ``attrs["excluded"]`` holds the total) unless
    ``include_unusable``.
    """
    df = _frame(df)
    r = add_ratios(df)
    rows = []
    for (problem, method), g in r.groupby(["problem", "method"], sort=True):
        used, excluded = _counted(g, include_unusable)
        sense = str(g["sense"].iloc[0])
        reg = used["regret"].dropna()
        ratio = used["ratio_to_ref"].dropna()
        worst = (ratio.max() if sense == "min" else ratio.min()) if len(ratio) else math.nan
        rows.append({
            "problem": problem, "method": method, "sense": sense, "cases": len(g),
            "usable": int(g["usable"].sum()), "excluded": excluded,
            "optimal": int((used["termination"] == "optimal").sum()),
            "mean_ratio": ratio.mean() if len(ratio) else math.nan,
            "median_ratio": ratio.median() if len(ratio) else math.nan,
            "worst_ratio": worst,
            "mean_regret": reg.mean() if len(reg) else math.nan,
            "wins": int((reg < -rtol).sum()), "ties": int((reg.abs() <= rtol).sum()),
            "losses": int((reg > rtol).sum()),
            "median_solve_s": _median_finished_seconds(g),
        })
    out = pd.DataFrame(rows, columns=RATIO_SUMMARY_COLUMNS)
    out.attrs["excluded"] = int(out["excluded"].sum()) if len(out) else 0
    out.attrs["include_unusable"] = include_unusable
    if out.attrs["excluded"]:
        logger.info("ratio summary: %d rows not usable (infeasible, unverified or failed) "
                    "left out", out.attrs["excluded"])
    return out


def _median_finished_seconds(g: pd.DataFrame) -> float:
    if "solve_seconds" not in g or "status" not in g:
        return math.nan
    t = pd.to_numeric(g.loc[g["status"] == export.STATUS_OK, "solve_seconds"], errors="coerce")
    return float(t.median()) if t.notna().any() else math.nan


RATIO_SUMMARY_COLUMNS: tuple[str, ...] = (
    "problem", "method", "sense", "cases", "usable", "excluded", "optimal", "mean_ratio",
    "median_ratio", "worst_ratio", "mean_regret", "wins", "ties", "losses", "median_solve_s")


def pivot(df: pd.DataFrame | str | Path, values: str, *, index: str | Sequence[str] = "method",
          columns: str | Sequence[str] | None = None, aggfunc: str = "mean",
          include_unusable: bool = False) -> pd.DataFrame:
    """Pivot table of ``values`` over usable rows (unless ``include_unusable``).

    ``attrs["excluded"]`` holds the number of rows left out. A method with no usable row has
    no entry, so it can never rank first.
    """
    df = _frame(df)
    for what, names in (("values", [values]), ("index", _names(index)),
                        ("columns", _names(columns))):
        for name in names:  # pandas' bare KeyError named no choice
            if name not in df.columns:
                raise UnknownNameError(f"results column ({what})", name, map(str, df.columns))
    used, excluded = _counted(df, include_unusable)
    table = pd.pivot_table(used, values=values, index=index, columns=columns, aggfunc=aggfunc,
                           observed=True, dropna=True)
    table.attrs["excluded"] = excluded
    table.attrs["unit"] = unit_of(values)
    return table


def _names(arg: str | Sequence[str] | None) -> list[Any]:
    return [] if arg is None else [arg] if isinstance(arg, str) else list(arg)


def other_sizes(df: pd.DataFrame, problem: str) -> list[str]:
    """Size columns of ``problem`` other than its primary size that take several values or
    describe the instance (constant ones are included so that labels are complete)."""
    g = df[df["problem"] == problem]
    primary = {str(s) for s in g["size_name"].dropna() if s}
    cols = [c for c in df.attrs.get("size_columns", []) if c in g and g[c].notna().any()]
    return [c for c in cols if c not in primary and g[c].nunique(dropna=True) > 1]


def time_fits(df: pd.DataFrame | str | Path, *, time: str = "solve_seconds",
              include_unusable: bool = False) -> pd.DataFrame:
    """Fit ``time = a * size^b`` per (problem, method, other size parameters) over the primary
    size: columns ``problem, method, group, size_name, points, sizes, a, exponent, r2,
    excluded``. Groups with fewer than two distinct sizes get NaN coefficients."""
    df = _frame(df)
    require_columns(df, ("problem", "method", "size", time), "a time fit")
    rows = []
    for problem, g in df.groupby("problem", sort=True):
        others = other_sizes(df, str(problem))
        keys = ["method", *others]
        for key, h in g.groupby(keys, sort=True, dropna=False):
            kt = key if isinstance(key, tuple) else (key,)
            used, excluded = _counted(h, include_unusable)
            used = used[used[time].notna() & used["size"].notna()]
            a, b, r2 = fit_power_law(used["size"], used[time])
            rows.append({
                "problem": problem, "method": kt[0],
                "group": ", ".join(f"{c}={v}" for c, v in zip(others, kt[1:], strict=True)),
                "size_name": str(g["size_name"].iloc[0]), "points": len(used),
                "sizes": int(used["size"].nunique()), "a": a, "exponent": b, "r2": r2,
                "excluded": excluded,
            })
    out = pd.DataFrame(rows, columns=["problem", "method", "group", "size_name", "points",
                                      "sizes", "a", "exponent", "r2", "excluded"])
    out.attrs["excluded"] = int(out["excluded"].sum()) if len(out) else 0
    return out


def status_counts(df: pd.DataFrame | str | Path) -> pd.DataFrame:
    """Rows per (problem, status, termination, usable): what happened to every case."""
    df = _frame(df)
    return (df.groupby(["problem", "status", "termination", "usable"], sort=True, dropna=False)
            .size().rename("rows").reset_index())


# ---------------------------------------------------------------------------------- series
def series_table(df: pd.DataFrame | str | Path, *, include_unusable: bool = True) -> pd.DataFrame:
    """The per-slot ``series`` JSON of every row as a long table.

    Columns: ``run`` (the row's index in ``df``), ``key, problem, variant, sizes, seed,
    method, usable, series, slot`` (0-based), ``value`` and ``unit``. Rows that are not usable
    are kept (flagged) unless ``include_unusable`` is False.
    """
    df = _frame(df)
    keep = ["key", "problem", "variant", "sizes", "seed", "method", "usable"]
    recs: list[dict[str, Any]] = []
    if "series" in df:
        for run, row in df[df["series"].notna()].iterrows():
            if not include_unusable and not row["usable"]:
                continue
            where = f", in {row['source']}" if isinstance(row.get("source"), str) else ""
            try:
                series = rio.json_cell(row["series"])
            except rio.BadCell as exc:
                raise ValidationError("series", "-", row["series"], f"{exc} (row {run}, key "
                                      f"{row.get('key')!r}{where})") from None
            for name, values in series.items():
                if not isinstance(values, list):
                    continue
                base = {"run": run, **{c: row.get(c) for c in keep}}
                for t, v in enumerate(values):
                    if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
                        raise ValidationError("series", unit_of(name) or "-", v, f"not a number "
                                              f"(series {name!r}, slot {t}, row {run}, key "
                                              f"{row.get('key')!r}{where})")
                    recs.append({**base, "series": name, "slot": t,
                                 "value": float(v) if v is not None else math.nan,
                                 "unit": unit_of(name)})
    out = pd.DataFrame(recs, columns=["run", *keep, "series", "slot", "value", "unit"])
    return out.astype({"slot": "int64", "value": "float64"})
