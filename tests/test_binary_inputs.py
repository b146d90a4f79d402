"""Binary input files (``.npz``, ``.npy``, ``.mat``) and instance JSON detection.

* An ``.npz``/``.npy`` entry is checked by its header (declared shape and dtype) before its
  data is read: a 2.3 MB scenario archive whose ``user_kappa`` declared 3e8 deflated zeros
  took 5.6 GB and 27 s (or died with MemoryError) before the shape check.
* Every binary reader refuses a named pipe at once, as the text readers do (they blocked
  forever; the MAT-file child for 300 s).
* An instance JSON with a UTF-8 byte-order mark declares its type (it was solved as
  ``offloading.assignment``).
* A bad ``output_mode`` entry is reported with its value and position.
"""

from __future__ import annotations

import os
import threading
import tracemalloc
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.io

import aigc_opt as ao
from aigc_opt import matfile
from aigc_opt.cli_util import declared_type
from aigc_opt.errors import ValidationError
from aigc_opt.gym.datasets import load_labels, save_labels, wpmec_labels
from aigc_opt.problems.wpmec import WpmecBatch


def _bomb_member(zf: zipfile.ZipFile, name: str, shape: tuple[int, ...]) -> None:
    """A deflated ``.npy`` member of float64 zeros declaring ``shape``."""
    with zf.open(name + ".npy", "w", force_zip64=True) as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "<f8", "fortran_order": False, "shape": shape})
        left = int(np.prod(shape)) * 8
        chunk = bytes(1 << 20)
        while left > 0:
            fh.write(chunk[:min(left, len(chunk))])
            left -= len(chunk)


def _peak_mb(fn: Callable[[], Any]) -> tuple[BaseException | None, float]:
    """The exception ``fn`` raises (None) and the peak of traced memory meanwhile, MB."""
    tracemalloc.start()
    try:
        fn()
        exc = None
    except Exception as e:  # noqa: BLE001 - returned to the test
        exc = e
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return exc, peak


def test_scenario_npz_entry_larger_than_declared_axes_is_refused_unread(tmp_path: Path) -> None:
    scn = ao.Scenario.generate(12, 3, 4, seed=0)
    scn.save(tmp_path / "s.npz")
    bomb = tmp_path / "bomb.npz"
    with np.load(tmp_path / "s.npz") as src, zipfile.ZipFile(bomb, "w",
                                                                zipfile.ZIP_DEFLATED) as zf:
        for k in src.files:
            if k != "user_kappa":
                with zf.open(k + ".npy", "w") as fh:
                    np.lib.format.write_array(fh, src[k])
        _bomb_member(zf, "user_kappa", (4_000_000,))  # 32 MB of zeros, ~30 kB deflated
    assert bomb.stat().st_size < 200_000
    exc, peak = _peak_mb(lambda: ao.Scenario.load(bomb))
    assert isinstance(exc, ValidationError), exc
    assert exc.field == "user_kappa"
    msg = str(exc)
    assert "declared shape (4000000,)" in msg and "expected shape (12,)" in msg, msg
    assert "bomb.npz" in msg
    assert peak < 8, f"{peak:.1f} MB traced: the entry was decompressed"
    assert ao.Scenario.load(tmp_path / "s.npz") == scn  # a good archive still loads


def test_npz_total_declared_bytes_are_capped(tmp_path: Path) -> None:
    path = tmp_path / "big.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        _bomb_member(zf, "a", (300_000,))
    with pytest.raises(ValidationError, match=r"declares 2,400,000 bytes .* above the "
                                              r"1,000,000-byte limit") as err:
        matfile.load_npz(path, max_bytes=1_000_000)
    assert err.value.field == "a" and "declared shape (300000,)" in str(err.value)


def test_label_npz_modes_larger_than_gains_is_refused_unread(tmp_path: Path) -> None:
    lab = wpmec_labels(4, 3, seed=1)
    good = save_labels(lab, tmp_path / "good.npz")
    bomb = tmp_path / "bomb.npz"
    with np.load(good) as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        for k in src.files:
            if k != "modes":
                with zf.open(k + ".npy", "w") as fh:
                    np.lib.format.write_array(fh, src[k])
        _bomb_member(zf, "modes", (3, 1_000_000))
    exc, peak = _peak_mb(lambda: load_labels(bomb))
    assert isinstance(exc, ValidationError), exc
    assert exc.field == "modes" and "expected shape (3, 4)" in str(exc), str(exc)
    assert peak < 8, f"{peak:.1f} MB traced: the entry was decompressed"
    np.testing.assert_array_equal(load_labels(good).modes, lab.modes)


def test_gains_npy_declaring_more_than_it_holds_is_truncated(tmp_path: Path) -> None:
    path = tmp_path / "g.npy"
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "<f8", "fortran_order": False, "shape": (100_000, 1000)})
        fh.write(np.ones(10).tobytes())
    with pytest.raises(ValidationError, match=r"declared shape \(100000, 1000\).*truncated: "
                                              r"holds 80 of 800,000,000 data bytes"):
        WpmecBatch.from_file(path)


def test_pickled_npz_entry_is_refused_by_its_header(tmp_path: Path) -> None:
    path = tmp_path / "o.npz"
    np.savez(path, seed=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValidationError, match="holds Python objects"):
        matfile.load_npz(path)


def _returns_at_once(fn: Callable[[Path], Any], fifo: Path) -> BaseException | None:
    """What ``fn(fifo)`` raises, failing the test if it blocks on the pipe for 5 s."""
    out: dict[str, BaseException] = {}

    def run() -> None:
        try:
            fn(fifo)
        except BaseException as exc:  # noqa: BLE001 - returned to the test
            out["exc"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(5)
    if t.is_alive():
        try:  # open the write end and close it: the blocked reader sees end of file
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
        t.join(10)
        pytest.fail(f"{fn} blocked on the named pipe {fifo.name}")
    return out.get("exc")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
@pytest.mark.parametrize("name, fn", [
    ("p.npz", ao.Scenario.load),
    ("p.npz", load_labels),
    ("p.mat", load_labels),
    ("p.npy", WpmecBatch.from_file),
    ("p.mat", WpmecBatch.from_file),
    ("p.mat", matfile.load_mat),
])
def test_binary_readers_refuse_a_named_pipe(tmp_path: Path, name: str,
                                            fn: Callable[[Path], Any]) -> None:
    fifo = tmp_path / name
    os.mkfifo(fifo)
    exc = _returns_at_once(fn, fifo)
    assert isinstance(exc, ValidationError), exc
    assert "is not a regular file" in str(exc) and name in str(exc)


def test_bom_instance_json_declares_its_type(tmp_path: Path) -> None:
    body = '{"aigc_opt_instance": 1, "type": "pkg.mod:SomeInstance", "fields": {}}'
    plain, bom = tmp_path / "c.json", tmp_path / "c_bom.json"
    plain.write_text(body, encoding="utf-8")
    bom.write_bytes(b"\xef\xbb\xbf" + body.encode())
    assert declared_type(plain) == "pkg.mod:SomeInstance"
    assert declared_type(bom) == "pkg.mod:SomeInstance"


@pytest.mark.parametrize("bad, shown", [(2.0, "2.0"), (np.nan, "nan")])
def test_bad_output_mode_names_value_and_position(tmp_path: Path, bad: float,
                                                  shown: str) -> None:
    h = np.full((3, 4), 1e-6)
    m = np.zeros((3, 4))
    m[2, 1] = bad
    path = tmp_path / "mode.mat"
    scipy.io.savemat(path, {"input_h": h, "output_mode": m})
    with pytest.raises(ValidationError) as err:
        load_labels(path)
    msg = str(err.value)
    assert err.value.field == "output_mode" and f"= {shown}" in msg, msg
    assert "frame 2, user 1" in msg and "1 of 12 entries" in msg, msg


def _v73_bytes() -> bytes:
    """The start of a MATLAB v7.3 file: a 512-byte MATLAB preamble, then an HDF5 file."""
    text = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00 ."
    pre = (text.ljust(116, b" ") + b"\0" * 8 + b"\x00\x02IM").ljust(512, b"\0")
    return pre + b"\x89HDF\r\n\x1a\n" + b"\0" * 1000


@pytest.mark.parametrize("reader", [load_labels, WpmecBatch.from_file])
def test_damaged_mat_files_are_named_plainly(tmp_path: Path, reader: Callable[[Path], Any]
                                             ) -> None:
    full = tmp_path / "full.mat"
    scipy.io.savemat(full, {"input_h": np.full((200, 10), 1e-6),
                            "output_mode": np.zeros((200, 10))})
    cut = tmp_path / "cut.mat"
    cut.write_bytes(full.read_bytes()[:3000])
    with pytest.raises(ValidationError, match="cannot read MAT-file: damaged, truncated"):
        reader(cut)
    v73 = tmp_path / "v73.mat"
    v73.write_bytes(_v73_bytes())
    with pytest.raises(ValidationError, match=r"v7\.3 \(HDF5\) MAT-file, which is not "
                                              r"supported: re-save .*'-v7'") as err:
        reader(v73)
    assert "h5py" not in str(err.value) and "v73.mat" in str(err.value)
    empty = tmp_path / "empty.mat"
    empty.write_bytes(b"")
    with pytest.raises(ValidationError, match=r"empty \(0 bytes\)"):
        reader(empty)


@pytest.mark.parametrize("text, match", [
    ("", r"empty gains CSV: no data row"),
    ("# channel power gains, one frame per row\n\n", r"empty gains CSV: no data row"),
    ("# gains\n1e-6,2e-6\n\n3e-6,x\n", r"line 4, column 2: 'x' is not a number"),
    ("1e-6,2e-6\n3e-6\n", r"line 2 has 1 values, the first data row \(line 1\) has 2"),
])
def test_gains_csv_errors_name_the_file_line(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "g.csv"
    path.write_text(text, encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "input contained no data" leaked
        with pytest.raises(ValidationError, match=match):
            WpmecBatch.from_file(path)


def test_gains_csv_round_trip_is_unchanged(tmp_path: Path) -> None:
    batch = WpmecBatch.generate(4, 3, seed=2)
    back = WpmecBatch.from_file(batch.save(tmp_path / "g.csv"))
    np.testing.assert_array_equal(back.gains, batch.gains)
