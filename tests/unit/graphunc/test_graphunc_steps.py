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
    # the abstract's 6.8% names no aggregation: all 18 are computed and reported, none is called a match
    gains = [k for k in num if k.startswith("relative_gain.") and k != "relative_gain.n_settings"]
    assert len(gains) == 18 and num["relative_gain.n_settings"] == 12
    assert num["relative_auprc_gain"] == num["relative_gain.closeness_vc_over_sc.auprc.mean_of_ratios"]
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


def test_tiny_summary_per_seed_lists():
    """Per-seed lists (the unit of the comparison claims) in tiny.seeds order; their mean is the UAD scalar."""
    import numpy as np
    import pandas as pd

    from repro.graphunc.metrics import claim_metrics
    from repro.graphunc.tiny import TINY_METHODS, summarise

    rng = np.random.default_rng(0)
    seeds, people = (3, 5, 7), 12
    rows, greedy = [], []
    for seed in seeds:
        for k in range(people):
            for a in range(4):
                true = int(rng.random() < 0.6)
                row = {"seed": seed, "person": k, "true": true}
                row.update({m: float(rng.random() + 0.5 * true) for m in TINY_METHODS})
                rows.append(row)
                greedy.append({"seed": seed, "person": k, "true": true})
    claims, gr = pd.DataFrame(rows), pd.DataFrame(greedy)
    cfg = TinyConfig(seeds=seeds, n_boot=5)
    numbers, _, _ = summarise(cfg, claims, gr, people)
    assert numbers["seeds"] == list(seeds)
    for j, seed in enumerate(seeds):
        sel = claims["seed"] == seed
        want = claim_metrics(claims[sel]["true"].to_numpy(), claims[sel]["closeness"].to_numpy())
        assert numbers["closeness.auprc.per_seed"][j] == pytest.approx(want["auprc"])
        assert numbers["sc.auroc.per_seed"][j] == pytest.approx(
            claim_metrics(claims[sel]["true"].to_numpy(), claims[sel]["sc"].to_numpy())["auroc"]
        )
    for key in ("uad.closeness.precision", "uad.greedy.precision", "uad.closeness.true_claims"):
        assert len(numbers[f"{key}.per_seed"]) == len(seeds)
        assert numbers[key] == pytest.approx(np.mean(numbers[f"{key}.per_seed"]))
