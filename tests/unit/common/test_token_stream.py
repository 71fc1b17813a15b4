"""Corpora are streamed, never held whole (issue 28, item 7: bounded memory): documents are encoded batch by batch
(repro.common.lm.tokenizer.encode_document_stream) and written to disk as they come (repro.common.lm.trainer.
save_token_stream), with the same bytes as the in-memory path; ttt's paper-scale data step, run on a stand-in Pile
far larger than its batches, keeps its Python memory a small fraction of the corpus."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from repro.common.lm.tokenizer import encode_document_stream, encode_documents, train_tokenizer
from repro.common.lm.trainer import load_tokens, save_token_stream, save_tokens

TEXTS = [f"document {i}: " + "the quick brown fox jumps over the lazy dog. " * (i % 7 + 1) for i in range(50)]


@pytest.mark.parametrize("batch_docs", [1, 7, 50, 256])
def test_the_stream_writes_the_same_bytes_as_the_in_memory_path(tmp_path, batch_docs):
    tok = train_tokenizer(TEXTS, "bpe", 300)
    whole = encode_documents(tok, TEXTS)
    parts = list(encode_document_stream(tok, iter(TEXTS), batch_docs=batch_docs))
    assert len(parts) == -(-len(TEXTS) // batch_docs)
    assert np.array_equal(np.concatenate(parts), whole)
    save_tokens(tmp_path / "a.npy", whole)
    n = save_token_stream(
        tmp_path / "b.npy", encode_document_stream(tok, iter(TEXTS), batch_docs=batch_docs), whole.dtype
    )
    assert n == len(whole)
    assert (tmp_path / "a.npy").read_bytes() == (tmp_path / "b.npy").read_bytes()
    assert np.array_equal(load_tokens(tmp_path / "b.npy"), whole)


def test_an_empty_stream_and_a_failed_stream(tmp_path):
    assert save_token_stream(tmp_path / "e.npy", iter([]), np.dtype(np.uint16)) == 0
    assert len(load_tokens(tmp_path / "e.npy")) == 0

    def broken():
        yield np.arange(10)
        raise RuntimeError("the hub went away")

    with pytest.raises(RuntimeError, match="hub went away"):
        save_token_stream(tmp_path / "f.npy", broken(), np.dtype(np.uint16))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.npy"], "a failed stream left files behind"


def _data_step_peak(tmp_path: Path, n_docs: int) -> tuple[int, dict]:
    """Peak traced Python memory of ttt__data at the rehearsal (the paper-scale path) on a stand-in Pile of
    ``n_docs`` documents of ~5 KB, after a warm-up run (module imports are not the step's memory)."""
    from repro.common.config import resolve, select_keys
    from repro.common.io import read_yaml
    from repro.common.standins.datasets import build_pile
    from repro.common.standins.hf import build_tokenizer
    from repro.common.steps import run_step

    root = Path(__file__).resolve().parents[3]
    rng = np.random.default_rng(0)
    words = np.array("the of and to in a is that for it as was with be by on not he this are or his".split())
    docs = [("Pile-CC", " ".join(rng.choice(words, size=1000))) for _ in range(n_docs)]
    build_pile(docs, tmp_path / "pile")
    build_tokenizer([t for _, t in docs[:50]], "llama", 320, tmp_path / "tok")
    del docs
    params = select_keys(
        resolve(read_yaml(root / "params.yaml"), "ttt", "paper_toy"), ["data", "tokenizer", "context"], "ttt"
    )
    params["data"]["hub_dataset"] = str(tmp_path / "pile")
    params["tokenizer"]["hf_id"] = str(tmp_path / "tok")
    (tmp_path / "params.json").write_text(json.dumps(params))
    outputs = {k: tmp_path / f"{k}{ext}" for k, ext in (("numbers", ".json"), ("train", ".npy"), ("heldout", ".npy"))}
    inputs = {"corpora": [], "tokenizer": tmp_path / "tok"}
    run_step("ttt__data", inputs, outputs, params_file=tmp_path / "params.json")  # warm-up: imports, caches
    tracemalloc.start()
    try:
        run_step("ttt__data", inputs, outputs, params_file=tmp_path / "params.json")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, json.loads(outputs["numbers"].read_text())["data"]


def test_the_paper_scale_data_step_streams_the_pile_in_bounded_memory(tmp_path, monkeypatch):
    """ttt__data at the rehearsal: the Pile read by id through `datasets` (a stand-in), the Llama-2 tokenizer by id
    (a stand-in). Three times the corpus must not need more memory: the step holds batches, not the corpus (the
    in-memory path it replaced held every text and every id, so its peak grew with the corpus)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    small, small_numbers = _data_step_peak(tmp_path / "small", 600)
    large, large_numbers = _data_step_peak(tmp_path / "large", 1800)
    assert large_numbers["train_tokens"] > 2.5 * small_numbers["train_tokens"]
    assert large < 1.3 * small, f"peak {small / 1e6:.1f} MB for 600 documents, {large / 1e6:.1f} MB for 1800"
