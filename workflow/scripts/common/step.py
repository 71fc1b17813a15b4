"""Adapter for every compute step: rule <slug>__<step> -> repro.<slug>.steps.<step>_step.

Inputs: the step's files by name, ``params`` (its resolved-params JSON) and ``code``
(library files, only there to trigger reruns). The typed config is built from the
params (one section of them when the file names it: ``step_params(..., section=...)``),
the step runs, and its numbers (JSON) and tables (CSV) are written atomically
(repro.common.steps.run_step).
"""

import logging
import sys

from repro.common.steps import run_step

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

run_step(
    snakemake.rule,  # noqa: F821
    {k: v for k, v in snakemake.input.items() if k != "params"},  # noqa: F821
    dict(snakemake.output.items()),  # noqa: F821
    params_file=snakemake.input.get("params"),  # noqa: F821
    gpus=snakemake.resources.get("gpu", 0),  # noqa: F821 (the rule's GPUs: run_step claims them for the step)
)
