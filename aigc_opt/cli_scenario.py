"""``aigc-opt scenario``: generate and inspect scenario files (part of :mod:`aigc_opt.cli`,
whose :func:`~aigc_opt.cli.main` runs these commands under its error contract)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .cli_paths import check_in_file, check_out_file, writing_out
from .cli_util import finite

scenario_app = typer.Typer(help="Generate and inspect scenario files.", no_args_is_help=True,
                           rich_markup_mode=None)


@scenario_app.command("generate")
def scenario_generate(
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="Output file: .json (exact, small scenarios) or .npz (binary).")],
    users: Annotated[int, typer.Option("--users", "-n", min=1, help="Number of users N.")] = 20,
    servers: Annotated[int, typer.Option("--servers", "-s", min=1, help="Edge servers S.")] = 3,
    models: Annotated[int, typer.Option("--models", "-m", min=1, help="Models M.")] = 4,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Random seed.")] = 0,
    profile: Annotated[str, typer.Option("--profile", "-p", help="Parameter profile.")] =
        "edge_aigc",
    load: Annotated[float | None, typer.Option(
        "--load", parser=finite(gt=0.0),
        help="Target utilisation the network is sized to (default: the profile's, 0.7).")] =
        None,
    fixed_capacity: Annotated[bool, typer.Option(
        "--fixed-capacity", help="Keep the profile's fixed per-server capacities (no --load).")
        ] = False,
    links: Annotated[int | None, typer.Option(
        "--links", min=1, help="Store the channel sparsely: each user hears its k nearest "
        "servers (memory linear in users).")] = None,
    max_entries: Annotated[int | None, typer.Option(
        "--max-entries", min=1, help="Largest array the generator may build (default 1e7 "
        "entries).")] = None,
) -> None:
    """Generate a seeded scenario from a parameter profile and save it (.json or .npz)."""
    from .errors import ValidationError
    from .profiles import PROFILES
    from .scenario import Scenario

    if profile not in PROFILES:
        raise typer.BadParameter(f"unknown profile {profile!r}; choose from "
                                 f"{', '.join(sorted(PROFILES))}", param_hint="--profile")
    if fixed_capacity and load is not None:
        raise typer.BadParameter("give either --load or --fixed-capacity",
                                 param_hint="--fixed-capacity")
    check_out_file(out, "--out")
    if out.suffix.lower() not in (".json", ".npz"):
        raise typer.BadParameter(f"{str(out)!r}: a scenario file ends in .json or .npz "
                                 f"(not {out.suffix or 'no suffix'!r})", param_hint="--out")
    try:
        scn = Scenario.generate(users, servers, models, seed=seed, profile=profile,
                                load=None if fixed_capacity else
                                ("profile" if load is None else load),
                                links=links, max_entries=max_entries)
    except ValidationError as exc:  # said with the command line's options
        hint = _hint(exc)
        raise typer.BadParameter(str(exc).replace("pass max_entries=...",
                                                  "pass --max-entries ..."),
                                 param_hint=hint) from None
    with writing_out(out):
        scn.save(out)
    typer.echo(f"wrote {out}: N={scn.n_users} S={scn.n_servers} M={scn.n_models} "
               f"digest={scn.digest()}")


_OPTION = {"n_users": "--users", "n_servers": "--servers", "n_models": "--models",
           "load": "--load", "links": "--links", "max_entries": "--max-entries",
           "profile": "--profile", "seed": "--seed"}


def _hint(exc: Exception) -> str:
    """The options a generator error is about: the field's own option, or for a field derived
    from the arguments (``ValidationError.derived_from``) every option it was derived from."""
    field = getattr(exc, "field", "")
    if field in _OPTION:
        return _OPTION[field]
    named = [_OPTION[a] for a in getattr(exc, "derived_from", ()) if a in _OPTION]
    return "/".join(named) if named else "--users/--servers/--models"


@scenario_app.command("show")
def scenario_show(
    path: Annotated[Path, typer.Argument(help="Scenario file (.json or .npz).",
                                         metavar="SCENARIO")],
) -> None:
    """Print a scenario's sizes, digest and each field's range with its unit."""
    import numpy as np

    from .errors import ValidationError
    from .export import format_table
    from .scenario import Scenario
    from .schema import SCHEMA

    check_in_file(path, "SCENARIO")
    try:
        scn = Scenario.load(path)
    except ValidationError as exc:
        raise typer.BadParameter(str(exc), param_hint="SCENARIO") from None
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
