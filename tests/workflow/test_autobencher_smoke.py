"""autobencher end-to-end smoke run: every rule on the smoke config, numbers.json contract, scorecard, no rerun."""

from __future__ import annotations

import json

from workflow_helpers import snakemake

from repro.autobencher.safety import MODEL_DIRS
from repro.common.scorecard import check_scorecard, evaluate_scorecard


def test_autobencher_smoke_run(smoke_repo):
    snakemake(["-c2", "--config", "scale=smoke", "--", "autobencher"], smoke_repo, timeout=900)
    path = smoke_repo / "results/smoke/autobencher/numbers.json"
    numbers = json.loads(path.read_text())
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
    )
    missing = [k for k in required if k not in numbers]
    assert not missing, missing
    assert numbers["tiny.privileged_info.wrong_gold_rate"] == 0.0
    assert 0.0 <= numbers["tiny.adaptive.difficulty"] <= 1.0
    for fig in ("tiny", "safety"):
        assert (smoke_repo / f"results/smoke/autobencher/figures/{fig}.png").stat().st_size > 10_000, fig
    card = evaluate_scorecard("smoke", {"autobencher": path}, [smoke_repo / "workflow/expected/autobencher.yaml"])
    check_scorecard(card)  # the safety replay is exact at every scale
    assert card.totals.get("match", 0) >= 20
    again = snakemake(["-n", "--config", "scale=smoke", "--", "autobencher"], smoke_repo).stdout
    assert "Nothing to be done" in again
