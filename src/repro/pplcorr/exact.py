"""Exact tier on the released matrices (Sec. 4 and Fig. 4 of Thrush et al. 2024).

* :func:`top_k` - the texts with the largest estimate (the released ``top_ten_from_estimate``).
* :func:`reference_top_ten` - those lists, read from ``fasttext_info/<target>[_variant].yml``.
* :func:`heldout_rank_prediction` - Fig. 4 procedure: k-fold over LLMs; estimate on the
  training folds, project with ``linear`` (uniform caps ``tau = 1/(filter_ratio D)``) and
  predict the held-out LLMs' error ranks by ``X_heldout @ theta_proj``.
* :func:`exact_target` - all of the above for one target (the exact step's per-target numbers and tables).
* :func:`crosscheck_cases`, :func:`crosscheck_oracle` - the crosscheck step's cases and its test oracle
  (the authors' ``perplexity-correlations`` package).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from repro.common.io import read_yaml
from repro.pplcorr import data
from repro.pplcorr.config import CrosscheckConfig, ExactConfig
from repro.pplcorr.estimators import estimator, linear

__all__ = [
    "top_k",
    "reference_top_ten",
    "HeldoutResult",
    "heldout_rank_prediction",
    "exact_target",
    "crosscheck_oracle",
    "crosscheck_cases",
]


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


# --- per-target exact step ----------------------------------------------------------------------


def exact_target(X: pd.DataFrame, E: pd.DataFrame, target: str, ref: dict[int, str], config: ExactConfig):
    """One target of the exact step: numbers, the top-k bars and the held-out scatter (Sec. 4, Fig. 4)."""
    y = data.target_errors(E, X.index, target)
    est = estimator(config.estimator)(X.to_numpy(), y)
    cols = list(X.columns)
    for i, name in ref.items():
        if i >= len(cols) or str(cols[i]) != name:
            raise data.DataError(f"released top-ten entry {i}: {name!r} is not text {i} of the BPB matrix")
    ours = top_k(est, config.top_k)
    wide = set(top_k(est, config.near_tie_k).tolist())
    kth = np.sort(est)[::-1][config.top_k - 1]
    missing = [i for i in ref if i not in set(ours.tolist())]
    cdf = estimator("sign_cdf")(X.to_numpy(), y)
    held = heldout_rank_prediction(
        X.to_numpy(),
        y,
        folds=config.folds,
        seed=config.seed,
        estimator_name=config.estimator,
        filter_ratio=config.filter_ratio,
    )
    nums = {
        "top10_overlap": len(set(ours.tolist()) & set(ref)),
        "ref_in_near_tie_topk": int(set(ref) <= wide),
        "ref_count_in_near_tie_topk": len(set(ref) & wide),
        "max_missing_gap": float(max((kth - est[i] for i in missing), default=0.0)),
        "heldout_spearman": held.spearman,
        "heldout_fold_spearman_mean": float(np.mean(held.fold_spearman)),
        "sign_cdf_rank_corr": float(stats.spearmanr(est, cdf).statistic),
    }
    bars = pd.DataFrame(
        {
            "target": target,
            "rank": np.arange(1, len(ours) + 1),
            "text": [str(cols[i]) for i in ours],
            "estimate": est[ours],
            "in_reference": [int(i in ref) for i in ours],
        }
    )
    scatter = pd.DataFrame({"target": target, "llm": X.index, "error": y, "predicted": held.predicted})
    return nums, bars, scatter


# --- crosscheck against the authors' package ------------------------------------------------------


def crosscheck_oracle():
    """The authors' ``perplexity_correlations`` estimation and projection modules (the crosscheck's oracle)."""
    try:
        from perplexity_correlations import estimation, projection
    except ImportError as err:  # pragma: no cover - the test extra pins it
        raise ImportError(
            "the crosscheck step needs the authors' package as a test oracle: "
            "pip install perplexity-correlations==0.1.2 (in the [test] extra)"
        ) from err
    return estimation, projection


def crosscheck_cases(config: CrosscheckConfig, X_rel: np.ndarray, ys: Mapping[str, np.ndarray]):
    """(name, X, y) cases: Gaussian single-index ``y = tanh(<theta, x>) + noise`` plus the released matrix."""
    rng = np.random.default_rng(config.seed)
    for i in range(config.n_cases):
        n = config.n_llms[i % len(config.n_llms)]
        d = config.n_texts[i % len(config.n_texts)]
        X = rng.normal(size=(n, d))
        theta = rng.normal(size=d)
        y = np.tanh(X @ theta / np.sqrt(d) + 0.3 * rng.normal(size=n))
        if i % 2:  # ties in X and y: ordinal tie-breaking must agree too
            X, y = np.round(X, 1), np.round(y, 1)
        yield f"random{i:02d}", X, y
    for t, y in ys.items():
        yield f"released_{t}", X_rel, y
