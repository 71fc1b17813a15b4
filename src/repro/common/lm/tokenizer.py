"""Tokenizers trained locally with the Hugging Face ``tokenizers`` library.

No pretrained tokenizer can be downloaded here (DESIGN.md, "Models"), so every tiny
model trains its own:

* ``bpe``: byte-level BPE (the GPT-2 scheme: bytes mapped to printable characters,
  merges learned on the training text). Lossless on any UTF-8 input, so bits per byte
  are exact. ``vocab_size`` counts the 256 byte symbols and the special token.
* ``char``: one token per Unicode character seen in training (the smallest runs, where
  a BPE vocabulary would dominate the parameter count). Unseen characters map to
  U+FFFD, so decoding an unseen character gives the replacement character.

Both save as a standard ``tokenizer.json`` plus a ``tokenizer_config.json``, so
``transformers.AutoTokenizer.from_pretrained(model_dir)`` loads them too (the ``hf``
backend and the OpenAI-compatible server rely on this). Training is deterministic:
same texts and settings give a byte-identical ``tokenizer.json``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
from tokenizers import Regex, decoders, models, pre_tokenizers, trainers
from tokenizers import Tokenizer as _HFTokenizer

from repro.common.io import atomic_write_text, write_json

#: End-of-text token: separates documents in the training stream and starts a
#: document when it is scored from its first token (GPT-2 convention).
EOS = "<|endoftext|>"
#: Unknown-character token of the char tokenizer (decodes to itself).
UNK_CHAR = "\ufffd"
TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"


class Tokenizer:
    """A trained tokenizer with the few operations the LM toolkit needs.

    Wraps a ``tokenizers.Tokenizer``; ``kind`` is ``"bpe"`` or ``"char"``.
    """

    def __init__(self, backend: _HFTokenizer, kind: str) -> None:
        if kind not in ("bpe", "char"):
            raise ValueError(f"unknown tokenizer kind {kind!r}")
        self.backend = backend
        self.kind = kind
        eos = backend.token_to_id(EOS)
        if eos is None:
            raise ValueError(f"tokenizer has no {EOS} token")
        self.eos_id: int = eos

    # -- training --------------------------------------------------------------------

    @classmethod
    def train_bpe(cls, texts: Iterable[str], vocab_size: int = 2048, *, min_frequency: int = 2) -> Tokenizer:
        """Train a byte-level BPE tokenizer with ``vocab_size`` entries (at most).

        ``min_frequency`` stops merges of pairs seen fewer times, so a small corpus
        may end below ``vocab_size``; :attr:`vocab_size` reports the real size.
        """
        if vocab_size < 257:
            raise ValueError("a byte-level BPE vocabulary needs at least 257 entries (256 bytes + EOS)")
        tk = _HFTokenizer(models.BPE())
        # add_prefix_space=False keeps encode/decode an exact round trip.
        tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tk.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=[EOS],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tk.train_from_iterator(_as_iter(texts), trainer)
        return cls(tk, "bpe")

    @classmethod
    def train_char(cls, texts: Iterable[str], *, max_vocab: int | None = None) -> Tokenizer:
        """Train a character tokenizer on the characters of ``texts``.

        Ids are assigned ``EOS=0, UNK=1``, then characters by decreasing frequency
        (ties by code point), so the layout is deterministic; ``max_vocab`` keeps the
        most frequent characters only.
        """
        counts: Counter[str] = Counter()
        for t in texts:
            counts.update(t)
        counts.pop(UNK_CHAR, None)
        chars = sorted(counts, key=lambda c: (-counts[c], ord(c)))
        if max_vocab is not None:
            chars = chars[: max(0, max_vocab - 2)]
        vocab = {EOS: 0, UNK_CHAR: 1}
        for c in chars:
            vocab[c] = len(vocab)
        tk = _HFTokenizer(models.WordLevel(vocab, unk_token=UNK_CHAR))
        # Every character (newlines included) is its own pre-token; Fuse concatenates
        # tokens on decode instead of joining them with spaces.
        tk.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
        tk.decoder = decoders.Fuse()
        tk.add_special_tokens([EOS])
        return cls(tk, "char")

    # -- use -------------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        """Number of token ids (the model's embedding rows)."""
        return self.backend.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (no special tokens added)."""
        return self.backend.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of several texts (parallel in the Rust backend; same ids as :meth:`encode`)."""
        return [e.ids for e in self.backend.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids: Sequence[int], *, skip_special: bool = False) -> str:
        """Text of ``ids``; EOS is kept unless ``skip_special``."""
        return self.backend.decode([int(i) for i in ids], skip_special_tokens=skip_special)

    def id_to_token(self, i: int) -> str | None:
        return self.backend.id_to_token(int(i))

    @property
    def token_dtype(self) -> np.dtype:
        """Smallest unsigned dtype that holds every id (uint16 up to 65536 entries)."""
        return np.dtype(np.uint16) if self.vocab_size <= 1 << 16 else np.dtype(np.uint32)

    # -- persistence -----------------------------------------------------------------

    def save(self, directory: str | os.PathLike[str]) -> None:
        """Write ``tokenizer.json`` and an HF ``tokenizer_config.json`` (atomically)."""
        directory = Path(directory)
        atomic_write_text(directory / TOKENIZER_FILE, self.backend.to_str(pretty=True))
        config = {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": EOS,
            "eos_token": EOS,
            "pad_token": EOS,
            "clean_up_tokenization_spaces": False,
            "repro_kind": self.kind,
        }
        if self.kind == "char":  # byte-level BPE has no unknown token
            config["unk_token"] = UNK_CHAR
        write_json(directory / TOKENIZER_CONFIG_FILE, config)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> Tokenizer:
        """Load a tokenizer written by :meth:`save`."""
        directory = Path(directory)
        path = directory / TOKENIZER_FILE
        if not path.is_file():
            raise FileNotFoundError(f"no {TOKENIZER_FILE} in {directory}")
        try:
            tk = _HFTokenizer.from_file(str(path))
            model_type = json.loads(path.read_text(encoding="utf-8"))["model"]["type"]
        except Exception as exc:  # the tokenizers library raises a bare Exception for a malformed file
            raise ValueError(f"{path}: not a readable tokenizer file ({exc}); delete it and rerun") from exc
        kind = {"BPE": "bpe", "WordLevel": "char"}.get(model_type)
        if kind is None:
            raise ValueError(f"{path}: unsupported tokenizer model {model_type!r}")
        return cls(tk, kind)

    def __repr__(self) -> str:
        return f"Tokenizer(kind={self.kind!r}, vocab_size={self.vocab_size})"


def _as_iter(texts: Iterable[str]) -> Iterable[str]:
    # A bare string would be iterated character by character: almost certainly a bug.
    if isinstance(texts, str):
        raise TypeError("texts must be an iterable of strings, not a string")
    return texts


def train_tokenizer(texts: Iterable[str], kind: str = "bpe", vocab_size: int = 2048) -> Tokenizer:
    """Train a tokenizer of ``kind`` (``"bpe"`` or ``"char"``); ``vocab_size`` caps either."""
    if kind == "bpe":
        return Tokenizer.train_bpe(texts, vocab_size)
    if kind == "char":
        return Tokenizer.train_char(_as_iter(texts), max_vocab=vocab_size)
    raise ValueError(f"unknown tokenizer kind {kind!r} (expected 'bpe' or 'char')")


def encode_documents(tokenizer: Tokenizer, texts: Sequence[str], *, eos_between: bool = True) -> np.ndarray:
    """One flat id array for several documents, each followed by EOS.

    This is the training stream: the EOS after each document lets the model learn
    document boundaries and keeps windows that straddle two documents honest.
    """
    parts = list(encode_document_stream(tokenizer, texts, eos_between=eos_between, batch_docs=max(1, len(texts))))
    if not parts:
        return np.zeros(0, dtype=tokenizer.token_dtype)
    return np.concatenate(parts)


def encode_document_stream(
    tokenizer: Tokenizer, texts: Iterable[str], *, eos_between: bool = True, batch_docs: int = 256
) -> Iterator[np.ndarray]:
    """:func:`encode_documents` for a stream of documents (a paper-scale corpus read from the hub): one id array per
    ``batch_docs`` documents, so the corpus is never held whole (issue 28, bounded memory). The concatenation of the
    arrays equals ``encode_documents`` of the same documents (each document is encoded on its own)."""
    eos = np.array([tokenizer.eos_id], dtype=tokenizer.token_dtype)

    def encode(batch: list[str]) -> np.ndarray:
        parts: list[np.ndarray] = []
        for ids in tokenizer.encode_batch(batch):
            parts.append(np.asarray(ids, dtype=tokenizer.token_dtype))
            if eos_between:
                parts.append(eos)
        return np.concatenate(parts)

    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) == batch_docs:
            yield encode(batch)
            batch = []
    if batch:
        yield encode(batch)


_COUNT_CHUNK = 1 << 24  # tokens counted at a time: a memory-mapped corpus is never copied whole to int64


def unigram_entropy(tokens: np.ndarray, vocab_size: int | None = None) -> float:
    """Entropy (nats per token) of the empirical unigram distribution of ``tokens``.

    The loss of the best context-free predictor on the same data: a trained LM that
    does not beat it on held-out text has learned nothing about context.
    """
    counts = np.zeros(vocab_size or 0, dtype=np.int64)
    for start in range(0, len(tokens), _COUNT_CHUNK):
        part = np.bincount(np.asarray(tokens[start : start + _COUNT_CHUNK], dtype=np.int64), minlength=len(counts))
        if len(part) > len(counts):
            counts = np.pad(counts, (0, len(part) - len(counts)))
        counts[: len(part)] += part
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


__all__ = [
    "EOS",
    "TOKENIZER_FILE",
    "UNK_CHAR",
    "Tokenizer",
    "encode_document_stream",
    "encode_documents",
    "train_tokenizer",
    "unigram_entropy",
]
