"""Adapter: build results/{scale}/scorecard.md (repro.common.scorecard)."""

import sys

from repro.common.io import atomic_write_text
from repro.common.scorecard import build_scorecard

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

numbers = dict(zip(snakemake.params.papers, snakemake.input.numbers))  # noqa: F821
text = build_scorecard(snakemake.wildcards.scale, numbers, snakemake.input.expected)  # noqa: F821
atomic_write_text(snakemake.output.scorecard, text)  # noqa: F821
