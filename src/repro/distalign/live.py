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
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from repro.common.llm.base import LLM
from repro.distalign.data import Question
from repro.distalign.metrics import parse_logprobs, parse_sequence, parse_verbalized, tv

__all__ = ["OUTPUT_TYPE", "PROMPT_DIR", "TASK", "format_answer", "build_prompt", "ask", "score"]

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


def ask(
    llm: LLM, prompts: Sequence[str], method: str, temperature: float, top_logprobs: int, system_prompt: str
) -> list[object]:
    """One call per prompt: chat replies for V/Seq, first-token top log-probs for Log-p."""
    if method == "logprobs":
        return [llm.top_logprobs(p, top_logprobs) for p in prompts]
    max_tokens = 200 if method == "verbalize" else 100
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
