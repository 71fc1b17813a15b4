"""Adapter for every figure rule: rule <slug>__fig_<name> -> repro.<slug>.figures.FIGURES[name].

A paper's figures module keeps a registry ``FIGURES: dict[str, Callable]``; each plot
function takes the rule's named input files (``code`` and ``labels`` excluded) and
``labels`` (the JSON of the rule's ``labels`` input, written by ``params_file``: titles,
axis labels and other presentation values read from params, never experiment values
typed into a rule) and returns a matplotlib Figure. Compute never plots; this adapter
saves PNG + PDF atomically.
"""

import sys

from repro.common.figures import run_figure
from repro.common.io import read_json

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

labels = snakemake.input.get("labels")  # noqa: F821
run_figure(
    snakemake.rule,  # noqa: F821
    {k: v for k, v in snakemake.input.items() if k not in ("code", "labels")},  # noqa: F821
    snakemake.output.png,  # noqa: F821
    labels=read_json(labels) if labels else {},
)
