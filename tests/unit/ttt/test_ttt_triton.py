"""The fused Triton TTT-Linear kernel against the PyTorch dual form (the reference), in Triton's interpreter.

``TRITON_INTERPRET=1`` runs the kernel on CPU tensors (numpy semantics for every ``tl`` op, float32 dots),
so these tests check the kernel's arithmetic, masking (partial mini-batch), state hand-off and dispatch;
speed and the compiled (PTX) code are checked on a GPU by ``benchmarks/gpu_check.sh``.
Both strategies (``fused``, ``split``) are checked. Tolerance: 2e-5 absolute in float32 on O(1) outputs (measured agreement ~1e-6; fp32 rounding of a
different summation order); shapes are tiny because the interpreter is slow.
"""

from __future__ import annotations

import pytest
import torch

from repro.ttt.equivalence import random_problem
from repro.ttt.kernels import KERNEL_ENV, kernel_mode, triton_ttt_linear_scan, use_triton
from repro.ttt.layers import InnerState, TTTLayer, TTTLayerConfig, ttt_scan

ATOL = 2e-5


@pytest.fixture(autouse=True)
def _interpret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRITON_INTERPRET", "1")


def test_triton_is_installed() -> None:
    # a hard failure, not a skip: CI installs triton from the test extra (requirements.lock)
    import triton  # noqa: F401
    import triton.language  # noqa: F401


def _reference(monkeypatch: pytest.MonkeyPatch, p: dict) -> tuple[torch.Tensor, InnerState]:
    monkeypatch.setenv(KERNEL_ENV, "torch")
    return ttt_scan(p["state"], p["xq"], p["xk"], p["xv"], p["eta"], p["scale"], p["spec"], p["gamma"], p["beta"])


def _max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


@pytest.mark.parametrize("strategy", ["fused", "split"])
@pytest.mark.parametrize("seq_len", [32, 40, 7])  # whole mini-batches, a trailing partial one, only a partial one
@pytest.mark.parametrize("ln_residual,bias", [(True, True), (True, False), (False, True)])
def test_kernel_matches_pytorch_dual_form(
    monkeypatch: pytest.MonkeyPatch, seq_len: int, ln_residual: bool, bias: bool, strategy: str
) -> None:
    p = random_problem(
        "linear",
        batch=2,
        n_head=2,
        seq_len=seq_len,
        head_dim=16,
        mini_batch_size=16,
        ln_residual=ln_residual,
        bias=bias,
        dtype=torch.float32,
        seed=seq_len,
    )
    z_ref, st_ref = _reference(monkeypatch, p)
    z, st = triton_ttt_linear_scan(
        p["state"], p["xq"], p["xk"], p["xv"], p["eta"], p["scale"], p["spec"], p["gamma"], p["beta"], strategy=strategy
    )
    assert z.shape == z_ref.shape and z.dtype == z_ref.dtype
    assert (z - z_ref).abs().max().item() < ATOL
    assert st.count == st_ref.count == seq_len % 16
    assert _max_diff(st.params, st_ref.params) < ATOL
    assert _max_diff(st.grads, st_ref.grads) < ATOL
    # guard against a vacuous comparison: the state really moved away from W0
    assert (st.params["W1"] - p["state"].params["W1"]).abs().max().item() > 1e-3 or seq_len < 16


@pytest.mark.parametrize("strategy", ["fused", "split"])
def test_kernel_mini_batch_32_and_expanded_w0(monkeypatch: pytest.MonkeyPatch, strategy: str) -> None:
    # b = 32, head_dim 32, W0 an expanded (stride-0 batch) view as TTTLayer.init_state passes it
    p = random_problem(
        "linear", batch=2, n_head=1, seq_len=48, head_dim=32, mini_batch_size=32, dtype=torch.float32, seed=3
    )
    w0 = {k: v[:1].expand_as(v) for k, v in p["state"].params.items()}
    p["state"] = InnerState(w0, {k: torch.zeros_like(v) for k, v in w0.items()}, 0)
    z_ref, st_ref = _reference(monkeypatch, p)
    z, st = triton_ttt_linear_scan(
        p["state"], p["xq"], p["xk"], p["xv"], p["eta"], p["scale"], p["spec"], p["gamma"], p["beta"], strategy=strategy
    )
    assert (z - z_ref).abs().max().item() < ATOL
    assert _max_diff(st.params, st_ref.params) < ATOL and _max_diff(st.grads, st_ref.grads) < ATOL


def test_layer_prefill_then_decode_through_dispatch(monkeypatch: pytest.MonkeyPatch) -> None:
    # the switch forces the kernel inside TTTLayer.prefill (learnable eta, position factors, LN); decoding
    # then continues the half-full mini-batch the kernel left in the state
    torch.manual_seed(0)
    layer = TTTLayer(TTTLayerConfig(d_model=32, n_head=2, mini_batch_size=16)).eval()
    with torch.no_grad():
        layer.pos_offset.uniform_(-0.05, 0.05)
        x = torch.randn(2, 27, 32)
        monkeypatch.setenv(KERNEL_ENV, "torch")
        y_ref, _ = layer.prefill(x)
        monkeypatch.setenv(KERNEL_ENV, "triton")
        y_pre, state = layer.prefill(x[:, :21])
        assert state.inner.count == 5
        steps = []
        for t in range(21, 27):
            y_t, state = layer.step(x[:, t], state)
            steps.append(y_t)
    y = torch.cat([y_pre, torch.stack(steps, dim=1)], dim=1)
    assert (y - y_ref).abs().max().item() < ATOL


def test_dispatch_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    p = random_problem("linear", batch=1, n_head=1, seq_len=16, head_dim=16, dtype=torch.float32)
    args = (p["state"], p["xq"], p["xk"], p["xv"], p["eta"], p["spec"], p["gamma"], p["beta"])
    monkeypatch.delenv(KERNEL_ENV, raising=False)
    assert kernel_mode() == "auto"
    assert not use_triton(*args)  # auto: CPU tensors use the PyTorch dual form
    monkeypatch.setenv(KERNEL_ENV, "torch")
    assert not use_triton(*args)
    monkeypatch.setenv(KERNEL_ENV, "triton")
    assert use_triton(*args)  # CPU tensors with TRITON_INTERPRET=1
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET"):
        use_triton(*args)
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    xq = p["xq"].clone().requires_grad_()
    with pytest.raises(RuntimeError, match="forward-only"):
        use_triton(p["state"], xq, *args[2:])
    with torch.no_grad():
        assert use_triton(p["state"], xq, *args[2:])
    mlp = random_problem("mlp", batch=1, n_head=1, seq_len=16, head_dim=16, dtype=torch.float32)
    with pytest.raises(RuntimeError, match="TTT-Linear only"):
        use_triton(mlp["state"], mlp["xq"], mlp["xk"], mlp["xv"], mlp["eta"], mlp["spec"], mlp["gamma"], mlp["beta"])
    odd = random_problem("linear", batch=1, n_head=1, seq_len=16, head_dim=12, dtype=torch.float32)
    with pytest.raises(RuntimeError, match="head_dim=12"):
        use_triton(odd["state"], odd["xq"], odd["xk"], odd["xv"], odd["eta"], odd["spec"], odd["gamma"], odd["beta"])
    mid = InnerState(p["state"].params, p["state"].grads, 3)
    with pytest.raises(RuntimeError, match="inside a mini-batch"):
        use_triton(mid, *args[1:])
    monkeypatch.setenv(KERNEL_ENV, "cuda")
    with pytest.raises(ValueError, match=KERNEL_ENV):
        kernel_mode()
    with pytest.raises(ValueError, match="strategy"):
        triton_ttt_linear_scan(
            p["state"],
            p["xq"],
            p["xk"],
            p["xv"],
            p["eta"],
            p["scale"],
            p["spec"],
            p["gamma"],
            p["beta"],
            strategy="fast",
        )


def test_ttt_scan_falls_back_when_kernel_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    # auto mode on a CUDA-less machine: ttt_scan's results are the PyTorch dual form's, bit for bit
    p = random_problem("linear", batch=1, n_head=2, seq_len=20, head_dim=8, dtype=torch.float32)
    monkeypatch.delenv(KERNEL_ENV, raising=False)
    z_auto, _ = ttt_scan(p["state"], p["xq"], p["xk"], p["xv"], p["eta"], p["scale"], p["spec"], p["gamma"], p["beta"])
    z_ref, _ = _reference(monkeypatch, p)
    assert torch.equal(z_auto, z_ref)


@pytest.mark.parametrize("strategy", ["fused", "split"])
def test_kernel_bfloat16_inputs(monkeypatch: pytest.MonkeyPatch, strategy: str) -> None:
    # the speed setting: bf16 views, bf16 matmul operands, float32 accumulation, W and LN in float32. The
    # interpreter emulates the bf16 products (operands rounded to bf16, multiplied in float32). Against the
    # float32 reference its relative RMS error must stay at bf16's resolution (2^-8 = 3.9e-3 per rounding;
    # bound 1e-2) and not exceed that of the PyTorch dual form run in bf16 end to end on the same inputs.
    p = random_problem("linear", batch=2, n_head=2, seq_len=64, head_dim=16, dtype=torch.float32, seed=1)
    z_ref, st_ref = _reference(monkeypatch, p)
    bf = {k: p[k].to(torch.bfloat16) for k in ("xq", "xk", "xv", "eta")}
    z, st = triton_ttt_linear_scan(
        p["state"],
        bf["xq"],
        bf["xk"],
        bf["xv"],
        bf["eta"],
        p["scale"],
        p["spec"],
        p["gamma"],
        p["beta"],
        strategy=strategy,
    )
    assert z.dtype == torch.bfloat16 and st.params["W1"].dtype == torch.float32

    def rel(a: torch.Tensor, b: torch.Tensor) -> float:
        return ((a.float() - b).pow(2).mean() / b.pow(2).mean()).sqrt().item()

    low = {k: v.to(torch.bfloat16) for k, v in p["state"].params.items()}
    z_bf, _ = ttt_scan(
        InnerState(low, {k: torch.zeros_like(v) for k, v in low.items()}, 0),
        bf["xq"],
        bf["xk"],
        bf["xv"],
        bf["eta"],
        p["scale"].to(torch.bfloat16),
        p["spec"],
        p["gamma"].to(torch.bfloat16),
        p["beta"].to(torch.bfloat16),
    )
    err, err_torch_bf16 = rel(z, z_ref), rel(z_bf, z_ref)
    assert err < 1e-2
    assert err <= err_torch_bf16
    assert rel(st.params["W1"], st_ref.params["W1"]) < 1e-2
