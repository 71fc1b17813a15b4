"""Figures of datavalue (compute never plots; each reads the steps' small CSV tables).

Registry ``FIGURES``: scaling (Fig. 1/2: per-point contribution vs dataset size, log-log, with fitted laws),
alpha (Fig. 3: distribution of alpha), amortized (Fig. 4: amortised vs MLE values), addition / removal
(Fig. 6 / Sec. 4.4: accuracy curves per method), noisy (noisy-label detection ROC curves).
Inputs are named ``<kind>_<experiment or dataset>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

COLORS = {"law": "C0", "amortized": "C1", "mc": "C2", "loo": "C3", "random": "0.5"}


def _named(inputs: Mapping[str, Path], prefix: str) -> dict[str, Path]:
    return {k[len(prefix) + 1 :]: v for k, v in sorted(inputs.items()) if k.startswith(prefix + "_")}


def _grid(n: int, w: float = 4.2, h: float = 3.4) -> tuple[Any, np.ndarray]:
    fig, axes = plt.subplots(1, max(n, 1), figsize=(w * max(n, 1), h), squeeze=False)
    return fig, axes[0]


def plot_scaling(inputs: Mapping[str, Path], labels: Mapping[str, Any]) -> Any:
    """|psi_k| vs k (log-log) for six points per experiment (quantiles of alpha), with their MLE laws."""
    tables = _named(inputs, "curves")
    fig, axes = _grid(len(tables))
    for ax, (name, path) in zip(axes, tables.items()):
        df = pd.read_csv(path)
        # clearly positive points (top half by the mean at the smallest size), spread over the fitted slope
        k0 = df["k"].min()
        first = df[df["k"] == k0].set_index("point")["mean"]
        cand = first[first > first.quantile(0.5)].index
        sub = df[df["point"].isin(cand)]
        slope = (
            sub.groupby("point")
            .apply(
                lambda g: np.polyfit(np.log(g["k"]), np.log(np.abs(g["pred_mle"]) + 1e-300), 1)[0], include_groups=False
            )
            .sort_values()
        )
        chosen = (
            slope.index[(np.linspace(0.1, 0.9, min(5, len(slope))) * (len(slope) - 1)).astype(int)]
            if len(slope)
            else []
        )
        for i, p in enumerate(chosen):
            g = df[df["point"] == p].sort_values("k")
            col = f"C{i}"
            for split, marker in (("fit", "o"), ("heldout", "s")):
                h = g[g["split"] == split]
                pos, neg = h[h["mean"] > 0], h[h["mean"] <= 0]
                ax.plot(pos["k"], pos["mean"], marker, color=col, mfc=col if split == "fit" else "none", ms=5)
                ax.plot(neg["k"], np.abs(neg["mean"]), "x", color=col, ms=5)
            ax.plot(g["k"], np.abs(g["pred_mle"]), "-", color=col, lw=1, label=f"alpha = {-slope[p]:.2f}")
        ax.legend(fontsize=7)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("dataset size k")
        ax.set_ylabel("|mean marginal contribution|")
        ax.set_title(f"{name} (filled: fit, open: held out, x: negative)", fontsize=8)
    fig.tight_layout()
    return fig


def plot_alpha(inputs: Mapping[str, Path], labels: Mapping[str, Any]) -> Any:
    """Histogram of the fitted alpha per experiment (MLE), flipped-label points separately."""
    tables = _named(inputs, "laws")
    fig, axes = _grid(len(tables))
    for ax, (name, path) in zip(axes, tables.items()):
        df = pd.read_csv(path)
        bins = np.linspace(0, min(8.0, df["alpha"].max() + 0.1), 30)
        ax.hist(df.loc[df["noisy"] == 0, "alpha"], bins=bins, alpha=0.7, label="clean labels")
        if (df["noisy"] == 1).any():
            ax.hist(df.loc[df["noisy"] == 1, "alpha"], bins=bins, alpha=0.7, label="flipped labels")
        ax.axvline(df["alpha"].median(), color="k", ls="--", lw=1, label=f"median {df['alpha'].median():.2f}")
        ax.set_xlabel("alpha")
        ax.set_ylabel("points")
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_amortized(inputs: Mapping[str, Path], labels: Mapping[str, Any]) -> Any:
    """Amortised vs full-sample MLE grid values, next to the per-point MLE from the same few samples."""
    values, laws = _named(inputs, "values"), _named(inputs, "laws")
    fig, axes = _grid(len(values))
    for ax, name in zip(axes, values):
        am, lw = pd.read_csv(values[name]), pd.read_csv(laws[name])
        ax.scatter(
            lw["value_law"], am["value_law_subsample"], s=8, alpha=0.6, label="per-point MLE, few samples", color="C2"
        )
        ax.scatter(lw["value_law"], am["value_amortized"], s=8, alpha=0.8, label="amortised, same samples", color="C1")
        lo, hi = float(lw["value_law"].min()), float(lw["value_law"].max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xlabel("value (MLE, all samples)")
        ax.set_ylabel("value (estimate)")
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _curves(inputs: Mapping[str, Path], xlabel: str) -> Any:
    tables = _named(inputs, "curves")
    fig, axes = _grid(len(tables))
    for ax, (name, path) in zip(axes, tables.items()):
        df = pd.read_csv(path)
        for method, g in df.groupby("method"):
            ax.plot(g["n"], g["accuracy"], "-o", ms=3, color=COLORS.get(method), label=method)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("test accuracy")
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_addition(inputs: Mapping[str, Path], labels: Mapping[str, Any]) -> Any:
    """Test accuracy after adding the top-n valued points to a random base, per method."""
    return _curves(inputs, "points added (highest value first)")


def plot_removal(inputs: Mapping[str, Path], labels: Mapping[str, Any]) -> Any:
    """Test accuracy after removing the top-n valued points, per method."""
    return _curves(inputs, "points removed (highest value first)")


def plot_noisy(inputs: Mapping[str, Path], labels: Mapping[str, Any]) -> Any:
    """ROC curves of -value for detecting flipped labels, per method."""
    from sklearn.metrics import roc_auc_score, roc_curve

    tables = _named(inputs, "scores")
    fig, axes = _grid(len(tables))
    for ax, (name, path) in zip(axes, tables.items()):
        df = pd.read_csv(path)
        for method, g in df.groupby("method"):
            fpr, tpr, _ = roc_curve(g["noisy"], -g["value"])
            auc = roc_auc_score(g["noisy"], -g["value"])
            ax.plot(fpr, tpr, color=COLORS.get(method), label=f"{method} (AUROC {auc:.2f})")
        ax.plot([0, 1], [0, 1], ":", color="0.5", label="random (0.50)")
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.set_title(f"{name}: flipped labels", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_matching(inputs: Mapping[str, Path], labels: Mapping[str, Any]) -> Any:
    """Accuracy gain of adding points scored at the small / large size to small / large bases (Sec. 4.4)."""
    tables = _named(inputs, "gains")
    fig, axes = _grid(len(tables))
    colors = {"psi_small": "C0", "psi_large": "C3", "random": "0.5"}
    for ax, (name, path) in zip(axes, tables.items()):
        df = pd.read_csv(path)
        bases = list(dict.fromkeys(df["base"]))
        methods = list(dict.fromkeys(df["method"]))
        width = 0.8 / len(methods)
        for i, m in enumerate(methods):
            g = df[df["method"] == m].set_index("base").loc[bases]
            ax.bar(
                np.arange(len(bases)) + i * width, g["gain"], width, yerr=g["gain_sem"], color=colors.get(m), label=m
            )
        ax.set_xticks(np.arange(len(bases)) + width * (len(methods) - 1) / 2)
        ax.set_xticklabels([f"{b} ({int(s)})" for b, s in df.drop_duplicates("base")[["base", "base_size"]].values])
        ax.axhline(0, color="k", lw=0.6)
        ax.set_ylabel("test accuracy gain")
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


FIGURES = {
    "scaling": plot_scaling,
    "alpha": plot_alpha,
    "amortized": plot_amortized,
    "addition": plot_addition,
    "removal": plot_removal,
    "noisy": plot_noisy,
    "matching": plot_matching,
}
