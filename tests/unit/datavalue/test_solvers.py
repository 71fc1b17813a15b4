"""The batched torch solver against scikit-learn: same fitted values to a stated tolerance."""

from __future__ import annotations

import numpy as np
import torch

from repro.datavalue.data import DatasetSpec, load_dataset, sample_balanced
from repro.datavalue.solvers import ModelSpec, Problems, fit_logreg, fit_logreg_sklearn, fit_mlp, val_cross_entropy

TOL = 1e-6  # stated tolerance: max |coefficient difference| vs scikit-learn newton-cholesky at tol 1e-10


def _data():
    ds = load_dataset(
        "lm_clf", DatasetSpec(source="synthetic", n_pool=600, n_val=200, n_test=200, dim=8, flip_fraction=0.1)
    )
    rng = np.random.default_rng(0)
    return ds, sample_balanced(ds.y_pool, 120, 2, rng, n_draws=3), rng.choice(600, 5, replace=False)


def test_batched_logreg_matches_sklearn_including_warm_started_augmented_fits():
    ds, subs, pts = _data()
    spec = ModelSpec(kind="logreg", C=1.0)
    x, y = ds.x_pool[subs], ds.y_pool[subs]
    w0, _ = fit_logreg(Problems.build(x, y, np.ones((3, 1, 120))), spec)
    G, P, d = 3, len(pts), x.shape[2]
    aug = Problems.build(
        x,
        y,
        np.ones((G, P, 120)),
        np.broadcast_to(ds.x_pool[pts], (G, P, d)),
        np.broadcast_to(ds.y_pool[pts], (G, P)),
        np.ones((G, P)),
    )
    w1, steps = fit_logreg(aug, spec, init=w0.expand(G, P, -1))
    assert steps <= 6  # warm start: a few Newton steps
    for g in range(G):
        ref = fit_logreg_sklearn(x[g], y[g], tol=1e-10, solver="newton-cholesky")
        assert np.abs(w0[g, 0].numpy() - ref).max() < TOL
        for i, p in enumerate(pts):
            ref = fit_logreg_sklearn(
                np.vstack([x[g], ds.x_pool[p]]), np.append(y[g], ds.y_pool[p]), tol=1e-10, solver="newton-cholesky"
            )
            assert np.abs(w1[g, i].numpy() - ref).max() < TOL


def test_weights_select_a_subset():
    ds, subs, _ = _data()
    spec = ModelSpec(kind="logreg")
    w = np.zeros((1, 1, 600))
    w[0, 0, subs[0]] = 1
    masked, _ = fit_logreg(Problems.build(ds.x_pool[None], ds.y_pool[None], w), spec)
    direct, _ = fit_logreg(Problems.build(ds.x_pool[subs[:1]], ds.y_pool[subs[:1]], np.ones((1, 1, 120))), spec)
    assert torch.allclose(masked, direct, atol=1e-9)


def test_mlp_is_deterministic_and_learns():
    ds, subs, _ = _data()
    pr = Problems.build(ds.x_pool[subs], ds.y_pool[subs], np.ones((3, 2, 120)), dtype=torch.float32)
    spec = ModelSpec(kind="mlp", hidden=8, steps=60, lr=0.02)
    a, b = fit_mlp(pr, spec, 2), fit_mlp(pr, spec, 2)
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    xv, yv = torch.as_tensor(ds.x_val, dtype=torch.float32), torch.as_tensor(ds.y_val)
    assert float(val_cross_entropy(a, xv, yv).max()) < np.log(2)  # better than the uniform predictor
