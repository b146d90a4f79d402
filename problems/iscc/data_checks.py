"""Field checks shared by the ISCC data types (:mod:`.data`, :mod:`.data_shares`): thin
wrappers of :mod:`aigc_opt.validate`, so every bad field raises a
:class:`~aigc_opt.errors.ValidationError` naming the field, its unit and the value."""

from __future__ import annotations

from typing import Any

import numpy as np

from aigc_opt.schema import bound
from aigc_opt.validate import check_array, check_scalar


def int_arr(value: Any, name: str, unit: str, shape: tuple[int, ...], low: int | None = 0,
            like: str = "") -> np.ndarray:
    """A read-only int64 array of ``shape`` (fixed by the fields ``like``), whole numbers
    ``>= low`` (None: any)."""
    return check_array(name, unit, value, shape, low=low, integer=True, dtype=np.int64,
                       like=like)


def scalar(value: Any, name: str, unit: str, *, strict: bool = False,
           high: float | None = None) -> float:
    """A finite number ``>= 0`` (``> 0`` if ``strict``) and ``<= high`` (default: the time
    bound for ``"s"``, else the bound of dimensionless factors)."""
    hi = (bound("time_s") if unit == "s" else bound("factor")) if high is None else high
    return float(check_scalar(name, value, unit, 0.0, hi, strict=strict))


def axis(value: Any, name: str, unit: str, *, ndim: int = 1, dim: int = 0) -> int:
    """Size of axis ``dim`` of the ``ndim``-D array ``value`` that fixes an instance axis (its
    values are checked by the caller)."""
    return int(check_array(name, unit, value, ndim=ndim, low=None).shape[dim])
