"""Figures of Observational Scaling Laws, drawn from the small tables the compute steps write.

* :func:`plot_capability_space` -- Fig. 2: scree plot and PC-1..3 loadings.
* :func:`plot_family_loglinear` -- Fig. 3: PC-1 vs log10 FLOPs, one line per family.
* :func:`plot_predicted_vs_equivalent_compute` -- Figs. 5-6: targets on the reference family's
  equivalent-compute axis, train/test points, the fitted sigmoid and the cutoff.
* :func:`plot_subset_curve` -- Fig. 7: test MSE vs number of selected models.

Every function returns a matplotlib Figure; saving is the caller's job
(``repro.common.plotting.savefig``). No fitting happens here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from repro.common.fits import sigmoid
from repro.common.io import flatten, read_json
from repro.common.plotting import apply_style
from repro.obsscaling.data import FAMILY, FLOPS

__all__ = [
    "plot_capability_space",
    "plot_family_loglinear",
    "plot_predicted_vs_equivalent_compute",
    "plot_subset_curve",
    "FIGURES",
]

TRAIN_COLOR, TEST_COLOR, FIT_COLOR = "#1f77b4", "#d62728", "#222222"


def plot_capability_space(scree: pd.DataFrame, loadings: pd.DataFrame, n_show: int = 3) -> plt.Figure:
    """Explained-variance ratio per PC (bars, cumulative line) and the loadings of PC-1..``n_show``."""
    apply_style()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9.5, 3.6), gridspec_kw={"width_ratios": [1, 1.6]})
    ax1.bar(scree["pc"], scree["explained_variance_ratio"], color=TRAIN_COLOR, label="per PC")
    ax1.plot(scree["pc"], scree["cumulative"], "o-", color=FIT_COLOR, label="cumulative")
    for x, y in zip(scree["pc"], scree["cumulative"]):
        ax1.annotate(f"{y:.1%}", (x, y), textcoords="offset points", xytext=(0, 5), ha="center", fontsize=7)
    ax1.set_xticks(scree["pc"], [f"PC-{int(p)}" for p in scree["pc"]])
    ax1.set_ylim(0, 1.08)
    ax1.set_xlabel("principal component")
    ax1.set_ylabel("explained variance ratio")
    ax1.legend(loc="center right")
    ax1.set_title("Capability space: scree")
    pcs = [c for c in loadings.columns if c.startswith("PC-")][:n_show]
    x = np.arange(len(loadings))
    width = 0.8 / len(pcs)
    for i, pc in enumerate(pcs):
        ax2.bar(x + (i - (len(pcs) - 1) / 2) * width, loadings[pc], width, label=pc)
    ax2.axhline(0, color="0.3", lw=0.8)
    ax2.set_xticks(x, loadings["benchmark"], rotation=30, ha="right")
    ax2.set_ylabel("loading")
    ax2.legend(ncol=len(pcs))
    ax2.set_title("Loadings")
    fig.tight_layout()
    return fig


def plot_family_loglinear(scores: pd.DataFrame, fits: pd.DataFrame, pc: str = "PC-1") -> plt.Figure:
    """``pc`` against log10 training FLOPs for the families with a fitted line."""
    apply_style()
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    cmap = plt.get_cmap("tab20")
    for i, row in enumerate(fits.itertuples(index=False)):
        g = scores[(scores[FAMILY] == row.family) & (scores[FLOPS] > 0)]
        lx = np.log10(g[FLOPS].to_numpy(float))
        color = cmap(i % 20)
        ax.scatter(lx, g[pc], color=color, s=18, label=f"{row.family} (R²={row.r2:.2f})")
        grid = np.linspace(lx.min(), lx.max(), 20)
        ax.plot(grid, row.slope * grid + row.intercept, color=color, lw=1.2)
    ax.set_xlabel("log10 training FLOPs (1E21)")
    ax.set_ylabel(pc)
    ax.set_title(f"{pc} is log-linear in compute within families (mean R² = {fits['r2'].mean():.3f})")
    ax.legend(bbox_to_anchor=(1.02, 1), loc="upper left", fontsize=7)
    fig.tight_layout()
    return fig


def plot_predicted_vs_equivalent_compute(
    predictions: pd.DataFrame,
    fits: pd.DataFrame,
    targets: Sequence[str],
    predictor: str,
    *,
    titles: Mapping[str, str] | None = None,
    cutoff_log10: float | None = None,
    heldout_top: bool = False,
    reference_family: str = "Llama-2",
    ylabel: str = "accuracy",
) -> plt.Figure:
    """One panel per target on the reference family's equivalent log10-FLOPs axis.

    ``cutoff_log10`` draws the compute cutoff as a vertical line; with
    ``heldout_top`` the smallest held-out target value is drawn as a horizontal line
    (top-fraction splits).
    """
    apply_style()
    n = len(targets)
    fig, axes = plt.subplots(1, n, figsize=(3.3 * n, 3.3), squeeze=False)
    for ax, target in zip(axes[0], targets):
        rows = predictions[(predictions["target"] == target) & (predictions["predictor"] == predictor)]
        fit = fits[(fits["target"] == target) & (fits["predictor"] == predictor)].iloc[0]
        for split, color, marker in (("train", TRAIN_COLOR, "o"), ("test", TEST_COLOR, "X")):
            r = rows[rows["split"] == split]
            ax.scatter(r["equiv_log10_compute"], r["y"], color=color, marker=marker, s=22, label=split, zorder=3)
        x = rows["equiv_log10_compute"].to_numpy(float)
        pad = 0.08 * (np.nanmax(x) - np.nanmin(x))
        grid = np.linspace(np.nanmin(x) - pad, np.nanmax(x) + pad, 200)
        z = fit["equiv_slope"] * grid + fit["equiv_intercept"]
        ax.plot(grid, (1 - fit["floor"]) * sigmoid(z) + fit["floor"], color=FIT_COLOR, lw=1.6, label="fit")
        if cutoff_log10 is not None:
            ax.axvline(cutoff_log10, color="0.4", ls="--", lw=1, label="cutoff")
        if heldout_top:
            test_y = rows.loc[rows["split"] == "test", "y"]
            if len(test_y):
                ax.axhline(test_y.min(), color="0.4", ls="--", lw=1, label="held-out top")
        test_mse = fit["test_mse"]
        ax.set_title((titles or {}).get(target, target))
        ax.text(0.03, 0.97, f"test MSE = {test_mse:.1e}", transform=ax.transAxes, va="top", fontsize=8)
        ax.set_xlabel(f"{reference_family}-equiv. log10 FLOPs (1E21)")
        ax.set_ylabel(ylabel)
    axes[0][0].legend(loc="best", fontsize=7)
    fig.tight_layout()
    return fig


def plot_subset_curve(curve: pd.DataFrame, n_all: int | None = None) -> plt.Figure:
    """Geometric-mean test MSE against the model budget: V-optimal vs random vs all models."""
    apply_style()
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    v = curve[curve["method"] == "vopt"].sort_values("budget")
    r = curve[curve["method"] == "random"].sort_values("budget")
    a = curve[curve["method"] == "all"]
    ax.plot(v["budget"], v["gmean_test_mse"], "o-", color=TRAIN_COLOR, label="V-optimal selection")
    ax.plot(r["budget"], r["gmean_test_mse"], "o-", color="#ff7f0e", label="random selection")
    ax.fill_between(r["budget"], r["low"], r["high"], color="#ff7f0e", alpha=0.25, lw=0)
    if len(a):
        label = f"all {n_all} models" if n_all else "all models"
        ax.axhline(a["gmean_test_mse"].iloc[0], color="#2ca02c", ls="--", label=label)
    ax.set_yscale("log")
    ax.set_xticks(v["budget"])
    ax.set_xlabel("number of selected models")
    ax.set_ylabel("test MSE (geometric mean over GSM8K targets)")
    ax.legend()
    fig.tight_layout()
    return fig


# --- the figure registry (rule obsscaling__fig_<name>; repro.common.figures) ----------------------


def _fig_pca(inputs: Mapping[str, Path], labels: Mapping[str, Any]) -> plt.Figure:
    return plot_capability_space(pd.read_csv(inputs["scree"]), pd.read_csv(inputs["loadings"]))


def _fig_family_loglinear(inputs: Mapping[str, Path], labels: Mapping[str, Any]) -> plt.Figure:
    return plot_family_loglinear(pd.read_csv(inputs["scores"]), pd.read_csv(inputs["fits"]))


def _predictions_figure(cutoff_key: str | None, heldout_top: bool) -> Callable[..., plt.Figure]:
    """Figs. 5-6 share one plot; the split (FLOPs cutoff vs top fraction) decides the marker line."""

    def draw(inputs: Mapping[str, Path], labels: Mapping[str, Any]) -> plt.Figure:
        cutoff = flatten(read_json(inputs["numbers"]))[cutoff_key] if cutoff_key else None
        titles = dict(labels["titles"])
        # Panels in the params' target order: the labels reach the rule as canonical (key-sorted) JSON, so the
        # order is a list, not the order of the titles mapping.
        return plot_predicted_vs_equivalent_compute(
            pd.read_csv(inputs["predictions"]),
            pd.read_csv(inputs["fits"]),
            list(labels["targets"]),
            labels["predictor"],
            titles=titles,
            reference_family=labels["reference_family"],
            ylabel=labels["ylabel"],
            cutoff_log10=None if cutoff is None else math.log10(cutoff),
            heldout_top=heldout_top,
        )

    return draw


def _fig_subset_selection(inputs: Mapping[str, Path], labels: Mapping[str, Any]) -> plt.Figure:
    n_all = flatten(read_json(inputs["numbers"]))["subset_selection.eval.all.n_train_models"]
    return plot_subset_curve(pd.read_csv(inputs["curve"]), n_all=n_all)


FIGURES: dict[str, Callable[[Mapping[str, Path], Mapping[str, Any]], plt.Figure]] = {
    "pca": _fig_pca,  # Fig. 2
    "family_loglinear": _fig_family_loglinear,  # Fig. 3
    "post_training": _predictions_figure("post_training.cutoff_flops", heldout_top=False),  # Fig. 5
    "agents": _predictions_figure(None, heldout_top=True),  # Fig. 6
    "subset_selection": _fig_subset_selection,  # Fig. 7
}
