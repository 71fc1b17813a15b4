"""Fixtures shared by the LM toolkit and LLM backend tests.

``tiny_lm`` trains one small GPT-2 on the mirrored tiny-Shakespeare text once per
session (about 10 s on one core) and saves it as a model directory; the evaluation,
backend and server tests all reuse it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]

# The top-level tests/conftest.py sets REPRO_MIRROR; keep these tests runnable on their own.
if not os.environ.get("REPRO_MIRROR"):
    os.environ["REPRO_MIRROR"] = str((ROOT.parent / "shared" / "mirror").resolve())
# Tests never touch the network: make transformers/huggingface_hub fail fast if asked to.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def lm_resources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide resources/ folder for fetched corpora (never the repo's own)."""
    mirror = Path(os.environ["REPRO_MIRROR"])
    if not mirror.is_dir():
        pytest.fail(f"data mirror not found at {mirror}: set REPRO_MIRROR")
    return tmp_path_factory.mktemp("resources")


@dataclass
class TinyLM:
    """The session's trained model and everything the tests compare against."""

    model_dir: Path
    model: object
    tokenizer: object
    cfg: object
    train_cfg: object
    train_ids: np.ndarray
    heldout_ids: np.ndarray
    heldout_texts: list[str]
    history: list[dict]
    unigram_entropy: float
    seconds: float


@pytest.fixture(scope="session")
def tiny_lm(lm_resources: Path, tmp_path_factory: pytest.TempPathFactory) -> TinyLM:
    from repro.common.lm.corpora import load_corpus, split_documents
    from repro.common.lm.models import ModelConfig, build_model, save_model_dir
    from repro.common.lm.tokenizer import encode_documents, train_tokenizer, unigram_entropy
    from repro.common.lm.trainer import TrainConfig, train

    t0 = time.perf_counter()
    docs = load_corpus("tinyshakespeare", lm_resources)
    train_docs, held_docs = split_documents(docs, heldout_frac=0.1, seed=0)
    tok = train_tokenizer([d.text for d in train_docs], "bpe", vocab_size=512)
    train_ids = encode_documents(tok, [d.text for d in train_docs])
    held_ids = encode_documents(tok, [d.text for d in held_docs])
    cfg = ModelConfig(arch="gpt2", n_layer=2, n_head=4, d_model=64, context=64, vocab_size=tok.vocab_size)
    tcfg = TrainConfig(
        steps=300,
        batch_size=16,
        context=64,
        lr=3e-3,
        warmup=30,
        min_lr=3e-4,
        eval_every=100,
        eval_batches=8,
        seed=0,
        threads=1,
    )
    model = build_model(cfg, seed=0)
    history = train(model, train_ids, tcfg, eval_tokens=held_ids, progress=False)
    seconds = time.perf_counter() - t0
    model_dir = tmp_path_factory.mktemp("tiny_lm") / "model"
    save_model_dir(model_dir, model, cfg, tok, extra={"history": history})
    return TinyLM(
        model_dir=model_dir,
        model=model,
        tokenizer=tok,
        cfg=cfg,
        train_cfg=tcfg,
        train_ids=train_ids,
        heldout_ids=held_ids,
        heldout_texts=[d.text for d in held_docs],
        history=history,
        unigram_entropy=unigram_entropy(train_ids, tok.vocab_size),
        seconds=seconds,
    )
