"""graphunc end-to-end smoke run: every rule on the smoke config, numbers.json contract, scorecard, no rerun."""

from __future__ import annotations

from workflow_helpers import smoke_run

METHODS = ("sc", "closeness", "betweenness", "eigenvector", "pagerank", "vc", "closeness_vc", "sc_vc")
SETTINGS = [f"{d}_{m}.s{s}" for d in ("factscore", "popqa") for m in ("gpt35", "gpt4", "llama3_70b") for s in (5, 10)]


def test_graphunc_smoke_run(smoke_repo):
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
        + [f"tiny.{m}.{k}.per_seed" for m in METHODS for k in ("auroc", "auprc")]
        + [f"tiny.uad.{d}.{k}.per_seed" for d in ("greedy", "closeness") for k in ("precision", "true_claims")]
        + ["tiny.seeds"]
    )
    numbers, card = smoke_run(smoke_repo, "graphunc", required, ("auc_bars", "uad", "graph", "tiny"), cores=2)
    assert numbers["exact.centrality_max_abs_diff"] == 0.0
    assert len(numbers["tiny.closeness.auprc.per_seed"]) == len(numbers["tiny.seeds"])
    assert card.totals.get("match", 0) >= 50
