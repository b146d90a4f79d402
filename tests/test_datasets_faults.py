"""Faults in label files (``dataset check``) and the memory of the exact solver's flip search.

Every malformed label file gets a :class:`ValidationError` naming the variable (never a silent
reshape, a silent fallback to DROO's weights, a dropped imaginary part or a bare
``ValueError``); ``_flip_search`` gives the incumbents of the former ``np.eye(N)`` formula
without allocating N x N arrays.
"""

from __future__ import annotations

import re
import tracemalloc
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.io

from aigc_opt.cli import main
from aigc_opt.errors import ValidationError
from aigc_opt.gym.datasets import check_labels, load_labels, save_labels, wpmec_labels
from aigc_opt.problems.wpmec import WpmecBatch
from aigc_opt.problems.wpmec import exact as ex

F, N = 6, 4


@pytest.fixture(scope="module")
def good() -> dict[str, np.ndarray]:
    """A DROO-layout label set of F = 6 frames x N = 4 users (certified labels)."""
    lab = wpmec_labels(N, F, seed=3)
    return {"input_h": lab.gains, "output_mode": lab.modes.astype(float),
            "output_obj": lab.objective[:, None], "output_a": lab.wpt_fraction[:, None],
            "output_tau": lab.tau, "weights": lab.weights[None, :]}


def _mat(path: Path, d: dict[str, Any]) -> Path:
    scipy.io.savemat(path, d)
    return path


def _npz(path: Path, **arrays: Any) -> Path:
    np.savez(path, **arrays)
    return path


def _npz_from(d: dict[str, np.ndarray], **over: Any) -> dict[str, Any]:
    base = {"gains": d["input_h"], "modes": d["output_mode"].astype(np.int8),
            "objective": d["output_obj"].ravel(), "tau": d["output_tau"],
            "wpt_fraction": d["output_a"].ravel(), "weights": d["weights"].ravel(),
            "seed": np.int64(3)}
    return base | over


# ------------------------------------------------------------------------------ shapes
@pytest.mark.parametrize("key", ["output_mode", "output_tau"])
def test_transposed_matrix_is_refused_not_reshaped(tmp_path: Path, good: dict[str, np.ndarray],
                                                   key: str) -> None:
    p = _mat(tmp_path / "t.mat", good | {key: good[key].T})
    with pytest.raises(ValidationError, match=rf"{key}.*\(4, 6\).*needs \(6, 4\)"):
        load_labels(p)


def test_weights_of_another_shape_are_refused(tmp_path: Path,
                                              good: dict[str, np.ndarray]) -> None:
    lab = wpmec_labels(4, 3, seed=0)
    p = _npz(tmp_path / "w.npz", gains=lab.gains, modes=lab.modes,
             weights=np.ones((2, 2)))
    with pytest.raises(ValidationError, match=r"weights.*\(2, 2\).*needs \(4,\)"):
        load_labels(p)


def test_matlab_vectors_and_one_frame_are_accepted(tmp_path: Path,
                                                   good: dict[str, np.ndarray]) -> None:
    # F-vectors as F x 1 (savemat of [:, None]) or 1 x F; weights as 1 x N or N x 1
    for obj, w in ((good["output_obj"], good["weights"]),
                   (good["output_obj"].T, good["weights"].T)):
        lab = load_labels(_mat(tmp_path / "v.mat", good | {"output_obj": obj, "weights": w}))
        np.testing.assert_array_equal(lab.objective, good["output_obj"].ravel())
        np.testing.assert_array_equal(lab.weights, good["weights"].ravel())
    one = _npz(tmp_path / "one.npz", gains=good["input_h"][0], modes=good["output_mode"][0],
               tau=good["output_tau"][0], objective=good["output_obj"][0])
    lab = load_labels(one)
    assert lab.modes.shape == lab.tau.shape == (1, N)


# ------------------------------------------------------------------------------ weights
def test_file_weights_with_nan_are_refused(tmp_path: Path, good: dict[str, np.ndarray]) -> None:
    w = good["weights"].copy()
    w[0, 1] = np.nan
    with pytest.raises(ValidationError, match=r"weights.*NaN.*w5_nan\.mat"):
        load_labels(_mat(tmp_path / "w5_nan.mat", good | {"weights": w}))
    for bad in (np.inf, 0.0, -1.0):
        w = good["weights"].ravel().copy()
        w[2] = bad
        with pytest.raises(ValidationError, match=r"weights"):
            load_labels(_npz(tmp_path / "w.npz", **_npz_from(good, weights=w)))


def test_absent_weights_mean_droo_defaults(tmp_path: Path, good: dict[str, np.ndarray]) -> None:
    d = {k: v for k, v in good.items() if k != "weights"}
    lab = load_labels(_mat(tmp_path / "droo.mat", d))
    assert np.isnan(lab.weights).all()
    chk = check_labels(lab)
    droo = check_labels(lab, weights=np.where(np.arange(N) % 2 == 1, 1.5, 1.0))
    np.testing.assert_array_equal(chk.optimum, droo.optimum)
    # labels without weights round-trip through save_labels (no NaN weights are written)
    for suffix in (".npz", ".mat"):
        back = load_labels(save_labels(lab, tmp_path / f"again{suffix}"))
        assert np.isnan(back.weights).all()


def test_check_labels_refuses_partly_nan_weights(good: dict[str, np.ndarray],
                                                 tmp_path: Path) -> None:
    lab = load_labels(_mat(tmp_path / "g.mat", good))
    w = lab.weights.copy()
    w[1] = np.nan
    from dataclasses import replace

    with pytest.raises(ValidationError, match="weights"):
        check_labels(replace(lab, weights=w))


# ------------------------------------------------------------------------------ types
@pytest.mark.parametrize("value, what", [
    (lambda h: h.astype(complex) + 1e-9j, "complex"),
    (lambda h: h > 0, "boolean"),
    (lambda h: np.full(h.shape, "x"), "text"),
])
def test_non_real_gains_are_refused(tmp_path: Path, good: dict[str, np.ndarray],
                                    value: Any, what: str) -> None:
    p = _npz(tmp_path / "c.npz", **_npz_from(good, gains=value(good["input_h"])))
    with warnings.catch_warnings():  # refused, not truncated with a ComplexWarning
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        with pytest.raises(ValidationError, match=rf"input_h.*{what}.*c\.npz"):
            load_labels(p)


def test_complex_or_text_optional_variables_are_refused(tmp_path: Path,
                                                        good: dict[str, np.ndarray]) -> None:
    obj = good["output_obj"].ravel().astype(complex)
    with pytest.raises(ValidationError, match="output_obj.*complex"):
        load_labels(_npz(tmp_path / "o.npz", **_npz_from(good, objective=obj)))
    cell = np.empty((2, 1), dtype=object)
    cell[0, 0], cell[1, 0] = np.ones(3), np.ones(2)
    with pytest.raises(ValidationError, match="input_h.*cell"):
        load_labels(_mat(tmp_path / "cell.mat", good | {"input_h": cell}))


# ------------------------------------------------------------------------------ seed
@pytest.mark.parametrize("seed", [np.float64(np.nan), np.str_("abc"), np.zeros(0),
                                  np.float64(1e30), np.int64(-2), np.float64(1.5)])
def test_bad_seed_is_refused_by_name(tmp_path: Path, good: dict[str, np.ndarray],
                                     seed: Any) -> None:
    p = _npz(tmp_path / "s.npz", **_npz_from(good, seed=seed))
    with pytest.raises(ValidationError, match=r"seed.*s\.npz"):
        load_labels(p)


def test_good_seeds_are_read(tmp_path: Path, good: dict[str, np.ndarray]) -> None:
    for seed, want in ((np.int64(7), 7), (np.float64(7.0), 7), (np.array([7]), 7),
                       (np.int64(-1), -1)):
        assert load_labels(_npz(tmp_path / "s.npz", **_npz_from(good, seed=seed))).seed == want


# ------------------------------------------------------------------------------ paths
def test_missing_file_says_it_does_not_exist(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValidationError, match="does not exist"):
        load_labels(tmp_path / "nosuch.mat")
    assert main(["dataset", "check", str(tmp_path / "nosuch.mat")]) == 2
    err = capsys.readouterr().err
    assert "nosuch.mat" in err and "does not exist" in err and "Reader needs" not in err


def test_cli_exit_codes_for_bad_label_files(tmp_path: Path, good: dict[str, np.ndarray],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    files = [_mat(tmp_path / "mode_t.mat", good | {"output_mode": good["output_mode"].T}),
             _npz(tmp_path / "nan_seed.npz", **_npz_from(good, seed=np.float64(np.nan))),
             _npz(tmp_path / "empty_seed.npz", **_npz_from(good, seed=np.zeros(0))),
             _npz(tmp_path / "cplx.npz", **_npz_from(good, gains=good["input_h"] + 0j))]
    for f in files:
        assert main(["dataset", "check", str(f)]) == 2, f
        err = capsys.readouterr().err
        assert err.startswith("Error:") and "internal error" not in err and f.name in err


# ------------------------------------------------------------------------------ flip search
def _old_flip_search(L: np.ndarray, g: np.ndarray, W: np.ndarray, frames: np.ndarray,
                     inc: Any, passes: int) -> None:
    """The former implementation (N x N identity), as reference."""
    n = L.shape[1]
    eye = np.eye(n, dtype=bool)
    todo = frames
    for _ in range(passes):
        if todo.size == 0:
            break
        before = inc.value[todo].copy()
        modes = inc.off[todo][:, None, :] ^ eye[None, :, :]
        fid = np.repeat(todo, n)
        ex._inner_rows(L, g, W, fid, modes.reshape(-1, n), inc)
        todo = todo[inc.value[todo] > before * (1 + 1e-12)]


def _start(f: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
    L, g, W = WpmecBatch.generate(f, n, seed=seed).coefficients()
    inc = ex._Incumbents(f, n)
    rng = np.random.default_rng(seed)
    ex._inner_rows(L, g, W, np.arange(f), rng.random((f, n)) < 0.3, inc)
    return L, g, W, inc


def _copy(inc: Any) -> Any:
    out = ex._Incumbents(*inc.off.shape)
    out.value, out.off, out.a, out.tau = (inc.value.copy(), inc.off.copy(), inc.a.copy(),
                                          inc.tau.copy())
    return out


@pytest.mark.parametrize("f, n, seed", [(1, 6, 0), (1, 15, 1), (4, 9, 2), (7, 12, 3),
                                        (3, 1, 4)])
def test_flip_search_matches_the_identity_formula(f: int, n: int, seed: int) -> None:
    L, g, W, inc = _start(f, n, seed)
    old, new = _copy(inc), _copy(inc)
    _old_flip_search(L, g, W, np.arange(f), old, 3)
    ex._flip_search(L, g, W, np.arange(f), new, 3)
    for k in ("value", "off", "a", "tau"):
        np.testing.assert_array_equal(getattr(new, k), getattr(old, k), err_msg=k)
    # in blocks of two flips: the same modes, values to rounding
    small = _copy(inc)
    ex._flip_search(L, g, W, np.arange(f), small, 3, max_entries=2 * n)
    np.testing.assert_array_equal(small.off, old.off)
    np.testing.assert_allclose(small.value, old.value, rtol=1e-12)


def test_exact_batch_with_flips_is_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    L, g, W = WpmecBatch.generate(5, 24, seed=11).coefficients()
    new = ex.exact_batch(L, g, W, flip_passes=2)
    monkeypatch.setattr(ex, "_flip_search", _old_flip_search)
    old = ex.exact_batch(L, g, W, flip_passes=2)
    for k in ("objective", "offload", "a", "tau", "bound", "nodes"):
        np.testing.assert_array_equal(getattr(new, k), getattr(old, k), err_msg=k)


def _peak(fn: Any) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_flip_search_memory_is_linear_in_users() -> None:
    n = 3000
    L, g, W, inc = _start(1, n, 5)
    # no passes: nothing allocated (the identity alone was n^2 bytes = 9 MB here, 9.3 GiB
    # for `dataset wpmec --users 100000`)
    assert _peak(lambda: ex._flip_search(L, g, W, np.arange(1), _copy(inc), 0)) < 1 << 20
    # a pass in blocks: O(max_entries + N), not O(N^2) (all 3000 flips at once, as before:
    # 810 MiB peak, measured)
    peak = _peak(lambda: ex._flip_search(L, g, W, np.arange(1), _copy(inc), 1,
                                         max_entries=1 << 16))
    assert peak < 16 << 20, peak
    peak = _peak(lambda: ex._flip_search(L, g, W, np.arange(1), _copy(inc), 1))
    assert peak < 100 << 20, peak


@pytest.mark.parametrize(("key", "row", "value"), [
    ("output_obj", 0, np.inf), ("output_obj", 2, -1.0), ("output_obj", 1, np.nan),
    ("output_a", 0, 7.0), ("output_a", 3, -0.1), ("output_tau", 0, 1.5),
])
def test_stated_values_are_complete_and_physical(tmp_path: Path, good: dict[str, np.ndarray],
                                                 key: str, row: int, value: float) -> None:
    """Stated rates, slot fractions that are infinite, negative, above the frame or partly NaN
    were accepted (file mutation fuzz); an all-NaN variable still means 'absent'."""
    arr = good[key].copy()
    arr[row, 0] = value
    with pytest.raises(ValidationError, match=key) as err:
        load_labels(_mat(tmp_path / "s.mat", good | {key: arr}))
    assert "s.mat" in str(err.value)
    absent = load_labels(_mat(tmp_path / "n.mat", good | {key: np.full_like(arr, np.nan)}))
    assert absent.gains.shape == good["input_h"].shape


@pytest.mark.parametrize("rel_gap", [float("nan"), -1e-3, 2.0])
def test_rel_gap_outside_0_1_is_refused_by_name(rel_gap: float) -> None:
    """rel_gap = NaN had produced 'certified' labels up to 90 % below the optimum (every
    'gap <= rel_gap' test false) and let check_labels call flipped modes 'agree'."""
    from aigc_opt.gym.datasets import check_labels, wpmec_labels
    from aigc_opt.problems.wpmec import WpmecBatch, solve_batch

    with pytest.raises(ValidationError, match="rel_gap"):
        wpmec_labels(4, 3, rel_gap=rel_gap)
    with pytest.raises(ValidationError, match="rel_gap"):
        solve_batch(WpmecBatch.from_array(np.full((2, 3), 1e-6)), rel_gap=rel_gap)
    labels = wpmec_labels(4, 3)
    with pytest.raises(ValidationError, match="rel_gap"):
        check_labels(labels, rel_gap=rel_gap)


def test_label_flag_chunk_and_missing_directory_are_named(tmp_path: Path) -> None:
    """label='no' had turned labelling on (bool('no')); chunk=2.5 raised TypeError; saving
    into a missing directory raised FileNotFoundError (.npz) or 'Reader needs file name'
    (.mat)."""
    from aigc_opt.gym.datasets import save_labels, wpmec_labels
    from aigc_opt.gym.lyapunov import LyapunovOffloadEnv
    from aigc_opt.gym.wpmec import WpmecOffloadEnv

    for env in (WpmecOffloadEnv, LyapunovOffloadEnv):
        with pytest.raises(ValidationError, match="label"):
            env(label="no")
    with pytest.raises(ValidationError, match="chunk"):
        wpmec_labels(3, 2, chunk=2.5)  # type: ignore[arg-type]
    labels = wpmec_labels(3, 2)
    for suffix in (".npz", ".mat"):
        with pytest.raises(ValidationError, match="cannot write: No such file or directory"):
            save_labels(labels, tmp_path / "nodir" / f"x{suffix}")


def test_stated_certificate_must_be_consistent(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A stated bound of 1.0 bit/s against an objective of ~1e6 bit/s, and a gap of 0.9
    where (bound - objective) / objective is ~1e-8, were only range-checked: every frame was
    called 'agree' (exit 0). The format defines bound as a proven upper bound on the maximum
    and gap as (bound - objective) / objective."""
    lab = wpmec_labels(N, F, seed=3)
    p = save_labels(lab, tmp_path / "ok.npz")
    assert main(["dataset", "check", str(p)]) == 0  # written labels are consistent
    capsys.readouterr()
    d = dict(np.load(p))
    for key, k, value, needle in (("bound", 2, 1.0, "frame 2 (0-based): below the stated "
                                   "objective"),
                                  ("gap", 4, 0.9, "frame 4 (0-based): not (bound - objective)"
                                   " / objective")):
        arr = d[key].copy()
        arr[k] = value
        bad = _npz(tmp_path / f"{key}.npz", **(d | {key: arr}))
        match = rf"^{key} \[.*\] = {value}: " + re.escape(needle)
        with pytest.raises(ValidationError, match=match):
            check_labels(load_labels(bad))
        assert main(["dataset", "check", str(bad)]) == 2
        assert needle in capsys.readouterr().err
    # within tol: a bound a hair below (rounding) and a gap off by 1e-9 are consistent
    d["bound"] = d["objective"] * (1 - 1e-9)
    d["gap"] = np.full(F, 1e-9)  # (bound - objective) / objective = -1e-9
    check_labels(load_labels(_npz(tmp_path / "near.npz", **d)))
    # absent (NaN) bound or gap: nothing to check
    d["bound"] = np.full(F, np.nan)
    d["gap"] = np.full(F, 0.9)
    check_labels(load_labels(_npz(tmp_path / "nan.npz", **d)))
