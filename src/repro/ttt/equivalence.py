"""Exact equivalences of TTT layers (Sun et al. 2024, Sec. 2.5 and Theorem 1), as numbers.

* primal vs dual form: the dual form (Sec. 2.5; App. A for MLPs) is an exact rewrite of mini-batch GD,
  so with LN + residual and random per-token learning rates the two agree to rounding error;
* Theorem 1 (Sec. 2.6): TTT with a linear inner model ``f(x) = W x``, ``W0 = 0``, batch GD (``b = T``)
  and ``η = 1/2`` on ``‖W x_K − x_V‖²`` is causal linear attention ``z_t = Σ_{s≤t} (x_Q,t · x_K,s) x_V,s``.

``equivalence_numbers`` returns the numbers.json keys ``equivalence.primal_dual.max_abs_diff`` and
``equivalence.linear_attention.max_abs_diff``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from repro.ttt.layers import InnerSpec, InnerState, ttt_scan


def random_problem(
    kind: str = "linear",
    *,
    batch: int = 2,
    n_head: int = 2,
    seq_len: int = 64,
    head_dim: int = 16,
    mini_batch_size: int | None = 16,
    ln_residual: bool = True,
    bias: bool = True,
    mlp_expansion: int = 4,
    dtype: torch.dtype = torch.float64,
    seed: int = 0,
) -> dict:
    """A random TTT inner-loop problem: views, per-token η, position factors, W0 and inner LN weights.

    All quantities are generic (random W0, b0, LN scale/bias, η and s), so that an agreement cannot come
    from a degenerate special case such as W0 = 0 or η constant.
    """
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape: int, std: float = 1.0) -> Tensor:
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * std).to(dtype)

    B, H, T, d = batch, n_head, seq_len, head_dim
    hid = d * mlp_expansion if kind == "mlp" else d
    params = {"W1": rnd(B, H, d, hid, std=d**-0.5)}
    if kind == "mlp":
        params["W2"] = rnd(B, H, hid, d, std=hid**-0.5)
    if bias:
        params["b1"] = rnd(B, H, 1, hid, std=0.1)
        if kind == "mlp":
            params["b2"] = rnd(B, H, 1, d, std=0.1)
    n_scale = mini_batch_size or T
    return {
        "state": InnerState(params, {k: torch.zeros_like(v) for k, v in params.items()}, 0),
        "xq": rnd(B, H, T, d),
        "xk": rnd(B, H, T, d),
        "xv": rnd(B, H, T, d),
        # per-token learning rates in [0.01, 0.1] and position factors in [0.5, 1.5]
        "eta": (0.01 + 0.09 * torch.rand(B, H, T, generator=g, dtype=torch.float64)).to(dtype),
        "scale": (0.5 + torch.rand(n_scale, generator=g, dtype=torch.float64)).to(dtype),
        "spec": InnerSpec(kind, ln_residual, mini_batch_size),
        "gamma": (1.0 + rnd(H, d, std=0.1)) if ln_residual else None,
        "beta": rnd(H, d, std=0.1) if ln_residual else None,
    }


def _max_diff(a: Tensor, b: Tensor) -> float:
    return float((a - b).abs().max())


def primal_dual_max_abs_diff(
    kind: str = "linear",
    *,
    seq_len: int = 64,
    head_dim: int = 16,
    mini_batch_size: int | None = 16,
    dtype: torch.dtype = torch.float64,
    grad_mode: str = "autograd",
    seed: int = 0,
) -> float:
    """Max |dual − primal| over outputs and the final state (weights and pending gradients).

    The primal reference takes per-token gradients with ``torch.func.grad`` (``grad_mode="autograd"``)
    at the mini-batch start weights and cumulative sums; the dual form uses the analytic LN backward
    and matmuls only. LN + residual and bias are on; η and s are random per token / position.
    """
    p = random_problem(
        kind, seq_len=seq_len, head_dim=head_dim, mini_batch_size=mini_batch_size, dtype=dtype, seed=seed
    )
    args = (p["state"], p["xq"], p["xk"], p["xv"], p["eta"], p["scale"], p["spec"], p["gamma"], p["beta"])
    z_d, s_d = ttt_scan(*args, form="dual")
    z_p, s_p = ttt_scan(*args, form="primal", grad_mode=grad_mode)
    diffs = [_max_diff(z_d, z_p)]
    diffs += [_max_diff(s_d.params[k], s_p.params[k]) for k in s_d.params]
    diffs += [_max_diff(s_d.grads[k], s_p.grads[k]) for k in s_d.grads]
    return max(diffs)


def causal_linear_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Unnormalised causal linear attention ``z_t = Σ_{s≤t} (q_t · k_s) v_s`` (``[..., T, d]``)."""
    return torch.tril(q @ k.transpose(-1, -2)) @ v


def linear_attention_max_abs_diff(
    *, seq_len: int = 64, head_dim: int = 16, dtype: torch.dtype = torch.float64, form: str = "dual", seed: int = 0
) -> float:
    """Theorem 1: max |TTT(batch GD, W0 = 0, η = 1/2, f = W x) − causal linear attention|."""
    p = random_problem(
        "linear",
        seq_len=seq_len,
        head_dim=head_dim,
        mini_batch_size=None,
        ln_residual=False,
        bias=False,
        dtype=dtype,
        seed=seed,
    )
    params = {"W1": torch.zeros_like(p["state"].params["W1"])}
    state = InnerState(params, {"W1": torch.zeros_like(params["W1"])}, 0)
    eta = torch.full_like(p["eta"], 0.5)
    scale = torch.ones(seq_len, dtype=dtype)
    z, _ = ttt_scan(state, p["xq"], p["xk"], p["xv"], eta, scale, p["spec"], form=form)
    return _max_diff(z, causal_linear_attention(p["xq"], p["xk"], p["xv"]))


def equivalence_numbers(seed: int = 0) -> dict[str, float]:
    """The ttt numbers.json entries for the exact equivalences (float64, T = 64, d = 16, b = 16)."""
    return {
        "equivalence.primal_dual.max_abs_diff": max(
            primal_dual_max_abs_diff("linear", seed=seed), primal_dual_max_abs_diff("mlp", seed=seed)
        ),
        "equivalence.primal_dual_linear.max_abs_diff": primal_dual_max_abs_diff("linear", seed=seed),
        "equivalence.primal_dual_mlp.max_abs_diff": primal_dual_max_abs_diff("mlp", seed=seed),
        "equivalence.linear_attention.max_abs_diff": linear_attention_max_abs_diff(seed=seed),
    }
