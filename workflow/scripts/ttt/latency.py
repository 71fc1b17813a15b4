"""Adapter: prefill / decode latency per token vs context (repro.ttt.latency.measure_latency) as a CSV."""

import sys

import pandas as pd

from repro.common.io import atomic_open, read_json
from repro.ttt.latency import format_table, measure_latency
from repro.ttt.pipeline import latency_config

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

params = read_json(snakemake.input.params)  # noqa: F821
rows = measure_latency(latency_config(params), progress=lambda row: print(row, file=sys.stderr, flush=True))
print(format_table(rows), file=sys.stderr)
with atomic_open(snakemake.output.table, "w") as fh:  # noqa: F821
    pd.DataFrame(rows).to_csv(fh, index=False)
