"""repro.obsscaling.steps: each workflow step end to end on the released data (reduced subset search)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from repro.obsscaling import steps
from repro.obsscaling.data import DataError


@pytest.fixture()
def small_params(params):
    sub = params["subset_selection"]
    sub.update(max_families=4, budgets=[4], random_draws=2)
    sub["guide"].update(max_families=3, budgets=[4])
    return params


def test_nest_dotted_keys():
    flat = {"a": {"x": 1}, "a.y": 2, "b.c.d": 3}
    assert steps.nest(flat) == {"a": {"x": 1, "y": 2}, "b": {"c": {"d": 3}}}


def test_capability_and_family_steps(obs_data, params, tmp_path):
    res = steps.capability_step(obs_data, params)
    pca = res.numbers["pca"]
    assert pca["explained_variance"]["pc1"] == pytest.approx(0.8016, abs=5e-5)
    assert pca["loadings"]["pc3"]["humaneval"] == pytest.approx(0.826, abs=5e-4)
    assert set(res.tables) == {"scree", "loadings", "scores"}
    scores = tmp_path / "scores.csv"
    res.tables["scores"].to_csv(scores, index=False)
    fam = steps.family_loglinear_step({"scores": scores}, params).numbers["family_loglinear"]
    assert fam["mean_r2"] == pytest.approx(0.966, abs=5e-4)
    assert fam["llama_2"]["slope"] == pytest.approx(0.520, abs=5e-4)


def test_prediction_steps_produce_all_keys(obs_data, params):
    params["post_training"]["converged_tol"] = None
    post = steps.post_training_step(obs_data, params).numbers["post_training"]
    for t in ("gsm8k_naive", "gsm8k_cot", "gsm8k_cot_sc", "bbh_fewshot", "bbh_cot"):
        for x in ("log_size", "log_flops", "pc1", "pc2", "pc3"):
            assert post[t][x]["test_mse"] > 0
    assert post["bbh_cot"]["pc3"]["test_mse"] == pytest.approx(8.00e-3, rel=1e-2)
    agents = steps.agents_step(obs_data, params).numbers["agents"]
    assert agents["agentboard"]["pc2"]["test_mse"] == pytest.approx(1.31e-3, rel=1e-2)
    lb = steps.lbv2_step(obs_data, params).numbers["lbv2"]
    assert lb["n_models"] == 47 and lb["bbh"]["chance"] == pytest.approx(0.2624, abs=1e-4)
    assert {k: lb[k]["pc3"]["n_train"] for k in ("gpqa", "math_hard", "bbh")} == {"gpqa": 29, "math_hard": 32, "bbh": 24}
    pre = steps.preregistered_step(obs_data, params).numbers["preregistered"]
    assert pre["gsm8k_cot_sc"]["pc3"]["n_test"] == 19 and pre["gsm8k_cot_sc"]["pc3"]["n_train"] == 75
    em = steps.emergent_step(obs_data, params).numbers["emergent"]
    assert set(em) == set(params["emergent"]["tasks"])
    assert em["word_unscrambling"]["pc3"]["test_mse"] < em["word_unscrambling"]["log_flops"]["test_mse"]


def test_subset_selection_step_reduced(obs_data, small_params):
    res = steps.subset_selection_step(obs_data, small_params)
    sub = res.numbers["subset"]
    assert sub["budget4"]["objective"] == pytest.approx(-26.76, abs=5e-3)  # best 4-model subset has 3 families
    assert sub["budget4"]["families"] == ["Phi", "MPT", "StarCoder2"]
    assert sub["guide"]["budget4"]["objective"] == pytest.approx(-1365.30, abs=1e-2)
    ev = sub["eval"]
    assert ev["vopt"]["budget4"]["gmean_test_mse"] < ev["random"]["budget4"]["gmean_test_mse"]
    assert ev["all"]["n_train_models"] == 47
    assert set(res.tables["curve"]["method"]) == {"vopt", "random", "all"}


def test_missing_column_fails_cleanly_and_writes_nothing(obs_data, params, tmp_path):
    broken = tmp_path / "base_llm_benchmark_eval.csv"
    pd.read_csv(obs_data["base_eval"]).drop(columns=["HumanEval"]).to_csv(broken, index=False)
    outputs = {name: tmp_path / "out" / f"{name}.csv" for name in ("scree", "loadings", "scores")}
    outputs["numbers"] = tmp_path / "out" / "numbers.json"
    with pytest.raises(DataError) as err:
        steps.write_step_outputs(steps.capability_step({"base_eval": broken}, params), outputs)
    assert str(broken) in str(err.value) and "'HumanEval'" in str(err.value)
    assert not (tmp_path / "out").exists()
    post = tmp_path / "post.csv"
    pd.read_csv(obs_data["post_training"]).drop(columns=["gsm8k_cot_8_exact_match,flexible-extract"]).to_csv(post, index=False)
    with pytest.raises(DataError, match="gsm8k_cot_8_exact_match"):
        steps.post_training_step({"base_eval": obs_data["base_eval"], "post_training": post}, params)


def test_write_outputs_and_merge_numbers(tmp_path):
    res = steps.StepResult({"sec": {"a": 1.0, "b": {"c": [1, 2]}}}, {"table": pd.DataFrame({"x": [1.5]})})
    with pytest.raises(ValueError, match="do not match"):
        steps.write_step_outputs(res, {"numbers": tmp_path / "n.json"})
    steps.write_step_outputs(res, {"numbers": tmp_path / "n.json", "table": tmp_path / "t.csv"})
    assert json.loads((tmp_path / "n.json").read_text()) == res.numbers
    assert pd.read_csv(tmp_path / "t.csv")["x"].tolist() == [1.5]
    merged = steps.merge_numbers([res.numbers, {"other": {"d": 2}}])
    assert merged == {"other.d": 2, "sec.a": 1.0, "sec.b.c": [1, 2]}
    with pytest.raises(ValueError, match="two steps"):
        steps.merge_numbers([res.numbers, res.numbers])
