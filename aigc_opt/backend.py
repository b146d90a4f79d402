"""Backend protocol, solve options and the backend registry.

A backend is a small object with a ``name``, the program kinds it accepts, the Python modules it
needs (checked lazily with :func:`importlib.util.find_spec`, never imported at package import)
and ``solve(program, options) -> Result``. Built-in backends live one per file in
``aigc_opt.solvers`` and are registered here by import path so that nothing is imported until used.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from .errors import BackendUnavailableError, CapabilityError
from .frozen import FrozenMap
from .program import ProgramKind
from .result import Result

logger = logging.getLogger(__name__)


#: Relative MIP gap a backend asks of HiGHS when ``SolveOptions.mip_gap`` is None (HiGHS's own
#: default is 1e-4): ``optimal`` results of HiGHS and SCIP (gap 0 by default) differed by up to
#: 7.6e-5 on tiny instances (outside testers), inside the 1e-4 an ``optimal`` label allows.
DEFAULT_MIP_GAP = 1e-6

#: Least time a solver is given after a backend's setup used up the limit, s (it still
#: returns a status, e.g. a first feasible point, rather than none).
MIN_SOLVER_SECONDS = 0.05


@dataclass(frozen=True)
class SolveOptions:
    """Options every backend understands.

    Parameters
    ----------
    time_limit : float or None
        Wall-time limit in seconds (None: no limit).
    mip_gap : float or None
        Relative MIP gap at which to stop, in [0, 1] (0.01 = 1 %; None: :data:`DEFAULT_MIP_GAP`
        = 1e-6 for HiGHS, SCIP's own 0). A solve stopped by a gap above 1e-4 is reported
        ``feasible`` with its bound and gap, not ``optimal``; a HiGHS MIP stopped by its time
        limit with a proven gap within 1e-4 is ``optimal`` (:data:`aigc_opt.verify.OPTIMAL_GAP`).
    threads : int or None
        Thread count (None: solver default).
    verbose : bool
        Let the solver print its log.
    extra : Mapping[str, Any]
        Backend-specific pass-through options (HiGHS option names, CVXPY solver keyword
        arguments, ...). For the CVXPY backend, ``extra["solver"]`` selects the CVXPY solver.
        Compared by ``==`` but left out of ``hash`` (a read-only mapping is unhashable), so
        options are hashable.
    verify : bool
        Check every returned solution with the family's evaluator (default). Turn off for
        timing runs only: an unchecked result is never ``verified``.
    """

    time_limit: float | None = None
    mip_gap: float | None = None
    threads: int | None = None
    verbose: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False)
    verify: bool = True

    def __post_init__(self) -> None:
        from .errors import ValidationError
        from .validate import check_bool, check_int, check_scalar

        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        # time limit <= 1e9 s (~32 years); gap in [0, 1e6]; threads <= 4096 (more than any host)
        set_("time_limit", check_scalar("time_limit", self.time_limit, "s", 0.0, 1e9,
                                        strict=True, optional=True))
        set_("mip_gap", check_scalar("mip_gap", self.mip_gap, "-", 0.0, 1.0, optional=True))
        set_("threads", check_int("threads", self.threads, "-", 1, 4096, optional=True))
        set_("verbose", check_bool("verbose", self.verbose))
        set_("verify", check_bool("verify", self.verify))
        if not isinstance(self.extra, Mapping):
            raise ValidationError("extra", "-", self.extra,
                                  "must be a mapping of backend option names to values")
        # a FrozenMap is kept as it is (immutable; dataclasses.replace passes it on), so that
        # run_method's ReadTrackingMap sees the reads of every copy of the options
        keys = list(self.extra._data if isinstance(self.extra, FrozenMap) else self.extra)
        bad = [k for k in keys if not isinstance(k, str)]
        if bad:
            raise ValidationError("extra", "-", bad[0], "option names must be strings")
        if not isinstance(self.extra, FrozenMap):
            set_("extra", FrozenMap(dict(self.extra)))

    def left(self, t0: float, floor: float = MIN_SOLVER_SECONDS) -> float | None:
        """The time limit less the wall time since ``t0`` (``time.perf_counter()`` when the
        call began), at least ``floor`` s; None without a limit. A backend hands this to its
        solver after its own setup (model build, file write, compilation), so that the whole
        call, not only the solver, keeps to ``time_limit``."""
        if self.time_limit is None:
            return None
        return max(float(floor), self.time_limit - (time.perf_counter() - t0))


@runtime_checkable
class Backend(Protocol):
    """What a solver backend provides."""

    name: str
    kinds: frozenset[ProgramKind]
    requires: tuple[str, ...]

    def solve(self, program: Any, options: SolveOptions) -> Result:
        """Solve ``program`` and return a new :class:`Result` (never mutate the program)."""
        ...


#: Built-in backends by registry name -> "module:attribute".
_BUILTIN: dict[str, str] = {
    "highs": "aigc_opt.solvers.highs:HighsBackend",
    "cvxpy": "aigc_opt.solvers.cvxpy_backend:CvxpyBackend",
    "pyomo": "aigc_opt.solvers.pyomo_backend:PyomoBackend",
    "scip": "aigc_opt.solvers.scip_backend:ScipBackend",
}
#: Modules each built-in backend needs (checked without importing).
_BUILTIN_REQUIRES: dict[str, tuple[str, ...]] = {
    "highs": ("highspy",),
    "cvxpy": ("cvxpy",),
    "pyomo": ("pyomo", "highspy"),
    "scip": ("pyscipopt",),
}
_EXTRA_HINT = {"highs": "highspy", "cvxpy": "cvxpy clarabel", "pyomo": "pyomo highspy",
               "scip": "pyscipopt"}
_REGISTERED: dict[str, Backend] = {}


def register_backend(backend: Backend) -> None:
    """Register a user-defined backend instance under ``backend.name``.

    Parameters
    ----------
    backend : Backend
        An object with ``name`` (str), ``kinds`` (frozenset of ProgramKind), ``requires``
        (tuple of module names) and ``solve(program, options) -> Result``. It replaces an
        earlier backend of that name, a built-in one included; not checked here.
    """
    _REGISTERED[backend.name] = backend


def _missing(modules: tuple[str, ...]) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


def backend_names() -> list[str]:
    """All registered backend names, installed or not."""
    return sorted(set(_BUILTIN) | set(_REGISTERED))


def is_available(name: str) -> bool:
    """True when the backend's required modules are importable."""
    if name in _REGISTERED:
        return not _missing(_REGISTERED[name].requires)
    if name not in _BUILTIN:
        return False
    return not _missing(_BUILTIN_REQUIRES[name])


def backends() -> dict[str, dict[str, Any]]:
    """Describe every backend: availability, accepted program kinds, required modules."""
    out: dict[str, dict[str, Any]] = {}
    for name in backend_names():
        avail = is_available(name)
        kinds = sorted(k.value for k in get_backend(name).kinds) if avail else []
        reqs = _REGISTERED[name].requires if name in _REGISTERED else _BUILTIN_REQUIRES[name]
        out[name] = {"available": avail, "kinds": kinds, "requires": list(reqs)}
    return out


def get_backend(name: str) -> Backend:
    """Return the backend registered as ``name``.

    Parameters
    ----------
    name : str
        A name from :func:`backend_names`; a built-in backend is imported and instantiated on
        first use, then cached.

    Returns
    -------
    Backend
        The backend instance.

    Raises
    ------
    KeyError
        Unknown name (the message lists the known ones).
    BackendUnavailableError
        The backend's package is not installed (the message gives the pip command).
    """
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name not in _BUILTIN:
        raise KeyError(f"unknown backend {name!r}; known backends: {', '.join(backend_names())}")
    missing = _missing(_BUILTIN_REQUIRES[name])
    if missing:
        raise BackendUnavailableError(
            f"backend {name!r} needs {', '.join(missing)}: pip install {_EXTRA_HINT[name]}"
        )
    module_name, attr = _BUILTIN[name].split(":")
    backend: Backend = getattr(importlib.import_module(module_name), attr)()
    _REGISTERED[name] = backend
    return backend


def check_capability(backend: Backend, kind: ProgramKind) -> None:
    """Raise :class:`CapabilityError` if ``backend`` cannot take programs of ``kind``."""
    if kind not in backend.kinds:
        accepted = ", ".join(sorted(k.value for k in backend.kinds))
        raise CapabilityError(
            f"backend {backend.name!r} cannot solve {kind.value} programs (accepts: {accepted})"
        )
