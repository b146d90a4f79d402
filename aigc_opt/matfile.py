"""Binary data files read safely: MAT-files in a child process, ``.npy``/``.npz`` headers
checked before any data is read.

``scipy.io.loadmat`` is native code: on a MAT v5 file with two bytes swapped (scipy 1.17.1,
``_mio5.read_var_array``) it dies with a segmentation fault, which took ``aigc-opt dataset
check`` and ``aigc-opt solve --problem wpmec.binary`` down without a message. On Linux,
:func:`load_mat` therefore reads the file in a forked child (a few milliseconds: the child
shares the parent's memory until it writes) and hands the variables back through a pipe; a
child that dies or hangs is reported as a :class:`~aigc_opt.errors.ValidationError` naming
the file. Elsewhere (no cheap ``fork``) it calls ``loadmat`` directly.

``np.load`` unpacks an ``.npz`` member whole: a 2.3 MB archive whose member declares 3e8
float64 zeros (deflated) took 5.6 GB and 27 s before any shape check. :func:`load_npz` and
:func:`load_npy` therefore read each member's ``.npy`` header first (shape and dtype, no data)
and refuse, naming the file, the entry, its declared shape and the expected one, an entry
larger than its caller expects or a file declaring more than
:data:`~aigc_opt.validate.MAX_FILE_BYTES` of data. Every reader here refuses a named pipe or
a device (:func:`~aigc_opt.validate.check_regular_file`), which blocked them forever.
"""

from __future__ import annotations

import logging
import sys
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from .errors import ValidationError
from .validate import MAX_FILE_BYTES, check_regular_file

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
        Naming the file: not a regular file; a MATLAB v7.3 (HDF5) file (not supported: re-save
        with ``save -v7``); the reader crashed (a signal), did not finish within ``timeout``
        seconds or raised (a damaged, truncated or foreign file: its exception, as text).
    """
    path = check_regular_file(path, "MAT-file")
    _refuse_v73(path)  # and an empty file
    if not sys.platform.startswith("linux"):
        import scipy.io

        try:
            return dict(scipy.io.loadmat(str(path)))
        except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file
            raise _unreadable(path, f"{type(exc).__name__}: {exc}") from exc
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
        raise _unreadable(path, payload)
    return dict(payload)


#: What :func:`load_mat` says of a MATLAB v7.3 file.
V73_HINT = ("a MATLAB v7.3 (HDF5) MAT-file, which is not supported: re-save it in MATLAB "
            "with save(..., '-v7') (or -v6)")


def _refuse_v73(path: Path) -> None:
    """An empty file, and a v7.3 MAT-file (an HDF5 file with a 512-byte MATLAB preamble), are
    refused by their first bytes; scipy's own message pointed to h5py, not a dependency."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(520)
    except OSError as exc:
        raise ValidationError("path", "-", str(path), f"cannot read MAT-file: {exc}") from exc
    if not head:
        raise ValidationError("path", "-", str(path), "the MAT-file is empty (0 bytes)")
    if head.startswith(b"MATLAB 7.3") or head[512:520] == b"\x89HDF\r\n\x1a\n":
        raise ValidationError("path", "-", str(path), V73_HINT)


def _unreadable(path: Path, why: str) -> ValidationError:
    """The error for a file scipy's reader refused (``why``: its exception, as text)."""
    if "v7.3" in why:
        return ValidationError("path", "-", str(path), V73_HINT)
    return ValidationError("path", "-", str(path), "cannot read MAT-file: damaged, "
                           f"truncated or not a MAT-file (the reader said {why})")


# ------------------------------------------------------------------------------ .npy / .npz
@dataclass(frozen=True)
class NpyHeader:
    """What an ``.npy`` array declares in its header (nothing of its data is read).

    Parameters
    ----------
    shape : tuple of int
        Declared shape.
    dtype : numpy.dtype
        Declared element type.
    data_bytes : int
        Bytes the member holds after the header (uncompressed), B.
    """

    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    data_bytes: int

    @property
    def size(self) -> int:
        """Declared number of entries."""
        return int(np.prod(self.shape, dtype=object))

    @property
    def nbytes(self) -> int:
        """Bytes the declared array takes in memory, B."""
        return self.size * self.dtype.itemsize


def _header(fh: IO[bytes], data_bytes: int) -> NpyHeader:
    """Parse the header at the start of ``fh`` (``data_bytes``: bytes of the whole member)."""
    fmt = np.lib.format
    version = fmt.read_magic(fh)
    if version == (1, 0):
        shape, _, dtype = fmt.read_array_header_1_0(fh)
    else:  # 2.0 and 3.0 (utf-8) share the 4-byte header length
        shape, _, dtype = fmt.read_array_header_2_0(fh)
    return NpyHeader(tuple(int(n) for n in shape), dtype, data_bytes - fh.tell())


def _bad(path: Path, what: str, exc: Exception) -> ValidationError:
    return ValidationError("path", "-", str(path),
                           f"not a readable {what}: {type(exc).__name__}: {exc}")


def npz_headers(path: str | Path, what: str = ".npz archive") -> dict[str, NpyHeader]:
    """The declared shape and dtype of every entry of an ``.npz`` archive, by entry name
    (without ``.npy``); no array data is decompressed."""
    p = check_regular_file(path, what)
    out: dict[str, NpyHeader] = {}
    try:
        with zipfile.ZipFile(p) as zf:
            for info in zf.infolist():
                name = info.filename.removesuffix(".npy")
                with zf.open(info) as fh:
                    out[name] = _header(fh, info.file_size)
    except (OSError, ValueError, EOFError, SyntaxError, zipfile.BadZipFile) as exc:
        raise _bad(p, what, exc) from exc
    return out


Expected = Mapping[str, tuple[int, ...]]


def check_headers(path: Path, headers: Mapping[str, NpyHeader], expected: Expected,
                  max_bytes: int = MAX_FILE_BYTES, units: Mapping[str, str] | None = None
                  ) -> None:
    """Refuse, before any data is read, an entry holding more entries than its expected shape
    (an entry not in ``expected`` has no such limit), an object (pickled) dtype, an entry whose
    data is shorter than its header declares (truncated), or more than ``max_bytes`` bytes of
    declared data in all.

    Raises
    ------
    ValidationError
        Naming the entry, its declared shape and dtype, the expected shape and the file.
    """
    unit = dict(units or {})
    total = 0
    for name, h in headers.items():
        declared, u = f"declared shape {h.shape} of {h.dtype}", unit.get(name, "-")
        if h.dtype.hasobject:
            raise ValidationError(name, u, declared, "holds Python objects (a pickle), "
                                  "which are never loaded").located(str(path))
        want = expected.get(name)
        if want is not None and h.size > int(np.prod(want, dtype=object)):
            raise ValidationError(name, u, declared, f"expected shape {want} (from the "
                                  "file's other entries); the data is not read"
                                  ).located(str(path))
        if h.nbytes > h.data_bytes:
            raise ValidationError(name, u, declared, f"truncated: holds {h.data_bytes:,} "
                                  f"of {h.nbytes:,} data bytes").located(str(path))
        total += h.nbytes
    if total > max_bytes:
        big = max(headers, key=lambda k: headers[k].nbytes)
        raise ValidationError(big, unit.get(big, "-"), f"declared shape {headers[big].shape} of "
                              f"{headers[big].dtype}", f"the file declares {total:,} bytes of "
                              f"data, above the {max_bytes:,}-byte limit; the data is not read"
                              ).located(str(path))


def load_npz(path: str | Path, what: str = ".npz archive", *,
             expected: Expected | Callable[[dict[str, NpyHeader]], Expected] | None = None,
             max_bytes: int = MAX_FILE_BYTES, units: Mapping[str, str] | None = None
             ) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` archive (no pickles), after :func:`check_headers`.

    Parameters
    ----------
    path : str or Path
        The archive.
    what : str
        What the file is, for messages.
    expected : mapping or callable, optional
        Largest shape of each entry (by name without ``.npy``), or a function computing it
        from the declared headers (e.g. axis sizes inferred from the other entries).
    max_bytes : int
        Largest total of declared data, B.
    units : mapping, optional
        Unit of each entry, for messages (default ``"-"``).
    """
    headers = npz_headers(path, what)
    p = Path(path)
    want = expected(headers) if callable(expected) else (expected or {})
    check_headers(p, headers, want, max_bytes, units)
    try:
        with np.load(p, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception as exc:  # noqa: BLE001 - any reader failure (zip, zlib, npy) is a bad file
        raise _bad(p, what, exc) from exc


def load_npy(path: str | Path, what: str = ".npy file", *,
             max_bytes: int = MAX_FILE_BYTES) -> np.ndarray:
    """One ``.npy`` array (no pickles), its header checked first as by :func:`check_headers`
    (the entry named ``array``)."""
    p = check_regular_file(path, what)
    try:
        with open(p, "rb") as fh:
            h = _header(fh, p.stat().st_size)
    except (OSError, ValueError, EOFError, SyntaxError) as exc:
        raise _bad(p, what, exc) from exc
    check_headers(p, {"array": h}, {}, max_bytes)
    try:
        return np.asarray(np.load(p, allow_pickle=False))
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file
        raise _bad(p, what, exc) from exc
