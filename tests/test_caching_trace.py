"""Caching traces and instances: generation, CSV round trip, and bad input naming its field."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aigc_opt.errors import ValidationError
from aigc_opt.problems.caching import (
    CachingAllocation,
    CachingInstance,
    CachingObjective,
    load_event_log_csv,
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
    ("0,0,0,1_0\n", "count"),  # float() read '1_0' as 10
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


@pytest.mark.parametrize("quote", ["", '"'])  # plain rows (no per-row loop) and CSV quoting
@pytest.mark.parametrize("end", ["\n", "\r\n"])
@pytest.mark.parametrize(("shape", "body", "field", "words"), [
    # blank lines were dropped before counting: the bad cell on line 5 was 'line 3'
    ("", "0,0,0,1|||0,0,1,x|", "count", "line 5: not a number"),
    ("# shape,2,2,2|", "0,0,0,1||0,0,1,1.5|", "count", "line 5: must be an integer"),
    ("", "0,0,0,1|0,0|", "model", "line 3: not a number (2 cells"),
    # unknown ids and duplicates had no line; the duplicate printed (np.int64(0), ...)
    ("# shape,2,2,2|", "0,0,0,1|0,0,5,1|", "model", "line 4: unknown model id (valid: 0..1)"),
    ("", "0,0,0,1||1,0,0,1|0,0,0,2|", "slot",
     "(0, 0, 0): line 5: duplicate (slot, server, model) row, first on line 2"),
])
def test_trace_csv_errors_name_the_file_line(tmp_path: Path, quote: str, end: str, shape: str,
                                             body: str, field: str, words: str) -> None:
    p = tmp_path / "lines_trace.csv"
    rows = (shape + "slot,server,model,count|" + body).split("|")
    rows[-2] = ",".join(quote + c + quote for c in rows[-2].split(","))
    p.write_bytes(end.join(rows).encode())
    with pytest.raises(ValidationError) as exc:
        load_trace_csv(p)
    assert exc.value.field == field
    assert words in str(exc.value) and "lines_trace.csv" in str(exc.value)
    assert "np." not in str(exc.value)


def test_trace_csv_plain_and_quoted_rows_read_alike(tmp_path: Path) -> None:
    R = CachingInstance.generate(2, 3, 4, seed=3).requests
    p = tmp_path / "t.csv"
    save_trace_csv(R, p)  # '\r\n' line ends, no quotes
    text = p.read_text()
    np.testing.assert_array_equal(load_trace_csv(p), R)
    q = tmp_path / "q.csv"  # quoted cells, blank lines, wider rows: read as CSV
    top, header, *rows = text.splitlines()
    q.write_text(f"{top}\n{header},note\n" + "".join(f'{r},"x, y"\n\n' for r in rows))
    np.testing.assert_array_equal(load_trace_csv(q), R)
    m = tmp_path / "m.csv"  # a quoted cell over two lines: the row's first line is named
    m.write_text('slot,server,model,count\n0,0,0,1\n\n1,0,0,"1\n2"\n1,0,1,x\n')
    with pytest.raises(ValidationError, match=r"'1\\n2': line 4: not a number"):
        load_trace_csv(m)
    w = tmp_path / "w.csv"  # a row with a cell beyond the header: refused (was ignored)
    w.write_text("slot,server,model,count\n0,0,0,3,9\n0,0,1,1\n")
    with pytest.raises(ValidationError, match="line 2: 5 cells, more than the header's 4"):
        load_trace_csv(w)


@pytest.mark.parametrize("text", ["slot,server,model,count\n", "slot,server,model,count\n\n",
                                  '"slot",server,model,count\n'])
def test_a_trace_with_only_a_header_is_empty(tmp_path: Path, text: str) -> None:
    """The plain-row split read one empty cell from no rows (a bare ValueError)."""
    p = tmp_path / "w.csv"
    p.write_text(text)
    with pytest.raises(ValidationError, match="empty trace"):
        load_trace_csv(p)


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


# ------------------------------------------------------------------ per-request logs
BURST = """Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type
5,ChatGPT,472,18,490,Conversation log
45,ChatGPT,1087,24,1111,Conversation log
118,GPT-4,417,512,929,API log
59.99,GPT-4,100,1,101,API log
"132.5","ChatGPT",10,20,30,"API log, retried"
65,GPT-4,1,1,2,API log
"""
AZURE = """TIMESTAMP,ContextTokens,GeneratedTokens
2023-11-16 18:15:46.6805900,374,44
2023-11-16 18:16:46.6805900,396,109
2023-11-16 18:15:50.1234567,879,7
2023-11-16 18:16:16.6805899,10,1
"""


def _log(tmp_path: Path, text: str, name: str = "log.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_burstgpt_style_log_by_hand(tmp_path: Path) -> None:
    p = _log(tmp_path, BURST)
    tr = load_event_log_csv(p, slot_s=60.0, time_column="Timestamp", model_column="Model",
                            n_servers=2)
    # start = 5 s; rows (file order -> server i % 2): 5 s slot 0 s0 ChatGPT; 45 s slot 0 s1
    # ChatGPT; 118 s slot 1 s0 GPT-4; 59.99 s slot 0 s1 GPT-4; 132.5 s slot 2 s0 ChatGPT;
    # 65 s slot 1 s1 GPT-4
    R = np.zeros((3, 2, 2), dtype=np.int64)
    R[0, 0, 0] = R[0, 1, 0] = R[1, 0, 1] = R[0, 1, 1] = R[2, 0, 0] = R[1, 1, 1] = 1
    np.testing.assert_array_equal(tr.requests, R)
    assert tr.requests.dtype == np.int64 and not tr.requests.flags.writeable
    assert tr.models == ("ChatGPT", "GPT-4") and tr.servers == ("0", "1")
    assert (tr.start, tr.slot_s, tr.dropped) == (5.0, 60.0, 0)
    assert tr.slot_start(2) == 125.0
    # the user's model order, an unused model, an explicit start and a horizon cut
    tr = load_event_log_csv(p, slot_s=60.0, time_column="Timestamp", model_column="Model",
                            models=["GPT-4", "Claude", "ChatGPT"], start=0.0, n_slots=2)
    assert tr.models == ("GPT-4", "Claude", "ChatGPT") and tr.dropped == 1  # 132.5 s
    np.testing.assert_array_equal(tr.requests[:, 0, :], [[1, 0, 2], [2, 0, 0]])  # 118, 65 s


def test_azure_style_log_by_hand(tmp_path: Path) -> None:
    tr = load_event_log_csv(_log(tmp_path, AZURE), slot_s=30.0, time_column="TIMESTAMP")
    # offsets from 18:15:46.680590: 0, 60, 3.44, 29.9999 s (7th digit truncated)
    np.testing.assert_array_equal(tr.requests[:, 0, 0], [3, 0, 1])
    assert tr.models == ("all",) and tr.servers == ("0",)
    assert tr.start == datetime(2023, 11, 16, 18, 15, 46, 680590)
    assert tr.slot_start(2) == datetime(2023, 11, 16, 18, 16, 46, 680590)
    tr = load_event_log_csv(_log(tmp_path, AZURE), slot_s=60.0, time_column="TIMESTAMP",
                            start="2023-11-16 18:15:00")
    np.testing.assert_array_equal(tr.requests[:, 0, 0], [2, 2])  # 46.7, 106.7, 50.1, 76.7 s
    # UTC offsets (the per-cell parser) convert to UTC
    z = "t\n2023-11-16T18:00:30+01:00\n2023-11-16T17:00:00Z\n2023-11-16T17:01:10.5+00:00\n"
    tr = load_event_log_csv(_log(tmp_path, z), slot_s=60.0, time_column="t")
    assert tr.start == datetime(2023, 11, 16, 17, 0, 0)
    np.testing.assert_array_equal(tr.requests[:, 0, 0], [2, 1])  # 30, 0, 70.5 s


def test_server_column_ids_names_and_slot_boundaries(tmp_path: Path) -> None:
    text = "t,node,m\n0.0,1,a\n0.1,0,b\n0.2,1,b\n0.3,1,a\n"
    p = _log(tmp_path, text)
    tr = load_event_log_csv(p, slot_s=0.1, time_column="t", model_column="m",
                            server_column="node", n_servers=3)
    assert tr.servers == ("0", "1", "2") and tr.requests.shape == (4, 3, 2)
    R = np.zeros((4, 3, 2), dtype=np.int64)
    R[0, 1, 0] = R[1, 0, 1] = R[2, 1, 1] = R[3, 1, 0] = 1  # 0.3 / 0.1 = 2.9999... is slot 3
    np.testing.assert_array_equal(tr.requests, R)
    q = _log(tmp_path, text.replace(",1,", ",edge-b,").replace(",0,", ",edge-a,"), "n.csv")
    tr = load_event_log_csv(q, slot_s=0.1, time_column="t", model_column="m",
                            server_column="node", servers=["edge-b", "edge-a"])
    assert tr.servers == ("edge-b", "edge-a")
    np.testing.assert_array_equal(tr.requests.sum(axis=(0, 2)), [3, 1])


def test_epoch_seconds_on_slot_boundaries_bin_like_the_same_datetimes(tmp_path: Path) -> None:
    """Unix times read as floats carry ~2.4e-7 s of rounding at 1.7e9 s (0.3 s after the start
    became 0.29999995 s, slot 0): they bin as the same instants written as datetimes; a time
    a millisecond before the boundary stays in the slot before."""
    epoch = "t\n1700000000.0\n1700000000.3\n1700000000.6\n1700000000.899\n"
    iso = ("t\n2023-11-14 22:13:20.0\n2023-11-14 22:13:20.3\n2023-11-14 22:13:20.6\n"
           "2023-11-14 22:13:20.899\n")
    a = load_event_log_csv(_log(tmp_path, epoch), slot_s=0.3, time_column="t")
    b = load_event_log_csv(_log(tmp_path, iso, "iso.csv"), slot_s=0.3, time_column="t")
    np.testing.assert_array_equal(a.requests[:, 0, 0], [1, 1, 2])
    np.testing.assert_array_equal(b.requests, a.requests)


def _numbered_log(tmp_path: Path, n: int, seed: int = 0, models: int = 3) -> Path:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0.0, 600.0, n))
    m = rng.integers(0, models, n)
    p = tmp_path / f"gen{n}.csv"
    p.write_text("Timestamp,Model,Request tokens\n" + "".join(
        f"{a:.3f},m{b},{c}\n" for a, b, c in zip(t, m, rng.integers(1, 900, n), strict=True)))
    return p


def test_round_robin_and_seeded_random_servers(tmp_path: Path) -> None:
    p = _numbered_log(tmp_path, 1001)
    kw: dict[str, Any] = {"slot_s": 100.0, "time_column": "Timestamp", "model_column": "Model",
                          "n_servers": 4}
    rr = load_event_log_csv(p, **kw)
    np.testing.assert_array_equal(rr.requests.sum(axis=(0, 2)), [251, 250, 250, 250])
    one = load_event_log_csv(p, slot_s=100.0, time_column="Timestamp", model_column="Model")
    np.testing.assert_array_equal(rr.requests.sum(axis=1), one.requests[:, 0, :])
    a = load_event_log_csv(p, server_of="random", seed=3, **kw)
    b = load_event_log_csv(p, server_of="random", seed=3, **kw)
    c = load_event_log_csv(p, server_of="random", seed=4, **kw)
    np.testing.assert_array_equal(a.requests, b.requests)
    assert not np.array_equal(a.requests, c.requests)
    np.testing.assert_array_equal(a.requests.sum(axis=1), one.requests[:, 0, :])
    per = a.requests.sum(axis=(0, 2))
    assert per.sum() == 1001 and per.min() > 200 and not np.array_equal(per, [251, 250, 250, 250])
    want = np.bincount(np.random.default_rng(3).integers(0, 4, 1001), minlength=4)
    np.testing.assert_array_equal(per, want)


def test_a_loaded_log_is_solved_exactly(tmp_path: Path) -> None:
    import aigc_opt as ao
    from aigc_opt.problems.caching import CachingSpec

    rng = np.random.default_rng(5)
    times = rng.uniform(0.0, 300.0, 240)
    names = rng.choice(["gpt-4", "llama", "sd-xl"], 240, p=[0.6, 0.3, 0.1])
    p = _log(tmp_path, "Timestamp,Model\n" + "".join(
        f"{a:.2f},{b}\n" for a, b in zip(times, names, strict=True)))
    tr = load_event_log_csv(p, slot_s=60.0, time_column="Timestamp", model_column="Model",
                            n_servers=2, server_of="random", seed=1, start=0.0)
    assert tr.requests.shape == (5, 2, 3) and tr.requests.sum() == 240
    inst = CachingInstance.generate(2, 3, 5, seed=0).with_requests(tr.requests)
    spec = CachingSpec()
    res = ao.run_method(inst, spec, "offline_milp", options=ao.SolveOptions(mip_gap=0.0))
    assert res.optimal
    met = ao.evaluate(inst, res.allocation, spec)
    assert met.feasible, met.violations
    np.testing.assert_allclose(met.objective, res.objective, rtol=1e-6)


_BAD_LOGS: list[tuple[str, dict[str, Any], str, str]] = [
    # (file text, arguments, field, text in the message)
    (BURST, {"time_column": "timestamp"}, "time_column", "did you mean 'Timestamp'"),
    (BURST, {"model_column": "Models"}, "model_column", "'Request tokens'"),
    ("", {}, "path", "no header"),
    ("Timestamp,Model\n\n", {}, "path", "no data rows"),
    ("Timestamp\n1\nsoon\n", {}, "Timestamp", "line 3: not a number"),
    ("Timestamp\n1\nnan\n", {}, "Timestamp", "line 3: must be finite"),
    ("Timestamp\n1\n-inf\n", {}, "Timestamp", "line 3: must be finite"),
    ("Timestamp\n2023-01-01 10:00\n2023-01-01 1O:00\n", {}, "Timestamp", "line 3: not a"),
    ("Timestamp\n2023-01-01 10:00\nNaT\n", {}, "Timestamp", "line 3: not a"),
    ("Timestamp\n2023-01-01 10:00\n2023-01-01 10:00Z\n", {}, "Timestamp", "line 3: the log mixes"),
    ("Timestamp\n4\n3\n", {"start": 3.5}, "Timestamp", "line 3: 0.5 s before start"),
    ("Timestamp\n4\n1_000\n", {}, "Timestamp", "line 3: not a number"),  # float() took it
    ("Timestamp\n4\n", {"start": "2023-01-01"}, "start", "holds seconds"),
    ("Timestamp\n2023-01-01\n", {"start": 3.0}, "start", "datetime"),
    ("Timestamp\n4\n", {"slot_s": 0.0}, "slot_s", "must be"),
    ("Timestamp\n4\n", {"slot_s": float("nan")}, "slot_s", "NaN"),
    ("Timestamp,Model\n0,a\n1,b\n", {"model_column": "Model", "models": ["a"]}, "Model",
     "line 3: not one of ['a']"),
    ("Timestamp,Model\n0,a\n1, \n", {"model_column": "Model"}, "Model", "line 3: an empty name"),
    ("Timestamp,Model\n0,a\n1\n", {"model_column": "Model"}, "Model", "line 3: 1 cells"),
    ("Timestamp,node\n0,1\n1,-1\n", {"server_column": "node"}, "node", "line 3: server id out"),
    ("Timestamp,node\n0,1\n1,2\n", {"server_column": "node", "n_servers": 2}, "node",
     "line 3: server id out of range 0..1"),
    ("Timestamp\n0\n1e6\n", {"slot_s": 1.0, "n_servers": 20}, "n_slots*n_servers*n_models",
     "max_entries"),
    # the entry count read 4,611,686,018,427,387,905 (a cap at 2**62), not the log's span
    ("Timestamp\n0\n1e300\n", {"slot_s": 1.0}, "n_slots*n_servers*n_models",
     "spans 1e+300 slots of 1 s"),
    ("Timestamp\n0\n1e300\n", {"slot_s": 1e-300}, "n_slots*n_servers*n_models",
     "spans inf slots"),
    ("Timestamp\n0\n1\n", {"server_column": "Timestamp", "server_of": "random"}, "server_of",
     "only applies"),
    ("Timestamp\n0\n", {"server_of": "randm"}, "server_of", "did you mean 'random'"),
]


@pytest.mark.parametrize(("text", "kw", "field", "words"), _BAD_LOGS)
def test_bad_logs_name_the_field_and_file(tmp_path: Path, text: str, kw: dict[str, Any],
                                          field: str, words: str) -> None:
    p = _log(tmp_path, text, "bad_log.csv")
    with pytest.raises(ValidationError) as exc:
        load_event_log_csv(p, **{"slot_s": 60.0, "time_column": "Timestamp", **kw})
    assert exc.value.field == field
    assert words in str(exc.value) and "bad_log.csv" in str(exc.value)


def test_unreadable_logs_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="missing_log.csv") as exc:
        load_event_log_csv(tmp_path / "missing_log.csv", slot_s=1.0, time_column="t")
    assert exc.value.field == "path"
    p = tmp_path / "latin1_log.csv"
    p.write_bytes(b"t,Model\n0,caf\xe9\n")
    with pytest.raises(ValidationError, match=r"latin1_log.csv.*not UTF-8.*line 2") as exc:
        load_event_log_csv(p, slot_s=1.0, time_column="t")
    assert exc.value.field == "path"
    q = _log(tmp_path, "Timestamp\n0\n", "small_log.csv")
    with pytest.raises(ValidationError, match="small_log.csv") as exc:
        load_event_log_csv(q, slot_s=1.0, time_column="Timestamp", max_entries=0)
    assert exc.value.field == "max_entries"


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_lines_are_counted_in_the_file(tmp_path: Path, end: str) -> None:
    """A byte-order mark, blank and whitespace-only lines and a quoted comma keep line numbers
    (a whitespace-only line was kept as a row when only the first column was read, and the
    count of lines skipped it: the error named line 5)."""
    text = end.join(["\ufeffTimestamp,Note", '1,"one, line"', " ", "", "2,x", "bad,y", ""])
    p = tmp_path / "lines_log.csv"
    p.write_bytes(text.encode())
    with pytest.raises(ValidationError, match=r"line 6: not a number.*lines_log.csv"):
        load_event_log_csv(p, slot_s=1.0, time_column="Timestamp")
    p.write_bytes(text.replace("bad", "3").encode())
    tr = load_event_log_csv(p, slot_s=1.0, time_column="Timestamp")
    np.testing.assert_array_equal(tr.requests.ravel(), [1, 1, 1])


@pytest.mark.parametrize("tail", ["", "2023-11-16 18:15:47.6805900\n", "soon\n"])
def test_a_whitespace_line_in_a_one_column_log_is_blank(tmp_path: Path, tail: str) -> None:
    """Azure-style log, only TIMESTAMP read: a ' ' line at the end raised a bare StopIteration,
    one in the middle was read as a time (or its error named the wrong line)."""
    p = _log(tmp_path, "TIMESTAMP,ContextTokens\n2023-11-16 18:15:46.6805900,1\n \n\t\n"
             + tail.replace("\n", ",2\n"), "ws_log.csv")
    if tail.startswith("soon"):
        with pytest.raises(ValidationError, match=r"'soon': line 5: not a.*ws_log.csv"):
            load_event_log_csv(p, slot_s=60.0, time_column="TIMESTAMP")
        return
    tr = load_event_log_csv(p, slot_s=60.0, time_column="TIMESTAMP")
    assert tr.requests.sum() == (2 if tail else 1)
    q = _log(tmp_path, "TIMESTAMP\n2023-11-16 18:15:46\n \nsoon\n", "one_col_log.csv")
    with pytest.raises(ValidationError, match=r"'soon': line 4: not a.*one_col_log.csv"):
        load_event_log_csv(q, slot_s=60.0, time_column="TIMESTAMP")


_OPEN_QUOTE = ("Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
               '1,"ChatGPT,10,20,30,API log\n2,GPT-4,1,2,3,API log\n3,GPT-4,1,2,3,API log\n')


@pytest.mark.parametrize(("text", "words"), [
    (_OPEN_QUOTE, "line 2: a quoted field runs on to line 4"),  # was 1 request, no error
    ("Timestamp,Model\n0,a\n1,\"b,\n\n2,\"c\n", "line 3: a quoted field runs on to line 5"),
    # a quote open to the end of a large file: csv's field limit, now with line and column
    ("Timestamp,Model\n0,a\n1,\"b\n" + "2,c\n" * 40_000, "line 3: a quoted field runs on past"),
])
def test_a_quote_left_open_is_refused(tmp_path: Path, text: str, words: str) -> None:
    import csv

    p = _log(tmp_path, text, "quote_log.csv")
    limit = csv.field_size_limit(100_000)  # process-wide (aigc_opt.export raises it)
    try:
        with pytest.raises(ValidationError) as exc:
            load_event_log_csv(p, slot_s=60.0, time_column="Timestamp", model_column="Model")
    finally:
        csv.field_size_limit(limit)
    assert exc.value.field == "Model"
    assert words in str(exc.value) and "quote_log.csv" in str(exc.value)


@pytest.mark.parametrize(("text", "field", "words"), [
    # an unquoted comma in a model name shifted the token columns, accepted
    ("Timestamp,Model,Tokens,Log Type\n1,ChatGPT,10,API\n2,Llama-2,70B,10,API\n", "Log Type",
     "line 3: 5 cells, the header has 4"),
    # 3,000,000 (time, model) pairs on one line counted as 1 request
    ("Timestamp,Model\n" + "1,a," * 300_000, "Model", "line 2: 600001 cells, the header has 2"),
    ("Timestamp,Model,Tokens\n1,a,1\n\n2,b\n", "Tokens", "line 4: 2 cells, the header has 3"),
    ("Timestamp,Model\n1,a\n2,b,\n", "Model", "line 3: 3 cells, the header has 2"),
])
def test_a_row_must_have_the_header_s_cells(tmp_path: Path, text: str, field: str,
                                            words: str) -> None:
    p = _log(tmp_path, text, "width_log.csv")
    with pytest.raises(ValidationError) as exc:
        load_event_log_csv(p, slot_s=60.0, time_column="Timestamp", model_column="Model")
    assert exc.value.field == field
    assert words in str(exc.value) and "width_log.csv" in str(exc.value)
    # trailing commas on the header and every row: the same cell count, read
    q = _log(tmp_path, "Timestamp,Model,\n1,a,\n2,b,\n", "trailing_log.csv")
    tr = load_event_log_csv(q, slot_s=60.0, time_column="Timestamp", model_column="Model")
    assert tr.models == ("a", "b") and tr.requests.sum() == 2


@pytest.mark.parametrize(("n_servers", "log"), [
    (2_000_000, "Timestamp\n0\n"),  # n_servers alone is over the limit: refused unread
    (400_000, "Timestamp\n0\n250\n"),  # 5 slots x 400,000 servers: over it with the log
])
def test_too_many_servers_are_refused_before_their_names(tmp_path: Path, n_servers: int,
                                                         log: str) -> None:
    """The tuple of n_servers names was built before the size check: n_servers=3e7 took 6 s
    and 2.1 GB before the error, 1e12 was killed for memory."""
    import tracemalloc

    p = _log(tmp_path, log, "servers_log.csv")
    tracemalloc.start()
    try:
        with pytest.raises(ValidationError, match=r"max_entries.*servers_log.csv") as exc:
            load_event_log_csv(p, slot_s=60.0, time_column="Timestamp", n_servers=n_servers,
                               max_entries=1_000_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert exc.value.field == "n_slots*n_servers*n_models"
    assert peak < 4e6, f"{peak / 1e6:.1f} MB allocated before the refusal"
    with pytest.raises(ValidationError, match="max_entries"):  # was an OOM kill
        load_event_log_csv(p, slot_s=60.0, time_column="Timestamp", n_servers=10**12)


def test_a_large_log_loads(tmp_path: Path) -> None:
    p = _numbered_log(tmp_path, 200_000, seed=2, models=20)
    tr = load_event_log_csv(p, slot_s=30.0, time_column="Timestamp", model_column="Model",
                            n_servers=5, server_of="random")
    assert tr.requests.shape == (20, 5, 20) and tr.requests.sum() == 200_000


def test_extra_trace_columns_are_ignored_with_a_warning(tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    """A column outside slot,server,model,count was dropped without a word (t3)."""
    import logging

    from aigc_opt.problems.caching.trace import load_trace_csv

    p = tmp_path / "t.csv"
    p.write_text("slot,server,model,count,x\n0,0,0,3,1\n")
    with caplog.at_level(logging.WARNING):
        arr = load_trace_csv(p)
    assert arr.shape == (1, 1, 1) and arr[0, 0, 0] == 3
    assert "['x'] ignored" in caplog.text


NAIVE = "T\n2023-11-16 18:00:00\n2023-11-16 18:02:00\n"
AWARE = "T\n2023-11-16T18:00:00+01:00\n2023-11-16T18:02:00+01:00\n"


@pytest.mark.parametrize(("text", "start"), [
    (NAIVE, "2023-11-16T18:00:00+01:00"), (NAIVE, datetime.fromisoformat("2023-11-16T17:00Z")),
    (AWARE, "2023-11-16 17:00:00"), (AWARE, datetime(2023, 11, 16, 17)),
    (AWARE, np.datetime64("2023-11-16T16:00"))])
def test_event_log_start_may_not_mix_utc_offsets(tmp_path: Path, text: str, start: Any
                                                 ) -> None:
    """Like the log's own times, ``start`` carries a UTC offset exactly when they do (an
    offset start on a naive log was taken as UTC: 18:00+01:00 read as slot 0 = 17:00)."""
    with pytest.raises(ValidationError, match="may not mix times with and without") as err:
        load_event_log_csv(_log(tmp_path, text), slot_s=60.0, time_column="T", start=start)
    assert err.value.field == "start" and "log.csv" in str(err.value)


def test_event_log_start_with_matching_offsets(tmp_path: Path) -> None:
    """An offset start on an offset log (and a naive one on a naive log) bins as before."""
    tr = load_event_log_csv(_log(tmp_path, AWARE), slot_s=60.0, time_column="T",
                            start="2023-11-16T18:59:00+02:00")  # 16:59 UTC
    np.testing.assert_array_equal(tr.requests[:, 0, 0], [0, 1, 0, 1])
    assert tr.start == datetime(2023, 11, 16, 16, 59)
    tr = load_event_log_csv(_log(tmp_path, NAIVE), slot_s=60.0, time_column="T",
                            start=np.datetime64("2023-11-16T17:59"))
    np.testing.assert_array_equal(tr.requests[:, 0, 0], [0, 1, 0, 1])


def test_event_log_nat_start_shows_the_value(tmp_path: Path) -> None:
    """A NaT start is named as NaT (the message showed ``start [s] = None``)."""
    with pytest.raises(ValidationError, match=r"start \[s\] = .*NaT.*: not a time") as err:
        load_event_log_csv(_log(tmp_path, NAIVE), slot_s=60.0, time_column="T",
                           start=np.datetime64("NaT"))
    assert "None" not in str(err.value)


@pytest.mark.parametrize(("text", "line", "cells"), [
    ("slot,server,model,count\n0,0,0,3,\n0,0,1,2,7\n", 2, 5),
    ("# shape,1,1,2\nslot,server,model,count\n0,0,0,3\n\"0\",0,1,2,7\n", 4, 5),
    ("slot,server,model,count,note\n0,0,0,3,a\n\n0,0,1,2,b,c\n", 4, 6)])
def test_trace_rows_wider_than_the_header_are_refused(tmp_path: Path, text: str, line: int,
                                                      cells: int) -> None:
    """A row with more cells than the header is a ValidationError naming the file and the
    line (it was read silently: 'slot,server,model,count' + '0,0,1,2,7' gave a count of 2)."""
    p = _log(tmp_path, text, "trace.csv")
    with pytest.raises(ValidationError, match=rf"line {line}: {cells} cells, more than") as err:
        load_trace_csv(p)
    assert "trace.csv" in str(err.value)
