"""Typed configs of the graphunc steps, built once from params.yaml at the adapter.

One ``<Step>Config`` per step that takes a config (``repro.common.steps.build_config`` builds it with
named-key errors) and the dataclasses they nest: the exact tier's settings, the end-to-end tiny tier
(knowledge base, tiny LM, sampling, uncertainty-aware decoding; :mod:`repro.graphunc.tiny`) and the
paper-scale LLM job plan (:mod:`repro.graphunc.paper`). Defaults document the paper's settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Backend",
    "DatasetSpec",
    "ExactConfig",
    "GenConfig",
    "KbConfig",
    "LmConfig",
    "PaperPlanConfig",
    "TinyConfig",
    "UadConfig",
]


# --- exact ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExactConfig:
    """Params section ``exact``."""

    gain_new: str = "closeness_vc"  # method whose relative AUPRC gain the abstract reports
    gain_old: str = "sc"  # the baseline it is measured against
    example: str = "factscore_gpt4_s5"  # setting whose prompt is drawn as the example graph
    example_prompt: int = 0  # index of the drawn prompt


# --- tiny tier -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KbConfig:
    """The synthetic knowledge base and corpus."""

    n_people: int = 400  # fictional people
    max_count: int = 30  # copies of the most popular bio in the corpus
    zipf: float = 1.0  # popularity exponent: count = max(1, round(max_count * rank^-zipf))
    seed: int = 0  # the knowledge base is the same for every model seed


@dataclass(frozen=True)
class LmConfig:
    """The tiny causal LM (shared toolkit: repro.common.lm) and its training."""

    arch: str = "gpt2"  # shared-toolkit architecture
    n_layer: int = 2
    n_head: int = 4
    d_model: int = 64
    context: int = 64  # tokens: a whole bio (~55 words) fits
    steps: int = 1000  # optimizer steps (~85 passes over the ~24k-word corpus)
    batch_size: int = 32
    lr: float = 3.0e-3
    warmup: int = 100


@dataclass(frozen=True)
class GenConfig:
    """Sampling of the biographies (Sec. 3.1: greedy + samples)."""

    n_samples: int = 9  # sampled generations besides the greedy one (edges use all of them)
    n_claim_texts: int = 5  # texts whose claims are merged (greedy + first 4 samples)
    temperature: float = 1.0
    max_new_tokens: int = 60


@dataclass(frozen=True)
class UadConfig:
    """Uncertainty-aware decoding (Sec. 5.2)."""

    method: str = "closeness"  # score used to keep claims
    percentile: float = 40.0  # threshold = this percentile of the held-out people's claim scores
    heldout_frac: float = 0.25  # people used only to choose the threshold
    sweep: tuple[float, ...] = (10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0)  # percentiles of the curve


@dataclass(frozen=True)
class TinyConfig:
    """All settings of the tiny tier (params section ``tiny``)."""

    seeds: tuple[int, ...] = (0, 1, 2)  # model seeds (init, data order, sampling, split)
    kb: KbConfig = field(default_factory=KbConfig)
    lm: LmConfig = field(default_factory=LmConfig)
    gen: GenConfig = field(default_factory=GenConfig)
    uad: UadConfig = field(default_factory=UadConfig)
    n_boot: int = 1000  # bootstrap resamples of (seed, person) groups
    threads: int = 1  # torch CPU threads


# --- paper scale ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    """An LLM endpoint of repro.common.llm."""

    backend: str  # openai | hf | replay | tiny
    model: str  # model id
    base_url: str = ""  # OpenAI-compatible endpoint
    api_key_env: str = ""  # environment variable with the key


@dataclass(frozen=True)
class DatasetSpec:
    """A prompt set of the paper."""

    hf_path: str  # folder in the official repository (datasets.save_to_disk)
    n_prompts: int  # prompts used
    prompt: str  # generation prompt, {entity} filled in
    field: str  # column that fills {entity}


@dataclass(frozen=True)
class PaperPlanConfig:
    """Params section ``paper_plan``."""

    datasets: dict[str, DatasetSpec] = field(default_factory=dict)
    models: dict[str, Backend] = field(default_factory=dict)
    helper: Backend = field(default_factory=lambda: Backend("openai", "gpt-3.5-turbo-0125"))
    n_samples: int = 10  # sampled generations besides the greedy one
    temperature: float = 0.7
    max_tokens: int = 1000
    n_claim_texts: int = 5  # texts decomposed and merged (greedy + first samples)
    seed: int = 10
    cache: str = "resources/llm_cache/graphunc.sqlite"
