"""Online family, environment model: trajectories, mobility, fading, arrivals, traces, specs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aigc_opt.channel import path_loss_gain
from aigc_opt.errors import ValidationError
from aigc_opt.problems.online import (
    EnvironmentProfile,
    FrameInstance,
    LyapunovSpec,
    Trajectory,
    generate_trajectory,
    load_arrival_trace,
    load_position_trace,
    lydroo_profile,
)
from aigc_opt.problems.online.data import LYDROO
from aigc_opt.problems.online.mobility import (
    fading_process,
    gauss_markov,
    jakes_rho,
    random_waypoint,
)


def test_spec_defaults_are_the_lydroo_code_values() -> None:
    """Values copied by hand from revenol/LyDROO (LyDROO.py, ResourceAllocation.py)."""
    s = LyapunovSpec()
    assert (s.V, s.energy_threshold_j, s.nu_per_j, s.y_scale) == (20.0, 0.08, 1000.0, 10.0)
    assert (s.cycles_per_bit, s.kappa, s.f_max_hz) == (100.0, 1e-26, 300e6)
    assert (s.bandwidth_hz, s.vu, s.p_max_w) == (2e6, 1.1, 0.1)
    # N0 = W * d_fact * 10**(-17.4) * 10**(-3) (the code's ch_fact cancels with h's CHFACT)
    assert s.noise_w == pytest.approx(2e6 * 10 ** (-17.4) * 1e-3, rel=1e-12)
    np.testing.assert_array_equal(s.weights_for(4), [1.5, 1.0, 1.5, 1.0])


def test_lydroo_channel_mean_matches_the_code_formula() -> None:
    tr = generate_trajectory(lydroo_profile(10, 3), seed=0)
    d = np.linspace(120, 255, 10)
    h0 = 3 * (3e8 / 4 / math.pi / 915e6 / d) ** 3       # LyDROO.py: Ad*(light/4/pi/fc/d)**3
    assert tr.mean_gains is not None
    np.testing.assert_allclose(tr.mean_gains[0, :, 0], h0, rtol=1e-12)
    assert tr.gains.shape == (3, 10, 1) and tr.arrivals_bits.shape == (3, 10)
    assert LYDROO["los_fraction"] == 0.3


def test_rician_fading_statistics_and_seed_determinism() -> None:
    prof = lydroo_profile(4, 20000)
    a = generate_trajectory(prof, seed=3)
    b = generate_trajectory(prof, seed=3)
    np.testing.assert_array_equal(a.gains, b.gains)
    assert a.mean_gains is not None
    fade = a.gains[:, :, 0] / a.mean_gains[:, :, 0]
    assert fade.mean() == pytest.approx(1.0, abs=0.02)
    # Rician with K = 3/7: E|g|^2 = 1, var = 1 - K^2/(K+1)^2 = 1 - 0.09
    assert fade.var() == pytest.approx(1.0 - 0.3**2, abs=0.04)
    assert a.arrivals_bits.mean() == pytest.approx(3e6, rel=0.03)
    assert not a.gains.flags.writeable


def test_gauss_markov_fading_has_the_jakes_correlation() -> None:
    rho = jakes_rho(10.0, 0.01)
    assert rho == pytest.approx(0.9037, abs=1e-3)            # J0(2 pi 0.1)
    g = fading_process(np.random.default_rng(1), (40000, 2), kind="rayleigh", rho=rho)
    assert g.mean() == pytest.approx(1.0, abs=0.05)
    # for complex Gaussian s_t the power autocorrelation at lag 1 is |rho|^2
    c = np.corrcoef(g[:-1, 0], g[1:, 0])[0, 1]
    assert c == pytest.approx(rho**2, abs=0.03)
    iid = fading_process(np.random.default_rng(1), (40000,), kind="rayleigh", rho=0.0)
    assert abs(np.corrcoef(iid[:-1], iid[1:])[0, 1]) < 0.03


def test_random_waypoint_stays_in_the_area_with_bounded_speed() -> None:
    pos = random_waypoint(np.random.default_rng(0), 500, 5, 1.0, area_m=100.0, speed_min=1.0,
                          speed_max=3.0, pause_s=2.0)
    assert pos.shape == (500, 5, 2)
    assert np.all((pos >= 0) & (pos <= 100.0))
    step = np.linalg.norm(np.diff(pos, axis=0), axis=-1)
    assert step.max() <= 3.0 + 1e-9
    assert (step < 1e-12).any()                     # pauses happen


def test_gauss_markov_mobility_reflects_at_walls() -> None:
    pos = gauss_markov(np.random.default_rng(0), 2000, 3, 1.0, area_m=50.0, alpha=0.9,
                       mean_speed=2.0, speed_std=1.0)
    assert np.all((pos >= 0) & (pos <= 50.0))
    prof = EnvironmentProfile(n_users=3, n_slots=50, mobility="gauss_markov", area_m=50.0,
                              server_positions_m=((0.0, 0.0), (50.0, 50.0)), doppler_hz=5.0)
    tr = generate_trajectory(prof, seed=2)
    assert tr.gains.shape == (50, 3, 2) and tr.n_servers == 2
    assert tr.meta["rho"] == pytest.approx(jakes_rho(5.0, 1.0))
    dist = np.linalg.norm(tr.positions_m[:, :, None, :] - tr.server_positions_m, axis=-1)
    assert tr.mean_gains is not None
    np.testing.assert_allclose(tr.mean_gains, path_loss_gain(
        dist, antenna_gain=3.0, carrier_hz=915e6, exponent=3.0), rtol=1e-12)


def test_csv_traces_round_trip(tmp_path) -> None:
    rng = np.random.default_rng(0)
    pos = rng.uniform(0, 200, size=(6, 3, 2))
    rows = ["slot,user,x,y"] + [f"{t},{u},{float(pos[t, u, 0])!r},{float(pos[t, u, 1])!r}"
                                for t in range(6) for u in range(3)]
    rows_shuffled = [rows[0]] + list(np.asarray(rows[1:])[rng.permutation(18)])
    (tmp_path / "pos.csv").write_text("\n".join(rows_shuffled) + "\n")
    loaded = load_position_trace(tmp_path / "pos.csv")
    np.testing.assert_array_equal(loaded, pos)
    (tmp_path / "arr.csv").write_text(
        "slot,user,bits\n" + "".join(f"{t},{u},{1000 * (t + u)}\n"
                                     for t in range(6) for u in range(3)))
    arr = load_arrival_trace(tmp_path / "arr.csv")
    tr = generate_trajectory(lydroo_profile(), seed=1, positions_m=loaded, arrivals_bits=arr)
    assert (tr.n_slots, tr.n_users) == (6, 3)
    np.testing.assert_array_equal(tr.positions_m, pos)
    np.testing.assert_array_equal(tr.arrivals_bits, arr)
    (tmp_path / "bad.csv").write_text("slot,user,x\n0,0,1\n")
    with pytest.raises(ValidationError, match="lacks columns"):
        load_position_trace(tmp_path / "bad.csv")
    (tmp_path / "dup.csv").write_text("slot,user,x,y\n0,0,1,1\n0,0,2,2\n")
    with pytest.raises(ValidationError, match="exactly once"):
        load_position_trace(tmp_path / "dup.csv")


def test_poisson_arrivals_are_whole_packets() -> None:
    prof = EnvironmentProfile(n_users=4, n_slots=5000, arrivals="poisson",
                              arrival_mean_bits=2e5, packet_bits=1e4)
    a = generate_trajectory(prof, seed=0).arrivals_bits
    np.testing.assert_array_equal(a % 1e4, 0.0)
    assert a.mean() == pytest.approx(2e5, rel=0.02)


@pytest.mark.parametrize("make", [
    lambda: EnvironmentProfile(tau_s=-1.0),
    lambda: EnvironmentProfile(mobility="teleport"),
    lambda: EnvironmentProfile(n_users=0),
    lambda: LyapunovSpec(V=-1.0),
    lambda: LyapunovSpec(p_max_w=0.0),
    lambda: LyapunovSpec(weights=(1.0, float("nan"))),
    lambda: LyapunovSpec(queue_unit_bits=1e-300),  # Q / b0 overflowed: every result 'inf'
    lambda: FrameInstance(np.ones(2), np.array([1.0, -1.0]), np.zeros(2)),
    lambda: Trajectory(1.0, np.zeros((2, 1, 2)), np.zeros((2, 1)), np.ones((2, 1)),
                       np.zeros((1, 2))),
])
def test_bad_input_raises_validation_error(make) -> None:
    with pytest.raises(ValidationError):
        make()


def test_trajectory_head_and_units_in_error() -> None:
    tr = generate_trajectory(lydroo_profile(3, 10), seed=0)
    assert tr.head(4).n_slots == 4
    with pytest.raises(ValidationError, match=r"tau_s \[s\]"):
        EnvironmentProfile(tau_s=0.0)
