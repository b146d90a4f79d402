r"""Why is a CVXPY program infeasible? Conflicts over its named constraint rows.

The convex half of :mod:`aigc_opt.explain` (same :class:`~aigc_opt.explain.Explanation` and
:class:`~aigc_opt.explain.Conflict` types, same deletion filter): builders name constraint
objects by ``meta["constraint_names"]`` and their elements by ``meta["constraint_items"]``
(:func:`convex_meta`); :func:`explain_convex` finds conflicts over those rows,
:func:`relax_convex` drops them and :func:`restrict_convex` keeps only them.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .backend import SolveOptions, get_backend
from .explain import (
    MAX_CONFLICTS,
    TIME_LIMIT,
    Conflict,
    Explanation,
    _deletion_filter,
    _short,
    row_label,
)
from .program import ConvexProgram
from .result import Termination

#: CVXPY solvers retrying a test of :func:`explain_convex` that CLARABEL leaves undecided (error,
#: ``*_inaccurate``: NumericalError past the edge of bandwidth_compute, where SCS decides).
CONVEX_FALLBACKS: tuple[tuple[str, Mapping[str, Any]], ...] = (
    ("SCS", {"eps_abs": 1e-9, "eps_rel": 1e-9, "max_iters": 200_000}),)
_DECIDED = (Termination.OPTIMAL, Termination.INFEASIBLE, Termination.INFEASIBLE_OR_UNBOUNDED)


def _convex_rows(program: ConvexProgram) -> tuple[np.ndarray, np.ndarray, Any]:
    """``(obj, elem, label)``: row ``r`` of :func:`explain_convex` is element ``elem[r]`` of
    constraint object ``obj[r]`` (-1: all of it); ``label(r)`` is ``(label, group)``."""
    import cvxpy as cp

    cons = program.problem.constraints
    names, items = program.meta.get("constraint_names"), program.meta.get("constraint_items")
    if not (isinstance(names, (tuple, list)) and len(names) == len(cons)):
        names = [f"constraint {i}: {_short(str(c))}" for i, c in enumerate(cons)]
    if not (isinstance(items, (tuple, list)) and len(items) == len(cons)):
        items = [None] * len(cons)
    sizes = [int(c.size) if it is not None and isinstance(c, (cp.constraints.Inequality,
                                                               cp.constraints.Equality))
             and len(c.expr.shape) == 1 and (isinstance(it, str) or len(it) == c.size) else 0
             for c, it in zip(cons, items, strict=True)]
    obj = np.repeat(np.arange(len(cons), dtype=np.int64), np.maximum(sizes, 1))
    elem = np.concatenate([np.arange(max(s, 1)) - (s == 0) for s in sizes] + [obj[:0]])

    def label(r: int) -> tuple[str, str]:
        i, e, name = int(obj[r]), int(elem[r]), str(names[int(obj[r])])
        return (name if e < 0 else row_label(name, (0, sizes[i], items[i]), e)), name.split(":")[0]
    return obj, elem, label


def _compose(program: ConvexProgram, sel: Sequence[int] | np.ndarray) -> list[Any]:
    """CVXPY constraints of exactly the rows ``sel``: objects or elements (``expr[idx] <= 0``)."""
    import cvxpy as cp

    cons, (obj, elem, _) = program.problem.constraints, _convex_rows(program)
    sel = np.unique(np.asarray(sel, dtype=np.int64))
    out = []
    for i in np.unique(obj[sel]).tolist():
        c, e = cons[i], elem[sel[obj[sel] == i]]
        whole = e[0] < 0 or e.size == int(c.size)
        out.append(c if whole else (c.expr[e] == 0 if isinstance(c, cp.constraints.Equality)
                                    else c.expr[e] <= 0))
    return out


def restrict_convex(program: ConvexProgram, rows: Sequence[int] | np.ndarray) -> ConvexProgram:
    """``program`` with only the rows ``rows`` (:func:`explain_convex`'s numbering)."""
    return dataclasses.replace(program, problem=type(program.problem)(
        program.problem.objective, _compose(program, rows)))


class _ConvexOracle:
    """Feasibility on rows (on ``units`` of rows when set), with :data:`CONVEX_FALLBACKS`."""

    def __init__(self, program: ConvexProgram, backend: str, deadline: float) -> None:
        import cvxpy as cp

        self.program, self.deadline, self.backend = program, deadline, get_backend(backend)
        self.meta = {k: v for k, v in program.meta.items() if k == "solver_settings"}
        have = set(cp.installed_solvers()) if backend == "cvxpy" else set()
        self.attempts: list[dict[str, Any]] = [{}] + [
            {"solver": s, **kw} for s, kw in CONVEX_FALLBACKS if s in have]
        self.limited, self.undecided, self.rough, self.rescued = False, 0, 0, Counter[str]()
        self.last_rough = False  # the last verdict came from an "*_inaccurate" status only
        self.notes: dict[str, None] = {}  # what the solvers said on undecided tests
        self.units: list[list[int]] | None = None
        self.zero = cp.Minimize(0)

    def feasible(self, sel: Sequence[int]) -> bool | None:
        """True / False; None when the budget ran out or no solver decided."""
        if self.units is not None:
            sel = [r for u in sel for r in self.units[u]]
        sub = ConvexProgram(type(self.program.problem)(self.zero, _compose(self.program, sel)),
                            self.program.variables, name=self.program.name, meta=self.meta)
        rough: bool | None = None  # the first "*_inaccurate" verdict
        for extra in self.attempts:
            left = self.deadline - time.perf_counter()
            res = None if left <= 0 else self.backend.solve(sub, SolveOptions(
                time_limit=max(left, 0.01), verify=False, extra=extra))
            if res is None or (res.termination is Termination.LIMIT
                               and time.perf_counter() >= self.deadline):
                self.limited = True
                return None
            status = str(res.stats.extra.get("native_status", res.termination.value))
            if res.termination in _DECIDED and not status.endswith("inaccurate"):
                self.rescued[extra.get("solver", "")] += bool(extra)
                self.last_rough = False
                return res.termination is Termination.OPTIMAL
            if rough is None and status.endswith("inaccurate"):
                rough = res.has_solution
            self.notes[_short(res.message or status, 70)] = None
        self.rough += rough is not None
        self.undecided += rough is None
        self.last_rough = rough is not None
        return rough


def convex_meta(names: Sequence[str], items: Sequence[Any], spec: Any, instance: Any,
                variables: Mapping[str, Any]) -> dict[str, tuple[Any, ...]]:
    """``meta["constraint_names"]`` / ``["constraint_items"]`` of a CVXPY builder: its objects'
    ``names`` and ``items`` (see :func:`explain_convex`), then one entry per object that
    ``spec.build`` appends for an ExtraConstraint (its name, item ``row {i}``)."""
    extra = [str(c.name) for c in spec.extra_constraints(instance) if c.convex is not None
             for _ in c.convex(variables)]
    return {"constraint_names": (*names, *extra),
            "constraint_items": (*items, *(["row {i}"] * len(extra)))}


def explain_convex(program: ConvexProgram, *, backend: str = "cvxpy",
                   time_limit: float = TIME_LIMIT,
                   max_conflicts: int = MAX_CONFLICTS) -> Explanation:
    """Explain an infeasible CVXPY program: conflicts over its named constraint rows.

    Builders name constraint objects by ``meta["constraint_names"]`` and their elements by
    ``meta["constraint_items"]`` (per object: a ``{i}`` template, labels, :class:`GridLabels`
    or None; :func:`convex_meta`): a vector inequality / equality with items has a row per
    element (``"deadline at user 7"``), other objects one (``"constraint <i>: <expr>"``
    unnamed). ``Conflict.rows`` are these rows (:func:`relax_convex` drops them), found as in
    :func:`explain_infeasible`; a test no solver decides keeps its row and is reported so.
    """
    t0 = time.perf_counter()
    obj, _, label = _convex_rows(program)
    oracle = _ConvexOracle(program, backend, t0 + time_limit)
    conflicts: list[Conflict] = []
    relaxed: set[int] = set()
    complete, message, coarse_n = False, "", 0
    while len(conflicts) < max_conflicts:
        rest = [r for r in range(obj.size) if r not in relaxed]
        status = oracle.feasible(rest)
        if status is not False:
            # complete only on a clean 'feasible': an inaccurate one (joint_bp with one user's
            # power x 1e-9) had reported complete=True with no conflict for an infeasible case
            complete = status is True and not oracle.last_rough
            message = "" if complete else (
                ("" if conflicts else "no conflict found: ") + "the rows left were judged "
                "feasible on an inaccurate solver status only" if status is True else
                "stopped before every conflict was found")
            break
        before = oracle.undecided + oracle.rough
        oracle.units = [[r for r in rest if obj[r] == i]
                        for i in dict.fromkeys(obj[rest].tolist())]
        keep, exact = _deletion_filter(oracle, list(range(len(oracle.units))),  # type: ignore[arg-type]
                                       bisect=False)
        cands = sorted(r for u in keep for r in oracle.units[u])
        # rows get half the time left: an IIS over hundreds of users (an area budget) does not
        # sift in time, and then the objects' conflict is named per group, not half-sifted
        full, hit, oracle.units, oracle.limited = oracle.deadline, oracle.limited, None, False
        oracle.deadline = time.perf_counter() + 0.5 * (full - time.perf_counter())
        kept, exact_rows = _deletion_filter(oracle, cands, bisect=len(cands) > 32)  # type: ignore[arg-type]
        coarse, oracle.deadline, oracle.limited = oracle.limited, full, hit
        if not kept:
            message = "the variables' own domains are infeasible"
            break
        labels = [label(r) for r in sorted(kept)]
        if coarse:
            kept, n_rows = cands, Counter(label(r)[1] for r in cands)
            labels = [(f"{g} ({n} rows)", g) for g, n in n_rows.items()]
            exact_rows, coarse_n = True, coarse_n + 1
        exact &= exact_rows and before == oracle.undecided + oracle.rough
        conflicts.append(Conflict(tuple(sorted(kept)), tuple(x for x, _ in labels),
                                  tuple(dict.fromkeys(g for _, g in labels)), exact))
        relaxed.update(kept)
    parts = [message]
    if oracle.undecided:
        parts.append(f"{oracle.undecided} feasibility test(s) undecided by every solver "
                     f"({'; '.join(list(oracle.notes)[:3])}): their rows were kept")
    if oracle.rough:
        parts.append(f"{oracle.rough} test(s) decided on an inaccurate solver status only")
    parts += [f"{n} test(s) decided by {s} after CLARABEL" for s, n in oracle.rescued.items() if n]
    if coarse_n:
        parts.append(f"{coarse_n} conflict(s) named per constraint group: their rows did not "
                     "sift in half the time left")
    if oracle.limited:
        parts.append(f"a test hit the time limit ({time_limit:g} s)")
    return Explanation(tuple(conflicts), "iis", complete, time.perf_counter() - t0,
                       "; ".join(p for p in parts if p))


def relax_convex(program: ConvexProgram, explanation: Explanation) -> ConvexProgram:
    """``program`` without the rows an :func:`explain_convex` result names."""
    rows = np.arange(_convex_rows(program)[0].size)
    return restrict_convex(program, np.setdiff1d(rows, np.asarray(explanation.rows, dtype=int)))
