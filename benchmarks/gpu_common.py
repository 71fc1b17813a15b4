"""Pieces shared by the GPU training benchmarks ``lm_gpu.py`` and ``train_mfu.py`` (issue 29, item 6).

* :data:`PEAK_BF16_TFLOPS` and :func:`peak_tflops`: the dense bf16 tensor-core peak of a GPU by name;
* :func:`mfu`: model FLOPs utilisation (Chowdhery et al. 2022, App. B), ``tokens/s x FLOPs/token / peak``,
  with FLOPs/token from :func:`repro.common.lm.models.model_flops_per_token` (``6N + 12·L·d·T``);
* :func:`random_walk_tokens`: a learnable synthetic token stream for throughput runs;
* :func:`timed_tokens_per_s`: tokens/s of the trainer's steps after the warm-up, read off its history.

The scripts import this module by its bare name (``python benchmarks/<script>.py`` puts ``benchmarks/``
first on ``sys.path``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

# Dense (no sparsity) bf16 tensor-core peaks, TFLOP/s, from the vendors' data sheets.
PEAK_BF16_TFLOPS = {
    "H200": 989.5,
    "H100 SXM": 989.5,
    "H100 80GB HBM3": 989.5,
    "H100 NVL": 835.0,
    "H100 PCIe": 756.0,
    "H100": 756.0,  # conservative default for an unspecified H100
    "A100": 312.0,
    "L40S": 362.05,
    "A10G": 70.0,
    "L4": 121.0,
}


def peak_tflops(name: str) -> float | None:
    """Best match of the device name in :data:`PEAK_BF16_TFLOPS` (longest key that occurs)."""
    hits = [k for k in PEAK_BF16_TFLOPS if k in name]
    return PEAK_BF16_TFLOPS[max(hits, key=len)] if hits else None


def mfu(tokens_per_s: float, flops_per_token: float, peak_tflops: float | None) -> float | None:
    """Model FLOPs utilisation: achieved model FLOP/s over the peak (``None`` without a known peak).

    Model FLOPs, not hardware FLOPs: recomputation or padding would not count, so MFU <= HFU.
    """
    if not peak_tflops or peak_tflops <= 0 or not math.isfinite(tokens_per_s):
        return None
    return tokens_per_s * flops_per_token / (peak_tflops * 1e12)


def random_walk_tokens(n: int, span: int = 1024, seed: int = 0) -> np.ndarray:
    """A noisy random walk over the first ``span`` ids (uint16).

    Learnable (few ids in use, the next id within +-3 of the last), so a falling loss shows that training
    works within a few dozen steps; uniform random ids over the whole vocabulary could not be learned. The
    output layer still spans the full vocabulary, so throughput is unaffected.
    """
    walk = np.cumsum(np.random.default_rng(seed).integers(-3, 4, n))
    return (walk % span).astype(np.uint16)


def timed_tokens_per_s(
    history: Sequence[dict[str, Any]], warmup: int, steps: int, tokens_per_step: int
) -> tuple[float, float]:
    """``(seconds, tokens/s)`` of optimizer steps ``warmup+1 .. warmup+steps``.

    Needs a history logged at every step (``log_every=1``): each entry's ``elapsed`` is read after the step's
    loss came back from the device (the trainer's ``.item()``), so the span is synchronised.
    """
    t = {e["step"]: e["elapsed"] for e in history}
    seconds = t[warmup + steps] - t[warmup]
    return seconds, steps * tokens_per_step / seconds


__all__ = ["PEAK_BF16_TFLOPS", "mfu", "peak_tflops", "random_walk_tokens", "timed_tokens_per_s"]
