"""Reference predictors and the human baseline (paper Sec. 4, Fig. 2 "simulated" and "human" rows).

* uniform: 1/K on every option;
* floor30: the TV of a perfect simulator that reports the empirical distribution of 30
  samples from the truth (mean over ``reps`` draws) - what Seq can at best reach;
* fewshot_avg: the mean of the same group's true distributions over up to ``k`` similar
  questions with the same number of options (the information the few-shot prompt carries);
  the similar questions come from the released similarity lists, excluding the evaluated
  questions themselves (held-out safe); uniform when none is left;
* human: the released per-question TVs of the annotators' averaged estimates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from repro.distalign.data import Question
from repro.distalign.metrics import sample_floor, tv

__all__ = ["uniform_tvs", "floor_tvs", "fewshot_average_tvs"]


def uniform_tvs(questions: Sequence[Question]) -> np.ndarray:
    """TV of the uniform distribution to each question's truth."""
    return np.array([tv(np.full(len(q.p), 1.0 / len(q.p)), q.p) for q in questions])


def floor_tvs(questions: Sequence[Question], n_samples: int, reps: int, rng: np.random.Generator) -> np.ndarray:
    """The 30-sample floor per question (mean over ``reps`` multinomial draws)."""
    return np.array([sample_floor(q.p, n_samples, reps, rng) for q in questions])


def fewshot_average_tvs(
    questions: Sequence[Question],
    pool: Sequence[Question],
    similar: Mapping[str, Sequence[str]],
    k: int,
    exclude: set[str],
) -> np.ndarray:
    """TV of the few-shot average (see module docstring) per question."""
    by_key = {(q.qid, q.group): q for q in pool}
    out = []
    for q in questions:
        shots = []
        for sid in similar.get(q.qid, []):
            if sid == q.qid or sid in exclude:
                continue
            s = by_key.get((sid, q.group))
            if s is not None and len(s.p) == len(q.p):
                shots.append(s.p)
            if len(shots) == k:
                break
        pred = np.mean(shots, axis=0) if shots else np.full(len(q.p), 1.0 / len(q.p))
        out.append(tv(pred, q.p))
    return np.array(out)
