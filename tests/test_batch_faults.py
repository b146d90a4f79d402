"""Batch runs that lose nothing: kills of the parent and of workers, concurrent runs on one CSV,
foreign and corrupt files, Dask time-outs (local cluster and a scheduler address), retries,
progress when stderr is not a terminal.

The fake case kinds live in a module written to a temporary directory and imported by the
suites (``suite.imports``), so that spawned workers, Dask workers and case processes register
them too.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aigc_opt import batch, executors, export
from aigc_opt.batch import BatchError, SuiteError, load_suite, run_suite
from aigc_opt.cli import main

from conftest import case_module

FAKE_MODULE = '''
from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass

import numpy as np

from aigc_opt.cases import CaseKind, register_case
from aigc_opt.metrics import Metrics, register_evaluator
from aigc_opt.result import Result, SolveStats, Termination
from aigc_opt.solve import register_algorithm
from aigc_opt.spec import ProblemSpec


@dataclass(frozen=True)
class FaultInstance:
    values: np.ndarray


@dataclass(frozen=True)
class FaultAlloc:
    pick: np.ndarray


@dataclass(frozen=True)
class FaultSpec(ProblemSpec):
    delay: float = 0.0
    marker: str = ""
    problem: str = "faults"
    variant: str = "toy"


def make_instance(seed, n=5):
    return FaultInstance(np.random.default_rng(seed).uniform(1.0, 2.0, n))


def _result(inst, i, name, term):
    return Result(term, True, objective=float(inst.values[i]), bound=float(inst.values.min()),
                  gap=0.0, allocation=FaultAlloc(np.array([i])), stats=SolveStats(name))


def exact(inst, spec, options):
    time.sleep(spec.delay)
    return _result(inst, int(np.argmin(inst.values)), "exact", Termination.OPTIMAL)


def sleepy(inst, spec, options):
    time.sleep(600)
    raise AssertionError("not reached")


def selfkill(inst, spec, options):
    """SIGKILL the worker the first time (a marker file remembers), succeed afterwards."""
    if spec.marker and not os.path.exists(spec.marker):
        open(spec.marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return exact(inst, spec, options)


def flaky(inst, spec, options):
    """Raise the first time (a marker file remembers), succeed afterwards."""
    if spec.marker and not os.path.exists(spec.marker):
        open(spec.marker, "w").close()
        raise RuntimeError("flaky failure")
    return exact(inst, spec, options)


def evaluate_fault(inst, alloc, objective=None):
    return Metrics("faults", float(inst.values[alloc.pick].sum()), per_item={"value": inst.values},
                   totals={})


register_evaluator(FaultAlloc, evaluate_fault)
for _name, _fn in [("exact", exact), ("sleepy", sleepy), ("selfkill", selfkill),
                   ("flaky", flaky)]:
    register_algorithm(FaultSpec, _name, _fn)
register_case(CaseKind("faults.toy", make_instance, lambda **p: FaultSpec(**p),
                       default_methods=("exact",), reference="exact"))
'''

COMPARED = ("status", "termination", "has_solution", "feasible", "objective", "eval_objective",
            "scenario_hash", "seed", "method", "sizes", "variant")


@pytest.fixture()
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The fault-injecting case module (conftest.case_module)."""
    yield from case_module(tmp_path, monkeypatch, "faultcases", FAKE_MODULE)


def _suite(tmp_path: Path, fake: str, body: str, name: str = "f") -> Path:
    p = tmp_path / f"{name}.toml"
    p.write_text(f'[suite]\nimports = ["{fake}"]\n' + textwrap.dedent(body))
    return p


def _unique(path: Path) -> dict[str, dict]:
    rows = export.read_rows(path, history=True)
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys)), "a case was written twice"
    return {r["key"]: r for r in rows}


def _same(a: dict[str, dict], b: dict[str, dict]) -> None:
    assert set(a) == set(b)
    for k in a:
        assert a[k]["status"] == "ok", a[k]["error"]
        for col in COMPARED:
            assert a[k][col] == b[k][col], (k, col, a[k][col], b[k][col])


# ------------------------------------------------------------------ kill the parent, resume
def _toy_suite(tmp_path: Path, fake: str, *, delay: float, time_limit: float) -> Path:
    """Ten ``faults.toy`` cases of ``delay`` seconds each."""
    return _suite(tmp_path, fake, f"""
        time_limit = {time_limit}
        [[cases]]
        problem = "faults.toy"
        seeds = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
        params = {{delay = {delay}}}
    """)


def _kill_and_resume(tmp_path: Path, fake: str, kills: int, seed: int) -> None:
    p = _toy_suite(tmp_path, fake, delay=0.15, time_limit=30.0)
    full = tmp_path / "full.csv"
    run_suite(p, full, workers=0, progress=False)
    out = tmp_path / "killed.csv"
    cmd = [sys.executable, "-m", "aigc_opt.cli", "bench", str(p), "--out", str(out),
           "--workers", "1", "--no-progress"]
    rng = random.Random(seed)
    for i in range(kills):
        args = cmd + (["--resume"] if out.exists() and out.stat().st_size else [])
        proc = subprocess.Popen(args, start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            before = out.read_bytes().count(b"\n") if out.exists() else 0
            deadline = time.monotonic() + 60
            want = rng.choice([0, 1, 1, 2])  # sometimes before any row, mostly mid-run
            while time.monotonic() < deadline and proc.poll() is None:
                now = out.read_bytes().count(b"\n") if out.exists() else 0
                if now - before >= want:
                    break
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.3))
            os.killpg(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(10)
        if rng.random() < 0.5 and out.exists():  # a kill in the middle of a write
            with open(out, "ab") as fh:
                fh.write(f'"f|faults.toy|cut-{i}'.encode())
    rep = run_suite(p, out, workers=1, resume=True, progress=False)
    assert rep.written + rep.skipped == 10
    _same(_unique(full), _unique(out))


def test_parent_killed_twice_then_resume_equals_uninterrupted(tmp_path: Path, fake: str) -> None:
    _kill_and_resume(tmp_path, fake, kills=2, seed=1)


@pytest.mark.slow
def test_parent_killed_five_times_then_resume_equals_uninterrupted(tmp_path: Path,
                                                                  fake: str) -> None:
    _kill_and_resume(tmp_path, fake, kills=5, seed=7)


# ------------------------------------------------------------------ killed worker, retries
def test_killed_worker_gives_crashed_row_and_retry_failed_reruns_it(tmp_path: Path,
                                                                    fake: str) -> None:
    marker_kill, marker_flaky = tmp_path / "killed.marker", tmp_path / "flaky.marker"
    p = _suite(tmp_path, fake, f"""
        time_limit = 30.0
        [[cases]]
        problem = "faults.toy"
        variant = "kill"
        methods = ["selfkill", "exact"]
        params = {{marker = "{marker_kill}"}}
        [[cases]]
        problem = "faults.toy"
        variant = "flaky"
        methods = ["flaky"]
        params = {{marker = "{marker_flaky}"}}
    """)
    out = tmp_path / "r.csv"
    rep = run_suite(p, out, workers=1, progress=False)
    assert (rep.written, rep.failed) == (3, 2)
    rows = {r["key"]: r for r in export.read_rows(out)}
    kill_key, flaky_key = "f|faults.toy|kill||seed=0|selfkill", "f|faults.toy|flaky||seed=0|flaky"
    assert rows[kill_key]["status"] == "crashed" and "exit code -9" in rows[kill_key]["error"]
    assert rows[flaky_key]["status"] == "error" and "flaky failure" in rows[flaky_key]["error"]
    assert rows["f|faults.toy|kill||seed=0|exact"]["status"] == "ok"
    rep = run_suite(p, out, workers=1, resume=True, progress=False)  # failures are recorded
    assert (rep.written, rep.skipped) == (0, 3)
    code = main(["bench", str(p), "--out", str(out), "--resume", "--retry-failed",
                 "--workers", "1", "--no-progress"])
    assert code == 0
    history = export.read_rows(out, history=True)
    assert [r["key"] for r in history].count(kill_key) == 2  # the crashed row stays as history
    latest = {r["key"]: r for r in export.read_rows(out)}
    assert len(latest) == 3 and all(r["status"] == "ok" for r in latest.values())
    assert [r["status"] for r in history if r["key"] == kill_key] == ["crashed", "ok"]
    with pytest.raises(SuiteError, match="resume"):
        run_suite(p, out, retry_failed=True)


# ------------------------------------------------------------------ one writer per CSV
def test_two_concurrent_runs_on_one_csv(tmp_path: Path, fake: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    p = _suite(tmp_path, fake, """
        time_limit = 30.0
        [[cases]]
        problem = "faults.toy"
        seeds = [0, 1, 2, 3]
        params = {delay = 0.3}
    """)
    out = tmp_path / "r.csv"
    proc = subprocess.Popen([sys.executable, "-m", "aigc_opt.cli", "bench", str(p), "--out",
                             str(out), "--workers", "0", "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (out.exists() and out.stat().st_size) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, "the first run ended too early"
        with pytest.raises(export.OutputLockedError, match="another run"):
            run_suite(p, out, workers=0, resume=True, progress=False)
        code = main(["bench", str(p), "--out", str(out), "--resume", "--workers", "0"])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 7 and len(err) == 2 and "another run (pid" in err[-1], err
    finally:
        assert proc.wait(120) == 0
    rows = _unique(out)
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows.values())


# ------------------------------------------------------------------ the lock file goes away
def test_lock_file_is_removed_when_the_run_ends(tmp_path: Path, fake: str,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    p = _suite(tmp_path, fake, '[[cases]]\nproblem = "faults.toy"\nseeds = [0, 1]\n')
    out, lock = tmp_path / "r.csv", tmp_path / "r.csv.lock"
    run_suite(p, out, workers=0, progress=False)  # success
    assert len(_unique(out)) == 2 and not lock.exists()
    with pytest.raises(SuiteError, match="exists"):  # an error raised while locked
        run_suite(p, out, workers=0, progress=False)
    assert not lock.exists()
    assert main(["bench", str(p), "--out", str(out), "--overwrite", "--workers", "0",
                 "--no-progress"]) == 0
    assert not lock.exists()
    capsys.readouterr()

    def interrupted(case: object) -> dict:
        raise KeyboardInterrupt

    monkeypatch.setattr(batch, "run_case", interrupted)  # Ctrl-C in the middle of a case
    with pytest.raises(KeyboardInterrupt):
        run_suite(p, out, workers=0, overwrite=True, progress=False)
    assert not lock.exists() and len(_unique(out)) == 2  # the old rows are kept


def test_removed_lock_file_still_keeps_runs_apart(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The lock file is removed while locked: a run that opened it just before would lock a file
    that is gone, so it checks and locks the file at the path instead (never two holders)."""
    import fcntl

    out = tmp_path / "r.csv"
    lock = tmp_path / "r.csv.lock"
    with export.output_lock(out) as held:
        assert held == lock and lock.read_text().strip() == str(os.getpid())
        with pytest.raises(export.OutputLockedError, match=r"another run \(pid \d+"):
            with export.output_lock(out):
                pass
    assert not lock.exists()
    real_open = export._open_lock

    def racing_open(path: Path) -> int:  # the previous holder removes it right after our open
        fd = real_open(path)
        monkeypatch.setattr(export, "_open_lock", real_open)
        os.unlink(path)
        return fd

    monkeypatch.setattr(export, "_open_lock", racing_open)
    with export.output_lock(out):
        fd = os.open(lock, os.O_RDWR)  # the file at the path is the one held
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    assert not lock.exists()


# ------------------------------------------------------------------ Ctrl-C with workers
def _interrupt(tmp_path: Path, p: Path, extra: list[str], sig: int = signal.SIGINT,
               group: bool = True, pids: list[int] | None = None) -> tuple[int, str, Path]:
    """Run the suite, send SIGINT to its process group once a row is written (the cases take
    2 s each, so the run is still going when a loaded machine delays this process).

    The run starts with SIGINT at its default: a test-suite started in the background by a
    non-interactive shell (``cmd &``, as a CI runner may) inherits SIGINT *ignored*, and so
    would the CLI, which then never sees Ctrl-C (rc 0: both fresh-clone runs of this stop)."""
    out = tmp_path / "r.csv"

    def default_sigint() -> None:  # in the child, before exec
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

    proc = subprocess.Popen([sys.executable, "-m", "aigc_opt.cli", "-q", "bench", str(p),
                             "--out", str(out), "--no-progress", *extra],
                            start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    if pids is not None:
        pids.append(proc.pid)  # also the process group's id (a new session)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and not (
                out.exists() and out.read_bytes().count(b"\n") >= 2):  # a row: workers busy
            time.sleep(0.02)
        time.sleep(0.2)
        if group:
            os.killpg(proc.pid, sig)  # what Ctrl-C does: the whole process group
        else:
            os.kill(proc.pid, sig)  # what kill / timeout / a CI cancel do: the main process
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    return proc.returncode, err, out


def test_ctrl_c_with_worker_processes_is_one_line(tmp_path: Path, fake: str) -> None:
    """Ctrl-C reaches the workers too (one process group): they exit without a traceback,
    the run prints one line, exits 130 and keeps its rows (README: 'one line on stderr')."""
    p = _toy_suite(tmp_path, fake, delay=2.0, time_limit=60.0)
    code, err, out = _interrupt(tmp_path, p, ["--workers", "2"])
    assert code == 130 and err == "Error: interrupted\n", err
    assert 1 <= len(_unique(out)) < 10 and not (tmp_path / "r.csv.lock").exists()


def test_sigterm_to_the_main_process_ends_the_run_as_ctrl_c(tmp_path: Path, fake: str) -> None:
    """SIGTERM to the CLI alone left its busy worker solving (orphaned), a stale lock and no
    error line (rc -15); now it is an interrupt: one line, 130, workers gone, lock removed."""
    p = _toy_suite(tmp_path, fake, delay=2.0, time_limit=60.0)
    pids: list[int] = []
    code, err, out = _interrupt(tmp_path, p, ["--workers", "2"], signal.SIGTERM, group=False,
                                pids=pids)
    assert code == 130 and err == "Error: interrupted\n", err
    assert not (tmp_path / "r.csv.lock").exists() and len(_unique(out)) < 10
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(pids[0], 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("worker processes outlived the run")


@pytest.mark.slow
def test_ctrl_c_with_a_local_dask_cluster_is_one_line(tmp_path: Path, fake: str) -> None:
    pytest.importorskip("dask.distributed")
    p = _toy_suite(tmp_path, fake, delay=2.0, time_limit=60.0)
    code, err, out = _interrupt(tmp_path, p, ["--workers", "1", "--dask-local"])
    assert code == 130 and err == "Error: interrupted\n", err
    assert not (tmp_path / "r.csv.lock").exists()


# ------------------------------------------------------------------ foreign and corrupt files
def test_foreign_header_is_refused_and_file_untouched(tmp_path: Path, fake: str,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    p = _suite(tmp_path, fake, '[[cases]]\nproblem = "faults.toy"\n')
    # 'key,value' passed as a results header: --resume appended rows with only their key
    for content in (b"name,score\nalice,3\n", b"\x89PNG\r\n\x1a\n\x00\x00", b"no newline",
                    b"key,value\ncolour,blue\n"):
        out = tmp_path / "foreign.csv"
        out.write_bytes(content)
        for kw in ({"resume": True}, {"overwrite": True}, {}):
            with pytest.raises(export.ForeignFileError, match="not an aigc-opt results CSV"):
                run_suite(p, out, workers=0, progress=False, **kw)
            assert out.read_bytes() == content
        code = main(["bench", str(p), "--out", str(out), "--resume", "--workers", "0"])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and "foreign.csv" in err, err
        assert out.read_bytes() == content
        assert not (tmp_path / "foreign.csv.lock").exists()


def test_reading_a_one_line_file_without_newline(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A first line cut by a kill is a prefix of the header ('key,...'): no rows to resume
    from, but no results file to summarise either (refused by name, exit 2). Any other
    single unterminated line is another kind of file: refused by name (it used to read as an
    empty results file, so 'summary' printed an empty table and exited 0)."""
    p = tmp_path / "r.csv"
    for content in (b"[1,2,3]", b"no newline", b'{"a": 1}', b"name,score"):
        p.write_bytes(content)
        with pytest.raises(export.ForeignFileError, match="not an aigc-opt results CSV"):
            export.read_rows(p)
        assert main(["summary", str(p)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "r.csv" in err, err
        assert p.read_bytes() == content
    for content in (b"", b"k", b"key", b"key,sta"):
        p.write_bytes(content)
        assert export.read_rows(p) == []
        assert main(["summary", str(p)]) == 2
        assert "r.csv: is not an aigc-opt results CSV (no header" in capsys.readouterr().err


def test_strict_reading_never_merges_rows(tmp_path: Path, fake: str) -> None:
    p = _suite(tmp_path, fake, '[[cases]]\nproblem = "faults.toy"\nseeds = [0, 1, 2]\n')
    out = tmp_path / "r.csv"
    run_suite(p, out, workers=0, progress=False)
    lines = out.read_text().splitlines(keepends=True)
    bad = lines[:2] + ['"' + lines[2]] + lines[3:]  # an unterminated quote on line 3
    out.write_text("".join(bad))
    before = out.read_bytes()
    with pytest.raises(export.CsvFormatError, match=r"r\.csv, line 3: bad quoting"):
        export.read_rows(out)
    with pytest.raises(export.CsvFormatError, match="line 3"):
        run_suite(p, out, workers=0, resume=True, progress=False)
    assert out.read_bytes() == before
    out.write_text("".join(lines[:2] + [lines[2].rstrip("\n") + ",extra\n"] + lines[3:]))
    with pytest.raises(export.CsvFormatError, match="line 3: .* fields, the header has"):
        export.read_rows(out)
    out.write_bytes(b"".join(x.encode() for x in lines[:3]) + b"\xff\xfe bad\n")
    with pytest.raises(export.CsvFormatError, match="line 4: not UTF-8"):
        export.read_rows(out)


# ------------------------------------------------------------------ Dask time-outs
def test_dask_timeout_writes_timeout_row_and_frees_the_worker(tmp_path: Path,
                                                               fake: str) -> None:
    pytest.importorskip("dask.distributed")
    from dask.distributed import LocalCluster

    p = _suite(tmp_path, fake, """
        time_limit = 1.0
        grace = 1.0
        [[cases]]
        problem = "faults.toy"
        methods = ["sleepy", "exact"]
        seeds = [0, 1]
    """)
    for where in ("local", "address"):
        out = tmp_path / f"{where}.csv"
        t0 = time.perf_counter()
        if where == "local":
            rep = run_suite(p, out, dask_local=True, workers=1, progress=False)
        else:  # an existing cluster, one worker thread: the time-outs must free it
            with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                              dashboard_address=":0") as cluster:
                rep = run_suite(p, out, scheduler=cluster.scheduler_address, progress=False)
            assert executors._PROCS == {}  # the idle case processes were stopped
        wall = time.perf_counter() - t0
        rows = _unique(out)
        assert rep.written == 4 and wall < 90, (rep, wall)
        status = {k.rsplit("|", 2)[-2] + "|" + k.rsplit("|", 1)[-1]: r["status"]
                  for k, r in rows.items()}
        assert status == {"seed=0|sleepy": "timeout", "seed=1|sleepy": "timeout",
                          "seed=0|exact": "ok", "seed=1|exact": "ok"}, status
        assert all("wall timeout 2 s" in r["error"] for r in rows.values()
                   if r["status"] == "timeout")


def test_unreachable_scheduler_fails_fast(tmp_path: Path, fake: str) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    p = _suite(tmp_path, fake, '[[cases]]\nproblem = "faults.toy"\n')
    t0 = time.perf_counter()
    with pytest.raises(BatchError, match="cannot connect"):
        run_suite(p, tmp_path / "r.csv", scheduler=f"tcp://127.0.0.1:{port}", connect_timeout=2)
    with pytest.raises(BatchError, match="not a Dask scheduler address"):
        run_suite(p, tmp_path / "r.csv", scheduler="tcp://nohostport")
    assert time.perf_counter() - t0 < 10
    assert not (tmp_path / "r.csv").exists()


# ------------------------------------------------------------------ progress without a TTY
def test_progress_lines_when_stderr_is_not_a_terminal(tmp_path: Path, fake: str,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    p = _suite(tmp_path, fake, """
        [[cases]]
        problem = "faults.toy"
        seeds = [0, 1, 2]
        params = {delay = 0.4}
    """)
    run_suite(p, tmp_path / "r.csv", workers=0, progress_every=(2, 0.25))
    err = capsys.readouterr().err
    assert "progress: 2/3 cases done (0 failed)" in err and "progress: 3/3" in err
    assert "running f|faults.toy|delay=0.4||seed=" in err and "s elapsed" in err
    run_suite(p, tmp_path / "q.csv", workers=0, progress=False)
    assert "progress" not in capsys.readouterr().err


def test_shipped_suites_still_load(fake: str) -> None:
    for name in batch.suite_names():
        assert load_suite(name).cases()
