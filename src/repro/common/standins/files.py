"""A static-file stand-in for pinned downloads that the mirror lacks (issue 28; ``standins.servers.<name>.api: files``).

Some paper-scale inputs are files of a public repository too large to mirror, fetched over HTTP by their pinned
URL and checked against a pinned git blob id (pplcorr's RedPajama-V2 domain BPB matrix, Thrush et al. 2024, Sec. 4:
90 LLMs x ~10k domains, > 4 MiB). At the rehearsal the paper's fetch code downloads a stand-in with the real file's
schema from a local server that answers like ``raw.githubusercontent.com`` does (GET and HEAD of a path, the bytes
as ``text/plain``, ``404: Not Found`` otherwise). The stand-in's bytes are derived from a mirrored released file by
string operations only, so its git blob id is the same on every machine and the rehearsal's params can pin it.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from repro.common.io import atomic_write_text

FILES_DIR = "files"  # the served files, inside a files server's folder


def rpjv2_bpb_domain(source: Path, names: Sequence[Path] = ()) -> str:
    """A RedPajama-V2 domain BPB matrix (``chunked_rpjv2_sample_bpb_domain.csv``: a ``domain`` column, then one
    bits-per-byte column per LLM) made from the released synthetic BPB matrix (``..._bpb_id.csv``: an ``id``
    column, the same LLM columns) and the released RPJv2 top-ten lists (``fasttext_info/<target>.yml``, whose
    ``top_ten_from_estimate.domain`` maps a domain's row to its name): there are as many domains as the lists'
    largest row + 1, each listed domain sits at its row under its real name, the others are named after the text
    whose values they carry; the values of domain ``i`` are those of text ``i mod n_texts``, copied as written. The
    LLMs (and so the error CSV they are matched with) stay the real ones; the values mean nothing."""
    rows = list(csv.reader(io.StringIO(source.read_text(encoding="utf-8"))))
    if not rows or not rows[0] or rows[0][0] != "id" or len(rows) < 2:
        raise ValueError(f"{source}: expected the synthetic BPB matrix (first column 'id', one row per text)")
    header, texts = rows[0], rows[1:]
    listed: dict[int, str] = {}
    for path in names:
        info = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        entries = (info.get("top_ten_from_estimate") or {}).get("domain") or {}
        for i, name in entries.items():
            if listed.setdefault(int(i), str(name)) != str(name):
                raise ValueError(f"{path}: row {i} is {name!r} here and {listed[int(i)]!r} in another list")
    n = max(listed, default=len(texts) - 1) + 1
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["domain", *header[1:]])
    for i in range(n):
        text = texts[i % len(texts)]
        slug = re.sub(r"[^a-z0-9]+", "-", text[0].lower()).strip("-")[:40] or "text"
        writer.writerow([listed.get(i, f"{slug}-{i:05d}.example.org"), *text[1:]])
    return out.getvalue()


# schema name -> how the stand-in file is made from its source and the released files naming its rows
SCHEMAS: dict[str, Callable[[Path, Sequence[Path]], str]] = {"rpjv2_bpb_domain": rpjv2_bpb_domain}


def build_files(files: Mapping[str, Mapping[str, Any]], sources: Mapping[str, Path], out: Path) -> dict[str, Any]:
    """Write each served file ``<out>/files/<path>`` from its spec (``schema``; ``source``, the released file it is
    made from, and ``names``, released files naming its rows: keys of ``sources``). Written whole or not at all."""
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for path, spec in files.items():
        if spec.get("schema") not in SCHEMAS:
            raise ValueError(f"files.{path}.schema {spec.get('schema')!r} is not one of {sorted(SCHEMAS)}")
        for key in [spec.get("source"), *spec.get("names", [])]:
            if key not in sources:
                raise ValueError(f"files.{path}: source {key!r} is no input of the build ({sorted(sources)})")
        rel = Path(path)
        if rel.is_absolute() or ".." in rel.parts:
            raise ValueError(f"files.{path}: a served path is relative and stays inside the folder")
        names = [Path(sources[key]) for key in spec.get("names", [])]
        atomic_write_text(tmp / FILES_DIR / rel, SCHEMAS[spec["schema"]](Path(sources[spec["source"]]), names))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return {"api": "files", "records": len(files)}


def make_app(folder: str | Path) -> Any:
    """The ASGI app serving ``<folder>/files`` the way raw.githubusercontent.com serves a repository's files."""
    from fastapi import FastAPI
    from fastapi.responses import FileResponse, PlainTextResponse

    root = (Path(folder) / FILES_DIR).resolve()
    app = FastAPI(title="raw files stand-in (repro)")

    @app.api_route("/{path:path}", methods=["GET", "HEAD"])
    def serve(path: str) -> Any:
        target = (root / path).resolve()
        if root not in target.parents or not target.is_file():
            return PlainTextResponse("404: Not Found", status_code=404)
        return FileResponse(target, media_type="text/plain; charset=utf-8")

    return app
