"""Fuzz every public Python entry point with bad input and tabulate what happens (issue 12).

Each case substitutes one bad value for one field / argument / option of one entry point:
the Scenario constructor, ``replace``, ``generate`` and ``load``; every family's instance and
spec constructors (online, migration, AGOD, life-cycle and ISCC instances from their case
kinds' small defaults), generators and file loaders (WPMEC ``.npy/.csv/.mat``, caching CSV traces);
:class:`~aigc_opt.SolveOptions`; ``solve`` / ``run_method`` / ``run_heuristic`` / ``evaluate``
/ ``methods`` with unknown names, non-spec specs and instances of the wrong family. Outcomes:

* ``named``: a :class:`~aigc_opt.ValidationError` whose message names the field (the contract);
* ``no-field``: a ValidationError whose message does not name it;
* ``other``: any other exception type (broken out by type);
* ``accepted-bad``: a value that is bad for every field of its kind was accepted;
* ``hang``: the case ran past the per-case timeout (the pool, :mod:`.fuzz_pool`, replaces
  the worker; ``--workers 0`` runs the cases here and cuts an overrun with SIGALRM);
* ``accepted``: a value that is valid for this field (e.g. ``0`` for a ``>= 0`` field) was
  accepted -- not a failure.

Run ``python -m aigc_opt.benchmarks.fuzz_inputs --cases 10000`` (``--workers 1 --show 20``;
``--workers 0``: in this process). Cases are deterministic in ``(seed, index)``; ``--case I``
reruns one.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from aigc_opt.benchmarks.fuzz_pool import run

FAILURES = ("no-field", "other", "accepted-bad", "hang")


@dataclasses.dataclass(frozen=True)
class Target:
    """One entry point: ``call(field, value)`` runs it with ``field`` set to ``value``; ``kinds``
    maps each fuzzed field to its kind (float, int, bool, choice, array, iarray, barray, object,
    tuple, optional, or a special kind with its own bad values)."""

    name: str
    kinds: dict[str, str]
    call: Callable[[str, Any], Any]
    bases: dict[str, Any] = dataclasses.field(default_factory=dict)
    ctor: bool = False  # call returns the object whose field was set


# ----------------------------------------------------------------------------- bad values
class _Weird:
    def __repr__(self) -> str:
        return "<weird object>"


def _universal() -> list[tuple[str, Any]]:
    """Values bad for every numeric, flag, choice or object field."""
    return [
        ("str", "abc"), ("numeric-str", "1.5"), ("bytes", b"1"), ("complex", 1 + 1j),
        ("object", _Weird()), ("dict", {"a": 1}), ("nan", math.nan), ("huge", 1e300),
        ("-huge", -1e300), ("-inf", -math.inf), ("ragged", [[1.0, 2.0], [3.0]]),
        ("complex-array", np.array([1 + 1j, 2.0])), ("str-array", np.array(["1", "2"])),
        ("object-array", np.array([None, 1.0], dtype=object)), ("bigint", 10**30),
        ("generator", (x for x in range(3))),
    ]


def _contextual_scalars() -> list[tuple[str, Any]]:
    return [("-1", -1), ("0", 0), ("0.5", 0.5), ("1.5", 1.5), ("2", 2), ("2.0", 2.0),
            ("inf", math.inf), ("True", True), ("None", None), ("empty-list", []),
            ("np.float32", np.float32(0.25)), ("np.int64", np.int64(3)), ("1e7", 1e7)]


def _must_reject(kind: str, label: str, base: Any) -> bool:
    """Whether value ``label`` is bad for every field of ``kind`` (the oracle)."""
    if kind == "mapping":
        return label != "dict"
    if kind == "optional-array":
        return label != "None" and _must_reject("array", label, base)
    if kind == "late-name":
        return label not in ("str", "numeric-str", "unknown-choice", "empty-str")
    if label in {lab for lab, _ in _universal()} or label.startswith("arr-"):
        return True
    if kind in ("object", "sarray"):
        return True
    if kind in ("float", "int"):
        return label in ("True", "None", "empty-list") or (kind == "int" and label in
                                                           ("1.5", "0.5", "inf"))
    if kind == "bool":
        return label not in ("True", "np.bool")
    if kind == "choice":
        return label != "valid-choice"
    if kind in ("optional", "optional-int", "optional-float"):  # None: the default
        return label == "True" or (kind == "optional-int" and label in ("1.5", "0.5", "inf"))
    return label == "None"  # arrays and tuples


def _array_variants(base: np.ndarray, kind: str) -> list[tuple[str, Any, bool]]:
    """(label, value, must_reject) derived from a valid array ``base``."""
    a = np.array(base)
    out: list[tuple[str, Any, bool]] = [("tolist", a.tolist(), False)]
    if a.size == 0:
        return out
    f = a.astype(float) if a.dtype.kind in "biuf" else np.zeros(a.shape)
    nan, huge, inf = f.copy(), f.copy(), f.copy()
    nan.flat[0], huge.flat[0], inf.flat[0] = np.nan, 1e300, np.inf
    out += [("arr-nan", nan, True), ("arr-huge", huge, kind != "barray"),
            ("arr-complex", f.astype(complex) + 1j, True),
            ("arr-str", f.astype(str), True),
            ("arr-object-none", np.array([None] * a.size, dtype=object).reshape(a.shape), True),
            ("inf-entry", inf, kind in ("iarray", "barray")),
            ("negated", -f, False), ("truncated", f.reshape(-1)[:-1], False),
            ("flattened", f.reshape(-1), False), ("scalar", float(f.flat[0]), False)]
    if kind == "iarray":
        frac = f.copy()
        frac.flat[0] += 0.5
        out.append(("arr-fraction", frac, True))
    if kind != "barray":
        out.append(("arr-bool", np.ones(a.shape, dtype=bool), kind in ("array", "iarray")))
    return out


# ----------------------------------------------------------------------------- targets
def _kind_of(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, str):
        return "choice"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)):
        return "float"
    if isinstance(value, np.ndarray):
        return {"b": "barray", "i": "iarray", "u": "iarray", "U": "sarray"}.get(
            value.dtype.kind, "array")
    if isinstance(value, tuple):
        return "tuple"
    if value is None:
        return "optional"
    if isinstance(value, Mapping):
        return "mapping"
    return "object"


def _ctor_target(name: str, cls: type, base: dict[str, Any],
                 skip: Iterable[str] = ("problem", "variant")) -> Target:
    kinds = {k: _kind_of(v) for k, v in base.items() if k not in set(skip)}
    kinds.update(_OPTIONAL_INT.get(cls.__name__, {}))

    def call(field: str, value: Any) -> Any:
        return cls(**{**base, field: value})

    return Target(name, kinds, call, base, ctor=True)


#: Fields whose default is None but that take an integer when given.
_OPTIONAL_INT = {
    "OffloadingSpec": {"local_max_steps": "optional-int", "candidate_servers": "optional-int"},
    "JointSpec": {"local_max_steps": "optional-int", "candidate_servers": "optional-int"},
    "MulticellSpec": {"local_max_steps": "optional-int"},
    "SolveOptions": {"threads": "optional-int"},
    # optional arrays (None: no positions / unit requests)
    "MigrationInstance": {"server_xy_m": "optional-array", "user_xy_m": "optional-array",
                          "user_requests": "optional-array"},
    # a backend name is checked when the controller runs: the spec's module may not import
    # the backend registry (the referee's import contract)
    "MigrationSpec": {"slot_backend": "late-name"},
    "Trajectory": {"mean_gains": "optional-array"},
}

#: Values that look bad but mean something for one field: (class name, field) -> labels.
_MEANINGFUL = {("LifecycleSpec", "quality_floor"): {"-inf"}}


def _fields_of(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


def _gen_target(name: str, fn: Callable[..., Any], kinds: dict[str, str]) -> Target:
    kinds = {k: "optional-int" if k in ("seed", "max_entries") else v
             for k, v in kinds.items()}
    return Target(name, kinds, lambda field, value: fn(**{field: value}))


@lru_cache(maxsize=1)
def targets() -> tuple[Target, ...]:
    """Every fuzzed entry point (built once per process)."""
    import aigc_opt as ao
    from aigc_opt.problems import allocation as al
    from aigc_opt.problems import caching as ca
    from aigc_opt.problems import incentives as inc
    from aigc_opt.problems import offloading as of
    from aigc_opt.problems import wpmec as wp
    from aigc_opt.schema import FIELDS

    scn = ao.Scenario.generate(3, 2, 2, seed=0)
    sbase = {k: getattr(scn, k) for k in FIELDS}
    out = [
        _ctor_target("Scenario", ao.Scenario, sbase),
        Target("Scenario.replace", {k: _kind_of(v) for k, v in sbase.items()},
               lambda f, v: scn.replace(**{f: v}), sbase, ctor=True),
        Target("Scenario.generate", {"n_users": "int", "n_servers": "int", "n_models": "int",
                                     "seed": "optional-int", "profile": "choice",
                                     "max_entries": "optional-int",
                                     **{k: _kind_of(v) for k, v in sbase.items()}},
               lambda f, v: ao.Scenario.generate(**{"n_users": 3, "n_servers": 2,
                                                    "n_models": 2, f: v}), sbase),
        _ctor_target("SolveOptions", ao.SolveOptions, _fields_of(ao.SolveOptions())),
    ]
    instances = [
        ("WpmecInstance", wp.WpmecInstance.generate(4)),
        ("WpmecBatch", wp.WpmecBatch.generate(2, 3)),
        ("WpmecParams", wp.WpmecParams()),
        ("PowerInstance", al.PowerInstance.generate(4)),
        ("BandwidthComputeInstance", al.BandwidthComputeInstance.generate(4, 2)),
        ("JointBPInstance", al.JointBPInstance.generate(4)),
        ("LlmInstance", al.LlmInstance.generate(3)),
        ("CachingInstance", ca.CachingInstance.generate(2, 3, 3)),
        ("ContractInstance", inc.ContractInstance.generate(3)),
        ("StackelbergInstance", inc.StackelbergInstance.generate(3)),
        ("MultiLeaderInstance", inc.MultiLeaderInstance.generate(3, 2)),
        ("AuctionInstance", inc.AuctionInstance.generate(3, 2, 2)),
    ]
    instances += _family_instances()
    for name, inst in instances:
        base = _fields_of(inst)
        if name.startswith("Wpmec") and "weights" in base:
            base["weights"] = None
        out.append(_ctor_target(name, type(inst), base))
    specs = [of.OffloadingSpec(), of.PartialSpec(), of.JointSpec(), of.MulticellSpec(),
             of.OffloadObjective(), wp.WpmecSpec(), al.PowerSpec(), al.BandwidthComputeSpec(),
             al.JointBPSpec(), al.StepsSpec(), al.HybridStepsSpec(), al.LlmSpec(),
             al.LlmObjective(), ca.CachingSpec(), ca.CachingObjective(), inc.ContractSpec(),
             inc.StackelbergSpec(), inc.MultiLeaderSpec(), inc.AuctionSpec()]
    specs += _family_specs()
    for spec in specs:
        out.append(_ctor_target(type(spec).__name__, type(spec), _fields_of(spec)))
    gens: list[tuple[str, Callable[..., Any], dict[str, str]]] = [
        ("WpmecBatch.generate", lambda **k: wp.WpmecBatch.generate(**{"n_frames": 2, **k}),
         {"n_frames": "int", "n_users": "int", "seed": "int", "max_entries": "int",
          **dict.fromkeys(("antenna_gain", "carrier_hz", "path_loss_exp"), "optional-float"),
          "distances_m": "optional", "bogus_channel_key": "float"}),
        ("PowerInstance.generate", al.PowerInstance.generate,
         {"n_users": "int", "seed": "int", "total_power_w": "float", "bandwidth_hz": "float",
          "noise_psd_w_per_hz": "float", "snr_db": "tuple"}),
        ("PowerInstance.textbook", al.PowerInstance.textbook,
         {"seed": "int", "n_strong": "int", "n_weak": "int", "total_power_w": "float"}),
        ("BandwidthComputeInstance.generate", al.BandwidthComputeInstance.generate,
         {"n_users": "int", "n_servers": "int", "seed": "int", "min_rate_frac": "float",
          "deadline_frac": "float"}),
        ("JointBPInstance.generate", al.JointBPInstance.generate,
         {"n_users": "int", "seed": "int", "bandwidth_hz": "float",
          "area_per_user_hz_s": "float", "deadline_frac": "float"}),
        ("LlmInstance.generate", al.LlmInstance.generate, {"n_requests": "int", "seed": "int"}),
        ("CachingInstance.generate", ca.CachingInstance.generate,
         {"n_servers": "int", "n_models": "int", "n_slots": "int", "seed": "int",
          "rate": "float", "zipf_alpha": "float", "drift": "float", "max_entries": "int"}),
        ("ContractInstance.generate", inc.ContractInstance.generate,
         {"n_types": "int", "seed": "int"}),
        ("StackelbergInstance.generate", inc.StackelbergInstance.generate,
         {"n_followers": "int", "seed": "int"}),
        ("MultiLeaderInstance.generate", inc.MultiLeaderInstance.generate,
         {"n_users": "int", "n_leaders": "int", "seed": "int"}),
        ("AuctionInstance.generate", inc.AuctionInstance.generate,
         {"n_bidders": "int", "n_servers": "int", "max_slots": "int", "seed": "int",
          "capacity": "int", "servers_per_bidder": "int"}),
    ]
    out += [_gen_target(*g) for g in gens]
    out += _method_targets(scn)
    out += [_api_target(scn), _file_target(scn)]
    return tuple(t for t in out if t.kinds)


#: Case kinds whose (small) default instance is fuzzed field by field, with its sizes.
_CASE_INSTANCES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("online.frame", {"n_users": 4}), ("online.lyapunov", {"n_users": 3, "n_slots": 4}),
    ("migration.offline", {"n_users": 3, "n_servers": 2, "n_slots": 3}),
    ("agod.selection", {"total_time": 2e3}), ("lifecycle.placement", {}),
    ("iscc.matching", {}), ("iscc.pipeline", {}),
)


def _family_instances() -> list[tuple[str, Any]]:
    """The default instances of the families added after the first catalogue (online,
    migration and AGOD, life cycle, ISCC)."""
    from aigc_opt.cases import get_case

    out = []
    for case, sizes in _CASE_INSTANCES:
        inst = get_case(case).make_instance(0, **sizes)
        out.append((f"{type(inst).__name__}[{case}]", inst))
    return out


def _family_specs() -> list[Any]:
    from aigc_opt.problems import iscc as ic
    from aigc_opt.problems import lifecycle as lc
    from aigc_opt.problems import migration as mg
    from aigc_opt.problems import online as ol
    from aigc_opt.problems import sizing as sz

    return [ol.LyapunovSpec(), mg.MigrationSpec(), mg.CostWeights(), mg.AgodSpec(),
            mg.AgodProfile(), lc.LifecycleSpec(), lc.LifecycleWeights(), ic.IsccSpec(),
            ic.IsccPipelineSpec(), sz.SizingSpec()]


def _method_targets(scn: Any) -> list[Target]:
    """Methods that take user input: subsets, frames, replaced traces and bids, curves."""
    from aigc_opt.problems import caching as ca
    from aigc_opt.problems import incentives as inc
    from aigc_opt.problems import wpmec as wp
    from aigc_opt.quality import quality

    batch = wp.WpmecBatch.generate(2, 3)
    cache = ca.CachingInstance.generate(2, 3, 3)
    auction = inc.AuctionInstance.generate(3, 2, 2)
    calls: list[tuple[str, dict[str, Any], Callable[[str, Any], Any]]] = [
        ("Scenario.subset", {"users": np.array([0, 2])}, lambda f, v: scn.subset(v)),
        ("WpmecBatch.frame", {"k": 1}, lambda f, v: batch.frame(v)),
        ("WpmecBatch.from_array", {"gains": batch.gains},
         lambda f, v: wp.WpmecBatch.from_array(v)),
        ("CachingInstance.with_requests", {"requests": cache.requests},
         lambda f, v: cache.with_requests(v)),
        ("AuctionInstance.with_bidder", {"n": 1, "values": auction.values[1]},
         lambda f, v: auction.with_bidder(**{"n": 1, "values": auction.values[1], f: v})),
        ("quality", {"model": np.array([0, 1]), "steps": np.array([10.0, 20.0])},
         lambda f, v: quality(scn, **{"model": np.array([0, 1]),
                                      "steps": np.array([10.0, 20.0]), f: v})),
    ]
    return [Target(name, {k: _kind_of(v) for k, v in base.items()}, fn, base)
            for name, base, fn in calls]


# ----------------------------------------------------------------------------- API calls
_API_CASES = ("solve-backend", "run_method-name", "run_heuristic-name", "solve-instance",
              "run_method-instance", "run_heuristic-instance", "evaluate-instance",
              "methods-instance", "spec-not-a-spec", "options-type", "seed", "solve-option")


def _api_target(scn: Any) -> Target:
    """``call(case, value)``: ``value`` is a random draw used to pick names / instances."""
    return Target("api", dict.fromkeys(_API_CASES, "api"), lambda f, v: _api_call(scn, f, v))


def _api_call(scn: Any, case: str, pick: Any) -> Any:
    import aigc_opt as ao
    from aigc_opt.problems import allocation as al
    from aigc_opt.problems import caching as ca
    from aigc_opt.problems import incentives as inc
    from aigc_opt.problems import offloading as of
    from aigc_opt.problems import wpmec as wp

    rng = np.random.default_rng(pick)
    wpi = wp.WpmecInstance.generate(3)
    pairs = [(scn, of.OffloadingSpec()), (wpi, wp.WpmecSpec()),
             (al.PowerInstance.generate(3), al.PowerSpec()),
             (al.LlmInstance.generate(2), al.LlmSpec()),
             (ca.CachingInstance.generate(2, 2, 2), ca.CachingSpec()),
             (inc.ContractInstance.generate(3), inc.ContractSpec()),
             (inc.AuctionInstance.generate(3, 2, 2), inc.AuctionSpec())]
    i, j = rng.choice(len(pairs), size=2, replace=False)
    inst, spec = pairs[i][0], pairs[j][1]  # an instance of another family
    names: list[Any] = ["", "higs", "HIGHS", "exact ", "nope", None, 3, 1.5, ["highs"], ("a",),
                        b"highs"]
    name: Any = names[int(rng.integers(len(names)))]
    own_inst = pairs[j][0]
    if case == "solve-backend":
        return ao.solve(own_inst, spec, backend=name)
    if case == "run_method-name":
        return ao.run_method(own_inst, spec, name)
    if case == "run_heuristic-name":
        return ao.run_heuristic(wpi, wp.WpmecSpec(), name)
    if case == "solve-instance":
        return ao.solve(inst, spec, "highs")
    if case == "run_method-instance":
        return ao.run_method(inst, spec, ao.methods(spec)[0])
    if case == "run_heuristic-instance":
        other = pairs[int(rng.integers(len(pairs)))][0]
        return ao.run_heuristic(scn if other is wpi else other, wp.WpmecSpec(), "all_local")
    if case == "evaluate-instance":
        alloc = ao.run_heuristic(wpi, wp.WpmecSpec(), "all_local").allocation
        other = pairs[int(rng.integers(len(pairs)))][0]
        return ao.evaluate(scn if other is wpi else other, alloc, None)
    if case == "methods-instance":
        return ao.methods(spec, inst)
    if case == "spec-not-a-spec":
        return ao.run_method(own_inst, [None, "OffloadingSpec", 3, {}][int(rng.integers(4))],
                             "highs")
    if case == "options-type":
        bad_options: Any = [{}, "fast", 3][int(rng.integers(3))]
        return ao.run_method(wpi, wp.WpmecSpec(), "exact", options=bad_options)
    if case == "seed":
        bad_seed: Any = ["x", -1, 1.5, math.nan, 10**30][int(rng.integers(5))]
        return ao.run_heuristic(wpi, wp.WpmecSpec(), "all_local", seed=bad_seed)
    unknown: dict[str, Any] = {"timelimit": 1.0}
    return ao.solve(own_inst, spec, "highs", **unknown)  # unknown option


_API_TOKENS = {"solve-backend": ("backend",), "run_method-name": ("method",),
               "run_heuristic-name": ("heuristic",), "spec-not-a-spec": ("spec",),
               "options-type": ("options",), "seed": ("seed",), "solve-option": ("option",)}


# ----------------------------------------------------------------------------- files
_FILE_CASES = ("scenario-missing", "scenario-dir", "scenario-non-utf8", "scenario-truncated",
               "scenario-deep", "scenario-list", "scenario-field", "scenario-path-type",
               "scenario-empty", "wpmec-npy", "wpmec-csv", "wpmec-mat", "wpmec-suffix",
               "trace-non-utf8", "trace-row", "trace-shape", "trace-header", "labels-junk",
               "labels-key", "labels-shape", "labels-mode", "labels-suffix")


def _file_target(scn: Any) -> Target:
    return Target("files", dict.fromkeys(_FILE_CASES, "file"),
                  lambda f, v: _file_call(scn, f, v))


def _file_call(scn: Any, case: str, pick: Any) -> Any:
    import json

    import aigc_opt as ao
    from aigc_opt.problems.caching.trace import load_trace_csv
    from aigc_opt.problems.wpmec import WpmecBatch

    rng = np.random.default_rng(pick)
    bad = _universal()[int(rng.integers(len(_universal())))][1]
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        p = d / "s.json"
        if case.startswith("scenario"):
            text = json.dumps(scn.to_dict())
            if case == "scenario-missing":
                p = d / "missing.json"
            elif case == "scenario-dir":
                p = d
            elif case == "scenario-non-utf8":
                p.write_bytes(text.encode()[:50] + b"\xff\xfe" + text.encode()[50:])
            elif case == "scenario-truncated":
                p.write_text(text[: int(rng.integers(1, len(text) - 1))])
            elif case == "scenario-deep":
                p.write_text("[" * int(rng.integers(40, 100_000)) + "]" * 3)
            elif case == "scenario-list":
                p.write_text(json.dumps([1, 2, 3]))
            elif case == "scenario-empty":
                p.write_text("")
            elif case == "scenario-path-type":
                bad_path: Any = [None, 3, 1.5, b"\xff", ["a"]][int(rng.integers(5))]
                return ao.Scenario.load(bad_path)
            else:
                d2 = scn.to_dict()
                key = sorted(d2)[int(rng.integers(len(d2)))]
                val: Any = [None, "abc", {"a": 1}, [[1], [2, 3]], 1e300, [[[[]]]], True,
                            "1.5"][int(rng.integers(8))]
                # None for an absent optional field (a dense scenario's links) changes nothing
                d2[key] = "abc" if val is None and d2[key] is None else val
                p.write_text(json.dumps(d2))
            return ao.Scenario.load(p)
        if case.startswith("wpmec"):
            if case == "wpmec-npy":
                p = d / "h.npy"
                arr = [np.array([1 + 1j, 2]), np.array(["a", "b"]), np.array([[np.nan]]),
                       np.zeros((2, 2, 2)), np.array([1e300])][int(rng.integers(5))]
                np.save(p, arr)
            elif case == "wpmec-csv":
                p = d / "h.csv"
                p.write_bytes([b"1e-6,abc\n", b"\xff\xfe1,2\n", b"1e-6,2e-6\n1e-6\n",
                               b"nan,1\n", b""][int(rng.integers(5))])
            elif case == "wpmec-mat":
                p = d / "h.mat"
                p.write_bytes([b"not a mat file", b"\x00" * 200][int(rng.integers(2))])
            else:
                p = d / "h.xlsx"
                p.write_text("1,2")
            return WpmecBatch.from_file(p)
        if case.startswith("labels"):
            import scipy.io

            from aigc_opt.gym.datasets import load_labels

            h = 1e-6 * (1.0 + rng.random((3, 4)))
            good = {"input_h": h, "output_mode": np.zeros((3, 4)), "output_obj": np.ones(3),
                    "output_tau": np.zeros((3, 4))}
            p = d / "labels.mat"
            if case == "labels-junk":
                p = d / ["labels.mat", "labels.npz"][int(rng.integers(2))]
                p.write_bytes([b"not a label file", b"\x00" * 200, b""][int(rng.integers(3))])
            elif case == "labels-key":
                key = ["input_h", "output_mode"][int(rng.integers(2))]
                scipy.io.savemat(p, {k: v for k, v in good.items() if k != key})
            elif case == "labels-shape":
                key = sorted(good)[int(rng.integers(len(good)))]
                scipy.io.savemat(p, good | {key: np.ones((5, 7))})
            elif case == "labels-mode":
                scipy.io.savemat(p, good | {"output_mode": np.full((3, 4), [0.5, 2.0, -1.0,
                                                                         np.nan][int(
                                                                             rng.integers(4))])})
            else:
                p = d / "labels.csv"
                p.write_text("1,2")
            return load_labels(p)
        p = d / "t.csv"
        if case == "trace-non-utf8":
            p.write_bytes(b"slot,server,model,count\n0,0,0,\xff\n")
        elif case == "trace-row":
            p.write_text(f"slot,server,model,count\n0,0,0,{bad!r}\n")
        elif case == "trace-shape":
            p.write_text("# shape,1000000,1000000,1000000\nslot,server,model,count\n0,0,0,1\n")
        else:
            p.write_text("slot,server,count\n0,0,1\n")
        return load_trace_csv(p)


# ----------------------------------------------------------------------------- one case
def make_case(index: int, seed: int = 0) -> tuple[Target, str, str, Any, bool]:
    """Case ``index``: (target, field, label, value, must_reject)."""
    rng = np.random.default_rng([seed, index])
    tgts = targets()
    t = tgts[int(rng.integers(len(tgts)))]
    field = sorted(t.kinds)[int(rng.integers(len(t.kinds)))]
    kind = t.kinds[field]
    if kind in ("api", "file"):
        return t, field, field, int(rng.integers(2**31)), True
    pool: list[tuple[str, Any, bool]] = [(lab, v, _must_reject(kind, lab, None))
                                         for lab, v in _universal() + _contextual_scalars()]
    if kind == "choice":
        pool += [("unknown-choice", "nonsense", True), ("empty-str", "", True)]
    if kind == "bool":
        pool += [("np.bool", np.bool_(True), False), ("int-1", 1, True), ("yes", "yes", True)]
    if kind in ("array", "iarray", "barray", "optional-array"):
        base = t.bases.get(field)
        if isinstance(base, np.ndarray):
            pool += _array_variants(base, "array" if kind == "optional-array" else kind)
    if kind == "sarray":
        pool.append(("tolist", np.asarray(t.bases.get(field)).tolist(), False))
    if t.name == "WpmecBatch.generate" and field == "bogus_channel_key":
        pool = [(lab, v, True) for lab, v, _ in pool]
    label, value, must = pool[int(rng.integers(len(pool)))]
    if label in _MEANINGFUL.get((t.name.split("[")[0], field), ()):
        must = False
    return t, field, label, value, must


def _tokens(t: Target, field: str, label: str) -> tuple[str, ...]:
    if t.name == "files":
        return ("path", ".json", ".csv", ".npy", ".mat", "xlsx", "line", "shape", "slot",
                "server", "model", "count", "schema_version", "scenario", "input_h",
                "output_mode", "output_obj", "output_tau")
    if t.name == "api":
        return _API_TOKENS.get(field, ("instance",))
    extra: tuple[str, ...] = (
        ("model_quality_steps", "model_quality_values") if "quality" in field else ())
    if t.name == "Scenario" or t.name.startswith("Scenario."):
        extra += ("scenario field", "request_model", "user_tx_power_w", "server_compute_flops",
                  "model_size_bytes", "n_users*n_servers")
    if t.name == "WpmecBatch.generate" and field == "bogus_channel_key":
        extra += ("channel parameter",)
    if t.name.endswith(".generate") or t.name.endswith(".textbook"):
        extra += ("n_users*", "n_frames*", "n_slots*", "n_bidders*", "max_entries")
    return (field, *extra)


def run_case(index: int, seed: int = 0) -> tuple[str, str, str]:
    """Run case ``index``: (outcome, detail, description)."""
    from aigc_opt.errors import ValidationError

    t, field, label, value, must = make_case(index, seed)
    desc = f"{t.name}({field}={label})"
    try:
        result = t.call(field, value)
    except ValidationError as exc:
        msg = str(exc)
        if any(tok in msg for tok in _tokens(t, field, label)):
            return "named", type(exc).__name__, desc
        return "no-field", msg[:160], desc
    except Exception as exc:  # noqa: BLE001 - classifying every exception is the point
        return "other", f"{type(exc).__name__}: {str(exc)[:140]}", desc
    if must:
        return "accepted-bad", "", desc
    stored = _stored_type_error(t.kinds.get(field, ""), result, field) if t.ctor else ""
    return ("accepted-bad", stored, desc) if stored else ("accepted", "", desc)


def _stored_type_error(kind: str, result: Any, field: str) -> str:
    """A value accepted but stored unconverted (a string for a number, a float for an int)."""
    if not dataclasses.is_dataclass(result) or not hasattr(result, field):
        return ""
    v = getattr(result, field)
    if kind in ("float", "int", "optional", "optional-int") and isinstance(v, (str, bytes)):
        return f"stored unconverted: {v!r}"
    if kind in ("int", "optional-int") and v is not None and not isinstance(v, int):
        return f"integer stored as {type(v).__name__}"
    if kind == "float" and not isinstance(v, (float, np.ndarray)):
        return f"number stored as {type(v).__name__}"
    if kind == "bool" and not isinstance(v, bool):
        return f"flag stored as {type(v).__name__}"
    return ""


def table(results: dict[int, tuple[str, str, str]]) -> str:
    """The outcome table (Markdown)."""
    c = Counter(r[0] for r in results.values())
    others = Counter(r[1].split(":")[0] for r in results.values() if r[0] == "other")
    rows = [
        "| outcome | cases |", "|---|---|",
        f"| ValidationError naming the field/option/file | {c['named']} |",
        f"| ValidationError naming no field | {c['no-field']} |",
        f"| other exception types | {c['other']} "
        f"{'(' + ', '.join(f'{k}: {v}' for k, v in others.items()) + ')' if others else ''}|",
        f"| bad input accepted | {c['accepted-bad']} |",
        f"| hangs | {c['hang']} |",
        f"| valid input accepted (not a failure) | {c['accepted']} |",
        f"| total | {len(results)} |",
    ]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Command line: run the cases, print the table and the first failures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2,
                    help="worker processes; 0: in this process (no memory limit)")
    ap.add_argument("--timeout", type=float, default=10.0, help="per-case limit, s")
    ap.add_argument("--show", type=int, default=10, help="failures to list")
    ap.add_argument("--case", type=int, default=None, help="rerun one case in-process")
    args = ap.parse_args(argv)
    if args.workers < 0:
        ap.error(f"--workers must be >= 0 (0: in this process), got {args.workers}")
    if args.case is not None:
        print(run_case(args.case, args.seed))
        return 0
    t0 = time.perf_counter()
    res = run(args.cases, seed=args.seed, workers=args.workers, timeout=args.timeout)
    print(f"{args.cases} cases, seed {args.seed}, {time.perf_counter() - t0:.1f} s\n")
    print(table(res))
    bad = [(i, r) for i, r in sorted(res.items()) if r[0] in FAILURES]
    for i, (outcome, detail, desc) in bad[: args.show]:
        print(f"case {i}: {outcome}: {desc}: {detail}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
