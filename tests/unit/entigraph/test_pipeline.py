"""World, EntiGraph generator (offline stand-in through the LLM interface and cache), CPT data and QA scoring."""

from __future__ import annotations

import itertools
import json
from collections import Counter

import numpy as np
import pytest
import torch

from repro.common.fetch import fetch
from repro.common.llm import get_llm
from repro.common.llm.base import LLMError
from repro.common.lm import models
from repro.common.lm.tokenizer import train_tokenizer
from repro.common.steps import build_config
from repro.entigraph import cpt, generator, world
from repro.entigraph.config import MathConfig, RunConfig, SynthConfig, TinyStep, WorldStep


@pytest.fixture(scope="module")
def small_world():
    return world.make_world(world.WorldConfig(n_articles=4, n_people=3, n_places=2, seed=1))


def test_configs_build_from_params_at_every_scale(paper_params):
    for scale in ("tiny", "smoke", "paper"):
        block = paper_params("entigraph", scale)
        build_config(MathConfig, block["math"], "entigraph.math")
        build_config(WorldStep, block["world"], "entigraph.world")
        build_config(SynthConfig, block["synth"], "entigraph.synth")
        build_config(TinyStep, {"cpt": block["cpt"], "eval": block["eval"]}, "entigraph.tiny")
        build_config(
            RunConfig, {"method": "raw", "budget": block["cpt"]["budgets"][0], "lm": block["lm"], "cpt": block["cpt"]}
        )


def test_world_facts_stated_once_and_answers_known(small_world):
    articles, questions = small_world
    text = " ".join(a.text for a in articles)
    sentences = Counter(s for a in articles for s in cpt.split_sentences(a.text))
    for q in questions:
        gold = q.options[q.answer]
        stem = q.prompt.split(", ", 2)[-1] if "written by" in q.prompt else q.prompt
        fact = stem.split("written by ")[-1]
        assert len(set(q.options)) == len(q.options) == 4
        stated = [s for s in sentences if s.endswith(gold.strip()) and fact.split(", ", 1)[-1] in s]
        assert len(stated) == 1 and sentences[stated[0]] == 1, (q, stated)
    assert text.count(".") > len(questions)  # filler sentences are there too
    again = world.make_world(world.WorldConfig(n_articles=4, n_people=3, n_places=2, seed=1))
    assert again == small_world


def test_world_too_small_is_a_clear_error():
    with pytest.raises(ValueError, match="distractors"):
        world.make_world(world.WorldConfig(n_articles=1, n_people=2, n_places=1))


def test_quality_sample_parses(tmp_path, paper_params):
    spec = paper_params("entigraph", "tiny")["quality"][0]
    path = fetch(spec["url"], spec["sha256"], tmp_path / "quality_example.jsonl")
    articles, questions = world.load_quality([path])
    assert len(articles) == 1 and articles[0].title == "The Girl in His Mind"  # two identical lines deduplicated
    assert len(questions) == 5 and all(len(q.options) == 4 for q in questions)
    assert [q.prompt for q in questions] == sorted(q.prompt for q in questions)
    assert "<p>" not in articles[0].text and articles[0].year == 1950


def test_quality_bad_line():
    with pytest.raises(ValueError, match="line 1: missing field 'article'"):
        world.parse_quality_records([json.dumps({"title": "x"})])


def test_entity_tuples_combinatorics():
    ents = [f"E{i}" for i in range(6)]
    tuples = generator.entity_tuples(ents, max_triples=7, triple_seed=42)
    pairs = [t for t in tuples if len(t) == 2]
    triples = [t for t in tuples if len(t) == 3]
    assert pairs == list(itertools.combinations(ents, 2))
    assert len(triples) == 7 and len(set(triples)) == 7
    assert triples == generator.entity_tuples(ents, 7, 42)[len(pairs) :]
    assert triples != generator.entity_tuples(ents, 7, 43)[len(pairs) :]


def test_template_backend_entities_relations_and_cache(tmp_path, small_world):
    articles, _ = small_world
    cache = tmp_path / "cache.sqlite"
    llm = get_llm("entigraph_template", cache=cache)
    cfg = generator.GenerationConfig(max_triples=2)
    docs = generator.entigraph_documents(llm, articles[:1], cfg)
    summary = docs[0]
    assert summary.kind == "summary" and len(summary.entities) == 3 + 2  # people and places, no filler words
    assert all(e[0].isupper() for e in summary.entities)
    n = len(summary.entities)
    assert sum(d.kind == "pair" for d in docs) == n * (n - 1) // 2 and sum(d.kind == "triple" for d in docs) == 2
    source = set(cpt.split_sentences(articles[0].text))
    for d in docs[1:]:
        head, *body = cpt.split_sentences(d.text)
        assert all(e in head for e in d.entities)
        assert body and all(s in source for s in body)  # extractive: only the document's own sentences
        assert all(any(e in s for e in d.entities) for s in body)
    again = generator.entigraph_documents(get_llm("entigraph_template", cache=cache), articles[:1], cfg)
    assert again == docs
    with pytest.raises(LLMError, match="no likelihoods"):
        llm.logprobs("a", ["b"])


def test_parse_entities():
    assert generator.parse_entities('```json\n{"summary": "s", "entities": ["A", "B", "A"]}\n```') == ("s", ["A", "B"])
    with pytest.raises(ValueError):
        generator.parse_entities("no json here")


@pytest.fixture(scope="module")
def tok_and_docs(small_world):
    articles, questions = small_world
    llm = get_llm("entigraph_template")
    eg = generator.entigraph_documents(llm, articles, generator.GenerationConfig(max_triples=3))
    rp = generator.rephrase_documents(llm, articles, generator.GenerationConfig(rephrase_styles=("a", "b")))
    tok = train_tokenizer([a.text for a in articles] + ["some generic text here"] * 5, "bpe", 300)
    return tok, articles, questions, eg, rp


@pytest.mark.parametrize("method", ["raw", "rephrase", "entigraph"])
def test_domain_tokens_budget(tok_and_docs, method):
    tok, articles, _, eg, rp = tok_and_docs
    ids, text = cpt.domain_tokens(method, 700, tok, articles, eg, rp, seed=0)
    assert len(ids) == 700 and text
    again, _ = cpt.domain_tokens(method, 700, tok, articles, eg, rp, seed=0)
    np.testing.assert_array_equal(ids, again)


def test_entigraph_budget_too_large(tok_and_docs):
    tok, articles, _, eg, rp = tok_and_docs
    with pytest.raises(cpt.CorpusBudgetError, match="fewer than the budget"):
        cpt.domain_tokens("entigraph", 10**8, tok, articles, eg, rp, seed=0)
    with pytest.raises(ValueError, match="unknown CPT method"):
        cpt.domain_tokens("wrap", 10, tok, articles, eg, rp, seed=0)


def test_mix_replay_rate():
    mix = cpt.mix_replay(np.arange(900), np.arange(10_000), 0.1, seed=0)
    assert len(mix) == 1000
    with pytest.raises(ValueError):
        cpt.mix_replay(np.arange(9), np.arange(10), 1.0, seed=0)
    assert cpt.cpt_steps(1000, 2.0, 300) == 7


def test_option_accuracy_and_floor(tok_and_docs):
    tok, _, questions, _, _ = tok_and_docs
    torch.manual_seed(0)
    model = models.build_model(
        models.ModelConfig(n_layer=1, n_head=2, d_model=16, context=64, vocab_size=tok.vocab_size)
    )
    acc, picks = cpt.option_accuracy(model, tok, questions[:8])
    assert 0.0 <= acc <= 1.0 and picks.shape == (8,)
    # the count floor: with the gold options repeated in the text it is perfect, on empty text it is chance
    q = questions[0]
    text = " ".join([q.options[q.answer].strip(" .")] * 3 + [o.strip(" .") for o in q.options])
    assert cpt.count_floor_accuracy([q], text) == 1.0
    wrong = (q.answer + 1) % 4
    assert cpt.count_floor_accuracy([q], text + (" " + q.options[wrong].strip(" .")) * 5) == 0.0
    assert cpt.count_floor_accuracy(questions, "") == pytest.approx(0.25)


def test_retriever_finds_the_fact_sentence(small_world):
    articles, questions = small_world
    ret = cpt.Retriever.from_articles(articles)
    ctx = ret.contexts([q.prompt for q in questions], k=3)
    recall = np.mean([q.options[q.answer].strip(" .") in c for q, c in zip(questions, ctx)])
    assert recall > 0.8


def test_run_seeds_where_the_claims_compare(paper_params):
    from repro.entigraph.config import CPTSettings

    every = CPTSettings(budgets=(4000, 8000, 64000), seeds=(0, 1, 2))
    assert every.run_seeds("raw", 8000) == (0, 1, 2)
    some = CPTSettings(budgets=(4000, 8000, 64000), seeds=(0, 1, 2), seed_every_budget=("entigraph",))
    assert some.run_seeds("entigraph", 8000) == (0, 1, 2)
    assert some.run_seeds("raw", 8000) == ()
    assert some.run_budgets("raw") == (4000, 64000) and some.run_budgets("entigraph") == (4000, 8000, 64000)
    assert some.run_seeds("raw", 4000) == some.run_seeds("rephrase", 64000) == (0, 1, 2)
    # tiny: >= 3 seeds wherever a comparison claim reads the runs (the largest and smallest budgets, EntiGraph)
    cpt = build_config(TinyStep, {**{k: paper_params("entigraph", "tiny")[k] for k in ("cpt", "eval")}}, "t").cpt
    for method in cpt.methods:
        assert len(cpt.run_seeds(method, max(cpt.budgets))) >= 3
        assert len(cpt.run_seeds(method, min(cpt.budgets))) >= 3
    assert all(len(cpt.run_seeds("entigraph", b)) >= 3 for b in cpt.budgets)
