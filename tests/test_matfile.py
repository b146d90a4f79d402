"""MAT-files are read in a child process, so a file that crashes scipy's reader is an error
naming the file (scipy 1.17.1 segfaulted on tests/data/damaged_labels_segv.mat, a label file
with two bytes swapped, and took ``aigc-opt dataset check`` down without a message)."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from aigc_opt import matfile
from aigc_opt.errors import ValidationError

DAMAGED = Path(__file__).parent / "data" / "damaged_labels_segv.mat"
linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork isolation")


def test_variables_come_back_unchanged(tmp_path: Path) -> None:
    a = np.arange(12.0).reshape(3, 4)
    scipy.io.savemat(tmp_path / "x.mat", {"input_h": a, "output_mode": a > 5})
    d = matfile.load_mat(tmp_path / "x.mat")
    np.testing.assert_array_equal(d["input_h"], a)
    np.testing.assert_array_equal(d["output_mode"], a > 5)


@linux
def test_no_fork_warning_from_a_process_with_threads(tmp_path: Path) -> None:
    """Python >= 3.12 warns (DeprecationWarning) on fork() while other threads run, as HiGHS's
    do after a solve: the reader's fork is known to be safe and says nothing."""
    import threading
    import warnings

    scipy.io.savemat(tmp_path / "x.mat", {"input_h": np.ones((2, 3))})
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait, daemon=True)
    worker.start()
    try:
        with warnings.catch_warnings(record=True) as seen:  # fork() cannot raise it
            warnings.simplefilter("always")
            d = matfile.load_mat(tmp_path / "x.mat")
    finally:
        stop.set()
        worker.join()
    assert not [w for w in seen if "fork" in str(w.message)], [str(w.message) for w in seen]
    np.testing.assert_array_equal(d["input_h"], np.ones((2, 3)))


def test_reader_errors_keep_their_message(tmp_path: Path) -> None:
    (tmp_path / "bad.mat").write_bytes(b"not a mat file at all")
    with pytest.raises(ValueError, match="Error|error|mat|MAT"):
        matfile.load_mat(tmp_path / "bad.mat")


@linux
def test_a_crashing_reader_is_a_validation_error(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    def crash(path: str, conn: object) -> None:
        os.kill(os.getpid(), signal.SIGSEGV)

    monkeypatch.setattr(matfile, "_child", crash)
    (tmp_path / "any.mat").write_bytes(b"x")  # a regular file (a missing one is refused first)
    with pytest.raises(ValidationError, match="crashed") as err:
        matfile.load_mat(tmp_path / "any.mat")
    assert err.value.field == "path"


@linux
def test_a_hanging_reader_is_stopped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(matfile, "_child", lambda path, conn: time.sleep(60))
    (tmp_path / "any.mat").write_bytes(b"x")
    t0 = time.perf_counter()
    with pytest.raises(ValidationError, match="did not finish"):
        matfile.load_mat(tmp_path / "any.mat", timeout=0.5)
    assert time.perf_counter() - t0 < 10


def test_the_damaged_published_layout_file_is_refused_by_name() -> None:
    """Whatever this scipy does with the damaged file (it segfaulted on 1.17.1), the loaders
    report it: the test process survives."""
    from aigc_opt.gym.datasets import load_labels

    with pytest.raises(ValidationError) as err:
        load_labels(DAMAGED)
    assert "damaged_labels_segv.mat" in str(err.value)
