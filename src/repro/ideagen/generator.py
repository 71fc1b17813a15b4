"""Seed-idea overgeneration (paper Sec. 3.2, "Idea generation") through the LLM backend.

At paper scale the agent asks Claude-3.5-Sonnet (``openai`` backend, any OpenAI-compatible
endpoint) for 5 seed ideas per call as JSON ``{name: {Problem, Existing Methods, Motivation,
Proposed Method, Experiment Plan}}`` at temperature 1.0, with retrieved papers in the prompt
and the titles of all existing ideas appended with "avoid repeating them".

Offline there is no pretrained LLM. The tiny tier trains its own generator in the pipeline:
:class:`NGramLM`, a word-level interpolated n-gram language model over the released idea
titles, registered as the ``ngram`` backend of :mod:`repro.common.llm` so that the same
seed-generation code (prompt, batching, sqlite cache, parsing) runs against it. It is a
**stand-in**: it reads only the last ``order - 1`` words of a prompt (the topic marker), so
the retrieved papers and the "avoid repeating" list do not reach it. It shows the
saturation mechanism of overgeneration, not Claude's diversity.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from repro.common.io import sha256_file
from repro.common.llm.base import LLM, check_sampling, cut_at_stop, register

EOS = "</s>"
_TOKEN = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*|[^\sa-z0-9]")


def tokenize(text: str) -> list[str]:
    """Lower-cased words and single punctuation marks."""
    return _TOKEN.findall(text.lower())


def detokenize(tokens: Sequence[str]) -> str:
    out = " ".join(tokens)
    return re.sub(r"\s+([,.:;!?)])", r"\1", out).replace("( ", "(")


def training_line(topic: str, title: str) -> str:
    """One line of the generator's corpus: the topic marker, then the idea title."""
    return f"idea on {topic.lower()} : {title}"


def prompt_tail(topic: str) -> str:
    """The end of every seed-generation prompt (what the n-gram model conditions on)."""
    return f"idea on {topic.lower()} :"


@dataclass(frozen=True)
class NGramCounts:
    """Counts of a word n-gram model: ``counts[k]`` maps a (k-word) history to next-word counts."""

    order: int
    vocab: tuple[str, ...]
    counts: tuple[dict[str, dict[str, int]], ...]  # k = 0 .. order-1; history joined by " "

    def to_frame(self) -> pd.DataFrame:
        """The counts as a table (k, history, word, count): the model file of the ``ngram`` backend."""
        rows = [(k, h, w, c) for k, table in enumerate(self.counts) for h, nxt in table.items() for w, c in nxt.items()]
        return pd.DataFrame(rows, columns=["k", "history", "word", "count"])

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> NGramCounts:
        missing = {"k", "history", "word", "count"} - set(df.columns)
        if missing:
            raise ValueError(f"n-gram model table lacks column(s) {sorted(missing)}")
        order = int(df["k"].max()) + 1
        counts: list[dict[str, dict[str, int]]] = [{} for _ in range(order)]
        for k, h, w, c in df[["k", "history", "word", "count"]].itertuples(index=False):
            counts[int(k)].setdefault(str(h), {})[str(w)] = int(c)
        vocab = tuple(sorted(set(df["word"].astype(str))))
        return cls(order=order, vocab=vocab, counts=tuple(counts))


def train_ngram(lines: Sequence[str], order: int = 3) -> NGramCounts:
    """Count n-grams (histories up to ``order - 1`` words) over ``lines`` (each ends with </s>)."""
    if order < 1:
        raise ValueError("order must be >= 1")
    if not lines:
        raise ValueError("train_ngram: no training lines")
    tables: list[dict[str, Counter[str]]] = [defaultdict(Counter) for _ in range(order)]
    vocab: set[str] = {EOS}
    for line in lines:
        toks = tokenize(line) + [EOS]
        vocab.update(toks)
        for i, w in enumerate(toks):
            for k in range(order):
                if i - k < 0:
                    break
                tables[k][" ".join(toks[i - k : i])][w] += 1
    counts = tuple({h: dict(sorted(c.items())) for h, c in sorted(t.items())} for t in tables)
    return NGramCounts(order=order, vocab=tuple(sorted(vocab)), counts=counts)


class NGramModel:
    """Jelinek-Mercer interpolation of the k-word-history ML estimates (k = 0..order-1).

    ``weights[k]`` weighs the k-word history; a history never seen gives its weight to
    the shorter ones (renormalised). Dense next-word distributions over the vocabulary.
    """

    def __init__(self, counts: NGramCounts, weights: Sequence[float]) -> None:
        if len(weights) != counts.order or any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError(f"weights must be {counts.order} non-negative numbers, got {list(weights)}")
        self.c = counts
        self.weights = np.asarray(weights, float)
        self.index = {w: i for i, w in enumerate(counts.vocab)}
        self._cache: dict[tuple[str, ...], np.ndarray] = {}

    def dist(self, history: Sequence[str]) -> np.ndarray:
        """P(next word | last order-1 words of ``history``)."""
        h = tuple(history[-(self.c.order - 1) :]) if self.c.order > 1 else ()
        hit = self._cache.get(h)
        if hit is not None:
            return hit
        p = np.zeros(len(self.c.vocab))
        total_w = 0.0
        for k in range(self.c.order):
            if k > len(h):
                break
            key = " ".join(h[len(h) - k :]) if k else ""
            nxt = self.c.counts[k].get(key)
            if not nxt:
                continue
            tot = sum(nxt.values())
            idx = [self.index[w] for w in nxt]
            p[idx] += self.weights[k] * np.fromiter(nxt.values(), float) / tot
            total_w += self.weights[k]
        p /= total_w
        self._cache[h] = p
        return p

    def logprob(self, history: Sequence[str], words: Sequence[str]) -> float:
        """Sum of natural-log probabilities of ``words`` after ``history`` (unknown words: -inf)."""
        hist, total = list(history), 0.0
        for w in words:
            i = self.index.get(w)
            pr = self.dist(hist)[i] if i is not None else 0.0
            total += math.log(pr) if pr > 0 else -math.inf
            hist.append(w)
        return total


@register("ngram")
class NGramLM(LLM):
    """The ``ngram`` backend: :class:`NGramModel` behind the :class:`LLM` interface (a stand-in, see module doc).

    ``path`` is a counts CSV (:meth:`NGramCounts.to_frame`, the generator step's ``model`` table); ``weights`` the interpolation
    weights (longest history last). Generation samples words until </s>, a stop string
    or ``max_tokens``; ``temperature`` sharpens (p^(1/T)); 0 is greedy.
    """

    def __init__(self, path: str | os.PathLike[str], *, weights: Sequence[float] = (0.05, 0.25, 0.7)) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"ngram backend: no model file {self.path}")
        self.counts = NGramCounts.from_frame(
            pd.read_csv(self.path, keep_default_na=False, dtype={"history": str, "word": str})
        )
        self.lm = NGramModel(self.counts, weights)
        self.model = self.path.name
        self.sha256 = sha256_file(self.path)

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "model": self.model,
            "sha256": self.sha256,
            "weights": [float(w) for w in self.lm.weights],
        }

    def generate(self, prompts, n=1, temperature=0.0, max_tokens=256, stop=None, seed=None):  # noqa: D102
        check_sampling(n, temperature, max_tokens)
        rng = np.random.default_rng(seed)
        out = []
        for prompt in prompts:
            hist0 = tokenize(prompt)
            samples = []
            for _ in range(n):
                hist, words = list(hist0), []
                for _ in range(max_tokens):
                    p = self.lm.dist(hist)
                    if temperature == 0:
                        j = int(np.argmax(p))
                    else:
                        q = p ** (1.0 / temperature)
                        j = int(rng.choice(len(q), p=q / q.sum()))
                    w = self.counts.vocab[j]
                    if w == EOS:
                        break
                    words.append(w)
                    hist.append(w)
                samples.append(cut_at_stop(detokenize(words), stop))
            out.append(samples)
        return out

    def logprobs(self, prompt: str, continuations: Sequence[str]) -> list[float]:  # noqa: D102
        return [self.lm.logprob(tokenize(prompt), tokenize(c)) for c in continuations]

    def top_logprobs(self, prompt: str, k: int) -> dict[str, float]:  # noqa: D102
        p = self.lm.dist(tokenize(prompt))
        top = np.argsort(-p, kind="stable")[:k]
        return {self.counts.vocab[i]: float(np.log(p[i])) for i in top if p[i] > 0}


def heldout_logloss(counts: NGramCounts, weights: Sequence[float], lines: Sequence[str]) -> float:
    """Mean per-token negative log-likelihood (nats) of held-out lines (unknown words mapped to a floor).

    Unknown words get probability 1 / (|V| * total unigram count), the same for every model
    compared, so that model and floor are scored on one footing.
    """
    lm = NGramModel(counts, weights)
    n_uni = sum(counts.counts[0][""].values())
    floor = 1.0 / (len(counts.vocab) * n_uni)
    total, n = 0.0, 0
    for line in lines:
        hist: list[str] = []
        for w in tokenize(line) + [EOS]:
            i = lm.index.get(w)
            pr = lm.dist(hist)[i] if i is not None else 0.0
            total -= math.log(max(pr, floor))
            n += 1
            hist.append(w)
    return total / max(n, 1)


# --- seed-idea prompts and parsing -------------------------------------------------------------

FIELDS = ("Problem", "Existing Methods", "Motivation", "Proposed Method", "Experiment Plan")


def seed_prompt(
    topic: str, description: str, papers: Sequence[str], existing: Sequence[str], ideas_per_call: int
) -> str:
    """The seed-idea prompt (paper App. "Idea generation prompt", paraphrased, not copied).

    Retrieved papers and the existing idea titles ("avoid repeating") come first; the
    last line is :func:`prompt_tail`, on which the tiny stand-in conditions.
    """
    lines = [
        f"You are an expert researcher in NLP. Topic: {description}",
        f"Propose {ideas_per_call} novel prompting-based research ideas on this topic. Answer as a JSON object "
        f"mapping each idea's short name to an object with the fields {', '.join(FIELDS)}.",
    ]
    if papers:
        lines.append("Related papers you may draw on:")
        lines += [f"- {p}" for p in papers]
    if existing:
        lines.append("Ideas already generated (avoid repeating them):")
        lines += [f"- {t}" for t in existing]
    lines.append(prompt_tail(topic))
    return "\n".join(lines)


def parse_ideas(text: str) -> list[dict[str, str]]:
    """Ideas from one completion: a JSON object ``{name: {field: text}}`` or, failing that, one title per line."""
    stripped = text.strip()
    start, end = stripped.find("{"), stripped.rfind("}")
    if start != -1 and end > start:
        try:
            obj = json.loads(stripped[start : end + 1])
        except json.JSONDecodeError:
            obj = None
        if isinstance(obj, dict):
            ideas = []
            for name, body in obj.items():
                fields = body if isinstance(body, dict) else {"Proposed Method": str(body)}
                ideas.append({"name": str(name), **{k: str(v) for k, v in fields.items()}})
            return ideas
    return [{"name": line.strip()} for line in stripped.splitlines() if line.strip()]


def idea_text(idea: dict[str, str]) -> str:
    """What is embedded for deduplication: the name followed by every field (paper's dedup script)."""
    return " ".join([idea["name"], *(idea[k] for k in FIELDS if k in idea)]).strip()


def generate_seeds(
    llm: LLM,
    topic: str,
    description: str,
    papers: Sequence[str],
    n_ideas: int,
    ideas_per_call: int,
    samples_per_call: int,
    temperature: float,
    max_tokens: int,
    seed: int,
    avoid_repeating: int,
    progress: bool = True,
) -> list[dict[str, str]]:
    """Overgenerate ``n_ideas`` seed ideas for one topic, in calls of ``samples_per_call`` completions.

    Call ``b`` uses seed ``seed + b`` (so a cached run replays the same samples); the prompt lists
    the last ``avoid_repeating`` idea names. Ideas come back in generation order (the order
    deduplication and the diversity curve use). A call that yields no parsable idea is counted,
    and generation stops with an error after 20 such calls in a row.
    """
    from tqdm import tqdm

    ideas: list[dict[str, str]] = []
    empty = 0
    bar = tqdm(total=n_ideas, desc=f"seeds {topic}", disable=not progress, mininterval=5)
    call = 0
    while len(ideas) < n_ideas:
        existing = [i["name"] for i in ideas[-avoid_repeating:]] if avoid_repeating else []
        prompt = seed_prompt(topic, description, papers, existing, ideas_per_call)
        outs = llm.generate(
            [prompt], n=samples_per_call, temperature=temperature, max_tokens=max_tokens, seed=seed + call
        )[0]
        call += 1
        got = [i for text in outs for i in parse_ideas(text)]
        empty = 0 if got else empty + 1
        if empty >= 20:
            raise RuntimeError(f"generate_seeds({topic}): 20 calls in a row returned no parsable idea")
        take = got[: n_ideas - len(ideas)]
        ideas.extend(take)
        bar.update(len(take))
    bar.close()
    return ideas
