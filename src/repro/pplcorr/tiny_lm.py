"""Tiny character-level transformers from the shared LM toolkit (``repro.common.lm``) for the live tier.

The paper's population is ~90 public LLMs and its "fresh" model is a Pythia-160M pretrained on
the selected data (Thrush et al. 2024, Sec. 4-5). The tiny tier uses GPT-2-style transformers of a
few hundred thousand parameters, trained on CPU with one torch thread:

* a few *population* members beside the byte n-grams (each on its own Dirichlet mixture of
  domains), so that the estimator sees more than one model family;
* the fresh LM pretrained on each selection arm's pages (equal byte budget, equal steps).

Tokens are characters (:meth:`repro.common.lm.tokenizer.Tokenizer.train_char`), one vocabulary
shared by every model of a run and built from every page of the corpus, so no character of an
evaluation page is unknown; bits per byte are total nats / (ln 2 * UTF-8 bytes), token-weighted
over the pages of a domain as for the n-grams. A cloze choice is scored by the summed log-prob
of its characters after the (left-truncated) context, like the n-grams' summed byte log-probs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# torch, transformers and tokenizers are imported inside the functions: the steps that do not
# train a model (crosscheck, exact, pages) import this module for its config only.

__all__ = ["TransformerSpec", "TinyTransformerLM", "char_tokenizer", "train_transformer"]


@dataclass(frozen=True)
class TransformerSpec:
    """Architecture and optimisation of one tiny transformer (defaults: ~110k parameters)."""

    n_layer: int = 2  # transformer blocks
    n_head: int = 2  # attention heads
    d_model: int = 64  # residual width
    context: int = 128  # characters per training window (cloze contexts are left-truncated to it)
    steps: int = 300  # optimizer steps
    batch_size: int = 16  # windows per step
    lr: float = 3e-3  # peak learning rate (warmup, cosine to lr/10)
    warmup: int = 30  # linear warmup steps
    threads: int = 1  # torch CPU threads (DESIGN.md: one per job)


@dataclass
class TinyTransformerLM:
    """A trained model with its (shared) character tokenizer and context length."""

    model: Any  # torch.nn.Module following the repro.common.lm.models contract
    tokenizer: Any  # repro.common.lm.tokenizer.Tokenizer (character level)
    context: int
    n_params: int

    def text_bits(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(total bits, UTF-8 bytes) of each text, every character scored (texts start after EOS)."""
        from repro.common.lm.evaluate import document_scores

        scores = document_scores(self.model, self.tokenizer, list(texts), self.context, batch_size=32)
        bits = np.array([s.nats / math.log(2) for s in scores])
        nbytes = np.array([s.bytes for s in scores], dtype=np.float64)
        return bits, nbytes

    def continuation_logprobs(self, contexts: Sequence[str], continuations: Sequence[str]) -> np.ndarray:
        """Summed log-prob (nats) of each continuation's characters after its context."""
        from repro.common.lm.evaluate import score_continuations_ids

        tok = self.tokenizer
        reqs = [([tok.eos_id, *tok.encode(c)], tok.encode(x)) for c, x in zip(contexts, continuations, strict=True)]
        out = score_continuations_ids(self.model, reqs, self.context, batch_size=64)
        return np.array([s.sum_logprob for s in out])


def char_tokenizer(texts: Sequence[str]) -> Any:
    """The run's character vocabulary (deterministic: ids by decreasing frequency)."""
    from repro.common.lm.tokenizer import Tokenizer

    return Tokenizer.train_char(texts)


def train_transformer(texts: Sequence[str], tokenizer: Any, spec: TransformerSpec, seed: int) -> TinyTransformerLM:
    """Train a fresh GPT-2-style model on ``texts`` (EOS between texts) for ``spec.steps`` steps.

    A population member or a fresh selection-arm LM (Thrush et al. 2024, Secs. 4-5), built by the
    shared tiny-LM recipe (:func:`repro.common.lm.recipe.train_tiny_lm`).
    """
    from repro.common.lm.recipe import TinyLMSpec, train_tiny_lm
    from repro.common.lm.tokenizer import encode_documents

    if not texts:
        raise ValueError("cannot train a transformer on no text")
    ids = encode_documents(tokenizer, list(texts))
    if len(ids) < spec.context + 2:
        raise ValueError(f"only {len(ids)} tokens of training text; need more than the context {spec.context}")
    lm_spec = TinyLMSpec(
        vocab_size=tokenizer.vocab_size,
        arch="gpt2",
        n_layer=spec.n_layer,
        n_head=spec.n_head,
        d_model=spec.d_model,
        context=spec.context,
        steps=spec.steps,
        batch_size=spec.batch_size,
        lr=spec.lr,
        warmup=min(spec.warmup, spec.steps - 1),  # a smoke run of a few steps still reaches the peak rate
        eval_every=0,  # the population is scored by bits per byte afterwards, not during training
        seed=seed,
        threads=spec.threads,
    )
    lm = train_tiny_lm(lm_spec, ids, progress=False)
    n_params = sum(p.numel() for p in lm.model.parameters())
    return TinyTransformerLM(model=lm.model, tokenizer=tokenizer, context=spec.context, n_params=int(n_params))
