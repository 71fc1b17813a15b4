"""The source documents and their questions: a synthetic corpus of facts stated once (tiny tier) and QuALITY.

Tiny tier (Sec. 2's setting in miniature): ``n_articles`` short fictional articles, each with a title, an
author, invented people and places (names built from syllables, so no background corpus mentions them) and
``facts`` stated exactly once in the whole corpus, interleaved with entity-free filler sentences. Every
fact has one 4-way multiple-choice question whose answer is known; distractors are answers of the same
relation elsewhere in the corpus. Questions are cloze prompts prefixed like the paper's QA prompts
(``In the context of "<title>", written by <author>, ...``), scored by option log-likelihood.

Paper scale: QuALITY v1.0.1 (Pang et al. 2022) as the paper uses it (Sec. 2.2 / ``tasks/quality.py`` of
the authors' code, read for understanding): train + dev records deduplicated on "title by author" (265
articles), questions sorted by text, articles sorted by title.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "Article",
    "Question",
    "WorldConfig",
    "load_quality",
    "make_world",
    "parse_quality_records",
    "question_prompt",
    "read_articles",
    "read_questions",
    "write_jsonl",
]

_ONSETS = ("b", "br", "d", "dr", "f", "g", "gr", "h", "k", "kr", "l", "m", "n", "p", "r", "s", "st", "t", "tr", "v")
_NUCLEI = ("a", "e", "i", "o", "u", "ae", "ia", "ou")
_CODAS = ("", "n", "r", "l", "s", "th", "k", "m")
_OCCUPATIONS = ("baker", "sailor", "weaver", "doctor", "painter", "miner", "farmer", "teacher", "smith", "clerk")
_OBJECTS = ("lantern", "violin", "compass", "telescope", "saddle", "kettle", "map", "clock", "shovel", "harp")
_COLOURS = ("red", "blue", "green", "silver", "black", "white", "golden", "grey")
_PRODUCTS = ("copper", "wool", "salt", "glass", "timber", "honey", "cheese", "silk", "iron", "wine")
_FILLER = (
    "The morning was cold and quiet.",
    "Nobody spoke for a long while.",
    "It had rained all through the night.",
    "The road was long and the light was fading.",
    "There was little to do but wait.",
    "The wind moved softly over the hills.",
    "Days passed without much news.",
    "Everything seemed calm for a time.",
    "A bell rang somewhere in the distance.",
    "The fire had burned down to embers.",
)
_TITLE_ADJ = ("Glass", "Silent", "Last", "Hidden", "Northern", "Broken", "Golden", "Distant", "Quiet", "Iron")
_TITLE_NOUN = ("Harbor", "Winter", "Garden", "Station", "Bridge", "Voyage", "Archive", "Orchard", "Signal", "Tower")


@dataclass(frozen=True)
class Article:
    """One source document."""

    article_id: str
    title: str
    author: str
    year: int
    text: str


@dataclass(frozen=True)
class Question:
    """One multiple-choice question; ``prompt`` is the cloze stem the options continue (tiny tier)."""

    question_id: str
    article_id: str
    prompt: str
    options: tuple[str, ...]
    answer: int  # 0-based index of the gold option
    relation: str = ""
    difficult: bool = False


@dataclass(frozen=True)
class WorldConfig:
    """The synthetic corpus of the tiny tier."""

    n_articles: int = 20  # documents
    n_people: int = 4  # invented people per article
    n_places: int = 2  # invented places per article
    filler_per_fact: float = (
        1.0  # entity-free narrative sentences per fact sentence (real articles are mostly narrative)
    )
    n_options: int = 4  # choices per question (QuALITY: 4)
    seed: int = 0


def _name(rng: np.random.Generator, used: set[str], syllables: int) -> str:
    while True:
        parts = [
            _ONSETS[rng.integers(len(_ONSETS))]
            + _NUCLEI[rng.integers(len(_NUCLEI))]
            + _CODAS[rng.integers(len(_CODAS))]
            for _ in range(syllables)
        ]
        name = "".join(parts).capitalize()
        if name not in used and len(name) >= 4:
            used.add(name)
            return name


@dataclass
class _Fact:
    sentence: str
    prompt_tail: str  # the cloze stem after the title prefix
    answer: str
    relation: str


def _facts_for_article(rng: np.random.Generator, people: list[str], places: list[str]) -> list[_Fact]:
    facts = []
    for person in people:
        place = places[rng.integers(len(places))]
        facts.append(_Fact(f"{person} lives in {place}.", f"{person} lives in", place, "lives_in"))
        occ = _OCCUPATIONS[rng.integers(len(_OCCUPATIONS))]
        facts.append(_Fact(f"{person} works as a {occ}.", f"{person} works as a", occ, "occupation"))
        obj = _OBJECTS[rng.integers(len(_OBJECTS))]
        col = _COLOURS[rng.integers(len(_COLOURS))]
        facts.append(_Fact(f"{person} owns a {col} {obj}.", f"{person} owns a {col}", obj, "owns"))
    for place in places:
        prod = _PRODUCTS[rng.integers(len(_PRODUCTS))]
        facts.append(_Fact(f"{place} is known for its {prod}.", f"{place} is known for its", prod, "product"))
    for a, b in zip(people[:-1], people[1:]):
        if rng.random() < 0.5:
            facts.append(_Fact(f"{a} is a friend of {b}.", f"{a} is a friend of", b, "friend"))
    return facts


def question_prompt(title: str, author: str, stem: str) -> str:
    """The closed-book prompt: the paper's per-question article context, then the cloze stem."""
    return f'In the context of "{title}", written by {author}, {stem}'


def make_world(cfg: WorldConfig) -> tuple[list[Article], list[Question]]:
    """Articles (each fact stated once) and one multiple-choice question per fact; deterministic in ``cfg.seed``."""
    if cfg.n_articles < 1 or cfg.n_people < 2 or cfg.n_places < 1 or cfg.n_options < 2:
        raise ValueError(f"world config too small: {cfg}")
    rng = np.random.default_rng(cfg.seed)
    used: set[str] = set()
    articles, per_article = [], []
    titles: set[str] = set()
    for i in range(cfg.n_articles):
        while True:
            title = f"The {_TITLE_ADJ[rng.integers(len(_TITLE_ADJ))]} {_TITLE_NOUN[rng.integers(len(_TITLE_NOUN))]}"
            title = title if title not in titles else f"{title} of {_name(rng, used, 2)}"
            if title not in titles:
                titles.add(title)
                break
        author = f"{_name(rng, used, 2)} {_name(rng, used, 2)}"
        people = [f"{_name(rng, used, 2)} {_name(rng, used, 2)}" for _ in range(cfg.n_people)]
        places = [_name(rng, used, 3) for _ in range(cfg.n_places)]
        facts = _facts_for_article(rng, people, places)
        n_filler = int(round(cfg.filler_per_fact * len(facts)))
        sentences = [f.sentence for f in facts] + [_FILLER[rng.integers(len(_FILLER))] for _ in range(n_filler)]
        order = rng.permutation(len(sentences))
        text = " ".join(sentences[j] for j in order)
        art = Article(f"a{i:03d}", title, author, int(1950 + rng.integers(60)), text)
        articles.append(art)
        per_article.append((art, facts, people, places))
    # Distractors are answers of the same relation elsewhere in the corpus, so that every option is a value
    # the corpus states for that relation (a distractor never mentioned would leak the answer by frequency); friends: any other person.
    answers: dict[str, set[str]] = {}
    for _, facts, _, _ in per_article:
        for fact in facts:
            answers.setdefault(fact.relation, set()).add(fact.answer)
    people_all = {p for _, _, ppl, _ in per_article for p in ppl}
    questions = []
    for art, facts, _, _ in per_article:
        for j, fact in enumerate(facts):
            pool = answers[fact.relation] if fact.relation != "friend" else people_all  # every person has 3+ facts
            distract = sorted(pool - {fact.answer, fact.prompt_tail.split(" is a friend")[0]})
            if len(distract) < cfg.n_options - 1:
                raise ValueError(
                    f"world: relation {fact.relation!r} has {len(distract)} distractors for {cfg.n_options} options; "
                    "raise n_articles, n_people or n_places"
                )
            picks = rng.choice(len(distract), size=cfg.n_options - 1, replace=False)
            options = [fact.answer] + [distract[k] for k in picks]
            perm = rng.permutation(cfg.n_options)
            options = [f" {options[k]}." for k in perm]  # exact continuations of the cloze stem
            questions.append(
                Question(
                    question_id=f"{art.article_id}-q{j:02d}",
                    article_id=art.article_id,
                    prompt=question_prompt(art.title, art.author, fact.prompt_tail),
                    options=tuple(options),
                    answer=int(np.flatnonzero(perm == 0)[0]),
                    relation=fact.relation,
                )
            )
    return articles, questions


# --- QuALITY (paper scale) --------------------------------------------------------------------------


def parse_quality_records(lines: Sequence[str]) -> tuple[list[Article], list[Question]]:
    """QuALITY JSONL records -> articles (dedup on "title by author", sorted by title) and their questions.

    Accepts the v1.0.1 schema (``questions: [{question, options, gold_label (1-based), difficult}]``) and
    the flattened example schema (``question1``, ``question1option1`` ..., ``question1_gold_label``).
    Questions of a deduplicated article are pooled over its records, deduplicated and sorted by text.
    """
    by_key: dict[str, dict] = {}
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"QuALITY line {n}: not JSON ({err})") from None
        for key in ("title", "article"):
            if key not in rec:
                raise ValueError(f"QuALITY line {n}: missing field {key!r}")
        key = f"{rec['title']} by {rec.get('author', '')}"
        entry = by_key.setdefault(key, {"rec": rec, "questions": {}})
        for q in _quality_questions(rec, n):
            entry["questions"].setdefault(q[0], q)
    articles, questions = [], []
    for key in sorted(by_key, key=lambda k: by_key[k]["rec"]["title"]):
        rec = by_key[key]["rec"]
        if isinstance(rec["article"], list):  # the example file stores the HTML article as a list of lines
            rec = {**rec, "article": "".join(rec["article"])}
        aid = str(rec.get("article_id", key))
        text = re.sub(r"<[^>]+>", " ", rec["article"]) if "<" in rec["article"] else rec["article"]
        text = re.sub(r"[ \t]*\n[ \t\n]*", "\n", text)
        year = rec.get("year")
        articles.append(Article(aid, rec["title"], rec.get("author", ""), int(year) if year else 0, text.strip()))
        for j, (qtext, options, gold, hard) in enumerate(sorted(by_key[key]["questions"].values())):
            stem = question_prompt(rec["title"], rec.get("author", ""), f"question: {qtext}\nAnswer:")
            questions.append(Question(f"{aid}-q{j:02d}", aid, stem, tuple(options), gold, "quality", hard))
    return articles, questions


def _quality_questions(rec: dict, line: int) -> list[tuple[str, tuple[str, ...], int, bool]]:
    out = []
    if "questions" in rec:
        for q in rec["questions"]:
            gold = int(q["gold_label"]) - 1
            out.append((q["question"], tuple(" " + o for o in q["options"]), gold, bool(q.get("difficult", 0))))
        return out
    k = 1
    while f"question{k}" in rec:
        opts = tuple(" " + rec[f"question{k}option{j}"] for j in range(1, 5))
        gold = int(rec[f"question{k}_gold_label"]) - 1
        out.append((rec[f"question{k}"], opts, gold, bool(rec.get(f"question{k}_difficult", 0))))
        k += 1
    if not out:
        raise ValueError(f"QuALITY line {line}: no questions")
    return out


def load_quality(paths: Sequence[str | os.PathLike[str]]) -> tuple[list[Article], list[Question]]:
    """Articles and questions of the given QuALITY files (the paper: train + dev, deduplicated)."""
    lines: list[str] = []
    for path in paths:
        lines.extend(Path(path).read_text(encoding="utf-8").splitlines())
    return parse_quality_records(lines)


# --- files --------------------------------------------------------------------------------------------


def write_jsonl(path: str | os.PathLike[str], rows: Sequence[Article | Question]) -> None:
    """One JSON object per line, written atomically."""
    from repro.common.io import atomic_write_text

    atomic_write_text(path, "".join(json.dumps(asdict(r), ensure_ascii=False) + "\n" for r in rows))


def read_articles(path: str | os.PathLike[str]) -> list[Article]:
    return [Article(**json.loads(line)) for line in Path(path).read_text(encoding="utf-8").splitlines() if line]


def read_questions(path: str | os.PathLike[str]) -> list[Question]:
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line:
            d = json.loads(line)
            d["options"] = tuple(d["options"])
            out.append(Question(**d))
    return out
