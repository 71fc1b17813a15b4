"""Small building blocks shared by the ttt models: RMSNorm, SwiGLU, RoPE, causal depthwise conv.

These are the Llama-style pieces of the paper's Transformer backbone (Sun et al. 2024, Sec. 3.1 and
App. "Backbones": "Transformer backbone ... RMSNorm, SwiGLU, RoPE") and the width-4 causal convolution
used both by Mamba (Gu & Dao 2023, Sec. 3.4) and by TTT layers in the Mamba backbone.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class RMSNorm(nn.Module):
    """Root-mean-square norm with a learnable gain (Zhang & Sennrich 2019), as in Llama."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class SwiGLU(nn.Module):
    """Gated feed-forward ``W_down (silu(W_gate x) * W_up x)`` (Shazeer 2020), as in Llama."""

    def __init__(self, d_model: int, d_ff: int) -> None:
        super().__init__()
        self.gate = nn.Linear(d_model, d_ff, bias=False)
        self.up = nn.Linear(d_model, d_ff, bias=False)
        self.down = nn.Linear(d_ff, d_model, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


def default_d_ff(d_model: int, multiple_of: int = 32) -> int:
    """Llama's SwiGLU width: 2/3 of 4d (same FLOPs as a 4d GELU MLP), rounded up to ``multiple_of``."""
    hidden = int(2 * 4 * d_model / 3)
    return multiple_of * math.ceil(hidden / multiple_of)


def rope_cos_sin(positions: Tensor, head_dim: int, theta: float, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """cos/sin tables ``[T, head_dim]`` for rotary embeddings at integer ``positions``.

    Computed on the fly (a few thousand trig calls) rather than from a fixed-size table, so that decoding
    past the training context (the latency sweep goes to 8k) needs no resizing.
    """
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=positions.device, dtype=torch.float64) / head_dim))
    angles = positions.to(torch.float64)[:, None] * inv_freq[None, :]
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos().to(dtype), angles.sin().to(dtype)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate ``x [..., T, head_dim]`` by the position angles ("rotate-half" layout, Su et al. 2021)."""
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


class CausalDepthwiseConv1d(nn.Module):
    """Per-channel causal convolution of width ``k`` over time, with an explicit state.

    The state holds the last ``k - 1`` inputs, so a prefill of any length and a token-by-token decode
    compute exactly the same outputs (the state of a fresh sequence is zeros, i.e. left zero-padding).
    """

    def __init__(self, channels: int, width: int = 4) -> None:
        super().__init__()
        self.width = width
        self.weight = nn.Parameter(torch.empty(channels, 1, width))
        self.bias = nn.Parameter(torch.zeros(channels))
        # PyTorch's Conv1d default init (kaiming-uniform with fan_in = width for a depthwise conv)
        bound = 1.0 / math.sqrt(width)
        nn.init.uniform_(self.weight, -bound, bound)

    def init_state(self, batch: int, device: torch.device | None = None, dtype: torch.dtype | None = None) -> Tensor:
        """Zero state ``[B, C, k-1]`` (what zero left-padding means for a fresh sequence)."""
        return torch.zeros(
            batch,
            self.weight.shape[0],
            self.width - 1,
            device=device or self.weight.device,
            dtype=dtype or self.weight.dtype,
        )

    def forward(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``x [B, T, C]`` -> ``(y [B, T, C], new_state [B, C, k-1])``."""
        xt = x.transpose(1, 2)
        if state is None:
            state = self.init_state(x.shape[0], x.device, x.dtype)
        xp = torch.cat([state, xt], dim=-1)
        y = F.conv1d(xp, self.weight, self.bias, groups=xt.shape[1])
        return y.transpose(1, 2), xp[..., xp.shape[-1] - (self.width - 1) :]

    def step(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """One token ``x [B, C]``: a dot product with the window (cheaper than a conv1d call)."""
        window = torch.cat([state, x[..., None]], dim=-1)  # [B, C, k]
        y = (window * self.weight[:, 0, :]).sum(-1) + self.bias
        return y, window[..., 1:]
