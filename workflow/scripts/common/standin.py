"""Adapter of rule standins__build -> repro.common.standins.build.main (one stand-in folder)."""

import json
import logging
import os
import sys

from repro.common.standins.build import main

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

made = main(
    snakemake.input.params,  # noqa: F821
    os.path.dirname(snakemake.input.corpora[0]),  # noqa: F821 (the corpora manifests' folder)
    snakemake.output.folder,  # noqa: F821
    dependency=list(snakemake.input.dependency),  # noqa: F821
)
print(json.dumps(made, sort_keys=True), file=sys.stderr)
