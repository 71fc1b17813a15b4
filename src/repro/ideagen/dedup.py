"""Deduplication of seed ideas and the diversity curve (paper Sec. 3.2 and Sec. 7, Fig. "non-duplicates").

Greedy, in generation order: idea ``i`` is kept unless an earlier *kept* idea has cosine
similarity above the threshold (0.8 in the paper) or the same name. (The authors' loop
``j not removed and sim > t, or same name`` only re-removes already removed ideas, so it
gives the same kept set.) The non-duplicate curve counts the kept ideas after each new
idea; the paper finds it plateaus (~200 of 4,000 seeds per topic survive, ~5%).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def greedy_dedup(emb: np.ndarray, names: Sequence[str] | None = None, threshold: float = 0.8) -> np.ndarray:
    """Boolean keep-mask over rows of ``emb`` (L2-normalised), in row (generation) order."""
    emb = np.asarray(emb, np.float32)
    if emb.ndim != 2:
        raise ValueError(f"greedy_dedup: expected a 2-d embedding matrix, got shape {emb.shape}")
    n = len(emb)
    if names is not None and len(names) != n:
        raise ValueError(f"greedy_dedup: {len(names)} names for {n} embeddings")
    keep = np.zeros(n, bool)
    kept_rows: list[int] = []
    kept_names: set[str] = set()
    for i in range(n):
        if names is not None and names[i].strip().lower() in kept_names:
            continue
        if kept_rows and float(np.max(emb[kept_rows] @ emb[i])) > threshold:
            continue
        keep[i] = True
        kept_rows.append(i)
        if names is not None:
            kept_names.add(names[i].strip().lower())
    return keep


def nondup_curve(keep: np.ndarray) -> np.ndarray:
    """Number of non-duplicates among the first ``k`` generated ideas, k = 1..n."""
    return np.cumsum(np.asarray(keep, int))


def new_rate(keep: np.ndarray, start: int, stop: int) -> float:
    """Fraction of ideas ``start..stop-1`` (generation order) that are new (kept)."""
    seg = np.asarray(keep[start:stop], bool)
    return float(seg.mean()) if len(seg) else float("nan")
