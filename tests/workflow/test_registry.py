"""The paper registry (workflow/papers.yaml) drives the Snakefile, dvc.yaml, the params schema and the
scorecard: every registered paper has its rooms, nothing else does, and a new paper is one registry entry
plus its own files (a throw-away paper is added and run here)."""

from __future__ import annotations

import json
import textwrap

import yaml
from workflow_helpers import ROOT, planned_rules, run, snakemake

from repro.common.config import top_level_schema
from repro.common.registry import load_registry


def test_every_registered_paper_has_its_rooms_and_only_they_have_blocks():
    reg = load_registry(ROOT / "workflow/papers.yaml")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    # preflight: repro.common.preflight; standins: the rehearsal's stand-ins (repro.common.standins)
    assert set(params) - {"scale", "preflight", "standins"} == set(reg.slugs)
    for slug in reg.slugs:
        for path in (
            f"workflow/rules/{slug}.smk",
            f"workflow/schemas/{slug}.schema.yaml",
            f"workflow/expected/{slug}.yaml",
            f"src/repro/{slug}/steps.py",
        ):
            assert (ROOT / path).exists(), path
    schema = top_level_schema(ROOT / "workflow/schemas", reg.slugs)
    assert set(schema["required"]) == {"scale", *reg.slugs}
    assert {p.stem for p in (ROOT / "workflow/expected").glob("*.yaml")} == set(reg.slugs)


def test_dvc_stages_come_from_the_registry():
    reg = load_registry(ROOT / "workflow/papers.yaml")
    out = run([str(_bin("dvc")), "stage", "list"], ROOT).stdout
    stages = {line.split()[0] for line in out.splitlines() if line.strip()}
    expected = {f"run@{s}-{p}" for s in reg.scales for p in reg.slugs} | {f"fetch@{g}" for g in reg.downloads}
    expected |= {f"scorecard@{s}" for s in reg.scales}
    assert stages == expected


DEMO_STEPS = '''
"""A throw-away paper: one step that counts the lines of a file."""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from repro.common.declarations import step
from repro.common.steps import StepResult


@dataclass(frozen=True)
class CountConfig:
    scale_by: float  # multiply the line count


@step()
def count_step(inputs: Mapping[str, Path], config: CountConfig) -> StepResult:
    n = len(Path(inputs["text"]).read_text().splitlines())
    return StepResult(numbers={"count": {"lines": n, "scaled": n * config.scale_by}})
'''

DEMO_RULES = """
rule demo:
    input:
        numbers=f"results/{SCALE}/demo/numbers.json",
        figures=[],


rule demo__count:
    input:
        text="README.md",
        **step_inputs("demo", "count"),
    output:
        numbers="results/{scale}/demo/count/numbers.json",
    log:
        "logs/{scale}/demo/count.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule demo__numbers:
    input:
        parts=numbers_parts("demo"),
    output:
        numbers="results/{scale}/demo/numbers.json",
    log:
        "logs/{scale}/demo/numbers.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/numbers.py"
"""


def test_a_throwaway_paper_is_one_registry_entry_plus_its_own_files(repo_copy):
    (repo_copy / "src/repro/demo").mkdir()
    (repo_copy / "src/repro/demo/__init__.py").write_text("")
    (repo_copy / "src/repro/demo/steps.py").write_text(DEMO_STEPS)
    (repo_copy / "workflow/rules/demo.smk").write_text(DEMO_RULES)
    (repo_copy / "workflow/schemas/demo.schema.yaml").write_text(
        textwrap.dedent("""
        $schema: "https://json-schema.org/draft/2020-12/schema"
        description: the throw-away demo paper
        type: object
        additionalProperties: false
        required: [count]
        properties:
          count:
            type: object
            description: the count step
            additionalProperties: false
            properties:
              scale_by: {type: number, description: factor}
        """)
    )
    (repo_copy / "workflow/expected/demo.yaml").write_text(
        textwrap.dedent("""
        paper: demo
        claims:
          - {name: readme_not_empty, claim: the README has lines, source: none, scales: [smoke, tiny],
             criterion: "{count.lines} > 10"}
        """)
    )
    with open(repo_copy / "params.yaml", "a", encoding="utf-8") as fh:
        fh.write("\ndemo:\n  base:\n    count: {scale_by: 2.0}\n")
    with open(repo_copy / "workflow/papers.yaml", encoding="utf-8") as fh:
        reg = yaml.safe_load(fh)
    reg["papers"]["demo"] = {"title": "Demo", "tiers": ["exact"], "downloads": []}
    (repo_copy / "workflow/papers.yaml").write_text(yaml.safe_dump(reg, sort_keys=False))

    env = {"PYTHONPATH": str(repo_copy / "src")}
    plan = planned_rules(run([str(_bin("snakemake")), "-n"], repo_copy, env=env).stdout)
    assert plan.get("demo__count") == 1 and plan.get("scorecard") == 1
    run([str(_bin("snakemake")), "--cores", "1", "--config", "scale=smoke", "--", "demo"], repo_copy, env=env)
    numbers = json.loads((repo_copy / "results/smoke/demo/numbers.json").read_text())
    assert numbers["count.scaled"] == 2 * numbers["count.lines"]
    # No hand lists: the rule names its data and outputs; params, code and the merge come from the declaration,
    # so an edit to the step's module (here, its typed config) reruns the step.
    assert not any(word in DEMO_RULES for word in ("step_params", "code=", "params=", "library_files"))
    steps = repo_copy / "src/repro/demo/steps.py"
    steps.write_text(steps.read_text().replace("multiply the line count", "multiply the line count (edited)"))
    plan = planned_rules(
        run([str(_bin("snakemake")), "-n", "--config", "scale=smoke", "--", "demo"], repo_copy, env=env).stdout
    )
    assert plan.get("demo__count") == 1 and plan.get("demo__numbers") == 1
    # A declared step without its rule is refused at parse time, named (it would silently leave numbers.json).
    steps.write_text(steps.read_text() + "\n\n@step()\ndef orphan_step(inputs):\n    return StepResult()\n")
    proc = run([str(_bin("snakemake")), "-n"], repo_copy, check=False, env=env)
    assert proc.returncode != 0 and "demo__<step>, namely ['orphan']" in proc.stdout + proc.stderr
    steps.write_text(steps.read_text().split("\n\n@step()\ndef orphan_step")[0])
    run(["git", "init", "-q"], repo_copy)  # dvc reads the stages of a git checkout
    stages = run([str(_bin("dvc")), "stage", "list"], repo_copy, env=env).stdout
    assert "run@tiny-demo" in stages and "run@paper-demo" in stages
    # An unknown key in the new block is named like any other
    with open(repo_copy / "params.yaml", "a", encoding="utf-8") as fh:
        fh.write("  tiny:\n    count: {scale_byy: 1.0}\n")
    proc = run([str(_bin("snakemake")), "-n"], repo_copy, check=False, env=env)
    assert proc.returncode != 0 and "demo.tiny.count.scale_byy" in proc.stdout + proc.stderr


def _bin(name: str):
    from workflow_helpers import BIN

    return BIN / name
