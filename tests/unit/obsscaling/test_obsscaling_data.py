"""repro.obsscaling.data: loaders, column validation, model scope."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from repro.common.registry import load_registry
from repro.obsscaling.data import (
    EVAL_FAMILIES,
    FAMILY,
    FLOPS,
    MODEL,
    PREREGISTERED_MODELS,
    DataError,
    bbh_chance,
    family_list,
    merge_on_model,
    read_table,
    select_models,
    slug,
)

ROOT = Path(__file__).resolve().parents[3]


def test_read_table_reports_file_and_missing_columns(tmp_path):
    path = tmp_path / "bad.csv"
    pd.DataFrame({MODEL: ["a"], "MMLU": [0.5]}).to_csv(path, index=False)
    with pytest.raises(DataError) as err:
        read_table(path, [MODEL, "MMLU", "HumanEval", "GSM8K"])
    msg = str(err.value)
    assert str(path) in msg and "'HumanEval'" in msg and "'GSM8K'" in msg and "'MMLU'" not in msg


def test_read_table_rejects_duplicate_models_and_unreadable_files(tmp_path):
    path = tmp_path / "dup.csv"
    pd.DataFrame({MODEL: ["a", "a"]}).to_csv(path, index=False)
    with pytest.raises(DataError, match="duplicated"):
        read_table(path)
    with pytest.raises(DataError, match="cannot read"):
        read_table(tmp_path / "absent.csv")


def test_default_scope_is_77_models_from_21_families(obs_data, obs_params):
    df = read_table(obs_data["base_eval"], [MODEL, FAMILY, FLOPS, *obs_params["benchmarks"]["default"]])
    assert len(df) == 148
    base = select_models(df)
    assert len(base) == 77 and base[FAMILY].nunique() == 21 and base[FLOPS].notna().sum() == 75
    assert not base[MODEL].isin(PREREGISTERED_MODELS).any()
    assert len(select_models(df, include_preregistered=True)) == 97  # 77 + the 20 preregistered
    assert len(select_models(df, None, include_preregistered=True)) == 148
    with_flops = select_models(df, family_list("eval_with_flops"))
    assert set(with_flops[FAMILY]) & {"Mistral", "Mixtral", "Qwen2"} == set()
    assert len(with_flops) == 75


def test_family_lists_and_helpers():
    assert family_list("eval") == EVAL_FAMILIES and len(EVAL_FAMILIES) == 28
    assert len(family_list("eval_with_flops")) == 25
    with pytest.raises(ValueError):
        family_list("all")
    assert bbh_chance() == pytest.approx(0.26243386, abs=1e-8)
    assert slug("GPT-Neo/J") == "gpt_neo_j" and slug("Qwen1.5") == "qwen1_5" and slug("ARC-C") == "arc_c"


def test_merge_on_model_keeps_left_columns():
    left = pd.DataFrame({MODEL: ["a", "b", "c"], "x": [1, 2, 3], FAMILY: ["f", "f", "g"]})
    right = pd.DataFrame({MODEL: ["c", "a"], "y": [30, 10], FAMILY: ["?", "?"]})
    out = merge_on_model(left, right)
    assert out[MODEL].tolist() == ["a", "c"] and out["y"].tolist() == [10, 30]
    assert out[FAMILY].tolist() == ["f", "g"]


def test_pinned_files_follow_the_mirror_layout(obs_params):
    from repro.obsscaling.data import pinned_files

    folder = load_registry(ROOT / "workflow" / "papers.yaml").downloads["obsscaling"].folder
    files = pinned_files(obs_params, folder)
    assert len(files) == 7
    base = files["base_eval"]
    commit = obs_params["data"]["commit"]
    assert (
        base["url"]
        == f"https://raw.githubusercontent.com/ryoungj/ObsScaling/{commit}/eval_results/base_llm_benchmark_eval.csv"
    )
    assert base["path"] == f"resources/github.com/ryoungj/ObsScaling/{commit}/eval_results/base_llm_benchmark_eval.csv"
    assert len(base["sha256"]) == 64
