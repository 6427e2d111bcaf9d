"""A canvas for trainer adapters: the one the user names, or one started here.

:func:`canvas_address` answers the address the TRL, OpenEnv and verl
adapters talk to: the argument when given, else ``$FLOWSTEER_CANVAS``, else
a ``flowsteer serve --services canvas`` that this process starts on a free
loopback port (once per process, stopped when the process exits). The Go
binary is ``$FLOWSTEER_BIN``, else ``flowsteer`` on ``PATH``.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

START_TIMEOUT = 60.0
_ADDR_LINE = re.compile(rb'msg="flowsteer serving" addr=(\S+)')


class LocalCanvas:
    """A ``flowsteer serve --services canvas`` child process on loopback."""

    def __init__(self, binary: str | None = None, extra_args: list[str] | tuple[str, ...] = ()):
        binary = binary or os.environ.get("FLOWSTEER_BIN") or shutil.which("flowsteer")
        if not binary:
            raise FileNotFoundError(
                "no canvas address and no flowsteer binary: pass canvas='HOST:PORT', set FLOWSTEER_CANVAS, "
                "or put the flowsteer binary on PATH (or FLOWSTEER_BIN); build it with `make build`")
        self.dir = tempfile.mkdtemp(prefix="flowsteer-canvas-")
        self.log_path = os.path.join(self.dir, "serve.log")
        self._log = open(self.log_path, "wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") or k == "OTEL_EXPORTER_OTLP_ENDPOINT"}
        self.proc = subprocess.Popen(
            [binary, "serve", "--services", "canvas", "--addr", "127.0.0.1:0", "--grace", "2s", *extra_args],
            stdout=subprocess.DEVNULL, stderr=self._log, cwd=self.dir, env=env)
        self.addr = self._wait_addr()

    def _wait_addr(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            with open(self.log_path, "rb") as f:
                m = _ADDR_LINE.search(f.read())
            if m:
                return m.group(1).decode()
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        with open(self.log_path, errors="replace") as f:
            raise RuntimeError("flowsteer serve did not start; its log:\n" + f.read()[-4000:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


_lock = threading.Lock()
_local: LocalCanvas | None = None


def local_canvas() -> LocalCanvas:
    """The process's own canvas, started on first use."""
    global _local
    with _lock:
        if _local is None or _local.proc.poll() is not None:
            _local = LocalCanvas()
            atexit.register(_local.stop)
        return _local


def canvas_address(addr: str | None = None) -> str:
    """``addr``, else ``$FLOWSTEER_CANVAS``, else the address of a canvas
    started for this process."""
    return addr or os.environ.get("FLOWSTEER_CANVAS") or local_canvas().addr


__all__ = ["LocalCanvas", "local_canvas", "canvas_address"]
