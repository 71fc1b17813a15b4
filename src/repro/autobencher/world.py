"""The synthetic world of the tiny tier (notes Sec. 6.1): an encyclopedia with a salience per topic.

No instruction-following LM and no Wikipedia exist offline, so the knowledge domain of
AutoBencher's capability setting (Sec. 3.1/4.1: history, economy, science pages of Wikipedia)
is replaced by a seeded encyclopedia:

* domains -> subdomains -> topics (the topic tree the proposer searches; a topic plays the
  role of a Wikipedia page / category);
* each topic has entities, and each entity one value per relation (the fact table, i.e. the
  *privileged information* the question writer reads);
* each topic has Zipf "pageviews" (the salience signal of Sec. 3.1); the pretraining corpora
  of the test-takers contain facts in proportion to (a model-specific power of) salience, so
  tail topics are rarely seen.

Every name is a made-up pronounceable word, so no real-world text (and no released safety
prompt) can enter a corpus.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Fact", "Topic", "World", "WorldConfig", "build_world", "fact_sentence", "question_prompt"]

_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "ch", "sh", "tr", "br", "gl", "pl")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ou")
_CODAS = ("", "", "n", "r", "s", "l", "x")


@dataclass(frozen=True)
class WorldConfig:
    """Size of the synthetic encyclopedia (tiny: 3 domains x 4 subdomains x 6 topics)."""

    domains: tuple[str, ...] = ("history", "economy", "science")  # the paper's knowledge domains
    subdomains_per_domain: int = 3  # second level of the topic tree (the bandit's arms)
    topics_per_subdomain: int = 5  # leaves: candidate categories (datasets)
    entities_per_topic: int = 5  # entities described on a topic's page
    relations: tuple[str, ...] = ("founder", "origin", "emblem", "rival")  # one fact per entity and relation
    values_per_relation: int = 12  # answer vocabulary of each relation (MC options are drawn from it)
    zipf_exponent: float = 1.1  # pageviews of the topic of salience rank r ~ r^-zipf_exponent
    max_pageviews: float = 1.0e6  # pageviews of the most salient topic


@dataclass(frozen=True)
class Topic:
    """A leaf of the topic tree: one candidate category."""

    name: str
    domain: str
    subdomain: str
    pageviews: float
    entities: tuple[str, ...]


@dataclass(frozen=True)
class Fact:
    """One row of the fact table: ``relation(entity) = value`` on ``topic``'s page."""

    topic: str
    entity: str
    relation: str
    value: str


@dataclass(frozen=True)
class World:
    """The encyclopedia: topics (with salience) and the fact table (privileged information)."""

    config: WorldConfig
    topics: tuple[Topic, ...]
    facts: tuple[Fact, ...]
    values: dict[str, tuple[str, ...]]  # relation -> its answer vocabulary

    def topic(self, name: str) -> Topic:
        for t in self.topics:
            if t.name == name:
                return t
        raise KeyError(f"unknown topic {name!r}")

    def facts_of(self, topic: str) -> list[Fact]:
        return [f for f in self.facts if f.topic == topic]

    def topics_in(self, domain: str) -> list[Topic]:
        return [t for t in self.topics if t.domain == domain]

    def page(self, topic: str) -> str:
        """The topic's encyclopedia page: the privileged information a question writer reads."""
        return f"{topic} .\n" + "\n".join(fact_sentence(f) for f in self.facts_of(topic))


def fact_sentence(fact: Fact) -> str:
    """How a fact is written in the corpus and on its page."""
    return f"the {fact.relation} of {fact.entity} is {fact.value} ."


def question_prompt(entity: str, relation: str) -> str:
    """The cloze prompt a test-taker completes (its answer is the continuation ``" " + value``)."""
    return f"the {relation} of {entity} is"


def _names(rng: np.random.Generator, n: int, taken: set[str], syllables: Sequence[int] = (2, 3)) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        k = int(rng.choice(syllables))
        name = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(k)) + str(rng.choice(_CODAS))
        if name not in taken and len(name) >= 4:
            taken.add(name)
            out.append(name)
    return out


def build_world(cfg: WorldConfig, seed: int) -> World:
    """A seeded encyclopedia: the same ``(cfg, seed)`` always gives the same world."""
    if not cfg.domains or cfg.subdomains_per_domain < 1 or cfg.topics_per_subdomain < 1:
        raise ValueError("world: needs at least one domain, subdomain and topic")
    if cfg.values_per_relation < 4:
        raise ValueError("world.values_per_relation must be >= 4 (four-option questions)")
    rng = np.random.default_rng([seed, 7])
    taken: set[str] = set(cfg.relations) | set(cfg.domains) | {"the", "of", "is"}
    values = {r: tuple(_names(rng, cfg.values_per_relation, taken, (1, 2))) for r in cfg.relations}
    n_topics = len(cfg.domains) * cfg.subdomains_per_domain * cfg.topics_per_subdomain
    ranks = rng.permutation(n_topics) + 1  # global salience rank of each topic
    topics, facts = [], []
    i = 0
    for d in cfg.domains:
        for s in range(cfg.subdomains_per_domain):
            sub = f"{d}/{_names(rng, 1, taken)[0]}"
            for name in _names(rng, cfg.topics_per_subdomain, taken):
                ents = tuple(_names(rng, cfg.entities_per_topic, taken))
                pv = cfg.max_pageviews * float(ranks[i]) ** (-cfg.zipf_exponent)
                topics.append(Topic(name, d, sub, pv, ents))
                for e in ents:
                    for r in cfg.relations:
                        facts.append(Fact(name, e, r, str(rng.choice(values[r]))))
                i += 1
    return World(cfg, tuple(topics), tuple(facts), values)
