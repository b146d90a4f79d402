"""The error contract's helpers: one place that turns bad input into a
:class:`~aigc_opt.errors.ValidationError` naming the field, its unit, the bad value and what is
allowed.

Every instance, spec and option type of aigc_opt (and of the problem families) validates its
fields with these functions, so that the rules are the same everywhere:

* types are checked and converted *before* any comparison: numbers must be ``int``/``float`` or
  numpy real scalars; strings (even ``"1.5"``), bytes, ``None`` (unless ``optional``), bools
  (unless ``allow_bool``), complex numbers and other objects are rejected;
* integers must be integral (``1.0`` is accepted and converted, ``1.5`` is not) and are
  range-checked *before* the cast, so ``1e300`` can never wrap around to ``-2**63``;
* arrays must be rectangular and real: ragged nested lists, object arrays, string arrays,
  complex arrays (the imaginary part is never dropped silently) and datetime arrays are
  rejected; NaN is never allowed, ``+inf`` only where the field says so;
* every physical quantity has an upper bound (``hi``) that no real system reaches, so a typo
  such as ``1e300`` is reported instead of overflowing later;
* generators refuse sizes whose arrays would exceed :data:`MAX_ENTRIES` entries before
  allocating anything (:func:`check_entries`; raise the limit with the generator's
  ``max_entries`` argument);
* files are read with :func:`read_text` / :func:`load_json`, which name the path (and line) for
  unreadable, non-UTF-8, truncated, invalid or too deeply nested content; binary readers
  (:mod:`aigc_opt.matfile`) go through the same :func:`check_regular_file`.

Unknown names (a method, a backend, a choice such as ``linking="foo"``) raise
:class:`~aigc_opt.errors.UnknownNameError`, which lists the known names and the closest match.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import stat
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .errors import UnknownNameError, ValidationError

#: Default largest number of entries a generator may allocate for one array (1e7 float64 values
#: = 80 MB). Generators take a ``max_entries`` argument to raise it.
MAX_ENTRIES = 10_000_000
#: Largest JSON nesting depth accepted from a file (scenario arrays are at most 3 deep).
MAX_JSON_DEPTH = 32
#: Largest file (bytes) :func:`read_text` reads (1 GiB).
MAX_FILE_BYTES = 1 << 30
#: Largest magnitude any integer field may take (int64 range, with margin).
INT_LIMIT = 2**62


# ------------------------------------------------------------------------------------ scalars
def _range_text(lo: float | None, hi: float | None, strict: bool, allow_inf: bool) -> str:
    parts = []
    if lo is not None:
        parts.append(f"{'>' if strict else '>='} {lo:g}")
    if hi is not None:
        parts.append(f"<= {hi:g}")
    text = " and ".join(parts) if parts else "any value"
    return text + (" (or inf)" if allow_inf else "")


def _kind_error(name: str, unit: str, value: Any, want: str) -> ValidationError:
    if isinstance(value, (str, bytes)):
        why = f"not numeric: must be {want}, not a string (convert it first)"
    elif isinstance(value, (bool, np.bool_)):
        why = f"must be {want}, not a bool"
    elif isinstance(value, (complex, np.complexfloating)):
        why = f"must be {want}; complex values are not allowed"
    elif value is None:
        why = f"is required: must be {want}, not None"
    else:
        why = f"not numeric: must be {want}, got {type(value).__name__}"
    return ValidationError(name, unit, value, why)


def to_number(name: str, unit: str, value: Any, *, allow_bool: bool = False) -> int | float:
    """One real number, converted strictly (no parsing of strings, no dropping of imaginary
    parts): ``int`` and numpy integers give an ``int``, ``float``/numpy floats and other
    :class:`numbers.Real` give a ``float``; a 0-d real array is unwrapped."""
    if isinstance(value, np.ndarray):
        if value.ndim != 0:
            raise ValidationError(name, unit, value,
                                  f"must be a single number, got an array of shape {value.shape}")
        value = value[()]
    if isinstance(value, (bool, np.bool_)):
        if allow_bool:
            return int(value)
        raise _kind_error(name, unit, value, "a number")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, numbers.Real):  # Fraction, Decimal-like
        try:
            return float(value)
        except (OverflowError, ValueError) as exc:
            raise ValidationError(name, unit, value, "out of the float range") from exc
    raise _kind_error(name, unit, value, "a number")


def check_scalar(
    name: str,
    value: Any,
    unit: str = "-",
    lo: float | None = None,
    hi: float | None = None,
    *,
    integer: bool = False,
    strict: bool = False,
    allow_inf: bool = False,
    optional: bool = False,
    allow_bool: bool = False,
) -> Any:
    """Check and convert one scalar field.

    Parameters
    ----------
    name, value, unit : str, Any, str
        Field name, the value given and its SI unit ("-" if dimensionless).
    lo, hi : float or None
        Bounds: ``value >= lo`` (``> lo`` if ``strict``) and ``value <= hi``.
    integer : bool
        The value must be a whole number (``3`` or ``3.0``; not ``3.5``); returns an ``int``.
    allow_inf : bool
        ``+inf`` is a meaningful value (e.g. "no deadline"); it skips ``hi``.
    optional : bool
        ``None`` is allowed and returned as is.
    allow_bool : bool
        Accept ``True``/``False`` as 1/0.

    Returns
    -------
    float or int or None
        The converted value (``float``, or ``int`` when ``integer``).
    """
    if value is None and optional:
        return None
    v = to_number(name, unit, value, allow_bool=allow_bool)
    allowed = _range_text(lo, hi, strict, allow_inf)
    if integer:
        if isinstance(v, float):
            if math.isnan(v) or math.isinf(v):
                raise ValidationError(name, unit, value, f"must be a finite integer {allowed}")
            if v != round(v):
                raise ValidationError(name, unit, value,
                                      f"must be an integer (a whole number) {allowed}")
            v = int(v)
        if abs(v) > INT_LIMIT:
            raise ValidationError(name, unit, value, _int_limit_text(allowed))
        bad_lo = lo is not None and (v <= lo if strict else v < lo)
        if bad_lo or (hi is not None and v > hi):
            raise ValidationError(name, unit, value, f"out of range: must be an integer {allowed}")
        return v
    try:
        f = float(v)
    except OverflowError as exc:
        raise ValidationError(name, unit, value, f"out of range: must be {allowed}") from exc
    if math.isnan(f):
        raise ValidationError(name, unit, value, f"NaN is not allowed; must be {allowed}")
    if math.isinf(f):
        if allow_inf and f > 0:
            return f
        raise ValidationError(name, unit, value, f"must be finite and {allowed}")
    if (lo is not None and (f <= lo if strict else f < lo)) or (hi is not None and f > hi):
        raise ValidationError(name, unit, value, f"out of range: must be {allowed}")
    return f


def _int_limit_text(allowed: str) -> str:
    return f"out of range: must be an integer {allowed} with |value| <= 2**62"


def check_int(name: str, value: Any, unit: str = "-", lo: int | None = None,
              hi: int | None = None, *, optional: bool = False) -> Any:
    """An integer field (``3`` or ``3.0``, never ``3.5``, a string or a bool), range-checked
    before any cast; see :func:`check_scalar`."""
    return check_scalar(name, value, unit, lo, hi, integer=True, optional=optional)


def check_bool(name: str, value: Any) -> bool:
    """A flag: ``True``/``False`` (or numpy bools) only; ``"yes"``, ``1``, ``None`` are
    rejected."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ValidationError(name, "-", value, f"must be True or False, got {type(value).__name__}")


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """One of ``choices`` (a string). A non-string raises :class:`ValidationError`, an unknown
    string :class:`UnknownNameError` with the known names and the closest match."""
    known = list(choices)
    if not isinstance(value, str):
        raise ValidationError(name, "-", value,
                              f"must be a string, one of {', '.join(map(repr, known))}")
    if value not in known:
        raise UnknownNameError(name, value, known)
    return value


def check_name(what: str, value: Any, known: Collection[str]) -> str:
    """A registry name (method, backend, heuristic ...): a string in ``known`` or
    :class:`UnknownNameError` (a non-string is reported the same way, never ``TypeError``)."""
    if not isinstance(value, str) or value not in known:
        raise UnknownNameError(what, value if isinstance(value, str) else repr(value), known)
    return value


def check_type(name: str, value: Any, types: type | tuple[type, ...], unit: str = "-") -> Any:
    """``value`` must be an instance of ``types``."""
    if not isinstance(value, types):
        want = types if isinstance(types, tuple) else (types,)
        names = " or ".join(t.__name__ for t in want)
        raise ValidationError(name, unit, type(value).__name__, f"must be a {names}")
    return value


def check_seed(name: str, value: Any) -> Any:
    """A random seed: None, an integer in ``[0, 2**62]`` (:data:`INT_LIMIT`, the range of
    every integer field; ``2**63 - 1`` here had read 'must be <= 9.22337e+18 with |value| <=
    2**62'), or a numpy ``Generator`` / ``SeedSequence`` (passed through)."""
    if value is None or isinstance(value, (np.random.Generator, np.random.SeedSequence)):
        return value
    return check_int(name, value, "-", 0, INT_LIMIT)


def check_size(name: str, value: Any, hi: int, *, lo: int = 1,
               raise_with: str | None = "max_entries") -> int:
    """A generator size (number of users, servers, frames ...): an integer in ``[lo, hi]``.

    ``raise_with`` names the generator argument that raises ``hi`` (None: a fixed limit)."""
    v = check_int(name, value, "-", lo, None)
    if v > hi:
        how = f"; pass {raise_with}=... to raise it" if raise_with else ""
        raise ValidationError(name, "-", value,
                              f"too large: must be <= {hi:,} (a limit of the generator{how})")
    return int(v)


def check_entries(name: str, entries: int, max_entries: int | None) -> None:
    """Refuse, before allocating, a generated array of more than ``max_entries`` entries.

    ``name`` names the size arguments (e.g. ``"n_users*n_servers"``).
    """
    limit = MAX_ENTRIES if max_entries is None else check_int("max_entries", max_entries, "-", 1)
    if entries > limit:
        raise ValidationError(name, "entry", entries,
                              f"the generated arrays would hold {entries:,} entries, above "
                              f"max_entries={limit:,}; pass max_entries=... to raise the limit")


# ------------------------------------------------------------------------------------ arrays
def first_leaf(nested: Any, test: Callable[[Any], bool]) -> Any:
    """The first entry (in reading order) of the nested lists/tuples ``nested`` for which
    ``test`` holds, as a ``(entry,)`` tuple; None if there is none. Iterative: no recursion
    limit on deep nesting."""
    stack: list[Any] = [nested]
    while stack:
        x = stack.pop()
        if isinstance(x, list | tuple):
            stack.extend(reversed(x))
        elif test(x):
            return (x,)
    return None


def _real_array(name: str, unit: str, value: Any, *, allow_bool: bool, want_bool: bool
                ) -> np.ndarray:
    """``value`` as a real numpy array (float64, int64 or bool), or a ValidationError."""
    if value is None:
        raise ValidationError(name, unit, None, "is required: must be an array of numbers")
    if isinstance(value, (str, bytes, dict)) or hasattr(value, "__next__"):
        raise _kind_error(name, unit, value, "an array of numbers")
    try:
        a = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise ValidationError(name, unit, value, "must be a rectangular array of numbers "
                              "(ragged nested lists are not allowed)") from exc
    except RecursionError as exc:
        raise ValidationError(name, unit, "(deeply nested)", "nested too deeply") from exc
    kind = a.dtype.kind
    if (kind in "iuf" and not (allow_bool or want_bool) and isinstance(value, list | tuple)
            and (b := first_leaf(value, lambda x: isinstance(x, bool | np.bool_)))):
        raise _kind_error(name, unit, b[0], "numbers")  # numpy made [True, 4] int64
    if kind == "O":
        flat = a.ravel()
        for x in flat:
            if isinstance(x, (bool, np.bool_)) and not (allow_bool or want_bool):
                raise _kind_error(name, unit, x, "numbers")
            if not isinstance(x, (numbers.Real, np.bool_)):
                if isinstance(x, (list, tuple, np.ndarray)):
                    raise ValidationError(name, unit, value, "must be a rectangular array of "
                                          "numbers (ragged nested lists are not allowed)")
                raise _kind_error(name, unit, x, "numbers")
        try:
            a = np.array(flat.tolist(), dtype=np.float64).reshape(a.shape)
        except (OverflowError, ValueError, TypeError) as exc:
            raise ValidationError(name, unit, value, "must be real numbers in the float "
                                  "range") from exc
        kind = "f"
    if kind in "US":
        raise ValidationError(name, unit, value, "not numeric: must be numbers, not strings")
    if kind == "c":
        raise ValidationError(name, unit, value, "must be real; complex values are not allowed "
                              "(the imaginary part is never dropped silently)")
    if kind == "b":
        if not (allow_bool or want_bool):
            raise ValidationError(name, unit, value, "must be numbers, not booleans")
        return a
    if kind not in "iuf":
        raise ValidationError(name, unit, value, f"must be numbers, got dtype {a.dtype}")
    return a


def _first_given(a: np.ndarray, inf: np.ndarray, fin: np.ndarray, bad: np.ndarray) -> Any:
    """The first flagged entry as given: ``-1``, not ``-1.0``, from an integer array."""
    return a[~inf][bad][0].item() if a.dtype.kind in "iu" else fin[bad][0]


def check_array(
    name: str,
    unit: str,
    value: Any,
    shape: tuple[int, ...] | None = None,
    *,
    ndim: int | None = None,
    low: float | None = None,
    high: float | None = None,
    strict: bool = False,
    allow_inf: bool = False,
    integer: bool = False,
    nonempty: bool = False,
    dtype: Any = np.float64,
    allow_bool: bool = False,
    allow_nan: bool = False,
    like: str = "",
) -> np.ndarray:
    """Convert ``value`` to a read-only array and check it.

    Parameters
    ----------
    name, unit : str
        Field name and SI unit, used in the error message.
    shape : tuple of int, optional
        Required shape (None: any shape with ``ndim`` dimensions).
    ndim : int, optional
        Required number of dimensions when ``shape`` is None.
    low, strict : float or None, bool
        Lower bound; ``value > low`` if strict else ``value >= low``.
    high : float or None
        Upper bound (inclusive; ``+inf`` entries skip it when ``allow_inf``).
    allow_inf : bool
        Whether ``+inf`` is allowed (``-inf`` never is).
    integer : bool
        Whether values must be whole numbers.
    nonempty : bool
        Reject an empty array.
    dtype : numpy dtype
        Element type of the result (float64, an integer type or bool). Values are checked as
        float64 first; an integer dtype implies ``integer`` and an int64 range check before the
        cast; ``bool`` accepts booleans or 0/1.
    allow_bool : bool
        Accept a boolean array for a numeric field (as 0/1).
    allow_nan : bool
        Accept NaN entries (only for fields where NaN means "not available", e.g. a payment
        a mechanism did not price; bounds apply to the other entries).
    like : str
        The field(s) whose size fixes ``shape``, named in a shape error ("to match ...").
    """
    want = np.dtype(dtype)
    want_bool = want.kind == "b"
    a = _real_array(name, unit, value, allow_bool=allow_bool, want_bool=want_bool)
    if shape is not None and a.shape != tuple(shape):
        match = f" to match {like}" if like else ""
        raise ValidationError(name, unit, a.shape, f"wrong shape, expected {tuple(shape)}{match}")
    if shape is None and ndim is not None and a.ndim != ndim:
        raise ValidationError(name, unit, a.shape, f"must be a {ndim}-D array")
    if nonempty and a.size == 0:
        raise ValidationError(name, unit, a.shape, "must not be empty")
    if want_bool:
        if a.dtype.kind != "b":
            f = a.astype(np.float64)
            bad = ~np.isin(f, (0.0, 1.0))
            if bad.any():
                raise ValidationError(name, unit, f[bad][0], "must be boolean (True/False or 0/1)")
        out = np.array(a, dtype=bool)
        out.flags.writeable = False
        return out
    f = np.array(a, dtype=np.float64)
    integer = integer or want.kind in "iu"
    allowed = _range_text(low, high, strict, allow_inf)
    if f.size:
        nan = np.isnan(f)
        if nan.any() and allow_nan and not integer:
            f_all, f = f, f[~nan]
        else:
            f_all = f
        if np.isnan(f).any():
            idx = np.argwhere(np.isnan(f))[0]
            raise ValidationError(name, unit, math.nan,
                                  f"NaN at index {tuple(idx.tolist())} is not allowed")
        inf = np.isinf(f)
        if inf.any() and not (allow_inf and not integer and (f[inf] > 0).all()):
            shown = f[inf][0] if not allow_inf or integer else f[inf & (f < 0)][0]  # the -inf
            raise ValidationError(name, unit, shown, f"must be finite and {allowed}")
        fin = f[~inf]
        if low is not None:
            bad = fin <= low if strict else fin < low
            if bad.any():
                raise ValidationError(name, unit, _first_given(a, inf, fin, bad),
                                      f"out of range: must be {allowed}")
        if high is not None and (fin > high).any():
            raise ValidationError(name, unit, _first_given(a, inf, fin, fin > high),
                                  f"out of range: must be {allowed}")
        if integer:
            frac = fin != np.round(fin)
            if frac.any():
                raise ValidationError(name, unit, fin[frac][0], "must be an integer")
            if (np.abs(fin) > INT_LIMIT).any():
                raise ValidationError(name, unit, fin[np.abs(fin) > INT_LIMIT][0],
                                      f"out of the integer range (|value| <= {INT_LIMIT:.3g})")
        f = f_all
    if want.kind in "iu":
        out = a.astype(want) if a.dtype.kind in "iu" else np.asarray(np.round(f)).astype(want)
    elif want == np.float64:
        out = f
    else:
        out = np.asarray(f).astype(want)
    out = np.asarray(out)
    out.flags.writeable = False
    return out


def check_product(name: str, unit: str, factor: np.ndarray, other: np.ndarray, what: str
                  ) -> None:
    """Refuse ``factor * other`` (elementwise) that overflows float64: each field is in range
    but the objective multiplies them (a weight of 1.5e4 times an upload of 7.7e305 Hz s).
    The error names ``name`` (unit ``unit``), the first such item and ``what`` ``other`` is."""
    with np.errstate(over="ignore", invalid="ignore"):
        bad = ~np.isfinite(np.asarray(factor, dtype=np.float64) * other)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValidationError(name, unit, float(np.asarray(factor).ravel()[i]),
                              f"item {i}: its product with {what} "
                              f"({float(other.ravel()[i]):.3g}) overflows float64")


@contextmanager
def derived_from(**args: Any) -> Iterator[None]:
    """Name a generator's arguments in any ValidationError raised inside: a generated field
    that is out of range (e.g. channel gains from an absurd carrier frequency) is reported with
    the arguments it was derived from."""
    try:
        yield
    except ValidationError as exc:
        names = ", ".join(f"{k}={v!r}" if not isinstance(v, np.ndarray) else f"{k}=array"
                          for k, v in args.items())
        err = exc.with_note(f"derived from the generator arguments {names}")
        err.derived_from = exc.derived_from + tuple(args)
        raise err from None


# ------------------------------------------------------------------------------------ files
def check_path(name: str, path: Any) -> Path:
    """A file path (``str`` or ``os.PathLike``) without NUL bytes (the OS refuses those with a
    plain ValueError)."""
    if isinstance(path, (str, os.PathLike)) and str(path):
        if "\0" in str(path):
            raise ValidationError(name, "-", str(path), "a file path may not contain a NUL byte")
        return Path(path)
    raise ValidationError(name, "-", path, "must be a file path (str or pathlib.Path)")


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn an OSError while writing ``path`` (a missing directory, no permission, a full
    disk) into a ValidationError naming the path and the reason."""
    try:
        yield
    except OSError as exc:
        raise ValidationError("path", "-", str(path),
                              f"cannot write: {exc.strerror or exc}") from None


def first_underscore(cells: Iterable[str]) -> int:
    """Index of the first CSV cell written with ``_`` (Python's ``float`` reads ``1_000`` as
    1000, which a data file never means), -1 when there is none."""
    cells = list(cells)
    if "_" not in "".join(cells):  # the common case, without a loop in Python
        return -1
    return next(i for i, c in enumerate(cells) if "_" in c)


def is_number(cell: str) -> bool:
    """Whether the CSV cell ``cell`` reads as one float, written without ``_`` (see
    :func:`first_underscore`): the per-cell test of the error paths that name a bad cell."""
    try:
        float(cell)
    except ValueError:
        return False
    return "_" not in cell


def check_regular_file(path: Any, what: str = "file", *,
                       max_bytes: int | None = None) -> Path:
    """``path`` as a :class:`~pathlib.Path` after checking that it is a readable regular file
    of at most ``max_bytes`` bytes (default :data:`MAX_FILE_BYTES`, read at call time); every
    reader (text or binary) goes through it.

    Raises
    ------
    ValidationError
        Naming the path: missing, a directory, not a regular file (a named pipe (FIFO) or a
        device would block the read forever or never end), or larger than ``max_bytes``.
    """
    p = check_path("path", path)
    try:
        st = p.stat()
    except FileNotFoundError as exc:
        raise ValidationError("path", "-", str(p), f"cannot read {what}: the file does not "
                              "exist") from exc
    except OSError as exc:
        raise ValidationError("path", "-", str(p), f"cannot read {what}: {exc}") from exc
    if stat.S_ISDIR(st.st_mode):
        raise ValidationError("path", "-", str(p), f"cannot read {what}: it is a directory")
    if not stat.S_ISREG(st.st_mode):
        # a FIFO blocked the read forever; /dev/zero reports size 0 and read until
        # MemoryError
        raise ValidationError("path", "-", str(p), f"{what} is not a regular file")
    if max_bytes is None:
        max_bytes = MAX_FILE_BYTES
    if st.st_size > max_bytes:
        raise ValidationError("path", "-", str(p), f"{what} is {st.st_size:,} bytes, above "
                              f"the {max_bytes:,}-byte limit")
    return p


def read_text(path: Any, what: str = "file", *, max_bytes: int | None = None) -> str:
    """The UTF-8 text of ``path`` (without a leading byte-order mark; at most ``max_bytes``
    bytes, default :data:`MAX_FILE_BYTES`); a
    :class:`ValidationError` naming the path for a missing,
    unreadable, too large or non-UTF-8 file (with the line of the first bad byte)."""
    p = check_regular_file(path, what, max_bytes=max_bytes)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ValidationError("path", "-", str(p), f"cannot read {what}: {exc}") from exc
    try:
        return data.decode("utf-8").removeprefix("\ufeff")  # a byte-order mark some editors add
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValidationError("path", "-", str(p), f"{what} is not UTF-8 text: bad byte "
                              f"0x{data[exc.start]:02x} at line {line}") from exc


def _depth_ok(obj: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        x, d = stack.pop()
        if isinstance(x, dict):
            x = list(x.values())
        if isinstance(x, list):
            if d > limit:
                return False
            stack.extend((y, d + 1) for y in x if isinstance(y, (list, dict)))
    return True


class _DuplicateKey(Exception):
    """A JSON object with a key twice (``json`` would keep the last value silently)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return out


def load_json(path: Any, what: str = "JSON file", *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse a JSON file; a :class:`ValidationError` naming the path (and line and column)
    for unreadable, non-UTF-8, truncated, invalid or too deeply nested content."""
    text = read_text(path, what)
    p = str(path)
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise ValidationError("path", "-", p, f"{what} names the key {exc.args[0]!r} twice in "
                              "one object (which value is meant?)") from None
    except json.JSONDecodeError as exc:
        raise ValidationError("path", "-", p, f"{what} is not valid JSON at line {exc.lineno} "
                              f"column {exc.colno}: {exc.msg}") from exc
    except RecursionError as exc:
        raise ValidationError("path", "-", p, f"{what} is nested too deeply "
                              f"(limit {max_depth} levels)") from exc
    except ValueError as exc:  # e.g. an integer literal with too many digits
        raise ValidationError("path", "-", p, f"{what} has an unreadable value: {exc}") from exc
    if not _depth_ok(data, max_depth):
        raise ValidationError("path", "-", p, f"{what} is nested too deeply "
                              f"(limit {max_depth} levels)")
    return data
