"""Tiny tier building blocks: knowledge base, corpus, claim parsing, merging, edges."""

from __future__ import annotations

import numpy as np
import pytest

from repro.graphunc.world import (
    ATTRIBUTES,
    Vocab,
    bio_prompt,
    entailment_matrix,
    majority_values,
    make_corpus,
    make_kb,
    merge_claims,
    parse_claims,
)


def test_kb_is_deterministic_with_popularity_skew():
    a, b = make_kb(50, 30, 0.9, seed=3), make_kb(50, 30, 0.9, seed=3)
    assert a == b
    counts = [p.count for p in a]
    assert counts[0] == 30 and min(counts) >= 1 and counts == sorted(counts, reverse=True)
    assert len({(p.first, p.last) for p in a}) == 50
    with pytest.raises(ValueError):
        make_kb(1, 30, 0.9, 0)


def test_corpus_round_trips_through_the_parser():
    people = make_kb(20, 5, 1.0, seed=0)
    docs = make_corpus(people, seed=1)
    assert len(docs) == sum(p.count for p in people)
    vocab = Vocab(people)
    by_name = {(p.first, p.last): p for p in people}
    for doc in docs[:10]:
        assert vocab.decode(vocab.encode(doc)) == doc
        p = by_name[(doc[2], doc[3])]
        assert doc[:5] == bio_prompt(p)
        assert sorted(parse_claims(doc[5:-1])) == sorted(p.facts.items())


def test_parser_is_lenient_and_merge_keeps_order():
    words = "ab cd grew up in city_1 . ab cd grew up . ab cd won the award_2 . ab cd won the award_2 .".split()
    assert parse_claims(words) == [("city", "city_1"), ("award", "award_2")]
    assert parse_claims("ab cd won the city_3 .".split()) == []  # value of the wrong attribute
    merged = merge_claims([[("a", "1"), ("b", "2")], [("b", "2"), ("c", "3")]])
    assert merged == [("a", "1"), ("b", "2"), ("c", "3")]
    m = entailment_matrix([[("a", "1")], [("b", "2"), ("c", "3")]], merged)
    assert m.tolist() == [[1, 0, 0], [0, 1, 1]]


def test_majority_floor_uses_popularity_weights():
    people = make_kb(30, 10, 1.0, seed=0)
    maj = majority_values(people)
    assert set(maj) == set(ATTRIBUTES)
    for attr, value in maj.items():
        weight = {}
        for p in people:
            weight[p.facts[attr]] = weight.get(p.facts[attr], 0) + p.count
        assert weight[value] == max(weight.values())
    assert Vocab(people).encode(["bio"]) == [3]
    with pytest.raises(ValueError, match="not in the vocabulary"):
        Vocab(people).encode(["zzz"])
    assert np.isfinite(len(Vocab(people)))
