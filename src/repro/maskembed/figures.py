"""maskembed figures (compute never plots): probe and QA scores, and example patch predictions."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from repro.common.io import flatten, read_json
from repro.maskembed.scenes import COLOURS, RGB, SHAPES

ARMS = ("before", "after", "control")
ARM_COLOURS = {"before": "#888888", "after": "#1f77b4", "control": "#ff7f0e"}
MARKERS = {"square": "s", "disk": "o", "cross": "P"}


def scores(inputs: Mapping[str, Path], labels: Mapping[str, Any]) -> plt.Figure:
    """Paper Fig. 3 / Tables 1-2 stand-ins: probe macro F1 per head and QA accuracy per arm, mean +- std."""
    probe = pd.read_csv(inputs["probe"])
    qa = pd.read_csv(inputs["spatial_qa"])
    nums = flatten(read_json(inputs["probe_numbers"]))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    heads = list(dict.fromkeys(probe["head"]))
    width = 0.8 / len(ARMS)
    for j, arm in enumerate(ARMS):
        g = probe[probe.arm == arm].groupby("head")["macro_f1"]
        mean, std = g.mean().reindex(heads), g.std(ddof=1).reindex(heads).fillna(0)
        x = np.arange(len(heads)) + (j - 1) * width
        axes[0].bar(x, mean, width, yerr=std, color=ARM_COLOURS[arm], label=arm, capsize=3)
    axes[0].axhline(nums["probe.floor.best.macro_f1"], color="k", ls="--", lw=1, label="no-image floor")
    axes[0].set_xticks(np.arange(len(heads)), heads)
    axes[0].set_ylabel("patch-probe macro F1 (test)")
    axes[0].set_title("Patch segmentation probe")
    axes[0].legend(fontsize=8)
    models = qa[qa.arm != "floor"]
    templates = ["accuracy"] + [c for c in qa.columns if c.endswith(".accuracy")]
    for j, arm in enumerate(ARMS):
        g = models[models.arm == arm]
        x = np.arange(len(templates)) + (j - 1) * width
        axes[1].bar(x, g[templates].mean(), width, yerr=g[templates].std(ddof=1).fillna(0), color=ARM_COLOURS[arm])
    floor = qa[qa.arm == "floor"][templates].iloc[0]
    axes[1].scatter(np.arange(len(templates)), floor, marker="_", s=300, color="k", label="count-based floor", zorder=3)
    axes[1].set_xticks(np.arange(len(templates)), [t.replace(".accuracy", "") or t for t in templates], rotation=30)
    axes[1].set_ylabel("spatial-QA accuracy (test)")
    axes[1].set_title("Spatial QA (VLM stand-in)")
    axes[1].legend(fontsize=8)
    fig.suptitle(labels.get("scores_title", ""), fontsize=10)
    fig.tight_layout()
    return fig


def examples(inputs: Mapping[str, Path], labels: Mapping[str, Any]) -> plt.Figure:
    """Test scenes with one marker per (patch, class): truth, then each arm's transformer / linear predictions."""
    ex = pd.read_csv(inputs["examples"])
    with np.load(inputs["test"]) as z:
        images, n_patches = z["images"], z["labels"].shape[1]
    n_img = int(ex["image"].max()) + 1 if len(ex) else 0
    head = "transformer" if (ex["head"] == "transformer").any() else "linear"
    cols = [("truth", "truth")] + [(arm, head) for arm in ARMS]
    fig, axes = plt.subplots(max(n_img, 1), len(cols), figsize=(2.2 * len(cols), 2.2 * max(n_img, 1)), squeeze=False)
    size = images.shape[-1]
    g = round(np.sqrt(n_patches))
    p = size / g
    for i in range(n_img):
        for j, (arm, hd) in enumerate(cols):
            ax = axes[i, j]
            ax.imshow(images[i].transpose(1, 2, 0), interpolation="nearest")
            sel = ex[(ex.image == i) & (ex.arm == arm) & (ex["head"] == hd)]
            for k in range(1, g):
                ax.axhline(k * p - 0.5, color="w", lw=0.3)
                ax.axvline(k * p - 0.5, color="w", lw=0.3)
            for _, r in sel.iterrows():
                cls = int(r["cls"])
                colour, shape = COLOURS[cls // len(SHAPES)], SHAPES[cls % len(SHAPES)]
                row, col = divmod(int(r["patch"]), g)
                off = (cls % len(SHAPES) - 1) * p / 4
                ax.scatter(
                    col * p + p / 2 + off - 0.5,
                    row * p + p / 2 - 0.5,
                    marker=MARKERS[shape],
                    s=18,
                    c=[RGB[colour]],
                    edgecolors="white",
                    linewidths=0.5,
                )
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(arm if arm == "truth" else f"{arm} ({hd})", fontsize=9)
    fig.suptitle(labels.get("examples_title", ""), fontsize=10)
    fig.tight_layout()
    return fig


FIGURES = {"scores": scores, "examples": examples}
