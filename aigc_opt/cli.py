"""``aigc-opt`` command line: scenarios, single solves, benchmark suites, plots, listings.

Built on Typer (Click). User errors (a bad option value, a missing file, an unknown problem)
print one line naming the argument and exit with a non-zero status, without a traceback; set
``AIGC_OPT_DEBUG=1`` to see the traceback.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

logger = logging.getLogger(__name__)

app = typer.Typer(
    name="aigc-opt",
    help="Exact optimisation baselines for generative AI in mobile edge networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
scenario_app = typer.Typer(help="Generate and inspect scenario files.", no_args_is_help=True)
app.add_typer(scenario_app, name="scenario")


class UserError(Exception):
    """An error in what the user asked for (printed without a traceback)."""


def _parse_pairs(pairs: list[str] | None, option: str) -> dict[str, Any]:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}`` (values parsed as JSON when they can be)."""
    out: dict[str, Any] = {}
    for item in pairs or []:
        if "=" not in item:
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=option)
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            out[k.strip()] = v
    return out


# ---------------------------------------------------------------------------------- scenario
@scenario_app.command("generate")
def scenario_generate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output JSON file.")],
    users: Annotated[int, typer.Option("--users", "-n", min=1, help="Number of users N.")] = 20,
    servers: Annotated[int, typer.Option("--servers", "-s", min=1, help="Edge servers S.")] = 3,
    models: Annotated[int, typer.Option("--models", "-m", min=1, help="Models M.")] = 4,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    profile: Annotated[str, typer.Option("--profile", "-p", help="Parameter profile.")] =
        "edge_aigc",
) -> None:
    """Generate a seeded scenario from a parameter profile and save it as JSON."""
    from .profiles import PROFILES
    from .scenario import Scenario

    if profile not in PROFILES:
        raise typer.BadParameter(f"unknown profile {profile!r}; choose from "
                                 f"{', '.join(sorted(PROFILES))}", param_hint="--profile")
    scn = Scenario.generate(users, servers, models, seed=seed, profile=profile)
    try:
        scn.save(out)
    except OSError as exc:
        raise typer.BadParameter(f"cannot write {str(out)!r}: {exc}", param_hint="--out") from exc
    typer.echo(f"wrote {out}: N={scn.n_users} S={scn.n_servers} M={scn.n_models} "
               f"digest={scn.digest()}")


def _load_scenario(path: Path, hint: str = "SCENARIO") -> Any:
    from .errors import ValidationError
    from .scenario import Scenario

    if not path.is_file():
        raise typer.BadParameter(f"file {str(path)!r} not found", param_hint=hint)
    try:
        return Scenario.load(path)
    except ValidationError as exc:
        raise typer.BadParameter(str(exc), param_hint=hint) from exc


@scenario_app.command("show")
def scenario_show(
    path: Annotated[Path, typer.Argument(help="Scenario JSON file.", metavar="SCENARIO")],
) -> None:
    """Print a scenario's sizes, digest and each field's range with its unit."""
    import numpy as np

    from .export import format_table
    from .schema import SCHEMA

    scn = _load_scenario(path)
    typer.echo(f"{path}: N={scn.n_users} users, S={scn.n_servers} servers, "
               f"M={scn.n_models} models, digest {scn.digest()}")
    rows = []
    for spec in SCHEMA:
        v = getattr(scn, spec.name)
        if isinstance(v, np.ndarray) and v.dtype.kind in "fiu" and v.size:
            rows.append({"field": spec.name, "unit": spec.unit, "shape": "x".join(
                map(str, v.shape)), "min": float(v.min()), "mean": float(v.mean()),
                "max": float(v.max())})
        elif not isinstance(v, np.ndarray):
            rows.append({"field": spec.name, "unit": spec.unit, "shape": "-", "min": v,
                         "mean": v, "max": v})
    typer.echo(format_table(rows, ["field", "unit", "shape", "min", "mean", "max"]))


# ---------------------------------------------------------------------------------- solve
@app.command()
def solve(
    scenario: Annotated[Path | None, typer.Argument(
        help="Scenario JSON file (omit to generate the problem's instance from --size/--seed).",
        metavar="SCENARIO")] = None,
    problem: Annotated[str, typer.Option("--problem", help="Problem (see `aigc-opt list`).")] =
        "offloading.assignment",
    method: Annotated[str, typer.Option("--method", help="Backend, algorithm or heuristic.")] =
        "highs",
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Per-user allocation and metrics CSV (a .summary.csv is written "
        "beside it).")] = None,
    param: Annotated[list[str] | None, typer.Option(
        "--param", help="Spec parameter KEY=VALUE (JSON values), repeatable.")] = None,
    size: Annotated[list[str] | None, typer.Option(
        "--size", help="Instance size KEY=VALUE when no SCENARIO is given, repeatable.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Instance / heuristic seed.")] = 0,
    time_limit: Annotated[float | None, typer.Option("--time-limit", min=0.001,
                                                     help="Solver time limit, s.")] = None,
    mip_gap: Annotated[float | None, typer.Option("--mip-gap", min=0.0,
                                                  help="Relative MIP gap.")] = None,
) -> None:
    """Solve one instance with one method, print a summary and optionally write CSVs."""
    from .backend import SolveOptions
    from .batch import load_kinds
    from .export import format_table, metrics_columns, write_result_csv
    from .metrics import evaluate
    from .solve import methods, run_method

    kinds, errors = load_kinds()
    if problem not in kinds:
        broken = "".join(f"; {m} failed to import: {e}" for m, e in errors.items())
        raise typer.BadParameter(f"unknown problem {problem!r}; known: "
                                 f"{', '.join(sorted(kinds))}{broken}", param_hint="--problem")
    kind = kinds[problem]
    try:
        spec = kind.make_spec(**_parse_pairs(param, "--param"))
    except (TypeError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--param") from exc
    if scenario is not None:
        instance = _load_scenario(scenario)
    else:
        try:
            instance = kind.make_instance(seed, **_parse_pairs(size, "--size"))
        except (TypeError, ValueError) as exc:
            raise typer.BadParameter(str(exc), param_hint="--size") from exc
    known = methods(spec, instance)
    if method not in known:
        raise typer.BadParameter(f"unknown method {method!r} for {problem}; known: "
                                 f"{', '.join(known)}", param_hint="--method")
    res = run_method(instance, spec, method,
                     options=SolveOptions(time_limit=time_limit, mip_gap=mip_gap), seed=seed)
    metrics = evaluate(instance, res.allocation, spec) if res.allocation is not None else None
    row: dict[str, Any] = {
        "problem": problem, "method": method, "termination": str(res.termination),
        "objective": res.objective, "bound": res.bound, "gap": res.gap,
        "build_s": res.stats.build_seconds, "solve_s": res.stats.solve_seconds,
    }
    typer.echo(format_table([row], list(row)))
    if metrics is not None:
        cols = metrics_columns(metrics)
        extra = json.loads(cols.pop("metrics_extra", "{}"))
        cols.pop("series", None)
        cols.update(extra)
        typer.echo(format_table([{"metric": k, "value": v} for k, v in cols.items()],
                                ["metric", "value"]))
    if res.message:
        typer.echo(f"message: {res.message}")
    if out is not None:
        summary = write_result_csv(out, res, metrics)
        typer.echo(f"wrote {out} and {summary}")
    if not res.has_solution:
        raise typer.Exit(3)


# ---------------------------------------------------------------------------------- bench
@app.command()
def bench(
    suite: Annotated[str, typer.Argument(help="Shipped suite name (quick, full, ...) or a .toml "
                                         "path.", metavar="SUITE")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Results CSV (rows appended as cases "
                                      "finish).")],
    workers: Annotated[int | None, typer.Option(
        "--workers", "-j", min=0, help="Worker processes (default: CPU count; 0: in-process). "
        "With --dask-local: Dask workers.")] = None,
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", help="Dask scheduler address, e.g. tcp://host:8786.")] = None,
    dask_local: Annotated[bool, typer.Option("--dask-local", help="Run on a local Dask "
                                             "cluster.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Skip cases already in --out.")] =
        False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out.")] =
        False,
    only: Annotated[list[str] | None, typer.Option(
        "--only", help="Run only cases whose key contains this text (repeatable; any match).")]
        = None,
    exclude: Annotated[list[str] | None, typer.Option(
        "--exclude", help="Skip cases whose key contains this text (repeatable).")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar "
                                           "(default: on when stderr is a terminal).")] = True,
) -> None:
    """Run a benchmark suite, append one CSV row per case and print a summary table."""
    from .batch import SuiteError, expand, load_suite, run_suite
    from .export import SUMMARY_COLUMNS, format_table, read_rows, summarize

    if scheduler and dask_local:
        raise typer.BadParameter("give either --scheduler or --dask-local",
                                 param_hint="--scheduler")
    if resume and overwrite:
        raise typer.BadParameter("give either --resume or --overwrite", param_hint="--resume")
    try:
        s = load_suite(suite)
        cases = expand(s)
    except SuiteError as exc:
        raise typer.BadParameter(str(exc), param_hint="SUITE") from exc
    if only:
        cases = [c for c in cases if any(o in c.key for o in only)]
    if exclude:
        cases = [c for c in cases if not any(x in c.key for x in exclude)]
    if not cases:
        raise typer.BadParameter("no case left after --only / --exclude", param_hint="--only")
    if out.exists() and out.stat().st_size and not (resume or overwrite):
        raise typer.BadParameter(f"{str(out)!r} exists: add --resume to skip recorded cases or "
                                 "--overwrite to replace it", param_hint="--out")
    if not out.parent.exists():
        raise typer.BadParameter(f"directory {str(out.parent)!r} does not exist",
                                 param_hint="--out")
    about = f" ({s.description})" if s.description else ""
    typer.echo(f"suite {s.name}: {len(cases)} cases{about}", err=True)
    rep = run_suite(s, out, workers=workers, scheduler=scheduler, dask_local=dask_local,
                    resume=resume, overwrite=overwrite,
                    progress=None if progress else False, cases=cases)
    keys = {c.key for c in cases}
    rows = [r for r in read_rows(out) if r.get("key") in keys]
    typer.echo(format_table(summarize(rows), SUMMARY_COLUMNS))
    typer.echo(f"{rep.written} cases run, {rep.skipped} already recorded, "
               f"{rep.seconds:.1f} s wall; rows in {out}")


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
    import csv

    from .export import SUMMARY_COLUMNS, add_ratios, format_table, read_rows, summarize

    if not results.is_file():
        raise typer.BadParameter(f"file {str(results)!r} not found", param_hint="RESULTS")
    rows = read_rows(results)
    table = summarize(rows)
    typer.echo(format_table(table, SUMMARY_COLUMNS))
    for path, data in ((out, table), (rows_out, add_ratios(rows))):
        if path is None or not data:
            continue
        with open(path, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(data[0]), lineterminator="\n")
            w.writeheader()
            w.writerows(data)
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
    from . import plots

    for path, hint in ((results, "RESULTS"), (pareto, "--pareto")):
        if path is not None and not path.is_file():
            raise typer.BadParameter(f"file {str(path)!r} not found", param_hint=hint)
    out.mkdir(parents=True, exist_ok=True)
    written = plots.plot_results(results, out)
    if pareto is not None:
        try:
            written += plots.plot_pareto_csv(pareto, out, x=x, y=y)
        except KeyError as exc:
            raise typer.BadParameter(str(exc.args[0]), param_hint="--x/--y") from exc
    for p in written:
        typer.echo(str(p))
    if not written:
        typer.echo("nothing to plot (no rows with solutions)", err=True)


# ---------------------------------------------------------------------------------- list
@app.command("list")
def list_() -> None:
    """List problems and their methods, backends with availability, and shipped suites."""
    from .backend import backends
    from .batch import load_kinds, suite_names
    from .export import format_table
    from .solve import methods

    kinds, errors = load_kinds()
    rows = []
    for name, kind in sorted(kinds.items()):
        try:
            ms = ", ".join(methods(kind.make_spec(), kind.make_instance(0)))
        except Exception as exc:  # a spec that needs parameters
            ms = f"(needs parameters: {exc})"
        rows.append({"problem": name, "reference": kind.reference or "-", "methods": ms,
                     "description": kind.description})
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


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``aigc-opt``: user errors exit non-zero with a one-line message."""
    from .batch import SuiteError
    from .errors import BackendUnavailableError, ValidationError

    try:
        app(args=argv, prog_name="aigc-opt")
    except (SuiteError, ValidationError, BackendUnavailableError, UserError) as exc:
        if os.environ.get("AIGC_OPT_DEBUG"):
            raise
        typer.echo(f"Error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
