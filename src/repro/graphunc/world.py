"""The synthetic world of graphunc's tiny tier: knowledge base, corpus, claims (Jiang et al. 2024, Secs. 3-5 in
miniature). :mod:`repro.graphunc.tiny` runs the tier on it (training, generation, scoring: steps 3, 4 and 7).

The pipeline mirrors the paper with every LLM call replaced by something a CPU can run
and check exactly:

1. **Knowledge base** (:func:`make_kb`): fictional people with six attributes and a
   Zipf-like popularity ``c`` (how often the bio occurs in the corpus), so that facts
   about popular people are learned and facts about rare people are not (the
   FActScore rarity gradient).
2. **Corpus** (:func:`make_corpus`): each bio ``c`` times, sentences from one template per
   attribute in shuffled order; a word-level vocabulary.
3. **LM**: a small causal transformer from the shared toolkit (``repro.common.lm``),
   trained by the shared trainer.
4. **Generations**: greedy + samples at temperature ``T`` for the prompt
   ``<bos> bio <first> <last> :`` (KV-cache sampling from ``repro.common.lm.sampling``).
5. **Claims** (:func:`parse_claims`): each template sentence -> ``(attribute, value)``;
   **merging** = ordered union over the greedy text and the first samples (greedy first).
6. **Edges**: generation ``j`` supports claim ``i`` iff ``i`` is among its parsed claims
   (an exact stand-in for the entailment LLM).
7. **Confidence** ("VC" stand-in): the LM's probability of the claim's value after its
   template prefix (a tiny LM cannot verbalise a confidence).
8. **Truth**: the knowledge base. The same centralities, metrics and UAD as the exact tier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ATTRIBUTES",
    "TEMPLATES",
    "Person",
    "Vocab",
    "make_kb",
    "make_corpus",
    "bio_prompt",
    "parse_claims",
    "merge_claims",
    "entailment_matrix",
    "claim_prefix",
    "majority_values",
]

# Attribute -> template words before the value (the value is one token, then ".").
TEMPLATES: dict[str, tuple[str, ...]] = {
    "year": ("was", "born", "in", "the", "year"),
    "city": ("grew", "up", "in"),
    "job": ("worked", "as", "a"),
    "school": ("studied", "at"),
    "country": ("is", "a", "citizen", "of"),
    "award": ("won", "the"),
}
ATTRIBUTES = tuple(TEMPLATES)
_N_VALUES = {"year": 60, "city": 24, "job": 16, "school": 16, "country": 12, "award": 12}
_SYLLABLES = ("ka", "lo", "mi", "ra", "ten", "vo", "shu", "bel", "dar", "ni", "po", "zu", "fen", "gri", "ol", "sa")
SPECIAL = ("<pad>", "<bos>", "<eos>", "bio", ":", ".")


@dataclass(frozen=True)
class Person:
    """One fictional person: two name tokens, one value per attribute, and popularity ``count``."""

    first: str
    last: str
    facts: dict[str, str]
    count: int


def _values(attr: str) -> list[str]:
    if attr == "year":
        return [str(1900 + i) for i in range(_N_VALUES["year"])]
    return [f"{attr}_{i}" for i in range(_N_VALUES[attr])]


def make_kb(n_people: int, max_count: int, zipf: float, seed: int) -> list[Person]:
    """Fictional people with a Zipf-like popularity ``count = max(1, round(max_count * rank^-zipf))``.

    Attribute values are drawn with a skew (value ``k`` with weight ``1/(k+1)``) so that a
    majority guess is a meaningful floor. Names are unique pairs of invented first and
    last names.
    """
    if n_people < 2 or max_count < 1:
        raise ValueError("need n_people >= 2 and max_count >= 1")
    rng = np.random.default_rng(seed)
    firsts = sorted({a + b for a in _SYLLABLES for b in _SYLLABLES})
    lasts = sorted({a + b + "n" for a in _SYLLABLES for b in _SYLLABLES})
    pairs = set()
    while len(pairs) < n_people:
        pairs.add((firsts[rng.integers(len(firsts))], lasts[rng.integers(len(lasts))]))
    names = sorted(pairs)
    rng.shuffle(names)
    counts = [max(1, round(max_count * (r + 1) ** -zipf)) for r in range(n_people)]
    people = []
    for (first, last), count in zip(names, counts):
        facts = {}
        for attr in ATTRIBUTES:
            vals = _values(attr)
            w = 1.0 / (np.arange(len(vals)) + 1.0)
            facts[attr] = vals[rng.choice(len(vals), p=w / w.sum())]
        people.append(Person(first, last, facts, count))
    return people


class Vocab:
    """Word-level vocabulary over the corpus' closed set of tokens."""

    def __init__(self, people: Sequence[Person]) -> None:
        words = list(SPECIAL)
        for attr, tmpl in TEMPLATES.items():
            words += list(tmpl) + _values(attr)
        for p in people:
            words += [p.first, p.last]
        self.itos = list(dict.fromkeys(words))
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, words: Sequence[str]) -> list[int]:
        try:
            return [self.stoi[w] for w in words]
        except KeyError as err:
            raise ValueError(f"word {err.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids: Sequence[int]) -> list[str]:
        return [self.itos[i] for i in ids]


def bio_prompt(p: Person) -> list[str]:
    """The generation prompt ``<bos> bio <first> <last> :``."""
    return ["<bos>", "bio", p.first, p.last, ":"]


def _sentence(p: Person, attr: str, value: str) -> list[str]:
    return [p.first, p.last, *TEMPLATES[attr], value, "."]


def claim_prefix(p: Person, attr: str) -> list[str]:
    """Prompt + the claim's template up to its value (for the model's own confidence)."""
    return [*bio_prompt(p), p.first, p.last, *TEMPLATES[attr]]


def make_corpus(people: Sequence[Person], seed: int) -> list[list[str]]:
    """Each person's bio ``count`` times, sentence order shuffled per copy; documents shuffled."""
    rng = np.random.default_rng(seed)
    docs = []
    for p in people:
        for _ in range(p.count):
            order = rng.permutation(len(ATTRIBUTES))
            words = bio_prompt(p)
            for k in order:
                attr = ATTRIBUTES[k]
                words += _sentence(p, attr, p.facts[attr])
            docs.append(words + ["<eos>"])
    perm = rng.permutation(len(docs))
    return [docs[i] for i in perm]


def parse_claims(words: Sequence[str]) -> list[tuple[str, str]]:
    """Claims ``(attribute, value)`` of a generated bio, in order, duplicates removed.

    The text is split at ``.``; a sentence is a claim when, after the two name tokens,
    it is an attribute template followed by one value of that attribute (lenient
    parsing: other sentences are dropped, as the paper drops unparseable lines).
    """
    claims: list[tuple[str, str]] = []
    sentence: list[str] = []
    valid = {attr: set(_values(attr)) for attr in ATTRIBUTES}
    for w in [*words, "."]:
        if w != ".":
            sentence.append(w)
            continue
        body = sentence[2:]
        for attr, tmpl in TEMPLATES.items():
            if len(body) == len(tmpl) + 1 and tuple(body[:-1]) == tmpl and body[-1] in valid[attr]:
                if (attr, body[-1]) not in claims:
                    claims.append((attr, body[-1]))
                break
        sentence = []
    return claims


def merge_claims(per_text: Sequence[Sequence[tuple[str, str]]]) -> list[tuple[str, str]]:
    """Ordered union of the claims of several texts (greedy text first), as in Sec. 3.1."""
    merged: list[tuple[str, str]] = []
    for claims in per_text:
        for c in claims:
            if c not in merged:
                merged.append(c)
    return merged


def entailment_matrix(
    per_generation: Sequence[Sequence[tuple[str, str]]], claims: Sequence[tuple[str, str]]
) -> np.ndarray:
    """``M[j, i] = 1`` iff generation ``j`` states claim ``i`` (exact-match entailment)."""
    m = np.zeros((len(per_generation), len(claims)))
    for j, gen in enumerate(per_generation):
        s = set(gen)
        for i, c in enumerate(claims):
            m[j, i] = float(c in s)
    return m


def majority_values(people: Sequence[Person]) -> dict[str, str]:
    """The most frequent value of each attribute in the corpus (bios weighted by popularity)."""
    out = {}
    for attr in ATTRIBUTES:
        counts: dict[str, int] = {}
        for p in people:
            counts[p.facts[attr]] = counts.get(p.facts[attr], 0) + p.count
        out[attr] = max(sorted(counts), key=lambda v: counts[v])
    return out
