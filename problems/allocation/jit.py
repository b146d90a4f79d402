"""Optional compiled kernels (numba) for the allocation family's exact fast paths.

The closed forms of :mod:`.joint_bp`, :mod:`.bandwidth` and :mod:`.power` (sum rate) are a few
dozen array operations per price evaluation; at N ~ 100 users the numpy versions spend their
time in the fixed cost of ~40-150 numpy calls (~1 us each), not in arithmetic. The kernels in
:mod:`.joint_bp_kernel`, :mod:`.bandwidth_kernel` and :mod:`.power_kernel` do the same maths in
compiled loops over users; every closed form dispatches through :func:`run_kernel`.

Switches:

* :data:`JIT_ENABLED` is False when numba is not importable or the environment variable
  ``AIGC_OPT_JIT`` is ``0`` / ``false`` / ``no`` / ``off`` (read once, at import); the numpy
  paths, which stay the reference, then run. Tests monkeypatch the flag.
* :func:`njit` compiles with ``cache=True`` (compiled code kept in ``__pycache__``, so only the
  first process pays the compile time), ``fastmath=False`` (IEEE semantics, so that kernel and
  numpy agree to rounding), ``nogil=True`` and ``error_model="numpy"`` (a float division by 0
  gives inf / nan as in numpy instead of raising ``ZeroDivisionError``).

numba itself is imported only when a kernel module is (on the first solve that uses it), which
keeps ``import aigc_opt`` free of numba's ~0.3 s import time.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar, cast

from aigc_opt.result import Result

logger = logging.getLogger(__name__)

_F = TypeVar("_F", bound=Callable[..., Any])
_R = TypeVar("_R")

#: kernels that raised once (compile or runtime failure); they are not tried again
_BROKEN: set[str] = set()
#: kernels already compiled or loaded in this process
_WARM: set[str] = set()

#: whether numba is installed (found without importing it)
NUMBA_AVAILABLE: bool = importlib.util.find_spec("numba") is not None

#: the kernels run when True (numba installed and ``AIGC_OPT_JIT`` not set to 0 / false / off)
JIT_ENABLED: bool = NUMBA_AVAILABLE and os.environ.get("AIGC_OPT_JIT", "1").strip().lower() \
    not in ("0", "false", "no", "off")

logger.debug("allocation fast paths: %s", "numba kernels" if JIT_ENABLED else "numpy")

#: :func:`.joint_bp.closed_form` runs its kernel for N <= this (None: every N). Measured
#: (benchmarks/allocation_bench.py instances, area_scale 0.8, seeds 0-1, 2-core machine, numba
#: 0.68.1, numpy 2.4; median CPU time, kernel and numpy interleaved): N = 100 49 vs 170 us,
#: 10^3 0.35-0.37 vs 0.41-0.43 ms, 10^4 3.50-3.69 vs 3.71-3.74 ms, 10^5 36.5-38.1 vs
#: 38.9-41.8 ms: at least as fast at every size (1.02-1.10x at 10^4 and 10^5, where scalar libm
#: exp/log meet numpy's vectorised ones), so no limit.
JOINT_BP_MAX_USERS: int | None = None

#: :func:`.bandwidth.closed_form` runs its kernel for N <= this (None: every N). Measured
#: (allocation_bench instances, S = N/2500 servers, best of 5 repeats), kernel vs numpy:
#: N = 100 23 vs 145 us, 10^3 0.12 vs 0.41 ms, 10^4 0.74 vs 1.7 ms, 10^5 11.8 vs 29.8 ms.
BANDWIDTH_MAX_USERS: int | None = None

#: :func:`.power.closed_form` (sum rate) runs its kernel for N <= this (None: every N).
#: Measured (allocation_bench instances, CPU time of in-process repeats, kernel and numpy
#: interleaved, numba 0.68.1): N = 100 28 vs 72 us, 300 46-48 vs 95-98 us, 10^3 109-114 vs
#: 172-178 us, 2,000 215-228 vs 301-302 us, 4,000 622-631 vs 572-575 us, 10^4 1.83 vs 1.44 ms
#: (numba's sorts are slower than numpy's at large N), so the kernel stops at 3,000 users.
POWER_MAX_USERS: int | None = 3000


def njit(fn: _F) -> _F:
    """``numba.njit(cache=True, fastmath=False, nogil=True, error_model="numpy")`` (lazy: compiled
    at the first call per argument types); ``fn`` itself when numba is missing."""
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a core dependency
        logger.debug("numba not importable: %s stays a Python function", fn.__name__)
        return fn
    return cast(_F, numba.njit(cache=True, fastmath=False, nogil=True, error_model="numpy")(fn))


def use_kernel(n: int, max_n: int | None, what: str = "closed form") -> bool:
    """Whether a closed form (``what``, for the debug log) with ``n`` users dispatches to its
    kernel (``max_n``: the kernel's size limit, None for every size)."""
    use = JIT_ENABLED and (max_n is None or n <= max_n)
    logger.debug("%s, N = %d: %s path", what, n, "numba kernel" if use else "numpy")
    return use


def run_kernel(what: str, n: int, max_n: int | None, call: Callable[[], _R | None]) -> _R | None:
    """``call()`` (a kernel solve) when :func:`use_kernel` allows it, else None (the caller then
    runs its numpy path). The first use in a process runs ``call`` twice: the first, untimed
    run compiles (or loads numba's cache), and its time goes to
    ``stats.extra["jit_first_call_s"]`` of the returned Result, whose ``solve_seconds`` is then
    the solve's alone. If the kernel raises -- numba cannot compile on this platform, its
    cache directory is unusable, a bug -- the failure is logged as a warning, that kernel is
    not tried again in this process, and None is returned: a kernel can cost speed, never an
    answer (the numpy path is the reference the kernels are tested against)."""
    if what in _BROKEN or not use_kernel(n, max_n, what):
        return None
    try:
        if what in _WARM:
            return call()
        # first use in this process: numba compiles (5-6 s) or loads its cache (~0.3 s) inside
        # the call; run it once untimed so that the Result's solve time is the solve's, and
        # record the one-time cost in ``stats.extra["jit_first_call_s"]``
        t0 = time.perf_counter()
        call()
        first = time.perf_counter() - t0
        _WARM.add(what)
        logger.debug("%s: numba kernel ready in %.2f s (compile or cache load, once per process)",
                    what, first)
        res = call()
        if isinstance(res, Result):
            return cast(_R, replace(res, stats=replace(
                res.stats, extra={**res.stats.extra, "jit_first_call_s": first})))
        return res
    except Exception as exc:  # noqa: BLE001 - any kernel failure falls back to numpy
        _BROKEN.add(what)
        logger.warning("%s: numba kernel failed (%s: %s); using the numpy path from now on",
                       what, type(exc).__name__, exc)
        return None
