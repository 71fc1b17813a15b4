"""Exact-tier steps (human-study statistics); re-exported by :mod:`repro.ideagen.steps`."""

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
from repro.ideagen.config import MixedConfig, PerTopicConfig, StatsConfig
from repro.ideagen.data import CONDITION_KEY, CONDITIONS, METRICS, idea_means, load_reviews, load_titles
from repro.ideagen.stats import REVIEWER_TERM, compare_conditions, mixed_model, per_topic

log = logging.getLogger(__name__)


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


@step()
def stats_step(inputs: Mapping[str, Path], config: StatsConfig) -> StepResult:
    """Test 1 (paper Table 7): every review a data point; Welch t, Bonferroni over 5 metrics."""
    reviews = load_reviews(inputs["reviews"])
    table = compare_conditions(reviews, METRICS, config.ci_level)
    numbers = {f"stats.{k}": v for k, v in _table_numbers(table).items()}
    numbers["stats.n_reviews"] = len(reviews)
    numbers["stats.n_ideas"] = int(reviews["idea_id"].nunique())
    numbers["stats.per_reviewer_test"] = "skipped: reviewer ids withheld in the release (Test 3 needs them)"
    return StepResult(numbers=numbers, tables={"table": table})


@step()
def stats_idea_step(inputs: Mapping[str, Path], config: StatsConfig) -> StepResult:
    """Test 2 (paper Table 8): every idea (mean of its reviews) a data point; n = 49 per condition."""
    ideas = idea_means(load_reviews(inputs["reviews"]))
    table = compare_conditions(ideas, METRICS, config.ci_level)
    numbers = {f"stats_idea.{k}": v for k, v in _table_numbers(table).items()}
    return StepResult(numbers=numbers, tables={"table": table})


@step()
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


@step()
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
