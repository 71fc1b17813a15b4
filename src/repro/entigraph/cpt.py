"""Continued pretraining (Sec. 4) and question answering (Sec. 4.2, Sec. 5) with the shared LM toolkit.

* CPT corpora at a token budget (the x-axis of Fig. 2): EntiGraph documents shuffled and truncated (the
  authors' ``subsample_ratio``), the raw articles repeated, the rephrasings repeated; each mixed with replay
  of generic text at rate ``replay_rate`` (the paper: 10% RedPajama), trained for ``epochs`` passes.
* Closed-book QA by option log-likelihood (mean token log-prob of each option given the question prompt):
  chain-of-thought parsing is meaningless for a from-scratch tiny LM.
* Open-book QA (Sec. 5): the top-``k`` source sentences by TF-IDF similarity to the question are put before
  the question (the paper retrieves with OpenAI embeddings and a Cohere reranker).
* Count-based floor: the option whose text occurs most often in the run's CPT corpus (ties share credit).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from repro.common.lm.evaluate import score_continuations_ids
from repro.entigraph.generator import SyntheticDoc
from repro.entigraph.world import Article, Question

__all__ = [
    "CorpusBudgetError",
    "Retriever",
    "count_floor_accuracy",
    "cpt_steps",
    "domain_tokens",
    "mix_replay",
    "option_accuracy",
    "split_sentences",
]


class CorpusBudgetError(ValueError):
    """A CPT corpus has fewer tokens than the budget asked of it."""


def _encode(tokenizer, texts: Sequence[str]) -> list[np.ndarray]:
    eos = tokenizer.eos_id
    return [np.asarray([*ids, eos], dtype=np.int64) for ids in tokenizer.encode_batch(list(texts))]


def domain_tokens(
    method: str,
    budget: int,
    tokenizer,
    articles: Sequence[Article],
    entigraph: Sequence[SyntheticDoc],
    rephrase: Sequence[SyntheticDoc],
    seed: int,
) -> tuple[np.ndarray, str]:
    """The first ``budget`` tokens of a method's CPT stream (EOS after each document) and its text.

    ``entigraph``: the synthetic documents in one seeded shuffle, truncated (a budget above the corpus is an
    error: the corpus is not repeated). ``raw``: the articles, repeated in a fresh seeded order each pass.
    ``rephrase``: the rephrasings, repeated likewise. The text is what the count-based floor counts in.
    """
    rng = np.random.default_rng(seed)
    if method == "entigraph":
        docs = [d.text for d in entigraph]
        order = rng.permutation(len(docs))
        pieces = _encode(tokenizer, [docs[i] for i in order])
        total = sum(len(p) for p in pieces)
        if total < budget:
            raise CorpusBudgetError(
                f"the EntiGraph corpus has {total} tokens, fewer than the budget {budget}: lower the largest "
                "tiny.budgets entry or generate more (generation.max_triples, world.n_articles)"
            )
        texts, order_used = [], []
        taken = 0
        for i, p in zip(order, pieces):
            order_used.append(p)
            texts.append(docs[i])
            taken += len(p)
            if taken >= budget:
                break
        return np.concatenate(order_used)[:budget], "\n".join(texts)
    if method in ("raw", "rephrase"):
        docs = [a.text for a in articles] if method == "raw" else [d.text for d in rephrase]
        if not docs:
            raise CorpusBudgetError(f"no {method} documents")
        pieces = _encode(tokenizer, docs)
        out, texts, taken = [], [], 0
        while taken < budget:
            for i in rng.permutation(len(docs)):
                out.append(pieces[i])
                texts.append(docs[i])
                taken += len(pieces[i])
                if taken >= budget:
                    break
        return np.concatenate(out)[:budget], "\n".join(texts)
    raise ValueError(f"unknown CPT method {method!r}: raw, rephrase or entigraph")


def mix_replay(domain: np.ndarray, replay_pool: np.ndarray, replay_rate: float, seed: int) -> np.ndarray:
    """Domain tokens plus a contiguous slice of generic text so that replay is ``replay_rate`` of the mix.

    The trainer draws random windows from the flat array, so a window mostly comes from one source (like
    the authors' 2048-token blocks that are EntiGraph or replay).
    """
    if not 0.0 <= replay_rate < 1.0:
        raise ValueError(f"replay_rate must be in [0, 1), got {replay_rate}")
    n_replay = int(round(len(domain) * replay_rate / (1.0 - replay_rate)))
    if n_replay == 0:
        return np.asarray(domain, dtype=np.int64)
    if n_replay > len(replay_pool):
        raise CorpusBudgetError(f"replay needs {n_replay} tokens, the generic pool has {len(replay_pool)}")
    start = int(np.random.default_rng(seed).integers(0, len(replay_pool) - n_replay + 1))
    return np.concatenate([np.asarray(domain, dtype=np.int64), np.asarray(replay_pool[start : start + n_replay])])


def cpt_steps(n_tokens: int, epochs: float, tokens_per_step: int) -> int:
    """Optimizer steps for ``epochs`` passes over ``n_tokens`` (at least one)."""
    return max(1, math.ceil(epochs * n_tokens / tokens_per_step))


def option_accuracy(
    model: nn.Module,
    tokenizer,
    questions: Sequence[Question],
    contexts: Sequence[str] | None = None,
    batch_size: int = 32,
) -> tuple[float, np.ndarray]:
    """Accuracy of choosing the option with the highest mean token log-prob, and the per-question picks.

    ``contexts`` (open-book) are prepended to each question's prompt, separated by a newline.
    """
    requests, owners = [], []
    for i, q in enumerate(questions):
        prompt = q.prompt if contexts is None else f"{contexts[i]}\n{q.prompt}"
        p_ids = tokenizer.encode(prompt) or [tokenizer.eos_id]
        for opt in q.options:
            requests.append((p_ids, tokenizer.encode(opt)))
            owners.append(i)
    scores = []
    step = batch_size * 8
    for b in tqdm(range(0, len(requests), step), desc="qa", mininterval=5.0):
        scores.extend(score_continuations_ids(model, requests[b : b + step], batch_size=batch_size))
    means = np.array([s.mean_logprob for s in scores])
    picks = np.zeros(len(questions), dtype=np.int64)
    k = 0
    for i, q in enumerate(questions):
        n = len(q.options)
        picks[i] = int(np.argmax(means[k : k + n]))
        k += n
    gold = np.array([q.answer for q in questions])
    return float(np.mean(picks == gold)), picks


def count_floor_accuracy(questions: Sequence[Question], text: str) -> float:
    """Count-based floor: pick the option whose words occur most often in ``text``; ties share the credit."""
    total = 0.0
    for q in questions:
        counts = np.array([len(re.findall(rf"\b{re.escape(o.strip(' .'))}\b", text)) for o in q.options])
        best = np.flatnonzero(counts == counts.max())
        total += (q.answer in best) / len(best)
    return total / max(1, len(questions))


def split_sentences(text: str) -> list[str]:
    """Sentences of a document (split after . ! ?)."""
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


@dataclass
class Retriever:
    """TF-IDF retrieval over the source sentences (the open-book setting of Sec. 5, a cheap offline retriever)."""

    sentences: list[str]
    article_ids: list[str]

    @classmethod
    def from_articles(cls, articles: Sequence[Article]) -> Retriever:
        sents, ids = [], []
        for a in articles:
            for s in split_sentences(a.text):
                sents.append(s)
                ids.append(a.article_id)
        return cls(sents, ids)

    def __post_init__(self) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self._vec = TfidfVectorizer(lowercase=True, token_pattern=r"(?u)\b\w+\b", sublinear_tf=True)
        self._mat = self._vec.fit_transform(self.sentences)

    def contexts(self, queries: Sequence[str], k: int) -> list[str]:
        """The top-``k`` sentences for each query, most similar last (closest to the question)."""
        sims = (self._vec.transform(list(queries)) @ self._mat.T).toarray()
        out = []
        for row in sims:
            top = np.argsort(-row, kind="stable")[:k]
            out.append(" ".join(self.sentences[j] for j in top[::-1]))
        return out


def set_threads(n: int) -> None:
    """One torch thread per job unless measured faster (DESIGN.md)."""
    torch.set_num_threads(max(1, n))
