"""Swiss-system tournament ranking of ideas (paper Sec. 3.3, "Idea ranking").

All ideas start with score 1; each round they are shuffled, sorted by score, and
neighbours are paired; the judge's pick of each pair gets +1 and an unpaired idea gets
+1; after ``rounds`` rounds (5 in the paper) scores lie in 1..rounds+1.

Judges:
- :class:`LLMJudge`: the paper's zero-shot pairwise judge through an LLM backend (paper scale).
- :class:`ProxyJudge`: **an offline proxy, not the paper's LLM judge**: logistic regression
  on the difference of two ideas' MiniLM title embeddings, trained on pairs of *training*
  ideas labelled by which has the higher mean human overall score (released reviews).
- :class:`RandomJudge`: the sanity floor (a fair coin).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

Judge = Callable[[int, int], int]  # (a, b) -> the winner (a or b)


def swiss_tournament(n_items: int, judge: Judge, rounds: int, rng: np.random.Generator) -> np.ndarray:
    """Scores after ``rounds`` Swiss rounds (start 1; +1 per win; +1 for the odd one out)."""
    if rounds < 1:
        raise ValueError("rounds must be >= 1")
    scores = np.ones(n_items, int)
    for _ in range(rounds):
        order = rng.permutation(n_items)
        order = order[np.argsort(-scores[order], kind="stable")]
        for k in range(0, n_items - 1, 2):
            a, b = int(order[k]), int(order[k + 1])
            w = judge(a, b)
            if w not in (a, b):
                raise ValueError(f"judge returned {w}, not one of the pair ({a}, {b})")
            scores[w] += 1
        if n_items % 2:
            scores[int(order[-1])] += 1
    return scores


def pair_data(emb: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every ordered pair (i, j) with different targets: features e_i - e_j, label [t_i > t_j]."""
    i, j = np.where(~np.eye(len(emb), dtype=bool))
    keep = target[i] != target[j]
    i, j = i[keep], j[keep]
    return emb[i] - emb[j], (target[i] > target[j]).astype(int)


@dataclass
class ProxyJudge:
    """Pairwise logistic judge on embedding differences (an offline proxy; see module doc)."""

    emb: np.ndarray  # embeddings of the ideas it judges (rows = item ids of the tournament)
    coef: np.ndarray  # fitted weights (no intercept: the judge is antisymmetric)

    @classmethod
    def fit(cls, train_emb: np.ndarray, train_target: np.ndarray, emb: np.ndarray, c: float) -> ProxyJudge:
        from sklearn.linear_model import LogisticRegression

        x, y = pair_data(train_emb, train_target)
        if len(set(y)) < 2:
            raise ValueError("ProxyJudge.fit: training ideas need at least two distinct scores")
        lr = LogisticRegression(C=c, fit_intercept=False, max_iter=2000)
        lr.fit(x, y)
        return cls(emb=emb, coef=lr.coef_.ravel())

    def margin(self, a: int, b: int) -> float:
        return float((self.emb[a] - self.emb[b]) @ self.coef)

    def __call__(self, a: int, b: int) -> int:
        return a if self.margin(a, b) >= 0 else b


@dataclass
class RandomJudge:
    """The floor: picks either idea with probability 1/2."""

    rng: np.random.Generator

    def __call__(self, a: int, b: int) -> int:
        return a if self.rng.random() < 0.5 else b


JUDGE_PROMPT = (
    "You are a reviewer for a top AI conference. Below are two project proposals; one of them was accepted "
    "at the conference and the other was rejected. Which one was accepted? Answer 1 or 2.\n\n"
    "Proposal 1:\n{a}\n\nProposal 2:\n{b}\n\nAnswer:"
)


@dataclass
class LLMJudge:
    """The paper's zero-shot pairwise judge through an LLM backend (answers '1' or '2').

    Both orders are asked; a disagreement is broken in favour of the first idea. An
    unparsable answer raises ValueError naming the reply.
    """

    llm: object
    texts: Sequence[str]
    max_tokens: int = 5

    def _ask(self, a: int, b: int) -> int:
        reply = self.llm.generate(
            [JUDGE_PROMPT.format(a=self.texts[a], b=self.texts[b])],
            n=1,  # type: ignore[attr-defined]
            temperature=0.0,
            max_tokens=self.max_tokens,
        )[0][0]
        m = re.search(r"[12]", reply)
        if m is None:
            raise ValueError(f"LLMJudge: reply {reply!r} has no 1 or 2")
        return a if m.group(0) == "1" else b

    def __call__(self, a: int, b: int) -> int:
        first, second = self._ask(a, b), self._ask(b, a)
        return first if first == second else a


def pairwise_accuracy(judge: Callable[[int, int], int], target: np.ndarray) -> float:
    """Fraction of unordered pairs with different targets that the judge orders like ``target``."""
    hits, n = 0, 0
    for a in range(len(target)):
        for b in range(a + 1, len(target)):
            if target[a] == target[b]:
                continue
            w = judge(a, b)
            hits += int((w == a) == (target[a] > target[b]))
            n += 1
    return hits / n if n else float("nan")
