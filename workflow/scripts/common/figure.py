"""Adapter for every figure rule: rule <slug>__fig_<name> -> repro.<slug>.figures.FIGURES[name].

A paper's figures module keeps a registry ``FIGURES: dict[str, Callable]``; each plot
function takes the rule's named input files (``code`` excluded) and ``labels`` (the
rule's ``params.labels``: titles, axis labels and other presentation values read from
params, never experiment values typed into a rule) and returns a matplotlib Figure.
Compute never plots; this adapter saves PNG + PDF atomically.
"""

import sys

from repro.common.figures import run_figure

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

run_figure(
    snakemake.rule,  # noqa: F821
    {k: v for k, v in snakemake.input.items() if k != "code"},  # noqa: F821
    snakemake.output.png,  # noqa: F821
    labels=snakemake.params.get("labels") or {},  # noqa: F821
)
