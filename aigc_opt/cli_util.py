"""Helpers of the ``aigc-opt`` command line (see :mod:`aigc_opt.cli`): the documented exit codes
(:data:`EXIT_CODES`, :func:`exit_code_of`), typed ``KEY=VALUE`` options, path checks made before
any work, problem / instance / spec construction whose failures name the option, logging to
stderr and solver banners kept off stdout."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import logging
import math
import os
import sys
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import typer


# ------------------------------------------------------------------------- bounded float options
def finite(lo: float | None = None, hi: float | None = None) -> Callable[[str], float]:
    """The parser of a float option in ``[lo, hi]`` (Typer's ``parser=``) that names NaN,
    infinity and text as such: Typer's own range check compares first, so ``nan`` read as
    "should be <= 600"."""
    allowed = " and ".join(t for t in (f">= {lo:g}" if lo is not None else "",
                                        f"<= {hi:g}" if hi is not None else "") if t)

    def parse(text: str) -> float:
        try:
            f = float(text)
        except (TypeError, ValueError):
            raise typer.BadParameter(f"{text!r} is not a number; must be {allowed}") from None
        if not math.isfinite(f):
            raise typer.BadParameter(f"{text!r} is not a finite number; must be {allowed}")
        if (lo is not None and f < lo) or (hi is not None and f > hi):
            raise typer.BadParameter(f"{text!r} is out of range; must be {allowed}")
        return f

    return parse


# ---------------------------------------------------------------------------------- KEY=VALUE
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def _number(text: str) -> float:
    try:
        v = float(text.strip())
    except ValueError:
        raise ValueError("must be a number") from None
    if math.isnan(v):
        raise ValueError("must be a number, not NaN")
    return v


def _json_or_text(text: str) -> Any:
    try:
        v = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return text
    if isinstance(v, float) and math.isnan(v):
        raise ValueError("NaN is not a value")
    return v


def coerce(text: str, tp: Any) -> Any:
    """Parse ``text`` as a value of type ``tp`` (ValueError with the reason)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any or tp is None or tp is inspect.Parameter.empty:
        return _json_or_text(text)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and text.strip().lower() in ("none", "null"):
            return None
        errors = []
        for a in (a for a in args if a is not type(None)):
            try:
                return coerce(text, a)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError(" or ".join(dict.fromkeys(errors)))
    if origin is typing.Literal:
        for a in args:
            if text == str(a) or text == json.dumps(a):
                return a
        raise ValueError(f"must be one of {', '.join(map(str, args))}")
    if tp is bool:
        low = text.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError("must be a boolean (true/false, yes/no, 1/0)")
    if tp is int:
        v = _number(text)
        if not math.isfinite(v) or v != math.floor(v):
            raise ValueError("must be an integer")
        return int(v)
    if tp is float:
        return _number(text)
    if tp is str:
        v = _json_or_text(text)
        return v if isinstance(v, str) else text
    want_map = (isinstance(tp, type) and dataclasses.is_dataclass(tp)) or origin in (
        dict, typing.Mapping) or tp is dict or str(origin).endswith("Mapping'>")
    want_seq = origin in (list, tuple) or tp in (list, tuple) or str(origin).endswith(
        "Sequence'>")
    if want_map or want_seq:
        try:
            v = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            raise ValueError("must be JSON, e.g. " + ('{"name": 1.0}' if want_map else
                                                       "[1, 2]")) from None
        if want_map and not isinstance(v, dict):
            raise ValueError('must be a JSON object, e.g. {"name": 1.0}')
        if want_seq and not isinstance(v, list):
            raise ValueError("must be a JSON list, e.g. [1, 2]")
        return v
    return _json_or_text(text)


_SIMPLE_TYPES = {"bool": bool, "int": int, "float": float, "str": str}


def spec_types(kind: Any) -> dict[str, Any]:
    """Field name -> type of the kind's spec (empty when the default spec cannot be made)."""
    try:
        cls = type(kind.make_spec())
    except Exception:  # noqa: BLE001 - a spec that needs parameters: no type information
        return {}
    if not dataclasses.is_dataclass(cls):
        return {}
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - unresolvable annotations: fall back to simple names
        hints = {}
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        tp = hints.get(f.name, f.type)
        if isinstance(tp, str):
            tp = _SIMPLE_TYPES.get(tp.replace(" | None", ""), Any)
        out[f.name] = tp
    return out


def size_types(kind: Any) -> tuple[dict[str, Any], bool]:
    """Size name -> type (from ``make_instance``'s defaults) and whether it takes ``**kw``."""
    try:
        sig = inspect.signature(kind.make_instance)
    except (TypeError, ValueError):
        return {}, True
    params = list(sig.parameters.values())[1:]  # the first one is the seed
    out: dict[str, Any] = {}
    var_kw = False
    for p in params:
        if p.kind is p.VAR_KEYWORD:
            var_kw = True
        elif p.kind is not p.VAR_POSITIONAL:
            d = p.default
            out[p.name] = type(d) if d not in (None, inspect.Parameter.empty) else Any
    return out, var_kw


def parse_pairs(pairs: list[str] | None, option: str, typed: dict[str, Any] | None = None,
                 *, open_ended: bool = True, what: str = "key") -> dict[str, Any]:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}``, each value parsed as the type of its key
    (booleans true/false/yes/no/1/0, integral integers, numbers never from text, JSON for
    tables and lists); keys without a known type are parsed as JSON, else kept as text."""
    out: dict[str, Any] = {}
    typed = typed or {}
    for item in pairs or []:
        if "=" not in item:
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=option)
        k, v = item.split("=", 1)
        k = k.strip()
        if not k.isidentifier():
            raise typer.BadParameter(f"{k!r} is not a valid {what} name", param_hint=option)
        if k in out:
            raise typer.BadParameter(f"{k} given twice", param_hint=option)
        if k not in typed and not open_ended:
            known = ", ".join(sorted(typed)) or "(none)"
            raise typer.BadParameter(f"unknown {what} {k!r}; known: {known}", param_hint=option)
        try:
            out[k] = coerce(v, typed.get(k, Any))
        except ValueError as exc:
            raise typer.BadParameter(f"{k}={v!r}: {exc}", param_hint=option) from None
    return out


# ---------------------------------------------------------------------------------- helpers
@contextlib.contextmanager
def banners_to_stderr() -> Iterator[None]:
    """Send anything written to stdout (Python or C level: solver banners) to stderr."""
    saved = None
    try:
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(2, 1)
    except (OSError, ValueError):
        saved = None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        if saved is not None:
            try:
                import ctypes

                ctypes.CDLL(None).fflush(None)
            except (OSError, AttributeError):
                pass
            os.dup2(saved, 1)
            os.close(saved)


def same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file (through links, ``..`` or a relative path)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except OSError:
        return False


def check_out_file(path: Path | None, hint: str, inputs: tuple[Path | None, ...] = ()) -> None:
    """An output file path that can be written and is none of the command's ``inputs``
    (checked before any work is done: writing over an input would destroy it)."""
    if path is None:
        return
    for src in inputs:
        if src is not None and same_file(path, src):
            raise typer.BadParameter(f"{str(path)!r} is an input of this command "
                                     f"({str(src)!r}); give another file name", param_hint=hint)
    if path.is_dir():
        raise typer.BadParameter(f"{str(path)!r} is a directory; give a file name",
                                 param_hint=hint)
    parent = path.parent
    if not parent.is_dir():
        raise typer.BadParameter(f"directory {str(parent)!r} does not exist", param_hint=hint)
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise typer.BadParameter(f"{str(path)!r} is not writable", param_hint=hint)


def check_in_file(path: Path | None, hint: str) -> None:
    if path is None:
        return
    if not path.exists():
        raise typer.BadParameter(f"file {str(path)!r} not found", param_hint=hint)
    if not path.is_file():
        raise typer.BadParameter(f"{str(path)!r} is not a file", param_hint=hint)
    if not os.access(path, os.R_OK):
        raise typer.BadParameter(f"{str(path)!r} is not readable", param_hint=hint)


def kind_or_fail(problem: str) -> Any:
    from .batch import load_kinds

    kinds, errors = load_kinds()
    if problem not in kinds:
        import difflib

        close = difflib.get_close_matches(problem, list(kinds), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        broken = "".join(f"; {m} failed to import: {e}" for m, e in errors.items())
        raise typer.BadParameter(f"unknown problem {problem!r}; known: "
                                 f"{', '.join(sorted(kinds))}{hint}{broken}",
                                 param_hint="--problem")
    return kinds[problem]


def load_instance(kind: Any, path: Path, hint: str) -> Any:
    from .cases import load_instance_file
    from .errors import ValidationError

    check_in_file(path, hint)
    try:
        return load_instance_file(kind, path)
    except ValidationError as exc:
        raise typer.BadParameter(f"{path}: {exc}" if str(path) not in str(exc) else str(exc),
                                 param_hint=hint) from None


def make_instance(kind: Any, seed: int, size: list[str] | None) -> Any:
    types_, var_kw = size_types(kind)
    sizes = parse_pairs(size, "--size", types_, open_ended=var_kw, what="size")
    try:
        return kind.make_instance(seed, **sizes)
    except Exception as exc:  # noqa: BLE001 - any failure on the user's sizes is bad input
        hint = "--seed" if getattr(exc, "field", None) == "seed" else "--size"
        raise typer.BadParameter(one_line(exc), param_hint=hint) from None


def make_spec(kind: Any, param: list[str] | None) -> Any:
    params = parse_pairs(param, "--param", spec_types(kind), what="parameter")
    try:
        return kind.spec(**params)
    except Exception as exc:  # noqa: BLE001 - any failure on the user's parameters
        raise typer.BadParameter(one_line(exc), param_hint="--param") from None


def one_line(exc: BaseException) -> str:
    from .errors import ValidationError

    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, TypeError | AttributeError | KeyError | IndexError) and not isinstance(
            exc, ValidationError):  # UnknownNameError is a KeyError with its own message
        text = f"{type(exc).__name__}: {text}"
    return " ".join(text.split())


# ---------------------------------------------------------------------------------- exit codes
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_INFEASIBLE = 3
EXIT_LIMIT = 4
EXIT_UNVERIFIED = 5
EXIT_SOLVER_ERROR = 6
EXIT_ENVIRONMENT = 7

#: Exit status -> meaning (also printed by ``aigc-opt --help``).
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success (solve: a verified solution)",
    EXIT_INTERNAL: "internal error (a bug: please report it with AIGC_OPT_DEBUG=1 output)",
    EXIT_USAGE: "bad input: option, value, file or suite (the message names it)",
    EXIT_INFEASIBLE: "solve: infeasible or unbounded, no solution",
    EXIT_LIMIT: "solve: a limit (time, iterations) stopped it without a solution",
    EXIT_UNVERIFIED: "solve: a solution the evaluator rejects (unverified)",
    EXIT_SOLVER_ERROR: "solve: the solver failed (termination 'error')",
    EXIT_ENVIRONMENT: "environment: output locked by another run, scheduler unreachable, "
                      "missing package, I/O failure",
}


class UserError(Exception):
    """An error in what the user asked for (one line, exit status 2)."""


class SolveExit(Exception):
    """A solve that ended without a usable solution (exit status 3-6, one line)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def exit_code_of(exc: BaseException) -> int:
    """The documented exit status for an exception escaping a command."""
    from typer._click import exceptions as click_exc

    from .batch import BatchError
    from .errors import BackendUnavailableError, ValidationError
    from .export import OutputLockedError

    if isinstance(exc, SolveExit):
        return exc.code
    if isinstance(exc, click_exc.ClickException):
        return EXIT_USAGE
    if isinstance(exc, ValidationError | UserError):
        return EXIT_USAGE
    if isinstance(exc, BatchError | OutputLockedError | BackendUnavailableError | OSError):
        return EXIT_ENVIRONMENT
    return EXIT_INTERNAL


# ---------------------------------------------------------------------------------- logging
def version() -> str:
    from importlib import metadata

    try:
        return metadata.version("aigc-opt")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record is emitted (in-process callers and
    test runners swap it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def setup_logging(verbose: int, quiet: bool) -> None:
    """Log records of ``aigc_opt`` to stderr: WARNING by default, INFO with -v, DEBUG with -vv,
    ERROR with -q (which also silences Python warnings)."""
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO,
                                         logging.DEBUG)[min(verbose, 2)]
    root = logging.getLogger("aigc_opt")
    for h in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(h)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("distributed", "tornado", "asyncio"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose >= 2 else logging.ERROR)
    if quiet:
        import warnings

        warnings.simplefilter("ignore")
