"""Low-rank tools: PCA fitted on training rows only, and iterative PCA imputation.

Written for observational scaling laws (Ruan et al. 2024, Sec. 3 and App. B),
where a benchmark-score matrix of public models is summarised by a few
principal components, but nothing here is specific to that paper: any
"rows = items, columns = measurements" matrix works.

Conventions (those of scikit-learn's ``PCA``, reimplemented on numpy so that the
library has no hidden solver switches):

* PCA centres the training rows and takes the SVD of the centred matrix;
  nothing is standardised unless the caller does it.
* Signs are made deterministic: each component's largest-magnitude loading is
  positive (sklearn >= 1.5 convention). Predictions downstream are sign-invariant;
  plots are not.
* Test rows are always transformed with the training mean and components.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "PCAModel",
    "Standardizer",
    "PCAImputer",
    "fit_pca",
    "fit_standardizer",
    "fit_pca_imputer",
]


def _as_2d(x: np.ndarray) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D matrix, got shape {arr.shape}")
    return arr


@dataclass(frozen=True)
class PCAModel:
    """A fitted PCA: ``scores = (X - mean) @ components.T``."""

    mean: np.ndarray  # (m,) column means of the training rows
    components: np.ndarray  # (k, m) orthonormal loadings, one row per PC
    explained_variance: np.ndarray  # (k,) variance of each PC (ddof=1)
    explained_variance_ratio: np.ndarray  # (k,) share of the total variance
    singular_values: np.ndarray  # (k,)

    @property
    def n_components(self) -> int:
        return int(self.components.shape[0])

    def transform(self, x: np.ndarray) -> np.ndarray:
        """PC scores of rows ``x`` (n, m) -> (n, k)."""
        return (_as_2d(x) - self.mean) @ self.components.T

    def inverse_transform(self, scores: np.ndarray) -> np.ndarray:
        """Reconstruction of rows from their PC scores (n, k) -> (n, m)."""
        return np.asarray(scores, dtype=float) @ self.components + self.mean


def fit_pca(x: np.ndarray, n_components: int) -> PCAModel:
    """Fit PCA with ``n_components`` on the complete matrix ``x`` (no NaN).

    Raises ``ValueError`` when ``x`` has missing values or when ``n_components``
    exceeds ``min(n_rows, n_cols)``.
    """
    x = _as_2d(x)
    n, m = x.shape
    if np.isnan(x).any():
        raise ValueError("fit_pca: the matrix has missing values; impute first")
    if not 1 <= n_components <= min(n, m):
        raise ValueError(f"fit_pca: n_components={n_components} must be in [1, min({n}, {m})]")
    mean = x.mean(axis=0)
    centred = x - mean
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    # Deterministic signs: the largest |loading| of every component is positive.
    flip = np.sign(vt[np.arange(vt.shape[0]), np.argmax(np.abs(vt), axis=1)])
    flip[flip == 0] = 1.0
    vt = vt * flip[:, None]
    var = s**2 / max(n - 1, 1)
    total = var.sum()
    ratio = var / total if total > 0 else np.zeros_like(var)
    return PCAModel(
        mean=mean,
        components=vt[:n_components].copy(),
        explained_variance=var[:n_components].copy(),
        explained_variance_ratio=ratio[:n_components].copy(),
        singular_values=s[:n_components].copy(),
    )


@dataclass(frozen=True)
class Standardizer:
    """Column z-scoring with NaN-aware statistics (population std, ddof=0)."""

    mean: np.ndarray
    scale: np.ndarray

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (_as_2d(x) - self.mean) / self.scale

    def inverse_transform(self, z: np.ndarray) -> np.ndarray:
        return _as_2d(z) * self.scale + self.mean


def fit_standardizer(x: np.ndarray) -> Standardizer:
    """Column means and standard deviations over the observed (non-NaN) cells."""
    x = _as_2d(x)
    if np.isnan(x).all(axis=0).any():
        raise ValueError("fit_standardizer: a column has no observed value")
    mean = np.nanmean(x, axis=0)
    scale = np.nanstd(x, axis=0)
    scale = np.where(scale > 0, scale, 1.0)  # constant columns stay as they are
    return Standardizer(mean=mean, scale=scale)


def _iterate_low_rank_fill(
    z: np.ndarray, missing: np.ndarray, pca: PCAModel | None, n_components: int, max_iter: int, tol: float
) -> tuple[np.ndarray, PCAModel | None, int]:
    """Alternate "project on k PCs" and "overwrite the missing cells" until stable.

    When ``pca`` is None the PCA is refitted on every iterate (training rows);
    otherwise the given PCA is only applied (test rows). Stops when no missing
    cell moves by more than ``tol`` between two iterates, or after ``max_iter``.
    """
    z = z.copy()
    model = pca
    it = 0
    for it in range(1, max_iter + 1):
        if pca is None:
            model = fit_pca(z, n_components)
        recon = model.inverse_transform(model.transform(z))
        step = float(np.abs(recon[missing] - z[missing]).max()) if missing.any() else 0.0
        z[missing] = recon[missing]
        if step <= tol:
            break
    return z, model, it


@dataclass(frozen=True)
class PCAImputer:
    """Iterative low-rank imputation fitted on training rows (spec: obsscaling notes Sec. 4.3).

    Steps: z-score each column with the training statistics; fill missing cells
    with 0 (the column mean); repeatedly fit a rank-``k`` PCA, reconstruct, and
    overwrite only the missing cells; undo the scaling (observed cells are kept
    exactly) and clip to ``bounds``.
    Test rows reuse the training scaler and the training PCA.
    """

    scaler: Standardizer
    pca: PCAModel
    bounds: tuple[float, float] | None
    max_iter: int
    tol: float

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Impute the missing cells of ``x`` with the fitted scaler and PCA."""
        x = _as_2d(x)
        missing = np.isnan(x)
        z = self.scaler.transform(x)
        z[missing] = 0.0
        if missing.any():
            z, _, _ = _iterate_low_rank_fill(z, missing, self.pca, self.pca.n_components, self.max_iter, self.tol)
        out = self.scaler.inverse_transform(z)
        out[~missing] = x[~missing]  # observed cells exactly as given (no scaling round-off)
        if self.bounds is not None:
            out = np.clip(out, *self.bounds)
        return out


def fit_pca_imputer(
    x: np.ndarray,
    n_components: int = 1,
    *,
    max_iter: int = 1000,
    tol: float = 1e-4,
    bounds: tuple[float, float] | None = (0.0, 1.0),
) -> tuple[PCAImputer, np.ndarray]:
    """Fit the imputer on training rows ``x``; return it and the imputed ``x``.

    ``tol`` is the largest change of any imputed (z-scored) cell between two
    iterates at which the iteration stops; ``max_iter`` caps the iterations.
    """
    x = _as_2d(x)
    if max_iter < 1:
        raise ValueError("fit_pca_imputer: max_iter must be >= 1")
    scaler = fit_standardizer(x)
    missing = np.isnan(x)
    z = scaler.transform(x)
    z[missing] = 0.0
    z, pca, _ = _iterate_low_rank_fill(z, missing, None, n_components, max_iter, tol)
    imputer = PCAImputer(
        scaler=scaler,
        pca=pca,
        bounds=None if bounds is None else (float(bounds[0]), float(bounds[1])),
        max_iter=int(max_iter),
        tol=float(tol),
    )
    out = scaler.inverse_transform(z)
    out[~missing] = x[~missing]  # observed cells exactly as given (no scaling round-off)
    if bounds is not None:
        out = np.clip(out, *bounds)
    return imputer, out
