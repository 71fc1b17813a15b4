"""The "CLIP stand-in": a small ViT trained with image-level supervision only (paper Sec. 3, notes Sec. 6).

CLIP and SigLIP see one caption per image; here the caption is the set of classes present, and the ViT is
trained by multi-label classification (BCE on the CLS token) against it. No patch label is ever used, so local
semantics are encoded only as far as the image-level objective needs them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from repro.maskembed.runtime import Runtime, batches, cosine_lr, normalise, set_lr
from repro.maskembed.vit import ViT, ViTConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PretrainConfig:
    """Image-level pre-training (params ``pretrain``)."""

    epochs: int = 8
    batch_size: int = 64
    lr: float = 1.0e-3
    final_lr: float = 1.0e-5
    warmup_steps: int = 50
    weight_decay: float = 0.05


def image_labels(patch_labels: np.ndarray) -> np.ndarray:
    """Image-level multi-hot labels [n, C]: the union of the patch labels (the caption's classes)."""
    return patch_labels.any(axis=1)


def train_backbone(
    images: np.ndarray, labels: np.ndarray, arch: ViTConfig, cfg: PretrainConfig, runtime: Runtime, seed: int
) -> tuple[ViT, list[float]]:
    """Train a ViT on (images uint8 [n,3,H,W], image labels bool [n,C]); returns the model and per-epoch loss."""
    torch.manual_seed(seed)
    dev = runtime.torch_device()
    model = ViT(arch).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng(seed)
    steps_per_epoch = -(-len(images) // cfg.batch_size)
    total, step, history = cfg.epochs * steps_per_epoch, 0, []
    y_all = torch.as_tensor(labels, dtype=torch.float32)
    for epoch in tqdm(range(cfg.epochs), desc="pretrain", mininterval=5):
        losses = []
        for idx in batches(len(images), cfg.batch_size, rng):
            set_lr(opt, cosine_lr(step, total, cfg.lr, cfg.final_lr, cfg.warmup_steps))
            x, y = normalise(images[idx]).to(dev), y_all[idx].to(dev)
            with runtime.autocast():
                logits = model(x)
            loss = F.binary_cross_entropy_with_logits(logits.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
            step += 1
        history.append(float(np.mean(losses)))
        log.info("pretrain epoch %d loss %.4f", epoch, history[-1])
    return model.eval(), history


@torch.no_grad()
def predict_images(model: ViT, images: np.ndarray, runtime: Runtime, batch_size: int = 256) -> np.ndarray:
    """Image-level probabilities [n, C]."""
    dev = runtime.torch_device()
    out = []
    for idx in batches(len(images), batch_size):
        with runtime.autocast():
            out.append(torch.sigmoid(model(normalise(images[idx]).to(dev)).float()).cpu())
    return torch.cat(out).numpy()
