"""Adapter: one ttt figure (repro.ttt.figures) from a small CSV; ``params.kind`` names the figure."""

import sys

import pandas as pd

from repro.common.plotting import savefig
from repro.common.scorecard import load_expected
from repro.ttt import figures

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

kind, scale = snakemake.params.kind, snakemake.wildcards.scale  # noqa: F821
table = pd.read_csv(snakemake.input.table)  # noqa: F821
if kind == "position_loss":
    fig = figures.plot_position_loss(table, scale)
elif kind == "loss_vs_flops":
    fig = figures.plot_loss_vs_flops(table, scale)
elif kind == "minibatch":
    fig = figures.plot_minibatch(table, scale)
elif kind == "ladder":
    expected = load_expected(snakemake.input.expected).entries  # noqa: F821
    paper = {e.key.split(".")[1]: e.published for e in expected if e.key.startswith("ladder.") and e.published}
    fig = figures.plot_ladder(table, paper, scale)
else:
    fig = figures.plot_latency(table)
savefig(fig, snakemake.output.png)  # noqa: F821
