"""pplcorr end-to-end smoke run: every rule on the smoke config, numbers keys, figures, scorecard, rerun."""

from __future__ import annotations

from workflow_helpers import smoke_run

TARGETS = ("arc_easy", "piqa", "sciq", "lambada", "lambada_de", "lambada_es", "lambada_fr", "lambada_it")
ARMS = ("random", "pplcorr", "domain_filter", "dsir")


def test_pplcorr_smoke_run(smoke_repo):
    required = (
        ["crosscheck.max_abs_diff", "live.population.size", "live.floor.cloze_error"]
        + [f"exact.{t}.{k}" for t in TARGETS for k in ("top10_overlap", "heldout_spearman")]
        + [
            f"live.{t}.{a}.{k}"
            for t in ("science", "speeches")
            for a in ARMS
            for k in (
                "error_mean",
                "error_std",
                "ngram_error_mean",
                "bigram_floor_error_mean",
                "beats_floor",
                "error.per_seed",
                "ngram_error.per_seed",
                "bigram_floor_error.per_seed",
            )
        ]
        + ["live.population.n_transformers", "live.seeds"]
    )
    numbers, _ = smoke_run(smoke_repo, "pplcorr", required, ("top10", "heldout", "live_arms"), timeout=600)
    assert numbers["crosscheck.max_abs_diff"] <= 1e-12
    assert numbers["exact.lambada.top10_overlap"] == 10
    assert numbers["live.population.n_transformers"] >= 1
    # per-seed lists (the unit of the scorecard's comparisons), in the order of live.seeds, agree with the means
    seeds = numbers["live.seeds"]
    for t in ("science", "speeches"):
        for a in ARMS:
            for q in ("error", "ngram_error"):
                per_seed = numbers[f"live.{t}.{a}.{q}.per_seed"]
                assert len(per_seed) == len(seeds)
                assert abs(sum(per_seed) / len(per_seed) - numbers[f"live.{t}.{a}.{q}_mean"]) < 1e-12
