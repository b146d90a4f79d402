"""The README stays true: its Python example runs as written and its commands name real things."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_examples_run() -> None:
    """Every python block of the README runs as written, each in a fresh namespace."""
    code = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert code, "README has no python example"
    for i, block in enumerate(code):
        name = f"_readme_block_{i}"
        mod = types.ModuleType(name)  # a real module: dataclasses look their module up
        sys.modules[name] = mod
        try:
            exec(compile(block, f"{README}:block{i}", "exec"), mod.__dict__)
        finally:
            del sys.modules[name]


def test_readme_opens_with_two_commands_and_ci_runs_the_second() -> None:
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 2
    install_and_bench, tests = blocks[0].strip(), blocks[1].strip()
    assert "aigc-opt bench quick" in install_and_bench
    ci = (README.parent / ".ci" / "run").read_text()
    assert tests in ci, "CI must run the README's test command"
