"""The worker pool of :mod:`aigc_opt.benchmarks.fuzz_inputs`: every case in a fork-server
worker under a memory limit, a case past its timeout recorded as a hang and its worker
replaced; ``workers=0`` runs the cases in this process and cuts an overrun with SIGALRM.

Cases are looked up on :mod:`~aigc_opt.benchmarks.fuzz_inputs` when they run (not imported
here), so a test that patches ``fuzz_inputs.run_case`` reaches the inline runner and, with
``start_method="fork"``, the workers.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
from types import ModuleType
from typing import Any


def _cases() -> ModuleType:
    """:mod:`~aigc_opt.benchmarks.fuzz_inputs`, imported when a case runs (it imports this
    module for :func:`run`)."""
    from aigc_opt.benchmarks import fuzz_inputs

    return fuzz_inputs


def _worker(indices: list[int], seed: int, out: Any, mem_bytes: int) -> None:
    import logging
    import resource
    import warnings

    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (mem_bytes, mem_bytes))
    except (ValueError, OSError):
        pass
    cases = _cases()
    cases.targets()
    for i in indices:
        out.put(("start", i, time.monotonic()))
        try:
            res = cases.run_case(i, seed)
        except BaseException as exc:  # noqa: BLE001 - a harness error is reported, not fatal
            res = ("other", f"harness: {type(exc).__name__}: {exc}", f"case {i}")
        out.put(("done", i, res))


class _Overrun(BaseException):  # not an Exception: run_case classifies those
    pass


def _run_inline(indices: range, seed: int, timeout: float) -> dict[int, tuple[str, str, str]]:
    """``workers=0``: the cases in this (main) thread, no memory limit; SIGALRM cuts a case at
    its first Python instruction after ``timeout`` s (in a C call: when it returns)."""
    import logging
    import signal
    import warnings

    def alarm(signum: int, frame: Any) -> None:
        raise _Overrun

    res: dict[int, tuple[str, str, str]] = {}
    old, level = signal.signal(signal.SIGALRM, alarm), logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            for i in indices:
                signal.setitimer(signal.ITIMER_REAL, timeout)
                try:
                    res[i] = _cases().run_case(i, seed)
                except _Overrun:
                    res[i] = ("hang", f"> {timeout:g} s", f"case {i}")
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
        finally:
            signal.signal(signal.SIGALRM, old)
            logging.disable(level)
    return res


def run(n_cases: int, *, seed: int = 0, workers: int = 2, timeout: float = 10.0,
        first: int = 0, mem_gb: float = 4.0,
        start_method: str = "forkserver") -> dict[int, tuple[str, str, str]]:
    """Run cases ``first .. first + n_cases - 1`` in ``workers`` processes; a case running
    longer than ``timeout`` seconds is recorded as a hang and its worker replaced.
    ``workers=0`` runs them in this process (:func:`_run_inline`, as certify_bench's
    ``--jobs 0``).

    Workers start from a fork server (``start_method``), not by ``fork()`` of this process:
    after a solve this process holds HiGHS's and BLAS's threads, and a child forked while one
    of them holds a lock can deadlock (Python >= 3.12 warns about exactly that). ``"fork"``
    remains available (it lets a test patch :func:`run_case` in the children)."""
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    if workers == 0:
        return _run_inline(range(first, first + n_cases), seed, timeout)
    ctx: Any = mp.get_context(start_method)
    out: Any = ctx.Queue()
    todo = list(range(first, first + n_cases))
    chunks = [todo[k::workers] for k in range(workers)]
    procs: dict[int, Any] = {}
    pending: dict[int, list[int]] = {}
    running: dict[int, tuple[int, float]] = {}
    owner: dict[int, int] = {}
    results: dict[int, tuple[str, str, str]] = {}
    mem = int(mem_gb * 2**30)

    def spawn(w: int, idx: list[int]) -> None:
        pending[w] = list(idx)
        for i in idx:
            owner[i] = w
        if idx:
            procs[w] = ctx.Process(target=_worker, args=(idx, seed, out, mem), daemon=True)
            procs[w].start()

    for w, idx in enumerate(chunks):
        spawn(w, idx)
    next_w = workers
    while len(results) < n_cases:
        try:
            msg = out.get(timeout=0.5)
        except queue.Empty:
            msg = None
        now = time.monotonic()
        if msg is not None:
            kind, i, payload = msg
            w = owner[i]
            if i in results:
                pass
            elif kind == "start":
                running[w] = (i, now)
            else:
                results[i] = payload
                running.pop(w, None)
                if i in pending[w]:
                    pending[w].remove(i)
        for w, (i, t0) in list(running.items()):
            if now - t0 > timeout and i not in results:
                procs.pop(w).kill()
                results[i] = ("hang", f"> {timeout:g} s", f"case {i}")
                rest = [j for j in pending.pop(w) if j != i]
                running.pop(w)
                spawn(next_w, rest)
                next_w += 1
        for w, p in list(procs.items()):  # a worker that died (e.g. killed by the OS)
            if p.is_alive() or not out.empty():
                continue
            left = [j for j in pending.get(w, []) if j not in results]
            procs.pop(w)
            if left:
                results[left[0]] = ("other", f"worker died (exit code {p.exitcode})",
                                    f"case {left[0]}")
                running.pop(w, None)
                spawn(next_w, left[1:])
                next_w += 1
    for p in procs.values():
        p.join(timeout=1)
        if p.is_alive():
            p.kill()
    return results
