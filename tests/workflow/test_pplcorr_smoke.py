"""pplcorr end-to-end smoke run: every rule on the smoke config, numbers keys, figures, scorecard, rerun."""

from __future__ import annotations

import json

from workflow_helpers import snakemake

from repro.common.scorecard import check_scorecard, evaluate_scorecard

TARGETS = ("arc_easy", "piqa", "sciq", "lambada", "lambada_de", "lambada_es", "lambada_fr", "lambada_it")
ARMS = ("random", "pplcorr", "domain_filter", "dsir")


def test_pplcorr_smoke_run(smoke_repo):
    snakemake(["--config", "scale=smoke", "--", "pplcorr"], smoke_repo, timeout=600)
    numbers = json.loads((smoke_repo / "results/smoke/pplcorr/numbers.json").read_text())
    required = (
        ["crosscheck.max_abs_diff", "live.population.size", "live.floor.cloze_error"]
        + [f"exact.{t}.{k}" for t in TARGETS for k in ("top10_overlap", "heldout_spearman")]
        + [
            f"live.{t}.{a}.{k}"
            for t in ("science", "speeches")
            for a in ARMS
            for k in ("error_mean", "error_std", "ngram_error_mean", "bigram_floor_error_mean", "beats_floor")
        ]
        + ["live.population.n_transformers"]
    )
    missing = [k for k in required if k not in numbers]
    assert not missing, missing
    assert numbers["crosscheck.max_abs_diff"] <= 1e-12
    assert numbers["exact.lambada.top10_overlap"] == 10
    assert numbers["live.population.n_transformers"] >= 1
    for fig in ("top10", "heldout", "live_arms"):
        assert (smoke_repo / f"results/smoke/pplcorr/figures/{fig}.png").stat().st_size > 10_000, fig
    card = evaluate_scorecard(
        "smoke",
        {"pplcorr": smoke_repo / "results/smoke/pplcorr/numbers.json"},
        [smoke_repo / "workflow/expected/pplcorr.yaml"],
    )
    check_scorecard(card)
    again = snakemake(["-n", "--config", "scale=smoke", "--", "pplcorr"], smoke_repo).stdout
    assert "Nothing to be done" in again
