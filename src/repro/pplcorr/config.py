"""Typed configs of the pplcorr steps, built once from params.yaml at the adapter.

One ``<Step>Config`` per step that takes one (``repro.common.steps.build_config`` builds it with named-key
errors): the crosscheck and exact tier on the released matrices, the paper-scale RPJv2 matrix, the live
tier's pages, population and selection-and-pretraining run, and the paper's 160M pretraining setting.
Defaults document the paper's settings (notes); params.yaml sets them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from repro.pplcorr import data, live
from repro.pplcorr.tiny_lm import TransformerSpec

__all__ = [
    "CrosscheckConfig",
    "ExactConfig",
    "LiveConfig",
    "PagesConfig",
    "PaperConfig",
    "PopulationConfig",
    "PretrainConfig",
    "Rpjv2Config",
]


# --- crosscheck ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CrosscheckConfig:
    """Random single-index-model cases + the released matrix, ours vs ``perplexity-correlations``."""

    n_cases: int = 20  # random Gaussian single-index cases
    n_llms: tuple[int, ...] = (10, 40, 90)  # N of the random cases (cycled)
    n_texts: tuple[int, ...] = (50, 500)  # D of the random cases (cycled)
    targets: tuple[str, ...] = tuple(data.TARGET_GROUPS)  # released-matrix targets
    filter_ratio: float = 0.1  # uniform tau = 1 / (filter_ratio * D) for the projections
    seed: int = 0


# --- exact ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExactConfig:
    """Sec. 4 / Fig. 4 on the released matrices."""

    targets: tuple[str, ...] = tuple(data.TARGET_GROUPS)
    estimator: str = "spearmanr"  # the examples' default (notes Sec. 5.1)
    top_k: int = 10
    near_tie_k: int = 13  # references are checked to lie in our top-13 (near-ties at 10th place)
    folds: int = 5
    filter_ratio: float = 0.1
    seed: int = 0
    variants: tuple[str, ...] = ("synthetic",)  # + "rpjv2" at paper scale (needs input bpb_rpjv2)


# --- rpjv2 (paper scale) -------------------------------------------------------------------------


@dataclass(frozen=True)
class Rpjv2Config:
    """The RedPajama-v2 domain BPB matrix (not mirrored: > 4 MiB), pinned by git blob id."""

    url: str = ""  # pinned raw URL (commit in the path)
    git_blob: str = ""  # `git hash-object` of the file, as GitHub lists it
    dest: str = ""  # where the file lands (the rule's `matrix` output)


# --- live tier -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PagesConfig:
    """Pages, splits and cloze targets of the live tier (module docstring of repro.pplcorr.live)."""

    corpora: tuple[str, ...] = ("all",)  # "all" = default + opt-in mirrored corpora (research use)
    page_bytes: int = 1000
    max_bytes_per_domain: int = 500_000
    eval_pages: int = 8  # per domain: the BPB matrix
    task_pages: int = 40  # per target domain: cloze items
    target_sample_pages: int = 20  # per target domain: DSIR's target text
    pool_frac: float = 0.6  # of the rest: selection pool (the remainder trains the population)
    targets: dict[str, str] = field(default_factory=lambda: {"science": "abc:science"})  # target -> domain
    n_items: int = 200
    context_bytes: int = 200
    n_choices: int = 4
    seed: int = 0


@dataclass(frozen=True)
class PopulationConfig:
    """The LM population standing in for the paper's 90 public LLMs (Sec. 4)."""

    size: int = 48  # members in all (n-grams + transformers)
    transformers: int = 5  # of which tiny character-level transformers (repro.common.lm toolkit)
    transformer_steps: tuple[int, ...] = (100, 200, 400)  # optimizer steps, cycled over the transformers
    transformer: TransformerSpec = field(default_factory=TransformerSpec)  # their architecture/optimiser
    orders: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
    smoothings: tuple[str, ...] = ("witten_bell", "add_k")
    dirichlet_alpha: float = 0.3  # domain mixture ~ Dirichlet(alpha)
    min_bytes: int = 20_000  # training bytes ~ log-uniform(min, max)
    max_bytes: int = 400_000
    seed: int = 0


@dataclass(frozen=True)
class PretrainConfig:
    """The fresh LM pretrained on each arm's pages, its n-gram cross-check and its sanity floor.

    The fresh LM is a tiny toolkit transformer (``transformer``; the seed varies both the pages
    and the initialisation). Beside it, on the same pages: a byte n-gram of order ``ngram_order``
    (the former fresh LM, kept as a cheap cross-check) and the count-based Witten-Bell byte
    n-gram of order ``floor_order`` (the sanity floor, like the toolkit's bigram floor).
    """

    transformer: TransformerSpec = field(default_factory=TransformerSpec)
    ngram_order: int = 4  # the n-gram cross-check's order
    smoothing: str = "witten_bell"  # the n-gram cross-check's smoothing
    floor_order: int = 2  # count-based floor: interpolated Witten-Bell byte bigram


@dataclass(frozen=True)
class LiveConfig:
    """Estimate -> project -> classify -> select -> pretrain -> evaluate (Sec. 3.4, 4, 5)."""

    estimator: str = "sign_cdf"  # the paper's main estimator
    filter_ratio: float = 0.1  # tau_j = bytes_j / sum bytes / filter_ratio
    budget_bytes: int = 200_000  # equal for every arm
    seeds: tuple[int, ...] = (0, 1, 2)
    arms: tuple[str, ...] = live.ARMS
    folds: int = 5  # Fig. 4 procedure over the population
    classifier_features: int = 262_144  # hashed word 1-2-grams, logistic regression
    dsir_features: int = 10_000  # DSIR's hashed buckets
    targets: dict[str, str] = field(default_factory=lambda: {"science": "abc:science"})  # = pages.targets
    n_choices: int = 4  # = pages.n_choices (random floor)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)


# --- paper scale ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaperConfig:
    """The paper's 160M pretraining setting (Sec. 5); names real dataset/model ids for networked users."""

    pool: dict[str, str] = field(default_factory=dict)  # RPJv2 sample: dataset id, subset and fields
    tokenizer: str = "meta-llama/Llama-2-7b-hf"  # chunking tokenizer of the BPB sample
    chunk_tokens: int = 512
    pages_per_domain: int = 25
    model: dict[str, object] = field(default_factory=dict)  # Pythia-160M config and optimiser
    benchmarks: tuple[str, ...] = ()  # the eight lm-eval targets
    baselines: tuple[str, ...] = ()
    gpus: int = 4
