"""Benchmark suites and the batch runner.

A suite is one TOML file: a grid of problems (registered :class:`aigc_opt.cases.CaseKind` names)
x sizes x seeds x methods, each case with its own time limit and MIP gap::

    [suite]
    name = "quick"                  # default: the file's stem
    description = "..."
    time_limit = 20.0               # s, solver time limit (default for every case)
    mip_gap = 1e-4                  # relative MIP gap
    grace = 10.0                    # s; wall timeout = time_limit + grace (or set `timeout`)
    imports = []                    # extra modules that register case kinds

    [[cases]]
    problem = "offloading.assignment"
    # problem = "*" runs every registered kind that no other entry names, at the kind's
    # default sizes with its default methods (so a new family is benchmarked at once)
    sizes = [{n_users = 10, n_servers = 3}]     # list of tables, or a grid:
    # sizes = {n_users = [10, 20], n_servers = [3]}
    seeds = [0, 1]
    methods = ["highs", "greedy_latency"]      # default: the case kind's default_methods
    params = {linking = "aggregated"}          # spec parameters (a list of tables sweeps them)
    variant = "aggregated"                     # label (default: derived from params)
    time_limit = 10.0                          # per-entry overrides: mip_gap, timeout, ...

Suites shipped with the package live in ``aigc_opt/benchmarks/suites/*.toml`` (found through
:mod:`importlib.resources`, so they work from an installed wheel); a path to any ``.toml`` file
works too. Adding a benchmark is adding one file.

Every case has a stable key ``suite|problem|variant|sizes|seed=K|method`` used to resume. The
runner (:func:`run_suite`) executes cases in a pool of spawned worker processes (default), in
the current process (``workers=0``) or on a Dask cluster, and appends one CSV row per finished
case (:class:`aigc_opt.export.RowWriter`). A case that raises, exceeds its wall timeout or kills
its worker becomes a row with status ``error`` / ``timeout`` / ``crashed`` and the run goes on.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import multiprocessing as mp
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from . import export
from .suites import (  # noqa: F401  (re-exported: the batch API)
    DEFAULT_GRACE,
    Case,
    Suite,
    SuiteError,
    _error_text,
    _import,
    expand,
    get_kind,
    load_kinds,
    load_suite,
    parse_suite,
    suite_names,
)

logger = logging.getLogger(__name__)


def base_row(case: Case) -> dict[str, Any]:
    """The cells of a row that come from the case alone."""
    row: dict[str, Any] = {
        "key": case.key, "suite": case.suite, "problem": case.problem, "variant": case.variant,
        "params": json.dumps(case.params, sort_keys=True), "sizes": case.sizes_text,
        "size": case.size, "seed": case.seed, "method": case.method,
        "reference": case.reference or "", "time_limit": case.time_limit,
        "mip_gap": case.mip_gap,
    }
    row.update(export.version_columns())
    return row


def failure_row(case: Case, status: str, error: str, wall: float = math.nan) -> dict[str, Any]:
    """A row for a case that did not return (timeout, crash, lost worker)."""
    row = base_row(case)
    row.update(status=status, error=error, has_solution=False, wall_seconds=wall)
    return row


def run_case(case: Case) -> dict[str, Any]:
    """Run one case in this process and return its row (never raises for a case's failure).

    Steps, each timed: ``make_instance(seed, **sizes)``, ``make_spec(**params)``,
    :func:`aigc_opt.solve.run_method` with the case's time limit and gap, then
    :func:`aigc_opt.evaluate` on the allocation when there is one.
    """
    from .backend import SolveOptions
    from .metrics import evaluate
    from .solve import run_method

    t_start = time.perf_counter()
    row = base_row(case)
    row["status"] = export.STATUS_OK
    try:
        for mod in case.imports:
            _import(mod)
        kind = get_kind(case.problem)
        t0 = time.perf_counter()
        instance = kind.make_instance(case.seed, **case.sizes)
        row["instance_seconds"] = time.perf_counter() - t0
        row["scenario_hash"] = export.instance_hash(instance)
        spec = kind.make_spec(**copy.deepcopy(dict(case.params)))
        opts = SolveOptions(time_limit=case.time_limit, mip_gap=case.mip_gap,
                            threads=case.threads)
        res = run_method(instance, spec, case.method, options=opts, seed=case.seed)
        row.update(
            termination=str(res.termination), has_solution=bool(res.has_solution),
            objective=res.objective, bound=res.bound, gap=res.gap,
            build_seconds=res.stats.build_seconds, solve_seconds=res.stats.solve_seconds,
            message=res.message,
        )
        if res.has_solution and res.allocation is not None:
            t0 = time.perf_counter()
            metrics = evaluate(instance, res.allocation, spec)
            row["evaluate_seconds"] = time.perf_counter() - t0
            n_slots = getattr(instance, "n_slots", None)
            row.update(export.metrics_columns(
                metrics, n_slots=n_slots if isinstance(n_slots, int) else None))
    except Exception as exc:  # a failing case is a row, not a failed run
        logger.debug("case %s failed", case.key, exc_info=True)
        row["status"] = export.STATUS_ERROR
        row["error"] = _error_text(exc)
        row.setdefault("has_solution", False)
    row["wall_seconds"] = time.perf_counter() - t_start
    return row


# ---------------------------------------------------------------------------------- executors
def _silence_stdout() -> None:
    """Point file descriptor 1 of this process at /dev/null (C-level solver banners)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


def _worker_main(conn: Connection, imports: tuple[str, ...], quiet: bool = True) -> None:
    """Worker process loop: import once, then run cases sent by the parent until EOF/None."""
    try:
        if quiet:  # solver banners written to fd 1 would garble the parent's output
            _silence_stdout()
        for mod in imports:
            _import(mod)
        load_kinds()
        conn.send(("ready", None))
    except BaseException as exc:  # report and exit; the parent stops the run
        conn.send(("fatal", _error_text(exc)))
        return
    while True:
        try:
            case = conn.recv()
        except (EOFError, OSError):
            return
        if case is None:
            return
        conn.send(("row", run_case(case)))


class _Worker:
    def __init__(self, ctx: Any, imports: tuple[str, ...]) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, imports), daemon=True)
        self.proc.start()
        child.close()
        self.ready = False
        self.case: Case | None = None
        self.started = 0.0

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()


def _run_pool(cases: Sequence[Case], workers: int, emit: Callable[[dict[str, Any]], None],
              start_method: str) -> None:
    """Process pool with one long-lived spawned worker per slot; a worker that times out or
    dies is replaced, its case becomes a ``timeout`` / ``crashed`` row."""
    ctx = mp.get_context(start_method)
    imports = tuple(sorted({m for c in cases for m in c.imports}))
    todo = deque(cases)
    pool = [_Worker(ctx, imports) for _ in range(min(workers, len(cases)))]
    try:
        while todo or any(w.case is not None for w in pool):
            now = time.perf_counter()
            for w in pool:
                if w.ready and w.case is None and todo:
                    w.case = todo.popleft()
                    w.started = now
                    w.conn.send(w.case)
            deadlines = [w.started + w.case.timeout for w in pool
                         if w.case is not None and w.case.timeout is not None]
            wait_s = max(0.0, min(deadlines) - now) if deadlines else None
            ready = wait([w.conn for w in pool] + [w.proc.sentinel for w in pool], wait_s)
            now = time.perf_counter()
            for i, w in enumerate(pool):
                replace, row = False, None
                if w.conn in ready or w.proc.sentinel in ready:
                    try:
                        tag, payload = w.conn.recv()
                    except (EOFError, OSError):
                        tag, payload = "died", None
                    if tag == "ready":
                        w.ready = True
                    elif tag == "row":
                        row, w.case = payload, None
                    elif tag == "fatal":
                        raise SuiteError(f"worker failed to start: {payload}")
                    elif w.case is None and not w.ready:
                        raise SuiteError(f"worker process died on start (exit code "
                                         f"{w.proc.exitcode})")
                    elif w.case is not None:
                        w.proc.join(1)
                        row = failure_row(w.case, export.STATUS_CRASHED,
                                          f"worker process died (exit code {w.proc.exitcode})",
                                          now - w.started)
                        replace = True
                    else:
                        replace = True
                elif (w.case is not None and w.case.timeout is not None
                      and now >= w.started + w.case.timeout):
                    row = failure_row(w.case, export.STATUS_TIMEOUT,
                                      f"wall timeout {w.case.timeout:g} s exceeded",
                                      now - w.started)
                    replace = True
                if row is not None:
                    emit(row)
                if replace:
                    w.kill()
                    pool[i] = _Worker(ctx, imports)
    finally:
        for w in pool:
            try:
                if w.proc.is_alive() and w.case is None:
                    w.conn.send(None)
            except OSError:
                pass
            w.proc.join(0.5)
            w.kill()


def _run_dask(cases: Sequence[Case], emit: Callable[[dict[str, Any]], None], *,
              scheduler: str | None, workers: int) -> None:
    """Run on a Dask cluster (``scheduler`` address) or a local one; at most one case per worker
    thread is in flight so that each case's wall timeout counts from its submission."""
    try:
        from dask.distributed import Client, LocalCluster
        from dask.distributed import wait as dwait
    except ImportError as exc:
        raise SuiteError("Dask is not installed: pip install 'dask[distributed]'") from exc
    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=1,
                               processes=True, dashboard_address=":0")
        client = Client(cluster)
        client.run(_silence_stdout)  # our own workers: solver banners would garble output
    try:
        slots = max(1, sum(client.nthreads().values()))
        todo = deque(cases)
        live: dict[Any, tuple[Case, float]] = {}
        while todo or live:
            while todo and len(live) < slots:
                c = todo.popleft()
                fut = client.submit(run_case, c, pure=False, key=f"case-{c.key}-{time.time_ns()}")
                live[fut] = (c, time.perf_counter())
            deadlines = [t + c.timeout for c, t in live.values() if c.timeout is not None]
            wait_s = max(0.05, min(deadlines) - time.perf_counter()) if deadlines else None
            done, _ = dwait(list(live), timeout=wait_s, return_when="FIRST_COMPLETED") \
                if wait_s is not None else dwait(list(live), return_when="FIRST_COMPLETED")
            now = time.perf_counter()
            for fut in list(live):
                c, t0 = live[fut]
                if fut in done:
                    del live[fut]
                    try:
                        emit(fut.result())
                    except Exception as exc:  # KilledWorker, lost connection, ...
                        emit(failure_row(c, export.STATUS_CRASHED, _error_text(exc), now - t0))
                elif c.timeout is not None and now >= t0 + c.timeout:
                    del live[fut]
                    fut.cancel()
                    emit(failure_row(c, export.STATUS_TIMEOUT,
                                     f"wall timeout {c.timeout:g} s exceeded", now - t0))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _progress(total: int, enabled: bool | None) -> Any:
    from tqdm import tqdm

    if enabled is None:
        enabled = sys.stderr.isatty()
    return tqdm(total=total, disable=not enabled, file=sys.stderr, unit="case",
                dynamic_ncols=True, smoothing=0.1)


@dataclass(frozen=True)
class RunReport:
    """What :func:`run_suite` did: rows written now, cases skipped (already recorded), wall time."""

    out: Path
    written: int
    skipped: int
    seconds: float


def run_suite(
    suite: Suite | str | Path,
    out: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    dask_local: bool = False,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool | None = None,
    cases: Iterable[Case] | None = None,
    start_method: str = "spawn",
) -> RunReport:
    """Run every case of ``suite`` and append one row per case to the CSV ``out``.

    Parameters
    ----------
    suite : Suite, str or path
        A parsed suite, a shipped suite name or a ``.toml`` path.
    out : path-like
        Results CSV (created with a header; rows appended as cases finish).
    workers : int, optional
        Worker processes (default: the CPU count). ``0`` runs in this process with no wall
        timeout enforcement (debugging). With ``dask_local`` the number of Dask workers.
    scheduler : str, optional
        A Dask scheduler address (``tcp://host:8786``): run the cases there.
    dask_local : bool
        Run on a :class:`dask.distributed.LocalCluster` started for this run.
    resume : bool
        Skip cases whose key is already in ``out``. Without it an existing non-empty ``out`` is
        an error unless ``overwrite``.
    overwrite : bool
        Replace an existing ``out``.
    progress : bool, optional
        Progress bar with ETA on stderr (default: when stderr is a terminal).
    cases : iterable of Case, optional
        Run these instead of the suite's full expansion (e.g. a filtered subset).
    start_method : {"spawn", "forkserver"}
        Multiprocessing start method of the worker pool.
    """
    t0 = time.perf_counter()
    if not isinstance(suite, Suite):
        suite = load_suite(suite)
    todo = list(cases) if cases is not None else expand(suite)
    outp = Path(out)
    done: set[str] = set()
    if outp.exists() and outp.stat().st_size > 0:
        if resume:
            export.repair_tail(outp)
            done = {str(r.get("key")) for r in export.read_rows(outp)}
        elif overwrite:
            outp.unlink()
        else:
            raise SuiteError(f"output {str(outp)!r} exists: pass resume=True (--resume) to skip "
                             "recorded cases or overwrite=True (--overwrite)")
    skipped = sum(c.key in done for c in todo)
    todo = [c for c in todo if c.key not in done]
    n_workers = (os.cpu_count() or 1) if workers is None else workers
    logger.info("suite %s: %d cases to run, %d already recorded", suite.name, len(todo), skipped)
    written = 0
    with export.RowWriter(outp) as writer, _progress(len(todo), progress) as bar:
        def emit(row: dict[str, Any]) -> None:
            nonlocal written
            writer.write(row)
            written += 1
            bar.set_postfix_str(f"{row.get('problem')} {row.get('method')}: {row.get('status')}",
                                refresh=False)
            bar.update(1)

        if not todo:
            pass
        elif scheduler or dask_local:
            _run_dask(todo, emit, scheduler=scheduler, workers=n_workers or 1)
        elif n_workers == 0:
            for c in todo:
                emit(run_case(c))
        else:
            _run_pool(todo, n_workers, emit, start_method)
    return RunReport(outp, written, skipped, time.perf_counter() - t0)
