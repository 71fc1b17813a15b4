"""Count-based n-gram sanity floors for the tiny language models.

A model trained inside the pipeline must beat what counting does on the same training
tokens; otherwise a comparison between architectures only measures how fast each learns
bigram statistics, and the paper's claims are UNTESTABLE at that scale (the scorecard's
``requires:`` rows). :func:`bigram_heldout_loss` is an interpolated Witten-Bell bigram
(Witten & Bell 1991; the interpolated form of Chen & Goodman 1998, Sec. 2.5) over token
ids: no tuned constant, so the floor is not fitted to the held-out set.
"""

from __future__ import annotations

import numpy as np


def bigram_heldout_loss(train: np.ndarray, heldout: np.ndarray, vocab_size: int) -> float:
    """Mean held-out cross-entropy (nats per token) of an interpolated Witten-Bell bigram model.

    ``P(w | v) = (c(v, w) + T(v) P1(w)) / (c(v) + T(v))`` with ``T(v)`` the number of distinct
    successors of ``v`` and ``P1(w) = (c(w) + 1) / (N + V)`` the add-one unigram; a context never
    seen in training falls back to ``P1``. Every held-out token after the first is scored.
    """
    train = np.asarray(train, dtype=np.int64)
    heldout = np.asarray(heldout, dtype=np.int64)
    if train.size < 2 or heldout.size < 2:
        raise ValueError("bigram floor: need at least two training and two held-out tokens")
    if max(int(train.max()), int(heldout.max())) >= vocab_size:
        raise ValueError(f"bigram floor: token id >= vocab_size {vocab_size}")
    v = np.int64(vocab_size)
    uni = np.bincount(train, minlength=vocab_size).astype(np.float64)
    p1 = (uni + 1.0) / (uni.sum() + vocab_size)
    codes, pair_counts = np.unique(train[:-1] * v + train[1:], return_counts=True)
    ctx_total = np.bincount(train[:-1], minlength=vocab_size).astype(np.float64)
    ctx_types = np.bincount(codes // v, minlength=vocab_size).astype(np.float64)
    prev, nxt = heldout[:-1], heldout[1:]
    q = prev * v + nxt
    idx = np.clip(np.searchsorted(codes, q), 0, len(codes) - 1)
    c_pair = np.where(codes[idx] == q, pair_counts[idx], 0).astype(np.float64)
    c_ctx, t_ctx = ctx_total[prev], ctx_types[prev]
    seen = c_ctx > 0
    p = np.where(seen, (c_pair + t_ctx * p1[nxt]) / np.where(seen, c_ctx + t_ctx, 1.0), p1[nxt])
    return float(-np.log(p).mean())


def unigram_heldout_loss(train: np.ndarray, heldout: np.ndarray, vocab_size: int) -> float:
    """Mean held-out cross-entropy (nats per token) of the add-one unigram model of ``train``."""
    uni = np.bincount(np.asarray(train, dtype=np.int64), minlength=vocab_size).astype(np.float64)
    p1 = (uni + 1.0) / (uni.sum() + vocab_size)
    return float(-np.log(p1[np.asarray(heldout, dtype=np.int64)]).mean())
