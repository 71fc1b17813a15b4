"""Adapter: train the ttt tokenizer on the training documents (repro.ttt.pipeline.tokenizer_step)."""

import sys

from repro.common.io import read_json, write_json
from repro.ttt.pipeline import corpora_root, tokenizer_step

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

params = read_json(snakemake.input.params)  # noqa: F821
stats = tokenizer_step(params, corpora_root(snakemake.input.corpora), snakemake.output.tokenizer)  # noqa: F821
print(stats, file=sys.stderr)
write_json(snakemake.output.stats, stats)  # noqa: F821
