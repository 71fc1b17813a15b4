"""repro.ttt.runs / steps / results: run expansion, the data steps, a training run, evaluation and the
numbers of the text step, on tiny synthetic data (params from params.yaml). The recall steps: test_ttt_recall.py."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, replace

import numpy as np
import pytest

from repro.common.io import sha256_file, write_json
from repro.common.lm.trainer import checkpoint_resume_key, load_tokens
from repro.common.steps import ConfigError, StepResult, build_config, write_step_outputs
from repro.ttt import results, runs, steps
from repro.ttt.archs import ARCHS, get_arch
from repro.ttt.config import DataConfig, EvaluateConfig, RunSpec, TokenizerConfig
from repro.ttt.models import LMConfig, count_parameters


def test_run_specs_names_roles_and_sharing(ttt_params) -> None:
    specs = runs.run_specs(ttt_params)
    main = [f"{a}-{s}-s0" for s in ("s", "m") for a in ttt_params.archs]
    assert set(main) == set(specs)  # the text study has one group; mini-batch and ladder run on recall
    assert all(r["group"] == "main" for spec in specs.values() for r in spec["roles"])


def test_equal_parameter_counts_across_archs(ttt_params) -> None:
    specs = runs.run_specs(ttt_params)
    for size in ("s", "m"):
        counts = [count_parameters(LMConfig(**specs[f"{a}-{size}-s0"]["model"])) for a in ttt_params.archs]
        assert max(counts) / min(counts) < 1.1, counts  # widths move in steps of 8: coarse at d = 32


def test_train_config_follows_params(ttt_params) -> None:
    cfg = runs.train_config(ttt_params, "m", seed=3)
    assert (cfg.steps, cfg.context, cfg.seed, cfg.warmup, cfg.betas) == (3, 32, 3, 1, tuple(ttt_params.train.betas))
    with pytest.raises(KeyError, match="no size named"):
        runs.train_config(ttt_params, "xl", seed=0)


def test_architecture_registry_lists_what_exists() -> None:
    assert get_arch("ttt_linear_m").backbone == "M"
    with pytest.raises(KeyError, match="registered: .*'transformer'"):
        get_arch("ttt_lstm")


def test_training_flops_per_token() -> None:
    ttt = LMConfig(variant="ttt_linear", vocab_size=64, d_model=32, n_layer=1, n_head=2, context=32)
    assert runs.training_flops_per_token(ttt) == 6 * count_parameters(ttt)  # tied head counted once
    tr = LMConfig(variant="transformer", vocab_size=64, d_model=32, n_layer=1, n_head=2, context=32)
    assert runs.training_flops_per_token(tr) == 6 * count_parameters(tr) + 12 * 1 * 32 * 32


TEXTS = ["the quick brown fox jumps over the lazy dog. " * 20, "a b c d e f g h i j k. " * 30]


def test_tokenizer_and_data_steps(ttt_params, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(steps, "split_texts", lambda data, resources: (TEXTS, TEXTS[:1]))
    out = {"tokenizer": tmp_path / "tok", "train": tmp_path / "train", "heldout": tmp_path / "held"}
    tcfg = TokenizerConfig(data=ttt_params.data, tokenizer=ttt_params.tokenizer)
    tok = steps.tokenizer_step({"corpora": []}, tcfg, out)
    assert tok.numbers["tokenizer"]["kind"] == "char" and tok.numbers["tokenizer"]["vocab_size"] <= 64
    dcfg = DataConfig(data=ttt_params.data, tokenizer=ttt_params.tokenizer, context=ttt_params.context)
    res = steps.data_step({"corpora": [], "tokenizer": out["tokenizer"]}, dcfg, out)
    stats = res.numbers["data"]
    assert stats["train_tokens"] == len(load_tokens(out["train"])) == sum(len(t) for t in TEXTS) + 2  # EOS per doc
    assert stats["heldout_documents"] == 1 and stats["heldout_unigram_entropy"] > 0
    # Several shards, and 2 tokenizer processes: the same tokens (issue 29, item 3).
    sharded = replace(dcfg, data=replace(dcfg.data, workers=2, shard_tokens=100))
    out2 = {**out, "train": tmp_path / "train2", "heldout": tmp_path / "held2"}
    assert steps.data_step({"corpora": [], "tokenizer": out["tokenizer"]}, sharded, out2).numbers == res.numbers
    assert len(list(out2["train"].glob("shard-*.npy"))) > 1
    assert np.array_equal(np.asarray(load_tokens(out2["train"])), np.asarray(load_tokens(out["train"])))
    with pytest.raises(ValueError, match="too few tokens for ttt.context"):
        steps.data_step({"corpora": [], "tokenizer": out["tokenizer"]}, replace(dcfg, context=10_000), out)
    assert not out["train"].exists() and not out["heldout"].exists()  # nothing half-written


@pytest.fixture
def trained(ttt_params, tmp_path):
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 64, size=2000).astype(np.uint16)
    np.save(tmp_path / "train.npy", tokens)
    np.save(tmp_path / "held.npy", tokens[:400])
    raw = runs.run_specs(ttt_params)["ttt_linear_m-s-s0"]
    spec_json = {k: raw[k] for k in ("name", "label", "model", "train")}
    write_json(tmp_path / "run.json", spec_json)
    spec = build_config(RunSpec, spec_json, "run")
    return tmp_path, spec


def _train(tmp_path, spec, code=()):
    inputs = {"train": tmp_path / "train.npy", "heldout": tmp_path / "held.npy", "code": list(code)}
    outputs = {"weights": tmp_path / "run" / "checkpoint.safetensors", "history": tmp_path / "run" / "history.json"}
    outputs["weights"].parent.mkdir(exist_ok=True)
    res = steps.train_step(inputs, spec, outputs)
    write_step_outputs(res, outputs, prefix="train")
    return res.records["history"], outputs


def test_train_and_evaluate_steps(ttt_params, trained) -> None:
    tmp_path, spec = trained
    record, outputs = _train(tmp_path, spec)
    assert [h["step"] for h in record["history"]] == [1, 2, 3]
    assert record["history"][-1]["tokens"] == 3 * ttt_params.train.batch_size * 32 and record["flops_per_token"] > 0
    ecfg = EvaluateConfig(eval=ttt_params.eval, context=32)
    ev = steps.evaluate_step(
        {"weights": outputs["weights"], "heldout": tmp_path / "held.npy", "run": tmp_path / "run.json"}, ecfg
    )
    ev = ev.records["eval"]
    assert len(ev["curve"]) == 32 and math.isclose(ev["final_eval_loss"], float(np.mean(ev["curve"])))
    assert math.isclose(ev["late_minus_early_loss"], ev["loss_late"] - ev["loss_early"], abs_tol=1e-9)
    assert 0 < ev["final_eval_loss"] < 2 * math.log(64)


def test_changed_config_retrains_instead_of_failing_resume(trained) -> None:
    tmp_path, spec = trained
    _train(tmp_path, spec)
    record, _ = _train(tmp_path, replace(spec, train=replace(spec.train, lr=1e-3)))  # a new config: starts over
    assert [h["step"] for h in record["history"]] == [1, 2, 3]


def test_changed_input_file_retrains_and_same_inputs_resume(trained) -> None:
    """A changed code/data file must retrain (a stale checkpoint is never passed off as new)."""
    tmp_path, spec = trained
    code = tmp_path / "code.py"
    work_ckpt = tmp_path / "run" / "train" / "checkpoint.safetensors"

    def run(code_text: str) -> tuple[dict, str]:
        code.write_text(code_text)
        record, _ = _train(tmp_path, spec, [code])
        return record, sha256_file(work_ckpt)

    first, key1 = run("x = 1\n")
    assert checkpoint_resume_key(work_ckpt) != ""
    resumed, key2 = run("x = 1\n")
    assert key2 == key1 and resumed["history"] == first["history"]  # same inputs: resumed, nothing retrained
    _, key3 = run("x = 2\n")
    assert key3 != key1  # changed code: retrained


def test_run_spec_from_a_bad_params_file_is_a_named_error(trained) -> None:
    tmp_path, _ = trained
    bad = json.loads((tmp_path / "run.json").read_text())
    bad["model"]["d_modle"] = 3
    with pytest.raises(ConfigError, match="run.model.d_modle"):
        build_config(RunSpec, bad, "run")


def test_result_steps_numbers_and_tables(ttt_params) -> None:
    specs = runs.run_specs(ttt_params)
    hist = {
        n: {"n_params": 10, "flops_per_token": 2.0, "history": [{"tokens": 64, "eval_loss": 3.0, "elapsed": 1.0}]}
        for n in specs
    }
    evals = {
        n: {
            "final_eval_loss": 2.0 + i / 10,
            "late_minus_early_loss": -0.1,
            "loss_slope": -0.05,
            "loss_early": 2.1,
            "loss_late": 2.0,
            "binned": {"position": [1.0, 2.0], "loss": [2.1, 2.0]},
        }
        for i, n in enumerate(specs)
    }
    text = results.text_results(specs, hist, evals, ["s", "m"])
    nums = text["numbers"]
    for arch in ttt_params.archs:
        assert nums[f"text.{arch}.final_eval_loss"] == nums[f"text.{arch}.m.final_eval_loss"]  # largest size
        assert f"text.{arch}.late_minus_early_loss" in nums
    n = 2 * len(ttt_params.archs)
    assert len(text["curves"]) == 2 * n and len(text["flops"]) == n
    assert all(k.startswith("text.") for k in nums)


def test_latency_numbers_keys() -> None:
    rows = [{"ctx": 256, "arch": "ttt_linear", "prefill_ms_per_token": 0.1, "decode_ms_per_token": 0.2}]
    assert results.latency_numbers(rows, "cuda") == {
        "latency.cuda.ctx256.ttt_linear.prefill_ms_per_token": 0.1,
        "latency.cuda.ctx256.ttt_linear.decode_ms_per_token": 0.2,
    }


def test_schema_arch_enums_match_the_registry() -> None:
    """The schema's architecture enum is the registry's names; every other arch enum is a subset of it; the
    recall study's archs and ladder rows are repro.ttt.recall's."""
    from pathlib import Path

    import yaml

    from repro.ttt.recall import LADDER_CHANGES, RECALL_ARCHS

    schema = yaml.safe_load((Path(__file__).resolve().parents[3] / "workflow/schemas/ttt.schema.yaml").read_text())
    defs = schema["$defs"]
    assert set(defs["arch"]["enum"]) == set(ARCHS)
    assert list(defs["recall_arch"]["enum"]) == list(RECALL_ARCHS)
    assert list(defs["ladder_row"]["enum"]) == list(LADDER_CHANGES)
    text_part = {k: v for k, v in schema["properties"].items() if k not in ("recall",)}
    enums = [n["enum"] for n in _walk(text_part) if isinstance(n, dict) and "enum" in n and set(n["enum"]) & set(ARCHS)]
    assert all(set(e) <= set(ARCHS) for e in enums), enums


def _walk(node):
    yield node
    if isinstance(node, dict):
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def test_step_result_contract() -> None:
    assert steps.StepResult is StepResult
    assert all(
        callable(getattr(steps, f"{s}_step"))
        for s in ("tokenizer", "data", "train", "evaluate", "equivalence", "latency", "text")
        + ("recall_run", "recall", "inner_loss", "minibatch", "ladder", "speed")
    )
    assert asdict(LMConfig())  # LMConfig stays a plain dataclass (RunSpec builds it from JSON)
