"""Figures of graphunc (registry FIGURES; each reads small CSV tables written by the compute steps).

* ``auc_bars``: Fig. 3 / Table 1 as bars, the authors' cached AUPRC and AUROC per method and
  setting, with our recomputed values marked where the matrix is available.
* ``uad``: Fig. 4, precision vs number of true claims of uncertainty-aware decoding.
* ``graph``: Fig. 1, one prompt's bipartite generation-claim graph.
* ``tiny``: the tiny tier's claim-level AUROC / AUPRC with bootstrap CIs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import pandas as pd

METHOD_ORDER = ["vc", "sc", "sc_vc", "betweenness", "eigenvector", "pagerank", "closeness", "closeness_vc"]
LABELS = {
    "vc": "VC",
    "sc": "SC",
    "sc_vc": "SC+VC",
    "betweenness": "Betweenness",
    "eigenvector": "Eigenvector",
    "pagerank": "PageRank",
    "closeness": "C_C",
    "closeness_vc": "C_C+VC",
    "ilvc": "inline VC",
}


def auc_bars(inputs: Mapping[str, Path], labels: Mapping[str, Any]):
    """Grouped bars per setting: authors' cached values (bars) and ours (black markers)."""
    authors = pd.read_csv(inputs["authors"])
    ours = pd.read_csv(inputs["exact"])
    settings = sorted({(r.setting, int(r.samples)) for r in authors.itertuples()})
    fig, axes = plt.subplots(2, 1, figsize=(14, 7), sharex=True)
    width = 0.8 / len(METHOD_ORDER)
    colors = plt.cm.tab10(np.arange(len(METHOD_ORDER)))
    for ax, metric in zip(axes, ("auprc", "auroc")):
        for m, method in enumerate(METHOD_ORDER):
            xs, ys, ox, oy = [], [], [], []
            for s, (setting, samples) in enumerate(settings):
                a = authors[(authors.setting == setting) & (authors.samples == samples) & (authors.method == method)]
                o = ours[(ours.setting == setting) & (ours.samples == samples) & (ours.method == method)]
                x = s + (m - len(METHOD_ORDER) / 2 + 0.5) * width
                if len(a):
                    xs.append(x)
                    ys.append(float(a[metric].iloc[0]))
                if len(o):
                    ox.append(x)
                    oy.append(float(o[metric].iloc[0]))
            ax.bar(xs, ys, width=width, color=colors[m], label=LABELS[method])
            ax.scatter(ox, oy, marker="_", s=60, color="black", zorder=3, label="ours (recomputed)" if m == 0 else None)
        ax.set_ylabel(metric.upper())
        lo = float(authors[authors.method.isin(METHOD_ORDER)][metric].min())
        ax.set_ylim(max(0.0, lo - 0.05), 1.0)
    axes[1].set_xticks(range(len(settings)))
    axes[1].set_xticklabels([f"{s}\n{n} gens" for s, n in settings], rotation=30, ha="right", fontsize=7)
    axes[0].legend(ncol=5, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    fig.suptitle(labels.get("auc_title", ""), y=1.04)
    return fig


UAD_LABELS = {
    "closeness": "C_C",
    "sc": "SC",
    "sc_vc": "SC + 0.1 VC",
    "sc_ilvc": "SC + 0.1 inline VC",
    "sc_ml": "SC, greedy claims only",
}


def _uad_panel(ax, df: pd.DataFrame) -> None:
    full = df["n_outputs"].max() if "n_outputs" in df else None
    for method, g in df[df.percentile.notna()].groupby("method"):
        if full is not None:
            g = g[g.n_outputs == full]  # two released files hold only 20 of the 180 outputs: left out
        g = g.sort_values("percentile")
        ax.plot(g.true_claims, g.precision, marker="o", label=UAD_LABELS.get(method, method))
    for method, marker in (("greedy", "*"), ("cove", "s")):
        g = df[df.method == method]
        if len(g):
            ax.scatter(g.true_claims, g.precision, marker=marker, s=90, color="black", zorder=3, label=method)
    ax.set_xlabel("true claims per response")
    ax.set_ylabel("precision (responding outputs)")
    ax.legend()


def uad(inputs: Mapping[str, Path], labels: Mapping[str, Any]):
    """Precision vs mean number of true claims per response across percentiles: released outputs and tiny tier."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    _uad_panel(axes[0], pd.read_csv(inputs["uad"]))
    axes[0].set_title(labels.get("uad_title", ""), fontsize=9)
    _uad_panel(axes[1], pd.read_csv(inputs["tiny_uad"]))
    axes[1].set_title("Tiny tier: held-out threshold, test people (mean over seeds)", fontsize=9)
    return fig


def graph(inputs: Mapping[str, Path], labels: Mapping[str, Any]):
    """The bipartite graph of one prompt: generations left, claims right (colour = label, size = closeness)."""
    df = pd.read_csv(inputs["example"])
    gens = sorted(df.generation.unique())
    claims = df.drop_duplicates("claim").sort_values("claim")
    g = nx.Graph()
    g.add_nodes_from(f"g{j}" for j in gens)
    g.add_nodes_from(f"c{i}" for i in claims.claim)
    g.add_edges_from((f"g{r.generation}", f"c{r.claim}") for r in df[df.edge == 1].itertuples())
    pos = {f"g{j}": (0.0, 1 - j / max(1, len(gens) - 1)) for j in gens}
    pos.update({f"c{r.claim}": (1.0, 1 - k / max(1, len(claims) - 1)) for k, r in enumerate(claims.itertuples())})
    colour = {"Y": "tab:green", "N": "tab:red"}
    fig, ax = plt.subplots(figsize=(7, 8))
    nx.draw_networkx_edges(g, pos, ax=ax, alpha=0.25)
    nx.draw_networkx_nodes(g, pos, nodelist=[f"g{j}" for j in gens], node_color="tab:blue", node_shape="s", ax=ax)
    nx.draw_networkx_nodes(
        g,
        pos,
        nodelist=[f"c{i}" for i in claims.claim],
        ax=ax,
        node_color=[colour.get(lab, "tab:gray") for lab in claims.label],
        node_size=[30 + 300 * float(c) for c in claims.closeness],
    )
    for k, r in enumerate(claims.itertuples()):
        ax.text(1.03, pos[f"c{r.claim}"][1], f"{r.closeness:.2f} {str(r.text)[:55]}", fontsize=5, va="center")
    for j in gens:
        ax.text(-0.05, pos[f"g{j}"][1], "greedy" if j == 0 else f"sample {j}", fontsize=7, ha="right", va="center")
    ax.set_axis_off()
    ax.set_xlim(-0.3, 2.2)
    ax.set_title(labels.get("graph_title", "") + "\n(claims: green true, red false, grey unlabelled; size = closeness)")
    return fig


def tiny(inputs: Mapping[str, Path], labels: Mapping[str, Any]):
    """Tiny tier: pooled AUROC / AUPRC per method with 95% bootstrap CIs, per-seed values as dots."""
    df = pd.read_csv(inputs["tiny"])
    pooled = df[df.seed == "pooled"].set_index("method")
    seeds = df[df.seed != "pooled"]
    methods = [m for m in METHOD_ORDER if m in pooled.index]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ("auroc", "auprc")):
        x = np.arange(len(methods))
        v = pooled.loc[methods, metric].to_numpy(dtype=float)
        lo = pooled.loc[methods, f"{metric}_ci_low"].to_numpy(dtype=float)
        hi = pooled.loc[methods, f"{metric}_ci_high"].to_numpy(dtype=float)
        ax.bar(x, v, yerr=[v - lo, hi - v], capsize=3, color="tab:blue", alpha=0.7)
        for k, m in enumerate(methods):
            s = seeds[seeds.method == m][metric].to_numpy(dtype=float)
            ax.scatter(np.full(s.size, k), s, color="black", s=8, zorder=3)
        ax.set_xticks(x)
        ax.set_xticklabels([LABELS[m] for m in methods], rotation=30, ha="right")
        ax.set_ylabel(metric.upper())
        ax.set_ylim(max(0.0, float(lo.min()) - 0.05), min(1.0, float(hi.max()) + 0.05))
    fig.suptitle(labels.get("tiny_title", ""))
    return fig


FIGURES = {"auc_bars": auc_bars, "uad": uad, "graph": graph, "tiny": tiny}
