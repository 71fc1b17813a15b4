"""Adapter: predicted-vs-observed panels on the equivalent-compute axis (Figs. 5-6).

``params``: titles (target -> title), predictor, reference family, ylabel,
``cutoff_key`` (numbers key of the compute cutoff, or None) and ``heldout_top``.
"""

import math
import sys

import pandas as pd

from repro.common.io import flatten, read_json
from repro.common.plotting import savefig
from repro.obsscaling.figures import plot_predicted_vs_equivalent_compute

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)
p = snakemake.params  # noqa: F821

cutoff = flatten(read_json(snakemake.input.numbers))[p.cutoff_key] if p.cutoff_key else None  # noqa: F821
fig = plot_predicted_vs_equivalent_compute(
    pd.read_csv(snakemake.input.predictions), pd.read_csv(snakemake.input.fits),  # noqa: F821
    list(p.titles), p.predictor, titles=dict(p.titles), reference_family=p.reference_family,
    cutoff_log10=None if cutoff is None else math.log10(cutoff), heldout_top=p.heldout_top, ylabel=p.ylabel,
)  # fmt: skip
savefig(fig, snakemake.output.png)  # noqa: F821
