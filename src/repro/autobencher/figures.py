"""autobencher figures (compute never plots: each reads a small CSV/JSON written by a step)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

METHODS = ("human", "random", "adaptive")
METRICS = ("novelty", "difficulty", "separability", "mean_error")
LABEL = {"human": "existing benchmark", "random": "random search", "adaptive": "AutoBencher (adaptive)"}


def tiny(inputs: Mapping[str, Path], labels: Mapping[str, Any]) -> plt.Figure:
    """Tiny tier (v1 Table 2 analogue): metrics of the selected datasets by method, mean +- std over seeds."""
    num = json.loads(Path(inputs["numbers"]).read_text())
    fig, ax = plt.subplots(figsize=(7, 3.6))
    width = 0.26
    for j, method in enumerate(METHODS):
        ys = [num.get(f"tiny.{method}.{m}", np.nan) for m in METRICS]
        es = [num.get(f"tiny.{method}.{m}_std", 0.0) for m in METRICS]
        ax.bar(np.arange(len(METRICS)) + (j - 1) * width, ys, width, yerr=es, capsize=3, label=LABEL[method])
    ax.set_xticks(range(len(METRICS)), METRICS)
    ax.set_ylabel("metric of the selected datasets")
    ax.set_title(labels.get("tiny_title", ""), fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def safety(inputs: Mapping[str, Path], labels: Mapping[str, Any]) -> plt.Figure:
    """v2 safety table: attack success rate per model on the released hard and simple sets."""
    t = pd.read_csv(inputs["table"])
    models = list(dict.fromkeys(t.model))
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for j, s in enumerate(("hard", "simple")):
        sub = t[t.set == s].set_index("model")
        ax.bar(np.arange(len(models)) + (j - 0.5) * 0.4, [sub.asr[m] for m in models], 0.4, label=f"{s} set")
    ax.set_xticks(range(len(models)), models, rotation=40, ha="right", fontsize=8)
    ax.set_ylabel("attack success rate")
    ax.set_title(labels.get("safety_title", ""), fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


FIGURES = {"tiny": tiny, "safety": safety}
