"""A local stand-in for the Semantic Scholar Graph API v1 (issue 28, the rehearsal scale).

It speaks the wire protocol of https://api.semanticscholar.org/graph/v1 (reference:
https://api.semanticscholar.org/api-docs/graph) over a fixed bank of paper records, so the paper-scale
client (:class:`repro.ideagen.retrieval.SemanticScholarClient`) runs unchanged against it:

- ``GET /graph/v1/paper/search``: relevance search (``query``, ``offset``, ``limit`` <= 100, ``fields``, and the
  ``year``, ``publicationDateOrYear``, ``minCitationCount``, ``venue``, ``fieldsOfStudy``, ``publicationTypes``,
  ``openAccessPdf`` filters); only the first 1,000 ranked results are reachable, as on the real API;
- ``GET /graph/v1/paper/{paper_id}``: one paper (ids: the 40-hex ``paperId`` or ``CorpusId:<n>``);
- ``GET /graph/v1/paper/{paper_id}/references`` and ``/citations`` (``limit`` <= 1000).

It refuses what the real API refuses, with its status codes and ``{"error": ...}`` bodies: an unknown or
unsupported field (400 ``Unrecognized or unsupported fields: [...]``; e.g. ``tldr`` on ``/references``, whose
``citedPaper`` is the API's ``BasePaper`` without ``tldr``), a limit above the endpoint's cap or a bad integer
(400), a missing ``query`` (400), an unknown paper (404 ``Paper with id ... not found``), and, with
``require_key``, a request without ``x-api-key`` (403, the API gateway's ``{"message": "Forbidden"}``).
``paperId`` is always returned; without ``fields`` a paper is ``paperId`` + ``title``, as on the real API.

Ranking is BM25 over title (counted twice) and abstract, ties broken by ``paperId``; a paper sharing no query
term is not a hit. Everything is deterministic: the same records give byte-identical replies.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

PREFIX = "/graph/v1"
SEARCH_MAX_LIMIT = 100  # /paper/search: "limit: must be <= 100"
SEARCH_MAX_REACHABLE = 1000  # /paper/search: "Can only return up to 1,000 relevance-ranked results"
RELATION_MAX_LIMIT = 1000  # /paper/{id}/references and /citations: "limit: must be <= 1000"
DEFAULT_LIMIT = 100  # every paginated endpoint's default

# The fields of the API's BasePaper schema (what /references' citedPaper and /citations' citingPaper may carry),
# and FullPaper's extras (search and paper details). Dotted sub-fields: authors.<AUTHOR_FIELDS>,
# citations.<BASE_FIELDS>, references.<BASE_FIELDS>, embedding.<EMBEDDING_VERSIONS>.
BASE_FIELDS = frozenset(
    {
        "paperId",
        "corpusId",
        "externalIds",
        "url",
        "title",
        "abstract",
        "venue",
        "publicationVenue",
        "year",
        "referenceCount",
        "citationCount",
        "influentialCitationCount",
        "isOpenAccess",
        "openAccessPdf",
        "fieldsOfStudy",
        "s2FieldsOfStudy",
        "publicationTypes",
        "publicationDate",
        "journal",
        "citationStyles",
        "authors",
    }
)
FULL_FIELDS = BASE_FIELDS | {"citations", "references", "embedding", "tldr"}
RELATION_FIELDS = frozenset({"contexts", "intents", "contextsWithIntent", "isInfluential"})
AUTHOR_FIELDS = frozenset(
    {"authorId", "externalIds", "url", "name", "affiliations", "homepage", "paperCount", "citationCount", "hIndex"}
)
EMBEDDING_VERSIONS = frozenset({"specter_v1", "specter_v2"})

TLDR_MODEL = "tldr@v2.0.0"  # the model name the real API reports with every tldr
ABSTRACT_CHARS = 1000
# Common English words carry no topical signal; dropping them keeps "no shared term -> not a hit" meaningful.
STOPWORDS = frozenset(
    {"a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "in", "is", "it", "its", "of"}
    | {"on", "or", "that", "the", "this", "to", "was", "were", "which", "with"}
)
_TOKEN = re.compile(r"[a-z0-9]+")


class S2Error(Exception):
    """A refusal answered as the real API answers it: ``status`` and ``{"error": message}``."""

    def __init__(self, status: int, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body if body is not None else {"error": message}


def tokenize(text: str) -> list[str]:
    """Lower-cased alphanumeric words of ``text`` without stop words (the index's and the queries' analyser)."""
    return [t for t in _TOKEN.findall(text.lower()) if t not in STOPWORDS]


def _hash(*parts: object) -> bytes:
    return hashlib.sha256("\x00".join(str(p) for p in parts).encode()).digest()


def _first_sentence(text: str, max_chars: int = 300) -> str:
    m = re.search(r"(?<=[.!?])\s", text)
    sentence = text[: m.start()] if m else text
    return _clip(sentence, max_chars)


def _clip(text: str, max_chars: int) -> str:
    """``text`` cut at the last word boundary within ``max_chars`` (whole when it fits)."""
    if len(text) <= max_chars:
        return text
    cut = text.rfind(" ", 0, max_chars + 1)
    return text[: cut if cut > 0 else max_chars].rstrip()


def papers_from_documents(docs: Sequence[tuple[str, str]], seed: int = 0) -> list[dict[str, Any]]:
    """Deterministic Semantic Scholar paper records for local ``(title, text)`` documents.

    ``paperId`` is the 40-hex sha1 of the title, the shape of real S2 ids (a repeated title gets the sha1 of
    ``title + "\\0" + k`` for its k-th repeat, so ids stay unique); ``abstract`` is the text's first ~1000
    characters (cut at a word); ``tldr`` its first sentence. ``year``, ``publicationDate`` and the citations
    from outside the bank come from a hash of (seed, title); ``references`` are 2-8 other papers of the bank
    from the same year or earlier, drawn with a generator seeded by that hash, and ``citationCount`` is the
    in-bank citations plus a heavy-tailed outside count, so the graph and the counts agree.
    """
    records: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for title, text in docs:
        title = " ".join(str(title).split())
        if not title:
            raise ValueError("papers_from_documents: a document has an empty title")
        k = seen.get(title, 0)
        seen[title] = k + 1
        pid = hashlib.sha1((title if k == 0 else f"{title}\x00{k}").encode()).hexdigest()
        body = " ".join(str(text).split())
        h = _hash("s2-paper", seed, pid)
        # Recent years are likelier, as in the literature: year = 2024 - floor(30 u^2).
        u = int.from_bytes(h[0:4], "big") / 2**32
        year = 2024 - int(30 * u * u)
        records.append(
            {
                "paperId": pid,
                "title": title,
                "abstract": _clip(body, ABSTRACT_CHARS) or None,
                "year": year,
                "publicationDate": f"{year}-{1 + h[4] % 12:02d}-{1 + h[5] % 28:02d}",
                "tldr": {"model": TLDR_MODEL, "text": _first_sentence(body)} if body else None,
                "_outside": int(10 ** (3.0 * int.from_bytes(h[6:10], "big") / 2**32)) - 1,  # 0..999, log-uniform
                "_rng": int.from_bytes(h[10:18], "big"),
            }
        )
    # Cite only papers of the same year or earlier: sort by (year, id) and draw among the prefix.
    order = sorted(range(len(records)), key=lambda i: (records[i]["year"], records[i]["paperId"]))
    years = [records[i]["year"] for i in order]
    incoming = [0] * len(records)
    for pos, i in enumerate(order):
        rec = records[i]
        n_older = bisect.bisect_right(years, rec["year"]) - 1  # candidates, excluding the paper itself
        rng = random.Random(rec.pop("_rng"))
        k = min(n_older, 2 + rng.randrange(7))
        picks = rng.sample(range(n_older), k) if k else []
        cited = [order[p if p < pos else p + 1] for p in picks]  # skip the paper's own position
        rec["references"] = [records[j]["paperId"] for j in cited]
        for j in cited:
            incoming[j] += 1
    for i, rec in enumerate(records):
        rec["citationCount"] = incoming[i] + rec.pop("_outside")
    return records


class _Bm25:
    """Okapi BM25 (k1 = 1.2, b = 0.75, Lucene's idf) over pre-tokenised documents, precomputed at build time."""

    def __init__(self, docs: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75) -> None:
        self.postings: dict[str, list[tuple[int, int]]] = {}
        for i, toks in enumerate(docs):
            counts: dict[str, int] = {}
            for t in toks:
                counts[t] = counts.get(t, 0) + 1
            for t, c in counts.items():
                self.postings.setdefault(t, []).append((i, c))
        n = len(docs)
        lengths = [len(d) for d in docs]
        avg = (sum(lengths) / n) if n and sum(lengths) else 1.0
        self.norm = [k1 * (1 - b + b * ln / avg) for ln in lengths]
        self.k1 = k1
        self.idf = {t: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for t, p in self.postings.items()}

    def scores(self, terms: Sequence[str]) -> dict[int, float]:
        """Document index -> score for the documents sharing at least one of ``terms`` (each counted once)."""
        out: dict[int, float] = {}
        for t in sorted(set(terms)):  # a fixed summation order keeps the floats identical run to run
            idf = self.idf.get(t)
            if idf is None:
                continue
            for i, tf in self.postings[t]:
                out[i] = out.get(i, 0.0) + idf * tf * (self.k1 + 1) / (tf + self.norm[i])
        return out


class _Bank:
    """The paper records, their id lookups, citation lists and search index."""

    def __init__(self, papers: Sequence[Mapping[str, Any]]) -> None:
        self.papers: list[dict[str, Any]] = []
        self.by_id: dict[str, int] = {}
        self.by_corpus: dict[int, int] = {}
        for rec in papers:
            pid = rec.get("paperId")
            if not isinstance(pid, str) or not pid:
                raise ValueError(f"s2 stand-in: a paper has no paperId: {dict(rec)!r:.200}")
            if pid in self.by_id:
                raise ValueError(f"s2 stand-in: paperId {pid} appears twice")
            paper = dict(rec)
            # corpusId: the record's own, else a number derived from the id (real CorpusIds are integers).
            corpus = paper.get("corpusId")
            paper["corpusId"] = (
                int(corpus) if corpus is not None else int(hashlib.sha1(pid.encode()).hexdigest()[:12], 16)
            )
            self.by_id[pid] = len(self.papers)
            self.by_corpus.setdefault(paper["corpusId"], len(self.papers))
            self.papers.append(paper)
        self.citing: list[list[str]] = [[] for _ in self.papers]
        for paper in self.papers:
            for ref in paper.get("references") or []:
                j = self.by_id.get(ref)
                if j is not None:
                    self.citing[j].append(paper["paperId"])
        self.index = _Bm25(
            [tokenize(p.get("title") or "") * 2 + tokenize(p.get("abstract") or "") for p in self.papers]
        )

    def lookup(self, paper_id: str) -> dict[str, Any]:
        """The paper named by a ``paperId`` or ``CorpusId:<n>`` (the id forms this stand-in knows), else 404."""
        i = self.by_id.get(paper_id)
        if i is None and paper_id.lower().startswith("corpusid:") and paper_id[9:].isdigit():
            i = self.by_corpus.get(int(paper_id[9:]))
        if i is None:
            raise S2Error(404, f"Paper with id {paper_id} not found")
        return self.papers[i]

    def value(self, paper: Mapping[str, Any] | None, field: str, sub: Sequence[str] = ()) -> Any:
        """One field of a paper as the API renders it; None where the bank holds no data for it."""
        if paper is None:
            return None
        pid = paper["paperId"]
        if field == "url":
            return f"https://www.semanticscholar.org/paper/{pid}"
        if field == "externalIds":
            return paper.get("externalIds") or {"CorpusId": paper["corpusId"]}
        if field == "referenceCount":
            refs = paper.get("references")
            return paper.get("referenceCount", len(refs) if refs is not None else None)
        if field in ("references", "citations"):
            ids = (paper.get("references") or []) if field == "references" else self.citing[self.by_id[pid]]
            return [self.render(self.get(r), list(sub) or ["title"], r) for r in ids[:RELATION_MAX_LIMIT]]
        if field == "authors":
            authors = paper.get("authors")
            if authors is None:
                return None
            keep = set(sub) or {"authorId", "name"}
            return [{k: a.get(k) for k in sorted(keep | {"authorId"}, key=_author_order)} for a in authors]
        if field == "embedding":
            return paper.get("embedding")
        return paper.get(field)

    def get(self, paper_id: str) -> dict[str, Any] | None:
        """The paper with this ``paperId``, or None."""
        i = self.by_id.get(paper_id)
        return self.papers[i] if i is not None else None

    def render(self, paper: Mapping[str, Any] | None, fields: Sequence[str], paper_id: str | None = None) -> dict:
        """``{"paperId": ..., <field>: ...}`` for the parsed ``fields`` (``name`` or ``name.sub``).

        A reference the bank does not hold renders with its id and nulls, as the real API renders papers it
        cannot resolve.
        """
        out: dict[str, Any] = {"paperId": paper["paperId"] if paper is not None else paper_id}
        subs: dict[str, list[str]] = {}
        for f in fields:
            name, _, sub = f.partition(".")
            subs.setdefault(name, [])
            if sub:
                subs[name].append(sub)
        for name, sub in subs.items():
            if name != "paperId":
                out[name] = self.value(paper, name, sub)
        return out


def _author_order(key: str) -> int:
    order = ["authorId", "externalIds", "url", "name", "affiliations", "homepage", "paperCount", "citationCount"]
    return order.index(key) if key in order else len(order)


def _parse_fields(raw: str | None, allowed: frozenset[str]) -> list[str]:
    """The requested fields, or 400 naming every unknown one (the real API's message)."""
    if raw is None or not raw.strip():
        return ["title"]
    fields = [f.strip() for f in raw.split(",") if f.strip()]
    bad = []
    for f in fields:
        name, dot, sub = f.partition(".")
        sub_ok = (
            (name == "authors" and sub in AUTHOR_FIELDS)
            or (name in ("citations", "references") and sub in BASE_FIELDS)
            or (name == "embedding" and sub in EMBEDDING_VERSIONS)
        )
        if name not in allowed or (dot and not sub_ok):
            bad.append(f)
    if bad:
        raise S2Error(400, f"Unrecognized or unsupported fields: [{', '.join(bad)}]")
    return list(dict.fromkeys(fields))


def _int_param(params: Mapping[str, str], name: str, default: int, lo: int, hi: int | None) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise S2Error(400, f"Unacceptable query params: [{name}={raw}]") from None
    if value < lo or (hi is not None and value > hi):
        raise S2Error(400, f"Unacceptable query params: [{name}={raw}]")
    return value


def _year_range(raw: str, name: str) -> tuple[int, int]:
    """``2019``, ``2016-2020``, ``2010-``, ``-2015`` -> inclusive (lo, hi)."""
    m = re.fullmatch(r"(\d{4})?(-)?(\d{4})?", raw.strip())
    if not m or not (m.group(1) or m.group(3)) or (m.group(2) is None and m.group(3)):
        raise S2Error(400, f"Unacceptable query params: [{name}={raw}]")
    lo = int(m.group(1)) if m.group(1) else 0
    hi = int(m.group(3)) if m.group(3) else (9999 if m.group(2) else lo)
    return lo, hi


def _date_range(raw: str, name: str) -> tuple[str, str]:
    """``publicationDateOrYear``: ``<start>:<end>``, each ``YYYY[-MM[-DD]]`` and optional -> inclusive dates."""
    start, colon, end = raw.partition(":")
    if not colon:
        start = end = raw
    pat = r"\d{4}(-\d{2}(-\d{2})?)?"
    for part in (start, end):
        if part and not re.fullmatch(pat, part):
            raise S2Error(400, f"Unacceptable query params: [{name}={raw}]")
    lo = (start + "-01-01"[len(start) - 4 :]) if start else "0000-01-01"
    hi = (end + "-12-31"[len(end) - 4 :]) if end else "9999-12-31"
    return lo, hi


def _filters(params: Mapping[str, str]) -> list[Any]:
    """Predicates for the search filters present in ``params`` (a paper lacking the data never matches)."""
    preds: list[Any] = []
    if params.get("year"):
        lo, hi = _year_range(params["year"], "year")
        preds.append(lambda p: p.get("year") is not None and lo <= p["year"] <= hi)
    if params.get("publicationDateOrYear"):
        dlo, dhi = _date_range(params["publicationDateOrYear"], "publicationDateOrYear")
        # "Records without a specific publication date are treated as if published on January 1 of their year."
        preds.append(
            lambda p: (
                (d := p.get("publicationDate") or (f"{p['year']}-01-01" if p.get("year") else None)) is not None
                and dlo <= d <= dhi
            )
        )
    if params.get("minCitationCount"):
        floor = _int_param(params, "minCitationCount", 0, 0, None)
        preds.append(lambda p: (p.get("citationCount") or 0) >= floor)
    for name in ("venue", "fieldsOfStudy", "publicationTypes"):
        if params.get(name):
            wanted = {v.strip() for v in params[name].split(",") if v.strip()}

            def has(p: Mapping[str, Any], name: str = name, wanted: set[str] = wanted) -> bool:
                got = p.get(name)
                got = [got] if isinstance(got, str) else (got or [])
                return bool(wanted & set(got))

            preds.append(has)
    if "openAccessPdf" in params:  # "This parameter does not accept any values"
        preds.append(lambda p: bool(p.get("openAccessPdf")))
    return preds


def make_app(papers: Sequence[Mapping[str, Any]], *, require_key: bool = False) -> FastAPI:
    """The Semantic Scholar Graph API v1 stand-in over ``papers`` (see the module docstring).

    Each record has ``paperId``, ``title``, ``abstract``, ``year``, ``citationCount`` and optionally ``tldr``
    (``{"model", "text"}``), ``references`` (paperIds) and any other FullPaper field; fields the API knows but
    the record lacks are answered as null. ``require_key``: refuse requests without an ``x-api-key`` header
    (403), as the real API refuses a bad key.
    """
    bank = _Bank(papers)
    app = FastAPI(title="Semantic Scholar Graph API v1 (local stand-in)", docs_url=None, redoc_url=None)

    @app.exception_handler(S2Error)
    async def _s2_error(request: Request, exc: S2Error) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status)

    if require_key:

        @app.middleware("http")
        async def _api_key(request: Request, call_next: Any) -> Any:
            # The API gateway answers a missing or bad key before any route, with its own body.
            if not request.headers.get("x-api-key"):
                return JSONResponse({"message": "Forbidden"}, status_code=403)
            return await call_next(request)

    def _search(request: Request) -> JSONResponse:
        """``GET /graph/v1/paper/search``: "Paper relevance search"
        (https://api.semanticscholar.org/api-docs/graph#tag/Paper-Data/operation/get_graph_paper_relevance_search).
        """
        params = request.query_params
        query = params.get("query")
        if query is None or not query.strip():
            raise S2Error(400, "Missing required parameter: 'query'")
        fields = _parse_fields(params.get("fields"), FULL_FIELDS)
        offset = _int_param(params, "offset", 0, 0, None)
        limit = _int_param(params, "limit", DEFAULT_LIMIT, 0, SEARCH_MAX_LIMIT)
        if offset + limit > SEARCH_MAX_REACHABLE:
            raise S2Error(400, "Requested data for this limit and/or offset is not available")
        preds = _filters(params)
        scores = bank.index.scores(tokenize(query))
        hits = [i for i in scores if all(pred(bank.papers[i]) for pred in preds)]
        hits.sort(key=lambda i: (-scores[i], bank.papers[i]["paperId"]))
        page = hits[offset : offset + limit]
        body: dict[str, Any] = {"total": len(hits), "offset": offset}
        if offset + len(page) < min(len(hits), SEARCH_MAX_REACHABLE):
            body["next"] = offset + len(page)
        body["data"] = [bank.render(bank.papers[i], fields) for i in page]
        return JSONResponse(body)

    def _details(request: Request, paper_id: str) -> JSONResponse:
        """``GET /graph/v1/paper/{paper_id}``: "Details about a paper"
        (https://api.semanticscholar.org/api-docs/graph#tag/Paper-Data/operation/get_graph_get_paper).
        """
        paper = bank.lookup(paper_id)
        fields = _parse_fields(request.query_params.get("fields"), FULL_FIELDS)
        return JSONResponse(bank.render(paper, fields))

    def _relation(request: Request, paper_id: str, kind: str) -> JSONResponse:
        """``GET /graph/v1/paper/{paper_id}/references`` ("Details about a paper's references",
        .../operation/get_graph_get_paper_references) and ``/citations`` (.../get_graph_get_paper_citations):
        ``{"offset", "next"?, "data": [{"citedPaper" | "citingPaper": {...}}]}``.
        """
        paper = bank.lookup(paper_id)
        params = request.query_params
        requested = _parse_fields(params.get("fields"), BASE_FIELDS | RELATION_FIELDS)
        offset = _int_param(params, "offset", 0, 0, None)
        limit = _int_param(params, "limit", DEFAULT_LIMIT, 0, RELATION_MAX_LIMIT)
        ids = (paper.get("references") or []) if kind == "references" else bank.citing[bank.by_id[paper["paperId"]]]
        page = ids[offset : offset + limit]
        rel = [f for f in requested if f in RELATION_FIELDS]
        paper_fields = [f for f in requested if f not in RELATION_FIELDS]
        key = "citedPaper" if kind == "references" else "citingPaper"
        data = []
        for other in page:
            item: dict[str, Any] = {}
            for f in rel:  # the bank has no citation contexts: empty, and no citation is influential
                item[f] = False if f == "isInfluential" else []
            item[key] = bank.render(bank.get(other), paper_fields, other)
            data.append(item)
        body: dict[str, Any] = {"offset": offset}
        if offset + len(page) < len(ids):
            body["next"] = offset + len(page)
        body["data"] = data
        return JSONResponse(body)

    # One route for the paper tree: ids may hold slashes (``DOI:10.18653/v1/...``), so the suffix is split here.
    @app.get(PREFIX + "/paper/{rest:path}")
    def paper_routes(request: Request, rest: str) -> JSONResponse:
        rest = rest.rstrip("/")
        if rest == "search":
            return _search(request)
        for kind in ("references", "citations"):
            if rest.endswith("/" + kind) and rest != kind:
                return _relation(request, rest[: -len(kind) - 1], kind)
        if not rest:
            raise S2Error(404, "Not found")
        return _details(request, rest)

    @app.get(PREFIX + "/{rest:path}")
    def not_found(rest: str) -> JSONResponse:
        raise S2Error(
            404,
            f"Not found: {PREFIX}/{rest} (this stand-in serves only paper search, details, references and citations)",
        )

    return app


def app_from_file(path: str) -> FastAPI:
    """The stand-in over a JSON file ``{"papers": [...], "require_key": false}`` (what the workflow's
    ``standins__build`` rule writes; the launcher's ``module:function``)."""
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    return make_app(data["papers"], require_key=bool(data.get("require_key", False)))
