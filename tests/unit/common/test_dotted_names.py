"""Every dotted ``repro.`` name that the params, schemas, expected files, rules and docs mention resolves
(issue 26, item 5): a renamed module or constant leaves no stale pointer for a reader to follow."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DOCS = [
    "params.yaml",
    "README.md",
    "benchmarks/README.md",
    "workflow/papers.yaml",
    *(str(p.relative_to(ROOT)) for p in sorted((ROOT / "workflow").rglob("*.yaml"))),
    *(str(p.relative_to(ROOT)) for p in sorted((ROOT / "workflow/rules").glob("*.smk"))),
    *(str(p.relative_to(ROOT)) for p in sorted((ROOT / "workflow/report").glob("*.rst"))),
]
NAME = re.compile(r"(?<![\w./-])repro(?:\.[A-Za-z_]\w*)+")


def _resolves(name: str) -> bool:
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_every_dotted_repro_name_in_the_docs_resolves():
    names = {(m.group(0).rstrip("."), doc) for doc in DOCS for m in NAME.finditer((ROOT / doc).read_text())}
    assert len(names) > 50
    stale = sorted(f"{doc}: {name}" for name, doc in names if not _resolves(name))
    assert not stale, stale
