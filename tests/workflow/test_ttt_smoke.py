"""ttt end-to-end smoke run: every rule of the paper on the smoke config, then the numbers.json contract."""

from __future__ import annotations

import math

from workflow_helpers import smoke_run

TEXT_ARCHS = ("transformer", "mamba", "ttt_linear_m")
RECALL_ARCHS = ("transformer", "mamba", "ttt_linear_m", "ttt_mlp_m", "linear_attention_m")


def test_ttt_smoke_run(smoke_repo):
    required = (
        ["equivalence.primal_dual.max_abs_diff", "equivalence.linear_attention.max_abs_diff", "speed.dual_vs_primal"]
        + [f"text.{a}.{k}" for a in TEXT_ARCHS for k in ("final_eval_loss", "late_minus_early_loss", "loss_slope")]
        + ["text.ngram_floor.loss", "recall.bayes.4.loss", "recall.no_memory.4.gap_to_bayes"]
        + [
            f"recall.{a}.4.{k}"
            for a in RECALL_ARCHS
            for k in ("gap_to_bayes", "gap_to_bayes_std", "accuracy", "accuracy_std", "gap_slope", "state_size")
        ]
        + [f"inner_loss.{a}.{k}.mean" for a in ("ttt_linear_m", "ttt_mlp_m") for k in ("w0", "before", "after")]
        + [f"minibatch.b4.{k}" for k in ("loss", "gap_to_bayes", "accuracy", "tokens_per_s")]
        + [f"ladder.{r}.{k}" for r in ("linear_attention", "mamba_backbone") for k in ("gap_to_bayes", "eta_base")]
        + [
            f"latency.cpu.ctx{t}.{a}.{k}"
            for t in (64, 128)
            for a in ("ttt_linear", "transformer", "mamba")
            for k in ("prefill_ms_per_token", "decode_ms_per_token")
        ]
    )
    figures = ("recall_gap", "recall_accuracy", "inner_loss", "minibatch", "ladder", "position_loss", "loss_vs_flops")
    numbers, _ = smoke_run(smoke_repo, "ttt", required, (*figures, "latency"), timeout=600)
    assert numbers["equivalence.primal_dual.max_abs_diff"] < 1e-10
    assert numbers["equivalence.linear_attention.max_abs_diff"] < 1e-10
    # three optimizer steps: finite losses no worse than about the uniform predictor (vocabulary <= 300 / 16)
    assert all(0 < numbers[f"text.{a}.final_eval_loss"] < math.log(300) + 0.1 for a in TEXT_ARCHS)
    assert all(0 < numbers[f"recall.{a}.4.loss"] < math.log(16) + 0.5 for a in RECALL_ARCHS)
    assert numbers["recall.ttt_linear_m.4.state_size"] == numbers["recall.mamba.4.state_size"]
    assert numbers["data.heldout_documents"] >= 1 and numbers["data.train_tokens"] > numbers["data.heldout_tokens"]
