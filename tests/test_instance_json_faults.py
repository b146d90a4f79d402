"""Instance JSON files hold exactly what they say or are refused by name (found by a mutation
fuzzer: numpy converted strings, bools and null inside arrays, a lossy declared dtype changed
values, and huge or infinite integers raised bare OverflowError/ValueError)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aigc_opt.cases import case_kinds, get_case, load_instance_file, save_instance_json
from aigc_opt.errors import ValidationError

KIND = "incentives.contract"


def _doc(tmp_path: Path) -> dict[str, Any]:
    p = save_instance_json(get_case(KIND).make_instance(seed=0), tmp_path / "c.json")
    return json.loads(p.read_text())


def _theta(doc: dict[str, Any], values: Any, dtype: str = "<f8") -> dict[str, Any]:
    out = copy.deepcopy(doc)
    out["fields"]["theta"] = {"__ndarray__": values, "dtype": dtype}
    return out


def _load(tmp_path: Path, doc: Any, text: str | None = None) -> Any:
    p = tmp_path / "m.json"
    p.write_text(json.dumps(doc) if text is None else text)
    return load_instance_file(get_case(KIND), p)


@pytest.mark.parametrize(("values", "dtype", "needle"), [
    ([1.0, "2.5", 3.0], "<f8", "must be numbers"),
    ([1.0, True, 3.0], "<f8", "must be numbers"),
    ([1.0, None, 3.0], "<f8", "must be numbers"),
    ([1.0, {"a": 1}, 3.0], "<f8", "must be numbers"),
    ([1.5, 2.0, 3.0], "<i8", "does not fit"),
    ([1.0, float("inf"), 3.0], "<i8", "does not fit"),
    ([10**30, 2, 3], "<i8", "bad array"),
    ([1.0, 300.0, 3.0], "|i1", "does not fit"),
    ([103.3055, 2.0, 3.0], "<f2", "does not fit"),
    ([[1.0, 2.0], [3.0]], "<f8", "bad array"),
    ([1.0, 2.0, 3.0], "<,f8", "not a numpy dtype"),
    ([1.0, 2.0, 3.0], "<U8", "must be strings"),
    (["a", ["b"], "c"], "<U8", "bad array"),
    (["abcdefghi", "b", "c"], "<U8", "at most 8 characters"),
    ([1.0, 2.0, 3.0], "<c16", "not numeric"),
])
def test_array_entries_are_exactly_the_files(tmp_path: Path, values: Any, dtype: str,
                                             needle: str) -> None:
    with pytest.raises(ValidationError, match=needle) as err:
        _load(tmp_path, _theta(_doc(tmp_path), values, dtype))
    assert err.value.field == "fields.theta"


def test_bool_arrays_take_only_true_and_false(tmp_path: Path) -> None:
    from aigc_opt.cases import _decode

    assert _decode({"__ndarray__": [True, False], "dtype": "|b1"}, "x").tolist() == [True, False]
    for bad in (["false", True], [1, 0], [None, True]):
        with pytest.raises(ValidationError, match="true/false"):
            _decode({"__ndarray__": bad, "dtype": "|b1"}, "x")


def test_file_level_faults_are_named(tmp_path: Path) -> None:
    doc = _doc(tmp_path)
    with pytest.raises(ValidationError, match="4300 digits|not valid JSON"):
        _load(tmp_path, None, text=json.dumps(doc).replace("100.0", "1" * 5000, 1))
    tupled = copy.deepcopy(doc)
    tupled["fields"]["gamma1"] = {"__tuple__": 1.0}
    with pytest.raises(ValidationError, match="must be a list"):
        _load(tmp_path, tupled)
    for tag in ("abc", None, False, 2):
        tagged = dict(doc, aigc_opt_instance=tag)
        with pytest.raises(ValidationError, match="version"):
            _load(tmp_path, tagged)


def test_every_case_kind_round_trips(tmp_path: Path) -> None:
    """The strict reading keeps every file the library writes (bool, int, float arrays)."""
    for name, kind in sorted(case_kinds().items()):
        if not getattr(kind.make_instance, "__module__", "").startswith("aigc_opt."):
            continue  # a kind another test registered (tests/test_batch.py's fake cases)
        inst = kind.make_instance(seed=1)
        back = load_instance_file(kind, save_instance_json(inst, tmp_path / f"{name}.json"))
        assert type(back) is type(inst)
        for f, v in vars(inst).items():
            if isinstance(v, np.ndarray):
                np.testing.assert_array_equal(getattr(back, f), v, err_msg=f"{name}.{f}")


def test_a_key_given_twice_is_refused_not_overwritten(tmp_path: Path) -> None:
    """``json`` keeps the last of two equal keys; a file that says ``theta`` twice is
    ambiguous, so the instance and scenario readers refuse it by name."""
    doc = _doc(tmp_path)
    text = json.dumps(doc)
    twice = text.replace('"fields": {', '"fields": {"theta": {"__ndarray__": [9.0], '
                         '"dtype": "<f8"}, ', 1)
    assert twice != text
    with pytest.raises(ValidationError, match=r"m\.json.*'theta' twice"):
        _load(tmp_path, None, twice)
    from aigc_opt import Scenario

    scn = Scenario.generate(n_users=2, n_servers=1, n_models=1, seed=0)
    p = tmp_path / "s.json"
    scn.save(p)
    body = p.read_text()
    p.write_text(body.replace("{", '{"n_users_typo": 1, "n_users_typo": 2, ', 1))
    with pytest.raises(ValidationError, match=r"s\.json.*'n_users_typo' twice"):
        Scenario.load(p)


def test_a_bad_field_names_the_file_too(tmp_path: Path) -> None:
    doc = _doc(tmp_path)
    doc["fields"]["thetaa"] = doc["fields"].pop("theta")
    with pytest.raises(ValidationError, match=r"thetaa.*in .*m\.json"):
        _load(tmp_path, doc)
    with pytest.raises(ValidationError, match=r"theta.*must be numbers.*in .*m\.json"):
        _load(tmp_path, _theta(_doc(tmp_path), [1.0, "x", 3.0]))


def test_string_arrays_round_trip_in_nested_scenarios(tmp_path: Path) -> None:
    """A sizing instance holds Scenarios, whose model kinds are a str array: it saves and loads
    to an identical file (it raised "only numeric arrays are saved" before)."""
    import aigc_opt as ao
    from aigc_opt.cases import load_instance_json
    from aigc_opt.problems.sizing import GpuOption, RadioOption, SizingInstance

    scn = ao.Scenario.generate(5, 2, 2, seed=3)
    inst = SizingInstance((scn,), (GpuOption("g", 1.0, 2e13, 12e9, 2),),
                          (RadioOption("r", 0.5, 1e6, 1e6, 4),), ("peak",))
    p = save_instance_json(inst, tmp_path / "s.json")
    back = load_instance_json(p, SizingInstance)
    assert back.demands[0].model_quality_kind.tolist() == scn.model_quality_kind.tolist()
    assert save_instance_json(back, tmp_path / "t.json").read_text() == p.read_text()


def test_load_instance_json_reads_what_save_instance_json_wrote(tmp_path: Path) -> None:
    """save_instance_json writes a Scenario (offloading.*, allocation.steps, ...) in the
    Scenario's own JSON, which load_instance_json refused ("not an instance JSON file"); the
    pair now round-trips every case kind, with and without ``expected``."""
    import aigc_opt as ao
    from aigc_opt.cases import instance_type, load_instance_json

    scenario_kinds = []
    for name, kind in sorted(case_kinds().items()):
        if not getattr(kind.make_instance, "__module__", "").startswith("aigc_opt."):
            continue  # a kind another test registered
        inst = kind.make_instance(seed=2)
        p = save_instance_json(inst, tmp_path / f"{name}.json")
        if isinstance(inst, ao.Scenario):
            scenario_kinds.append(name)
        for expected in (None, instance_type(kind)):
            back = load_instance_json(p, expected)
            assert type(back) is type(inst), (name, expected)
            again = save_instance_json(back, tmp_path / "again.json")
            assert again.read_bytes() == p.read_bytes(), (name, expected)
    assert {"offloading.assignment", "allocation.steps", "allocation.hybrid_steps"} <= set(
        scenario_kinds), scenario_kinds


@pytest.mark.parametrize("extra", [{"zz_unknown": 1}, {"schema_version": True},
                                   {"Fields": {}}])
def test_an_unknown_top_level_key_is_refused_by_name(tmp_path: Path,
                                                     extra: dict[str, Any]) -> None:
    """Only keys inside ``fields`` were checked: ``"zz_unknown": 1`` or a misspelt
    ``"Fields"`` beside the three keys save_instance_json writes was ignored silently."""
    doc = dict(_doc(tmp_path), **extra)
    key = next(iter(extra))
    with pytest.raises(ValidationError, match=rf"^{key} \[-\] = .*m\.json: not a key of an "
                                              "instance JSON file.*aigc_opt_instance, type, "
                                              "fields"):
        _load(tmp_path, doc)
    assert _load(tmp_path, _doc(tmp_path)) is not None  # the three keys alone load
