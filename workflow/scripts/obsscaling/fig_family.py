"""Adapter: Fig. 3 (PC-1 vs log10 FLOPs per family) from the pca scores and family fits."""

import sys

import pandas as pd

from repro.common.plotting import savefig
from repro.obsscaling.figures import plot_family_loglinear

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

fig = plot_family_loglinear(pd.read_csv(snakemake.input.scores), pd.read_csv(snakemake.input.fits))  # noqa: F821
savefig(fig, snakemake.output.png)  # noqa: F821
