"""A read-only mapping that pickles: the mapping fields of the frozen results and specs.

``types.MappingProxyType`` is read-only but cannot be pickled, so a :class:`~aigc_opt.result.
Result`, its :class:`~aigc_opt.metrics.Metrics` or a :class:`~aigc_opt.backend.SolveOptions`
could not be sent through ``multiprocessing``, ``joblib`` or ``pickle.dump``.
:class:`FrozenMap` behaves like the proxy (lookups, iteration, ``==`` with any mapping,
``copy()`` and ``|`` giving a plain ``dict``; no item assignment) and pickles as its items.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class FrozenMap(Mapping[K, V]):
    """An immutable mapping over a private copy of ``data`` (a mapping or ``(key, value)``
    pairs); unhashable, like the dict it wraps."""

    __slots__ = ("_data",)
    _data: dict[K, V]

    def __init__(self, data: Mapping[K, V] | Iterable[tuple[K, V]] = ()) -> None:
        object.__setattr__(self, "_data", dict(data))

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __reversed__(self) -> Iterator[K]:
        return reversed(self._data)

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("FrozenMap is read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("FrozenMap is read-only")

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenMap, (self._data,))

    def copy(self) -> dict[K, V]:
        """A plain ``dict`` copy (as ``MappingProxyType.copy``)."""
        return dict(self._data)

    def __or__(self, other: Mapping[K, V]) -> dict[K, V]:
        return {**self._data, **other}

    def __ror__(self, other: Mapping[K, V]) -> dict[K, V]:
        return {**other, **self._data}


def read_only_arrays(data: Mapping[K, Any]) -> FrozenMap[K, Any]:
    """A :class:`FrozenMap` of ``data`` whose numpy arrays are read-only views (no copy):
    ``res.values["x"][:] = 0`` or ``met.per_item["latency_s"][0] = 0`` would otherwise change
    a verified solution or its measurements in place. Other values are kept as they are."""
    import numpy as np

    out: dict[K, Any] = {}
    for k, v in data.items():
        if isinstance(v, np.ndarray):
            v = v.view()
            v.flags.writeable = False
        out[k] = v
    return FrozenMap(out)


class ReadTrackingMap(FrozenMap[K, V]):
    """A :class:`FrozenMap` that records which keys were read: a lookup (``m[k]``, ``get``,
    ``k in m``) reads its key; iteration, ``items()``, ``copy()`` and ``|`` read them all
    (a method that hands the whole mapping to a solver passes every key on, and the solver
    checks them). :func:`aigc_opt.solve.run_method` gives an algorithm its
    ``SolveOptions.extra`` as one of these, to refuse the keys the method never looked at
    (they were silently ignored before). Shared by copies of the options that carry it."""

    __slots__ = ("_read",)
    _read: set[Any]

    def __init__(self, data: Mapping[K, V] | Iterable[tuple[K, V]] = ()) -> None:
        super().__init__(data)
        object.__setattr__(self, "_read", set())

    def __getitem__(self, key: K) -> V:
        self._read.add(key)
        return self._data[key]

    def __contains__(self, key: object) -> bool:
        self._read.add(key)
        return key in self._data

    def __iter__(self) -> Iterator[K]:
        self._read.update(self._data)
        return iter(self._data)

    def copy(self) -> dict[K, V]:
        self._read.update(self._data)
        return dict(self._data)

    def __or__(self, other: Mapping[K, V]) -> dict[K, V]:
        self._read.update(self._data)
        return {**self._data, **other}

    def __ror__(self, other: Mapping[K, V]) -> dict[K, V]:
        self._read.update(self._data)
        return {**other, **self._data}

    def unread(self) -> list[K]:
        """The keys nobody has read, in insertion order."""
        return [k for k in self._data if k not in self._read]
