"""Claim-level evaluation (Jiang et al. 2024, Sec. 4.1) and the uncertainty-aware-decoding summary (Sec. 5.2).

Claims are pooled over prompts; only claims labelled true (``Y``) or false (``N``) are kept
(subjective ``S`` and unlabelled claims are dropped), and a claim is dropped when any of the
compared scores is -1 (a failed confidence parse or eigenvector run), infinite or NaN, so
every method is scored on the same claims. ``y = 1`` for a true claim. AUROC, AUPRC
(average precision, positive = true) and AUPRC-n (average precision of the false class,
scores negated).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

__all__ = ["valid_mask", "claim_metrics", "bootstrap_metrics", "relative_gain", "uad_summary"]


def valid_mask(labels: Sequence[str], scores: Mapping[str, np.ndarray]) -> np.ndarray:
    """Claims kept for evaluation: label Y or N and every score finite and not -1."""
    lab = np.asarray(labels)
    keep = np.isin(lab, ("Y", "N"))
    for name, s in scores.items():
        s = np.asarray(s, dtype=float)
        if s.shape != keep.shape:
            raise ValueError(f"score {name!r} has {s.shape[0] if s.ndim else 0} values for {keep.shape[0]} claims")
        keep &= np.isfinite(s) & (s != -1)
    return keep


def claim_metrics(y: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """``{auroc, auprc, auprc_n}`` of one score against binary labels (1 = true claim)."""
    y = np.asarray(y, dtype=int)
    score = np.asarray(score, dtype=float)
    if y.shape != score.shape or y.ndim != 1:
        raise ValueError(f"labels {y.shape} and scores {score.shape} must be 1-D and equally long")
    if y.min(initial=1) == y.max(initial=0):
        raise ValueError("labels hold a single class: AUROC is undefined")
    return {
        "auroc": float(roc_auc_score(y, score)),
        "auprc": float(average_precision_score(y, score)),
        "auprc_n": float(average_precision_score(1 - y, -score)),
    }


def bootstrap_metrics(
    y: np.ndarray, score: np.ndarray, groups: np.ndarray, n_boot: int, seed: int, alpha: float = 0.05
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap CIs of :func:`claim_metrics`, resampling whole groups (prompts / people)."""
    rng = np.random.default_rng(seed)
    uniq = np.unique(groups)
    index = {g: np.flatnonzero(groups == g) for g in uniq}
    draws: dict[str, list[float]] = {"auroc": [], "auprc": [], "auprc_n": []}
    for _ in range(n_boot):
        pick = rng.choice(uniq, size=uniq.size, replace=True)
        idx = np.concatenate([index[g] for g in pick])
        if y[idx].min() == y[idx].max():
            continue
        for k, v in claim_metrics(y[idx], score[idx]).items():
            draws[k].append(v)
    return {k: (float(np.quantile(v, alpha / 2)), float(np.quantile(v, 1 - alpha / 2))) for k, v in draws.items()}


def relative_gain(new: Sequence[float], old: Sequence[float]) -> dict[str, float]:
    """Average relative gain of ``new`` over ``old`` under the two usual aggregations.

    ``mean_of_ratios``: mean over settings of ``new/old - 1``; ``ratio_of_means``:
    ``mean(new) / mean(old) - 1``.
    """
    a, b = np.asarray(new, dtype=float), np.asarray(old, dtype=float)
    if a.shape != b.shape or a.size == 0:
        raise ValueError("relative_gain needs two equally long, non-empty lists")
    return {"mean_of_ratios": float(np.mean(a / b - 1.0)), "ratio_of_means": float(a.mean() / b.mean() - 1.0)}


def uad_summary(decisions: Sequence[Sequence[bool] | None]) -> dict[str, float]:
    """FActScore summary of one decoding run (Sec. 5.2, Fig. 4).

    ``precision``: mean per-response fraction of supported facts over responding outputs
    (FActScore's score before the length penalty); ``true_claims`` / ``false_claims``:
    mean supported / unsupported facts per responding output; ``respond_ratio``.
    A response with no facts counts as abstained.
    """
    answered = [d for d in decisions if d]
    if not decisions:
        raise ValueError("no responses")
    if not answered:
        return {"precision": float("nan"), "true_claims": 0.0, "false_claims": 0.0, "respond_ratio": 0.0}
    return {
        "precision": float(np.mean([np.mean(d) for d in answered])),
        "true_claims": float(np.mean([sum(d) for d in answered])),
        "false_claims": float(np.mean([len(d) - sum(d) for d in answered])),
        "respond_ratio": len(answered) / len(decisions),
    }
