"""Model construction, the module contract, parameter/FLOP counts and model directories."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from repro.common.lm import models as M
from repro.common.lm.trainer import TrainConfig, train


class BigramLM(nn.Module):
    """A custom module following the contract (no num_parameters, no KV cache)."""

    def __init__(self, vocab: int, d: int) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.out = nn.Linear(d, vocab)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.out(self.emb(input_ids))


@M.register_model("test_bigram")
def build_bigram(cfg: M.ModelConfig) -> nn.Module:
    return BigramLM(cfg.vocab_size, cfg.d_model)


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_hf_models_follow_the_contract(arch):
    cfg = M.ModelConfig(arch=arch, n_layer=2, n_head=2, d_model=32, context=16, vocab_size=50)
    model = M.build_model(cfg, seed=0)
    x = torch.randint(0, 50, (3, 16))
    logits = model(x)
    assert logits.shape == (3, 16, 50) and logits.dtype == torch.float32
    # Causality: changing a later token does not change earlier logits.
    x2 = x.clone()
    x2[:, 10] = (x2[:, 10] + 1) % 50
    model.eval()
    assert torch.allclose(model(x)[:, :10], model(x2)[:, :10], atol=1e-5)
    # Seeded initialisation is reproducible and leaves the global RNG alone.
    state = torch.get_rng_state()
    again = M.build_model(cfg, seed=0)
    assert torch.equal(state, torch.get_rng_state())
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True))


def test_gpt2_parameter_count_and_flops_known_answer():
    cfg = M.ModelConfig(arch="gpt2", n_layer=4, n_head=4, d_model=128, context=256, vocab_size=2048)
    model = M.build_model(cfg)
    d, L, V, T = 128, 4, 2048, 256
    per_layer = 12 * d * d + 13 * d  # attention (4d^2 + 4d) + MLP (8d^2 + 5d) + 2 LayerNorms (4d)
    non_embedding = L * per_layer + 2 * d  # + final LayerNorm
    assert M.count_params(model, exclude_embeddings=True) == non_embedding
    assert M.count_params(model) == non_embedding + V * d + T * d  # tied output counted once
    n_matmul = non_embedding + V * d
    assert M.model_flops_per_token(cfg, model) == 6 * n_matmul + 12 * L * d * T
    assert M.flops_per_token(1000, 2, 8, 16, training=False) == 2 * 1000 + 4 * 2 * 8 * 16


def test_count_params_for_custom_modules():
    m = BigramLM(10, 4)
    assert M.count_params(m) == 10 * 4 + 4 * 10 + 10
    assert M.count_params(m, exclude_embeddings=True) == 4 * 10 + 10
    tied = BigramLM(10, 4)
    tied.out.weight = tied.emb.weight  # shared tensors count once
    assert M.count_params(tied) == 10 * 4 + 10


def test_custom_module_trains_with_the_same_trainer_and_round_trips(tmp_path):
    cfg = M.ModelConfig(arch="test_bigram", n_layer=1, n_head=1, d_model=8, context=16, vocab_size=12)
    assert "test_bigram" in M.registered_models()
    model = M.build_model(cfg, seed=0)
    rng = np.random.default_rng(0)
    tokens = np.array([i % 12 for i in range(4000)], dtype=np.uint16)  # a deterministic cycle
    hist = train(
        model, tokens, TrainConfig(steps=60, batch_size=8, context=16, lr=1e-2, warmup=5, eval_every=0), progress=False
    )
    assert hist[-1]["train_loss"] < 0.5 * np.log(12)
    M.save_model_dir(tmp_path / "m", model, cfg)
    loaded, cfg2 = M.load_model_dir(tmp_path / "m")
    assert cfg2 == cfg and isinstance(loaded, BigramLM)
    x = torch.as_tensor(rng.integers(0, 12, (2, 16)))
    assert torch.equal(loaded(x), model.eval()(x))


def test_model_dir_is_an_hf_checkpoint(tmp_path):
    from transformers import AutoModelForCausalLM

    cfg = M.ModelConfig(arch="llama", n_layer=1, n_head=2, d_model=16, context=32, vocab_size=40)
    model = M.build_model(cfg)
    M.save_model_dir(tmp_path / "m", model, cfg)
    M.save_model_dir(tmp_path / "m", model, cfg)  # overwriting is atomic and leaves no temp dirs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    hf = AutoModelForCausalLM.from_pretrained(tmp_path / "m")
    x = torch.randint(0, 40, (1, 32))
    assert torch.allclose(hf(x).logits, model.eval()(x), atol=1e-6)
    loaded, _ = M.load_model_dir(tmp_path / "m")
    assert torch.equal(loaded(x), model(x))


def test_config_validation():
    with pytest.raises(ValueError, match="divisible"):
        M.ModelConfig(d_model=30, n_head=4)
    with pytest.raises(ValueError, match="unknown architecture"):
        M.build_model(M.ModelConfig(arch="nope"))
    with pytest.raises(ValueError, match="built-in"):
        M.register_model("gpt2")(build_bigram)
    with pytest.raises(ValueError, match="unknown ModelConfig keys"):
        M.ModelConfig.from_dict({"n_layers": 3})
