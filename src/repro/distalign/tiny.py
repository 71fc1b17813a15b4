"""End-to-end tiny tier: a tiny LM trained on rendered survey text, evaluated like the paper's LLMs.

Design (notes Sec. 6): the training text comes only from OpinionQA questions of the
500-question pool that are **not** among the 100 evaluated (a held-out-safe pool); each
example is a prompt in one of the three output formats (V: a percent dict, Seq: 30 letters,
Log-p: one letter) with the answer drawn from the real group distribution, with and without
few-shot context (other training questions' true distributions for the same group, in the
same format). Evaluation renders the evaluated questions the same way (persona: the group
named; few-shot: + k shots from similar non-evaluated questions) and asks the model through
the ``tiny`` backend of :mod:`repro.common.llm`. A model trained in minutes cannot show or
refute "verbalizing beats simulating": that finding concerns instruction-tuned LLMs and is
tested by the paper-scale config.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from repro.distalign.config import TinyTrainConfig
from repro.distalign.data import Question, letters, load_truth, released_inputs

__all__ = [
    "FORMATS",
    "RenderConfig",
    "render_prompt",
    "render_answer",
    "build_corpus",
    "shots_for",
    "render_config",
    "load_oqa",
    "train_tiny",
]

FORMATS = ("verbalize", "sequence", "logprobs")
_INSTR = {"verbalize": "dist", "sequence": "seq30", "logprobs": "one"}


@dataclass(frozen=True)
class RenderConfig:
    """How a question is rendered as text (short, for a character-level model)."""

    question_chars: int = 60  # question text is cut to this many characters
    option_chars: int = 12  # each option text is cut to this many characters
    n_samples: int = 30  # Seq length (the paper's 30)
    shots: int = 3  # few-shot examples in context


def _dist_text(p: np.ndarray) -> str:
    pct = np.floor(p * 100).astype(int)
    pct[int(np.argmax(p))] += 100 - int(pct.sum())  # integers summing to 100
    return "{" + ", ".join(f"'{k}': '{v}%'" for k, v in zip(letters(len(p)), pct)) + "}"


def render_answer(fmt: str, p: np.ndarray, rng: np.random.Generator, cfg: RenderConfig) -> str:
    """An answer in format ``fmt`` for truth ``p`` (V: the distribution; Seq/Log-p: samples)."""
    ls = letters(len(p))
    if fmt == "verbalize":
        return _dist_text(p)
    if fmt == "sequence":
        return "".join(rng.choice(ls, size=cfg.n_samples, p=p))
    if fmt == "logprobs":
        return str(rng.choice(ls, p=p))
    raise ValueError(f"unknown format {fmt!r}; known: {FORMATS}")


def render_prompt(q: Question, fmt: str, shots: Sequence[str], cfg: RenderConfig) -> str:
    """The prompt text (the answer follows it directly)."""
    opts = " ".join(f"{k}:{o[: cfg.option_chars]}" for k, o in zip(q.letters, q.options))
    ctx = "".join(f"ex {_INSTR[fmt]} {s}\n" for s in shots)
    return f"{ctx}[{q.group}] {q.text[: cfg.question_chars]}\n{opts}\n{_INSTR[fmt]} "


def shots_for(
    q: Question, by_key: Mapping[tuple[str, str], Question], similar: Sequence[str], k: int, exclude: set[str]
) -> list[Question]:
    """Up to ``k`` similar questions of the same group with a true distribution (not evaluated ones)."""
    out = []
    for sid in similar:
        if sid == q.qid or sid in exclude:
            continue
        s = by_key.get((sid, q.group))
        if s is not None:
            out.append(s)
        if len(out) == k:
            break
    return out


def build_corpus(
    train: Sequence[Question],
    similar: Mapping[str, Sequence[str]],
    exclude: set[str],
    repeats: int,
    fewshot_frac: float,
    rng: np.random.Generator,
    cfg: RenderConfig,
) -> list[str]:
    """Rendered training examples: every (question, group, format), ``repeats`` times, with fresh
    samples each time; a ``fewshot_frac`` share carries few-shot context."""
    by_key = {(q.qid, q.group): q for q in train}
    docs = []
    for _ in range(repeats):
        for q in train:
            for fmt in FORMATS:
                shots: list[str] = []
                if rng.random() < fewshot_frac:
                    shots = [
                        render_answer(fmt, s.p, rng, cfg)
                        for s in shots_for(q, by_key, similar.get(q.qid, []), cfg.shots, exclude)
                    ]
                docs.append(render_prompt(q, fmt, shots, cfg) + render_answer(fmt, q.p, rng, cfg) + "\n")
    order = rng.permutation(len(docs))
    return [docs[i] for i in order]


# --- training (notes Sec. 6) ----------------------------------------------------------------


def render_config(c: TinyTrainConfig) -> RenderConfig:
    """The rendering settings of a tiny training config (shared by training and evaluation)."""
    return RenderConfig(question_chars=c.question_chars, option_chars=c.option_chars, shots=c.shots)


def load_oqa(inputs: Mapping[str, Path]):
    """Evaluated OpinionQA questions, the non-evaluated training pool, the evaluated ids, the similarity lists."""
    files = released_inputs(inputs)
    evaluated = load_truth("opinionqa", files)
    pool = load_truth("opinionqa_pool", files)
    eval_ids = {q.qid for q in evaluated}
    sim = json.loads(
        Path(
            files[
                "opinions_qa/data/human_resp/Pew_American_Trends_Panel_disagreement_500/question_similarity_top10.json"
            ]
        ).read_text()
    )
    return evaluated, [q for q in pool if q.qid not in eval_ids], eval_ids, sim


def train_tiny(inputs: Mapping[str, Path], config: TinyTrainConfig, out: Path) -> dict:
    """Notes Sec. 6: render the training pool, train a char-level GPT (repro.common.lm), save it to ``out``.

    The model is the shared tiny-LM recipe (:func:`repro.common.lm.recipe.train_tiny_lm`), with the
    last 2% of the rendered token stream held out for the loss curve.
    """
    from repro.common.lm.recipe import TinyLMSpec, train_tiny_lm
    from repro.common.lm.tokenizer import Tokenizer

    evaluated, train_pool, eval_ids, sim = load_oqa(inputs)
    rng = np.random.default_rng(config.seed)
    docs = build_corpus(train_pool, sim, eval_ids, config.repeats, config.fewshot_frac, rng, render_config(config))
    tok = Tokenizer.train_char(docs)
    ids = np.array([i for d in docs for i in tok.encode(d) + [tok.eos_id]], dtype=np.int32)
    cut = int(len(ids) * 0.98)
    spec = TinyLMSpec(
        vocab_size=tok.vocab_size,
        arch="gpt2",
        n_layer=config.n_layer,
        n_head=config.n_head,
        d_model=config.d_model,
        context=config.context,
        steps=config.steps,
        batch_size=config.batch_size,
        lr=config.lr,
        warmup=config.warmup,
        eval_every=max(1, config.steps // 4),  # four points on the held-out loss curve
        eval_batches=4,
        seed=config.seed,
        threads=1,
    )
    lm = train_tiny_lm(spec, ids[:cut], eval_tokens=ids[cut:], progress=True)
    evals = [h["eval_loss"] for h in lm.history if h.get("eval_loss") is not None]
    numbers = {
        "n_params": int(sum(p.numel() for p in lm.model.parameters())),
        "n_train_questions": len({q.qid for q in train_pool}),
        "n_train_examples": len(docs),
        "train_tokens": int(cut),
        "final_eval_loss": float(evals[-1]) if evals else None,
        "overlap_with_evaluated": len({q.qid for q in train_pool} & eval_ids),
    }
    # Saved by hand, not through train_tiny_lm(save_dir=...): the directory records the numbers above.
    lm.save(out, tok, extra={"numbers": numbers})
    return numbers
