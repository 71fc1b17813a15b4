"""One recipe for a tiny causal LM trained from scratch inside the pipeline.

Several papers' tiny tiers train a small GPT-2 from random init on text they synthesise
themselves, with the same four moves::

    ModelConfig -> build_model(seed) -> TrainConfig -> train(model, ids, ...) (-> save_model_dir)

:func:`train_tiny_lm` is that recipe, driven by one typed :class:`TinyLMSpec`; each paper maps
its own config onto the spec in its method module:

* ``repro.autobencher.panel.train_panel``: the test-taker panel and the question writer
  (AutoBencher notes Sec. 6.2, the panel of Sec. 4);
* ``repro.distalign.tiny.train_tiny``: the model trained on rendered OpinionQA text
  (distributional alignment notes Sec. 6);
* ``repro.pplcorr.tiny_lm.train_transformer``: the transformer population members and the
  fresh LM pretrained on each selection arm (perplexity correlations Secs. 4-5);
* ``repro.graphunc.tiny.run_seed``: the LM whose biographies are scored (graph-based
  uncertainty Secs. 3-5).

The recipe makes no choices of its own beyond the cosine floor ``lr / 10``, which every caller
used: the toolkit's :class:`~repro.common.lm.trainer.TrainConfig` defaults hold for every field
the spec does not name. The same ``seed`` draws the initial weights and the batch order, so two
runs of one spec give identical weights on the same machine.
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from repro.common.lm import trainer
from repro.common.lm.models import ModelConfig, build_model, save_model_dir

__all__ = ["TinyLM", "TinyLMSpec", "train_tiny_lm"]

# The spec's fields default to the toolkit's own defaults (ModelConfig / TrainConfig), so a
# field left out trains as the toolkit would; only eval_every (0: no held-out evals unless
# asked) and device (cpu: the tiny tier) differ, for the reasons given at the fields.
_TRAIN_DEFAULTS = trainer.TrainConfig()
_MODEL_DEFAULTS = ModelConfig()


def _is_int(value: object) -> bool:
    # numbers.Integral admits numpy integers (sizes read from arrays); bool is not a size.
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclass(frozen=True)
class TinyLMSpec:
    """Architecture, optimisation and seed of one tiny LM trained from scratch."""

    vocab_size: int  # from the run's tokenizer (no default: it is always the caller's)
    arch: str = _MODEL_DEFAULTS.arch  # "gpt2", "llama" or a registered architecture
    n_layer: int = _MODEL_DEFAULTS.n_layer  # transformer blocks
    n_head: int = _MODEL_DEFAULTS.n_head  # attention heads (must divide d_model)
    d_model: int = _MODEL_DEFAULTS.d_model  # residual width
    context: int = _MODEL_DEFAULTS.context  # model context = training window length
    steps: int = _TRAIN_DEFAULTS.steps  # optimizer steps
    batch_size: int = _TRAIN_DEFAULTS.batch_size  # windows per step
    lr: float = _TRAIN_DEFAULTS.lr  # peak learning rate; cosine decay to lr / 10
    warmup: int = _TRAIN_DEFAULTS.warmup  # linear warmup steps (callers clamp it to short runs themselves)
    eval_every: int = 0  # steps between held-out evals (and at the end); 0: none (then no eval tokens)
    eval_batches: int = _TRAIN_DEFAULTS.eval_batches  # held-out batches (of batch_size windows) per eval
    log_every: int = _TRAIN_DEFAULTS.log_every  # steps between history entries
    seed: int = 0  # initial weights (build_model) and batch order (TrainConfig.seed)
    threads: int = _TRAIN_DEFAULTS.threads  # torch CPU threads (DESIGN.md: one per job)
    device: str = "cpu"  # the tiny tier trains on CPU (deterministic, comparable across machines)

    def __post_init__(self) -> None:
        # Name the offending field here: the toolkit's own errors would name ModelConfig or
        # TrainConfig fields that the paper's params do not spell the same way.
        positive = ("vocab_size", "n_layer", "n_head", "d_model", "context", "steps", "batch_size")
        positive += ("eval_batches", "log_every", "threads")
        for name in positive:
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"TinyLMSpec.{name}={value!r}: must be a positive integer")
        for name in ("warmup", "eval_every"):
            value = getattr(self, name)
            if not _is_int(value) or value < 0:
                raise ValueError(f"TinyLMSpec.{name}={value!r}: must be a non-negative integer")
        if not (isinstance(self.lr, numbers.Real) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"TinyLMSpec.lr={self.lr!r}: must be a positive finite number")
        if self.d_model % self.n_head:
            raise ValueError(f"TinyLMSpec.d_model={self.d_model} is not divisible by n_head={self.n_head}")

    def model_config(self) -> ModelConfig:
        """The toolkit model config (random init, everything else at the toolkit defaults)."""
        return ModelConfig(
            arch=self.arch,
            n_layer=self.n_layer,
            n_head=self.n_head,
            d_model=self.d_model,
            context=self.context,
            vocab_size=self.vocab_size,
        )

    def train_config(self) -> trainer.TrainConfig:
        """The toolkit training config; fields the spec does not name keep the toolkit defaults."""
        return trainer.TrainConfig(
            steps=self.steps,
            batch_size=self.batch_size,
            context=self.context,
            lr=self.lr,
            warmup=self.warmup,
            # lr / 10 (not lr * 0.1): the float every caller computed before the recipe existed.
            min_lr=self.lr / 10,
            eval_every=self.eval_every,
            eval_batches=self.eval_batches,
            log_every=self.log_every,
            seed=self.seed,
            threads=self.threads,
            device=self.device,
        )

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class TinyLM:
    """A trained tiny LM: the model (in eval mode), its config and the trainer's history."""

    model: nn.Module  # follows the repro.common.lm.models contract
    config: ModelConfig
    history: list[dict[str, Any]]  # trainer.train's entries (step, train_loss, eval_loss, lr, ...)

    def save(self, path: str | os.PathLike[str], tokenizer: Any | None = None, *, extra: dict | None = None) -> Path:
        """Write a model directory (:func:`repro.common.lm.models.save_model_dir`, atomic)."""
        return save_model_dir(path, self.model, self.config, tokenizer, extra=extra)


def train_tiny_lm(
    spec: TinyLMSpec,
    train_tokens: np.ndarray,
    *,
    eval_tokens: np.ndarray | None = None,
    progress: bool = True,
    save_dir: str | os.PathLike[str] | None = None,
    tokenizer: Any | None = None,
    extra: dict[str, Any] | None = None,
) -> TinyLM:
    """Build a fresh model for ``spec`` and train it on ``train_tokens``.

    With ``eval_tokens`` (required exactly when ``spec.eval_every > 0``) the history carries
    held-out losses. With ``save_dir`` the trained model is written there as a model directory
    with ``tokenizer`` and ``extra``; a caller whose ``extra`` depends on the training result
    calls :meth:`TinyLM.save` itself instead.
    """
    # Both mistakes would otherwise pass silently: the trainer skips evals without tokens and
    # ignores tokens without evals.
    if spec.eval_every and eval_tokens is None:
        raise ValueError(f"TinyLMSpec.eval_every={spec.eval_every} needs eval_tokens")
    if eval_tokens is not None and not spec.eval_every:
        raise ValueError("eval_tokens given but TinyLMSpec.eval_every=0: no held-out eval would use them")
    if save_dir is None and (tokenizer is not None or extra is not None):
        raise ValueError("tokenizer/extra are written with the model directory: pass save_dir too")
    # The order (model config, seeded init, train config, train) is the one the callers used
    # before the recipe existed; build_model's seed leaves the global RNG untouched, and train()
    # reseeds everything from spec.seed, so the weights depend on the spec alone.
    mcfg = spec.model_config()
    model = build_model(mcfg, seed=spec.seed)
    tcfg = spec.train_config()
    history = trainer.train(model, train_tokens, tcfg, eval_tokens=eval_tokens, progress=progress)
    result = TinyLM(model=model, config=mcfg, history=history)
    if save_dir is not None:
        result.save(save_dir, tokenizer, extra=extra)
    return result
