"""The error contract for the online family's environment (``EnvironmentProfile``,
``Trajectory``, ``generate_trajectory``, ``random_frame``) and for an unattainable sizing
quality target: junk raises :class:`ValidationError` naming the field and its unit; valid
input keeps working (default ``online.frame`` / ``online.lyapunov`` cases run and verify); an
unattainable ``min_quality`` is an infeasible instance, not a crash."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt.cases import get_case
from aigc_opt.errors import ValidationError
from aigc_opt.problems.offloading import REJECT
from aigc_opt.problems.online.data import (
    EnvironmentProfile,
    Trajectory,
    generate_trajectory,
    lydroo_profile,
)
from aigc_opt.problems.online.methods import random_frame


class _Opaque:
    """An object no validator can read, with a repr stable across processes (test ids)."""

    def __repr__(self) -> str:
        return "<opaque>"


OPAQUE = _Opaque()

#: Junk for any number / array field: never acceptable.
JUNK = ["abc", None, math.nan, True, {"a": 1}, OPAQUE, b"1"]

PROFILE_SCALARS = [("tau_s", "s"), ("area_m", "m"), ("speed_min", "m/s"),
                   ("speed_max", "m/s"), ("pause_s", "s"), ("gm_alpha", "-"),
                   ("gm_mean_speed", "m/s"), ("gm_speed_std", "m/s"), ("antenna_gain", "-"),
                   ("carrier_hz", "Hz"), ("exponent", "-"), ("rician_k", "-"),
                   ("doppler_hz", "Hz"), ("arrival_mean_bits", "bit"), ("packet_bits", "bit"),
                   ("n_users", "-"), ("n_slots", "-")]


def _raises(fn: Any, field: str, unit: str | None = None) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        fn()
    err = info.value
    assert err.field == field, (err.field, str(err))
    text = str(err)
    assert field in text
    if unit is not None:
        assert f"[{unit}]" in text, text
    return err


# ------------------------------------------------------------------ EnvironmentProfile
@pytest.mark.parametrize("name,unit", PROFILE_SCALARS)
@pytest.mark.parametrize("junk", JUNK + [math.inf, -1.0, 1e300, [1.0, 2.0], np.ones(3)],
                         ids=repr)
def test_profile_scalar_junk(name: str, unit: str, junk: Any) -> None:
    _raises(lambda: EnvironmentProfile(**{"n_users": 3, "n_slots": 4, name: junk}), name, unit)


@pytest.mark.parametrize("name", ["mobility", "fading", "arrivals"])
@pytest.mark.parametrize("junk", ["teleport", None, 1.0, np.ones((2, 2, 2))], ids=repr)
def test_profile_choice_junk(name: str, junk: Any) -> None:
    _raises(lambda: EnvironmentProfile(**{name: junk}), name)


@pytest.mark.parametrize("junk", ["abc", math.nan, (1.0,), (1.0, 2.0, 3.0), (-1.0, 5.0),
                                  (True, False), ((1.0, 2.0), (3.0, 4.0)), 5.0, {"a": 1}],
                         ids=repr)
def test_profile_distances_junk(junk: Any) -> None:
    _raises(lambda: EnvironmentProfile(distances_m=junk), "distances_m", "m")


def test_profile_distances_none_needs_mobility() -> None:
    _raises(lambda: EnvironmentProfile(distances_m=None), "distances_m", "m")
    assert EnvironmentProfile(mobility="gauss_markov", distances_m=None).distances_m is None


@pytest.mark.parametrize("junk", ["abc", None, math.nan, (), (0.0, 0.0), ((0.0, 0.0, 0.0),),
                                  ((0.0, math.nan),), ((1e300, 0.0),), ((True, False),),
                                  ((0.0, "x"),), [[0.0, 0.0], [1.0]]], ids=repr)
def test_profile_server_positions_junk(junk: Any) -> None:
    _raises(lambda: EnvironmentProfile(server_positions_m=junk), "server_positions_m", "m")


def test_profile_random_waypoint_speeds() -> None:
    _raises(lambda: EnvironmentProfile(mobility="random_waypoint", speed_min=0.0), "speed_min",
            "m/s")
    _raises(lambda: EnvironmentProfile(mobility="random_waypoint", speed_min=3.0,
                                       speed_max=2.0), "speed_max", "m/s")


def test_profile_values_are_converted_not_changed() -> None:
    p = EnvironmentProfile(n_users=np.int64(3), n_slots=4, tau_s=1, distances_m=[10, 20],
                           server_positions_m=np.array([[0, 0], [5, 5]]))
    assert type(p.n_users) is int and p.tau_s == 1.0 and isinstance(p.tau_s, float)
    assert p.distances_m == (10.0, 20.0)
    assert p.server_positions_m == ((0.0, 0.0), (5.0, 5.0))
    assert hash(p) == hash(dataclasses.replace(p))  # still a hashable value
    assert lydroo_profile(3, 5) == EnvironmentProfile(n_users=3, n_slots=5)


# ------------------------------------------------------------------ Trajectory
@pytest.fixture(scope="module")
def traj() -> Trajectory:
    return generate_trajectory(lydroo_profile(3, 4), 0)


TRAJ_FIELDS = [("tau_s", "s"), ("positions_m", "m"), ("gains", "-"), ("arrivals_bits", "bit"),
               ("server_positions_m", "m"), ("mean_gains", "-")]


@pytest.mark.parametrize("name,unit", TRAJ_FIELDS)
@pytest.mark.parametrize("junk", ["abc", math.nan, {"a": 1}, OPAQUE, np.ones(1),
                                  np.ones((2, 2, 2, 2)), -np.ones((4, 3)), 1e300], ids=repr)
def test_trajectory_junk(traj: Trajectory, name: str, unit: str, junk: Any) -> None:
    _raises(lambda: dataclasses.replace(traj, **{name: junk}), name, unit)


@pytest.mark.parametrize("name,unit", [f for f in TRAJ_FIELDS if f[0] != "mean_gains"])
def test_trajectory_required_fields(traj: Trajectory, name: str, unit: str) -> None:
    _raises(lambda: dataclasses.replace(traj, **{name: None}), name, unit)


def test_trajectory_nan_entry_and_wrong_shape(traj: Trajectory) -> None:
    g = np.array(traj.gains)
    g[1, 2, 0] = np.nan
    _raises(lambda: dataclasses.replace(traj, gains=g), "gains", "-")
    _raises(lambda: dataclasses.replace(traj, positions_m=traj.positions_m[:, :2]),
            "positions_m", "m")
    _raises(lambda: dataclasses.replace(traj, gains=np.zeros_like(traj.gains)), "gains", "-")
    _raises(lambda: dataclasses.replace(traj, meta=[1, 2]), "meta")
    _raises(lambda: traj.head("2"), "n_slots")


def test_trajectory_accepts_two_d_gains(traj: Trajectory) -> None:
    t2 = dataclasses.replace(traj, gains=traj.gains[:, :, 0], mean_gains=None)
    assert t2.gains.shape == (4, 3, 1)
    np.testing.assert_array_equal(t2.gains, traj.gains)
    assert not t2.gains.flags.writeable


# ------------------------------------------------------------------ generators
@pytest.mark.parametrize("junk", ["abc", math.nan, -1, 1.5, True, [1, 2], {"a": 1}, 1e300],
                         ids=repr)
def test_generate_trajectory_seed_junk(junk: Any) -> None:
    _raises(lambda: generate_trajectory(lydroo_profile(2, 3), junk), "seed", "-")


@pytest.mark.parametrize("junk", ["abc", math.nan, np.ones((3, 2)), np.ones((3, 2, 3)),
                                  np.zeros((0, 2, 2)), {"a": 1}, True], ids=repr)
def test_generate_trajectory_positions_junk(junk: Any) -> None:
    _raises(lambda: generate_trajectory(lydroo_profile(2, 3), 0, positions_m=junk),
            "positions_m", "m")


@pytest.mark.parametrize("junk", ["abc", math.nan, 5.0, np.ones(3), -np.ones((3, 2)),
                                  np.ones((3, 2, 1)), np.zeros((0, 2)), {"a": 1}], ids=repr)
def test_generate_trajectory_arrivals_junk(junk: Any) -> None:
    _raises(lambda: generate_trajectory(lydroo_profile(2, 3), 0, arrivals_bits=junk),
            "arrivals_bits", "bit")


def test_generate_trajectory_profile_and_size_limit() -> None:
    _raises(lambda: generate_trajectory("lydroo"), "profile")
    _raises(lambda: generate_trajectory(lydroo_profile(100, 1000), 0, max_entries=1000),
            "n_slots*n_users*n_servers")
    # a mismatched trace pair is still named
    _raises(lambda: generate_trajectory(lydroo_profile(2, 3), 0, positions_m=np.ones((3, 2, 2)),
                                        arrivals_bits=np.ones((4, 2))), "arrivals_bits", "bit")


def test_generate_trajectory_impossible_gain_names_the_profile() -> None:
    # users at the AP: the clamped 1 mm path loss gives a power gain above the physical bound
    err = _raises(lambda: generate_trajectory(EnvironmentProfile(n_users=2, n_slots=2,
                                                                 distances_m=(0.0, 30.0)), 0),
                  "gains", "-")
    assert "distances_m" in str(err)


@pytest.mark.parametrize("seed", ["abc", None, -1, 1.5, True, np.random.default_rng(0)],
                         ids=["abc", "None", "-1", "1.5", "True", "Generator"])
def test_random_frame_seed_junk(seed: Any) -> None:
    _raises(lambda: random_frame(seed, 3), "seed", "-")


@pytest.mark.parametrize("n", ["abc", None, 0, 1.5, True, math.nan, 10**12], ids=repr)
def test_random_frame_n_users_junk(n: Any) -> None:
    _raises(lambda: random_frame(0, n), "n_users", "-")


def test_generators_accept_integral_numbers() -> None:
    a = random_frame(np.int64(3), np.int64(4))
    b = random_frame(3, 4)
    np.testing.assert_array_equal(a.gains, b.gains)
    np.testing.assert_array_equal(a.queues_bits, b.queues_bits)
    t1 = generate_trajectory(lydroo_profile(2, 3), np.int64(5))
    t2 = generate_trajectory(lydroo_profile(2, 3), 5)
    np.testing.assert_array_equal(t1.gains, t2.gains)


# ------------------------------------------------------------------ valid cases still run
@pytest.mark.parametrize("kind,sizes", [("online.frame", {}),
                                        ("online.lyapunov", {"n_users": 4, "n_slots": 20})])
def test_default_online_cases_run_and_verify(kind: str, sizes: dict[str, int]) -> None:
    case = get_case(kind)
    inst, spec = case.make_instance(0, **sizes), case.make_spec()
    res = ao.run_method(inst, spec, "exact", options=ao.SolveOptions(time_limit=10))
    assert res.success and res.verified, res
    m = ao.evaluate(inst, res.allocation, spec)
    assert m.feasible
    assert m.objective == pytest.approx(res.objective, rel=1e-9)


# ------------------------------------------------------------------ unattainable sizing target
def _sizing(min_quality: float | None) -> tuple[Any, Any]:
    from aigc_opt.problems.sizing import GpuOption, RadioOption, SizingInstance, SizingSpec
    gpus = (GpuOption("small", 1.0, 2.2e13, 12e9, 2), GpuOption("big", 2.5, 5e13, 24e9, 1))
    radios = (RadioOption("narrow", 0.5, 1e6, 1e6, 4), RadioOption("wide", 1.5, 4e6, 4e6, 10))
    scn = ao.Scenario.generate(4, 2, 2, seed=1).replace(cloud_latency_s=20.0)
    return SizingInstance((scn,), gpus, radios, ("peak",)), SizingSpec(min_quality=min_quality)


@pytest.mark.parametrize("method", ["greedy_capacity", "highs"])
def test_unattainable_quality_target_is_infeasible(method: str) -> None:
    inst, spec = _sizing(1.0)
    res = ao.run_method(inst, spec, method, options=ao.SolveOptions(time_limit=10))
    assert res.termination is ao.Termination.INFEASIBLE
    assert not res.success
    assert res.explanation is not None and str(res.explanation)
    if method == "greedy_capacity":  # the referee names the unmet target
        assert "quality_target" in str(res.explanation)
        plan = res.allocation
        assert (plan.assignments[0].placement == REJECT).all()
    else:  # the solver's conflict names the requests' assignment rows
        assert "assignment[peak]" in str(res.explanation)


def test_attainable_quality_target_unchanged() -> None:
    inst, spec = _sizing(None)
    res = ao.run_method(inst, spec, "highs", options=ao.SolveOptions(time_limit=10))
    greedy = ao.run_method(inst, spec, "greedy_capacity")
    assert res.success and greedy.success
    assert greedy.objective >= res.objective - 1e-9


def test_out_of_range_gain_names_where_the_positions_came_from() -> None:
    """A gain out of range from a position trace at the access point, or from a tiny
    random-waypoint area, was 'derived from ... distances_m=(120.0, 255.0)', a field that
    plays no part there."""
    at_ap = np.zeros((1, 1, 2))  # at the access point: distance 0
    with pytest.raises(ValidationError, match="gains") as info:
        generate_trajectory(lydroo_profile(1, 1), 0, positions_m=at_ap)
    assert "positions_m=" in str(info.value) and "distances_m" not in str(info.value)
    tiny = dataclasses.replace(lydroo_profile(2, 3), mobility="random_waypoint", area_m=1e-3)
    with pytest.raises(ValidationError, match="gains") as info:
        generate_trajectory(tiny, 0)
    text = str(info.value)
    assert "mobility='random_waypoint'" in text and "distances_m" not in text
    far = dataclasses.replace(lydroo_profile(1, 1), distances_m=(0.0, 0.0))
    with pytest.raises(ValidationError, match="distances_m=") as info:
        generate_trajectory(far, 0)
