"""The tiny test-taker panel (notes Sec. 6.2) and the parametric question writer.

Each test-taker is a small GPT-2 from :mod:`repro.common.lm` trained from scratch on its own
pretraining corpus: a stream of fact sentences of the synthetic world in which a fact of topic
``t`` appears with weight ``pageviews_t ** alpha * exp(sigma * (z_sub + z_topic))``. ``alpha``
(how much the model's data follow salience), ``sigma`` with the model's random z's (its
specialties: a subdomain or topic it has seen more of than salience says) and the training
budget differ across models, so their knowledge genuinely differs by topic, as the paper's
panel (GPT-4, Claude, Llama, Mistral, ...) does.

The *writer* is one more model of the same kind (salience-proportional data, a larger budget):
the question writer of the "no privileged information" ablation (Sec. 4, baseline
``baseline_without_privileged_info``) writes gold answers from its own beliefs instead of the
topic's page.

Each model also gets a count-based sanity floor: the option whose value occurs most often in
its own corpus (unigram majority), beside the random floor 1/4.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from repro.autobencher.world import World, fact_sentence

if TYPE_CHECKING:  # torch is imported only by the functions that train
    from repro.common.lm.recipe import TinyLMSpec

log = logging.getLogger(__name__)

__all__ = ["ModelSpec", "PanelConfig", "TrainSettings", "build_corpus", "mixture_weights", "train_panel"]

WRITER = "writer"


@dataclass(frozen=True)
class ModelSpec:
    """One tiny test-taker: its data mixture, budget and size."""

    name: str  # model id in tables and numbers keys (letters, digits, _)
    alpha: float = 1.0  # corpus weight ~ pageviews ** alpha (0: every topic equally often)
    sigma: float = 0.0  # strength of the model's random subdomain/topic specialties (log-weight scale)
    steps: int = 400  # optimizer steps (the training budget)
    d_model: int = 64  # residual width
    n_layer: int = 2  # transformer blocks


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation and corpus settings shared by every panel model."""

    corpus_sentences: int = 40_000  # sentences sampled into each model's corpus stream
    vocab_size: int = 1024  # byte-level BPE trained on the world's text
    context: int = 32  # tokens per training window
    batch_size: int = 32  # windows per step
    lr: float = 5e-3  # peak learning rate
    warmup: int = 30  # warmup steps
    n_head: int = 4  # attention heads


@dataclass(frozen=True)
class PanelConfig:
    """Params section ``panel``: the test-takers, the writer and the training settings."""

    models: tuple[ModelSpec, ...] = ()
    writer: ModelSpec = field(default_factory=lambda: ModelSpec(name=WRITER, alpha=1.0, steps=600))
    train: TrainSettings = field(default_factory=TrainSettings)

    def __post_init__(self) -> None:
        names = [m.name for m in self.models]
        if len(names) < 3:
            raise ValueError("panel.models: the metrics need at least 3 test-takers")
        if len(set(names)) != len(names) or WRITER in names:
            raise ValueError(f"panel.models: names must be unique and not {WRITER!r}: {names}")


def mixture_weights(world: World, spec: ModelSpec, seed: int) -> dict[str, float]:
    """Per-topic corpus weight of one model (normalised to sum 1)."""
    rng = np.random.default_rng([seed, 11, *map(ord, spec.name)])
    subs = sorted({t.subdomain for t in world.topics})
    z_sub = dict(zip(subs, rng.standard_normal(len(subs))))
    z_top = rng.standard_normal(len(world.topics))
    w = np.array(
        [
            t.pageviews**spec.alpha * np.exp(spec.sigma * (z_sub[t.subdomain] + 0.5 * z))
            for t, z in zip(world.topics, z_top)
        ]
    )
    w = w / w.sum()
    return {t.name: float(x) for t, x in zip(world.topics, w)}


def build_corpus(world: World, spec: ModelSpec, n_sentences: int, seed: int) -> list[str]:
    """The model's pretraining stream: fact sentences drawn by topic weight (uniform within a topic)."""
    weights = mixture_weights(world, spec, seed)
    names = [t.name for t in world.topics]
    by_topic = {n: world.facts_of(n) for n in names}
    rng = np.random.default_rng([seed, 13, *map(ord, spec.name)])
    topics = rng.choice(len(names), size=n_sentences, p=np.array([weights[n] for n in names]))
    out = []
    for ti in topics:
        facts = by_topic[names[ti]]
        out.append(fact_sentence(facts[int(rng.integers(len(facts)))]))
    return out


def value_counts(corpus: Sequence[str], world: World) -> Counter[str]:
    """How often each answer value occurs in a corpus (for the unigram-majority floor)."""
    vocab = {v for vals in world.values.values() for v in vals}
    c: Counter[str] = Counter()
    for s in corpus:
        c[s.rsplit(" ", 2)[-2]] += 1
    return Counter({k: n for k, n in c.items() if k in vocab})


def train_panel(world: World, cfg: PanelConfig, seed: int, out_dir: Path, threads: int = 1) -> dict[str, dict]:
    """Train every test-taker and the writer (notes Sec. 6.2); write ``out_dir/<name>/`` model directories.

    Each model is the shared tiny-LM recipe (:func:`repro.common.lm.recipe.train_tiny_lm`) on its
    own corpus. Returns per model: training summary and the value counts of its corpus (floor).
    """
    from repro.common.lm.models import count_params
    from repro.common.lm.recipe import train_tiny_lm
    from repro.common.lm.tokenizer import encode_documents, train_tokenizer
    from repro.common.seeds import seed_everything

    seed_everything(seed, torch_threads=threads)
    ts = cfg.train
    tok = train_tokenizer([world.page(t.name) for t in world.topics], "bpe", ts.vocab_size)
    info: dict[str, dict] = {}
    for i, spec in enumerate([*cfg.models, cfg.writer]):
        corpus = build_corpus(world, spec, ts.corpus_sentences, seed)
        ids = encode_documents(tok, corpus, eos_between=True)
        log.info("training %s (%d steps, %d corpus tokens)", spec.name, spec.steps, len(ids))
        lm = train_tiny_lm(
            _lm_spec(spec, ts, tok.vocab_size, seed * 100 + i, threads),
            ids,
            progress=True,
            save_dir=out_dir / spec.name,
            tokenizer=tok,
            extra={"seed": seed, "spec": spec.__dict__},
        )
        last = lm.history[-1] if lm.history else {}
        info[spec.name] = {
            "n_params": count_params(lm.model),
            "train_tokens": int(spec.steps * ts.batch_size * ts.context),
            "final_train_loss": float(last.get("train_loss", float("nan"))),
            "value_counts": dict(value_counts(corpus, world)),
        }
    return info


def _lm_spec(spec: ModelSpec, ts: TrainSettings, vocab_size: int, model_seed: int, threads: int) -> TinyLMSpec:
    """One panel model's tiny-LM spec: its own size and budget, the panel's shared optimisation settings."""
    from repro.common.lm.recipe import TinyLMSpec

    return TinyLMSpec(
        vocab_size=vocab_size,
        arch="gpt2",
        n_layer=spec.n_layer,
        n_head=ts.n_head,
        d_model=spec.d_model,
        context=ts.context,
        steps=spec.steps,
        batch_size=ts.batch_size,
        lr=ts.lr,
        # A fifth of a short budget at most, so that small models still see the peak rate.
        warmup=min(ts.warmup, max(1, spec.steps // 5)),
        eval_every=0,  # no held-out text: the panel is judged on questions, not on loss
        log_every=max(1, spec.steps // 10),
        seed=model_seed,  # one seed per model (index i), both init and batch order
        threads=threads,
    )
