"""The desiderata (Sec. 2): known answers, invariants, a cross-check of the regression, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from repro.autobencher.metrics import (
    difficulty,
    mean_error,
    mean_gain,
    novelty,
    objective,
    predict_from_existing,
    salient,
    separability,
)


def test_difficulty_and_separability_known_answers():
    v = [0.2, 0.4, 0.9, 0.5]
    assert difficulty(v) == pytest.approx(0.1)
    assert separability(v) == pytest.approx(np.mean(np.abs(np.array(v) - 0.5)))
    assert separability([0.3, 0.3, 0.3]) == 0.0


def test_mean_error_can_exceed_zero_where_difficulty_is_zero():
    """The v2 difficulty claim's metric: a benchmark the best model knows has DIFFICULTY 0, not MEAN ERROR 0."""
    v = [1.0, 0.5, 0.25, 0.75]
    assert difficulty(v) == 0.0
    assert mean_error(v) == pytest.approx(0.375)
    assert mean_error([1.0, 1.0]) == 0.0
    with pytest.raises(ValueError):
        mean_error([1.2])


def test_novelty_zero_when_existing_benchmarks_predict_the_ranking():
    rng = np.random.default_rng(0)
    prev = rng.random((10, 3))
    v = np.clip(0.1 + 0.5 * prev[:, 1], 0, 1)  # a monotone function of one existing benchmark
    assert novelty(v, prev) == pytest.approx(0.0, abs=1e-12)


def test_novelty_matches_lstsq_and_scipy():
    rng = np.random.default_rng(1)
    prev, v = rng.random((12, 2)), rng.random(12)
    x = np.column_stack([prev, np.ones(12)])
    ref_pred = x @ np.linalg.lstsq(x, v, rcond=None)[0]
    assert np.allclose(predict_from_existing(v, prev, ridge=0.0), ref_pred, atol=1e-10)
    assert novelty(v, prev, ridge=0.0) == pytest.approx(1 - spearmanr(ref_pred, v).statistic)


@pytest.mark.parametrize("seed", range(20))
def test_novelty_range_and_objective(seed):
    rng = np.random.default_rng(seed)
    prev, v = rng.random((8, 3)), rng.random(8)
    n = novelty(v, prev)
    assert 0.0 <= n <= 2.0
    assert objective(v, prev, 1.0, 0.5) == pytest.approx(difficulty(v) + n + 0.5 * separability(v))


def test_salience_and_gain():
    assert salient(10.0, 10.0) and not salient(9.9, 10.0)
    assert mean_gain({"a": 0.5, "b": 0.3}, {"a": 0.2, "b": 0.2, "c": 9.0}) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="no domain"):
        mean_gain({"a": 1.0}, {"b": 1.0})


def test_bad_inputs():
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        difficulty([0.5, 1.5])
    with pytest.raises(ValueError, match="non-empty"):
        separability([])
    with pytest.raises(ValueError, match="rows"):
        novelty([0.1, 0.2, 0.3], np.zeros((4, 2)))
