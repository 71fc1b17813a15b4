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


def pairwise_hits(judge: Callable[[int, int], int], target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The judge on every unordered pair (a < b) with different targets, asked once each.

    Returns ``(hit, judged)``: symmetric n x n matrices; ``judged[a, b]`` marks a pair with
    different targets, ``hit[a, b]`` that the judge ordered it like ``target``.
    """
    n = len(target)
    hit = np.zeros((n, n), bool)
    judged = np.zeros((n, n), bool)
    for a in range(n):
        for b in range(a + 1, n):
            if target[a] == target[b]:
                continue
            w = judge(a, b)
            hit[a, b] = hit[b, a] = (w == a) == (target[a] > target[b])
            judged[a, b] = judged[b, a] = True
    return hit, judged


def pairwise_accuracy(judge: Callable[[int, int], int], target: np.ndarray) -> float:
    """Fraction of unordered pairs with different targets that the judge orders like ``target``."""
    hit, judged = pairwise_hits(judge, target)
    n = int(np.triu(judged, 1).sum())
    return float(np.triu(hit & judged, 1).sum() / n) if n else float("nan")


def bootstrap_pairwise_accuracy(
    folds: Sequence[tuple[np.ndarray, np.ndarray]], n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """Bootstrap replicates of the fold-averaged pairwise accuracy, resampling **ideas** within each fold.

    Pairs that share an idea are not independent, so the unit resampled is the idea: a replicate
    draws each fold's ideas with replacement and scores the judged pairs among the drawn positions
    (two copies of one idea have equal targets and are never a pair). ``folds`` holds each fold's
    ``(hit, judged)`` from :func:`pairwise_hits`.
    """
    reps = np.empty(n_boot)
    for r in range(n_boot):
        accs = []
        for hit, judged in folds:
            idx = rng.integers(0, len(hit), len(hit))
            upper = np.triu(np.ones((len(idx), len(idx)), bool), 1)
            j = judged[np.ix_(idx, idx)] & upper
            accs.append(hit[np.ix_(idx, idx)][j].mean() if j.any() else np.nan)
        reps[r] = np.nanmean(accs)
    return reps
