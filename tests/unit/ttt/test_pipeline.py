"""repro.ttt.pipeline: run expansion, data steps, a training run, evaluation and numbers on tiny synthetic data."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from repro.common.io import sha256_file
from repro.common.lm.trainer import checkpoint_resume_key
from repro.ttt import pipeline
from repro.ttt.models import LMConfig, count_parameters

PARAMS = {
    "data": {"source": "mirror", "hub_dataset": "x", "hub_text_field": "text", "hub_train_split": "train",
             "hub_heldout_split": "validation", "max_documents": None, "corpora": ["news_from_nowhere"],
             "heldout_frac": 0.1, "split_seed": 0},
    "tokenizer": {"kind": "char", "hf_id": "x", "vocab_size": 64},
    "context": 32,
    "mini_batch_size": 8,
    "mamba_layers_per_block": 2,
    "archs": ["transformer", "mamba", "ttt_linear", "ttt_mlp"],
    "sizes": [{"name": "s", "d_model": 32, "n_layer": 1, "n_head": 2, "steps": 3, "lr": 3e-3},
              {"name": "m", "d_model": 48, "n_layer": 1, "n_head": 2, "steps": 3, "lr": 3e-3}],
    "seeds": [0],
    "train": {"batch_size": 2, "grad_accum": 1, "min_lr": 1e-4, "warmup_frac": 0.1, "weight_decay": 0.1,
              "betas": [0.9, 0.95], "grad_clip": 1.0, "eval_every": 1, "eval_batches": 1, "log_every": 1,
              "ckpt_every": 0, "threads": 1, "device": "cpu"},
    "eval": {"max_windows": 4, "batch_size": 2, "fraction": 0.25, "curve_bins": 6},
    "ablation": {"arch": "ttt_linear", "size": "s", "minibatch_sizes": [1, 8, None]},
    "ladder": {"size": "s", "rows": ["linear_attention", "ln_residual", "learnable_eta"]},
    "equivalence": {"seed": 0},
    "latency": {"size": "s", "archs": ["ttt_linear"], "contexts": [16], "device": "cpu", "dtype": "float32",
                "threads": None, "batch": 1, "warmup": 0, "repeats": 1, "decode_steps": 1},
}


def test_run_specs_names_roles_and_sharing() -> None:
    specs = pipeline.run_specs(PARAMS)
    main = [f"{a}-{s}-s0" for s in ("s", "m") for a in PARAMS["archs"]]
    assert set(main) <= set(specs)
    # ablation b = mini_batch_size and the ladder's "+ learnable eta" row are the main TTT-Linear run
    roles = {r["group"] for r in specs["ttt_linear-s-s0"]["roles"]}
    assert roles == {"main", "minibatch", "ladder"}
    assert "minibatch-b8" not in specs and "ladder-learnable_eta" not in specs
    assert {"minibatch-b1", "minibatch-bT", "ladder-linear_attention", "ladder-ln_residual"} <= set(specs)
    assert "ladder-minibatch" not in specs  # not in ladder.rows
    assert specs["minibatch-bT"]["model"]["mini_batch_size"] is None
    lin = specs["ladder-linear_attention"]["model"]
    assert (lin["use_ln_residual"], lin["learnable_w0"], lin["mini_batch_size"], lin["eta_base"]) == (False, False,
                                                                                                       None, 0.5)


def test_equal_parameter_counts_across_archs() -> None:
    specs = pipeline.run_specs(PARAMS)
    for size in ("s", "m"):
        counts = [count_parameters(LMConfig(**specs[f"{a}-{size}-s0"]["model"])) for a in PARAMS["archs"]]
        assert max(counts) / min(counts) < 1.1, counts  # widths move in steps of 8: coarse at d = 32


def test_train_config_follows_params() -> None:
    cfg = pipeline.train_config(PARAMS, "m", seed=3)
    assert (cfg.steps, cfg.context, cfg.seed, cfg.lr, cfg.warmup, cfg.betas) == (3, 32, 3, 3e-3, 1, (0.9, 0.95))
    with pytest.raises(KeyError, match="no size named"):
        pipeline.train_config(PARAMS, "xl", seed=0)


def test_training_flops_per_token() -> None:
    ttt = LMConfig(variant="ttt_linear", vocab_size=64, d_model=32, n_layer=1, n_head=2, context=32)
    assert pipeline.training_flops_per_token(ttt) == 6 * count_parameters(ttt)  # tied head counted once
    tr = LMConfig(variant="transformer", vocab_size=64, d_model=32, n_layer=1, n_head=2, context=32)
    assert pipeline.training_flops_per_token(tr) == 6 * count_parameters(tr) + 12 * 1 * 32 * 32


TEXTS = ["the quick brown fox jumps over the lazy dog. " * 20, "a b c d e f g h i j k. " * 30]


def test_tokenizer_and_tokens_steps(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(pipeline, "split_texts", lambda data, resources: (TEXTS, TEXTS[:1]))
    stats = pipeline.tokenizer_step(PARAMS, "unused", str(tmp_path / "tok"))
    assert stats["kind"] == "char" and stats["vocab_size"] <= 64
    out = pipeline.tokens_step(PARAMS, "unused", str(tmp_path / "tok"), str(tmp_path / "train.npy"),
                               str(tmp_path / "held.npy"))
    train = np.load(tmp_path / "train.npy")
    assert out["train_tokens"] == len(train) == sum(len(t) for t in TEXTS) + 2  # one EOS per document
    assert out["heldout_documents"] == 1 and out["heldout_unigram_entropy"] > 0
    small = copy.deepcopy(PARAMS)
    small["context"] = 10_000
    with pytest.raises(ValueError, match="too few tokens"):
        pipeline.tokens_step(small, "unused", str(tmp_path / "tok"), str(tmp_path / "a.npy"), str(tmp_path / "b.npy"))


@pytest.fixture
def trained(tmp_path):
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 64, size=2000).astype(np.uint16)
    np.save(tmp_path / "train.npy", tokens)
    np.save(tmp_path / "held.npy", tokens[:400])
    spec = pipeline.run_specs(PARAMS)["ttt_linear-s-s0"]
    record = pipeline.run_training(spec, str(tmp_path / "train.npy"), str(tmp_path / "held.npy"),
                                   str(tmp_path / "work"), str(tmp_path / "out" / "checkpoint.safetensors"),
                                   progress=False)
    return tmp_path, spec, record


def test_run_training_and_evaluate(trained) -> None:
    tmp_path, spec, record = trained
    assert [h["step"] for h in record["history"]] == [1, 2, 3]
    assert record["history"][-1]["tokens"] == 3 * 2 * 32 and record["flops_per_token"] > 0
    model = pipeline.load_trained(spec, tmp_path / "out")
    ev = pipeline.evaluate_run(model, np.load(tmp_path / "held.npy"), 32, PARAMS["eval"])
    assert len(ev["curve"]) == 32 and math.isclose(ev["final_eval_loss"], float(np.mean(ev["curve"])))
    assert math.isclose(ev["late_minus_early_loss"], ev["loss_late"] - ev["loss_early"], abs_tol=1e-9)
    assert 0 < ev["final_eval_loss"] < 2 * math.log(64)


def test_changed_config_retrains_instead_of_failing_resume(trained) -> None:
    tmp_path, spec, _ = trained
    changed = copy.deepcopy(spec)
    changed["train"]["lr"] = 1e-3  # the trainer refuses to resume across a config change: must start over
    record = pipeline.run_training(changed, str(tmp_path / "train.npy"), str(tmp_path / "held.npy"),
                                   str(tmp_path / "work"), str(tmp_path / "out" / "checkpoint.safetensors"),
                                   progress=False)
    assert [h["step"] for h in record["history"]] == [1, 2, 3]


def test_changed_input_file_retrains_and_same_inputs_resume(trained) -> None:
    """A changed code/data file must retrain (a stale checkpoint is never passed off as new)."""
    tmp_path, spec, _ = trained
    code = tmp_path / "code.py"
    work_ckpt = tmp_path / "work" / "checkpoint.safetensors"
    args = (spec, str(tmp_path / "train.npy"), str(tmp_path / "held.npy"), str(tmp_path / "work"),
            str(tmp_path / "out" / "checkpoint.safetensors"))

    def run(code_text: str) -> tuple[dict, str]:
        code.write_text(code_text)
        record = pipeline.run_training(*args, progress=False, input_files=[str(code)])
        return record, sha256_file(work_ckpt)

    before = sha256_file(work_ckpt)
    first, key1 = run("x = 1\n")
    assert key1 != before  # new inputs: trained afresh and a new checkpoint written
    assert checkpoint_resume_key(work_ckpt) != ""
    resumed, key2 = run("x = 1\n")
    assert key2 == key1 and resumed["history"] == first["history"]  # same inputs: resumed, nothing retrained
    _, key3 = run("x = 2\n")
    assert key3 != key1  # changed code: retrained


def test_collect_numbers_and_tables() -> None:
    specs = pipeline.run_specs(PARAMS)
    hist = {n: {"n_params": 10, "flops_per_token": 2.0,
                "history": [{"tokens": 64, "eval_loss": 3.0, "elapsed": 1.0}]} for n in specs}
    evals = {n: {"final_eval_loss": 2.0 + i / 10, "late_minus_early_loss": -0.1, "loss_early": 2.1, "loss_late": 2.0,
                 "binned": {"position": [1.0, 2.0], "loss": [2.1, 2.0]}} for i, n in enumerate(specs)}
    out = pipeline.collect(specs, hist, evals, PARAMS)
    nums = out["numbers"]
    for arch in PARAMS["archs"]:
        assert nums[f"tiny.{arch}.final_eval_loss"] == nums[f"tiny.{arch}.m.final_eval_loss"]  # largest size
        assert f"tiny.{arch}.late_minus_early_loss" in nums
    assert nums["ablation.minibatch.8.final_eval_loss"] == evals["ttt_linear-s-s0"]["final_eval_loss"]
    assert {f"ablation.minibatch.{b}.final_eval_loss" for b in ("1", "8", "T")} <= set(nums)
    assert math.isclose(nums["ladder.ln_residual.perplexity"], math.exp(nums["ladder.ln_residual.final_eval_loss"]))
    assert len(out["curves"]) == 2 * 8 and len(out["flops"]) == 8
    assert {r["group"] for r in out["runs"]} == {"main", "minibatch", "ladder"}


def test_latency_numbers_keys() -> None:
    rows = [{"ctx": 256, "arch": "ttt_linear", "prefill_ms_per_token": 0.1, "decode_ms_per_token": 0.2}]
    assert pipeline.latency_numbers(rows, pipeline.latency_device_key("cuda:0")) == {
        "latency.cuda.ctx256.ttt_linear.prefill_ms_per_token": 0.1,
        "latency.cuda.ctx256.ttt_linear.decode_ms_per_token": 0.2}
    cfg = pipeline.latency_config(PARAMS)
    assert cfg.contexts == (16,) and cfg.model.d_model == 32 and cfg.threads is None
