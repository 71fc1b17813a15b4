"""Adapter: download (or copy from $REPRO_MIRROR) a rule's pinned files, checksum-checked.

Input ``pins`` (results/pins/<slug>.json, written by ``pins_file`` in common.smk) maps each named
output to its pinned ``url`` and ``sha256`` (or ``git_blob``, a git blob id, for a file known offline only
by its repository's tree).
"""

import sys

from repro.common.fetch import fetch
from repro.common.gitblob import fetch_git_blob
from repro.common.io import read_json

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

pins = read_json(snakemake.input.pins)  # noqa: F821
for name, dest in snakemake.output.items():  # noqa: F821
    pin = pins[name]
    path = (
        fetch_git_blob(pin["url"], pin["git_blob"], dest)
        if "git_blob" in pin
        else fetch(pin["url"], pin["sha256"], dest)
    )
    print(f"{name}: {path}", file=sys.stderr)
