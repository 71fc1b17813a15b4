"""MaskEmbed post-training (paper Sec. 3, Alg. 1; notes Sec. 4).

Teacher: the frozen backbone without its last ``skip_blocks`` blocks, all tokens after the final norm, applied
to masked images (pixels of dropped patches set to 0 = mean grey), times a fixed scale giving unit-variance
targets. Student: a copy of the same trunk with soft-capped attention (svit) and a re-initialised final norm,
seeing the unmasked image once, plus a zero-initialised per-token linear head. Decoder: student tokens with the
patch tokens multiplied by the mask and the prefix (CLS) zeroed, + learned positions, 2 LayerScale blocks,
LayerNorm + linear to the teacher width; it predicts the teacher's full token sequence. Loss: MSE over all
tokens and dims. Masks: "uniform" (keep patch j iff v_j > u, u ~ U(0,1)), antithetical (+ the complement) and
the all-ones null mask, i.e. 3 masks per image. The control arm ("none") trains with the null mask only
(plain self-distillation through the decoder): no locality pressure.

:func:`load_encoders` loads the frozen encoders the probes compare (before / after alignment, control) and
:data:`SAMPLER` maps an align arm to its mask sampler.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from repro.maskembed.runtime import Runtime, batches, cosine_lr, normalise, set_lr
from repro.maskembed.vit import Block, ViT, ViTConfig, load_backbone, load_state, patch_mask_to_pixels, truncated

log = logging.getLogger(__name__)

SAMPLERS = ("uniform", "bernoulli", "none")
ARMS = ("before", "after", "control")  # numbers.json arm names
ALIGN_ARMS = {"after": "maskembed", "control": "control"}  # numbers arm -> align run (wildcard) name
SAMPLER = {"maskembed": "uniform", "control": "none"}


class MaskError(ValueError):
    """An unknown mask sampler; the message lists the known ones."""


@dataclass(frozen=True)
class AlignConfig:
    """MaskEmbed settings (params ``align``)."""

    epochs: int = 6
    batch_size: int = 64
    lr: float = 3.0e-4  # paper: 3e-4 -> 3e-5 per-step cosine, no warm-up (ViT-B)
    final_lr: float = 3.0e-5
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.95)
    clip: float = 1.0
    skip_blocks: int = 1  # teacher = backbone minus its last block(s)
    decoder_depth: int = 2
    layerscale: float = 1.0e-6  # decoder LayerScale init
    softcap: float = 30.0  # svit student: 30 * tanh(logit / 30); 0 = plain attention
    antithetical: bool = True  # add the complement of each sampled mask
    null_mask: bool = True  # add the all-ones mask
    scale_images: int = 256  # held-out images to estimate the teacher's output scale


def sample_masks(
    batch: int, n_patches: int, sampler: str, gen: torch.Generator, antithetical: bool = True, null: bool = True
) -> torch.Tensor:
    """Keep-masks [M*batch, n_patches] (1 = keep), grouped mask-major: [sampled; complement; all-ones].

    ``uniform``: per image u ~ U(0,1), keep j iff v_j > u (the kept count is roughly uniform). ``bernoulli``:
    keep with probability 1/2. ``none``: the control; the all-ones mask only (``antithetical``/``null`` ignored).
    """
    if sampler not in SAMPLERS:
        raise MaskError(f"unknown mask sampler {sampler!r}; known: {SAMPLERS}")
    ones = torch.ones(batch, n_patches)
    if sampler == "none":
        return ones
    if sampler == "uniform":
        u = torch.rand(batch, 1, generator=gen)
        m = (torch.rand(batch, n_patches, generator=gen) > u).float()
    else:
        m = (torch.rand(batch, n_patches, generator=gen) > 0.5).float()
    parts = [m] + ([1.0 - m] if antithetical else []) + ([ones] if null else [])
    return torch.cat(parts)


class Decoder(nn.Module):
    """Masked student tokens -> predicted teacher tokens (notes Sec. 4.3)."""

    def __init__(self, n_tokens: int, dim: int, out_dim: int, depth: int, heads: int, layerscale: float) -> None:
        super().__init__()
        self.pos_embed = nn.Parameter(torch.randn(1, n_tokens, dim) * 0.02)
        self.blocks = nn.ModuleList(Block(dim, heads, 2.0, init_values=layerscale) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, out_dim)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        keep = torch.cat([torch.zeros_like(mask[:, :1]), mask], dim=1).unsqueeze(-1)  # prefix zeroed
        t = tokens * keep + self.pos_embed
        for blk in self.blocks:
            t = blk(t)
        return self.out(self.norm(t))


class MaskEmbed(nn.Module):
    """Student trunk + zero-initialised head + decoder. ``encoder`` is the aligned backbone kept afterwards."""

    def __init__(self, backbone: ViT, cfg: AlignConfig) -> None:
        super().__init__()
        self.encoder = truncated(backbone, cfg.skip_blocks, softcap=cfg.softcap)
        dim = backbone.cfg.dim
        self.encoder.norm = nn.LayerNorm(dim)  # re-initialised final norm
        self.head = nn.Linear(dim, dim)  # per-token head to decoder_width (= teacher width)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        n_tokens = backbone.n_patches + 1
        self.decoder = Decoder(n_tokens, dim, dim, cfg.decoder_depth, backbone.cfg.heads, cfg.layerscale)

    def forward(self, x: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """Predictions [M*B, 1+P, dim] for the images ``x`` [B,...] under ``masks`` [M*B, P] (mask-major)."""
        z = self.head(self.encoder.tokens(x))
        reps = masks.shape[0] // x.shape[0]
        return self.decoder(z.repeat(reps, 1, 1), masks)


@torch.no_grad()
def teacher_tokens(teacher: ViT, x: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Teacher outputs on the masked images: x repeated to [M*B], pixels of dropped patches set to 0."""
    grid = round(masks.shape[1] ** 0.5)
    reps = masks.shape[0] // x.shape[0]
    pix = patch_mask_to_pixels(masks, grid, teacher.cfg.patch_size).to(x.device)
    return teacher.tokens(x.repeat(reps, 1, 1, 1) * pix)


@torch.no_grad()
def teacher_scale(teacher: ViT, images: np.ndarray, runtime: Runtime, seed: int) -> float:
    """1 / std of the teacher's outputs on held-out images under uniform masks (fixed before training)."""
    gen = torch.Generator().manual_seed(seed)
    dev = runtime.torch_device()
    x = normalise(images).to(dev)
    masks = sample_masks(len(images), teacher.n_patches, "uniform", gen).to(dev)
    with runtime.autocast():
        out = teacher_tokens(teacher, x, masks).float()
    return float(1.0 / out.std().clamp_min(1e-6))


def align(
    backbone: ViT,
    images: np.ndarray,
    heldout: np.ndarray,
    cfg: AlignConfig,
    sampler: str,
    runtime: Runtime,
    seed: int,
) -> tuple[MaskEmbed, dict[str, object]]:
    """Run MaskEmbed (or the null-mask control, ``sampler="none"``) on ``images``; returns the model + history."""
    torch.manual_seed(seed)
    dev = runtime.torch_device()
    teacher = truncated(backbone, cfg.skip_blocks).to(dev).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    scale = teacher_scale(teacher, heldout[: cfg.scale_images], runtime, seed)
    model = MaskEmbed(backbone, cfg).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed + 1)
    steps_per_epoch = -(-len(images) // cfg.batch_size)
    total, step, losses = cfg.epochs * steps_per_epoch, 0, []
    for epoch in tqdm(range(cfg.epochs), desc=f"align[{sampler}]", mininterval=5):
        epoch_losses = []
        for idx in batches(len(images), cfg.batch_size, rng):
            set_lr(opt, cosine_lr(step, total, cfg.lr, cfg.final_lr))
            x = normalise(images[idx]).to(dev)
            masks = sample_masks(len(idx), teacher.n_patches, sampler, gen, cfg.antithetical, cfg.null_mask).to(dev)
            with runtime.autocast():
                target = teacher_tokens(teacher, x, masks).float() * scale
                pred = model(x, masks)
            loss = torch.mean((pred.float() - target) ** 2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            opt.step()
            epoch_losses.append(loss.item())
            step += 1
        losses.append(float(np.mean(epoch_losses)))
        log.info("align[%s] epoch %d loss %.4f", sampler, epoch, losses[-1])
    model.eval()
    return model, {"loss": losses, "scale": scale, "steps": step}


# --- loading the trained encoders ----------------------------------------------------------------


def load_aligned(path: Path, arch: ViTConfig, cfg: AlignConfig) -> ViT:
    """The aligned encoder (student trunk + its new norm; the head and decoder are dropped for probing)."""
    me = MaskEmbed(ViT(arch), cfg)
    me.load_state_dict(load_state(path))
    return me.encoder.eval()


def load_encoders(
    inputs: Mapping[str, Path | list[Path]], seeds: tuple[int, ...], arch: ViTConfig, cfg: AlignConfig
) -> dict[tuple[str, int], ViT]:
    """(arm, seed) -> frozen encoder: before = backbone minus skip_blocks (= the teacher), after, control."""
    out = {}
    for arm, key in (("before", "backbones"), ("after", "aligned"), ("control", "control")):
        files = inputs[key]
        files = files if isinstance(files, list) else [files]
        if len(files) != len(seeds):
            raise ValueError(f"maskembed: {len(files)} {key} files for {len(seeds)} seeds")
        for seed, path in zip(seeds, files):
            if arm == "before":
                out[arm, seed] = truncated(load_backbone(path, arch), cfg.skip_blocks)
            else:
                out[arm, seed] = load_aligned(path, arch, cfg)
    return out
