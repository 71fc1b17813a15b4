"""Related-work retrieval for grounding the ideas (paper Sec. 3.1, "Paper retrieval for RAG").

The agent queries the Semantic Scholar Graph API (``KeywordQuery``, ``PaperQuery``,
``GetReferences``; search limit 20; fields title, year, citationCount, abstract, tldr),
scores the papers for relevance and keeps a paper bank of up to 120 papers per topic.

- :class:`SemanticScholarClient`: the HTTP client for networked runs (paper scale), with an
  on-disk sqlite cache (:class:`repro.common.llm.cache.CacheStore`) keyed by endpoint and
  parameters, retries with backoff on 429/5xx, and the API key read from an environment
  variable named in params (never the key itself).
- :class:`LocalIndex`: an offline TF-IDF index over a corpus available here (tiny scale:
  the released study ideas, each a document of its title and its reviewers' rationales).
- :func:`build_bank`: the iterative search: the topic query first, then the titles of the
  best hits so far as the next queries, until the bank holds ``bank_size`` papers. The
  relevance score is the search score (the paper's LLM relevance scoring is not run
  offline).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

S2_BASE = "https://api.semanticscholar.org/graph/v1"
S2_FIELDS = "title,year,citationCount,abstract,tldr"


@dataclass(frozen=True)
class Paper:
    """One retrieved paper (or local document)."""

    paper_id: str
    title: str
    abstract: str = ""
    year: int | None = None
    score: float = 0.0


class Searcher(Protocol):
    def search(self, query: str, limit: int) -> list[Paper]: ...


class RetrievalError(RuntimeError):
    """The search backend failed (HTTP error after retries, bad reply)."""


class SemanticScholarClient:
    """Semantic Scholar Graph API client with a disk cache (networked runs only).

    ``session`` may be injected (tests use a fake); ``api_key_env`` names the environment
    variable holding the key (optional: the API works without one, with lower rate limits).
    """

    def __init__(
        self,
        cache_path: str | os.PathLike[str] | None = None,
        *,
        base_url: str = S2_BASE,
        api_key_env: str | None = "S2_API_KEY",
        fields: str = S2_FIELDS,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff: float = 2.0,
        session: Any = None,
    ) -> None:
        import requests

        self.base_url = base_url.rstrip("/")
        self.fields = fields
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.session = session if session is not None else requests.Session()
        key = os.environ.get(api_key_env) if api_key_env else None
        self.headers = {"x-api-key": key} if key else {}
        self.cache = None
        if cache_path is not None:
            from repro.common.llm.cache import CacheStore

            self.cache = CacheStore(cache_path)

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        url = f"{self.base_url}/{path.lstrip('/')}"
        key = hashlib.sha256(json.dumps([url, params], sort_keys=True).encode()).hexdigest()
        if self.cache is not None:
            hit = self.cache.get_many([key])
            if key in hit:
                return hit[key]
        for attempt in range(self.max_retries + 1):
            try:
                resp = self.session.get(url, params=params, headers=self.headers, timeout=self.timeout)
            except Exception as err:  # connection errors, timeouts
                if attempt == self.max_retries:
                    raise RetrievalError(f"Semantic Scholar {url}: {err}") from err
                time.sleep(self.backoff * 2**attempt)
                continue
            if resp.status_code == 200:
                data = resp.json()
                if self.cache is not None:
                    self.cache.put_many([(key, "semantic_scholar", "graph/v1", path, json.dumps(params), data)])
                return data
            if resp.status_code in (429, 500, 502, 503, 504) and attempt < self.max_retries:
                time.sleep(self.backoff * 2**attempt)
                continue
            raise RetrievalError(f"Semantic Scholar {url}: HTTP {resp.status_code}: {str(resp.text)[:200]}")
        raise RetrievalError(f"Semantic Scholar {url}: no answer")  # pragma: no cover

    @staticmethod
    def _paper(d: dict[str, Any], score: float = 0.0) -> Paper:
        tldr = d.get("tldr") or {}
        abstract = d.get("abstract") or (tldr.get("text") if isinstance(tldr, dict) else "") or ""
        return Paper(str(d.get("paperId", "")), str(d.get("title") or ""), abstract, d.get("year"), score)

    def search(self, query: str, limit: int = 20) -> list[Paper]:
        """``KeywordQuery``: /paper/search (relevance order; score = 1/rank)."""
        data = self._get("paper/search", {"query": query, "limit": limit, "fields": self.fields})
        return [self._paper(d, 1.0 / (i + 1)) for i, d in enumerate(data.get("data") or [])]

    def paper(self, paper_id: str) -> Paper:
        """``PaperQuery``: /paper/{id}."""
        return self._paper(self._get(f"paper/{paper_id}", {"fields": self.fields}))

    def references(self, paper_id: str, limit: int = 20) -> list[Paper]:
        """``GetReferences``: /paper/{id}/references (without ``tldr``: the API serves it on paper details only and
        refuses it here, as the stand-in server does)."""
        fields = ",".join(f for f in self.fields.split(",") if f != "tldr")
        data = self._get(f"paper/{paper_id}/references", {"fields": fields, "limit": limit})
        return [self._paper(d.get("citedPaper") or {}) for d in data.get("data") or []]


class LocalIndex:
    """Offline TF-IDF (word 1-2 grams, sublinear tf) index over ``papers``; cosine scores."""

    def __init__(self, papers: Sequence[Paper]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        if not papers:
            raise ValueError("LocalIndex: empty corpus")
        self.papers = list(papers)
        self.vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, stop_words="english", min_df=1)
        self.matrix = self.vec.fit_transform([f"{p.title}. {p.abstract}" for p in self.papers])

    def search(self, query: str, limit: int = 20) -> list[Paper]:
        scores = (self.matrix @ self.vec.transform([query]).T).toarray().ravel()
        order = np.argsort(-scores, kind="stable")[:limit]
        return [
            Paper(
                self.papers[i].paper_id,
                self.papers[i].title,
                self.papers[i].abstract,
                self.papers[i].year,
                float(scores[i]),
            )
            for i in order
            if scores[i] > 0
        ]


def build_bank(
    searcher: Searcher, query: str, bank_size: int, limit: int = 20, expand_top: int = 10, max_queries: int = 20
) -> list[Paper]:
    """Iterative retrieval: the topic query, then the best ``expand_top`` titles as new queries.

    Stops when the bank holds ``bank_size`` distinct papers or after ``max_queries`` searches;
    returns the bank ordered by best score.
    """
    bank: dict[str, Paper] = {}
    queue, asked = [query], set()
    while queue and len(asked) < max_queries and len(bank) < bank_size:
        q = queue.pop(0)
        if q in asked:
            continue
        asked.add(q)
        for p in searcher.search(q, limit):
            if p.paper_id not in bank or bank[p.paper_id].score < p.score:
                bank[p.paper_id] = p
        best = sorted(bank.values(), key=lambda p: (-p.score, p.paper_id))[:expand_top]
        queue.extend(p.title for p in best if p.title not in asked)
    return sorted(bank.values(), key=lambda p: (-p.score, p.paper_id))[:bank_size]
