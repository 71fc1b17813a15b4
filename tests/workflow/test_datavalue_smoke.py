"""datavalue end-to-end smoke run: every rule on the smoke config, the numbers.json contract, the scorecard."""

from __future__ import annotations

import json

from workflow_helpers import snakemake

from repro.common.scorecard import check_scorecard, evaluate_scorecard

FIGURES = ("scaling", "alpha", "amortized", "addition", "removal", "noisy", "matching")
METHODS = ("law", "amortized", "mc", "loo", "random")


def test_datavalue_smoke_run(smoke_repo):
    snakemake(["-c2", "--config", "scale=smoke", "--", "datavalue"], smoke_repo, timeout=900)
    path = smoke_repo / "results/smoke/datavalue/numbers.json"
    numbers = json.loads(path.read_text())
    required = (
        [
            f"fit.{e}.{k}"
            for e in ("lm_clf.logreg", "lm_clf.mlp", "breast_cancer.logreg")
            for k in ("r2_heldout_sizes", "alpha_median")
        ]
        + [f"amortized.{d}.r2_vs_mle" for d in ("lm_clf", "breast_cancer")]
        + ["noisy.lm_clf.auroc", "speed.batched_vs_naive", "fit.lm_clf.logreg.spearman_alpha_abs_margin"]
        + [
            f"matching.lm_clf.{b}.{m}.gain"
            for b in ("small_base", "large_base")
            for m in ("psi_small", "psi_large", "random")
        ]
        + [f"{s}.{d}.{m}.auc" for s in ("addition", "removal") for d in ("lm_clf", "breast_cancer") for m in METHODS]
        + [f"samples.lm_clf.logreg.{k}" for k in ("test_accuracy", "majority_test_accuracy")]
    )
    missing = [k for k in required if k not in numbers]
    assert not missing, missing
    assert 0.0 <= numbers["noisy.lm_clf.auroc"] <= 1.0
    assert numbers["speed.within_tolerance"] is True
    assert numbers["samples.lm_clf.logreg.test_accuracy"] > numbers["samples.lm_clf.logreg.majority_test_accuracy"]
    for fig in FIGURES:
        assert (smoke_repo / f"results/smoke/datavalue/figures/{fig}.png").stat().st_size > 10_000, fig
    card = evaluate_scorecard("smoke", {"datavalue": path}, [smoke_repo / "workflow/expected/datavalue.yaml"])
    check_scorecard(card)
    again = snakemake(["-n", "--config", "scale=smoke", "--", "datavalue"], smoke_repo).stdout
    assert "Nothing to be done" in again
