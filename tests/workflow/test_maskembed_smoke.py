"""maskembed end-to-end smoke run: every rule on the smoke config, the numbers.json contract, the scorecard."""

from __future__ import annotations

from workflow_helpers import smoke_run

ARMS = ("before", "after", "control")


def test_maskembed_smoke_run(smoke_repo):
    required = (
        [
            f"probe.{h}.{a}.{m}{s}"
            for h in ("linear", "transformer")
            for a in ARMS
            for m in ("macro_f1", "macro_precision", "macro_recall")
            for s in ("", "_std")
        ]
        + [f"probe.{h}.{a}.macro_f1.per_seed" for h in ("linear", "transformer") for a in ARMS]
        + [f"spatial_qa.{a}.accuracy{s}" for a in ARMS for s in ("", "_std", ".per_seed")]
        + ["probe.seeds", "spatial_qa.seeds"]
        + ["probe.floor.best.macro_f1", "spatial_qa.floor.count_based.accuracy", "probe.image_level.backbone.macro_f1"]
        + ["data.n_train", "data.patch_positive_rate"]
    )
    numbers, _ = smoke_run(smoke_repo, "maskembed", required, ("scores", "examples"), cores=2)
    assert all(0.0 <= numbers[f"probe.linear.{a}.macro_f1"] <= 1.0 for a in ARMS)
    assert numbers["probe.n_seeds"] == 1 and numbers["probe.linear.after.macro_f1_std"] == 0.0
    # issue 27: per-seed lists for the comparison claims, in the seed order of <step>.seeds
    assert numbers["probe.seeds"] == numbers["spatial_qa.seeds"] == [0]
    for a in ARMS:
        assert numbers[f"probe.linear.{a}.macro_f1.per_seed"] == [numbers[f"probe.linear.{a}.macro_f1"]]
        assert numbers[f"spatial_qa.{a}.accuracy.per_seed"] == [numbers[f"spatial_qa.{a}.accuracy"]]
