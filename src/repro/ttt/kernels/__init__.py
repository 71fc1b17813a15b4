"""Fused GPU kernels for the TTT layers (Sun et al. 2024, Sec. 2.5 dual form; Sec. 3.3 wall-clock time).

``ttt_linear`` holds a Triton kernel for the TTT-Linear dual form (forward) and the dispatch rule that
``repro.ttt.layers.ttt_scan`` consults: the kernel for CUDA tensors, the PyTorch dual form elsewhere,
with the environment switch ``REPRO_TTT_KERNEL`` = ``auto`` (default) | ``triton`` | ``torch``.
Triton is imported lazily, so the package imports without it.
"""

from repro.ttt.kernels.ttt_linear import (
    KERNEL_ENV,
    kernel_mode,
    triton_available,
    triton_ttt_linear_scan,
    triton_unsupported_reason,
    use_triton,
)

__all__ = [
    "KERNEL_ENV",
    "kernel_mode",
    "triton_available",
    "triton_ttt_linear_scan",
    "triton_unsupported_reason",
    "use_triton",
]
