"""A small pre-norm ViT on plain torch (the tiny stand-in for CLIP ViT-B/16 and SigLIP; paper Sec. 3-4).

Why not timm: every timm release (checked 0.9.16, 1.0.9, 1.0.15) imports ``torchvision`` from
``timm.layers`` (``create_norm.py``: ``FrozenBatchNorm2d``), so ``timm.models.vision_transformer.Block`` and
``timm.layers.PatchEmbed`` cannot be imported without torchvision, and PyPI's torchvision fails to import
beside the pinned ``torch==2.13.0`` CPU wheel (which must not change). The blocks below follow timm's
``Block`` (pre-norm attention + MLP, optional LayerScale) and the paper's "stable ViT" (``svit``): attention
logits soft-capped as ``cap * tanh(logit / cap)``. At paper scale the backbones are timm models by id.
:func:`save_weights` / :func:`load_backbone` write and read the trained backbones' weights files.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from repro.common.io import atomic_open


@dataclass(frozen=True)
class ViTConfig:
    """Architecture of the tiny backbone (params ``backbone``)."""

    image_size: int = 48
    patch_size: int = 8
    dim: int = 64  # token width
    depth: int = 4  # transformer blocks
    heads: int = 4
    mlp_ratio: float = 2.0
    n_classes: int = 9  # image-level head (multi-label)
    stem_width: int = 32  # > 0: a patch-local two-layer stem (conv 2x2/2, GELU, conv (p/2)x(p/2)/(p/2)); 0: one conv


class Attention(nn.Module):
    """Multi-head self-attention; ``softcap`` > 0 soft-caps the logits (the paper's svit student)."""

    def __init__(self, dim: int, heads: int, softcap: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim={dim} is not divisible by heads={heads}")
        self.heads, self.softcap = heads, softcap
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        logits = (q @ k.transpose(-2, -1)) * (d // self.heads) ** -0.5
        if self.softcap > 0:
            logits = self.softcap * torch.tanh(logits / self.softcap)
        out = logits.softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    """Pre-norm transformer block (timm's ``Block`` layout) with optional LayerScale (``init_values``)."""

    def __init__(
        self, dim: int, heads: int, mlp_ratio: float = 2.0, init_values: float | None = None, softcap: float = 0.0
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, softcap)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        if init_values is None:
            self.gamma1 = self.gamma2 = None
        else:
            self.gamma1 = nn.Parameter(torch.full((dim,), float(init_values)))
            self.gamma2 = nn.Parameter(torch.full((dim,), float(init_values)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.attn(self.norm1(x))
        x = x + (a if self.gamma1 is None else self.gamma1 * a)
        m = self.mlp(self.norm2(x))
        return x + (m if self.gamma2 is None else self.gamma2 * m)


class ViT(nn.Module):
    """Patch embedding + CLS + learned positions + blocks + final norm; ``head`` reads the CLS token."""

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        if cfg.image_size % cfg.patch_size:
            raise ValueError(f"image_size={cfg.image_size} is not a multiple of patch_size={cfg.patch_size}")
        self.cfg = cfg
        self.n_patches = (cfg.image_size // cfg.patch_size) ** 2
        if cfg.stem_width > 0:  # still patch-local: no receptive field crosses a patch border
            half = cfg.patch_size // 2
            self.patch_embed = nn.Sequential(
                nn.Conv2d(3, cfg.stem_width, 2, 2), nn.GELU(), nn.Conv2d(cfg.stem_width, cfg.dim, half, half)
            )
        else:
            self.patch_embed = nn.Conv2d(3, cfg.dim, cfg.patch_size, cfg.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.pos_embed = nn.Parameter(torch.randn(1, self.n_patches + 1, cfg.dim) * 0.02)
        self.blocks = nn.ModuleList(Block(cfg.dim, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, cfg.n_classes)
        nn.init.normal_(self.cls_token, std=0.02)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """All output tokens [B, 1 + P, dim] (CLS first) after the final norm."""
        t = self.patch_embed(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls_token.expand(t.shape[0], -1, -1), t], dim=1) + self.pos_embed
        for blk in self.blocks:
            t = blk(t)
        return self.norm(t)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Image-level logits from the CLS token."""
        return self.head(self.tokens(x)[:, 0])


def truncated(model: ViT, skip_blocks: int = 1, softcap: float = 0.0) -> ViT:
    """A copy of ``model`` without its last ``skip_blocks`` blocks (the paper's teacher / student trunk).

    ``softcap`` > 0 switches the copy's attention to the soft-capped (svit) form with the same weights.
    """
    if not 0 <= skip_blocks < len(model.blocks):
        raise ValueError(f"skip_blocks={skip_blocks} must be in [0, depth={len(model.blocks)})")
    out = copy.deepcopy(model)
    out.blocks = nn.ModuleList(list(out.blocks)[: len(out.blocks) - skip_blocks])
    for blk in out.blocks:
        blk.attn.softcap = softcap
    return out


def patch_mask_to_pixels(mask: torch.Tensor, grid: int, patch_size: int) -> torch.Tensor:
    """[B, P] keep-mask (1 = keep) -> [B, 1, H, W] pixel mask (notes Sec. 4.1: upsample by the patch size)."""
    m = mask.reshape(mask.shape[0], 1, grid, grid).to(torch.float32)
    return F.interpolate(m, scale_factor=patch_size, mode="nearest")


# --- weights files -------------------------------------------------------------------------------


def save_weights(model: torch.nn.Module, path: Path) -> None:
    """Write a model's state dict to ``path`` atomically."""
    with atomic_open(path, "wb") as fh:
        torch.save(model.state_dict(), fh)


def load_state(path: Path) -> dict[str, torch.Tensor]:
    """A state dict written by :func:`save_weights` (on the CPU, tensors only)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def load_backbone(path: Path, arch: ViTConfig) -> ViT:
    """A pretrained backbone of architecture ``arch`` from its weights file, in eval mode."""
    model = ViT(arch)
    model.load_state_dict(load_state(path))
    return model.eval()
