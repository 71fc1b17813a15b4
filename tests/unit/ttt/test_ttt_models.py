"""Causal LMs: the trainer contract, causality, decode = prefill, equal-parameter helpers, Table-1 ladder."""

from __future__ import annotations

import pytest
import torch

from repro.ttt.models import (
    LMConfig,
    build_model,
    count_parameters,
    equal_parameter_configs,
    ladder_configs,
    match_parameters,
)

FAMILIES = [
    ("transformer", "T"),
    ("mamba", "T"),
    ("ttt_linear", "T"),
    ("ttt_linear", "M"),
    ("ttt_mlp", "T"),
    ("ttt_mlp", "M"),
]
V = 37


def _model(variant: str, backbone: str, **kw) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = LMConfig(
        variant=variant, backbone=backbone, vocab_size=V, d_model=16, n_layer=2, n_head=2, mini_batch_size=4, **kw
    )
    return build_model(cfg).double().eval()


@pytest.mark.parametrize("variant,backbone", FAMILIES)
def test_contract_shapes_and_parameter_count(variant: str, backbone: str) -> None:
    m = _model(variant, backbone)
    ids = torch.randint(0, V, (3, 9))
    logits = m(ids)
    assert logits.shape == (3, 9, V) and logits.dtype == torch.float64
    n = m.num_parameters()
    assert n == sum(p.numel() for p in {id(p): p for p in m.parameters()}.values())
    assert n == count_parameters(m.cfg)
    assert m.num_parameters(exclude_embeddings=True) == n - V * 16


@pytest.mark.parametrize("variant,backbone", FAMILIES)
def test_causal(variant: str, backbone: str) -> None:
    m = _model(variant, backbone)
    ids = torch.randint(0, V, (1, 11))
    with torch.no_grad():
        ref = m(ids)
        for t in (2, 7):
            ids2 = ids.clone()
            ids2[:, t + 1 :] = (ids2[:, t + 1 :] + 1) % V
            out = m(ids2)
            assert torch.allclose(out[:, : t + 1], ref[:, : t + 1], atol=1e-12, rtol=0)
            assert not torch.allclose(out[:, t + 1 :], ref[:, t + 1 :])


@pytest.mark.parametrize("variant,backbone", FAMILIES)
def test_decode_equals_forward(variant: str, backbone: str) -> None:
    m = _model(variant, backbone)
    ids = torch.randint(0, V, (2, 10))
    with torch.no_grad():
        ref = m(ids)
        cache = m.init_cache(2)
        steps = []
        for t in range(10):
            logits, cache = m.step(ids[:, t], cache)
            steps.append(logits)
        assert cache.length == 10
        assert torch.allclose(torch.stack(steps, 1), ref, atol=1e-10, rtol=0)
        # prefill 6 tokens (inside a TTT mini-batch), then decode 4 more
        pre, cache = m.prefill(ids[:, :6])
        rest = []
        for t in range(6, 10):
            logits, cache = m.step(ids[:, t], cache)
            rest.append(logits)
        assert torch.allclose(torch.cat([pre, torch.stack(rest, 1)], 1), ref, atol=1e-10, rtol=0)
        # prefill can also continue from a cache
        a, c = m.prefill(ids[:, :3])
        b, _ = m.prefill(ids[:, 3:], c)
        assert torch.allclose(torch.cat([a, b], 1), ref, atol=1e-10, rtol=0)


def test_kv_cache_grows_past_capacity() -> None:
    m = _model("transformer", "T")
    ids = torch.randint(0, V, (1, 300))  # initial capacity 256
    with torch.no_grad():
        ref = m(ids)
        _, cache = m.prefill(ids[:, :250])
        outs = []
        for t in range(250, 300):
            logits, cache = m.step(ids[:, t], cache)
            outs.append(logits)
    assert torch.allclose(torch.stack(outs, 1), ref[:, 250:], atol=1e-10, rtol=0)


def test_ttt_model_backward_reaches_inner_parameters() -> None:
    m = _model("ttt_linear", "M").train()
    ids = torch.randint(0, V, (2, 9))
    m(ids).logsumexp(-1).sum().backward()
    grads = {n: p.grad for n, p in m.named_parameters()}
    for n in (
        "blocks.0.mixer.W1",
        "blocks.0.mixer.lr_proj.weight",
        "blocks.1.mixer.conv_q.weight",
        "blocks.1.mixer.gate_proj.weight",
    ):
        assert grads[n] is not None and grads[n].abs().sum() > 0, n


def test_match_parameters_and_equal_configs() -> None:
    base = LMConfig(vocab_size=256, d_model=64, n_layer=2, n_head=4)
    target = count_parameters(base)
    cfgs = equal_parameter_configs(base)
    assert set(cfgs) == {"Transformer", "Mamba", "TTT-Linear (T)", "TTT-Linear (M)", "TTT-MLP (T)", "TTT-MLP (M)"}
    assert cfgs["Mamba"].n_layer == 4
    for name, cfg in cfgs.items():
        assert abs(count_parameters(cfg) - target) / target < 0.02, name
    m = match_parameters(LMConfig(variant="ttt_mlp", vocab_size=256, d_model=64, n_layer=2, n_head=4), target // 2)
    assert m.d_ff is not None and count_parameters(m) < target


def test_ladder_rows() -> None:
    rows = ladder_configs(LMConfig(vocab_size=V, d_model=16, n_layer=1, n_head=2, mini_batch_size=4))
    names = list(rows)
    assert names[0].startswith("linear attention") and names[-1] == "+ Mamba backbone"
    first = rows[names[0]]
    assert first.mini_batch_size is None and not first.use_ln_residual and first.eta_base == 0.5
    assert rows["+ mini-batch TTT"].mini_batch_size == 4
    ids = torch.randint(0, V, (1, 6))
    counts = []
    for cfg in rows.values():
        m = build_model(cfg)
        assert m(ids).shape == (1, 6, V)
        counts.append(m.num_parameters())
    assert counts[1] > counts[0]  # "+ learnable W0" adds W0 to the trained parameters


def test_bad_variant_rejected() -> None:
    with pytest.raises(ValueError):
        LMConfig(variant="rwkv")


def test_registered_with_shared_toolkit() -> None:
    from repro.common.lm.models import ModelConfig
    from repro.common.lm.models import build_model as toolkit_build

    m = toolkit_build(
        ModelConfig(
            arch="ttt_mlp_m",
            vocab_size=V,
            d_model=16,
            n_head=2,
            n_layer=1,
            extra={"mini_batch_size": 8, "learnable_eta": False},
        )
    )
    assert m.cfg.variant == "ttt_mlp" and m.cfg.backbone == "M" and m.cfg.mini_batch_size == 8
    assert m(torch.randint(0, V, (1, 5))).shape == (1, 5, V)
    with pytest.raises(ValueError):
        toolkit_build(ModelConfig(arch="ttt_linear", extra={"no_such_option": 1}))
