"""Messages and output of the command line that a user can act on (user-study findings): hints
that name what to pass on the command line, "did you mean" for method / backend / problem
names, the problem read from an instance file, the explanation of an infeasible solve, label
checks that say what they did not check, and a summary that names the columns it lacks."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from test_cli_errors import fails, run

import aigc_opt as ao
from aigc_opt import export
from aigc_opt.cli import main
from aigc_opt.cli_util import did_you_mean, explanation_lines, label_notes
from aigc_opt.explain import Conflict, Explanation


# ------------------------------------------------------------------ 2: limits the CLI can raise
def test_entry_limit_hint_is_one_the_cli_user_can_follow(
        capsys: pytest.CaptureFixture[str]) -> None:
    err = fails(["solve", "--size", "n_users=100000", "--size", "n_servers=200"], capsys, 2,
                "--size", "20,000,000 entries", "max_entries is not a --size of "
                "offloading.assignment", "smaller sizes", "max_entries=...",
                "pass that file as INSTANCE")
    assert "pass max_entries=... to raise the limit" not in err
    # a problem whose generator takes max_entries: the hint names --size, and it is accepted
    fails(["solve", "--problem", "iscc.matching", "--size", "max_entries=5"], capsys, 2,
          "--size", "pass --size max_entries=... to raise it")


# ------------------------------------------------------------------ 3: did you mean
@pytest.mark.parametrize(("method", "close"), [("greedy", "greedy_latency"),
                                               ("HiGHS", "highs"), ("higs", "highs"),
                                               ("SCIP", "scip")])
def test_unknown_method_or_backend_suggests_the_closest(
        method: str, close: str, capsys: pytest.CaptureFixture[str]) -> None:
    fails(["solve", "--size", "n_users=4", "--size", "n_servers=2", "--method", method],
          capsys, 2, "--method", f"unknown method {method!r}", "known:",
          f"did you mean {close!r}?")


def test_unknown_problem_and_size_suggest_the_closest(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fails(["solve", "--problem", "Offloading.Assignment"], capsys, 2, "--problem",
          "did you mean 'offloading.assignment'?")
    fails(["instance", "--problem", "incentive.contract", "--out", tmp_path / "x.json"],
          capsys, 2, "--problem", "did you mean 'incentives.contract'?")
    fails(["solve", "--size", "n_user=3"], capsys, 2, "--size", "did you mean 'n_users'?")


def test_did_you_mean_helper() -> None:
    known = ["highs", "scip", "greedy_latency", "lagrangian"]
    assert did_you_mean("HIGHS", known) == "; did you mean 'highs'?"
    assert did_you_mean("greedy", known) == "; did you mean 'greedy_latency'?"
    assert did_you_mean("lagr", known) == "; did you mean 'lagrangian'?"
    assert did_you_mean("gurobi", known) == ""
    assert did_you_mean("highs", known) == ""  # the name itself is no suggestion


# ------------------------------------------------------------------ 4: the problem of a file
def test_solve_reads_the_problem_an_instance_file_declares(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = tmp_path / "c.json"
    assert main(["instance", "--problem", "incentives.contract", "--out", str(c)]) == 0
    capsys.readouterr()
    code, out, err = run(["solve", c], capsys)
    assert code == 0, err
    assert "incentives.contract" in out and "optimal" in out
    # the wrong --problem: the message says which one to pass
    fails(["solve", c, "--problem", "offloading.assignment"], capsys, 2, "INSTANCE",
          "ContractInstance", "pass --problem incentives.contract")
    # a type that two problems read: refused, naming both
    t = tmp_path / "t.json"
    assert main(["instance", "--problem", "caching.offline", "--out", str(t)]) == 0
    capsys.readouterr()
    fails(["solve", t], capsys, 2, "--problem", "several problems",
          "--problem caching.compute or --problem caching.offline")
    code, out, err = run(["solve", t, "--problem", "caching.offline", "--method", "lru"],
                         capsys)
    assert code == 0, err
    # a scenario file declares no problem: the default one reads it
    s = tmp_path / "s.json"
    ao.Scenario.generate(5, 2, 2, seed=0).save(s)
    code, out, err = run(["solve", s, "--method", "greedy_latency"], capsys)
    assert code == 0 and "offloading.assignment" in out, err
    # ... and says so: a steps instance is a Scenario too (it was solved as offloading
    # silently); `instance` prints the command that solves what it wrote
    assert "does not name its problem" in out and "pass --problem" in out
    st = tmp_path / "steps.json"
    code, out, err = run(["instance", "--problem", "allocation.steps", "--out", st], capsys)
    assert code == 0 and f"aigc-opt solve {st} --problem allocation.steps" in out, err


def test_solve_picks_the_one_problem_that_reads_a_file_suffix(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """DROO's data_10.mat without --problem was read as an offloading Scenario and refused;
    a suffix that one problem reads now selects it (and says so), one that several read is
    refused naming them."""
    from aigc_opt.gym.datasets import save_labels, wpmec_labels

    mat = tmp_path / "lab.mat"
    save_labels(wpmec_labels(4, 3, seed=0), mat)
    code, out, err = run(["solve", mat], capsys)
    assert code == 0, err
    assert "the one problem that reads .mat files" in out and "wpmec.binary" in out
    assert "optimal" in out
    csv = tmp_path / "trace.csv"
    csv.write_text("slot,server,model,requests\n0,0,0,3\n")
    fails(["solve", csv], capsys, 2, "--problem", "several problems read .csv files",
          "--problem caching.offline", "--problem wpmec.binary")


# ------------------------------------------------------------------ 5: why infeasible
def test_infeasible_solve_prints_the_explanation(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    s = tmp_path / "tight.json"
    ao.Scenario.generate(100, 3, load=None).save(s)  # fixed capacities: too many users
    code, out, err = run(["solve", s, "--method", "highs"], capsys)
    assert code == 3, (out, err)
    assert err.startswith("Error: ") and err.count("\n") == 1 and "infeasible" in err
    lines = out.splitlines()
    head = [i for i, line in enumerate(lines) if line.startswith("explanation: ")]
    assert len(head) == 1, out
    block = lines[head[0]:]
    assert "conflict(s)" in block[0] and block[1].startswith("  conflict 1 (")
    assert "assignment at request" in block[1] and "more" in block[1]
    assert len(block) <= 5  # a short block: the whole of it is Result.explanation


def test_explanation_lines_are_short() -> None:
    many = tuple(Conflict(tuple(range(i, i + 9)), tuple(f"cap at server {j}" for j in range(9)),
                          ("cap",)) for i in range(5))
    lines = explanation_lines(Explanation(many, complete=True))
    assert lines[0].startswith("explanation: 5 conflict(s)") and "relaxing" in lines[0]
    assert len(lines) == 5 and lines[-1] == "  ... 2 more conflicts"
    assert lines[1].endswith("; ... 3 more") and "(9 constraint(s) in cap)" in lines[1]
    empty = Explanation((), message="time limit")
    assert explanation_lines(empty) == ["explanation: 0 conflict(s), each a set of constraints "
                                        "that cannot hold together; time limit"]
    viol = Explanation((Conflict((), ("gpu: 2 item(s), worst relative violation 0.5",),
                                 ("gpu",)),), "violations", True)
    assert explanation_lines(viol) == ["explanation: 1 violated constraint(s)",
                                       "  gpu: 2 item(s), worst relative violation 0.5"]
    assert explanation_lines(None) == []


# ------------------------------------------------------------------ 6: what was not checked
def test_dataset_check_says_stated_objectives_were_not_checked(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from aigc_opt.gym.datasets import wpmec_labels

    lab = wpmec_labels(6, 8, seed=0)
    bare = tmp_path / "noobj.mat"
    scipy.io.savemat(bare, {"input_h": lab.gains, "output_mode": lab.modes.astype(float)})
    code, out, err = run(["dataset", "check", bare], capsys)
    assert code == 0, err
    assert "stated objectives (output_obj): not in file, not checked" in out
    assert "stated allocations (output_a, output_tau): not in file, not checked" in out
    full = tmp_path / "full.mat"
    scipy.io.savemat(full, {"input_h": lab.gains, "output_mode": lab.modes.astype(float),
                            "output_obj": lab.objective[:, None]})
    code, out, err = run(["dataset", "check", full], capsys)
    assert code == 0 and "output_obj" not in out and "output_a, output_tau" in out, out
    assert label_notes(np.ones(3), np.ones(3)) == []


# ------------------------------------------------------------------ 8: summary's columns
def _results(path: Path, drop: tuple[str, ...]) -> Path:
    cols = [c for c in export.COLUMNS if c not in drop]
    row = {"key": "a", "suite": "s", "problem": "p", "variant": "v", "sizes": "n=3", "size": 3,
           "seed": 0, "method": "m", "reference": "m", "status": "ok",
           "termination": "optimal", "has_solution": True, "feasible": True, "objective": 1.0,
           "solve_seconds": 0.1}
    with export.RowWriter(path, cols) as w:
        w.write({k: v for k, v in row.items() if k in cols})
    return path


def test_summary_names_the_columns_it_lacks(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    p = _results(tmp_path / "noobj.csv", ("objective",))
    fails(["summary", p], capsys, 2, "summary needs the column(s) objective", "noobj.csv")
    p = _results(tmp_path / "two.csv", ("objective", "feasible"))
    fails(["summary", p], capsys, 2, "feasible, objective")
    code, out, err = run(["summary", _results(tmp_path / "ok.csv", ())], capsys)
    assert code == 0 and "p " in out, err



# ------------------------------------------------------------------ 9: weights of a .mat
def test_solve_mat_takes_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A DROO ``.mat`` stores no weights (``data_10_WeightsAlternated.mat`` needs
    1.5,1,...): ``--weights`` sets them, checked against the Python API's certified optimum;
    a wrong count or an instance without weights is a bad option naming ``--weights``."""
    from aigc_opt.problems.wpmec import WpmecInstance, WpmecSpec

    rng = np.random.default_rng(3)
    gains = rng.uniform(1e-6, 1e-5, size=(2, 4))
    path = tmp_path / "frames.mat"
    scipy.io.savemat(path, {"input_h": gains})
    w = [3.0, 0.5, 2.0, 1.0]
    out = tmp_path / "r.csv"
    code, text, err = run(["solve", path, "--weights", ",".join(map(str, w)), "--out", out],
                          capsys)
    assert code == 0, err
    want = ao.run_method(WpmecInstance(gains=gains[0], weights=w), WpmecSpec(), "exact")
    assert want.verified
    default = ao.run_method(WpmecInstance(gains=gains[0]), WpmecSpec(), "exact")
    assert abs(default.objective - want.objective) > 1e-3 * want.objective
    with (tmp_path / "r.summary.csv").open(newline="") as f:
        got = float(next(csv.DictReader(f))["objective"])
    assert got == pytest.approx(want.objective, rel=1e-9)
    fails(["solve", path, "--weights", "1,2"], capsys, 2, "--weights", "weights", "(4,)")
    fails(["solve", path, "--weights", "1,x,1,1"], capsys, 2, "--weights", "comma-separated")
    # float() reads '1_0' as 10 (outside tester v1)
    fails(["solve", path, "--weights", "1_0,1,1,1"], capsys, 2, "--weights", "comma-separated")
    fails(["solve", "--problem", "caching.offline", "--weights", "1"], capsys, 2,
          "--weights", "no per-user weights")
