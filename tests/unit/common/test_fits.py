"""repro.common.fits and repro.common.lowrank on synthetic data with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from repro.common.fits import (
    fit_line,
    fit_sigmoid_link,
    huber_loss,
    log_transform,
    logit_transform,
    mae,
    minmax,
    mse,
    sigmoid,
    transform_target,
)
from repro.common.lowrank import fit_pca, fit_pca_imputer, fit_standardizer

# --- sigmoid link --------------------------------------------------------------------


def _synthetic(n=60, alpha=-1.0, beta=(1.5, -0.7), floor=0.1, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(beta)))
    y = (1 - floor) * sigmoid(alpha + x @ np.array(beta)) + floor
    return x, y + noise * rng.normal(size=n)


def test_sigmoid_is_stable_and_symmetric():
    z = np.array([-1000.0, -5.0, 0.0, 5.0, 1000.0])
    s = sigmoid(z)
    assert np.all(np.isfinite(s))
    assert s[0] == 0.0 and s[-1] == 1.0 and s[2] == 0.5
    np.testing.assert_allclose(s[1] + s[3], 1.0)


def test_huber_loss_quadratic_then_linear():
    r = np.array([0.0, 0.5, -1.0, 3.0])
    np.testing.assert_allclose(huber_loss(r, 1.0), [0.0, 0.125, 0.5, 2.5])


@pytest.mark.parametrize("loss", ["ols", "huber"])
@pytest.mark.parametrize("gradient", ["numeric", "analytic"])
def test_sigmoid_link_recovers_known_parameters(loss, gradient):
    x, y = _synthetic()
    fit = fit_sigmoid_link(x, y, loss=loss, delta=1.0, gradient=gradient, tol=1e-12)
    np.testing.assert_allclose(fit.params, [-1.0, 1.5, -0.7, 0.1], atol=1e-4)
    assert fit.has_floor and fit.converged
    np.testing.assert_allclose(fit.predict(x), y, atol=1e-6)
    np.testing.assert_allclose(fit.linear(x), -1.0 + x @ [1.5, -0.7], atol=1e-3)


def test_sigmoid_link_floor_respects_bounds():
    # True floor 0.35 is outside [0, 0.2]: the fit sits on the bound.
    x, y = _synthetic(floor=0.35)
    fit = fit_sigmoid_link(x, y, loss="ols", floor_bounds=(0.0, 0.2))
    assert fit.floor == pytest.approx(0.2)


@pytest.mark.parametrize("loss", ["ols", "huber"])
def test_plain_sigmoid_without_floor(loss):
    x, y = _synthetic(floor=0.0, beta=(2.0,), alpha=0.5)
    fit = fit_sigmoid_link(x, y, loss=loss, floor_bounds=None, gradient="analytic", tol=1e-12)
    assert not fit.has_floor and fit.floor == 0.0
    np.testing.assert_allclose(fit.params, [0.5, 2.0], atol=1e-4)


def test_huber_with_small_delta_resists_outliers():
    x, y = _synthetic(n=80, noise=0.0, seed=1)
    y_bad = y.copy()
    y_bad[:4] = 1.0  # gross outliers
    ols = fit_sigmoid_link(x, y_bad, loss="ols")
    huber = fit_sigmoid_link(x, y_bad, loss="huber", delta=0.01, gradient="analytic", tol=1e-12)
    clean = np.arange(4, 80)
    assert mse(y[clean], huber.predict(x[clean])) < 0.2 * mse(y[clean], ols.predict(x[clean]))


def test_sigmoid_link_rejects_bad_input():
    x, y = _synthetic()
    with pytest.raises(ValueError, match="rows"):
        fit_sigmoid_link(x[:-1], y)
    y_nan = y.copy()
    y_nan[0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        fit_sigmoid_link(x, y_nan)
    with pytest.raises(ValueError, match="loss"):
        fit_sigmoid_link(x, y, loss="l1")  # type: ignore[arg-type]


def test_one_dimensional_predictor_is_accepted():
    x, y = _synthetic(beta=(1.0,))
    fit = fit_sigmoid_link(x[:, 0], y, tol=1e-12)
    assert fit.coef.shape == (1,)
    assert fit.coef[0] == pytest.approx(1.0, abs=1e-4)


# --- line, metrics, transforms ---------------------------------------------------------------


def test_fit_line_known_answer():
    x = np.array([0.0, 1.0, 2.0, 3.0])
    fit = fit_line(x, 2.0 * x + 1.0)
    assert (fit.slope, fit.intercept, fit.r2, fit.n) == pytest.approx((2.0, 1.0, 1.0, 4))
    noisy = fit_line(x, np.array([1.0, 3.5, 4.5, 7.0]))
    # closed form: slope = cov/var = 1.9, R^2 = 1 - SS_res/SS_tot
    assert noisy.slope == pytest.approx(1.9)
    resid = np.array([1.0, 3.5, 4.5, 7.0]) - noisy.predict(x)
    assert noisy.r2 == pytest.approx(1 - (resid**2).sum() / ((np.array([1.0, 3.5, 4.5, 7.0]) - 4.0) ** 2).sum())
    with pytest.raises(ValueError):
        fit_line(np.ones(3), np.arange(3.0))


def test_metrics():
    assert mse([1, 2], [1, 4]) == 2.0
    assert mae([1, 2], [1, 4]) == 1.0
    assert np.isnan(mse([], []))


def test_target_transforms():
    np.testing.assert_allclose(minmax([0.25, 1.0, 0.625], 0.25, 1.0), [0.0, 1.0, 0.5])
    np.testing.assert_allclose(log_transform([1.0, np.e]), [0.0, 1.0], atol=1e-8)
    np.testing.assert_allclose(logit_transform([0.5]), [0.0], atol=1e-8)
    np.testing.assert_allclose(transform_target([5.0], (0.0, 10.0)), [0.5])
    np.testing.assert_allclose(transform_target([5.0], (0.0, 10.0), "logit"), [0.0], atol=1e-8)
    with pytest.raises(ValueError):
        transform_target([1.0], None, "sqrt")
    with pytest.raises(ValueError):
        minmax([1.0], 1.0, 1.0)


# --- PCA and PCA imputation (repro.common.lowrank) ------------------------------------------


def test_pca_matches_eigendecomposition_and_sign_convention():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 4)) @ rng.normal(size=(4, 4))
    pca = fit_pca(x, 3)
    cov = np.cov(x, rowvar=False)
    evals, evecs = np.linalg.eigh(cov)
    order = np.argsort(evals)[::-1]
    np.testing.assert_allclose(pca.explained_variance, evals[order][:3], rtol=1e-10)
    np.testing.assert_allclose(pca.explained_variance_ratio, evals[order][:3] / evals.sum(), rtol=1e-10)
    for k in range(3):
        np.testing.assert_allclose(np.abs(pca.components[k] @ evecs[:, order[k]]), 1.0, atol=1e-10)
        assert pca.components[k][np.argmax(np.abs(pca.components[k]))] > 0
    scores = pca.transform(x)
    np.testing.assert_allclose(scores.mean(axis=0), 0.0, atol=1e-10)
    full = fit_pca(x, 4)
    np.testing.assert_allclose(full.inverse_transform(full.transform(x)), x, atol=1e-10)


def test_pca_transforms_test_rows_with_training_mean():
    rng = np.random.default_rng(1)
    train, test = rng.normal(size=(20, 3)), rng.normal(size=(5, 3)) + 10.0
    pca = fit_pca(train, 2)
    np.testing.assert_allclose(pca.transform(test), (test - train.mean(axis=0)) @ pca.components.T)


def test_pca_rejects_missing_values_and_bad_rank():
    x = np.ones((4, 3))
    x[0, 0] = np.nan
    with pytest.raises(ValueError, match="missing"):
        fit_pca(x, 1)
    with pytest.raises(ValueError):
        fit_pca(np.ones((4, 3)), 4)


def test_pca_imputation_recovers_rank_one_matrix():
    rng = np.random.default_rng(2)
    u, v = rng.uniform(0.2, 1.0, size=30), rng.uniform(0.3, 0.9, size=6)
    full = np.outer(u, v) * 0.9 + 0.05  # rank 1 plus offset: rank 1 after centring
    x = full.copy()
    x[[0, 3, 7, 12], [1, 4, 0, 5]] = np.nan
    imputer, filled = fit_pca_imputer(x, 1, tol=1e-12, max_iter=5000)
    np.testing.assert_allclose(filled, full, atol=1e-6)
    # Observed cells are never changed; test rows reuse the training scaler and PCA.
    obs = ~np.isnan(x)
    np.testing.assert_array_equal(filled[obs], x[obs])
    test = np.outer([0.5, 0.8], v) * 0.9 + 0.05
    test_missing = test.copy()
    test_missing[0, 2] = np.nan
    np.testing.assert_allclose(imputer.transform(test_missing), test, atol=1e-6)


def test_pca_imputation_clips_to_bounds():
    x = np.array([[0.0, 0.0], [0.5, 0.5], [1.0, 1.0], [1.0, np.nan]])
    _, filled = fit_pca_imputer(x, 1, bounds=(0.0, 0.9))
    assert filled.max() <= 0.9


def test_standardizer_ignores_missing_cells():
    x = np.array([[1.0, 2.0], [3.0, np.nan], [5.0, 6.0]])
    s = fit_standardizer(x)
    np.testing.assert_allclose(s.mean, [3.0, 4.0])
    np.testing.assert_allclose(s.scale, [np.std([1, 3, 5]), 2.0])
    with pytest.raises(ValueError):
        fit_standardizer(np.array([[np.nan, 1.0], [np.nan, 2.0]]))
