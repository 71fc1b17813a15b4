"""Known-answer tests of the law estimators: data simulated from the paper's noise model."""

from __future__ import annotations

import numpy as np

from repro.datavalue.data import geometric_sizes
from repro.datavalue.laws import Law, bootstrap_r2, fit_log, fit_mle, grid_value, predict, r2


def _simulate(P=12, S=100, seed=0):
    rng = np.random.default_rng(seed)
    sizes = geometric_sizes(100, 1000, 10)
    assert sizes.tolist() == [100, 129, 167, 215, 278, 359, 464, 599, 774, 1000]
    c = rng.uniform(-1, 2, P) * 10
    alpha = rng.uniform(0.8, 2.0, P)
    sigma, beta = np.full(P, 5.0), np.full(P, 2.5)
    mean = c[:, None] * sizes[None] ** -alpha[:, None]
    sd = sigma[:, None] * sizes[None] ** (-beta[:, None] / 2)
    delta = mean[:, :, None] + sd[:, :, None] * rng.standard_normal((P, len(sizes), S))
    return sizes, delta, Law(c, alpha, sigma, beta)


def test_mle_recovers_the_simulated_laws():
    sizes, delta, truth = _simulate()
    law = fit_mle(sizes, delta)
    assert np.median(np.abs(law.alpha - truth.alpha)) < 0.05
    assert np.median(np.abs(law.beta - truth.beta)) < 0.1
    big = np.abs(truth.c) > 2
    assert np.all(np.sign(law.c[big]) == np.sign(truth.c[big]))
    assert r2(predict(truth, sizes), predict(law, sizes)) > 0.99


def test_log_fit_is_exact_without_noise():
    sizes = np.array([10, 20, 40, 80])
    means = np.array([[3.0 * k**-1.5 for k in sizes], [-2.0 * k**-0.7 for k in sizes]])
    law = fit_log(sizes, means)
    assert np.allclose(law.alpha, [1.5, 0.7]) and np.allclose(law.c, [3.0, -2.0])
    assert np.allclose(law.log_r2, 1.0)


def test_r2_and_grid_value():
    y = np.array([1.0, 2.0, 3.0])
    assert r2(y, y) == 1.0 and r2(y, np.full(3, 2.0)) == 0.0
    law = Law(np.array([2.0]), np.array([1.0]), np.array([np.nan]), np.array([np.nan]))
    assert np.isclose(grid_value(law, np.array([1, 2])), (2 + 1) / 2)


def test_bootstrap_r2_is_paired_resamples_points_and_splits_them_in_disjoint_halves():
    rng = np.random.default_rng(1)
    y = rng.standard_normal((40, 3))  # points x sizes: a row stays together
    good, bad = y + 0.1 * rng.standard_normal(y.shape), y + 1.0 * rng.standard_normal(y.shape)
    boot, halves = bootstrap_r2(y, {"good": good, "bad": bad, "same": good.copy()}, n_boot=50, seed=0)
    assert len(boot["good"]) == 50 and len(boot["bad"]) == 50
    # paired: the same resamples for every estimator, so an identical estimator gives identical replicates
    assert boot["good"] == boot["same"] and halves["good"] == halves["same"]
    assert all(g > b for g, b in zip(boot["good"], boot["bad"]))
    # the replicates vary (rows resampled) around the full-sample R^2
    assert np.std(boot["good"]) > 0 and abs(np.mean(boot["good"]) - r2(y, good)) < 0.05
    # the halves: R^2 on two disjoint halves of the points (each differs from the full-sample value)
    a, b = halves["good"]
    assert a != b and min(a, b) <= r2(y, good) <= max(a, b) + 0.05
    # deterministic given the seed
    assert bootstrap_r2(y, {"good": good}, 50, 0)[0]["good"] == boot["good"]
