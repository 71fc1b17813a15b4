"""Hugging Face checkpoints in and out (issue 29, item 2): load_pretrained, save_pretrained, the gpt_neox arch.

Every model here is a toy built from a config (no hub download): 2 layers, width 32, vocabulary 96-120.
"""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest
import torch
from torch import nn

from repro.common.lm import models as M
from repro.common.lm.tokenizer import Tokenizer
from repro.common.lm.trainer import TrainConfig, train

VOCAB = 120


def _cfg(arch: str, **kw) -> M.ModelConfig:
    return M.ModelConfig(arch=arch, n_layer=2, n_head=2, d_model=32, context=16, vocab_size=VOCAB, **kw)


def _ids(seed: int = 0, batch: int = 2, vocab: int = VOCAB) -> torch.Tensor:
    return torch.as_tensor(np.random.default_rng(seed).integers(0, vocab, (batch, 16)))


def _auto_load(path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path).eval()


@pytest.mark.parametrize("arch", ["llama", "gpt_neox", "gpt2"])
@pytest.mark.parametrize("tie", [True, False])
def test_saved_checkpoint_loads_in_transformers_and_load_pretrained_with_identical_logits(tmp_path, arch, tie):
    model = M.build_model(_cfg(arch, tie_embeddings=tie), seed=0).eval()
    out = M.save_pretrained(tmp_path / "ckpt", model)
    assert out == tmp_path / "ckpt"
    assert {"config.json", "model.safetensors", "generation_config.json"} <= {p.name for p in out.iterdir()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # atomic: no temp folder left
    x = _ids()
    with torch.no_grad():
        want = model(x)
        # Exact, not close: same weights, same (sdpa) attention, same fp32 kernels on the same CPU.
        assert torch.equal(_auto_load(out)(x).logits, want)
        loaded = M.load_pretrained(out)
        assert isinstance(loaded, M.HFCausalLM) and not loaded.training
        assert loaded.hf.config.model_type == arch and loaded.hf.config.tie_word_embeddings is tie
        assert torch.equal(loaded(x), want)


def test_gpt_neox_is_pythia_shaped_and_follows_the_contract():
    cfg = _cfg("gpt_neox")
    assert "gpt_neox" in M.registered_models()
    c = M.hf_config(cfg)
    assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.intermediate_size) == (32, 2, 2, 128)
    assert c.max_position_embeddings == 16 and c.use_parallel_residual is True
    rope = getattr(c, "rope_parameters", None) or {}  # transformers 5; 4.x keeps the flat attributes
    assert rope.get("partial_rotary_factor", getattr(c, "rotary_pct", None)) == 0.25
    assert (c.bos_token_id, c.eos_token_id, c.pad_token_id) == (0, 0, None)
    assert M.hf_config(cfg.replace(dropout=0.1)).hidden_dropout == 0.1
    with pytest.raises(ValueError, match="grouped-query"):
        M.hf_config(cfg.replace(n_kv_head=1))

    model = M.build_model(cfg, seed=0).eval()
    x = _ids()
    logits = model(x)
    assert logits.shape == (2, 16, VOCAB) and logits.dtype == torch.float32
    x2 = x.clone()
    x2[:, 10] = (x2[:, 10] + 1) % VOCAB
    assert torch.allclose(model(x)[:, :10], model(x2)[:, :10], atol=1e-5)  # causal
    assert not torch.allclose(model(x)[:, 10:], model(x2)[:, 10:], atol=1e-5)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), M.build_model(cfg).state_dict().values()))

    # Per block: 2 LayerNorms (4d), fused QKV (3d^2 + 3d), output (d^2 + d), MLP (8d^2 + 5d); no position table
    # (rotary), so the only embedding is the V x d token table, tied to the output projection here.
    d, L, T = 32, 2, 16
    non_embedding = L * (12 * d * d + 13 * d) + 2 * d
    assert M.count_params(model, exclude_embeddings=True) == non_embedding
    assert M.count_params(model) == non_embedding + VOCAB * d
    assert M.model_flops_per_token(cfg, model) == 6 * (non_embedding + VOCAB * d) + 12 * L * d * T
    untied = M.build_model(cfg.replace(tie_embeddings=False))
    assert M.count_params(untied) == non_embedding + 2 * VOCAB * d
    assert M.model_flops_per_token(cfg.replace(tie_embeddings=False), untied) == M.model_flops_per_token(cfg, model)


def test_gpt_neox_model_dir_round_trip(tmp_path):
    cfg = _cfg("gpt_neox")
    model = M.build_model(cfg, seed=3).eval()
    M.save_model_dir(tmp_path / "m", model, cfg)
    loaded, cfg2 = M.load_model_dir(tmp_path / "m")
    assert cfg2 == cfg
    x = _ids()
    assert torch.equal(loaded(x), model(x))
    assert torch.equal(_auto_load(tmp_path / "m")(x).logits, model(x))  # the model dir is an HF checkpoint too


def test_a_loaded_checkpoint_fine_tunes_and_saves_back_with_its_tokenizer(tmp_path):
    texts = ["the quick brown fox jumps over the lazy dog " * 3, "pack my box with five dozen liquor jugs " * 3]
    tok = Tokenizer.train_char(texts)
    cfg = _cfg("llama").replace(vocab_size=tok.vocab_size)
    M.save_pretrained(tmp_path / "base", M.build_model(cfg, seed=0), tok)
    assert (tmp_path / "base" / "tokenizer.json").is_file()

    model = M.load_pretrained(tmp_path / "base", dtype="float32")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    probe = _ids(seed=5, vocab=tok.vocab_size)

    def loss() -> float:
        with torch.no_grad():
            logits = model.eval()(probe)
        return nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]), probe[:, 1:].reshape(-1)
        ).item()

    loss0 = loss()
    tokens = np.random.default_rng(0).integers(0, tok.vocab_size, 2000).astype(np.uint16)
    hist = train(
        model,
        tokens,
        TrainConfig(steps=3, batch_size=2, context=16, device="cpu", eval_every=0, warmup=0),
        progress=False,
    )
    assert hist[-1]["step"] == 3 and np.isfinite(hist[-1]["train_loss"])
    assert loss() != loss0
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())

    M.save_pretrained(tmp_path / "tuned", model, tok)
    again = M.load_pretrained(tmp_path / "tuned")
    tuned, reloaded = model.state_dict(), again.state_dict()
    assert tuned.keys() == reloaded.keys()
    assert all(torch.equal(tuned[k], reloaded[k]) for k in tuned)
    # The tokenizer went along: transformers reads it from the same folder.
    from transformers import AutoTokenizer

    hf_tok = AutoTokenizer.from_pretrained(tmp_path / "tuned")
    assert hf_tok("lazy dog", add_special_tokens=False)["input_ids"] == tok.encode("lazy dog")


def test_load_errors_name_the_folder_or_the_id_without_touching_the_network(tmp_path, monkeypatch):
    from repro.common.llm.base import LLMError
    from repro.common.llm.hf import HFLLM

    (tmp_path / "empty").mkdir()
    with pytest.raises(M.PretrainedLoadError, match=r"empty.*no config\.json.*not a Hugging Face checkpoint"):
        M.load_pretrained(tmp_path / "empty")
    # The hf backend shares the check and keeps its own error type.
    with pytest.raises(LLMError, match=r"no config\.json"):
        HFLLM(str(tmp_path / "empty"), device="cpu")

    @M.register_model("test_hf_ckpt_bigram")
    def build(cfg: M.ModelConfig) -> nn.Module:
        return nn.Sequential(nn.Embedding(cfg.vocab_size, cfg.d_model), nn.Linear(cfg.d_model, cfg.vocab_size))

    cfg = _cfg("test_hf_ckpt_bigram")
    custom = M.build_model(cfg)
    M.save_model_dir(tmp_path / "custom", custom, cfg)
    with pytest.raises(M.PretrainedLoadError, match="repro model directory, which load_model_dir reads"):
        M.load_pretrained(tmp_path / "custom")
    with pytest.raises(TypeError, match="no Hugging Face format.*save_model_dir"):
        M.save_pretrained(tmp_path / "out", custom)
    assert not (tmp_path / "out").exists()

    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(M.PretrainedLoadError, match="weights.bin is not a folder"):
        M.load_pretrained(tmp_path / "weights.bin")
    with pytest.raises(M.PretrainedLoadError, match="not a folder"):
        M.load_pretrained(str(tmp_path / "no" / "such" / "dir"))

    def no_network(*args, **kwargs):
        raise AssertionError(f"network call: {args}")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    hub_id = "openai-community/gpt2-not-cached-here"
    for allow in (False, True):
        with pytest.raises(M.PretrainedLoadError) as err:
            M.load_pretrained(hub_id, allow_download=allow)
        msg = str(err.value)
        assert repr(hub_id) in msg and "not in the local Hugging Face cache" in msg and "offline" in msg
        assert "huggingface-cli download" in msg and isinstance(err.value, OSError)
    with pytest.raises(ValueError, match="dtype must be"):
        M.load_pretrained(tmp_path / "empty", dtype="int8")


def test_an_explicit_full_state_dict_is_what_gets_saved(tmp_path):
    model = M.build_model(_cfg("llama"), seed=0)
    M.save_pretrained(tmp_path / "own", model)
    # A gathered state dict holds copies, not the model's tensors; tied names come as two equal copies.
    full = {k: v.detach().clone() for k, v in model.hf.state_dict().items()}
    assert "lm_head.weight" in full and "model.embed_tokens.weight" in full
    M.save_pretrained(tmp_path / "given", model, state_dict=full)
    assert (tmp_path / "given" / "model.safetensors").read_bytes() == (
        tmp_path / "own" / "model.safetensors"
    ).read_bytes()
    own_cfg = json.loads((tmp_path / "own" / "config.json").read_text())
    assert json.loads((tmp_path / "given" / "config.json").read_text()) == own_cfg

    # The weights in the file are the given ones, not the model's (as when rank 0 saves gathered FSDP shards).
    other = M.build_model(_cfg("llama"), seed=1).eval()
    M.save_pretrained(tmp_path / "other", model, state_dict=M.unique_state_dict(other.hf))  # tied name given once
    x = _ids()
    assert torch.equal(_auto_load(tmp_path / "other")(x).logits, other(x))
    assert not torch.equal(other(x), model.eval()(x))

    with pytest.raises(ValueError, match="no 'hf.' prefix"):
        M.save_pretrained(tmp_path / "bad", model, state_dict=model.state_dict())
    partial = dict(full)
    del partial["model.norm.weight"]
    with pytest.raises(ValueError, match="lacks 'model.norm.weight'"):
        M.save_pretrained(tmp_path / "bad", model, state_dict=partial)
    untied = dict(full, **{"lm_head.weight": full["lm_head.weight"] + 1})
    with pytest.raises(ValueError, match="ties them"):
        M.save_pretrained(tmp_path / "bad", model, state_dict=untied)
    assert not (tmp_path / "bad").exists()
