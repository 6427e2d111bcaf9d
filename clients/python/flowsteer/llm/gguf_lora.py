"""The PEFT LoRA adapter of :class:`~flowsteer.llm.policy.LoRAPolicy` as a
GGUF LoRA adapter that llama.cpp loads (``Llama(lora_path=...)``,
``llama-server --lora``).

The layout is the one llama.cpp's ``convert_lora_to_gguf.py`` writes (the
logic is followed, the code is ours: that script imports the whole
``convert_hf_to_gguf`` model zoo and needs the base model's HF directory,
which a GGUF-only install has not):

- metadata ``general.architecture`` (the base's, ``llama`` for SmolLM2),
  ``general.type = adapter``, ``adapter.type = lora``,
  ``adapter.lora.alpha`` (llama.cpp scales by ``alpha / rank``, as PEFT);
- per adapted projection two tensors named after the base tensor,
  ``blk.N.attn_q.weight.lora_a`` (PyTorch shape ``(r, in)``) and
  ``...lora_b`` (``(out, r)``), float32;
- the rows of ``lora_b`` of ``q_proj`` and ``k_proj`` permuted as
  ``convert_hf_to_gguf`` permutes the base's q/k weights for llama's rotary
  layout (``LlamaModel.permute``); transformers undoes that permutation
  when it loads the GGUF base, so the PEFT adapter lives in the HF layout
  and its output rows must be moved back into the GGUF one. ``lora_a``
  acts on the input side, which is not permuted.
"""

from __future__ import annotations

import os
import re

import numpy as np

# HF module name -> GGUF base tensor name (llama architecture).
_TARGETS = {"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
            "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down"}
_KEY = re.compile(r"(?:^|\.)layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.lora_([AB])(?:\.default)?\.weight$")


def permute_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama's q/k row permutation (convert_hf_to_gguf's LlamaModel.permute)
    applied to the output rows of ``w`` with ``n_head`` heads."""
    out = w.shape[0]
    return w.reshape(n_head, 2, out // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gguf_tensors(state: dict, n_head: int, n_kv_head: int) -> dict[str, np.ndarray]:
    """The GGUF tensors of a PEFT LoRA state dict (``get_peft_model_state_dict``),
    float32, names as llama.cpp expects them."""
    out: dict[str, np.ndarray] = {}
    for k, v in state.items():
        m = _KEY.search(k)
        if m is None:
            raise ValueError(f"{k}: not a LoRA weight of a llama decoder layer")
        layer, module, ab = int(m.group(1)), m.group(2), m.group(3)
        if module not in _TARGETS:
            raise ValueError(f"{k}: no GGUF name for the module {module}")
        a = v.detach().float().cpu().numpy() if hasattr(v, "detach") else np.asarray(v, dtype=np.float32)
        if ab == "B" and module == "q_proj":
            a = permute_rows(a, n_head)
        elif ab == "B" and module == "k_proj":
            a = permute_rows(a, n_kv_head)
        out[f"blk.{layer}.{_TARGETS[module]}.weight.lora_{ab.lower()}"] = np.ascontiguousarray(a, dtype=np.float32)
    return out


def write_gguf_lora(path: str, state: dict, *, alpha: float, n_head: int, n_kv_head: int,
                    arch: str = "llama", name: str = "flowsteer-lora") -> str:
    """Write ``state`` (a PEFT LoRA state dict) to ``path`` as a GGUF LoRA
    adapter; atomic (written next to it, then renamed). Returns ``path``."""
    import gguf

    tensors = gguf_tensors(state, n_head, n_kv_head)
    tmp = path + ".tmp"
    w = gguf.GGUFWriter(tmp, arch)
    w.add_type(gguf.GGUFType.ADAPTER)
    w.add_string(gguf.Keys.Adapter.TYPE, "lora")
    w.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
    w.add_name(name)
    for n in sorted(tensors):
        w.add_tensor(n, tensors[n])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(tmp, path)
    return path


def export_policy_adapter(policy, path: str) -> str:
    """The current adapter of a LoRAPolicy as a GGUF LoRA file at ``path``."""
    from peft import get_peft_model_state_dict

    cfg = policy.net.config
    state = get_peft_model_state_dict(policy.net)
    return write_gguf_lora(path, state, alpha=policy.opts.lora_alpha, n_head=cfg.num_attention_heads,
                           n_kv_head=getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads)
