"""Batch runner: suites, failing / timed-out / crashing cases, kill-and-resume, Dask vs pool.

The fake case kinds live in a module written to a temporary directory and imported by the
suites (``suite.imports``), so that spawned workers and Dask workers register them too.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt import batch, export
from aigc_opt.batch import Case, SuiteError, expand, load_suite, parse_suite, run_case, run_suite
from aigc_opt.errors import ValidationError

from conftest import case_module

FAKE_MODULE = '''
from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from aigc_opt.cases import CaseKind, register_case
from aigc_opt.metrics import Metrics, register_evaluator
from aigc_opt.result import Result, SolveStats, Termination
from aigc_opt.solve import register_algorithm
from aigc_opt.spec import ProblemSpec


@dataclass(frozen=True)
class FakeInstance:
    values: np.ndarray


@dataclass(frozen=True)
class FakeAlloc:
    pick: np.ndarray


@dataclass(frozen=True)
class FakeSpec(ProblemSpec):
    delay: float = 0.0
    problem: str = "fake"
    variant: str = "toy"


def make_instance(seed, n=5):
    return FakeInstance(np.random.default_rng(seed).uniform(1.0, 2.0, n))


def _result(inst, i, name, term):
    obj = float(inst.values[i])
    return Result(term, True, objective=obj, bound=float(inst.values.min()),
                  gap=0.0 if term == Termination.OPTIMAL else float("nan"),
                  allocation=FakeAlloc(np.array([i])), stats=SolveStats(name))


def exact(inst, spec, options):
    time.sleep(spec.delay)
    return _result(inst, int(np.argmin(inst.values)), "exact", Termination.OPTIMAL)


def first(inst, spec, options):
    time.sleep(spec.delay)
    return _result(inst, 0, "first", Termination.FEASIBLE)


def boom(inst, spec, options):
    raise RuntimeError("injected failure")


def sleepy(inst, spec, options):
    time.sleep(60)
    raise AssertionError("not reached")


def crash(inst, spec, options):
    os._exit(3)


def evaluate_fake(inst, alloc, objective=None):
    return Metrics("fake", float(inst.values[alloc.pick].sum()),
                   per_item={"value": inst.values},
                   totals={"latency_mean_s": float(inst.values.mean()), "fake_total": 1.5})


register_evaluator(FakeAlloc, evaluate_fake)
for _name, _fn in [("exact", exact), ("first", first), ("boom", boom), ("sleepy", sleepy),
                   ("crash", crash)]:
    register_algorithm(FakeSpec, _name, _fn)


def _bad_instance(seed, **sizes):
    raise ValueError("injected bad instance")


register_case(CaseKind("fake.toy", make_instance, lambda **p: FakeSpec(**p),
                       default_methods=("exact", "first"), reference="exact",
                       description="test toy"))
register_case(CaseKind("fake.badinstance", _bad_instance, lambda **p: FakeSpec(**p),
                       default_methods=("exact",), reference="exact"))
'''


@pytest.fixture()
def fake_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The fake case module, importable here and in child processes (conftest.case_module)."""
    yield from case_module(tmp_path, monkeypatch, "fakecases_batch", FAKE_MODULE)


def _suite(tmp_path: Path, body: str, name: str = "t") -> Path:
    p = tmp_path / f"{name}.toml"
    p.write_text(textwrap.dedent(body))
    return p


def _by_key(rows: list[dict]) -> dict[str, dict]:
    out = {r["key"]: r for r in rows}
    assert len(out) == len(rows), "duplicate case keys in the CSV"
    return out


# ------------------------------------------------------------------ suite parsing / expansion
def test_shipped_suites_load_and_expand() -> None:
    names = batch.suite_names()
    assert {"quick", "full"} <= set(names)
    for name in names:
        cases = load_suite(name).cases()
        assert cases, name
        assert len({c.key for c in cases}) == len(cases)


def test_quick_suite_covers_every_registered_kind_and_backend() -> None:
    kinds, _ = batch.load_kinds()
    cases = load_suite("quick").cases()
    assert {c.problem for c in cases} == set(kinds)
    assert {"highs", "cvxpy", "pyomo"} <= {c.method for c in cases}


def test_quick_suite_runs_scip_next_to_highs_wherever_both_apply() -> None:
    """The README's claim: SCIP, the independent MILP solver, is cross-checked against HiGHS
    in the quick suite on every family where both are methods."""
    kinds, _ = batch.load_kinds()
    cases = load_suite("quick").cases()
    missing = []
    for problem in sorted({c.problem for c in cases}):
        kind = kinds[problem]
        ran = {c.method for c in cases if c.problem == problem}
        first = next(c for c in cases if c.problem == problem)
        avail = ao.methods(kind.make_spec(**first.params),
                           kind.make_instance(first.seed, **first.sizes))
        if "scip" in avail and ({"highs", "offline_milp", "vcg"} & ran) and "scip" not in ran:
            missing.append(problem)
    assert not missing, missing


def test_star_entry_adds_unnamed_kinds_only(tmp_path: Path, fake_module: str) -> None:
    p = _suite(tmp_path, f"""
        [suite]
        imports = ["{fake_module}"]
        [[cases]]
        problem = "fake.toy"
        methods = ["first"]
        [[cases]]
        problem = "*"
        seeds = [4]
    """)
    cases = expand(load_suite(p))
    kinds, _ = batch.load_kinds()
    assert {c.problem for c in cases} == set(kinds)
    toy = [c.key for c in cases if c.problem == "fake.toy"]
    assert toy == ["t|fake.toy|default||seed=0|first"]
    bad = [c for c in cases if c.problem == "fake.badinstance"]
    assert [(c.seed, c.method) for c in bad] == [(4, "exact")]
    with pytest.raises(SuiteError, match="not allowed with problem = '\\*'"):
        expand(parse_suite("[[cases]]\nproblem='*'\nmethods=['highs']\n", source="s.toml"))


def test_grid_expansion_and_stable_keys(tmp_path: Path, fake_module: str) -> None:
    p = _suite(tmp_path, f"""
        [suite]
        imports = ["{fake_module}"]
        time_limit = 2.0
        [[cases]]
        problem = "fake.toy"
        sizes = {{n = [3, 4, 5]}}
        seeds = [0, 1]
        params = [{{delay = 0.0}}, {{delay = 0.001}}]
        [[cases]]
        problem = "fake.toy"
        sizes = [{{n = 7}}]
        methods = ["first"]
        variant = "single"
        mip_gap = 0.01
    """)
    cases = expand(load_suite(p))
    # 3 sizes x 2 seeds x 2 params x 2 default methods + 1
    assert len(cases) == 3 * 2 * 2 * 2 + 1
    assert cases[0].key == "t|fake.toy|delay=0.0|n=3|seed=0|exact"
    assert cases[-1].key == "t|fake.toy|single|n=7|seed=0|first"
    assert cases[-1].mip_gap == 0.01 and cases[-1].time_limit == 2.0
    assert cases[0].timeout == 2.0 + batch.DEFAULT_GRACE
    assert [c.key for c in expand(load_suite(p))] == [c.key for c in cases]


@pytest.mark.parametrize(("text", "needle"), [
    ("[suite]\nbogus = 1\n[[cases]]\nproblem='fake.toy'\n", "suite.bogus"),
    ("[[cases]]\nproblem='fake.toy'\nsize = 3\n", "cases[0].size"),
    ("[[cases]]\nsizes = {n=[1]}\n", "'problem'"),
    ("[suite]\ntime_limit = -1\n[[cases]]\nproblem='fake.toy'\n", "suite.time_limit"),
    ("[suite\n", "invalid TOML"),
    ("[suite]\n", "[[cases]]"),
    ("[[cases]]\nproblem='fake.toy'\nmethods = 'exact'\n", "cases[0].methods = 'exact'"),
    ("[[cases]]\nproblem='fake.toy'\nmethods = []\n", "cases[0].methods"),
    ("[[cases]]\nproblem='fake.toy'\nmethods = ['a', 3]\n", "cases[0].methods"),
    ("[suite]\nthreads = 'many'\n[[cases]]\nproblem='fake.toy'\n", "suite.threads = 'many'"),
    ("[[cases]]\nproblem='fake.toy'\nthreads = 0\n", "cases[0].threads"),
    ("[suite]\ntime_limit = nan\n[[cases]]\nproblem='fake.toy'\n", "suite.time_limit = nan"),
    ("[[cases]]\nproblem='fake.toy'\ntimeout = inf\n", "cases[0].timeout = inf"),
    ("[[cases]]\nproblem='fake.toy'\nmip_gap = '1e-4'\n", "cases[0].mip_gap = '1e-4'"),
    ("[[cases]]\nproblem='fake.toy'\ngrace = true\n", "cases[0].grace = True"),
    ("[[cases]]\nproblem='fake.toy'\nseeds = [0, true]\n", "cases[0].seeds"),
    ("[[cases]]\nproblem='fake.toy'\nseeds = 3\n", "cases[0].seeds = 3"),
    ("[[cases]]\nproblem='fake.toy'\nsizes = {n = [nan]}\n", "cases[0].sizes.n = nan"),
    ("[[cases]]\nproblem='fake.toy'\nsizes = {n = []}\n", "cases[0].sizes.n"),
    ("[[cases]]\nproblem='fake.toy'\nsizes = [{n = [1]}]\n", "cases[0].sizes[0].n"),
    ("[[cases]]\nproblem='fake.toy'\nsizes = 5\n", "cases[0].sizes = 5"),
    ("[[cases]]\nproblem='fake.toy'\nparams = 'x'\n", "cases[0].params = 'x'"),
    ("[[cases]]\nproblem='fake.toy'\nparams = {a = {b = nan}}\n", "cases[0].params.a.b"),
    ("[[cases]]\nproblem=3\n", "cases[0].problem = 3"),
    ("[[cases]]\nproblem='fake.toy'\nvariant = ''\n", "cases[0].variant"),
    ("[suite]\nimports = 'mod'\n[[cases]]\nproblem='fake.toy'\n", "suite.imports"),
    ("suite = 3\n[[cases]]\nproblem='fake.toy'\n", "suite = 3"),
    ("cases = [1]\n", "cases[0] = 1"),
])
def test_bad_suite_names_the_key(text: str, needle: str) -> None:
    with pytest.raises(SuiteError, match=None) as info:
        parse_suite(text, source="bad.toml")
    assert needle in str(info.value) and "bad.toml" in str(info.value)
    assert isinstance(info.value, ValidationError)


def test_unknown_problem_and_suite_are_named(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="no.such"):
        expand(parse_suite("[[cases]]\nproblem='no.such'\n", source="x.toml"))
    with pytest.raises(SuiteError, match="unknown suite 'nope'"):
        load_suite("nope")
    with pytest.raises(SuiteError, match="not found"):
        load_suite(tmp_path / "missing.toml")
    # binary or non-UTF-8 bytes in a suite file: named with the line (was an internal error)
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b'[suite]\nname = "x\xff"\n')
    with pytest.raises(SuiteError, match=r"bad.toml.*not UTF-8.*0xff at line 2"):
        load_suite(bad)
    bad.write_bytes(bytes(range(256)))
    with pytest.raises(SuiteError, match="not UTF-8"):
        load_suite(bad)


# ------------------------------------------------------------------ failures become rows
def test_unknown_spec_parameter_is_an_error_row_naming_the_known_ones(tmp_path: Path) -> None:
    """A misspelt spec parameter is an error row that names it, the known parameters and the
    closest one (it was Python's 'unexpected keyword argument' TypeError); the next case runs."""
    p = _suite(tmp_path, """
        [[cases]]
        problem = "offloading.assignment"
        sizes = {n_users = [5], n_servers = [2], n_models = [2]}
        params = {allow_clod = [false]}
        methods = ["highs"]
        [[cases]]
        problem = "offloading.assignment"
        sizes = {n_users = [5], n_servers = [2], n_models = [2]}
        methods = ["highs"]
    """)
    out = tmp_path / "r.csv"
    run_suite(p, out, workers=0, progress=False)
    rows = export.read_rows(out)
    assert [r["status"] for r in rows] == ["error", "ok"]
    err = rows[0]["error"]
    assert "UnknownNameError" in err and "'allow_clod'" in err
    assert "known: admission, allow_cloud" in err and "did you mean 'allow_cloud'" in err


def test_failing_timeout_and_crash_cases_each_write_a_row(tmp_path: Path,
                                                          fake_module: str) -> None:
    p = _suite(tmp_path, f"""
        [suite]
        imports = ["{fake_module}"]
        time_limit = 0.5
        grace = 1.0
        [[cases]]
        problem = "fake.toy"
        seeds = [0, 1]
        methods = ["exact", "first", "boom", "sleepy", "crash", "nosuchmethod"]
        [[cases]]
        problem = "fake.badinstance"
    """)
    out = tmp_path / "r.csv"
    rep = run_suite(p, out, workers=2, progress=False)
    rows = _by_key(export.read_rows(out))
    cases = expand(load_suite(p))
    assert rep.written == len(cases) == len(rows) == 13
    assert set(rows) == {c.key for c in cases}
    status = {(k.split("|")[-1], k.split("|")[1]): r["status"] for k, r in rows.items()}
    assert status[("exact", "fake.toy")] == "ok"
    assert status[("boom", "fake.toy")] == "error"
    assert status[("sleepy", "fake.toy")] == "timeout"
    assert status[("crash", "fake.toy")] == "crashed"
    assert status[("nosuchmethod", "fake.toy")] == "error"
    assert status[("exact", "fake.badinstance")] == "error"
    errors = {k.split("|")[-1]: r["error"] for k, r in rows.items() if "seed=0" in k}
    assert "RuntimeError: injected failure" in errors["boom"]
    assert "wall timeout 1.5 s" in errors["sleepy"]
    assert "exit code 3" in errors["crash"]
    assert "injected bad instance" in rows["t|fake.badinstance|default||seed=0|exact"]["error"]
    ok = [r for r in rows.values() if r["status"] == "ok"]
    for r in ok:  # the evaluator's objective is the solver's
        np.testing.assert_allclose(r["eval_objective"], r["objective"], rtol=1e-12)
        assert r["feasible"] is True and r["latency_mean_s"] > 0
        assert '"fake_total": 1.5' in r["metrics_extra"] and r["scenario_hash"]
    summary = {(s["problem"], s["method"]): s for s in export.summarize(rows.values())}
    assert summary[("fake.toy", "exact")]["optimal"] == 2
    assert summary[("fake.toy", "exact")]["mean_ratio"] == 1.0
    assert summary[("fake.toy", "first")]["mean_ratio"] >= 1.0
    assert summary[("fake.toy", "crash")]["failed"] == 2


def test_run_case_in_process_and_existing_output_guard(tmp_path: Path, fake_module: str) -> None:
    case = Case("s", "fake.toy", "default", {}, {"n": 4}, 3, "exact", reference="exact",
                imports=(fake_module,))
    row = run_case(case)
    values = np.random.default_rng(3).uniform(1.0, 2.0, 4)
    assert row["status"] == "ok" and row["termination"] == "optimal"
    assert math.isclose(row["objective"], values.min(), rel_tol=1e-12)
    out = tmp_path / "o.csv"
    run_suite(load_suite(_suite(tmp_path, f"""
        [suite]
        imports = ["{fake_module}"]
        [[cases]]
        problem = "fake.toy"
    """)), out, workers=0, progress=False)
    with pytest.raises(SuiteError, match="--resume"):
        run_suite(tmp_path / "t.toml", out, workers=0)
    rep = run_suite(tmp_path / "t.toml", out, workers=0, resume=True)
    assert rep.written == 0 and rep.skipped == 2


# ------------------------------------------------------------------ kill and resume
def test_sigkill_midway_then_resume_equals_uninterrupted(tmp_path: Path,
                                                         fake_module: str) -> None:
    p = _suite(tmp_path, f"""
        [suite]
        imports = ["{fake_module}"]
        time_limit = 5.0
        [[cases]]
        problem = "fake.toy"
        seeds = [0, 1, 2, 3, 4, 5]
        params = {{delay = 0.25}}
    """)
    full = tmp_path / "full.csv"
    run_suite(p, full, workers=2, progress=False)
    killed = tmp_path / "killed.csv"
    cmd = [sys.executable, "-m", "aigc_opt.cli", "bench", str(p), "--out", str(killed),
           "--workers", "1", "--no-progress"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            if killed.exists() and killed.read_text().count("\n") >= 4:  # header + 3 rows
                break
            time.sleep(0.05)
        else:
            pytest.fail("the background run wrote no rows in time")
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(10)
    partial = export.read_rows(killed)
    assert 3 <= len(partial) < 12
    with open(killed, "ab") as fh:  # what a kill in the middle of a write would leave
        fh.write(b'"t|fake.toy|half-written')
    rep = run_suite(p, killed, workers=2, resume=True, progress=False)
    assert rep.skipped == len(partial) and rep.written == 12 - len(partial)
    a, b = _by_key(export.read_rows(full)), _by_key(export.read_rows(killed))
    assert set(a) == set(b) and len(b) == 12
    for k in a:
        assert a[k]["status"] == b[k]["status"] == "ok"
        assert a[k]["objective"] == b[k]["objective"]
        assert a[k]["scenario_hash"] == b[k]["scenario_hash"]


# ------------------------------------------------------------------ Dask vs process pool
def test_dask_local_cluster_gives_the_same_rows(tmp_path: Path, fake_module: str) -> None:
    pytest.importorskip("dask.distributed", reason="dask[distributed] is not installed")
    p = _suite(tmp_path, f"""
        [suite]
        imports = ["{fake_module}"]
        time_limit = 5.0
        [[cases]]
        problem = "fake.toy"
        seeds = [0, 1, 2]
        methods = ["exact", "first", "boom"]
        [[cases]]
        problem = "offloading.assignment"
        sizes = {{n_users = [6], n_servers = [2], n_models = [2]}}
        methods = ["highs", "greedy_latency"]
    """)
    from dask.distributed import LocalCluster

    pool, dask, remote = tmp_path / "pool.csv", tmp_path / "dask.csv", tmp_path / "remote.csv"
    run_suite(p, pool, workers=2, progress=False)
    run_suite(p, dask, dask_local=True, workers=1, progress=False)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=":0") as cluster:  # an "existing" cluster by address
        run_suite(p, remote, scheduler=cluster.scheduler_address, progress=False)
    a, b = _by_key(export.read_rows(pool)), _by_key(export.read_rows(dask))
    c = _by_key(export.read_rows(remote))
    assert set(a) == set(b) == set(c) and len(a) == 11
    for k in a:
        assert c[k]["status"] == a[k]["status"], k
        if a[k]["status"] == "ok":
            np.testing.assert_allclose(c[k]["objective"], a[k]["objective"], rtol=1e-9)
        for col in ("status", "termination", "has_solution", "feasible", "scenario_hash"):
            assert a[k][col] == b[k][col], (k, col)
        if a[k]["status"] == "ok":
            np.testing.assert_allclose(b[k]["objective"], a[k]["objective"], rtol=1e-9)
            np.testing.assert_allclose(b[k]["eval_objective"], b[k]["objective"], rtol=1e-6)
        else:
            assert a[k]["error"] == b[k]["error"]


# ------------------------------------------------------------------ the README's main job
@pytest.mark.slow
def test_quick_suite_end_to_end(tmp_path: Path) -> None:
    """`aigc-opt bench quick` as in the README: a row per case, no crash or time-out, every
    solution refereed (evaluator objective = reported objective)."""
    out = tmp_path / "quick.csv"
    proc = subprocess.run([sys.executable, "-m", "aigc_opt.cli", "bench", "quick", "--out",
                           str(out), "--workers", "2", "--no-progress"], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "median_solve_s" in proc.stdout
    rows = _by_key(export.read_rows(out))
    assert set(rows) == {c.key for c in load_suite("quick").cases()}
    assert all(r["status"] == "ok" for r in rows.values())
    for r in rows.values():
        if r["has_solution"] and r["eval_objective"] == r["eval_objective"]:
            np.testing.assert_allclose(r["eval_objective"], r["objective"], rtol=1e-6,
                                       atol=1e-9, err_msg=r["key"])


def test_a_reference_that_no_method_of_the_case_runs_is_named() -> None:
    """``reference = "exct"`` was accepted and left every ratio '-' with no word on why."""
    text = ('[[cases]]\nproblem = "wpmec.binary"\nsizes = {n_users = [10]}\n'
            'methods = ["exact", "cd"]\nreference = "exct"\n')
    with pytest.raises(SuiteError, match=r"reference = 'exct'.*did you mean 'exact'"):
        expand(parse_suite(text, source="r.toml"))
    ok = expand(parse_suite(text.replace('"exct"', '"exact"'), source="r.toml"))
    assert {c.reference for c in ok} == {"exact"}
