"""Adapter: encode the train / held-out documents into token arrays (repro.ttt.pipeline.tokens_step)."""

import sys

from repro.common.io import read_json, write_json
from repro.ttt.pipeline import corpora_root, tokens_step

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

params = read_json(snakemake.input.params)  # noqa: F821
out = snakemake.output  # noqa: F821
stats = tokens_step(params, corpora_root(snakemake.input.corpora), snakemake.input.tokenizer, out.train, out.heldout)  # noqa: F821
print(stats, file=sys.stderr)
write_json(out.stats, stats)
