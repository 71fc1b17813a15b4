"""Adapter: merge a paper's per-step numbers into results/{scale}/<slug>/numbers.json (duplicates refused)."""

import sys

from repro.common.io import read_json, write_json
from repro.common.steps import merge_numbers

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

write_json(snakemake.output.numbers, merge_numbers([read_json(p) for p in snakemake.input.parts]))  # noqa: F821
