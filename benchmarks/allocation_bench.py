"""Benchmark: exact fast paths of the allocation family against CVXPY/CLARABEL, same instances.

For every problem and size N the instance is generated once from a seed; the fast path
(``closed_form``: KKT / water-filling / Lambert-W price method) is timed in this process
(best of a few repeats for small N) and the CVXPY model is built and solved in a child process
with a wall-time limit and an address-space limit, so that a model too large to compile or solve
is reported as ``timeout`` / ``memory`` instead of hanging the run. Both objectives are scored
against each other (``rel_diff = (cvxpy - fast) / |fast|``, sign so that positive means CVXPY
is worse) and the fast path's objective is checked against the independent evaluator.

Both sides are timed on the same work: instance + spec in, allocation out. CVXPY: build +
solve + decode (``spec.build``, the backend, ``spec.decode``); the fast path: the registered
algorithm called directly with ``SolveOptions(verify=False)`` (what ``run_method`` runs after
its argument checks and dispatch; no evaluator call on either side, the evaluator's time is
reported separately as ``fast_eval_s``). ``path`` (``fast_path``) says whether the closed form
ran its compiled numba kernel (``jit``) or the numpy code (``numpy``); the untimed warm-up call
compiles the kernel or loads it from numba's cache, its extra time is ``jit s``
(``jit_compile_s``), never part of ``fast s``. ``x total`` is the wall-time ratio, ``x cpu`` the
CPU-time ratio (``time.process_time`` in each process, the steadier figure on a shared
machine). ``alloc d`` is the largest ``max|fast - cvxpy| / max|fast|`` over the
allocation's arrays; ``off side`` says which side is inaccurate: the fast path's objective
is certified by its dual bound (``gap``), so CVXPY is the inaccurate side when the evaluator
scores its allocation worse by more than that gap (``cvxpy``), the fast path if CVXPY's
feasible allocation beats the certified optimum (``fast``; never observed), ``none`` when
they agree within the gap. ``--tight`` runs CLARABEL at 1e-12 tolerances.

Problems: ``bandwidth_compute`` (S = N/2500 servers, min rates and deadlines on),
``power_sum_rate`` (water-filling), ``power_min_power`` (rate targets), ``joint_bp``
(area budget at 0.8 of the default so that its price is positive).

Run::

    python -m aigc_opt.benchmarks.allocation_bench --sizes 100 10000 1000000
    python benchmarks/allocation_bench.py --sizes 100 10000 --csv allocation.csv
    python benchmarks/allocation_bench.py --sizes 100000 --tight
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import logging
import math
import multiprocessing as mp
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from aigc_opt.backend import SolveOptions
from aigc_opt.metrics import evaluate
from aigc_opt.problems.allocation import (
    CVXPY_SETTINGS,
    BandwidthComputeInstance,
    BandwidthComputeSpec,
    JointBPInstance,
    JointBPSpec,
    PowerInstance,
    PowerSpec,
)
from aigc_opt.problems.allocation import jit as _jit
from aigc_opt.solve import algorithms, run_method

logger = logging.getLogger(__name__)


def _bandwidth(n: int, seed: int) -> tuple[Any, Any]:
    return BandwidthComputeInstance.generate(n, max(1, n // 2500), seed=seed), \
        BandwidthComputeSpec()


def _power(mode: str) -> Callable[[int, int], tuple[Any, Any]]:
    def make(n: int, seed: int) -> tuple[Any, Any]:
        return PowerInstance.generate(n, seed=seed), PowerSpec(mode=mode)
    return make


def _joint(n: int, seed: int) -> tuple[Any, Any]:
    return JointBPInstance.generate(n, seed=seed), JointBPSpec(area_scale=0.8)


#: name -> (maker, maximise?, CLARABEL settings)
PROBLEMS: dict[str, tuple[Callable[[int, int], tuple[Any, Any]], bool, dict[str, Any]]] = {
    "bandwidth_compute": (_bandwidth, False, {}),
    "power_sum_rate": (_power("sum_rate"), True, {}),
    # default tolerances leave ~1e-6 relative on the min-power objective (rates near 0 make the
    # exponential cone's absolute accuracy a relative one); 1e-10 gaps fix that
    "power_min_power": (_power("min_power"), False,
                        {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}),
    "joint_bp": (_joint, False, dict(CVXPY_SETTINGS)),
}


def _arrays(alloc: Any) -> dict[str, np.ndarray]:
    """The array fields of an allocation dataclass."""
    return {f.name: np.asarray(getattr(alloc, f.name), dtype=np.float64)
            for f in dataclasses.fields(alloc)
            if isinstance(getattr(alloc, f.name), np.ndarray)}


def alloc_diff(fast: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> float:
    """Largest ``max|fast - ref| / max|fast|`` over the allocation's array fields."""
    worst = 0.0
    for name, a in fast.items():
        b = ref.get(name)
        if b is None or b.shape != a.shape or a.size == 0:
            continue
        scale = float(np.max(np.abs(a))) or 1.0
        worst = max(worst, float(np.max(np.abs(a - b))) / scale)
    return worst


#: CLARABEL at tight tolerances (``--tight``), on top of a problem's own settings
TIGHT: dict[str, float] = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12,
                           "tol_ktratio": 1e-10}


def _cvxpy_child(name: str, n: int, seed: int, mem_gb: float, conn: Any,
                 tight: bool = False) -> None:
    """Build and solve the CVXPY model in a child process; send a dict of results back."""
    if mem_gb > 0:
        lim = int(mem_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    out: dict[str, Any] = {"status": "error"}
    try:
        import cvxpy  # noqa: F401  (import cost is not part of the build time)

        from aigc_opt.backend import SolveOptions
        from aigc_opt.solvers.cvxpy_backend import CvxpyBackend

        maker, _, settings = PROBLEMS[name]
        settings = {**settings, **TIGHT} if tight else settings
        inst, spec = maker(n, seed)
        c0 = time.process_time()
        t0 = time.perf_counter()
        program = spec.build(inst)
        out["build_s"] = time.perf_counter() - t0
        res = CvxpyBackend().solve(program, SolveOptions(extra=settings))
        out["solve_s"] = res.stats.solve_seconds
        st = program.problem.solver_stats
        out["clarabel_s"] = float(st.solve_time) if st is not None and st.solve_time else math.nan
        out["status"] = res.termination.value
        if res.has_solution:
            scale = float(program.meta.get("objective_scale", 1.0))
            out["objective"] = res.objective * scale
            t0 = time.perf_counter()
            alloc = spec.decode(inst, program, res.values)
            out["decode_s"] = time.perf_counter() - t0
            out["cpu_s"] = time.process_time() - c0  # build + solve + decode
            out["allocation"] = _arrays(alloc)
            m = evaluate(inst, alloc, spec)
            out["eval_objective"] = m.objective
            out["max_violation"] = m.max_violation
    except MemoryError:
        out["status"] = "memory"
    except Exception as exc:  # report, never hang the parent
        out["status"] = f"error: {type(exc).__name__}: {str(exc)[:80]}"
    out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    conn.send(out)
    conn.close()


def run_cvxpy(name: str, n: int, seed: int, timeout: float, mem_gb: float,
              tight: bool = False) -> dict[str, Any]:
    """CVXPY in a child process (fork) with a wall-time and memory limit."""
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_cvxpy_child, args=(name, n, seed, mem_gb, send, tight))
    t0 = time.perf_counter()
    proc.start()
    send.close()
    out: dict[str, Any]
    if recv.poll(timeout):
        try:
            out = recv.recv()
        except EOFError:
            out = {"status": "crashed"}
    else:
        out = {"status": f"timeout>{timeout:g}s"}
    wall = time.perf_counter() - t0
    proc.join(5)
    if proc.is_alive():
        proc.kill()
        proc.join()
    if proc.exitcode not in (0, None) and out.get("status") == "crashed":
        out["status"] = f"crashed (exit {proc.exitcode}, likely the {mem_gb:g} GB limit)"
    out["wall_s"] = wall
    return out


#: problem -> name of the :mod:`aigc_opt.problems.allocation.jit` constant that limits the size
#: at which its ``closed_form`` runs the compiled (numba) kernel
JIT_LIMITS: dict[str, str] = {"bandwidth_compute": "BANDWIDTH_MAX_USERS",
                              "joint_bp": "JOINT_BP_MAX_USERS",
                              "power_sum_rate": "POWER_MAX_USERS"}


def fast_path(name: str, n: int) -> str:
    """``"jit"`` when the problem's closed form runs its compiled kernel at size n, else
    ``"numpy"``."""
    limit = JIT_LIMITS.get(name)
    return "jit" if limit is not None and _jit.use_kernel(n, getattr(_jit, limit)) else "numpy"


def run_fast(name: str, n: int, seed: int) -> dict[str, Any]:
    """Time the closed-form path (best of a few repeats for small N) and check it.

    The first call (through ``run_method``) is the warm-up: it compiles the numba kernel, or
    loads it from numba's cache, and is not timed into ``fast_s``; ``jit_compile_s`` is its
    ``stats.extra["jit_first_call_s"]`` (the kernel's first, untimed call in this process:
    compile or cache load plus one solve; else that call's time minus the best timed solve; 0
    for the numpy paths).
    """
    maker, _, _ = PROBLEMS[name]
    t0 = time.perf_counter()
    inst, spec = maker(n, seed)
    gen_s = time.perf_counter() - t0
    repeats = int(min(20, max(1, 100_000 // n)))
    times, cpu = [], []
    quiet = SolveOptions(verify=False)  # CVXPY's time has no evaluator call either
    method = algorithms(spec)["closed_form"]
    path = fast_path(name, n)
    t0 = time.perf_counter()
    res = run_method(inst, spec, "closed_form", options=quiet)  # warm-up, through the API
    first_s = time.perf_counter() - t0
    first_call = res.stats.extra.get("jit_first_call_s")  # set on a kernel's first use
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        res = method(inst, spec, quiet)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    t0 = time.perf_counter()
    m = evaluate(inst, res.allocation, spec) if res.has_solution else None
    eval_s = time.perf_counter() - t0
    arrays = _arrays(res.allocation) if res.has_solution else {}
    jit_s = 0.0
    if path == "jit":
        jit_s = float(first_call) if first_call is not None else max(first_s - min(times), 0.0)
    if path == "jit":
        logger.info("%s N=%d: numba kernel warm-up (compile or cache load) %.3f s", name, n,
                    jit_s)
    return {
        "fast_path": path, "jit_compile_s": jit_s,
        "gen_s": gen_s, "fast_s": min(times), "fast_cpu_s": float(np.median(cpu)),
        "eval_s": eval_s, "status": res.termination.value,
        "objective": res.objective, "gap": res.gap, "message": res.message,
        "bound": res.bound, "allocation": arrays,
        "eval_rel": abs(m.objective - res.objective) / abs(res.objective) if m else math.nan,
        "max_violation": m.max_violation if m else math.nan,
    }


def _inaccurate(sign: float, fast_obj: float, fast_gap: float, cv: dict[str, Any]) -> str:
    """Which side is off: the fast path's objective is certified to ``fast_gap`` (dual bound);
    CVXPY is the inaccurate side when the evaluator scores its allocation worse by more than
    that (or it violates a constraint by > 1e-9), the fast path if CVXPY's allocation is
    feasible and *better* than the certified optimum."""
    ev = cv.get("eval_objective", math.nan)
    rel = sign * (ev - fast_obj) / abs(fast_obj) if fast_obj else math.nan
    if not math.isfinite(rel):
        return "-"
    tol = max(abs(fast_gap) if math.isfinite(fast_gap) else 0.0, 1e-12)
    viol = cv.get("max_violation", 0.0)
    if rel < -tol:
        return "fast" if not (math.isfinite(viol) and viol > 1e-9) else "cvxpy(viol)"
    if rel > tol or (math.isfinite(viol) and viol > 1e-9):
        return "cvxpy"
    return "none"


def run(problems: list[str], sizes: list[int], seed: int, timeout: float, mem_gb: float,
        cvxpy_max: int, tight: bool = False) -> list[dict[str, Any]]:
    """One row per (problem, N)."""
    rows = []
    for name in problems:
        maximise = PROBLEMS[name][1]
        for n in sizes:
            fast = run_fast(name, n, seed)
            cv: dict[str, Any] = {"status": "skipped"} if n > cvxpy_max else \
                run_cvxpy(name, n, seed, timeout, mem_gb, tight)
            cobj = cv.get("objective", math.nan)
            sign = -1.0 if maximise else 1.0
            rel = sign * (cobj - fast["objective"]) / abs(fast["objective"])
            total = (cv.get("build_s", math.nan) + cv.get("solve_s", math.nan)
                     + cv.get("decode_s", math.nan))
            if not math.isfinite(cobj):  # no CVXPY solution: no speed-up to report
                total = math.nan
            row = {
                "problem": name, "n_users": n, "fast_path": fast["fast_path"],
                "fast_s": fast["fast_s"], "jit_compile_s": fast["jit_compile_s"],
                "fast_status": fast["status"], "fast_gap": fast["gap"],
                "fast_eval_rel": fast["eval_rel"], "fast_max_violation": fast["max_violation"],
                "cvxpy_status": cv["status"], "cvxpy_build_s": cv.get("build_s", math.nan),
                "cvxpy_solve_s": cv.get("solve_s", math.nan),
                "clarabel_s": cv.get("clarabel_s", math.nan),
                "cvxpy_wall_s": cv.get("wall_s", math.nan),
                "cvxpy_peak_gb": cv.get("peak_rss_gb", math.nan),
                "speedup_total": total / fast["fast_s"],
                "fast_cpu_s": fast["fast_cpu_s"], "cvxpy_cpu_s": cv.get("cpu_s", math.nan),
                "speedup_cpu": cv.get("cpu_s", math.nan) / fast["fast_cpu_s"]
                if fast["fast_cpu_s"] > 0 else math.nan,
                "speedup_solver": cv.get("clarabel_s", math.nan) / fast["fast_s"],
                "rel_diff": rel, "cvxpy_max_violation": cv.get("max_violation", math.nan),
                "alloc_diff": alloc_diff(fast["allocation"], cv["allocation"])
                if "allocation" in cv else math.nan,
                "inaccurate": _inaccurate(sign, fast["objective"], fast["gap"], cv),
                "fast_eval_s": fast["eval_s"],
                "fast_objective": fast["objective"], "cvxpy_objective": cobj,
                "gen_s": fast["gen_s"], "fast_message": fast["message"],
            }
            rows.append(row)
            _print_row(row)
    return rows


#: (row key, header, width, format spec)
_COLS = [("problem", "problem", 17, "s"), ("n_users", "N", 8, "d"), ("fast_path", "path", 5, "s"),
         ("fast_s", "fast s", 9, ".6f"), ("jit_compile_s", "jit s", 6, ".2f"),
         ("fast_gap", "gap", 8, ".0e"), ("fast_eval_rel", "eval", 8, ".0e"),
         ("cvxpy_status", "cvxpy", 14, "s"), ("cvxpy_build_s", "build s", 8, ".2f"),
         ("cvxpy_solve_s", "solve s", 8, ".2f"), ("clarabel_s", "clar. s", 8, ".2f"),
         ("cvxpy_peak_gb", "GB", 6, ".2f"), ("speedup_total", "x total", 8, ".0f"),
         ("speedup_cpu", "x cpu", 7, ".0f"),
         ("speedup_solver", "x solver", 8, ".0f"), ("rel_diff", "rel diff", 9, ".1e"),
         ("alloc_diff", "alloc d", 8, ".0e"), ("inaccurate", "off side", 11, "s")]


def _header() -> str:
    return " ".join(f"{h:<{w}}" if k == "problem" else f"{h:>{w}}" for k, h, w, _ in _COLS)


def _print_row(row: dict[str, Any]) -> None:
    cells = []
    for key, _, width, spec in _COLS:
        v = row[key]
        if isinstance(v, float) and not math.isfinite(v):
            text = "-"
        elif spec == "s":
            text = str(v)[:width]
        else:
            text = format(v, spec)
        cells.append(f"{text:<{width}}" if key == "problem" else f"{text:>{width}}")
    print(" ".join(cells), flush=True)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 10_000, 1_000_000])
    ap.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=300.0,
                    help="wall-time limit per CVXPY build+solve, s")
    ap.add_argument("--mem-gb", type=float, default=10.0,
                    help="address-space limit of the CVXPY child, GB (0: none)")
    ap.add_argument("--cvxpy-max", type=int, default=10**9,
                    help="skip CVXPY above this N")
    ap.add_argument("--tight", action="store_true",
                    help="CLARABEL at tight tolerances (1e-12 gaps and feasibility)")
    ap.add_argument("--csv", type=Path, default=None)
    args = ap.parse_args(argv)
    jit_state = "off (numpy paths)"
    if _jit.JIT_ENABLED:
        import numba

        jit_state = f"numba {numba.__version__}"
    print(f"numpy {np.__version__}; python {sys.version.split()[0]}; timeout {args.timeout:g} s;"
          f" CVXPY memory limit {args.mem_gb:g} GB; kernels: {jit_state} (jit s: first call's"
          " compile or cache load, not in fast s)")
    print(_header())
    rows = run(args.problems, args.sizes, args.seed, args.timeout, args.mem_gb, args.cvxpy_max,
               args.tight)
    if args.csv:
        with args.csv.open("w", newline="") as fh:
            wr = csv.DictWriter(fh, fieldnames=list(rows[0]))
            wr.writeheader()
            wr.writerows(rows)
        print(f"wrote {args.csv}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
