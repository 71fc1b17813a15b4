"""Typed configs of the ideagen steps, built once from params.yaml at the adapter.

One ``<Step>Config`` per step that takes a config (``repro.common.steps.build_config`` builds it with
named-key errors) and the sections they nest. The steps are in :mod:`repro.ideagen._stats_steps`
(human-study statistics), :mod:`repro.ideagen._agent_steps` (the ideation agent) and
:mod:`repro.ideagen._rank_steps` (dedup and tournament), re-exported by :mod:`repro.ideagen.steps`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "DedupConfig",
    "EmbedConfig",
    "GeneratorConfig",
    "MixedConfig",
    "PerTopicConfig",
    "RetrievalConfig",
    "SeedsConfig",
    "SeedsStepConfig",
    "StatsConfig",
    "TournamentConfig",
    "TournamentStepConfig",
]


# --- exact tier: human-study statistics ----------------------------------------------------------


@dataclass(frozen=True)
class StatsConfig:
    ci_level: float = 0.95  # confidence level of the error bars (Student t)


@dataclass(frozen=True)
class PerTopicConfig:
    alpha: float = 0.05  # significance level for the count of significant topics


@dataclass(frozen=True)
class MixedConfig:
    method: str = "lbfgs"  # statsmodels MixedLM optimiser
    reml: bool = True  # REML (statsmodels' default) or ML


# --- ideation agent: retrieval, stand-in generator, seeds, embeddings ----------------------------


@dataclass(frozen=True)
class RetrievalConfig:
    backend: Literal["local", "semantic_scholar"] = "local"  # offline TF-IDF index, or the S2 Graph API
    bank_size: int = 120  # papers kept per topic (paper: 120)
    limit: int = 20  # results per search call (paper: 20)
    expand_top: int = 10  # best papers whose titles seed the next queries (paper: 10)
    max_queries: int = 20  # searches per topic at most
    base_url: str = "https://api.semanticscholar.org/graph/v1"  # the Graph API (paper_toy: the local stand-in)
    cache: str = "resources/semantic_scholar/cache.sqlite"  # S2 response cache (networked runs)
    api_key_env: str = "S2_API_KEY"  # environment variable with the S2 key (optional)
    topics: dict[str, str] = field(default_factory=dict)  # topic -> description (the query)


@dataclass(frozen=True)
class GeneratorConfig:
    order: int = 3  # n-gram order of the stand-in generator
    weights: tuple[float, ...] = (0.05, 0.25, 0.7)  # interpolation weights, history length 0..order-1
    heldout_fraction: float = 0.2  # titles held out to score the model against its floor
    seed: int = 0


@dataclass(frozen=True)
class SeedsConfig:
    llm: str = "claude"  # a key of the llms section
    n_per_topic: int = 4000  # seed ideas per topic (paper: 4,000)
    ideas_per_call: int = 5  # ideas asked for in one prompt (paper: 5)
    samples_per_call: int = 1  # completions per call (the stand-in returns one idea per completion)
    temperature: float = 1.0  # paper: 1.0 (top_p 1.0)
    max_tokens: int = 4096
    avoid_repeating: int = 10000  # existing idea names listed in the prompt ("avoid repeating")
    seed: int = 0
    in_prompt: int = 10  # bank papers shown in each seed prompt (paper: 10)
    topics: tuple[str, ...] = ()  # topics to generate for (names in the retrieval bank)


@dataclass(frozen=True)
class SeedsStepConfig:
    seeds: SeedsConfig
    llms: dict[str, dict[str, object]] = field(default_factory=dict)  # named LLM blocks


@dataclass(frozen=True)
class EmbedConfig:
    batch_size: int = 64  # encode batch size
    device: str = "cpu"  # cpu, cuda or auto (cuda when a GPU is visible)


# --- dedup (diversity curve) and tournament ------------------------------------------------------


@dataclass(frozen=True)
class DedupConfig:
    threshold: float = 0.8  # cosine above which an idea is a duplicate (paper: 0.8)
    checkpoints: tuple[int, ...] = (100, 500, 1000, 2000, 4000)  # n at which the unique fraction is reported
    window: int = 100  # ideas per window for the first/last new-idea rate


@dataclass(frozen=True)
class TournamentConfig:
    judge: Literal["proxy", "llm"] = "proxy"  # proxy: offline embedding judge; llm: the paper's judge
    llm: str = "claude"  # a key of the llms section (judge = llm)
    rounds: int = 5  # Swiss rounds (paper: 5)
    folds: int = 5  # cross-fitting folds: each fold is ranked by a judge fit on the others
    c: float = 1.0  # inverse L2 strength of the proxy's logistic regression
    random_repeats: int = 200  # random-judge tournaments for the floor
    judge_bootstrap: int = 1000  # bootstrap replicates (ideas resampled within folds) of the judge's accuracy
    seed: int = 0


@dataclass(frozen=True)
class TournamentStepConfig:
    tournament: TournamentConfig
    llms: dict[str, dict[str, object]] = field(default_factory=dict)  # named LLM blocks
