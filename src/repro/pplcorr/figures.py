"""Figures of pplcorr (compute never plots): the registry read by workflow/scripts/common/figure.py."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from repro.common.io import read_json  # noqa: E402


def _grid(n: int, width: float = 4.0, height: float = 3.0):
    cols = min(4, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def top10(inputs: Mapping[str, Path], labels: Mapping[str, Any]):
    """Top-ten documents per target; bars filled when the document is in the released top ten."""
    df = pd.read_csv(inputs["top10"])
    targets = list(dict.fromkeys(df["target"]))
    fig, axes = _grid(len(targets), 4.5, 3.6)
    for ax, t in zip(axes, targets, strict=False):
        d = df[df["target"] == t].sort_values("rank", ascending=False)
        colors = ["tab:blue" if r else "white" for r in d["in_reference"]]
        ax.barh([s[:28] for s in d["text"]], d["estimate"], color=colors, edgecolor="tab:blue")
        ax.set_title(f"{t} ({int(d['in_reference'].sum())}/10 in reference)", fontsize=9)
        ax.set_xlabel("spearmanr estimate")
        ax.tick_params(axis="y", labelsize=6)
        lo, hi = d["estimate"].min(), d["estimate"].max()
        ax.set_xlim(lo - 0.1 * (hi - lo + 1e-9), hi + 0.05 * (hi - lo + 1e-9))
    fig.suptitle(labels.get("title", ""))
    fig.tight_layout()
    return fig


def heldout(inputs: Mapping[str, Path], labels: Mapping[str, Any]):
    """Predicted vs true held-out error per target, Spearman in the title."""
    df = pd.read_csv(inputs["heldout"])
    nums = read_json(inputs["numbers"])
    targets = list(dict.fromkeys(df["target"]))
    fig, axes = _grid(len(targets))
    for ax, t in zip(axes, targets, strict=False):
        d = df[df["target"] == t]
        ax.scatter(d["predicted"], d["error"], s=8)
        rho = nums.get("exact", {}).get(t, {}).get("heldout_spearman", float("nan"))
        ax.set_title(f"{t}: Spearman {rho:.3f}", fontsize=9)
        ax.set_xlabel("predicted (BPB on selected docs)")
        ax.set_ylabel("error / perplexity")
    fig.suptitle(labels.get("title", ""))
    fig.tight_layout()
    return fig


def live_arms(inputs: Mapping[str, Path], labels: Mapping[str, Any]):
    """Fresh-transformer error per arm (mean over seeds, seeds as dots) per target, beside the byte
    4-gram cross-check, the count-based bigram floor (same pages) and the random-guess floor."""
    df = pd.read_csv(inputs["arms"])
    nums = read_json(inputs["numbers"])
    floor = nums.get("live", {}).get("floor", {}).get("cloze_error")
    targets = list(dict.fromkeys(df["target"]))
    arms = list(dict.fromkeys(df["arm"]))
    fig, axes = _grid(len(targets), 4.0, 3.2)
    for ax, t in zip(axes, targets, strict=False):
        d = df[df["target"] == t]
        means = [d.loc[d["arm"] == a, "error"].mean() for a in arms]
        stds = [d.loc[d["arm"] == a, "error"].std(ddof=0) for a in arms]
        ax.bar(arms, means, yerr=stds, color="lightgray", edgecolor="k", capsize=3)
        for i, a in enumerate(arms):
            e = d.loc[d["arm"] == a, "error"]
            ax.scatter(
                np.full(len(e), i), e, s=10, color="k", zorder=3, label="transformer (seeds)" if i == 0 else None
            )
            if "ngram_error" in d.columns:
                ng = d.loc[d["arm"] == a, "ngram_error"].mean()
                fl = d.loc[d["arm"] == a, "bigram_floor_error"].mean()
                ax.scatter(
                    [i + 0.25], [ng], marker="^", color="tab:blue", zorder=3, label="byte 4-gram" if i == 0 else None
                )
                ax.scatter(
                    [i + 0.25],
                    [fl],
                    marker="_",
                    s=80,
                    color="tab:red",
                    zorder=3,
                    label="bigram floor" if i == 0 else None,
                )
        if floor is not None:
            ax.axhline(floor, ls="--", color="tab:red", label="random guess")
            ax.legend(fontsize=7)
        ax.set_title(t)
        ax.set_ylabel("cloze error")
        ax.tick_params(axis="x", labelsize=8)
    fig.suptitle(labels.get("title", ""))
    fig.tight_layout()
    return fig


FIGURES = {"top10": top10, "heldout": heldout, "live_arms": live_arms}
