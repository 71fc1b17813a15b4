"""Dedup (diversity curve) and tournament steps; re-exported by :mod:`repro.ideagen.steps`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sstats

from repro.common.seeds import seed_everything
from repro.common.steps import StepResult
from repro.ideagen.config import DedupConfig, TournamentStepConfig
from repro.ideagen.data import CONDITION_KEY, CONDITIONS, METRICS, idea_means, load_reviews, load_titles
from repro.ideagen.stats import REVIEWER_TERM, compare_conditions, mixed_model, per_topic

log = logging.getLogger(__name__)
from repro.common.declarations import step
from repro.ideagen._agent_steps import JUDGE_LABEL, _llm_block


@step()
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


@step(
    reads=("tournament", "llms"),
    not_run={
        "paper_toy": (
            "a stand-in judge: LLMJudge needs a reply that holds 1 or 2 and raises otherwise (as it should at paper "
            "scale); the rehearsal's toy chat model (random weights) answers noise such as ':~ But' (issue 34)"
        )
    },
)
def tournament_step(inputs: Mapping[str, Path], config: TournamentStepConfig) -> StepResult:
    """Sec. 3.3: Swiss tournament over the study's titled ideas; Spearman with the human overall score.

    The ideas (49 Human + 49 AI with released titles) are split into folds; each fold is
    ranked by a judge that never saw its ideas' scores, and the rank correlation with the
    ideas' mean human overall score is averaged over folds. Floors: a random judge's
    tournaments in the same folds (mean and 95th percentile over repeats of the fold-averaged
    Spearman) and 0.5 pairwise accuracy.
    """
    from repro.ideagen.embed import decode_vectors
    from repro.ideagen.tournament import (
        LLMJudge,
        ProxyJudge,
        RandomJudge,
        bootstrap_pairwise_accuracy,
        pairwise_hits,
        swiss_tournament,
    )

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
    rhos, accs, rows, pair_mats = [], [], [], []
    rand_rhos = np.full((config.folds, config.random_repeats), np.nan)
    for f in range(config.folds):
        test = np.where(fold == f)[0]
        train = np.where(fold != f)[0]
        if config.judge == "proxy":
            judge = ProxyJudge.fit(emb_all[train], target[train], emb_all[test], config.c)
        else:
            judge = LLMJudge(llm, titles["title"].to_numpy()[test].tolist())
        scores = swiss_tournament(len(test), judge, config.rounds, np.random.default_rng(config.seed + f))
        rhos.append(sstats.spearmanr(scores, target[test]).statistic)
        hit, judged = pairwise_hits(judge, target[test])
        pair_mats.append((hit, judged))
        accs.append(float(np.triu(hit & judged, 1).sum() / np.triu(judged, 1).sum()))
        for r in range(config.random_repeats):
            rr = np.random.default_rng([config.seed, f, r])
            rs = swiss_tournament(len(test), RandomJudge(rr), config.rounds, rr)
            rand_rhos[f, r] = sstats.spearmanr(rs, target[test]).statistic
        rows += [
            {
                "idea_id": titles["idea_id"][i],
                "condition": titles["condition"][i],
                "fold": f,
                "tournament_score": int(s),
                "human_overall": target[i],
            }
            for i, s in zip(test, scores)
        ]
    rand = np.nanmean(rand_rhos, axis=0)  # the floor of the statistic reported: the mean over folds
    # The judge's noise (issue 27): judged pairs, a binomial SE under chance (0.5) and a bootstrap SE
    # over ideas (pairs sharing an idea are dependent), so a gate can ask for chance + 2 SE.
    n_pairs = int(sum(np.triu(j, 1).sum() for _, j in pair_mats))
    boot = bootstrap_pairwise_accuracy(pair_mats, config.judge_bootstrap, np.random.default_rng([config.seed, 27]))
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
        "tournament.judge.accuracy_by_fold": accs,
        "tournament.judge.n_pairs": n_pairs,
        "tournament.judge.se_binomial": float(0.5 / np.sqrt(n_pairs)),
        "tournament.judge.se_bootstrap": float(np.std(boot, ddof=1)),
        "tournament.judge.bootstrap_replicates": int(config.judge_bootstrap),
        "tournament.floor.random.spearman_mean": float(rand.mean()),
        "tournament.floor.random.spearman_p95": float(np.quantile(rand, 0.95)),
        "tournament.floor.random.pairwise_accuracy": 0.5,
        "tournament.top_fraction_ai": float(
            (table.sort_values("tournament_score", ascending=False).head(len(table) // 4)["condition"] == "AI").mean()
        ),
    }
    return StepResult(numbers=numbers, tables={"table": table})
