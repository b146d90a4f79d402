"""``aigc-opt`` command line: scenarios, instances, single solves, benchmark suites, plots.

Built on Typer (Click) and run through :func:`main`, which guarantees the error contract:
every failure is ONE line on stderr (``Error: ...`` naming the option, file or field at
fault) and a documented exit status (:data:`EXIT_CODES`); no traceback is printed unless
``AIGC_OPT_DEBUG=1`` is set. Results go to stdout, logs, progress and solver banners to
stderr.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer._click import exceptions as click_exc  # Typer vendors Click
from typer._click.globals import get_current_context

from .cli_scenario import scenario_app
from .cli_util import (  # noqa: F401  (EXIT_* re-exported: the documented exit codes)
    EXIT_CODES,
    EXIT_ENVIRONMENT,
    EXIT_INFEASIBLE,
    EXIT_INTERNAL,
    EXIT_LIMIT,
    EXIT_OK,
    EXIT_SOLVER_ERROR,
    EXIT_UNVERIFIED,
    EXIT_USAGE,
    SolveExit,
    UserError,
    banners_to_stderr,
    check_in_file,
    check_method,
    check_out_file,
    check_patterns,
    exit_code_of,
    finite,
    kind_or_fail,
    label_notes,
    load_instance,
    make_instance,
    make_spec,
    one_line,
    require_columns,
    resolve_problem,
    setup_logging,
    solve_options,
    solve_report,
    version,
    with_weights,
    writing_out,
)
from .errors import PluginError, ValidationError

logger = logging.getLogger(__name__)

#: Old private names (kept for code written against them).
_check_in_file, _banners_to_stderr = check_in_file, banners_to_stderr

_EPILOG = "Exit status:\n\n" + "\n\n".join(f"{k}  {v}" for k, v in EXIT_CODES.items())

app = typer.Typer(
    name="aigc-opt",
    help="Exact optimisation baselines for generative AI in mobile edge networks.",
    epilog=_EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(scenario_app, name="scenario")


# ---------------------------------------------------------------------------------- options
def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"aigc-opt {version()}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_version_callback,
                                          help="Print the version and exit.")] = False,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True,
                                         help="More log output on stderr (-vv: debug).")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr (no "
                                        "progress, no warnings).")] = False,
) -> None:
    """Exact optimisation baselines for generative AI in mobile edge networks."""
    setup_logging(verbose, quiet)
    ctx = get_current_context()
    ctx.obj = {"quiet": quiet, "verbose": verbose}


def _quiet() -> bool:
    ctx = get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    return bool(root is not None and isinstance(root.obj, dict) and root.obj.get("quiet"))


# ---------------------------------------------------------------------------------- instance
@app.command()
def instance(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .json file (read back by "
                                      "`solve FILE`, which also reads the families' formats).")],
    problem: Annotated[str, typer.Option("--problem", help="Problem (see `aigc-opt list`).")] =
        "offloading.assignment",
    size: Annotated[list[str] | None, typer.Option(
        "--size", help="Instance size KEY=VALUE, repeatable.")] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Instance seed.")] = 0,
) -> None:
    """Generate a problem's seeded instance and save it as JSON (readable by `solve`)."""
    from .cases import save_instance_json

    kind = kind_or_fail(problem)
    if out.suffix.lower() != ".json":
        raise typer.BadParameter(f"{str(out)!r}: instances are written as .json",
                                 param_hint="--out")
    check_out_file(out, "--out")
    inst = make_instance(kind, seed, size)
    with writing_out(out):
        save_instance_json(inst, out)
    typer.echo(f"wrote {out}: {problem} (seed {seed}): aigc-opt solve {out} --problem {problem}")


# ---------------------------------------------------------------------------------- solve
_EXIT_BY_TERMINATION = {
    "infeasible": EXIT_INFEASIBLE, "unbounded": EXIT_INFEASIBLE,
    "infeasible_or_unbounded": EXIT_INFEASIBLE, "limit": EXIT_LIMIT,
    "unverified": EXIT_UNVERIFIED, "error": EXIT_SOLVER_ERROR,
}


@app.command()
def solve(
    instance: Annotated[Path | None, typer.Argument(
        help="Instance file in a format the problem reads: scenario JSON (offloading, steps), "
        "WPMEC channel gains .mat/.npy/.csv, caching request trace .csv, or an instance JSON "
        "from `aigc-opt instance`. Omit it to generate the instance from --size/--seed.",
        metavar="INSTANCE")] = None,
    problem: Annotated[str | None, typer.Option("--problem", help="Problem (see `aigc-opt "
                       "list`; default: the one an INSTANCE JSON from `aigc-opt instance` "
                       "declares, else offloading.assignment).")] = None,
    method: Annotated[str | None, typer.Option("--method", help="Backend, algorithm or "
                      "heuristic (default: the problem's reference exact method).")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Per-user allocation and metrics CSV (a .summary.csv is written "
        "beside it).")] = None,
    param: Annotated[list[str] | None, typer.Option(
        "--param", help="Spec parameter KEY=VALUE, repeatable (booleans true/false, numbers, "
        "JSON for tables).")] = None,
    size: Annotated[list[str] | None, typer.Option(
        "--size", help="Instance size KEY=VALUE when no INSTANCE is given, repeatable.")] =
        None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Instance / heuristic seed.")] = 0,
    time_limit: Annotated[float | None, typer.Option("--time-limit", parser=finite(0.001),
                                                     help="Solver time limit, s.")] = None,
    mip_gap: Annotated[float | None, typer.Option("--mip-gap", parser=finite(0.0),
                                                  help="Relative MIP gap (>= 0).")] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, max=4096, help=(
        "Solver threads (HiGHS, SCIP, Pyomo; caching relax_memory)."))] = None,
    weights: Annotated[str | None, typer.Option("--weights", help=(
        "Comma-separated per-user rate weights for an instance with weights (wpmec: a .mat "
        "stores none; DROO's data_10_WeightsAlternated.mat needs 1.5,1,1.5,...)."))] = None,
) -> None:
    """Solve one instance with one method, print a summary and optionally write CSVs.

    Exit status 0 with a verified solution; 3 infeasible, 4 limit without a solution,
    5 unverified, 6 solver error (see `aigc-opt --help`).
    """
    from .metrics import evaluate
    from .result_csv import write_result_csv
    from .solve import methods, run_method

    for name, v in (("--time-limit", time_limit), ("--mip-gap", mip_gap)):
        if v is not None and not math.isfinite(v):
            raise typer.BadParameter(f"{v}: must be finite", param_hint=name)
    if out is not None:  # before any work: a bad --out must not cost a solve
        check_out_file(out, "--out", (instance,))
        check_out_file(out.with_name(out.stem + ".summary.csv"), "--out", (instance,))
    problem, kind = resolve_problem(problem, instance)
    if instance is not None and size:
        raise typer.BadParameter("give either an INSTANCE file or --size", param_hint="--size")
    spec = make_spec(kind, param)
    inst = load_instance(kind, instance, "INSTANCE") if instance is not None else \
        make_instance(kind, seed, size)
    if weights is not None:
        inst = with_weights(inst, weights)
    try:
        known = methods(spec, inst)
    except PluginError:  # a plug-in's builder returned no program: a bug (exit 1), not input
        raise
    except Exception as exc:  # noqa: BLE001 - an instance the spec cannot take
        raise typer.BadParameter(f"the instance does not fit problem {problem}: "
                                 f"{one_line(exc)}", param_hint="INSTANCE") from None
    method = method or kind.reference or (known[0] if known else "highs")
    check_method(method, known, problem)
    opts = solve_options(time_limit, mip_gap, threads)
    with banners_to_stderr():
        res = run_method(inst, spec, method, options=opts, seed=seed)
        metrics = res.metrics
        if metrics is None and res.allocation is not None and res.has_solution:
            metrics = evaluate(inst, res.allocation, spec)
    typer.echo(solve_report(res, metrics, problem, method))
    if out is not None:
        with writing_out(out):
            summary_path = write_result_csv(out, res, metrics, method=method)
        typer.echo(f"wrote {out} and {summary_path}")
    term = str(res.termination)
    if not res.has_solution or term in ("unverified", "error"):
        code = _EXIT_BY_TERMINATION.get(term, EXIT_LIMIT)
        why = " ".join(str(res.message or "").split())
        raise SolveExit(code, f"{problem} with {method}: termination {term}, "
                              f"{'no solution' if not res.has_solution else 'not verified'}"
                              + (f" ({why})" if why else ""))


# ---------------------------------------------------------------------------------- bench
@app.command()
def bench(
    suite: Annotated[str, typer.Argument(help="Shipped suite name (quick, full, ...) or a .toml "
                                         "path.", metavar="SUITE")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Results CSV (rows appended as cases "
                                      "finish; locked while a run writes it).")],
    workers: Annotated[int | None, typer.Option(
        "--workers", "-j", min=0, max=1024, help="Worker processes (default: CPU count; "
        "0: in-process, no wall timeout). With --dask-local: Dask workers.")] = None,
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", help="Dask scheduler address, e.g. tcp://host:8786 (checked first: "
        "fails within --connect-timeout when unreachable).")] = None,
    dask_local: Annotated[bool, typer.Option("--dask-local", help="Run on a local Dask "
                                             "cluster.")] = False,
    connect_timeout: Annotated[float, typer.Option(
        "--connect-timeout", parser=finite(0.1, 600.0),
        help="Seconds to reach --scheduler (0.1 to 600).")] = 5.0,
    resume: Annotated[bool, typer.Option("--resume", help="Skip cases already in --out.")] =
        False,
    retry_failed: Annotated[bool, typer.Option(
        "--retry-failed", help="With --resume: rerun cases whose last row is error, timeout or "
        "crashed (a new row is appended; the last row per case counts).")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out.")] =
        False,
    only: Annotated[list[str] | None, typer.Option(
        "--only", help="Run only cases whose key contains this text (repeatable; any match).")]
        = None,
    exclude: Annotated[list[str] | None, typer.Option(
        "--exclude", help="Skip cases whose key contains this text (repeatable).")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress on "
                                           "stderr: a bar on a terminal, else a line every 10 "
                                           "cases or 30 s.")] = True,
) -> None:
    """Run a benchmark suite, append one CSV row per case and print a summary table."""
    from .batch import SuiteError, check_scheduler, expand, load_suite, run_suite
    from .export import SUMMARY_COLUMNS, check_results_file, format_table, read_rows, summarize

    if scheduler and dask_local:
        raise typer.BadParameter("give either --scheduler or --dask-local",
                                 param_hint="--scheduler")
    if resume and overwrite:
        raise typer.BadParameter("give either --resume or --overwrite", param_hint="--resume")
    if retry_failed and not resume:
        raise typer.BadParameter("--retry-failed needs --resume", param_hint="--retry-failed")
    if not math.isfinite(connect_timeout):
        raise typer.BadParameter("must be finite", param_hint="--connect-timeout")
    check_out_file(out, "--out", replaces=False)  # bench: --resume / --overwrite
    check_results_file(out, for_writing=True)  # a foreign file: refused (exit 2), untouched
    if scheduler:  # fail fast, before the suite's families are imported
        check_scheduler(scheduler, connect_timeout)
    if out.exists() and out.stat().st_size and not (resume or overwrite):
        raise typer.BadParameter(f"{str(out)!r} exists: add --resume to skip recorded cases or "
                                 "--overwrite to replace it", param_hint="--out")
    try:
        s = load_suite(suite)
        cases = expand(s)
    except SuiteError as exc:
        raise typer.BadParameter(str(exc), param_hint="SUITE") from None
    check_patterns([c.key for c in cases], only=only or [], exclude=exclude or [])
    if only:
        cases = [c for c in cases if any(o in c.key for o in only)]
    if exclude:
        cases = [c for c in cases if not any(x in c.key for x in exclude)]
    if not cases:
        raise typer.BadParameter("no case left after --only / --exclude", param_hint="--only")
    about = f" ({s.description})" if s.description else ""
    quiet = _quiet()
    if not quiet:
        typer.echo(f"suite {s.name}: {len(cases)} cases{about}", err=True)
    with banners_to_stderr():
        rep = run_suite(s, out, workers=workers, scheduler=scheduler, dask_local=dask_local,
                        resume=resume, overwrite=overwrite, retry_failed=retry_failed,
                        progress=None if progress and not quiet else False, cases=cases,
                        connect_timeout=connect_timeout)
    keys = {c.key for c in cases}
    rows = [r for r in read_rows(out) if r.get("key") in keys]
    typer.echo(format_table(summarize(rows), SUMMARY_COLUMNS))
    typer.echo(f"{rep.written} cases run ({rep.failed} failed to run), {rep.skipped} already "
               f"recorded, {rep.seconds:.1f} s wall; rows in {out}")


@app.command()
def summary(
    results: Annotated[Path, typer.Argument(help="Results CSV written by `aigc-opt bench`.",
                                            metavar="RESULTS")],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Write the summary table as CSV.")] = None,
    rows_out: Annotated[Path | None, typer.Option(
        "--rows-out", help="Write every row with ref_objective, ratio_to_ref and excess_to_ref "
        "added.")] = None,
) -> None:
    """Print the per problem and method summary of a results CSV (ratios to the reference)."""
    from .cli_util import SUMMARY_NEEDS
    from .export import (
        RATIO_COLUMNS,
        SUMMARY_COLUMNS,
        add_ratios,
        format_table,
        read_header,
        summarize,
        write_table,
    )
    from .results_io import read_rows  # every cell checked, as results.load does

    check_in_file(results, "RESULTS")
    check_out_file(out, "--out", (results,))
    check_out_file(rows_out, "--rows-out", (results, out))
    rows = read_rows(results)
    require_columns(results, SUMMARY_NEEDS, "summary")  # else ratios read '-', silently
    table = summarize(rows)
    typer.echo(format_table(table, SUMMARY_COLUMNS))
    # no rows: the header alone still replaces an old file (its numbers would read as current)
    row_columns = (*(read_header(results) or ()), *RATIO_COLUMNS)
    for path, data, columns, hint in ((out, table, SUMMARY_COLUMNS, "--out"),
                                      (rows_out, add_ratios(rows), row_columns, "--rows-out")):
        if path is None:
            continue
        try:
            write_table(path, data, columns)
        except OSError as exc:
            raise typer.BadParameter(f"cannot write {str(path)!r}: {exc.strerror}",
                                     param_hint=hint) from None
        typer.echo(f"wrote {path}")


# ---------------------------------------------------------------------------------- plot
@app.command()
def plot(
    results: Annotated[Path, typer.Argument(help="Results CSV written by `aigc-opt bench`.",
                                            metavar="RESULTS")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the PNG files.")],
    pareto: Annotated[Path | None, typer.Option(
        "--pareto", help="Optional CSV of Pareto sweep points (one row per point).")] = None,
    x: Annotated[str | None, typer.Option("--x", help="Pareto x column.")] = None,
    y: Annotated[str | None, typer.Option("--y", help="Pareto y column.")] = None,
) -> None:
    """Plot solve time vs size, ratio to the optimum, Pareto fronts and caching cost over time."""
    import csv

    from . import plots
    from .results_io import read_rows
    from .validate import read_text

    check_in_file(results, "RESULTS")
    check_in_file(pareto, "--pareto")
    if (x or y) and pareto is None:
        raise typer.BadParameter("name the Pareto CSV they refer to", param_hint="--x/--y")
    if out.exists() and not out.is_dir():
        raise typer.BadParameter(f"{str(out)!r} is a file; give a directory for the PNGs",
                                 param_hint="--out")
    rows = read_rows(results)  # strict: a bad file fails before any directory is made
    if pareto is not None:  # (size cap and UTF-8, as every reader: validate.read_text)
        try:
            read_text(pareto, "Pareto CSV")
        except ValidationError as exc:
            raise typer.BadParameter(f"{pareto}: {exc.reason}", param_hint="--pareto") from None
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise typer.BadParameter(f"cannot create directory {str(out)!r}: {exc.strerror}",
                                 param_hint="--out") from None
    written: list[Path] = []
    try:
        with banners_to_stderr():
            written = plots.plot_results(rows, out)
            if pareto is not None:
                try:
                    written += plots.plot_pareto_csv(pareto, out, x=x, y=y)
                except KeyError as exc:
                    raise typer.BadParameter(str(exc.args[0]), param_hint="--x/--y") from None
                except (UnicodeDecodeError, csv.Error, ValueError) as exc:
                    raise typer.BadParameter(f"{pareto}: cannot read: {one_line(exc)}",
                                             param_hint="--pareto") from None
    finally:
        if created and not written and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # a failed or empty run leaves no empty directory it made
    for p in written:
        typer.echo(str(p))
    if not written:
        typer.echo("nothing to plot (no rows with solutions)", err=True)


@app.command()
def report(
    results: Annotated[list[Path], typer.Argument(
        help="Results CSV(s) written by `aigc-opt bench`.", metavar="RESULTS...")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Report directory: index.html, PNG "
                                      "figures, summary.csv, results.parquet.")],
    pareto: Annotated[Path | None, typer.Option(
        "--pareto", help="Optional CSV of Pareto sweep points (one row per point).")] = None,
) -> None:
    """Write every figure, the summary tables and an index.html that shows them."""
    from .report import write_report

    for path in results:
        check_in_file(path, "RESULTS")
    check_in_file(pareto, "--pareto")
    if out.exists() and not out.is_dir():
        raise typer.BadParameter(f"{str(out)!r} is a file; give a directory",
                                 param_hint="--out")
    with banners_to_stderr():
        index = write_report(results, out, pareto=pareto)
    typer.echo(str(index))


# ---------------------------------------------------------------------------------- dataset
dataset_app = typer.Typer(help="Write certified label data sets (exact optima) for learning.",
                          no_args_is_help=True, rich_markup_mode=None)
app.add_typer(dataset_app, name="dataset")


@dataset_app.command("wpmec")
def dataset_wpmec(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file: .npz, or .mat in DROO's "
                                      "layout (input_h, output_mode, output_obj, ...).")],
    users: Annotated[int, typer.Option("--users", "-n", min=1, max=100_000,
                                       help="Devices N.")] = 10,
    frames: Annotated[int, typer.Option("--frames", "-f", min=1, max=10_000_000,
                                        help="Frames F (Rayleigh channel draws).")] = 1000,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Random seed.")] = 0,
    rel_gap: Annotated[float, typer.Option("--rel-gap", parser=finite(0.0, 1.0),
                                           help="Certified relative gap, 0..1.")] = 1e-6,
    channel: Annotated[str, typer.Option("--channel", help="Channel profile: droo_code, or "
                                         "droo_data (DROO's published data sets).")] = "droo_code",
) -> None:
    """Certified WPMEC labels: channel, optimal mode, optimal rate, bound and gap per frame."""
    from .gym.datasets import save_labels, wpmec_labels
    from .problems.wpmec import CHANNEL_PROFILES

    check_out_file(out, "--out", suffixes=(".npz", ".mat"))
    if channel not in CHANNEL_PROFILES:
        raise typer.BadParameter(f"unknown channel profile {channel!r}; choose from "
                                 f"{', '.join(sorted(CHANNEL_PROFILES))}", param_hint="--channel")
    labels = wpmec_labels(users, frames, seed=seed, rel_gap=rel_gap, channel_profile=channel)
    with writing_out(out):
        save_labels(labels, out)
    typer.echo(f"wrote {out}: {labels.n_frames} frames x {labels.n_users} users, "
               f"worst certified gap {float(labels.gap.max()):.3g}")


@dataset_app.command("check")
def dataset_check(
    file: Annotated[Path, typer.Argument(help="Label file: DROO-layout .mat (input_h, "
                                         "output_mode, output_obj, ...) or a .npz from "
                                         "'dataset wpmec'.")],
    weights: Annotated[str, typer.Option("--weights", help="Comma-separated rate weights per "
                                         "device (default: the file's, else DROO's 1,1.5,...)."
                                         )] = "",
    tol: Annotated[float, typer.Option("--tol", parser=finite(1e-6, 1.0),
                                       help="Relative tolerance, 1e-6..1.")] = 1e-6,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="CSV of the frames that "
                                             "disagree (frame, verdict, values).")] = None,
) -> None:
    """Certify or refute every label of a WPMEC data set (e.g. DROO's published data_10.mat).

    Each frame is solved exactly (certified gap <= 1e-6) and each labelled mode valued by the
    exact inner solver: 'suboptimal' frames have a better mode, 'overstated' ones a stated rate
    above the proven bound.
    """
    from .gym.datasets import check_labels, load_labels

    if out is not None:
        check_out_file(out, "--out", (file,))
    w = None
    if weights.strip():
        try:
            w = [float(v) for v in weights.split(",")]
        except ValueError:
            raise typer.BadParameter(f"{weights!r}: use comma-separated numbers",
                                     param_hint="--weights") from None
    chk = check_labels(load_labels(file), weights=w, tol=tol)
    typer.echo("\n".join([chk.report(), *label_notes(chk.stated, chk.stated_time)]))
    if out is not None:
        with writing_out(out):
            n_bad = chk.write_csv(out)
        typer.echo(f"wrote {out}: {n_bad} frames that disagree")


# ---------------------------------------------------------------------------------- list
@app.command("list")
def list_() -> None:
    """List problems and their methods, backends with availability, and shipped suites."""
    from .backend import backends
    from .batch import load_kinds, suite_names
    from .export import format_table

    kinds, errors = load_kinds()
    rows = []
    for name, kind in sorted(kinds.items()):
        rows.append({"problem": name, "reference": kind.reference or "-",
                     "methods": _methods_cell(kind), "description": kind.description})
    typer.echo(format_table(rows, ["problem", "reference", "methods", "description"]))
    for mod, err in errors.items():
        typer.echo(f"warning: {mod} failed to import: {err}", err=True)
    typer.echo("")
    brows = [{"backend": k, "available": "yes" if v["available"] else "no",
              "kinds": ", ".join(v["kinds"]), "requires": ", ".join(v["requires"])}
             for k, v in backends().items()]
    typer.echo(format_table(brows, ["backend", "available", "kinds", "requires"]))
    typer.echo("")
    typer.echo("suites: " + ", ".join(suite_names()))


def _methods_cell(kind: Any) -> str:
    """The ``methods`` cell of ``list`` for ``kind`` on its default spec and instance, or why
    there is none: a spec that needs parameters, or a ValidationError from the generator or
    from ``methods``; any other exception of the generator is its bug, said as such (it read
    "needs parameters: generator exploded")."""
    from .solve import methods

    try:
        spec = kind.make_spec()
    except Exception as exc:  # noqa: BLE001 - a spec that needs parameters
        return f"(needs parameters: {one_line(exc)})"
    stage = "instance generator"
    try:
        instance = kind.make_instance(0)
        stage = "listing its methods"
        return ", ".join(methods(spec, instance))
    except ValidationError as exc:
        return f"(needs parameters: {one_line(exc)})"
    except Exception as exc:  # noqa: BLE001 - one broken kind must not hide the list
        return f"({stage} failed: {type(exc).__name__}: {' '.join(str(exc).split())})"


# ---------------------------------------------------------------------------------- main
def _fail(message: str, code: int) -> int:
    text = " ".join(str(message).split()) or "failed"
    sys.stderr.write(f"Error: {text}\n")
    sys.stderr.flush()
    return code


def _click_message(exc: click_exc.ClickException) -> str:
    msg = exc.format_message()
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click_exc.UsageError) and ctx is not None and not isinstance(
            exc, click_exc.BadParameter | click_exc.MissingParameter):
        return f"{ctx.command_path}: {msg} (see --help)"
    return msg


def main(argv: list[str] | None = None) -> int:
    """Run ``aigc-opt`` and return its exit status (see :data:`EXIT_CODES`).

    Every failure prints one line ``Error: ...`` on stderr; set ``AIGC_OPT_DEBUG=1`` to get
    the traceback of an unexpected error instead.
    """
    import signal
    import threading
    import warnings

    loggers = [logging.getLogger(n) for n in ("aigc_opt", "distributed", "tornado", "asyncio")]
    saved = [(list(lg.handlers), lg.level) for lg in loggers]
    # SIGTERM (kill, timeout, a CI cancel) ends a run as Ctrl-C does: workers stopped, lock gone
    old_term = signal.signal(signal.SIGTERM, signal.default_int_handler) \
        if threading.current_thread() is threading.main_thread() else None
    try:
        with warnings.catch_warnings():
            return _main(sys.argv[1:] if argv is None else list(argv))
    finally:  # in-process callers (tests) get their logging and signal handler back
        for lg, (handlers, level) in zip(loggers, saved, strict=True):
            lg.handlers[:] = handlers
            lg.setLevel(level)
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


def _main(args: list[str]) -> int:
    debug = bool(os.environ.get("AIGC_OPT_DEBUG"))
    try:
        rv = app(args=args, prog_name="aigc-opt", standalone_mode=False)
        if rv == 130:  # Typer turns a KeyboardInterrupt into Exit(130), returned here
            return _fail("interrupted", 130)
        return rv if isinstance(rv, int) else EXIT_OK
    except click_exc.NoArgsIsHelpError as exc:
        if exc.ctx is not None:
            typer.echo(exc.ctx.get_help())
        return _fail(f"{exc.ctx.command_path if exc.ctx else 'aigc-opt'}: missing command "
                     "(see the list above)", EXIT_USAGE)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        return _fail("aborted", 130)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except click_exc.ClickException as exc:
        return _fail(_click_message(exc), EXIT_USAGE)
    except SystemExit as exc:  # a library calling sys.exit
        code = exc.code if isinstance(exc.code, int) else EXIT_INTERNAL
        return code
    except Exception as exc:  # noqa: BLE001 - the error contract: one line, a status
        code = exit_code_of(exc)
        if debug:
            raise
        if code == EXIT_INTERNAL:
            logger.debug("internal error", exc_info=True)
            return _fail(f"internal error: {one_line(exc)} (run with AIGC_OPT_DEBUG=1 for "
                         "the traceback)", code)
        if isinstance(exc, OSError) and exc.filename:
            return _fail(f"{exc.filename}: {exc.strerror or exc}", code)
        return _fail(one_line(exc) if code == EXIT_INTERNAL else str(exc), code)


if __name__ == "__main__":
    sys.exit(main())
