"""The AutoBencher search loop on the synthetic world (Sec. 3.2-3.3; notes Sec. 4 "Search loop", Sec. 6).

Per domain and per search method (``adaptive``: the bandit proposer with salience rerank;
``random``: the paper's "no adaptive search" baseline: random categories, no feedback, no
rerank), for ``iterations`` rounds: propose categories, keep ``n_keep`` (adaptive: the most
salient of ``n_propose`` proposals), write questions from the page's fact table (privileged
information), let every panel model answer, judge, and append the accuracies to the history.
Finally the ``n_select`` salient explored categories with the best objective are the
AutoBench datasets of the domain. The existing benchmark ("HumanBench") of a domain is its
``existing_per_domain`` most salient topics; its per-domain mean accuracies are the columns of
``V_prev`` for novelty (a human dataset's novelty is computed with itself left out).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from repro.autobencher.metrics import difficulty, mean_error, novelty, objective, separability
from repro.autobencher.roles import BanditProposer, Question
from repro.autobencher.world import World

log = logging.getLogger(__name__)

__all__ = ["DatasetResult", "Panel", "SearchConfig", "existing_benchmark", "run_domain", "salience_threshold"]

METHODS = ("adaptive", "random")


@dataclass(frozen=True)
class SearchConfig:
    """Search budget and objective (tiny: 4 iterations x 2 categories per domain)."""

    iterations: int = 4  # search rounds per domain (paper: 8)
    n_propose: int = 4  # categories proposed per round before the salience rerank (paper: ~10)
    n_keep: int = 2  # categories kept (and evaluated) per round (paper: 5)
    n_select: int = 2  # AutoBench datasets selected per domain at the end
    existing_per_domain: int = 3  # most salient topics per domain that form the existing benchmark
    salient_fraction: float = 0.6  # SALIENCE = 1 for the topics in this top fraction of pageviews
    beta_novelty: float = 1.0  # objective weight of NOVELTY (beta_1)
    beta_sep: float = 0.0  # objective weight of SEPARABILITY (beta_2; v1 uses none)
    exploration: float = 0.3  # UCB exploration constant of the bandit proposer
    ridge: float = 1.0e-3  # ridge on the slopes of the novelty regression

    def __post_init__(self) -> None:
        if self.n_keep > self.n_propose or self.n_keep < 1 or self.iterations < 1 or self.n_select < 1:
            raise ValueError("search: need 1 <= n_keep <= n_propose, iterations >= 1, n_select >= 1")
        if not 0 < self.salient_fraction <= 1:
            raise ValueError("search.salient_fraction must be in (0, 1]")


@dataclass
class Panel:
    """Evaluates a topic's dataset on every test-taker (memoised: a topic is evaluated once)."""

    models: Sequence[str]
    ask: Callable[[str, list[Question]], list[bool]]  # (model, questions) -> judged correct, per question
    questions: Callable[[str], list[Question]]  # topic -> its dataset

    def __post_init__(self) -> None:
        self._cache: dict[str, np.ndarray] = {}

    def accuracies(self, topic: str) -> np.ndarray:
        if topic not in self._cache:
            qs = self.questions(topic)
            if not qs:
                raise ValueError(f"topic {topic!r} has no questions")
            self._cache[topic] = np.array([np.mean(self.ask(m, qs)) for m in self.models])
        return self._cache[topic]


@dataclass(frozen=True)
class DatasetResult:
    """Metrics of one candidate dataset (one category)."""

    method: str
    domain: str
    topic: str
    pageviews: float
    salient: bool
    iteration: int
    selected: bool
    difficulty: float
    novelty: float
    separability: float
    objective: float
    mean_error: float
    accuracies: tuple[float, ...]


def salience_threshold(world: World, fraction: float) -> float:
    """The pageviews of the least salient topic still counted salient."""
    pv = np.sort([t.pageviews for t in world.topics])[::-1]
    return float(pv[max(0, int(np.ceil(fraction * len(pv))) - 1)])


def existing_benchmark(world: World, k: int) -> dict[str, list[str]]:
    """Per domain, its ``k`` most salient topics (the human-made benchmark of the synthetic world)."""
    return {
        d: [t.name for t in sorted(world.topics_in(d), key=lambda t: -t.pageviews)[:k]] for d in world.config.domains
    }


def v_prev_matrix(panel: Panel, existing: Mapping[str, Sequence[str]], leave_out: str | None = None) -> np.ndarray:
    """``[models x domains]`` mean accuracy on each domain's existing benchmark (without ``leave_out``)."""
    cols = []
    for topics in existing.values():
        use = [t for t in topics if t != leave_out]
        if use:
            cols.append(np.mean([panel.accuracies(t) for t in use], axis=0))
    return np.stack(cols, axis=1)


def _result(method, world, panel, topic, v_prev, cfg, threshold, iteration, selected=False) -> DatasetResult:
    v = panel.accuracies(topic)
    t = world.topic(topic)
    return DatasetResult(
        method=method,
        domain=t.domain,
        topic=topic,
        pageviews=t.pageviews,
        salient=t.pageviews >= threshold,
        iteration=iteration,
        selected=selected,
        difficulty=difficulty(v),
        novelty=novelty(v, v_prev, cfg.ridge),
        separability=separability(v),
        objective=objective(v, v_prev, cfg.beta_novelty, cfg.beta_sep, cfg.ridge),
        mean_error=mean_error(v),
        accuracies=tuple(float(x) for x in v),
    )


def run_domain(
    world: World, domain: str, method: str, panel: Panel, cfg: SearchConfig, seed: int
) -> list[DatasetResult]:
    """One search (``adaptive`` or ``random``) over a domain; every explored dataset, the selected flagged."""
    if method not in METHODS:
        raise ValueError(f"unknown search method {method!r}; known: {METHODS}")
    existing = existing_benchmark(world, cfg.existing_per_domain)
    human = {t for ts in existing.values() for t in ts}
    v_prev = v_prev_matrix(panel, existing)
    threshold = salience_threshold(world, cfg.salient_fraction)
    space = [t for t in world.topics_in(domain) if t.name not in human]
    arms: dict[str, list[str]] = {}
    for t in space:
        arms.setdefault(t.subdomain, []).append(t.name)
    rng = np.random.default_rng([seed, 23, METHODS.index(method), *map(ord, domain)])
    bandit = BanditProposer(arms, cfg.exploration, int(rng.integers(2**31)))
    explored: list[DatasetResult] = []
    seen: set[str] = set()
    for it in range(cfg.iterations):
        if method == "adaptive":
            proposals = bandit.propose(cfg.n_propose, seen)
            keep = sorted(proposals, key=lambda n: -world.topic(n).pageviews)[: cfg.n_keep]  # salience rerank
        else:
            free = [t.name for t in space if t.name not in seen]
            keep = [free[i] for i in rng.permutation(len(free))[: cfg.n_keep]]
        for name in keep:
            r = _result(method, world, panel, name, v_prev, cfg, threshold, it)
            explored.append(r)
            seen.add(name)
            bandit.update(world.topic(name).subdomain, r.objective if r.salient else 0.0)
        log.info(
            "%s %s iteration %d: %s",
            method,
            domain,
            it,
            [(r.topic, round(r.objective, 3)) for r in explored[-len(keep) :]],
        )
    ranked = sorted((r for r in explored if r.salient), key=lambda r: -r.objective)[: cfg.n_select]
    chosen = {r.topic for r in ranked}
    return [DatasetResult(**{**r.__dict__, "selected": r.topic in chosen}) for r in explored]


def human_results(world: World, panel: Panel, cfg: SearchConfig) -> list[DatasetResult]:
    """The existing benchmark's datasets, each scored with itself left out of ``V_prev``."""
    existing = existing_benchmark(world, cfg.existing_per_domain)
    threshold = salience_threshold(world, cfg.salient_fraction)
    out = []
    for topics in existing.values():
        for name in topics:
            v_prev = v_prev_matrix(panel, existing, leave_out=name)
            out.append(_result("human", world, panel, name, v_prev, cfg, threshold, -1, selected=True))
    return out
