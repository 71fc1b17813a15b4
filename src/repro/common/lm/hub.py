"""Paper-scale data and tokenizers from the Hugging Face hub (network needed, except at the rehearsal scale).

Every paper-scale LM experiment streams a corpus by dataset id and tokenizes it with a
released tokenizer by model id (e.g. the Pile and the Llama-2 tokenizer for ttt). At the
rehearsal scale ``paper_toy`` the ids are local stand-in folders in the same formats
(:mod:`repro.common.standins`), read by the same calls. These two pieces give them the small
interfaces the offline pipeline uses
(:class:`repro.common.lm.tokenizer.Tokenizer`: ``encode_batch``, ``save``, ``eos_id``,
``vocab_size``, ``token_dtype``), so a paper's data step is the same at both scales.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import numpy as np


def hub_texts(dataset: str, split: str, text_field: str, max_documents: int | None) -> Iterator[str]:
    """Texts of a Hugging Face dataset split (a hub id, or a local dataset folder), streamed one at a time: the
    caller encodes them as they come (repro.common.lm.tokenizer.encode_document_stream), so a corpus the size of the
    Pile is never held in memory."""
    try:
        import datasets
    except ImportError as exc:
        raise RuntimeError("hub datasets need the `datasets` package and network access") from exc
    stream = datasets.load_dataset(dataset, split=split, streaming=True)
    for i, row in enumerate(stream):
        if max_documents is not None and i >= max_documents:
            break
        yield row[text_field]


class HubTokenizer:
    """A released tokenizer by hub id (or a saved copy) behind the offline tokenizer's small interface."""

    kind = "hf"

    def __init__(self, hf_id: str) -> None:
        from transformers import AutoTokenizer

        self.hf_id, self.backend = hf_id, AutoTokenizer.from_pretrained(hf_id)
        self.eos_id = int(self.backend.eos_token_id)
        self.vocab_size = len(self.backend)
        self.token_dtype = np.dtype(np.uint16) if self.vocab_size <= 1 << 16 else np.dtype(np.uint32)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return self.backend(list(texts), add_special_tokens=False)["input_ids"]

    def save(self, directory: str | os.PathLike[str]) -> None:
        self.backend.save_pretrained(directory)
