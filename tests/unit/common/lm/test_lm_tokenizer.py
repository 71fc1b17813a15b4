"""Locally trained tokenizers: round trips, determinism, persistence, HF compatibility."""

from __future__ import annotations

import math

import numpy as np
import pytest

from repro.common.lm.tokenizer import EOS, UNK_CHAR, Tokenizer, encode_documents, train_tokenizer, unigram_entropy

TEXTS = [
    "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n",
    "The slings and arrows of outrageous fortune,\nOr to take arms against a sea of troubles\n",
] * 20


def test_bpe_round_trip_is_lossless_on_any_utf8():
    tok = train_tokenizer(TEXTS, "bpe", vocab_size=300)
    assert tok.kind == "bpe" and 257 <= tok.vocab_size <= 300
    for s in ["", "plain", "  two  spaces\n\ttab", "naïve café 😀 中文", EOS + "x"]:
        assert tok.decode(tok.encode(s)) == s
    assert tok.encode(EOS) == [tok.eos_id]
    assert tok.decode(tok.encode("a" + EOS), skip_special=True) == "a"


def test_char_tokenizer_layout_and_unknowns():
    tok = train_tokenizer(TEXTS, "char")
    assert tok.kind == "char" and tok.eos_id == 0
    assert tok.encode(" ")[0] == 2  # the most frequent character gets the first free id
    assert tok.decode(tok.encode("To be\n")) == "To be\n"
    assert tok.decode(tok.encode("Zé")) == UNK_CHAR * 2  # unseen characters
    capped = Tokenizer.train_char(TEXTS, max_vocab=10)
    assert capped.vocab_size == 10


def test_training_is_deterministic_and_persistent(tmp_path):
    from transformers import AutoTokenizer

    for kind in ("bpe", "char"):
        a = train_tokenizer(TEXTS, kind, 300)
        b = train_tokenizer(TEXTS, kind, 300)
        assert a.backend.to_str() == b.backend.to_str()
        d = tmp_path / kind
        a.save(d)
        c = Tokenizer.load(d)
        assert c.kind == kind and c.vocab_size == a.vocab_size
        s = "Whether 'tis nobler\n"
        assert c.encode(s) == a.encode(s)
        hf = AutoTokenizer.from_pretrained(d)  # the hf backend and the server rely on this
        assert hf(s, add_special_tokens=False)["input_ids"] == a.encode(s)
        assert hf.eos_token_id == a.eos_id


def test_encode_documents_separates_with_eos():
    tok = train_tokenizer(TEXTS, "char")
    ids = encode_documents(tok, ["ab", "c"])
    assert ids.dtype == np.uint16
    assert ids.tolist() == [*tok.encode("ab"), tok.eos_id, *tok.encode("c"), tok.eos_id]


def test_unigram_entropy_known_answer():
    assert unigram_entropy(np.array([0, 1, 2, 3] * 5)) == pytest.approx(math.log(4))
    assert unigram_entropy(np.array([7] * 9)) == pytest.approx(0.0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="257"):
        train_tokenizer(TEXTS, "bpe", 100)
    with pytest.raises(ValueError, match="kind"):
        train_tokenizer(TEXTS, "wordpiece")
    with pytest.raises(TypeError):
        train_tokenizer("a single string", "bpe", 300)
