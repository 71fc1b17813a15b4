"""Token-by-token decoding for the OpenAI-compatible server (no HTTP here).

:class:`Decoder` advances the ``n`` samples of one prompt one token per call, so the
server can stream each token as it is produced and stop as soon as the client is
gone. It draws from the same per-sample random streams as
:func:`repro.common.lm.sampling.generate` (sample ``j`` of a prompt from ``(seed, j)``)
and picks tokens with the same function, so a streamed, a non-streamed and an
in-process (:class:`~repro.common.llm.local.LocalLM`) generation agree.

:class:`RowText` turns a sample's tokens into text deltas: stop strings are applied
to the decoded text (text that could still become a stop string, and incomplete
UTF-8, is held back), and every kept token is reported once with its offset, so the
streamed deltas concatenate to exactly the non-streamed reply.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from repro.common.llm.local import LocalLM
from repro.common.lm import evaluate as ev
from repro.common.lm import sampling as smp


class Cancelled(RuntimeError):
    """The client went away; decoding stopped."""


@dataclass(frozen=True)
class Token:
    """One generated (or echoed) token as reported in ``logprobs``."""

    id: int
    text: str  # the token's own text; special tokens (EOS) by name, e.g. "<|endoftext|>"
    logprob: float | None  # None for the first prompt token (no context)
    top: tuple[tuple[int, float], ...]  # (id, logprob) alternatives, most likely first
    offset: int  # character offset of the token in the returned text
    special: bool = False  # a stop id (EOS): reported in logprobs, absent from the text


class ModelRunner:
    """A :class:`LocalLM` plus the one lock that serialises its forward passes.

    Requests interleave: each decoding step takes the lock for one forward pass, so a
    long generation does not block other requests for its whole duration.
    """

    def __init__(self, llm: LocalLM) -> None:
        self.llm = llm
        self.module = llm.module
        self.lock = threading.Lock()
        self.context = int(llm.context)
        with self.lock, torch.no_grad():
            dev = ev.model_device(self.module)
            self.vocab_size = int(self.module(torch.tensor([[llm.eos_id]], device=dev)).shape[-1])
        self.kv = bool(getattr(self.module, "supports_kv_cache", False))
        tok = getattr(llm, "tokenizer", None)
        self._raw_decode = getattr(tok, "decode", None)  # keeps special tokens (tiny and HF)
        self._piece: dict[int, str] = {}

    def piece(self, tid: int) -> str:
        """The text of one token id, special tokens included (for ``logprobs`` only)."""
        s = self._piece.get(tid)
        if s is None:
            s = self.llm.decode([tid])
            if not s and self._raw_decode is not None:
                try:
                    s = str(self._raw_decode([tid]))
                except Exception:  # noqa: BLE001 - purely cosmetic
                    s = ""
            self._piece[tid] = s
        return s

    def score(self, ids: Sequence[int], top_k: int) -> tuple[list[float], list[list[tuple[int, float]]]]:
        """``LocalLM.score_ids`` under the server's lock."""
        with self.lock:
            return self.llm.score_ids(list(ids), top_k=top_k)


@dataclass
class Step:
    """What one row produced in one decoding step."""

    token: int
    logprob: float
    top: tuple[tuple[int, float], ...]
    stop: bool  # the token is a stop id (EOS)


def _nucleus(logits: torch.Tensor, temperature: float, top_p: float) -> torch.Tensor:
    """Mask tokens outside the ``top_p`` nucleus of the tempered distribution."""
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    sorted_p, order = probs.sort(dim=-1, descending=True)
    drop_sorted = sorted_p.cumsum(-1) - sorted_p >= top_p  # keeps at least the top token
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


@dataclass
class Decoder:
    """Decode ``n`` samples of one prompt, one token per :meth:`advance` call."""

    runner: ModelRunner
    prompt: list[int]
    n: int
    max_tokens: int
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float = 1.0
    seed: int | None = None
    n_top: int = 0  # alternatives to report per token
    steps_done: int = 0
    done: list[bool] = field(default_factory=list)
    _state: tuple | None = None

    def __post_init__(self) -> None:
        self.done = [self.max_tokens <= 0] * self.n
        llm = self.runner.llm
        self._top_k = llm.top_k if self.top_k is None else self.top_k
        self._gens = (
            smp._row_generators(0 if self.seed is None else int(self.seed), range(self.n))
            if self.temperature > 0
            else None
        )

    @property
    def finished(self) -> bool:
        return all(self.done)

    def _logits(self) -> torch.Tensor:
        m, ctx = self.runner.module, self.runner.context
        if self._state is None:
            dev = ev.model_device(m)
            ids = torch.as_tensor([self.prompt] * self.n, dtype=torch.long, device=dev)[:, -ctx:]
            if self.runner.kv:
                mask = torch.ones_like(ids)
                pos = (mask.cumsum(-1) - 1).clamp(min=0)
                logits, cache = m.step(ids, mask, pos, None)
                self._state = (ids, mask, pos, cache)
            else:
                logits = m(ids)
                self._state = (ids, None, None, None)
            return logits[:, -1]
        return self._next_logits

    def advance(self) -> list[Step | None]:
        """One decoding step: a :class:`Step` per row, ``None`` for rows already done."""
        if self.finished:
            return [None] * self.n
        with self.runner.lock, torch.no_grad():
            logits = self._logits()
            pick_logits = logits
            if self.temperature > 0 and self.top_p < 1.0:
                pick_logits = _nucleus(logits, self.temperature, self.top_p)
            nxt = smp._pick(pick_logits, self.temperature, self._top_k, self._gens)
            logp = torch.log_softmax(logits.float(), dim=-1)
            chosen = logp.gather(1, nxt[:, None]).squeeze(1).cpu().tolist()
            if self.n_top > 0:
                tv, ti = logp.topk(min(self.n_top, logp.shape[-1]), dim=-1)
                tops = [
                    tuple(zip(i.tolist(), v.tolist(), strict=True)) for v, i in zip(tv.cpu(), ti.cpu(), strict=True)
                ]
            else:
                tops = [()] * self.n
            toks = nxt.cpu().tolist()
            self.steps_done += 1
            out: list[Step | None] = []
            for r in range(self.n):
                if self.done[r]:
                    out.append(None)
                    continue
                is_stop = toks[r] in self.runner.llm.stop_ids
                out.append(Step(int(toks[r]), float(chosen[r]), tops[r], is_stop))
                if is_stop or self.steps_done >= self.max_tokens:
                    self.done[r] = True
            if not self.finished:
                self._feed(nxt)
        return out

    def _feed(self, nxt: torch.Tensor) -> None:
        m, ctx = self.runner.module, self.runner.context
        ids, mask, pos, cache = self._state
        ids = torch.cat([ids, nxt[:, None]], dim=1)
        if self.runner.kv:
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            pos = pos[:, -1:] + 1
            if ids.shape[1] <= ctx:
                logits, cache = m.step(nxt[:, None], mask, pos, cache)
            else:  # past the context: slide a window, as repro.common.lm.sampling.generate does
                cache = None
                logits = m.forward_padded(ids[:, -ctx:], mask[:, -ctx:])
        else:
            logits = m(ids[:, -ctx:])
        self._state = (ids, mask, pos, cache)
        self._next_logits = logits[:, -1]


def _held_back(text: str, stops: Sequence[str]) -> int:
    """Characters at the end of ``text`` that may still begin a stop string (or are an
    incomplete UTF-8 sequence, decoded as U+FFFD)."""
    hold = 0
    for s in stops:
        for k in range(min(len(s) - 1, len(text)), hold, -1):
            if text.endswith(s[:k]):
                hold = k
                break
    trail = len(text) - len(text.rstrip("\ufffd"))
    return max(hold, trail)


@dataclass
class Delta:
    """New text and newly committed tokens of one row after a step."""

    text: str
    tokens: list[Token]
    finish_reason: str | None = None


class RowText:
    """Text assembly for one sample: stop strings, held-back text, token offsets.

    ``base`` is added to every token offset (the echoed prompt's length).
    """

    def __init__(self, runner: ModelRunner, stops: Sequence[str], *, base: int = 0, strip_lead: bool = False):
        self.runner = runner
        self.stops = [s for s in stops if s]
        self.base = base
        self.strip_lead = strip_lead  # chat without a template: drop the space after "Assistant:"
        self.ids: list[int] = []
        self.steps: list[Step] = []
        self.starts: list[int] = []  # character start of each generated token in the full decode
        self.sent = 0  # characters of the (stripped) text already emitted
        self.sent_tokens = 0
        self.finish_reason: str | None = None
        self.eos: Step | None = None
        self._last = ""  # decode of self.ids

    def _text(self) -> str:
        return self.runner.llm.decode(self.ids)

    def _emit(self, text: str, upto_char: int, all_tokens: bool) -> Delta:
        lead = len(text) - len(text.lstrip()) if self.strip_lead else 0
        visible = text[lead:]
        limit = min(upto_char, len(text)) - lead
        new_text = visible[self.sent : max(self.sent, limit)]
        self.sent = max(self.sent, limit)
        toks: list[Token] = []
        while self.sent_tokens < len(self.steps):
            k = self.sent_tokens
            if not all_tokens and self.starts[k] >= upto_char:
                break
            st = self.steps[k]
            toks.append(
                Token(
                    st.token, self.runner.piece(st.token), st.logprob, st.top, self.base + max(0, self.starts[k] - lead)
                )
            )
            self.sent_tokens += 1
        return Delta(new_text, toks)

    def push(self, step: Step | None, *, last: bool) -> Delta:
        """Add one step (``None``: the row had already finished); ``last``: no more steps follow."""
        if step is None or self.finish_reason is not None:
            return Delta("", [])
        if step.stop:
            delta = self._emit(self._last, 1 << 62, all_tokens=True)
            eos = Token(
                step.token,
                self.runner.piece(step.token),
                step.logprob,
                step.top,
                self.base + max(self.sent, 0),
                special=True,
            )
            self.eos = step
            delta.tokens.append(eos)
            delta.finish_reason = self.finish_reason = "stop"
            return delta
        self.starts.append(len(self._last))
        self.ids.append(step.token)
        self.steps.append(step)
        # Full decode each step (exact for every tokenizer; O(length) per step).
        text = self._last = self._text()
        cut = min((i for i in (text.find(s) for s in self.stops) if i != -1), default=-1)
        if cut != -1:
            # Keep the tokens that start before the cut (their text is cut at the stop string).
            self.steps = [s for s, a in zip(self.steps, self.starts, strict=True) if a < cut]
            self.starts = self.starts[: len(self.steps)]
            self.ids = self.ids[: len(self.steps)]
            self._last = self._text()
            delta = self._emit(text[:cut], cut, all_tokens=True)
            delta.finish_reason = self.finish_reason = "stop"
            return delta
        if last:
            delta = self._emit(text, len(text), all_tokens=True)
            delta.finish_reason = self.finish_reason = "length"
            return delta
        return self._emit(text, len(text) - _held_back(text, self.stops), all_tokens=False)

    @property
    def n_tokens(self) -> int:
        """Generated tokens kept (the stop id included, as vLLM counts them)."""
        return len(self.steps) + (self.eos is not None)


__all__ = ["Cancelled", "Decoder", "Delta", "ModelRunner", "RowText", "Step", "Token"]
