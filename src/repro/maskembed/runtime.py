"""Device, precision and optimiser helpers shared by every maskembed trainer (device-agnostic: CPU or CUDA).

The paper trains in bf16 on GPUs (notes Sec. 4.6); here ``device``/``dtype`` are params: parameters stay in
float32 and the forward passes run under ``torch.autocast`` when ``dtype`` is bfloat16 (also on the CPU).
:class:`PaperScaleError` is raised by the steps' paper-scale paths, which cannot run here.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


class RuntimeConfigError(ValueError):
    """An unusable device or dtype; the message names the key."""


class PaperScaleError(RuntimeError):
    """A paper-scale path (timm backbones, ImageNet-21k, COCO-Stuff, ADE20k, the VLM) is not runnable here."""


@dataclass(frozen=True)
class Runtime:
    """Where and in which precision the step runs (params ``runtime``)."""

    device: str = "cpu"  # cpu | cuda | cuda:N
    dtype: str = "float32"  # float32 | bfloat16 (autocast; weights stay float32)
    threads: int = 1  # torch CPU threads per job

    def torch_device(self) -> torch.device:
        dev = torch.device(self.device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeConfigError(f"runtime.device={self.device!r} but CUDA is not available here")
        if dev.type not in ("cpu", "cuda"):
            raise RuntimeConfigError(f"runtime.device={self.device!r}: use cpu or cuda[:N]")
        return dev

    def autocast(self) -> contextlib.AbstractContextManager:
        """The autocast context of the forward passes (a no-op in float32)."""
        if self.dtype not in DTYPES:
            raise RuntimeConfigError(f"runtime.dtype={self.dtype!r}; known: {sorted(DTYPES)}")
        if self.dtype == "float32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.torch_device().type, dtype=DTYPES[self.dtype])


def normalise(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 [B,3,H,W] -> float32 centred to [-1, 1] (the masked value 0 is the mean grey)."""
    x = torch.as_tensor(images).to(torch.float32)
    return x / 127.5 - 1.0


def cosine_lr(step: int, total: int, lr: float, final_lr: float, warmup: int = 0) -> float:
    """Per-step cosine schedule from ``lr`` to ``final_lr`` with linear warm-up (notes Sec. 4.6)."""
    if warmup and step < warmup:
        return lr * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return final_lr + 0.5 * (lr - final_lr) * (1 + math.cos(math.pi * min(1.0, t)))


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr


def batches(n: int, batch_size: int, rng: np.random.Generator | None = None) -> Iterator[np.ndarray]:
    """Index batches over ``n`` items (shuffled when ``rng`` is given; the last one may be short)."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for i in range(0, n, batch_size):
        yield order[i : i + batch_size]
