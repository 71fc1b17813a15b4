"""A fused Triton kernel for the TTT-Linear dual form (forward), and its dispatch rule.

Sun et al. 2024, Sec. 2.4 (mini-batch TTT), Sec. 2.5 and App. A (dual form), Sec. 2.7 (LN and residual,
learnable W0, learnable per-token η); the systems claim of Sec. 3.3 is that this layer beats a Transformer
at 8k context. The PyTorch dual form (``repro.ttt.layers._dual_full_linear`` / ``_dual_chunk``) is one
Python iteration per mini-batch, i.e. ~10 small kernels per 16 tokens; this kernel runs the whole scan of
one (sequence, head) pair in one program, with that head's ``W`` (``d x d``, float32) and ``b`` held in
registers from the first mini-batch to the last. Per mini-batch ``X_Q, X_K, X_V`` (``b x d``):

* ``Z_K = X_K W + b``; ``G = ∂ℓ/∂Z_K`` with the analytic LayerNorm backward of ``‖γ LN(Z_K) + β − (X_V − X_K)‖²``
  (or ``2(Z_K − X_V)`` without LN and residual), exactly as ``layers._loss_grad``;
* ``Z̄ = X_Q W + b − (E ⊙ (X_Q X_Kᵀ + 1)) G`` with ``E_ij = s_i η_j`` for ``j ≤ i``;
* ``W ← W − s_b X_Kᵀ (η ⊙ G)``, ``b ← b − s_b Σ_j η_j G_j``;
* output ``X_Q + γ LN(Z̄) + β`` (the paper's and the official code's residual; without LN, ``Z̄``).

A trailing partial mini-batch of ``m < b`` tokens is a shorter mini-batch (masked rows); its accumulated
``Σ η ∇`` is returned as the state's ``grads`` with ``count = m`` and the weights are not stepped, exactly as
``ttt_scan`` does, so decoding continues the same mini-batch. One launch covers every (sequence, head)
pair (grid ``B * H``); the ``split`` strategy moves the output computation to a second, parallel launch
(see ``triton_ttt_linear_scan``). Forward only: when autograd needs gradients, the dispatch uses the
PyTorch dual form (training on a GPU therefore still runs the PyTorch dual form).

Precision: all element-wise work, LayerNorm statistics and ``W``/``b`` are float32. Matmul operands are
float32 with IEEE products when the inputs are float32 (the interpreter tests and the fp32 GPU check), and
bfloat16 with float32 accumulation when the inputs are bfloat16 (the speed setting).

Peer: flash-linear-attention (``fla-core`` on PyPI) ships TTT-Linear Triton kernels and a pure-torch
reference, ``fla.ops.ttt.naive.chunk_ttt_linear_ref``. Its inner-weight updates equal ours (test:
``tests/unit/ttt/test_ttt_triton_fla.py``) under the mapping: its loss is ``½‖·‖²`` (its rate = 2 x ours),
its rate multiplies the query row (``η'_i = 2 s_i η``, so η constant inside a mini-batch), ``scale = 1``.
Its output residual differs: ``f_res(x_Q) + LN(f_res(x_Q))`` where the paper and the official code (and we)
use ``x_Q + LN(f_res(x_Q))``; and it zero-pads a trailing partial mini-batch and steps the weights, where we
keep the partial gradients pending. No code of it is used here.

Dispatch (``use_triton``): environment ``REPRO_TTT_KERNEL`` = ``auto`` (default: the kernel for CUDA tensors
when Triton imports and the configuration is supported, else PyTorch), ``triton`` (always the kernel; an
error says why when it cannot run; on CPU tensors it needs ``TRITON_INTERPRET=1``) or ``torch`` (never).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
from torch import Tensor

KERNEL_ENV = "REPRO_TTT_KERNEL"
_MODES = ("auto", "triton", "torch")
tl: Any = None  # triton.language, bound on first launch (see _kernels)
SPLIT_MAX_BYTES = 2 << 30  # "auto" strategy: split while the stored per-mini-batch weights fit in 2 GiB


def kernel_mode() -> str:
    """The switch: ``REPRO_TTT_KERNEL`` in ``auto`` | ``triton`` | ``torch`` (unset = ``auto``)."""
    mode = os.environ.get(KERNEL_ENV, "auto").strip().lower() or "auto"
    if mode not in _MODES:
        raise ValueError(f"{KERNEL_ENV} must be one of {_MODES}, got {mode!r}")
    return mode


def triton_available() -> bool:
    """Whether ``import triton`` works (the wheel is a test dependency; CPU-only machines have it too)."""
    try:
        import triton  # noqa: F401
        import triton.language  # noqa: F401
    except Exception:  # pragma: no cover - depends on the environment
        return False
    return True


def _interpret() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() in ("1", "true", "on", "yes")


def triton_unsupported_reason(
    state: Any, xq: Tensor, xk: Tensor, xv: Tensor, eta: Tensor, spec: Any, gamma: Tensor | None, beta: Tensor | None
) -> str | None:
    """Why the kernel cannot run this call (``None`` if it can). Checked in this order, each one named."""
    if spec.kind != "linear":
        return f"inner model {spec.kind!r} (the kernel is TTT-Linear only)"
    if spec.mini_batch_size is None:
        return "batch GD (mini_batch_size=None)"
    b = spec.mini_batch_size
    if b < 16 or b & (b - 1):
        return f"mini_batch_size={b} (the kernel needs a power of two >= 16)"
    d = xq.shape[-1]
    if d < 16 or d & (d - 1) or d > 128:
        return f"head_dim={d} (the kernel needs a power of two in [16, 128])"
    if state.count != 0:
        return f"the state is inside a mini-batch (count={state.count})"
    if set(state.params) - {"W1", "b1"}:
        return f"unexpected inner parameters {sorted(state.params)}"
    if spec.ln_residual and (gamma is None or beta is None):
        return "LN and residual without gamma/beta"
    if xq.shape[2] == 0:
        return "empty sequence"
    if torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (xq, xk, xv, eta, gamma, beta, *state.params.values())
    ):
        return "gradients are required (the kernel is forward-only)"
    dev = xq.device
    if any(t.device != dev for t in (xk, xv, eta, *state.params.values())):
        return "tensors on different devices"
    if dev.type != "cuda" and not _interpret():
        return f"device {dev.type!r} without TRITON_INTERPRET=1"
    if xq.dtype not in (torch.float32, torch.bfloat16, torch.float16):
        return f"dtype {xq.dtype}"
    if not triton_available():
        return "triton is not importable"
    return None


def use_triton(
    state: Any, xq: Tensor, xk: Tensor, xv: Tensor, eta: Tensor, spec: Any, gamma: Tensor | None, beta: Tensor | None
) -> bool:
    """Dispatch rule of ``ttt_scan``'s dual form: ``True`` to run ``triton_ttt_linear_scan``.

    ``auto``: only for CUDA tensors and supported calls. ``torch``: never. ``triton``: always, raising a
    ``RuntimeError`` that names the reason when the kernel cannot run this call.
    """
    mode = kernel_mode()
    if mode == "torch":
        return False
    if mode == "auto" and xq.device.type != "cuda":
        return False
    reason = triton_unsupported_reason(state, xq, xk, xv, eta, spec, gamma, beta)
    if reason is None:
        return True
    if mode == "triton":
        raise RuntimeError(f"{KERNEL_ENV}=triton but the Triton TTT-Linear kernel cannot run: {reason}")
    return False


# ---------------------------------------------------------------------------------------------------
# The kernel. Defined undecorated and jitted on first use, so that ``TRITON_INTERPRET`` is read when
# the kernel is first launched (not when this module is imported), and the module imports without Triton.
# ---------------------------------------------------------------------------------------------------


def _ttt_linear_fwd_kernel(
    XQ,
    XK,
    XV,
    ETA,
    S,
    W0,
    B0,
    GAMMA,
    BETA,  # inputs
    OUT,
    WN,
    BN,
    GW,
    GB,  # outputs
    WS,
    BS,
    GS,  # SPLIT only: per-mini-batch start weights, biases and loss gradients for the output kernel
    T,
    H,
    eps,
    sq_b,
    sq_h,
    sq_t,
    sk_b,
    sk_h,
    sk_t,
    sv_b,
    sv_h,
    sv_t,
    se_b,
    se_h,
    se_t,
    sw_b,
    sw_h,
    sw_r,
    sb_b,
    sb_h,
    so_b,
    so_h,
    so_t,
    D: tl.constexpr,
    BT: tl.constexpr,
    LN: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    MM_DTYPE: tl.constexpr,
    MM_PREC: tl.constexpr,
    MM_EMULATE: tl.constexpr,
    SPLIT: tl.constexpr,
):
    """The scan over mini-batches for one (sequence, head) = one program; ``SPLIT`` leaves the outputs to
    ``_ttt_linear_out_kernel`` (parallel over mini-batches) and stores what it needs instead."""
    pid = tl.program_id(0).to(tl.int64)  # 64-bit offsets (split: 8 x 32k x 32 heads stores 2^31 weights)
    i_b = pid // H
    i_h = pid % H
    rows = tl.arange(0, BT)
    cols = tl.arange(0, D)
    # this (sequence, head)'s initial weights, float32, kept on chip for the whole scan
    W = tl.load(W0 + i_b * sw_b + i_h * sw_h + cols[:, None] * sw_r + cols[None, :]).to(tl.float32)
    if HAS_BIAS:
        bvec = tl.load(B0 + i_b * sb_b + i_h * sb_h + cols).to(tl.float32)[None, :]
    else:
        bvec = tl.zeros([1, D], dtype=tl.float32)
    if LN:
        gam = tl.load(GAMMA + i_h * D + cols).to(tl.float32)[None, :]
        bet = tl.load(BETA + i_h * D + cols).to(tl.float32)[None, :]
    s = tl.load(S + rows).to(tl.float32)  # position factors s_i
    s_last = tl.load(S + BT - 1).to(tl.float32)
    causal = rows[:, None] >= rows[None, :]
    dW = tl.zeros([D, D], dtype=tl.float32)
    dB = tl.zeros([1, D], dtype=tl.float32)
    q_base = XQ + i_b * sq_b + i_h * sq_h
    k_base = XK + i_b * sk_b + i_h * sk_h
    v_base = XV + i_b * sv_b + i_h * sv_h
    e_base = ETA + i_b * se_b + i_h * se_h
    o_base = OUT + i_b * so_b + i_h * so_h
    n_chunks = tl.cdiv(T, BT)
    for c in range(0, n_chunks):
        t = c * BT + rows
        tm = t < T
        m2 = tm[:, None]
        xk = tl.load(k_base + t[:, None] * sk_t + cols[None, :], mask=m2, other=0.0).to(tl.float32)
        xv = tl.load(v_base + t[:, None] * sv_t + cols[None, :], mask=m2, other=0.0).to(tl.float32)
        eta = tl.load(e_base + t * se_t, mask=tm, other=0.0).to(tl.float32)
        xk_m = xk.to(MM_DTYPE)
        W_m = W.to(MM_DTYPE)
        if MM_EMULATE:  # interpreter: round to the low precision, multiply in float32 (see triton_ttt_linear_scan)
            xk_m = xk_m.to(tl.float32)
            W_m = W_m.to(tl.float32)
        # gradient of the loss at the mini-batch start weights, per token (Sec. 2.5: analytic LN backward)
        zk = tl.dot(xk_m, W_m, input_precision=MM_PREC) + bvec
        if LN:
            mu = tl.sum(zk, axis=1) / D
            zc = zk - mu[:, None]
            inv = 1.0 / tl.sqrt(tl.sum(zc * zc, axis=1) / D + eps)
            xhat = zc * inv[:, None]
            u = 2.0 * gam * gam * xhat + 2.0 * gam * (bet - (xv - xk))
            u_mean = tl.sum(u, axis=1) / D
            ux_mean = tl.sum(u * xhat, axis=1) / D
            g = (u - u_mean[:, None] - xhat * ux_mean[:, None]) * inv[:, None]
        else:
            g = 2.0 * (zk - xv)
        g_m = g.to(MM_DTYPE)
        if MM_EMULATE:
            g_m = g_m.to(tl.float32)
        if SPLIT:
            # hand the mini-batch's start weights and gradients to the output kernel
            ws = WS + (pid * n_chunks + c) * D * D + cols[:, None] * D + cols[None, :]
            tl.store(ws, W_m.to(WS.dtype.element_ty))
            tl.store(BS + (pid * n_chunks + c) * D + cols[None, :], bvec)
            gs = GS + (pid * n_chunks * BT + t[:, None]) * D + cols[None, :]
            tl.store(gs, g_m.to(GS.dtype.element_ty))
        else:
            xq = tl.load(q_base + t[:, None] * sq_t + cols[None, :], mask=m2, other=0.0).to(tl.float32)
            xq_m = xq.to(MM_DTYPE)
            if MM_EMULATE:
                xq_m = xq_m.to(tl.float32)
            # dual form: causal, learning-rate-weighted "attention" of the test view on the training view
            qk = tl.dot(xq_m, tl.trans(xk_m), input_precision=MM_PREC)
            E = tl.where(causal, s[:, None] * eta[None, :], 0.0)
            if HAS_BIAS:
                attn = E * (qk + 1.0)
            else:
                attn = E * qk
            attn_m = attn.to(MM_DTYPE)
            if MM_EMULATE:
                attn_m = attn_m.to(tl.float32)
            z = tl.dot(xq_m, W_m, input_precision=MM_PREC) + bvec
            z = z - tl.dot(attn_m, g_m, input_precision=MM_PREC)
            # inner-model output f(x_Q) = x_Q + LN(f_res(x_Q)) (or f_res without LN and residual)
            if LN:
                zmu = tl.sum(z, axis=1) / D
                zz = z - zmu[:, None]
                zinv = 1.0 / tl.sqrt(tl.sum(zz * zz, axis=1) / D + eps)
                out = xq + gam * (zz * zinv[:, None]) + bet
            else:
                out = z
            tl.store(o_base + t[:, None] * so_t + cols[None, :], out.to(OUT.dtype.element_ty), mask=m2)
        # Σ_j η_j ∇ℓ_j over the mini-batch; the weights step only when it is complete
        eg = eta[:, None] * g
        eg_m = eg.to(MM_DTYPE)
        if MM_EMULATE:
            eg_m = eg_m.to(tl.float32)
        dW = tl.dot(tl.trans(xk_m), eg_m, input_precision=MM_PREC)
        step = tl.where(c * BT + BT <= T, s_last, 0.0)
        W = W - step * dW
        if HAS_BIAS:
            dB = tl.sum(eg, axis=0)[None, :]
            bvec = bvec - step * dB
    hd = pid * D * D + cols[:, None] * D + cols[None, :]
    tl.store(WN + hd, W)
    tl.store(GW + hd, dW)
    tl.store(BN + pid * D + cols[None, :], bvec)
    tl.store(GB + pid * D + cols[None, :], dB)


def _ttt_linear_out_kernel(
    XQ,
    XK,
    ETA,
    S,
    WS,
    BS,
    GS,
    GAMMA,
    BETA,
    OUT,
    T,
    H,
    eps,
    sq_b,
    sq_h,
    sq_t,
    sk_b,
    sk_h,
    sk_t,
    se_b,
    se_h,
    se_t,
    so_b,
    so_h,
    so_t,
    D: tl.constexpr,
    BT: tl.constexpr,
    LN: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    MM_DTYPE: tl.constexpr,
    MM_PREC: tl.constexpr,
    MM_EMULATE: tl.constexpr,
):
    """Outputs of one mini-batch of one (sequence, head), from the start weights the scan stored:
    ``Z̄ = X_Q W + b − (E ⊙ (X_Q X_Kᵀ + 1)) G``, then ``X_Q + γ LN(Z̄) + β``. Grid ``(n_chunks, B * H)``."""
    c = tl.program_id(0).to(tl.int64)
    pid = tl.program_id(1).to(tl.int64)
    n_chunks = tl.num_programs(0)
    i_b = pid // H
    i_h = pid % H
    rows = tl.arange(0, BT)
    cols = tl.arange(0, D)
    t = c * BT + rows
    tm = t < T
    m2 = tm[:, None]
    xq = tl.load(XQ + i_b * sq_b + i_h * sq_h + t[:, None] * sq_t + cols[None, :], mask=m2, other=0.0)
    xk = tl.load(XK + i_b * sk_b + i_h * sk_h + t[:, None] * sk_t + cols[None, :], mask=m2, other=0.0)
    eta = tl.load(ETA + i_b * se_b + i_h * se_h + t * se_t, mask=tm, other=0.0).to(tl.float32)
    s = tl.load(S + rows).to(tl.float32)
    W_m = tl.load(WS + (pid * n_chunks + c) * D * D + cols[:, None] * D + cols[None, :])
    g_m = tl.load(GS + (pid * n_chunks * BT + t[:, None]) * D + cols[None, :])
    xq = xq.to(tl.float32)
    xq_m = xq.to(MM_DTYPE)
    xk_m = xk.to(tl.float32).to(MM_DTYPE)
    if MM_EMULATE:
        xq_m = xq_m.to(tl.float32)
        xk_m = xk_m.to(tl.float32)
        W_m = W_m.to(tl.float32)
        g_m = g_m.to(tl.float32)
    qk = tl.dot(xq_m, tl.trans(xk_m), input_precision=MM_PREC)
    E = tl.where(rows[:, None] >= rows[None, :], s[:, None] * eta[None, :], 0.0)
    if HAS_BIAS:
        attn = E * (qk + 1.0)
    else:
        attn = E * qk
    attn_m = attn.to(MM_DTYPE)
    if MM_EMULATE:
        attn_m = attn_m.to(tl.float32)
    z = tl.dot(xq_m, W_m, input_precision=MM_PREC) - tl.dot(attn_m, g_m, input_precision=MM_PREC)
    if HAS_BIAS:
        z = z + tl.load(BS + (pid * n_chunks + c) * D + cols[None, :])
    if LN:
        gam = tl.load(GAMMA + i_h * D + cols).to(tl.float32)[None, :]
        bet = tl.load(BETA + i_h * D + cols).to(tl.float32)[None, :]
        zmu = tl.sum(z, axis=1) / D
        zz = z - zmu[:, None]
        zinv = 1.0 / tl.sqrt(tl.sum(zz * zz, axis=1) / D + eps)
        out = xq + gam * (zz * zinv[:, None]) + bet
    else:
        out = z
    tl.store(OUT + i_b * so_b + i_h * so_h + t[:, None] * so_t + cols[None, :], out.to(OUT.dtype.element_ty), mask=m2)


def default_num_warps(d: int) -> int:
    """4 warps below ``d = 64``, 8 from 64 on. Measured with ``compile_report`` (sm_90, Triton 3.9, bf16): at
    d = 64 the fused scan needs 174 registers per thread with 8 warps and spills with 4 (255 + 24 bytes);
    at d = 128 it spills a little with 8 warps (40 bytes) and much with 16 (224), the split scan does not."""
    return 4 if d < 64 else 8


_JIT_CACHE: dict[bool, tuple[Any, Any]] = {}


def _kernels() -> tuple[Any, Any]:
    """The jitted (scan, output) kernels for the current ``TRITON_INTERPRET`` setting, made on first use."""
    interp = _interpret()
    if interp not in _JIT_CACHE:
        import triton
        import triton.language

        # the Triton frontend resolves ``tl`` in this module's globals (annotations stay strings: from
        # __future__ import annotations; Triton reads "tl.constexpr" from the string)
        globals()["tl"] = triton.language
        _JIT_CACHE[interp] = (triton.jit(_ttt_linear_fwd_kernel), triton.jit(_ttt_linear_out_kernel))
    return _JIT_CACHE[interp]


@contextmanager
def _interpretable_stdlib() -> Iterator[None]:
    """Interpreter only: make Triton's own ``@jit`` library functions (``tl.sum``, ``tl.zeros``, ...) callable.

    Triton decides at *import* time whether its standard library is interpreted; when something in the
    process imported ``triton`` before ``TRITON_INTERPRET=1`` was set (a peer library, ``torch.compile``),
    ``tl.sum`` & co. are compiled-mode functions that the interpreter refuses to call. For the duration of an
    interpreted launch they are swapped for interpreted twins and restored afterwards (a test-only path;
    compiled launches never enter it).
    """
    import triton.language as tl_
    from triton.runtime.interpreter import InterpretedFunction
    from triton.runtime.jit import JITFunction

    saved = []
    for mod in (tl_, tl_.standard, tl_.math):
        for name, val in list(vars(mod).items()):
            if isinstance(val, JITFunction) and not name.startswith("_"):
                saved.append((mod, name, val))
                setattr(mod, name, InterpretedFunction(val.fn))
    try:
        yield
    finally:
        for mod, name, val in saved:
            setattr(mod, name, val)


def triton_ttt_linear_scan(
    state: Any,
    xq: Tensor,
    xk: Tensor,
    xv: Tensor,
    eta: Tensor,
    scale: Tensor,
    spec: Any,
    gamma: Tensor | None = None,
    beta: Tensor | None = None,
    *,
    strategy: str = "auto",
    num_warps: int | None = None,
    num_stages: int = 2,
) -> tuple[Tensor, Any]:
    """TTT-Linear prefill with the fused Triton kernel; same contract as ``repro.ttt.layers.ttt_scan``.

    Two strategies, same arithmetic: ``fused`` computes everything in the scan (one program per sequence and
    head, one launch); ``split`` keeps only the weight recurrence in the scan (``X_K W``, the LN backward,
    the update) and stores each mini-batch's start weights and gradients (``n_chunks d²`` values per head),
    from which a second, fully parallel launch computes the outputs: half the serial work per mini-batch
    for the price of that memory traffic. ``auto`` = ``split`` unless the stored weights would exceed
    ``SPLIT_MAX_BYTES``.

    Args:
        state: ``InnerState`` at a mini-batch boundary (``count = 0``), params ``W1 [B, H, d, d]`` and
            optionally ``b1 [B, H, 1, d]`` (expanded views of ``W0`` are fine: no copy is made).
        xq, xk, xv: views ``[B, H, T, d]`` (any strides with a contiguous last dim).
        eta: per-token rates ``[B, H, T]``; scale: position factors ``s_i``, length >= b.
        spec: ``InnerSpec`` (linear, power-of-two ``b >= 16``); gamma, beta: inner LN ``[H, d]``.
        strategy: ``auto`` | ``fused`` | ``split``; num_warps, num_stages: Triton launch options
            (``num_warps`` default ``default_num_warps(d)``).

    Returns:
        outputs ``[B, H, T, d]`` (a transposed view of a ``[B, T, H, d]`` buffer, so merging heads is free)
        in the dtype of ``xq``, and the final ``InnerState`` (params/grads in the dtype of ``W1``).
    """
    from repro.ttt.layers import InnerState

    reason = triton_unsupported_reason(state, xq, xk, xv, eta, spec, gamma, beta)
    if reason is not None:
        raise RuntimeError(f"the Triton TTT-Linear kernel cannot run: {reason}")
    B, H, T, d = xq.shape
    b = spec.mini_batch_size
    if scale.numel() < b:
        raise ValueError(f"scale has {scale.numel()} entries, need at least mini_batch_size={b}")
    import triton.language as tl

    def last_contig(v: Tensor) -> Tensor:
        return v if v.stride(-1) == 1 else v.contiguous()

    xq, xk, xv = last_contig(xq), last_contig(xk), last_contig(xv)
    W0 = last_contig(state.params["W1"])
    if W0.stride(-1) != 1 or W0.shape != (B, H, d, d):
        raise ValueError(f"state W1 must be [B, H, d, d] = {(B, H, d, d)}, got {tuple(W0.shape)}")
    has_bias = "b1" in state.params
    B0 = state.params["b1"] if has_bias else W0
    if has_bias:
        B0 = last_contig(B0)
        if B0.shape != (B, H, 1, d):
            raise ValueError(f"state b1 must be [B, H, 1, d], got {tuple(B0.shape)}")
    ln = spec.ln_residual
    gam = gamma.reshape(H, d).to(torch.float32).contiguous() if ln else W0
    bet = beta.reshape(H, d).to(torch.float32).contiguous() if ln else W0
    s = scale[:b].to(device=xq.device, dtype=torch.float32).contiguous()
    dev = xq.device
    out = torch.empty(B, T, H, d, device=dev, dtype=xq.dtype).transpose(1, 2)
    WN = torch.empty(B, H, d, d, device=dev, dtype=torch.float32)
    GW = torch.empty_like(WN)
    BN = torch.empty(B, H, 1, d, device=dev, dtype=torch.float32)
    GB = torch.empty_like(BN)
    low = xq.dtype in (torch.bfloat16, torch.float16)
    mm_dtype = (tl.bfloat16 if xq.dtype == torch.bfloat16 else tl.float16) if low else tl.float32
    mm_prec = "tf32" if low else "ieee"
    # Triton's interpreter multiplies bfloat16 blocks as their raw uint16 bits (garbage; fp16 is fine): there
    # the operands are rounded to the low precision and multiplied in float32, which is what a tensor-core
    # bf16 x bf16 -> fp32 product computes, up to the summation order
    emulate = low and _interpret()
    if emulate:
        mm_prec = "ieee"
    n_chunks = -(-T // b)
    num_warps = num_warps or default_num_warps(d)
    mm_torch = {tl.bfloat16: torch.bfloat16, tl.float16: torch.float16, tl.float32: torch.float32}[mm_dtype]
    state_bytes = B * H * n_chunks * d * d * mm_torch.itemsize
    if strategy not in ("auto", "fused", "split"):
        raise ValueError(f"strategy must be 'auto', 'fused' or 'split', got {strategy!r}")
    split = strategy == "split" or (strategy == "auto" and state_bytes <= SPLIT_MAX_BYTES)
    if split:
        WS = torch.empty(B * H, n_chunks, d, d, device=dev, dtype=mm_torch)
        BS = torch.empty(B * H, n_chunks, d, device=dev, dtype=torch.float32)
        GS = torch.empty(B * H, n_chunks * b, d, device=dev, dtype=mm_torch)
    else:
        WS = BS = GS = WN  # unused
    scan, outk = _kernels()
    with _interpretable_stdlib() if _interpret() else nullcontext():
        scan[(B * H,)](
            xq,
            xk,
            xv,
            eta,
            s,
            W0,
            B0,
            gam,
            bet,
            out,
            WN,
            BN,
            GW,
            GB,
            WS,
            BS,
            GS,
            T,
            H,
            float(spec.eps),
            xq.stride(0),
            xq.stride(1),
            xq.stride(2),
            xk.stride(0),
            xk.stride(1),
            xk.stride(2),
            xv.stride(0),
            xv.stride(1),
            xv.stride(2),
            eta.stride(0),
            eta.stride(1),
            eta.stride(2),
            W0.stride(0),
            W0.stride(1),
            W0.stride(2),
            B0.stride(0) if has_bias else 0,
            B0.stride(1) if has_bias else 0,
            out.stride(0),
            out.stride(1),
            out.stride(2),
            D=d,
            BT=b,
            LN=ln,
            HAS_BIAS=has_bias,
            MM_DTYPE=mm_dtype,
            MM_PREC=mm_prec,
            MM_EMULATE=emulate,
            SPLIT=split,
            num_warps=num_warps,
            num_stages=num_stages,
        )
        if split:
            outk[(n_chunks, B * H)](
                xq,
                xk,
                eta,
                s,
                WS,
                BS,
                GS,
                gam,
                bet,
                out,
                T,
                H,
                float(spec.eps),
                xq.stride(0),
                xq.stride(1),
                xq.stride(2),
                xk.stride(0),
                xk.stride(1),
                xk.stride(2),
                eta.stride(0),
                eta.stride(1),
                eta.stride(2),
                out.stride(0),
                out.stride(1),
                out.stride(2),
                D=d,
                BT=b,
                LN=ln,
                HAS_BIAS=has_bias,
                MM_DTYPE=mm_dtype,
                MM_PREC=mm_prec,
                MM_EMULATE=emulate,
                num_warps=num_warps,
                num_stages=num_stages,
            )
    pdt = state.params["W1"].dtype
    params = {"W1": WN.to(pdt)}
    grads = {"W1": GW.to(pdt)}
    if has_bias:
        params["b1"] = BN.to(state.params["b1"].dtype)
        grads["b1"] = GB.to(state.params["b1"].dtype)
    rem = T % b
    if rem == 0:
        grads = {k: torch.zeros_like(v) for k, v in grads.items()}
    return out, InnerState(params, grads, rem)


def compile_report(
    *,
    d: int = 64,
    b: int = 16,
    dtype: str = "bf16",
    strategy: str = "fused",
    arch: int = 90,
    num_warps: int | None = None,
    num_stages: int = 2,
    ln: bool = True,
    bias: bool = True,
) -> dict[str, dict[str, int]]:
    """Compile the kernels ahead of time for ``sm_<arch>`` (no GPU needed: Triton ships ``ptxas``) and
    return each kernel's resource usage from ``cuobjdump --dump-resource-usage``: registers per thread
    (``REG``), spill stack (``STACK``), static shared memory (``SHARED``), and ``shared_dynamic`` (Triton's).

    This is what the CPU test suite can check of the compiled path: the kernels lower to PTX and SASS for
    Hopper, and the default launch does not spill registers.
    """
    import re
    import subprocess
    import tempfile

    import triton
    import triton.language as tl_
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    if _interpret():
        raise RuntimeError("compile_report needs TRITON_INTERPRET unset (it compiles for the GPU)")
    scan, outk = _kernels()
    mm = {"bf16": tl_.bfloat16, "fp16": tl_.float16, "fp32": tl_.float32}[dtype]
    consts = dict(
        D=d,
        BT=b,
        LN=ln,
        HAS_BIAS=bias,
        MM_DTYPE=mm,
        MM_PREC="ieee" if dtype == "fp32" else "tf32",
        MM_EMULATE=False,
        SPLIT=strategy == "split",
    )
    low_ptrs = {"XQ", "XK", "XV", "ETA", "OUT", "WS", "GS"}

    def signature(fn: Any, cst: dict) -> dict[str, str]:
        sig = {}
        for name in fn.arg_names:
            if name in cst:
                sig[name] = "constexpr"
            elif name == "eps":
                sig[name] = "fp32"
            elif name.isupper() and name not in ("T", "H"):
                sig[name] = f"*{dtype}" if name in low_ptrs else "*fp32"
            else:
                sig[name] = "i32"
        return sig

    kernels = {"scan": (scan, consts)}
    if strategy == "split":
        kernels["out"] = (outk, {k: v for k, v in consts.items() if k != "SPLIT"})
    cuobjdump = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
    report = {}
    for name, (fn, cst) in kernels.items():
        k = triton.compile(
            ASTSource(fn, signature(fn, cst), cst),
            target=GPUTarget("cuda", arch, 32),
            options={"num_warps": num_warps or default_num_warps(d), "num_stages": num_stages},
        )
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "k.cubin")
            with open(path, "wb") as f:
                f.write(k.asm["cubin"])
            text = subprocess.run(
                [cuobjdump, "--dump-resource-usage", path], capture_output=True, text=True, check=True
            ).stdout
        usage = {m.group(1): int(m.group(2)) for m in re.finditer(r"\b(REG|STACK|SHARED|LOCAL):(\d+)", text)}
        usage["shared_dynamic"] = int(k.metadata.shared)
        report[name] = usage
    return report
