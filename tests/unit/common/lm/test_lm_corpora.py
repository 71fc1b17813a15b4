"""Corpus loaders: pinned files, parsing into documents, domains, licences, held-out split."""

from __future__ import annotations

import collections
import random

import pytest

from repro.common.fetch import FetchError
from repro.common.lm import corpora as C


@pytest.fixture(scope="module")
def default_docs(lm_resources):
    return C.load_mix("default", lm_resources)


def test_default_mix_is_the_cleanly_licensed_set():
    assert set(C.DEFAULT_MIX) == {
        "tinyshakespeare",
        "wikitext2",
        "news_from_nowhere",
        "jack_sheppard",
        "state_union",
        "inaugural",
        "movie_reviews",
        "shakespeare",
        "switchboard",
    }
    assert set(C.OPT_IN) == {"brown", "nps_chat", "abc", "webtext"}
    for name, spec in C.CORPORA.items():
        for res in spec.resources:
            # Canonical GitHub raw URL pinned to a 40-hex commit, sha256 hex digest.
            parts = res.url.split("/")
            assert res.url.startswith("https://raw.githubusercontent.com/"), name
            assert len(parts[5]) == 40 and all(c in "0123456789abcdef" for c in parts[5]), name
            assert len(res.sha256) == 64


def test_default_mix_documents(default_docs):
    by_corpus = collections.defaultdict(list)
    for d in default_docs:
        by_corpus[d.corpus].append(d)
    expected_domain = {
        "tinyshakespeare": "drama",
        "shakespeare": "drama",
        "wikitext2": "encyclopedic",
        "news_from_nowhere": "fiction",
        "jack_sheppard": "fiction",
        "state_union": "speeches",
        "inaugural": "speeches",
        "movie_reviews": "reviews",
        "switchboard": "dialogue",
    }
    assert set(by_corpus) == set(expected_domain)
    for name, docs in by_corpus.items():
        assert len(docs) >= 20, name  # enough documents for a held-out split
        assert {d.domain for d in docs} == {expected_domain[name]}
        assert all(d.doc_id.startswith(f"{name}/") and d.text.strip() for d in docs)
    ids = [d.doc_id for d in default_docs]
    assert len(ids) == len(set(ids))
    assert len(by_corpus["movie_reviews"]) == 2000
    assert len(by_corpus["switchboard"]) == 36
    assert len(by_corpus["shakespeare"]) == 40  # 8 plays x 5 acts
    total = sum(len(d.text) for d in default_docs)
    assert 15e6 < total < 25e6  # "~20 MB" default mix


def test_gutenberg_boilerplate_is_stripped(default_docs):
    novels = [d for d in default_docs if d.corpus in ("news_from_nowhere", "jack_sheppard")]
    assert len(novels) >= 80
    for d in novels:
        assert "Project Gutenberg" not in d.text and "PROJECT GUTENBERG" not in d.text, d.doc_id
        assert "\r" not in d.text
        assert d.text.startswith("CHAPTER "), d.doc_id
    first = next(d for d in novels if d.doc_id == "jack_sheppard/ch001")
    assert "The Widow and her Child" in first.text[:200]


def test_strip_gutenberg_and_chapters():
    text = (
        "The Project Gutenberg EBook of X\r\nlicence blah\r\n*** START OF THIS PROJECT GUTENBERG EBOOK X ***\r\n"
        "Produced by someone\r\n\r\nCONTENTS\r\nCHAPTER I. A start          1\r\nCHAPTER II. More   9\r\n\r\n"
        "CHAPTER I.\r\n\r\nIt began.\r\n\r\nCHAPTER II.\r\n\r\nIt ended.\r\n"
        "End of Project Gutenberg's X\r\n*** END OF THIS PROJECT GUTENBERG EBOOK X ***\r\nlicence again\r\n"
    )
    body = C.strip_gutenberg(text)
    assert "licence" not in body and "End of Project" not in body
    chapters = C.split_chapters(body)
    # Table-of-contents lines (ending in page numbers) are not chapter starts.
    assert chapters == ["CHAPTER I.\n\nIt began.\n", "CHAPTER II.\n\nIt ended.\n"]
    with pytest.raises(ValueError, match="markers"):
        C.strip_gutenberg("no markers here")


def test_zip_and_xml_parsing(default_docs):
    by_id = {d.doc_id: d for d in default_docs}
    hamlet = by_id["shakespeare/hamlet/act1"]
    assert hamlet.text.startswith("ACT I") and "HAMLET" in hamlet.text and "<LINE>" not in hamlet.text
    call = by_id["switchboard/call00"]
    assert call.text.startswith("A.1: Uh, do you have a pet Randy?")
    # Nixon's addresses carry Big5-style punctuation bytes; they become real punctuation.
    nixon = by_id["state_union/1970-Nixon"]
    assert "\u00a1" not in nixon.text and "\u2019" in nixon.text
    wiki = [d for d in default_docs if d.corpus == "wikitext2"]
    assert all(d.text.startswith("= ") for d in wiki)  # one article per document


def test_opt_in_corpora_need_the_flag(lm_resources):
    for name in C.OPT_IN:
        with pytest.raises(C.OptInRequiredError, match="allow_opt_in=True"):
            C.load_corpus(name, lm_resources)
    with pytest.raises(C.OptInRequiredError):
        C.load_mix(["tinyshakespeare", "brown"], lm_resources)
    with pytest.raises(C.OptInRequiredError):
        C.load_mix("all", lm_resources)
    brown = C.load_corpus("brown", lm_resources, allow_opt_in=True)
    assert len(brown) == 500
    assert {d.domain for d in brown} == set(C.BROWN_DOMAINS.values())
    assert "/at " not in brown[0].text and "The Fulton County Grand Jury" in brown[0].text
    chat = C.load_corpus("nps_chat", lm_resources, allow_opt_in=True)
    assert len(chat) == 15 and all("JOIN" not in d.text.split("\n") for d in chat)
    web = C.load_corpus("webtext", lm_resources, allow_opt_in=True)
    assert {"forum", "dialogue", "script", "ads", "reviews"} == {d.domain for d in web}


def test_unknown_corpus_and_missing_mirror(tmp_path, monkeypatch):
    with pytest.raises(C.UnknownCorpusError, match="known: tinyshakespeare"):
        C.load_corpus("gutenberg", tmp_path)
    monkeypatch.setenv("REPRO_MIRROR", str(tmp_path / "empty-mirror"))
    with pytest.raises(FetchError, match="REPRO_MIRROR"):
        C.load_corpus("inaugural", tmp_path / "res")


def test_split_is_deterministic_stratified_and_order_free(default_docs):
    train, held = C.split_documents(default_docs, heldout_frac=0.1, seed=0)
    assert len(train) + len(held) == len(default_docs)
    assert not {d.doc_id for d in train} & {d.doc_id for d in held}
    corpora_held = collections.Counter(d.corpus for d in held)
    assert set(corpora_held) == set(C.DEFAULT_MIX)  # every corpus (and domain) is evaluable
    assert corpora_held["movie_reviews"] == 200
    shuffled = list(default_docs)
    random.Random(1).shuffle(shuffled)
    _, held2 = C.split_documents(shuffled, heldout_frac=0.1, seed=0)
    assert {d.doc_id for d in held2} == {d.doc_id for d in held}
    # A corpus's split does not depend on which other corpora are loaded.
    only_inaugural = [d for d in default_docs if d.corpus == "inaugural"]
    _, held3 = C.split_documents(only_inaugural, heldout_frac=0.1, seed=0)
    assert {d.doc_id for d in held3} == {d.doc_id for d in held if d.corpus == "inaugural"}
    _, held_other = C.split_documents(default_docs, heldout_frac=0.1, seed=1)
    assert {d.doc_id for d in held_other} != {d.doc_id for d in held}


def test_chunk_text_bounds():
    paras = [("word " * n).strip() for n in (10, 500, 3, 2000, 40)]
    text = "\n\n".join(paras)
    chunks = C.chunk_text(text, max_chars=3000)
    assert all(0 < len(c) <= 3000 for c in chunks)
    assert "".join(chunks).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(" ", "")
