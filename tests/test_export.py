"""CSV export: append-safe rows, tail repair, ratios and summaries, per-user result tables."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt import export, result_csv
from aigc_opt.problems.offloading import OffloadingSpec


def test_rows_round_trip_one_line_each(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    rows = [
        {"key": "a", "status": "error", "error": 'line one\nline "two", with comma',
         "objective": 0.1 + 0.2, "has_solution": False, "seed": 3},
        {"key": "b", "status": "ok", "objective": -1.5e-300, "has_solution": True,
         "feasible": True, "latency_mean_s": 2.0, "seed": 0},
    ]
    with export.RowWriter(out) as w:
        for r in rows:
            w.write(r)
    lines = out.read_text().splitlines()
    assert len(lines) == 3 and lines[0] == ",".join(export.COLUMNS)
    back = export.read_rows(out)
    assert back[0]["error"] == rows[0]["error"]
    assert back[0]["objective"] == 0.1 + 0.2  # repr round trip is exact
    assert back[1]["objective"] == -1.5e-300
    assert back[0]["has_solution"] is False and back[1]["feasible"] is True
    assert back[0]["seed"] == 3 and math.isnan(back[0]["bound"])


def test_partial_last_line_is_dropped_and_header_kept(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    head = "key,problem,method,status,objective,extra_col"
    out.write_text(f"{head}\nk1,p,m,ok,1.0,x\nk2,p,m,ok,2.")
    assert [r["key"] for r in export.read_rows(out)] == ["k1"]
    assert export.repair_tail(out) == len("k2,p,m,ok,2.")
    with export.RowWriter(out) as w:  # appends with the file's own header
        assert w.columns == head.split(",")
        w.write({"key": "k3", "objective": 3.0, "status": "ok", "termination": "ignored"})
    assert out.read_text() == f"{head}\nk1,p,m,ok,1.0,x\nk3,,,ok,3.0,\n"
    # a header without the columns every results CSV has is not appended to
    foreign = tmp_path / "f.csv"
    foreign.write_text("key,objective,extra_col\nk1,1.0,x\n")
    with pytest.raises(export.ForeignFileError, match="lacks problem, method, status"):
        export.RowWriter(foreign)
    assert foreign.read_text() == "key,objective,extra_col\nk1,1.0,x\n"
    half_header = tmp_path / "h.csv"
    half_header.write_text("key,suite,prob")
    with export.RowWriter(half_header) as w:
        w.write({"key": "z"})
    assert half_header.read_text().splitlines()[0] == ",".join(export.COLUMNS)
    assert [r["key"] for r in export.read_rows(half_header)] == ["z"]


def _row(method: str, obj: float, *, seed: int = 0, term: str = "feasible",
         feasible: bool = True, status: str = "ok") -> dict:
    return {"suite": "s", "problem": "p", "variant": "v", "sizes": "n=3", "seed": seed,
            "method": method, "reference": "exact", "objective": obj, "termination": term,
            "has_solution": status == "ok", "feasible": feasible, "status": status,
            "solve_seconds": 0.5}


def test_ratios_and_summary_counts() -> None:
    rows = [
        _row("exact", 10.0, term="optimal"), _row("greedy", 12.0), _row("bad", 9.0, feasible=False),
        _row("exact", 4.0, seed=1, term="optimal"), _row("greedy", 5.0, seed=1),
        _row("exact", math.nan, seed=2, term="error", status="error"), _row("greedy", 7.0, seed=2),
        _row("exact", -2.0, seed=3, term="optimal"), _row("greedy", 1.0, seed=3),
    ]
    r = export.add_ratios(rows)
    assert r[1]["ratio_to_ref"] == pytest.approx(1.2)
    assert r[1]["excess_to_ref"] == pytest.approx(0.2)
    assert math.isnan(r[2]["ratio_to_ref"])  # infeasible: no ratio
    assert r[4]["ratio_to_ref"] == pytest.approx(1.25)
    assert math.isnan(r[6]["ratio_to_ref"])  # reference failed on seed 2
    assert math.isnan(r[8]["ratio_to_ref"])  # signs differ: no ratio, but an excess
    assert r[8]["excess_to_ref"] == pytest.approx(1.5)
    s = {x["method"]: x for x in export.summarize(rows)}
    assert (s["exact"]["cases"], s["exact"]["optimal"], s["exact"]["feasible"],
            s["exact"]["failed"]) == (4, 3, 3, 1)
    assert s["greedy"]["mean_ratio"] == pytest.approx((1.2 + 1.25) / 2)
    assert s["greedy"]["mean_regret"] == pytest.approx((0.2 + 0.25 + 1.5) / 3)
    assert s["greedy"]["median_solve_s"] == 0.5
    assert s["bad"]["failed"] == 1
    text = export.format_table(export.summarize(rows), export.SUMMARY_COLUMNS)
    assert text.splitlines()[0].split() == list(export.SUMMARY_COLUMNS)


def test_no_ratio_to_a_negative_reference_and_regret_follows_the_sense() -> None:
    """With negative objectives (migration's rewards) objective / reference < 1 for a *worse*
    minimisation result (-15.10 / -18.34 = 0.82): no ratio then; the regret is > 0 (worse)
    for a minimisation and flips for a maximisation."""
    rows = [_row("exact", -18.34, term="optimal"), _row("never", -15.10),
            _row("exact", -172.4, seed=1, term="optimal"), _row("never", -154.5, seed=1)]
    r = export.add_ratios(rows)
    assert all(math.isnan(x["ratio_to_ref"]) for x in r)
    assert r[1]["regret"] > 0 and r[3]["regret"] > 0
    s = {x["method"]: x for x in export.summarize(rows)}
    assert math.isnan(s["never"]["mean_ratio"]) and s["never"]["mean_regret"] > 0
    mx = export.add_ratios([{**x, "sense": "max"} for x in rows])
    assert mx[1]["regret"] < 0  # -15.10 beats -18.34 when maximising


@dataclass(frozen=True)
class _Inst:
    a: np.ndarray
    b: float


def test_instance_hash() -> None:
    scn = ao.Scenario.generate(5, 2, 2, seed=1)
    assert export.instance_hash(scn) == scn.digest()
    h = export.instance_hash(_Inst(np.arange(3.0), 1.0))
    assert h == export.instance_hash(_Inst(np.arange(3.0), 1.0))
    assert h != export.instance_hash(_Inst(np.arange(3.0), 2.0))
    assert h != export.instance_hash(_Inst(np.arange(3), 1.0))  # dtype matters


def test_per_user_result_csv_matches_allocation(tmp_path: Path) -> None:
    scn = ao.Scenario.generate(8, 2, 3, seed=2)
    spec = OffloadingSpec()
    res = ao.solve(scn, spec, backend="highs")
    met = ao.evaluate(scn, res.allocation, spec)
    out = tmp_path / "alloc.csv"
    summary = result_csv.write_result_csv(out, res, met)
    with open(out, newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == scn.n_users
    np.testing.assert_array_equal([int(r["placement"]) for r in table], res.allocation.placement)
    np.testing.assert_allclose([float(r["uplink_hz"]) for r in table], res.allocation.uplink_hz)
    for name, arr in met.per_item.items():
        if np.ndim(arr) == 1 and len(arr) == scn.n_users:
            np.testing.assert_allclose([float(r[f"metric.{name}"]) for r in table], arr)
    with open(summary, newline="") as fh:
        srow = next(csv.DictReader(fh))
    assert float(srow["objective"]) == res.objective
    assert float(srow["eval_objective"]) == pytest.approx(res.objective, rel=1e-6)
    assert srow["termination"] == "optimal" and "cache" in srow["allocation_other"]
    assert srow["method"] == srow["backend"] == "highs"


def test_summary_csv_names_the_method_asked_for(tmp_path: Path) -> None:
    """An algorithm that solves through a backend (caching's offline_milp through HiGHS) is
    named as asked in the summary; the backend has its own column (it was 'method = highs')."""
    from aigc_opt.cases import get_case

    kind = get_case("caching.offline")
    inst, spec = kind.make_instance(seed=0), kind.make_spec()
    res = ao.run_method(inst, spec, "offline_milp")
    summary = result_csv.write_result_csv(tmp_path / "c.csv", res, res.metrics,
                                          method="offline_milp")
    with open(summary, newline="") as fh:
        srow = next(csv.DictReader(fh))
    assert srow["method"] == "offline_milp" and srow["backend"] == res.stats.backend


def test_rows_record_the_solver_versions_and_the_source_revision() -> None:
    """Rows from different code differ in ``revision`` (the git commit, ``+dirty`` with
    uncommitted changes) even at one package version; SCIP's and Clarabel's versions are
    recorded next to HiGHS's."""
    import subprocess
    from importlib import metadata

    cols = export.version_columns()
    assert {"v_pyscipopt", "v_clarabel", "revision"} <= set(export.COLUMNS) & set(cols)
    assert cols["v_pyscipopt"] == metadata.version("pyscipopt")
    root = Path(export.__file__).resolve().parent.parent
    try:
        git = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True)
    except OSError:  # no git on this machine
        git = None
    if not (root / ".git").exists() or git is None or git.returncode != 0:
        assert cols["revision"] == ""
        return
    assert cols["revision"].removesuffix("+dirty") == git.stdout.strip()
