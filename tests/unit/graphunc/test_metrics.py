"""Evaluation (Sec. 4.1) and the UAD summary (Sec. 5.2): known answers from the released files."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from repro.graphunc.data import load_author_metrics, load_prompts, load_uad_output
from repro.graphunc.exact import evaluate_setting
from repro.graphunc.metrics import claim_metrics, relative_gain, uad_summary, valid_mask


@pytest.mark.parametrize("setting", ["factscore_gpt4_s5", "popqa_gpt35_s5"])
def test_setting_matches_authors_cached_metrics(released, setting):
    res = evaluate_setting(load_prompts(released[f"matrix_{setting}"], 5))
    cached = load_author_metrics(released[f"authors_{setting}"], 5)
    assert res.n_claims == cached["data_size"]["n"]
    assert res.max_abs_diff == 0.0
    for method, met in res.metrics.items():
        for k, v in met.items():
            assert v == pytest.approx(cached[method][k], abs=1e-12), (method, k)


def test_factscore_gpt4_closeness_auroc_known_answer(released):
    """The notes' recomputation: FActScore GPT-4, 5 samples, n = 2331, closeness AUROC 0.8425."""
    res = evaluate_setting(load_prompts(released["matrix_factscore_gpt4_s5"], 5))
    assert res.n_claims == 2331
    assert res.metrics["closeness"]["auroc"] == pytest.approx(0.8425, abs=1e-4)
    assert res.metrics["closeness_vc"]["auprc"] == pytest.approx(0.8969, abs=1e-4)


def test_valid_mask_drops_unlabelled_and_invalid():
    labels = ["Y", "N", "S", "", "Y", "N"]
    s = np.array([0.1, 0.2, 0.3, 0.4, -1.0, np.nan])
    assert valid_mask(labels, {"a": s}).tolist() == [True, True, False, False, False, False]
    with pytest.raises(ValueError, match="values for"):
        valid_mask(labels, {"a": s[:3]})


def test_claim_metrics_against_sklearn_and_errors():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = y + rng.normal(size=200)
    met = claim_metrics(y, s)
    assert met["auroc"] == pytest.approx(roc_auc_score(y, s))
    assert 0.5 < met["auprc"] <= 1 and 0.5 < met["auprc_n"] <= 1
    with pytest.raises(ValueError, match="single class"):
        claim_metrics(np.ones(3), np.arange(3.0))


def test_relative_gain_aggregations():
    g = relative_gain([1.1, 2.2], [1.0, 2.0])
    assert g["mean_of_ratios"] == pytest.approx(0.1) and g["ratio_of_means"] == pytest.approx(0.1)
    with pytest.raises(ValueError):
        relative_gain([1.0], [1.0, 2.0])


def test_uad_summary_and_released_init_score(released):
    s = uad_summary([(True, False), None, (True, True, True), ()])
    assert s["precision"] == pytest.approx(0.75) and s["respond_ratio"] == 0.5
    assert s["true_claims"] == 2.0 and s["false_claims"] == 0.5
    out = load_uad_output(released["uad_closeness_p40"])
    assert uad_summary(out.decisions)["precision"] == out.stored_init_score
