"""``hf`` backend: any ``transformers`` causal LM, from a local directory or a hub id.

``get_llm("hf", model="meta-llama/Llama-3.1-8B-Instruct")`` (paper scale) or
``get_llm("hf", model="results/tiny/x/model")`` (a repro model directory is also an
HF checkpoint). The model runs on CUDA in bf16 when a GPU is present, else on CPU in
fp32. Chat requests use the tokenizer's chat template when it has one, else the
plain :func:`~repro.common.llm.base.render_chat` format.

Nothing is downloaded silently when the hub is unreachable: a hub id that is neither a
local directory nor in the local HF cache raises :class:`LLMError` at once (instead of
transformers' minute of retries), naming the id and what to do.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch

from repro.common.llm.base import LLMError, register
from repro.common.llm.local import LocalLM
from repro.common.lm.models import wrap_hf
from repro.common.lm.trainer import resolve_device


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the HF endpoint accepts a TCP connection (honours ``HF_ENDPOINT``)."""
    if os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE"):
        return False
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    u = urlparse(endpoint)
    port = u.port or (443 if u.scheme == "https" else 80)
    try:
        with socket.create_connection((u.hostname or "huggingface.co", port), timeout=timeout):
            return True
    except OSError:
        return False


def _fingerprint(path: Path) -> str:
    """Cheap identity of a local checkpoint (names, sizes, mtimes of its files)."""
    parts = []
    for f in sorted(path.iterdir()):
        if f.is_file():
            st = f.stat()
            parts.append(f"{f.name}:{st.st_size}:{int(st.st_mtime)}")
    return ";".join(parts)


@register("hf")
class HFLLM(LocalLM):
    """A ``transformers`` model behind the :class:`LLM` interface.

    ``dtype``: ``"auto"`` (bf16 on CUDA, fp32 on CPU), ``"float32"``, ``"bfloat16"``,
    ``"float16"``. ``allow_download=False`` never contacts the hub. ``context``
    overrides the context length read from the config (some configs state 128k; a
    smaller value bounds memory).
    """

    def __init__(
        self,
        model: str,
        *,
        revision: str | None = None,
        device: str = "auto",
        dtype: str = "auto",
        allow_download: bool = True,
        trust_remote_code: bool = False,
        context: int | None = None,
        top_k: int | None = None,
        batch_size: int = 16,
    ) -> None:
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer

        dev = resolve_device(device)
        if dtype == "auto":
            torch_dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
        else:
            torch_dtype = getattr(torch, dtype)
        local = Path(model).is_dir()
        kwargs: dict[str, Any] = {"revision": revision, "trust_remote_code": trust_remote_code}
        if not local:
            # Try the local HF cache first; only go online if that fails and it is allowed.
            try:
                tok = AutoTokenizer.from_pretrained(model, local_files_only=True, **kwargs)
                kwargs["local_files_only"] = True
            except OSError:
                if not allow_download or not _hub_reachable():
                    raise LLMError(
                        f"cannot load HF model {model!r}: it is not a local directory, not in the local "
                        "Hugging Face cache, and the hub is unreachable or downloads are disabled "
                        "(offline). Pass a local checkpoint path, or pre-download it on a machine with "
                        "network access (huggingface-cli download) and set HF_HOME."
                    ) from None
        try:
            tok = AutoTokenizer.from_pretrained(model, **kwargs)
            # transformers 5 renamed torch_dtype= to dtype=.
            dtype_kw = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
            hf_model = AutoModelForCausalLM.from_pretrained(model, **{dtype_kw: torch_dtype}, **kwargs)
        except OSError as exc:
            raise LLMError(f"cannot load HF model {model!r}: {exc}") from exc
        module = wrap_hf(hf_model).to(dev).eval()
        cfg = hf_model.config
        ctx = context or getattr(cfg, "n_positions", None) or getattr(cfg, "max_position_embeddings", None)
        if not ctx:
            raise LLMError(f"{model!r}: cannot tell the context length from its config; pass context=")
        eos = tok.eos_token_id if tok.eos_token_id is not None else getattr(cfg, "eos_token_id", None)
        if isinstance(eos, list):
            eos, extra_stop = eos[0], eos[1:]
        else:
            extra_stop = []
        if eos is None:
            raise LLMError(f"{model!r}: tokenizer has no EOS token")
        self.tokenizer = tok
        self.revision = revision
        self.fingerprint = _fingerprint(Path(model)) if local else (revision or "default")
        template = None
        if getattr(tok, "chat_template", None):

            def template(messages):
                return tok.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)

        super().__init__(
            module,
            encode_prompt=lambda s: tok(s, add_special_tokens=True)["input_ids"],
            encode_text=lambda s: tok(s, add_special_tokens=False)["input_ids"],
            decode=lambda ids: tok.decode(list(ids), skip_special_tokens=True),
            eos_id=int(eos),
            stop_ids=[int(x) for x in extra_stop],
            context=int(ctx),
            model_name=str(model),
            chat_template=template,
            top_k=top_k,
            batch_size=batch_size,
        )

    def describe(self) -> dict[str, Any]:
        return {"backend": self.backend, "model": self.model, "fingerprint": self.fingerprint, "top_k": self.top_k}


__all__ = ["HFLLM"]
