"""graphunc end-to-end smoke run: every rule on the smoke config, numbers.json contract, scorecard, no rerun."""

from __future__ import annotations

import json

from workflow_helpers import snakemake

from repro.common.scorecard import check_scorecard, evaluate_scorecard

METHODS = ("sc", "closeness", "betweenness", "eigenvector", "pagerank", "vc", "closeness_vc", "sc_vc")
SETTINGS = [f"{d}_{m}.s{s}" for d in ("factscore", "popqa") for m in ("gpt35", "gpt4", "llama3_70b") for s in (5, 10)]


def test_graphunc_smoke_run(smoke_repo):
    snakemake(["-c2", "--config", "scale=smoke", "--", "graphunc"], smoke_repo, timeout=900)
    path = smoke_repo / "results/smoke/graphunc/numbers.json"
    numbers = json.loads(path.read_text())
    required = (
        [
            f"exact.{s}.{m}.{k}"
            for s in ("factscore_gpt4.s5", "popqa_gpt35.s5")
            for m in METHODS
            for k in ("auroc", "auprc", "auprc_n")
        ]
        + [f"authors.{s}.{m}.{k}" for s in SETTINGS for m in METHODS for k in ("auroc", "auprc", "auprc_n")]
        + [
            "exact.centrality_max_abs_diff",
            "exact.relative_auprc_gain",
            "exact.uad.closeness.p40.precision",
            "exact.uad.greedy.true_claims",
            "tiny.floor.majority.precision",
            "tiny.floor.random.auroc",
        ]
        + [
            f"tiny.{m}.{k}{suffix}"
            for m in METHODS
            for k in ("auroc", "auprc")
            for suffix in ("", "_ci_low", "_ci_high")
        ]
        + [f"tiny.uad.{d}.{k}" for d in ("greedy", "closeness") for k in ("precision", "true_claims")]
    )
    missing = [k for k in required if k not in numbers]
    assert not missing, missing
    assert numbers["exact.centrality_max_abs_diff"] == 0.0
    for fig in ("auc_bars", "uad", "graph", "tiny"):
        assert (smoke_repo / f"results/smoke/graphunc/figures/{fig}.png").stat().st_size > 10_000, fig
    card = evaluate_scorecard("smoke", {"graphunc": path}, [smoke_repo / "workflow/expected/graphunc.yaml"])
    check_scorecard(card)  # the exact tier is enforced at every scale
    assert card.totals.get("match", 0) >= 50
    again = snakemake(["-n", "--config", "scale=smoke", "--", "graphunc"], smoke_repo).stdout
    assert "Nothing to be done" in again
