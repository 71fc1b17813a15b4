"""Typed configs of the datavalue steps, built once per (dataset[, model]) from the resolved-params JSON.

Steps split by wildcard read one resolved-params JSON per (dataset[, model]) written at parse time by
:func:`repro.datavalue.plan.step_params_files`; the configs below are built from it
(``repro.common.steps.build_config``). The method-level configs they nest stay with their method
(:class:`~repro.datavalue.plan.Experiment`, :class:`~repro.datavalue.data.DatasetSpec`,
:class:`~repro.datavalue.solvers.ModelSpec`, :class:`~repro.datavalue.amortized.AmortizedConfig`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from repro.datavalue.amortized import AmortizedConfig
from repro.datavalue.data import DatasetSpec
from repro.datavalue.plan import Experiment
from repro.datavalue.solvers import ModelSpec

__all__ = [
    "AmortizedParams",
    "AmortizedStepConfig",
    "CurveConfig",
    "CurveParams",
    "FitConfig",
    "FitParams",
    "MatchingConfig",
    "MatchingParams",
    "NoisyConfig",
    "SamplesConfig",
    "SpeedConfig",
    "config_json",
]


@dataclass(frozen=True)
class SamplesConfig:
    """samples step: one experiment with its dataset and model."""

    experiment: Experiment
    dataset: DatasetSpec
    model: ModelSpec
    budget: int = 4_000_000  # floats per batched solve (memory bound; results do not depend on it)
    seed: int = 0  # seed of the valued points and the subsets


@dataclass(frozen=True)
class FitParams:
    """fit step settings (params ``fit``)."""

    heldout_every: int = 2  # sizes j with j % heldout_every == 1 are held out of the fits
    max_steps: int = 1000  # MLE: Adam steps at most
    patience: int = 100  # MLE: stop after this many steps without a better NLL
    lr: float = 0.05  # MLE: Adam learning rate on log alpha, log beta
    valuation_m: tuple[int, ...] = (1, 2, 4, 8)  # samples per size for the equal-budget valuation comparison
    bootstrap: int = 200  # bootstrap replicates over the valued points (noise of law vs MC R^2; issue 27)
    bootstrap_seed: int = 0  # seed of the resamples and of the two disjoint halves of the points


@dataclass(frozen=True)
class FitConfig:
    experiment: Experiment
    fit: FitParams


@dataclass(frozen=True)
class AmortizedParams:
    """amortized step settings (params ``amortized``)."""

    model: str = "logreg"  # whose samples (the experiment of this dataset with this model)
    samples_per_size: int = 2  # samples per point and size the network sees (m = this x n fit sizes)
    net: AmortizedConfig = field(default_factory=AmortizedConfig)
    bootstrap: int = 200  # bootstrap replicates over the valued points (noise of amortised vs per-point R^2)
    bootstrap_seed: int = 0  # seed of the resamples and of the two disjoint halves of the points


@dataclass(frozen=True)
class AmortizedStepConfig:
    experiment: Experiment
    dataset: DatasetSpec
    amortized: AmortizedParams
    seed: int = 0


@dataclass(frozen=True)
class NoisyConfig:
    dataset_name: str
    method: str = "law"  # the value reported as noisy.<dataset>.auroc


@dataclass(frozen=True)
class CurveParams:
    """addition / removal settings (params ``addition`` / ``removal``)."""

    model: str = "logreg"  # the model retrained (and whose values are used)
    base_size: int = 20  # random class-balanced base of other pool points (0: none)
    fractions: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)  # fractions of the valued points added / removed
    repeats: int = 10  # random bases (and random orders)


@dataclass(frozen=True)
class CurveConfig:
    dataset_name: str
    dataset: DatasetSpec
    model: ModelSpec
    curve: CurveParams
    seed: int = 0


@dataclass(frozen=True)
class MatchingParams:
    """matching step settings (params ``matching``): Sec. 4.4 small vs large base."""

    model: str = "logreg"  # the model retrained (and whose laws score the points)
    datasets: tuple[str, ...] = ("lm_clf",)  # datasets with a pool large enough for the large base
    small_base: int = 50  # small random base; points scored by psi at k = small_base
    large_base: int = 1000  # large random base; points scored by psi at k = large_base
    n_add: int = 20  # class-balanced top points added
    repeats: int = 50  # random bases


@dataclass(frozen=True)
class MatchingConfig:
    dataset_name: str
    dataset: DatasetSpec
    model: ModelSpec
    matching: MatchingParams
    seed: int = 0


@dataclass(frozen=True)
class SpeedConfig:
    """speed step: a short benchmark on the marginal-contribution fits of one subset."""

    dataset_name: str  # key of params ``datasets`` (binary: logistic regression)
    dataset: DatasetSpec
    k: int = 200  # subset size
    n_points: int = 40  # valued points: 1 + n_points fits
    n_repeats: int = 2  # subsets timed
    C: float = 1.0
    tol_coef: float = 1e-5  # stated tolerance: max |coef difference| against scikit-learn (tight tol)
    seed: int = 0


def config_json(cfg: Any) -> dict[str, Any]:
    """A config as its params mapping (tests)."""
    return asdict(cfg)
