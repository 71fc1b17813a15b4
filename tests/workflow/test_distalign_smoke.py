"""distalign smoke run: every rule on the smoke config, the numbers.json contract and the scorecard."""

from __future__ import annotations

import json

from workflow_helpers import snakemake

from repro.common.scorecard import check_scorecard, evaluate_scorecard

MODELS = ("gpt-3.5-turbo-0125", "gpt-4", "anthropic_haiku", "anthropic_opus", "llama3-70b")


def test_distalign_smoke_run(smoke_repo):
    snakemake(["--config", "scale=smoke", "--", "distalign"], smoke_repo, timeout=600)
    path = smoke_repo / "results/smoke/distalign/numbers.json"
    numbers = json.loads(path.read_text())
    required = (
        [f"leaderboard.{m}.{k}.tv" for m in MODELS for k in ("verbalize", "sequence")]
        + [f"leaderboard.{m}.{k}.tv" for m in ("gpt-4", "llama3-70b") for k in ("logprobs", "logprobs_ts")]
        + [f"k2s_gap.{m}" for m in MODELS]
        + [f"baselines.{b}.tv" for b in ("human", "uniform", "floor30")]
        + ["fewshot_beats_persona.count", "fewshot_beats_persona.cells", "cells.opinionqa.gpt-4.persona.verbalize.tv"]
        + [f"tiny.{s}.{m}.tv" for s in ("persona", "fewshot") for m in ("sequence", "logprobs", "logprobs_ts")]
        + [f"tiny.{m}.parse_fail_rate" for m in ("verbalize", "sequence", "logprobs")]
        + ["tiny.floor.uniform.tv", "tiny.floor.group_prior.tv", "replay.verbalize.max_abs_diff"]
    )
    missing = [k for k in required if k not in numbers]
    assert not missing, missing
    assert numbers["replay.verbalize.max_abs_diff"] < 1e-9 and numbers["replay.sequence.max_abs_diff"] < 1e-9
    assert 0.0 <= numbers["tiny.verbalize.parse_fail_rate"] <= 1.0
    for fig in ("leaderboard", "steering", "k2s_gap", "tiny"):
        assert (smoke_repo / f"results/smoke/distalign/figures/{fig}.png").stat().st_size > 10_000, fig
    card = evaluate_scorecard("smoke", {"distalign": path}, [smoke_repo / "workflow/expected/distalign.yaml"])
    check_scorecard(card)
    assert card.totals.get("MISMATCH", 0) == 0
    again = snakemake(["-n", "--config", "scale=smoke", "--", "distalign"], smoke_repo).stdout
    assert "Nothing to be done" in again
