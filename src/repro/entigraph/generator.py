"""EntiGraph (Sec. 2.2) and the rephrase baseline through the LLM backend (``repro.common.llm``).

EntiGraph, per source document:

1. *Entity extraction*: the document -> JSON ``{"summary": ..., "entities": [...]}``; retried until it parses.
2. *Pair relations*: for every pair ``i < j`` of entities, a text relating the two in the document's context.
3. *Triple relations*: all triples, shuffled with ``random.Random(triple_seed)`` (the authors shuffle with
   seed 42), the first ``max_triples`` of them (the generation budget).

The output is a list of synthetic documents (the summary and every relation text) with token accounting.
The prompts below paraphrase the paper's App. prompts (written for this project, not copied). Every call
goes through the disk cache (:func:`repro.common.llm.get_llm` with ``cache=``), so reruns are free and a
killed run resumes from the calls already made.

Offline there is no instruction-following LLM. :class:`TemplateLLM` (backend ``entigraph_template``) is a
**structural stand-in** for both LLM roles: it reads the document and entity names from the prompt and
answers deterministically: entities are capitalised n-grams of the document; a relation text is a header
naming the entities followed by the document's sentences that mention them (those mentioning several first,
in a seeded order); a rephrasing is the document's sentences reordered under a style header. It keeps the
combinatorics, the output format, the caching and the token accounting of EntiGraph; it cannot paraphrase,
infer or add knowledge, so it shows what re-arranging and re-exposing stated facts does, nothing more.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tqdm.auto import tqdm

from repro.common.llm.base import LLM, LLMError, register
from repro.entigraph.world import Article

__all__ = [
    "ENTITY_SYSTEM",
    "RELATION_SYSTEM",
    "REPHRASE_SYSTEM",
    "GenerationConfig",
    "SyntheticDoc",
    "TemplateLLM",
    "entigraph_documents",
    "entity_prompt",
    "extract_entities",
    "parse_entities",
    "relation_prompt",
    "rephrase_documents",
    "rephrase_prompt",
]

# Paraphrases of the paper's three system prompts (App. "EntiGraph prompts"; rephrase: WRAP-style styles).
ENTITY_SYSTEM = (
    "You analyse a document for a reader who wants to learn everything it states. First write a short summary "
    "of the document. Then list every salient entity it mentions: people, places, objects, organisations, "
    "concepts, as many as you can. Answer with a JSON object with the keys 'summary' (a string) and "
    "'entities' (a list of strings)."
)
RELATION_SYSTEM = (
    "You will be given a document and some entities that appear in it. Write a passage that discusses how "
    "these entities relate to each other within the context of the document: restate what the document says "
    "about each entity and about their interactions. Stay faithful to the document."
)
REPHRASE_SYSTEM = (
    "Rewrite the document in the requested style. Keep every fact it states; change only the wording and the "
    "order in which the facts are told."
)


@dataclass(frozen=True)
class GenerationConfig:
    """How EntiGraph and the rephrase baseline call the generator."""

    temperature: float = 1.0  # the paper samples at T = 1
    max_tokens: int = 1024  # per relation text
    seed: int = 0  # sampling seed (part of the cache key)
    max_entity_retries: int = 5  # re-ask until the entity JSON parses
    max_triples: int = 20  # triples per document (budget); the paper runs as many as its budget allows
    triple_seed: int = 42  # shuffling of the triples (the authors use 42)
    rephrase_styles: tuple[str, ...] = ("plain", "encyclopedic", "storyteller")  # one rephrasing per style


@dataclass(frozen=True)
class SyntheticDoc:
    """One synthetic document: ``kind`` is summary | pair | triple | rephrase."""

    article_id: str
    kind: str
    entities: tuple[str, ...]
    text: str


def _document_block(article: Article) -> str:
    return f"### Document\nTitle: {article.title}\nAuthor: {article.author}\n{article.text}\n"


def entity_prompt(article: Article) -> list[dict[str, str]]:
    """Chat messages of step 1 (entity extraction)."""
    user = _document_block(article) + "### Task: entities\nSummarise the document and list its entities as JSON."
    return [{"role": "system", "content": ENTITY_SYSTEM}, {"role": "user", "content": user}]


def relation_prompt(article: Article, entities: Sequence[str]) -> list[dict[str, str]]:
    """Chat messages of steps 2-3 (relations among two or three entities)."""
    names = "; ".join(entities)
    user = (
        _document_block(article)
        + f"### Entities\n{names}\n### Task: relation\n"
        + f"Discuss how {', '.join(entities)} relate to each other in the context of the document."
    )
    return [{"role": "system", "content": RELATION_SYSTEM}, {"role": "user", "content": user}]


def rephrase_prompt(article: Article, style: str) -> list[dict[str, str]]:
    """Chat messages of the rephrase baseline (one style per call)."""
    user = _document_block(article) + f"### Style\n{style}\n### Task: rephrase\nRewrite the document in this style."
    return [{"role": "system", "content": REPHRASE_SYSTEM}, {"role": "user", "content": user}]


def parse_entities(reply: str) -> tuple[str, list[str]]:
    """The ``(summary, entities)`` of an entity-extraction reply (JSON, possibly inside a code fence)."""
    match = re.search(r"\{.*\}", reply, flags=re.DOTALL)
    if not match:
        raise ValueError("no JSON object in the reply")
    obj = json.loads(match.group(0))
    if not isinstance(obj, dict) or not isinstance(obj.get("entities"), list):
        raise ValueError("the reply lacks an 'entities' list")
    entities = []
    for e in obj["entities"]:
        e = str(e).strip()
        if e and e not in entities:
            entities.append(e)
    return str(obj.get("summary", "")).strip(), entities


def extract_entities(llm: LLM, article: Article, cfg: GenerationConfig) -> tuple[str, list[str]]:
    """Step 1, retried with fresh seeds until the reply parses (``max_entity_retries`` attempts)."""
    errors = []
    for attempt in range(cfg.max_entity_retries):
        reply = llm.chat(
            entity_prompt(article), temperature=cfg.temperature, max_tokens=cfg.max_tokens, seed=cfg.seed + attempt
        )[0]
        try:
            return parse_entities(reply)
        except (ValueError, json.JSONDecodeError) as err:
            errors.append(str(err))
    raise LLMError(f"entity extraction for article {article.article_id} failed {cfg.max_entity_retries}x: {errors}")


def entity_tuples(entities: Sequence[str], max_triples: int, triple_seed: int) -> list[tuple[str, ...]]:
    """All pairs ``i < j``, then the first ``max_triples`` of all triples shuffled with ``triple_seed``."""
    pairs = list(itertools.combinations(entities, 2))
    triples = list(itertools.combinations(entities, 3))
    random.Random(triple_seed).shuffle(triples)
    return pairs + triples[: max(0, max_triples)]


def entigraph_documents(llm: LLM, articles: Sequence[Article], cfg: GenerationConfig) -> list[SyntheticDoc]:
    """EntiGraph over every article: the summary, every pair relation, the budgeted triple relations."""
    out = []
    for art in tqdm(articles, desc="entigraph", mininterval=5.0):
        summary, entities = extract_entities(llm, art, cfg)
        out.append(SyntheticDoc(art.article_id, "summary", tuple(entities), summary))
        for tup in entity_tuples(entities, cfg.max_triples, cfg.triple_seed):
            reply = llm.chat(
                relation_prompt(art, tup), temperature=cfg.temperature, max_tokens=cfg.max_tokens, seed=cfg.seed
            )[0]
            out.append(SyntheticDoc(art.article_id, "pair" if len(tup) == 2 else "triple", tuple(tup), reply.strip()))
    return out


def rephrase_documents(llm: LLM, articles: Sequence[Article], cfg: GenerationConfig) -> list[SyntheticDoc]:
    """The rephrase baseline: one rewrite of every article per style."""
    out = []
    for art in tqdm(articles, desc="rephrase", mininterval=5.0):
        for style in cfg.rephrase_styles:
            reply = llm.chat(
                rephrase_prompt(art, style), temperature=cfg.temperature, max_tokens=cfg.max_tokens, seed=cfg.seed
            )[0]
            out.append(SyntheticDoc(art.article_id, "rephrase", (style,), reply.strip()))
    return out


# --- the offline structural stand-in -------------------------------------------------------------------

_SENT = re.compile(r"(?<=[.!?])\s+")
_CAPS = re.compile(r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*")
_STOP = frozenset(
    (
        "the a an it he she they we i you there this that these those nobody everything days in on at when then "
        "after before but and or so if as by for of to with from"
    ).split()
)


def _section(prompt: str, name: str) -> str:
    match = re.search(rf"^### {re.escape(name)}\n(.*?)(?=^### |\Z)", prompt, flags=re.DOTALL | re.MULTILINE)
    if not match:
        raise LLMError(f"entigraph_template: the prompt has no '### {name}' section")
    return match.group(1).strip()


def _document(prompt: str) -> tuple[str, str, list[str]]:
    lines = _section(prompt, "Document").splitlines()
    title = lines[0].removeprefix("Title:").strip() if lines else ""
    author = lines[1].removeprefix("Author:").strip() if len(lines) > 1 else ""
    body = " ".join(lines[2:]).strip()
    return title, author, [s for s in _SENT.split(body) if s]


def _capitalised_ngrams(sentences: Sequence[str]) -> list[str]:
    lower_words = {w for s in sentences for w in re.findall(r"\b[a-z]+\b", s)}
    found: list[str] = []
    for s in sentences:
        for m in _CAPS.finditer(s):
            words = m.group(0).split()
            while words and (words[0].lower() in _STOP or words[0].lower() in lower_words):
                words = words[1:]  # a sentence-initial common word is not part of a name
            name = " ".join(words)
            if name and name not in found:
                found.append(name)
    return found


def _rng(*parts: Any) -> random.Random:
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@register("entigraph_template")
class TemplateLLM(LLM):
    """Deterministic extractive stand-in for the entity and relation roles (module docstring). Labelled as such.

    Sampling options are accepted; ``seed`` and ``temperature`` only reseed the sentence order, so distinct
    seeds give distinct (still extractive) texts. It has no likelihoods.
    """

    def __init__(self, model: str = "extractive-v1") -> None:
        self.model = model

    def _answer(self, prompt: str, seed: int | None) -> str:
        task = re.search(r"^### Task: (\w+)", prompt, flags=re.MULTILINE)
        if not task:
            raise LLMError("entigraph_template: the prompt names no '### Task: <entities|relation|rephrase>'")
        title, author, sentences = _document(prompt)
        if task.group(1) == "entities":
            summary = f'"{title}" by {author}. ' + " ".join(sentences[:2])
            return json.dumps({"summary": summary, "entities": _capitalised_ngrams(sentences)})
        if task.group(1) == "relation":
            names = [e.strip() for e in _section(prompt, "Entities").split(";") if e.strip()]
            hits = [(sum(n in s for n in names), i, s) for i, s in enumerate(sentences)]
            rng = _rng("relation", names, seed)
            joint = [s for k, _, s in hits if k >= 2]
            single = [s for k, _, s in hits if k == 1]
            rng.shuffle(joint)
            rng.shuffle(single)
            head = f'In "{title}" by {author}, ' + " and ".join([", ".join(names[:-1]), names[-1]]) + " are related."
            return " ".join([head, *joint, *single])
        if task.group(1) == "rephrase":
            style = _section(prompt, "Style")
            order = list(sentences)
            _rng("rephrase", style, title, seed).shuffle(order)
            return " ".join([f'A {style} retelling of "{title}" by {author}.', *order])
        raise LLMError(f"entigraph_template: unknown task {task.group(1)!r}")

    def generate(self, prompts, n=1, temperature=0.0, max_tokens=256, stop=None, seed=None):
        return [[self._answer(p, None if seed is None else seed + j) for j in range(n)] for p in prompts]

    def chat(self, messages, n=1, temperature=0.0, max_tokens=256, stop=None, seed=None):
        user = [m["content"] for m in messages if m.get("role") == "user"]
        if not user:
            raise LLMError("entigraph_template: no user message")
        return [self._answer(user[-1], None if seed is None else seed + j) for j in range(n)]

    def logprobs(self, prompt: str, continuations: Sequence[str]) -> list[float]:
        raise LLMError("entigraph_template is a text generator stand-in: it has no likelihoods")

    def top_logprobs(self, prompt: str, k: int) -> dict[str, float]:
        raise LLMError("entigraph_template is a text generator stand-in: it has no likelihoods")
