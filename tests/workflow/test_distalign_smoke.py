"""distalign smoke run: every rule on the smoke config, the numbers.json contract and the scorecard."""

from __future__ import annotations

from workflow_helpers import smoke_run

MODELS = ("gpt-3.5-turbo-0125", "gpt-4", "anthropic_haiku", "anthropic_opus", "llama3-70b")


def test_distalign_smoke_run(smoke_repo):
    required = (
        [f"leaderboard.{m}.{k}.tv" for m in MODELS for k in ("verbalize", "sequence")]
        + [f"leaderboard.{m}.{k}.tv" for m in ("gpt-4", "llama3-70b") for k in ("logprobs", "logprobs_ts")]
        + [f"k2s_gap.{m}" for m in MODELS]
        + [f"baselines.{b}.tv" for b in ("human", "uniform", "floor30")]
        + ["fewshot_beats_persona.count", "fewshot_beats_persona.cells", "cells.opinionqa.gpt-4.persona.verbalize.tv"]
        + [f"tiny.{s}.{m}.tv" for s in ("persona", "fewshot") for m in ("sequence", "logprobs", "logprobs_ts")]
        + [f"tiny.{m}.parse_fail_rate" for m in ("verbalize", "sequence", "logprobs")]
        + ["tiny.floor.uniform.tv", "tiny.floor.group_prior.tv", "replay.verbalize.max_abs_diff", "tiny.seeds"]
        + [f"tiny.{s}.{m}.tv.per_seed" for s in ("persona", "fewshot") for m in ("logprobs", "logprobs_ts_cv")]
    )
    numbers, _ = smoke_run(
        smoke_repo, "distalign", required, ("leaderboard", "steering", "k2s_gap", "tiny"), timeout=600
    )
    assert numbers["replay.verbalize.max_abs_diff"] < 1e-9 and numbers["replay.sequence.max_abs_diff"] < 1e-9
    assert 0.0 <= numbers["tiny.verbalize.parse_fail_rate"] <= 1.0
    seeds = numbers["tiny.seeds"]
    assert len(seeds) >= 3 and len(numbers["tiny.persona.logprobs.tv.per_seed"]) == len(seeds)
