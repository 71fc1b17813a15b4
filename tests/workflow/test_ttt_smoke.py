"""ttt end-to-end smoke run: every rule of the paper on the smoke config, then the numbers.json contract."""

from __future__ import annotations

import json
import math

from workflow_helpers import snakemake

ARCHS = ("transformer", "mamba", "ttt_linear", "ttt_mlp")


def test_ttt_smoke_run(repo_copy):
    snakemake(["--config", "scale=smoke", "--", "ttt"], repo_copy, timeout=600)
    numbers = json.loads((repo_copy / "results/smoke/ttt/numbers.json").read_text())
    required = (
        ["equivalence.primal_dual.max_abs_diff", "equivalence.linear_attention.max_abs_diff"]
        + [f"text.{a}.{k}" for a in ARCHS for k in ("final_eval_loss", "late_minus_early_loss")]
        + [f"ablation.minibatch.{b}.final_eval_loss" for b in ("4", "16", "T")]
        + [f"ladder.{r}.perplexity" for r in ("linear_attention", "learnable_eta")]
        + [
            f"latency.cpu.ctx{t}.{a}.{k}"
            for t in (64, 128)
            for a in ("ttt_linear", "transformer", "mamba")
            for k in ("prefill_ms_per_token", "decode_ms_per_token")
        ]
    )
    missing = [k for k in required if k not in numbers]
    assert not missing, missing
    assert numbers["equivalence.primal_dual.max_abs_diff"] < 1e-10
    assert numbers["equivalence.linear_attention.max_abs_diff"] < 1e-10
    # four optimizer steps: finite losses no worse than about the uniform predictor (vocabulary <= 300)
    assert all(0 < numbers[f"text.{a}.final_eval_loss"] < math.log(300) + 0.1 for a in ARCHS)
    assert numbers["data.heldout_documents"] >= 1 and numbers["data.train_tokens"] > numbers["data.heldout_tokens"]
    for fig in ("position_loss", "loss_vs_flops", "minibatch", "ladder", "latency"):
        assert (repo_copy / f"results/smoke/ttt/figures/{fig}.png").stat().st_size > 10_000, fig
    again = snakemake(["-n", "--config", "scale=smoke", "--", "ttt"], repo_copy).stdout
    assert "Nothing to be done" in again
