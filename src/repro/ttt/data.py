"""The ttt data (Sun et al. 2024, Sec. 3.1): long documents, a document-level held-out split, a tokenizer.

Tiny scale: long documents (Gutenberg chapters, WikiText articles) from the mirrored corpora
(:mod:`repro.common.lm.corpora`) and a tokenizer trained on the training split only
(:mod:`repro.common.lm.tokenizer`). Paper scale: the Pile by Hugging Face id and the Llama-2
tokenizer (:mod:`repro.common.lm.hub`; network needed).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from repro.common.lm.corpora import load_mix, split_documents
from repro.common.lm.hub import HubTokenizer, hub_texts
from repro.common.lm.tokenizer import Tokenizer, train_tokenizer
from repro.ttt.config import DataSettings, TokenizerSettings


def corpora_root(manifests: Sequence[str | os.PathLike[str]]) -> Path:
    """The resources folder of the corpora (the folder of their manifests, ``resources/corpora``)."""
    return Path(manifests[0]).parent if len(manifests) else Path("resources/corpora")


def split_texts(data: DataSettings, resources: str | os.PathLike[str]) -> tuple[Iterable[str], Iterable[str]]:
    """Train and held-out texts: mirrored corpora split by document (lists), or the hub dataset's two splits
    (streams, read once: a corpus the size of the Pile is never held in memory)."""
    if data.source == "mirror":
        docs = load_mix(list(data.corpora), resources)
        train, held = split_documents(docs, heldout_frac=data.heldout_frac, seed=data.split_seed)
        return [d.text for d in train], [d.text for d in held]
    return (  # paper scale: the hub dataset (paper_toy: its local stand-in)
        hub_texts(data.hub_dataset, data.hub_train_split, data.hub_text_field, data.max_documents),
        hub_texts(data.hub_dataset, data.hub_heldout_split, data.hub_text_field, data.max_documents),
    )


def make_tokenizer(tok: TokenizerSettings, train_texts: Sequence[str]) -> Tokenizer | HubTokenizer:
    """``bpe`` / ``char`` trained on the training split (tiny), or ``hf`` = a hub tokenizer (paper)."""
    if tok.kind == "hf":
        return HubTokenizer(tok.hf_id)
    return train_tokenizer(list(train_texts), tok.kind, tok.vocab_size)


def load_tokenizer(directory: str | os.PathLike[str], tok: TokenizerSettings) -> Tokenizer | HubTokenizer:
    if tok.kind == "hf":
        return HubTokenizer(str(directory))
    return Tokenizer.load(directory)
