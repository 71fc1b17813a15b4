"""DVC sharing round trip (DESIGN.md: "Snakemake owns the DAG; DVC versions and shares").

Compute and push on one checkout; clone elsewhere; pull; Snakemake has nothing to do;
edit one obsscaling parameter; exactly the affected rules rerun, and DVC reports the
stage as changed, so a stale result is never reported as current.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from workflow_helpers import BIN, copy_repo, planned_rules, run, snakemake

AGENTS_EDIT = ("      test_fraction: 0.1\n", "      test_fraction: 0.2\n")


def _git(args: list[str], cwd: Path) -> None:
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd)


def _dvc(args: list[str], cwd: Path, check: bool = True):
    return run([str(BIN / "dvc"), *args], cwd, check=check)


def _edit(repo: Path) -> None:
    p = repo / "params.yaml"
    text = p.read_text()
    assert AGENTS_EDIT[0] in text
    p.write_text(text.replace(*AGENTS_EDIT, 1))


@pytest.fixture(scope="module")
def origin(tmp_path_factory) -> Path:
    """A git+DVC checkout that computed run@tiny-obsscaling and pushed it to a local remote."""
    base = tmp_path_factory.mktemp("dvc")
    repo = copy_repo(base / "origin")
    _git(["init", "-q", "-b", "main"], repo)
    _dvc(["remote", "add", "-d", "store", str(base / "dvc-remote")], repo)
    # One paper's stage keeps the test fast (the tiny ttt run alone takes minutes).
    _dvc(["repro", "run@tiny-obsscaling"], repo)  # fetch@obsscaling -> run@tiny-obsscaling
    _dvc(["push"], repo)
    _git(["add", "-A"], repo)
    _git(["commit", "-qm", "results"], repo)
    return repo


def _clone(origin: Path, dest: Path) -> Path:
    _git(["clone", "-q", str(origin), str(dest)], dest.parent)
    assert not (dest / "results/tiny/obsscaling").exists()  # only the committed scorecard, metrics, figures
    return dest


def test_push_clone_pull_edit_reruns_exactly_affected(origin, tmp_path):
    numbers_origin = json.loads((origin / "results/tiny/obsscaling/numbers.json").read_text())
    clone = _clone(origin, tmp_path / "clone")
    out = run([sys.executable, "-m", "repro.common.dvcsync", "pull"], clone).stdout
    assert "current: run@tiny-obsscaling" in out
    assert json.loads((clone / "results/tiny/obsscaling/numbers.json").read_text()) == numbers_origin

    assert "Nothing to be done" in snakemake(["-n", "obsscaling"], clone).stdout
    assert "Data and pipelines are up to date" in _dvc(["status", "run@tiny-obsscaling"], clone).stdout

    _edit(clone)
    dry = snakemake(["-n", "obsscaling"], clone).stdout
    plan = planned_rules(dry)
    assert plan == {
        "obsscaling__agents": 1,
        "obsscaling__fig_agents": 1,
        "obsscaling__numbers": 1,
        "obsscaling": 1,
    }, dry
    assert "run@tiny-obsscaling" in _dvc(["status", "run@tiny-obsscaling"], clone).stdout

    # Really rerun: only the planned steps write new files.
    before = {p: p.stat().st_mtime_ns for p in (clone / "results/tiny/obsscaling").rglob("*") if p.is_file()}
    snakemake(["obsscaling"], clone)
    changed = {str(p.relative_to(clone)) for p, t in before.items() if p.stat().st_mtime_ns != t}
    assert changed
    expected_parts = ("/agents/", "/figures/agents.", "/numbers.json", "/params/agents.json")
    unexpected = {c for c in changed if not any(s in c for s in expected_parts)}
    assert not unexpected, unexpected
    numbers_new = json.loads((clone / "results/tiny/obsscaling/numbers.json").read_text())
    assert numbers_new["agents.agentbench.pc1.test_mse"] != numbers_origin["agents.agentbench.pc1.test_mse"]
    assert numbers_new["post_training.gsm8k_cot.pc3.test_mse"] == numbers_origin["post_training.gsm8k_cot.pc3.test_mse"]


def test_pull_with_local_edit_leaves_stage_stale(origin, tmp_path):
    """A parameter edited before the pull: dvcsync does not mark that stage current."""
    clone = _clone(origin, tmp_path / "clone")
    _edit(clone)
    out = run([sys.executable, "-m", "repro.common.dvcsync", "pull"], clone).stdout
    assert "stale (dependencies changed locally; snakemake will rerun it): run@tiny-obsscaling" in out
    plan = planned_rules(snakemake(["-n", "obsscaling"], clone).stdout)
    assert plan.get("obsscaling__agents") == 1
