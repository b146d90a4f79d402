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

Nothing is lost or written twice:

* the CSV is locked for the whole run (:func:`aigc_opt.export.output_lock`: ``fcntl.flock``
  on ``<out>.lock``, removed when the run ends, however it ends): a second run on the same
  file fails at once (:class:`aigc_opt.export.OutputLockedError`);
* an existing file whose header is not a results header is refused and left untouched
  (:class:`aigc_opt.export.ForeignFileError`); rows are read strictly (a bad quote is an error
  naming the line, never a merged row), and a partial last line left by a kill is dropped;
* ``resume`` skips recorded keys; with ``retry_failed`` the cases whose last row is ``error``,
  ``timeout`` or ``crashed`` run again and their new row is appended (readers take the last row
  per key; the earlier one stays as history);
* on Dask each case runs in a killable child process of the worker
  (:func:`run_case_isolated`), so a timed-out case is killed and never keeps a worker busy;
  a scheduler address is checked first and fails within ``connect_timeout`` seconds;
* progress goes to stderr: a bar on a terminal, else a line every N cases or seconds with the
  running case and the elapsed time.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import export
from .executors import (  # noqa: F401  (re-exported: the batch API)
    BatchError,
    _run_dask,
    _run_pool,
    base_row,
    check_scheduler,
    dask_client,
    failure_row,
    run_case,
    run_case_isolated,
)
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
from .validate import check_int

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------- progress
class _Progress:
    """A tqdm bar when stderr is a terminal, else a line every ``every_cases`` finished cases
    or ``every_s`` seconds with counts, the elapsed time and the running case(s)."""

    def __init__(self, total: int, enabled: bool | None, every_cases: int = 10,
                 every_s: float = 30.0) -> None:
        self.total, self.done, self.failed = total, 0, 0
        self.every_cases, self.every_s = max(1, every_cases), every_s
        self.t0 = time.perf_counter()
        self.running: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.bar: Any = None
        self.lines = False
        self._thread: threading.Thread | None = None
        if enabled is False or total == 0:
            return
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, file=sys.stderr, unit="case", dynamic_ncols=True,
                            smoothing=0.1)
        else:
            self.lines = True
            self._thread = threading.Thread(target=self._tick, daemon=True,
                                            name="aigc-opt-progress")
            self._thread.start()

    def _tick(self) -> None:
        while not self._stop.wait(self.every_s):
            self._line()

    def _line(self) -> None:
        with self._lock:
            now = time.perf_counter()
            running = sorted(self.running.items(), key=lambda kv: kv[1])
            text = (f"progress: {self.done}/{self.total} cases done ({self.failed} failed), "
                    f"{now - self.t0:.0f} s elapsed")
            if running:
                key, t = running[0]
                more = f" and {len(running) - 1} more" if len(running) > 1 else ""
                text += f"; running {key} ({now - t:.0f} s){more}"
            sys.stderr.write(text + "\n")
            sys.stderr.flush()

    def start(self, case: Case) -> None:
        with self._lock:
            self.running[case.key] = time.perf_counter()

    def finish(self, row: Mapping[str, Any]) -> None:
        with self._lock:
            self.running.pop(str(row.get("key")), None)
            self.done += 1
            self.failed += row.get("status") != export.STATUS_OK
        if self.bar is not None:
            self.bar.set_postfix_str(f"{row.get('problem')} {row.get('method')}: "
                                     f"{row.get('status')}", refresh=False)
            self.bar.update(1)
        elif self.lines and (self.done % self.every_cases == 0 or self.done == self.total):
            self._line()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1)
        if self.bar is not None:
            self.bar.close()


@dataclass(frozen=True)
class RunReport:
    """What :func:`run_suite` did: rows written now, cases skipped (already recorded), wall time,
    and how many of the rows written now are failures (status other than ``ok``)."""

    out: Path
    written: int
    skipped: int
    seconds: float
    failed: int = 0


#: Row statuses that ``retry_failed`` reruns.
RETRY_STATUSES = frozenset({export.STATUS_ERROR, export.STATUS_TIMEOUT, export.STATUS_CRASHED})


def run_suite(
    suite: Suite | str | Path,
    out: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    dask_local: bool = False,
    resume: bool = False,
    overwrite: bool = False,
    retry_failed: bool = False,
    progress: bool | None = None,
    progress_every: tuple[int, float] = (10, 30.0),
    cases: Iterable[Case] | None = None,
    start_method: str = "spawn",
    connect_timeout: float = 5.0,
) -> RunReport:
    """Run every case of ``suite`` and append one row per case to the CSV ``out``.

    The CSV is locked for the whole run (:func:`aigc_opt.export.output_lock`; the
    ``<out>.lock`` file is removed when the run ends): a second run on the same file fails at
    once with :class:`aigc_opt.export.OutputLockedError`. An existing
    file that is not a results CSV of this project is refused and left untouched
    (:class:`aigc_opt.export.ForeignFileError`).

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
        A Dask scheduler address (``tcp://host:8786``): run the cases there. Checked first:
        nothing listening there fails within ``connect_timeout`` s (:class:`BatchError`).
    dask_local : bool
        Run on a :class:`dask.distributed.LocalCluster` started for this run.
    resume : bool
        Skip cases whose key is already in ``out``. Without it an existing non-empty ``out`` is
        an error unless ``overwrite``.
    overwrite : bool
        Replace an existing ``out``; the old file is removed when the first new row is written,
        so a run interrupted before any case finished leaves it whole.
    retry_failed : bool
        With ``resume``: rerun cases whose last row is ``error``, ``timeout`` or ``crashed``
        (the new row is appended; readers take the last row per key, the earlier one stays).
    progress : bool, optional
        Progress on stderr: a bar when stderr is a terminal, else a line every
        ``progress_every = (cases, seconds)``. ``False``: none. Default: on.
    cases : iterable of Case, optional
        Run these instead of the suite's full expansion (e.g. a filtered subset).
    start_method : {"spawn", "forkserver"}
        Multiprocessing start method of the worker pool.
    connect_timeout : float
        Seconds to wait for a Dask scheduler.
    """
    t0 = time.perf_counter()
    if not isinstance(suite, Suite):
        suite = load_suite(suite)
    todo = list(cases) if cases is not None else expand(suite)
    if retry_failed and not resume:
        raise SuiteError("retry_failed (--retry-failed) needs resume=True (--resume)",
                         field="retry_failed")
    outp = Path(out)
    export.check_results_file(outp, for_writing=True)  # a foreign file: refused first
    client = cluster = None
    n_workers = (os.cpu_count() or 1) if workers is None else \
        check_int("workers", workers, "process", 0, 1024)
    if scheduler or dask_local:
        client, cluster = dask_client(scheduler, n_workers or 1, connect_timeout)
    try:
        with export.output_lock(outp):
            return _run_locked(suite, todo, outp, t0, resume=resume, overwrite=overwrite,
                               retry_failed=retry_failed, progress=progress,
                               progress_every=progress_every, client=client,
                               n_workers=n_workers, start_method=start_method)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


def _run_locked(suite: Suite, todo: list[Case], outp: Path, t0: float, *, resume: bool,
                overwrite: bool, retry_failed: bool, progress: bool | None,
                progress_every: tuple[int, float], client: Any, n_workers: int,
                start_method: str) -> RunReport:
    done: set[str] = set()
    replace_old = False  # --overwrite: the old file goes when the first new row is written
    header = export.check_results_file(outp, for_writing=True)
    if header is not None and outp.stat().st_size > 0:
        if resume:
            export.repair_tail(outp)
            rows = export.read_rows(outp)
            done = {str(r.get("key")) for r in rows
                    if not (retry_failed and r.get("status") in RETRY_STATUSES)}
        elif overwrite:
            replace_old = True
        else:
            raise SuiteError(f"output {str(outp)!r} exists: pass resume=True (--resume) to skip "
                             "recorded cases or overwrite=True (--overwrite)", field="out")
    skipped = sum(c.key in done for c in todo)
    todo = [c for c in todo if c.key not in done]
    logger.info("suite %s: %d cases to run, %d already recorded", suite.name, len(todo), skipped)
    written = failed = 0
    bar = _Progress(len(todo), progress, *progress_every)
    writer: export.RowWriter | None = None

    def open_writer() -> export.RowWriter:
        if replace_old:  # an interrupted run that wrote nothing leaves the old file whole
            outp.unlink(missing_ok=True)
        return export.RowWriter(outp)

    def emit(row: dict[str, Any]) -> None:
        nonlocal written, failed, writer
        if writer is None:
            writer = open_writer()
        writer.write(row)
        written += 1
        failed += row.get("status") != export.STATUS_OK
        bar.finish(row)

    try:
        if not todo:
            pass
        elif client is not None:
            _run_dask(todo, emit, client, bar.start)
        elif n_workers == 0:
            for c in todo:
                bar.start(c)
                emit(run_case(c))
        else:
            _run_pool(todo, n_workers, emit, start_method, bar.start)
        if writer is None:  # nothing to run: the file still gets its header
            writer = open_writer()
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    return RunReport(outp, written, skipped, time.perf_counter() - t0, failed)
