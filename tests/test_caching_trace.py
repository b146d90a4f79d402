"""Caching traces and instances: generation, CSV round trip, and bad input naming its field."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aigc_opt.errors import ValidationError
from aigc_opt.problems.caching import (
    CachingAllocation,
    CachingInstance,
    CachingObjective,
    load_trace_csv,
    save_trace_csv,
    validate_requests,
)


def _fields(inst: CachingInstance) -> dict[str, Any]:
    return {f.name: getattr(inst, f.name) for f in fields(inst)}


def test_generate_is_seeded_and_drifts() -> None:
    a = CachingInstance.generate(4, 20, 30, seed=7)
    b = CachingInstance.generate(4, 20, 30, seed=7)
    c = CachingInstance.generate(4, 20, 30, seed=8)
    np.testing.assert_array_equal(a.requests, b.requests)
    assert not np.array_equal(a.requests, c.requests)
    assert a.requests.shape == (30, 4, 20)
    # Zipf: the top model of a slot gets a large share; drift: the top model changes over time
    top = a.requests.argmax(axis=2)
    assert len(np.unique(top[:, 0])) > 1
    share = a.requests.max(axis=2).sum() / a.requests.sum()
    assert share > 1.5 / 20
    still = CachingInstance.generate(4, 20, 30, seed=7, drift=0.0)
    assert len(np.unique(still.requests.sum(axis=1).argmax(axis=1))) <= 3


def test_csv_round_trip(tmp_path: Path) -> None:
    inst = CachingInstance.generate(3, 7, 5, seed=1)
    p = tmp_path / "trace.csv"
    save_trace_csv(inst.requests, p)
    back = load_trace_csv(p)
    np.testing.assert_array_equal(back, inst.requests)
    assert inst.with_requests(back).requests.shape == (5, 3, 7)


def _csv(tmp_path: Path, body: str, shape: str = "# shape,2,2,3\n") -> Path:
    p = tmp_path / "t.csv"
    p.write_text(shape + "slot,server,model,count\n" + body)
    return p


@pytest.mark.parametrize(("body", "field"), [
    ("0,0,3,1\n", "model"),  # unknown model id
    ("0,2,0,1\n", "server"),
    ("5,0,0,1\n", "slot"),
    ("0,0,0,-1\n", "count"),
    ("0,0,0,1.5\n", "count"),
    ("0,0,0,nan\n", "count"),
    ("0,0,0,x\n", "count"),
    ("0,0,0,1\n0,0,0,2\n", "slot"),  # duplicate row
])
def test_csv_bad_rows_name_the_column(tmp_path: Path, body: str, field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        load_trace_csv(_csv(tmp_path, body))
    assert exc.value.field == field


def test_csv_unreadable_and_missing_column(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as exc:
        load_trace_csv(tmp_path / "missing.csv")
    assert exc.value.field == "path"
    p = tmp_path / "bad.csv"
    p.write_text("slot,server,count\n0,0,1\n")
    with pytest.raises(ValidationError) as exc:
        load_trace_csv(p)
    assert exc.value.field == "model"
    # an explicit model count makes ids beyond it unknown
    q = _csv(tmp_path, "0,0,2,1\n", shape="")
    with pytest.raises(ValidationError) as exc:
        load_trace_csv(q, n_models=2)
    assert exc.value.field == "model"


@pytest.mark.parametrize(("value", "reason"), [
    (np.full((2, 2), 1.0), "shape"),
    (np.array([[[np.nan]]]), "NaN"),
    (np.array([[[-1.0]]]), "negative"),
    (np.array([[[0.5]]]), "integers"),
    (np.zeros((0, 2, 2)), "empty"),
])
def test_bad_requests(value: np.ndarray, reason: str) -> None:
    with pytest.raises(ValidationError) as exc:
        validate_requests(value)
    assert exc.value.field == "requests"
    assert reason in str(exc.value)


@pytest.mark.parametrize(("field", "value"), [
    ("server_gpu_memory_bytes", np.array([1.0, np.nan, 1.0])),
    ("server_load_bps", np.array([0.0, 1.0, 1.0])),
    ("model_size_bytes", np.ones(3)),  # wrong shape (4 models)
    ("server_latency_s", np.ones((3, 3))),  # nonzero diagonal
    ("context_examples", np.array([1.0, 5.0, 10.0, 20.0, 40.0, 80.0])),  # must start at 0
    ("context_accuracy", np.tile([0.9, 0.8, 0.8, 0.8, 0.8, 0.8], (4, 1))),  # decreasing
    ("model_cloud_accuracy", np.full(4, 1.5)),
    ("context_decay", 0.0),
    ("context_window", -1),
    ("slot_s", -1.0),
    ("initial_cache", np.ones((3, 4), dtype=bool)),  # exceeds memory
])
def test_bad_instance_field_is_named(field: str, value: Any) -> None:
    base = CachingInstance.generate(3, 4, 2, seed=0)
    with pytest.raises(ValidationError) as exc:
        CachingInstance(**{**_fields(base), field: value})
    assert exc.value.field == field


def test_bad_objective_and_allocation() -> None:
    with pytest.raises(ValidationError) as exc:
        CachingObjective(latency=-1.0)
    assert exc.value.field == "latency"
    with pytest.raises(ValidationError) as exc:
        CachingAllocation(cache=np.zeros((2, 1, 3), bool), edge=np.zeros((2, 1, 1, 2)),
                          cloud=np.zeros((2, 1, 3)))
    assert exc.value.field == "edge"
    with pytest.raises(ValidationError) as exc:
        CachingAllocation(cache=np.zeros((2, 1, 3), bool), edge=np.zeros((2, 1, 1, 3)),
                          cloud=np.full((2, 1, 3), np.nan))
    assert exc.value.field == "cloud"
    with pytest.raises(ValidationError) as exc:
        CachingInstance.generate(0, 3, 3)
    assert exc.value.field == "n_servers"


def test_a_cut_trace_with_a_shape_line_is_refused(tmp_path: Path) -> None:
    """A trace cut mid-line read its last count short (775 -> 761 requests)."""
    R = np.zeros((2, 1, 1))
    R[1, 0, 0] = 775
    p = tmp_path / "t.csv"
    save_trace_csv(R, p)
    assert load_trace_csv(p)[1, 0, 0] == 775
    p.write_text(p.read_text()[:-2])  # "...,775\n" -> "...,77"
    with pytest.raises(ValidationError, match="truncated"):
        load_trace_csv(p)
