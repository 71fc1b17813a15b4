"""Datasets, label flips and class-balanced subsets; bad size grids are named errors."""

from __future__ import annotations

import numpy as np
import pytest

from repro.datavalue.data import (
    DataError,
    DatasetSpec,
    SubsetError,
    balanced_counts,
    check_sizes,
    load_dataset,
    sample_balanced,
)

SYN = DatasetSpec(source="synthetic", n_pool=400, n_val=100, n_test=100, dim=5, flip_fraction=0.1)


def test_synthetic_is_deterministic_and_flips_the_stated_fraction():
    a, b = load_dataset("lm_clf", SYN), load_dataset("lm_clf", SYN)
    assert np.array_equal(a.x_pool, b.x_pool) and np.array_equal(a.y_pool, b.y_pool)
    assert a.x_pool.shape == (400, 5) and len(a.y_val) == 100 and len(a.y_test) == 100
    assert a.noisy.sum() == 40
    clean = load_dataset("lm_clf", DatasetSpec(source="synthetic", n_pool=400, n_val=100, n_test=100, dim=5))
    # the flipped labels are exactly the ones that differ from the clean draw
    assert np.array_equal(clean.y_pool != a.y_pool, a.noisy)


def test_bundled_sklearn_dataset_and_remote_refused():
    ds = load_dataset("breast_cancer", DatasetSpec(source="sklearn", n_pool=0, n_val=100, n_test=100))
    assert len(ds.y_pool) == 569 - 200 and ds.n_classes == 2
    with pytest.raises(DataError, match="imdb.*network"):
        load_dataset("imdb", DatasetSpec(source="remote", n_pool=0))
    with pytest.raises(DataError, match="not a bundled"):
        load_dataset("nope", DatasetSpec(source="sklearn", n_pool=0))


def test_balanced_subsets():
    y = np.array([0] * 30 + [1] * 10)
    subs = sample_balanced(y, 15, 2, np.random.default_rng(0), n_draws=5)
    assert subs.shape == (5, 15)
    for s in subs:
        assert len(set(s)) == 15
        assert np.bincount(y[s]).tolist() == balanced_counts(15, 2).tolist() == [8, 7]


def test_size_grid_errors_name_the_problem():
    counts = np.array([30, 10])
    check_sizes([10, 20], counts, "x")
    with pytest.raises(SubsetError, match="larger than the 40 points"):
        check_sizes([10, 50], counts, "where")
    with pytest.raises(SubsetError, match="class 1 has 10 points, too few .* size 30"):
        check_sizes([30], counts, "where")
    with pytest.raises(SubsetError, match="exceeds"):
        load_dataset("wine", DatasetSpec(source="sklearn", n_pool=100, n_val=50, n_test=50))
