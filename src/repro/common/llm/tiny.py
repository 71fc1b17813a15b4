"""``tiny`` backend: a model directory trained in the pipeline by :mod:`repro.common.lm`.

``get_llm("tiny", path="results/tiny/ttt/model")`` loads the directory written by
:func:`repro.common.lm.models.save_model_dir` (weights, :class:`ModelConfig` and the
locally trained tokenizer) and answers through :class:`~repro.common.llm.local.LocalLM`.
The cache identity includes a hash of the weights, so retraining a model in place
never serves answers cached from the old weights.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from repro.common.io import sha256_file
from repro.common.llm.base import register
from repro.common.llm.local import LocalLM
from repro.common.lm.models import WEIGHTS_FILE, load_model_dir
from repro.common.lm.tokenizer import Tokenizer
from repro.common.lm.trainer import resolve_device


@register("tiny")
class TinyLLM(LocalLM):
    """A repro model directory behind the :class:`LLM` interface.

    ``top_k`` restricts sampling (``None``: full distribution); ``device`` is
    ``"auto"`` (CUDA if present), ``"cpu"`` or ``"cuda"``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        device: str = "auto",
        top_k: int | None = None,
        batch_size: int = 32,
    ) -> None:
        path = Path(path)
        module, cfg = load_model_dir(path, device=resolve_device(device))
        tok = Tokenizer.load(path)
        self.path = path
        self.tokenizer = tok
        self.config = cfg
        self.weights_sha256 = sha256_file(path / WEIGHTS_FILE)
        super().__init__(
            module,
            encode_prompt=tok.encode,
            encode_text=tok.encode,
            decode=lambda ids: tok.decode(ids, skip_special=True),
            eos_id=tok.eos_id,
            context=cfg.context,
            model_name=path.name,
            top_k=top_k,
            batch_size=batch_size,
        )

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "model": self.model,
            "weights_sha256": self.weights_sha256,
            "top_k": self.top_k,
        }


__all__ = ["TinyLLM"]
