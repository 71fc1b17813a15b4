"""TTT-Linear and TTT-MLP: sequence-modelling layers whose hidden state is a model trained at test time.

Sun et al. 2024, "Learning to (Learn at Test Time): RNNs with Expressive Hidden States", Sec. 2.

Notation (row vectors, one attention-style head at a time; all functions are batched over ``[B, H]``):

* views: ``x_K = θ_K x`` (training input), ``x_V = θ_V x`` (label), ``x_Q = θ_Q x`` (test input)  (Sec. 2.3);
* inner model ``f(z; W) = z + LN(f_res(z; W))`` (Sec. 2.7 "LN and residual"), ``f_res(z) = z W + b``
  (TTT-Linear) or ``GELU(z W1 + b1) W2 + b2`` with hidden width 4d (TTT-MLP);
* self-supervised loss ``ℓ(W; x_t) = ‖f(x_K; W) − x_V‖²``  (Eq. 4), i.e. ``‖LN(f_res(x_K)) − (x_V − x_K)‖²``;
* mini-batch TTT (Sec. 2.4): with ``t'`` the last token of the previous mini-batch,
  ``W_t = W_{t'} − s_t Σ_{s=t'+1}^{t} η_s ∇ℓ(W_{t'}; x_s)``; the output is ``z_t = f(x_Q,t; W_t)``.
  ``b = 1`` is online GD, ``b = T`` (``mini_batch_size=None``) is batch GD;
* learnable inner learning rate (Sec. 2.7): ``η_s = η_base σ(θ_lr · x_s)`` per head and token.
  ``s_t`` is the position factor of the official code, ``1/(i+1) + offset_i`` for the i-th token of the
  mini-batch (a running mean instead of a running sum); it and the official code's extra ``1/head_dim``
  on η are switches (``eta_position_scale``, ``eta_head_dim_norm``): on by default in ``TTTLayerConfig``
  (they keep the summed inner steps small enough to train stably), off to get the paper's equations;
* primal form: materialise every ``∇ℓ(W_{t'}; x_s)`` (outer products) and cumulative sums, then apply the
  per-token weights -- the reference;
* dual form (Sec. 2.5, App. A): never materialise per-token weights; with ``G = ∂ℓ/∂Z`` at ``Z = X_K W_{t'}``
  (analytic LN backward), ``Z̄ = X_Q W_{t'} + b − (E ⊙ (X_Q X_Kᵀ + 1)) G`` with ``E_ij = s_i η_j`` for
  ``j ≤ i`` (causal mask) and ``W_b = W_{t'} − s_b X_Kᵀ diag(η) G``: matmuls only, ``O(b d² + b² d)``.
  For TTT-MLP the same identity is applied layer by layer, the second one with ``X̄_2 X_2ᵀ`` (App. A).

Sequence lengths that are not a multiple of ``b``: the last, partial mini-batch is processed as a shorter
mini-batch (no padding; its tokens only see each other, exactly as in token-by-token decoding), and the
returned state remembers its accumulated gradients so that decoding continues the same mini-batch.
The loss is the paper's ``‖·‖²`` (the official code uses ``½‖·‖²``; the difference is a factor 2 in η).
Rotary embeddings on X_Q/X_K inside a mini-batch (official code) are not used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from repro.ttt.blocks import CausalDepthwiseConv1d

TTTParams = dict[str, Tensor]  # "W1", "b1" (+ "W2", "b2" for TTT-MLP), each batched [B, H, ...]


# ---------------------------------------------------------------------------------------------------
# Functional core
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InnerSpec:
    """Static description of the inner model and the mini-batch schedule."""

    kind: str = "linear"  # "linear" (TTT-Linear) or "mlp" (TTT-MLP)
    ln_residual: bool = True  # f(z) = z + LN(f_res(z)) (Table 1 "+ LN and residual"); else f = f_res
    mini_batch_size: int | None = 16  # b; None = the whole sequence is one mini-batch (batch GD)
    eps: float = 1e-6  # inner LayerNorm epsilon


@dataclass
class InnerState:
    """Hidden state of a TTT layer (what an RNN would carry), batched over ``[B, H]``.

    ``params`` are the weights at the start of the current mini-batch; ``grads`` is ``Σ_s η_s ∇ℓ_s`` over
    the ``count`` tokens of the current mini-batch seen so far. The current weights are
    ``params − s_count · grads``; ``count = 0`` at a mini-batch boundary.
    """

    params: TTTParams
    grads: TTTParams
    count: int = 0


def layer_norm(z: Tensor, gamma: Tensor | None, beta: Tensor | None, eps: float) -> Tensor:
    """LayerNorm over the last dim with per-head ``gamma``/``beta`` already shaped to broadcast."""
    zc = z - z.mean(-1, keepdim=True)
    # (mean and centred second moment by hand: torch.var_mean is ~10x slower on CPU for short rows)
    y = zc * torch.rsqrt(zc.pow(2).mean(-1, keepdim=True) + eps)
    if gamma is not None:
        y = y * gamma
    if beta is not None:
        y = y + beta
    return y


def ln_l2_grad(z: Tensor, target: Tensor, gamma: Tensor, beta: Tensor, eps: float) -> Tensor:
    """``∂/∂z ‖γ ⊙ LN(z) + β − target‖²`` per row: the analytic LayerNorm backward (Sec. 2.5).

    With ``x̂ = (z − μ)/σ`` and ``u = γ ⊙ 2(γ x̂ + β − target)`` the LN vector-Jacobian product is
    ``(u − mean(u) − x̂ mean(u ⊙ x̂)) / σ``. Writing it out (instead of calling autograd inside the scan)
    is what makes the dual form a handful of matmuls and elementwise ops per mini-batch.
    """
    return _loss_grad(z, 2.0 * gamma * gamma, 2.0 * gamma * (beta - target), True, eps)


def _loss_grad(z: Tensor, a: Tensor | float, c: Tensor, ln: bool, eps: float) -> Tensor:
    """``∂ℓ/∂z`` from precomputed per-token constants (see ``_loss_consts``).

    With LN: ``u = a x̂ + c`` is the upstream gradient ``2γ(γx̂ + β − target)`` (``a = 2γ²``,
    ``c = 2γ(β − target)`` do not depend on the weights, so the scan computes them once for all tokens),
    followed by the LN backward. Without LN: ``2(z − x_V) = a z + c`` with ``a = 2``, ``c = −2 x_V``.
    """
    if not ln:
        return a * z + c
    zc = z - z.mean(-1, keepdim=True)
    inv = torch.rsqrt(zc.pow(2).mean(-1, keepdim=True) + eps)
    xhat = zc * inv
    u = a * xhat + c
    return (u - u.mean(-1, keepdim=True) - xhat * (u * xhat).mean(-1, keepdim=True)) * inv


def _loss_consts(
    xk: Tensor, xv: Tensor, spec: InnerSpec, gamma: Tensor | None, beta: Tensor | None
) -> tuple[Tensor | float, Tensor]:
    """Weight-independent parts of the loss gradient: the residual target ``x_V − x_K`` enters only here."""
    if spec.ln_residual:
        return 2.0 * gamma * gamma, 2.0 * gamma * (beta - (xv - xk))
    return 2.0, -2.0 * xv


def gelu_tanh_grad(x: Tensor) -> Tensor:
    """Derivative of the tanh-approximated GELU ``½x(1 + tanh(c(x + 0.044715x³)))``."""
    c = math.sqrt(2.0 / math.pi)
    t = torch.tanh(c * (x + 0.044715 * x.pow(3)))
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3 * 0.044715 * x * x)


def _finish(zq: Tensor, xq: Tensor, spec: InnerSpec, gamma: Tensor | None, beta: Tensor | None) -> Tensor:
    """Inner-model output from ``f_res(x_Q)``: ``x_Q + LN(·)`` with LN and residual, else ``f_res`` itself.

    This does not depend on the weights beyond ``f_res(x_Q)``, so the scan applies it once to the whole
    sequence after the loop.
    """
    if spec.ln_residual:
        return xq + layer_norm(zq, gamma, beta, spec.eps)
    return zq


def _masked_lr(eta: Tensor, scale: Tensor) -> Tensor:
    """``E_ij = s_i η_j`` for ``j ≤ i`` else 0: the causal, learning-rate-weighted mask of the dual form."""
    return torch.tril(scale[:, None] * eta[..., None, :])


@dataclass
class _Chunk:
    """One mini-batch's inputs: views ``[B, H, m, d]``, loss constants ``c``, rates ``[B, H, m]``, s ``[m]``."""

    xq: Tensor
    xk: Tensor
    xv: Tensor
    c: Tensor
    eta: Tensor
    scale: Tensor


def _mlp_hidden_grads(
    params: TTTParams, xk: Tensor, a: Tensor | float, c: Tensor, spec: InnerSpec
) -> tuple[Tensor, Tensor, Tensor]:
    """TTT-MLP at the training view: hidden activations ``X_2`` and ``∂ℓ/∂Z_1``, ``∂ℓ/∂Z_2`` (chain rule)."""
    W1, b1, W2, b2 = params["W1"], params.get("b1"), params["W2"], params.get("b2")
    zk1 = xk @ W1
    if b1 is not None:
        zk1 = zk1 + b1
    xk2 = F.gelu(zk1, approximate="tanh")
    zk2 = xk2 @ W2
    if b2 is not None:
        zk2 = zk2 + b2
    g2 = _loss_grad(zk2, a, c, spec.ln_residual, spec.eps)
    g1 = (g2 @ W2.transpose(-1, -2)) * gelu_tanh_grad(zk1)
    return xk2, g1, g2


def _dual_chunk(
    params: TTTParams, ch: _Chunk, spec: InnerSpec, a: Tensor | float, attn: Tensor | None = None
) -> tuple[Tensor, TTTParams]:
    """Dual form for one mini-batch starting at a boundary (Sec. 2.5; App. A for TTT-MLP).

    Returns ``f_res(x_Q)`` with the per-token weights, ``[B, H, m, d]``, and ``Σ_s η_s ∇ℓ_s`` over the
    chunk (not yet scaled by s). ``attn`` optionally carries ``E ⊙ (X_Q X_Kᵀ + 1)`` precomputed.
    """
    has_b1, has_b2 = "b1" in params, "b2" in params
    E = _masked_lr(ch.eta, ch.scale)
    if attn is None:
        a1 = ch.xq @ ch.xk.transpose(-1, -2)
        attn = E * (a1 + 1.0 if has_b1 else a1)
    e = ch.eta[..., None]
    W1 = params["W1"]
    zq1 = ch.xq @ W1
    if has_b1:
        zq1 = zq1 + params["b1"]
    if spec.kind == "linear":
        zk1 = ch.xk @ W1
        if has_b1:
            zk1 = zk1 + params["b1"]
        g1 = _loss_grad(zk1, a, ch.c, spec.ln_residual, spec.eps)
        eg1 = e * g1
        grads = {"W1": ch.xk.transpose(-1, -2) @ eg1}
        if has_b1:
            grads["b1"] = eg1.sum(-2, keepdim=True)
        return zq1 - attn @ g1, grads
    # TTT-MLP: both layers' gradients at the mini-batch start weights, then the dual identity layer by
    # layer; the second layer's "keys" are the training view's hidden activations X_2, its "queries" the
    # test view's hidden activations computed with the already updated first layer (App. A).
    xk2, g1, g2 = _mlp_hidden_grads(params, ch.xk, a, ch.c, spec)
    xq2 = F.gelu(zq1 - attn @ g1, approximate="tanh")
    a2 = xq2 @ xk2.transpose(-1, -2)
    zq2 = xq2 @ params["W2"] - (E * (a2 + 1.0 if has_b2 else a2)) @ g2
    if has_b2:
        zq2 = zq2 + params["b2"]
    eg1, eg2 = e * g1, e * g2
    grads = {"W1": ch.xk.transpose(-1, -2) @ eg1, "W2": xk2.transpose(-1, -2) @ eg2}
    if has_b1:
        grads["b1"] = eg1.sum(-2, keepdim=True)
    if has_b2:
        grads["b2"] = eg2.sum(-2, keepdim=True)
    return zq2, grads


def _dual_full_linear(
    params: TTTParams,
    xq: Tensor,
    xk: Tensor,
    c: Tensor,
    eta: Tensor,
    scale: Tensor,
    spec: InnerSpec,
    a: Tensor | float,
    b: int,
) -> tuple[Tensor, TTTParams]:
    """Dual form of TTT-Linear over ``n`` complete mini-batches (``T = n b``): the hot loop of prefill.

    Everything that does not depend on the weights is computed for all mini-batches at once before the
    loop: ``E ⊙ (X_Q X_Kᵀ + 1)``, the loss constants, the end-of-mini-batch rates ``s_b η``, and the
    stacked ``[X_K; X_Q]`` so that one matmul per mini-batch gives both ``X_K W`` and ``X_Q W``.
    """
    B, H, T, d = xq.shape
    n = T // b
    q5, k5 = xq.reshape(B, H, n, b, d), xk.reshape(B, H, n, b, d)
    has_b = "b1" in params
    a1 = q5 @ k5.transpose(-1, -2)
    attn = _masked_lr(eta.reshape(B, H, n, b), scale[:b]) * (a1 + 1.0 if has_b else a1)
    # views per mini-batch, split once before the loop
    ks, qs = k5.unbind(2), q5.unbind(2)  # [B, H, b, d] per mini-batch
    kT = k5.transpose(-1, -2).unbind(2)
    c5 = c.reshape(B, H, n, b, c.shape[-1]).unbind(2)
    ew = (scale[b - 1] * eta).reshape(B, H, n, b, 1).unbind(2)  # W_b = W_0 − X_Kᵀ (s_b η ⊙ G)
    attn = attn.unbind(2)
    W, bias = params["W1"], params.get("b1")
    outs = []
    for i in range(n):
        zk, zq = ks[i] @ W, qs[i] @ W
        if bias is not None:
            zk, zq = zk + bias, zq + bias
        g = _loss_grad(zk, a, c5[i], spec.ln_residual, spec.eps)
        outs.append(zq - attn[i] @ g)
        eg = ew[i] * g
        W = W - kT[i] @ eg
        if bias is not None:
            bias = bias - eg.sum(-2, keepdim=True)
    new = {"W1": W}
    if bias is not None:
        new["b1"] = bias
    return torch.cat(outs, dim=2), new


def _per_token_grads(params: TTTParams, xk: Tensor, a: Tensor | float, c: Tensor, spec: InnerSpec) -> TTTParams:
    """``∇ℓ(W_{t'}; x_s)`` for every token s of a chunk, materialised: ``[B, H, m, *param_shape]``."""
    if spec.kind == "linear":
        zk1 = xk @ params["W1"]
        if "b1" in params:
            zk1 = zk1 + params["b1"]
        g1 = _loss_grad(zk1, a, c, spec.ln_residual, spec.eps)
        out = {"W1": xk[..., :, None] * g1[..., None, :]}
        if "b1" in params:
            out["b1"] = g1[..., None, :]
        return out
    xk2, g1, g2 = _mlp_hidden_grads(params, xk, a, c, spec)
    out = {"W1": xk[..., :, None] * g1[..., None, :], "W2": xk2[..., :, None] * g2[..., None, :]}
    if "b1" in params:
        out["b1"] = g1[..., None, :]
    if "b2" in params:
        out["b2"] = g2[..., None, :]
    return out


def inner_forward_single(
    params: TTTParams, x: Tensor, gamma: Tensor | None, beta: Tensor | None, spec: InnerSpec
) -> Tensor:
    """``f(x; W)`` for one token and one head (unbatched): the plain definition, used by the reference."""
    z = inner_residual_single(params, x, spec)
    if spec.ln_residual:
        return x + layer_norm(z, gamma, beta, spec.eps)
    return z


def inner_residual_single(params: TTTParams, x: Tensor, spec: InnerSpec) -> Tensor:
    """``f_res(x; W)`` for one token and one head: ``x W1 + b1`` or ``GELU(x W1 + b1) W2 + b2``."""
    z = x @ params["W1"]
    if "b1" in params:
        z = z + params["b1"][0]
    if spec.kind == "mlp":
        z = F.gelu(z, approximate="tanh") @ params["W2"]
        if "b2" in params:
            z = z + params["b2"][0]
    return z


def _flat_ln(v: Tensor | None, B: int, H: int, d: int) -> Tensor | None:
    return None if v is None else v.reshape(1, H, d).expand(B, H, d).reshape(B * H, d)


def _per_token_grads_autograd(
    params: TTTParams, xk: Tensor, xv: Tensor, spec: InnerSpec, gamma: Tensor | None, beta: Tensor | None
) -> TTTParams:
    """Per-token gradients by ``torch.func.grad`` of ``‖f(x_K) − x_V‖²``: the independent reference."""
    from torch.func import grad, vmap

    B, H, m, d = xk.shape

    def loss(p: TTTParams, k: Tensor, v: Tensor, g: Tensor | None, b: Tensor | None) -> Tensor:
        return (inner_forward_single(p, k, g, b, spec) - v).pow(2).sum()

    flat = {k: v.reshape(B * H, *v.shape[2:]) for k, v in params.items()}
    gam, bet = _flat_ln(gamma, B, H, d), _flat_ln(beta, B, H, d)
    per_token = vmap(grad(loss), in_dims=(None, 0, 0, None, None))  # over the m tokens of a chunk
    per_head = vmap(per_token, in_dims=(0, 0, 0, 0 if gam is not None else None, 0 if bet is not None else None))
    g = per_head(flat, xk.reshape(B * H, m, d), xv.reshape(B * H, m, d), gam, bet)
    return {k: v.reshape(B, H, m, *v.shape[2:]) for k, v in g.items()}


def _bcast(v: Tensor, like: Tensor) -> Tensor:
    """Broadcast a per-token ``[..., m]`` (or ``[m]``) factor against ``like [B, H, m, *param_shape]``."""
    return v.reshape(*v.shape, *([1] * (like.dim() - 3)))


def _primal_chunk(
    params: TTTParams,
    ch: _Chunk,
    spec: InnerSpec,
    a: Tensor | float,
    gamma: Tensor | None,
    beta: Tensor | None,
    grad_mode: str = "analytic",
) -> tuple[Tensor, TTTParams]:
    """Primal form for one mini-batch: per-token gradients at ``W_{t'}``, cumulative sums, per-token weights.

    Memory ``O(b · |W|)`` per head (every token's weights exist at once): the reference the dual form is
    checked against, and the baseline of ``benchmarks/ttt_dual_vs_primal.py``. Returns ``f_res(x_Q)``.
    """
    if grad_mode == "analytic":
        per_tok = _per_token_grads(params, ch.xk, a, ch.c, spec)
    elif grad_mode == "autograd":
        per_tok = _per_token_grads_autograd(params, ch.xk, ch.xv, spec, gamma, beta)
    else:
        raise ValueError(f"grad_mode must be 'analytic' or 'autograd', got {grad_mode!r}")
    csum = {k: torch.cumsum(_bcast(ch.eta, v) * v, dim=2) for k, v in per_tok.items()}
    # W_i = W_{t'} − s_i Σ_{j≤i} η_j ∇ℓ_j  for every token i of the chunk
    w_tok = {k: params[k].unsqueeze(2) - _bcast(ch.scale, v) * v for k, v in csum.items()}
    if grad_mode == "autograd":
        from torch.func import vmap

        B, H, m, d = ch.xq.shape
        f = vmap(inner_residual_single, in_dims=(0, 0, None))  # tokens, each with its own weights
        f = vmap(f, in_dims=(0, 0, None))
        flat = {k: v.reshape(B * H, m, *v.shape[3:]) for k, v in w_tok.items()}
        z = f(flat, ch.xq.reshape(B * H, m, d), spec).reshape(B, H, m, -1)
    else:
        z = torch.einsum("bhmi,bhmij->bhmj", ch.xq, w_tok["W1"])
        if "b1" in w_tok:
            z = z + w_tok["b1"][..., 0, :]
        if spec.kind == "mlp":
            z = torch.einsum("bhmi,bhmij->bhmj", F.gelu(z, approximate="tanh"), w_tok["W2"])
            if "b2" in w_tok:
                z = z + w_tok["b2"][..., 0, :]
    return z, {k: v[:, :, -1] for k, v in csum.items()}


def _close(
    state: InnerState, grads: TTTParams, count: int, scale_last: Tensor, mini_batch_size: int | None
) -> InnerState:
    """Fold a chunk's accumulated gradients into the state; step the weights when a mini-batch is full."""
    if mini_batch_size is not None and count == mini_batch_size:
        params = {k: state.params[k] - scale_last * grads[k] for k in state.params}
        return InnerState(params, {k: torch.zeros_like(v) for k, v in grads.items()}, 0)
    return InnerState(state.params, grads, count)


def _step_raw(
    state: InnerState, xq: Tensor, xk: Tensor, c: Tensor, eta: Tensor, scale: Tensor, spec: InnerSpec, a: Tensor | float
) -> tuple[Tensor, InnerState]:
    """One token of the primal form; returns ``f_res(x_Q)`` (see ``ttt_step``)."""
    per_tok = _per_token_grads(state.params, xk, a, c, spec)
    grads = {k: state.grads[k] + _bcast(eta, v)[:, :, 0] * v[:, :, 0] for k, v in per_tok.items()}
    s = scale[state.count]
    cur = {k: state.params[k] - s * grads[k] for k in state.params}
    z = xq @ cur["W1"]
    if "b1" in cur:
        z = z + cur["b1"]
    if spec.kind == "mlp":
        z = F.gelu(z, approximate="tanh") @ cur["W2"]
        if "b2" in cur:
            z = z + cur["b2"]
    count = state.count + 1
    if spec.mini_batch_size is not None and count == spec.mini_batch_size:
        return z, InnerState(cur, {k: torch.zeros_like(v) for k, v in grads.items()}, 0)
    return z, InnerState(state.params, grads, count)


def ttt_step(
    state: InnerState,
    xq: Tensor,
    xk: Tensor,
    xv: Tensor,
    eta: Tensor,
    scale: Tensor,
    spec: InnerSpec,
    gamma: Tensor | None,
    beta: Tensor | None,
) -> tuple[Tensor, InnerState]:
    """Primal form, one token (decode): ``x* [B, H, 1, d]``, ``eta [B, H, 1]``, ``scale`` the table of s.

    Gradient at the mini-batch start weights, added to the running sum; output with the current weights
    ``W_{t'} − s_i Σ η ∇``; when the mini-batch is full the running weights become the new start weights.
    Cost per token is ``O(|W|)`` regardless of context length. ``gamma``/``beta`` are ``[1, H, 1, d]``.
    """
    a, c = _loss_consts(xk, xv, spec, gamma, beta)
    z, state = _step_raw(state, xq, xk, c, eta, scale, spec, a)
    return _finish(z, xq, spec, gamma, beta), state


def ttt_scan(
    state: InnerState,
    xq: Tensor,
    xk: Tensor,
    xv: Tensor,
    eta: Tensor,
    scale: Tensor,
    spec: InnerSpec,
    gamma: Tensor | None = None,
    beta: Tensor | None = None,
    *,
    form: str = "dual",
    grad_mode: str = "analytic",
) -> tuple[Tensor, InnerState]:
    """Run a TTT layer's inner loop over a sequence (prefill), from ``state``.

    Args:
        state: hidden state to start from (``InnerState`` with ``[B, H, ...]`` params).
        xq, xk, xv: test / training / label views ``[B, H, T, d]``.
        eta: per-token inner learning rates ``η_s`` ``[B, H, T]``.
        scale: the position factors ``s_i`` for positions 0.. inside a mini-batch (length ≥ b, or ≥
            count + T for batch GD); all ones reproduces the paper's equations.
        spec: inner model kind, LN/residual switch and mini-batch size.
        gamma, beta: inner LayerNorm weights ``[H, d]`` (ignored without ``spec.ln_residual``).
        form: "dual" (fast, Sec. 2.5) or "primal" (reference).
        grad_mode: for the primal form, "analytic" or "autograd" per-token gradients.

    Returns:
        outputs ``[B, H, T, d]`` and the final state. Mini-batches are aligned to the start of the
        sequence; a trailing partial mini-batch is a shorter mini-batch whose accumulated gradients stay
        in the state. If ``state`` starts inside a mini-batch, its remaining tokens are stepped one by one.
    """
    if form not in ("dual", "primal"):
        raise ValueError(f"form must be 'dual' or 'primal', got {form!r}")
    if form == "dual" and spec.kind == "linear":  # fused Triton kernel on CUDA; switch: REPRO_TTT_KERNEL
        from repro.ttt.kernels import triton_ttt_linear_scan, use_triton

        if use_triton(state, xq, xk, xv, eta, spec, gamma, beta):
            return triton_ttt_linear_scan(state, xq, xk, xv, eta, scale, spec, gamma, beta)
    B, H, T, d = xq.shape
    g_ = None if gamma is None or not spec.ln_residual else gamma.reshape(1, H, 1, d)
    b_ = None if beta is None or not spec.ln_residual else beta.reshape(1, H, 1, d)
    a, c = _loss_consts(xk, xv, spec, g_, b_)
    outs: list[Tensor] = []
    t = 0
    # finish a mini-batch that decoding left half full (batch GD never closes: step through everything)
    while state.count > 0 and t < T:
        sl = slice(t, t + 1)
        z, state = _step_raw(state, xq[:, :, sl], xk[:, :, sl], c[:, :, sl], eta[:, :, sl], scale, spec, a)
        outs.append(z)
        t += 1
    if t < T:
        b = spec.mini_batch_size or (T - t)
        n_full, rem = divmod(T - t, b)
        c_idx = 0
        if form == "dual" and spec.kind == "linear" and n_full > 0 and spec.mini_batch_size is not None:
            sl = slice(t, t + n_full * b)
            z, params = _dual_full_linear(
                state.params, xq[:, :, sl], xk[:, :, sl], c[:, :, sl], eta[:, :, sl], scale, spec, a, b
            )
            outs.append(z)
            state = InnerState(params, state.grads, 0)
            t += n_full * b
            c_idx = n_full
        if c_idx < n_full + (1 if rem else 0):
            sizes = [b] * (n_full - c_idx) + ([rem] if rem else [])
            parts = [torch.split(v[:, :, t:], sizes, dim=2) for v in (xq, xk, xv, c, eta)]
            for m, q_, k_, v_, c_, e_ in zip(sizes, *parts):
                ch = _Chunk(q_, k_, v_, c_, e_, scale[:m])
                if form == "dual":
                    z, grads = _dual_chunk(state.params, ch, spec, a)
                else:
                    z, grads = _primal_chunk(state.params, ch, spec, a, g_, b_, grad_mode)
                state = _close(state, grads, m, scale[m - 1], spec.mini_batch_size)
                outs.append(z)
                t += m
    z = outs[0] if len(outs) == 1 else torch.cat(outs, dim=2)
    return _finish(z, xq, spec, g_, b_), state


# ---------------------------------------------------------------------------------------------------
# nn.Module
# ---------------------------------------------------------------------------------------------------


@dataclass
class TTTLayerConfig:
    """Configuration of one TTT sequence-modelling sublayer (defaults: TTT-Linear, Transformer backbone)."""

    d_model: int = 128
    n_head: int = 4  # head_dim = d_model / n_head; each head has its own inner model
    inner: str = "linear"  # "linear" (TTT-Linear) | "mlp" (TTT-MLP, hidden mlp_expansion * head_dim)
    mini_batch_size: int | None = 16  # b (Sec. 2.4); 1 = online GD; None = batch GD over the sequence
    use_ln_residual: bool = True  # Table 1 "+ LN and residual"
    learnable_eta: bool = True  # Table 1 "+ learnable η": η = η_base σ(θ_lr x); else constant η_base
    learnable_w0: bool = True  # Table 1 "+ learnable W0"; else W0 fixed (zeros for linear, random for MLP)
    inner_bias: bool = True  # b in f_res(z) = zW + b (off for the Theorem-1 / linear-attention setting)
    eta_base: float = 1.0  # η_base: 1 for TTT-Linear, 0.1 for TTT-MLP (Sec. 3)
    eta_head_dim_norm: bool = True  # official code: η / head_dim
    eta_position_scale: bool = True  # official code: s_i = 1/(i+1) + learnable offset (clamped ≥ 0)
    mlp_expansion: int = 4
    backbone: str = "T"  # "T": θ_K, θ_Q, θ_V; "M": θ_K = θ_Q + causal conv on each, GELU output gate
    conv_width: int = 4
    form: str = "dual"  # prefill algorithm: "dual" | "primal"
    ln_eps: float = 1e-6
    init_std: float = 0.02  # std of projections and of W0

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head


@dataclass
class TTTLayerState:
    """Decode cache of a TTT layer: the inner state plus (M backbone) the Q/K convolution windows."""

    inner: InnerState
    conv_q: Tensor | None = None
    conv_k: Tensor | None = None


class TTTLayer(nn.Module):
    """Multi-head TTT-Linear / TTT-MLP sublayer with post-norm (and gate in the Mamba backbone).

    ``x [B, T, D]`` -> views -> inner loop per head -> post-LayerNorm -> (GELU gate) -> output projection.
    The post-norm is NormFormer's LN before θ_O in the paper's block figure; the gate and the
    temporal convolutions on Q/K are the Mamba-backbone variant (Sec. 3.1, App. on backbones).
    """

    def __init__(self, cfg: TTTLayerConfig) -> None:
        super().__init__()
        if cfg.d_model % cfg.n_head:
            raise ValueError("d_model must be divisible by n_head")
        if cfg.inner not in ("linear", "mlp"):
            raise ValueError(f"inner must be 'linear' or 'mlp', got {cfg.inner!r}")
        if cfg.backbone not in ("T", "M"):
            raise ValueError(f"backbone must be 'T' or 'M', got {cfg.backbone!r}")
        self.cfg = cfg
        D, H, d = cfg.d_model, cfg.n_head, cfg.head_dim
        self.spec = InnerSpec(cfg.inner, cfg.use_ln_residual, cfg.mini_batch_size, cfg.ln_eps)
        std = cfg.init_std
        if cfg.backbone == "M":
            # θ_K = θ_Q shared, then separate causal convolutions make the two views differ
            self.qk_proj = nn.Linear(D, D, bias=False)
            self.conv_q = CausalDepthwiseConv1d(D, cfg.conv_width)
            self.conv_k = CausalDepthwiseConv1d(D, cfg.conv_width)
            self.gate_proj = nn.Linear(D, D, bias=False)
        else:
            self.q_proj = nn.Linear(D, D, bias=False)
            self.k_proj = nn.Linear(D, D, bias=False)
        self.v_proj = nn.Linear(D, D, bias=False)
        self.o_proj = nn.Linear(D, D, bias=False)
        for mod in self.modules():
            if isinstance(mod, nn.Linear):
                nn.init.normal_(mod.weight, std=std)
        if cfg.learnable_eta:
            self.lr_proj = nn.Linear(D, H)  # θ_lr: one row per head; σ(0) = 1/2 at init
            nn.init.normal_(self.lr_proj.weight, std=std)
            nn.init.zeros_(self.lr_proj.bias)
        b = cfg.mini_batch_size
        if cfg.eta_position_scale and b is not None:
            offset = torch.zeros(b)
            if cfg.learnable_eta:
                self.pos_offset = nn.Parameter(offset)
            else:
                self.register_buffer("pos_offset", offset)
        # initial inner weights W0 (and b0), one per head, shared by all sequences
        hid = d * cfg.mlp_expansion if cfg.inner == "mlp" else d
        init: dict[str, Tensor] = {}
        if cfg.inner == "linear":
            w1 = torch.randn(H, d, d) * std if cfg.learnable_w0 else torch.zeros(H, d, d)
            init["W1"] = w1
        else:
            # a zero MLP has zero gradients (and identical hidden units), so fixed W0 stays random
            init["W1"] = torch.randn(H, d, hid) * std
            init["W2"] = torch.randn(H, hid, d) * std
        if cfg.inner_bias:
            init["b1"] = torch.zeros(H, 1, hid)
            if cfg.inner == "mlp":
                init["b2"] = torch.zeros(H, 1, d)
        self._w0_names = list(init)
        for name, v in init.items():
            if cfg.learnable_w0:
                self.register_parameter(name, nn.Parameter(v))
            else:
                self.register_buffer(name, v)
        if cfg.use_ln_residual:
            self.ln_weight = nn.Parameter(torch.ones(H, d))
            self.ln_bias = nn.Parameter(torch.zeros(H, d))
        self.post_norm = nn.LayerNorm(D, eps=1e-6)

    # -- pieces ------------------------------------------------------------------------------------

    def _heads(self, x: Tensor) -> Tensor:
        B, T, _ = x.shape
        return x.view(B, T, self.cfg.n_head, self.cfg.head_dim).transpose(1, 2)

    def _views(
        self, x: Tensor, state: TTTLayerState | None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor | None, Tensor | None]:
        """``θ_Q x, θ_K x, θ_V x`` as heads ``[B, H, T, d]`` (+ new conv windows in the M backbone)."""
        cq = ck = None
        if self.cfg.backbone == "M":
            xqk = self.qk_proj(x)
            xq, cq = self.conv_q(xqk, None if state is None else state.conv_q)
            xk, ck = self.conv_k(xqk, None if state is None else state.conv_k)
        else:
            xq, xk = self.q_proj(x), self.k_proj(x)
        return self._heads(xq), self._heads(xk), self._heads(self.v_proj(x)), cq, ck

    def _eta(self, x: Tensor) -> Tensor:
        """Per-token, per-head inner learning rate ``[B, H, T]`` (Sec. 2.7, "learnable η")."""
        cfg = self.cfg
        if cfg.learnable_eta:
            eta = cfg.eta_base * torch.sigmoid(self.lr_proj(x)).transpose(1, 2)
        else:
            eta = torch.full((x.shape[0], cfg.n_head, x.shape[1]), cfg.eta_base, dtype=x.dtype, device=x.device)
        return eta / cfg.head_dim if cfg.eta_head_dim_norm else eta

    def scale_table(self, n: int, dtype: torch.dtype, device: torch.device) -> Tensor:
        """Position factors ``s_i`` for positions ``0..n-1`` of a mini-batch (all ones if disabled)."""
        cfg = self.cfg
        if not cfg.eta_position_scale:
            return torch.ones(n, dtype=dtype, device=device)
        if cfg.mini_batch_size is None:
            return 1.0 / torch.arange(1, n + 1, dtype=dtype, device=device)
        base = 1.0 / torch.arange(1, cfg.mini_batch_size + 1, dtype=dtype, device=device)
        return torch.clamp_min(base + self.pos_offset.to(dtype), 0.0)

    def _ln(self) -> tuple[Tensor | None, Tensor | None]:
        if self.cfg.use_ln_residual:
            return self.ln_weight, self.ln_bias
        return None, None

    def _output(self, z: Tensor, x: Tensor) -> Tensor:
        B, H, T, d = z.shape
        y = self.post_norm(z.transpose(1, 2).reshape(B, T, H * d))
        if self.cfg.backbone == "M":
            y = F.gelu(self.gate_proj(x), approximate="tanh") * y
        return self.o_proj(y)

    # -- public API --------------------------------------------------------------------------------

    def init_state(self, batch: int) -> TTTLayerState:
        """State of a fresh sequence: ``W0`` tiled over the batch, no pending gradients."""
        params = {n: getattr(self, n).unsqueeze(0).expand(batch, *getattr(self, n).shape) for n in self._w0_names}
        inner = InnerState(params, {k: torch.zeros_like(v) for k, v in params.items()}, 0)
        cq = ck = None
        if self.cfg.backbone == "M":
            cq, ck = self.conv_q.init_state(batch), self.conv_k.init_state(batch)
        return TTTLayerState(inner, cq, ck)

    def prefill(self, x: Tensor, state: TTTLayerState | None = None) -> tuple[Tensor, TTTLayerState]:
        """Process ``x [B, T, D]`` from ``state`` (fresh if None) with the configured form."""
        if state is None:
            state = self.init_state(x.shape[0])
        xq, xk, xv, cq, ck = self._views(x, state)
        eta = self._eta(x)
        n = self.cfg.mini_batch_size or (state.inner.count + x.shape[1])
        scale = self.scale_table(n, x.dtype, x.device)
        gamma, beta = self._ln()
        z, inner = ttt_scan(state.inner, xq, xk, xv, eta, scale, self.spec, gamma, beta, form=self.cfg.form)
        return self._output(z, x), TTTLayerState(inner, cq, ck)

    def forward(self, x: Tensor) -> Tensor:
        return self.prefill(x)[0]

    def step(self, x: Tensor, state: TTTLayerState) -> tuple[Tensor, TTTLayerState]:
        """Decode one token ``x [B, D]`` with the primal form (Sec. 2.5: "primal ... for decoding")."""
        x3 = x[:, None, :]
        cq = ck = None
        if self.cfg.backbone == "M":
            xqk = self.qk_proj(x)
            xq, cq = self.conv_q.step(xqk, state.conv_q)
            xk, ck = self.conv_k.step(xqk, state.conv_k)
            xq, xk = self._heads(xq[:, None]), self._heads(xk[:, None])
        else:
            xq, xk = self._heads(self.q_proj(x3)), self._heads(self.k_proj(x3))
        xv = self._heads(self.v_proj(x3))
        eta = self._eta(x3)
        n = self.cfg.mini_batch_size or (state.inner.count + 1)
        scale = self.scale_table(n, x.dtype, x.device)
        gamma, beta = self._ln()
        H, d = self.cfg.n_head, self.cfg.head_dim
        g_ = None if gamma is None else gamma.reshape(1, H, 1, d)
        b_ = None if beta is None else beta.reshape(1, H, 1, d)
        z, inner = ttt_step(state.inner, xq, xk, xv, eta, scale, self.spec, g_, b_)
        return self._output(z, x3)[:, 0], TTTLayerState(inner, cq, ck)

    def with_form(self, form: str) -> "TTTLayer":
        """Switch the prefill algorithm in place (same weights); returns self."""
        self.cfg = replace(self.cfg, form=form)
        return self
