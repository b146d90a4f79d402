"""Helpers of the ``aigc-opt`` command line (see :mod:`aigc_opt.cli`): the documented exit codes
(:data:`EXIT_CODES`, :func:`exit_code_of`), typed ``KEY=VALUE`` options, path checks made before
any work, problem / instance / spec construction whose failures name the option (with the
closest known name, and limits said as options the user can pass), the problem an instance
file declares, what ``solve`` and ``dataset check`` print, logging to stderr and solver banners
kept off stdout."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import logging
import math
import os
import re
import sys
import types
import typing
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import typer

from .cli_paths import check_in_file, check_out_file, same_file, writing_out  # noqa: F401
from .errors import ValidationError, did_you_mean


# ------------------------------------------------------------------------- bounded float options
def finite(lo: float | None = None, hi: float | None = None, *,
           gt: float | None = None) -> Callable[[str], float]:
    """The parser of a float option in ``[lo, hi]`` (and ``> gt`` when given; Typer's
    ``parser=``) that names NaN, infinity and text as such: Typer's own range check compares
    first, so ``nan`` read as "should be <= 600"."""
    allowed = " and ".join(t for t in (f">= {lo:g}" if lo is not None else "",
                                        f"> {gt:g}" if gt is not None else "",
                                        f"<= {hi:g}" if hi is not None else "") if t)

    def parse(text: str) -> float:
        try:
            f = float(text)
        except (TypeError, ValueError):
            raise typer.BadParameter(f"{text!r} is not a number; must be {allowed}") from None
        if not math.isfinite(f):
            raise typer.BadParameter(f"{text!r} is not a finite number; must be {allowed}")
        if (lo is not None and f < lo) or (hi is not None and f > hi) or \
                (gt is not None and f <= gt):
            raise typer.BadParameter(f"{text!r} is out of range; must be {allowed}")
        return f

    return parse


# ---------------------------------------------------------------------------------- KEY=VALUE
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def _number(text: str) -> float:
    try:
        if "_" in text:  # float() reads Python's '1_0' as 10
            raise ValueError
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
    params = kind.size_parameters()
    if params is None:
        return {}, True
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
            raise typer.BadParameter(f"unknown {what} {k!r}; known: {known}"
                                     f"{did_you_mean(k, typed)}", param_hint=option)
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


def kind_or_fail(problem: str) -> Any:
    from .batch import load_kinds

    kinds, errors = load_kinds()
    if problem not in kinds:
        broken = "".join(f"; {m} failed to import: {e}" for m, e in errors.items())
        raise typer.BadParameter(f"unknown problem {problem!r}; known: "
                                 f"{', '.join(sorted(kinds))}{did_you_mean(problem, kinds)}"
                                 f"{broken}", param_hint="--problem")
    return kinds[problem]


def check_method(method: str, known: list[str], problem: str) -> None:
    """An unknown ``--method`` (a backend, algorithm or heuristic name) is refused with the
    known ones and the closest (:func:`did_you_mean`)."""
    if method not in known:
        raise typer.BadParameter(f"unknown method {method!r} for {problem}; known: "
                                 f"{', '.join(known)}{did_you_mean(method, known)}",
                                 param_hint="--method")


def solve_options(time_limit: float | None, mip_gap: float | None, threads: int | None
                  ) -> Any:
    """:class:`~aigc_opt.backend.SolveOptions` of ``solve``'s options; a value SolveOptions
    refuses is a usage error naming the option (it said ``mip_gap [-] = 2.0`` for
    ``--mip-gap 2``)."""
    from .backend import SolveOptions
    from .errors import ValidationError

    try:
        return SolveOptions(time_limit=time_limit, mip_gap=mip_gap, threads=threads)
    except ValidationError as exc:
        raise typer.BadParameter(f"{exc.value}: {exc.reason}",
                                 param_hint="--" + exc.field.replace("_", "-")) from None


#: The problem of ``solve`` when neither ``--problem`` nor the instance file names one.
DEFAULT_PROBLEM = "offloading.assignment"


def declared_type(path: Path) -> str | None:
    """The ``"module:Qualname"`` an instance JSON of ``aigc-opt instance`` declares, or None
    (another format, or a file that does not read: its loader reports why)."""
    from .cases import INSTANCE_TAG
    from .validate import read_text

    if path.suffix.lower() != ".json" or not path.is_file():
        return None
    try:  # read_text, as the loader: a byte-order mark had hidden the type (wrong problem)
        data = json.loads(read_text(path, "instance file"))
    except (ValidationError, ValueError, RecursionError):
        return None
    tp = data.get("type") if isinstance(data, dict) and INSTANCE_TAG in data else None
    return tp if isinstance(tp, str) else None


def problems_of_type(type_name: str) -> list[str]:
    """The registered problems whose instances have the type ``"module:Qualname"``."""
    from .batch import load_kinds
    from .cases import instance_type

    out = []
    for name, kind in sorted(load_kinds()[0].items()):
        try:
            tp = instance_type(kind)
        except Exception:  # noqa: BLE001 - a kind whose default instance fails: not this one
            continue
        if f"{tp.__module__}:{tp.__qualname__}" == type_name:
            out.append(name)
    return out


def _pass_problem(names: list[str]) -> str:
    return " or ".join(f"--problem {n}" for n in names)


def resolve_problem(problem: str | None, path: Path | None) -> tuple[str, Any]:
    """``(name, kind)`` of ``solve``'s problem: ``--problem`` when given, else the one problem
    whose instances have the type an instance JSON declares, else :data:`DEFAULT_PROBLEM`
    (a type that several problems read is refused, naming the ``--problem`` values). Taking
    the default for an INSTANCE file that names no problem (a Scenario, which several problems
    read) is said on stdout: a steps instance had been solved as offloading without a word."""
    if problem is None and path is not None:
        tp = declared_type(path)
        names = problems_of_type(tp) if tp is not None else []
        if len(names) > 1:
            raise typer.BadParameter(f"{path} holds a {str(tp).rpartition(':')[2]}, which "
                                     f"several problems read: pass {_pass_problem(names)}",
                                     param_hint="--problem")
        from .batch import load_kinds

        suffix = path.suffix.lower()
        readers = [] if names or suffix == ".json" else sorted(
            n for n, k in load_kinds()[0].items() if suffix in k.instance_suffixes)
        if names:
            problem = names[0]
        elif len(readers) == 1:  # 'solve data_10.mat' had tried offloading's Scenario reader
            problem = readers[0]
            typer.echo(f"note: solving {problem}, the one problem that reads {suffix} files "
                       "(pass --problem for another)")
        elif readers:
            raise typer.BadParameter(f"{path}: several problems read {suffix} files: pass "
                                     f"{_pass_problem(readers)}", param_hint="--problem")
        else:
            typer.echo(f"note: {path} does not name its problem; solving {DEFAULT_PROBLEM} "
                       "(pass --problem for another)")
    problem = problem or DEFAULT_PROBLEM
    return problem, kind_or_fail(problem)


def load_instance(kind: Any, path: Path, hint: str) -> Any:
    from .cases import load_instance_file
    from .errors import ValidationError

    check_in_file(path, hint)
    try:
        return load_instance_file(kind, path)
    except ValidationError as exc:
        msg = f"{path}: {exc}" if str(path) not in str(exc) else str(exc)
        tp = declared_type(path)
        names = problems_of_type(tp) if tp else []
        if names and kind.name not in names:  # an instance of another problem
            msg += f" (pass {_pass_problem(names)})"
        raise typer.BadParameter(msg, param_hint=hint) from None


_RAISE_HINT = re.compile(r"; pass (\w+)=\.\.\. to raise (the limit|it)")


class GeneratorError(RuntimeError):
    """A case kind's instance generator raised something other than a refusal of its
    arguments: a bug in that generator (exit status 1, internal error), not bad ``--size``."""


def make_instance(kind: Any, seed: int, size: list[str] | None) -> Any:
    """``kind``'s instance for ``--seed`` and ``--size``: a ValidationError on given sizes (or
    on the seed) is a bad option (exit 2); any other failure, or one on the generator's own
    defaults, is a :class:`GeneratorError` naming the kind (it read "Invalid value for --size"
    with no --size given)."""
    from .errors import ValidationError

    types_, var_kw = size_types(kind)
    sizes = parse_pairs(size, "--size", types_, open_ended=var_kw, what="size")
    try:
        return kind.instance(seed, **sizes)
    except Exception as exc:  # noqa: BLE001 - sorted below: the user's sizes or a bug
        field = getattr(exc, "field", None)
        if isinstance(exc, ValidationError) and (sizes or field == "seed"):
            hint = "--seed" if field == "seed" else "--size"
            raise typer.BadParameter(_cli_limit_hint(one_line(exc), kind, types_, var_kw),
                                     param_hint=hint) from None
        if exit_code_of(exc) != EXIT_INTERNAL:  # a missing package, an unreadable file
            raise
        text = " ".join(str(exc).split())
        raise GeneratorError(f"problem {kind.name}: its instance generator failed: "
                             f"{type(exc).__name__}: {text}") from exc


def with_weights(inst: Any, text: str) -> Any:
    """``inst`` with its ``weights`` field (per-user rate weights, -) set from ``--weights``
    (comma-separated numbers), validated by the instance type; a bad option (exit 2) for
    an instance without weights, unparseable text or values the type refuses."""
    import dataclasses

    from .errors import ValidationError

    if not dataclasses.is_dataclass(inst) or "weights" not in {
            f.name for f in dataclasses.fields(inst)}:
        raise typer.BadParameter(f"a {type(inst).__name__} has no per-user weights",
                                 param_hint="--weights")
    try:
        w = [_number(v) for v in text.split(",")]
    except ValueError:
        raise typer.BadParameter(f"{text!r}: use comma-separated numbers",
                                 param_hint="--weights") from None
    try:
        return dataclasses.replace(inst, weights=w)  # type: ignore[type-var]
    except ValidationError as exc:
        raise typer.BadParameter(one_line(exc), param_hint="--weights") from None


def _cli_limit_hint(message: str, kind: Any, sizes: dict[str, Any], var_kw: bool) -> str:
    """A generator's "pass max_entries=... to raise the limit" said as the command line user
    can follow it: ``--size max_entries=...`` when the problem's generator takes that size,
    else how to get past the limit (smaller sizes, or an instance file written from Python)."""
    def say(m: re.Match[str]) -> str:
        arg = m.group(1)
        if arg in sizes or var_kw:
            return f"; pass --size {arg}=... to raise {m.group(2)}"
        from .cases import instance_type

        save = (f"Scenario.generate(..., {arg}=...).save('s.npz')"
                if instance_type(kind).__name__ == "Scenario" else
                "aigc_opt.cases.save_instance_json(instance, 'i.json')")
        return (f" ({arg} is not a --size of {kind.name}: use smaller sizes, or generate the "
                f"instance in Python with {arg}=..., save it ({save}) and pass that file as "
                "INSTANCE)")

    return _RAISE_HINT.sub(say, message)


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


# ---------------------------------------------------------------------------------- output
def solve_report(res: Any, metrics: Any, problem: str, method: str) -> str:
    """What ``solve`` prints on stdout: the result table, the metrics table (when there are
    metrics), the solver's message and, for an infeasible outcome, its explanation."""
    from .export import format_table, metrics_columns

    row: dict[str, Any] = {
        "problem": problem, "method": method, "termination": str(res.termination),
        "objective": res.objective, "bound": res.bound, "gap": res.gap,
        "build_s": res.stats.build_seconds, "solve_s": res.stats.solve_seconds,
    }
    parts = [format_table([row], list(row))]
    if metrics is not None:
        cols = metrics_columns(metrics)
        extra = json.loads(cols.pop("metrics_extra", "{}"))
        cols.pop("series", None)
        cols.update(extra)
        parts.append(format_table([{"metric": k, "value": v} for k, v in cols.items()],
                                  ["metric", "value"]))
    if res.message:
        parts.append(f"message: {' '.join(str(res.message).split())}")
    parts += explanation_lines(getattr(res, "explanation", None))
    return "\n".join(parts)


def explanation_lines(expl: Any, conflicts: int = 3, labels: int = 6) -> list[str]:
    """A short block for a :class:`aigc_opt.explain.Explanation` (none for None): a header,
    then the first ``conflicts`` conflicts, each with its constraint groups and first
    ``labels`` named constraints; for a referee's report (``method="violations"``), the first
    ``labels`` violated constraints, one a line. The whole of it is ``Result.explanation``."""
    if expl is None:
        return []
    found: Sequence[Any] = tuple(getattr(expl, "conflicts", ()))
    note = " ".join(str(getattr(expl, "message", "") or "").split())
    if getattr(expl, "method", "") == "violations":
        lines = [f"explanation: {len(found)} violated constraint(s)"]
        lines += [f"  {lab}" for c in found[:labels] for lab in c.labels]
        return lines + ([f"  ... {len(found) - labels} more"] if len(found) > labels else [])
    complete = getattr(expl, "complete", False) and found
    lines = [f"explanation: {len(found)} conflict(s), each a set of constraints that cannot "
             "hold together" + ("; relaxing every constraint named makes it feasible"
                                if complete else "") + (f"; {note}" if note else "")]
    for i, c in enumerate(found[:conflicts]):
        names = tuple(c.labels)
        shown = "; ".join(names[:labels]) or "column bounds / integrality"
        more = f"; ... {len(names) - labels} more" if len(names) > labels else ""
        groups = f" in {', '.join(c.groups)}" if c.groups else ""
        lines.append(f"  conflict {i + 1} ({len(names)} constraint(s){groups}): {shown}{more}")
    if len(found) > conflicts:
        lines.append(f"  ... {len(found) - conflicts} more conflicts")
    return lines


def label_notes(stated: Any, stated_time: Any) -> list[str]:
    """Lines for ``dataset check`` naming the stated values a label file lacks (all NaN),
    which were therefore not checked (only the labelled modes were)."""
    import numpy as np

    notes = []
    if not np.isfinite(np.asarray(stated, dtype=float)).any():
        notes.append("stated objectives (output_obj): not in file, not checked; only the "
                     "labelled modes were")
    if not np.isfinite(np.asarray(stated_time, dtype=float)).any():
        notes.append("stated allocations (output_a, output_tau): not in file, not checked")
    return notes


#: Columns ``aigc-opt summary`` needs (its counts, times and ratios).
SUMMARY_NEEDS: tuple[str, ...] = ("problem", "method", "reference", "status", "termination",
                                  "has_solution", "feasible", "objective", "solve_seconds")


def require_columns(path: Path, columns: Sequence[str], what: str) -> None:
    """ValidationError (exit status 2) naming the ``columns`` that ``what`` needs and the
    results CSV ``path`` lacks (as :func:`aigc_opt.results.require_columns` does for the
    report); a file without a whole header line (no rows) passes. Call it after the file was
    read (strictly) once."""
    from .errors import ValidationError
    from .export import read_header

    header = read_header(path)
    missing = [c for c in columns if header is not None and c not in header]
    if missing:
        raise ValidationError("columns", "-", missing, f"{what} needs the column(s) "
                              f"{', '.join(missing)}, missing from the results {path}")


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


def check_patterns(keys: Sequence[str], **filters: Sequence[str]) -> None:
    """Refuse a case filter (``only=[...]``, ``exclude=[...]``: the ``--only`` / ``--exclude``
    texts) that matches no case key, since a typo would keep or drop cases silently; the
    error names the closest key part (``--only higs``: "did you mean 'highs'?")."""
    parts = {part for k in keys for part in re.split(r"[|,]", k)}
    parts |= {word for p in parts for word in re.split(r"[=._]", p)}  # 'greedy' of 'greedy_x'
    parts.discard("")
    for option, patterns in filters.items():
        for p in patterns:
            if not any(p in k for k in keys):
                raise typer.BadParameter(f"{p!r} matches no case of the suite"
                                         f"{did_you_mean(p, sorted(parts))}",
                                         param_hint=f"--{option}")
