"""Adapter: Fig. 7 (test MSE vs number of selected models, V-optimal vs random)."""

import sys

import pandas as pd

from repro.common.io import read_json
from repro.common.plotting import savefig
from repro.obsscaling.figures import plot_subset_curve

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

n_all = read_json(snakemake.input.numbers)["subset"]["eval"]["all"]["n_train_models"]  # noqa: F821
fig = plot_subset_curve(pd.read_csv(snakemake.input.curve), n_all=n_all)  # noqa: F821
savefig(fig, snakemake.output.png)  # noqa: F821
