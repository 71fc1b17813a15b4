"""Figures of the ttt experiments (Sun et al. 2024: loss by token index, inner loss, mini-batch size, Table 1,
FLOPs, latency), the recall study first.

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


RECALL_COLORS = {
    "transformer": "C0",
    "mamba": "C1",
    "ttt_linear_m": "C4",
    "ttt_mlp_m": "C5",
    "linear_attention_m": "C7",
}
RECALL_LABELS = {
    "transformer": "Transformer",
    "mamba": "Mamba",
    "ttt_linear_m": "TTT-Linear (M)",
    "ttt_mlp_m": "TTT-MLP (M)",
    "linear_attention_m": "linear attention (M)",
}


def _log_bins(positions: pd.Series, n_bins: int = 24) -> pd.Series:
    """Token index (1-based) -> geometric mean of its log-spaced bin: averages out the key/value alternation of
    the recall stream (keys and values cost differently) whatever the value length."""
    idx = positions.to_numpy() + 1
    edges = np.unique(np.round(np.geomspace(1, idx.max() + 1, n_bins + 1)).astype(int))
    which = np.clip(np.searchsorted(edges, idx, side="right") - 1, 0, len(edges) - 2)
    centers = np.sqrt(edges[:-1] * np.maximum(edges[1:] - 1, edges[:-1]))
    return pd.Series(centers[which], index=positions.index)


def plot_recall_gap(curves: pd.DataFrame, scale: str) -> plt.Figure:
    """Per-position loss minus the Bayes-optimal loss, averaged within log-spaced bins of token index (per seed),
    then mean over seeds with a min..max band; one panel per number of pairs."""
    apply_style()
    pairs = sorted(set(curves["pairs"]))
    fig, axes = plt.subplots(1, len(pairs), figsize=(4.6 * len(pairs), 3.6), squeeze=False, sharey=True)
    for ax, p in zip(axes[0], pairs):
        sub = curves[curves["pairs"] == p].assign(
            gap=lambda d: d["loss"] - d["bayes"], floor=lambda d: d["no_memory"] - d["bayes"]
        )
        sub = sub.assign(bin=_log_bins(sub["position"]))
        floor = sub.groupby("bin")["floor"].mean()
        ax.plot(floor.index, floor.values, "k:", label="no-memory floor")
        for arch in dict.fromkeys(sub["arch"]):
            per_seed = sub[sub["arch"] == arch].groupby(["seed", "bin"])["gap"].mean().unstack("seed")
            c = RECALL_COLORS.get(arch)
            ax.plot(per_seed.index, per_seed.mean(axis=1), "o-", ms=2.5, color=c, label=RECALL_LABELS.get(arch, arch))
            ax.fill_between(per_seed.index, per_seed.min(axis=1), per_seed.max(axis=1), color=c, alpha=0.15, lw=0)
        ax.set_xscale("log")
        ax.set_xlabel("token index (log-spaced bins)")
        ax.set_ylabel("loss - Bayes-optimal loss (nats)")
        ax.set_title(f"{p} key-value pairs ({scale})")
    axes[0][0].legend(fontsize=7)
    return fig


def plot_recall_accuracy(acc: pd.DataFrame, scale: str) -> plt.Figure:
    """Recall accuracy on repeated keys vs the number of distinct keys seen so far, one panel per pairs."""
    apply_style()
    pairs = sorted(set(acc["pairs"]))
    fig, axes = plt.subplots(1, len(pairs), figsize=(4.6 * len(pairs), 3.6), squeeze=False, sharey=True)
    for ax, p in zip(axes[0], pairs):
        sub = acc[acc["pairs"] == p]
        for arch in dict.fromkeys(sub["arch"]):
            g = sub[sub["arch"] == arch].groupby("seen")["accuracy"].mean()
            ax.plot(g.index, g.values, "o-", ms=3, color=RECALL_COLORS.get(arch), label=RECALL_LABELS.get(arch, arch))
        ax.set_xlabel("distinct keys seen before the target")
        ax.set_ylabel("recall accuracy (repeated keys)")
        ax.set_ylim(0, 1.02)
        ax.set_title(f"{p} key-value pairs ({scale})")
    axes[0][0].legend(fontsize=7)
    return fig


def plot_inner_loss(inner: pd.DataFrame, scale: str) -> plt.Figure:
    """The inner loop's loss per token: l(W0; x_t), l(W_{t-1}; x_t), l(W_t; x_t), one panel per TTT arch."""
    apply_style()
    if inner.empty:
        raise ValueError("ttt inner_loss figure: no TTT run in the recall study")
    first = min(inner["pairs"])
    sub = inner[inner["pairs"] == first]
    archs = list(dict.fromkeys(sub["arch"]))
    fig, axes = plt.subplots(1, len(archs), figsize=(4.4 * len(archs), 3.4), squeeze=False)
    for ax, arch in zip(axes[0], archs):
        g = sub[sub["arch"] == arch].groupby("position")[["w0", "before", "after"]].mean()
        for key, label, style in (
            ("w0", "l(W0; x_t)", ":"),
            ("before", "l(W_{t-1}; x_t)", "--"),
            ("after", "l(W_t; x_t)", "-"),
        ):
            ax.plot(g.index + 1, g[key], style, label=label)
        ax.set_xscale("log")
        ax.set_xlabel("token index")
        ax.set_ylabel("inner-loop loss")
        ax.set_title(f"{RECALL_LABELS.get(arch, arch)}, {first} pairs ({scale})")
        ax.legend(fontsize=7)
    return fig


def plot_minibatch(runs: pd.DataFrame, scale: str) -> plt.Figure:
    """TTT-Linear (M) on recall: test loss and recall accuracy vs training tokens per CPU second, per b."""
    apply_style()
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.6))
    for ax, key, ylabel in ((axes[0], "loss", "test loss (nats)"), (axes[1], "accuracy", "recall accuracy")):
        ax.plot(runs["tokens_per_s"], runs[key], "o", color="C4")
        for _, r in runs.iterrows():
            ax.annotate(
                f"b={r['b']}", (r["tokens_per_s"], r[key]), fontsize=8, xytext=(3, 3), textcoords="offset points"
            )
        ax.set_xscale("log")
        ax.set_xlabel("training tokens per CPU second")
        ax.set_ylabel(ylabel)
    fig.suptitle(f"TTT-Linear (M) mini-batch size trade-off on recall ({scale})", fontsize=9)
    return fig


def plot_ladder(runs: pd.DataFrame, scale: str) -> plt.Figure:
    """Table 1 on recall: gap to the Bayes curve per row (bar: mean over seeds of each seed's chosen eta_base;
    dots: every run of the eta grid and seeds)."""
    apply_style()
    rows = list(dict.fromkeys(runs["row"]))
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for i, row in enumerate(rows):
        g = runs[runs["row"] == row]
        ax.plot([i] * len(g), g["gap_to_bayes"], ".", color="0.6")
        best = g[g["chosen"].astype(bool)]
        height = float(best["gap_to_bayes"].mean())
        ax.bar(i, height, color="C4", alpha=0.7)
        ax.annotate(
            "eta " + "/".join(f"{e:g}" for e in sorted(set(best["eta_base"]))),
            (i, height),
            ha="center",
            fontsize=7,
            xytext=(0, 3),
            textcoords="offset points",
        )
    ax.set_xticks(range(len(rows)), [f"+ {r}" if i else r for i, r in enumerate(rows)], rotation=30, ha="right")
    ax.set_ylabel("gap to Bayes-optimal loss (nats)")
    ax.set_title(f"Table-1 ladder on recall, one change per row ({scale})")
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


def _table(
    plot: Callable[[pd.DataFrame, str], plt.Figure],
) -> Callable[[Mapping[str, Path], Mapping[str, Any]], plt.Figure]:
    def fn(inputs: Mapping[str, Path], labels: Mapping[str, Any]) -> plt.Figure:
        return plot(pd.read_csv(inputs["table"]), labels["scale"])

    return fn


FIGURES: dict[str, Callable[[Mapping[str, Path], Mapping[str, Any]], plt.Figure]] = {
    "position_loss": lambda inputs, labels: plot_position_loss(pd.read_csv(inputs["table"]), labels["scale"]),
    "loss_vs_flops": lambda inputs, labels: plot_loss_vs_flops(pd.read_csv(inputs["table"]), labels["scale"]),
    "recall_gap": _table(plot_recall_gap),
    "recall_accuracy": _table(plot_recall_accuracy),
    "inner_loss": _table(plot_inner_loss),
    "minibatch": _table(plot_minibatch),
    "ladder": _table(plot_ladder),
    "latency": lambda inputs, labels: plot_latency(pd.read_csv(inputs["table"])),
}
