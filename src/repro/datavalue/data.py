"""Datasets, label corruption and class-balanced subsets (paper Sec. 5 setup; App. D data).

``lm_clf`` is the paper's synthetic classification set regenerated from its definition: x ~ N(0, I_d),
a coefficient vector w ~ N(0, I_d), y = 1[x.w + noise * eps > 0] (the paper: n = 12000, d = 50,
noise 0.1, 10000 / 1000 / 1000 split). ``breast_cancer``, ``digits`` and ``wine`` are the CSVs bundled
with scikit-learn (standardised with the pool's mean / std). The paper's other datasets (MiniBooNE,
adult, CIFAR-10, IMDB, BBC) need the network: they are named at paper scale and refused here with a clear error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from repro.common.io import DataError

__all__ = [
    "DataError",
    "SubsetError",
    "DatasetSpec",
    "Dataset",
    "load_dataset",
    "flip_labels",
    "balanced_counts",
    "check_sizes",
    "sample_balanced",
]

OFFLINE_SOURCES = ("synthetic", "sklearn")


class SubsetError(ValueError):
    """A dataset-size grid does not fit the data (too large, or a class too small for a balanced subset)."""


@dataclass(frozen=True)
class DatasetSpec:
    """How to build one dataset (params.yaml ``datavalue.datasets.<name>``)."""

    source: str  # synthetic (lm_clf) | sklearn (bundled CSV) | remote (paper scale: needs the network)
    n_pool: int  # training pool size (points that can be valued / drawn into subsets); 0 = all that is left
    n_val: int = 1000  # validation points: the utility u(D) = -cross-entropy on them
    n_test: int = 1000  # test points: accuracy of the addition / removal experiments
    dim: int = 50  # synthetic only: input dimension d
    noise: float = 0.1  # synthetic only: std of the noise added to the linear score
    flip_fraction: float = 0.0  # fraction of pool labels flipped (corrupted), for noisy-label detection
    data_seed: int = 42  # seed of generation, split and flips
    name: str = ""  # the sklearn loader name (breast_cancer, digits, wine) or the remote id; default: the key


@dataclass(frozen=True)
class Dataset:
    """Pool / validation / test arrays; ``noisy[i]`` marks a flipped pool label (``y_pool`` is the flipped one)."""

    name: str
    x_pool: np.ndarray
    y_pool: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    noisy: np.ndarray
    n_classes: int


def _synthetic(spec: DatasetSpec, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.standard_normal((n, spec.dim))
    coef = rng.standard_normal(spec.dim)
    y = (x @ coef + spec.noise * rng.standard_normal(n) > 0).astype(np.int64)
    return x, y


def _sklearn(name: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    loaders = {"breast_cancer": datasets.load_breast_cancer, "digits": datasets.load_digits, "wine": datasets.load_wine}
    if name not in loaders:
        raise DataError(f"dataset {name!r}: not a bundled scikit-learn dataset; bundled: {sorted(loaders)}")
    bunch = loaders[name]()
    return np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target, dtype=np.int64)


def flip_labels(
    y: np.ndarray, fraction: float, n_classes: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Corrupt ``round(fraction * n)`` labels to another class chosen uniformly; returns (labels, flipped mask)."""
    if not 0.0 <= fraction < 1.0:
        raise DataError(f"flip_fraction must be in [0, 1), got {fraction}")
    n_flip = int(round(fraction * len(y)))
    idx = rng.choice(len(y), size=n_flip, replace=False)
    out = y.copy()
    shift = rng.integers(1, n_classes, size=n_flip)
    out[idx] = (y[idx] + shift) % n_classes
    mask = np.zeros(len(y), dtype=bool)
    mask[idx] = True
    return out, mask


def load_dataset(key: str, spec: DatasetSpec) -> Dataset:
    """Build dataset ``key`` from its spec (deterministic in ``spec.data_seed``)."""
    rng = np.random.default_rng(spec.data_seed)
    if not 0.0 <= spec.flip_fraction < 1.0:
        raise DataError(f"dataset {key!r}: flip_fraction must be in [0, 1), got {spec.flip_fraction}")
    if spec.source == "synthetic":
        if spec.n_pool <= 0:
            raise DataError(f"dataset {key!r}: a synthetic dataset needs n_pool > 0")
        x, y = _synthetic(spec, spec.n_pool + spec.n_val + spec.n_test, rng)
    elif spec.source == "sklearn":
        x, y = _sklearn(spec.name or key)
    else:
        raise DataError(
            f"dataset {key!r}: source {spec.source!r} needs the network (paper scale); offline sources: {OFFLINE_SOURCES}"
        )
    n = len(y)
    need = spec.n_val + spec.n_test + (spec.n_pool if spec.n_pool > 0 else 1)
    if need > n:
        raise SubsetError(f"dataset {key!r}: n_pool + n_val + n_test = {need} exceeds its {n} points")
    perm = rng.permutation(n)
    val, test = perm[: spec.n_val], perm[spec.n_val : spec.n_val + spec.n_test]
    rest = perm[spec.n_val + spec.n_test :]
    pool = rest if spec.n_pool <= 0 else rest[: spec.n_pool]
    mu, sd = x[pool].mean(0), x[pool].std(0)
    sd[sd == 0] = 1.0
    x = (x - mu) / sd
    classes = np.unique(y)
    y = np.searchsorted(classes, y)
    n_classes = len(classes)
    y_pool, noisy = flip_labels(y[pool], spec.flip_fraction, n_classes, rng)
    return Dataset(key, x[pool], y_pool, x[val], y[val], x[test], y[test], noisy, n_classes)


def balanced_counts(k: int, n_classes: int) -> np.ndarray:
    """Per-class counts of a class-balanced subset of size ``k`` (the remainder goes to the first classes)."""
    base = np.full(n_classes, k // n_classes)
    base[: k % n_classes] += 1
    return base


def check_sizes(sizes: list[int] | tuple[int, ...] | np.ndarray, class_counts: np.ndarray, where: str) -> None:
    """Raise :class:`SubsetError` naming ``where`` if a size cannot be drawn class-balanced from the counts."""
    total = int(np.sum(class_counts))
    for k in sizes:
        if k < len(class_counts):
            raise SubsetError(f"{where}: dataset size {k} is smaller than the number of classes {len(class_counts)}")
        if k > total:
            raise SubsetError(f"{where}: dataset size {k} is larger than the {total} points available")
    for k in sizes:
        need = balanced_counts(int(k), len(class_counts))
        short = np.nonzero(need > class_counts)[0]
        if short.size:
            c = int(short[0])
            raise SubsetError(
                f"{where}: class {c} has {int(class_counts[c])} points, too few for a class-balanced subset of size {k} "
                f"(needs {int(need[c])})"
            )


def sample_balanced(
    labels: np.ndarray, k: int, n_classes: int, rng: np.random.Generator, n_draws: int = 1
) -> np.ndarray:
    """``n_draws`` class-balanced random subsets of size ``k`` (indices into ``labels``), shape (n_draws, k)."""
    counts = np.bincount(labels, minlength=n_classes)
    check_sizes([k], counts, "sample_balanced")
    need = balanced_counts(k, n_classes)
    by_class = [np.nonzero(labels == c)[0] for c in range(n_classes)]
    out = np.empty((n_draws, k), dtype=np.int64)
    for s in range(n_draws):
        parts = [rng.choice(idx, size=m, replace=False) for idx, m in zip(by_class, need) if m]
        out[s] = np.concatenate(parts)
    return out


def geometric_sizes(k_min: int, k_max: int, n: int) -> np.ndarray:
    """The paper's grid: geomspace(k_min, k_max, n) rounded to ints (e.g. 100..1000 in 10 steps), unique."""
    if not 1 <= k_min < k_max or n < 2:
        raise ValueError(f"size grid needs 1 <= k_min < k_max and n >= 2, got ({k_min}, {k_max}, {n})")
    sizes = np.unique(np.round(np.geomspace(k_min, k_max, n)).astype(np.int64))
    if len(sizes) != n:
        raise ValueError(f"size grid geomspace({k_min}, {k_max}, {n}) has repeated sizes after rounding: {sizes}")
    return sizes


def choose_points(ds: Dataset, n_points: int, rng: np.random.Generator) -> np.ndarray:
    """The valued points: ``n_points`` pool indices drawn uniformly at random (sorted)."""
    if n_points >= len(ds.y_pool):
        raise ValueError(f"dataset {ds.name!r}: {n_points} valued points leave no pool to draw subsets from")
    return np.sort(rng.choice(len(ds.y_pool), size=n_points, replace=False))
