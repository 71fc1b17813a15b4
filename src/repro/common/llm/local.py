"""The :class:`LLM` interface over an in-process torch model (shared by ``tiny`` and ``hf``).

Generation goes through :mod:`repro.common.lm.sampling`, continuation scoring and
next-token distributions through :mod:`repro.common.lm.evaluate`, so a model behaves
identically whether a paper calls the toolkit directly, through this interface, or over
HTTP via :mod:`repro.common.llm.serve`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

from repro.common.llm.base import LLM, Message, check_sampling, cut_at_stop, render_chat
from repro.common.lm import evaluate as ev
from repro.common.lm import sampling


class LocalLM(LLM):
    """A contract-following torch module plus its tokenizer functions.

    ``encode_prompt`` may add special tokens (e.g. Llama's BOS); ``encode_text`` must
    not (it encodes continuations). ``decode`` drops special tokens. Generation stops
    at any id in ``stop_ids`` (EOS); stop *strings* are applied to the decoded text.
    Calls are serialised with a lock (torch modules are not re-entrant under threads).
    """

    def __init__(
        self,
        module: nn.Module,
        *,
        encode_prompt: Callable[[str], list[int]],
        encode_text: Callable[[str], list[int]],
        decode: Callable[[Sequence[int]], str],
        eos_id: int,
        stop_ids: Sequence[int] = (),
        context: int,
        model_name: str,
        chat_template: Callable[[Sequence[Message]], str] | None = None,
        top_k: int | None = None,
        batch_size: int = 32,
    ) -> None:
        self.module = module.eval()
        self.encode_prompt = encode_prompt
        self.encode_text = encode_text
        self.decode = decode
        self.eos_id = int(eos_id)
        self.stop_ids = sorted({self.eos_id, *map(int, stop_ids)})
        self.context = int(context)
        self.model = model_name
        self.chat_template = chat_template
        self.top_k = top_k
        self.batch_size = batch_size
        self._lock = threading.Lock()

    # -- token-level API (used by the server) -------------------------------------------

    def prompt_ids(self, prompt: str) -> list[int]:
        """Prompt token ids; an empty prompt becomes ``[EOS]`` (a document start)."""
        ids = self.encode_prompt(prompt)
        return ids if ids else [self.eos_id]

    def chat_prompt_ids(self, messages: Sequence[Message]) -> list[int]:
        """Token ids of a conversation rendered for generation of the assistant's reply."""
        if self.chat_template is not None:
            # The rendered template already holds any special tokens as text.
            return self.encode_text(self.chat_template(messages)) or [self.eos_id]
        return self.prompt_ids(render_chat(messages))

    def generate_ids(
        self,
        prompt_ids: Sequence[Sequence[int]],
        *,
        n: int = 1,
        temperature: float = 0.0,
        max_tokens: int = 256,
        seed: int | None = None,
        top_k: int | None = None,
    ) -> list[list[list[int]]]:
        """``n`` sampled id continuations per prompt (``seed=None`` means seed 0;
        ``top_k=None`` uses the backend's ``top_k``)."""
        rows = [list(p) for p in prompt_ids for _ in range(n)]
        # Sample j of a prompt draws from the stream (seed, j) whatever else is in the
        # batch, so cached and uncached, batched and single calls give the same samples.
        sample_ids = [j for _ in prompt_ids for j in range(n)]
        with self._lock:
            out = sampling.generate(
                self.module,
                rows,
                max_tokens,
                temperature=temperature,
                top_k=self.top_k if top_k is None else top_k,
                stop_ids=self.stop_ids,
                seed=0 if seed is None else int(seed),
                sample_ids=sample_ids,
                context=self.context,
                batch_size=self.batch_size,
            )
        return [out[i * n : (i + 1) * n] for i in range(len(prompt_ids))]

    def score_ids(self, ids: Sequence[int], top_k: int = 0) -> tuple[list[float], list[list[tuple[int, float]]]]:
        """Log-prob of each of ``ids[1:]`` given its prefix, and top-k alternatives."""
        with self._lock:
            return ev.token_logprobs(self.module, ids, self.context, top_k=top_k)

    # -- LLM interface ---------------------------------------------------------------------

    def generate(self, prompts, n=1, temperature=0.0, max_tokens=256, stop=None, seed=None):
        check_sampling(n, temperature, max_tokens)
        ids = self.generate_ids(
            [self.prompt_ids(p) for p in prompts], n=n, temperature=temperature, max_tokens=max_tokens, seed=seed
        )
        return [[cut_at_stop(self.decode(o), stop) for o in outs] for outs in ids]

    def chat(self, messages, n=1, temperature=0.0, max_tokens=256, stop=None, seed=None):
        check_sampling(n, temperature, max_tokens)
        ids = self.chat_prompt_ids(messages)
        out = self.generate_ids([ids], n=n, temperature=temperature, max_tokens=max_tokens, seed=seed)[0]
        replies = [cut_at_stop(self.decode(o), stop) for o in out]
        # The plain template ends in "Assistant:", so replies start with the space after it.
        return replies if self.chat_template is not None else [r.lstrip() for r in replies]

    def logprobs(self, prompt: str, continuations: Sequence[str]) -> list[float]:
        p = self.prompt_ids(prompt)
        reqs = [(p, self.encode_text(c)) for c in continuations]
        for c, (_, ids) in zip(continuations, reqs, strict=True):
            if not ids:
                raise ValueError(f"continuation {c!r} encodes to no tokens")
        with self._lock:
            scores = ev.score_continuations_ids(self.module, reqs, self.context, batch_size=self.batch_size)
        return [s.sum_logprob for s in scores]

    def top_logprobs(self, prompt: str, k: int) -> dict[str, float]:
        """Top-``k`` next tokens as decoded strings.

        Distinct ids that decode to the same string (e.g. partial UTF-8 bytes, shown
        as U+FFFD) are merged by adding their probabilities, so values stay
        log-probabilities of disjoint events.
        """
        with self._lock:
            logp = ev.next_token_logprobs(self.module, [self.prompt_ids(prompt)], self.context)[0]
        values, ids = logp.topk(min(k, logp.shape[-1]))
        out: dict[str, float] = {}
        for v, i in zip(values.tolist(), ids.tolist(), strict=True):
            s = self.decode([i])
            out[s] = float(v) if s not in out else float(math.log(math.exp(out[s]) + math.exp(v)))
        return out

    def describe(self) -> dict[str, Any]:
        return {"backend": self.backend, "model": self.model}


__all__ = ["LocalLM"]
