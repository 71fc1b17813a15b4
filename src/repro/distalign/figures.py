"""distalign figures (compute never plots: each reads a small CSV/JSON written by a step)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from repro.common.io import flatten  # noqa: E402

METHOD_ORDER = ("verbalize", "sequence", "logprobs", "logprobs_ts")
STEER_COLOR = {"none": "0.6", "persona": "C0", "fewshot": "C1"}


def leaderboard(inputs: Mapping[str, Path], labels: Mapping[str, Any]) -> plt.Figure:
    """Fig. 2: bar chart of the main leaderboard with 95% bootstrap intervals and baselines."""
    lb = pd.read_csv(inputs["leaderboard"])
    base = json.loads(Path(inputs["baselines"]).read_text())
    names = labels.get("methods", {})
    models = list(dict.fromkeys(lb.model))
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.2
    for j, m in enumerate(METHOD_ORDER):
        sub = lb[lb.method == m].set_index("model")
        xs = [i + (j - 1.5) * width for i, mod in enumerate(models) if mod in sub.index]
        ys = [sub.tv[mod] for mod in models if mod in sub.index]
        lo = [sub.tv[mod] - sub.ci_low[mod] for mod in models if mod in sub.index]
        hi = [sub.ci_high[mod] - sub.tv[mod] for mod in models if mod in sub.index]
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=names.get(m, m))
    flat = base.get("baselines", base)
    for key, style, text in (
        ("uniform.tv", "--", "uniform"),
        ("floor30.tv", ":", "30-sample floor"),
        ("human.tv", "-.", "human (OQA+NYT)"),
    ):
        val = flat.get(key) if isinstance(flat, dict) and key in flat else _get(flat, key)
        if val is not None:
            ax.axhline(val, ls=style, color="gray", lw=1)
            ax.text(len(models) - 0.5, val, text, fontsize=7, va="bottom", ha="right")
    ax.set_xticks(range(len(models)), models, rotation=15)
    ax.set_ylabel(labels.get("ylabel", "TV"))
    ax.legend(fontsize=8, ncol=4)
    fig.tight_layout()
    return fig


def _get(d: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


def steering(inputs: Mapping[str, Path], labels: Mapping[str, Any]) -> plt.Figure:
    """Mean TV (over models) by method and steering, one panel per dataset (GV has no no-steering run)."""
    cells = pd.read_csv(inputs["cells"])
    names = labels.get("methods", {})
    datasets = list(dict.fromkeys(cells.dataset))
    fig, axes = plt.subplots(1, len(datasets), figsize=(4 * len(datasets), 3.5), sharey=True)
    for ax, ds in zip(np.atleast_1d(axes), datasets):
        sub = cells[cells.dataset == ds].groupby(["method", "steering"]).tv.mean().unstack()
        for j, st in enumerate(("none", "persona", "fewshot")):
            if st in sub:
                vals = [sub[st].get(m, np.nan) for m in METHOD_ORDER]
                ax.bar(np.arange(4) + (j - 1) * 0.27, vals, 0.27, label=st, color=STEER_COLOR[st])
        ax.set_xticks(range(4), [names.get(m, m) for m in METHOD_ORDER])
        ax.set_title(ds)
    np.atleast_1d(axes)[0].set_ylabel(labels.get("ylabel", "TV"))
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in STEER_COLOR.values()]
    np.atleast_1d(axes)[-1].legend(handles, list(STEER_COLOR), fontsize=8, title="steering")
    fig.tight_layout()
    return fig


def k2s_gap(inputs: Mapping[str, Path], labels: Mapping[str, Any]) -> plt.Figure:
    """Knowledge-to-simulation gap per model."""
    t = pd.read_csv(inputs["k2s_gap"])
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.bar(t.model, t.k2s_gap)
    ax.set_ylabel("TV(Seq) / TV(V) - 1")
    ax.tick_params(axis="x", rotation=15)
    fig.tight_layout()
    return fig


def tiny(inputs: Mapping[str, Path], labels: Mapping[str, Any]) -> plt.Figure:
    """Tiny tier: TV by method and steering, with the uniform and group-prior floors."""
    t = pd.read_csv(inputs["tiny"])
    nums = flatten(json.loads(Path(inputs["numbers"]).read_text()))
    names = labels.get("methods", {})
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for j, st in enumerate(("persona", "fewshot")):
        vals = [t[(t.steering == st) & (t.method == m)].tv.mean() for m in METHOD_ORDER]
        ax.bar(np.arange(4) + (j - 0.5) * 0.35, vals, 0.35, label=st)
    for key, style in (("uniform", "--"), ("group_prior", ":")):
        val = nums.get(f"tiny.floor.{key}.tv")
        if val is not None:
            ax.axhline(val, ls=style, color="gray", lw=1, label=f"{key} floor")
    fail = nums.get("tiny.verbalize.parse_fail_rate")
    if fail is not None:
        ax.text(0, 0.02, f"parse\nfailures\n{fail:.0%}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(4), [names.get(m, m) for m in METHOD_ORDER])
    ax.set_ylabel(labels.get("ylabel", "TV"))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


FIGURES = {"leaderboard": leaderboard, "steering": steering, "k2s_gap": k2s_gap, "tiny": tiny}
