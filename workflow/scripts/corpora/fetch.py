"""Adapter: fetch one mirrored corpus (repro.common.lm.corpora.fetch_corpus) and write its manifest."""

import sys
from pathlib import Path

from repro.common.fetch import sha256_file
from repro.common.io import write_json
from repro.common.lm.corpora import corpus_spec, fetch_corpus

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

name = snakemake.wildcards.corpus  # noqa: F821
spec = corpus_spec(name)
paths = fetch_corpus(name, Path(snakemake.output.manifest).parent)  # noqa: F821 (resources/corpora)
files = [{"url": r.url, "sha256": sha256_file(p), "path": str(p)} for r, p in zip(spec.resources, paths)]
print(f"{name}: {[f['path'] for f in files]}", file=sys.stderr)
write_json(snakemake.output.manifest, {"corpus": name, "licence": spec.licence, "files": files})  # noqa: F821
