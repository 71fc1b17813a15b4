"""DVC sharing round trip (DESIGN.md: "Snakemake owns the DAG; DVC versions and shares").

Compute and push on one checkout; clone elsewhere; pull; Snakemake has nothing to do;
edit one obsscaling parameter; exactly the affected rules rerun, and DVC reports the
stage as changed, so a stale result is never reported as current.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

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


def test_push_clone_pull_edit_reruns_exactly_affected(tmp_path):
    origin = copy_repo(tmp_path / "origin")
    remote = tmp_path / "dvc-remote"
    _git(["init", "-q", "-b", "main"], origin)
    _dvc(["remote", "add", "-d", "store", str(remote)], origin)
    _git(["add", "-A"], origin)
    _git(["commit", "-qm", "snapshot"], origin)

    _dvc(["repro", "scorecard@tiny"], origin)  # fetch -> run@tiny-obsscaling -> scorecard
    _dvc(["push"], origin)
    _git(["add", "-A"], origin)
    _git(["commit", "-qm", "results"], origin)
    numbers_origin = json.loads((origin / "results/tiny/obsscaling/numbers.json").read_text())

    clone = tmp_path / "clone"
    _git(["clone", "-q", str(origin), str(clone)], tmp_path)
    assert not (clone / "results").exists()
    run([sys.executable, "-m", "repro.common.dvcsync", "pull"], clone)
    assert json.loads((clone / "results/tiny/obsscaling/numbers.json").read_text()) == numbers_origin

    assert "Nothing to be done" in snakemake(["-n"], clone).stdout
    assert "Data and pipelines are up to date" in _dvc(["status", "run@tiny-obsscaling", "scorecard@tiny"], clone).stdout

    _edit(clone)
    plan = planned_rules(snakemake(["-n"], clone).stdout)
    assert plan == {
        "obsscaling__agents": 1,
        "obsscaling__fig_agents": 1,
        "obsscaling__numbers": 1,
        "scorecard": 1,
        "all": 1,
    }, plan
    assert "run@tiny-obsscaling" in _dvc(["status", "run@tiny-obsscaling"], clone).stdout

    # Really rerun: only the planned steps write new files.
    before = {p: p.stat().st_mtime_ns for p in (clone / "results/tiny/obsscaling").rglob("*") if p.is_file()}
    snakemake([], clone)
    changed = {str(p.relative_to(clone)) for p, t in before.items() if p.stat().st_mtime_ns != t}
    assert changed
    unexpected = {c for c in changed if not any(s in c for s in ("/agents/", "/figures/agents.", "/numbers.json", "/params/agents.json"))}
    assert not unexpected, unexpected
    numbers_new = json.loads((clone / "results/tiny/obsscaling/numbers.json").read_text())
    assert numbers_new["agents.agentbench.pc1.test_mse"] != numbers_origin["agents.agentbench.pc1.test_mse"]
    assert numbers_new["post_training.gsm8k_cot.pc3.test_mse"] == numbers_origin["post_training.gsm8k_cot.pc3.test_mse"]


def test_pull_with_local_edit_leaves_stage_stale(tmp_path):
    """A parameter edited before the pull: dvcsync does not mark that stage current."""
    origin = copy_repo(tmp_path / "origin")
    remote = tmp_path / "dvc-remote"
    _git(["init", "-q", "-b", "main"], origin)
    _dvc(["remote", "add", "-d", "store", str(remote)], origin)
    # Share only the cheap fetch stage plus a smoke-free check: compute tiny once.
    _dvc(["repro", "run@tiny-obsscaling"], origin)
    _dvc(["push"], origin)
    _git(["add", "-A"], origin)
    _git(["commit", "-qm", "results"], origin)

    clone = tmp_path / "clone"
    _git(["clone", "-q", str(origin), str(clone)], tmp_path)
    _edit(clone)
    out = run([sys.executable, "-m", "repro.common.dvcsync", "pull"], clone).stdout
    assert "stale (dependencies changed locally; snakemake will rerun it): run@tiny-obsscaling" in out
    plan = planned_rules(snakemake(["-n", "obsscaling"], clone).stdout)
    assert plan.get("obsscaling__agents") == 1
