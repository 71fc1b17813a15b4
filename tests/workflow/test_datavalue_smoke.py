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
        # the noise of the comparisons (issue 27): bootstrap replicates, halves, per-repeat values
        + [f"fit.lm_clf.logreg.valuation.m1.{e}_r2_{k}" for e in ("law", "mc") for k in ("boot", "half_a", "half_b")]
        + [f"amortized.lm_clf.{e}_{k}" for e in ("r2_vs_mle", "mle_subsample_r2_vs_mle") for k in ("boot", "half_a")]
        + [
            f"{s}.{d}.{m}.auc_per_seed"
            for s in ("addition", "removal")
            for d in ("lm_clf", "breast_cancer")
            for m in METHODS
        ]
        + [f"{s}.lm_clf.seeds" for s in ("addition", "removal", "matching")]
        + [f"matching.lm_clf.{b}.psi_small.gain_per_seed" for b in ("small_base", "large_base")]
    )
    numbers, _ = smoke_run(smoke_repo, "datavalue", required, FIGURES, cores=2)
    assert 0.0 <= numbers["noisy.lm_clf.auroc"] <= 1.0
    assert numbers["speed.within_tolerance"] is True
    assert numbers["samples.lm_clf.logreg.test_accuracy"] > numbers["samples.lm_clf.logreg.majority_test_accuracy"]
    assert len(numbers["fit.lm_clf.logreg.valuation.m1.law_r2_boot"]) == 200  # FitParams.bootstrap
    assert len(numbers["amortized.lm_clf.r2_vs_mle_boot"]) == 200
    n = len(numbers["addition.lm_clf.seeds"])
    assert n >= 2 and all(len(numbers[f"addition.lm_clf.{m}.auc_per_seed"]) == n for m in METHODS)
    # per repeat: the mean over repeats is the reported AUC
    assert abs(sum(numbers["addition.lm_clf.law.auc_per_seed"]) / n - numbers["addition.lm_clf.law.auc"]) < 1e-9
