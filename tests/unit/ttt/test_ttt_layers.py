"""TTT-Linear / TTT-MLP layers: analytic gradients, primal = dual, Theorem 1, decode = prefill, causality."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from repro.ttt.equivalence import (
    causal_linear_attention,
    linear_attention_max_abs_diff,
    primal_dual_max_abs_diff,
    random_problem,
)
from repro.ttt.layers import (
    InnerSpec,
    InnerState,
    TTTLayer,
    TTTLayerConfig,
    gelu_tanh_grad,
    layer_norm,
    ln_l2_grad,
    ttt_scan,
    ttt_step,
)


def test_ln_l2_grad_matches_autograd() -> None:
    g = torch.Generator().manual_seed(0)
    z = torch.randn(5, 7, 16, generator=g, dtype=torch.float64, requires_grad=True)
    target = torch.randn(5, 7, 16, generator=g, dtype=torch.float64)
    gamma = 1 + 0.1 * torch.randn(16, generator=g, dtype=torch.float64)
    beta = 0.1 * torch.randn(16, generator=g, dtype=torch.float64)
    loss = (layer_norm(z, gamma, beta, 1e-6) - target).pow(2).sum()
    (auto,) = torch.autograd.grad(loss, z)
    assert torch.allclose(ln_l2_grad(z.detach(), target, gamma, beta, 1e-6), auto, atol=1e-12, rtol=0)


def test_layer_norm_matches_torch() -> None:
    z = torch.randn(4, 3, 8, dtype=torch.float64)
    assert torch.allclose(layer_norm(z, None, None, 1e-6), F.layer_norm(z, (8,), eps=1e-6), atol=1e-12)


def test_gelu_grad_matches_autograd() -> None:
    x = torch.linspace(-6, 6, 101, dtype=torch.float64, requires_grad=True)
    (auto,) = torch.autograd.grad(F.gelu(x, approximate="tanh").sum(), x)
    assert torch.allclose(gelu_tanh_grad(x.detach()), auto, atol=1e-12, rtol=0)


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_primal_equals_dual_float64(kind: str) -> None:
    # the paper's exact claim (Sec. 2.5): the dual form is a rewrite, not an approximation
    assert primal_dual_max_abs_diff(kind, seq_len=64, head_dim=16, mini_batch_size=16) < 1e-10


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_primal_equals_dual_float32(kind: str) -> None:
    assert primal_dual_max_abs_diff(kind, dtype=torch.float32) < 1e-5


@pytest.mark.parametrize("kind", ["linear", "mlp"])
@pytest.mark.parametrize("b,seq_len", [(16, 70), (None, 24), (1, 12), (5, 23)])
def test_primal_equals_dual_other_schedules(kind: str, b: int | None, seq_len: int) -> None:
    # remainder mini-batch, batch GD (b = T), online GD (b = 1)
    assert primal_dual_max_abs_diff(kind, seq_len=seq_len, head_dim=8, mini_batch_size=b, grad_mode="analytic") < 1e-10


def test_primal_reference_is_not_trivially_equal() -> None:
    # guard: a dual form that ignored η or the mask would differ from the primal by O(1)
    p = random_problem("linear", seq_len=32, head_dim=8)
    args = (p["state"], p["xq"], p["xk"], p["xv"], p["eta"], p["scale"], p["spec"], p["gamma"], p["beta"])
    z, _ = ttt_scan(*args, form="dual")
    z2, _ = ttt_scan(
        p["state"], p["xq"], p["xk"], p["xv"], 2 * p["eta"], p["scale"], p["spec"], p["gamma"], p["beta"], form="primal"
    )
    assert (z - z2).abs().max() > 1e-3


@pytest.mark.parametrize("form", ["dual", "primal"])
def test_theorem1_linear_attention(form: str) -> None:
    assert linear_attention_max_abs_diff(form=form) < 1e-10
    assert linear_attention_max_abs_diff(form=form, dtype=torch.float32) < 1e-4


def test_causal_linear_attention_definition() -> None:
    q, k, v = (torch.randn(1, 6, 3, dtype=torch.float64) for _ in range(3))
    z = causal_linear_attention(q, k, v)
    t = 4
    manual = sum((q[0, t] @ k[0, s]) * v[0, s] for s in range(t + 1))
    assert torch.allclose(z[0, t], manual)


@pytest.mark.parametrize("kind", ["linear", "mlp"])
@pytest.mark.parametrize("b", [4, None])
def test_step_by_step_equals_scan(kind: str, b: int | None) -> None:
    T = 11
    p = random_problem(kind, seq_len=T, head_dim=8, mini_batch_size=b)
    if b is None:
        p["scale"] = 0.5 + torch.rand(T, dtype=torch.float64)
    H, d = 2, 8
    g_, b_ = p["gamma"].reshape(1, H, 1, d), p["beta"].reshape(1, H, 1, d)
    z, final = ttt_scan(p["state"], p["xq"], p["xk"], p["xv"], p["eta"], p["scale"], p["spec"], p["gamma"], p["beta"])
    state = p["state"]
    outs = []
    for t in range(T):
        sl = slice(t, t + 1)
        o, state = ttt_step(
            state,
            p["xq"][:, :, sl],
            p["xk"][:, :, sl],
            p["xv"][:, :, sl],
            p["eta"][:, :, sl],
            p["scale"],
            p["spec"],
            g_,
            b_,
        )
        outs.append(o)
    assert torch.allclose(torch.cat(outs, 2), z, atol=1e-10, rtol=0)
    assert state.count == final.count == (T % b if b else T)
    for k in final.params:
        assert torch.allclose(state.params[k], final.params[k], atol=1e-10, rtol=0)
        assert torch.allclose(state.grads[k], final.grads[k], atol=1e-10, rtol=0)


def test_scan_resumes_from_mid_minibatch_state() -> None:
    p = random_problem("linear", seq_len=30, head_dim=8, mini_batch_size=8)
    full, _ = ttt_scan(p["state"], p["xq"], p["xk"], p["xv"], p["eta"], p["scale"], p["spec"], p["gamma"], p["beta"])
    cut = 11  # ends inside the second mini-batch
    a, st = ttt_scan(
        p["state"],
        p["xq"][:, :, :cut],
        p["xk"][:, :, :cut],
        p["xv"][:, :, :cut],
        p["eta"][:, :, :cut],
        p["scale"],
        p["spec"],
        p["gamma"],
        p["beta"],
    )
    assert st.count == 3
    b, _ = ttt_scan(
        st,
        p["xq"][:, :, cut:],
        p["xk"][:, :, cut:],
        p["xv"][:, :, cut:],
        p["eta"][:, :, cut:],
        p["scale"],
        p["spec"],
        p["gamma"],
        p["beta"],
    )
    assert torch.allclose(torch.cat([a, b], 2), full, atol=1e-10, rtol=0)


def test_minibatch_one_is_online_gd() -> None:
    # b = 1: every token's gradient is taken at the weights left by the previous token (plain online GD)
    T, d = 6, 4
    g = torch.Generator().manual_seed(1)
    xq, xk, xv = (torch.randn(1, 1, T, d, generator=g, dtype=torch.float64) for _ in range(3))
    W = torch.randn(1, 1, d, d, generator=g, dtype=torch.float64) * 0.3
    spec = InnerSpec("linear", ln_residual=False, mini_batch_size=1)
    eta = torch.full((1, 1, T), 0.05, dtype=torch.float64)
    z, _ = ttt_scan(
        InnerState({"W1": W}, {"W1": torch.zeros_like(W)}), xq, xk, xv, eta, torch.ones(1, dtype=torch.float64), spec
    )
    Wt = W[0, 0].clone()
    for t in range(T):
        k, v = xk[0, 0, t], xv[0, 0, t]
        Wt = Wt - 0.05 * 2 * torch.outer(k, k @ Wt - v)
        assert torch.allclose(z[0, 0, t], xq[0, 0, t] @ Wt, atol=1e-12)


# ---------------------------------------------------------------------------------------------------
# nn.Module
# ---------------------------------------------------------------------------------------------------


def _layer(**kw) -> TTTLayer:
    torch.manual_seed(0)
    cfg = TTTLayerConfig(**{"d_model": 16, "n_head": 2, "mini_batch_size": 4, **kw})
    layer = TTTLayer(cfg).double()
    with torch.no_grad():  # generic (non-init) values for the LN weights, position offsets and biases
        for name, prm in layer.named_parameters():
            if name in ("ln_weight", "ln_bias", "pos_offset", "b1", "b2"):
                prm.add_(0.1 * torch.randn_like(prm))
    return layer


@pytest.mark.parametrize("inner", ["linear", "mlp"])
@pytest.mark.parametrize("backbone", ["T", "M"])
def test_layer_shapes_and_forms(inner: str, backbone: str) -> None:
    layer = _layer(inner=inner, backbone=backbone)
    x = torch.randn(2, 10, 16, dtype=torch.float64)
    y = layer(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    y_primal = layer.with_form("primal")(x)
    assert torch.allclose(y, y_primal, atol=1e-10, rtol=0)


@pytest.mark.parametrize("inner", ["linear", "mlp"])
@pytest.mark.parametrize("backbone", ["T", "M"])
@pytest.mark.parametrize("b", [4, None])
def test_layer_decode_equals_prefill(inner: str, backbone: str, b: int | None) -> None:
    layer = _layer(inner=inner, backbone=backbone, mini_batch_size=b)
    x = torch.randn(2, 10, 16, dtype=torch.float64)  # 10 = two mini-batches of 4 and a remainder of 2
    with torch.no_grad():
        y = layer(x)
        state = layer.init_state(2)
        outs = []
        for t in range(10):
            o, state = layer.step(x[:, t], state)
            outs.append(o)
        assert torch.allclose(torch.stack(outs, 1), y, atol=1e-10, rtol=0)
        # prefill part of the sequence (ending inside a mini-batch), then decode the rest
        y1, st = layer.prefill(x[:, :6])
        rest = []
        for t in range(6, 10):
            o, st = layer.step(x[:, t], st)
            rest.append(o)
        assert torch.allclose(torch.cat([y1, torch.stack(rest, 1)], 1), y, atol=1e-10, rtol=0)


@pytest.mark.parametrize("backbone", ["T", "M"])
def test_layer_is_causal(backbone: str) -> None:
    layer = _layer(backbone=backbone)
    x = torch.randn(1, 12, 16, dtype=torch.float64)
    y = layer(x)
    for t in (0, 3, 5, 10):
        x2 = x.clone()
        x2[:, t + 1 :] += torch.randn_like(x2[:, t + 1 :])
        y2 = layer(x2)
        assert torch.allclose(y2[:, : t + 1], y[:, : t + 1], atol=1e-12, rtol=0)
        assert not torch.allclose(y2[:, t + 1 :], y[:, t + 1 :])


@pytest.mark.parametrize("inner", ["linear", "mlp"])
def test_gradients_reach_eta_gate_and_w0(inner: str) -> None:
    layer = _layer(inner=inner)
    x = torch.randn(2, 9, 16, dtype=torch.float64)
    layer(x).square().sum().backward()
    names = ["lr_proj.weight", "lr_proj.bias", "W1", "b1", "ln_weight", "ln_bias", "pos_offset", "q_proj.weight"]
    if inner == "mlp":
        names += ["W2", "b2"]
    params = dict(layer.named_parameters())
    for n in names:
        assert params[n].grad is not None and params[n].grad.abs().sum() > 0, n


def test_ladder_switches_change_parameters() -> None:
    fixed = _layer(learnable_eta=False, learnable_w0=False, use_ln_residual=False, inner_bias=False)
    names = dict(fixed.named_parameters())
    assert "W1" not in names and "lr_proj.weight" not in names and "ln_weight" not in names
    assert float(fixed.W1.abs().sum()) == 0.0  # W0 = 0 (Theorem 1 setting)
    x = torch.randn(1, 5, 16, dtype=torch.float64)
    assert fixed(x).shape == x.shape
    with pytest.raises(ValueError):
        TTTLayer(TTTLayerConfig(inner="rnn"))
