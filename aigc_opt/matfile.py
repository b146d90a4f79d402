"""MAT-files read in a child process: a damaged file is an error, not a crashed interpreter.

``scipy.io.loadmat`` is native code: on a MAT v5 file with two bytes swapped (scipy 1.17.1,
``_mio5.read_var_array``) it dies with a segmentation fault, which took ``aigc-opt dataset
check`` and ``aigc-opt solve --problem wpmec.binary`` down without a message. On Linux,
:func:`load_mat` therefore reads the file in a forked child (a few milliseconds: the child
shares the parent's memory until it writes) and hands the variables back through a pipe; a
child that dies or hangs is reported as a :class:`~aigc_opt.errors.ValidationError` naming
the file. Elsewhere (no cheap ``fork``) it calls ``loadmat`` directly.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from .errors import ValidationError

logger = logging.getLogger(__name__)

#: Seconds a child may take to read one file before it is stopped.
READ_TIMEOUT_S = 300.0


def _child(path: str, conn: Any) -> None:  # pragma: no cover - runs in the forked child
    try:
        import scipy.io

        conn.send(("ok", scipy.io.loadmat(path)))
    except Exception as exc:  # noqa: BLE001 - reported to the parent as text
        conn.send(("err", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def _isolated(target: Any, path: str, conn: Any) -> None:  # pragma: no cover - in the child
    import faulthandler

    faulthandler.disable()  # a crash is reported by the parent, without a dump on stderr
    target(path, conn)


def load_mat(path: str | Path, timeout: float = READ_TIMEOUT_S) -> dict[str, Any]:
    """``scipy.io.loadmat(path)``, isolated in a child process on Linux.

    Raises
    ------
    ValidationError
        The reader crashed (a signal) or did not finish within ``timeout`` seconds.
    ValueError
        The reader raised (its exception type and message, as text): callers treat it as any
        other unreadable file.
    """
    if not sys.platform.startswith("linux"):
        import scipy.io

        return dict(scipy.io.loadmat(str(path)))
    import multiprocessing as mp
    import warnings

    import scipy.io  # noqa: F401 - imported here, so the child never takes the import lock

    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_isolated, args=(_child, str(path), send), daemon=True)
    with warnings.catch_warnings():
        # Python >= 3.12 warns on fork() from a process with threads (HiGHS's, a BLAS's):
        # the child only runs the already-imported reader and writes to its pipe, and a
        # child that deadlocks all the same is stopped after ``timeout`` seconds.
        warnings.filterwarnings("ignore", message=r".*use of fork\(\) may lead to deadlocks",
                                category=DeprecationWarning)
        proc.start()
    send.close()
    try:
        msg = recv.recv() if recv.poll(timeout) else None
    except EOFError:  # the child died before it sent anything
        msg = None
    finally:
        recv.close()
    if msg is None:
        proc.kill()
    proc.join()
    if msg is None:
        why = (f"did not finish within {timeout:g} s" if proc.exitcode in (None, -9)
               else f"crashed (exit status {proc.exitcode})")
        raise ValidationError("path", "-", str(path), f"the MAT-file reader {why}: a damaged "
                              "or truncated file")
    kind, payload = msg
    if kind == "err":
        raise ValueError(payload)
    return dict(payload)
