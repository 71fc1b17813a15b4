"""entigraph figures (compute never plots: each reads a small CSV/JSON written by a step)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from repro.common.io import flatten


def toy_model(inputs: Mapping[str, Path], labels: Mapping[str, Any]) -> plt.Figure:
    """Sec. 6: simulated link density per seed vs the exact expectation, the branching-process approximation,
    Theorem 1's bounds and the mixture-of-exponentials fit (first seed), on a log step axis."""
    df = pd.read_csv(inputs["curves"])
    nums = flatten(json.loads(Path(inputs["numbers"]).read_text()))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    seeds = list(dict.fromkeys(df.seed))
    for i, seed in enumerate(seeds):
        sub = df[(df.seed == seed) & (df.t > 0)]
        ax.plot(sub.t, sub.simulated, "o", ms=3, color=f"C{i}", label=f"simulated (seed {seed})")
        ax.plot(sub.t, sub.exact, "-", lw=1, color=f"C{i}", label="exact E[Acc | M0]" if i == 0 else None)
        ax.axhline(sub.reachable.iloc[0], color=f"C{i}", lw=0.6, ls=":")
    first = df[(df.seed == seeds[0]) & (df.t > 0)]
    ax.plot(first.t, first.fit, "--", color="k", lw=1, label=f"mixture-of-exp fit (RMSE {nums['math.fit_rmse']:.1e})")
    ax.plot(first.t, first.approx, "-.", color="C3", lw=1.2, label="branching-process approximation")
    ax.fill_between(first.t, first.lower, first.upper, color="0.85", label="Theorem 1 bounds", zorder=0)
    ax.axhline(nums["math.c_lambda"], color="0.4", lw=0.8, ls="--", label=f"C_lambda = {nums['math.c_lambda']:.4f}")
    ax.set_xscale("log")
    ax.set_xlabel("synthetic steps t")
    ax.set_ylabel("link density Acc(M_t)")
    ax.set_ylim(0, 1.05)
    ax.set_title(labels.get("toy_title", "toy model"))
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def scaling(inputs: Mapping[str, Path], labels: Mapping[str, Any]) -> plt.Figure:
    """Fig. 2 analogue: closed-book QA accuracy vs domain tokens per CPT corpus (mean over seeds with the
    seeds' sd as error bars, each seed faint), the mixture fits on EntiGraph (plateau bounded by 1, and
    unbounded), the base model, the random floor and the open-book (RAG) points."""
    df = pd.read_csv(inputs["scaling"])
    nums = flatten(json.loads(Path(inputs["numbers"]).read_text()))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, method in enumerate(("raw", "rephrase", "entigraph")):
        sub = df[(df.method == method) & (df.kind == "closed")]
        if len(sub):
            yerr = sub.qa_sd.fillna(0.0) if "qa_sd" in sub else None  # sd over seeds (0: one seed)
            ax.errorbar(
                sub.tokens, sub.qa_accuracy, yerr=yerr, fmt="o-", color=f"C{i}", capsize=2, label=f"{method} CPT"
            )
            ax.plot(sub.tokens, sub.count_floor, "x:", color=f"C{i}", alpha=0.6, ms=4, label=f"{method}: count floor")
        seeds = df[(df.method == method) & (df.kind == "seed")]
        if len(seeds):
            ax.plot(seeds.tokens, seeds.qa_accuracy, ".", color=f"C{i}", alpha=0.35, ms=4)
    for kind, style, text in (
        ("fit_bounded", "--", "mixture-of-exp fit, plateau <= 1 (EntiGraph)"),
        ("fit", ":", "mixture-of-exp fit, unbounded"),
    ):
        fit = df[df.kind == kind]
        if len(fit):
            ax.plot(fit.tokens, fit.qa_accuracy, style, color="C2", lw=1, label=text)
    ax.axhline(nums["tiny.base.qa_accuracy"], color="0.3", lw=1, label="base model (no CPT)")
    ax.axhline(nums["tiny.floor.random.qa_accuracy"], color="0.6", lw=1, ls=":", label="random")
    for key, marker, text in (
        ("tiny.rag.base.qa_accuracy", "s", "RAG + base"),
        ("tiny.rag.entigraph.qa_accuracy", "*", "RAG + EntiGraph CPT"),
    ):
        if key in nums:
            x = df.tokens[df.kind == "closed"].max()
            ax.plot([x * 1.4], [nums[key]], marker, ms=9, label=text)
    ax.set_xscale("log")
    ax.set_xlabel("domain tokens in continued pretraining")
    ax.set_ylabel("QA accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(labels.get("scaling_title", "scaling"))
    ax.legend(fontsize=7, loc="upper left", ncol=2)
    fig.tight_layout()
    return fig


FIGURES = {"toy_model": toy_model, "scaling": scaling}
