"""Registry of benchmark case kinds: how to make an instance and a spec for a problem variant.

Each problem module registers its variants at import with :func:`register_case`::

    register_case(CaseKind(
        name="offloading.assignment",
        make_instance=lambda seed, n_users=20, n_servers=3, n_models=4: Scenario.generate(
            n_users, n_servers, n_models, seed=seed),
        make_spec=lambda **params: OffloadingSpec(**params),
        default_methods=("highs", "greedy_latency"),
    ))

The batch runner (``aigc_opt.batch``) builds a case from a suite row as
``instance = kind.make_instance(seed, **sizes)``, ``spec = kind.make_spec(**spec_params)`` and
then runs :func:`aigc_opt.solve.run_method` and :func:`aigc_opt.evaluate`.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import UnknownNameError, ValidationError
from .families import load_families
from .scenario import Scenario
from .validate import first_leaf, load_json, writing


@dataclass(frozen=True)
class CaseKind:
    """How to instantiate one problem variant for benchmarks.

    Parameters
    ----------
    name : str
        ``"family.variant"``, unique.
    make_instance : callable
        ``(seed: int, **sizes) -> instance`` (a Scenario or the family's instance type).
    make_spec : callable
        ``(**params) -> spec``.
    default_methods : tuple of str
        Methods to run when a suite names none (algorithms, heuristics, backends).
    reference : str or None
        The exact method whose objective the others are compared with (ratio to optimum).
    description : str
        One line for ``aigc-opt list``.
    load_instance : callable, optional
        ``(path) -> instance``: reads the family's own instance file format (e.g. channel gains
        from ``.mat``/``.npy``/``.csv``, a request trace CSV) for ``aigc-opt solve FILE``.
        Files ending in ``.json`` are always read by :func:`load_instance_file` (scenario JSON
        or the generic instance JSON of :func:`save_instance_json`).
    instance_format : str
        What ``load_instance`` reads, for messages and help (``"channel gains"``).
    instance_suffixes : tuple of str
        File suffixes ``load_instance`` takes (lower case, with the dot).
    sense : {"min", "max"} or callable
        Whether the reported objective is minimised or maximised, or ``(spec) -> sense`` when
        it depends on the spec; the batch runner writes it in each row's ``sense`` cell.
    warm_up : callable, optional
        ``() -> Any``, run once by each batch worker process before its first case of a
        suite holding this kind: compiles (or loads from numba's cache) what the kind's
        methods JIT-compile, so that a one-time compile (5-25 s on a loaded machine) is not
        charged to a case's wall timeout. Its failure is logged, never fatal.
    """

    name: str
    make_instance: Callable[..., Any]
    make_spec: Callable[..., Any]
    default_methods: tuple[str, ...] = ()
    reference: str | None = None
    description: str = ""
    load_instance: Callable[[Path], Any] | None = None
    instance_format: str = ""
    instance_suffixes: tuple[str, ...] = ()
    sense: str | Callable[[Any], str] = "min"
    warm_up: Callable[[], Any] | None = None

    def spec(self, **params: Any) -> Any:
        """``make_spec(**params)``, with an unknown parameter name reported as an
        :class:`~aigc_opt.errors.UnknownNameError` listing the known ones (the spec's fields
        and ``make_spec``'s own keywords) instead of Python's ``unexpected keyword`` TypeError.
        """
        known = spec_parameters(self)
        unknown = sorted(set(params) - known) if known else []
        if unknown:
            raise UnknownNameError(f"parameter of {self.name}", unknown[0], known)
        return self.make_spec(**params)

    def instance(self, seed: int, /, **sizes: Any) -> Any:
        """``make_instance(seed, **sizes)``, with an unknown size name (Python's ``unexpected
        keyword argument`` TypeError from the generator it is passed on to) reported as an
        :class:`~aigc_opt.errors.ValidationError` naming the kind, the size and the
        generator's own message (the batch row and the command line said only TypeError).
        ``seed`` is positional: ``instance(0, seed=3)`` is refused by name (it was Python's
        raw 'got multiple values for argument' TypeError)."""
        if "seed" in sizes:
            raise UnknownNameError(f"size of {self.name}", "seed", self.size_names(),
                                   " (the seed is instance()'s first argument, not a size)")
        try:
            return self.make_instance(seed, **sizes)
        except TypeError as exc:
            m = _UNEXPECTED.search(str(exc))
            if m is None or m.group(1) not in sizes:
                raise
            raise UnknownNameError(f"size of {self.name}", m.group(1), self.size_names(),
                                   f" (the generator says: {exc})") from None
        except UnknownNameError as exc:  # a generator taking **kw named only its own keys
            if not (isinstance(exc.value, str) and exc.value in sizes) or \
                    exc.value in self.size_names():
                raise
            raise UnknownNameError(f"size of {self.name}", exc.value,
                                   self.size_names() | set(exc.known),
                                   f" (the generator says: {exc})") from None

    def size_parameters(self) -> list[inspect.Parameter] | None:
        """The parameters of ``make_instance`` after the seed (its sizes, and ``**kw`` when it
        takes any); None when its signature cannot be read."""
        try:
            return list(inspect.signature(self.make_instance).parameters.values())[1:]
        except (TypeError, ValueError):
            return None

    def size_names(self) -> set[str]:
        """The named sizes of ``make_instance`` (:meth:`size_parameters` without ``*``/``**``)."""
        return {p.name for p in self.size_parameters() or []
                if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}

    def sense_of(self, spec: Any) -> str:
        """``"min"`` or ``"max"`` for ``spec`` (see ``sense``)."""
        s = self.sense(spec) if callable(self.sense) else self.sense
        if s not in ("min", "max"):
            raise ValueError(f"case {self.name}: sense {s!r} is not 'min' or 'max'")
        return str(s)


_CASES: dict[str, CaseKind] = {}


_UNEXPECTED = re.compile(r"unexpected keyword argument '(\w+)'")


def spec_parameters(kind: CaseKind) -> frozenset[str]:
    """The parameter names ``kind.make_spec`` takes: its named keywords and, when it passes
    ``**params`` on, the fields of its default spec (empty when this cannot be known)."""
    try:
        sig = inspect.signature(kind.make_spec)
    except (TypeError, ValueError):
        return frozenset()
    named = {n for n, p in sig.parameters.items()
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    if not any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return frozenset(named)
    try:
        default = kind.make_spec()
    except Exception:  # noqa: BLE001 - a spec that needs parameters: names unknown
        return frozenset()
    if not dataclasses.is_dataclass(default):
        return frozenset()
    return frozenset(named | {f.name for f in dataclasses.fields(default) if f.init})


def register_case(kind: CaseKind) -> None:
    """Register (or replace) a case kind.

    Parameters
    ----------
    kind : CaseKind
        Stored under ``kind.name``; a kind of the same name is replaced (not checked here).
    """
    _CASES[kind.name] = kind


def case_kinds() -> dict[str, CaseKind]:
    """All case kinds, after importing every problem family (:mod:`aigc_opt.families`).

    A family that fails to import (a broken third-party plug-in) is logged as a warning and
    left out: the others stay reachable (:func:`get_case` names the failure when asked for a
    problem it does not know)."""
    load_families(strict=False)
    return dict(_CASES)


def get_case(name: str) -> CaseKind:
    """The case kind called ``name`` (:class:`UnknownNameError` listing the known names and
    every problem family that failed to import, with its error)."""
    errors = load_families(strict=False)
    kinds = dict(_CASES)
    if name not in kinds:
        broken = "".join(f"; problem family {m} failed to import: {e}"
                         for m, e in errors.items())
        raise UnknownNameError("problem", name, kinds, broken)
    return kinds[name]


# ---------------------------------------------------------------------------------- instance files
#: Tag of the generic instance JSON written by :func:`save_instance_json`.
INSTANCE_TAG = "aigc_opt_instance"
#: The top-level keys of an instance JSON file (:func:`save_instance_json`); no others.
INSTANCE_KEYS: tuple[str, ...] = (INSTANCE_TAG, "type", "fields")

_TYPES: dict[str, type] = {}


def instance_type(kind: CaseKind) -> type:
    """The type of ``kind``'s instances (of its default instance, cached)."""
    if kind.name not in _TYPES:
        _TYPES[kind.name] = type(kind.make_instance(0))
    return _TYPES[kind.name]


def instance_formats(kind: CaseKind) -> str:
    """Human description of the instance files ``kind`` reads (for messages and help)."""
    itype = instance_type(kind)
    if callable(getattr(itype, "load", None)):
        json_fmt = (f"a {itype.__name__} file (.json or .npz, as written by its save())")
    else:
        json_fmt = (f"an instance JSON file (.json) holding a {itype.__name__}, as written by "
                    f"`aigc-opt instance --problem {kind.name}`")
    if kind.load_instance is not None:
        return f"{kind.instance_format} ({'/'.join(kind.instance_suffixes)}) or {json_fmt}"
    return json_fmt


def _encode(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        if v.dtype.kind not in "biufU":
            raise ValidationError("instance", "-", v.dtype.str,
                                  "only numeric and unicode-string arrays are saved")
        return {"__ndarray__": v.tolist(), "dtype": v.dtype.str}
    if isinstance(v, np.generic):
        return v.item()
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {"__dataclass__": f"{type(v).__module__}:{type(v).__qualname__}",
                "fields": {f.name: _encode(getattr(v, f.name))
                           for f in dataclasses.fields(v) if f.init}}
    if isinstance(v, tuple):
        return {"__tuple__": [_encode(x) for x in v]}
    if isinstance(v, list):
        return [_encode(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): _encode(x) for k, x in v.items()}
    if v is None or isinstance(v, bool | int | float | str):
        return v
    raise ValidationError("instance", "-", type(v).__name__, "cannot be written as JSON")


def _resolve(name: Any, where: str) -> type:
    """A dataclass type ``module:Qualname`` from an already imported module (never imports)."""
    import sys

    mod, _, qual = str(name).partition(":")
    obj: Any = sys.modules.get(mod)
    for part in qual.split(".") if obj is not None else ():
        obj = getattr(obj, part, None)
    if not (isinstance(obj, type) and dataclasses.is_dataclass(obj)):
        raise ValidationError(where, "-", name, "unknown instance type (not a loaded dataclass)")
    return obj


def _decode(v: Any, where: str) -> Any:
    if isinstance(v, list):
        return [_decode(x, where) for x in v]
    if not isinstance(v, dict):
        return v
    if "__ndarray__" in v:
        return _decode_array(v, where)
    if "__tuple__" in v:
        if not isinstance(v["__tuple__"], list):
            raise ValidationError(where, "-", v["__tuple__"], "'__tuple__' must be a list")
        return tuple(_decode(x, where) for x in v["__tuple__"])
    if "__dataclass__" in v:
        cls = _resolve(v["__dataclass__"], where)
        return _construct(cls, v.get("fields"), where)
    return {k: _decode(x, f"{where}.{k}") for k, x in v.items()}


def _decode_array(v: dict[str, Any], where: str) -> np.ndarray:
    """``{"__ndarray__": nested lists, "dtype": "<f8"}`` as an array whose entries are exactly
    the file's: strings, null and bools among numbers are refused (numpy would convert them),
    and so is a value the declared dtype cannot hold (``1.5`` or ``inf`` as an integer,
    ``1e300`` as float16)."""
    try:
        dtype = np.dtype(str(v.get("dtype", "<f8")))
    except (TypeError, ValueError, SyntaxError):
        raise ValidationError(where, "-", v.get("dtype"), "bad array: not a numpy dtype") \
            from None
    if dtype.kind not in "biufU":
        raise ValidationError(where, "-", v.get("dtype"), f"bad array: dtype {dtype} is not "
                                                          "numeric (bool, int or float) or str")
    raw = v["__ndarray__"]
    if dtype.kind == "U":  # names (a Scenario's model names): strings only, none cut short
        bad = first_leaf(raw, lambda x: not isinstance(x, str) or len(x) > dtype.itemsize // 4)
        if bad is not None:
            raise ValidationError(where, "-", "null" if bad[0] is None else bad[0],
                                  f"bad array: entries must be strings of at most "
                                  f"{dtype.itemsize // 4} characters ({dtype.str})")
        try:
            return np.asarray(raw, dtype=dtype)
        except ValueError as exc:  # ragged nesting
            raise ValidationError(where, "-", v.get("dtype"), f"bad array: {exc}") from None
    boolean = dtype.kind == "b"  # true/false only; else numbers that are not true/false
    bad = first_leaf(raw, lambda x: boolean != isinstance(x, bool)
                     or not isinstance(x, bool | int | float))
    if bad is not None:
        kind = "true/false" if boolean else "numbers (not true/false)"
        raise ValidationError(where, "-", "null" if bad[0] is None else bad[0],
                              f"bad array: entries must be {kind}")
    try:
        vals = np.asarray(raw)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            arr = vals.astype(dtype)
            same = vals.dtype != object and np.array_equal(arr, vals, equal_nan=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValidationError(where, "-", v.get("dtype"), f"bad array: {exc}") from None
    if not same:
        raise ValidationError(where, "-", v.get("dtype"),
                              "bad array: a value does not fit the declared dtype exactly")
    return arr


def _construct(cls: type, fields: Any, where: str) -> Any:
    if not isinstance(fields, dict):
        raise ValidationError(where, "-", type(fields).__name__, "'fields' must be an object")
    known = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValidationError(f"{where}.{unknown[0]}", "-", fields[unknown[0]],
                              f"not a field of {cls.__name__} (fields: {', '.join(sorted(known))})")
    values = {k: _decode(x, f"{where}.{k}") for k, x in fields.items()}
    try:
        return cls(**values)
    except TypeError as exc:  # a missing required field
        raise ValidationError(where, "-", cls.__name__, str(exc)) from None


def save_instance_json(instance: Any, path: str | Path) -> Path:
    """Write any dataclass instance (arrays, nested dataclasses, scalars) as JSON.

    Format: ``{"aigc_opt_instance": 1, "type": "module:Qualname", "fields": {...}}``; arrays
    are ``{"__ndarray__": nested lists, "dtype": "<f8"}`` (bool, int, float, or unicode
    ``"<U16"`` for names); floats keep ``inf``/``nan`` (JSON ``Infinity``/``NaN``) and
    round-trip exactly (``repr``). Types with their own ``save``/``load`` (a
    :class:`~aigc_opt.scenario.Scenario`) are written with ``save``; nested inside another
    instance (the demands of a sizing instance) they are written field by field.
    """
    p = Path(path)
    if callable(getattr(instance, "save", None)) and callable(getattr(type(instance), "load",
                                                                      None)):
        instance.save(p)
        return p
    if not (dataclasses.is_dataclass(instance) and not isinstance(instance, type)):
        raise ValidationError("instance", "-", type(instance).__name__, "is not a dataclass")
    doc = _encode(instance)
    data = {INSTANCE_TAG: 1, "type": doc["__dataclass__"], "fields": doc["fields"]}
    with writing(p):
        p.write_text(json.dumps(data, allow_nan=True))
    return p


def load_instance_json(path: str | Path, expected: type | None = None) -> Any:
    """Read a file written by :func:`save_instance_json` (every field validated by the type).

    That is the generic instance JSON, or the own JSON of a type with ``save``/``load`` (a
    :class:`~aigc_opt.scenario.Scenario`, recognised by its ``schema_version`` when
    ``expected`` is None), so that save then load round-trips every case kind's instance.

    Raises
    ------
    ValidationError
        Unreadable or invalid JSON, not an instance file, a type other than ``expected``.
    """
    p = Path(path)
    data = load_json(p, "instance file")
    if isinstance(data, dict) and INSTANCE_TAG not in data:
        own = expected if expected is not None else Scenario if "schema_version" in data else None
        load = getattr(own, "load", None)
        if callable(load):  # what save_instance_json wrote with the type's own save
            return load(p)
    return _from_doc(data, p, expected)


def _from_doc(data: Any, p: Path, expected: type | None) -> Any:
    if not isinstance(data, dict) or INSTANCE_TAG not in data:
        want = expected.__name__ if expected else "an instance"
        raise ValidationError("path", "-", str(p), f"not an instance JSON file (expected "
                                                   f"{{\"{INSTANCE_TAG}\": 1, ...}} with {want})")
    tag = data[INSTANCE_TAG]
    if isinstance(tag, bool) or tag != 1:
        raise ValidationError(INSTANCE_TAG, "-", tag, f"{p.name}: unknown instance file "
                                                      "version (this aigc-opt writes 1)")
    unknown = sorted(set(data) - set(INSTANCE_KEYS), key=str)
    if unknown:  # (they were ignored; keys inside 'fields' were refused)
        raise ValidationError(str(unknown[0]), "-", data[unknown[0]], f"{p.name}: not a key of "
                              f"an instance JSON file (keys: {', '.join(INSTANCE_KEYS)}); "
                              f"unknown: {', '.join(map(str, unknown))}")
    try:
        cls = _resolve(data.get("type"), "type")
        if expected is not None and not issubclass(cls, expected):
            raise ValidationError("type", "-", data.get("type"),
                                  f"{p.name} holds a {cls.__name__}; this problem needs a "
                                  f"{expected.__name__}")
        return _construct(cls, data.get("fields"), "fields")
    except ValidationError as exc:  # a bad type, field or array: say which file
        raise exc.located(str(p)) from None


def load_instance_file(kind: CaseKind, path: str | Path) -> Any:
    """Read an instance of ``kind`` from a file in a format that kind reads.

    ``.json``: a generic instance JSON (:func:`save_instance_json`) or, when the instance type
    has a ``load`` classmethod (a Scenario), its own JSON; ``.npz``: that type's binary file
    (``Scenario.save("s.npz")``). Other suffixes: the kind's
    ``load_instance`` for its ``instance_suffixes``. Anything else raises a ValidationError
    that says which formats the problem reads.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    itype = instance_type(kind)
    if kind.load_instance is not None and suffix in kind.instance_suffixes:
        return kind.load_instance(p)
    load = getattr(itype, "load", None)
    if suffix == ".npz" and callable(load):  # a Scenario's binary format (Scenario.save)
        return load(p)
    if suffix == ".json":
        data = load_json(p, "instance file")
        if isinstance(data, dict) and INSTANCE_TAG in data:
            return _from_doc(data, p, itype)
        if callable(load):
            return load(p)
        raise ValidationError("path", "-", str(p), f"wrong file format: problem {kind.name} "
                                                   f"reads {instance_formats(kind)}")
    got = f"a {suffix} file" if suffix else "a file without suffix"
    raise ValidationError("path", "-", str(p), f"wrong file format ({got}): problem {kind.name} "
                                               f"reads {instance_formats(kind)}")
