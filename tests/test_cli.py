"""The ``aigc-opt`` command line: every command, its help, and user errors naming the argument."""

from __future__ import annotations

import csv
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import aigc_opt as ao
from aigc_opt import export
from aigc_opt.cli import app, main
from aigc_opt.problems.offloading import OffloadingSpec

runner = CliRunner()


def _run(*args: str, code: int = 0) -> str:
    res = runner.invoke(app, list(args))
    assert res.exit_code == code, (args, res.exit_code, res.output, res.exception)
    if code == 0:
        assert res.exception is None
    return res.output


@pytest.mark.parametrize("cmd", [[], ["scenario"], ["scenario", "generate"], ["scenario", "show"],
                                 ["solve"], ["bench"], ["summary"], ["plot"], ["list"]])
def test_help_on_every_command(cmd: list[str]) -> None:
    out = _run(*cmd, "--help")
    assert "Usage" in out


def test_list_shows_problems_backends_suites() -> None:
    out = _run("list")
    assert "offloading.assignment" in out and "greedy_latency" in out
    assert "highs" in out and "available" in out
    assert "quick" in out and "full" in out


def test_scenario_generate_show_and_solve(tmp_path: Path) -> None:
    scn_path = tmp_path / "s.json"
    _run("scenario", "generate", "--users", "9", "--servers", "2", "--models", "3", "--seed",
         "4", "--out", str(scn_path))
    scn = ao.Scenario.load(scn_path)
    assert scn == ao.Scenario.generate(9, 2, 3, seed=4)
    out = _run("scenario", "show", str(scn_path))
    assert scn.digest() in out and "user_tx_power_w" in out
    res_path = tmp_path / "res.csv"
    out = _run("solve", str(scn_path), "--problem", "offloading.assignment", "--method", "highs",
               "--out", str(res_path))
    expected = ao.solve(scn, OffloadingSpec(), backend="highs")
    assert "optimal" in out and "latency_mean_s" in out
    with open(res_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 9
    np.testing.assert_array_equal([int(r["placement"]) for r in rows],
                                  expected.allocation.placement)
    with open(tmp_path / "res.summary.csv", newline="") as fh:
        summary = next(csv.DictReader(fh))
    np.testing.assert_allclose(float(summary["objective"]), expected.objective, rtol=1e-9)
    # generated instance from sizes, a heuristic, spec parameters as JSON
    out = _run("solve", "--problem", "offloading.assignment", "--method", "greedy_latency",
               "--size", "n_users=5", "--size", "n_servers=2", "--param", "allow_cloud=false")
    assert "feasible" in out


@pytest.mark.parametrize(("args", "needle"), [
    (["solve", "--problem", "no.such"], "--problem"),
    (["solve", "--method", "gurobi9"], "--method"),
    (["solve", "missing.json"], "INSTANCE"),
    (["solve", "--param", "linking=sideways"], "--param"),
    (["solve", "--param", "novalue"], "--param"),
    (["solve", "--size", "n_users=-3"], "--size"),
    (["scenario", "generate", "--out", "x.json", "--profile", "mars"], "--profile"),
    (["scenario", "generate", "--out", "x.json", "--users", "0"], "--users"),
    # the seed and the load-derived fields were blamed on --users/--servers/--models, -1 for
    # --load read "must be >= 0" while 0 read "must be > 0", and .parquet silently got JSON
    (["scenario", "generate", "--out", "x.json", "--seed", "99999999999999999999999"],
     "--seed:"),
    (["scenario", "generate", "--out", "x.json", "--users", "1000", "--load", "1e-9"],
     "--users/--servers/--load:"),
    (["scenario", "generate", "--out", "x.json", "--load", "-1"], "must be > 0"),
    (["scenario", "generate", "--out", "x.parquet"], "ends in .json or .npz"),
    (["scenario", "show", "missing.json"], "SCENARIO"),
    # generators that take **kw: the size list and the closest name (wpmec listed only its
    # channel keys, caching 17 instance fields, allocation.power no name at all)
    (["solve", "--problem", "wpmec.binary", "--size", "n_user=4"], "did you mean 'n_users'"),
    (["solve", "--problem", "allocation.power", "--size", "n_user=4"],
     "did you mean 'n_users'"),
    (["solve", "--problem", "caching.offline", "--size", "n_slot=4"],
     "did you mean 'n_slots'"),
    (["bench", "nosuchsuite", "--out", "r.csv"], "SUITE"),
    (["bench", "quick", "--out", "r.csv", "--scheduler", "tcp://x:1", "--dask-local"],
     "--scheduler"),
    (["bench", "quick", "--out", "no/such/dir/r.csv"], "--out"),
    (["plot", "missing.csv", "--out", "d"], "RESULTS"),
    (["summary", "missing.csv"], "RESULTS"),
])
def test_user_errors_name_the_argument(args: list[str], needle: str, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 2, (code, out, err)
    assert needle in err and err.startswith("Error: ") and err.count("\n") == 1, err
    assert "Traceback" not in out + err


def test_bench_resume_and_plot(tmp_path: Path) -> None:
    suite = tmp_path / "tiny.toml"
    suite.write_text(textwrap.dedent("""
        [suite]
        description = "tiny"
        time_limit = 20.0
        [[cases]]
        problem = "offloading.assignment"
        sizes = {n_users = [5, 8], n_servers = [2], n_models = [2]}
        seeds = [0]
        methods = ["highs", "greedy_latency", "random"]
        [[cases]]
        problem = "offloading.assignment"
        variant = "sweep"
        sizes = [{n_users = 6, n_servers = 2, n_models = 2}]
        params = [{objective = {device_energy = 0.01}}, {objective = {device_energy = 1.0}},
                  {objective = {device_energy = 100.0}}]
        methods = ["highs"]
    """))
    out = tmp_path / "r.csv"
    text = _run("bench", str(suite), "--out", str(out), "--workers", "0", "--no-progress")
    assert "median_solve_s" in text and "greedy_latency" in text and "9 cases run" in text
    rows = export.read_rows(out)
    assert len(rows) == 9 and all(r["status"] == "ok" for r in rows)
    for r in rows:
        np.testing.assert_allclose(r["eval_objective"], r["objective"], rtol=1e-6)
    res = runner.invoke(app, ["bench", str(suite), "--out", str(out)])
    assert res.exit_code != 0 and "--resume" in res.output
    text = _run("bench", str(suite), "--out", str(out), "--resume", "--workers", "0")
    assert "0 cases run (0 failed to run), 9 already recorded" in text
    text = _run("bench", str(suite), "--out", str(out), "--overwrite", "--workers", "0",
                "--only", "greedy")
    assert "2 cases run" in text
    res = runner.invoke(app, ["bench", str(suite), "--out", str(out), "--resume",
                              "--exclude", "offloading"])
    assert res.exit_code != 0 and "no case left" in res.output
    for option, typo, hint in (("--only", "gredy", "greedy"), ("--exclude", "offloadin.",
                                                               "offloading")):
        res = runner.invoke(app, ["bench", str(suite), "--out", str(out), "--resume", option,
                                  typo])  # would keep / drop cases silently
        assert res.exit_code != 0 and "matches no case" in res.output and hint in res.output
    run_all = _run("bench", str(suite), "--out", str(out), "--resume", "--workers", "0")
    assert "7 cases run" in run_all
    text = _run("summary", str(out), "--out", str(tmp_path / "s.csv"), "--rows-out",
                str(tmp_path / "rr.csv"))
    assert "mean_ratio" in text
    with open(tmp_path / "rr.csv", newline="") as fh:
        rr = list(csv.DictReader(fh))
    assert len(rr) == 9 and all(float(r["ratio_to_ref"]) == 1.0 for r in rr
                                if r["method"] == "highs")
    plots = tmp_path / "plots"
    text = _run("plot", str(out), "--out", str(plots))
    names = sorted(p.name for p in plots.glob("*.png"))
    assert {"pareto_offloading.assignment.png", "ratio_offloading.assignment.png",
            "solve_time_offloading.assignment.png"} <= set(names)
    assert all((plots / n).stat().st_size > 1000 for n in names)


def test_console_script_entry_point(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "aigc_opt.cli", "bench", "nosuchsuite",
                           "--out", str(tmp_path / "r.csv")], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert "unknown suite 'nosuchsuite'" in proc.stderr and "Traceback" not in proc.stderr


def test_solve_threads_option(capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    """--threads reaches SolveOptions (relax_memory then says how many it used) and is
    range-checked."""
    import importlib
    from typing import Any

    solve_mod = importlib.import_module("aigc_opt.solve")  # the package exports solve()
    seen: list[Any] = []
    real = solve_mod.run_method

    def spy(*args: Any, **kw: Any) -> Any:
        res = real(*args, **kw)
        seen.append((kw["options"].threads, res.stats.extra.get("threads")))
        return res

    monkeypatch.setattr(solve_mod, "run_method", spy)
    assert main(["solve", "--problem", "caching.offline", "--method", "relax_memory",
                 "--threads", "2", "--time-limit", "5"]) == 0
    assert seen == [(2, 2)]
    capsys.readouterr()
    assert main(["solve", "--problem", "caching.offline", "--method", "relax_memory",
                 "--threads", "0"]) == 2
    assert "--threads" in capsys.readouterr().err


@pytest.mark.parametrize(("problem", "method"), [("wpmec.binary", "exact"),
                                                ("incentives.contract", "reduction"),
                                                ("offloading.assignment", "highs")])
def test_solve_defaults_to_the_problems_reference_method(problem: str, method: str,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    """Without --method, solve used 'highs', which problems without a program refused."""
    from aigc_opt.cli import main

    assert main(["solve", "--problem", problem]) == 0
    assert f" {method} " in capsys.readouterr().out


def _tiny_results(tmp_path: Path) -> Path:
    """A results CSV of one bench case (greedy on 5 users)."""
    suite = tmp_path / "one.toml"
    suite.write_text(textwrap.dedent("""
        [suite]
        description = "one"
        [[cases]]
        problem = "offloading.assignment"
        sizes = {n_users = [5], n_servers = [2], n_models = [2]}
        seeds = [0]
        methods = ["greedy_latency"]
    """))
    out = tmp_path / "bench.csv"
    _run("bench", str(suite), "--out", str(out), "--workers", "0", "--no-progress")
    return out


def test_no_command_writes_over_result_rows(tmp_path: Path) -> None:
    """Only ``bench`` appends to a results CSV (--resume / --overwrite); ``summary``, ``solve``
    ... replaced any --out, so ``summary bench.csv --out victim.csv`` lost victim's rows."""
    rows = _tiny_results(tmp_path)
    scn = tmp_path / "s.json"
    _run("scenario", "generate", "--users", "5", "--servers", "2", "--models", "2", "--out",
         str(scn))
    victim = tmp_path / "victim.csv"
    victim.write_bytes(rows.read_bytes())
    before = victim.read_bytes()
    for args in (["summary", str(rows), "--out", str(victim)],
                 ["scenario", "generate", "--users", "5", "--out", str(victim)],
                 ["solve", str(scn), "--problem", "offloading.assignment", "--method",
                  "greedy_latency", "--out", str(victim)]):
        res = runner.invoke(app, args)
        assert res.exit_code == 2 and "result rows" in res.output, (args, res.output)
        assert victim.read_bytes() == before


def test_non_finite_objectives_enter_no_aggregate(tmp_path: Path) -> None:
    """A hand-edited row with objective inf (status ok, verified) was 'usable': ratio tables
    credited it with a win over the certified optimum."""
    from aigc_opt import results as rs
    from aigc_opt.summary import usable_row

    out = _tiny_results(tmp_path)
    assert usable_row(export.read_rows(out)[0])
    text = out.read_text().splitlines()
    head = next(csv.reader([text[0]]))
    cells = next(csv.reader([text[1]]))
    cells[head.index("objective")] = "inf"
    bad = tmp_path / "bad.csv"
    with open(bad, "w", newline="") as fh:
        csv.writer(fh).writerows([head, cells])
    assert not usable_row(export.read_rows(bad)[0])
    assert not rs.load(bad)["usable"].any()


def test_scenario_generate_takes_load_links_and_max_entries(tmp_path: Path) -> None:
    """``scenario generate`` had no --load, --links or --max-entries: a large scenario could
    not be made sparse from the command line, and its size error said 'pass max_entries=...',
    an option the command did not have."""
    path = tmp_path / "s.npz"
    _run("scenario", "generate", "-n", "50", "-s", "20", "--links", "3", "--load", "0.5",
         "--seed", "2", "--out", str(path))
    scn = ao.Scenario.load(path)
    assert scn == ao.Scenario.generate(50, 20, 4, seed=2, load=0.5, links=3)
    assert scn.link_server is not None and scn.link_server.shape == (50, 3)
    fixed = tmp_path / "f.json"
    _run("scenario", "generate", "-n", "9", "--fixed-capacity", "--out", str(fixed))
    assert ao.Scenario.load(fixed) == ao.Scenario.generate(9, 3, 4, load=None)
    code = main(["scenario", "generate", "-n", "5000", "-s", "50", "--max-entries", "1000",
                 "--out", str(tmp_path / "big.npz")])
    assert code == 2


def test_summary_of_a_file_without_rows_replaces_the_old_out(tmp_path: Path) -> None:
    """``summary RESULTS --out s.csv`` on a results file with a header but no rows (a run killed
    before its first row) printed an empty table, exited 0 and left the old s.csv, whose
    numbers then read as the summary of RESULTS; it now writes the header alone. A 0-byte
    file has no header line: it is no results file and is refused, writing nothing."""
    from aigc_opt.summary import RATIO_COLUMNS, SUMMARY_COLUMNS

    rows = _tiny_results(tmp_path)
    assert [r["verified"] for r in export.read_rows(rows)] == [True]  # refereed
    s, rr = tmp_path / "s.csv", tmp_path / "rr.csv"
    _run("summary", str(rows), "--out", str(s), "--rows-out", str(rr))

    def n_rows(path: Path) -> int:
        with open(path, newline="", encoding="utf-8") as fh:
            return len(list(csv.DictReader(fh)))

    assert n_rows(s) == 1 and n_rows(rr) == 1
    header = rows.read_text(encoding="utf-8").splitlines(keepends=True)[0]
    # (an --rows-out with rows is refused as every results CSV is, so a fresh one here)
    empty, rr = tmp_path / "empty.csv", tmp_path / "rr0.csv"
    empty.write_text(header, encoding="utf-8")
    out = _run("summary", str(empty), "--out", str(s), "--rows-out", str(rr))
    assert f"wrote {s}" in out and f"wrote {rr}" in out
    assert s.read_text(encoding="utf-8") == ",".join(SUMMARY_COLUMNS) + "\n"
    row_header = header.rstrip("\n").split(",")
    assert rr.read_text(encoding="utf-8") == ",".join([*row_header, *RATIO_COLUMNS]) + "\n"
    assert n_rows(s) == 0 and n_rows(rr) == 0
    empty.write_bytes(b"")
    assert main(["summary", str(empty), "--out", str(s), "--rows-out", str(tmp_path / "rr1.csv")]
                ) == 2
    assert not (tmp_path / "rr1.csv").exists() and n_rows(s) == 0
