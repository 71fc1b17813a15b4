"""The Semantic Scholar and Wikipedia stand-in servers speak the real APIs' wire protocols (issue 28).

:mod:`repro.common.standins.s2` is driven by the project's own paper-scale client
(:class:`repro.ideagen.retrieval.SemanticScholarClient`, its ``session`` a Starlette ``TestClient``), and both
stand-ins are checked to refuse what the real APIs refuse, with the real status codes and error shapes, and to
answer identically when built twice from the same documents.
"""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from fastapi.testclient import TestClient

from repro.common.standins import s2, wiki
from repro.ideagen.retrieval import RetrievalError, SemanticScholarClient, build_bank

TOPICS = [
    ("chain-of-thought prompting", "Prompting large language models to reason step by step improves arithmetic."),
    ("retrieval augmented generation", "Retrieving passages from a corpus grounds the answers of language models."),
    ("instruction tuning", "Fine-tuning language models on instructions improves zero-shot generalisation."),
    ("code generation", "Language models write programs; unit tests check the generated code."),
    ("factuality", "Language models hallucinate facts; retrieval and self-verification reduce errors."),
    ("multilingual transfer", "Models trained on many languages transfer reasoning to low-resource languages."),
]


def _docs(n: int = 36) -> list[tuple[str, str]]:
    """``n`` (title, text) documents over six topics, each text a few sentences long."""
    docs = []
    for i in range(n):
        topic, sentence = TOPICS[i % len(TOPICS)]
        title = f"A study of {topic}, part {i // len(TOPICS) + 1}"
        text = f"{sentence} We report experiment {i} on benchmark {i % 4}. " * 3 + f"Our variant {i} is new."
        docs.append((title, text))
    return docs


DOCS = _docs()
S2_URL = "http://testserver/graph/v1"


@pytest.fixture(scope="module")
def papers() -> list[dict]:
    return s2.papers_from_documents(DOCS)


@pytest.fixture(scope="module")
def s2_http(papers) -> TestClient:
    return TestClient(s2.make_app(papers))


class _Session:
    """``requests.Session.get`` over a ``TestClient``: the client passes ``timeout=``, which the TestClient
    accepts but deprecates (it cannot time out an in-process call)."""

    def __init__(self, http: TestClient) -> None:
        self.http = http

    def get(self, url: str, *, params: dict | None = None, headers: dict | None = None, timeout: float = 0.0):
        return self.http.get(url, params=params, headers=headers)


def _client(http: TestClient, api_key_env: str | None = None, **kw) -> SemanticScholarClient:
    return SemanticScholarClient(
        cache_path=None, base_url=S2_URL, api_key_env=api_key_env, session=_Session(http), **kw
    )


# -- Semantic Scholar: records -----------------------------------------------------------------------------------


def test_papers_from_documents_are_real_shaped_and_consistent(papers):
    by_id = {p["paperId"]: p for p in papers}
    assert len(by_id) == len(DOCS)
    for (title, text), p in zip(DOCS, papers, strict=True):
        assert p["paperId"] == hashlib.sha1(title.encode()).hexdigest()  # 40-hex, like real S2 ids
        assert p["title"] == title and text.startswith(p["abstract"]) and len(p["abstract"]) <= 1000
        assert isinstance(p["year"], int) and p["tldr"]["text"]
        for ref in p["references"]:  # a paper cites papers of its year or earlier, in the bank
            assert ref != p["paperId"] and by_id[ref]["year"] <= p["year"]
    cited = {pid: sum(pid in p["references"] for p in papers) for pid in by_id}
    assert all(by_id[pid]["citationCount"] >= n for pid, n in cited.items())
    assert sum(len(p["references"]) for p in papers) > 0
    assert s2.papers_from_documents(DOCS) == papers
    assert [p["year"] for p in s2.papers_from_documents(DOCS, seed=1)] != [p["year"] for p in papers]


def test_repeated_titles_get_distinct_ids():
    recs = s2.papers_from_documents([("Same", "one"), ("Same", "two")])
    assert len({r["paperId"] for r in recs}) == 2


# -- Semantic Scholar: the project's client ----------------------------------------------------------------------


def test_project_client_search_paper_references_and_bank(s2_http, papers):
    client = _client(s2_http)
    hits = client.search("retrieval augmented generation", limit=5)
    assert 0 < len(hits) <= 5
    assert "retrieval augmented generation" in hits[0].title
    assert [h.score for h in hits] == [1.0 / (i + 1) for i in range(len(hits))]

    paper = client.paper(hits[0].paper_id)
    assert (paper.paper_id, paper.title, paper.year) == (hits[0].paper_id, hits[0].title, hits[0].year)
    assert paper.abstract

    # /references serves BasePaper fields only (no tldr, as the real API), so ask for those.
    with_refs = next(p for p in papers if p["references"])
    refs = _client(s2_http, fields="title,year,citationCount,abstract").references(with_refs["paperId"])
    assert [r.paper_id for r in refs] == with_refs["references"]
    assert all(r.title and r.abstract for r in refs)

    bank = build_bank(client, "language models reasoning", bank_size=10, limit=5, expand_top=3, max_queries=5)
    ids = [p.paper_id for p in bank]
    assert 0 < len(ids) <= 10 and len(set(ids)) == len(ids)
    assert set(ids) <= {p["paperId"] for p in papers}


def test_search_reply_shape_pagination_and_ranking(s2_http):
    r = s2_http.get(f"{S2_URL}/paper/search", params={"query": "code generation", "limit": 4})
    body = r.json()
    assert r.status_code == 200 and body["offset"] == 0 and body["next"] == 4 and body["total"] >= 4
    assert all(set(d) == {"paperId", "title"} for d in body["data"])  # no fields: paperId + title
    seen, offset = [], 0
    while True:
        page = s2_http.get(f"{S2_URL}/paper/search", params={"query": "code generation", "offset": offset, "limit": 4})
        page = page.json()
        seen += [d["paperId"] for d in page["data"]]
        if "next" not in page:
            break
        offset = page["next"]
    assert len(seen) == len(set(seen)) == body["total"]
    none = s2_http.get(f"{S2_URL}/paper/search", params={"query": "zzzunmatchedword"}).json()
    assert none == {"total": 0, "offset": 0, "data": []}


def test_fields_paper_id_always_and_nulls_for_known_fields_without_data(s2_http, papers):
    pid = papers[0]["paperId"]
    body = s2_http.get(f"{S2_URL}/paper/{pid}", params={"fields": "year,venue,authors,url,referenceCount"}).json()
    assert body["paperId"] == pid and body["venue"] is None and body["authors"] is None
    assert body["url"] == f"https://www.semanticscholar.org/paper/{pid}"
    assert body["referenceCount"] == len(papers[0]["references"])
    corpus = s2_http.get(f"{S2_URL}/paper/{pid}", params={"fields": "corpusId"}).json()["corpusId"]
    assert s2_http.get(f"{S2_URL}/paper/CorpusId:{corpus}").json()["paperId"] == pid


# -- Semantic Scholar: refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("paper/search", {"query": "x", "fields": "title,bogus"}, 400, "Unrecognized or unsupported fields: [bogus]"),
        ("paper/search", {"query": "x", "limit": 101}, 400, "limit=101"),
        ("paper/search", {"query": "x", "limit": "ten"}, 400, "limit=ten"),
        ("paper/search", {"query": "x", "offset": 950, "limit": 100}, 400, "not available"),
        ("paper/search", {"fields": "title"}, 400, "query"),
        ("paper/{pid}/references", {"limit": 1001}, 400, "limit=1001"),
        ("paper/{pid}/references", {"fields": "title,tldr"}, 400, "Unrecognized or unsupported fields: [tldr]"),
        ("paper/0000000000000000000000000000000000000000", {}, 404, "Paper with id 0000000000"),
        ("paper/0000000000000000000000000000000000000000/references", {}, 404, "not found"),
    ],
)
def test_s2_refuses_what_the_real_api_refuses(s2_http, papers, path, params, status, message):
    r = s2_http.get(f"{S2_URL}/{path.format(pid=papers[0]['paperId'])}", params=params)
    assert r.status_code == status
    assert message in r.json()["error"]


def test_s2_unknown_id_is_an_error_of_the_project_client(s2_http):
    with pytest.raises(RetrievalError, match="HTTP 404"):
        _client(s2_http).paper("f" * 40)


def test_s2_require_key(papers, monkeypatch):
    http = TestClient(s2.make_app(papers, require_key=True))
    r = http.get(f"{S2_URL}/paper/search", params={"query": "code"})
    assert r.status_code == 403 and r.json() == {"message": "Forbidden"}
    with pytest.raises(RetrievalError, match="HTTP 403"):
        _client(http).search("code")
    monkeypatch.setenv("S2_STANDIN_TEST_KEY", "secret")
    assert _client(http, api_key_env="S2_STANDIN_TEST_KEY").search("code", limit=2)


# -- Wikipedia: action API ---------------------------------------------------------------------------------------

PAGES = [
    ("Albert Einstein", "Albert Einstein was a theoretical physicist.\n\n== Career ==\nHe worked at a patent office."),
    ("Isaac Newton", "Isaac Newton was an English physicist and mathematician."),
    ("Marie Curie", "Marie Curie was a physicist and chemist who studied radioactivity."),
    ("AC/DC", "AC/DC are an Australian rock band."),
] + [(f"Physics topic {i}", f"Filler page {i}: a physicist wrote about topic {i}.") for i in range(24)]


@pytest.fixture(scope="module")
def wiki_http() -> TestClient:
    return TestClient(wiki.make_app(PAGES, views_seed=3))


def _api(http: TestClient, **params) -> dict:
    r = http.get("/w/api.php", params={"format": "json", "formatversion": 2, **params})
    assert r.status_code == 200  # MediaWiki answers errors with 200 too
    return r.json()


def test_unknown_action_is_a_badvalue_error(wiki_http):
    r = wiki_http.get("/w/api.php", params={"action": "frobnicate", "format": "json", "formatversion": 2})
    body = r.json()
    assert r.status_code == 200 and r.headers["MediaWiki-API-Error"] == "badvalue"
    assert body["error"]["code"] == "badvalue"
    assert body["error"]["info"] == 'Unrecognized value for parameter "action": frobnicate.'
    assert "docref" in body["error"] and "servedby" in body


def test_unrecognised_parameter_and_value_are_warnings(wiki_http):
    body = _api(wiki_http, action="query", list="search|bogus", srsearch="physicist", frobnicate=1)
    assert body["warnings"]["main"]["warnings"] == "Unrecognized parameter: frobnicate."
    assert body["warnings"]["query"]["warnings"] == 'Unrecognized value for parameter "list": bogus.'
    assert body["query"]["search"]
    clamped = _api(wiki_http, action="query", list="search", srsearch="physicist", srlimit=501)
    assert "may not be over 500" in clamped["warnings"]["search"]["warnings"]
    assert _api(wiki_http, action="query", list="search")["error"]["code"] == "missingparam"
    assert _api(wiki_http, action="query", list="search", srsearch="x", srlimit="ten")["error"]["code"] == "badinteger"


def test_search_pagination_with_continue(wiki_http):
    everything = _api(wiki_http, action="query", list="search", srsearch="physicist", srlimit=500)
    total = everything["query"]["searchinfo"]["totalhits"]
    assert total == len(everything["query"]["search"]) > 10 and "continue" not in everything
    titles, cont = [], {}
    while True:
        body = _api(wiki_http, action="query", list="search", srsearch="physicist", srlimit=5, **cont)
        titles += [hit["title"] for hit in body["query"]["search"]]
        if "continue" not in body:
            break
        cont = body["continue"]
        assert cont["continue"] == "-||" and cont["sroffset"] == len(titles)
    assert titles == [hit["title"] for hit in everything["query"]["search"]]
    hit = everything["query"]["search"][0]
    assert {"ns", "title", "pageid", "size", "wordcount", "snippet", "timestamp"} <= set(hit)
    assert '<span class="searchmatch">' in hit["snippet"]
    # Every query word must match (CirrusSearch's default).
    assert _api(wiki_http, action="query", list="search", srsearch="physicist zzzz")["query"]["search"] == []


def test_extracts_including_a_missing_title(wiki_http):
    body = _api(
        wiki_http, action="query", prop="extracts", explaintext=1, exintro=1, titles="albert_Einstein|No such page"
    )
    pages = body["query"]["pages"]
    assert {"ns": 0, "title": "No such page", "missing": True} in pages
    einstein = next(p for p in pages if p.get("pageid") == 1)
    assert einstein["extract"] == "Albert Einstein was a theoretical physicist."  # the intro only
    assert body["query"]["normalized"] == [{"fromencoded": False, "from": "albert_Einstein", "to": "Albert Einstein"}]
    # formatversion=1 (the default): pages keyed by id, missing ones by negative ids, true as "".
    v1 = wiki_http.get(
        "/w/api.php",
        params={"action": "query", "prop": "extracts", "explaintext": 1, "titles": "No such page", "format": "json"},
    ).json()
    assert v1["batchcomplete"] == "" and v1["query"]["pages"]["-1"] == {"ns": 0, "title": "No such page", "missing": ""}
    # Whole-article extracts come one per request, with a warning and a continuation.
    whole = _api(wiki_http, action="query", prop="extracts", explaintext=1, titles="Albert Einstein|Isaac Newton")
    assert whole["continue"]["excontinue"] == 1 and "batchcomplete" not in whole
    assert "== Career ==" in whole["query"]["pages"][0]["extract"] and "extract" not in whole["query"]["pages"][1]


def test_info_pageprops_random_and_parse(wiki_http):
    body = _api(wiki_http, action="query", prop="info|pageprops", inprop="url", titles="AC/DC")
    page = body["query"]["pages"][0]
    assert page["fullurl"] == "https://en.wikipedia.org/wiki/AC/DC" and page["length"] > 0 and page["pageprops"]
    first = _api(wiki_http, action="query", list="random", rnnamespace=0, rnlimit=3)
    again = _api(wiki_http, action="query", list="random", rnnamespace=0, rnlimit=3)
    assert first == again and len(first["query"]["random"]) == 3
    nxt = _api(wiki_http, action="query", list="random", rnnamespace=0, rnlimit=3, **first["continue"])
    assert not {r["id"] for r in nxt["query"]["random"]} & {r["id"] for r in first["query"]["random"]}
    parsed = _api(wiki_http, action="parse", page="Albert Einstein", prop="text|wikitext|sections")["parse"]
    assert parsed["wikitext"] == PAGES[0][1] and "<p>" in parsed["text"]
    assert [s["line"] for s in parsed["sections"]] == ["Career"]
    assert _api(wiki_http, action="parse", page="Nobody")["error"]["code"] == "missingtitle"
    gen = _api(wiki_http, action="query", generator="search", gsrsearch="chemist", prop="info")
    assert [p["title"] for p in gen["query"]["pages"]] == ["Marie Curie"]


def test_missing_format_serves_the_html_page_as_the_real_api(wiki_http):
    r = wiki_http.get("/w/api.php", params={"action": "query", "list": "search", "srsearch": "physicist"})
    assert r.headers["content-type"].startswith("text/html")
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.text)


# -- Wikipedia: pageviews REST -----------------------------------------------------------------------------------

PV = "/api/rest_v1/metrics/pageviews/per-article"


def _views(http: TestClient, path: str) -> list[dict]:
    r = http.get(f"{PV}/{path}")
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_pageviews_items_are_consistent(wiki_http):
    items = _views(wiki_http, "en.wikipedia/all-access/all-agents/Albert_Einstein/daily/20240101/20240131")
    assert len(items) == 31 and items[0]["timestamp"] == "2024010100"
    assert set(items[0]) == {"project", "article", "granularity", "timestamp", "access", "agent", "views"}
    split = [
        _views(wiki_http, f"en.wikipedia/{access}/all-agents/Albert_Einstein/daily/20240101/20240131")
        for access in ("desktop", "mobile-web", "mobile-app")
    ]
    assert [i["views"] for i in items] == [sum(day) for day in zip(*([i["views"] for i in s] for s in split))]
    month = _views(wiki_http, "en.wikipedia.org/all-access/all-agents/Albert_Einstein/monthly/2024010100/2024013100")
    assert month[0]["timestamp"] == "2024010100" and month[0]["views"] == sum(i["views"] for i in items)
    last = _views(wiki_http, "en.wikipedia/all-access/all-agents/Physics_topic_23/daily/20240101/20240131")
    assert sum(i["views"] for i in items) > 10 * sum(i["views"] for i in last)  # Zipf over page order
    assert _views(wiki_http, "en.wikipedia/all-access/all-agents/AC%2FDC/daily/20240101/20240101")[0]["article"] == (
        "AC/DC"
    )


@pytest.mark.parametrize(
    ("path", "status", "kind"),
    [
        ("en.wikipedia/all-access/all-agents/Albert_Einstein/hourly/20240101/20240102", 400, "bad_request"),
        ("en.wikipedia/all-devices/all-agents/Albert_Einstein/daily/20240101/20240102", 400, "bad_request"),
        ("en.wikipedia/all-access/all-agents/Albert_Einstein/daily/20240132/20240202", 400, "bad_request"),
        ("en.wikipedia/all-access/all-agents/Albert_Einstein/daily/20240105/20240102", 400, "bad_request"),
        ("en.wikipedia/all-access/all-agents/No_such_article/daily/20240101/20240102", 404, "not_found"),
        ("en.wikipedia/all-access/all-agents/albert_Einstein/daily/20240101/20240102", 404, "not_found"),
        ("en.wikipedia/all-access/all-agents/Albert_Einstein/daily/20140101/20140102", 404, "not_found"),
        ("de.wikipedia/all-access/all-agents/Albert_Einstein/daily/20240101/20240102", 404, "not_found"),
    ],
)
def test_pageviews_refusals(wiki_http, path, status, kind):
    r = wiki_http.get(f"{PV}/{path}")
    body = r.json()
    assert r.status_code == status
    assert body["type"] == f"https://mediawiki.org/wiki/HyperSwitch/errors/{kind}"
    assert body["method"] == "get" and body["uri"].endswith(path) and body["detail"]


# -- Both: determinism and the launcher's factories --------------------------------------------------------------

S2_REQUESTS = [
    ("/graph/v1/paper/search", {"query": "language models", "limit": 20, "fields": "title,year,citationCount,tldr"}),
    ("/graph/v1/paper/search", {"query": "retrieval", "year": "2000-", "fields": "title,references.year"}),
]
WIKI_REQUESTS = [
    ("/w/api.php", {"action": "query", "list": "search", "srsearch": "physicist", "format": "json"}),
    ("/w/api.php", {"action": "query", "list": "random", "rnlimit": 5, "format": "json", "formatversion": 2}),
    (f"{PV}/en.wikipedia/all-access/user/Marie_Curie/daily/20230101/20230301", {}),
]


def test_same_documents_same_bytes(tmp_path):
    s2_file = tmp_path / "s2.json"
    s2_file.write_text(json.dumps({"papers": s2.papers_from_documents(DOCS)}))
    wiki_file = tmp_path / "wiki.json"
    wiki_file.write_text(json.dumps({"pages": [list(p) for p in wiki.pages_from_documents(PAGES)], "views_seed": 3}))
    for make, requests in (
        (lambda: s2.make_app(s2.papers_from_documents(DOCS)), S2_REQUESTS),
        (lambda: s2.app_from_file(str(s2_file)), S2_REQUESTS),
        (lambda: wiki.make_app(PAGES, views_seed=3), WIKI_REQUESTS),
        (lambda: wiki.app_from_file(str(wiki_file)), WIKI_REQUESTS),
    ):
        a, b = TestClient(make()), TestClient(make())
        for path, params in requests:
            ra, rb = a.get(path, params=params), b.get(path, params=params)
            assert ra.status_code == 200 and ra.content == rb.content
    other_seed = TestClient(wiki.make_app(PAGES, views_seed=4)).get(WIKI_REQUESTS[2][0]).content
    assert other_seed != TestClient(wiki.make_app(PAGES, views_seed=3)).get(WIKI_REQUESTS[2][0]).content


def test_pages_from_documents_normalises_and_disambiguates():
    pages = wiki.pages_from_documents([("foo_bar", "a"), ("Foo bar", "b"), ("x", "c")])
    assert [t for t, _ in pages] == ["Foo bar", "Foo bar (2)", "X"]
    with pytest.raises(ValueError, match="two pages"):
        wiki.make_app([("Foo", "a"), ("foo", "b")])
    assert re.fullmatch(r"[0-9a-f]{40}", s2.papers_from_documents([("T", "x")])[0]["paperId"])
