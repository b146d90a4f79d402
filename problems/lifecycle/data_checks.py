"""Field checks shared by the life-cycle data types (:mod:`.data`): thin wrappers of
:mod:`aigc_opt.validate` that fix this family's physical bounds, so every bad field raises a
:class:`~aigc_opt.errors.ValidationError` naming the field, its unit and the value."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from aigc_opt.errors import UnknownNameError, ValidationError
from aigc_opt.schema import bound
from aigc_opt.validate import check_array, check_choice, check_scalar

#: Physical upper bound of a scalar field by unit (see :data:`aigc_opt.schema.BOUNDS`); other
#: units (weights, prices) are bounded by ``bound("weight")``.
HIGH = {"s": bound("time_s"), "byte": bound("bytes"), "byte/token": bound("bytes"),
        "byte/param": bound("bytes"), "token": bound("bits"),
        "cost/byte": bound("cost_per_flop"), "-": bound("factor")}


def scalar(value: Any, name: str, unit: str, *, low: float = 0.0, strict: bool = False,
           high: float | None = None) -> float:
    """A finite number ``>= low`` (``> low`` if ``strict``) and ``<= high`` (default: the
    unit's bound of :data:`HIGH`); strings, bools, None and arrays are rejected."""
    hi = HIGH.get(unit, bound("weight")) if high is None else high
    return float(check_scalar(name, value, unit, low, hi, strict=strict))


def axis(value: Any, name: str, unit: str) -> int:
    """Length of the non-empty 1-D array ``value`` that fixes an axis (its values are checked
    by the caller)."""
    return int(check_array(name, unit, value, ndim=1, low=None, nonempty=True).shape[0])


def names(name: str, value: Any, known: tuple[str, ...], *, nonempty: bool = False
          ) -> tuple[str, ...]:
    """A tuple (or list) of names from ``known``, returned as a tuple (at least one name with
    ``nonempty``)."""
    if not isinstance(value, (tuple, list)):
        raise ValidationError(name, "-", value,
                              f"must be a tuple of names from {', '.join(map(repr, known))}")
    if nonempty and not value:
        raise ValidationError(name, "-", tuple(value), "must name at least one of "
                              f"{', '.join(map(repr, known))} (an empty set leaves no option)")
    return tuple(check_choice(name, k, known) for k in value)


def check_fields(cls: type, overrides: dict[str, Any]) -> None:
    """Refuse ``overrides`` naming no field of the dataclass ``cls``
    (:class:`~aigc_opt.errors.UnknownNameError` listing the fields)."""
    known = [f.name for f in fields(cls)]
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise UnknownNameError(f"{cls.__name__} field", unknown[0], known)
