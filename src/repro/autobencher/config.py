"""Typed configs of the autobencher steps, built once from params.yaml at the adapter.

One ``<Step>Config`` per step that takes a config (``repro.common.steps.build_config`` builds it with
named-key errors): the panel run of one seed, the tiny tier over every seed and the paper-scale plan.
The method-level configs they nest stay with their method (:class:`~repro.autobencher.world.WorldConfig`,
:class:`~repro.autobencher.panel.PanelConfig`, :class:`~repro.autobencher.search.SearchConfig`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from repro.autobencher.panel import PanelConfig
from repro.autobencher.search import SearchConfig
from repro.autobencher.world import WorldConfig

__all__ = ["PanelStepConfig", "PaperPlanConfig", "RoleBackend", "TinyConfig", "TinyStepConfig"]


# --- panel --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PanelStepConfig:
    """One panel run: the world's and the panel's params sections plus the seed (from the rule's params file)."""

    world: WorldConfig
    panel: PanelConfig
    seed: int
    threads: int = 1  # torch threads for this job


# --- tiny ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TinyConfig:
    """Params section ``tiny``: seeds and the search."""

    seeds: tuple[int, ...] = (0, 1, 2)  # one world + panel + search per seed
    search: SearchConfig = field(default_factory=SearchConfig)


@dataclass(frozen=True)
class TinyStepConfig:
    """The sections the tiny step reads."""

    world: WorldConfig
    panel: PanelConfig
    tiny: TinyConfig


# --- paper scale --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoleBackend:
    """An LLM behind :mod:`repro.common.llm` (API keys only from the named environment variable)."""

    backend: str = "openai"
    model: str = "gpt-4-turbo-2024-04-09"
    base_url: str = "https://api.openai.com/v1"
    api_key_env: str = "OPENAI_API_KEY"


@dataclass(frozen=True)
class PaperPlanConfig:
    """Params section ``paper_plan``: the paper's roles, privileged information and panel (Sec. 4.1)."""

    roles: dict[str, RoleBackend] = field(default_factory=dict)  # proposer, question_writer, judge
    privileged_info: str = "wikipedia"
    domains: tuple[str, ...] = ("history", "economy", "science")
    acc_target: str = "0.1--0.3"
    iterations: int = 8
    n_keep: int = 5
    questions_per_block: int = 15
    panel: tuple[str, ...] = ()
    cache: str = "resources/llm_cache/autobencher.sqlite"
