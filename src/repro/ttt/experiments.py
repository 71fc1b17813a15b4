"""Evaluation of trained models: loss vs token index (Sun et al. 2024, Sec. 3.2, Fig. "loss by token index").

The paper's long-context claim is read off the per-position test loss: a model that uses its context keeps
lowering the loss at later token indices (TTT), one that cannot plateaus (Mamba after ~16k on Books).
These functions take an already-trained model (``forward(ids [B, T]) -> logits [B, T, V]``) and held-out
token windows; training lives in the shared trainer (``repro.common.lm``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from repro.common.lm.evaluate import window_losses


def per_position_loss(model: nn.Module, windows: Tensor, batch_size: int = 8) -> np.ndarray:
    """Mean next-token cross-entropy (nats) at every position, averaged over held-out windows.

    ``windows [N, T + 1]`` are token ids; position ``t`` is the loss of predicting ``windows[:, t + 1]``
    from ``windows[:, :t + 1]``. Returns ``[T]`` float64. The per-token losses come from the shared
    :func:`repro.common.lm.evaluate.window_losses` (one implementation of the loss for every paper).
    """
    if windows.dim() != 2 or windows.shape[1] < 2:
        raise ValueError("windows must be [N, T + 1] with T >= 1")
    losses = torch.cat([window_losses(model, windows[i : i + batch_size]) for i in range(0, len(windows), batch_size)])
    return losses.double().mean(0).numpy()


def late_minus_early_loss(curve: np.ndarray | Tensor, fraction: float = 0.25) -> float:
    """Mean loss over the last ``fraction`` of positions minus the mean over the first ``fraction``.

    Negative = the model predicts later tokens better than early ones, i.e. it uses its context; the
    more negative for the same early loss, the more it benefits from long context.
    """
    c = np.asarray(curve, dtype=np.float64)
    k = max(1, int(round(len(c) * fraction)))
    if 2 * k > len(c):
        raise ValueError("curve too short for the requested fraction")
    return float(c[-k:].mean() - c[:k].mean())


def binned_curve(curve: np.ndarray | Tensor, n_bins: int = 32, log_spaced: bool = True) -> dict[str, list[float]]:
    """Average a per-position curve into bins (log-spaced like the paper's token-index axis) for plotting.

    Returns ``{"position": bin centres (1-based token index), "loss": mean loss per bin}``.
    """
    c = np.asarray(curve, dtype=np.float64)
    T = len(c)
    if log_spaced:
        edges = np.unique(np.round(np.geomspace(1, T + 1, n_bins + 1)).astype(int)) - 1
    else:
        edges = np.unique(np.linspace(0, T, n_bins + 1).astype(int))
    pos, loss = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        if hi > lo:
            pos.append(float(np.sqrt((lo + 1) * hi)) if log_spaced else float((lo + hi + 1) / 2))
            loss.append(float(c[lo:hi].mean()))
    return {"position": pos, "loss": loss}


def context_use_summary(
    model: nn.Module, windows: Tensor, batch_size: int = 8, fraction: float = 0.25
) -> dict[str, float]:
    """The numbers of one model on held-out windows: mean loss, early/late loss and their difference."""
    curve = per_position_loss(model, windows, batch_size)
    k = max(1, int(round(len(curve) * fraction)))
    return {
        "loss_mean": float(curve.mean()),
        "loss_early": float(curve[:k].mean()),
        "loss_late": float(curve[-k:].mean()),
        "late_minus_early_loss": late_minus_early_loss(curve, fraction),
    }
