"""Perplexity-correlation estimators and projections (Thrush, Potts, Hashimoto 2024, Sec. 3).

Notation (Sec. 3.1): ``X`` is an ``N x D`` matrix, ``X[k, j]`` the bits-per-byte of LLM ``k``
on text domain/page ``j``; ``y`` the ``N`` benchmark errors (lower is better). Under the
single-index model ``y_k = f(<theta*, x_k> + eps_k)`` with ``f`` monotone, each estimator
returns a ``D``-vector whose *ranks* estimate those of ``theta*``:

* :func:`product` - ``mean_k y_k x_k`` (Gaussian ``X``; not robust).
* :func:`sign` - ``2/(N(N-1)) sum_{k<l} sign(y_l - y_k)(x_l - x_k)`` (Sec. 3.2).
* :func:`sign_cdf` - :func:`sign` on the columnwise empirical CDF of ``X`` (the paper's
  robust main estimator, Sec. 3.2-3.3).
* :func:`sign_sign` - ``2/(N(N-1)) sum_{k<l} sign(y_l - y_k) sign(x_l - x_k)`` (Kendall-like;
  ``O(N^2 D)`` pair terms on int8 dense ranks, see its docstring).
* :func:`spearmanr` - per-column Spearman rho with *ordinal* ranks (ties: :func:`ordinal_ranks`).

Every estimator except :func:`sign_sign` is linear in ``X`` after a per-column rank transform,
so it costs one ``O(N D)`` pass (a matrix-vector product): the pairwise sums collapse to
``X.T @ c`` with ``c_l = sum_k sign(y_l - y_k)``.

Projections onto the capped simplex ``{p : sum p = 1, 0 <= p_j <= tau_j}`` (Sec. 3.4):
:func:`linear` (maximise ``<theta_hat, p>``; depends only on ranks) and :func:`l2`
(Euclidean projection).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "ESTIMATORS",
    "PROJECTIONS",
    "EstimatorError",
    "ordinal_ranks",
    "dense_ranks",
    "product",
    "sign",
    "sign_cdf",
    "sign_sign",
    "spearmanr",
    "linear",
    "l2",
    "estimator",
    "projection",
]

Array = NDArray[np.float64]


class EstimatorError(ValueError):
    """Inputs an estimator or projection cannot use (shape, NaN, infeasible caps)."""


def _check(X: ArrayLike, y: ArrayLike) -> tuple[Array, Array]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
        raise EstimatorError(f"need X of shape (N, D) and y of shape (N,), got {X.shape} and {y.shape}")
    if X.shape[0] < 2:
        raise EstimatorError("need at least two LLMs (rows of X)")
    if not np.isfinite(X).all():
        bad = np.unique(np.nonzero(~np.isfinite(X))[0])
        raise EstimatorError(f"X has non-finite values in rows {bad.tolist()[:10]}")
    if not np.isfinite(y).all():
        raise EstimatorError(f"y has non-finite values at {np.nonzero(~np.isfinite(y))[0].tolist()[:10]}")
    return X, y


def ordinal_ranks(a: ArrayLike, axis: int = 0, kind: str | None = None) -> NDArray[np.int64]:
    """Ordinal ranks 1..N along ``axis`` (ties get distinct ranks, never averaged).

    Ties are broken as numpy's default ``argsort`` orders them (``kind=None``), the
    convention of the paper's reference implementation; ``kind="stable"`` breaks them
    by position. scipy's average ranks differ from both on ties.
    """
    a = np.asarray(a)
    order = np.argsort(a, axis=axis, kind=kind)
    ranks = np.empty_like(order)
    idx = np.arange(1, a.shape[axis] + 1)
    shape = [1] * a.ndim
    shape[axis] = -1
    np.put_along_axis(ranks, order, np.broadcast_to(idx.reshape(shape), a.shape), axis=axis)
    return ranks


def _sign_weights(y: Array) -> Array:
    """``c_l = sum_k sign(y_l - y_k)`` = (#smaller) - (#larger), ties contributing 0."""
    ys = np.sort(y)
    smaller = np.searchsorted(ys, y, side="left")
    larger = y.size - np.searchsorted(ys, y, side="right")
    return (smaller - larger).astype(np.float64)


def product(X: ArrayLike, y: ArrayLike) -> Array:
    """``mean_k y_k x_k`` (Sec. 3.2, the Gaussian-design estimator)."""
    X, y = _check(X, y)
    return (y[:, None] * X).mean(axis=0)


def sign(X: ArrayLike, y: ArrayLike) -> Array:
    """``2/(N(N-1)) sum_{k<l} sign(y_l - y_k)(x_l - x_k)`` in ``O(N D)``."""
    X, y = _check(X, y)
    n = X.shape[0]
    return 2.0 / (n * (n - 1)) * (X.T @ _sign_weights(y))


def sign_cdf(X: ArrayLike, y: ArrayLike) -> Array:
    """:func:`sign` on the empirical CDF of each column of ``X`` (ordinal rank / N): the paper's estimator."""
    X, y = _check(X, y)
    return sign(ordinal_ranks(X, axis=0) / X.shape[0], y)


def _int_dtype(bound: int) -> type[np.signedinteger]:
    """The narrowest signed integer type holding ``-bound..bound``."""
    for dt in (np.int8, np.int16, np.int32):
        if bound <= np.iinfo(dt).max:
            return dt
    return np.int64


def dense_ranks(X: ArrayLike) -> NDArray[np.signedinteger]:
    """Column-wise dense ranks 1..(#distinct values) of ``X`` (equal values share a rank).

    ``sign(R[l, j] - R[k, j]) == sign(X[l, j] - X[k, j])`` exactly, ties included, so
    :func:`sign_sign` can work on small integers instead of floats. The narrowest integer
    type that holds ``N`` is used (``int8`` for ``N < 128``).
    """
    X = np.asarray(X)
    n, d = X.shape
    order = np.argsort(X, axis=0)
    xs = np.sort(X, axis=0)
    new = np.empty((n, d), dtype=bool)
    new[:1] = True
    np.not_equal(xs[1:], xs[:-1], out=new[1:])
    dt = _int_dtype(n)
    ranks = np.cumsum(new, axis=0, dtype=dt)
    out = np.empty_like(ranks)
    out[order, np.arange(d)[None, :]] = ranks  # scatter back to the original rows
    return out


def sign_sign(X: ArrayLike, y: ArrayLike, block: int = 2048) -> Array:
    """``2/(N(N-1)) sum_{k<l} sign(y_l - y_k) sign(x_l - x_k)`` (Kendall-like), exact.

    Still ``O(N^2 D)`` pair terms, but on small integers: rows are sorted by ``y`` so that
    ``sign(y_l - y_k) = 1`` for every ``k`` before ``l``'s tie group (``g_l`` rows) and 0
    inside it; ``x`` is replaced by column-wise :func:`dense_ranks` (same pairwise signs).
    Per row ``l`` the sum ``sum_{k < g_l} sign(R_l - R_k)`` lies in ``[-N, N]`` and is
    accumulated in the rank dtype (``int8`` for ``N < 128``), blockwise over ``block``
    columns so that the working set stays in cache; the integer total is exact, and the
    final scaling is the only floating-point operation. About 5x less CPU time than
    the float64 pairwise loop at ``N = 90, D = 100,000`` (benchmarks/pplcorr_estimators.py).
    """
    X, y = _check(X, y)
    n, d = X.shape
    oy = np.argsort(y, kind="stable")
    ys = y[oy]
    g = np.searchsorted(ys, ys, side="left")  # rows with strictly smaller y, in y order
    R = np.ascontiguousarray(dense_ranks(X[oy]))
    dt = R.dtype
    total = np.zeros(d, dtype=np.int64)
    buf = np.empty((n, min(block, d)), dtype=dt)
    for c0 in range(0, d, block):
        Rb = R[:, c0 : c0 + block]
        w = Rb.shape[1]
        acc = np.zeros(w, dtype=np.int64)
        for l in range(1, n):
            gl = int(g[l])
            if gl == 0:
                continue
            diff = buf[:gl, :w]
            np.subtract(Rb[l], Rb[:gl], out=diff)
            np.sign(diff, out=diff)
            acc += np.add.reduce(diff, axis=0, dtype=dt)  # |sum| <= N - 1: fits the rank dtype
        total[c0 : c0 + w] = acc
    return 2.0 / (n * (n - 1)) * total


def spearmanr(X: ArrayLike, y: ArrayLike) -> Array:
    """Per-column Spearman ``rho = 1 - 6 sum d^2 / (N (N^2 - 1))`` with ordinal ranks (:func:`ordinal_ranks`)."""
    X, y = _check(X, y)
    n = X.shape[0]
    rx = ordinal_ranks(X, axis=0).astype(np.float64)
    ry = ordinal_ranks(y).astype(np.float64)
    # sum_k (rx - ry)^2 = sum rx^2 + sum ry^2 - 2 rx.ry; with ordinal ranks both squares are fixed.
    sq = n * (n + 1) * (2 * n + 1) / 6.0
    d2 = 2.0 * sq - 2.0 * (rx.T @ ry)
    return 1.0 - 6.0 * d2 / (n * (n * n - 1.0))


def _check_tau(estimate: ArrayLike, tau: ArrayLike) -> tuple[Array, Array]:
    est = np.asarray(estimate, dtype=np.float64)
    tau = np.broadcast_to(np.asarray(tau, dtype=np.float64), est.shape).astype(np.float64)
    if est.ndim != 1:
        raise EstimatorError(f"estimate must be a vector, got shape {est.shape}")
    if not np.isfinite(est).all() or not np.isfinite(tau).all():
        raise EstimatorError("estimate and tau must be finite")
    if (tau <= 0).any():
        raise EstimatorError("every tau_j must be > 0")
    if tau.sum() < 1.0:
        raise EstimatorError(f"sum(tau) = {tau.sum():.6g} < 1: the capped simplex is empty")
    return est, tau


def linear(estimate: ArrayLike, tau: ArrayLike) -> Array:
    """Sec. 3.4: ``argmax <estimate, p>`` over ``sum p = 1, 0 <= p <= tau``.

    Greedy: the domains in decreasing estimate order (ties as numpy's default argsort
    of ``-estimate`` orders them, like the reference) get their cap
    ``tau_j`` until the budget 1 is spent; the boundary domain gets the remainder.
    """
    est, tau = _check_tau(estimate, tau)
    order = np.argsort(-est)
    p = np.zeros_like(est)
    left = 1.0
    for j in order:
        if left <= 0.0:
            break
        take = min(tau[j], left)
        p[j] = take
        left -= take
    return p


def l2(estimate: ArrayLike, tau: ArrayLike) -> Array:
    """Sec. 3.4: Euclidean projection of ``estimate`` onto the capped simplex.

    The solution is ``p = clip(estimate + c, 0, tau)`` with ``c`` such that ``sum p = 1``;
    ``g(c) = sum clip(...)`` is piecewise linear and nondecreasing, so ``c`` is found
    exactly between two breakpoints located by binary search (``O(D log D)``).
    """
    est, tau = _check_tau(estimate, tau)
    bps = np.unique(np.concatenate([-est, tau - est]))

    def g(c: float) -> float:
        return float(np.clip(est + c, 0.0, tau).sum())

    lo_i, hi_i = 0, bps.size - 1  # g(bps[0]) = 0 < 1 <= sum(tau) = g(bps[-1])
    while hi_i - lo_i > 1:  # binary search over the sorted breakpoints: O(D log D)
        mid = (lo_i + hi_i) // 2
        if g(bps[mid]) >= 1.0:
            hi_i = mid
        else:
            lo_i = mid
    g_lo, g_hi = g(bps[lo_i]), g(bps[hi_i])
    if g_hi == 1.0:
        c = bps[hi_i]
    else:  # g is linear between consecutive breakpoints
        c = bps[lo_i] + (1.0 - g_lo) * (bps[hi_i] - bps[lo_i]) / (g_hi - g_lo)
    return np.clip(est + c, 0.0, tau)


ESTIMATORS: dict[str, Callable[[ArrayLike, ArrayLike], Array]] = {
    "product": product,
    "sign": sign,
    "sign_cdf": sign_cdf,
    "sign_sign": sign_sign,
    "spearmanr": spearmanr,
}
PROJECTIONS: dict[str, Callable[[ArrayLike, ArrayLike], Array]] = {"linear": linear, "l2": l2}


def estimator(name: str) -> Callable[[ArrayLike, ArrayLike], Array]:
    """The estimator registered as ``name``; the error lists the registered ones."""
    if name not in ESTIMATORS:
        raise EstimatorError(f"unknown estimator {name!r}; registered: {sorted(ESTIMATORS)}")
    return ESTIMATORS[name]


def projection(name: str) -> Callable[[ArrayLike, ArrayLike], Array]:
    """The projection registered as ``name``; the error lists the registered ones."""
    if name not in PROJECTIONS:
        raise EstimatorError(f"unknown projection {name!r}; registered: {sorted(PROJECTIONS)}")
    return PROJECTIONS[name]
