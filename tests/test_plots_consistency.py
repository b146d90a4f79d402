"""The same results draw the same figures, whether given as a path, as the frame of
``results.load`` (masked by default) or as an unmasked frame."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aigc_opt import export, plots, results


def _row(method: str, n: int, seed: int, obj: float, **kw: Any) -> dict[str, Any]:
    row = {"suite": "s", "problem": "toy.min", "variant": "default", "params": "{}",
           "sizes": f"n_servers=2,n_users={n}", "size": float(n), "seed": seed,
           "method": method, "reference": "exact", "status": "ok",
           "termination": "optimal" if method == "exact" else "feasible",
           "has_solution": True, "feasible": True, "verified": True, "objective": obj,
           "solve_seconds": 1e-4 * n, "latency_mean_s": obj / 10, "energy_total_j": 2 * obj,
           "quality_mean": 0.8, "key": f"{method}|{n}|{seed}"}
    row.update(kw)
    return row


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Exact, a heuristic, and one that returns infeasible answers *below* the optimum (the
    case the user study hit: 15 infeasible runs of all_edge_nearest) or fails."""
    path = tmp_path_factory.mktemp("consistency") / "sweep.csv"
    with export.RowWriter(path) as w:
        for n in (10, 20, 40):
            for seed in range(5):
                opt = n * (1 + 0.01 * seed)
                w.write(_row("exact", n, seed, opt))
                w.write(_row("greedy", n, seed, 1.05 * opt))
                w.write(_row("cheat", n, seed, 0.85 * opt, feasible=False, has_solution=False,
                             termination="infeasible", n_violations=4.0)
                        if seed else _row("cheat", n, seed, float("nan"), status="error",
                                          has_solution=False))
    return path


def _drawn(fig: Any) -> list[Any]:
    """What a figure shows: per axes its labels, title, texts, and every artist's data."""
    if fig is None:
        return [None]
    out: list[Any] = []
    for ax in fig.axes:
        out += [ax.get_xlabel(), ax.get_ylabel(), ax.get_title(), ax.get_ylim(),
                sorted(t.get_text() for t in ax.texts)]
        out += [(c.get_label(), np.round(np.asarray(c.get_offsets(), float), 12).tolist())
                for c in ax.collections]
        out += [(ln.get_label(), np.round(np.asarray(ln.get_xydata(), float), 12).tolist())
                for ln in ax.get_lines()]
    return out


def test_path_and_loaded_frame_draw_the_same(csv_path: Path, tmp_path: Path) -> None:
    sources = {"path": csv_path, "load": results.load(csv_path),
               "unmasked": results.load(csv_path, mask_unusable=False),
               "rows": export.read_rows(csv_path)}
    prepared = {k: plots.prepare(v) for k, v in sources.items()}
    figures = (plots.figure_metrics_vs_size, plots.figure_ratio, plots.figure_solve_time)
    for fn in figures:
        drawn = {k: _drawn(fn(df, "toy.min")) for k, df in prepared.items()}
        for k in sources:
            assert drawn[k] == drawn["path"], (fn.__name__, k)
    ratio = plots.figure_ratio(prepared["load"], "toy.min").axes[0]
    # the 15 unusable runs of "cheat" are counted above the data, not placed at 0.85
    assert [t.get_text() for t in ratio.texts] == ["15 not usable"]
    assert not any(np.isclose(c.get_offsets()[:, 1], 0.85).any() for c in ratio.collections)
    # the written PNGs are byte for byte the same
    written = {k: plots.plot_results(v, tmp_path / k) for k, v in sources.items()}
    names = {k: sorted(p.name for p in ps) for k, ps in written.items()}
    assert all(v == names["path"] for v in names.values()) and "ratio_toy.min.png" in names["path"]
    for name in names["path"]:
        blobs = {(tmp_path / k / name).read_bytes() for k in sources}
        assert len(blobs) == 1, name


def test_prepare_is_idempotent_and_masks(csv_path: Path) -> None:
    once = plots.prepare(results.load(csv_path, mask_unusable=False))
    twice = plots.prepare(once)
    assert once.attrs["masked"] and twice.attrs["masked"]
    assert once["objective"][~once["usable"]].isna().all()
    assert once.equals(twice)
