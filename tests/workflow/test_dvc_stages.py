"""Every registered paper's artifacts are shared by DVC (structural, so that papers merged later are covered).

dvc.yaml takes the registry (workflow/papers.yaml) through ``vars:``; this checks the resolved stages with
``dvc stage list`` (no computation): one run@<scale>-<slug> stage per paper and scale, one fetch@<group> per
download group, a scorecard per scale, and that a run stage's dependencies cover what the paper's rules read
(its rules file, its library package and the shared code), so that `dvc status` catches a stale result.
"""

from __future__ import annotations


import yaml
from workflow_helpers import BIN, ROOT, run

from repro.common.imports import ImportGraph

REGISTRY = yaml.safe_load((ROOT / "workflow/papers.yaml").read_text())
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())


def _stages() -> set[str]:
    out = run([str(BIN / "dvc"), "stage", "list", "--name-only"], ROOT).stdout
    return {line.strip() for line in out.splitlines() if line.strip()}


def test_dvc_stages_cover_every_registered_paper_and_download():
    stages = _stages()
    expected = {f"run@{scale}-{slug}" for scale in REGISTRY["scales"] for slug in REGISTRY["papers"]}
    expected |= {f"fetch@{group}" for group in REGISTRY["downloads"]}
    expected |= {f"scorecard@{scale}" for scale in REGISTRY["scales"]}
    assert not expected - stages, f"dvc.yaml lacks stages: {sorted(expected - stages)}"
    for slug, entry in REGISTRY["papers"].items():
        unknown = set(entry.get("downloads", [])) - set(REGISTRY["downloads"])
        assert not unknown, f"{slug}: download groups without a fetch stage: {unknown}"


def test_run_stage_deps_cover_each_papers_rules_and_code():
    run_stage = DVC["stages"]["run"]
    deps = set(run_stage["deps"])
    for needed in (
        "workflow/rules/${item.paper}.smk",
        "src/repro/${item.paper}",
        "src/repro/common",
        "workflow/rules/common.smk",
        "workflow/rules/corpora.smk",
        "workflow/rules/downloads.smk",
        "workflow/scripts/common",
        "resources",
    ):
        assert needed in deps, f"dvc.yaml run stage: missing dependency {needed}"
    assert run_stage["params"] == ["${item.paper}"]
    assert run_stage["outs"] == ["results/${item.scale}/${item.paper}"]
    # A paper's rules read library code only from its own package or repro.common (what the deps name): code
    # borrowed from another paper's package would not make its DVC stage stale when edited. The rules' code
    # inputs are the import closures of the paper's steps and figures modules (workflow/rules/common.smk).
    graph = ImportGraph(ROOT / "src")
    for slug in REGISTRY["papers"]:
        for module in graph.closure([f"repro.{slug}.steps", f"repro.{slug}.figures"]):
            top = module.split(".")[1] if "." in module else "repro"
            assert top in (slug, "common", "repro"), f"repro.{slug} imports {module}, not a dependency of run@*-{slug}"
