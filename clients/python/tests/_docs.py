"""The copy-paste examples of docs/integrations.md, for the tests that run them."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[3] / "docs" / "integrations.md"


def example(name: str) -> str:
    for m in re.finditer(r"```python\n(.*?)```", DOC.read_text(), re.S):
        if m.group(1).startswith(f"# example: {name}\n"):
            return m.group(1)
    raise AssertionError(f"docs/integrations.md has no example {name!r}")


def run_example(name: str, replace: dict[str, str], cwd: str | os.PathLike | None = None,
                namespace: dict | None = None) -> str:
    """Run an example with only its addresses replaced; returns what it
    printed (its globals are left in ``namespace``)."""
    code = example(name)
    for a, b in replace.items():
        assert a in code, (name, a)
        code = code.replace(a, b)
    out = io.StringIO()
    old = os.getcwd()
    try:
        if cwd:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out):
            ns = namespace if namespace is not None else {}
            ns["__name__"] = "__docs__"
            exec(compile(code, f"docs/integrations.md:{name}", "exec"), ns)
    finally:
        os.chdir(old)
    return out.getvalue()
