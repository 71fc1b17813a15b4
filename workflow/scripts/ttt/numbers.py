"""Adapter: merge equivalence, runs, latency and data stats into numbers.json and the figure tables."""

import sys

import pandas as pd

from repro.common.io import atomic_open, read_json, write_json
from repro.ttt.pipeline import collect, latency_device_key, latency_numbers

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

inp, out = snakemake.input, snakemake.output  # noqa: F821
names = snakemake.params.runs  # noqa: F821
params = read_json(inp.params)
result = collect(read_json(inp.specs), dict(zip(names, map(read_json, inp.histories))),
                 dict(zip(names, map(read_json, inp.evals))), params)
latency = pd.read_csv(inp.latency)
numbers = {**read_json(inp.equivalence), **result["numbers"],
           **latency_numbers(latency.to_dict("records"), latency_device_key(params["latency"]["device"])),
           **{f"data.{k}": v for k, v in read_json(inp.data).items()}}
write_json(out.numbers, dict(sorted(numbers.items())))
for key in ("runs", "curves", "flops"):
    with atomic_open(out[key], "w") as fh:
        pd.DataFrame(result[key]).to_csv(fh, index=False)
