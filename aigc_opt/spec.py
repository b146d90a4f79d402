"""Specs, the registries keyed on them, and user-added constraints.

A *spec* is a frozen dataclass that says which problem variant to build over an instance. Specs
live in their family's data module (``aigc_opt.problems.<family>.data``) and carry no solver
code: :class:`ProblemSpec` gives them ``build`` / ``decode`` methods that look up the family's
builder in a registry, so that the family's evaluator can import the spec type without importing
the builder (the referee's independence, enforced by import-linter).

Every registry here (builders, and those of :mod:`aigc_opt.solve`, :mod:`aigc_opt.metrics`)
resolves through the spec's MRO: a user's subclass inherits what is registered for its parent
and may override it.

User-added constraints
----------------------
A subclass adds constraints by overriding :meth:`ProblemSpec.extra_constraints`, returning
:class:`ExtraConstraint` objects. Each one adds linear rows over the program's named blocks
(``rows``) and declares the numpy check the referee runs on any allocation (``check``)::

    @dataclass(frozen=True)
    class CappedSpec(OffloadingSpec):
        cap_j: float = 50.0

        def extra_constraints(self, scenario):
            def rows(program):
                cols = program.column_data            # per-column arrays (family-documented)
                ...                                   # -> {"assign": A}, lower, upper
            def check(allocation):
                return relative_violation_per_server   # ndarray, 0 where satisfied
            return (ExtraConstraint("energy_cap", rows, check),)

``spec.build`` appends the rows (:meth:`aigc_opt.program.LinearProgram.with_rows`) so every
LP/MILP backend sees them; :func:`aigc_opt.evaluate` runs every ``check`` and reports it in
``Metrics.violations`` (hard by default, so ``Metrics.feasible`` accounts for it).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

import numpy as np

from .errors import PluginError, UnknownNameError, ValidationError

T = TypeVar("T")

#: ``rows(program) -> (blocks, lower, upper)``: ``blocks`` maps a block name to a sparse or
#: dense matrix over that block's columns; ``lower`` / ``upper`` are the row bounds (in the
#: program's own scaled units, see ``program.meta["objective_scale"]`` for the objective).
RowsFn = Callable[[Any], tuple[Mapping[str, Any], Any, Any]]
#: ``check(allocation) -> ndarray``: relative violation of every item (0 when satisfied).
CheckFn = Callable[[Any], np.ndarray]


@runtime_checkable
class BuiltProgram(Protocol):
    """What a registered builder must return: an :class:`aigc_opt.program.LinearProgram` or
    :class:`aigc_opt.program.ConvexProgram` (checked by their members: this module may not
    import :mod:`aigc_opt.program`, which reaches the backends, since referees import it)."""

    kind: Any
    meta: Mapping[str, Any]

    def with_constraint(self, con: Any) -> Any:
        """The program plus the rows of a user-added constraint."""
        ...


@dataclass(frozen=True)
class ExtraConstraint:
    """A constraint a user adds to a spec, with its own referee check.

    Parameters
    ----------
    name : str
        Constraint name; becomes the key in ``Metrics.violations`` and the row block name.
    rows : callable or None
        ``rows(program) -> (blocks, lower, upper)`` for linear programs (see module docstring);
        None when the constraint is only checked (e.g. a limit the builder already enforces).
    check : callable
        ``check(allocation) -> ndarray`` of relative violations per item (0 when satisfied).
        Must use numpy on the allocation and instance only, never the program.
    hard : bool
        Whether a violation makes an allocation infeasible.
    convex : callable or None
        ``convex(variables) -> list of cvxpy constraints`` for CVXPY programs.
    """

    name: str
    rows: RowsFn | None
    check: CheckFn
    hard: bool = True
    convex: Callable[[Mapping[str, Any]], list[Any]] | None = None


class ProblemSpec:
    """Base class of every spec: ``build`` and ``decode`` through the builder registry.

    Subclasses are frozen dataclasses with ``problem`` and ``variant`` fields, checked to be
    strings by :func:`check_labels` after the subclass's own ``__post_init__`` runs (wrapped
    here, so a user's subclass is checked too, and may set its labels there).

    Attributes
    ----------
    problem, variant : str
        Family and variant name, fixed by each subclass's defaults (``"offloading"``,
        ``"assignment"`` ...): labels, not model parameters (a results CSV takes its
        ``problem`` / ``variant`` columns from the case, not from the spec). No rule of a
        builder or referee reads them; those follow the spec's type.
    """

    problem: str
    variant: str
    #: The instance type(s) this spec is solved on (set by each family; None: not checked).
    #: :func:`check_instance` (called by ``build``, ``solve``, ``run_method``,
    #: ``run_heuristic`` and ``evaluate``) rejects any other type with a ValidationError.
    instance_type: ClassVar[type | tuple[type, ...] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Make the subclass's own ``__post_init__`` (if any) end with :func:`check_labels`
        (after it, so that a subclass may compute its labels there)."""
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("__post_init__")
        if own is None:
            return

        @functools.wraps(own)
        def post_init(self: Any, *args: Any, **kw: Any) -> None:
            own(self, *args, **kw)
            check_labels(self)

        cls.__post_init__ = post_init  # type: ignore[method-assign]

    def __post_init__(self) -> None:
        """A subclass without its own ``__post_init__`` still checks its labels."""
        check_labels(self)

    def extra_constraints(self, instance: Any) -> tuple[ExtraConstraint, ...]:
        """Constraints added on top of the family's model (none by default)."""
        return ()

    def build(self, instance: Any) -> Any:
        """The family's program for ``instance`` plus :meth:`extra_constraints` (pure)."""
        check_instance(self, instance)
        builder = lookup(_BUILDERS, type(self), "builder")
        program = builder.build(instance, self)
        if not isinstance(program, BuiltProgram):  # said here, not as an AttributeError later
            owner = next(c for c in type(self).__mro__ if c in _BUILDERS)
            raise PluginError(f"builder registered for {owner.__name__}", builder.build, program,
                              "an aigc_opt.LinearProgram or aigc_opt.ConvexProgram")
        for con in self.extra_constraints(instance):
            program = program.with_constraint(con)
        return program

    def decode(self, instance: Any, program: Any, values: Any) -> Any:
        """Turn the solution blocks into the family's allocation."""
        builder = lookup(_BUILDERS, type(self), "builder")
        return builder.decode(instance, self, program, values)

    @classmethod
    def has_builder(cls) -> bool:
        """True when a program builder is registered for this spec type (or a parent)."""
        return any(c in _BUILDERS for c in cls.__mro__)


def check_labels(spec: Any) -> None:
    """Raise :class:`ValidationError` unless ``spec.problem`` and ``spec.variant`` are strings
    (None or a number would reach the results CSV as a label nobody can select by)."""
    for name in ("problem", "variant"):
        value = getattr(spec, name, None)
        if not isinstance(value, str):
            raise ValidationError(name, "-", value, f"must be a str label of "
                                  f"{type(spec).__name__}, not {type(value).__name__}")


def check_instance(owner: Any, instance: Any) -> None:
    """Raise :class:`ValidationError` unless ``instance`` is of the type ``owner`` (a spec or
    an allocation, or their class) declares in its ``instance_type`` class attribute."""
    want = getattr(owner, "instance_type", None)
    if want is None or isinstance(instance, want):
        return
    kinds = want if isinstance(want, tuple) else (want,)
    who = owner.__name__ if isinstance(owner, type) else type(owner).__name__
    raise ValidationError("instance", "-", type(instance).__name__,
                          f"{who} is solved on a {' or '.join(k.__name__ for k in kinds)}, "
                          f"not a {type(instance).__name__}")


@dataclass(frozen=True)
class Builder:
    """``build(instance, spec) -> Program`` and ``decode(instance, spec, program, values)``."""

    build: Callable[[Any, Any], Any]
    decode: Callable[[Any, Any, Any, Any], Any]


_BUILDERS: dict[type, Builder] = {}


def register_builder(spec_type: type, build: Callable[[Any, Any], Any],
                     decode: Callable[[Any, Any, Any, Any], Any]) -> None:
    """Register the program builder and decoder of ``spec_type`` (and its subclasses).

    Parameters
    ----------
    spec_type : type
        Spec class; subclasses inherit the builder (MRO lookup). Registering it again
        replaces the earlier builder.
    build : callable
        ``build(instance, spec) -> LinearProgram | ConvexProgram`` (pure).
    decode : callable
        ``decode(instance, spec, program, values) -> allocation``; ``values`` maps block names
        to solution arrays.
    """
    _BUILDERS[spec_type] = Builder(build, decode)


def lookup(table: Mapping[type, T], cls: type, what: str) -> T:
    """The entry for ``cls`` or its nearest registered base class (MRO order)."""
    for base in cls.__mro__:
        if base in table:
            return table[base]
    known = sorted({t.__name__ for t in table})
    raise UnknownNameError(what, cls.__name__, known)


def merged(table: Mapping[type, Mapping[str, T]], cls: type) -> dict[str, T]:
    """Name -> entry over ``cls``'s MRO: a subclass inherits its parents' entries and its own
    registrations override theirs."""
    out: dict[str, T] = {}
    for base in reversed(cls.__mro__):
        out.update(table.get(base, {}))
    return out
