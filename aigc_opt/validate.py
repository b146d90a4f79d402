"""Array validation shared by every instance type: one place that turns bad input into a
:class:`~aigc_opt.errors.ValidationError` naming the field, its unit and the bad value."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import ValidationError


def check_array(
    name: str,
    unit: str,
    value: Any,
    shape: tuple[int, ...] | None = None,
    *,
    ndim: int | None = None,
    low: float | None = None,
    strict: bool = False,
    allow_inf: bool = False,
    integer: bool = False,
    nonempty: bool = False,
    dtype: Any = np.float64,
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
    allow_inf : bool
        Whether ``+inf`` is allowed (``-inf`` never is).
    integer : bool
        Whether values must be whole numbers.
    nonempty : bool
        Reject an empty array.
    dtype : numpy dtype
        Element type; range checks apply to floating types only.
    """
    try:
        a = np.array(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValidationError(name, unit, value, "must be numeric") from exc
    if shape is not None and a.shape != shape:
        raise ValidationError(name, unit, a.shape, f"wrong shape, expected {shape}")
    if shape is None and ndim is not None and a.ndim != ndim:
        raise ValidationError(name, unit, a.shape, f"must be a {ndim}-D array")
    if nonempty and a.size == 0:
        raise ValidationError(name, unit, a.shape, "must not be empty")
    if a.dtype.kind == "f":
        if np.isnan(a).any():
            raise ValidationError(name, unit, math.nan, "NaN is not allowed")
        inf = np.isinf(a)
        if inf.any() and not (allow_inf and (a[inf] > 0).all()):
            raise ValidationError(name, unit, a[inf][0], "must be finite")
        if low is not None:
            bad = a <= low if strict else a < low
            if bad.any():
                op = ">" if strict else ">="
                raise ValidationError(name, unit, a[bad][0], f"must be {op} {low:g}")
        if integer and (a != np.round(a)).any():
            raise ValidationError(name, unit, a[a != np.round(a)][0], "must be an integer")
    a.flags.writeable = False
    return a
