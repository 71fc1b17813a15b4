"""Adapter: download (or copy from $REPRO_MIRROR) a rule's pinned files, sha256-checked.

``params.urls`` and ``params.sha256`` map each named output to its pinned URL and checksum.
"""

import sys

from repro.common.fetch import fetch

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

for name, dest in snakemake.output.items():  # noqa: F821
    path = fetch(snakemake.params.urls[name], snakemake.params.sha256[name], dest)  # noqa: F821
    print(f"{name}: {path}", file=sys.stderr)
