"""Typed configs of the entigraph steps, built once from params.yaml (the ``entigraph`` block).

Field comments give the meaning; params.yaml sets the values (base = the paper's settings; tiny/smoke = CPU).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from repro.entigraph.generator import GenerationConfig
from repro.entigraph.world import WorldConfig

Method = Literal["raw", "rephrase", "entigraph"]


@dataclass(frozen=True)
class MathConfig:
    """Sec. 6: the stochastic graph process (V, lambda), simulated per seed, with its closed forms."""

    n_vertices: int = 100  # V entities
    lam: float = 3.0  # lambda > 1; edge probability p = lambda / V
    seeds: tuple[int, ...] = (0, 1, 2)  # one source graph and one pair sequence per seed
    n_steps: int = 200_000  # synthetic steps t simulated
    n_grid: int = 60  # log-spaced t at which the curves are recorded (plus report_at)
    report_at: tuple[int, ...] = (0, 1000, 5000, 10000, 20000, 50000, 100000, 200000)  # t reported in numbers
    fit_terms: int = 3  # exponentials in the mixture fit to the simulated curve
    eps: float = 0.05  # Theorem 1's epsilon for the plotted / checked bounds


@dataclass(frozen=True)
class WorldStep:
    """The source documents: the synthetic fact corpus (tiny) or QuALITY (paper)."""

    source: Literal["synthetic", "quality"] = "synthetic"
    synthetic: WorldConfig = field(default_factory=WorldConfig)
    quality_max_articles: int | None = None  # QuALITY: keep the first N articles (None: all 265)


@dataclass(frozen=True)
class LLMSettings:
    """The generator behind repro.common.llm (secrets only by environment-variable name)."""

    backend: str = "entigraph_template"  # entigraph_template (offline stand-in) | openai | hf
    model: str = "extractive-v1"
    cache: str = "resources/llm_cache/entigraph.sqlite"  # sqlite cache of every call
    base_url: str = ""  # openai: endpoint
    api_key_env: str = ""  # openai: NAME of the variable holding the key

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments of repro.common.llm.get_llm (empty options dropped)."""
        out: dict[str, Any] = {"model": self.model, "cache": self.cache}
        if self.base_url:
            out["base_url"] = self.base_url
        if self.api_key_env:
            out["api_key_env"] = self.api_key_env
        if self.backend == "openai":
            out["mode"] = "chat"
        return out


@dataclass(frozen=True)
class SynthConfig:
    """Sec. 2.2: EntiGraph and the rephrase baseline."""

    llm: LLMSettings = field(default_factory=LLMSettings)
    generation: GenerationConfig = field(default_factory=GenerationConfig)


@dataclass(frozen=True)
class DataConfig:
    """Tokenizer and generic text (pretraining of the base model and replay)."""

    corpora: tuple[str, ...] = ("wikitext2",)  # repro.common.lm.corpora names (generic text)
    heldout_frac: float = 0.1
    split_seed: int = 0
    tokenizer: Literal["bpe", "char", "hf"] = "bpe"  # hf: the base model's tokenizer by hub id (paper)
    hf_tokenizer: str = ""  # hub id when tokenizer = hf
    vocab_size: int = 1024  # bpe: trained on generic text + the source articles


@dataclass(frozen=True)
class LMSettings:
    """The base LM: trained from scratch (tiny) or a hub checkpoint (paper: Llama 3 8B)."""

    hub_id: str = ""  # non-empty: load pretrained weights by id (network; paper scale)
    arch: str = "gpt2"
    n_layer: int = 2
    n_head: int = 4
    d_model: int = 128
    context: int = 128


@dataclass(frozen=True)
class PretrainConfig:
    """Pretraining of the base model on generic text (skipped when lm.hub_id is set)."""

    steps: int = 800
    batch_size: int = 16
    lr: float = 2e-3
    warmup: int = 50
    min_lr: float = 2e-4
    seed: int = 0


@dataclass(frozen=True)
class CPTSettings:
    """Sec. 4.1: continued pretraining on each corpus with replay (paper: lr 5e-6, 2 epochs, 10% replay)."""

    methods: tuple[Method, ...] = ("raw", "rephrase", "entigraph")
    budgets: tuple[int, ...] = (2000, 4000, 8000, 16000, 32000)  # domain tokens per run (Fig. 2's x-axis)
    epochs: float = 2.0
    replay_rate: float = 0.1
    batch_size: int = 16
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_frac: float = 0.05
    weight_decay: float = 0.01
    seeds: tuple[int, ...] = (0,)  # one run per seed, method and budget (data order, replay slice, batches)
    # methods run at every seed at every budget; the others at every seed at the smallest and largest budget
    # only (what the claims compare; no run in between)
    seed_every_budget: tuple[Method, ...] = ("raw", "rephrase", "entigraph")
    seed: int = 0  # the run's own seed: set per run from ``seeds`` by the rules file (params: ``seeds`` only)

    def run_seeds(self, method: str, budget: int) -> tuple[int, ...]:
        """The seeds run for one method and budget (workflow/rules/entigraph.smk requests the same runs)."""
        if method in self.seed_every_budget or budget in (min(self.budgets), max(self.budgets)):
            return tuple(self.seeds)
        return ()

    def run_budgets(self, method: str) -> tuple[int, ...]:
        """The budgets at which ``method`` runs at all."""
        return tuple(b for b in self.budgets if self.run_seeds(method, b))


@dataclass(frozen=True)
class BaseStep:
    """The base step reads the data, lm and pretrain sections."""

    data: DataConfig
    lm: LMSettings
    pretrain: PretrainConfig


@dataclass(frozen=True)
class RunConfig:
    """One continued-pretraining run (a params file per run, written at parse time)."""

    method: Method
    budget: int
    lm: LMSettings
    cpt: CPTSettings


@dataclass(frozen=True)
class EvalSettings:
    """Sec. 4.2 / 5: closed-book and open-book QA."""

    rag_k: int = 3  # retrieved source sentences in the open-book prompt
    fit_terms: int = 1  # exponentials in the mixture fit of accuracy vs tokens
    token_unit: int = 1000  # t = tokens / token_unit in the fit
    batch_size: int = 32
    threads: int = 1


@dataclass(frozen=True)
class TinyStep:
    """The evaluation step reads the cpt and eval sections."""

    cpt: CPTSettings
    eval: EvalSettings
