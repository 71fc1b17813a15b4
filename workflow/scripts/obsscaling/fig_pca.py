"""Adapter: Fig. 2 (scree + loadings) from the pca step's tables."""

import sys

import pandas as pd

from repro.common.plotting import savefig
from repro.obsscaling.figures import plot_capability_space

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

fig = plot_capability_space(pd.read_csv(snakemake.input.scree), pd.read_csv(snakemake.input.loadings))  # noqa: F821
savefig(fig, snakemake.output.png)  # noqa: F821
