"""Adapter: merge the per-step numbers into results/{scale}/obsscaling/numbers.json (flat dotted keys)."""

import sys

from repro.common.io import read_json, write_json
from repro.obsscaling.steps import merge_numbers

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

parts = [read_json(path) for path in snakemake.input.parts]  # noqa: F821
write_json(snakemake.output.numbers, merge_numbers(parts))  # noqa: F821
