"""Exact tier on the released matrices (Sec. 4 and Fig. 4 of Thrush et al. 2024).

* :func:`top_k` - the texts with the largest estimate (the released ``top_ten_from_estimate``).
* :func:`reference_top_ten` - those lists, read from ``fasttext_info/<target>[_variant].yml``.
* :func:`heldout_rank_prediction` - Fig. 4 procedure: k-fold over LLMs; estimate on the
  training folds, project with ``linear`` (uniform caps ``tau = 1/(filter_ratio D)``) and
  predict the held-out LLMs' error ranks by ``X_heldout @ theta_proj``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from scipy import stats

from repro.common.io import read_yaml
from repro.pplcorr.estimators import estimator, linear

__all__ = ["top_k", "reference_top_ten", "HeldoutResult", "heldout_rank_prediction"]


def top_k(estimate: np.ndarray, k: int = 10) -> np.ndarray:
    """Indices of the ``k`` largest estimates, largest first (ties as numpy's default argsort)."""
    return np.argsort(-np.asarray(estimate))[:k]


def reference_top_ten(path: str | os.PathLike[str], key: str = "top_ten_from_estimate") -> dict[int, str]:
    """``{row position in the BPB CSV: text id}`` from a released ``fasttext_info`` YAML."""
    info = read_yaml(path)
    if key not in info:
        raise KeyError(f"{path}: no {key!r}; keys {sorted(info)}")
    ((column, entries),) = info[key].items()
    return {int(i): str(v) for i, v in entries.items()}


@dataclass(frozen=True)
class HeldoutResult:
    """Out-of-fold predictions (one per LLM) and their Spearman correlation with the true errors."""

    predicted: np.ndarray
    spearman: float
    fold_spearman: tuple[float, ...]


def heldout_rank_prediction(
    X: np.ndarray,
    y: np.ndarray,
    *,
    folds: int = 5,
    seed: int = 0,
    estimator_name: str = "spearmanr",
    filter_ratio: float = 0.1,
) -> HeldoutResult:
    """Fig. 4: k-fold held-out prediction of LLM error ranks from BPB alone."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, d = X.shape
    if folds < 2 or folds > n:
        raise ValueError(f"folds must be in [2, {n}], got {folds}")
    est_fn = estimator(estimator_name)
    perm = np.random.default_rng(seed).permutation(n)
    pred = np.empty(n)
    per_fold = []
    tau = np.full(d, 1.0 / (filter_ratio * d))
    for held in np.array_split(perm, folds):
        train = np.setdiff1d(perm, held)
        theta = linear(est_fn(X[train], y[train]), tau)
        pred[held] = X[held] @ theta
        per_fold.append(float(stats.spearmanr(pred[held], y[held]).statistic) if held.size > 2 else float("nan"))
    return HeldoutResult(pred, float(stats.spearmanr(pred, y).statistic), tuple(per_fold))
