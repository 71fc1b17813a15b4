"""Valuation experiments (paper Sec. 4.3-4.4): point addition and removal curves, noisy-label detection.

* :func:`addition_curves` -- start from a random class-balanced base of other pool points, add the valued
  points in decreasing order of a method's value, class-balanced (the top n / C of every class, as the
  paper adds the class-balanced top 100), retrain after each increment; test accuracy per step.
  A good valuation adds the helpful points first: higher area under the curve (AUC = mean accuracy).
* :func:`removal_curves` -- train on a base plus every valued point, remove valued points in decreasing
  order of value; a good valuation removes the helpful points first: lower AUC.
* ``random`` orders are drawn per repeat (the random baseline).
* :func:`auroc` -- noisy-label detection: low value should mean a corrupted label (score = -value).
* :func:`load_values` -- the values of the valued points per method (:data:`METHODS`), from the step tables.
All retrainings of one experiment are one batched solve (:mod:`.solvers`, weights select the subset).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from repro.datavalue.data import Dataset, sample_balanced
from repro.datavalue.solvers import ModelSpec, Problems, accuracy, fit

__all__ = ["auroc", "balanced_order", "addition_curves", "removal_curves", "METHODS", "load_values"]

METHODS = ("law", "amortized", "mc", "loo")  # value columns; "random" is added by the experiments


def auroc(scores: np.ndarray, positives: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for the boolean ``positives`` (ties count one half)."""
    from sklearn.metrics import roc_auc_score

    positives = np.asarray(positives, bool)
    if positives.all() or not positives.any():
        return float("nan")
    return float(roc_auc_score(positives, scores))


def balanced_order(order: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Interleave an order by class: the first n entries hold the top n / C of every class (paper Sec. 4.4)."""
    rank = np.empty(len(order), dtype=np.int64)
    for c in np.unique(labels):
        members = order[labels[order] == c]
        rank[members] = np.arange(len(members))
    pos = np.empty(len(order), dtype=np.int64)
    pos[order] = np.arange(len(order))
    return np.lexsort((pos, rank))


def _orders(
    values: Mapping[str, np.ndarray], n: int, repeats: int, rng: np.random.Generator, labels: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    out = {m: np.tile(np.argsort(-np.asarray(v), kind="stable"), (repeats, 1)) for m, v in values.items()}
    out["random"] = np.stack([rng.permutation(n) for _ in range(repeats)])
    if labels is not None:
        out = {m: np.stack([balanced_order(o, labels) for o in orders]) for m, orders in out.items()}
    return out


def _curves(
    ds: Dataset, spec: ModelSpec, weights: np.ndarray, n_methods: int, repeats: int, n_steps: int
) -> np.ndarray:
    dtype = torch.float64 if spec.kind == "logreg" else torch.float32
    pr = Problems.build(ds.x_pool[None], ds.y_pool[None], weights[None], dtype=dtype)
    m = fit(pr, spec, ds.n_classes)
    acc = accuracy(m, torch.as_tensor(ds.x_test, dtype=dtype), torch.as_tensor(ds.y_test))[0].double().numpy()
    return acc.reshape(n_methods, repeats, n_steps)


def addition_curves(
    ds: Dataset,
    spec: ModelSpec,
    points: np.ndarray,
    values: Mapping[str, np.ndarray],
    base_size: int,
    steps: np.ndarray,
    repeats: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Test accuracy (repeats, len(steps)) per method after adding the top-``steps[j]`` valued points to a base."""
    others = np.setdiff1d(np.arange(len(ds.y_pool)), points)
    bases = others[sample_balanced(ds.y_pool[others], base_size, ds.n_classes, rng, repeats)]
    orders = _orders(values, len(points), repeats, rng, labels=ds.y_pool[points])
    names = list(orders)
    w = np.zeros((len(names), repeats, len(steps), len(ds.y_pool)))
    for a, name in enumerate(names):
        for r in range(repeats):
            for j, n_add in enumerate(steps):
                w[a, r, j, bases[r]] = 1.0
                w[a, r, j, points[orders[name][r, :n_add]]] = 1.0
    acc = _curves(ds, spec, w.reshape(-1, len(ds.y_pool)), len(names), repeats, len(steps))
    return {name: acc[a] for a, name in enumerate(names)}


def removal_curves(
    ds: Dataset,
    spec: ModelSpec,
    points: np.ndarray,
    values: Mapping[str, np.ndarray],
    base_size: int,
    steps: np.ndarray,
    repeats: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Test accuracy (repeats, len(steps)) per method after removing the top-``steps[j]`` valued points."""
    others = np.setdiff1d(np.arange(len(ds.y_pool)), points)
    bases = others[sample_balanced(ds.y_pool[others], base_size, ds.n_classes, rng, repeats)] if base_size else None
    orders = _orders(values, len(points), repeats, rng)
    names = list(orders)
    w = np.zeros((len(names), repeats, len(steps), len(ds.y_pool)))
    for a, name in enumerate(names):
        for r in range(repeats):
            for j, n_rm in enumerate(steps):
                if bases is not None:
                    w[a, r, j, bases[r]] = 1.0
                w[a, r, j, points] = 1.0
                w[a, r, j, points[orders[name][r, :n_rm]]] = 0.0
    acc = _curves(ds, spec, w.reshape(-1, len(ds.y_pool)), len(names), repeats, len(steps))
    return {name: acc[a] for a, name in enumerate(names)}


def load_values(inputs: Mapping[str, Path]) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The fit step's laws table and the values per method (law, mc, loo from it; amortized from its table)."""
    laws = pd.read_csv(inputs["laws"])
    am = pd.read_csv(inputs["amortized"])
    if not np.array_equal(laws["point"].to_numpy(), am["point"].to_numpy()):
        raise ValueError(f"{inputs['laws']} and {inputs['amortized']} value different points")
    values = {m: laws[f"value_{m}"].to_numpy() for m in ("law", "mc", "loo")}
    values["amortized"] = am["value_amortized"].to_numpy()
    return laws, values
