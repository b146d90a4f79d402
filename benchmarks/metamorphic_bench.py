"""Metamorphic bench: transformed instances whose optimum is known from the original's.

For each family of :data:`aigc_opt.benchmarks.certify_bench.FAMILIES` and each seed, the base
case is the family's plain seeded instance (or, with ``--fuzzed``, the certify bench's scaled
case :func:`~aigc_opt.benchmarks.certify_bench.make_case`). Every relation of
:mod:`aigc_opt.benchmarks.metamorphic_transforms` maps it to ``(instance2, spec2, f)`` with
``optimum(instance2) = f * optimum(instance)``: ``determinism`` (f = 1), ``permutation`` of
unordered axes (f = 1), ``unit:<group>`` changes of one SI unit by ``c`` (f = 1, or c when the
objective's own unit is scaled), ``duplicate`` users with doubled capacities (f = 2), sparse
storage and unused models or bidders (f = 1).

Every exact method (``aigc_opt.methods(spec, instance)`` minus ``aigc_opt.solve.heuristics``;
heuristics only for determinism, same seed) runs on both sides in this process, with
``SolveOptions(time_limit=...)``. A comparison per method is

* ``agree``: both optimal and verified with ``|f obj_A - obj_B| <= gap |obj| + 1e-6 max(1,
  |obj|)`` (``gap`` the larger reported gap), or both ending with the same termination;
* ``changed``: the termination differs (e.g. optimal -> feasible when a proof weakens) with
  no numeric discrepancy; listed, not a failure;
* ``differ``: the optima disagree beyond that tolerance, or a cross check on the pooled
  verified solutions of both sides (A rescaled by f) fails (see
  :func:`~aigc_opt.benchmarks.certify_bench.check_results`, plus a bound beyond a verified
  objective), or a heuristic is not deterministic;
* ``refused``: a side raised :class:`aigc_opt.errors.ValidationError`;
* ``error``: anything else raised (by a method or by the transform).

Run::

    python -m aigc_opt.benchmarks.metamorphic_bench --family wpmec.binary --seeds 2 \\
        [--fuzzed] [--relation permutation] [--cs 1e-3 7.3 1e4] [--out rows.jsonl]

It prints one table of counts per relation x family and the discrepancies; the exit status
is 1 when any comparison is ``differ`` or ``error``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

import aigc_opt as ao
from aigc_opt.backend import SolveOptions
from aigc_opt.benchmarks.certify_bench import FAMILIES, check_results, make_case
from aigc_opt.benchmarks.metamorphic_transforms import DEFAULT_CS, Relation, relations
from aigc_opt.cases import get_case
from aigc_opt.errors import ValidationError
from aigc_opt.export import format_table
from aigc_opt.result import Result, Termination
from aigc_opt.solve import heuristics

logger = logging.getLogger(__name__)

#: Columns of the summary table.
COLUMNS = ("comparisons", "agree", "changed", "differ", "refused", "errors")
_FAILING = ("differ", "error")


@dataclass
class Outcome:
    """One method run: a result, or ``refused`` / ``exception`` with the message."""

    kind: str  # "result", "refused" or "exception"
    result: Result | None = None
    message: str = ""


@dataclass
class Comparison:
    """One method compared across one relation of one base case."""

    family: str
    seed: int
    relation: str
    method: str
    status: str  # agree / changed / differ / refused / error
    factor: float
    c: float | None = None
    issues: list[str] = field(default_factory=list)
    a: dict[str, Any] = field(default_factory=dict)
    b: dict[str, Any] = field(default_factory=dict)


def solve(instance: Any, spec: Any, method: str, seed: int, time_limit: float) -> Outcome:
    """Run ``method``; never raises (a refusal or an exception becomes the outcome)."""
    try:
        res = ao.run_method(instance, spec, method, options=SolveOptions(time_limit=time_limit),
                            seed=seed)
    except ValidationError as exc:
        return Outcome("refused", message=str(exc)[:300])
    except Exception as exc:
        logger.warning("%s raised %s: %s", method, type(exc).__name__, exc)
        return Outcome("exception", message=f"{type(exc).__name__}: {exc}\n"
                       + traceback.format_exc(limit=-3))
    return Outcome("result", res)


def _summary(o: Outcome) -> dict[str, Any]:
    if o.result is None:
        return {"kind": o.kind, "message": o.message[:300]}
    r = o.result
    return {"kind": o.kind, "termination": r.termination.value, "objective": r.objective,
            "bound": r.bound, "gap": r.gap, "verified": r.verified,
            "message": r.message[:200]}


def _ok(r: Result) -> bool:
    return r.has_solution and r.verified and r.termination in (Termination.OPTIMAL,
                                                               Termination.FEASIBLE)


def _gap(r: Result) -> float:
    return r.gap if math.isfinite(r.gap) else 0.0


def within(x: float, y: float, gap: float) -> bool:
    """The agreement rule: ``|x - y| <= gap max|.| + 1e-6 max(1, max|.|)``."""
    m = max(abs(x), abs(y))
    return abs(x - y) <= gap * m + 1e-6 * max(1.0, m)


def _rescaled(r: Result, f: float) -> Result:
    return dataclasses.replace(r, objective=r.objective * f, bound=r.bound * f,
                               eval_objective=r.eval_objective * f)


def cross_checks(a: dict[str, Result], b: dict[str, Result], f: float, sense: str,
                 heur: frozenset[str]) -> dict[str, list[str]]:
    """Invariant failures on the pool of both sides (A rescaled by ``f``), per method.

    The certify bench's :func:`check_results` (unverified claims, an optimal claim beaten by
    another verified solution, ``infeasible`` next to a verified solution), plus a reported
    bound beyond a verified objective.
    """
    pool = {f"{m}@A": _rescaled(r, f) for m, r in a.items()}
    pool.update({f"{m}@B": r for m, r in b.items()})
    out: dict[str, list[str]] = defaultdict(list)
    hs = frozenset(f"{m}@{s}" for m in heur for s in "AB")
    for msg in check_results(pool, sense, hs):
        out[msg.split("@")[0]].append(msg)
    sign = 1.0 if sense == "min" else -1.0
    verified = [(k, r.objective) for k, r in pool.items() if _ok(r)]
    for k, r in pool.items():
        m = k.split("@")[0]
        if m in heur or not math.isfinite(r.bound) or r.termination not in (
                Termination.OPTIMAL, Termination.FEASIBLE, Termination.LIMIT):
            continue
        for h, v in verified:
            m_ = max(abs(r.bound), abs(v))
            if sign * (r.bound - v) > 2e-5 * m_ + 1e-6 * max(1.0, m_):
                out[m].append(f"invalid_bound: {k} bound {r.bound:.12g} beyond {h} {v:.12g}")
                break
    return out


def compare(a: dict[str, Outcome], b: dict[str, Outcome], f: float, sense: str,
            heur: frozenset[str]) -> dict[str, tuple[str, list[str]]]:
    """Per method: ``(status, issues)`` for ``objective(B) = f objective(A)``."""
    ra = {m: o.result for m, o in a.items() if o.result is not None}
    rb = {m: o.result for m, o in b.items() if o.result is not None}
    cross = cross_checks(ra, rb, f, sense, heur)
    out: dict[str, tuple[str, list[str]]] = {}
    for m in a:
        if m not in b:
            continue
        oa, ob = a[m], b[m]
        issues = list(cross.get(m, []))
        if "exception" in (oa.kind, ob.kind):
            bad = oa if oa.kind == "exception" else ob
            out[m] = ("error", [f"exception: {bad.message[:300]}", *issues])
            continue
        if "refused" in (oa.kind, ob.kind):
            out[m] = ("refused", issues)
            continue
        x, y = ra[m], rb[m]
        status = "agree"
        if m in heur:
            if _ok(x) and _ok(y) and abs(f * x.objective - y.objective) > 1e-12 * max(
                    1.0, abs(y.objective)):
                issues.append(f"heuristic_nondeterministic: {f * x.objective!r} vs "
                              f"{y.objective!r}")
        elif x.optimal and y.optimal and _ok(x) and _ok(y):
            if not within(f * x.objective, y.objective, max(_gap(x), _gap(y))):
                issues.append(f"optimum_changed: f*A = {f * x.objective:.12g}, "
                              f"B = {y.objective:.12g} (f = {f:g})")
        elif x.termination is not y.termination:
            status = "changed"
        out[m] = ("differ" if issues else status, issues)
    return out


def _base(family: str, seed: int, fuzzed: bool) -> tuple[Any, Any, str]:
    if fuzzed:
        return make_case(family, seed)
    fam, kind = FAMILIES[family], get_case(family)
    spec = kind.make_spec(**fam.spec_params(np.random.default_rng(seed)))
    return kind.make_instance(seed, **fam.sizes), spec, f"{family} seed={seed}"


def _selected(name: str, wanted: Iterable[str] | None) -> bool:
    return wanted is None or any(name == w or name.split(":")[0] == w for w in wanted)


def run_family(family: str, seeds: Iterable[int], *, fuzzed: bool = False,
               wanted: list[str] | None = None, cs: tuple[float, ...] = DEFAULT_CS,
               time_limit: float = 10.0, extra: list[Relation] | None = None,
               out: TextIO | None = None) -> list[Comparison]:
    """Check the relations of ``family`` (those named in ``wanted``: a full name such as
    ``unit:memory`` or a prefix such as ``unit``; all by default, plus ``extra``) on each
    seed; each comparison is also written to ``out`` as one JSON line."""
    rows: list[Comparison] = []
    kind = get_case(family)

    def emit(row: Comparison) -> None:
        rows.append(row)
        if row.status in _FAILING:
            logger.info("%s seed %d %s %s: %s %s", family, row.seed, row.relation, row.method,
                        row.status, row.issues[:2])
        if out is not None:
            out.write(json.dumps(dataclasses.asdict(row), default=str) + "\n")

    for seed in seeds:
        try:
            inst, spec, label = _base(family, seed, fuzzed)
        except ValidationError as exc:
            logger.info("%s seed %d: base case refused: %s", family, seed, exc)
            continue
        sense = kind.sense_of(spec)
        heur = frozenset(heuristics(spec))
        every = list(ao.methods(spec, inst))
        exact = [m for m in every if m not in heur]
        base: dict[str, Outcome] = {}

        def side_a(methods: list[str], inst: Any = inst, spec: Any = spec, seed: int = seed,
                   base: dict[str, Outcome] = base) -> dict[str, Outcome]:
            for m in methods:
                if m not in base:
                    base[m] = solve(inst, spec, m, seed, time_limit)
            return {m: base[m] for m in methods}

        rels = [r for r in relations(family, seed, cs) if _selected(r.name, wanted)]
        for rel in rels + list(extra or []):
            methods = every if rel.all_methods else exact
            try:
                inst2, spec2, factor = rel.apply(inst, spec)
            except NotImplementedError as exc:
                logger.debug("%s %s skipped: %s", label, rel.name, exc)
                continue
            except ValidationError as exc:
                emit(Comparison(family, seed, rel.name, "*", "refused", math.nan, rel.c,
                                [f"transform refused: {str(exc)[:200]}"]))
                continue
            except Exception as exc:
                emit(Comparison(family, seed, rel.name, "*", "error", math.nan, rel.c,
                                [f"transform raised {type(exc).__name__}: {exc}"]))
                continue
            a = side_a(methods)
            b = {m: solve(inst2, spec2, m, seed, time_limit) for m in methods}
            for m, (status, issues) in compare(a, b, factor, sense, heur).items():
                emit(Comparison(family, seed, rel.name, m, status, factor, rel.c, issues,
                                _summary(a[m]), _summary(b[m])))
        logger.info("%s: %d comparisons so far", label, len(rows))
    return rows


def summarize(rows: list[Comparison]) -> list[dict[str, Any]]:
    """One table row per (relation, family): seeds and the counts of :data:`COLUMNS`."""
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    seeds: dict[tuple[str, str], set[int]] = defaultdict(set)
    for r in rows:
        key = (r.relation, r.family)
        seeds[key].add(r.seed)
        counts[key]["comparisons"] += 1
        counts[key]["errors" if r.status == "error" else r.status] += 1
    return [{"relation": rel, "family": fam, "seeds": len(seeds[(rel, fam)]),
             **{c: counts[(rel, fam)][c] for c in COLUMNS}} for rel, fam in sorted(counts)]


def discrepancies(rows: list[Comparison]) -> list[str]:
    """One line per ``differ`` or ``error`` comparison."""
    return [f"{r.family} seed={r.seed} {r.relation}" + (f" c={r.c:g}" if r.c else "")
            + f" {r.method}: {r.status}: " + "; ".join(i.splitlines()[0] for i in r.issues)
            for r in rows if r.status in _FAILING]


def main(argv: list[str] | None = None) -> int:
    """Command line entry point (see module docstring)."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--family", action="append", choices=sorted(FAMILIES),
                    help="repeatable; default every family")
    ap.add_argument("--seeds", type=int, default=2, help="seeds 0..N-1 (default 2)")
    ap.add_argument("--seed0", type=int, default=0)
    ap.add_argument("--fuzzed", action="store_true",
                    help="base cases from certify_bench.make_case (a field group x 10**k)")
    ap.add_argument("--relation", action="append",
                    help="determinism, permutation, unit, unit:<group>, duplicate, "
                         "sparse_storage, sparse_permutation, unused_model, zero_bidder "
                         "(repeatable; default all)")
    ap.add_argument("--cs", type=float, nargs="+", default=list(DEFAULT_CS),
                    help="unit factors c (default 1e-3 7.3 1e4)")
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--out", help="write every comparison as a JSON line to this file")
    args = ap.parse_args(argv)
    if args.seeds < 1:
        ap.error("--seeds must be >= 1")
    if any(not (math.isfinite(c) and c > 0) for c in args.cs):
        ap.error("--cs values must be finite and > 0")
    logging.basicConfig(level=logging.ERROR)
    t0 = time.perf_counter()
    fams = args.family or list(FAMILIES)
    seeds = range(args.seed0, args.seed0 + args.seeds)
    rows: list[Comparison] = []
    fh = open(args.out, "w", encoding="utf-8") if args.out else None
    try:
        for fam in fams:
            rows += run_family(fam, seeds, fuzzed=args.fuzzed, wanted=args.relation,
                               cs=tuple(args.cs), time_limit=args.time_limit, out=fh)
    finally:
        if fh is not None:
            fh.close()
    table = summarize(rows)
    print(f"metamorphic_bench: {len(fams)} families x {args.seeds} seeds"
          f"{' (fuzzed)' if args.fuzzed else ''}, {len(rows)} comparisons in "
          f"{time.perf_counter() - t0:.0f} s")
    print(format_table(table, ["relation", "family", "seeds", *COLUMNS]))
    bad = discrepancies(rows)
    changed = sum(r.status == "changed" for r in rows)
    print(f"termination changes (not failures): {changed}")
    print(f"discrepancies: {len(bad)}")
    for line in bad[:200]:
        print(f"- {line}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
