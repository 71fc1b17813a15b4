"""Evaluation and sampling: losses, bits per byte, continuation scoring, KV-cache decoding."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from repro.common.lm import evaluate as E
from repro.common.lm.models import ModelConfig, build_model
from repro.common.lm.trainer import TrainConfig, train

PROMPTS = ["ROMEO:\nI", "First Citizen:\nWe are accounted poor", "KING", "O",
           "What say you, my lord? I have heard that the king", "\n"]


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
    fast = E.generate(tiny_lm.model, ids, 100)
    slow = E.generate_naive(tiny_lm.model, ids, 100)
    assert fast == slow
    assert all(len(o) == 100 for o in fast)
    assert len({tuple(o[:20]) for o in fast}) > 2  # a trained model, not a constant output
    assert E.generate(tiny_lm.model, ids, 100, use_cache=False) == slow
    assert E.generate(tiny_lm.model, ids, 30, batch_size=2) == [o[:30] for o in slow]


def test_greedy_llama_kv_cache_equals_naive(tiny_lm):
    tok = tiny_lm.tokenizer
    cfg = ModelConfig(arch="llama", n_layer=2, n_head=4, d_model=64, context=64, vocab_size=tok.vocab_size)
    model = build_model(cfg, seed=0)
    train(model, tiny_lm.train_ids, TrainConfig(steps=80, batch_size=16, context=64, lr=3e-3, warmup=10,
                                                eval_every=0), progress=False)
    ids = _prompt_ids(tok)
    assert E.generate(model, ids, 80) == E.generate_naive(model, ids, 80)


def test_custom_module_uses_the_no_cache_path(tiny_lm):
    custom = Unwrapped(tiny_lm.model)
    ids = _prompt_ids(tiny_lm.tokenizer)
    expected = E.generate_naive(tiny_lm.model, ids, 40)
    assert E.generate(custom, ids, 40, context=64) == expected
    with pytest.raises(ValueError, match="context"):
        E.generate(custom, ids, 5)  # a custom module without .context needs context=


def test_stop_tokens_and_sampling(tiny_lm):
    tok, model = tiny_lm.tokenizer, tiny_lm.model
    ids = _prompt_ids(tok)
    newline = tok.encode("\n")[0]
    full = E.generate_naive(model, ids, 60)
    stopped = E.generate(model, ids, 60, stop_ids=[newline])
    for f, s in zip(full, stopped, strict=True):
        cut = f.index(newline) if newline in f else len(f)
        assert s == f[:cut]
    a = E.generate(model, ids, 30, temperature=1.0, seed=3)
    b = E.generate(model, ids, 30, temperature=1.0, seed=3)
    c = E.generate(model, ids, 30, temperature=1.0, seed=4)
    assert a == b and a != c
    assert E.generate(model, ids, 30, temperature=1.0, top_k=1, seed=5) == [o[:30] for o in full]
    assert E.generate(model, ids, 0) == [[] for _ in ids]


def test_losses_curve_and_bits_per_byte(tiny_lm):
    model, tok = tiny_lm.model, tiny_lm.tokenizer
    held = tiny_lm.heldout_ids
    curve = E.position_loss_curve(model, held, max_windows=64)
    assert curve.shape == (64,)
    loss = E.mean_loss(model, held, max_windows=64)
    assert loss == pytest.approx(curve.mean(), rel=1e-5)
    # Every position beats the context-free (unigram) predictor. (This 300-step model is
    # close to a bigram model, so the curve is nearly flat; no claim about its slope.)
    assert np.all(curve < tiny_lm.unigram_entropy)
    texts = tiny_lm.heldout_texts[:3]
    scores = E.document_scores(model, tok, texts)
    for t, s in zip(texts, scores, strict=True):
        assert s.bytes == len(t.encode()) and s.tokens == len(tok.encode(t))
        assert s.bpb == pytest.approx(s.nats / (math.log(2) * s.bytes))
    bpb = E.bits_per_byte(model, tok, texts)
    assert bpb == pytest.approx(sum(s.nats for s in scores) / (math.log(2) * sum(s.bytes for s in scores)))
    # Block-wise document scoring equals the per-token window losses on the same blocks.
    ids = [tok.eos_id, *tok.encode(texts[0])][: 64 + 1]
    direct = E.window_losses(model, torch.as_tensor([ids])).sum().item()
    assert E.document_scores(model, tok, [tok.decode(ids[1:])])[0].nats == pytest.approx(direct, rel=1e-4)


def test_continuation_logprobs_match_a_manual_forward(tiny_lm):
    model, tok = tiny_lm.model, tiny_lm.tokenizer
    prompt, conts = "ROMEO:\nI will", [" go", " not be", " xqzj"]
    scores = E.continuation_logprobs(model, tok, prompt, conts)
    for c, s in zip(conts, scores, strict=True):
        p_ids, c_ids = tok.encode(prompt), tok.encode(c)
        x = torch.as_tensor([p_ids + c_ids])
        with torch.no_grad():
            logp = torch.log_softmax(model(x)[0].float(), -1)
        manual = sum(logp[len(p_ids) - 1 + i, t].item() for i, t in enumerate(c_ids))
        assert s.sum_logprob == pytest.approx(manual, abs=1e-4)
        assert s.n_tokens == len(c_ids) and s.mean_logprob == pytest.approx(manual / len(c_ids), abs=1e-4)
    assert scores[0].sum_logprob > scores[2].sum_logprob
    # The greedy continuation is flagged as such.
    greedy = E.generate_naive(model, [tok.encode(prompt)], 3)[0]
    assert E.score_continuations_ids(model, [(tok.encode(prompt), greedy)])[0].is_greedy


def test_token_and_next_token_logprobs_agree(tiny_lm):
    model, tok = tiny_lm.model, tiny_lm.tokenizer
    ids = tok.encode("First Citizen:\nBefore we proceed any further, hear me speak.")
    lps, tops = E.token_logprobs(model, ids, top_k=3)
    assert len(lps) == len(ids) - 1 and len(tops) == len(ids) - 1
    nxt = E.next_token_logprobs(model, [ids[:5]])[0]
    assert lps[4] == pytest.approx(nxt[ids[5]].item(), abs=1e-5)
    assert tops[4][0][1] == pytest.approx(nxt.max().item(), abs=1e-5)
    assert np.all(np.diff([v for _, v in tops[4]]) <= 0)
