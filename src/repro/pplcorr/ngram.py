"""Byte-level n-gram LMs (the live tier's LM population): text -> UTF-8 byte ids -> the common model.

The population of Sec. 3 of Thrush et al. is ~90 public LLMs; the tiny tier replaces it by
heterogeneous byte-level n-gram models (orders 1-6, two smoothing families), trained on
different domain mixtures; the live pretraining step adds a byte 4-gram cross-check and a
Witten-Bell byte bigram floor. The counting and both smoothings (interpolated Witten-Bell
over an add-one unigram; add-k at the top order) are :mod:`repro.common.lm.ngram`; this
module only maps text to byte ids (vocabulary 256) and scores in bits.

Every text starts from the context of ``PAD`` bytes (byte 0, shared with real NUL bytes),
as the population has always been trained and scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from repro.common.lm.ngram import SMOOTHINGS, NGramModel
from repro.common.lm.ngram import train_ngram as train_id_ngram

__all__ = ["NGramLM", "as_bytes", "logprobs_many", "train_ngram"]

PAD = 0  # the context before the first byte of a text
N_BYTES = 256  # the vocabulary: byte values
MAX_ORDER = 7  # byte contexts are base-256 codes in int64: 256 ** order must fit


def as_bytes(text: str | bytes) -> np.ndarray:
    """UTF-8 bytes of ``text`` as an int64 array."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return np.frombuffer(data, dtype=np.uint8).astype(np.int64)


@dataclass(frozen=True)
class NGramLM:
    """One byte-level n-gram model: the common :class:`NGramModel` over byte ids."""

    model: NGramModel

    @property
    def order(self) -> int:
        return self.model.order

    @property
    def smoothing(self) -> str:
        return self.model.smoothing

    def byte_logprobs(self, text: str | bytes) -> np.ndarray:
        """log2 P(byte_i | previous bytes) for every byte of ``text`` (context restarts at the text)."""
        return np.log2(self.model.probs([as_bytes(text)]))

    def bits(self, text: str | bytes) -> float:
        """Total bits of ``text``."""
        return float(-self.byte_logprobs(text).sum())


def train_ngram(texts: list[str], order: int, smoothing: str = "witten_bell", add_k: float = 0.1) -> NGramLM:
    """Count the byte n-grams of ``texts`` (each text starts from the PAD context)."""
    if not 1 <= order <= MAX_ORDER:
        raise ValueError(f"order must be in 1..{MAX_ORDER}, got {order}")
    if smoothing not in SMOOTHINGS:
        raise ValueError(f"unknown smoothing {smoothing!r}; known: {list(SMOOTHINGS)}")
    if not texts:
        raise ValueError("cannot train an n-gram model on no text")
    arrays = [as_bytes(t) for t in texts]
    return NGramLM(train_id_ngram(arrays, order, N_BYTES, smoothing=smoothing, add_k=add_k, pad=PAD))


def logprobs_many(model: NGramLM, texts: list[str]) -> list[np.ndarray]:
    """:meth:`NGramLM.byte_logprobs` of many texts in one vectorised pass (same values)."""
    if not texts:
        return []
    arrays = [as_bytes(t) for t in texts]
    lp = np.log2(model.model.probs(arrays))
    return np.split(lp, np.cumsum([a.size for a in arrays])[:-1])
