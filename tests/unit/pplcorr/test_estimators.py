"""Estimators and projections (Sec. 3): known answers, invariants, and the authors' package as oracle."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from repro.pplcorr import estimators as E

oracle_est = pytest.importorskip("perplexity_correlations.estimation", reason="test extra: perplexity-correlations")
oracle_proj = pytest.importorskip("perplexity_correlations.projection")


def _case(seed: int, n: int, d: int, ties: bool = False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    theta = rng.normal(size=d)
    y = np.tanh(X @ theta / np.sqrt(d) + 0.2 * rng.normal(size=n))
    if ties:
        X, y = np.round(X, 1), np.round(y, 1)
    return X, y


@pytest.mark.parametrize("name", sorted(E.ESTIMATORS))
@pytest.mark.parametrize("seed,n,d,ties", [(0, 10, 30, False), (1, 90, 200, False), (2, 40, 100, True)])
def test_estimators_equal_oracle(name, seed, n, d, ties):
    X, y = _case(seed, n, d, ties)
    np.testing.assert_allclose(E.ESTIMATORS[name](X, y), getattr(oracle_est, name)(X, y), rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_projections_equal_oracle(seed):
    rng = np.random.default_rng(seed)
    est = rng.normal(size=300)
    tau = rng.uniform(0.005, 0.05, size=300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lin = oracle_proj.linear(est, tau)
        l2 = oracle_proj.l2(est, tau)
    ours = E.linear(est, tau)
    assert np.array_equal(ours > 0, lin > 0)
    np.testing.assert_allclose(ours, lin, atol=1e-6)  # the oracle computes in float32
    np.testing.assert_allclose(E.l2(est, tau), l2, rtol=0, atol=1e-12)


def test_projection_known_answers():
    est, tau = [-0.3, 4, 1, 0.9, 0], [0.2, 0.5, 0.9, 0.4, 1]
    np.testing.assert_allclose(E.linear(est, tau), [0, 0.5, 0.5, 0, 0], atol=1e-15)
    np.testing.assert_allclose(E.l2(est, tau), [0, 0.5, 0.3, 0.2, 0], atol=1e-12)


def test_projection_invariants():
    rng = np.random.default_rng(3)
    est = rng.normal(size=50)
    tau = rng.uniform(0.01, 0.1, size=50)
    for fn in (E.linear, E.l2):
        p = fn(est, tau)
        assert abs(p.sum() - 1) < 1e-9 and (p >= 0).all() and (p <= tau + 1e-12).all()
    # linear depends only on ranks
    np.testing.assert_allclose(E.linear(est, tau), E.linear(np.exp(est), tau))


def test_rank_estimators_invariant_to_monotone_transforms():
    X, y = _case(4, 30, 20)
    for name in ("sign_cdf", "sign_sign", "spearmanr"):
        f = E.ESTIMATORS[name]
        np.testing.assert_allclose(f(X, y), f(np.exp(X), y**3), atol=1e-12)


def test_single_index_recovers_ranks():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(400, 8))
    theta = np.array([0, 0, 0, 0, 0, 1.0, 2.0, 4.0])  # well-separated weights
    y = np.exp(X @ theta / 5)
    for name in E.ESTIMATORS:
        if name == "product":
            continue  # needs Gaussian y-moments; exp link breaks it slightly
        order = np.argsort(E.ESTIMATORS[name](X, y))
        assert list(order[-3:]) == [5, 6, 7], name


def test_bad_inputs():
    with pytest.raises(E.EstimatorError, match="non-finite"):
        E.spearmanr(np.array([[1.0, np.nan], [2.0, 3.0]]), np.array([1.0, 2.0]))
    with pytest.raises(E.EstimatorError, match="capped simplex is empty"):
        E.linear([1.0, 2.0], [0.1, 0.1])
    with pytest.raises(E.EstimatorError, match="registered"):
        E.estimator("nope")


@pytest.mark.parametrize("n,ties", [(3, True), (130, True), (130, False)])  # 130 rows: the int16 rank path
def test_sign_sign_integer_path_equals_oracle(n, ties):
    X, y = _case(7, n, 50, ties)
    want = oracle_est.sign_sign(X, y)
    np.testing.assert_allclose(E.sign_sign(X, y), want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(E.sign_sign(X, y, block=7), want, rtol=0, atol=1e-12)  # several column blocks


def test_dense_ranks_keep_pairwise_signs():
    X, _ = _case(3, 20, 40, ties=True)
    R = E.dense_ranks(X)
    assert R.dtype == np.int8 and R.min() == 1
    np.testing.assert_array_equal(np.sign(R[:, None, :] - R[None, :, :]), np.sign(X[:, None, :] - X[None, :, :]))
