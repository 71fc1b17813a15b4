"""ideagen end-to-end smoke run: every rule on the smoke config, the numbers contract, the scorecard,
nothing to redo on a second dry run, and a dedup-threshold edit that reruns only dedup and its descendants."""

from __future__ import annotations

import json

from workflow_helpers import planned_rules, snakemake

from repro.common.scorecard import check_scorecard, evaluate_scorecard

METRICS = ("novelty", "excitement", "feasibility", "effectiveness", "overall")


def test_ideagen_smoke_run(smoke_repo):
    snakemake(["--config", "scale=smoke", "--", "ideagen"], smoke_repo, timeout=900)
    numbers = json.loads((smoke_repo / "results/smoke/ideagen/numbers.json").read_text())
    required = (
        [f"{p}.{m}.mean.{c}" for p in ("stats", "stats_idea") for m in METRICS for c in ("human", "ai", "ai_rerank")]
        + [f"{p}.{m}.p_adj.{c}" for p in ("stats", "stats_idea") for m in METRICS for c in ("ai", "ai_rerank")]
        + [f"mixed.{m}.coef.ai" for m in METRICS]
        + [
            "dedup.unique_fraction.n10",
            "dedup.unique_fraction.n40",
            "tournament.spearman_with_human",
            "tournament.floor.random.spearman_p95",
            "generator.heldout_logloss.unigram_floor",
            "embed.sanity_max_abs_diff",
        ]
    )
    missing = [k for k in required if k not in numbers]
    assert not missing, missing
    assert "STAND-IN" in numbers["seeds.label"] and "PROXY" in numbers["tournament.label"]
    assert numbers["embed.sanity_max_abs_diff"] < 1e-3
    assert 0 < numbers["dedup.unique_fraction.n40"] <= 1
    for fig in ("scores", "scores_idea", "per_topic", "nondup", "tournament"):
        assert (smoke_repo / f"results/smoke/ideagen/figures/{fig}.png").stat().st_size > 10_000, fig
    card = evaluate_scorecard(
        "smoke",
        {"ideagen": smoke_repo / "results/smoke/ideagen/numbers.json"},
        [smoke_repo / "workflow/expected/ideagen.yaml"],
    )
    check_scorecard(card)
    assert card.totals.get("match", 0) >= 28
    assert card.claims["ideagen.ai_more_novel_per_review"]["verdict"] == "REPRODUCED"
    again = snakemake(["-n", "--config", "scale=smoke", "--", "ideagen"], smoke_repo).stdout
    assert "Nothing to be done" in again
    # a new dedup threshold: the embeddings are reused, only dedup and what reads it reruns
    params = smoke_repo / "params.yaml"
    text = params.read_text()
    params.write_text(text.replace("threshold: 0.8          # cosine", "threshold: 0.7          # cosine"))
    try:
        plan = planned_rules(snakemake(["-n", "--config", "scale=smoke", "--", "ideagen"], smoke_repo).stdout)
    finally:  # the copy is shared with the other smoke tests: leave params.yaml as it was
        params.write_text(text)
    assert set(plan) == {"ideagen__dedup", "ideagen__numbers", "ideagen__fig_nondup", "ideagen"}, plan
