"""datavalue end-to-end smoke run: every rule on the smoke config, the numbers.json contract, the scorecard."""

from __future__ import annotations

from workflow_helpers import smoke_run

FIGURES = ("scaling", "alpha", "amortized", "addition", "removal", "noisy", "matching")
METHODS = ("law", "amortized", "mc", "loo", "random")


def test_datavalue_smoke_run(smoke_repo):
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
    numbers, _ = smoke_run(smoke_repo, "datavalue", required, FIGURES, cores=2)
    assert 0.0 <= numbers["noisy.lm_clf.auroc"] <= 1.0
    assert numbers["speed.within_tolerance"] is True
    assert numbers["samples.lm_clf.logreg.test_accuracy"] > numbers["samples.lm_clf.logreg.majority_test_accuracy"]
