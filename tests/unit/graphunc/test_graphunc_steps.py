"""Steps (the paper contract): typed configs from params.yaml, step outputs, bad inputs."""

from __future__ import annotations

import pytest

from repro.common.steps import StepError, build_config, config_type, step_function
from repro.graphunc.config import ExactConfig, TinyConfig
from repro.graphunc.data import METHODS
from repro.graphunc.steps import authors_step, exact_step, paper_plan_step


@pytest.mark.parametrize("step", ["exact", "tiny", "paper_plan"])
def test_configs_build_from_params(gu_params, smoke_params, step):
    cls = config_type(step_function("graphunc", step))
    for params in (gu_params, smoke_params):
        build_config(cls, params[step], f"graphunc.{step}")


def test_tiny_defaults_match_params(gu_params):
    cfg = build_config(TinyConfig, gu_params["tiny"])
    assert cfg == TinyConfig(), "the dataclass defaults document the tiny run: keep them equal to params.yaml"


def test_exact_and_authors_steps(released, gu_params):
    cfg = build_config(ExactConfig, gu_params["exact"])
    res = exact_step(released, cfg)
    num = res.numbers["exact"]
    assert num["centrality_max_abs_diff"] == 0.0
    assert num["relative_auprc_gain"] == pytest.approx(0.068, abs=5e-4)  # the abstract's 6.8%
    assert num["uad.init_score_max_abs_diff"] == 0.0
    assert {"table", "uad", "example"} == set(res.tables)
    assert len(res.tables["table"]) == 2 * len(METHODS)
    auth = authors_step(released).numbers["authors"]
    assert len([k for k in auth if k.endswith(".auroc")]) == 12 * len(METHODS)
    for k in ("auroc", "auprc", "auprc_n"):
        assert num[f"factscore_gpt4.s5.closeness.{k}"] == pytest.approx(
            auth[f"factscore_gpt4.s5.closeness.{k}"], abs=1e-12
        )


def test_exact_step_bad_inputs(released):
    with pytest.raises(StepError, match="no matrix"):
        exact_step({}, ExactConfig())
    with pytest.raises(StepError, match="example"):
        exact_step({k: v for k, v in released.items() if k != "matrix_factscore_gpt4_s5"}, ExactConfig())
    with pytest.raises(StepError, match="unknown method"):
        exact_step(released, ExactConfig(gain_new="nope"))


def test_paper_plan(gu_params):
    cls = config_type(step_function("graphunc", "paper_plan"))
    res = paper_plan_step({}, build_config(cls, gu_params["paper_plan"]))
    nums = res.numbers["paper_plan"]
    assert nums["total_calls"] > 100_000  # ~40k LLM calls per setting (notes, Sec. 7)
    assert "factscore_llama3_70b.entail.calls" in nums
