"""A local stand-in for Wikipedia's MediaWiki action API and the Wikimedia pageviews REST API (issue 28).

It speaks two wire protocols over a fixed set of ``(title, plain text)`` pages, so paper-scale code that reads
Wikipedia runs unchanged against it:

- the MediaWiki action API, ``GET /w/api.php`` (https://www.mediawiki.org/wiki/API:Main_page), with
  ``format=json`` and both ``formatversion=1`` (the default: ``pages`` keyed by page id, ``""`` for true,
  ``"*"`` for content) and ``formatversion=2`` (lists, booleans, plain strings):

  - ``action=query`` with ``titles`` / ``pageids`` (<= 50 each, title normalisation reported under
    ``normalized``), ``redirects`` (accepted; the pages have no redirects), ``indexpageids``;
    ``prop=extracts`` (TextExtracts: ``exintro``, ``explaintext``, ``exsentences``, ``exchars``, ``exlimit``,
    ``exsectionformat``, ``excontinue``; a whole-article request returns one extract per call, as the real
    extension does), ``prop=info`` (``inprop=url``), ``prop=pageprops`` (``ppprop``);
    ``list=search`` (CirrusSearch: ``srsearch``, ``srlimit`` <= 500, ``sroffset``, ``srwhat``, ``srinfo``,
    ``srprop``, ``srnamespace``; every query word must match, BM25 ranking with the title boosted),
    ``list=random`` (``rnlimit`` <= 500, ``rnnamespace``, ``rncontinue``; a fixed order drawn from
    ``views_seed``), and both lists as generators (``generator=search|random`` with ``g``-prefixed parameters);
  - ``action=parse`` with ``page`` / ``pageid`` / ``text`` and ``prop=text|wikitext|revid|displaytitle|sections``
    (the link, category and template lists are empty);
  - ``action=help``.

  Errors are MediaWiki's: HTTP 200 with ``{"error": {"code", "info", "docref"}, "servedby"}`` and the
  ``MediaWiki-API-Error`` header (``badvalue`` for an unknown ``action``/``format``/``generator`` value,
  ``missingparam``, ``badinteger``, ``toomanyvalues``, ``invalidparammix``, ``missingtitle``, ``nosuchpageid``,
  ``badcontinue``). Like MediaWiki it only *warns* about an unrecognised parameter (``Unrecognized parameter:
  x.`` under ``warnings.main``), an unrecognised ``prop``/``list``/``meta`` value (under ``warnings.query``) and
  a limit above its maximum (clamped). Without ``format`` (or with ``format=jsonfm``) the reply is the HTML page
  the real API serves, so a client that forgot ``format=json`` fails here as it would there.

- the pageviews REST API, ``GET /api/rest_v1/metrics/pageviews/per-article/{project}/{access}/{agent}/{article}/
  {granularity}/{start}/{end}``
  (https://doc.wikimedia.org/generated-data-platform/aqs/analytics-api/reference/page-views.html): views are a
  deterministic function of (page, day, ``views_seed``), Zipf over page order (the first page is the most
  viewed), split over access methods and agents so that ``all-access``/``all-agents`` are exact sums, monthly
  values are sums of daily ones, days with zero views are omitted and there is no data before 2015-07-01, as in
  the real API. Errors are the REST problem JSON (400 ``bad_request``, 404 ``not_found``).

Everything is deterministic: the same pages and seed give byte-identical replies.
"""

from __future__ import annotations

import calendar
import html
import json
import math
import random
import re
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

API_PATH = "/w/api.php"
PAGEVIEWS_PREFIX = "/api/rest_v1/metrics/pageviews"
PROJECT = "en.wikipedia"
SERVED_BY = "mw-standin"
TIMESTAMP = "2024-01-01T00:00:00Z"  # every page's last edit (a fixed time keeps replies deterministic)
DOCREF = (
    "See https://en.wikipedia.org/w/api.php for API usage. Subscribe to the mediawiki-api-announce mailing list at "
    "&lt;https://lists.wikimedia.org/postorius/lists/mediawiki-api-announce.lists.wikimedia.org/&gt; for notice of "
    "API deprecations and breaking changes."
)
MAX_MULTI = 50  # values of one multi-value parameter (titles, pageids, ...) for a non-bot user
MAX_LIMIT = 500  # srlimit / rnlimit for a non-bot user
FIRST_DAY = date(2015, 7, 1)  # the pageviews API has no per-article data before this day

PROPS = frozenset({"extracts", "info", "pageprops"})
LISTS = frozenset({"search", "random"})
GENERATORS = {"search": "gsr", "random": "grn"}
PARSE_PROPS = (
    "text|langlinks|categories|links|templates|images|externallinks|sections|revid|displaytitle|iwlinks|properties|"
    "parsewarnings"
)
PARSE_EMPTY_LISTS = frozenset(
    {"langlinks", "categories", "links", "templates", "images", "externallinks", "iwlinks", "properties"}
)
SRPROPS = frozenset(
    {
        "size",
        "wordcount",
        "timestamp",
        "snippet",
        "titlesnippet",
        "redirecttitle",
        "redirectsnippet",
        "sectiontitle",
        "sectionsnippet",
        "isfilematch",
        "categorysnippet",
        "score",
        "hasrelated",
        "extensiondata",
    }
)
SRSORTS = frozenset(
    {
        "relevance",
        "none",
        "just_match",
        "random",
        "user_random",
        "create_timestamp_asc",
        "create_timestamp_desc",
        "incoming_links_asc",
        "incoming_links_desc",
        "last_edit_asc",
        "last_edit_desc",
    }
)
# Parameters every request may carry (ApiMain's and the JSON printer's); accepted, most without effect here.
MAIN_PARAMS = frozenset(
    {
        "action",
        "format",
        "formatversion",
        "utf8",
        "ascii",
        "callback",
        "maxlag",
        "smaxage",
        "maxage",
        "assert",
        "assertuser",
        "requestid",
        "servedby",
        "curtimestamp",
        "responselanginfo",
        "origin",
        "uselang",
        "variant",
        "errorformat",
        "errorlang",
        "errorsuse",
    }
)

ACCESS = {"desktop": 0.42, "mobile-web": 0.55, "mobile-app": 0.03}  # share of a page's views per access method
AGENTS = {"user": 0.90, "spider": 0.07, "automated": 0.03}  # share per agent type
TOP_DAILY_VIEWS = 20000.0  # mean daily views of the most viewed page
ZIPF_EXPONENT = 1.1  # mean daily views of the page at rank r ~ r ** -ZIPF_EXPONENT
TITLE_WEIGHT = 3  # a title word counts as this many body words in search ranking (CirrusSearch boosts titles)
NOT_FOUND_DETAIL = (
    "The date(s) you used are valid, but we either do not have data for those date(s), or the project you asked "
    "for is not loaded yet. Please check documentation for more information."
)

STOPWORDS = frozenset(
    {"a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "in", "is", "it", "its", "of"}
    | {"on", "or", "that", "the", "this", "to", "was", "were", "which", "with"}
)
_WORD = re.compile(r"[A-Za-z0-9]+")
_HEADING = re.compile(r"^(={2,6})\s*(.+?)\s*\1\s*$")
_BAD_TITLE = re.compile(r"[#<>\[\]{}|\x00-\x1f\x7f]")


class ApiError(Exception):
    """A MediaWiki action API error: ``code`` and ``info`` as the real API words them."""

    def __init__(self, code: str, info: str) -> None:
        super().__init__(info)
        self.code = code
        self.info = info


def normalize_title(raw: str) -> str | None:
    """MediaWiki's title normalisation (underscores to spaces, collapsed whitespace, first letter upper-case),
    or None for an invalid title (empty, too long, or holding ``#<>[]{}|`` or control characters)."""
    title = " ".join(raw.replace("_", " ").split())
    if not title or _BAD_TITLE.search(title) or len(title.encode()) > 255:
        return None
    first = title[0].upper()
    return (first if len(first) == 1 else title[0]) + title[1:]


def pages_from_documents(docs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """``(title, text)`` pages for :func:`make_app` from local documents: titles normalised as MediaWiki does and
    a repeated title disambiguated as Wikipedia would (``Title (2)``, ``Title (3)``, ...); invalid titles raise."""
    pages: list[tuple[str, str]] = []
    seen: set[str] = set()
    for raw, text in docs:
        title = normalize_title(str(raw))
        if title is None:
            raise ValueError(f"wiki stand-in: {raw!r} is not a valid page title")
        candidate, k = title, 1
        while candidate in seen:
            k += 1
            candidate = f"{title} ({k})"
        seen.add(candidate)
        pages.append((candidate, str(text)))
    return pages


def _stem(word: str) -> str:
    """A light English stemmer (plural endings), standing in for CirrusSearch's analyser."""
    w = word.lower()
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 3 and w.endswith(("ches", "shes", "xes", "sses")):
        return w[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us")):
        return w[:-1]
    return w


def _terms(text: str) -> list[str]:
    return [_stem(w) for w in _WORD.findall(text)]


def _counts(terms: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in terms:
        out[t] = out.get(t, 0) + 1
    return out


def _query_terms(query: str) -> list[str]:
    """The stems a page must all contain: the query's words without stop words (all of them if that is all)."""
    words = [w.lower() for w in _WORD.findall(query)]
    content = [w for w in words if w not in STOPWORDS] or words
    return list(dict.fromkeys(_stem(w) for w in content))


def _blocks(text: str) -> list[tuple[int, str]]:
    """The page as (heading level, heading) and (0, paragraph) blocks; ``== H ==`` lines are headings."""
    blocks: list[tuple[int, str]] = []
    para: list[str] = []

    def flush() -> None:
        if para:
            blocks.append((0, "\n".join(para)))
            para.clear()

    for line in text.splitlines():
        m = _HEADING.match(line.strip())
        if m:
            flush()
            blocks.append((len(m.group(1)), m.group(2)))
        elif line.strip():
            para.append(line.strip())
        else:
            flush()
    flush()
    return blocks


def _anchor(heading: str) -> str:
    return heading.replace(" ", "_")


def _html(blocks: Sequence[tuple[int, str]]) -> str:
    out = []
    for level, content in blocks:
        esc = html.escape(content, quote=False)
        if level:
            anchor = html.escape(_anchor(content))
            out.append(f'<h{level}><span class="mw-headline" id="{anchor}">{esc}</span></h{level}>')
        else:
            out.append(f"<p>{esc}\n</p>")
    return "\n".join(out)


def _plain(blocks: Sequence[tuple[int, str]], sectionformat: str) -> str:
    out = []
    for level, content in blocks:
        if level and sectionformat != "plain":
            out.append("=" * level + " " + content + " " + "=" * level)
        else:
            out.append(content)
    return "\n\n".join(out)


def _sentences(text: str, n: int) -> str:
    parts = re.split(r"(?<=[.!?])\s+", text.strip())
    return " ".join(parts[:n])


@dataclass
class _Page:
    pageid: int
    title: str
    text: str
    rank: int  # popularity rank (0 = most viewed)
    wordcount: int
    size: int  # bytes of the wikitext, as MediaWiki's page length
    tf_text: dict[str, int]  # term counts of title (weighted TITLE_WEIGHT) + body: srwhat=text
    tf_title: dict[str, int]  # term counts of the title alone: srwhat=title

    @property
    def underscored(self) -> str:
        return self.title.replace(" ", "_")

    @property
    def revid(self) -> int:
        return 1_000_000 + self.pageid  # one revision per page


class _Wiki:
    """The pages, their lookups and the precomputed search statistics."""

    def __init__(self, pages: Sequence[tuple[str, str]], views_seed: int, project: str) -> None:
        self.views_seed = views_seed
        self.project = project
        self.site = f"https://{project}.org"
        self.pages: list[_Page] = []
        self.by_title: dict[str, _Page] = {}
        for i, (raw, text) in enumerate(pages):
            title = normalize_title(str(raw))
            if title is None:
                raise ValueError(f"wiki stand-in: {raw!r} is not a valid page title")
            if title in self.by_title:
                raise ValueError(f"wiki stand-in: two pages are titled {title!r} (see pages_from_documents)")
            text = str(text)
            body = _terms(text)
            tf_title = _counts(_terms(title))
            tf_text = _counts(body)
            for t, c in tf_title.items():
                tf_text[t] = tf_text.get(t, 0) + TITLE_WEIGHT * c
            page = _Page(i + 1, title, text, i, len(_WORD.findall(text)), len(text.encode()), tf_text, tf_title)
            self.pages.append(page)
            self.by_title[title] = page
        self.by_underscored = {p.underscored: p for p in self.pages}
        # Inverted indexes (term -> page positions), built once: a query only scores the pages holding every term.
        self.postings: dict[str, dict[str, list[int]]] = {"text": {}, "title": {}}
        for k, p in enumerate(self.pages):
            for what, tf in (("text", p.tf_text), ("title", p.tf_title)):
                for t in tf:
                    self.postings[what].setdefault(t, []).append(k)
        n = len(self.pages)
        self.idf = {t: math.log(1 + (n - len(ks) + 0.5) / (len(ks) + 0.5)) for t, ks in self.postings["text"].items()}
        self.avg_len = {
            what: (sum(sum(getattr(p, f"tf_{what}").values()) for p in self.pages) / n) if n else 1.0
            for what in ("text", "title")
        }
        self.random_order = random.Random(f"random|{views_seed}").sample(range(n), n)

    # -- search -------------------------------------------------------------------------------------------------

    def search(self, query: str, what: str) -> list[tuple[_Page, float]]:
        """Pages matching every query word (``what``: text = title or body, title = title only), best first;
        ``nearmatch`` is the page whose title equals the query."""
        if what == "nearmatch":
            title = normalize_title(query)
            page = self.by_title.get(title) if title else None
            return [(page, 1.0)] if page else []
        terms = sorted(_query_terms(query))  # a fixed summation order keeps the scores identical run to run
        postings = self.postings[what]
        if not terms or any(t not in postings for t in terms):
            return []
        candidates = set(postings[terms[0]]).intersection(*(postings[t] for t in terms[1:]))
        hits = []
        for k in candidates:
            p = self.pages[k]
            tf = p.tf_text if what == "text" else p.tf_title
            # Okapi BM25, k1 = 1.2, b = 0.75.
            norm = 1.2 * (0.25 + 0.75 * sum(tf.values()) / self.avg_len[what])
            score = sum(self.idf[t] * tf[t] * 2.2 / (tf[t] + norm) for t in terms)
            hits.append((p, score))
        hits.sort(key=lambda h: (-h[1], h[0].pageid))
        return hits

    # -- pageviews ----------------------------------------------------------------------------------------------

    def daily_views(self, page: _Page, day: date) -> dict[tuple[str, str], int]:
        """Views of ``page`` on ``day`` per (access, agent): Zipf in the page's rank, a weekend dip and
        log-normal day-to-day noise, all drawn from a generator seeded by (views_seed, title, day)."""
        rng = random.Random(f"pageviews|{self.views_seed}|{page.title}|{day.isoformat()}")
        mean = TOP_DAILY_VIEWS * (page.rank + 1) ** -ZIPF_EXPONENT * (0.9 if day.weekday() >= 5 else 1.0)
        out = {}
        for access, a_share in ACCESS.items():
            for agent, g_share in AGENTS.items():
                out[(access, agent)] = int(mean * a_share * g_share * math.exp(0.3 * rng.gauss(0.0, 1.0) - 0.045))
        return out


class _Call:
    """One action API request: its parameters, the ones a module read, and the warnings it raised."""

    def __init__(self, params: dict[str, str]) -> None:
        self.params = params
        self.used: set[str] = set()
        self.warnings: dict[str, list[str]] = {}
        self.limits: dict[str, int] = {}
        self.fv2 = False

    @property
    def true(self) -> Any:
        """A true flag: ``true`` in formatversion 2, ``""`` in formatversion 1."""
        return True if self.fv2 else ""

    def content(self, text: str) -> Any:
        """A content string: plain in formatversion 2, ``{"*": text}`` in formatversion 1."""
        return text if self.fv2 else {"*": text}

    def warn(self, module: str, text: str) -> None:
        self.warnings.setdefault(module, []).append(text)

    def get(self, name: str) -> str | None:
        self.used.add(name)
        return self.params.get(name)

    def flag(self, name: str) -> bool:
        """A boolean parameter: true when present, whatever its value (MediaWiki's rule)."""
        self.used.add(name)
        return name in self.params

    def enum(self, name: str, allowed: Iterable[str], default: str) -> str:
        value = self.get(name)
        if value is None:
            return default
        if value not in allowed:
            raise ApiError("badvalue", f'Unrecognized value for parameter "{name}": {value}.')
        return value

    def multi(self, name: str, module: str, allowed: Iterable[str] | None = None) -> list[str]:
        """A ``|``-separated parameter (or ``\\x1f``-separated when it starts with ``\\x1f``); unknown values are
        dropped with a warning, as MediaWiki does for multi-value parameters."""
        value = self.get(name)
        if value is None or value == "":
            return []
        values = value[1:].split("\x1f") if value.startswith("\x1f") else value.split("|")
        if len(values) > MAX_MULTI:
            raise ApiError(
                "toomanyvalues", f'Too many values supplied for parameter "{name}". The limit is {MAX_MULTI}.'
            )
        if allowed is not None:
            allowed = set(allowed)
            bad = [v for v in values if v not in allowed]
            if bad:
                plural = "values" if len(bad) > 1 else "value"
                self.warn(module, f'Unrecognized {plural} for parameter "{name}": {", ".join(bad)}.')
            values = [v for v in values if v in allowed]
        return list(dict.fromkeys(values))

    def integer(self, name: str, module: str, default: int, lo: int, hi: int | None = None) -> int:
        """An integer parameter; ``max`` is the maximum; out of range is clamped with MediaWiki's warning."""
        value = self.get(name)
        if value is None:
            return default
        if value == "max" and hi is not None:
            self.limits[module] = hi
            return hi
        if not re.fullmatch(r"\s*[+-]?\d+\s*", value):
            raise ApiError("badinteger", f'Invalid value "{value}" for integer parameter "{name}".')
        n = int(value)
        if n < lo:
            self.warn(module, f'"{name}" may not be less than {lo} (set to {n}).')
            return lo
        if hi is not None and n > hi:
            self.warn(module, f'"{name}" may not be over {hi} (set to {n}) for users.')
            return hi
        return n


@dataclass
class _Entry:
    """One page of a query's page set: found (``page``), missing (``title`` or ``pageid``) or invalid."""

    page: _Page | None = None
    title: str | None = None
    pageid: int | None = None
    invalid: str | None = None  # the reason
    index: int | None = None  # the rank a search generator gave it


def _search_list(call: _Call, wiki: _Wiki, prefix: str, *, generator: bool) -> tuple[list[_Entry], dict, dict]:
    """``list=search`` (CirrusSearch, https://www.mediawiki.org/wiki/API:Search): (entries, output, continue)."""
    module = "search"
    query = call.get(prefix + "search")
    if query is None or not query.strip():
        raise ApiError("missingparam", f'The "{prefix}search" parameter must be set.')
    namespaces = call.multi(prefix + "namespace", module) or ["0"]
    what = call.enum(prefix + "what", ("text", "title", "nearmatch"), "text")
    info = call.multi(prefix + "info", module, ("totalhits", "suggestion", "rewrittenquery"))
    if call.get(prefix + "info") is None:
        info = ["totalhits", "suggestion", "rewrittenquery"]
    props = call.multi(prefix + "prop", module, SRPROPS)
    if call.get(prefix + "prop") is None:
        props = ["size", "wordcount", "timestamp", "snippet"]
    call.enum(prefix + "sort", SRSORTS, "relevance")
    for extra in ("qiprofile", "interwiki", "enablerewrites"):
        call.get(prefix + extra)
    limit = call.integer(prefix + "limit", module, 10, 1, MAX_LIMIT)
    offset = call.integer(prefix + "offset", module, 0, 0)
    hits = wiki.search(query, what) if "0" in namespaces or "*" in namespaces else []
    page = hits[offset : offset + limit]
    cont: dict[str, Any] = {}
    if offset + len(page) < len(hits):
        cont = {prefix + "offset": offset + len(page), "continue": (prefix + "offset||") if generator else "-||"}
    if generator:
        return [_Entry(page=p, index=offset + k + 1) for k, (p, _) in enumerate(page)], {}, cont
    terms = set(_query_terms(query))
    results = []
    for p, score in page:
        item: dict[str, Any] = {"ns": 0, "title": p.title, "pageid": p.pageid}
        for prop in props:
            if prop == "size":
                item["size"] = p.size
            elif prop == "wordcount":
                item["wordcount"] = p.wordcount
            elif prop == "timestamp":
                item["timestamp"] = TIMESTAMP
            elif prop == "snippet":
                item["snippet"] = _snippet(p.text, terms)
            elif prop == "titlesnippet":
                item["titlesnippet"] = _highlight(p.title, terms)
            elif prop == "score":
                item["score"] = round(score, 6)
        results.append(item)
    out: dict[str, Any] = {}
    if "totalhits" in info:
        out["searchinfo"] = {"totalhits": len(hits)}
    out["search"] = results
    return [], out, cont


def _highlight(text: str, terms: set[str]) -> str:
    """``text`` HTML-escaped, each matching word wrapped in ``<span class="searchmatch">`` as CirrusSearch does."""
    out, last = [], 0
    for m in _WORD.finditer(text):
        if _stem(m.group()) in terms:
            out.append(html.escape(text[last : m.start()], quote=False))
            out.append(f'<span class="searchmatch">{html.escape(m.group(), quote=False)}</span>')
            last = m.end()
    out.append(html.escape(text[last:], quote=False))
    return "".join(out)


def _snippet(text: str, terms: set[str], before: int = 8, words: int = 30) -> str:
    """A window of the page's paragraphs (headings left out) around its first match (about ``words`` words),
    highlighted."""
    flat = " ".join(" ".join(content for level, content in _blocks(text) if not level).split())
    spans = list(_WORD.finditer(flat))
    if not spans:
        return ""
    first = next((k for k, m in enumerate(spans) if _stem(m.group()) in terms), 0)
    lo = max(0, first - before)
    hi = min(len(spans), lo + words) - 1
    return _highlight(flat[spans[lo].start() : spans[hi].end()], terms)


def _random_list(call: _Call, wiki: _Wiki, prefix: str, *, generator: bool) -> tuple[list[_Entry], dict, dict]:
    """``list=random`` (https://www.mediawiki.org/wiki/API:Random): a fixed order of the pages drawn from
    ``views_seed``, walked by ``rncontinue`` (the real list never ends: it wraps around)."""
    module = "random"
    namespaces = call.multi(prefix + "namespace", module)
    call.enum(prefix + "filterredir", ("all", "nonredirects", "redirects"), "nonredirects")
    call.flag(prefix + "redirect")
    limit = call.integer(prefix + "limit", module, 1, 1, MAX_LIMIT)
    raw = call.get(prefix + "continue")
    start = 0
    if raw is not None:
        m = re.fullmatch(r"0\.(\d{12})\|(\d+)", raw)
        if not m or int(m.group(2)) >= max(len(wiki.pages), 1):
            raise ApiError(
                "badcontinue",
                "Invalid continue param. You should pass the original value returned by the previous query.",
            )
        start = int(m.group(2))
    n = len(wiki.pages)
    pages = [] if (namespaces and "0" not in namespaces) or n == 0 else wiki.random_order
    picked = [wiki.pages[pages[(start + k) % n]] for k in range(min(limit, len(pages)))]
    cont: dict[str, Any] = {}
    if pages:
        nxt = (start + len(picked)) % n
        token = f"0.{nxt * 10**12 // n:012d}|{nxt}"
        cont = {prefix + "continue": token, "continue": (prefix + "continue||") if generator else "-||"}
    if generator:
        return [_Entry(page=p) for p in picked], {}, cont
    return [], {"random": [{"id": p.pageid, "ns": 0, "title": p.title} for p in picked]}, cont


LIST_MODULES: dict[str, Callable[..., tuple[list[_Entry], dict, dict]]] = {
    "search": _search_list,
    "random": _random_list,
}


def _page_set(call: _Call, wiki: _Wiki, generator: str | None) -> tuple[list[_Entry], list[dict], dict]:
    """The query's pages from ``titles``, ``pageids`` or a generator: (entries, normalized, generator continue)."""
    titles = call.multi("titles", "query")
    pageids = call.multi("pageids", "query")
    call.flag("redirects")  # the stand-in's pages have no redirects: resolving them changes nothing
    call.flag("converttitles")
    given = [name for name, v in (("titles", titles), ("pageids", pageids), ("generator", generator)) if v]
    if len(given) > 1:
        joined = '", "'.join(given)
        raise ApiError("invalidparammix", f'The parameters "{joined}" can not be used together.')
    entries: list[_Entry] = []
    normalized: list[dict] = []
    if generator:
        gen_entries, _, cont = LIST_MODULES[generator](call, wiki, GENERATORS[generator], generator=True)
        return gen_entries, [], cont
    for raw in titles:
        title = normalize_title(raw)
        if title is None:
            reason = (
                "The requested page title contains invalid characters."
                if raw.strip()
                else "The requested page title is empty or contains only the name of a namespace."
            )
            entries.append(_Entry(title=raw, invalid=reason))
            continue
        if title != raw:
            normalized.append(
                {"fromencoded": False, "from": raw, "to": title} if call.fv2 else {"from": raw, "to": title}
            )
        page = wiki.by_title.get(title)
        entries.append(_Entry(page=page) if page else _Entry(title=title))
    for raw in pageids:
        if not re.fullmatch(r"\s*[+-]?\d+\s*", raw):
            raise ApiError("badinteger", f'Invalid value "{raw}" for integer parameter "pageids".')
        pid = int(raw)
        page = wiki.pages[pid - 1] if 1 <= pid <= len(wiki.pages) else None
        entries.append(_Entry(page=page) if page else _Entry(pageid=pid))
    return entries, normalized, {}


def _extracts(call: _Call, wiki: _Wiki, found: list[_Entry], out: dict[int, dict]) -> dict:
    """``prop=extracts`` (Extension:TextExtracts, https://www.mediawiki.org/wiki/Extension:TextExtracts#API);
    returns its continuation (``excontinue``) or {}."""
    module = "extracts"
    chars = call.get("exchars")
    sentences = call.get("exsentences")
    if chars is not None and sentences is not None:
        raise ApiError("invalidparammix", 'The parameters "exchars" and "exsentences" can not be used together.')
    n_chars = call.integer("exchars", module, 0, 1, 1200) if chars is not None else None
    n_sentences = call.integer("exsentences", module, 0, 1, 10) if sentences is not None else None
    limit = call.integer("exlimit", module, 20, 1, 20)
    intro = call.flag("exintro")
    plain = call.flag("explaintext")
    sectionformat = call.enum("exsectionformat", ("plain", "wiki", "raw"), "wiki")
    start = call.integer("excontinue", module, 0, 0)
    if limit > 1 and not intro and len(found) > 1:
        # TextExtracts serves whole articles one per request.
        call.warn(module, '"exlimit" was too large for a whole article extracts request, lowered to 1.')
        limit = 1
    for entry in found[start : start + limit]:
        page = entry.page
        assert page is not None
        blocks = _blocks(page.text)
        if intro:
            first_heading = next((k for k, (level, _) in enumerate(blocks) if level), len(blocks))
            blocks = blocks[:first_heading]
        text = _plain(blocks, "plain" if intro else sectionformat)
        if n_sentences is not None:
            text = _sentences(text, n_sentences)
            blocks = [(0, text)]
        elif n_chars is not None and len(text) > n_chars:
            cut = text.rfind(" ", 0, n_chars + 1)
            text = text[: cut if cut > 0 else n_chars].rstrip() + "..."
            blocks = [(0, text)]
        out[page.pageid]["extract"] = text if plain else _html(blocks)
    if start + limit < len(found):
        return {"excontinue": start + limit}
    return {}


def _info(call: _Call, wiki: _Wiki, entries: list[_Entry], out: dict[int, dict]) -> None:
    """``prop=info`` (https://www.mediawiki.org/wiki/API:Info), with ``inprop=url``."""
    inprop = call.multi(
        "inprop",
        "info",
        (
            "url",
            "protection",
            "talkid",
            "watched",
            "watchers",
            "visitingwatchers",
            "notificationtimestamp",
            "subjectid",
            "associatedpage",
            "displaytitle",
            "varianttitles",
            "linkclasses",
            "preload",
            "readable",
        ),
    )
    for key, entry in _keyed(entries):
        if entry.invalid is not None:
            continue
        item = out[key]
        item.update(contentmodel="wikitext", pagelanguage="en", pagelanguagehtmlcode="en", pagelanguagedir="ltr")
        if entry.page is not None:
            item.update(touched=TIMESTAMP, lastrevid=entry.page.revid, length=entry.page.size)
        title = entry.page.title if entry.page else entry.title
        if "url" in inprop and title:
            url = f"{wiki.site}/wiki/{urllib.parse.quote(title.replace(' ', '_'), safe=':/()!,')}"
            edit = f"{wiki.site}/w/index.php?title={urllib.parse.quote(title.replace(' ', '_'), safe=':/()!,')}&action=edit"
            item.update(fullurl=url, editurl=edit, canonicalurl=url)
        if "displaytitle" in inprop and title:
            item["displaytitle"] = html.escape(title, quote=False)


def _pageprops(call: _Call, entries: list[_Entry], out: dict[int, dict]) -> None:
    """``prop=pageprops`` (https://www.mediawiki.org/wiki/API:Pageprops): a short description per page."""
    wanted = call.multi("ppprop", "pageprops")
    for key, entry in _keyed(entries):
        if entry.page is None:
            continue
        first = _sentences(" ".join(entry.page.text.split()), 1)
        props = {"wikibase-shortdesc": first[:80].rstrip()}
        props = {k: v for k, v in props.items() if not wanted or k in wanted}
        if props:
            out[key]["pageprops"] = props


def _keyed(entries: list[_Entry]) -> list[tuple[int, _Entry]]:
    """Each entry with its key: the page id, or -1, -2, ... for missing and invalid ones (formatversion 1's keys)."""
    keyed, neg = [], 0
    for entry in entries:
        if entry.page is not None:
            keyed.append((entry.page.pageid, entry))
        else:
            neg -= 1
            keyed.append((neg, entry))
    return keyed


def _query(call: _Call, wiki: _Wiki) -> tuple[dict, dict, bool]:
    """``action=query`` (https://www.mediawiki.org/wiki/API:Query): (result, continue, batchcomplete)."""
    props = call.multi("prop", "query", PROPS)
    lists = call.multi("list", "query", LISTS)
    call.multi("meta", "query", ())
    generator = call.get("generator")
    if generator is not None and generator not in GENERATORS:
        raise ApiError("badvalue", f'Unrecognized value for parameter "generator": {generator}.')
    call.get("continue")
    indexpageids = call.flag("indexpageids")
    entries, normalized, cont = _page_set(call, wiki, generator)
    query: dict[str, Any] = {}
    if normalized:
        query["normalized"] = normalized
    batchcomplete = True
    if entries:
        # Missing and invalid pages first (in request order), then the pages found in page id order.
        entries = [e for e in entries if e.page is None] + sorted(
            (e for e in entries if e.page is not None), key=lambda e: e.page.pageid if e.page else 0
        )
        keyed = _keyed(entries)
        out: dict[int, dict] = {}
        for key, entry in keyed:
            if entry.page is not None:
                item: dict[str, Any] = {"pageid": entry.page.pageid, "ns": 0, "title": entry.page.title}
            elif entry.invalid is not None:
                item = {"title": entry.title, "invalidreason": entry.invalid, "invalid": call.true}
            elif entry.pageid is not None:
                item = {"pageid": entry.pageid, "missing": call.true}
            else:
                item = {"ns": 0, "title": entry.title, "missing": call.true}
            if entry.index is not None:
                item["index"] = entry.index
            out[key] = item
        found = [e for e in entries if e.page is not None]
        prop_cont: dict[str, Any] = {}
        if "extracts" in props:
            prop_cont.update(_extracts(call, wiki, found, out))
        if "info" in props:
            _info(call, wiki, entries, out)
        if "pageprops" in props:
            _pageprops(call, entries, out)
        if prop_cont:
            batchcomplete = False
            done = "|".join(p for p in props if p != "extracts")
            prop_cont["continue"] = (cont.get("continue", "||").split("||")[0] + "||" + done) if cont else "||" + done
            cont = {**cont, **prop_cont}
        if indexpageids:
            query["pageids"] = [str(key) for key, _ in keyed]
        query["pages"] = [out[key] for key, _ in keyed] if call.fv2 else {str(key): out[key] for key, _ in keyed}
    for name in lists:
        _, list_out, list_cont = LIST_MODULES[name](call, wiki, {"search": "sr", "random": "rn"}[name], generator=False)
        query.update(list_out)
        if list_cont:
            cont = {**list_cont, **cont} if cont else list_cont
    return ({"query": query} if query else {}), cont, batchcomplete


def _parse(call: _Call, wiki: _Wiki) -> dict:
    """``action=parse`` (https://www.mediawiki.org/wiki/API:Parsing_wikitext) of a page or of given ``text``."""
    page_name = call.get("page")
    pageid = call.get("pageid")
    text = call.get("text")
    title_param = call.get("title")
    props = call.multi(
        "prop",
        "parse",
        set(PARSE_PROPS.split("|"))
        | {
            "wikitext",
            "headhtml",
            "modules",
            "jsconfigvars",
            "encodedjsconfigvars",
            "indicators",
            "limitreportdata",
            "limitreporthtml",
            "parsetree",
            "subtitle",
            "categorieshtml",
            "displaytitle",
            "tocdata",
            "headitems",
        },
    )
    if call.get("prop") is None:
        props = PARSE_PROPS.split("|")
    call.flag("redirects")
    for name in (
        "section",
        "disablelimitreport",
        "disableeditsection",
        "disabletoc",
        "wrapoutputclass",
        "contentmodel",
        "disablestylededuplication",
        "preview",
        "sectionpreview",
        "useskin",
        "mobileformat",
    ):
        call.get(name)
    given = [name for name, v in (("page", page_name), ("pageid", pageid), ("text", text)) if v is not None]
    if len(given) > 1:
        joined = '", "'.join(given)
        raise ApiError("invalidparammix", f'The parameters "{joined}" can not be used together.')
    page: _Page | None = None
    if page_name is not None:
        title = normalize_title(page_name)
        if title is None:
            raise ApiError("invalidtitle", f'Bad title "{page_name}".')
        page = wiki.by_title.get(title)
        if page is None:
            raise ApiError("missingtitle", "The page you specified doesn't exist.")
        title, wikitext = page.title, page.text
    elif pageid is not None:
        if not re.fullmatch(r"\s*\d+\s*", pageid):
            raise ApiError("badinteger", f'Invalid value "{pageid}" for integer parameter "pageid".')
        pid = int(pageid)
        if not 1 <= pid <= len(wiki.pages):
            raise ApiError("nosuchpageid", f"There is no page with ID {pid}.")
        page = wiki.pages[pid - 1]
        title, wikitext = page.title, page.text
    else:
        title = normalize_title(title_param or "API") or "API"
        wikitext = text or ""
        if text is None:
            call.warn("parse", 'No "title" or "contentmodel" was given, assuming wikitext.')
    blocks = _blocks(wikitext)
    result: dict[str, Any] = {"title": title, "pageid": page.pageid if page else 0}
    for prop in props:
        if prop == "text":
            body = f'<div class="mw-content-ltr mw-parser-output" lang="en" dir="ltr">{_html(blocks)}</div>'
            result["text"] = call.content(body)
        elif prop == "wikitext":
            result["wikitext"] = call.content(wikitext)
        elif prop == "revid":
            result["revid"] = page.revid if page else 0
        elif prop == "displaytitle":
            result["displaytitle"] = html.escape(title, quote=False)
        elif prop == "sections":
            result["sections"] = _sections(blocks, title)
        elif prop == "parsewarnings":
            result["parsewarnings"] = []
        elif prop in PARSE_EMPTY_LISTS:
            result[prop] = []
    return {"parse": result}


def _sections(blocks: Sequence[tuple[int, str]], title: str) -> list[dict]:
    sections, counters = [], [0] * 7
    top = min((level for level, _ in blocks if level), default=2)
    offset = 0
    for level, content in blocks:
        if level:
            toclevel = level - top + 1
            counters[toclevel] += 1
            counters[toclevel + 1 :] = [0] * (6 - toclevel)
            number = ".".join(str(c) for c in counters[1 : toclevel + 1])
            sections.append(
                {
                    "toclevel": toclevel,
                    "level": str(level),
                    "line": content,
                    "number": number,
                    "index": str(len(sections) + 1),
                    "fromtitle": title.replace(" ", "_"),
                    "byteoffset": offset,
                    "anchor": _anchor(content),
                    "linkAnchor": _anchor(content),
                }
            )
        offset += len(content.encode()) + 2
    return sections


def _warnings_out(call: _Call) -> dict:
    key = "warnings" if call.fv2 else "*"
    return {module: {key: "\n".join(texts)} for module, texts in call.warnings.items()}


def _render(call: _Call, body: dict, error_code: str | None = None) -> Response:
    """The reply in the requested format: ``json`` (compact; ``callback`` wraps it as JSONP), else ``jsonfm``'s
    HTML page (what the real API serves without ``format``)."""
    fmt = call.params.get("format", "jsonfm")
    ascii_only = not (call.fv2 or "utf8" in call.params) or "ascii" in call.params
    headers = {"MediaWiki-API-Error": error_code} if error_code else {}
    if fmt == "json":
        text = json.dumps(body, ensure_ascii=ascii_only, separators=(",", ":"))
        callback = call.params.get("callback")
        if callback and re.fullmatch(r"[\w.\[\]]+", callback):
            return Response(f"/**/{callback}({text})", media_type="text/javascript; charset=utf-8", headers=headers)
        return Response(text, media_type="application/json; charset=utf-8", headers=headers)
    pretty = html.escape(json.dumps(body, ensure_ascii=ascii_only, indent=4))
    page = (
        '<!DOCTYPE html>\n<html class="client-nojs" lang="en" dir="ltr">\n<head>\n<meta charset="UTF-8"/>\n'
        "<title>MediaWiki API result</title>\n</head>\n<body>\n<div><p>This is the HTML representation of the "
        "JSON format. HTML is good for debugging, but is unsuitable for application use.</p>\n<p>Specify the "
        "<var>format</var> parameter to change the output format. To see the non-HTML representation of the JSON "
        'format, set <kbd>format=json</kbd>.</p></div>\n<pre class="api-pretty-content">'
        f"{pretty}</pre>\n</body>\n</html>\n"
    )
    return Response(page, media_type="text/html; charset=utf-8", headers=headers)


def _action_api(wiki: _Wiki, params: dict[str, str]) -> Response:
    """``GET /w/api.php``: MediaWiki's ApiMain (https://www.mediawiki.org/wiki/API:Main_page)."""
    call = _Call(params)
    try:
        fmt = call.get("format") or "jsonfm"
        if fmt not in ("json", "jsonfm"):
            known = ("none", "php", "phpfm", "rawfm", "xml", "xmlfm")
            if fmt in known:
                raise ApiError("badvalue", f'This stand-in answers only format=json (and jsonfm), not "{fmt}".')
            raise ApiError("badvalue", f'Unrecognized value for parameter "format": {fmt}.')
        version = call.get("formatversion") or "1"
        if version not in ("1", "2", "latest"):
            raise ApiError("badvalue", f'Unrecognized value for parameter "formatversion": {version}.')
        call.fv2 = version in ("2", "latest")
        errorformat = call.get("errorformat") or "bc"
        if errorformat != "bc":
            raise ApiError("badvalue", f'This stand-in answers only errorformat=bc, not "{errorformat}".')
        for name in MAIN_PARAMS:
            call.used.add(name)
        action = call.get("action") or "help"
        batchcomplete, cont = False, {}
        if action == "query":
            result, cont, batchcomplete = _query(call, wiki)
        elif action == "parse":
            result = _parse(call, wiki)
        elif action == "help":
            result = {"help": {"mime": "text/html", "help": "<p>MediaWiki action API (local stand-in).</p>"}}
        else:
            raise ApiError("badvalue", f'Unrecognized value for parameter "action": {action}.')
    except ApiError as err:
        body: dict[str, Any] = {"error": {"code": err.code, "info": err.info}}
        body["error"]["docref" if call.fv2 else "*"] = DOCREF
        if call.warnings:
            body["warnings"] = _warnings_out(call)
        body["servedby"] = SERVED_BY
        return _render(call, body, err.code)
    unused = [name for name in params if name not in call.used]
    if unused:
        plural = "parameters" if len(unused) > 1 else "parameter"
        call.warnings = {"main": [f"Unrecognized {plural}: {', '.join(unused)}."], **call.warnings}
    body = {}
    if batchcomplete and action == "query":
        body["batchcomplete"] = call.true
    if cont:
        body["continue"] = cont
    if call.warnings:
        body["warnings"] = _warnings_out(call)
    if call.limits:
        body["limits"] = call.limits
    body.update(result)
    if "requestid" in params:
        body["requestid"] = params["requestid"]
    if "servedby" in params:
        body["servedby"] = SERVED_BY
    if "curtimestamp" in params:
        body["curtimestamp"] = TIMESTAMP
    return _render(call, body)


# -- pageviews REST --------------------------------------------------------------------------------------------


class RestError(Exception):
    """A REST API problem (RFC 7807 shape of HyperSwitch): status, type suffix, title and detail."""

    def __init__(self, status: int, kind: str, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.title = title
        self.detail = detail


def _bad_request(detail: str) -> RestError:
    return RestError(400, "bad_request", "Bad Request", detail)


def _parse_timestamp(raw: str, which: str) -> date:
    """``YYYYMMDD`` or ``YYYYMMDDHH`` -> the day (the pageviews API's timestamp formats)."""
    try:
        if not re.fullmatch(r"\d{8}(\d{2})?", raw) or (len(raw) == 10 and int(raw[8:]) > 23):
            raise ValueError(raw)
        return date(int(raw[:4]), int(raw[4:6]), int(raw[6:8]))
    except ValueError:
        raise _bad_request(f"{which} timestamp is invalid, must be a valid date in YYYYMMDD format") from None


def _pageviews(
    wiki: _Wiki, project: str, access: str, agent: str, article: str, granularity: str, start: str, end: str
) -> dict:
    """``GET .../metrics/pageviews/per-article/...``: "Get page views for a page"
    (https://doc.wikimedia.org/generated-data-platform/aqs/analytics-api/reference/page-views.html)."""
    accesses = ("all-access", *ACCESS)
    agents = ("all-agents", *AGENTS)
    if access not in accesses:
        raise _bad_request(f"access should be equal to one of the allowed values: [{', '.join(sorted(accesses))}]")
    if agent not in agents:
        raise _bad_request(f"agent should be equal to one of the allowed values: [{', '.join(sorted(agents))}]")
    if granularity not in ("daily", "monthly"):
        raise _bad_request("granularity should be equal to one of the allowed values: [daily, monthly]")
    first = _parse_timestamp(start, "start")
    last = _parse_timestamp(end, "end")
    if first > last:
        raise _bad_request("start timestamp should be before the end timestamp")
    norm_project = project.lower().removeprefix("www.").removesuffix(".org")
    page = wiki.by_underscored.get(article.replace(" ", "_"))
    if norm_project != wiki.project or page is None:
        raise RestError(404, "not_found", "Not found.", NOT_FOUND_DETAIL)
    leaves = [(a, g) for a in ACCESS for g in AGENTS if access in ("all-access", a) and agent in ("all-agents", g)]

    def views(day: date) -> int:
        daily = wiki.daily_views(page, day)
        return sum(daily[leaf] for leaf in leaves)

    items = []
    base = {"project": wiki.project, "article": page.underscored, "granularity": granularity}
    if granularity == "daily":
        day = max(first, FIRST_DAY)
        while day <= last:
            n = views(day)
            if n > 0:
                items.append(
                    {**base, "timestamp": day.strftime("%Y%m%d00"), "access": access, "agent": agent, "views": n}
                )
            day += timedelta(days=1)
    else:
        year, month = first.year, first.month
        if first.day != 1:  # a month is reported when its first day lies in [start, end]
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        while date(year, month, 1) <= last:
            month_start = date(year, month, 1)
            if month_start >= FIRST_DAY:
                days = calendar.monthrange(year, month)[1]
                n = sum(views(month_start + timedelta(days=k)) for k in range(days))
                if n > 0:
                    items.append(
                        {
                            **base,
                            "timestamp": month_start.strftime("%Y%m%d00"),
                            "access": access,
                            "agent": agent,
                            "views": n,
                        }
                    )
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    if not items:
        raise RestError(404, "not_found", "Not found.", NOT_FOUND_DETAIL)
    return {"items": items}


def make_app(pages: Sequence[tuple[str, str]], *, views_seed: int = 0, project: str = PROJECT) -> FastAPI:
    """The MediaWiki action API + pageviews REST stand-in over ``(title, plain text)`` pages (see the module
    docstring). Page ids are 1, 2, ... in the given order, which is also the pageviews popularity order;
    ``views_seed`` seeds the daily noise of the views and the order of ``list=random``; ``project`` is the
    wiki the pageviews API knows (``en.wikipedia``)."""
    wiki = _Wiki(pages, views_seed, project)
    app = FastAPI(title="MediaWiki action API + Wikimedia pageviews (local stand-in)", docs_url=None, redoc_url=None)

    @app.get(API_PATH)
    def action_api(request: Request) -> Response:
        # Repeated parameters: the last value wins, as in PHP.
        return _action_api(wiki, dict(request.query_params.multi_items()))

    @app.exception_handler(RestError)
    async def _rest_error(request: Request, exc: RestError) -> JSONResponse:
        body = {
            "type": f"https://mediawiki.org/wiki/HyperSwitch/errors/{exc.kind}",
            "title": exc.title,
            "method": request.method.lower(),
            "detail": exc.detail,
            "uri": request.url.path,
        }
        return JSONResponse(body, status_code=exc.status, media_type="application/problem+json")

    @app.get(PAGEVIEWS_PREFIX + "/per-article/{project}/{access}/{agent}/{article:path}/{granularity}/{start}/{end}")
    def per_article(
        project: str, access: str, agent: str, article: str, granularity: str, start: str, end: str
    ) -> JSONResponse:
        return JSONResponse(_pageviews(wiki, project, access, agent, article, granularity, start, end))

    @app.get("/api/rest_v1/{rest:path}")
    def rest_not_found(rest: str) -> JSONResponse:
        raise RestError(
            404,
            "not_found",
            "Not found.",
            "The requested resource was not found (this stand-in serves only metrics/pageviews/per-article).",
        )

    return app


def app_from_file(path: str) -> FastAPI:
    """The stand-in over a JSON file ``{"pages": [[title, text], ...], "views_seed": 0}`` (what the workflow's
    ``standins__build`` rule writes; the launcher's ``module:function``)."""
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    pages = [(str(title), str(text)) for title, text in data["pages"]]
    return make_app(pages, views_seed=int(data.get("views_seed", 0)), project=str(data.get("project", PROJECT)))
