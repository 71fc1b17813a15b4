"""The desiderata of AutoBencher (Sec. 2 of the paper; notes Sec. 4 "Metrics").

For a candidate dataset D_c, ``v`` is the vector of the panel's accuracies on it (one entry
per test-taker model) and ``v_prev`` the matrix ``[models x K]`` of their accuracies on the K
existing benchmarks.

* DIFFICULTY(D_c) = 1 - max_m v[m]  (the best model's error rate);
* MEAN ERROR(D_c) = 1 - mean_m v[m]  (the panel's mean error rate; a reading of v2's "more model errors"
  that, unlike DIFFICULTY, is not 0 on a benchmark the best model knows completely);
* SEPARABILITY(D_c) = mean_m |v[m] - mean(v)|  (mean absolute deviation, v2);
* NOVELTY(D_c) = 1 - Spearman(v_hat, v), v_hat = v_prev theta + b the least-squares prediction
  of ``v`` from the existing benchmarks (a small ridge keeps it defined with few models);
* SALIENCE(c) in {0, 1} from pageviews;
* the capability objective DIFFICULTY + beta_1 NOVELTY + beta_2 SEPARABILITY subject to SALIENCE.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

__all__ = [
    "difficulty",
    "mean_error",
    "mean_gain",
    "novelty",
    "objective",
    "predict_from_existing",
    "salient",
    "separability",
]


def _vec(v) -> np.ndarray:
    a = np.asarray(v, dtype=float)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"accuracy vector must be 1-D and non-empty, got shape {a.shape}")
    if np.any((a < 0) | (a > 1)) or np.any(~np.isfinite(a)):
        raise ValueError("accuracies must lie in [0, 1]")
    return a


def difficulty(v) -> float:
    """1 - the best model's accuracy."""
    return float(1.0 - _vec(v).max())


def mean_error(v) -> float:
    """1 - the panel's mean accuracy (the mean over models of their error rates)."""
    return float(1.0 - _vec(v).mean())


def separability(v) -> float:
    """Mean absolute deviation of the models' accuracies from their mean."""
    a = _vec(v)
    return float(np.mean(np.abs(a - a.mean())))


def predict_from_existing(v, v_prev, ridge: float = 1e-3) -> np.ndarray:
    """Least-squares (ridge ``ridge`` on the slopes) prediction of ``v`` from the columns of ``v_prev``."""
    a = _vec(v)
    x = np.asarray(v_prev, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if x.shape[0] != a.size:
        raise ValueError(f"v_prev has {x.shape[0]} rows but v has {a.size} models")
    xm, am = x.mean(0), a.mean()
    xc = x - xm
    theta = np.linalg.solve(xc.T @ xc + ridge * np.eye(x.shape[1]), xc.T @ (a - am))
    return xc @ theta + am


def novelty(v, v_prev, ridge: float = 1e-3) -> float:
    """1 - Spearman rank correlation between the predicted and the actual accuracies.

    A constant actual or predicted vector has no ranking: its correlation is taken as 0
    (novelty 1 would reward a dataset nobody can do anything on; the search's difficulty
    term already covers that case, so we keep the neutral value).
    """
    a = _vec(v)
    pred = predict_from_existing(a, v_prev, ridge)
    if np.ptp(a) == 0 or np.ptp(pred) < 1e-12:
        return 1.0
    rho = spearmanr(pred, a).statistic
    return float(1.0 - (0.0 if not np.isfinite(rho) else rho))


def objective(v, v_prev, beta_novelty: float, beta_sep: float, ridge: float = 1e-3) -> float:
    """DIFFICULTY + beta_novelty * NOVELTY + beta_sep * SEPARABILITY (the capability objective)."""
    return difficulty(v) + beta_novelty * novelty(v, v_prev, ridge) + beta_sep * separability(v)


def salient(pageviews: float, threshold: float) -> bool:
    """SALIENCE(c) = 1 when the topic's pageviews reach the threshold."""
    return bool(pageviews >= threshold)


def mean_gain(new: dict[str, float], old: dict[str, float]) -> float:
    """The paper's "x% more": the mean over domains of (AutoBench metric - HumanBench metric)."""
    common = sorted(set(new) & set(old))
    if not common:
        raise ValueError("mean_gain: no domain in common")
    return float(np.mean([new[d] - old[d] for d in common]))
