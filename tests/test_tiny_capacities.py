"""Capacities are exactly 0 ("none", where the model supports it) or at least their physical
floor (:data:`aigc_opt.schema.LOWER_BOUNDS`: 1 Hz, 1 bit/s, 1 FLOP/s, 1 byte).

A value strictly between (``1e-300`` byte of GPU memory, ``1e-9`` FLOP/s) used to pass
validation and then give status ``error`` ("the instance's numbers overflow the model") or a
ValidationError naming an internal vector (``c``, ``perf``); migration's ``offline_milp``
raised for any ``server_flops`` up to 1.5 FLOP/s. Now such a value is refused naming the field,
and 0 and the floor itself are solved by every exact method of the family with one status.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt.backend import SolveOptions
from aigc_opt.cases import get_case
from aigc_opt.errors import ValidationError
from aigc_opt.schema import LOWER_BOUNDS

OPTS = SolveOptions(time_limit=30, threads=1)
SCN_FIELDS = ("server_gpu_memory_bytes", "server_compute_flops", "server_uplink_hz",
              "server_downlink_hz", "server_backhaul_bps", "server_load_bps",
              "user_compute_flops", "cloud_compute_flops")
#: family -> (generator sizes, exact methods)
FAMILIES: dict[str, tuple[dict[str, int], tuple[str, ...]]] = {
    "offloading.assignment": ({"n_users": 10, "n_servers": 2, "n_models": 3},
                              ("highs", "lagrangian")),
    "offloading.multicell": ({}, ("highs",)),
    "caching.offline": ({"n_servers": 2, "n_models": 4, "n_slots": 4}, ("offline_milp", "highs")),
    "migration.offline": ({"n_users": 4, "n_servers": 3, "n_slots": 4}, ("offline_milp", "highs")),
    "lifecycle.placement": ({"n_services": 3, "n_regions": 2, "n_edge": 2}, ("highs",)),
    "allocation.llm_tokens": ({"n_requests": 10}, ("highs",)),
}
#: (family, field, unit key of LOWER_BOUNDS, whether exactly 0 means "none")
FIELDS: list[tuple[str, str, str, bool]] = [
    *[("offloading.assignment", f, f.rsplit("_", 1)[1], f.endswith("_bytes"))
      for f in SCN_FIELDS],
    ("offloading.multicell", "server_gpu_memory_bytes", "bytes", True),
    ("offloading.multicell", "server_compute_flops", "flops", False),
    ("caching.offline", "server_gpu_memory_bytes", "bytes", True),
    ("caching.offline", "server_load_bps", "bps", False),
    ("caching.offline", "server_compute_flops", "flops", False),
    ("caching.offline", "cloud_compute_flops", "flops", False),
    ("migration.offline", "server_flops", "flops", False),
    ("migration.offline", "server_gpu_memory_bytes", "bytes", True),
    ("lifecycle.placement", "node_memory_bytes", "bytes", True),
    ("lifecycle.placement", "node_flops", "flops", False),
    ("lifecycle.placement", "node_request_flops", "flops", False),
    ("lifecycle.placement", "node_backhaul_bps", "bps", False),
    ("lifecycle.placement", "link_bandwidth_bps", "bps", False),
    ("allocation.llm_tokens", "compute_flops", "flops", False),
]
IDS = [f"{fam}.{field}" for fam, field, _, _ in FIELDS]


def _base(family: str) -> tuple[Any, Any]:
    kind = get_case(family)
    return kind.make_instance(0, **FAMILIES[family][0]), kind.make_spec()


def _with(inst: Any, field: str, value: float, everywhere: bool = False) -> Any:
    cur = getattr(inst, field)
    if np.ndim(cur) == 0:
        new: Any = value
    else:
        new = np.array(cur, dtype=float)
        if everywhere:
            new[...] = value
        else:
            new.flat[0] = value
    if isinstance(inst, ao.Scenario):
        return inst.replace(**{field: new})
    return dataclasses.replace(inst, **{field: new})


def test_every_field_has_a_known_floor() -> None:
    assert {key for _, _, key, _ in FIELDS} == {"hz", "bps", "flops", "bytes"}
    assert LOWER_BOUNDS["bytes"][0] == 1.0


@pytest.mark.parametrize(("family", "field", "key", "zero_ok"), FIELDS, ids=IDS)
@pytest.mark.parametrize("frac", [1e-300, 1e-9, 0.5])
def test_between_zero_and_the_floor_is_refused_by_name(family: str, field: str, key: str,
                                                       zero_ok: bool, frac: float) -> None:
    inst, _ = _base(family)
    floor, why = LOWER_BOUNDS[key]
    with pytest.raises(ValidationError, match=field) as err:
        _with(inst, field, frac * floor)
    assert err.value.field == field and err.value.value == frac * floor
    assert "physical floor" in str(err.value) and why in str(err.value)
    assert ("0 (none)" in str(err.value)) == zero_ok


def _statuses(inst: Any, spec: Any, family: str) -> list[Any]:
    out = []
    for method in FAMILIES[family][1]:
        res = ao.run_method(inst, spec, method, options=OPTS)
        assert res.termination.value in ("optimal", "infeasible", "feasible"), (method, res)
        if res.has_solution:
            assert res.verified and math.isfinite(res.objective), (method, res)
        out.append(res)
    return out


@pytest.mark.parametrize(("family", "field", "key", "zero_ok"), FIELDS, ids=IDS)
@pytest.mark.parametrize("where", ["one", "all"])
def test_zero_and_the_floor_are_solved_consistently(family: str, field: str, key: str,
                                                    zero_ok: bool, where: str) -> None:
    """0 (where it means "none") and the floor itself: every exact method returns the same
    status (optimal / infeasible; ``feasible`` only where the verifier finds the instance's
    own costs spanning more than 1e12, e.g. a cloud of 1 FLOP/s), no ``error``, no exception,
    and objectives that agree."""
    inst, spec = _base(family)
    values = ([0.0] if zero_ok else []) + [LOWER_BOUNDS[key][0]]
    for v in values:
        if where == "all" and np.ndim(getattr(inst, field)) == 0:
            continue
        res = _statuses(_with(inst, field, v, everywhere=where == "all"), spec, family)
        assert len({r.termination for r in res}) == 1, (v, [(r.termination, r.message)
                                                             for r in res])
        objs = [r.objective for r in res if r.has_solution]
        if objs:
            assert max(objs) - min(objs) <= 1e-5 * max(1.0, abs(min(objs))), (v, objs)


def test_migration_server_flops_up_to_1_5_solved_by_offline_milp() -> None:
    """Fault: at 1 <= F <= 1.5 FLOP/s ``offline_milp`` raised 'perf [cost] = 1.5e15: out of
    range' while highs solved the instance. Over-capacity options are now fixed to 0."""
    inst, spec = _base("migration.offline")
    for v in (1.0, 1.25, 1.5):
        res = _statuses(_with(inst, "server_flops", v), spec, "migration.offline")
        assert [r.termination.value for r in res] == ["optimal", "optimal"], res


def test_errors_page_lists_every_floor() -> None:
    """docs/pages/errors.md's bounds table has one ``<key> (lower)`` row per floor."""
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "pages" / "errors.md").read_text(
        encoding="utf-8")
    for key, (value, why) in LOWER_BOUNDS.items():
        assert f"| {key} (lower) | {value:g} | {why} |" in page, key
