"""Nothing raises for being missing (issue 28, item 6): a step declared ``not_run`` at a scale does not run
there, the paper's numbers record what is missing, and the scorecard shows what needs it as NOT RUN."""

from __future__ import annotations

import ast
import json
import textwrap
from pathlib import Path

import pytest

from repro.common.declarations import SCALES, DeclarationError, StepDeclaration, read_declarations, step
from repro.common.registry import load_registry
from repro.common.scorecard import (
    MISSING,
    NOT_RUN,
    NUMBER_NOT_RUN,
    REPRODUCED,
    evaluate_scorecard,
    load_expected,
    status,
    version_verdict,
)

ROOT = Path(__file__).resolve().parents[3]
SLUGS = load_registry(ROOT / "workflow/papers.yaml").slugs


def test_a_not_run_step_does_not_run_there_and_says_why():
    @step(not_run={"paper": "no loader for ImageNet-21k"})
    def data_step(inputs, config):  # noqa: ARG001
        return None

    decl = data_step.__repro_step__
    assert decl.runs_at("tiny") and not decl.runs_at("paper")
    assert decl.not_run_at("paper") == "no loader for ImageNet-21k" and decl.not_run_at("tiny") is None


@pytest.mark.parametrize(
    "not_run",
    [{"huge": "x"}, {"paper": ""}, {"paper": 3}, ["paper"]],
)
def test_bad_not_run_is_refused(not_run):
    with pytest.raises(DeclarationError, match="not_run maps a scale"):

        @step(scales=("tiny", "paper"), not_run=not_run)
        def x_step(inputs):  # noqa: ARG001
            return None


def test_the_source_reader_reads_not_run(tmp_path):
    path = tmp_path / "steps.py"
    path.write_text(
        textwrap.dedent(
            """
            @step(reads=("a",), not_run={"paper": "the trainer is single-device"})
            def train_step(inputs, config): ...
            """
        )
    )
    assert read_declarations([path])["train"] == StepDeclaration(
        "train", ("a",), None, SCALES, True, {"paper": "the trainer is single-device"}
    )


EXPECTED = """
paper: demo
claims:
  - {name: probe_gain, claim: x, source: s, scales: [paper], criterion: "{probe.after} > {probe.before}"}
  - {name: data_ok, claim: x, source: s, scales: [paper], criterion: "{data.n} > 0"}
entries:
  - {key: probe.after, published: 0.5, origin: paper, tolerance: {abs: 0.1}, source: Table 1, scales: [paper]}
  - {key: other.value, published: 1.0, origin: paper, tolerance: {abs: 0.1}, source: Table 2, scales: [paper]}
"""


def test_the_scorecard_shows_not_run_steps_with_their_reason(tmp_path):
    exp = tmp_path / "demo.yaml"
    exp.write_text(EXPECTED)
    numbers = {"data.n": 5, "not_run.probe": "timm backbones are not implemented"}
    paper = load_expected(exp)
    probe, data = paper.claims
    assert version_verdict(probe.current, numbers, "paper") == (
        NOT_RUN,
        "step 'probe' not run: timm backbones are not implemented",
    )
    assert version_verdict(data.current, numbers, "paper")[0] == REPRODUCED
    assert status(paper.entries[0], numbers, "paper") == (NUMBER_NOT_RUN, None)
    assert status(paper.entries[1], numbers, "paper") == (MISSING, None)  # no step says why: still a failure
    path = tmp_path / "numbers.json"
    path.write_text(json.dumps(numbers))
    card = evaluate_scorecard("paper", {"demo": path}, [exp], titles={"demo": "Demo"})
    assert card.totals[NOT_RUN] == 1 and card.totals[NUMBER_NOT_RUN] == 1
    assert card.failures == ["demo: other.value: missing (computed —, reference 1)"]
    assert "step 'probe' not run: timm backbones are not implemented" in card.markdown
    assert "### Steps not run at paper scale\n\n- `probe`: timm backbones are not implemented" in card.markdown


def test_a_job_left_out_marks_only_its_numbers_not_run():
    """A job of a step that runs (e.g. one dataset without a loader) is listed as not_run.<step>.<job>: the numbers
    under that prefix are not run, the step's other numbers are still required."""
    from repro.common.scorecard import not_run_reason

    numbers = {"fit.lm_clf.logreg.r2": 0.9, "not_run.fit.imdb.logreg": "no loader yet for imdb"}
    assert not_run_reason("fit.imdb.logreg.r2", numbers) == "job 'fit.imdb.logreg' not run: no loader yet for imdb"
    assert not_run_reason("fit.imdb.mlp.r2", numbers) is None
    assert not_run_reason("fit.adult.logreg.r2", numbers) is None
    numbers["not_run.fit"] = "the step is not implemented"
    assert not_run_reason("fit.adult.logreg.r2", numbers) == "step 'fit' not run: the step is not implemented"


def test_datavalue_lists_the_jobs_of_datasets_without_a_loader():
    """At paper scale the remote datasets' jobs are left out of the DAG and named with what is missing (issue 28:
    nothing raises for being missing); every job that remains has a loader."""
    from repro.common.config import resolve
    from repro.common.io import read_yaml
    from repro.datavalue.plan import not_run_jobs, without_loader

    params = resolve(read_yaml(ROOT / "params.yaml"), "datavalue", "paper")
    missing = without_loader(params)
    assert set(missing) == {"imdb", "MiniBooNE", "adult", "cifar10"}
    jobs = not_run_jobs(params)
    assert jobs["not_run.samples.imdb.logreg"] == missing["imdb"] and "issue 37" in missing["imdb"]
    assert "not_run.samples.lm_clf.logreg" not in jobs
    assert all(key.split(".")[2] in missing for key in jobs)
    assert without_loader(resolve(read_yaml(ROOT / "params.yaml"), "datavalue", "tiny")) == {}


def _raised_name(node: ast.Raise) -> str:
    exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
    return exc.id if isinstance(exc, ast.Name) else getattr(exc, "attr", "")


@pytest.mark.parametrize("slug", SLUGS)
def test_a_step_that_raises_for_being_unimplemented_declares_where(slug):
    """A step that raises NotImplementedError or a paper-scale error (itself or through a module-level helper
    such as a guard) declares ``not_run`` at the scale it cannot run at, so the workflow never starts it there:
    the run finishes and the scorecard says what is missing. The guard stays, for a user who points a smaller
    scale at the unimplemented settings."""
    offenders = []
    for path in sorted((ROOT / "src/repro" / slug).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        raising = {
            name
            for name, fn in functions.items()
            for node in ast.walk(fn)
            if isinstance(node, ast.Raise)
            and node.exc is not None
            and _raised_name(node) in {"NotImplementedError", "PaperScaleError"}
        }
        declared = read_declarations([path])
        for name, fn in functions.items():
            if not name.endswith("_step") or name[: -len("_step")] not in declared:
                continue
            called = {n.func.id for n in ast.walk(fn) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
            if (name in raising or called & raising) and not declared[name[: -len("_step")]].not_run:
                offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert not offenders, f"these steps raise for being unimplemented but declare no not_run scale: {offenders}"
