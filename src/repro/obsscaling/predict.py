"""Observational scaling-law predictions (Ruan et al. 2024, Sec. 3.3 and Sec. 4).

One prediction follows the paper's procedure (notes Sec. 4):

1. transform the target (min-max to a chance/maximum range, optionally log/logit)
   and drop models without a target value;
2. split the models (compute cutoff, top fraction by target, or an explicit
   held-out list); optionally drop models from the training side only (subset
   selection);
3. fit PCA imputation and PCA on the *training* rows, apply both to test rows;
4. build the predictor: ln(size), ln(FLOPs) or PC-1..k; drop rows without it;
5. fit the sigmoid link with a learnable floor (OLS or Huber) on train;
6. report MSE/MAE on train and test in the transformed target space;
7. for plots, express the fitted linear score ``alpha + beta @ x`` on the
   reference family's compute axis: regress it on log10 FLOPs within that family
   (Llama-2 for base models) and invert the line ("Llama-2-equivalent FLOPs").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from repro.common.fits import LineFit, SigmoidLinkFit, fit_line, fit_sigmoid_link, mae, mse, transform_target
from repro.common.lowrank import PCAModel, fit_pca, fit_pca_imputer
from repro.obsscaling.data import FAMILY, FLOPS, MODEL, SIZE

__all__ = [
    "Target",
    "Preprocess",
    "FitConfig",
    "Prediction",
    "Splitter",
    "cutoff_split",
    "top_fraction_split",
    "models_split",
    "capability_features",
    "run_prediction",
    "predictor_label",
]


@dataclass(frozen=True)
class Target:
    """What to predict: a column, its min-max range (e.g. chance..1) and a link transform."""

    column: str
    value_range: tuple[float, float] | None = None  # None: use the raw value
    func: str = "none"  # none | log | logit (natural log, as in the paper's code)


@dataclass(frozen=True)
class Preprocess:
    """PCA imputation + PCA on the benchmark columns (notes Sec. 4.3-4.4)."""

    benchmarks: tuple[str, ...]
    impute_components: int = 1  # rank of the imputation PCA
    impute_max_iter: int = 1000
    impute_tol: float = 1e-4  # stop when no imputed z-score moves more than this
    bounds: tuple[float, float] | None = (0.0, 1.0)  # clip imputed scores (None: no clipping)
    pca_components: int = 5


@dataclass(frozen=True)
class FitConfig:
    """The sigmoid link fit (notes Sec. 4.7)."""

    loss: str = "ols"  # ols | huber
    delta: float = 1.0  # Huber threshold
    floor_bounds: tuple[float, float] | None = (0.0, 0.2)  # None: plain sigmoid (no floor)
    init_coef: float = 0.03
    max_nfev: int = 10000
    gradient: str = "numeric"  # numeric | analytic
    tol: float | None = None  # optimiser stopping tolerance; None: scipy defaults


@dataclass(frozen=True)
class RoundoffStudy:
    """Refit on inputs perturbed at round-off level: which results the same optimiser reaches (issue 25).

    The authors' optimiser (finite-difference L-BFGS-B at scipy's default tolerances) stops at different
    points of a flat objective depending on the last bits of its inputs, so another CPU's float kernels can
    move a test MSE by several percent (benchmarks/results/float_spread.json). Refitting ``draws`` times
    with the training predictors multiplied by ``1 + rel * N(0, 1)`` (seeded) samples those outcomes on any
    one machine: the outcomes the fit can give, whatever the CPU.
    """

    draws: int = 32
    rel: float = 1e-12  # a few ulps of a double: the size of a different kernel's rounding
    seed: int = 0


@dataclass
class Prediction:
    """Result of one (target, predictor) fit."""

    predictor: str
    rows: pd.DataFrame  # Model, Model Family, split, compute, y, y_hat, z, equiv_log10_compute
    fit: SigmoidLinkFit
    pca: PCAModel | None
    equivalence: LineFit | None  # z = slope * log10(compute) + intercept within the reference family
    metrics: dict[str, float] = field(default_factory=dict)


Splitter = Callable[[pd.DataFrame, np.ndarray], np.ndarray]


def cutoff_split(column: str, threshold: float) -> Splitter:
    """Train on models with ``column <= threshold``; everything else (NaN included) is test."""

    def split(df: pd.DataFrame, y: np.ndarray) -> np.ndarray:
        return ~(df[column].to_numpy(dtype=float) <= threshold)

    return split


def top_fraction_split(fraction: float) -> Splitter:
    """Hold out the top ``floor(fraction * n)`` models by target value (ties: first listed wins)."""

    def split(df: pd.DataFrame, y: np.ndarray) -> np.ndarray:
        n_test = int(fraction * len(y))
        order = np.argsort(-np.asarray(y, dtype=float), kind="stable")
        test = np.zeros(len(y), dtype=bool)
        test[order[:n_test]] = True
        return test

    return split


def models_split(test_models: Sequence[str]) -> Splitter:
    """Hold out an explicit list of models (e.g. the preregistered ones)."""
    held = set(test_models)

    def split(df: pd.DataFrame, y: np.ndarray) -> np.ndarray:
        return df[MODEL].isin(held).to_numpy()

    return split


def capability_features(
    train: pd.DataFrame, test: pd.DataFrame, pre: Preprocess
) -> tuple[np.ndarray, np.ndarray, PCAModel]:
    """PC scores of train and test rows, imputation and PCA fitted on train only."""
    cols = list(pre.benchmarks)
    imputer, x_train = fit_pca_imputer(
        train[cols].to_numpy(dtype=float),
        pre.impute_components,
        max_iter=pre.impute_max_iter,
        tol=pre.impute_tol,
        bounds=pre.bounds,
    )
    n_comp = min(pre.pca_components, *x_train.shape)
    pca = fit_pca(x_train, n_comp)
    x_test = imputer.transform(test[cols].to_numpy(dtype=float)) if len(test) else np.empty((0, len(cols)))
    return pca.transform(x_train), pca.transform(x_test), pca


def predictor_label(name: str) -> str:
    """Human-readable predictor name for plots."""
    if name == "log_size":
        return "log model size"
    if name == "log_flops":
        return "log training FLOPs"
    k = _n_pcs(name)
    return "PC-1" if k == 1 else f"PC-1..{k}"


def _n_pcs(name: str) -> int:
    if not (name.startswith("pc") and name[2:].isdigit() and int(name[2:]) >= 1):
        raise ValueError(f"unknown predictor {name!r}; expected log_size, log_flops or pc<k>")
    return int(name[2:])


def _features(
    predictor: str, train: pd.DataFrame, test: pd.DataFrame, pre: Preprocess | None
) -> tuple[np.ndarray, np.ndarray, PCAModel | None]:
    if predictor == "log_size":
        return (np.log(train[[SIZE]].to_numpy(float)), np.log(test[[SIZE]].to_numpy(float)), None)
    if predictor == "log_flops":
        return (np.log(train[[FLOPS]].to_numpy(float)), np.log(test[[FLOPS]].to_numpy(float)), None)
    k = _n_pcs(predictor)
    if pre is None:
        raise ValueError(f"predictor {predictor!r} needs a Preprocess (benchmark columns)")
    s_train, s_test, pca = capability_features(train, test, pre)
    if k > s_train.shape[1]:
        raise ValueError(f"predictor {predictor!r} needs {k} PCs but PCA has {s_train.shape[1]}")
    return s_train[:, :k], s_test[:, :k], pca


def run_prediction(
    df: pd.DataFrame,
    target: Target,
    predictor: str,
    splitter: Splitter,
    *,
    preprocess: Preprocess | None = None,
    fit: FitConfig = FitConfig(),
    train_models: Sequence[str] | None = None,
    reference_family: str | None = "Llama-2",
    compute_column: str = FLOPS,
    roundoff: RoundoffStudy | None = None,
) -> Prediction:
    """Fit one observational (or compute) scaling law and evaluate it on held-out models.

    ``train_models``, if given, restricts the training side to these models (the
    others are used neither for training nor for testing), as in the subset
    selection evaluation (Sec. 5). ``roundoff`` adds ``test_mse_roundoff`` to the metrics: the sorted test
    MSEs of the perturbed refits (:class:`RoundoffStudy`).
    """
    y_all = transform_target(df[target.column].to_numpy(dtype=float), target.value_range, target.func)
    keep = np.isfinite(y_all)
    data = df.loc[keep].reset_index(drop=True)
    y = y_all[keep]
    test_mask = np.asarray(splitter(data, y), dtype=bool)
    train_mask = ~test_mask
    if train_models is not None:
        train_mask &= data[MODEL].isin(set(train_models)).to_numpy()
    train, test = data.loc[train_mask], data.loc[test_mask]
    y_train, y_test = y[train_mask], y[test_mask]
    x_train, x_test, pca = _features(predictor, train, test, preprocess)
    ok_train = np.isfinite(x_train).all(axis=1)
    ok_test = np.isfinite(x_test).all(axis=1)
    train, x_train, y_train = train.loc[ok_train], x_train[ok_train], y_train[ok_train]
    test, x_test, y_test = test.loc[ok_test], x_test[ok_test], y_test[ok_test]
    if len(train) < 2:
        raise ValueError(f"{target.column} ~ {predictor}: only {len(train)} training model(s) with data")
    link = _fit_link(x_train, y_train, fit)
    pred_train, pred_test = link.predict(x_train), link.predict(x_test)
    rows = pd.concat(
        [
            pd.DataFrame({MODEL: train[MODEL].to_numpy(), FAMILY: train[FAMILY].to_numpy(), "split": "train"}),
            pd.DataFrame({MODEL: test[MODEL].to_numpy(), FAMILY: test[FAMILY].to_numpy(), "split": "test"}),
        ],
        ignore_index=True,
    )
    rows["compute"] = np.concatenate([train[compute_column].to_numpy(float), test[compute_column].to_numpy(float)])
    rows["y"] = np.concatenate([y_train, y_test])
    rows["y_hat"] = np.concatenate([pred_train, pred_test])
    rows["z"] = np.concatenate([link.linear(x_train), link.linear(x_test)])
    equivalence = _equivalent_compute(rows, reference_family)
    rows["equiv_log10_compute"] = (
        (rows["z"] - equivalence.intercept) / equivalence.slope if equivalence is not None else np.nan
    )
    metrics = {
        "train_mse": mse(y_train, pred_train),
        "test_mse": mse(y_test, pred_test),
        "train_mae": mae(y_train, pred_train),
        "test_mae": mae(y_test, pred_test),
        "n_train": int(len(train)),
        "n_test": int(len(test)),
    }
    if roundoff is not None and roundoff.draws > 0:
        rng = np.random.default_rng(roundoff.seed)
        draws = [
            mse(
                y_test,
                _fit_link(x_train * (1 + roundoff.rel * rng.standard_normal(x_train.shape)), y_train, fit).predict(
                    x_test
                ),
            )
            for _ in range(roundoff.draws)
        ]
        metrics["test_mse_roundoff"] = sorted(draws)
    return Prediction(predictor=predictor, rows=rows, fit=link, pca=pca, equivalence=equivalence, metrics=metrics)


def _fit_link(x: np.ndarray, y: np.ndarray, fit: FitConfig) -> SigmoidLinkFit:
    return fit_sigmoid_link(
        x,
        y,
        loss=fit.loss,  # type: ignore[arg-type]
        delta=fit.delta,
        floor_bounds=fit.floor_bounds,
        init_coef=fit.init_coef,
        max_nfev=fit.max_nfev,
        gradient=fit.gradient,  # type: ignore[arg-type]
        tol=fit.tol,
    )


def _equivalent_compute(rows: pd.DataFrame, reference_family: str | None) -> LineFit | None:
    """Line z = w * log10(compute) + c within the reference family (notes Sec. 4.9)."""
    if reference_family is None:
        return None
    ref = rows[(rows[FAMILY] == reference_family) & np.isfinite(rows["compute"]) & (rows["compute"] > 0)]
    if len(ref) < 2 or ref["compute"].nunique() < 2:
        return None
    line = fit_line(np.log10(ref["compute"].to_numpy(float)), ref["z"].to_numpy(float))
    return line if line.slope != 0 else None
