r"""Why is it infeasible? Irreducible infeasible subsets mapped back to named constraints.

When a :class:`~aigc_opt.program.LinearProgram` is infeasible, :func:`explain_infeasible`
returns an :class:`Explanation`: one or more *conflicts*, each an irreducible infeasible subset
(IIS) of rows -- the rows of a conflict cannot hold together (with the column bounds and
integrality), and dropping any one of them removes that conflict. Conflicts are found one after
the other, each with the rows of the earlier ones relaxed, until the program with every named
row relaxed is feasible (checked by a last solve: ``Explanation.complete``), so relaxing
every row an explanation names always yields a feasible program (:func:`relax`).

How a conflict is found
-----------------------
1. Rows infeasible on their own (activity range over the column bounds misses the row's
   bounds, e.g. an assignment row of a request with no option column) are one-row IISs.
2. When the backend (or else the HiGHS backend, if installed) offers ``iis(program)`` (HiGHS
   ``getIis`` with the elasticity filter, on the LP relaxation) and the LP relaxation is
   infeasible, its rows are the candidate set; otherwise every remaining row.
3. Deletion filtering (bisection: drop chunks of candidates while the rest stays infeasible,
   halve the chunk when it cannot be dropped) shrinks the candidates to an IIS of the MILP. Each
   test is a feasibility solve (objective zeroed) with the other rows removed.

A test that hits its time limit counts as "cannot drop"; the conflict is then still infeasible
but maybe not irreducible (``Conflict.irreducible`` is False).

Row groups (convention for builders)
------------------------------------
Builders name their rows in ``program.meta["row_groups"]``: a mapping ``group name ->
(first, stop, items)`` for the rows ``first .. stop-1`` (use :func:`row_group`), where
``items`` is a format template with ``{i}`` (the row's index inside the group, e.g.
``"server {i}"``), a tuple of one label per row, or a :class:`GridLabels` (labels formatted
when asked for, from a template over an index grid: :func:`grid_group`). A row is reported
as ``"<group> at <item>"``, e.g. ``"gpu_slots at server 2"`` or ``"assignment at request
17"``. A :class:`~aigc_opt.program.RowBuilder` records them as its blocks are added::

    rb.add(place[ecols], ecols, 1.0, S, -np.inf, slots, name="gpu_slots", items="server {i}")
    rb.add(..., name="assignment", items=GridLabels("slot {0}, user {1}", (T, U)))
    ...
    LinearProgram(..., meta={"row_groups": rb.groups})

Rows appended by user constraints are named by ``program.row_blocks`` (item ``row {i}``); rows
in neither are reported as ``"row at <global index>"``.

A column whose own bounds are empty (``lower > upper``, e.g. a builder's encoding of "no
fraction meets this request's deadline and energy budget") is a conflict by itself, named by
``program.meta["column_groups"]`` (the same format as ``row_groups``, over column indices) or
else by its block (``"<block> at <index>"``); :func:`relax` frees its bounds
(``Conflict.columns`` holds the column) before the rows are searched.

Outcomes that are infeasible because an allocation violates the referee (a heuristic) are
explained by :func:`explain_violations` from the evaluator's metrics.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .backend import SolveOptions, get_backend, is_available
from .program import ConvexProgram, LinearProgram
from .result import Termination

logger = logging.getLogger(__name__)

#: Default wall-time budget of one explanation, s.
TIME_LIMIT = 30.0
#: Most conflicts (IISs) reported.
MAX_CONFLICTS = 50
#: Seeds (LP infeasible subsets) up to this many rows are filtered one row at a time.
SEED_ONE_BY_ONE = 256
#: Feasibility tolerance of the one-row activity test (absolute, program units).
ROW_TOL = 1e-7

RowGroup = tuple[int, int, "str | tuple[str, ...]"]


def row_group(first: int, stop: int, items: str | Sequence[str]) -> tuple[int, int, Any]:
    """A ``meta["row_groups"]`` entry: rows ``first .. stop-1`` labelled by ``items`` (a
    template with ``{i}``, the index inside the group, or one label per row)."""
    first, stop = int(first), int(stop)
    if isinstance(items, str):
        return (first, stop, items)
    labels = tuple(str(x) for x in items)
    if len(labels) != stop - first:
        raise ValueError(f"row group of {stop - first} rows needs as many labels, "
                         f"got {len(labels)}")
    return (first, stop, labels)


class GridLabels:
    """Row labels formatted when asked for: the items of a ``meta["row_groups"]`` entry, which
    :func:`aigc_opt.explain.row_label` reads as ``items[i]``. Row ``r`` is cell ``cells[r]`` (a
    flat C-order index; ``None``: cell ``r``) of an index grid of shape ``shape``, labelled
    ``template.format(*index)``. A tuple of one label per row (:func:`row_group`) costs
    about 0.4 s and 80 MB per million rows, as much as building a large MILP; this keeps at
    most ``cells`` (4 bytes a row). Used by the caching, migration, lifecycle and LLM builders.
    """

    __slots__ = ("template", "shape", "cells")

    def __init__(self, template: str, shape: tuple[int, ...],
                 cells: np.ndarray | None = None) -> None:
        self.template, self.shape = template, tuple(int(n) for n in shape)
        self.cells = None if cells is None else np.asarray(
            cells, dtype=np.int32 if math.prod(self.shape) < 2**31 else np.int64).reshape(-1)

    def __len__(self) -> int:
        return math.prod(self.shape) if self.cells is None else int(self.cells.size)

    def __getitem__(self, r: int) -> str:
        if not 0 <= r < len(self):
            raise IndexError(r)
        cell = r if self.cells is None else int(self.cells[r])
        return self.template.format(*(int(v) for v in np.unravel_index(cell, self.shape)))

    def __repr__(self) -> str:
        return f"GridLabels({self.template!r}, {len(self)} rows)"


def grid_group(first: int, template: str, shape: tuple[int, ...],
               cells: np.ndarray | None = None) -> tuple[int, int, GridLabels]:
    """A ``meta["row_groups"]`` entry: the rows from ``first`` labelled by :class:`GridLabels`."""
    labels = GridLabels(template, shape, cells)
    return (int(first), int(first) + len(labels), labels)


def row_groups(program: LinearProgram) -> dict[str, tuple[int, int, Any]]:
    """The named row ranges of ``program``: ``meta["row_groups"]`` and ``program.row_blocks``
    (user constraints, item ``row {i}``)."""
    out: dict[str, tuple[int, int, Any]] = {}
    meta = program.meta.get("row_groups", {})
    if isinstance(meta, Mapping):
        for name, g in meta.items():
            out[str(name)] = (int(g[0]), int(g[1]), g[2])
    for name, (first, stop) in program.row_blocks.items():
        out.setdefault(str(name), (int(first), int(stop), "row {i}"))
    return out


def row_label(name: str, group: Sequence[Any], row: int) -> str:
    """``"<name> at <item>"`` for global row ``row`` of group ``(first, stop, items)``."""
    i = int(row) - int(group[0])
    items = group[2]
    item = items.format(i=i) if isinstance(items, str) else str(items[i])
    return f"{name} at {item}"


def _locate(program: LinearProgram, rows: Sequence[int]) -> tuple[list[str], list[str]]:
    groups = row_groups(program)
    spans = sorted(groups.items(), key=lambda kv: kv[1][0])
    labels, names = [], []
    for r in rows:
        for name, g in spans:
            if g[0] <= r < g[1]:
                labels.append(row_label(name, g, r))
                names.append(name)
                break
        else:
            labels.append(f"row at {r}")
            names.append("row")
    return labels, names


@dataclass(frozen=True)
class Conflict:
    """One infeasible subset of rows.

    Parameters
    ----------
    rows : tuple of int
        Global row indices (empty: the column bounds / integrality alone are infeasible).
    labels : tuple of str
        ``"<group> at <item>"`` per row.
    groups : tuple of str
        The distinct group names of the rows.
    irreducible : bool
        True when every row was shown necessary (no test hit a limit).
    columns : tuple of int
        Columns whose own bounds are empty (the conflict then has no rows).
    """

    rows: tuple[int, ...]
    labels: tuple[str, ...]
    groups: tuple[str, ...]
    irreducible: bool = True
    columns: tuple[int, ...] = ()


@dataclass(frozen=True)
class Explanation:
    """Why a problem is infeasible.

    Parameters
    ----------
    conflicts : tuple of Conflict
        Infeasible subsets (IISs), found one after the other with the earlier ones relaxed.
    method : str
        ``"iis"`` (rows of a program) or ``"violations"`` (a referee's report).
    complete : bool
        True when relaxing every named row was shown to make the program feasible.
    seconds : float
        Wall time spent, s.
    message : str
        Notes (limits hit, why incomplete).
    """

    conflicts: tuple[Conflict, ...]
    method: str = "iis"
    complete: bool = False
    seconds: float = 0.0
    message: str = ""

    @property
    def rows(self) -> tuple[int, ...]:
        """Every row named by a conflict (sorted, unique)."""
        return tuple(sorted({r for c in self.conflicts for r in c.rows}))

    @property
    def columns(self) -> tuple[int, ...]:
        """Every column named for its empty bounds (sorted, unique)."""
        return tuple(sorted({j for c in self.conflicts for j in c.columns}))

    @property
    def labels(self) -> tuple[str, ...]:
        """Every named constraint, in conflict order."""
        return tuple(lab for c in self.conflicts for lab in c.labels)

    @property
    def groups(self) -> tuple[str, ...]:
        """Distinct constraint groups named."""
        return tuple(dict.fromkeys(g for c in self.conflicts for g in c.groups))

    def __bool__(self) -> bool:
        return bool(self.conflicts)

    def __str__(self) -> str:
        if not self.conflicts:
            return "no conflict found" + (f" ({self.message})" if self.message else "")
        parts = ["; ".join(c.labels) if c.labels else "column bounds / integrality"
                 for c in self.conflicts]
        return " | ".join(f"conflict {i + 1}: {p}" for i, p in enumerate(parts))


def relax(program: LinearProgram, rows: Sequence[int] | np.ndarray | Explanation
          ) -> LinearProgram:
    """``program`` with the bounds of ``rows`` (or of every row and empty-bounded column an
    explanation names) set to ``-inf .. inf``."""
    idx = np.asarray(rows.rows if isinstance(rows, Explanation) else rows, dtype=np.int64)
    lo, hi = np.array(program.row_lower), np.array(program.row_upper)
    lo[idx], hi[idx] = -np.inf, np.inf
    jdx = np.asarray(rows.columns if isinstance(rows, Explanation) else (), dtype=np.int64)
    cl, cu = np.array(program.col_lower, dtype=float), np.array(program.col_upper, dtype=float)
    cl[jdx], cu[jdx] = -np.inf, np.inf
    return dataclasses.replace(program, row_lower=lo, row_upper=hi, col_lower=cl, col_upper=cu)


class _Oracle:
    """Feasibility of ``program`` restricted to a set of rows (objective zeroed)."""

    def __init__(self, program: LinearProgram, backend: str, deadline: float) -> None:
        self.p = dataclasses.replace(program, c=np.zeros(program.n_cols), Q=None, offset=0.0,
                                     meta={})
        self.A = program.A.tocsr()
        self.backend = get_backend(backend)
        self.deadline = deadline
        self.solves = 0
        self.limited = False

    def feasible(self, rows: Sequence[int]) -> bool | None:
        """True / False, or None when the solve stopped on its limit (or failed)."""
        left = self.deadline - time.perf_counter()
        if left <= 0:
            self.limited = True
            return None
        idx = np.asarray(sorted(rows), dtype=np.int64)
        sub = dataclasses.replace(self.p, A=self.A[idx], row_lower=self.p.row_lower[idx],
                                  row_upper=self.p.row_upper[idx])
        self.solves += 1
        res = self.backend.solve(sub, SolveOptions(time_limit=max(left, 0.01), verify=False))
        if res.has_solution or res.termination is Termination.OPTIMAL:
            return True
        if res.termination in (Termination.INFEASIBLE, Termination.INFEASIBLE_OR_UNBOUNDED):
            return False
        self.limited = True
        return None


def _alone_infeasible(program: LinearProgram) -> np.ndarray:
    """Rows whose activity range over the column bounds misses the row bounds."""
    lo, hi = np.array(program.col_lower), np.array(program.col_upper)
    integ = program.integrality
    lo = np.where(integ & np.isfinite(lo), np.ceil(lo - 1e-9), lo)
    hi = np.where(integ & np.isfinite(hi), np.floor(hi + 1e-9), hi)
    A = program.A.tocoo()
    pos = A.data > 0
    with np.errstate(invalid="ignore"):
        a_lo = np.where(pos, A.data * lo[A.col], A.data * hi[A.col])
        a_hi = np.where(pos, A.data * hi[A.col], A.data * lo[A.col])
    m = program.n_rows
    amin = np.bincount(A.row, weights=np.nan_to_num(a_lo, neginf=-1e300, posinf=1e300),
                       minlength=m)
    amax = np.bincount(A.row, weights=np.nan_to_num(a_hi, neginf=-1e300, posinf=1e300),
                       minlength=m)
    tol = ROW_TOL * np.maximum(1.0, np.abs(np.where(np.isfinite(program.row_lower),
                                                    program.row_lower, 0.0)))
    return np.nonzero((amin > program.row_upper + tol) | (amax < program.row_lower - tol))[0]


def _empty_columns(program: LinearProgram) -> np.ndarray:
    """Columns whose bounds admit no value (integer columns: no integer in the range)."""
    lo, hi = np.array(program.col_lower, dtype=float), np.array(program.col_upper, dtype=float)
    integ = program.integrality
    lo = np.where(integ & np.isfinite(lo), np.ceil(lo - 1e-9), lo)
    hi = np.where(integ & np.isfinite(hi), np.floor(hi + 1e-9), hi)
    tol = ROW_TOL * np.maximum(1.0, np.abs(np.where(np.isfinite(lo), lo, 0.0)))
    return np.nonzero(lo > hi + tol)[0]


def _column_label(program: LinearProgram, j: int) -> tuple[str, str]:
    """``("<group> at <item>", group)`` for column ``j`` (``meta["column_groups"]``, else the
    block holding it, else ``"column at <j>"``)."""
    groups = program.meta.get("column_groups", {})
    if isinstance(groups, Mapping):
        for name, g in groups.items():
            if int(g[0]) <= j < int(g[1]):
                return row_label(str(name), g, j), str(name)
    for b in program.blocks:
        if b.start <= j < b.start + b.size:
            idx = np.unravel_index(j - b.start, b.shape)
            return f"{b.name} at {', '.join(str(int(v)) for v in idx)}", b.name
    return f"column at {j}", "column"


def _deletion_filter(oracle: _Oracle, cands: list[int], bisect: bool = True
                     ) -> tuple[list[int], bool]:
    """Shrink ``cands`` (an infeasible row set) to an IIS by deletion filtering: one row at a
    time (``bisect=False``, best when ``cands`` is nearly irreducible already, e.g. an LP IIS)
    or by chunks that double after a success and halve after a failure."""
    kept: list[int] = []
    rest = list(cands)
    size = max(1, len(rest) // 2) if bisect else 1
    exact = True
    while rest:
        size = min(size, len(rest))
        ok = oracle.feasible(kept + rest[size:])
        if ok is False:  # the chunk is not needed
            rest = rest[size:]
            size = max(1, size * 2) if bisect else 1
        elif size > 1:
            size //= 2
        else:  # rest[0] is necessary (or the test hit a limit)
            exact &= ok is True
            kept.append(rest.pop(0))
            size = max(1, len(rest) // 2) if bisect else 1
        if oracle.limited and time.perf_counter() >= oracle.deadline:
            return kept + rest, False
    return kept, exact


def explain_infeasible(program: LinearProgram, *, backend: str = "highs",
                       time_limit: float = TIME_LIMIT,
                       max_conflicts: int = MAX_CONFLICTS) -> Explanation:
    """Explain an infeasible ``program`` (see module docstring).

    Parameters
    ----------
    program : LinearProgram
        The infeasible program (LP or MILP).
    backend : str
        Backend used for the feasibility tests (its ``iis`` method, when present, seeds the
        search from the LP relaxation).
    time_limit : float
        Wall-time budget, s.
    max_conflicts : int
        Stop after this many conflicts (``complete`` is then False unless the rest is feasible).
    """
    t0 = time.perf_counter()
    conflicts: list[Conflict] = []
    for j in _empty_columns(program)[:max_conflicts].tolist():  # then relaxed, like rows
        label, name = _column_label(program, j)
        conflicts.append(Conflict((), (label,), (name,), True, (j,)))
    program = relax(program, Explanation(tuple(conflicts))) if conflicts else program
    oracle = _Oracle(program, backend, t0 + time_limit)
    m = program.n_rows

    def conflict(rows: Sequence[int], irreducible: bool) -> Conflict:
        rows = sorted(int(r) for r in rows)
        labels, names = _locate(program, rows)
        return Conflict(tuple(rows), tuple(labels), tuple(dict.fromkeys(names)), irreducible)

    def done(complete: bool, message: str = "") -> Explanation:
        if oracle.limited:
            message = "; ".join(x for x in (message, "a test hit the time limit") if x)
        return Explanation(tuple(conflicts), "iis", complete, time.perf_counter() - t0,
                           message)

    if oracle.feasible([]) is False:
        conflicts.append(Conflict((), ("column bounds / integrality",), ("columns",), True))
        return done(False, "the column bounds and integrality alone are infeasible")
    relaxed: set[int] = set()
    for r in _alone_infeasible(program)[:max_conflicts]:
        conflicts.append(conflict([int(r)], True))
        relaxed.add(int(r))
    iis_fn = getattr(oracle.backend, "iis", None)
    if iis_fn is None:  # any backend's IIS seeds the search; HiGHS has one
        try:
            iis_fn = getattr(get_backend("highs"), "iis", None)
        except Exception:  # HiGHS not installed: plain deletion filtering
            iis_fn = None
    while True:
        rest = [r for r in range(m) if r not in relaxed]
        status = oracle.feasible(rest)
        if status is True:
            return done(True, "" if conflicts else
                        "no conflict: the feasibility test finds the program feasible")
        if status is None or len(conflicts) >= max_conflicts:
            return done(False, "stopped before every conflict was found")
        cands, seeded = rest, False
        if callable(iis_fn):
            try:
                seed = iis_fn(dataclasses.replace(oracle.p, A=oracle.A[rest],
                                                  row_lower=oracle.p.row_lower[rest],
                                                  row_upper=oracle.p.row_upper[rest]))
            except Exception:  # an IIS routine is a shortcut only
                logger.debug("backend iis failed", exc_info=True)
                seed = None
            if seed is not None and len(seed):
                sub = [rest[int(i)] for i in seed]
                if oracle.feasible(sub) is False:
                    cands, seeded = sub, True
        # a seed (LP infeasible subset) is mostly conflict rows: one test per row is cheapest
        rows, exact = _deletion_filter(oracle, cands,
                                       bisect=len(cands) > (SEED_ONE_BY_ONE if seeded else 32))
        if not rows:
            return done(False, "no row set found")
        conflicts.append(conflict(rows, exact))
        relaxed.update(rows)
        if time.perf_counter() > oracle.deadline:
            return done(False, "time limit")


def _short(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 3] + "..."


def explain_program(program: Any, *, backend: str | None = None,
                    time_limit: float = TIME_LIMIT) -> Explanation | None:
    """:func:`explain_infeasible` for a LinearProgram, :func:`explain_convex` for a
    ConvexProgram (``backend`` None: HiGHS / CVXPY), None for anything else.

    A LinearProgram's feasibility tests run on HiGHS whenever it is installed, whichever
    backend solved the program (``backend`` is the fallback): the tests only decide
    feasible / infeasible, and HiGHS keeps to the budget. SCIP overran a 30 s test by 34 s on
    a 2,000-request hard-deadline steps program that HiGHS answers in 0.6 s, so an
    explanation asked for within 30 s took 69 s.
    """
    if isinstance(program, LinearProgram):
        oracle = backend or "highs"
        if oracle != "highs" and is_available("highs"):
            oracle = "highs"
        return explain_infeasible(program, backend=oracle, time_limit=time_limit)
    if isinstance(program, ConvexProgram):
        from .explain_convex import explain_convex

        return explain_convex(program, backend=backend or "cvxpy", time_limit=time_limit)
    return None


def explain_violations(metrics: Any) -> Explanation:
    """An explanation from a referee's report: one conflict per violated hard constraint,
    labelled ``"<constraint>: <count> item(s), worst relative violation <v>"``."""
    bad = metrics.violated() if hasattr(metrics, "violated") else {}
    conflicts = tuple(
        Conflict((), (f"{k}: {metrics.violation_counts.get(k, 0)} item(s), worst relative "
                      f"violation {v:.3g}",), (k,), True)
        for k, v in bad.items())
    return Explanation(conflicts, "violations", bool(conflicts), 0.0,
                       "the allocation violates the referee's hard constraints")


#: The CVXPY half, in :mod:`aigc_opt.explain_convex` (it builds on this module's types).
_CONVEX = ("CONVEX_FALLBACKS", "convex_meta", "explain_convex", "relax_convex",
           "restrict_convex")


def __getattr__(name: str) -> Any:
    """``aigc_opt.explain.explain_convex`` etc. keep working: read from
    :mod:`aigc_opt.explain_convex`."""
    if name in _CONVEX:
        from . import explain_convex as convex

        return getattr(convex, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
