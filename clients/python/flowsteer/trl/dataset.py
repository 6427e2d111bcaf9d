"""Task files as ``datasets.Dataset`` rows for TRL's trainers.

:func:`task_dataset` reads any task file flowsteer loads (GSM8K, MATH,
HotpotQA, MBPP, HumanEval, APPS, ... or flowsteer's own JSONL; the Go
loader reads it, through ``flowsteer tasks inspect --jsonl``) and returns
one row per task:

- ``prompt``: the conversational prompt TRL expects. For
  ``mode="environment"`` (``environment_factory``) it is one empty user
  message: ``CanvasEnvironment.reset`` returns the first observation and
  TRL appends it there. For ``mode="rollout"`` (``rollout_func``, which TRL
  gives only the prompts) the user message carries the task itself as
  ``<flowsteer-task>JSON</flowsteer-task>``; the rollout function opens the
  episode from it and shows the model the canvas's own rendering instead.
- ``task``: the task as flowsteer JSON (gold answers and hidden tests
  included: the canvas scores with them and never shows them).
- ``task_id``, ``family``: for filtering and logging.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from typing import Any

TASK_TAG = re.compile(r"<flowsteer-task>(.*?)</flowsteer-task>", re.S)


def load_tasks(path: str, *, format: str = "auto", binary: str | None = None) -> list[dict[str, Any]]:
    """The tasks of a file in any layout flowsteer loads, as flowsteer JSON dicts."""
    binary = binary or os.environ.get("FLOWSTEER_BIN") or shutil.which("flowsteer")
    if not binary:
        raise FileNotFoundError("the flowsteer binary reads task files: put it on PATH or set FLOWSTEER_BIN (make build)")
    r = subprocess.run([binary, "tasks", "inspect", "--jsonl", "--format", format, path],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise ValueError(f"flowsteer could not load {path}: {r.stderr.strip()}")
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def task_rows(tasks: Iterable[Mapping[str, Any]], *, mode: str = "environment") -> list[dict[str, Any]]:
    """Dataset rows (see the module doc) for tasks given as dicts."""
    if mode not in ("environment", "rollout"):
        raise ValueError(f"mode must be 'environment' or 'rollout', got {mode!r}")
    rows = []
    for t in tasks:
        text = json.dumps(dict(t), ensure_ascii=False, sort_keys=True)
        content = "" if mode == "environment" else f"<flowsteer-task>{text}</flowsteer-task>"
        rows.append({"prompt": [{"role": "user", "content": content}], "task": text,
                     "task_id": str(t.get("id", "")), "family": str(t.get("family", ""))})
    return rows


def task_dataset(source: str | Iterable[Mapping[str, Any]], *, mode: str = "environment", format: str = "auto",
                 binary: str | None = None):
    """A ``datasets.Dataset`` of the tasks in ``source`` (a file path in any
    layout flowsteer loads, or task dicts)."""
    from datasets import Dataset

    tasks = load_tasks(source, format=format, binary=binary) if isinstance(source, (str, os.PathLike)) else source
    return Dataset.from_list(task_rows(tasks, mode=mode))


def task_from_prompt(prompt: Any) -> dict[str, Any]:
    """The task carried by a ``mode="rollout"`` prompt (messages or text)."""
    text = prompt if isinstance(prompt, str) else "\n".join(
        m.get("content", "") for m in prompt if isinstance(m.get("content"), str))
    m = TASK_TAG.search(text)
    if not m:
        raise ValueError("the prompt carries no <flowsteer-task>: build the dataset with task_dataset(..., mode='rollout')")
    return json.loads(m.group(1))


__all__ = ["task_dataset", "task_rows", "load_tasks", "task_from_prompt"]
