"""Figures of "Can LLMs Generate Novel Research Ideas?", drawn from the compute steps' small tables.

* ``scores`` -- Fig. 2: mean score per metric and condition (reviews as units) with
  confidence intervals; * marks p_adj < alpha against Human (Welch, Bonferroni).
* ``scores_idea`` -- the same with ideas as units (Test 2).
* ``per_topic`` -- per-topic breakdown (App.): novelty per topic and condition, * for p_adj < alpha (x10).
* ``nondup`` -- Sec. 7 diversity figure: non-duplicate seed ideas vs generated, per topic
  (tiny: the stand-in generator).
* ``tournament`` -- Swiss-tournament score vs mean human overall score (held-out folds; proxy judge).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from repro.ideagen.data import CONDITIONS, METRICS

COLORS = {"Human": "#7f7f7f", "AI": "#1f77b4", "AI_Rerank": "#d62728"}
NAMES = {"Human": "Human", "AI": "AI", "AI_Rerank": "AI + Human Rerank"}


def _bars(table: pd.DataFrame, labels: Mapping[str, Any]) -> plt.Figure:
    alpha = float(labels.get("alpha", 0.05))
    fig, ax = plt.subplots(figsize=(8.0, 3.6))
    x = np.arange(len(METRICS))
    width = 0.8 / len(CONDITIONS)
    for i, cond in enumerate(CONDITIONS):
        sub = table[table["condition"] == cond].set_index("metric").loc[list(METRICS)]
        pos = x + (i - 1) * width
        err = np.vstack([sub["mean"] - sub["ci_low"], sub["ci_high"] - sub["mean"]])
        ax.bar(pos, sub["mean"], width, yerr=err, capsize=3, color=COLORS[cond], label=NAMES[cond])
        for p, m, hi, padj in zip(pos, sub["mean"], sub["ci_high"], sub["p_adj"]):
            ax.annotate(f"{m:.2f}", (p, 0.15), ha="center", fontsize=6, color="white", rotation=90)
            if np.isfinite(padj) and padj < alpha:
                ax.annotate("*", (p, hi + 0.05), ha="center", fontsize=12, color="red")
    ax.set_xticks(x, [labels.get("metric_names", {}).get(m, m) for m in METRICS])
    ax.set_ylim(0, 8)
    ax.set_ylabel(labels.get("ylabel", "score (1-10)"))
    ax.set_title(labels.get("title", ""))
    ax.legend(loc="upper right", ncols=3)
    return fig


def plot_scores(inputs: Mapping[str, Path], labels: Mapping[str, Any]) -> plt.Figure:
    """Fig. 2 (reviews as units)."""
    return _bars(pd.read_csv(inputs["table"]), labels)


def plot_nondup(inputs: Mapping[str, Path], labels: Mapping[str, Any]) -> plt.Figure:
    """Non-duplicate ideas vs generated seed ideas, one line per topic, and the y = x line."""
    curve = pd.read_csv(inputs["curve"])
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for topic, grp in curve.groupby("topic", sort=True):
        ax.plot(grp["generated"], grp["nondup"], label=topic, lw=1.2)
    n = int(curve["generated"].max())
    ax.plot([0, n], [0, n], "k:", lw=0.8, label="no duplicates")
    ax.set_xlabel("seed ideas generated")
    ax.set_ylabel("non-duplicate ideas")
    ax.set_title(labels.get("title", ""))
    ax.legend(ncols=2)
    return fig


def plot_tournament(inputs: Mapping[str, Path], labels: Mapping[str, Any]) -> plt.Figure:
    """Tournament score (held-out folds) against the mean human overall score of each idea."""
    t = pd.read_csv(inputs["table"])
    rng = np.random.default_rng(0)
    fig, ax = plt.subplots(figsize=(5.0, 3.8))
    for cond, grp in t.groupby("condition", sort=True):
        jitter = rng.uniform(-0.15, 0.15, len(grp))
        ax.scatter(
            grp["tournament_score"] + jitter,
            grp["human_overall"],
            s=14,
            color=COLORS.get(cond, "k"),
            label=NAMES.get(cond, cond),
            alpha=0.8,
        )
    ax.set_xlabel("Swiss tournament score (held-out fold)")
    ax.set_ylabel("mean human overall score")
    ax.set_title(labels.get("title", ""))
    ax.legend()
    return fig


def plot_per_topic(inputs: Mapping[str, Path], labels: Mapping[str, Any]) -> plt.Figure:
    """Per-topic mean of one metric (``labels.metric``, default novelty) per condition; * p_adj < alpha."""
    t = pd.read_csv(inputs["table"])
    metric = str(labels.get("metric", "novelty"))
    alpha = float(labels.get("alpha", 0.05))
    t = t[t["metric"] == metric]
    topics = sorted(t["topic"].unique())
    fig, ax = plt.subplots(figsize=(8.0, 3.4))
    x = np.arange(len(topics))
    width = 0.8 / len(CONDITIONS)
    human = t.groupby("topic")["mean_human"].first().loc[topics]
    ax.bar(x - width, human, width, color=COLORS["Human"], label=NAMES["Human"])
    for i, cond in enumerate(CONDITIONS[1:]):
        sub = t[t["condition"] == cond].set_index("topic").loc[topics]
        pos = x + i * width
        ax.bar(pos, sub["mean"], width, color=COLORS[cond], label=NAMES[cond])
        for p, m, padj in zip(pos, sub["mean"], sub["p_adj"]):
            if np.isfinite(padj) and padj < alpha:
                ax.annotate("*", (p, m + 0.05), ha="center", fontsize=12, color="red")
    ax.set_xticks(x, topics)
    ax.set_ylim(0, 8)
    ax.set_ylabel(f"mean {metric} score")
    ax.set_title(labels.get("title", ""))
    ax.legend(loc="upper right", ncols=3)
    return fig


FIGURES = {
    "per_topic": plot_per_topic,
    "scores": plot_scores,
    "scores_idea": plot_scores,
    "nondup": plot_nondup,
    "tournament": plot_tournament,
}
