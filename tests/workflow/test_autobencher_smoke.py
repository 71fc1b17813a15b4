"""autobencher end-to-end smoke run: every rule on the smoke config, numbers.json contract, scorecard, no rerun."""

from __future__ import annotations

from workflow_helpers import smoke_run

from repro.autobencher.safety import MODEL_DIRS


def test_autobencher_smoke_run(smoke_repo):
    required = (
        [
            f"tiny.{m}.{k}{s}"
            for m in ("adaptive", "random", "human")
            for k in ("novelty", "difficulty", "separability")
            for s in ("", "_std")
        ]
        + [f"tiny.relative_gain.{k}{s}" for k in ("novelty", "difficulty") for s in ("", "_std")]
        + ["tiny.no_privileged_info.wrong_gold_rate", "tiny.no_privileged_info.wrong_gold_rate_human"]
        + ["tiny.privileged_info.wrong_gold_rate", "tiny.panel.floor_random", "tiny.panel.worst_margin_over_floor"]
        + [
            f"tiny.panel.{m}.{k}"
            for m in ("big", "special_a", "small", "writer")
            for k in ("accuracy", "floor_unigram")
        ]
        + [f"safety.{m}.asr_{s}" for m in MODEL_DIRS for s in ("hard", "simple")]
        + [f"tiny.{m}.{k}.per_seed" for m in ("adaptive", "random", "human") for k in ("novelty", "mean_error")]
        + [
            "tiny.no_privileged_info.wrong_gold_rate.per_seed",
            "tiny.seeds",
            "tiny.panel.writer.worst_margin_over_floor",
        ]
    )
    numbers, card = smoke_run(smoke_repo, "autobencher", required, ("tiny", "safety"), cores=2)
    assert numbers["tiny.privileged_info.wrong_gold_rate"] == 0.0
    assert 0.0 <= numbers["tiny.adaptive.difficulty"] <= 1.0
    # comparison claims (issue 27) read per-seed lists in the order of tiny.seeds
    seeds = numbers["tiny.seeds"]
    assert len(numbers["tiny.adaptive.novelty.per_seed"]) == len(seeds) == numbers["tiny.n_seeds"]
    assert numbers["tiny.adaptive.mean_error.per_seed"][0] == numbers[f"tiny.seed{seeds[0]}.adaptive.mean_error"]
    assert card.totals.get("match", 0) >= 20  # the safety replay is exact at every scale
