"""Scoring: losses, bits per byte, continuation scoring, token log-probs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from repro.common.lm import evaluate as E
from repro.common.lm import sampling as S


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
    greedy = S.generate_naive(model, [tok.encode(prompt)], 3)[0]
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
