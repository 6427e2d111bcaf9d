"""Fixtures: the flowsteer Go binary, served on loopback by the tests.

The binary is $FLOWSTEER_BIN when set (the Makefile builds it), else it is
built here with `go build` into a temporary directory. Servers listen on
127.0.0.1:0; the fixture reads the address from the log line
`msg="flowsteer serving" addr=...` and kills the process by its PID.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
START_TIMEOUT = 60.0


@pytest.fixture(scope="session")
def flowsteer_bin(tmp_path_factory) -> str:
    env_bin = os.environ.get("FLOWSTEER_BIN")
    if env_bin:
        assert os.access(env_bin, os.X_OK), f"FLOWSTEER_BIN={env_bin} is not an executable"
        return env_bin
    out = tmp_path_factory.mktemp("bin") / "flowsteer"
    subprocess.run(["go", "build", "-o", str(out), "./cmd/flowsteer"], cwd=REPO, check=True, timeout=600)
    return str(out)


class Served:
    """A running `flowsteer serve` process."""

    def __init__(self, binary: str, services: str, workdir: Path, extra: list[str] = ()):
        self.log_path = workdir / "serve.log"  # stderr: the slog lines
        self.stdout_path = workdir / "serve.out"  # stdout: spans with --trace-stdout
        self.runs_dir = workdir / "runs"
        self._log = open(self.log_path, "wb")
        self._out = open(self.stdout_path, "wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        self.proc = subprocess.Popen(
            [binary, "serve", "--services", services, "--addr", "127.0.0.1:0", "--runs-dir", str(self.runs_dir),
             "--grace", "2s", *extra],
            stdout=self._out,
            stderr=self._log,
            cwd=workdir,
            env=env,
        )
        self.addr = self._wait_addr()

    def _wait_addr(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        pat = re.compile(rb'msg="flowsteer serving" addr=(\S+)')
        while time.monotonic() < deadline:
            m = pat.search(self.log_path.read_bytes())
            if m:
                return m.group(1).decode()
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"flowsteer serve did not start; log:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()
        self._out.close()

    def spans(self) -> list[dict]:
        """The spans the server printed with --trace-stdout (JSON objects)."""
        import json

        text = self.stdout_path.read_text(errors="replace")
        dec, i, out = json.JSONDecoder(), 0, []
        while True:
            j = text.find("{", i)
            if j < 0:
                return out
            try:
                obj, i = dec.raw_decode(text, j)
            except ValueError:
                return out  # a span still being written
            if isinstance(obj, dict) and "SpanContext" in obj:
                out.append(obj)


def supports_trace_stdout(binary: str) -> bool:
    r = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True, timeout=60)
    return "--trace-stdout" in r.stdout + r.stderr


@pytest.fixture(scope="session")
def served(flowsteer_bin, tmp_path_factory):
    """Canvas and Trainer services of the Go binary (simulated executor)."""
    s = Served(flowsteer_bin, "canvas,trainer", tmp_path_factory.mktemp("serve"))
    yield s
    s.stop()


@pytest.fixture(scope="session")
def addr(served) -> str:
    return served.addr


@pytest.fixture
def canvas(addr):
    from flowsteer import CanvasClient

    c = CanvasClient(addr, timeout=30)
    yield c
    c.close()


MATH_TASK = {"id": "py-math-1", "question": "What is 6*7?", "answer": "42", "family": "math"}

# A workflow whose structure earns the full structure score (checker,
# Format, 6+ operators, a structure), so the correctness reward is released.
FULL_PLAN = [
    {"kind": "add", "operator": "Plan"},
    {"kind": "add", "structure": "parallel", "operators": ["Programmer", "AnswerGenerate", "Custom"]},
    {"kind": "add", "operator": "ScEnsemble"},
    {"kind": "add", "structure": "conditional", "condition": "Review", "if_true": "Revise", "if_false": "done"},
    {"kind": "add", "operator": "Format"},
    {"kind": "finish"},
]
