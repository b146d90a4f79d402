"""Results API: a quick-suite CSV as a typed DataFrame; sense, units, masking, summaries."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

import aigc_opt as ao
from aigc_opt import export, results
from aigc_opt.batch import expand, load_suite, run_suite
from aigc_opt.errors import ValidationError

#: A slice of the shipped quick suite: a minimisation with infeasible heuristics, two
#: maximisations and a caching problem with per-slot series.
QUICK_SLICE = ("quick|offloading.assignment|default|n_models=4,n_servers=3,n_users=10|",
               "quick|wpmec.binary|default|n_users=10|", "quick|incentives.auction|",
               "quick|caching.offline|default|n_models=6,n_servers=3,n_slots=8|seed=0|lru",
               "quick|caching.offline|default|n_models=6,n_servers=3,n_slots=8|seed=0|"
               "offline_milp")


@pytest.fixture(scope="module")
def quick_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    suite = load_suite("quick")
    cases = [c for c in expand(suite) if any(c.key.startswith(k) for k in QUICK_SLICE)]
    assert len(cases) > 20
    out = tmp_path_factory.mktemp("quick") / "q.csv"
    run_suite(suite, out, workers=0, progress=False, cases=cases)
    return out


def test_quick_csv_dtypes_units_and_sense(quick_csv: Path) -> None:
    df = results.load(quick_csv)
    assert len(df) == len(export.read_rows(quick_csv))
    for col in ("problem", "method", "status", "termination", "sense"):
        assert df[col].dtype == "string", col
    for col in ("has_solution", "feasible", "verified"):
        assert df[col].dtype == "boolean", col
    assert df["usable"].dtype == bool
    for col in ("objective", "solve_seconds", "latency_mean_s", "energy_total_j"):
        assert df[col].dtype == "float64", col
    for col in ("seed", "n_users", "n_servers", "n_bidders", "n_slots"):
        assert df[col].dtype == "Int64", col
    assert set(df.attrs["size_columns"]) >= {"n_users", "n_servers", "n_models", "n_bidders"}
    off = df[df["problem"] == "offloading.assignment"]
    assert (off["n_users"] == 10).all() and (off["size_name"] == "n_users").all()
    # metrics_extra expanded into float columns
    assert "frac_edge" in df and df["frac_edge"].dtype == "float64"
    u = results.units(df)
    assert (u["latency_mean_s"], u["energy_total_j"], u["solve_seconds"]) == ("s", "J", "s")
    assert u["quality_mean"] == "1" and u["n_users"] == "count"
    assert df.attrs["units"]["latency_mean_s"] == "s"
    sense = df.groupby("problem")["sense"].first()
    assert sense["offloading.assignment"] == "min" and sense["caching.offline"] == "min"
    assert sense["wpmec.binary"] == "max" and sense["incentives.auction"] == "max"


def test_infeasible_rows_are_masked_and_excluded(quick_csv: Path) -> None:
    raw = results.load(quick_csv, mask_unusable=False)
    df = results.load(quick_csv)
    bad = ~df["usable"]
    assert bad.any(), "the slice has infeasible heuristics (all_local)"
    # status is about the run, termination about the solver: ok + infeasible exists
    assert ((df["status"] == "ok") & (df["termination"] == "infeasible")).any()
    assert raw.loc[bad, "latency_mean_s"].notna().any()
    assert df.loc[bad, ["objective", "latency_mean_s", "energy_total_j"]].isna().all().all()
    assert df.loc[bad, "n_violations"].notna().all()  # why it is infeasible stays visible

    s = results.ratio_summary(raw)
    assert s.attrs["excluded"] == int(bad.sum())
    local = s[(s["problem"] == "offloading.assignment") & (s["method"] == "all_local")].iloc[0]
    assert local["usable"] == 0 and local["excluded"] == local["cases"]
    assert math.isnan(local["mean_ratio"])
    with_bad = results.ratio_summary(raw, include_unusable=True)
    local2 = with_bad[(with_bad["method"] == "all_local")
                      & (with_bad["problem"] == "offloading.assignment")].iloc[0]
    assert local2["excluded"] == 0 and local2["mean_ratio"] > 1.0
    highs = s[(s["problem"] == "offloading.assignment") & (s["method"] == "highs")].iloc[0]
    assert highs["mean_ratio"] == pytest.approx(1.0) and highs["ties"] == highs["usable"]
    # wpmec is maximised: heuristics are <= 1, and their regret is >= 0
    wp = s[s["problem"] == "wpmec.binary"].set_index("method")
    assert (wp["mean_ratio"] <= 1 + 1e-9).all() and (wp["mean_regret"] >= -1e-9).all()
    assert wp.loc["all_local", "losses"] == wp.loc["all_local", "usable"] > 0


def test_median_solve_time_is_the_cli_summarys(quick_csv: Path) -> None:
    """Both summaries of one CSV give the same median solve time (over the finished rows,
    infeasible proofs included); ratio_summary used to take the usable rows only."""
    from aigc_opt.export import read_rows, summarize

    raw = results.load(quick_csv, mask_unusable=False)
    cli = {(r["problem"], r["method"]): r["median_solve_s"]
           for r in summarize(read_rows(quick_csv))}
    s = results.ratio_summary(raw).set_index(["problem", "method"])["median_solve_s"]
    assert len(cli) == len(s) > 3
    for key, t in cli.items():
        assert s[key] == pytest.approx(t, rel=1e-12, nan_ok=True), key
    local = s[("offloading.assignment", "all_local")]  # no usable row, yet it ran
    assert math.isfinite(local) and local > 0


def test_pivot_names_an_unknown_column(quick_csv: Path) -> None:
    """pandas' bare KeyError 'latency_mean' named neither the argument nor the choices."""
    df = results.load(quick_csv)
    for kw, bad in (({"values": "latency_mean"}, "latency_mean"),
                    ({"values": "latency_mean_s", "columns": "n_user"}, "n_user"),
                    ({"values": "latency_mean_s", "index": ["method", "sead"]}, "sead")):
        with pytest.raises(ao.UnknownNameError, match=f"{bad}.*did you mean") as info:
            results.pivot(df, **kw)
        assert isinstance(info.value, KeyError) and "results column" in str(info.value)


def test_pivot_never_ranks_an_infeasible_method(quick_csv: Path) -> None:
    for df in (results.load(quick_csv), results.load(quick_csv, mask_unusable=False)):
        off = df[df["problem"] == "offloading.assignment"]
        infeasible = set(off.loc[~off["usable"], "method"]) - set(off.loc[off["usable"],
                                                                          "method"])
        assert "all_local" in infeasible
        table = results.pivot(off, "latency_mean_s", index="method", columns="n_users")
        assert table.attrs["excluded"] == int((~off["usable"]).sum())
        assert table.attrs["unit"] == "s"
        assert not infeasible & set(table.index)
        assert table[10].idxmin() not in infeasible
    # a plain pandas pivot of the default (masked) frame is just as safe
    off = results.load(quick_csv).query("problem == 'offloading.assignment'")
    plain = off.pivot_table(values="latency_mean_s", index="method", columns="n_users")
    assert plain.loc[plain.index.isin(infeasible)].isna().all().all()
    raw = results.load(quick_csv, mask_unusable=False).query("problem == 'offloading.assignment'")
    everything = results.pivot(raw, "latency_mean_s", columns="n_users", include_unusable=True)
    assert "all_local" in everything.index


def test_series_table_and_parquet_round_trip(quick_csv: Path, tmp_path: Path) -> None:
    df = results.load(quick_csv)
    st = results.series_table(df)
    assert list(st.columns[-4:]) == ["series", "slot", "value", "unit"]
    cost = st[(st["series"] == "cost_per_slot")]
    assert set(cost["method"]) == {"lru", "offline_milp"}
    assert sorted(cost.groupby("method")["slot"].max()) == [7, 7]
    assert (cost["unit"] == "cost unit").all() and st["slot"].dtype == "int64"
    lru = df[(df["method"] == "lru")].iloc[0]
    assert json.loads(lru["series"])["cost_per_slot"] == cost[cost["method"] == "lru"][
        "value"].tolist()
    pytest.importorskip("pyarrow", reason="Parquet needs the [parquet] (or [dev]) extra")
    p = results.to_parquet(df, tmp_path / "q.parquet")
    back = results.load(p)
    assert list(back.columns) == list(df.columns)
    assert (back.dtypes == df.dtypes).all()
    assert back.attrs["size_columns"] == df.attrs["size_columns"]
    two = results.load([quick_csv, quick_csv])  # the same cases twice count once
    assert len(two) == len(df) and set(two["source"]) == {"q.csv"}
    assert two.attrs["replaced_rows"] == len(df)


def _row(method: str, n: int, seed: int, obj: float, **kw: object) -> dict:
    row = {"suite": "s", "problem": "toy", "variant": "v", "params": '{"mode": "a", "k": 2}',
           "sizes": f"n={n},m=3,flag=true", "size": float(n), "seed": seed, "method": method,
           "reference": "exact", "status": "ok",
           "termination": "optimal" if method == "exact" else "feasible",
           "has_solution": True, "feasible": True, "verified": True, "objective": obj,
           "solve_seconds": 1e-3 * n**2 if method == "exact" else 1e-4 * n,
           "metrics_extra": json.dumps({"foo_s": 1.5, "hits": 3})}
    row.update(kw)
    return row


def test_parsing_fits_and_sense_sources() -> None:
    rows = [_row("exact", n, s, 10.0 + s) for n in (10, 20, 40) for s in (0, 1)]
    rows += [_row("greedy", n, s, 11.0 + s) for n in (10, 20, 40) for s in (0, 1)]
    rows.append(_row("bad", 10, 0, 1.0, feasible=False, termination="infeasible"))
    df = results.load(rows, registry=False)
    assert df["n"].dtype == "Int64" and df["m"].dtype == "Int64"
    assert df["flag"].dtype == "boolean" and df["flag"].all()
    assert df["param_mode"].dtype == "string" and (df["param_k"] == 2).all()
    assert df["foo_s"].dtype == "float64" and results.units(df)["foo_s"] == "s"
    assert df.attrs["sense_source"] == {"toy": "inferred"} and (df["sense"] == "min").all()
    fits = results.time_fits(df)
    ex = fits[fits["method"] == "exact"].iloc[0]
    assert ex["exponent"] == pytest.approx(2.0) and ex["a"] == pytest.approx(1e-3)
    assert fits[fits["method"] == "greedy"].iloc[0]["exponent"] == pytest.approx(1.0)
    assert fits["excluded"].sum() == 1  # the infeasible row is not fitted
    # the row's own sense column wins over inference
    df2 = results.load([{**r, "sense": "max"} for r in rows], registry=False)
    assert (df2["sense"] == "max").all() and df2.attrs["sense_source"]["toy"] == "row"
    s = results.ratio_summary(df2).set_index("method")
    assert s.loc["greedy", "wins"] == 6 and s.loc["greedy", "mean_regret"] < 0
    assert results.parse_sizes("a=1,b=0.5,c=x") == {"a": 1, "b": 0.5, "c": "x"}
    a, b, r2 = results.fit_power_law([1, 2, 4], [3, 12, 48])
    assert (a, b, r2) == pytest.approx((3.0, 2.0, 1.0))
    assert all(math.isnan(v) for v in results.fit_power_law([5, 5], [1, 2]))


def test_old_files_without_verified_and_empty_input() -> None:
    rows = [{k: v for k, v in _row("exact", 10, 0, 1.0).items() if k != "verified"}]
    df = results.load(rows, registry=False)
    assert df["usable"].all() and df["verified"].isna().all()
    empty = results.load([], registry=False)
    assert empty.empty and "usable" in empty
    assert results.unit_of("n_users") == "count" and results.unit_of("power_total_w") == "W"
    assert results.label("latency_mean_s") == "latency_mean_s [s]"
    assert results.label("hit_ratio") == "hit_ratio [-]"
    assert isinstance(results.status_counts(df), pd.DataFrame)


def test_size_words_beside_numbers_are_text_not_refused() -> None:
    """``load = ["none", 0.5]`` in a suite (TOML has no null): the column is text; junk beside
    numbers is still refused by name."""
    rows = [_row("exact", 10, 0, 1.0, sizes="n=10,load=none"),
            _row("exact", 10, 1, 1.0, sizes="n=10,load=0.5")]
    df = results.load(rows, registry=False)
    assert df["load"].dtype == "string" and set(df["load"]) == {"none", "0.5"}
    bad = [rows[0], _row("exact", 10, 2, 1.0, sizes="n=10,load=junk"), rows[1]]
    with pytest.raises(ao.ValidationError, match="load"):
        results.load(bad, registry=False)


def test_summaries_take_a_path_or_a_raw_frame(quick_csv: Path) -> None:
    # tester ti: ratio_summary(pd.read_csv(...)) raised a bare KeyError 'usable', and a path
    # was said to lack columns it has
    tidy = results.ratio_summary(results.load(quick_csv))
    pd.testing.assert_frame_equal(results.ratio_summary(str(quick_csv)), tidy)
    pd.testing.assert_frame_equal(results.ratio_summary(pd.read_csv(quick_csv)), tidy)
    assert len(results.status_counts(quick_csv)) == len(results.status_counts(
        results.load(quick_csv)))
    with pytest.raises(ValidationError, match="results.load"):
        results.ratio_summary([1, 2, 3])  # type: ignore[arg-type]


def test_a_foreign_csv_is_not_loaded_as_results(tmp_path: Path) -> None:
    # tester ti: a 'key,value' CSV loaded as a frame with blank problem/method/status
    p = tmp_path / "settings.csv"
    p.write_text("key,value\na,1\nb,2\n")
    with pytest.raises(export.ForeignFileError, match="none of problem, method"):
        results.load(p)
    pytest.importorskip("pyarrow", reason="Parquet needs the [parquet] (or [dev]) extra")
    with pytest.raises(ValidationError, match="no_such_dir"):
        results.to_parquet(pd.DataFrame({"a": [1]}), tmp_path / "no_such_dir" / "x.parquet")
