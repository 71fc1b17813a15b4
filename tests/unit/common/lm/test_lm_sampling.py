"""Sampling: KV-cache decoding equals the naive loop, custom modules, stop tokens, seeded sampling."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from repro.common.lm import sampling as S
from repro.common.lm.models import ModelConfig, build_model
from repro.common.lm.trainer import TrainConfig, train

PROMPTS = [
    "ROMEO:\nI",
    "First Citizen:\nWe are accounted poor",
    "KING",
    "O",
    "What say you, my lord? I have heard that the king",
    "\n",
]


class Unwrapped(nn.Module):
    """The same network without the HF wrapper: exercises the no-cache custom-module path."""

    def __init__(self, hf_wrapped: nn.Module) -> None:
        super().__init__()
        self.inner = hf_wrapped.hf

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.inner(input_ids=input_ids, use_cache=False).logits


def _prompt_ids(tok):
    return [tok.encode(p) for p in PROMPTS]


def test_greedy_kv_cache_batch_equals_naive_loop(tiny_lm):
    """Batched KV-cache sampling reproduces the token-by-token loop without cache."""
    ids = _prompt_ids(tiny_lm.tokenizer)
    # 100 new tokens from prompts of up to 12 tokens: crosses the 64-token context, so
    # the sliding-window continuation after the cache is full is covered too.
    fast = S.generate(tiny_lm.model, ids, 100)
    slow = S.generate_naive(tiny_lm.model, ids, 100)
    assert fast == slow
    assert all(len(o) == 100 for o in fast)
    assert len({tuple(o[:20]) for o in fast}) > 2  # a trained model, not a constant output
    assert S.generate(tiny_lm.model, ids, 100, use_cache=False) == slow
    assert S.generate(tiny_lm.model, ids, 30, batch_size=2) == [o[:30] for o in slow]


def test_greedy_llama_kv_cache_equals_naive(tiny_lm):
    tok = tiny_lm.tokenizer
    cfg = ModelConfig(arch="llama", n_layer=2, n_head=4, d_model=64, context=64, vocab_size=tok.vocab_size)
    model = build_model(cfg, seed=0)
    train(
        model,
        tiny_lm.train_ids,
        TrainConfig(steps=80, batch_size=16, context=64, lr=3e-3, warmup=10, eval_every=0),
        progress=False,
    )
    ids = _prompt_ids(tok)
    assert S.generate(model, ids, 80) == S.generate_naive(model, ids, 80)


def test_custom_module_uses_the_no_cache_path(tiny_lm):
    custom = Unwrapped(tiny_lm.model)
    ids = _prompt_ids(tiny_lm.tokenizer)
    expected = S.generate_naive(tiny_lm.model, ids, 40)
    assert S.generate(custom, ids, 40, context=64) == expected
    with pytest.raises(ValueError, match="context"):
        S.generate(custom, ids, 5)  # a custom module without .context needs context=


def test_stop_tokens_and_sampling(tiny_lm):
    tok, model = tiny_lm.tokenizer, tiny_lm.model
    ids = _prompt_ids(tok)
    newline = tok.encode("\n")[0]
    full = S.generate_naive(model, ids, 60)
    stopped = S.generate(model, ids, 60, stop_ids=[newline])
    for f, s in zip(full, stopped, strict=True):
        cut = f.index(newline) if newline in f else len(f)
        assert s == f[:cut]
    a = S.generate(model, ids, 30, temperature=1.0, seed=3)
    b = S.generate(model, ids, 30, temperature=1.0, seed=3)
    c = S.generate(model, ids, 30, temperature=1.0, seed=4)
    assert a == b and a != c
    assert S.generate(model, ids, 30, temperature=1.0, top_k=1, seed=5) == [o[:30] for o in full]
    assert S.generate(model, ids, 0) == [[] for _ in ids]
