"""Bad input through the command line (issue 19, item 3): `snakemake -n` refuses at parse time.

The in-process table is tests/unit/common/test_bad_inputs.py; these few cases check that the
same errors reach a user of `snakemake` as one clear line naming the cause (the dotted
params key, the scale), and that a refused run writes nothing under results/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from workflow_helpers import ROOT, snakemake


def _edit_params(repo: Path, slug: str, block: str, dotted: str, value: object) -> None:
    path = repo / "params.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    node = config[slug].setdefault(block, {}) if block != "base" else config[slug]["base"]
    *parents, leaf = dotted.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[leaf] = value
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def _unpinned_quality() -> list[dict[str, str]]:
    """entigraph's tiny-scale QuALITY list (from params.yaml) with the first file's sha256 emptied."""
    files = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))["entigraph"]["tiny"]["quality"]
    return [{**files[0], "sha256": ""}, *files[1:]]


CASES = [
    pytest.param(
        ("obsscaling", "base", "pca.n_components", "five"),
        [],
        r"obsscaling\.base\.pca\.n_components: 'five' is not of type 'integer'",
        id="params-wrong-type",
    ),
    pytest.param(
        ("graphunc", "tiny", "tiny.lm.stepz", 10),
        [],
        r"unknown key graphunc\.tiny\.tiny\.lm\.stepz",
        id="params-unknown-override-key",
    ),
    pytest.param(None, ["--config", "scale=huge"], r"params\.yaml: scale: 'huge' is not one of", id="unknown-scale"),
    pytest.param(  # issue 28: an unpinned download stops the parse, not the download hours into a run
        ("entigraph", "tiny", "quality", _unpinned_quality()),
        [],
        # the params schema refuses it first, naming the key (entigraph.data.pinned_files checks it again)
        r"params\.yaml: entigraph\.tiny\.quality\.0\.sha256: '' does not match",
        id="empty-sha256",
    ),
]


@pytest.mark.parametrize(("edit", "extra", "match"), CASES)
def test_dry_run_refuses_bad_input(repo_copy: Path, edit, extra: list[str], match: str) -> None:
    if edit is not None:
        _edit_params(repo_copy, *edit)
    before = _files(repo_copy / "results")
    proc = snakemake(["-n", "-c1", *extra], repo_copy, check=False, timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, f"snakemake accepted the bad input:\n{output[-3000:]}"
    assert re.search(match, output), f"the error does not name the cause:\n{output[-3000:]}"
    assert _files(repo_copy / "results") == before, "a refused run wrote under results/"


def test_unwritable_results_folder_is_named(repo_copy: Path) -> None:
    """A results path that cannot be written (here: a file where the paper's folder goes; as root, permission
    bits do not stop writes) is refused at parse time with the path named, before any job starts."""
    (repo_copy / "results" / "smoke").mkdir(parents=True, exist_ok=True)
    (repo_copy / "results" / "smoke" / "graphunc").write_text("not a folder\n")
    proc = snakemake(["-n", "-c1", "--config", "scale=smoke", "--", "graphunc"], repo_copy, check=False, timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    assert re.search(r"cannot write results/smoke/graphunc/params/\w+\.json: .*must be writable", output), output[
        -3000:
    ]
