"""The patch-level semantic segmentation probe (patch-seg; paper Sec. 4.1, Fig. 3; notes Sec. 4 "Patch probe").

A frozen backbone's tokens (all tokens in, patch tokens out) feed a linear head or a small transformer head
(2 LayerScale blocks), trained with BCE-with-logits on the multi-hot union patch labels. Metrics at threshold
0.5: micro accuracy and macro precision, recall and F1 over the classes with positives in the test split.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from repro.maskembed.runtime import Runtime, batches, cosine_lr, normalise, set_lr
from repro.maskembed.vit import Block, ViT

log = logging.getLogger(__name__)

HEADS = ("linear", "transformer")


class ProbeError(ValueError):
    """Unknown probe head or mismatched shapes; the message names it."""


@dataclass(frozen=True)
class ProbeConfig:
    """Probe training (params ``probe``)."""

    heads: tuple[str, ...] = HEADS
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1.0e-3  # AdamW 1e-3 -> 1e-4 cosine with warm-up (patch-seg)
    final_lr: float = 1.0e-4
    warmup_steps: int = 50
    weight_decay: float = 0.01
    depth: int = 2  # transformer head blocks
    layerscale: float = 0.01
    threshold: float = 0.5
    n_examples: int = 6  # test images whose patch predictions are kept for the figure (first seed)


@torch.no_grad()
def extract_tokens(encoder: ViT, images: np.ndarray, runtime: Runtime, batch_size: int = 256) -> torch.Tensor:
    """Frozen tokens [n, 1+P, dim] (float32, on the CPU)."""
    dev = runtime.torch_device()
    encoder = encoder.to(dev).eval()
    out = []
    for idx in batches(len(images), batch_size):
        with runtime.autocast():
            out.append(encoder.tokens(normalise(images[idx]).to(dev)).float().cpu())
    return torch.cat(out)


class TransformerHead(nn.Module):
    """Small transformer probe: blocks over all tokens, linear read-out of the patch tokens."""

    def __init__(self, dim: int, heads: int, n_classes: int, depth: int, layerscale: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Block(dim, heads, 2.0, init_values=layerscale) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, n_classes)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            t = blk(t)
        return self.out(self.norm(t))[:, 1:]


class LinearHead(nn.Module):
    """Linear probe on each patch token."""

    def __init__(self, dim: int, n_classes: int) -> None:
        super().__init__()
        self.out = nn.Linear(dim, n_classes)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.out(t[:, 1:])


def make_head(kind: str, dim: int, heads: int, n_classes: int, cfg: ProbeConfig) -> nn.Module:
    if kind == "linear":
        return LinearHead(dim, n_classes)
    if kind == "transformer":
        return TransformerHead(dim, heads, n_classes, cfg.depth, cfg.layerscale)
    raise ProbeError(f"unknown probe head {kind!r}; known: {HEADS}")


def train_probe(
    kind: str,
    train_tokens: torch.Tensor,
    train_labels: np.ndarray,
    n_heads: int,
    cfg: ProbeConfig,
    runtime: Runtime,
    seed: int,
) -> nn.Module:
    """Fit a probe head on frozen tokens [n, 1+P, d] against labels bool [n, P, C]."""
    if train_tokens.shape[0] != train_labels.shape[0] or train_tokens.shape[1] - 1 != train_labels.shape[1]:
        raise ProbeError(f"tokens {tuple(train_tokens.shape)} do not fit labels {train_labels.shape}")
    torch.manual_seed(seed)
    dev = runtime.torch_device()
    head = make_head(kind, train_tokens.shape[-1], n_heads, train_labels.shape[-1], cfg).to(dev)
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    y_all = torch.as_tensor(train_labels, dtype=torch.float32)
    rng = np.random.default_rng(seed)
    total = cfg.epochs * -(-len(train_tokens) // cfg.batch_size)
    step = 0
    for _ in range(cfg.epochs):
        for idx in batches(len(train_tokens), cfg.batch_size, rng):
            set_lr(opt, cosine_lr(step, total, cfg.lr, cfg.final_lr, cfg.warmup_steps))
            with runtime.autocast():
                logits = head(train_tokens[idx].to(dev))
            loss = F.binary_cross_entropy_with_logits(logits.float(), y_all[idx].to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
    return head.eval()


@torch.no_grad()
def predict(head: nn.Module, tokens: torch.Tensor, runtime: Runtime, batch_size: int = 512) -> np.ndarray:
    """Probabilities [n, P, C]."""
    dev = runtime.torch_device()
    out = []
    for idx in batches(len(tokens), batch_size):
        with runtime.autocast():
            out.append(torch.sigmoid(head(tokens[idx].to(dev)).float()).cpu())
    return torch.cat(out).numpy()


def segmentation_metrics(pred: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Micro accuracy and macro precision / recall / F1 over classes with positives (patch-seg's metrics).

    ``pred`` and ``labels`` are bool arrays [..., C]; a class with no predicted positive has precision 0.
    """
    if pred.shape != labels.shape:
        raise ProbeError(f"prediction shape {pred.shape} != label shape {labels.shape}")
    p = pred.reshape(-1, pred.shape[-1]).astype(bool)
    y = labels.reshape(-1, labels.shape[-1]).astype(bool)
    tp = (p & y).sum(0).astype(float)
    fp = (p & ~y).sum(0).astype(float)
    fn = (~p & y).sum(0).astype(float)
    has = y.sum(0) > 0
    prec = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=(tp + fp) > 0)
    rec = np.divide(tp, tp + fn, out=np.zeros_like(tp), where=(tp + fn) > 0)
    f1 = np.divide(2 * prec * rec, prec + rec, out=np.zeros_like(tp), where=(prec + rec) > 0)
    return {
        "accuracy": float((p == y).mean()),
        "macro_precision": float(prec[has].mean()),
        "macro_recall": float(rec[has].mean()),
        "macro_f1": float(f1[has].mean()),
    }


def floor_metrics(train_labels: np.ndarray, test_labels: np.ndarray, seed: int) -> dict[str, dict[str, float]]:
    """Sanity floors without an image: all-positive, and random with the train class frequency per patch."""
    rng = np.random.default_rng(seed)
    freq = train_labels.reshape(-1, train_labels.shape[-1]).mean(0)
    return {
        "all_positive": segmentation_metrics(np.ones_like(test_labels, dtype=bool), test_labels),
        "prior_random": segmentation_metrics(rng.random(test_labels.shape) < freq, test_labels),
    }
