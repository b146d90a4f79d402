"""Executors of the batch runner: one case in this process (:func:`run_case`), a pool of
spawned worker processes, killable case processes and a Dask cluster.

Each executor calls ``on_start(case)`` when a case starts and ``emit(row)`` when it ends; a case
that raises, exceeds its wall timeout or kills its process becomes a row with status ``error``,
``timeout`` or ``crashed`` (see :mod:`aigc_opt.batch` for the runner and the file guarantees).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

from . import export
from .suites import Case, _error_text, _import, get_kind, load_kinds

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
        instance = kind.instance(case.seed, **case.sizes)
        row["instance_seconds"] = time.perf_counter() - t0
        row["scenario_hash"] = export.instance_hash(instance)
        spec = kind.spec(**copy.deepcopy(dict(case.params)))
        row["sense"] = kind.sense_of(spec)
        opts = SolveOptions(time_limit=case.time_limit, mip_gap=case.mip_gap,
                            threads=case.threads)
        res = run_method(instance, spec, case.method, options=opts, seed=case.seed)
        row.update(
            termination=str(res.termination), has_solution=bool(res.has_solution),
            verified=bool(res.verified),
            objective=res.objective, bound=res.bound, gap=res.gap,
            build_seconds=res.stats.build_seconds, solve_seconds=res.stats.solve_seconds,
            message=res.message,
        )
        metrics = res.metrics
        row["evaluate_seconds"] = res.stats.extra.get("verify_seconds", math.nan)
        if metrics is None and res.has_solution and res.allocation is not None:
            t0 = time.perf_counter()
            metrics = evaluate(instance, res.allocation, spec)
            row["evaluate_seconds"] = time.perf_counter() - t0
        if metrics is not None:
            n_slots = getattr(instance, "n_slots", None)
            row.update(export.metrics_columns(
                metrics, n_slots=n_slots if isinstance(n_slots, int) else None))
    except (Exception, SystemExit) as exc:  # a failing case is a row, not a failed run (a
        # method calling sys.exit ended an in-process run; worker runs record it as crashed)
        logger.debug("case %s failed", case.key, exc_info=True)
        row["status"] = export.STATUS_ERROR
        row["error"] = _error_text(exc)
        row.setdefault("has_solution", False)
    row["wall_seconds"] = time.perf_counter() - t_start
    return row


# ---------------------------------------------------------------------------------- executors
class BatchError(RuntimeError):
    """A run that cannot proceed: Dask missing, scheduler unreachable, workers that fail to
    start (the cases themselves never raise: they become rows)."""


@contextlib.contextmanager
def sigint_blocked(tracker: bool = True) -> Iterator[None]:
    """Block SIGINT in this thread while child processes are started in the block.

    The children inherit the blocked signal (through ``fork`` and ``exec``), so Ctrl-C, which
    the terminal sends to the whole foreground process group, never reaches them: the parent
    alone gets ``KeyboardInterrupt`` and stops its children itself (no traceback per worker). A
    SIGINT that arrives meanwhile is kept pending and delivered when the block ends.

    Parameters
    ----------
    tracker : bool
        Start multiprocessing's resource tracker first (what ``spawn`` and Dask start on first
        use): starting it *unblocks* SIGINT in the calling thread, which would undo the block.
    """
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
        yield
        return
    if tracker:
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _ignore_sigint() -> None:
    """In a worker or case process: never take Ctrl-C (the parent stops this process)."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _silence_stdout() -> None:
    """Point file descriptor 1 of this process at /dev/null (C-level solver banners)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


def warm_kinds(names: Sequence[str]) -> None:
    """Run the :attr:`~aigc_opt.cases.CaseKind.warm_up` of every case kind in ``names`` (a
    pool worker does, before it says it is ready: a numba compile of 5-25 s inside the first
    timed case had made ``allocation.power`` cases of the quick suite time out on a fresh,
    loaded machine). A failing warm-up is logged; the cases then pay the compile as before."""
    for name in dict.fromkeys(names):
        fn = getattr(get_kind(name), "warm_up", None)
        if fn is None:
            continue
        t0 = time.perf_counter()
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - a warm-up may fail; the cases still run
            logger.warning("warm-up of %s failed (%s: %s)", name, type(exc).__name__, exc)
        else:
            logger.debug("warm-up of %s: %.2f s", name, time.perf_counter() - t0)


def _worker_main(conn: Connection, imports: tuple[str, ...], quiet: bool = True,
                 kinds: tuple[str, ...] = ()) -> None:
    """Worker process loop: import once, then run cases sent by the parent until EOF/None.

    SIGINT is ignored (:func:`sigint_blocked`): on Ctrl-C the parent kills its workers, and a
    worker exits without a traceback.
    """
    try:
        _worker_loop(conn, imports, quiet, kinds)
    except KeyboardInterrupt:  # a SIGINT that came before it was blocked: exit quietly
        return


def _worker_loop(conn: Connection, imports: tuple[str, ...], quiet: bool,
                 kinds: tuple[str, ...] = ()) -> None:
    _ignore_sigint()
    try:
        if quiet:  # solver banners written to fd 1 would garble the parent's output
            _silence_stdout()
        for mod in imports:
            _import(mod)
        load_kinds()
        warm_kinds(kinds)
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
        row = run_case(case)
        try:
            conn.send(("row", row))
        except OSError:  # the parent is gone (killed): nobody to report to
            return


class _Worker:
    def __init__(self, ctx: Any, imports: tuple[str, ...], kinds: tuple[str, ...] = ()) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, imports, True, kinds),
                                daemon=True)
        with sigint_blocked():
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


Emit = Callable[[dict[str, Any]], None]
Start = Callable[[Case], None]


def _run_pool(cases: Sequence[Case], workers: int, emit: Emit, start_method: str,
              on_start: Start) -> None:
    """Process pool with one long-lived spawned worker per slot; a worker that times out or
    dies is replaced, its case becomes a ``timeout`` / ``crashed`` row."""
    ctx = mp.get_context(start_method)
    imports = tuple(sorted({m for c in cases for m in c.imports}))
    kinds = tuple(dict.fromkeys(c.problem for c in cases))  # warmed up before the first case
    todo = deque(cases)
    pool: list[_Worker] = []
    try:
        for _ in range(min(workers, len(cases))):
            pool.append(_Worker(ctx, imports, kinds))
        while todo or any(w.case is not None for w in pool):
            now = time.perf_counter()
            for w in pool:
                if w.ready and w.case is None and todo:
                    w.case = todo.popleft()
                    w.started = now
                    on_start(w.case)
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
                        raise BatchError(f"worker failed to start: {payload}")
                    elif w.case is None and not w.ready:
                        raise BatchError(f"worker process died on start (exit code "
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
                    pool[i] = _Worker(ctx, imports, kinds)
    finally:  # idle workers are asked to stop; busy ones (an error, Ctrl-C) are killed
        for w in pool:
            try:
                if w.proc.is_alive() and w.case is None:
                    w.conn.send(None)
            except OSError:
                pass
        end = time.perf_counter() + 0.5
        for w in pool:
            if w.case is None:
                w.proc.join(max(0.0, end - time.perf_counter()))
            w.kill()


# ------------------------------------------------------------------ killable case processes
#: Seconds a case process may take to start (imports), not counted in a case's timeout.
CASE_PROCESS_START_S = 120.0


class _CaseProcess:
    """A child Python process that runs the cases sent to it one at a time; killed and
    replaced when a case times out, so a Dask worker thread is never blocked for longer than
    a case's timeout."""

    def __init__(self) -> None:
        r_case, w_case = os.pipe()
        r_row, w_row = os.pipe()
        code = "from aigc_opt.executors import _case_process_main; _case_process_main()"
        with sigint_blocked(tracker=False):
            self.proc = subprocess.Popen(
                [sys.executable, "-c", code, str(r_case), str(w_row)], pass_fds=(r_case, w_row),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, close_fds=True)
        os.close(r_case)
        os.close(w_row)
        self.send = Connection(w_case, readable=False)
        self.recv = Connection(r_row, writable=False)
        self.busy = False
        if not self.recv.poll(CASE_PROCESS_START_S):
            self.kill()
            raise BatchError(f"case process did not start in {CASE_PROCESS_START_S:g} s")
        try:
            tag, payload = self.recv.recv()
        except (EOFError, OSError):
            tag, payload = "died", f"exit code {self.proc.wait(5)}"
        if tag != "ready":
            self.kill()
            raise BatchError(f"case process failed to start: {payload}")

    def run(self, case: Case) -> tuple[str, Any]:
        """``("row", row)``, ``("timeout", None)`` or ``("died", exit code)``."""
        try:
            self.send.send(case)
        except OSError:
            return "died", self.proc.poll()
        if not self.recv.poll(case.timeout):
            return "timeout", None
        try:
            return "row", self.recv.recv()
        except (EOFError, OSError):
            return "died", self.proc.wait(5)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.send.close()
        self.recv.close()


def _case_process_main() -> None:
    """Entry of a case process: ``argv[1]`` reads cases, ``argv[2]`` writes rows (SIGINT
    ignored, as in a pool worker; its Dask worker stops it)."""
    try:
        _case_process_loop()
    except KeyboardInterrupt:
        return


def _case_process_loop() -> None:
    _ignore_sigint()
    conn_in = Connection(int(sys.argv[1]), writable=False)
    conn_out = Connection(int(sys.argv[2]), readable=False)
    try:
        load_kinds()
        conn_out.send(("ready", None))
    except BaseException as exc:
        conn_out.send(("fatal", _error_text(exc)))
        return
    while True:
        try:
            case = conn_in.recv()
        except (EOFError, OSError):
            return
        try:
            conn_out.send(run_case(case))
        except OSError:  # the Dask worker is gone: nobody to report to
            return


_PROCS: dict[int, _CaseProcess] = {}
_PROCS_LOCK = threading.Lock()


def run_case_isolated(case: Case) -> dict[str, Any]:
    """Run ``case`` in this thread's killable case process (started on first use) and return
    its row; a case that exceeds ``case.timeout`` is killed with its process (a ``timeout``
    row), one that kills the process gives a ``crashed`` row. The Dask task of the runner."""
    tid = threading.get_ident()
    with _PROCS_LOCK:
        proc = _PROCS.get(tid)
    if proc is None or proc.proc.poll() is not None:
        proc = _CaseProcess()
    with _PROCS_LOCK:
        _PROCS[tid] = proc
        proc.busy = True
    t0 = time.perf_counter()
    try:
        tag, payload = proc.run(case)
    finally:
        proc.busy = False
    if tag == "row":
        return dict(payload)
    proc.kill()
    with _PROCS_LOCK:
        _PROCS.pop(tid, None)
    if tag == "timeout":
        return failure_row(case, export.STATUS_TIMEOUT,
                           f"wall timeout {case.timeout:g} s exceeded", time.perf_counter() - t0)
    return failure_row(case, export.STATUS_CRASHED, f"case process died (exit code {payload})",
                       time.perf_counter() - t0)


def _stop_idle_case_processes() -> int:
    """Kill this process's idle case processes (run on every Dask worker after a run)."""
    with _PROCS_LOCK:
        idle = [(t, p) for t, p in _PROCS.items() if not p.busy]
        for t, _ in idle:
            del _PROCS[t]
    for _, p in idle:
        p.kill()
    return len(idle)


def check_scheduler(address: str, timeout: float = 5.0) -> None:
    """Fail fast when a Dask scheduler address is malformed or nothing listens there.

    Raises
    ------
    BatchError
        Naming the address and the reason, after at most ``timeout`` seconds.
    """
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme not in ("tcp", "tls"):  # inproc://, ucx://, ...: the client checks
        return
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or port is None:
        raise BatchError(f"--scheduler {address!r}: not a Dask scheduler address "
                         "(expected tcp://HOST:PORT)")
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise BatchError(f"--scheduler {address!r}: cannot connect within {timeout:g} s "
                         f"({reason})") from None


def dask_client(scheduler: str | None, workers: int, connect_timeout: float) -> tuple[Any, Any]:
    """A Dask client on ``scheduler`` (checked first, :func:`check_scheduler`) or on a new
    :class:`~dask.distributed.LocalCluster` of ``workers`` processes; returns
    ``(client, cluster)`` (cluster None for a scheduler address). Raises :class:`BatchError`."""
    level = logging.getLogger("distributed").getEffectiveLevel()  # importing Dask resets it
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise BatchError("Dask is not installed: pip install 'dask[distributed]'") from None
    if scheduler:
        check_scheduler(scheduler, connect_timeout)
        try:
            return Client(scheduler, timeout=connect_timeout), None
        except Exception as exc:  # noqa: BLE001 - anything from the handshake
            raise BatchError(f"--scheduler {scheduler!r}: Dask client failed: "
                             f"{_error_text(exc)}") from None
    with sigint_blocked():  # Ctrl-C stops the run here; the cluster is closed after it
        cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=1,
                               processes=True, dashboard_address=":0")
    client = Client(cluster)
    client.run(_silence_stdout)  # our own workers: solver banners would garble output
    # ... and their Dask logs follow this process's level (ERROR unless -vv): a run stopped
    # by Ctrl-C must not print a warning per cancelled task
    client.run(_set_log_level, "distributed", level)
    return client, cluster


def _set_log_level(name: str, level: int) -> None:
    """Set the level of logger ``name`` and of its children that have their own (run on the
    workers of a local Dask cluster)."""
    logging.getLogger(name).setLevel(level)
    for other, lg in list(logging.root.manager.loggerDict.items()):
        if other.startswith(name + ".") and isinstance(lg, logging.Logger) and lg.level:
            lg.setLevel(max(lg.level, level))


#: Extra seconds the client waits for a Dask task beyond its case's timeout before it writes
#: a ``timeout`` row itself (the task enforces the timeout; this covers a hung worker).
DASK_BACKSTOP_S = 60.0


def _run_dask(cases: Sequence[Case], emit: Emit, client: Any, on_start: Start) -> None:
    """Run on a Dask cluster: each case in a killable process on a worker
    (:func:`run_case_isolated`), at most one case per worker thread in flight so that the
    timeout counts from submission; results are taken as they complete."""
    from dask.distributed import as_completed

    slots = max(1, sum(client.nthreads().values()))
    todo = deque(cases)
    live: dict[Any, tuple[Case, float]] = {}
    pending = as_completed()

    def submit() -> None:
        while todo and len(live) < slots:
            c = todo.popleft()
            fut = client.submit(run_case_isolated, c, pure=False,
                                key=f"case-{c.key}-{time.time_ns()}")
            live[fut] = (c, time.perf_counter())
            pending.add(fut)
            on_start(c)

    try:
        submit()
        while live:
            deadlines = [t + c.timeout + DASK_BACKSTOP_S for c, t in live.values()
                         if c.timeout is not None]
            wait_s = max(0.05, min(deadlines) - time.perf_counter()) if deadlines else 1.0
            done: list[Any] = []
            end = time.perf_counter() + wait_s
            while True:
                if pending.has_ready():
                    done = [f for f in pending.next_batch(block=False) if f in live]
                    if done:
                        break
                if time.perf_counter() >= end:
                    break
                time.sleep(0.02)
            now = time.perf_counter()
            for fut in done:
                c, t0 = live.pop(fut)
                try:
                    emit(fut.result())
                except Exception as exc:  # noqa: BLE001 - KilledWorker, lost connection
                    emit(failure_row(c, export.STATUS_CRASHED, _error_text(exc), now - t0))
            for fut, (c, t0) in list(live.items()):
                if c.timeout is not None and now >= t0 + c.timeout + DASK_BACKSTOP_S:
                    del live[fut]
                    fut.cancel()
                    emit(failure_row(c, export.STATUS_TIMEOUT,
                                     f"wall timeout {c.timeout:g} s exceeded (no answer from "
                                     "the Dask worker)", now - t0))
            submit()
    finally:
        for fut in live:
            fut.cancel()
        try:
            client.run(_stop_idle_case_processes)
        except Exception:  # noqa: BLE001 - best effort at the end of a run
            logger.debug("could not stop idle case processes", exc_info=True)
