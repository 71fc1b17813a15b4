"""Workflow steps of ideagen: rule ``ideagen__<step>`` -> ``<step>_step`` -> numbers ``<step>.*``.

Exact tier (released reviews): :func:`stats_step` (Test 1, reviews as units),
:func:`stats_idea_step` (Test 2, ideas as units), :func:`per_topic_step`,
:func:`mixed_step` (mixed-effects model without the withheld reviewer term).
End-to-end tier (the ideation agent): :func:`retrieval_step` -> :func:`generator_step`
(tiny stand-in LM) -> :func:`seeds_step` -> :func:`embed_step` -> :func:`dedup_step`;
:func:`tournament_step` ranks the study's ideas with a pairwise judge.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats as sstats

from repro.common.seeds import seed_everything
from repro.common.steps import StepResult
from repro.ideagen.data import CONDITION_KEY, CONDITIONS, METRICS, idea_means, load_reviews, load_titles
from repro.ideagen.stats import REVIEWER_TERM, compare_conditions, mixed_model, per_topic

log = logging.getLogger(__name__)

GENERATOR_LABEL = ("STAND-IN generator: a word-level interpolated n-gram LM trained in the pipeline on the 98 "
                   "released idea titles (ngram backend of repro.common.llm); not the paper's Claude-3.5-Sonnet")
JUDGE_LABEL = ("PROXY judge: pairwise logistic regression on MiniLM title embeddings, trained on released human "
               "overall scores of other ideas (cross-fitted folds); not the paper's LLM judge")


def _table_numbers(table: pd.DataFrame) -> dict[str, float]:
    """``<metric>.<field>.<condition>`` numbers from a compare_conditions table."""
    out: dict[str, float] = {}
    for row in table.itertuples(index=False):
        cond = CONDITION_KEY[row.condition]
        for fld in ("mean", "sd", "n", "ci_low", "ci_high"):
            out[f"{row.metric}.{fld}.{cond}"] = getattr(row, fld)
        if row.condition != "Human":
            for fld in ("t", "p", "p_adj"):
                out[f"{row.metric}.{fld}.{cond}"] = getattr(row, fld)
    return out


@dataclass(frozen=True)
class StatsConfig:
    ci_level: float = 0.95  # confidence level of the error bars (Student t)


def stats_step(inputs: Mapping[str, Path], config: StatsConfig) -> StepResult:
    """Test 1 (paper Table 7): every review a data point; Welch t, Bonferroni over 5 metrics."""
    reviews = load_reviews(inputs["reviews"])
    table = compare_conditions(reviews, METRICS, config.ci_level)
    numbers = {f"stats.{k}": v for k, v in _table_numbers(table).items()}
    numbers["stats.n_reviews"] = len(reviews)
    numbers["stats.n_ideas"] = int(reviews["idea_id"].nunique())
    numbers["stats.per_reviewer_test"] = "skipped: reviewer ids withheld in the release (Test 3 needs them)"
    return StepResult(numbers=numbers, tables={"table": table})


def stats_idea_step(inputs: Mapping[str, Path], config: StatsConfig) -> StepResult:
    """Test 2 (paper Table 8): every idea (mean of its reviews) a data point; n = 49 per condition."""
    ideas = idea_means(load_reviews(inputs["reviews"]))
    table = compare_conditions(ideas, METRICS, config.ci_level)
    numbers = {f"stats_idea.{k}": v for k, v in _table_numbers(table).items()}
    return StepResult(numbers=numbers, tables={"table": table})


@dataclass(frozen=True)
class PerTopicConfig:
    alpha: float = 0.05  # significance level for the count of significant topics


def per_topic_step(inputs: Mapping[str, Path], config: PerTopicConfig) -> StepResult:
    """Per-topic breakdown (paper App., per-topic table): Welch t per topic, p_adj = min(10 p, 1)."""
    table = per_topic(load_reviews(inputs["reviews"]))
    numbers: dict[str, object] = {}
    for row in table.itertuples(index=False):
        cond = CONDITION_KEY[row.condition]
        base = f"per_topic.{row.topic.lower()}.{row.metric}"
        numbers[f"{base}.mean.human"] = row.mean_human
        numbers[f"{base}.mean.{cond}"] = row.mean
        numbers[f"{base}.p_adj.{cond}"] = row.p_adj
    for metric in METRICS:
        for cond in CONDITIONS[1:]:
            sel = table[(table.metric == metric) & (table.condition == cond)]
            key = CONDITION_KEY[cond]
            numbers[f"per_topic.summary.{metric}.n_topics_higher.{key}"] = int((sel["mean"] > sel["mean_human"]).sum())
            numbers[f"per_topic.summary.{metric}.n_topics_significant.{key}"] = int((sel["p_adj"] < config.alpha).sum())
    numbers["per_topic.n_topics"] = int(table["topic"].nunique())
    return StepResult(numbers=numbers, tables={"table": table})


@dataclass(frozen=True)
class MixedConfig:
    method: str = "lbfgs"  # statsmodels MixedLM optimiser
    reml: bool = True      # REML (statsmodels' default) or ML


def mixed_step(inputs: Mapping[str, Path], config: MixedConfig) -> StepResult:
    """Mixed-effects model (paper App.): score ~ condition + (1 | topic) + (1 | idea); no reviewer term."""
    reviews = load_reviews(inputs["reviews"])
    rows, numbers = [], {"mixed.reviewer_term": REVIEWER_TERM}
    for metric in METRICS:
        fit = mixed_model(reviews, metric, config.method, config.reml)
        for cond in CONDITIONS[1:]:
            key = CONDITION_KEY[cond]
            numbers[f"mixed.{metric}.coef.{key}"] = fit.coef[cond]
            numbers[f"mixed.{metric}.p.{key}"] = fit.pvalue[cond]
            rows.append({"metric": metric, "condition": cond, "coef": fit.coef[cond], "p": fit.pvalue[cond]})
        numbers[f"mixed.{metric}.intercept"] = fit.intercept
        numbers[f"mixed.{metric}.var_topic"] = fit.var_topic
        numbers[f"mixed.{metric}.var_idea"] = fit.var_idea
        numbers[f"mixed.{metric}.var_residual"] = fit.var_residual
        numbers[f"mixed.{metric}.converged"] = fit.converged
    return StepResult(numbers=numbers, tables={"table": pd.DataFrame(rows)})


# --- the ideation agent -----------------------------------------------------------------------


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


@dataclass(frozen=True)
class RetrievalConfig:
    backend: Literal["local", "semantic_scholar"] = "local"  # offline TF-IDF index, or the S2 Graph API
    bank_size: int = 120                 # papers kept per topic (paper: 120)
    limit: int = 20                      # results per search call (paper: 20)
    expand_top: int = 10                 # best papers whose titles seed the next queries (paper: 10)
    max_queries: int = 20                # searches per topic at most
    cache: str = "resources/semantic_scholar/cache.sqlite"  # S2 response cache (networked runs)
    api_key_env: str = "S2_API_KEY"      # environment variable with the S2 key (optional)
    topics: dict[str, str] = field(default_factory=dict)  # topic -> description (the query)


def retrieval_step(inputs: Mapping[str, Path], config: RetrievalConfig) -> StepResult:
    """Sec. 3.1: a paper bank per topic (Semantic Scholar online; a local TF-IDF index offline)."""
    from repro.ideagen.retrieval import LocalIndex, SemanticScholarClient, build_bank

    if not config.topics:
        raise ValueError("ideagen.retrieval.topics: no topics configured")
    if config.backend == "local":
        searcher = LocalIndex(_local_corpus(inputs["reviews"], inputs["titles"]))
    else:
        searcher = SemanticScholarClient(config.cache, api_key_env=config.api_key_env)
    rows, numbers = [], {"retrieval.backend": config.backend}
    for topic, query in config.topics.items():
        bank = build_bank(searcher, query, config.bank_size, config.limit, config.expand_top, config.max_queries)
        numbers[f"retrieval.{topic.lower()}.n_papers"] = len(bank)
        numbers[f"retrieval.{topic.lower()}.own_topic_fraction"] = (
            float(np.mean([p.paper_id.startswith(topic + "_") for p in bank])) if bank else float("nan"))
        rows += [{"topic": topic, "query": query, "rank": r, "paper_id": p.paper_id, "title": p.title, "score": p.score}
                 for r, p in enumerate(bank)]
    return StepResult(numbers=numbers, tables={"bank": pd.DataFrame(rows)})


@dataclass(frozen=True)
class GeneratorConfig:
    order: int = 3                               # n-gram order of the stand-in generator
    weights: tuple[float, ...] = (0.05, 0.25, 0.7)  # interpolation weights, history length 0..order-1
    heldout_fraction: float = 0.2                # titles held out to score the model against its floor
    seed: int = 0


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


@dataclass(frozen=True)
class SeedsConfig:
    llm: str = "claude"              # a key of the llms section
    n_per_topic: int = 4000          # seed ideas per topic (paper: 4,000)
    ideas_per_call: int = 5          # ideas asked for in one prompt (paper: 5)
    samples_per_call: int = 1        # completions per call (the stand-in returns one idea per completion)
    temperature: float = 1.0         # paper: 1.0 (top_p 1.0)
    max_tokens: int = 4096
    avoid_repeating: int = 10000     # existing idea names listed in the prompt ("avoid repeating")
    seed: int = 0
    in_prompt: int = 10              # bank papers shown in each seed prompt (paper: 10)
    topics: tuple[str, ...] = ()     # topics to generate for (names in the retrieval bank)


@dataclass(frozen=True)
class SeedsStepConfig:
    seeds: SeedsConfig
    llms: dict[str, dict[str, object]] = field(default_factory=dict)  # named LLM blocks


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
        ideas = generate_seeds(llm, topic, queries[topic], papers[topic][: config.in_prompt],
                               config.n_per_topic, config.ideas_per_call, config.samples_per_call,
                               config.temperature, config.max_tokens, config.seed + 1_000_003 * k,
                               config.avoid_repeating)
        numbers[f"seeds.{topic.lower()}.n"] = len(ideas)
        numbers[f"seeds.{topic.lower()}.distinct_names"] = len({i["name"].lower() for i in ideas})
        rows += [{"topic": topic, "index": i, "name": d["name"], "text": idea_text(d)} for i, d in enumerate(ideas)]
    llm.close()
    numbers["seeds.n_total"] = len(rows)
    return StepResult(numbers=numbers, tables={"seeds": pd.DataFrame(rows)})


@dataclass(frozen=True)
class EmbedConfig:
    batch_size: int = 64   # encode batch size
    device: str = "cpu"    # cpu or cuda


def embed_step(inputs: Mapping[str, Path], config: EmbedConfig) -> StepResult:
    """MiniLM embeddings of the seed ideas and of the study's idea titles (cached as .npy files)."""
    from repro.ideagen.embed import EXAMPLE_PREFIX, MODEL_ID, PACKAGE, embed_texts, encode_vectors, sanity_vector

    seeds = pd.read_csv(inputs["seeds"], keep_default_na=False)
    titles = load_titles(inputs["titles"])
    seed_emb = embed_texts(seeds["text"].tolist(), config.batch_size, config.device, progress=True)
    study_emb = embed_texts(titles["title"].tolist(), config.batch_size, config.device)
    ref = sanity_vector(config.device)
    numbers = {
        "embed.model": f"{MODEL_ID} (PyPI {PACKAGE}==0.1.0)",
        "embed.n_seeds": len(seed_emb),
        "embed.n_study": len(study_emb),
        "embed.dim": int(seed_emb.shape[1]),
        "embed.sanity_max_abs_diff": float(np.max(np.abs(ref[: len(EXAMPLE_PREFIX)] - np.array(EXAMPLE_PREFIX)))),
    }
    tables = {
        "seed_emb": pd.DataFrame({"topic": seeds["topic"], "index": seeds["index"], "vector": encode_vectors(seed_emb)}),
        "study_emb": pd.DataFrame({"idea_id": titles["idea_id"], "vector": encode_vectors(study_emb)}),
    }
    return StepResult(numbers=numbers, tables=tables)


@dataclass(frozen=True)
class DedupConfig:
    threshold: float = 0.8                        # cosine above which an idea is a duplicate (paper: 0.8)
    checkpoints: tuple[int, ...] = (100, 500, 1000, 2000, 4000)  # n at which the unique fraction is reported
    window: int = 100                             # ideas per window for the first/last new-idea rate


def dedup_step(inputs: Mapping[str, Path], config: DedupConfig) -> StepResult:
    """Sec. 3.2 / Sec. 7: greedy dedup at the cosine threshold; non-duplicates vs generated."""
    from repro.ideagen.dedup import greedy_dedup, new_rate, nondup_curve
    from repro.ideagen.embed import decode_vectors

    seeds = pd.read_csv(inputs["seeds"], keep_default_na=False)
    emb = decode_vectors(pd.read_csv(inputs["seed_emb"])["vector"])
    if len(emb) != len(seeds):
        raise ValueError(f"{inputs['seed_emb']}: {len(emb)} embeddings for {len(seeds)} seeds")
    numbers: dict[str, object] = {"dedup.threshold": config.threshold}
    curves, fracs, firsts, lasts = [], {n: [] for n in config.checkpoints}, [], []
    for topic, grp in seeds.groupby("topic", sort=True):
        rows = grp.sort_values("index").index.to_numpy()
        keep = greedy_dedup(emb[rows], grp.loc[rows, "name"].tolist(), config.threshold)
        curve = nondup_curve(keep)
        n = len(curve)
        t = topic.lower()
        numbers[f"dedup.topic.{t}.n_generated"] = n
        numbers[f"dedup.topic.{t}.n_unique"] = int(curve[-1])
        for c in config.checkpoints:
            if c <= n:
                numbers[f"dedup.topic.{t}.unique_fraction.n{c}"] = float(curve[c - 1] / c)
                fracs[c].append(curve[c - 1] / c)
        w = min(config.window, n)
        firsts.append(new_rate(keep, 0, w))
        lasts.append(new_rate(keep, n - w, n))
        curves.append(pd.DataFrame({"topic": topic, "generated": np.arange(1, n + 1), "nondup": curve}))
    for c, vals in fracs.items():
        if vals:
            numbers[f"dedup.unique_fraction.n{c}"] = float(np.mean(vals))
    numbers["dedup.new_rate.first_window"] = float(np.mean(firsts))
    numbers["dedup.new_rate.last_window"] = float(np.mean(lasts))
    return StepResult(numbers=numbers, tables={"curve": pd.concat(curves, ignore_index=True)})


@dataclass(frozen=True)
class TournamentConfig:
    judge: Literal["proxy", "llm"] = "proxy"  # proxy: offline embedding judge; llm: the paper's judge
    llm: str = "claude"          # a key of the llms section (judge = llm)
    rounds: int = 5              # Swiss rounds (paper: 5)
    folds: int = 5               # cross-fitting folds: each fold is ranked by a judge fit on the others
    c: float = 1.0               # inverse L2 strength of the proxy's logistic regression
    random_repeats: int = 200    # random-judge tournaments for the floor
    seed: int = 0


@dataclass(frozen=True)
class TournamentStepConfig:
    tournament: TournamentConfig
    llms: dict[str, dict[str, object]] = field(default_factory=dict)  # named LLM blocks


def tournament_step(inputs: Mapping[str, Path], config: TournamentStepConfig) -> StepResult:
    """Sec. 3.3: Swiss tournament over the study's titled ideas; Spearman with the human overall score.

    The ideas (49 Human + 49 AI with released titles) are split into folds; each fold is
    ranked by a judge that never saw its ideas' scores, and the rank correlation with the
    ideas' mean human overall score is averaged over folds. Floors: a random judge's
    tournaments (mean and 95th percentile of Spearman) and 0.5 pairwise accuracy.
    """
    from repro.ideagen.embed import decode_vectors
    from repro.ideagen.tournament import LLMJudge, ProxyJudge, RandomJudge, pairwise_accuracy, swiss_tournament

    llms = config.llms
    config = config.tournament

    reviews = load_reviews(inputs["reviews"])
    titles = load_titles(inputs["titles"])
    study = pd.read_csv(inputs["study_emb"])
    if study["idea_id"].tolist() != titles["idea_id"].tolist():
        raise ValueError(f"{inputs['study_emb']}: rows do not follow {inputs['titles']}")
    emb_all = decode_vectors(study["vector"])
    human = reviews.groupby("idea_id")["overall"].mean()
    ok = titles["idea_id"].isin(human.index).to_numpy()
    titles, emb_all = titles[ok].reset_index(drop=True), emb_all[ok]
    target = human.loc[titles["idea_id"]].to_numpy(float)
    rng = np.random.default_rng(config.seed)
    fold = rng.permutation(len(titles)) % config.folds
    llm = None
    if config.judge == "llm":
        from repro.common.llm import from_params

        llm = from_params(_llm_block(llms, config.llm, "tournament.llm"))
    rhos, accs, rand_rhos, rows = [], [], [], []
    for f in range(config.folds):
        test = np.where(fold == f)[0]
        train = np.where(fold != f)[0]
        if config.judge == "proxy":
            judge = ProxyJudge.fit(emb_all[train], target[train], emb_all[test], config.c)
        else:
            judge = LLMJudge(llm, titles["title"].to_numpy()[test].tolist())
        scores = swiss_tournament(len(test), judge, config.rounds, np.random.default_rng(config.seed + f))
        rhos.append(sstats.spearmanr(scores, target[test]).statistic)
        accs.append(pairwise_accuracy(judge, target[test]))
        for r in range(config.random_repeats):
            rr = np.random.default_rng([config.seed, f, r])
            rs = swiss_tournament(len(test), RandomJudge(rr), config.rounds, rr)
            rand_rhos.append(sstats.spearmanr(rs, target[test]).statistic)
        rows += [{"idea_id": titles["idea_id"][i], "condition": titles["condition"][i], "fold": f,
                  "tournament_score": int(s), "human_overall": target[i]} for i, s in zip(test, scores)]
    rand = np.asarray(rand_rhos, float)
    rand = rand[np.isfinite(rand)]
    table = pd.DataFrame(rows)
    numbers = {
        "tournament.label": JUDGE_LABEL if config.judge == "proxy" else "LLM judge: " + config.llm,
        "tournament.judge": config.judge,
        "tournament.n_ideas": len(titles),
        "tournament.rounds": config.rounds,
        "tournament.folds": config.folds,
        "tournament.spearman_with_human": float(np.mean(rhos)),
        "tournament.spearman_by_fold": [float(r) for r in rhos],
        "tournament.judge_pairwise_accuracy": float(np.mean(accs)),
        "tournament.floor.random.spearman_mean": float(rand.mean()),
        "tournament.floor.random.spearman_p95": float(np.quantile(rand, 0.95)),
        "tournament.floor.random.pairwise_accuracy": 0.5,
        "tournament.top_fraction_ai": float(
            (table.sort_values("tournament_score", ascending=False).head(len(table) // 4)["condition"] == "AI").mean()),
    }
    return StepResult(numbers=numbers, tables={"table": table})
