"""Scenario: generation, JSON round trip, and validation of every schema field."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aigc_opt import Scenario, ValidationError
from aigc_opt.channel import fading_power, path_loss_gain, shannon_rate
from aigc_opt.quality import quality
from aigc_opt.schema import SCHEMA


@pytest.fixture(scope="module")
def scn() -> Scenario:
    return Scenario.generate(12, 3, 5, seed=7)


def test_generate_is_reproducible(scn: Scenario) -> None:
    assert Scenario.generate(12, 3, 5, seed=7) == scn
    assert Scenario.generate(12, 3, 5, seed=8) != scn
    assert scn.n_users == 12 and scn.n_servers == 3 and scn.n_models == 5


@pytest.mark.parametrize("profile", ["edge_aigc", "lydroo", "hybrid_icc2025"])
def test_profiles_generate_valid_scenarios(profile: str) -> None:
    s = Scenario.generate(5, 2, 3, seed=1, profile=profile)
    assert np.all(s.channel_gain > 0)
    assert s.noise_psd_w_per_hz == pytest.approx(10 ** (-174 / 10) / 1000)


def test_json_round_trip_is_exact(scn: Scenario, tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    scn.save(path)
    back = Scenario.load(path)
    assert back == scn
    assert back.digest() == scn.digest()
    for spec in SCHEMA:  # bit-exact floats, not just close
        a, b = getattr(scn, spec.name), getattr(back, spec.name)
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            assert a.tobytes() == b.tobytes(), spec.name


def test_arrays_are_read_only(scn: Scenario) -> None:
    with pytest.raises(ValueError):
        scn.user_tx_power_w[0] = 1.0


def _bad_values(spec, arr):  # type: ignore[no-untyped-def]
    """(label, bad value) pairs for one field."""
    out = []
    if spec.dtype == "str":
        if spec.axes:
            bad = np.array(arr, dtype=object)
            bad.flat[0] = "nonsense"
            out.append(("choice", bad))
        else:
            out.append(("choice", "nonsense"))
        return out
    a = np.array(arr, dtype=float)
    if a.ndim:
        nan = a.copy()
        nan.flat[0] = np.nan
        out.append(("nan", nan))
        out.append(("shape", a[..., :-1] if a.ndim > 1 else a[:-1]))
        if spec.low is not None:
            neg = a.copy()
            neg.flat[0] = spec.low - 1.0
            out.append(("low", neg))
        if not spec.allow_inf:
            inf = a.copy()
            inf.flat[0] = np.inf
            out.append(("inf", inf))
    else:
        out.append(("nan", float("nan")))
        if spec.low is not None:
            out.append(("low", spec.low - 1.0))
    return out


@pytest.mark.parametrize("spec", SCHEMA, ids=[s.name for s in SCHEMA])
def test_every_field_rejects_bad_values(scn: Scenario, spec) -> None:  # type: ignore[no-untyped-def]
    for label, bad in _bad_values(spec, getattr(scn, spec.name)):
        with pytest.raises(ValidationError) as err:
            scn.replace(**{spec.name: bad})
        named = err.value.field
        if label == "shape" and "point" in spec.axes:
            # two fields share the breakpoint axis: either may be named as the odd one out
            assert named in ("model_quality_steps", "model_quality_values")
            continue
        assert named == spec.name, (label, str(err.value))
        assert spec.name in str(err.value)


def test_unknown_model_id_is_rejected(scn: Scenario) -> None:
    bad = np.array(scn.request_model)
    bad[3] = scn.n_models
    with pytest.raises(ValidationError, match="request_model.*unknown model id"):
        scn.replace(request_model=bad)


def test_non_increasing_breakpoints_are_rejected(scn: Scenario) -> None:
    bp = np.array(scn.model_quality_steps)
    bp[1, 2] = bp[1, 1]
    with pytest.raises(ValidationError, match="model_quality_steps"):
        scn.replace(model_quality_steps=bp)


def test_non_integer_count_is_rejected(scn: Scenario) -> None:
    with pytest.raises(ValidationError, match="server_subchannels.*integer"):
        scn.replace(server_subchannels=np.full(3, 2.5))


def test_empty_scenario_is_rejected(scn: Scenario) -> None:
    with pytest.raises(ValidationError, match="empty scenario"):
        scn.subset(np.array([], dtype=int))


def test_unknown_field_and_bad_files(scn: Scenario, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="unknown scenario field"):
        scn.replace(user_speed=1.0)
    with pytest.raises(ValidationError, match="cannot read"):
        Scenario.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValidationError, match="not valid JSON"):
        Scenario.load(bad)
    d = scn.to_dict()
    del d["channel_gain"]
    bad.write_text(json.dumps(d))
    with pytest.raises(ValidationError, match="channel_gain.*missing"):
        Scenario.load(bad)
    d = scn.to_dict()
    d["extra_field"] = 1
    bad.write_text(json.dumps(d))
    with pytest.raises(ValidationError, match="extra_field"):
        Scenario.load(bad)


def test_path_loss_matches_lydroo_formula() -> None:
    # LyDROO: h0 = Ad * (3e8 / (4 pi fc d))^de with Ad = 3, fc = 915 MHz, de = 3
    d = np.array([120.0, 255.0])
    expected = 3.0 * (3e8 / (4 * np.pi * 915e6 * d)) ** 3
    got = path_loss_gain(d, antenna_gain=3.0, carrier_hz=915e6, exponent=3.0)
    np.testing.assert_allclose(got, expected, rtol=1e-14)


@pytest.mark.parametrize("kind", ["rayleigh", "rician"])
def test_fading_has_unit_mean(kind: str) -> None:
    rng = np.random.default_rng(0)
    x = fading_power(rng, (200_000,), kind=kind, rician_k=3 / 7)
    assert abs(x.mean() - 1.0) < 0.01  # 200k samples: std of the mean ~ 0.002


def test_shannon_rate_closed_form() -> None:
    r = shannon_rate(np.array([1e6, 0.0]), np.array([1.0, 1.0]), np.array([3e-12, 1.0]), 1e-18)
    np.testing.assert_allclose(r[0], 1e6 * np.log2(1 + 3e-12 / 1e-12), rtol=1e-14)
    assert r[1] == 0.0


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.floats(0.0, 80.0), min_size=1, max_size=20))
def test_quality_curves_are_bounded_and_monotone(steps: list[float]) -> None:
    s = Scenario.generate(2, 1, 3, seed=3)  # models 0,1,2 = sigmoid, piecewise, tabulated
    x = np.sort(np.asarray(steps))
    for m in range(3):
        q = quality(s, np.full(x.size, m), x)
        assert np.all(np.diff(q) >= -1e-12)
        assert np.all(q >= 0) and np.all(q <= s.model_quality_max[m] + 1e-12)


def test_quality_kinds_at_breakpoints() -> None:
    s = Scenario.generate(2, 1, 3, seed=3)
    bp, bq = s.model_quality_steps, s.model_quality_values
    # piecewise-linear: exact at breakpoints, linear in between
    np.testing.assert_allclose(quality(s, np.ones(5, int), bp[1]), bq[1], rtol=1e-12)
    mid = 0.5 * (bp[1, 1] + bp[1, 2])
    half = 0.5 * (bq[1, 1] + bq[1, 2])
    assert quality(s, np.array([1]), np.array([mid]))[0] == pytest.approx(half)
    # tabulated: step function
    assert quality(s, np.array([2]), np.array([bp[2, 2] - 1e-9]))[0] == pytest.approx(bq[2, 1])
    # sigmoid closed form
    a, b, qm = s.model_quality_slope[0], s.model_quality_mid[0], s.model_quality_max[0]
    assert quality(s, np.array([0]), np.array([b]))[0] == pytest.approx(qm / 2)
    assert quality(s, np.array([0]), np.array([b + 1]))[0] == pytest.approx(qm / (1 + np.exp(-a)))


def test_npz_schema_version_must_be_a_scalar(tmp_path: Path) -> None:
    """An array-valued schema_version member raised numpy's 'truth value ... ambiguous'."""
    scn = Scenario.generate(4, 2, 2, seed=0)
    scn.save(tmp_path / "s.npz")
    with np.load(tmp_path / "s.npz") as z:
        members = {k: z[k] for k in z.files}
    members["schema_version"] = np.array([1, 1])
    np.savez(tmp_path / "bad.npz", **members)
    with pytest.raises(ValidationError, match="schema_version"):
        Scenario.load(tmp_path / "bad.npz")
