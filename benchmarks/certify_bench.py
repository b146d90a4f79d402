"""Certification fuzz run: random valid instances across scales, every method, checked results.

For every family variant of :data:`FAMILIES` a case is a small seeded instance (the family's
``make_instance``) in which one *group* of fields (e.g. all bit sizes, all memory sizes, the
objective weights) is multiplied by ``10**k`` with ``k`` drawn from ``-6..6`` (sometimes
``+-20`` or ``+-300``, the scales of GitHub issue 11). Every method that
``aigc_opt.methods(spec, instance)`` lists runs on it (``time_limit`` 10 s), and the run checks:

* a result that claims a solution (``optimal``/``feasible``) is verified by the family's
  evaluator (``unverified`` counts as a failure);
* a result that claims optimality is never worse than any verified result of another method
  beyond its reported gap (plus the verification tolerance);
* two optimal results agree within their gaps (HiGHS vs SCIP vs the exact algorithm ...);
* an exact method does not report ``infeasible`` when another method has a verified solution,
  nor ``unbounded`` when another proves a finite optimum;
* nothing raises except :class:`aigc_opt.errors.ValidationError` (inputs the validators
  refuse: counted as ``refused``).

Run ``python -m aigc_opt.benchmarks.certify_bench --cases 10000 [--seed 0] [--family
caching]``: one table of outcomes per family and method (verified optimal / verified feasible /
infeasible / limit / unverified / refused by validation / error status / exception / crash),
then the invariant failures; the exit status is 1 when there is any failure.

Isolation. Solver libraries are native code (one aborted a whole 5,000-case run with
``free(): invalid pointer``), so the command line runs the cases in ``spawn`` worker processes,
``--jobs`` at a time, each taking chunks of ``--chunk`` consecutive cases and reporting every
case as it finishes. A worker that dies or stays silent longer than ``--case-timeout`` seconds
is replaced; its case is recorded as ``crash`` (an invariant failure naming the case and how
to rerun it in process, ``run_case(family, seed)``) and the rest of its chunk goes to a new
worker. Case seeds and families do not depend on ``--jobs`` or ``--chunk``. :func:`run` with
``jobs=None`` runs in process (the property tests).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import sys
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import aigc_opt as ao
from aigc_opt.backend import SolveOptions
from aigc_opt.cases import get_case
from aigc_opt.errors import ValidationError
from aigc_opt.result import Result, Termination
from aigc_opt.solve import heuristics

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------- field groups
_SCN_GROUPS: dict[str, tuple[str, ...]] = {
    "bits": ("request_input_bits", "request_output_bits"),
    "compute": ("user_compute_flops", "server_compute_flops", "cloud_compute_flops"),
    "radio": ("server_uplink_hz", "server_downlink_hz"),
    "backhaul": ("server_backhaul_bps", "server_load_bps"),
    "memory": ("server_gpu_memory_bytes", "model_size_bytes"),
    "model_size": ("model_size_bytes",),
    "gpu_memory": ("server_gpu_memory_bytes",),
    "flop": ("model_flop_per_step",),
    "deadline": ("request_deadline_s", "cloud_latency_s"),
    "energy_budget": ("user_energy_budget_j",),
    "power": ("user_tx_power_w", "server_tx_power_w"),
    "weight": ("request_weight",),
    "steps": ("request_steps",),
    "slots": ("server_gpu_slots", "server_subchannels"),
    "energy_per_flop": ("user_kappa", "server_energy_per_flop_j", "cloud_energy_per_flop_j"),
    "gain": ("channel_gain",),
    "noise": ("noise_psd_w_per_hz",),
    "cloud_cost": ("cloud_cost_per_flop",),
    "objective": ("@objective",),
}

_GROUPS: dict[str, dict[str, tuple[str, ...]]] = {
    "scenario": _SCN_GROUPS,
    "power": {
        "gain": ("gain",), "noise": ("noise_psd_w_per_hz",), "bandwidth": ("bandwidth_hz",),
        "power": ("total_power_w", "max_power_w"), "total_power": ("total_power_w",),
        "rate": ("rate_target_bps",), "weight": ("weight",),
    },
    "bandwidth": {
        "bits": ("data_bits",), "eff": ("spectral_eff",), "work": ("workload_flop",),
        "weight": ("weight",), "rate": ("min_rate_bps",), "deadline": ("deadline_s",),
        "bandwidth": ("bandwidth_hz",), "compute": ("compute_flops",),
        "capacity": ("bandwidth_hz", "compute_flops"),
    },
    "joint_bp": {
        "bits": ("data_bits",), "gain": ("gain",), "power": ("max_power_w",),
        "weight": ("weight",), "deadline": ("deadline_s",), "bandwidth": ("bandwidth_hz",),
        "frame": ("frame_s",), "noise": ("noise_psd_w_per_hz",),
        "time": ("deadline_s", "frame_s"),
    },
    "llm": {
        "tokens": ("prompt_tokens", "max_tokens", "quality_tokens"),
        "weight": ("weight",), "deadline": ("deadline_s",), "quality": ("quality_values",),
        "memory": ("gpu_memory_bytes", "model_bytes", "kv_bytes_per_token"),
        "kv": ("kv_bytes_per_token",), "compute": ("compute_flops",),
        "flop": ("flop_per_token",), "time": ("slot_s", "decode_step_s"),
        "energy": ("energy_per_flop_j",), "slots": ("batch_slots",),
        "objective": ("@objective",),
    },
    "caching": {
        "requests": ("requests",), "slot": ("slot_s",),
        "memory": ("server_gpu_memory_bytes", "model_size_bytes"),
        "model_size": ("model_size_bytes",), "gpu_memory": ("server_gpu_memory_bytes",),
        "load": ("server_load_bps",), "compute": ("server_compute_flops", "cloud_compute_flops"),
        "latency": ("server_latency_s", "cloud_latency_s"), "flop": ("model_flop_per_request",),
        "cost": ("cloud_cost_per_flop",), "objective": ("@objective",),
    },
    "contract": {"theta": ("theta",), "sigma": ("sigma",), "xi": ("xi",),
                 "level_max": ("level_max",)},
    "stackelberg": {"valuation": ("valuation",), "budget": ("budget",),
                    "unit_cost": ("unit_cost",), "capacity": ("capacity",),
                    "money": ("budget", "unit_cost")},
    "auction": {"values": ("values",), "capacity": ("capacity",)},
    "wpmec": {"gains": ("gains",), "weights": ("weights",)},
    "migration": {
        "none": (), "time": ("access_s", "slot_s", "hop_delay_s"),
        "energy": ("migration_fixed_j", "migration_j_per_byte_hop"),
        "memory": ("model_memory_bytes", "server_gpu_memory_bytes"),
        "gpu_memory": ("server_gpu_memory_bytes",), "state": ("user_state_bytes",),
        "work": ("model_flop_per_step", "server_flops"), "flop": ("model_flop_per_step",),
        "quality": ("quality",),
    },
    "iscc": {
        "none": (), "bits": ("task_data_bits",), "deadline": ("task_deadline_s",),
        "work": ("task_workload_flop", "gpu_flops"), "rate": ("link_rate_per_rb_bps",),
        "weight": ("task_weight",), "time": ("level_time_s", "cloud_latency_s"),
    },
    "lifecycle": {
        "none": (), "demand": ("demand_rps",), "memory": ("node_memory_bytes",),
        "compute": ("node_flops", "node_request_flops"), "price": ("node_cost_per_flop",),
        "energy": ("node_energy_per_flop",), "latency": ("link_latency_s",),
        "bandwidth": ("link_bandwidth_bps", "node_backhaul_bps"),
    },
    "frame": {"none": (), "gains": ("gains",), "queues": ("queues_bits", "virtual_queues"),
              "frame": ("tau_s",)},
    "agod": {"none": (), "steps": ("task_steps", "provider_capacity")},
}

#: Objective weight fields scaled by the ``objective`` group, per objective type name.
_OBJECTIVE_FIELDS = {
    "OffloadObjective": ("latency", "device_energy", "server_energy", "quality",
                         "deadline_penalty", "cloud_cost", "load"),
    "LlmObjective": ("latency", "energy", "quality"),
    "CachingObjective": ("latency", "cloud", "load_time", "backhaul", "accuracy"),
}


@dataclass(frozen=True)
class Family:
    """One family variant in the fuzz run."""

    name: str  # case kind name
    groups: str  # key of _GROUPS
    sizes: dict[str, Any]
    spec_params: Callable[[np.random.Generator], dict[str, Any]] = lambda rng: {}


def _offloading_params(rng: np.random.Generator) -> dict[str, Any]:
    return {"objective": {"deadline": str(rng.choice(["hard", "penalty"]))}}


def _migration_params(rng: np.random.Generator) -> dict[str, Any]:
    """A budget that binds or not, hard or soft (a soft one is no row: issue of this stop)."""
    return {"budget_j": float(rng.choice([0.0, 0.05, 0.5, 5.0])),
            "budget_hard": bool(rng.integers(2))}


def _iscc_params(rng: np.random.Generator) -> dict[str, Any]:
    return {"prune": bool(rng.integers(2))}


def _joint_bp_params(rng: np.random.Generator) -> dict[str, Any]:
    return {"use_deadline": bool(rng.integers(2)),
            "area_scale": float(rng.choice([0.3, 0.8, 1.0])),
            "energy_weight": float(rng.choice([0.1, 1.0, 10.0]))}


def _power_params(rng: np.random.Generator) -> dict[str, Any]:
    return {"mode": str(rng.choice(["sum_rate", "min_power"]))}


#: The fuzzed families (sizes small so that 10,000 cases fit in an hour on one core).
FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("offloading.assignment", "scenario", {"n_users": 6, "n_servers": 2, "n_models": 3},
           _offloading_params),
    Family("offloading.partial", "scenario", {"n_users": 6, "n_servers": 2, "n_models": 3},
           _offloading_params),
    Family("offloading.multicell", "scenario", {"n_users": 6, "n_servers": 3, "n_models": 3},
           _offloading_params),
    Family("allocation.power", "power", {"n_users": 8}, _power_params),
    Family("allocation.bandwidth_compute", "bandwidth", {"n_users": 8, "n_servers": 2}),
    Family("allocation.joint_bp", "joint_bp", {"n_users": 8}, _joint_bp_params),
    Family("allocation.steps", "scenario", {"n_users": 5, "n_servers": 2, "n_models": 2}),
    Family("allocation.hybrid_steps", "scenario",
           {"n_users": 5, "n_servers": 2, "n_models": 2}),
    Family("allocation.llm_tokens", "llm", {"n_requests": 8}),
    Family("caching.offline", "caching", {"n_servers": 2, "n_models": 3, "n_slots": 4}),
    Family("caching.compute", "caching", {"n_servers": 2, "n_models": 3, "n_slots": 4}),
    Family("incentives.contract", "contract", {"n_types": 4}),
    Family("incentives.stackelberg", "stackelberg", {"n_followers": 6}),
    Family("incentives.auction", "auction", {"n_bidders": 5, "n_servers": 2}),
    Family("wpmec.binary", "wpmec", {"n_users": 6}),
    Family("offloading.joint", "scenario", {"n_users": 5, "n_servers": 2, "n_models": 3},
           _offloading_params),
    Family("migration.offline", "migration", {"n_users": 4, "n_servers": 3, "n_slots": 4},
           _migration_params),
    Family("iscc.matching", "iscc", {"n_tasks": 10, "n_sites": 2, "n_classes": 2},
           _iscc_params),
    Family("lifecycle.placement", "lifecycle", {"n_services": 2, "n_regions": 2, "n_edge": 2}),
    Family("online.frame", "frame", {"n_users": 6}),
    Family("agod.selection", "agod", {"n_providers": 4, "total_time": 2e3, "rate": 4e-3}),
)}

#: Outcome columns of the table, in order (``crash``: the worker process running the case died
#: or hung, see the module docstring).
OUTCOMES = ("verified_optimal", "verified_feasible", "infeasible", "limit", "unverified",
            "refused", "error", "exception", "crash")


@dataclass
class CaseReport:
    """What one case produced."""

    family: str
    label: str
    outcomes: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    results: dict[str, Result] = field(default_factory=dict)
    seconds: float = 0.0


# ---------------------------------------------------------------------- case construction
def _scaled(value: Any, factor: float) -> Any:
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "iu":
            return np.maximum(np.round(value.astype(np.float64) * factor), 1.0)
        if value.dtype.kind == "f":
            return value * factor
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return max(round(value * factor), 1) if math.isfinite(value * factor) else value * factor
    if isinstance(value, float):
        return value * factor
    return value


def scale_instance(instance: Any, spec: Any, group: tuple[str, ...], factor: float
                   ) -> tuple[Any, Any]:
    """``(instance, spec)`` with the fields of ``group`` multiplied by ``factor`` (validated:
    may raise :class:`ValidationError`)."""
    changes = {f: _scaled(getattr(instance, f), factor) for f in group if not f.startswith("@")}
    if "@objective" in group and hasattr(spec, "objective"):
        obj = spec.objective
        names = _OBJECTIVE_FIELDS.get(type(obj).__name__, ())
        spec = dataclasses.replace(spec, objective=dataclasses.replace(
            obj, **{n: getattr(obj, n) * factor for n in names}))
    if changes:
        rep = getattr(instance, "replace", None)
        instance = rep(**changes) if callable(rep) else dataclasses.replace(instance, **changes)
    return instance, spec


def draw_exponent(rng: np.random.Generator) -> int:
    """Mostly -6..6; 10 % at +-20 and 5 % at +-300 (the extremes of issue 11)."""
    u = rng.random()
    if u < 0.05:
        return int(rng.choice([-300, 300]))
    if u < 0.15:
        return int(rng.choice([-20, 20]))
    return int(rng.integers(-6, 7))


def case_label(family: str, seed: int) -> str:
    """The label :func:`make_case` gives the case of ``family`` and ``seed`` (same draws),
    without building it (for a case whose worker crashed)."""
    rng = np.random.default_rng(seed)
    group = str(rng.choice(sorted(_GROUPS[FAMILIES[family].groups])))
    return f"{family} seed={seed} {group}*1e{draw_exponent(rng)}"


def make_case(family: str, seed: int, group: str | None = None, exponent: int | None = None
              ) -> tuple[Any, Any, str]:
    """The fuzzed ``(instance, spec, label)`` of ``family`` for ``seed`` (may raise
    ValidationError when the scaled values are refused)."""
    fam = FAMILIES[family]
    rng = np.random.default_rng(seed)
    groups = _GROUPS[fam.groups]
    if group is None:
        group = str(rng.choice(sorted(groups)))
    if exponent is None:
        exponent = draw_exponent(rng)
    kind = get_case(family)
    params = fam.spec_params(rng)
    spec = kind.make_spec(**params)
    instance = kind.make_instance(seed, **fam.sizes)
    label = f"{family} seed={seed} {group}*1e{exponent}"
    instance, spec = scale_instance(instance, spec, groups[group], 10.0 ** exponent)
    return instance, spec, label


# ---------------------------------------------------------------------- checks
def outcome(res: Result) -> str:
    """The table column of one result."""
    t = res.termination
    if t is Termination.UNVERIFIED or (res.has_solution and not res.verified):
        return "unverified"
    if t is Termination.OPTIMAL:
        return "verified_optimal"
    if t is Termination.FEASIBLE:
        return "verified_feasible"
    if t in (Termination.INFEASIBLE, Termination.INFEASIBLE_OR_UNBOUNDED, Termination.UNBOUNDED):
        return "infeasible"
    if t is Termination.LIMIT:
        return "limit"
    return "error"


def _tol(a: float, b: float, gap: float) -> float:
    g = gap if math.isfinite(gap) else 0.0
    return g * max(1.0, abs(a), abs(b)) + 2e-5 * max(abs(a), abs(b)) + 1e-8


def check_results(results: dict[str, Result], sense: str,
                  heuristics: frozenset[str] = frozenset()) -> list[str]:
    """Invariant failures among the results of one case (see module docstring)."""
    bad: list[str] = []
    ok = {m: r for m, r in results.items() if r.has_solution and r.verified
          and r.termination in (Termination.OPTIMAL, Termination.FEASIBLE)}
    sign = 1.0 if sense == "min" else -1.0
    for m, r in results.items():
        if outcome(r) == "unverified":
            bad.append(f"{m}: unverified: {r.message[:200]}")
    for m, r in ok.items():
        if r.termination is not Termination.OPTIMAL:
            continue
        for h, q in ok.items():
            if h == m:
                continue
            gap = max(r.gap if math.isfinite(r.gap) else 0.0,
                      q.gap if q.optimal and math.isfinite(q.gap) else 0.0)
            worse = sign * (r.objective - q.objective)
            if worse > _tol(r.objective, q.objective, gap):
                bad.append(f"{m} optimal {r.objective:.10g} worse than {h} "
                           f"{q.objective:.10g} (gap {r.gap:.3g})")
    for m, r in results.items():
        if r.termination in (Termination.INFEASIBLE, Termination.INFEASIBLE_OR_UNBOUNDED) \
                and ok and m not in heuristics:
            bad.append(f"{m}: {r.termination.value} but {sorted(ok)[0]} has a verified "
                       f"solution ({r.message[:120]})")
    proven = sorted(h for h, q in ok.items() if q.optimal and math.isfinite(q.bound))
    for m, r in results.items():
        if r.termination is Termination.UNBOUNDED and proven and m not in heuristics:
            bad.append(f"{m}: unbounded but {proven[0]} proves a finite optimum "
                       f"({r.message[:120]})")
    return bad


def run_case(family: str, seed: int, *, group: str | None = None, exponent: int | None = None,
             time_limit: float = 10.0, methods: list[str] | None = None) -> CaseReport:
    """Build one fuzzed case, run every method on it and check the invariants."""
    t0 = time.perf_counter()
    try:
        instance, spec, label = make_case(family, seed, group, exponent)
    except ValidationError as exc:
        rep = CaseReport(family, f"{family} seed={seed}", {"*": "refused"})
        rep.failures = []
        rep.results = {}
        rep.seconds = time.perf_counter() - t0
        logger.debug("refused: %s", exc)
        return rep
    rep = CaseReport(family, label)
    try:
        names = methods if methods is not None else ao.methods(spec, instance)
    except ValidationError:
        rep.outcomes["*"] = "refused"
        return rep
    except Exception as exc:  # listing methods builds the program
        rep.outcomes["*"] = "exception"
        rep.failures.append(f"methods(): {type(exc).__name__}: {exc}")
        return rep
    heur = frozenset(heuristics(spec))
    opts = SolveOptions(time_limit=time_limit)
    for m in names:
        try:
            res = ao.run_method(instance, spec, m, options=opts, seed=seed)
        except ValidationError as exc:
            rep.outcomes[m] = "refused"
            logger.debug("%s refused by %s: %s", label, m, exc)
            continue
        except Exception as exc:
            rep.outcomes[m] = "exception"
            rep.failures.append(f"{m}: raised {type(exc).__name__}: {exc}\n"
                                + traceback.format_exc(limit=-3))
            continue
        rep.results[m] = res
        rep.outcomes[m] = outcome(res)
    rep.failures += check_results(rep.results, get_case(family).sense_of(spec), heur)
    rep.seconds = time.perf_counter() - t0
    return rep


# ---------------------------------------------------------------------- the run
Table = dict[tuple[str, str], Counter[str]]


def case_of(i: int, seed: int, fams: list[str]) -> tuple[str, int]:
    """Family and case seed of case ``i`` of a run (round-robin over ``fams``)."""
    return fams[i % len(fams)], seed * 1_000_003 + i


def _add(table: Table, failures: list[tuple[int, str, str]], i: int, family: str, label: str,
         outcomes: dict[str, str], fails: list[str]) -> None:
    for m, o in outcomes.items():
        table[(family, m)][o] += 1
    failures += [(i, label, f) for f in fails]


def run(n_cases: int, *, seed: int = 0, families: list[str] | None = None,
        time_limit: float = 10.0, progress: bool = True, jobs: int | None = None,
        chunk: int = 200, case_timeout: float = 900.0, worker: Callable[..., None] | None = None,
        stop_after: float | None = None, info: dict[str, Any] | None = None
        ) -> tuple[Table, list[tuple[str, str]]]:
    """Run ``n_cases`` cases spread round-robin over ``families``; return the outcome counts
    per (family, method) and the failures ``(case label, message)`` in case order.

    ``jobs=None`` runs every case in this process; ``jobs >= 1`` runs them in that many
    isolated worker processes (see the module docstring: a crashed case is an outcome),
    ``chunk`` consecutive cases per process. ``worker`` replaces the worker function (a
    module-level function with :func:`worker_main`'s signature; tests inject crashes).
    ``stop_after`` (seconds): start no case (in process) or chunk (workers) after that wall
    time; the run then covers the cases done so far (``info["cases_done"]`` says how many
    when a dict ``info`` is given).
    """
    fams = families or list(FAMILIES)
    table: Table = defaultdict(Counter)
    failures: list[tuple[int, str, str]] = []
    t0 = time.perf_counter()
    done = 0

    def tick() -> None:
        if progress and done % 100 == 0:
            print(f"[{done}/{n_cases}] {time.perf_counter() - t0:.0f}s, "
                  f"{len(failures)} failures", file=sys.stderr, flush=True)

    deadline = math.inf if stop_after is None else time.monotonic() + stop_after
    if jobs is None:
        for i in range(n_cases):
            if time.monotonic() > deadline:
                break
            fam, case_seed = case_of(i, seed, fams)
            rep = run_case(fam, case_seed, time_limit=time_limit)
            _add(table, failures, i, fam, rep.label, rep.outcomes, rep.failures)
            done += 1
            tick()
    else:
        for msg in _run_isolated(n_cases, seed, fams, time_limit, max(int(jobs), 1),
                                 max(int(chunk), 1), case_timeout, worker or worker_main,
                                 deadline):
            i, fam, label, outcomes, fails = msg
            _add(table, failures, i, fam, label, outcomes, fails)
            done += 1
            tick()
    failures.sort(key=lambda f: f[0])
    if info is not None:
        info["cases_done"] = done
    return table, [(label, f) for _, label, f in failures]


CaseMsg = tuple[int, str, str, dict[str, str], list[str]]


def worker_case(conn: Any, i: int, seed: int, fams: list[str], time_limit: float) -> None:
    """Run case ``i`` in a worker and send ``("start", i)`` then ``("case", CaseMsg)``."""
    fam, case_seed = case_of(i, seed, fams)
    conn.send(("start", i))
    try:
        rep = run_case(fam, case_seed, time_limit=time_limit)
        msg: CaseMsg = (i, fam, rep.label, dict(rep.outcomes), list(rep.failures))
    except Exception as exc:  # run_case catches method errors; this is a harness bug
        msg = (i, fam, case_label(fam, case_seed), {"*": "exception"},
               [f"run_case raised {type(exc).__name__}: {exc}"])
    conn.send(("case", msg))


def worker_main(conn: Any, cases: list[int], seed: int, fams: list[str], time_limit: float
                ) -> None:
    """Worker process: run ``cases`` in order (one message pair per case), then ``("end",)``."""
    import warnings

    logging.basicConfig(level=logging.ERROR)
    warnings.simplefilter("ignore")
    for i in cases:
        worker_case(conn, i, seed, fams, time_limit)
    conn.send(("end", -1))
    conn.close()


def _crash_msg(i: int, seed: int, fams: list[str], why: str) -> CaseMsg:
    fam, case_seed = case_of(i, seed, fams)
    return (i, fam, case_label(fam, case_seed), {"*": "crash"},
            [f"crash: {why} while running case {i}; reproduce in process with "
             f"run_case({fam!r}, {case_seed})"])


def _run_isolated(n_cases: int, seed: int, fams: list[str], time_limit: float, jobs: int,
                  chunk: int, case_timeout: float, target: Callable[..., None],
                  deadline: float = math.inf) -> Any:
    """Yield one :data:`CaseMsg` per case, running the cases in spawned worker processes."""
    import multiprocessing as mp
    from multiprocessing.connection import wait

    ctx = mp.get_context("spawn")
    pending = [list(range(a, min(a + chunk, n_cases))) for a in range(0, n_cases, chunk)]
    pending.reverse()  # pop() from the end: chunks in case order
    # worker -> [process, connection, remaining cases, case running, last message time]
    active: dict[Any, list[Any]] = {}

    def start(cases: list[int]) -> None:
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=target, args=(child, cases, seed, fams, time_limit),
                           daemon=True)
        proc.start()
        child.close()
        active[parent] = [proc, parent, list(cases), None, time.monotonic()]

    def finish(conn: Any, why: str | None) -> list[CaseMsg]:
        """Retire a worker; on a crash, record its running case and requeue the rest."""
        proc, _, remaining, running, _ = active.pop(conn)
        out: list[CaseMsg] = []
        if why is not None and proc.is_alive():
            proc.kill()
        proc.join(timeout=30)
        if why is None and proc.exitcode not in (0, None):
            why = f"worker exited with code {proc.exitcode}"
        if remaining and why is not None:
            bad = running if running is not None else remaining[0]
            code = proc.exitcode
            sig = f" (signal {-code})" if isinstance(code, int) and code < 0 else ""
            out.append(_crash_msg(bad, seed, fams, why + sig))
            rest = [c for c in remaining if c != bad]
            if rest:
                pending.append(rest)
        conn.close()
        return out

    try:
        while pending or active:
            if time.monotonic() > deadline:
                pending.clear()
            while pending and len(active) < jobs:
                start(pending.pop())
            ready: list[Any] = list(wait(list(active), timeout=min(case_timeout, 30.0)))
            for conn in ready:
                try:
                    kind, payload = conn.recv()
                except (EOFError, OSError):
                    proc = active[conn][0]
                    proc.join(timeout=30)
                    yield from finish(conn, f"worker died (exit code {proc.exitcode})")
                    continue
                state = active[conn]
                state[4] = time.monotonic()
                if kind == "start":
                    state[3] = payload
                elif kind == "case":
                    msg = payload
                    state[2] = [c for c in state[2] if c != msg[0]]
                    state[3] = None
                    yield msg
                else:  # "end"
                    yield from finish(conn, None)
            now = time.monotonic()
            for conn in [c for c, st in active.items() if now - st[4] > case_timeout]:
                yield from finish(conn, f"no answer for {case_timeout:g} s (hung; killed)")
    finally:
        for proc, conn, *_ in list(active.values()):
            proc.kill()
            proc.join(timeout=10)
            conn.close()


def format_table(table: dict[tuple[str, str], Counter[str]]) -> str:
    """The outcome table as fixed-width text."""
    head = ["family", "method", *OUTCOMES]
    rows = [[f, m, *(str(table[(f, m)][o]) for o in OUTCOMES)] for f, m in sorted(table)]
    width = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, width, strict=True)) for r in [head, *rows]]
    totals = Counter[str]()
    for c in table.values():
        totals.update(c)
    lines.append("total: " + ", ".join(f"{o}={totals[o]}" for o in OUTCOMES))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point (see module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--family", action="append", choices=sorted(FAMILIES))
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--dump", help="also write the counts and failures as JSON to this file")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (default 1); 0 runs "
                    "the cases in this process (no crash isolation)")
    ap.add_argument("--chunk", type=int, default=200, help="consecutive cases per worker")
    ap.add_argument("--case-timeout", type=float, default=900.0,
                    help="seconds without an answer after which a worker counts as hung")
    ap.add_argument("--stop-after", type=float, default=None,
                    help="wall seconds after which no new chunk starts (the table then covers "
                         "the cases done, printed as 'N of M cases')")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    t0 = time.perf_counter()
    info: dict[str, Any] = {}
    table, failures = run(args.cases, seed=args.seed, families=args.family,
                          time_limit=args.time_limit, progress=not args.quiet,
                          jobs=args.jobs if args.jobs > 0 else None, chunk=args.chunk,
                          case_timeout=args.case_timeout, stop_after=args.stop_after, info=info)
    done = int(info["cases_done"])
    count = f"{done} cases" if done == args.cases else f"{done} of {args.cases} cases (stopped)"
    print(f"certify_bench: {count} in {time.perf_counter() - t0:.0f} s "
          f"(seed {args.seed}, jobs {args.jobs})")
    print(format_table(table))
    if args.dump:
        with open(args.dump, "w", encoding="utf-8") as fh:
            json.dump({"cases": done, "requested": args.cases, "seed": args.seed,
                       "table": {f"{f}|{m}": dict(c) for (f, m), c in table.items()},
                       "failures": failures}, fh, indent=1)
    print(f"invariant failures: {len(failures)}")
    for label, msg in failures[:200]:
        print(f"- {label}: {msg}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
