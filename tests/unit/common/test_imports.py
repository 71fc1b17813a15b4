"""repro.common.imports: the repro modules a step imports, read from the source (issue 26, code inputs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from repro.common.imports import ImportGraph
from repro.common.registry import load_registry

ROOT = Path(__file__).resolve().parents[3]
SLUGS = load_registry(ROOT / "workflow/papers.yaml").slugs


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    src = tmp_path / "src"
    for rel, text in files.items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return src


TREE = {
    "repro/__init__.py": "",
    "repro/common/__init__.py": "",
    "repro/common/io.py": "import json\n",
    "repro/common/steps.py": "from repro.common.io import json\n",
    "repro/common/llm/__init__.py": "BACKENDS = {'tiny': 'repro.common.llm.tiny', 'x': 'repro.nowhere'}\n",
    "repro/common/llm/tiny.py": "",
    "repro/common/unused.py": "",
    "repro/paper/__init__.py": "",
    "repro/paper/config.py": "from dataclasses import dataclass\n",
    "repro/paper/method.py": "from . import config\nfrom .sub import deep\n",
    "repro/paper/sub/__init__.py": "",
    "repro/paper/sub/deep.py": "from ..config import dataclass\n",
    "repro/paper/lazy.py": "def f():\n    import repro.common.llm\n",
    "repro/paper/steps.py": """
        from repro.common import steps
        from repro.paper import method, lazy
        from repro.paper.config import dataclass as dc
        """,
}


def test_closure_follows_every_form_of_import(tmp_path):
    graph = ImportGraph(_tree(tmp_path, TREE))
    closure = graph.closure(["repro.paper.steps"])
    assert closure == sorted(
        [
            "repro",
            "repro.common",
            "repro.common.io",
            "repro.common.llm",  # lazy import inside a function
            "repro.common.llm.tiny",  # a string constant naming a module (a backend table)
            "repro.common.steps",  # `from repro.common import steps`: a submodule
            "repro.paper",
            "repro.paper.config",  # `from . import config` and `from ..config import x` (relative)
            "repro.paper.lazy",
            "repro.paper.method",
            "repro.paper.steps",
            "repro.paper.sub",  # the package whose __init__ importing sub.deep executes
            "repro.paper.sub.deep",
        ]
    )
    assert "repro.common.unused" not in closure
    assert graph.files_of(["repro.common.io"]) == [
        "src/repro/__init__.py",
        "src/repro/common/__init__.py",
        "src/repro/common/io.py",
    ]  # relative to the checkout (the folder above src/), as Snakemake rule inputs


def test_unknown_module_is_named(tmp_path):
    graph = ImportGraph(_tree(tmp_path, TREE))
    with pytest.raises(ValueError, match=r"no module 'repro\.paper\.gone'"):
        graph.closure(["repro.paper.gone"])


def test_script_imports(tmp_path):
    graph = ImportGraph(_tree(tmp_path, TREE))
    script = tmp_path / "step.py"
    script.write_text("import sys\nfrom repro.common.steps import x\n", encoding="utf-8")
    assert graph.script_imports(script) == ("repro", "repro.common", "repro.common.steps")


def test_cache_is_reused_and_an_edit_is_seen(tmp_path):
    src = _tree(tmp_path, TREE)
    cache = tmp_path / "cache.json"
    first = ImportGraph(src, cache=cache)
    assert json.loads(cache.read_text())["files"]["repro.paper.steps"]["imports"]
    # A cached entry is trusted while size and mtime hold (no source is read) ...
    data = json.loads(cache.read_text())
    data["files"]["repro.common.unused"]["imports"] = ["repro.common.io"]
    cache.write_text(json.dumps(data))
    assert ImportGraph(src, cache=cache).direct["repro.common.unused"] == ("repro.common.io",)
    # ... and an edited file is parsed again.
    edited = src / "repro/common/unused.py"
    edited.write_text("import repro.paper.config\n", encoding="utf-8")
    os.utime(edited, ns=(1, 1))
    again = ImportGraph(src, cache=cache)
    assert again.direct["repro.common.unused"] == ("repro", "repro.paper", "repro.paper.config")
    assert again.closure(["repro.paper.steps"]) == first.closure(["repro.paper.steps"])


def test_a_corrupt_cache_is_rebuilt(tmp_path):
    src = _tree(tmp_path, TREE)
    cache = tmp_path / "cache.json"
    cache.write_text("{not json")
    assert ImportGraph(src, cache=cache).closure(["repro.common.steps"])
    assert json.loads(cache.read_text())["version"] == 1


_IMPORTED = """
import importlib, json, sys
out = {}
for entry in sys.argv[1:]:
    for name in [m for m in sys.modules if m == "repro" or m.startswith("repro.")]:
        del sys.modules[name]  # import each entry afresh: what it alone imports
    importlib.import_module(entry)
    out[entry] = sorted(m for m in sys.modules if m == "repro" or m.startswith("repro."))
print(json.dumps(out))
"""


def test_static_closure_covers_what_importing_really_imports():
    """For every paper's steps and figures module (what the step and figure adapters load), every repro module
    that importing it executes is in the static closure: code inputs miss nothing the code runs at import."""
    entries = [f"repro.{slug}.{mod}" for slug in SLUGS for mod in ("steps", "figures")]
    entries += ["repro.common.steps", "repro.common.figures", "repro.common.scorecard"]
    proc = subprocess.run(
        [sys.executable, "-c", _IMPORTED, *entries], capture_output=True, text=True, check=True, cwd=ROOT
    )
    imported = json.loads(proc.stdout)
    graph = ImportGraph(ROOT / "src")
    for entry in entries:
        missing = sorted(set(imported[entry]) - set(graph.closure([entry])))
        assert not missing, f"importing {entry} executes {missing}, which its static closure lacks"
