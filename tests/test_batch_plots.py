"""Plots from row dicts: Pareto filtering against brute force, every kind written, skips.

Figure contents (axes, labels, legends, artists) are checked in tests/test_plots.py.
"""

from __future__ import annotations

import json
from itertools import product
from pathlib import Path

import numpy as np

from aigc_opt import plots


def test_pareto_mask_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        x = rng.integers(0, 6, 12).astype(float)
        y = rng.integers(0, 6, 12).astype(float)
        keep = plots.pareto_mask(x, y)
        for i in range(x.size):
            dominated = any((x[j] <= x[i] and y[j] <= y[i]) and (x[j] < x[i] or y[j] < y[i])
                            for j in range(x.size))
            if dominated:
                assert not keep[i]
        # every non-dominated point is represented once (duplicates collapse to one)
        nd = {(x[i], y[i]) for i in range(x.size)
              if not any((x[j] <= x[i] and y[j] <= y[i]) and (x[j] < x[i] or y[j] < y[i])
                         for j in range(x.size))}
        assert {(x[i], y[i]) for i in np.flatnonzero(keep)} == nd
        assert keep.sum() == len(nd)


def _row(problem: str, method: str, size: int, seed: int, obj: float, **kw: object) -> dict:
    row = {"suite": "s", "problem": problem, "variant": kw.pop("variant", "default"),
           "sizes": f"n={size}", "size": float(size), "seed": seed, "method": method,
           "reference": "exact", "status": "ok", "termination": "optimal"
           if method == "exact" else "feasible", "has_solution": True, "feasible": True,
           "objective": obj, "solve_seconds": 0.01 * size}
    row.update(kw)
    return row


def test_every_plot_kind_is_written(tmp_path: Path) -> None:
    rows = []
    for size, seed in product([10, 100], [0, 1]):
        rows.append(_row("toy", "exact", size, seed, 10.0))
        rows.append(_row("toy", "greedy", size, seed, 11.0 + seed))
    for i, w in enumerate([0.1, 1.0, 10.0]):
        rows.append(_row("sweep", "exact", 10, 0, 1.0, variant=f"w={w}",
                         latency_mean_s=1.0 + i, energy_total_j=3.0 - i))
    for method, per_slot in [("lru", [3.0, 2.0, 2.0]), ("exact", [1.0, 1.0, 1.0])]:
        rows.append(_row("caching.toy", method, 5, 0, sum(per_slot),
                         series=json.dumps({"cost_per_slot": per_slot})))
    written = plots.plot_results(rows, tmp_path)
    names = sorted(p.name for p in written)
    assert names == ["metrics_toy.png", "pareto_sweep.png", "ratio_caching.toy.png",
                     "ratio_toy.png", "series_caching.toy.png", "solve_time_overview.png",
                     "solve_time_toy.png"]
    assert all(p.stat().st_size > 1000 for p in written)


def test_nothing_to_plot_is_not_an_error(tmp_path: Path) -> None:
    rows = [_row("toy", "exact", 10, 0, float("nan"), status="error", has_solution=False)]
    assert plots.plot_results(rows, tmp_path) == []


def test_pareto_csv(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep.csv"
    sweep.write_text("weight,latency_s,energy_j\n0.1,1,5\n1,2,3\n10,4,1\n20,5,2\n")
    out = plots.plot_pareto_csv(sweep, tmp_path)
    assert [p.name for p in out] == ["pareto_sweep.png"] and out[0].stat().st_size > 1000
    try:
        plots.plot_pareto_csv(sweep, tmp_path, x="nope", y="energy_j")
    except KeyError as exc:
        assert "nope" in str(exc)
    else:
        raise AssertionError("missing column not reported")
