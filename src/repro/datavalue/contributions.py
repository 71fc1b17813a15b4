"""Marginal contributions Delta(z, D) = u(D + {z}) - u(D) at random class-balanced subsets (paper Sec. 3, Eq. 2).

u is the negative validation cross-entropy. For each dataset size k of a geometric grid we draw S
class-balanced subsets D of size k from the pool *without* the valued points, and fit D and D + {z} for
every valued point z: common random numbers (one D shared by all points) turn 2P fits into 1 + P, and
the (1 + P) fits of a D are one batched solve (:mod:`.solvers`) with D + {z} warm-started at D's solution.
psi_k(z) = E_{|D| = k}[Delta(z, D)] is estimated by the mean over the S subsets.

:func:`load_samples` reads the samples step's tables back as arrays and :func:`heldout_split` splits the
size grid into fit and held-out sizes (the fit and amortized steps).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from repro.datavalue.data import Dataset, check_sizes, choose_points, geometric_sizes, sample_balanced
from repro.datavalue.solvers import ModelSpec, Problems, accuracy, fit, predict_logits, val_cross_entropy

__all__ = [
    "Contributions",
    "geometric_sizes",
    "choose_points",
    "marginal_contributions",
    "leave_one_out",
    "full_fit",
    "pool_margins",
    "load_samples",
    "heldout_split",
]

log = logging.getLogger(__name__)


@dataclass
class Contributions:
    """Sampled marginal contributions: ``delta[i, j, s]`` of valued point ``points[i]`` at ``sizes[j]``, subset s."""

    points: np.ndarray  # (P,) indices into the pool
    sizes: np.ndarray  # (J,)
    delta: np.ndarray  # (P, J, S)
    base_utility: np.ndarray  # (J, S) u(D)
    n_fits: int


def _chunk(k: int, P: int, d: int, budget: int) -> int:
    per_group = k * (P + 1 + (d + 1) ** 2)
    return max(1, budget // per_group)


def marginal_contributions(
    ds: Dataset,
    spec: ModelSpec,
    points: np.ndarray,
    sizes: np.ndarray,
    n_samples: int,
    rng: np.random.Generator,
    budget: int = 4_000_000,
) -> Contributions:
    """Sample Delta(z, D) for every valued point z, size k and subset s (common D per (k, s))."""
    others = np.setdiff1d(np.arange(len(ds.y_pool)), points)
    check_sizes(
        sizes,
        np.bincount(ds.y_pool[others], minlength=ds.n_classes),
        f"dataset {ds.name!r} (pool without valued points)",
    )
    dtype = torch.float64 if spec.kind == "logreg" else torch.float32
    xv, yv = torch.as_tensor(ds.x_val, dtype=dtype), torch.as_tensor(ds.y_val)
    P, d = len(points), ds.x_pool.shape[1]
    delta = np.zeros((P, len(sizes), n_samples))
    base_u = np.zeros((len(sizes), n_samples))
    n_fits = 0
    total = len(sizes) * n_samples
    with tqdm(total=total, desc=f"{ds.name}/{spec.kind} subsets", mininterval=5) as bar:
        for j, k in enumerate(sizes):
            subsets = others[sample_balanced(ds.y_pool[others], int(k), ds.n_classes, rng, n_samples)]
            g = (
                _chunk(int(k), P, d, budget)
                if spec.kind == "logreg"
                else max(1, budget // (int(k) * (P + 1) * spec.hidden))
            )
            for s0 in range(0, n_samples, g):
                sub = subsets[s0 : s0 + g]
                G = len(sub)
                x, y = ds.x_pool[sub], ds.y_pool[sub]
                base = Problems.build(x, y, np.ones((G, 1, k)), dtype=dtype)
                ex = np.broadcast_to(ds.x_pool[points], (G, P, d))
                ey = np.broadcast_to(ds.y_pool[points], (G, P))
                aug = Problems.build(x, y, np.ones((G, P, k)), ex, ey, np.ones((G, P)), dtype=dtype)
                if spec.kind == "logreg":
                    m0 = fit(base, spec, ds.n_classes)
                    m1 = fit(aug, spec, ds.n_classes, init=m0.expand(G, P, -1))
                    u0, u1 = -val_cross_entropy(m0, xv, yv)[:, 0], -val_cross_entropy(m1, xv, yv)
                else:  # one batch: D and every D + {z} from the same initialisation
                    both = Problems.build(
                        x,
                        y,
                        np.ones((G, P + 1, k)),
                        np.concatenate([np.zeros((G, 1, d)), ex], 1),
                        np.concatenate([np.zeros((G, 1), int), ey], 1),
                        np.concatenate([np.zeros((G, 1)), np.ones((G, P))], 1),
                        dtype=dtype,
                    )
                    u = -val_cross_entropy(fit(both, spec, ds.n_classes), xv, yv)
                    u0, u1 = u[:, 0], u[:, 1:]
                base_u[j, s0 : s0 + G] = u0.double().numpy()
                delta[:, j, s0 : s0 + G] = (u1 - u0[:, None]).double().numpy().T
                n_fits += G * (P + 1)
                bar.update(G)
    return Contributions(points, np.asarray(sizes), delta, base_u, n_fits)


def full_fit(ds: Dataset, spec: ModelSpec) -> dict[str, float]:
    """The model trained on the whole pool: validation / test accuracy and loss, next to the majority floor."""
    dtype = torch.float64 if spec.kind == "logreg" else torch.float32
    n = len(ds.y_pool)
    m = fit(Problems.build(ds.x_pool[None], ds.y_pool[None], np.ones((1, 1, n)), dtype=dtype), spec, ds.n_classes)
    xt, yt = torch.as_tensor(ds.x_test, dtype=dtype), torch.as_tensor(ds.y_test)
    xv, yv = torch.as_tensor(ds.x_val, dtype=dtype), torch.as_tensor(ds.y_val)
    majority = int(np.bincount(ds.y_pool).argmax())
    prior = np.bincount(ds.y_pool, minlength=ds.n_classes) / n
    return {
        "test_accuracy": float(accuracy(m, xt, yt)[0, 0]),
        "val_cross_entropy": float(val_cross_entropy(m, xv, yv)[0, 0]),
        "majority_test_accuracy": float(np.mean(ds.y_test == majority)),
        "prior_val_cross_entropy": float(-np.mean(np.log(np.clip(prior[ds.y_val], 1e-12, None)))),
    }


def leave_one_out(ds: Dataset, spec: ModelSpec, points: np.ndarray) -> np.ndarray:
    """Leave-one-out value u(pool) - u(pool without z) of every valued point (logreg: warm-started batch)."""
    dtype = torch.float64 if spec.kind == "logreg" else torch.float32
    n, P = len(ds.y_pool), len(points)
    xv, yv = torch.as_tensor(ds.x_val, dtype=dtype), torch.as_tensor(ds.y_val)
    w = np.ones((1, P + 1, n))
    w[0, np.arange(1, P + 1), points] = 0.0
    pr = Problems.build(ds.x_pool[None], ds.y_pool[None], w, dtype=dtype)
    if spec.kind == "logreg":
        full = fit(Problems.build(ds.x_pool[None], ds.y_pool[None], np.ones((1, 1, n))), spec, ds.n_classes)
        m = fit(pr, spec, ds.n_classes, init=full.expand(1, P + 1, -1))
    else:
        m = fit(pr, spec, ds.n_classes)
    u = -val_cross_entropy(m, xv, yv)[0].double().numpy()
    return u[0] - u[1:]


def pool_margins(ds: Dataset, spec: ModelSpec, points: np.ndarray) -> np.ndarray:
    """Signed margin of each valued point under the model fitted on the whole pool.

    logit of its (observed) label minus the largest other logit: |margin| is the distance from the decision
    boundary in logit units (paper Sec. 5: alpha vs distance to the boundary); negative = misclassified.
    """
    dtype = torch.float64 if spec.kind == "logreg" else torch.float32
    n = len(ds.y_pool)
    m = fit(Problems.build(ds.x_pool[None], ds.y_pool[None], np.ones((1, 1, n)), dtype=dtype), spec, ds.n_classes)
    z = predict_logits(m, torch.as_tensor(ds.x_pool[points], dtype=dtype))[0, 0].double().numpy()
    own = z[np.arange(len(points)), ds.y_pool[points]]
    z[np.arange(len(points)), ds.y_pool[points]] = -np.inf
    return own - z.max(1)


def load_samples(inputs: Mapping[str, Path]) -> dict[str, np.ndarray]:
    """The samples step's tables as arrays: points, sizes, delta (P, J, S), labels, noisy, loo, x."""
    con = pd.read_csv(inputs["contributions"])
    pts = pd.read_csv(inputs["points"])
    points = pts["point"].to_numpy()
    sizes = np.unique(con["k"].to_numpy())
    S = int(con["subset"].max()) + 1
    con = con.sort_values(["point", "k", "subset"])
    if (
        not np.array_equal(np.unique(con["point"].to_numpy()), np.sort(points))
        or len(con) != len(points) * len(sizes) * S
    ):
        raise ValueError(
            f"{inputs['contributions']}: not a full (point, k, subset) grid for the points of {inputs['points']}"
        )
    order = np.argsort(points)
    delta = np.empty((len(points), len(sizes), S))
    delta[order] = con["delta"].to_numpy().reshape(len(points), len(sizes), S)
    xcols = [c for c in pts.columns if c.startswith("x_")]
    return {
        "points": points,
        "sizes": sizes,
        "delta": delta,
        "labels": pts["label"].to_numpy(),
        "noisy": pts["noisy"].to_numpy(),
        "loo": pts["loo"].to_numpy(),
        "x": pts[xcols].to_numpy(),
        "margin": pts["margin"].to_numpy(),
    }


def heldout_split(n_sizes: int, every: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the fit sizes and of the held-out sizes (j % every == 1) of a size grid of ``n_sizes``."""
    j = np.arange(n_sizes)
    held = j % every == 1 if every > 1 else np.zeros(n_sizes, bool)
    return j[~held], j[held]
