"""Adapter: train one ttt run (repro.ttt.pipeline.run_training) and write its history."""

import sys

from repro.common.io import read_json, write_json
from repro.ttt.pipeline import run_training

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

spec = read_json(snakemake.input.params)  # noqa: F821
print(f"run {spec['name']}: {spec['label']}", file=sys.stderr)
# The library code is part of the resume fingerprint: a code change retrains instead of resuming.
record = run_training(spec, snakemake.input.train, snakemake.input.heldout, snakemake.params.work_dir,  # noqa: F821
                      snakemake.output.weights, input_files=list(snakemake.input.code))  # noqa: F821
write_json(snakemake.output.history, record)  # noqa: F821
