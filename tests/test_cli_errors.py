"""The CLI's error contract: every failure is one line on stderr naming the option, file or
field, with a documented exit status and no traceback; values are typed; every family's
instance files are read. Ends with a seeded fuzz of bad invocations and bad suite files.

Fuzz: ``pytest tests/test_cli_errors.py -k fuzz`` runs ~200 cases; the slow-marked
``pytest tests/test_cli_errors.py -m slow -k fuzz -s`` runs 10,000 and prints the outcome table.
"""

from __future__ import annotations

import collections
import importlib
import json
import os
import random
import re
import socket
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from aigc_opt import cases as cases_mod
from aigc_opt import export
from aigc_opt.batch import SuiteError, expand, parse_suite
from aigc_opt.cases import CaseKind, register_case
from aigc_opt.cli import EXIT_CODES, main
from aigc_opt.cli_util import coerce as _coerce
from aigc_opt.metrics import Metrics, register_evaluator
from aigc_opt.result import Result, SolveStats, Termination
from aigc_opt.solve import register_algorithm
from aigc_opt.spec import ProblemSpec


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def fails(argv: list[str], capsys: pytest.CaptureFixture[str], code: int, *needles: str) -> str:
    got, out, err = run(argv, capsys)
    assert got == code, (argv, got, out, err)
    assert err.startswith("Error: ") and err.count("\n") == 1, err
    assert "Traceback" not in out + err
    for n in needles:
        assert n in err, (n, err)
    return err


# ------------------------------------------------------------------ fake kinds for exit codes
@dataclass(frozen=True)
class ExitSpec(ProblemSpec):
    problem: str = "exitcodes"
    variant: str = "toy"


@dataclass(frozen=True)
class ExitInstance:
    values: np.ndarray


@dataclass(frozen=True)
class ExitAlloc:
    pick: np.ndarray


def _ok(inst: ExitInstance, shift: float = 0.0) -> Result:
    return Result(Termination.OPTIMAL, True, objective=float(inst.values[0]) + shift,
                  bound=float(inst.values[0]) + shift, gap=0.0, allocation=ExitAlloc(np.array([0])),
                  stats=SolveStats("fake"))


register_evaluator(ExitAlloc, lambda inst, alloc, objective=None: Metrics(
    "exitcodes", float(inst.values[alloc.pick].sum()), per_item={}, totals={}))
for _name, _fn in [
    ("good", lambda i, s, o: _ok(i)),
    ("wrong", lambda i, s, o: _ok(i, 1.0)),  # the evaluator disagrees: unverified
    ("infeasible", lambda i, s, o: Result(Termination.INFEASIBLE, False,
                                          stats=SolveStats("fake"))),
    ("limit", lambda i, s, o: Result(Termination.LIMIT, False, stats=SolveStats("fake"))),
    ("error", lambda i, s, o: Result(Termination.ERROR, False, stats=SolveStats("fake"),
                                     message="solver\nfailed")),
]:
    register_algorithm(ExitSpec, _name, _fn)


@pytest.fixture()
def exit_kind() -> object:
    kind = CaseKind("exitcodes.toy", lambda seed, n=3: ExitInstance(np.arange(1.0, n + 1)),
                    lambda **p: ExitSpec(**p), default_methods=("good",))
    register_case(kind)
    yield kind
    cases_mod._CASES.pop(kind.name, None)


@pytest.mark.parametrize(("method", "code"), [("good", 0), ("infeasible", 3), ("limit", 4),
                                              ("wrong", 5), ("error", 6)])
def test_solve_exit_status_by_termination(method: str, code: int, exit_kind: object,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    got, out, err = run(["solve", "--problem", "exitcodes.toy", "--method", method], capsys)
    assert got == code, (out, err)
    assert "termination" in out
    if code:  # log lines (a warning of the verifier) may come first; one error line last
        last = err.splitlines()[-1]
        assert err.count("Error:") == 1 and last.startswith("Error: "), err
        assert f"exitcodes.toy with {method}: termination" in last and code in EXIT_CODES


def test_help_documents_the_exit_codes_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    for k, meaning in EXIT_CODES.items():
        assert f"{k}  {meaning.split()[0]}" in " ".join(out.split("\n")), k
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.strip() == f"aigc-opt {metadata.version('aigc-opt')}"


# ------------------------------------------------------------------ typed KEY=VALUE
@pytest.mark.parametrize(("text", "tp", "value"), [
    ("true", bool, True), ("YES", bool, True), ("1", bool, True), ("false", bool, False),
    ("No", bool, False), ("0", bool, False), ("3", int, 3), ("3.0", int, 3), ("1e3", int, 1000),
    ("2.5", float, 2.5), ("inf", float, float("inf")), ("x", str, "x"), ('"x"', str, "x"),
    ("none", int | None, None), ("4", int | None, 4), ('{"a": 1}', dict, {"a": 1}),
])
def test_values_parse_as_their_type(text: str, tp: object, value: object) -> None:
    got = _coerce(text, tp)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(("text", "tp"), [
    ("maybe", bool), ("2", bool), ("", bool), ("2.5", int), ("abc", int), ("true", int),
    ("nan", float), ("abc", float), ("yes", float), ("inf", int), ("[1", dict), ("[1]", dict),
    ("{}", list),
])
def test_bad_values_are_rejected(text: str, tp: object) -> None:
    with pytest.raises(ValueError, match="must be"):
        _coerce(text, tp)


@pytest.mark.parametrize(("args", "needles"), [
    (["--size", "n_users=2.5"], ["--size", "n_users='2.5'", "integer"]),
    (["--size", "n_users=abc"], ["--size", "must be a number"]),
    (["--size", "n_users=true"], ["--size", "must be a number"]),
    (["--size", "n_users=nan"], ["--size", "NaN"]),
    (["--size", "n_users=0"], ["--size"]),
    (["--size", "bogus=3"], ["--size", "unknown size 'bogus'"]),
    (["--size", "n_users"], ["--size", "KEY=VALUE"]),
    (["--size", "n_users=3", "--size", "n_users=4"], ["--size", "twice"]),
    (["--param", "allow_cloud=maybe"], ["--param", "boolean"]),
    (["--param", "allow_cloud=2"], ["--param", "boolean"]),
    (["--param", "candidate_servers=two"], ["--param", "candidate_servers"]),
    (["--param", "objective=[1"], ["--param", "JSON"]),
    (["--param", "nosuch=1"], ["--param", "'nosuch'", "known: admission, allow_cloud"]),
    (["--param", "allow_clod=true"], ["--param", "did you mean 'allow_cloud'"]),
    (["--time-limit", "nan"], ["--time-limit", "'nan' is not a finite number", ">= 0.001"]),
    (["--time-limit", "inf"], ["--time-limit", "not a finite number"]),
    (["--time-limit", "abc"], ["--time-limit", "'abc' is not a number"]),
    (["--time-limit", "0"], ["--time-limit", "out of range", ">= 0.001"]),
    (["--mip-gap", "nan"], ["--mip-gap", "not a finite number"]),
    (["--mip-gap", "-1"], ["--mip-gap", "out of range", ">= 0"]),
    (["--size", f"n_users={10**30}"], ["n_users", "|value| <= 2**62"]),
    (["--seed", "-1"], ["--seed"]),
    (["--method", "gurobi"], ["--method", "known:"]),
    (["--problem", "offloading.asignment"], ["--problem", "did you mean"]),
])
def test_solve_rejects_bad_values(args: list[str], needles: list[str],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    fails(["solve", *args], capsys, 2, *needles)


@pytest.mark.parametrize(("args", "needles"), [
    (["bench", "quick", "--connect-timeout", "nan"], ["--connect-timeout", "not a finite"]),
    (["bench", "quick", "--connect-timeout", "700"], ["--connect-timeout", "<= 600"]),
    (["dataset", "wpmec", "--rel-gap", "nan"], ["--rel-gap", "not a finite", "<= 1"]),
    (["dataset", "check", "x.mat", "--tol", "2"], ["--tol", "out of range", "<= 1"]),
])
def test_bounded_float_options_name_nan_and_range(args: list[str], needles: list[str],
                                                 tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """NaN, infinity and text given to a bounded float option are named as such (Typer's own
    range check read NaN as 'should be <= 600'); nothing is written."""
    out = tmp_path / ("o.mat" if args[0] == "dataset" else "o.csv")
    fails([*args, "--out", out], capsys, 2, *needles)
    assert not out.exists()


def test_booleans_and_strings_reach_the_spec(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["solve", "--method", "greedy_latency", "--size", "n_users=4",
                          "--size", "n_servers=2", "--param", "allow_cloud=no", "--param",
                          "linking=aggregated"], capsys)
    assert code == 0, err
    code, out, err = run(["solve", "--problem", "incentives.stackelberg", "--method",
                          "breakpoints", "--size", "budgets=no", "--size", "n_followers=5"],
                         capsys)
    assert code == 0, err
    fails(["solve", "--problem", "incentives.stackelberg", "--size", "budgets=maybe"], capsys,
          2, "--size", "budgets")


# ------------------------------------------------------------------ instance files
def test_solve_reads_every_family_format(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    from aigc_opt.problems.caching.data import CachingInstance
    from aigc_opt.problems.caching.trace import save_trace_csv
    from aigc_opt.problems.wpmec.data import WpmecBatch

    batch = WpmecBatch.generate(2, 4, seed=3)
    for suffix in (".mat", ".npy", ".csv"):
        path = batch.save(tmp_path / f"gains{suffix}")
        code, out, err = run(["solve", path, "--problem", "wpmec.binary", "--method", "exact"],
                             capsys)
        assert code == 0 and "optimal" in out, err
    trace = tmp_path / "trace.csv"
    save_trace_csv(CachingInstance.generate(2, 3, 4, seed=1).requests, trace)
    code, out, err = run(["solve", trace, "--problem", "caching.offline", "--method", "lru"],
                         capsys)
    assert code == 0, err
    for problem, method in (("incentives.contract", "reduction"), ("incentives.auction", "vcg"),
                            ("offloading.assignment", "greedy_latency"),
                            ("allocation.power", "closed_form")):
        path = tmp_path / f"{problem}.json"
        assert run(["instance", "--problem", problem, "--out", path, "--seed", "2"],
                   capsys)[0] == 0
        code, out, err = run(["solve", path, "--problem", problem, "--method", method], capsys)
        assert code == 0, err
    # the wrong format says what the problem reads
    fails(["solve", tmp_path / "offloading.assignment.json", "--problem", "wpmec.binary"],
          capsys, 2, "INSTANCE", "wpmec.binary reads", ".mat/.npy/.csv")
    fails(["solve", trace, "--problem", "offloading.assignment"], capsys, 2, "INSTANCE",
          "Scenario file (.json or .npz")
    scn_npz = tmp_path / "s.npz"  # a Scenario's binary file is read too
    assert run(["scenario", "generate", "--users", "5", "--out", scn_npz], capsys)[0] == 0
    assert run(["solve", scn_npz, "--problem", "offloading.assignment"], capsys)[0] == 0
    fails(["solve", tmp_path / "incentives.auction.json", "--problem", "incentives.contract"],
          capsys, 2, "AuctionInstance", "ContractInstance")
    fails(["solve", tmp_path / "gains.npy", "--problem", "caching.offline"], capsys, 2,
          "request trace")
    (tmp_path / "bad.json").write_bytes(b"\xff\xfe{")
    fails(["solve", tmp_path / "bad.json"], capsys, 2, "bad.json", "UTF-8")
    fails(["solve", tmp_path / "gains.csv", "--size", "n_users=3", "--problem",
           "wpmec.binary"], capsys, 2, "--size")


# ------------------------------------------------------------------ paths and files
def test_solve_out_is_checked_before_solving(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    solve_mod = importlib.import_module("aigc_opt.solve")

    def no_solve(*a: object, **k: object) -> None:
        raise AssertionError("solved before checking --out")

    monkeypatch.setattr(solve_mod, "run_method", no_solve)
    fails(["solve", "--out", tmp_path], capsys, 2, "--out", "is a directory")
    fails(["solve", "--out", tmp_path / "no" / "r.csv"], capsys, 2, "--out", "does not exist")


def test_a_failed_write_names_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    # the library's writers report a full disk as a ValidationError on field "path"; every
    # command turns it into a usage error of --out (it had read "path [-] = ..."), and an
    # unknown WPMEC channel profile is named as --channel (it had read "profile [-]")
    from aigc_opt.errors import ValidationError
    from aigc_opt.scenario import Scenario

    def full(self_or_inst: object, path: object, *a: object, **k: object) -> None:
        raise ValidationError("path", "-", str(path), "cannot write: No space left on device")

    monkeypatch.setattr(Scenario, "save", full)
    monkeypatch.setattr(cases_mod, "save_instance_json", full)
    for cmd in (["scenario", "generate", "-n", "3"], ["instance"]):
        fails([*cmd, "--out", tmp_path / "x.json"], capsys, 2, "--out", "No space left")
    fails(["dataset", "wpmec", "-f", "1", "--out", tmp_path / "d.npz", "--channel", "nosuch"],
          capsys, 2, "--channel", "'nosuch'", "droo_data")


def test_plot_and_summary_bad_paths_and_files(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "r.csv"
    with export.RowWriter(good) as w:
        w.write({"key": "a", "suite": "s", "problem": "p", "variant": "v", "sizes": "n=3",
                 "size": 3, "seed": 0, "method": "m", "reference": "m", "status": "ok",
                 "termination": "optimal", "has_solution": True, "feasible": True,
                 "objective": 1.0, "solve_seconds": 0.1})
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    fails(["plot", good, "--out", a_file], capsys, 2, "--out", "file.txt")
    latin = tmp_path / "latin.csv"
    latin.write_bytes(good.read_bytes() + "b,caf\xe9\n".encode("latin-1"))
    for cmd in (["summary", latin], ["plot", latin, "--out", tmp_path / "p"]):
        fails(cmd, capsys, 2, "latin.csv", "line 3", "UTF-8")
    assert not (tmp_path / "p").exists()
    quoted = tmp_path / "quoted.csv"
    quoted.write_text(good.read_text() + '"b,unterminated\n' + good.read_text().split("\n")[1]
                      + "\n")
    fails(["summary", quoted], capsys, 2, "quoted.csv", "line 3")
    foreign = tmp_path / "foreign.csv"
    foreign.write_text("name,score\nx,1\n")
    fails(["summary", foreign], capsys, 2, "foreign.csv", "not an aigc-opt results CSV")
    fails(["summary", tmp_path], capsys, 2, "RESULTS", "not a file")
    fails(["summary", good, "--out", tmp_path], capsys, 2, "--out")
    fails(["plot", good, "--out", tmp_path / "q", "--pareto", latin], capsys, 2, "--pareto")
    # a plot that fails, or draws nothing, leaves no empty directory of its own making
    sweep = tmp_path / "sweep.csv"
    sweep.write_text("latency,energy\n1,5\n2,3\n4,1\n")
    unsolved = tmp_path / "unsolved.csv"
    unsolved.write_text(good.read_text().replace(",optimal,true,true,", ",infeasible,false,false,"))
    assert unsolved.read_text() != good.read_text()
    fails(["plot", unsolved, "--out", tmp_path / "q2", "--pareto", sweep, "--x", "nope"],
          capsys, 2, "nope")
    assert not (tmp_path / "q2").exists()
    assert main(["plot", str(unsolved), "--out", str(tmp_path / "q3")]) == 0
    assert "nothing to plot" in capsys.readouterr().err and not (tmp_path / "q3").exists()
    (tmp_path / "q4").mkdir()  # a directory the user made stays
    assert main(["plot", str(unsolved), "--out", str(tmp_path / "q4")]) == 0
    assert (tmp_path / "q4").is_dir()


def test_bench_environment_failures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    t0 = time.perf_counter()
    fails(["bench", "quick", "--out", tmp_path / "r.csv", "--scheduler",
           f"tcp://127.0.0.1:{port}", "--connect-timeout", "2"], capsys, 7, "--scheduler",
          "cannot connect")
    assert time.perf_counter() - t0 < 10
    fails(["bench", "quick", "--out", tmp_path / "r.csv", "--scheduler", "nonsense"],
          capsys, 7, "--scheduler")
    fails(["bench", "quick", "--out", tmp_path / "r.csv", "--retry-failed"], capsys, 2,
          "--retry-failed")
    fails(["bench", "quick", "--out", tmp_path], capsys, 2, "--out", "is a directory")
    bad = tmp_path / "bad.toml"
    bad.write_text('[[cases]]\nproblem = "offloading.assignment"\nmethods = "highs"\n')
    fails(["bench", bad, "--out", tmp_path / "r.csv"], capsys, 2, "SUITE", "bad.toml",
          "cases[0].methods")
    assert not (tmp_path / "r.csv").exists()


def test_internal_error_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    import aigc_opt.export

    def broken(*a: object, **k: object) -> str:
        raise RuntimeError("simulated bug\nsecond line")

    monkeypatch.setattr(aigc_opt.export, "format_table", broken)
    fails(["solve", "--method", "greedy_latency", "--size", "n_users=3"], capsys, 1,
          "internal error: RuntimeError" if False else "internal error", "AIGC_OPT_DEBUG")
    monkeypatch.setenv("AIGC_OPT_DEBUG", "1")
    with pytest.raises(RuntimeError, match="simulated bug"):
        main(["solve", "--method", "greedy_latency", "--size", "n_users=3"])


def test_verbose_quiet_and_banners(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = tmp_path / "t.toml"
    suite.write_text(textwrap.dedent("""
        [[cases]]
        problem = "offloading.assignment"
        sizes = {n_users = [4], n_servers = [2], n_models = [2]}
        methods = ["greedy_latency", "all_local"]
    """))
    base = ["bench", suite, "--workers", "0", "--out"]
    code, out, err = run(["-v", *base, tmp_path / "a.csv"], capsys)
    assert code == 0 and "INFO aigc_opt.batch: suite t: 2 cases to run" in err
    assert "progress: 2/2 cases done" in err and "INFO" not in out
    code, out, err = run(["-q", *base, tmp_path / "b.csv"], capsys)
    assert code == 0 and err == "" and "2 cases run" in out
    code, out, err = run([*base, tmp_path / "c.csv"], capsys)
    assert code == 0 and "INFO" not in err and "suite t: 2 cases" in err
    # a C-level solver banner goes to stderr, never to stdout (a real process: fd 1)
    proc = subprocess.run([sys.executable, "-m", "aigc_opt.cli", "solve", "--problem",
                           "caching.offline", "--method", "offline_milp"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Running HiGHS" not in proc.stdout and "termination" in proc.stdout


# ------------------------------------------------------------------ fuzz
_BAD_VALUES = ["", "nan", "-nan", "inf", "-inf", "-1", "0", "2.5", "1e999", "abc", "true",
               "maybe", "[1", "{}", "[]", "null", '"x"', "ü", "x" * 300, "1,2", "--", "-",
               "=", "a=b=c", "0x10", "1_0", " 3 ", "\t", "None"]
_OPTIONS = {
    "solve": ["--problem", "--method", "--out", "--param", "--size", "--seed", "--time-limit",
              "--mip-gap"],
    "bench": ["--out", "--workers", "--scheduler", "--resume", "--overwrite", "--only",
              "--exclude", "--retry-failed", "--connect-timeout", "--dask-local"],
    "summary": ["--out", "--rows-out"],
    "plot": ["--out", "--pareto", "--x", "--y"],
    "instance": ["--out", "--problem", "--size", "--seed"],
    "scenario generate": ["--out", "--users", "--servers", "--models", "--seed", "--profile"],
    "scenario show": [],
}
_FLAGS = {"--resume", "--overwrite", "--retry-failed", "--dask-local"}
_KEYS = ["n_users", "n_servers", "n_models", "allow_cloud", "linking", "objective", "budgets",
         "n_types", "bogus", "", "1x", "candidate_servers", "profile", "seed"]
_PROBLEMS = ["offloading.assignment", "wpmec.binary", "caching.offline", "incentives.contract",
             "no.such", "", "offloading"]


class _Reached(SystemExit):
    """Valid input that got as far as the solver / runner / plotter (stubbed in the fuzz)."""


def _files(tmp: Path) -> list[Path]:
    (tmp / "dir").mkdir(exist_ok=True)
    specs = {
        "latin.csv": "key,problem\nk,caf\xe9\n".encode("latin-1"),
        "foreign.csv": b"name,score\nx,1\n",
        "quote.csv": b'key,problem,method,status\n"k,p,m,ok\n',
        "good.csv": b"key,problem,method,status\nk,p,m,ok\n",
        "bad.toml": b'[[cases]]\nproblem = "offloading.assignment"\nmethods = "highs"\n',
        "broken.toml": b"[suite\n",
        "scn.json": b'{"schema_version": 99}',
        "bin.json": b"\xff\x00\x01",
        "trace.csv": b"slot,server,model,count\n0,0,0,-1\n",
        "gains.npy": b"not numpy",
    }
    for name, data in specs.items():
        (tmp / name).write_bytes(data)
    return [tmp / n for n in specs] + [tmp / "dir", tmp / "missing.json", tmp / "no" / "x.csv"]


def _bad_invocation(rng: random.Random, files: list[Path]) -> list[str]:
    cmd = rng.choice(list(_OPTIONS) + ["list --bogus", "nosuchcommand", ""])
    argv = cmd.split()
    if cmd in ("solve", "summary", "plot", "scenario show", "bench") and rng.random() < 0.8:
        argv.append(str(rng.choice(files)) if cmd != "bench" or rng.random() < 0.5 else
                    rng.choice(["quick", "nosuch", ""]))
    opts = _OPTIONS.get(cmd, [])
    for _ in range(rng.randint(0, 4)):
        if not opts or rng.random() < 0.1:
            argv.append(rng.choice(["--bogus", "-z", "--out=", "--size"]))
            continue
        opt = rng.choice(opts)
        if opt in _FLAGS:
            argv.append(opt)
        elif opt in ("--size", "--param"):
            argv += [opt, f"{rng.choice(_KEYS)}={rng.choice(_BAD_VALUES)}"]
        elif opt == "--problem":
            argv += [opt, rng.choice(_PROBLEMS)]
        elif opt in ("--out", "--rows-out", "--pareto") and rng.random() < 0.7:
            argv += [opt, str(rng.choice(files))]
        elif opt == "--scheduler":
            argv += [opt, rng.choice(["nonsense", "tcp://", "tcp://127.0.0.1:1", "udp://x:1",
                                      "tcp://host:notaport"])]
        else:
            argv += [opt, rng.choice(_BAD_VALUES)]
    if rng.random() < 0.05:
        argv.insert(0, rng.choice(["-v", "-q", "--verbose"]))
    return argv


def _names_something(err: str, argv: list[str]) -> bool:
    if re.search(r"'?--[a-z][a-z-]*", err):  # names an option
        return True
    if any(f"{a}:" in err or f"'{a}'" in err for a in argv if a):  # names a value / file
        return True
    tokens = {"INSTANCE", "SUITE", "RESULTS", "SCENARIO", "command"}
    for a in argv:
        tokens.update(t for t in [a, *a.split("="), Path(a).name] if len(t) >= 2)
    return any(t in err for t in tokens)


def _fuzz_cli(n: int, seed: int, tmp: Path, monkeypatch: pytest.MonkeyPatch,
              capsys: pytest.CaptureFixture[str]) -> tuple[collections.Counter[str], list]:
    import aigc_opt.batch
    import aigc_opt.plots

    def reached(*a: object, **k: object) -> None:
        raise _Reached(99)

    for mod, name in ((importlib.import_module("aigc_opt.solve"), "run_method"),
                      (aigc_opt.batch, "run_suite"), (aigc_opt.plots, "plot_results")):
        monkeypatch.setattr(mod, name, reached)
    monkeypatch.setattr(aigc_opt.batch, "check_scheduler",
                        lambda address, timeout=5.0: (_ for _ in ()).throw(
                            aigc_opt.batch.BatchError(f"--scheduler {address!r}: stubbed")))
    monkeypatch.chdir(tmp)
    rng = random.Random(seed)
    files = _files(tmp)
    outcomes: collections.Counter[str] = collections.Counter()
    problems = []
    for _ in range(n):
        argv = _bad_invocation(rng, files)
        code = main(argv)
        out, err = capsys.readouterr()
        cls = {0: "0 ok", 99: "reached solver/runner (stub)"}.get(code, f"{code} error")
        outcomes[cls] += 1
        if "Traceback" in out + err:
            outcomes["TRACEBACK"] += 1
            problems.append((argv, code, err))
        if code in (0, 99):
            continue
        if code not in EXIT_CODES or code == 1:
            outcomes["UNDOCUMENTED OR INTERNAL"] += 1
            problems.append((argv, code, err))
        elif not (err.startswith("Error: ") and err.count("\n") == 1):
            outcomes["NOT ONE LINE"] += 1
            problems.append((argv, code, err))
        elif not _names_something(err, argv):
            outcomes["NAMES NOTHING"] += 1
            problems.append((argv, code, err))
    return outcomes, problems


_SUITE_BASE = {
    "suite": {"name": "fz", "time_limit": 10.0, "mip_gap": 1e-4, "grace": 5.0, "threads": 1},
    "cases": [{"problem": "offloading.assignment", "sizes": {"n_users": [4]}, "seeds": [0],
               "methods": ["greedy_latency"], "params": {"linking": "aggregated"}}],
}
_TOML_VALUES = ['"x"', '""', "nan", "inf", "-inf", "-1", "0", "2.5", "true", "[]", "[1, 'a']",
                "{}", "{a = nan}", "[{}]", "[[1]]", "'exact'", "[true]", "1e400", "[-1]",
                "{n_users = []}", "{n_users = [nan]}"]


def _toml(value: object) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return str(value)


def _bad_suite(rng: random.Random) -> tuple[str, str]:
    """A mutated suite and the dotted key that was mutated."""
    suite = dict(_SUITE_BASE["suite"])
    case = dict(_SUITE_BASE["cases"][0])
    table, key = rng.choice([(suite, k) for k in (*suite, "description", "timeout", "imports",
                                                  "reference", "bogus")]
                            + [(case, k) for k in (*case, "variant", "time_limit", "threads",
                                                   "size_key", "mip_gap", "problem", "bogus")])
    lines = []
    raw = rng.choice(_TOML_VALUES)
    where = f"suite.{key}" if table is suite else f"cases[0].{key}"
    for name, t in (("suite", suite), ("cases", case)):
        lines.append("[suite]" if name == "suite" else "[[cases]]")
        for k, v in t.items():
            if t is table and k == key:
                continue
            lines.append(f"{k} = {_toml(v)}")
        if t is table:
            if rng.random() < 0.1 and key == "problem":
                pass  # a missing problem
            else:
                lines.append(f"{key} = {raw}")
    text = "\n".join(lines) + "\n"
    if rng.random() < 0.05:
        cut = rng.randrange(len(text))
        text, where = text[:cut] + rng.choice(["[", "=", '"', "]]"]) + text[cut:], "TOML"
    return text, where


def _fuzz_suites(n: int, seed: int) -> tuple[collections.Counter[str], list]:
    rng = random.Random(seed)
    outcomes: collections.Counter[str] = collections.Counter()
    problems = []
    for _ in range(n):
        text, where = _bad_suite(rng)
        try:
            expand(parse_suite(text, source="fuzz.toml"))
            outcomes["suite accepted"] += 1
        except SuiteError as exc:
            msg = str(exc)
            key = where.split(".")[-1]
            ok = "fuzz.toml" in msg and "\n" not in msg and (key in msg or where == "TOML")
            outcomes["SuiteError naming file and key" if ok else "SUITE MESSAGE NAMES NOTHING"] \
                += 1
            if not ok:
                problems.append((text, msg))
        except Exception as exc:  # noqa: BLE001 - anything else is a bug
            outcomes[f"UNEXPECTED {type(exc).__name__}"] += 1
            problems.append((text, repr(exc)))
    return outcomes, problems


def test_fuzz_cli_and_suites_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    cli, bad_cli = _fuzz_cli(150, 2026, tmp_path, monkeypatch, capsys)
    suites, bad_suites = _fuzz_suites(100, 2026)
    assert not bad_cli, bad_cli[:5]
    assert not bad_suites, bad_suites[:5]
    assert sum(v for k, v in cli.items() if k.endswith("error")) > 100
    assert suites["SuiteError naming file and key"] > 50


@pytest.mark.slow
def test_fuzz_cli_and_suites_10000(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    t0 = time.perf_counter()
    cli, bad_cli = _fuzz_cli(10_000, 1, tmp_path, monkeypatch, capsys)
    suites, bad_suites = _fuzz_suites(10_000, 1)
    rows = [("cli", k, v) for k, v in sorted(cli.items())] + \
        [("suite", k, v) for k, v in sorted(suites.items())]
    with capsys.disabled():
        print(f"\nfuzz outcomes ({time.perf_counter() - t0:.0f} s):")
        print(export.format_table([{"fuzz": a, "outcome": b, "count": c} for a, b, c in rows],
                                  ["fuzz", "outcome", "count"]))
        for item in (bad_cli + bad_suites)[:20]:
            print("problem:", item)
    assert not bad_cli and not bad_suites
    assert sum(cli.values()) >= 10_000 and sum(suites.values()) >= 10_000


def test_no_traceback_from_the_console_script(tmp_path: Path) -> None:
    env = {**os.environ, "AIGC_OPT_DEBUG": ""}
    proc = subprocess.run([sys.executable, "-m", "aigc_opt.cli", "solve", "--size",
                           "n_users=2.5"], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and proc.stdout == ""
    assert "integer" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(("args", "option"), [(["--mip-gap", "2"], "--mip-gap"),
                                              (["--mip-gap", "-0.5"], "--mip-gap")])
def test_solve_options_out_of_range_name_the_option(args: list[str], option: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """``--mip-gap 2`` said 'mip_gap [-] = 2.0: out of range' (the Python field), the only
    range error that did not name its option."""
    code, _, err = run(["solve", "--size", "n_users=3", *args], capsys)
    assert code == 2 and option in err and "mip_gap [-]" not in err, err


def test_report_names_a_bad_results_input_as_summary_and_plot_do(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``report`` on a non-UTF-8 file said it had no header line and to "choose another --out"
    (the check was written for bench's --out); it now gives summary's and plot's message.
    bench's --out keeps its own."""
    binary, text = tmp_path / "binary.csv", tmp_path / "hello.csv"
    binary.write_bytes(b"\xff\xfe\x00bad")
    text.write_bytes(b"hello")  # one line, no newline: not a cut header either
    for path, needle in ((binary, f"{binary}, line 1: not UTF-8 text (byte 0xff); results "
                                  "CSVs are UTF-8"),
                         (text, f"{text}: is not an aigc-opt results CSV (first line 'hello' "
                                "does not start with 'key')")):
        errs = {cmd: fails([cmd, str(path), "--out", str(tmp_path / cmd)], capsys, 2, needle)
                for cmd in ("report", "summary", "plot")}
        assert len(set(errs.values())) == 1 and "--out" not in errs["report"], errs
        assert not (tmp_path / "report").exists() and not (tmp_path / "plot").exists()
    suite = tmp_path / "s.toml"
    suite.write_text('[[cases]]\nproblem = "allocation.power"\nmethods = ["closed_form"]\n')
    fails(["bench", str(suite), "--out", str(binary), "--workers", "0"], capsys, 2,
          "no header line); choose another --out")
    assert binary.read_bytes() == b"\xff\xfe\x00bad"
