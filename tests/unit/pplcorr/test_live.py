"""Live-tier pieces: n-gram LM, pages, selection arms, bad inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from repro.common.lm.corpora import Document
from repro.pplcorr import live
from repro.pplcorr.ngram import logprobs_many, train_ngram


def test_ngram_normalised_and_batched():
    for smoothing in ("witten_bell", "add_k"):
        m = train_ngram(["the cat sat on the mat. " * 5, "a dog"], 4, smoothing)
        total = sum(2 ** m.byte_logprobs(b"the " + bytes([w]))[-1] for w in range(256))
        assert abs(total - 1) < 1e-9
        texts = ["the cat", "dog sat on", "zzz"]
        for a, b in zip(logprobs_many(m, texts), [m.byte_logprobs(t) for t in texts], strict=True):
            np.testing.assert_allclose(a, b)


def _docs():
    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocab = {
        d: ["".join(rng.choice(letters, size=rng.integers(4, 8))) for _ in range(40)]
        for d in ("alpha", "beta", "gamma")
    }
    docs = []
    for d, words in vocab.items():
        for k in range(6):
            text = " ".join(rng.choice(words, size=2000))
            docs.append(Document(text=text, corpus=d, domain=f"lab{d}", doc_id=f"{d}/{k}"))
    return docs


def _pages():
    return live.make_pages(
        _docs(),
        page_bytes=500,
        max_bytes_per_domain=60_000,
        eval_pages=3,
        task_pages=5,
        target_sample_pages=3,
        pool_frac=0.5,
        target_domains=["alpha:labalpha"],
        seed=0,
    )


def test_pages_splits_disjoint_and_deterministic():
    a, b = _pages(), _pages()
    pd.testing.assert_frame_equal(a, b)
    assert a["page_id"].is_unique
    assert set(a["split"]) == {"eval", "task", "target_sample", "pool", "train"}
    assert set(a.loc[a["split"] == "task", "domain"]) == {"alpha:labalpha"}


def test_arms_respect_budget_and_empty_selection_is_an_error():
    pages = _pages()
    w = pd.Series({"alpha:labalpha": 1.0, "beta:labbeta": 0.0, "gamma:labgamma": 0.0})
    pool = pages[pages["split"] == "pool"].reset_index(drop=True)
    for arm in live.ARMS:
        chosen, _ = live.select_pages(
            arm,
            pages,
            budget_bytes=5000,
            seed=0,
            weights=w,
            target_coarse="labalpha",
            target_domain="alpha:labalpha",
            n_features=1024,
            dsir_features=256,
        )
        got = pool.iloc[chosen]
        assert 5000 <= got["bytes"].sum() < 5000 + 600
        if arm in ("pplcorr", "domain_filter", "dsir"):
            assert (got["domain"] == "alpha:labalpha").mean() > 0.9, arm
    with pytest.raises(live.SelectionError, match="filtered out"):
        live.select_pages("domain_filter", pages, budget_bytes=5000, seed=0, target_coarse="nothing")


def test_population_estimate_and_projection_shapes():
    pages = _pages()
    cloze = live.make_cloze(pages, "t", "alpha:labalpha", n_items=20, context_bytes=60, n_choices=4, seed=0)
    members = live.population_specs(
        sorted(pages["domain"].unique()),
        size=12,
        orders=[1, 3],
        smoothings=["witten_bell"],
        dirichlet_alpha=0.3,
        min_bytes=2000,
        max_bytes=20000,
        seed=0,
    )
    X, E = live.train_population(pages, cloze, members, 0)
    assert X.shape == (12, 3) and np.isfinite(X.to_numpy()).all()
    pool_bytes = pages[pages["split"] == "pool"].groupby("domain")["bytes"].sum()
    est, w = live.pplcorr_domains(X, E["t"].to_numpy(), pool_bytes, estimator_name="sign_cdf", filter_ratio=0.34)
    assert est.shape == (3,) and np.isfinite(est.to_numpy()).all()
    assert abs(w.sum() - 1) < 1e-9


def test_population_with_transformers_is_deterministic():
    from repro.pplcorr.tiny_lm import TransformerSpec, char_tokenizer

    pages = _pages()
    cloze = live.make_cloze(pages, "t", "alpha:labalpha", n_items=10, context_bytes=60, n_choices=4, seed=0)
    members = live.population_specs(
        sorted(pages["domain"].unique()),
        size=4,
        orders=[2],
        smoothings=["witten_bell"],
        dirichlet_alpha=0.3,
        min_bytes=3000,
        max_bytes=6000,
        seed=0,
        transformers=2,
        transformer_steps=[3, 5],
    )
    assert [m.kind for m in members] == ["ngram", "ngram", "transformer", "transformer"]
    assert [m.steps for m in members[2:]] == [3, 5]
    spec = TransformerSpec(n_layer=1, n_head=2, d_model=16, context=32, steps=3, batch_size=4, warmup=1)
    tok = char_tokenizer(pages["text"].tolist())
    runs = [live.train_population(pages, cloze, members, 0, transformer=spec, tokenizer=tok) for _ in range(2)]
    pd.testing.assert_frame_equal(runs[0][0], runs[1][0])
    pd.testing.assert_frame_equal(runs[0][1], runs[1][1])
    X, E = runs[0]
    assert X.shape == (4, 3) and np.isfinite(X.to_numpy()).all()
    assert ((E["t"] >= 0) & (E["t"] <= 1)).all()
    # an untrained-ish character model is far from the n-grams' BPB but finite and positive
    assert (X.loc[[m.name for m in members[2:]]].to_numpy() > 0).all()
    with pytest.raises(ValueError, match="needs the transformer spec"):
        live.train_population(pages, cloze, members, 0)


def test_transformer_scores_match_toolkit_definitions():
    from repro.pplcorr.tiny_lm import TransformerSpec, char_tokenizer, train_transformer

    texts = ["the cat sat on the mat. " * 20, "a dog ran after the cat. " * 20]
    tok = char_tokenizer(texts)
    spec = TransformerSpec(n_layer=1, n_head=2, d_model=16, context=32, steps=3, batch_size=4, warmup=1)
    m = train_transformer(texts, tok, spec, seed=0)
    bits, nbytes = m.text_bits(["the cat", "a dog sat"])
    np.testing.assert_array_equal(nbytes, [7, 9])
    # one choice per item: the continuation log-prob of "cat" is the difference of the two texts' log-probs
    lp = m.continuation_logprobs(["the "], ["cat"])
    full, _ = m.text_bits(["the cat"])
    pre, _ = m.text_bits(["the "])
    np.testing.assert_allclose(-lp[0] / np.log(2), full[0] - pre[0], rtol=1e-4)
    with pytest.raises(ValueError, match="no text"):
        train_transformer([], tok, spec, seed=0)
