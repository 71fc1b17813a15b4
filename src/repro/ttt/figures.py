"""Figures of the ttt experiments (Sun et al. 2024, Figs. on loss by token index, FLOPs, ablation, latency; Table 1).

Each function takes the small tables written by the numbers step (pandas DataFrames) and returns a matplotlib
figure; saving is :func:`repro.common.plotting.savefig`'s job.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from repro.common.plotting import apply_style
from repro.common.scorecard import load_expected
from repro.ttt.archs import ARCHS

ARCH_COLORS = {name: arch.color for name, arch in ARCHS.items()}


def plot_position_loss(curves: pd.DataFrame, scale: str) -> plt.Figure:
    """Held-out loss vs token index (log x), one panel per size, one line per arch (mean over seeds)."""
    apply_style()
    sizes = list(dict.fromkeys(curves["size"]))
    fig, axes = plt.subplots(1, len(sizes), figsize=(4.2 * len(sizes), 3.4), squeeze=False)
    for ax, size in zip(axes[0], sizes):
        sub = curves[curves["size"] == size]
        for arch in dict.fromkeys(sub["arch"]):
            a = sub[sub["arch"] == arch].groupby("position", as_index=False)["loss"].mean()
            label = sub[sub["arch"] == arch]["label"].iloc[0]
            ax.plot(a["position"], a["loss"], label=label, color=ARCH_COLORS.get(arch))
        ax.set_xscale("log")
        ax.set_xlabel("token index in the context")
        ax.set_ylabel("held-out loss (nats)")
        ax.set_title(f"size {size} ({scale})")
        ax.legend()
    return fig


def plot_loss_vs_flops(flops: pd.DataFrame, scale: str) -> plt.Figure:
    """Held-out loss along training vs training FLOPs (approximate, 6N + attention), per arch and size."""
    apply_style()
    fig, ax = plt.subplots(figsize=(5.4, 3.8))
    styles = ["-", "--", ":", "-."]
    for i, size in enumerate(dict.fromkeys(flops["size"])):
        sub = flops[flops["size"] == size]
        for arch in dict.fromkeys(sub["arch"]):
            g = sub[sub["arch"] == arch]
            a = g.groupby("flops", as_index=False)["eval_loss"].mean()
            ax.plot(
                a["flops"],
                a["eval_loss"],
                styles[i % len(styles)],
                color=ARCH_COLORS.get(arch),
                label=f"{g['label'].iloc[0]}, {size}",
            )
            ax.plot(a["flops"].iloc[-1], a["eval_loss"].iloc[-1], "o", color=ARCH_COLORS.get(arch))
    ax.set_xscale("log")
    ax.set_xlabel("training FLOPs (approx.)")
    ax.set_ylabel("held-out loss (nats)")
    ax.set_title(f"loss vs training FLOPs ({scale})")
    ax.legend(ncol=2)
    return fig


def plot_minibatch(runs: pd.DataFrame, scale: str) -> plt.Figure:
    """Final held-out loss vs TTT mini-batch size b (``T`` = full-batch GD)."""
    apply_style()
    sub = runs[runs["group"] == "minibatch"].copy()
    sub["order"] = [np.inf if str(b) == "T" else float(b) for b in sub["b"]]
    sub = sub.sort_values("order")
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    x = np.arange(len(sub))
    ax.plot(x, sub["final_eval_loss"], "o-", color=ARCH_COLORS["ttt_linear"])
    ax.set_xticks(x, [str(b) for b in sub["b"]])
    ax.set_xlabel("TTT mini-batch size b")
    ax.set_ylabel("held-out loss (nats)")
    ax.set_title(f"TTT-Linear mini-batch ablation ({scale})")
    return fig


def plot_ladder(runs: pd.DataFrame, paper_ppl: Mapping[str, float], scale: str) -> plt.Figure:
    """Table 1 ladder: our perplexity per row next to the paper's (125M, Pile 2k; a different scale)."""
    apply_style()
    sub = runs[runs["group"] == "ladder"]
    order = [r for r in paper_ppl if r in set(sub["row"])]
    sub = sub.set_index("row").loc[order]
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.6), sharey=True)
    y = np.arange(len(order))[::-1]
    axes[0].barh(y, np.exp(sub["final_eval_loss"].to_numpy()), color="C2")
    axes[0].set_title(f"ours ({scale}): held-out perplexity")
    axes[1].barh(y, [paper_ppl[r] for r in order], color="0.6")
    axes[1].set_title("paper Table 1 (125M, Pile 2k)")
    axes[0].set_yticks(y, list(sub["title"]))
    for ax in axes:
        ax.set_xlabel("perplexity")
        lo = min(ax.patches[i].get_width() for i in range(len(order)))
        ax.set_xlim(0.9 * lo, None)
    fig.suptitle("Table-1 ladder; the two panels are at different scales (compare orderings, not values)", fontsize=9)
    return fig


def plot_latency(latency: pd.DataFrame) -> plt.Figure:
    """Prefill and decode ms per token vs context length, per arch (log-log)."""
    apply_style()
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.6))
    for arch in dict.fromkeys(latency["arch"]):
        g = latency[latency["arch"] == arch].sort_values("ctx")
        for ax, key in zip(axes, ("prefill_ms_per_token", "decode_ms_per_token")):
            ax.plot(g["ctx"], g[key], "o-", label=g["model"].iloc[0], color=ARCH_COLORS.get(arch))
    device = latency["device"].iloc[0]
    for ax, title in zip(axes, ("prefill (forward)", "decode (one token)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("context length")
        ax.set_ylabel("ms per token")
        ax.set_title(f"{title}, {device}")
        ax.legend()
    return fig


# --- the figure registry (rule ttt__fig_<name>; repro.common.figures) -----------------------------


def _ladder(inputs: Mapping[str, Path], labels: Mapping[str, Any]) -> plt.Figure:
    expected = load_expected(inputs["expected"]).entries
    paper = {e.key.split(".")[1]: e.published for e in expected if e.key.startswith("ladder.") and e.published}
    return plot_ladder(pd.read_csv(inputs["table"]), paper, labels["scale"])  # type: ignore[arg-type]


FIGURES: dict[str, Callable[[Mapping[str, Path], Mapping[str, Any]], plt.Figure]] = {
    "position_loss": lambda inputs, labels: plot_position_loss(pd.read_csv(inputs["table"]), labels["scale"]),
    "loss_vs_flops": lambda inputs, labels: plot_loss_vs_flops(pd.read_csv(inputs["table"]), labels["scale"]),
    "minibatch": lambda inputs, labels: plot_minibatch(pd.read_csv(inputs["table"]), labels["scale"]),
    "ladder": _ladder,
    "latency": lambda inputs, labels: plot_latency(pd.read_csv(inputs["table"])),
}
