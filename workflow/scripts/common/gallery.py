"""Adapter: copy every paper's figures to results/{scale}/figures/<paper>/ (atomic copies, same order)."""

import shutil
import sys

from repro.common.io import atomic_open

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

for src, dest in zip(snakemake.input.figures, snakemake.output.figures):  # noqa: F821
    with open(src, "rb") as fin, atomic_open(dest, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    print(f"{src} -> {dest}", file=sys.stderr)
