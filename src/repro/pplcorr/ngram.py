"""Byte-level count-based n-gram LMs, vectorised with numpy (the live tier's LM population).

The population of Sec. 3 of Thrush et al. is ~90 public LLMs; the tiny tier replaces it by
heterogeneous byte-level n-gram models (orders 1-6, two smoothing families), trained on
different domain mixtures. Two smoothings:

* ``witten_bell``: interpolated Witten-Bell, ``P_k(w|h) = (c(h,w) + T(h) P_{k-1}(w|h')) /
  (c(h) + T(h))`` with ``T(h)`` the number of distinct bytes seen after ``h``; the base is an
  add-one unigram.
* ``add_k``: ``(c(h,w) + k) / (c(h) + 256 k)`` at the model's top order only (no backoff), the
  crude end of the population.

Contexts are encoded as base-256 integers (order <= 7 fits in int64); counts are kept as
sorted unique codes, looked up with ``searchsorted``, so training and scoring are a few
vector passes over the bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["NGramLM", "train_ngram", "as_bytes", "logprobs_many"]

PAD = 0  # the context before the first byte of a text


def as_bytes(text: str | bytes) -> np.ndarray:
    """UTF-8 bytes of ``text`` as an int64 array."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return np.frombuffer(data, dtype=np.uint8).astype(np.int64)


def _codes(b: np.ndarray, k: int) -> np.ndarray:
    """Code of the ``k`` bytes before each position (PAD-padded): sum b[i-j] 256^(j-1)."""
    padded = np.concatenate([np.full(k, PAD, dtype=np.int64), b])
    code = np.zeros(b.size, dtype=np.int64)
    for j in range(1, k + 1):
        code += padded[k - j : k - j + b.size] << (8 * (j - 1))
    return code


def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``values`` at ``query`` codes (0 where absent); ``keys`` sorted unique."""
    if keys.size == 0:
        return np.zeros(query.size, dtype=np.float64)
    i = np.searchsorted(keys, query)
    i = np.minimum(i, keys.size - 1)
    hit = keys[i] == query
    return np.where(hit, values[i], 0).astype(np.float64)


@dataclass
class NGramLM:
    """Counts of one byte-level n-gram model (``order`` = context length + 1)."""

    order: int
    smoothing: str = "witten_bell"
    add_k: float = 0.1
    unigram: np.ndarray = field(default_factory=lambda: np.zeros(256))
    # per context length k >= 1: (joint codes, joint counts, ctx codes, ctx counts, ctx types)
    tables: list[tuple[np.ndarray, ...]] = field(default_factory=list)

    def byte_logprobs(self, text: str | bytes) -> np.ndarray:
        """log2 P(byte_i | previous bytes) for every byte of ``text`` (context restarts at the text)."""
        b = as_bytes(text)
        uni = (self.unigram + 1.0) / (self.unigram.sum() + 256.0)
        p = uni[b]
        if self.smoothing == "add_k":
            if self.order > 1:
                k = self.order - 1
                ctx = _codes(b, k)
                jk, jc, ck, cc, _ = self.tables[k - 1]
                cj = _lookup(jk, jc, (ctx << 8) | b)
                ch = _lookup(ck, cc, ctx)
                p = (cj + self.add_k) / (ch + 256.0 * self.add_k)
            return np.log2(p)
        for k in range(1, self.order):
            ctx = _codes(b, k)
            jk, jc, ck, cc, ct = self.tables[k - 1]
            cj = _lookup(jk, jc, (ctx << 8) | b)
            ch = _lookup(ck, cc, ctx)
            t = _lookup(ck, ct, ctx)
            seen = ch > 0
            p = np.where(seen, (cj + t * p) / np.where(seen, ch + t, 1.0), p)
        return np.log2(p)

    def bits(self, text: str | bytes) -> float:
        """Total bits of ``text``."""
        return float(-self.byte_logprobs(text).sum())


def train_ngram(texts: list[str], order: int, smoothing: str = "witten_bell", add_k: float = 0.1) -> NGramLM:
    """Count the n-grams of ``texts`` (each text starts from the PAD context)."""
    if not 1 <= order <= 7:
        raise ValueError(f"order must be in 1..7, got {order}")
    if smoothing not in ("witten_bell", "add_k"):
        raise ValueError(f"unknown smoothing {smoothing!r}; known: ['witten_bell', 'add_k']")
    if not texts:
        raise ValueError("cannot train an n-gram model on no text")
    arrays = [as_bytes(t) for t in texts]
    b = np.concatenate(arrays)
    unigram = np.bincount(b, minlength=256).astype(np.float64)
    tables = []
    for k in range(1, order):
        ctx = np.concatenate([_codes(a, k) for a in arrays])
        joint = (ctx << 8) | b
        jk, jc = np.unique(joint, return_counts=True)
        ck, cc = np.unique(ctx, return_counts=True)
        # types per context: distinct joint codes per context code
        ctx_of_joint = jk >> 8
        tk, tc = np.unique(ctx_of_joint, return_counts=True)
        assert np.array_equal(tk, ck)
        tables.append((jk, jc, ck, cc, tc))
    return NGramLM(order=order, smoothing=smoothing, add_k=add_k, unigram=unigram, tables=tables)


def logprobs_many(model: NGramLM, texts: list[str]) -> list[np.ndarray]:
    """:meth:`NGramLM.byte_logprobs` of many texts in one vectorised pass (same values)."""
    if not texts:
        return []
    arrays = [as_bytes(t) for t in texts]
    b = np.concatenate(arrays)
    uni = (model.unigram + 1.0) / (model.unigram.sum() + 256.0)
    p = uni[b]
    if model.smoothing == "add_k":
        if model.order > 1:
            k = model.order - 1
            ctx = np.concatenate([_codes(a, k) for a in arrays])
            jk, jc, ck, cc, _ = model.tables[k - 1]
            p = (_lookup(jk, jc, (ctx << 8) | b) + model.add_k) / (_lookup(ck, cc, ctx) + 256.0 * model.add_k)
    else:
        for k in range(1, model.order):
            ctx = np.concatenate([_codes(a, k) for a in arrays])
            jk, jc, ck, cc, ct = model.tables[k - 1]
            cj = _lookup(jk, jc, (ctx << 8) | b)
            ch = _lookup(ck, cc, ctx)
            t = _lookup(ck, ct, ctx)
            seen = ch > 0
            p = np.where(seen, (cj + t * p) / np.where(seen, ch + t, 1.0), p)
    lp = np.log2(p)
    return np.split(lp, np.cumsum([a.size for a in arrays])[:-1])
