"""Adapter: download (or copy from $REPRO_MIRROR) a rule's pinned files, sha256-checked.

Input ``pins`` (results/pins/<slug>.json, written by ``pins_file`` in common.smk) maps each named
output to its pinned ``url`` and ``sha256``.
"""

import sys

from repro.common.fetch import fetch
from repro.common.io import read_json

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

pins = read_json(snakemake.input.pins)  # noqa: F821
for name, dest in snakemake.output.items():  # noqa: F821
    path = fetch(pins[name]["url"], pins[name]["sha256"], dest)
    print(f"{name}: {path}", file=sys.stderr)
