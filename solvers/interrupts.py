"""Ctrl-C (SIGINT) during a native solver call: stop the solver, raise ``KeyboardInterrupt``.

A solver's ``run``/``optimize`` is native code: Python's SIGINT handler only sets a flag that
the interpreter looks at when the call returns, so a Ctrl-C during ``aigc-opt solve`` was
answered only at the time limit (HiGHS: 29-39 s after the signal with a 30 s limit), or lost
(SCIP). :func:`call_interruptibly` runs such a call in a worker thread (the solver bindings
release the GIL) while the main thread waits in short joins; a ``KeyboardInterrupt`` there asks
the solver to stop, waits for it a bounded time and is raised again (exit 130 in the CLI).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds between two looks for a Ctrl-C while the solver runs in its worker thread.
POLL_SECONDS = 0.1
#: Seconds waited for the solver to stop after a Ctrl-C before the interrupt is passed on.
STOP_WAIT_SECONDS = 2.0


def interruptible() -> bool:
    """Whether a Ctrl-C reaches this thread as ``KeyboardInterrupt``: the main thread with
    Python's default SIGINT handler installed (not a worker thread, not a process that
    ignores SIGINT or handles it itself)."""
    return (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler)


def call_interruptibly(work: Callable[[], T], stop: Callable[[], None], solver: str,
                       stopped: Callable[[], None] | None = None) -> T:
    """``work()``, stopped by a Ctrl-C within about :data:`STOP_WAIT_SECONDS` s.

    Parameters
    ----------
    work : callable
        The native solver call (e.g. ``h.run``); its return value is returned and its
        exception raised.
    stop : callable
        Asks the running ``work`` to stop; called from this thread after a Ctrl-C.
    solver : str
        Solver name for the log.
    stopped : callable, optional
        Called after a Ctrl-C once ``work`` has ended (e.g. to switch interrupt callbacks off).

    Returns
    -------
    The value of ``work()``.

    Raises
    ------
    KeyboardInterrupt
        On a Ctrl-C during ``work``, after the solver stopped or :data:`STOP_WAIT_SECONDS` s.

    Notes
    -----
    Outside the main thread, or with a SIGINT handler other than Python's default, ``work()``
    is called directly: no ``KeyboardInterrupt`` can arrive there.
    """
    if not interruptible():
        return work()
    outcome: dict[str, Any] = {}
    # an Event, not Thread.join: a KeyboardInterrupt inside join(timeout) marks the thread as
    # stopped in Python 3.11 (it releases the thread's own lock, bpo-45274), so a later join
    # returned at once and the solver was left running
    done = threading.Event()

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed to the caller below
            outcome["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=target, name=f"aigc-opt-{solver}", daemon=True)
    worker.start()
    try:
        while not done.wait(POLL_SECONDS):
            pass
    except KeyboardInterrupt:
        logger.info("%s: interrupted (SIGINT); asking it to stop", solver)
        try:
            stop()
        except Exception:  # the interrupt is passed on regardless
            logger.warning("%s: the stop request failed", solver, exc_info=True)
        if done.wait(STOP_WAIT_SECONDS):
            worker.join()
            if stopped is not None:
                stopped()
        else:
            logger.warning("%s did not stop within %.1f s of the interrupt", solver,
                           STOP_WAIT_SECONDS)
        raise
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    result: T = outcome["value"]
    return result
