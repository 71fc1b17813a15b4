"""Adapter: per-position held-out loss of one trained run (repro.ttt.pipeline.evaluate_run)."""

import sys
from pathlib import Path

import torch

from repro.common.io import read_json, write_json
from repro.common.lm.trainer import load_tokens
from repro.ttt.pipeline import evaluate_run, load_trained

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

torch.set_num_threads(snakemake.threads)  # noqa: F821
spec = read_json(snakemake.input.run)  # noqa: F821
params = read_json(snakemake.input.params)  # noqa: F821
model = load_trained(spec, Path(snakemake.input.weights).parent)  # noqa: F821
result = evaluate_run(model, load_tokens(snakemake.input.heldout), int(params["context"]), params["eval"])  # noqa: F821
print({k: v for k, v in result.items() if k not in ("curve", "binned")}, file=sys.stderr)
write_json(snakemake.output.eval, result)  # noqa: F821
