"""Scoring (evaluation) of models following the toolkit contract.

* per-token losses, the mean held-out loss and the per-position loss curve (mean loss
  at each position of the context; the TTT paper's Fig. 2/8 diagnostic of whether a
  model keeps using long context);
* bits per byte, token-weighted over a set of documents:
  ``BPB = total nats / (ln 2 * total UTF-8 bytes)``; tokenizer-independent, so models
  with different vocabularies compare (pplcorr's per-domain metric, The Pile's BPB);
* continuation log-likelihood for multiple-choice scoring (sum and mean log-prob of the
  continuation given the prompt, as in lm-evaluation-harness ``loglikelihood``);
* next-token and per-token log-probabilities (with top-k alternatives).

Sampling (generation) lives in :mod:`repro.common.lm.sampling`.

All functions run under ``torch.no_grad`` in eval mode and restore the module's mode.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# ---------------------------------------------------------------------------------------
# Helpers


def model_device(model: nn.Module) -> torch.device:
    """Device of the model's first parameter (CPU for parameter-free modules)."""
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def model_context(model: nn.Module, default: int | None = None) -> int | None:
    """The model's maximum sequence length: ``model.context`` if it has one, else ``default``."""
    ctx = getattr(model, "context", None)
    if isinstance(ctx, int) and ctx > 0:
        return ctx
    return default


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def _need_context(model: nn.Module, context: int | None) -> int:
    ctx = context or model_context(model)
    if not ctx:
        raise ValueError("pass context=...: the model does not expose its maximum sequence length")
    return int(ctx)


# ---------------------------------------------------------------------------------------
# Losses on token arrays


def window_losses(model: nn.Module, windows: torch.Tensor) -> torch.Tensor:
    """Per-token losses (nats) of windows ``[B, T+1]``: entry ``[b, t]`` is
    ``-log p(w[b, t+1] | w[b, :t+1])``; shape ``[B, T]``."""
    with _eval_mode(model):
        windows = windows.to(model_device(model))
        logits = model(windows[:, :-1]).float()
        return F.cross_entropy(logits.transpose(1, 2), windows[:, 1:], reduction="none").cpu()


def strided_windows(tokens: np.ndarray, context: int, max_windows: int | None = None) -> np.ndarray:
    """Non-overlapping windows of ``context + 1`` tokens from the start of ``tokens``.

    With ``max_windows``, an evenly spaced subset (deterministic, no seed needed), so a
    held-out set is covered uniformly rather than only its beginning.
    """
    starts = np.arange(0, len(tokens) - context, context)
    if len(starts) == 0:
        raise ValueError(f"need more than context={context} tokens, have {len(tokens)}")
    if max_windows is not None and len(starts) > max_windows:
        starts = starts[np.linspace(0, len(starts) - 1, max_windows).round().astype(int)]
    idx = starts[:, None] + np.arange(context + 1)[None, :]
    return np.asarray(tokens[idx], dtype=np.int64)


def _window_loss_matrix(
    model: nn.Module, tokens: np.ndarray, context: int, max_windows: int | None, batch_size: int
) -> np.ndarray:
    windows = torch.from_numpy(strided_windows(tokens, context, max_windows))
    out = [window_losses(model, windows[i : i + batch_size]) for i in range(0, len(windows), batch_size)]
    return torch.cat(out).numpy()


def mean_loss(
    model: nn.Module,
    tokens: np.ndarray,
    context: int | None = None,
    *,
    max_windows: int | None = None,
    batch_size: int = 16,
) -> float:
    """Mean next-token loss (nats) over non-overlapping windows of a token array."""
    ctx = _need_context(model, context)
    return float(_window_loss_matrix(model, tokens, ctx, max_windows, batch_size).mean())


def position_loss_curve(
    model: nn.Module,
    tokens: np.ndarray,
    context: int | None = None,
    *,
    max_windows: int | None = 256,
    batch_size: int = 16,
) -> np.ndarray:
    """Mean loss at each position ``t = 0 .. context-1`` over held-out windows.

    Entry ``t`` is the loss of predicting the ``(t+2)``-th token of a window from the
    ``t+1`` before it; a curve that keeps falling with ``t`` means the model uses long
    context (TTT, Sun et al. 2024, Fig. 2).
    """
    ctx = _need_context(model, context)
    return _window_loss_matrix(model, tokens, ctx, max_windows, batch_size).mean(axis=0)


# ---------------------------------------------------------------------------------------
# Scoring token sequences (documents, continuations)


def _score_sequences(model: nn.Module, seqs: Sequence[Sequence[int]], batch_size: int) -> list[np.ndarray]:
    """Log-prob of each next token for each sequence (length ``len(seq) - 1`` each).

    Sequences are right-padded into batches: with causal attention, padding after the
    last real token cannot change the logits of real positions, so no mask is needed
    and any contract-following module works.
    """
    device = model_device(model)
    out: list[np.ndarray] = [np.zeros(0)] * len(seqs)
    order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))  # less padding per batch
    with _eval_mode(model):
        for b in range(0, len(order), batch_size):
            idx = order[b : b + batch_size]
            width = max(len(seqs[i]) for i in idx)
            if width < 2:
                for i in idx:
                    out[i] = np.zeros(0)
                continue
            batch = torch.zeros(len(idx), width, dtype=torch.long)
            for r, i in enumerate(idx):
                batch[r, : len(seqs[i])] = torch.as_tensor(seqs[i], dtype=torch.long)
            batch = batch.to(device)
            logits = model(batch[:, :-1]).float()
            lp = -F.cross_entropy(logits.transpose(1, 2), batch[:, 1:], reduction="none").cpu().numpy()
            for r, i in enumerate(idx):
                out[i] = lp[r, : len(seqs[i]) - 1].astype(np.float64)
    return out


@dataclass(frozen=True)
class DocScore:
    """Negative log-likelihood of one text: total nats, number of tokens and UTF-8 bytes."""

    nats: float
    tokens: int
    bytes: int

    @property
    def loss(self) -> float:
        """Mean nats per token."""
        return self.nats / self.tokens if self.tokens else float("nan")

    @property
    def bpb(self) -> float:
        """Bits per UTF-8 byte."""
        return self.nats / (math.log(2) * self.bytes) if self.bytes else float("nan")


def document_scores(
    model: nn.Module,
    tokenizer,
    texts: Sequence[str],
    context: int | None = None,
    *,
    batch_size: int = 16,
) -> list[DocScore]:
    """Score every token of each text, each text starting after an EOS token.

    A text longer than the context is cut into consecutive blocks; block ``k`` is the
    input ``s[k*C : (k+1)*C]`` of the sequence ``s = [EOS] + ids`` and predicts the next
    ``C`` tokens, so every token is scored exactly once with between 1 and ``C`` tokens
    of context (the non-overlapping scheme; cheaper than a sliding window, slightly
    pessimistic at block starts).
    """
    ctx = _need_context(model, context)
    encoded = tokenizer.encode_batch(list(texts))
    pieces: list[list[int]] = []
    owner: list[int] = []
    for d, ids in enumerate(encoded):
        seq = [tokenizer.eos_id, *ids]
        for start in range(0, max(1, len(seq) - 1), ctx):
            pieces.append(seq[start : start + ctx + 1])
            owner.append(d)
    scored = _score_sequences(model, pieces, batch_size)
    nats = np.zeros(len(texts))
    for d, lp in zip(owner, scored, strict=True):
        nats[d] -= lp.sum()
    return [
        DocScore(nats=float(nats[d]), tokens=len(encoded[d]), bytes=len(t.encode("utf-8"))) for d, t in enumerate(texts)
    ]


def bits_per_byte(
    model: nn.Module,
    tokenizer,
    texts: Sequence[str],
    context: int | None = None,
    *,
    batch_size: int = 16,
) -> float:
    """Token-weighted bits per byte over ``texts``: ``sum nats / (ln 2 * sum bytes)``.

    Pooling before dividing weights each document by its length (not an average of
    per-document BPBs), as in The Pile (Gao et al. 2020, Sec. 5) and pplcorr.
    """
    scores = document_scores(model, tokenizer, texts, context, batch_size=batch_size)
    total_bytes = sum(s.bytes for s in scores)
    if total_bytes == 0:
        raise ValueError("no bytes to score")
    return sum(s.nats for s in scores) / (math.log(2) * total_bytes)


@dataclass(frozen=True)
class ContinuationScore:
    """Log-likelihood of a continuation given a prompt (natural log)."""

    sum_logprob: float
    n_tokens: int
    is_greedy: bool  # every continuation token is the argmax given what precedes it

    @property
    def mean_logprob(self) -> float:
        return self.sum_logprob / self.n_tokens if self.n_tokens else float("nan")


def score_continuations_ids(
    model: nn.Module,
    requests: Sequence[tuple[Sequence[int], Sequence[int]]],
    context: int | None = None,
    *,
    batch_size: int = 16,
) -> list[ContinuationScore]:
    """Token-level continuation scoring: ``requests`` are ``(prompt_ids, continuation_ids)``.

    The prompt is left-truncated so that prompt + continuation fit the context (the
    continuation is never truncated; one longer than the context is an error).
    An empty prompt must be given as ``[eos_id]`` by the caller.
    """
    ctx = _need_context(model, context)
    seqs, plens = [], []
    for prompt, cont in requests:
        if not prompt:
            raise ValueError("empty prompt: pass [eos_id] so the first token has a context")
        if len(cont) > ctx:
            raise ValueError(f"continuation of {len(cont)} tokens exceeds the context {ctx}")
        keep = max(1, ctx + 1 - len(cont))
        prompt = list(prompt)[-keep:]
        seqs.append([*prompt, *cont])
        plens.append(len(prompt))
    device = model_device(model)
    out: list[ContinuationScore] = []
    with _eval_mode(model):
        for b in range(0, len(seqs), batch_size):
            chunk = seqs[b : b + batch_size]
            width = max(len(s) for s in chunk)
            batch = torch.zeros(len(chunk), width, dtype=torch.long)
            for r, s in enumerate(chunk):
                batch[r, : len(s)] = torch.as_tensor(s)
            logits = model(batch[:, :-1].to(device)).float().cpu()
            logp = torch.log_softmax(logits, dim=-1)
            for r, s in enumerate(chunk):
                p = plens[b + r]
                targets = torch.as_tensor(s[p:])
                rows = logp[r, p - 1 : len(s) - 1]
                lp = rows.gather(1, targets[:, None]).squeeze(1)
                greedy = bool((rows.argmax(-1) == targets).all()) if len(targets) else True
                out.append(ContinuationScore(float(lp.double().sum()), len(targets), greedy))
    return out


def continuation_logprobs(
    model: nn.Module,
    tokenizer,
    prompt: str,
    continuations: Sequence[str],
    context: int | None = None,
    *,
    batch_size: int = 16,
) -> list[ContinuationScore]:
    """Score each continuation given ``prompt`` (multiple-choice scoring).

    Prompt and continuation are tokenised separately and concatenated, so the
    continuation's tokens are exactly its own (lm-evaluation-harness convention; put
    the separating space at the start of the continuation, e.g. ``" Paris"``).
    """
    p_ids = tokenizer.encode(prompt) if prompt else []
    p_ids = [tokenizer.eos_id, *p_ids] if not p_ids else p_ids
    reqs = [(p_ids, tokenizer.encode(c)) for c in continuations]
    return score_continuations_ids(model, reqs, context, batch_size=batch_size)


def next_token_logprobs(model: nn.Module, prompts: Sequence[Sequence[int]], context: int | None = None) -> torch.Tensor:
    """Log-probabilities ``[B, V]`` of the token following each (non-empty) prompt."""
    ctx = _need_context(model, context)
    out = []
    with _eval_mode(model):
        for p in prompts:
            ids = torch.as_tensor(list(p)[-ctx:], dtype=torch.long)[None].to(model_device(model))
            out.append(torch.log_softmax(model(ids)[0, -1].float(), dim=-1).cpu())
    return torch.stack(out)


def token_logprobs(
    model: nn.Module, ids: Sequence[int], context: int | None = None, *, top_k: int = 0
) -> tuple[list[float], list[list[tuple[int, float]]]]:
    """Log-prob of each token ``ids[1:]`` given its prefix, and the ``top_k`` alternatives.

    Used by the OpenAI-compatible server for ``logprobs``/``echo``; sequences longer
    than the context are scored block by block like :func:`document_scores`.
    """
    ctx = _need_context(model, context)
    ids = list(ids)
    lps: list[float] = []
    tops: list[list[tuple[int, float]]] = []
    with _eval_mode(model):
        for start in range(0, max(1, len(ids) - 1), ctx):
            block = ids[start : start + ctx + 1]
            if len(block) < 2:
                break
            x = torch.as_tensor(block, dtype=torch.long)[None].to(model_device(model))
            logp = torch.log_softmax(model(x[:, :-1])[0].float(), dim=-1).cpu()
            tgt = torch.as_tensor(block[1:])
            lps.extend(logp.gather(1, tgt[:, None]).squeeze(1).tolist())
            if top_k > 0:
                v, i = logp.topk(min(top_k, logp.shape[-1]), dim=-1)
                tops.extend([list(zip(ii.tolist(), vv.tolist(), strict=True)) for vv, ii in zip(v, i, strict=True)])
    return lps, tops


__all__ = [
    "ContinuationScore",
    "DocScore",
    "bits_per_byte",
    "continuation_logprobs",
    "document_scores",
    "mean_loss",
    "model_context",
    "model_device",
    "next_token_logprobs",
    "position_loss_curve",
    "score_continuations_ids",
    "strided_windows",
    "token_logprobs",
    "window_losses",
]
