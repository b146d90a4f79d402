"""Certified WPMEC label data sets: enumeration check, file layouts, CLI."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import scipy.io

from aigc_opt.cli import main
from aigc_opt.gym.datasets import load_labels, save_labels, wpmec_labels
from aigc_opt.problems.wpmec import WpmecBatch
from aigc_opt.problems.wpmec.inner import solve_inner


def _enumerate(gains: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best value and mode of every frame over all 2^N modes (exact inner solver per mode)."""
    n = gains.shape[1]
    modes = np.array(list(itertools.product((False, True), repeat=n)))
    batch = WpmecBatch(gains, weights)
    L, g, W = batch.coefficients()
    best_v, best_m = [], []
    for k in range(gains.shape[0]):
        L1, g1, W1 = (np.repeat(x[k:k + 1], modes.shape[0], axis=0) for x in (L, g, W))
        v = solve_inner(L1, g1, W1, modes)[0]
        best_v.append(v.max())
        best_m.append(modes[int(np.argmax(v))])
    return np.array(best_v), np.array(best_m)


def test_labels_at_n10_reproduce_enumeration_of_all_modes() -> None:
    lab = wpmec_labels(10, 6, seed=4)
    assert lab.gains.shape == (6, 10) and lab.modes.shape == (6, 10)
    best_v, best_m = _enumerate(lab.gains, lab.weights)
    # certified: no mode beats the label by more than its gap, and the gap is tiny
    assert np.all(lab.gap <= 1e-6) and np.all(lab.bound >= best_v * (1 - 1e-12))
    np.testing.assert_allclose(lab.objective, best_v, rtol=1e-6)
    # the labelled mode, completed by the inner solver, is worth the labelled objective
    L, g, W = WpmecBatch(lab.gains, lab.weights).coefficients()
    v = solve_inner(L, g, W, lab.modes.astype(bool))[0]
    np.testing.assert_allclose(v, lab.objective, rtol=1e-9)
    same = (lab.modes.astype(bool) == best_m).all(axis=1)
    assert same.sum() >= 5  # ties within 1e-6 may pick another mode of equal value


def test_given_gains_and_file_round_trips(tmp_path: Path) -> None:
    gains = WpmecBatch.generate(5, 20, seed=1).gains
    lab = wpmec_labels(gains=gains)
    assert lab.seed == -1 and lab.n_users == 20 and lab.n_frames == 5
    np.testing.assert_array_equal(lab.gains, gains)
    for suffix in (".npz", ".mat"):
        p = save_labels(lab, tmp_path / f"labels{suffix}")
        back = load_labels(p)
        np.testing.assert_array_equal(back.modes, lab.modes)
        np.testing.assert_allclose(back.objective, lab.objective, rtol=0)
        np.testing.assert_allclose(back.gains, lab.gains, rtol=0)
    d = scipy.io.loadmat(tmp_path / "labels.mat")
    assert d["input_h"].shape == (5, 20) and d["output_mode"].shape == (5, 20)
    assert d["output_obj"].shape == (5, 1)


def test_cli_dataset_wpmec(tmp_path: Path, capsys: object) -> None:
    out = tmp_path / "data_30.mat"
    assert main(["dataset", "wpmec", "--users", "30", "--frames", "8", "--seed", "2",
                 "--out", str(out)]) == 0
    d = scipy.io.loadmat(out)
    assert d["input_h"].shape == (8, 30) and set(np.unique(d["output_mode"])) <= {0.0, 1.0}
    ref = wpmec_labels(30, 8, seed=2)
    np.testing.assert_allclose(d["output_obj"][:, 0], ref.objective, rtol=0)
    assert main(["dataset", "wpmec", "--users", "3", "--out", str(tmp_path / "x.csv")]) == 2
