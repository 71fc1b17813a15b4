"""maskembed end-to-end smoke run: every rule on the smoke config, the numbers.json contract, the scorecard."""

from __future__ import annotations

import json

from workflow_helpers import snakemake

from repro.common.scorecard import check_scorecard, evaluate_scorecard

ARMS = ("before", "after", "control")


def test_maskembed_smoke_run(smoke_repo):
    snakemake(["-c2", "--config", "scale=smoke", "--", "maskembed"], smoke_repo, timeout=900)
    path = smoke_repo / "results/smoke/maskembed/numbers.json"
    numbers = json.loads(path.read_text())
    required = (
        [
            f"probe.{h}.{a}.{m}{s}"
            for h in ("linear", "transformer")
            for a in ARMS
            for m in ("macro_f1", "macro_precision", "macro_recall")
            for s in ("", "_std")
        ]
        + [f"spatial_qa.{a}.accuracy{s}" for a in ARMS for s in ("", "_std")]
        + ["probe.floor.best.macro_f1", "spatial_qa.floor.count_based.accuracy", "probe.image_level.backbone.macro_f1"]
        + ["data.n_train", "data.patch_positive_rate"]
    )
    missing = [k for k in required if k not in numbers]
    assert not missing, missing
    assert all(0.0 <= numbers[f"probe.linear.{a}.macro_f1"] <= 1.0 for a in ARMS)
    assert numbers["probe.n_seeds"] == 1 and numbers["probe.linear.after.macro_f1_std"] == 0.0
    for fig in ("scores", "examples"):
        assert (smoke_repo / f"results/smoke/maskembed/figures/{fig}.png").stat().st_size > 10_000, fig
    card = evaluate_scorecard("smoke", {"maskembed": path}, [smoke_repo / "workflow/expected/maskembed.yaml"])
    check_scorecard(card)
    again = snakemake(["-n", "--config", "scale=smoke", "--", "maskembed"], smoke_repo).stdout
    assert "Nothing to be done" in again
