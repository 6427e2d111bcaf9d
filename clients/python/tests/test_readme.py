"""The README's "Use flowsteer from Python" example runs as written, against
a served canvas (only the address is changed)."""

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[3] / "README.md"


def snippet() -> str:
    text = README.read_text()
    section = text.split("## Use flowsteer from Python", 1)[1]
    m = re.search(r"```python\n(.*?)```", section, re.S)
    assert m, "no python block in the README section"
    return m.group(1)


def test_readme_example_runs(addr):
    code = snippet()
    assert len([l for l in code.splitlines() if l.strip()]) <= 10
    assert "127.0.0.1:50051" in code
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.replace("127.0.0.1:50051", addr), "README.md", "exec"), {})
    dsl, released, reward = out.getvalue().rsplit(" ", 2)
    assert dsl == "Plan -> [Programmer, AnswerGenerate, Custom] -> Review ? Revise : done -> Format"
    assert released == "True" and float(reward) in (0.0, 1.0)
