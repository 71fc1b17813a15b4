"""Ideation-agent steps: retrieval, stand-in generator, seeds, embeddings; re-exported by :mod:`repro.ideagen.steps`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sstats

from repro.common.declarations import step
from repro.common.seeds import seed_everything
from repro.common.steps import StepResult
from repro.ideagen.config import EmbedConfig, GeneratorConfig, RetrievalConfig, SeedsStepConfig
from repro.ideagen.data import CONDITION_KEY, CONDITIONS, METRICS, idea_means, load_reviews, load_titles
from repro.ideagen.stats import REVIEWER_TERM, compare_conditions, mixed_model, per_topic

log = logging.getLogger(__name__)

GENERATOR_LABEL = (
    "STAND-IN generator: a word-level interpolated n-gram LM trained in the pipeline on the 98 "
    "released idea titles (ngram backend of repro.common.llm); not the paper's Claude-3.5-Sonnet"
)
JUDGE_LABEL = (
    "PROXY judge: pairwise logistic regression on MiniLM title embeddings, trained on released human "
    "overall scores of other ideas (cross-fitted folds); not the paper's LLM judge"
)


def _local_corpus(reviews_path: Path, titles_path: Path) -> list:
    """The offline retrieval corpus: each study idea as a document (title + its reviewers' rationales)."""
    from repro.ideagen.retrieval import Paper

    reviews = load_reviews(reviews_path)
    titles = dict(zip(*load_titles(titles_path)[["idea_id", "title"]].to_numpy().T))
    rat = [c for c in reviews.columns if c.endswith("_rationale")]
    docs = []
    for idea_id, grp in reviews.groupby("idea_id", sort=True):
        text = " ".join(" ".join(str(v) for v in grp[c]) for c in rat)
        docs.append(Paper(paper_id=idea_id, title=titles.get(idea_id, idea_id), abstract=text))
    return docs


@step()
def retrieval_step(inputs: Mapping[str, Path], config: RetrievalConfig) -> StepResult:
    """Sec. 3.1: a paper bank per topic (Semantic Scholar online; a local TF-IDF index offline)."""
    from repro.ideagen.retrieval import LocalIndex, SemanticScholarClient, build_bank

    if not config.topics:
        raise ValueError("ideagen.retrieval.topics: no topics configured")
    if config.backend == "local":
        searcher = LocalIndex(_local_corpus(inputs["reviews"], inputs["titles"]))
    else:
        searcher = SemanticScholarClient(config.cache, base_url=config.base_url, api_key_env=config.api_key_env)
    rows, numbers = [], {"retrieval.backend": config.backend}
    for topic, query in config.topics.items():
        bank = build_bank(searcher, query, config.bank_size, config.limit, config.expand_top, config.max_queries)
        numbers[f"retrieval.{topic.lower()}.n_papers"] = len(bank)
        numbers[f"retrieval.{topic.lower()}.own_topic_fraction"] = (
            float(np.mean([p.paper_id.startswith(topic + "_") for p in bank])) if bank else float("nan")
        )
        rows += [
            {"topic": topic, "query": query, "rank": r, "paper_id": p.paper_id, "title": p.title, "score": p.score}
            for r, p in enumerate(bank)
        ]
    return StepResult(numbers=numbers, tables={"bank": pd.DataFrame(rows)})


@step()
def generator_step(inputs: Mapping[str, Path], config: GeneratorConfig) -> StepResult:
    """Train the tiny stand-in generator (n-gram LM over idea titles) and score it against a unigram floor."""
    from repro.ideagen.generator import heldout_logloss, train_ngram, training_line

    titles = load_titles(inputs["titles"])
    lines = [training_line(t, s) for t, s in zip(titles["topic"], titles["title"])]
    rng = np.random.default_rng(config.seed)
    held = set(rng.choice(len(lines), max(1, int(round(config.heldout_fraction * len(lines)))), replace=False).tolist())
    train = [ln for i, ln in enumerate(lines) if i not in held]
    test = [ln for i, ln in enumerate(lines) if i in held]
    fit = train_ngram(train, config.order)
    uni = (1.0,) + (0.0,) * (config.order - 1)
    numbers = {
        "generator.label": GENERATOR_LABEL,
        "generator.n_lines": len(lines),
        "generator.heldout_logloss.ngram": heldout_logloss(fit, config.weights, test),
        "generator.heldout_logloss.unigram_floor": heldout_logloss(fit, uni, test),
        "generator.heldout_lines": len(test),
    }
    full = train_ngram(lines, config.order)
    numbers["generator.vocab"] = len(full.vocab)
    return StepResult(numbers=numbers, tables={"model": full.to_frame()})


def _llm_block(llms: Mapping[str, Mapping[str, object]], name: str, where: str) -> dict[str, object]:
    """The named block of ``llms`` (an error lists the names there are)."""
    if name not in llms:
        raise ValueError(f"ideagen.{where}: no LLM {name!r} in ideagen.llms (there: {sorted(llms)})")
    return dict(llms[name])


@step(
    reads=("seeds", "llms"),
)
def seeds_step(inputs: Mapping[str, Path], config: SeedsStepConfig) -> StepResult:
    """Sec. 3.2: overgenerate seed ideas per topic through the LLM backend (cached)."""
    from repro.common.llm import from_params
    from repro.ideagen.generator import generate_seeds, idea_text

    llm_params = _llm_block(config.llms, config.seeds.llm, "seeds.llm")
    config = config.seeds
    seed_everything(config.seed)
    bank = pd.read_csv(inputs["bank"])
    if llm_params.get("backend") == "ngram":
        if "model" not in inputs:
            raise ValueError("ideagen.seeds: the ngram backend needs the generator's model table (rule input 'model')")
        llm_params["path"] = str(inputs["model"])
    llm = from_params(llm_params)
    rows, numbers = [], {"seeds.backend": str(llm_params.get("backend")), "seeds.llm": config.llm}
    if llm_params.get("backend") == "ngram":
        numbers["seeds.label"] = GENERATOR_LABEL
    papers = bank.sort_values(["topic", "rank"]).groupby("topic")["title"].apply(list).to_dict()
    queries = bank.groupby("topic")["query"].first().to_dict()
    for k, topic in enumerate(config.topics):
        if topic not in papers:
            raise ValueError(f"ideagen.seeds.topics: {topic!r} has no retrieval bank (banks: {sorted(papers)})")
        ideas = generate_seeds(
            llm,
            topic,
            queries[topic],
            papers[topic][: config.in_prompt],
            config.n_per_topic,
            config.ideas_per_call,
            config.samples_per_call,
            config.temperature,
            config.max_tokens,
            config.seed + 1_000_003 * k,
            config.avoid_repeating,
        )
        numbers[f"seeds.{topic.lower()}.n"] = len(ideas)
        numbers[f"seeds.{topic.lower()}.distinct_names"] = len({i["name"].lower() for i in ideas})
        rows += [{"topic": topic, "index": i, "name": d["name"], "text": idea_text(d)} for i, d in enumerate(ideas)]
    llm.close()
    numbers["seeds.n_total"] = len(rows)
    return StepResult(numbers=numbers, tables={"seeds": pd.DataFrame(rows)})


@step()
def embed_step(inputs: Mapping[str, Path], config: EmbedConfig) -> StepResult:
    """MiniLM embeddings of the seed ideas and of the study's idea titles (cached as .npy files)."""
    from repro.common.devices import resolve_device
    from repro.ideagen.embed import EXAMPLE_PREFIX, MODEL_ID, PACKAGE, embed_texts, encode_vectors, sanity_vector

    seeds = pd.read_csv(inputs["seeds"], keep_default_na=False)
    titles = load_titles(inputs["titles"])
    device = str(resolve_device(config.device))  # auto: the job's GPU where it has one
    seed_emb = embed_texts(seeds["text"].tolist(), config.batch_size, device, progress=True)
    study_emb = embed_texts(titles["title"].tolist(), config.batch_size, device)
    ref = sanity_vector(device)
    numbers = {
        "embed.model": f"{MODEL_ID} (PyPI {PACKAGE}==0.1.0)",
        "embed.n_seeds": len(seed_emb),
        "embed.n_study": len(study_emb),
        "embed.dim": int(seed_emb.shape[1]),
        "embed.sanity_max_abs_diff": float(np.max(np.abs(ref[: len(EXAMPLE_PREFIX)] - np.array(EXAMPLE_PREFIX)))),
    }
    tables = {
        "seed_emb": pd.DataFrame(
            {"topic": seeds["topic"], "index": seeds["index"], "vector": encode_vectors(seed_emb)}
        ),
        "study_emb": pd.DataFrame({"idea_id": titles["idea_id"], "vector": encode_vectors(study_emb)}),
    }
    return StepResult(numbers=numbers, tables=tables)
