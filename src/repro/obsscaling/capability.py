"""The low-dimensional capability space (Ruan et al. 2024, Sec. 3.1-3.2).

* :func:`capability_space` -- PCA imputation + PCA of the benchmark matrix of the
  base models: explained variance (Fig. 2a: ~97% by 3 PCs), loadings (Fig. 2b)
  and the PC scores of every model.
* :func:`family_loglinearity` -- within each model family, PC-1 is linear in
  log10 training FLOPs (Fig. 3): OLS R^2 and slope per family.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from repro.common.fits import fit_line
from repro.common.lowrank import PCAModel, fit_pca, fit_pca_imputer
from repro.obsscaling.data import FAMILY, FLOPS, MODEL

__all__ = ["CapabilitySpace", "capability_space", "complete_case_pca", "family_loglinearity"]


@dataclass
class CapabilitySpace:
    """PCA of the (imputed) benchmark matrix."""

    benchmarks: tuple[str, ...]
    pca: PCAModel
    scores: pd.DataFrame  # Model, Model Family, FLOPs (1E21), PC-1..PC-k
    imputed: pd.DataFrame  # Model + the imputed benchmark columns

    def loadings(self) -> pd.DataFrame:
        """Loadings table: one row per PC, one column per benchmark."""
        return pd.DataFrame(
            self.pca.components,
            index=[f"PC-{i + 1}" for i in range(self.pca.n_components)],
            columns=list(self.benchmarks),
        )


def capability_space(
    df: pd.DataFrame,
    benchmarks: Sequence[str],
    *,
    n_components: int = 5,
    impute_components: int = 1,
    impute_max_iter: int = 1000,
    impute_tol: float = 1e-4,
    bounds: tuple[float, float] | None = (0.0, 1.0),
) -> CapabilitySpace:
    """Impute missing benchmark scores (rank-``impute_components`` PCA) and fit PCA on all rows."""
    cols = list(benchmarks)
    _, x = fit_pca_imputer(
        df[cols].to_numpy(dtype=float), impute_components, max_iter=impute_max_iter, tol=impute_tol, bounds=bounds
    )
    pca = fit_pca(x, n_components)
    pcs = pca.transform(x)
    scores = df[[MODEL, FAMILY, FLOPS]].reset_index(drop=True).copy()
    for i in range(pca.n_components):
        scores[f"PC-{i + 1}"] = pcs[:, i]
    imputed = pd.DataFrame(x, columns=cols)
    imputed.insert(0, MODEL, df[MODEL].to_numpy())
    return CapabilitySpace(benchmarks=tuple(cols), pca=pca, scores=scores, imputed=imputed)


def complete_case_pca(df: pd.DataFrame, benchmarks: Sequence[str], n_components: int = 5) -> tuple[PCAModel, int]:
    """PCA on the models without any missing benchmark score (robustness check of the imputation)."""
    x = df[list(benchmarks)].to_numpy(dtype=float)
    complete = x[~np.isnan(x).any(axis=1)]
    return fit_pca(complete, n_components), int(len(complete))


def family_loglinearity(
    scores: pd.DataFrame, *, pc: str = "PC-1", compute_column: str = FLOPS, min_models: int = 3
) -> pd.DataFrame:
    """OLS of ``pc`` on log10(compute) within each family with at least ``min_models`` models with compute.

    Returns one row per family (in order of first appearance): family, n, r2,
    slope, intercept.
    """
    rows = []
    for family, group in scores.groupby(FAMILY, sort=False):
        g = group[np.isfinite(group[compute_column].to_numpy(float)) & (group[compute_column] > 0)]
        if len(g) < min_models:
            continue
        line = fit_line(np.log10(g[compute_column].to_numpy(float)), g[pc].to_numpy(float))
        rows.append({"family": family, "n": line.n, "r2": line.r2, "slope": line.slope, "intercept": line.intercept})
    return pd.DataFrame(rows, columns=["family", "n", "r2", "slope", "intercept"])
