"""Known-answer tests of the human-study statistics against the released reviews (exact tier)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sstats

from repro.common.steps import build_config
from repro.ideagen.config import MixedConfig, StatsConfig
from repro.ideagen.data import DataError, idea_means, load_reviews, load_titles, normalise_idea_id
from repro.ideagen.stats import compare_conditions, mixed_model, per_topic, welch
from repro.ideagen.steps import mixed_step, stats_idea_step, stats_step


@pytest.fixture(scope="module")
def reviews(idea_data):
    return load_reviews(idea_data["reviews"])


def test_released_shape(reviews, idea_data):
    assert len(reviews) == 337
    assert reviews["condition"].value_counts().to_dict() == {"Human": 119, "AI": 109, "AI_Rerank": 109}
    assert reviews.groupby("condition")["idea_id"].nunique().to_dict() == {"AI": 49, "AI_Rerank": 49, "Human": 49}
    titles = load_titles(idea_data["titles"])
    assert len(titles) == 98 and set(titles["idea_id"]) <= set(reviews["idea_id"])


def test_normalise_idea_id():
    assert normalise_idea_id("Bias_1 _AI_Rerank") == "Bias_1_AI_Rerank"


def test_test1_matches_notes(reviews):
    """Test 1 (notes Sec. 5): means, SD (ddof 0), Welch t and Bonferroni p for novelty."""
    t = compare_conditions(reviews).set_index(["metric", "condition"])
    assert t.loc[("novelty", "Human"), "mean"] == pytest.approx(4.84, abs=0.005)
    assert t.loc[("novelty", "AI"), "mean"] == pytest.approx(5.64, abs=0.005)
    assert t.loc[("novelty", "AI_Rerank"), "mean"] == pytest.approx(5.81, abs=0.005)
    assert t.loc[("novelty", "Human"), "sd"] == pytest.approx(1.79, abs=0.005)
    assert t.loc[("novelty", "AI"), "t"] == pytest.approx(3.39, abs=0.005)
    assert t.loc[("novelty", "AI"), "p_adj"] == pytest.approx(4.1e-3, rel=0.02)
    assert t.loc[("novelty", "AI_Rerank"), "p_adj"] == pytest.approx(1.8e-4, rel=0.03)
    assert t.loc[("feasibility", "AI"), "p_adj"] == 1.0
    # Bonferroni over the five metrics, per comparison
    assert np.allclose(t.xs("AI", level="condition")["p_adj"], np.minimum(5 * t.xs("AI", level="condition")["p"], 1))


def test_welch_is_scipy_unequal_var():
    a, b = [1.0, 2, 3, 4, 9], [2.0, 2, 2, 3]
    ref = sstats.ttest_ind(a, b, equal_var=False)
    assert welch(a, b) == pytest.approx((ref.statistic, ref.pvalue))
    assert np.isnan(welch([1.0], b)[0])


def test_test2_units_are_ideas(reviews):
    ideas = idea_means(reviews)
    assert ideas["condition"].value_counts().to_dict() == {"AI": 49, "AI_Rerank": 49, "Human": 49}
    t = compare_conditions(ideas).set_index(["metric", "condition"])
    assert t.loc[("novelty", "AI"), "n"] == 49
    assert t.loc[("novelty", "AI"), "p_adj"] < 0.05


def test_per_topic_factor_ten(reviews):
    t = per_topic(reviews)
    assert t["topic"].nunique() == 7
    assert np.allclose(t["p_adj"], np.minimum(10 * t["p"], 1.0), equal_nan=True)


def test_mixed_model_cross_check_statsmodels(reviews):
    """Novelty: the AI effect stays positive and significant; the fit converges."""
    fit = mixed_model(reviews, "novelty")
    assert fit.converged and fit.n_obs == 337
    assert 0.5 < fit.coef["AI"] < 1.1 and fit.pvalue["AI"] < 0.01
    assert fit.var_topic >= 0 and fit.var_idea >= 0


def test_steps_with_params(reviews, idea_data, idea_params):
    cfg = build_config(StatsConfig, idea_params["stats"], "ideagen.stats")
    res = stats_step({"reviews": idea_data["reviews"]}, cfg)
    assert res.numbers["stats.novelty.mean.human"] == pytest.approx(4.8403, abs=1e-4)
    assert "withheld" in res.numbers["stats.per_reviewer_test"]
    res2 = stats_idea_step({"reviews": idea_data["reviews"]}, cfg)
    assert res2.numbers["stats_idea.novelty.n.ai"] == 49
    res3 = mixed_step({"reviews": idea_data["reviews"]}, build_config(MixedConfig, idea_params["mixed"]))
    assert "reviewer" in res3.numbers["mixed.reviewer_term"]


def test_bad_reviews_file(tmp_path, idea_data):
    raw = json.loads(open(idea_data["reviews"], encoding="utf-8").read())
    bad = dict(raw)
    del bad["novelty_score"]
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(bad))
    with pytest.raises(DataError, match="novelty_score"):
        load_reviews(p)
    bad = dict(raw)
    bad["overall_score"] = [11] + raw["overall_score"][1:]
    p.write_text(json.dumps(bad))
    with pytest.raises(DataError, match="overall_score"):
        load_reviews(p)
    with pytest.raises(KeyError, match="novelty"):
        compare_conditions(pd.DataFrame({"condition": ["Human"]}))
