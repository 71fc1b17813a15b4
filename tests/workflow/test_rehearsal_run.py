"""The rehearsal of paper scale runs end to end (issue 28, item 3): ``snakemake --config scale=paper_toy``
finishes for all ten papers on CPU, plans no job for a step declared not run there, records what each such step
lacks in its paper's numbers.json, and the scorecard says the numbers mean nothing and compares none."""

from __future__ import annotations

import json

from workflow_helpers import ROOT, copy_repo, planned_rules, snakemake

from repro.common.declarations import read_declarations
from repro.common.registry import load_registry

SLUGS = load_registry(ROOT / "workflow/papers.yaml").slugs


def test_the_rehearsal_runs_every_paper(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    plan = planned_rules(snakemake(["-n", "--config", "scale=paper_toy"], repo).stdout)
    snakemake(["-c2", "--config", "scale=paper_toy"], repo, timeout=1500)
    card = (repo / "results/paper_toy/scorecard.md").read_text()
    assert "**Rehearsal scale**" in card
    assert " match" not in card.split("Totals:", 1)[1].split("\n", 1)[0], "a number was compared at the rehearsal"
    for slug in SLUGS:
        numbers = json.loads((repo / f"results/paper_toy/{slug}/numbers.json").read_text())
        declared = read_declarations(sorted((ROOT / "src/repro" / slug).rglob("*.py")))
        for name, decl in declared.items():
            why = decl.not_run_at("paper_toy")
            if why:
                assert numbers.get(f"not_run.{name}") == why, (slug, name)
                assert f"{slug}__{name}" not in plan, f"{slug}__{name} is declared not run at paper_toy but planned"
                assert f"- `{name}`: {why}" in card
            elif decl.runs_at("paper_toy") and decl.merged and f"{slug}__{name}" in plan:
                assert any(k.startswith(f"{name}.") for k in numbers), f"{slug}: step {name} ran but left no numbers"
