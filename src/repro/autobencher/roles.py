"""The roles of the AutoBencher loop (Sec. 3; notes Sec. 4 "Search loop" steps 1-5).

Every role has an LLM implementation that goes through :mod:`repro.common.llm` with a prompt
written after the paper (paper scale), and a transparent stand-in for the synthetic world of
the tiny tier (no instruction-following LM exists offline):

=================  =====================================  ==========================================
role               paper scale (LLM backend)              tiny tier (synthetic world)
=================  =====================================  ==========================================
proposer           :class:`LLMProposer` (JSON categories)  :class:`BanditProposer` / random choice
question writer    :class:`LLMQuestionWriter` (page text)  :func:`questions_from_facts` (fact table)
no-privileged QA   LLM without the page                   :func:`questions_from_beliefs` (writer LM)
test-taker         ``generate`` (short answer)            :func:`answer_multiple_choice` (log-lik.)
judge              :class:`LLMJudge` ("## true/false")    :func:`judge_exact` (normalised + aliases)
=================  =====================================  ==========================================
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from repro.autobencher.world import World, question_prompt
from repro.common.llm.base import LLM

__all__ = [
    "JUDGE_PROMPT",
    "PROPOSER_PROMPT",
    "TEST_TAKER_PROMPT",
    "WRITER_PROMPT",
    "BanditProposer",
    "Category",
    "LLMJudge",
    "LLMProposer",
    "LLMQuestionWriter",
    "Question",
    "answer_multiple_choice",
    "extract_json_list",
    "judge_exact",
    "option_logprobs",
    "questions_from_beliefs",
    "questions_from_facts",
]


@dataclass(frozen=True)
class Category:
    """A proposed category (the proposer's JSON fields)."""

    category: str
    parent_category: str
    additional_requirement: str = ""


@dataclass(frozen=True)
class Question:
    """A generated question: cloze prompt, four options, the writer's gold and the world's truth."""

    qid: str
    topic: str
    prompt: str
    options: tuple[str, ...]
    gold: str
    truth: str


# --- question writers (tiny) ------------------------------------------------------------------


def _options(world: World, relation: str, gold: str, truth: str, rng: np.random.Generator) -> tuple[str, ...]:
    keep = [gold] + ([truth] if truth != gold else [])
    pool = [v for v in world.values[relation] if v not in keep]
    opts = keep + list(rng.choice(pool, size=4 - len(keep), replace=False))
    return tuple(str(o) for o in rng.permutation(opts))


def questions_from_facts(world: World, topic: str, seed: int) -> list[Question]:
    """Privileged information: one question per fact row of the topic's page, gold = the fact."""
    rng = np.random.default_rng([seed, 17, *map(ord, topic)])
    out = []
    for i, f in enumerate(world.facts_of(topic)):
        out.append(
            Question(
                f"{topic}-{i}",
                topic,
                question_prompt(f.entity, f.relation),
                _options(world, f.relation, f.value, f.value, rng),
                f.value,
                f.value,
            )
        )
    return out


def questions_from_beliefs(world: World, topic: str, writer: LLM, seed: int) -> list[Question]:
    """No privileged information: the writer model answers its own questions from memory.

    The gold is the writer's most likely value among the relation's vocabulary; it is wrong
    whenever the writer's belief differs from the fact table (``gold != truth``).
    """
    rng = np.random.default_rng([seed, 19, *map(ord, topic)])
    facts = world.facts_of(topic)
    lps = option_logprobs(writer, [(question_prompt(f.entity, f.relation), world.values[f.relation]) for f in facts])
    out = []
    for i, (f, lp) in enumerate(zip(facts, lps, strict=True)):
        vals = list(world.values[f.relation])
        prompt = question_prompt(f.entity, f.relation)
        gold = vals[int(np.argmax(lp))]
        out.append(
            Question(f"{topic}-{i}", topic, prompt, _options(world, f.relation, gold, f.value, rng), gold, f.value)
        )
    return out


# --- test-taker and judge ---------------------------------------------------------------------


def option_logprobs(model: LLM, items: Sequence[tuple[str, Sequence[str]]]) -> list[list[float]]:
    """Log-likelihood of each option (``" " + option``) after each prompt, for many questions at once.

    A local model (the ``tiny``/``hf`` backends) is scored in large batches with the toolkit's
    continuation scorer (the same numbers as ``model.logprobs``, one forward pass per batch);
    any other backend is asked question by question through :meth:`LLM.logprobs`.
    """
    from repro.common.llm.local import LocalLM

    if not isinstance(model, LocalLM):
        return [list(model.logprobs(p, [" " + o for o in opts])) for p, opts in items]
    from repro.common.lm.evaluate import score_continuations_ids

    reqs, sizes = [], []
    for p, opts in items:
        pid = model.prompt_ids(p)
        reqs.extend((pid, model.encode_text(" " + o)) for o in opts)
        sizes.append(len(opts))
    with model._lock:
        scores = score_continuations_ids(model.module, reqs, model.context, batch_size=256)
    out, i = [], 0
    for n in sizes:
        out.append([s.sum_logprob for s in scores[i : i + n]])
        i += n
    return out


def answer_multiple_choice(model: LLM, questions: Sequence[Question]) -> list[str]:
    """The test-taker's answers: for each question, the option with the highest log-likelihood."""
    lps = option_logprobs(model, [(q.prompt, q.options) for q in questions])
    return [q.options[int(np.argmax(lp))] for q, lp in zip(questions, lps, strict=True)]


_ARTICLES = re.compile(r"\b(a|an|the)\b")


def _normalise(s: str) -> str:
    s = re.sub(r"[^\w\s]", " ", s.lower())
    return " ".join(_ARTICLES.sub(" ", s).split())


def judge_exact(prediction: str, gold: str, aliases: Mapping[str, Sequence[str]] | None = None) -> bool:
    """Lenient exact match: normalised strings (case, punctuation, articles) or a listed alias of the gold."""
    p, g = _normalise(prediction), _normalise(gold)
    if p == g:
        return True
    return any(_normalise(a) == p for a in (aliases or {}).get(gold, ()))


# --- proposers --------------------------------------------------------------------------------


class BanditProposer:
    """Adaptive search over the topic tree (UCB over subdomains; notes Sec. 6.6).

    The paper's proposer LM reads the history of (category, accuracy) and proposes new
    categories expected to score well; here the arms are the subdomains of the domain, an
    arm's value is the mean objective of its explored topics, and ``propose`` returns
    unexplored topics of the arms with the highest upper confidence bound.
    """

    def __init__(self, arms: Mapping[str, Sequence[str]], exploration: float, seed: int) -> None:
        self.arms = {a: list(ts) for a, ts in arms.items()}
        self.c = exploration
        self.rng = np.random.default_rng(seed)
        self.rewards: dict[str, list[float]] = {a: [] for a in self.arms}

    def update(self, arm: str, reward: float) -> None:
        self.rewards[arm].append(float(reward))

    def _ucb(self, arm: str, t: int) -> float:
        r = self.rewards[arm]
        if not r:
            return math.inf
        return float(np.mean(r)) + self.c * math.sqrt(math.log(max(t, 2)) / len(r))

    def propose(self, n: int, explored: set[str]) -> list[str]:
        t = 1 + sum(len(r) for r in self.rewards.values())
        order = sorted(self.arms, key=lambda a: (-self._ucb(a, t), self.rng.random()))
        out: list[str] = []
        for a in order:
            free = [x for x in self.arms[a] if x not in explored and x not in out]
            self.rng.shuffle(free)
            out.extend(free[: n - len(out)])
            if len(out) >= n:
                break
        return out


# --- LLM roles (paper scale) ------------------------------------------------------------------

PROPOSER_PROMPT = """You are building a benchmark of {domain} questions that are salient (well-known topics), \
novel and difficult for current language models.
Categories explored so far and the test-taker's accuracy on each:
{history}
Propose {n} new Wikipedia categories (different from the explored ones) for which the accuracy is likely \
in the range {acc_target}. Output a JSON list of objects with the keys "category", "parent_category" and \
"additional_requirement"."""

WRITER_PROMPT = """Here is a passage from the Wikipedia page "{category}":
{paragraphs}
Write {n} concise, non-subjective question-answer pairs about this material that can be answered without \
seeing the passage. {requirement}
Output a JSON list of objects with the keys "question" and "answer"."""

TEST_TAKER_PROMPT = "Output just with the final answer to the question.\nQuestion: {question}\nAnswer:"

JUDGE_PROMPT = """Compare the model's answer with the gold answer. Be lenient with formatting and \
paraphrases, strict with facts.
Question: {question}
Gold answer: {gold}
Model answer: {prediction}
Explain briefly, then end with "## true" if the model's answer is correct and "## false" otherwise."""


def extract_json_list(text: str) -> list[dict]:
    """The first JSON list of objects in an LLM reply (fenced or bare); [] if none parses."""
    for m in re.finditer(r"\[", text):
        depth = 0
        for j in range(m.start(), len(text)):
            depth += {"[": 1, "]": -1}.get(text[j], 0)
            if depth == 0:
                try:
                    val = json.loads(text[m.start() : j + 1])
                except json.JSONDecodeError:
                    break
                if isinstance(val, list) and all(isinstance(v, dict) for v in val):
                    return val
                break
    return []


class LLMProposer:
    """The paper's proposer: history of accuracies in, JSON categories out (T = 0)."""

    def __init__(self, llm: LLM, domain: str, acc_target: str = "0.1--0.3") -> None:
        self.llm, self.domain, self.acc_target = llm, domain, acc_target

    def propose(self, n: int, history: Mapping[str, float]) -> list[Category]:
        hist = "\n".join(f"- {c}: {a:.2f}" for c, a in history.items()) or "(none yet)"
        prompt = PROPOSER_PROMPT.format(domain=self.domain, history=hist, n=n, acc_target=self.acc_target)
        reply = self.llm.chat([{"role": "user", "content": prompt}], temperature=0.0, max_tokens=1024)[0]
        out = []
        for d in extract_json_list(reply):
            if "category" in d and d["category"] not in history:
                out.append(
                    Category(
                        str(d["category"]), str(d.get("parent_category", "")), str(d.get("additional_requirement", ""))
                    )
                )
        return out[:n]


class LLMQuestionWriter:
    """The paper's question writer: paragraphs of the page (privileged information) in, QA pairs out."""

    def __init__(self, llm: LLM, n_per_block: int = 15) -> None:
        self.llm, self.n = llm, n_per_block

    def write(self, category: Category, paragraphs: Sequence[str]) -> list[tuple[str, str]]:
        req = f"Requirement: {category.additional_requirement}." if category.additional_requirement else ""
        prompt = WRITER_PROMPT.format(
            category=category.category, paragraphs="\n".join(paragraphs), n=self.n, requirement=req
        )
        reply = self.llm.chat([{"role": "user", "content": prompt}], temperature=0.0, max_tokens=2048)[0]
        return [
            (str(d["question"]), str(d["answer"]))
            for d in extract_json_list(reply)
            if "question" in d and "answer" in d
        ]


class LLMJudge:
    """The paper's judge: a lenient comparison whose output ends with ``## true`` or ``## false``."""

    def __init__(self, llm: LLM) -> None:
        self.llm = llm

    def __call__(self, question: str, prediction: str, gold: str) -> bool:
        prompt = JUDGE_PROMPT.format(question=question, gold=gold, prediction=prediction)
        reply = self.llm.chat([{"role": "user", "content": prompt}], temperature=0.0, max_tokens=256)[0]
        m = re.findall(r"##\s*(true|false)", reply.lower())
        return bool(m) and m[-1] == "true"
