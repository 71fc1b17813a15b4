"""Sampling from models following the toolkit contract.

Batched sampling (greedy, temperature, top-k, stop tokens) with a KV cache for Hugging
Face models (:class:`~repro.common.lm.models.HFCausalLM`) and a cache-free fallback for
custom modules, plus the naive reference loop it must agree with. Scoring (losses, bits
per byte, log-probs) lives in :mod:`repro.common.lm.evaluate`.

All functions run under ``torch.no_grad`` in eval mode and restore the module's mode.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

# One implementation of the device/context/eval-mode helpers, shared with scoring.
from repro.common.lm.evaluate import _eval_mode, _need_context, model_device


def _row_generators(seed: int, sample_ids: Sequence[int]) -> list[torch.Generator]:
    """One torch generator per row, seeded from ``(seed, sample_id)`` via numpy's SeedSequence."""
    gens = []
    for sid in sample_ids:
        state = np.random.SeedSequence([int(seed), int(sid)]).generate_state(2, dtype=np.uint32)
        gens.append(torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1])))
    return gens


def _pick(
    logits: torch.Tensor, temperature: float, top_k: int | None, generators: Sequence[torch.Generator] | None
) -> torch.Tensor:
    """Next token for each row of ``logits [B, V]`` (greedy when temperature == 0).

    Each row draws from its own generator, so a row's sample does not depend on which
    other rows share the batch.
    """
    logits = logits.float()
    if temperature <= 0.0:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if top_k is not None and top_k > 0 and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1).cpu()
    assert generators is not None and len(generators) == probs.shape[0]
    picks = [torch.multinomial(probs[r], 1, generator=g) for r, g in enumerate(generators)]
    return torch.cat(picks).to(logits.device)


def _truncate(prompt: Sequence[int], keep: int) -> list[int]:
    if len(prompt) == 0:
        raise ValueError("empty prompt: start it with the EOS token")
    return list(prompt)[-keep:]


def generate(
    model: nn.Module,
    prompts: Sequence[Sequence[int]],
    max_new_tokens: int,
    *,
    temperature: float = 0.0,
    top_k: int | None = None,
    stop_ids: Sequence[int] = (),
    seed: int = 0,
    sample_ids: Sequence[int] | None = None,
    context: int | None = None,
    use_cache: bool = True,
    batch_size: int = 64,
    pad_id: int = 0,
) -> list[list[int]]:
    """Sample continuations of token-id prompts; returns the new ids of each prompt.

    Greedy when ``temperature == 0``, else softmax sampling at ``temperature``
    restricted to the ``top_k`` most likely tokens (if given). Row ``r`` draws from its
    own ``torch.Generator`` seeded with ``(seed, sample_ids[r])`` (default
    ``sample_ids[r] = r``), so its sample depends on its prompt and those two numbers
    only, not on the other rows of the batch. A row stops at its first stop id (which
    is not returned) or after ``max_new_tokens``.

    HF models (:class:`~repro.common.lm.models.HFCausalLM`) decode a whole left-padded batch with the KV cache
    (one token per row per forward pass). Any module may opt in the same way by setting
    ``supports_kv_cache = True`` and providing ``step`` and ``forward_padded`` with the
    signatures of :class:`~repro.common.lm.models.HFCausalLM`. Other modules, or ``use_cache=False``, run a
    full forward each step (no cache), batching prompts of equal length so that no
    padding is needed. Once a sequence fills the context, decoding continues on the
    last ``context`` tokens (sliding window), as nanoGPT does.
    """
    if max_new_tokens <= 0:
        return [[] for _ in prompts]
    ctx = _need_context(model, context)
    stop = set(int(s) for s in stop_ids)
    if sample_ids is None:
        sample_ids = range(len(prompts))
    if len(sample_ids) != len(prompts):
        raise ValueError("sample_ids must have one entry per prompt")
    gens = _row_generators(seed, sample_ids) if temperature > 0 else None
    trimmed = [_truncate(p, ctx) for p in prompts]
    results: list[list[int]] = [[] for _ in prompts]
    with _eval_mode(model):
        if use_cache and getattr(model, "supports_kv_cache", False):
            order = sorted(range(len(trimmed)), key=lambda i: len(trimmed[i]))  # less padding
            for b in range(0, len(order), batch_size):
                idx = order[b : b + batch_size]
                outs = _generate_cached(
                    model,
                    [trimmed[i] for i in idx],
                    max_new_tokens,
                    temperature,
                    top_k,
                    stop,
                    _take(gens, idx),
                    ctx,
                    pad_id,
                )
                for i, o in zip(idx, outs, strict=True):
                    results[i] = o
        else:
            groups: dict[int, list[int]] = {}
            for i, p in enumerate(trimmed):
                groups.setdefault(len(p), []).append(i)
            for _, idx_all in sorted(groups.items()):
                for b in range(0, len(idx_all), batch_size):
                    idx = idx_all[b : b + batch_size]
                    outs = _generate_nocache(
                        model,
                        [trimmed[i] for i in idx],
                        max_new_tokens,
                        temperature,
                        top_k,
                        stop,
                        _take(gens, idx),
                        ctx,
                    )
                    for i, o in zip(idx, outs, strict=True):
                        results[i] = o
    return results


def _take(gens: list[torch.Generator] | None, idx: Sequence[int]) -> list[torch.Generator] | None:
    return None if gens is None else [gens[i] for i in idx]


def _generate_nocache(model, prompts, max_new, temperature, top_k, stop, gen, ctx) -> list[list[int]]:
    # All prompts have the same length: one unpadded batch, full forward every step.
    device = model_device(model)
    seq = torch.as_tensor(prompts, dtype=torch.long, device=device)
    done = torch.zeros(len(prompts), dtype=torch.bool, device=device)
    new: list[torch.Tensor] = []
    for _ in range(max_new):
        logits = model(seq[:, -ctx:])[:, -1]
        nxt = _pick(logits, temperature, top_k, gen)
        new.append(nxt)
        if stop:
            done |= torch.isin(nxt, torch.as_tensor(sorted(stop), device=device))
            if bool(done.all()):
                break
        seq = torch.cat([seq, nxt[:, None]], dim=1)
    return _collect(new, stop)


def _generate_cached(model: nn.Module, prompts, max_new, temperature, top_k, stop, gen, ctx, pad_id):
    device = model_device(model)
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for r, p in enumerate(prompts):  # left padding keeps every row's last token aligned
        ids[r, width - len(p) :] = torch.as_tensor(p)
        mask[r, width - len(p) :] = 1
    ids, mask = ids.to(device), mask.to(device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    done = torch.zeros(len(prompts), dtype=torch.bool, device=device)
    stop_t = torch.as_tensor(sorted(stop), device=device) if stop else None
    new: list[torch.Tensor] = []
    logits, cache = model.step(ids, mask, positions, None)
    logits = logits[:, -1]
    for t in range(max_new):
        nxt = _pick(logits, temperature, top_k, gen)
        new.append(nxt)
        if stop_t is not None:
            done |= torch.isin(nxt, stop_t)
            if bool(done.all()):
                break
        if t == max_new - 1:
            break
        ids = torch.cat([ids, nxt[:, None]], dim=1)
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        positions = positions[:, -1:] + 1
        if ids.shape[1] <= ctx:
            logits, cache = model.step(nxt[:, None], mask, positions, cache)
            logits = logits[:, -1]
        else:
            # Past the context: no position beyond it exists, so slide a window over the
            # last ctx tokens and recompute without the cache.
            cache = None
            logits = model.forward_padded(ids[:, -ctx:], mask[:, -ctx:])[:, -1]
    return _collect(new, stop)


def _collect(new: list[torch.Tensor], stop: set[int]) -> list[list[int]]:
    if not new:
        return []
    mat = torch.stack(new, dim=1).cpu().tolist()
    out = []
    for row in mat:
        cut = next((j for j, tok in enumerate(row) if tok in stop), len(row))
        out.append(row[:cut])
    return out


def generate_naive(
    model: nn.Module,
    prompts: Sequence[Sequence[int]],
    max_new_tokens: int,
    *,
    stop_ids: Sequence[int] = (),
    context: int | None = None,
) -> list[list[int]]:
    """Reference greedy decoding: one prompt at a time, a full forward per token, no cache.

    What :func:`generate` must reproduce under greedy decoding (tests) and beat in
    speed (``benchmarks/lm_sampling.py``).
    """
    ctx = _need_context(model, context)
    stop = set(int(s) for s in stop_ids)
    device = model_device(model)
    out = []
    with _eval_mode(model):
        for p in prompts:
            seq = _truncate(p, ctx)
            new: list[int] = []
            for _ in range(max_new_tokens):
                x = torch.as_tensor(seq[-ctx:], dtype=torch.long, device=device)[None]
                tok = int(model(x)[0, -1].argmax())
                if tok in stop:
                    break
                new.append(tok)
                seq.append(tok)
            out.append(new)
    return out


__all__ = ["generate", "generate_naive"]
