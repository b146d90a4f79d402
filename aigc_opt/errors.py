"""Exception types of aigc_opt.

Bad input raises a :class:`ValidationError` (a ``ValueError``) that names the field (or option,
or file), its unit, the offending value and what is allowed; an unknown name raises an
:class:`UnknownNameError` (a ``ValidationError`` and a ``KeyError``). The checks themselves are
in :mod:`aigc_opt.validate`. Solver outcomes such as infeasible or time limit are *not* exceptions:
they are statuses in :class:`aigc_opt.result.Result` (:class:`OutOfTime` is raised inside a
method by a slot-by-slot run and turned into such a status there).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

#: Longest rendering of a file path in an error message (characters; longer ones keep their
#: first 40 and their tail, so the file name is always shown).
PATH_CHARS = 300


def _show(value: Any) -> str:
    """Short, readable rendering of a bad value for an error message."""
    if isinstance(value, (np.datetime64, np.timedelta64)) and np.isnat(value):
        return repr(value)  # .item() is None: the message read "start [s] = None"
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        if value.size <= 6:
            return " ".join(np.array2string(value, threshold=6).split())
        return f"array of shape {value.shape}"
    if isinstance(value, (list, tuple)) and len(value) > 6:
        return f"{type(value).__name__} of length {len(value)}"
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not hide the real error
        text = f"<{type(value).__name__}>"
    if isinstance(value, os.PathLike) or (isinstance(value, str) and os.sep in value):
        # a file path: whole up to PATH_CHARS, else its head and its tail (the file name
        # must survive: under a deep temporary directory the first 77 characters held none)
        return text if len(text) <= PATH_CHARS else \
            text[:40] + "..." + text[-(PATH_CHARS - 43):]
    return text if len(text) <= 80 else text[:77] + "..."


def _restore(cls: type[BaseException], state: dict[str, Any], args: tuple[Any, ...]) -> Any:
    err = cls.__new__(cls)
    err.args = args
    err.__dict__.update(state)
    return err


class ValidationError(ValueError):
    """Bad scenario, spec or file content.

    Parameters
    ----------
    field : str
        Name of the offending field (as in the schema / spec).
    unit : str
        Physical unit of the field ("-" for dimensionless).
    value : Any
        The bad value (or the first bad element).
    reason : str
        What is wrong with it.

    A generated field's error also holds ``derived_from``: the names of the generator
    arguments it was derived from (:func:`aigc_opt.validate.derived_from`; empty otherwise).
    """

    #: Generator arguments the bad field was derived from (set by ``validate.derived_from``).
    derived_from: tuple[str, ...] = ()

    def __init__(self, field: str, unit: str, value: Any, reason: str) -> None:
        self.field = field
        self.unit = unit
        self.value = value
        self.reason = reason
        super().__init__(f"{field} [{unit}] = {_show(value)}: {reason}")

    def __reduce__(self) -> Any:  # picklable / copyable although __init__ takes 4 arguments
        return (_restore, (type(self), dict(self.__dict__), self.args))

    def located(self, where: str) -> ValidationError:
        """A copy of this error (same class and field) whose reason ends with ``(in where)``,
        e.g. the file the bad field was read from."""
        return self.with_note(f"in {where}")

    def with_note(self, note: str) -> ValidationError:
        """A copy of this error (same class and field) whose reason ends with ``(note)``."""
        import copy

        err = copy.copy(self)
        err.reason = f"{self.reason} ({note})"
        err.args = (f"{self.field} [{self.unit}] = {_show(self.value)}: {err.reason}",)
        return err


class BackendUnavailableError(ImportError):
    """A backend whose Python package is not installed."""


class CapabilityError(ValueError):
    """A backend asked to solve a program kind it does not support."""


class PluginError(TypeError):
    """A function registered by a plug-in (a builder, an evaluator ...) returned something its
    registry does not take: a bug in that plug-in, not bad input (so not a
    :class:`ValidationError`; the command line exits 1, internal error).

    Parameters
    ----------
    registration : str
        What was registered and for which type, e.g. ``"builder of MySpec"``.
    fn : callable
        The registered function (named by its module and qualified name).
    got : Any
        What it returned.
    expected : str
        What it must return, e.g. ``"a LinearProgram or ConvexProgram"``.
    """

    def __init__(self, registration: str, fn: Any, got: Any, expected: str) -> None:
        self.registration = registration
        self.function = qualified_name(fn)
        self.got = got
        self.expected = expected
        super().__init__(f"{registration} ({self.function}) returned a {type(got).__name__} "
                         f"({_show(got)}); it must return {expected}")

    def __reduce__(self) -> Any:  # picklable (a batch worker sends it back to its parent)
        return (_restore, (type(self), dict(self.__dict__), self.args))


def qualified_name(fn: Any) -> str:
    """``module.Qualname`` of a function or callable object (its repr when it has none)."""
    name = getattr(fn, "__qualname__", None) or getattr(type(fn), "__qualname__", None)
    module = getattr(fn, "__module__", None)
    if not name:
        return _show(fn)
    return f"{module}.{name}" if module else str(name)


class OutOfTime(RuntimeError):
    """A slot-by-slot run passed its ``deadline`` (a ``time.perf_counter()`` value, s) before
    its last slot: raised by the migration family's ``run_online`` and the online family's
    ``simulate``. A method that hands them a deadline catches it and reports the time limit
    in its Result (a partial run is never a result for the whole horizon).

    ``done`` and ``total`` are the slots run and the slots of the horizon (-1 when unknown).
    """

    def __init__(self, *args: object, done: int = -1, total: int = -1) -> None:
        super().__init__(*args)
        self.done = done
        self.total = total


class NoSolutionError(RuntimeError):
    """Raised by :meth:`Result.raise_if_no_solution` when a solve produced no solution, and by
    heuristics that find no allocation.

    ``explanation`` (an :class:`aigc_opt.explain.Explanation` or None) carries why, when the
    raiser knows: e.g. the conflicts of the sub-model it could not solve."""

    def __init__(self, *args: object, explanation: Any = None) -> None:
        super().__init__(*args)
        self.explanation = explanation


def did_you_mean(name: str, known: Any) -> str:
    """``"; did you mean 'x'?"`` naming the known name closest to ``name``, or ``""``.

    Tried in turn: the same name in other letter case (``HiGHS`` -> ``highs``),
    :func:`difflib.get_close_matches` on lower case (``higs`` -> ``highs``, ``greedy`` ->
    ``greedy_latency``), and the only known name that starts with ``name``. Used by
    :class:`UnknownNameError` and the command line.
    """
    import difflib

    names = list(dict.fromkeys(str(k) for k in known))
    by_lower = {n.lower(): n for n in names}
    low = str(name).lower()
    close = difflib.get_close_matches(low, list(by_lower), n=1)
    prefix = [n for n in names if n.lower().startswith(low)] if low else []
    best = by_lower.get(low) or (by_lower[close[0]] if close else None) or (
        prefix[0] if len(prefix) == 1 else None)
    return f"; did you mean {best!r}?" if best and best != name else ""


class UnknownNameError(ValidationError, KeyError):
    """An unknown name (method, backend, problem, option, ...): a :class:`ValidationError` that
    is also a ``KeyError``; the message lists the known names and the closest match.

    Parameters
    ----------
    what : str
        What kind of name it is (``"method"``, ``"backend"``, ``"solve option"`` ...).
    name : str
        The name given.
    known : iterable of str
        The names that exist.
    """

    def __init__(self, what: str, name: Any, known: Any, note: str = "") -> None:
        self.known = sorted(str(k) for k in known)
        hint = did_you_mean(str(name), self.known)
        listing = ", ".join(self.known[:25]) if self.known else "(none)"
        if len(self.known) > 25:
            listing += f", ... ({len(self.known)} in all)"
        ValidationError.__init__(self, what, "-", name,
                                 f"unknown {what}; known: {listing}{hint}{note}")

    def __str__(self) -> str:  # KeyError would quote the message
        return ValueError.__str__(self)
