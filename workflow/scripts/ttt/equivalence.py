"""Adapter: primal = dual and Theorem 1 (TTT = linear attention) as numbers (repro.ttt.equivalence)."""

import sys

from repro.common.io import read_json, write_json
from repro.ttt.equivalence import equivalence_numbers

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

params = read_json(snakemake.input.params)  # noqa: F821
numbers = equivalence_numbers(seed=int(params["equivalence"]["seed"]))
print(numbers, file=sys.stderr)
write_json(snakemake.output.numbers, numbers)  # noqa: F821
