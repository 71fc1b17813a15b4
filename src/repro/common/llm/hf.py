"""``hf`` backend: any ``transformers`` causal LM, from a local directory or a hub id.

``get_llm("hf", model="meta-llama/Llama-3.1-8B-Instruct")`` (paper scale) or
``get_llm("hf", model="results/tiny/x/model")`` (a repro model directory is also an
HF checkpoint). The model runs on CUDA in bf16 when a GPU is present, else on CPU in
fp32. Chat requests use the tokenizer's chat template when it has one, else the
plain :func:`~repro.common.llm.base.render_chat` format.

Nothing is downloaded silently when the hub is unreachable: a hub id that is neither a
local directory nor in the local HF cache raises :class:`LLMError` at once (instead of
transformers' minute of retries), naming the id and what to do. Where to read a checkpoint
from, its dtype and the loading itself are :mod:`repro.common.lm.models`' (shared with
``load_pretrained``, issue 29 item 2); this module adds the tokenizer and the LLM interface.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from repro.common.llm.base import LLMError, register
from repro.common.llm.local import LocalLM
from repro.common.lm.models import (
    PretrainedLoadError,
    hf_from_pretrained,
    pretrained_source_kwargs,
    resolve_dtype,
    wrap_hf,
)
from repro.common.lm.trainer import resolve_device


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
        from transformers import AutoTokenizer

        dev = resolve_device(device)
        torch_dtype = resolve_dtype(dtype, dev)
        try:
            # The cache is probed with the tokenizer: it is what this backend loads first.
            kwargs = pretrained_source_kwargs(
                model,
                revision=revision,
                allow_download=allow_download,
                trust_remote_code=trust_remote_code,
                probe=AutoTokenizer.from_pretrained,
            )
        except PretrainedLoadError as exc:
            raise LLMError(str(exc)) from None
        local = Path(model).is_dir()
        try:
            tok = AutoTokenizer.from_pretrained(model, **kwargs)
            hf_model = hf_from_pretrained(model, torch_dtype, **kwargs)
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
