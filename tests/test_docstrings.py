"""Public API docstrings name every parameter in a numpydoc ``Parameters`` section.

The docs site renders them with mkdocstrings (``docstring_style: numpy``); a parameter missing
there is missing from the API pages. Every callable in ``aigc_opt.__all__`` is checked; of the
family packages only the objects in :data:`FAMILY_CHECKED` (those already brought up to the
rule; extend the list as more are).
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import inspect
import re
from typing import Any

import pytest

import aigc_opt

#: ``(module, name)`` of family objects held to the rule.
FAMILY_CHECKED: tuple[tuple[str, str], ...] = (
    ("aigc_opt.problems.iscc", "IsccPipelineSpec"),
    ("aigc_opt.problems.migration", "generate"),
    ("aigc_opt.problems.migration", "assemble"),
    ("aigc_opt.problems.allocation", "weight_sweep"),
    ("aigc_opt.problems.allocation", "epsilon_sweep"),
    ("aigc_opt.problems.allocation", "water_fill"),
    ("aigc_opt.problems.online", "simulate"),
    ("aigc_opt.problems.online", "EnvironmentProfile"),
    ("aigc_opt.problems.migration", "MigrationAllocation"),
    ("aigc_opt.problems.migration", "SlotAllocation"),
    ("aigc_opt.problems.migration", "SlotState"),
    ("aigc_opt.problems.migration", "MigrationSlot"),
    ("aigc_opt.problems.iscc", "IsccInstance"),
    *(("aigc_opt.problems." + f, n) for f, n in (
        ("offloading", "JointSpec"), ("offloading", "MulticellSpec"),
        ("offloading", "OffloadingSpec"), ("wpmec", "WpmecSpec"), ("allocation", "LlmSpec"),
        ("allocation", "StepsSpec"), ("caching", "CachingSpec"), ("incentives", "ContractSpec"),
        ("incentives", "MultiLeaderSpec"), ("online", "LyapunovSpec"), ("migration", "AgodSpec"),
        ("migration", "MigrationSpec"), ("iscc", "IsccSpec"), ("sizing", "SizingSpec"))),
)
_HEADER = re.compile(r"^([A-Z][A-Za-z ]+)\n-{3,}$", re.M)
_SKIP = ("self", "cls")


def sections(doc: str) -> dict[str, str]:
    """Section title -> body of a numpydoc docstring."""
    doc = inspect.cleandoc(doc)
    found = list(_HEADER.finditer(doc))
    return {m.group(1): doc[m.end():found[i + 1].start() if i + 1 < len(found) else len(doc)]
            for i, m in enumerate(found)}


def documented(obj: Any) -> set[str] | None:
    """Names in the ``Parameters`` / ``Other Parameters`` sections (``Attributes`` too for a
    dataclass); None when there is no such section."""
    secs = sections(obj.__doc__ or "")
    keys = ["Parameters", "Other Parameters"] + (["Attributes"] if dataclasses.is_dataclass(obj)
                                                 else [])
    bodies = [secs[k] for k in keys if k in secs]
    if not bodies:
        return None
    names: set[str] = set()
    for line in "\n".join(bodies).splitlines():
        if line.strip() and not line.startswith(" "):
            names.update(n.strip().lstrip("*") for n in line.split(" : ")[0].split(","))
    return names


def wanted(obj: Any) -> list[str]:
    """Signature parameters a docstring must name (``*args`` / ``**kw`` by their bare name)."""
    return [p for p in inspect.signature(obj).parameters if p not in _SKIP]


def checked(module: Any) -> list[tuple[str, Any]]:
    """The callables of ``module.__all__`` that take parameters (no exceptions, no enums:
    their signature is Python's)."""
    out = []
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name)
        if inspect.ismodule(obj) or not callable(obj):
            continue
        if inspect.isclass(obj) and issubclass(obj, (BaseException, enum.Enum)):
            continue
        try:
            if wanted(obj):
                out.append((f"{module.__name__}.{name}", obj))
        except (TypeError, ValueError):  # no introspectable signature
            continue
    return out


def missing(obj: Any) -> str:
    """What the docstring of ``obj`` lacks ('' when complete)."""
    names = documented(obj)
    if names is None:
        return "no Parameters section"
    gone = [p for p in wanted(obj) if p not in names]
    return f"undocumented: {gone}" if gone else ""


def test_core_public_callables_document_every_parameter() -> None:
    bad = {name: why for name, obj in checked(aigc_opt) if (why := missing(obj))}
    assert not bad, bad


@pytest.mark.parametrize(("module", "name"), FAMILY_CHECKED)
def test_fixed_family_objects_document_every_parameter(module: str, name: str) -> None:
    obj = getattr(importlib.import_module(module), name)
    assert name in importlib.import_module(module).__all__
    assert not missing(obj), missing(obj)
