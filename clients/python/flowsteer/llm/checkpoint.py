"""Checkpoints: one file (adapter, AdamW state, step, options) whose
SHA-256 the trainer records, plus the adapter in the Hugging Face layout
next to it. Mixed into :class:`flowsteer.llm.policy.LoRAPolicy`."""

from __future__ import annotations

import io
import os
from dataclasses import asdict

import torch

from flowsteer.errors import InvalidArgument
from flowsteer.llm.options import CHECKPOINT_FORMAT, MODEL_NAME


class Checkpoints:
    """LoRAPolicy's save and load."""

    # ---- checkpoints ----

    def save(self, path: str, step: int) -> None:
        from peft import get_peft_model_state_dict

        with self._lock:
            adapter = {k: v.detach().clone() for k, v in get_peft_model_state_dict(self.net).items()}
            ck = {"format": CHECKPOINT_FORMAT, "model": MODEL_NAME, "step": int(step), "updates": self.updates,
                  "options": asdict(self.opts), "adapter": adapter, "opt": self.opt.state_dict(), "version": self._version}
            buf = io.BytesIO()
            torch.save(ck, buf)
            tmp = path + ".tmp"
            with open(tmp, "wb") as f:
                f.write(buf.getvalue())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            # The adapter in the Hugging Face layout too, for use outside flowsteer.
            self.net.save_pretrained(path + ".adapter")

    def load(self, path: str) -> int:
        from peft import set_peft_model_state_dict

        try:
            ck = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001
            raise InvalidArgument(f"{path}: not a checkpoint of this policy: {e}") from None
        if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
            raise InvalidArgument(f"{path}: not a {CHECKPOINT_FORMAT} checkpoint")
        o = ck.get("options", {})
        for k in ("lora_rank", "lora_alpha", "lora_targets"):
            mine = getattr(self.opts, k)
            theirs = o.get(k)
            if (list(theirs) if isinstance(theirs, (list, tuple)) else theirs) != (list(mine) if isinstance(mine, (list, tuple)) else mine):
                raise InvalidArgument(f"{path}: checkpoint has {k}={theirs}, this policy {mine}")
        with self._lock:
            set_peft_model_state_dict(self.net, ck["adapter"])
            self.opt.load_state_dict(ck["opt"])
            self.step = int(ck["step"])
            self.updates = int(ck.get("updates", 0))
            self._version = self._hash()
            self._prefix_kv = {k: v for k, v in self._prefix_kv.items() if k[0] == "base"}
            self._sync_engine()
            return self.step
