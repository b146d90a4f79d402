"""Path checks of the command line: an output file that can be written and destroys no input
or results, an input file that exists, and write failures reported as usage errors of the
option that named the path."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import typer


@contextlib.contextmanager
def writing_out(path: Path, hint: str = "--out") -> Iterator[None]:
    """Turn a failure to write ``path`` (an OSError, or the library's ValidationError naming
    the path) into a usage error of option ``hint``, so every command reports it alike."""
    from .errors import ValidationError

    try:
        yield
    except OSError as exc:
        raise typer.BadParameter(f"cannot write {str(path)!r}: {exc.strerror or exc}",
                                 param_hint=hint) from None
    except ValidationError as exc:
        if exc.field != "path":
            raise
        raise typer.BadParameter(f"{str(exc.value)!r}: {exc.reason}", param_hint=hint) from None


def same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file (through links, ``..`` or a relative path)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except OSError:
        return False


def check_out_file(path: Path | None, hint: str, inputs: tuple[Path | None, ...] = (), *,
                   replaces: bool = True, suffixes: tuple[str, ...] = ()) -> None:
    """An output file path that can be written and is none of the command's ``inputs``
    (checked before any work is done: writing over an input would destroy it), with one of
    ``suffixes`` when given; a command that ``replaces`` its file may not write over a
    results CSV with rows."""
    if path is None:
        return
    if suffixes and path.suffix.lower() not in suffixes:
        raise typer.BadParameter(f"{str(path)!r}: use a {' or '.join(suffixes)} file name",
                                 param_hint=hint)
    for src in inputs:
        if src is not None and same_file(path, src):
            raise typer.BadParameter(f"{str(path)!r} is an input of this command "
                                     f"({str(src)!r}); give another file name", param_hint=hint)
    if path.is_dir():
        raise typer.BadParameter(f"{str(path)!r} is a directory; give a file name",
                                 param_hint=hint)
    parent = path.parent
    if not parent.is_dir():
        raise typer.BadParameter(f"directory {str(parent)!r} does not exist", param_hint=hint)
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise typer.BadParameter(f"{str(path)!r} is not writable", param_hint=hint)
    if replaces and _holds_result_rows(path):
        raise typer.BadParameter(
            f"{str(path)!r} holds aigc-opt result rows, which writing over it would lose; give "
            "another file name (or delete it first)", param_hint=hint)


def _holds_result_rows(path: Path) -> bool:
    """True when ``path`` is a results CSV with at least one row (only ``bench`` appends to
    one, with --resume; every other --out replaces its file)."""
    from . import export

    try:
        header = export.check_results_file(path)
    except (export.ForeignFileError, export.CsvFormatError):  # (not UTF-8: no results either)
        return False
    if header is None:
        return False
    with open(path, "rb") as fh:
        fh.readline()
        return bool(fh.readline().strip())


def check_in_file(path: Path | None, hint: str) -> None:
    """An input file named by option ``hint`` that exists, is a file and can be read."""
    if path is None:
        return
    if not path.exists():
        raise typer.BadParameter(f"file {str(path)!r} not found", param_hint=hint)
    if not path.is_file():
        raise typer.BadParameter(f"{str(path)!r} is not a file", param_hint=hint)
    if not os.access(path, os.R_OK):
        raise typer.BadParameter(f"{str(path)!r} is not readable", param_hint=hint)
