"""entigraph smoke run: every rule on the smoke config, the numbers.json contract, figures and the scorecard."""

from __future__ import annotations

import json

from workflow_helpers import snakemake

from repro.common.scorecard import check_scorecard, evaluate_scorecard


def test_entigraph_smoke_run(smoke_repo):
    snakemake(["-c2", "--config", "scale=smoke", "--", "entigraph"], smoke_repo, timeout=600)
    path = smoke_repo / "results/smoke/entigraph/numbers.json"
    numbers = json.loads(path.read_text())
    required = (
        ["math.plateau", "math.reachable_fraction", "math.fit_rmse", "math.c_lambda", "math.rho"]
        + [f"tiny.{m}.{b}.qa_accuracy" for m in ("raw", "rephrase", "entigraph") for b in (500, 1000)]
        + [f"tiny.{m}.{b}.count_floor_qa_accuracy" for m in ("raw", "rephrase", "entigraph") for b in (500, 1000)]
        + ["tiny.entigraph.fit_rmse", "tiny.rag.base.qa_accuracy", "tiny.rag.entigraph.qa_accuracy"]
        + ["tiny.base.qa_accuracy", "tiny.floor.random.qa_accuracy", "data.tokens.entigraph", "synth.n_calls"]
    )
    missing = [k for k in required if k not in numbers]
    assert not missing, missing
    assert numbers["math.plateau"] == numbers["math.reachable_fraction"]
    assert numbers["tiny.floor.random.qa_accuracy"] == 0.25
    assert numbers["synth.backend"] == "entigraph_template"
    for fig in ("toy_model", "scaling"):
        assert (smoke_repo / f"results/smoke/entigraph/figures/{fig}.png").stat().st_size > 10_000, fig
    card = evaluate_scorecard("smoke", {"entigraph": path}, [smoke_repo / "workflow/expected/entigraph.yaml"])
    check_scorecard(card)
    assert card.totals.get("MISMATCH", 0) == 0
    again = snakemake(["-n", "--config", "scale=smoke", "--", "entigraph"], smoke_repo).stdout
    assert "Nothing to be done" in again
