"""Typed configs of the obsscaling steps, built once from params.yaml at the adapter.

Each ``<Step>Config`` has one field per params section its rule reads (the rule's
``step_params`` keys), so a config is exactly what the step depends on.
``repro.common.steps.build_config`` builds them with named-key errors; the
defaults here document the paper's settings (notes Sec. 4), params.yaml sets them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Link = Literal["sigmoid_floor", "sigmoid"]
Loss = Literal["huber", "ols"]
Benchmarks = dict[str, tuple[str, ...]]  # benchmark-set name -> benchmark columns


@dataclass(frozen=True)
class Imputation:
    """Iterative PCA imputation fitted on training rows (notes Sec. 4.3)."""

    n_components: int = 1
    max_iter: int = 1000
    tol: float = 1e-4  # stop when no imputed z-score moves more than this
    bounds: tuple[float, float] | None = (0.0, 1.0)


@dataclass(frozen=True)
class PcaSettings:
    n_components: int = 5


@dataclass(frozen=True)
class FitSettings:
    """The sigmoid link fit shared by every prediction (notes Sec. 4.7)."""

    floor_bounds: tuple[float, float] = (0.0, 0.2)
    init_coef: float = 0.03  # initial w (a = 0, b = 0)
    max_nfev: int = 10000
    gradient: Literal["numeric", "analytic"] = "numeric"  # numeric = scipy finite differences (authors' setting)
    tol: float | None = None  # None: scipy's default stopping tolerances


@dataclass(frozen=True)
class TargetSpec:
    """One predicted column and its transform."""

    column: str
    benchmarks: str = "default"  # benchmark set whose PCs predict it
    value_range: tuple[float, float] | None = None  # min-max range; None: already in [0, 1]
    func: str = "none"
    cutoff_flops: float | None = None  # per-target FLOPs cutoff (lbv2, emergent)
    chance: float | str | None = None  # lbv2: chance level, or "bbh_subtask_mean"


@dataclass(frozen=True)
class CapabilityScope:
    """Which models and benchmarks span the capability space (Sec. 3.2)."""

    benchmarks: str = "default"
    family_filter: str = "eval"


@dataclass(frozen=True)
class FamilyFit:
    min_family_models: int = 3  # families with >= this many models with FLOPs enter the check


@dataclass(frozen=True)
class LinkFit:
    """The fit of one prediction section: link, loss and Huber delta (the shared ``fit`` block adds the rest)."""

    link: Link
    loss: Loss
    delta: float


@dataclass(frozen=True)
class PredictionSection(LinkFit):
    """A section predicting targets from earlier models: which models, predictors and equivalence axis."""

    family_filter: str
    predictors: tuple[str, ...]
    reference_family: str


@dataclass(frozen=True)
class Roundoff:
    """Round-off study of chosen post-training fits (repro.obsscaling.predict.RoundoffStudy)."""

    draws: int  # refits per fit; 0 = off
    rel: float  # relative size of the input perturbation
    fits: tuple[str, ...]  # "<target>.<predictor>" (predictor may be pc3_notebook_pca)


@dataclass(frozen=True)
class PostTraining(PredictionSection):
    """(c) Sec. 4.2: post-training interventions below a FLOPs cutoff."""

    cutoff_flops: float
    notebook_pca_components: int | None
    converged_tol: float | None
    roundoff: Roundoff
    targets: dict[str, TargetSpec]


@dataclass(frozen=True)
class PostTrainingTargets:
    """Only the target definitions of post_training (read by preregistered and subset_selection)."""

    targets: dict[str, TargetSpec]


@dataclass(frozen=True)
class Agents(LinkFit):
    """(d) Sec. 4.3: agent benchmarks from instruct models, top fraction held out."""

    benchmarks: str
    test_fraction: float
    n_pcs: tuple[int, ...]
    reference_family: str
    targets: dict[str, TargetSpec]


@dataclass(frozen=True)
class Lbv2(PredictionSection):
    """(e) App. C.3: Open LLM Leaderboard v2 targets."""

    include_preregistered: bool
    benchmarks: str
    targets: dict[str, TargetSpec]


@dataclass(frozen=True)
class Preregistered(PredictionSection):
    """(f) Models released after the paper, predicted from all earlier ones."""

    targets: tuple[str, ...]  # names of post_training.targets


@dataclass(frozen=True)
class Emergent(PredictionSection):
    """(g) Sec. 4.1: BIG-bench 'emergent' tasks."""

    tasks: dict[str, TargetSpec]


@dataclass(frozen=True)
class SubsetEval(LinkFit):
    """How a subset is scored: fit only on its models (cutoff split as in post_training)."""

    targets: tuple[str, ...]
    predictor: str
    pca_components: int


@dataclass(frozen=True)
class SubsetGuide:
    """The guide notebook's search: all models, no cutoff, some families always included."""

    enabled: bool
    include_families: tuple[str, ...]
    drop_missing: bool
    max_families: int
    budgets: tuple[int, ...]


@dataclass(frozen=True)
class SubsetSelection:
    """(h) Sec. 5: V-optimal family subsets."""

    family_filter: str
    cutoff_flops: float
    drop_missing: bool
    benchmarks: str
    n_pcs: int
    max_families: int
    budgets: tuple[int, ...]
    random_draws: int
    random_grace: int
    random_min_models: int
    seed: int
    eval: SubsetEval
    guide: SubsetGuide


@dataclass(frozen=True)
class PcaConfig:
    """Rule obsscaling__pca."""

    benchmarks: Benchmarks
    imputation: Imputation
    pca: PcaSettings
    capability: CapabilityScope


@dataclass(frozen=True)
class FamilyLoglinearConfig:
    """Rule obsscaling__family_loglinear."""

    capability: FamilyFit = field(default_factory=FamilyFit)


@dataclass(frozen=True)
class FitContext:
    """The sections every prediction step reads (OBS_FIT_KEYS in the rules file)."""

    benchmarks: Benchmarks
    imputation: Imputation
    pca: PcaSettings
    fit: FitSettings


@dataclass(frozen=True)
class PostTrainingConfig(FitContext):
    """Rule obsscaling__post_training."""

    post_training: PostTraining


@dataclass(frozen=True)
class AgentsConfig(FitContext):
    """Rule obsscaling__agents."""

    agents: Agents


@dataclass(frozen=True)
class Lbv2Config(FitContext):
    """Rule obsscaling__lbv2."""

    lbv2: Lbv2


@dataclass(frozen=True)
class PreregisteredConfig(FitContext):
    """Rule obsscaling__preregistered."""

    post_training: PostTrainingTargets
    preregistered: Preregistered


@dataclass(frozen=True)
class EmergentConfig(FitContext):
    """Rule obsscaling__emergent."""

    emergent: Emergent


@dataclass(frozen=True)
class SubsetSelectionConfig(FitContext):
    """Rule obsscaling__subset_selection."""

    post_training: PostTrainingTargets
    subset_selection: SubsetSelection
