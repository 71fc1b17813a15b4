"""Paper scale: query live models with the paper's prompts and score them (Sec. 3; dry-run here).

The prompt of one (question, group, method, steering) is the released formatting block of
that dataset and output type (``inputs/<dataset>/<output_type>/prompt_task<k>.txt`` of the
authors' repository: worked examples of the answer format), then the steering text, then the
question with lettered options and ``Answer:``. The steering wording paraphrases Sec. 3.1
(the authors' exact strings are in their code, which is not copied): persona names the
group; few-shot shows k similar questions with the group's true distribution rendered in the
requested format. Answers are parsed by :mod:`repro.distalign.metrics` with the strict
verbalized policy (parse failures counted with their reason).

Any :class:`repro.common.llm.LLM` works: ``openai`` (OpenAI, Anthropic's OpenAI-compatible
endpoint, a vLLM server), ``hf`` (Llama-3-70B-Instruct on a GPU), ``tiny``, or a stub in tests.
:func:`backend_params` builds a model's backend block; its ``mode`` picks the endpoint, since
OpenAI serves a chat model (every model of the paper) on ``/chat/completions`` only: Log-p of
a chat model is ``logprobs: true, top_logprobs: 20`` there (the API's cap is 20), never
``/completions`` (a 404 for chat models; at most 5 log-probs for completion models).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from repro.common.llm.base import LLM
from repro.distalign.config import LiveModel
from repro.distalign.data import Question
from repro.distalign.metrics import parse_logprobs, parse_sequence, parse_verbalized, tv

__all__ = ["OUTPUT_TYPE", "PROMPT_DIR", "TASK", "format_answer", "build_prompt", "backend_params", "ask", "score"]

OUTPUT_TYPE = {"verbalize": "express_distribution", "sequence": "sequence", "logprobs": "model_logprobs"}
PROMPT_DIR = {"opinionqa": "opinion_surveys", "nytimes": "nytimes", "globalvalues": "globalvalues"}
TASK = {"none": 0, "persona": 1, "fewshot": 2}  # prompt_task<k>.txt of the release
_ASK = {
    "verbalize": "Give the distribution of answers as a JSON dict from option letter to percentage.",
    "sequence": "Simulate 30 people answering: reply with a sequence of 30 option letters, nothing else.",
    "logprobs": "Reply with the letter of one option.",
}


def format_answer(method: str, p: np.ndarray, rng: np.random.Generator, n_samples: int = 30) -> str:
    """A few-shot answer in the method's format (V: percentages; Seq: 30 samples; Log-p: one sample)."""
    letters = [chr(65 + i) for i in range(len(p))]
    if method == "verbalize":
        return "{" + ", ".join(f"'{k}': '{round(100 * x)}%'" for k, x in zip(letters, p)) + "}"
    draws = rng.choice(letters, size=n_samples if method == "sequence" else 1, p=p / p.sum())
    return "".join(draws)


def _question_block(q: Question) -> str:
    opts = "\n".join(f"{k}. {o}" for k, o in zip(q.letters, q.options))
    return f"Question: {q.text}\n{opts}"


def build_prompt(
    block: str, q: Question, method: str, steering: str, shots: Sequence[Question], rng: np.random.Generator
) -> str:
    """The full user prompt for one request (see the module docstring)."""
    parts = [block.strip(), ""]
    who = "people" if steering == "none" else f"people in the group '{q.group}'"
    if steering == "fewshot":
        parts.append(f"Here is how {who} answered similar questions:")
        for s in shots:
            parts.append(f"{_question_block(s)}\nAnswer: {format_answer(method, s.p, rng)}\n")
    elif steering == "persona":
        parts.append(f"Answer as the group '{q.group}' would, reflecting how its members are divided.")
    parts.append(f"{_question_block(q)}\n{_ASK[method]}\nAnswer:")
    return "\n".join(parts)


def backend_params(m: LiveModel, cache: str) -> dict[str, object]:
    """The :func:`repro.common.llm.from_params` block of one model.

    For ``openai``, ``mode`` becomes the backend's endpoint (``chat`` or ``completions``), so
    :meth:`~repro.common.llm.LLM.top_logprobs` of a chat model asks ``/chat/completions`` for
    ``logprobs: true, top_logprobs: k``. ``hf`` runs in process and has no endpoint.
    """
    opts: dict[str, object] = {"backend": m.backend, "model": m.model, "cache": cache}
    if m.backend == "openai":
        opts["api_key_env"] = m.api_key_env
        opts["mode"] = "chat" if m.mode == "chat" else "completions"
        if m.base_url:
            opts["base_url"] = m.base_url
    return opts


def ask(
    llm: LLM,
    prompts: Sequence[str],
    method: str,
    temperature: float,
    top_logprobs: int,
    system_prompt: str,
    mode: str = "chat",
) -> list[object]:
    """One call per prompt: replies for V/Seq, first-token top log-probs for Log-p (Sec. 3.2).

    ``mode="chat"``: V/Seq as a system + user conversation; ``"completion"``: as a continuation
    of the prompt text alone (a base model has no roles). Log-p always sends the prompt alone
    (as a user message when the backend is in chat mode); see :func:`backend_params`.
    """
    if method == "logprobs":
        return [llm.top_logprobs(p, top_logprobs) for p in prompts]
    max_tokens = 200 if method == "verbalize" else 100
    if mode == "completion":
        return [llm.generate([p], n=1, temperature=temperature, max_tokens=max_tokens)[0][0] for p in prompts]
    return [
        llm.chat(
            [{"role": "system", "content": system_prompt}, {"role": "user", "content": p}],
            n=1,
            temperature=temperature,
            max_tokens=max_tokens,
        )[0]
        for p in prompts
    ]


def score(questions: Sequence[Question], answers: Sequence[object], method: str) -> tuple[np.ndarray, Counter]:
    """Per-question TVs (NaN = parse failure) and the failure reasons."""
    tvs, fails = [], Counter()
    for q, a in zip(questions, answers, strict=True):
        if method == "logprobs":
            parsed = parse_logprobs(a if isinstance(a, Mapping) else {}, q.letters)
        elif method == "sequence":
            parsed = parse_sequence(str(a), q.letters)
        else:
            parsed = parse_verbalized(str(a), q.letters)
        if not parsed.ok:
            fails[parsed.failure] += 1
        tvs.append(tv(parsed.p, q.p) if parsed.ok else np.nan)
    return np.array(tvs), fails
