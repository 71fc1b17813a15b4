"""Adapter: run one obsscaling compute step (repro.obsscaling.steps.<step>_step) and write its outputs.

Inputs: the data/table files by name, ``params`` (the step's resolved params JSON)
and ``code`` (library files, only there to trigger reruns). Outputs: ``numbers``
(JSON) plus the step's tables (CSV), all written atomically after the step succeeded.
"""

import logging
import sys

from repro.common.io import read_json
from repro.obsscaling import steps

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

inputs = {k: v for k, v in snakemake.input.items() if k not in ("params", "code")}  # noqa: F821
params = steps.nest(read_json(snakemake.input.params))  # noqa: F821
result = getattr(steps, f"{snakemake.params.step}_step")(inputs, params)  # noqa: F821
steps.write_step_outputs(result, dict(snakemake.output.items()))  # noqa: F821
