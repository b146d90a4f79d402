"""Benchmark suites: TOML files of problem x sizes x seeds x methods, expanded into cases.

See :mod:`aigc_opt.batch` for the file format and the runner; this module parses and validates
suite files, expands them into :class:`Case` objects with stable keys, and loads the registered
case kinds (one problem module at a time, so one broken family cannot stop a run).
"""

from __future__ import annotations

import copy
import importlib
import itertools
import logging
import math
import tomllib
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import UnknownNameError, ValidationError, did_you_mean
from .validate import INT_LIMIT, read_text

logger = logging.getLogger(__name__)

#: Default seconds added to a case's solver time limit to get its wall timeout.
DEFAULT_GRACE = 10.0

_SUITE_KEYS = {"name", "description", "time_limit", "mip_gap", "grace", "timeout", "imports",
               "threads", "reference"}
_CASE_KEYS = {"problem", "sizes", "seeds", "methods", "params", "variant", "time_limit",
              "mip_gap", "grace", "timeout", "threads", "reference", "size_key"}

#: Deepest nesting of arrays and tables a suite file may have (real suites use about 5).
MAX_DEPTH = 32

#: Largest seed: what the generators take (:data:`aigc_opt.validate.INT_LIMIT`); 2**63 - 1
#: here had let a suite declare seeds its cases then refused.
SEED_MAX = INT_LIMIT


class SuiteError(ValidationError):
    """A suite file or name is invalid; the message names the file and the bad key.

    A :class:`~aigc_opt.errors.ValidationError` whose ``field`` is the dotted key
    (``cases[0].methods``) when one is at fault, else ``"suite"``.
    """

    def __init__(self, message: str, field: str = "suite", value: Any = None) -> None:
        self.field = field
        self.unit = "-"
        self.value = value
        self.reason = message
        ValueError.__init__(self, message)

    def __str__(self) -> str:
        return ValueError.__str__(self)


@dataclass(frozen=True)
class Case:
    """One benchmark case: an instance (problem, sizes, seed, spec params) and a method.

    Picklable (plain values only) so that it can be sent to worker processes or Dask.
    """

    suite: str
    problem: str
    variant: str
    params: Mapping[str, Any]
    sizes: Mapping[str, Any]
    seed: int
    method: str
    reference: str | None = None
    time_limit: float | None = None
    mip_gap: float | None = None
    timeout: float | None = None
    threads: int | None = None
    size_key: str | None = None
    imports: tuple[str, ...] = ()

    @property
    def sizes_text(self) -> str:
        """``"k=v,k=v"`` with sorted keys."""
        return ",".join(f"{k}={self.sizes[k]}" for k in sorted(self.sizes))

    @property
    def key(self) -> str:
        """Stable identifier used for resume: ``suite|problem|variant|sizes|seed=K|method``."""
        return "|".join((self.suite, self.problem, self.variant, self.sizes_text,
                         f"seed={self.seed}", self.method))

    @property
    def size(self) -> float:
        """The primary size (``size_key``, default the first declared size), for plots."""
        if not self.sizes:
            return math.nan
        k = self.size_key or next(iter(self.sizes))
        try:
            return float(self.sizes[k])
        except (KeyError, TypeError, ValueError):
            return math.nan


@dataclass(frozen=True)
class Suite:
    """A parsed suite file (see the module docstring for the format)."""

    name: str
    description: str
    path: str
    settings: Mapping[str, Any]
    entries: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)

    def cases(self) -> list[Case]:
        """Expand the grid into cases (see :func:`expand`)."""
        return expand(self)


# ---------------------------------------------------------------------------------- suites
def _suites_dir() -> Any:
    return resources.files("aigc_opt.benchmarks").joinpath("suites")


def suite_names() -> list[str]:
    """Names of the suites shipped with the package."""
    d = _suites_dir()
    try:
        return sorted(p.name[:-5] for p in d.iterdir() if p.name.endswith(".toml"))
    except (FileNotFoundError, NotADirectoryError):
        return []


def load_suite(name_or_path: str | Path) -> Suite:
    """Load a suite by shipped name (``"quick"``) or from a ``.toml`` path.

    Raises
    ------
    SuiteError
        Unknown name, unreadable file, TOML syntax error or an unknown key.
    """
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        if not p.is_file():
            raise SuiteError(f"suite file {str(p)!r} " + ("is a directory, not a file"
                                                         if p.is_dir() else "not found"))
        try:  # non-UTF-8 bytes, a file too large or unreadable: named, with the bad line
            text = read_text(p, "suite file")
        except ValidationError as exc:
            raise SuiteError(str(exc), field="suite", value=str(p)) from None
        return parse_suite(text, source=str(p), default_name=p.stem)
    name = str(name_or_path)
    res = _suites_dir().joinpath(f"{name}.toml")
    if not res.is_file():
        raise SuiteError(f"unknown suite {name!r}; shipped suites: {', '.join(suite_names())} "
                         "(or give a path to a .toml file)")
    return parse_suite(res.read_text(), source=f"aigc_opt.benchmarks/suites/{name}.toml",
                       default_name=name)


def _bad(source: str, where: str, value: Any, reason: str) -> SuiteError:
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return SuiteError(f"{source}: {where} = {shown}: {reason}", field=where, value=value)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _check_number(source: str, where: str, v: Any, *, positive: bool, hi: float) -> None:
    if not _is_num(v) or not math.isfinite(v) or v < 0 or (positive and v == 0) or v > hi:
        need = "a finite number > 0" if positive else "a finite number >= 0"
        raise _bad(source, where, v, f"must be {need} and <= {hi:g}")


def _check_str_list(source: str, where: str, v: Any, what: str, example: str) -> None:
    if isinstance(v, str):
        raise _bad(source, where, v, f"must be a list of {what}, e.g. {example}")
    if not isinstance(v, list) or not v or not all(isinstance(x, str) and x for x in v):
        raise _bad(source, where, v, f"must be a non-empty list of {what}, e.g. {example}")


def _check_scalar(source: str, where: str, v: Any) -> None:
    """A size value: an integer, a finite float, a string or a boolean."""
    if isinstance(v, float) and not math.isfinite(v):
        raise _bad(source, where, v, "must be finite")
    if not isinstance(v, int | float | str | bool):
        raise _bad(source, where, v, "must be a number, string or boolean")


def _check_params(source: str, where: str, v: Any) -> None:
    tables = v if isinstance(v, list) else [v]
    if not tables or not all(isinstance(t, dict) for t in tables):
        raise _bad(source, where, v, "must be a table or a list of tables of spec parameters")

    def walk(path: str, x: Any) -> None:
        if isinstance(x, float) and math.isnan(x):
            raise _bad(source, path, x, "NaN is not a parameter value")
        if isinstance(x, dict):
            for k, y in x.items():
                walk(f"{path}.{k}", y)
        elif isinstance(x, list):
            for j, y in enumerate(x):
                walk(f"{path}[{j}]", y)

    for j, t in enumerate(tables):
        walk(f"{where}[{j}]" if isinstance(v, list) else where, t)


def _check_sizes(source: str, where: str, v: Any) -> None:
    if isinstance(v, dict):
        for k, vals in v.items():
            vals_list = vals if isinstance(vals, list) else [vals]
            if not vals_list:
                raise _bad(source, f"{where}.{k}", vals, "an empty list gives no cases")
            for x in vals_list:
                _check_scalar(source, f"{where}.{k}", x)
    elif isinstance(v, list) and v and all(isinstance(t, dict) for t in v):
        for j, t in enumerate(v):
            for k, x in t.items():
                _check_scalar(source, f"{where}[{j}].{k}", x)
    else:
        raise _bad(source, where, v, "must be a table of lists (a grid, sizes = {n_users = "
                                     "[10, 20]}) or a non-empty list of tables")


def _check_depth(source: str, data: Any) -> None:
    """SuiteError naming the key under which arrays or tables nest deeper than
    :data:`MAX_DEPTH` (the checks and the runner walk them recursively)."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        x, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise SuiteError(f"{source}: {where or 'suite'}: arrays or tables nested too deeply "
                             f"(more than {MAX_DEPTH} levels)", field=where or "suite")
        items = x.items() if isinstance(x, dict) else enumerate(x) if isinstance(x, list) else ()
        for k, y in items:
            if isinstance(y, dict | list):
                sub = where if depth >= 3 else (
                    f"{where}[{k}]" if isinstance(x, list) else f"{where}.{k}".lstrip("."))
                stack.append((y, sub, depth + 1))


def _check_imports(source: str, imports: Any) -> None:
    if not isinstance(imports, list) or not all(isinstance(m, str) and m for m in imports):
        raise _bad(source, "suite.imports", imports, "must be a list of module names")
    for j, m in enumerate(imports):
        if not _is_module_name(m):
            raise _bad(source, f"suite.imports[{j}]", m, "must be an absolute module name "
                       "(dotted identifiers such as 'mypkg.cases'; relative names are refused)")


def _is_module_name(name: str) -> bool:
    return all(part.isidentifier() for part in name.split("."))


def _check_size_key(source: str, where: str, e: Mapping[str, Any]) -> None:
    """``size_key`` must name a numeric size of every size combination of the entry."""
    key, sizes = e["size_key"], e.get("sizes")
    tables = [sizes] if isinstance(sizes, dict) else sizes if isinstance(sizes, list) else []
    if not tables:
        raise _bad(source, f"{where}.size_key", key, "names no size of the case: the entry has "
                   "no sizes")
    for j, t in enumerate(tables):
        at = f"{where}.sizes" + (f"[{j}]" if isinstance(sizes, list) else "")
        if key not in t:
            raise _bad(source, f"{where}.size_key", key, f"names no size of the case; known "
                       f"sizes ({at}): {', '.join(sorted(map(str, t))) or '(none)'}")
        vals = t[key] if isinstance(t[key], list) else [t[key]]
        if not all(_is_num(v) for v in vals):
            raise _bad(source, f"{where}.size_key", key, f"names a size whose values in {at} "
                       f"are not all numbers ({t[key]!r}); the primary size is a plot axis")


def _check_common(source: str, prefix: str, t: Mapping[str, Any]) -> None:
    """Keys that both [suite] and [[cases]] take."""
    # the bounds of SolveOptions (time_limit 1e9 s, mip_gap 1, threads 4096); a timeout or
    # grace beyond 1e9 s overflows the executors' waits
    for key, positive, hi in (("time_limit", True, 1e9), ("timeout", True, 1e9),
                              ("mip_gap", False, 1.0), ("grace", False, 1e9)):
        if key in t:
            _check_number(source, f"{prefix}.{key}", t[key], positive=positive, hi=hi)
    if "threads" in t and (not isinstance(t["threads"], int) or isinstance(t["threads"], bool)
                           or not 1 <= t["threads"] <= 4096):
        raise _bad(source, f"{prefix}.threads", t["threads"], "must be an integer in 1..4096")
    for key in ("reference", "name", "description", "variant", "size_key", "problem"):
        if key in t and (not isinstance(t[key], str) or (key != "description" and not t[key])):
            raise _bad(source, f"{prefix}.{key}", t[key], "must be a non-empty string")


def parse_suite(text: str, *, source: str = "<string>", default_name: str = "suite") -> Suite:
    """Parse suite TOML text, validating every key's type and value.

    Raises
    ------
    SuiteError
        Invalid TOML, an unknown key, or a value of the wrong type or range (NaN, a string
        where a list belongs, ``threads = 'many'``, ...); the message names ``source`` and the
        key (``cases[2].methods``).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(f"{source}: invalid TOML: {exc}") from None
    except RecursionError:  # tomllib recurses once per level of nested arrays / inline tables
        raise SuiteError(f"{source}: invalid TOML: arrays or inline tables nested too deeply "
                         f"(more than {MAX_DEPTH} levels)") from None
    _check_depth(source, data)
    unknown = set(data) - {"suite", "cases"}
    if unknown:
        raise SuiteError(f"{source}: unknown top-level key {sorted(unknown)[0]!r} "
                         "(expected [suite] and [[cases]])", field=sorted(unknown)[0])
    settings = data.get("suite", {})
    if not isinstance(settings, dict):
        raise _bad(source, "suite", settings, "must be a table ([suite])")
    settings = dict(settings)
    bad = set(settings) - _SUITE_KEYS
    if bad:
        raise SuiteError(f"{source}: unknown key suite.{sorted(bad)[0]} "
                         f"(known: {', '.join(sorted(_SUITE_KEYS))})",
                         field=f"suite.{sorted(bad)[0]}")
    _check_common(source, "suite", settings)
    if "imports" in settings:
        _check_imports(source, settings["imports"])
    entries = data.get("cases", [])
    if not isinstance(entries, list) or not entries:
        raise SuiteError(f"{source}: needs at least one [[cases]] entry", field="cases")
    for i, e in enumerate(entries):
        where = f"cases[{i}]"
        if not isinstance(e, dict):
            raise _bad(source, where, e, "must be a table ([[cases]])")
        bad = set(e) - _CASE_KEYS
        if bad:
            raise SuiteError(f"{source}: unknown key {where}.{sorted(bad)[0]} "
                             f"(known: {', '.join(sorted(_CASE_KEYS))})",
                             field=f"{where}.{sorted(bad)[0]}")
        if "problem" not in e:
            raise SuiteError(f"{source}: {where} needs a 'problem' (a registered case kind)",
                             field=f"{where}.problem")
        _check_common(source, where, e)
        if "methods" in e:
            _check_str_list(source, f"{where}.methods", e["methods"], "method names",
                            'methods = ["highs"]')
        if "seeds" in e:
            seeds = e["seeds"]
            if not isinstance(seeds, list) or not seeds or not all(
                    isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= SEED_MAX
                    for x in seeds):
                raise _bad(source, f"{where}.seeds", seeds, "must be a non-empty list of "
                           "integers in [0, 2**62], e.g. seeds = [0, 1]")
        if "sizes" in e:
            _check_sizes(source, f"{where}.sizes", e["sizes"])
        if "size_key" in e:
            _check_size_key(source, where, e)
        if "params" in e:
            _check_params(source, f"{where}.params", e["params"])
    return Suite(
        name=str(settings.get("name", default_name)),
        description=str(settings.get("description", "")),
        path=source,
        settings=settings,
        entries=tuple(entries),
    )


def _size_grid(sizes: Any, where: str) -> list[dict[str, Any]]:
    if sizes is None:
        return [{}]
    if isinstance(sizes, dict):
        keys = list(sizes)
        vals = [v if isinstance(v, list) else [v] for v in sizes.values()]
        return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*vals)]
    if isinstance(sizes, list) and all(isinstance(s, dict) for s in sizes):
        return [dict(s) for s in sizes]
    raise SuiteError(f"{where}.sizes must be a table of lists (a grid) or a list of tables")


def _label(params: Mapping[str, Any]) -> str:
    if not params:
        return "default"

    def flat(prefix: str, v: Any) -> Iterator[str]:
        if isinstance(v, Mapping):
            for k in sorted(v):
                yield from flat(f"{prefix}.{k}" if prefix else str(k), v[k])
        else:
            yield f"{prefix}={v}"

    return ",".join(flat("", params))


def expand(suite: Suite, *, check: bool = True) -> list[Case]:
    """All cases of ``suite`` in file order (entries x params x sizes x seeds x methods).

    Parameters
    ----------
    check : bool
        Check problem names against :func:`aigc_opt.cases.case_kinds` (after importing
        ``suite.imports``) and take default methods / reference from the case kind.
    """
    s = suite.settings
    imports = tuple(s.get("imports", ()))
    kinds: dict[str, Any] = {}
    errors: dict[str, str] = {}
    if check:
        for mod in imports:
            _import(mod, suite.path)
        kinds, errors = load_kinds()
    named = {str(e["problem"]) for e in suite.entries}
    entries: list[tuple[int, Mapping[str, Any]]] = []
    for i, e in enumerate(suite.entries):
        if e["problem"] != "*":
            entries.append((i, e))
            continue
        bad = set(e) & {"sizes", "params", "methods", "variant", "reference", "size_key"}
        if bad:
            raise SuiteError(f"{suite.path}: cases[{i}].{sorted(bad)[0]}: not allowed with "
                             "problem = '*' (each kind runs its default sizes and methods)")
        entries += [(i, {**e, "problem": k}) for k in sorted(kinds) if k not in named]
    cases: list[Case] = []
    for i, e in entries:
        where = f"{suite.path}: cases[{i}]"
        problem = str(e["problem"])
        kind = kinds.get(problem)
        if check and kind is None:
            broken = "".join(f"; {m} failed to import: {e}" for m, e in errors.items())
            raise SuiteError(f"{where}.problem = {problem!r}: unknown problem; known: "
                             f"{', '.join(sorted(kinds))}{broken}")
        methods = e.get("methods") or (list(kind.default_methods) if kind else [])
        if not methods:
            raise SuiteError(f"{where}: no methods given and the case kind has no defaults")
        reference = e.get("reference", s.get("reference", kind.reference if kind else None))
        if check and reference is not None and ("reference" in e or "reference" in s) \
                and reference not in methods:  # every ratio would be '-', with no word on why
            raise SuiteError(f"{where}.reference = {reference!r}: not one of the case's methods "
                             f"({', '.join(map(str, methods))})"
                             f"{did_you_mean(str(reference), methods)}")
        seeds = e.get("seeds", [0])
        if not isinstance(seeds, list) or not all(isinstance(x, int) for x in seeds):
            raise SuiteError(f"{where}.seeds must be a list of integers")
        plist = e.get("params", {})
        plist = plist if isinstance(plist, list) else [plist]
        time_limit = e.get("time_limit", s.get("time_limit"))
        grace = float(e.get("grace", s.get("grace", DEFAULT_GRACE)))
        timeout = e.get("timeout", s.get("timeout"))
        if timeout is None and time_limit is not None:
            timeout = float(time_limit) + grace
        for params in plist:
            variant = str(e["variant"]) if "variant" in e and len(plist) == 1 else _label(params)
            for sizes in _size_grid(e.get("sizes"), where):
                for seed in seeds:
                    for method in methods:
                        cases.append(Case(
                            suite=suite.name, problem=problem, variant=variant,
                            params=copy.deepcopy(params), sizes=sizes, seed=int(seed),
                            method=str(method), reference=reference,
                            time_limit=None if time_limit is None else float(time_limit),
                            mip_gap=e.get("mip_gap", s.get("mip_gap")),
                            timeout=None if timeout is None else float(timeout),
                            threads=e.get("threads", s.get("threads")),
                            size_key=e.get("size_key"), imports=imports,
                        ))
    keys = [c.key for c in cases]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise SuiteError(f"{suite.path}: duplicate case {dup!r} (give entries distinct 'variant')")
    return cases


# ---------------------------------------------------------------------------------- case kinds
def load_kinds() -> tuple[dict[str, Any], dict[str, str]]:
    """Registered case kinds after importing every problem module, tolerating broken modules.

    Unlike :func:`aigc_opt.cases.case_kinds`, a problem module that fails to import does not
    stop the others from registering: it is logged and returned in the second mapping
    (module name -> error text), so one broken family cannot take a whole benchmark run down.
    """
    from . import cases as _cases
    from .families import load_families

    errors = load_families(strict=False)
    return dict(_cases._CASES), errors


def get_kind(name: str) -> Any:
    """The case kind ``name`` (KeyError naming the known kinds and any broken module)."""
    kinds, errors = load_kinds()
    if name not in kinds:
        broken = "".join(f"; {m} failed to import: {e}" for m, e in errors.items())
        raise UnknownNameError("problem", name, kinds, broken)
    return kinds[name]


# ---------------------------------------------------------------------------------- one case
def _import(module: str, source: str = "") -> None:
    """Import a ``suite.imports`` module; SuiteError naming it (and the suite file) when the
    name is not an absolute module name or the import raises anything."""
    where = f"{source}: suite.imports = {module!r}" if source else f"suite module {module!r}"
    if not isinstance(module, str) or not module or not _is_module_name(module):
        raise SuiteError(f"{where}: not an absolute module name (dotted identifiers such as "
                         "'mypkg.cases')", field="suite.imports", value=module)
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise SuiteError(f"{where}: cannot import: {' '.join(str(exc).split())}",
                         field="suite.imports", value=module) from exc
    except (Exception, SystemExit) as exc:  # the user module's own code failed
        text = " ".join(_error_text(exc).split())  # one line, whatever the message holds
        raise SuiteError(f"{where}: importing it raised {text}",
                         field="suite.imports", value=module) from exc


def _error_text(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(tb[-1].filename).name}:{tb[-1].lineno} in {tb[-1].name})" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"
