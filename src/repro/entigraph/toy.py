"""The paper's mathematical model of EntiGraph (Sec. 6 and App. F), exactly.

Knowledge is a directed graph on ``V`` entities. The source corpus is a directed Erdős–Rényi graph: each
ordered pair ``(x, y)``, ``x != y``, is an edge with probability ``p = lambda / V`` (``lambda > 1``).
Continued pretraining is modelled as memorisation: the model knows the relations ``M_0`` (the 0/1
adjacency matrix of the source graph). EntiGraph is the process: at step ``t`` an ordered pair
``(x_t, y_t)`` is drawn uniformly among the ``V (V - 1)`` ordered pairs; if ``y_t`` is reachable from
``x_t`` in ``M_0``, a shortest path ``x_t -> z^1 -> ... -> z^k -> y_t`` is taken and the relations
``(x_t, z^1), ..., (x_t, z^k), (x_t, y_t)`` are added to the model's knowledge ``M_t``; otherwise nothing
happens. Accuracy is the link density ``Acc(M_t) = ||M_t||_1 / (V (V - 1))``.

The shortest path is the one of a breadth-first search tree of ``x`` in ``M_0`` (neighbours visited in
increasing order, a node's parent is its first discoverer), so the process is a deterministic function
of the sampled pairs. This makes the conditional expectation exact: ``M_t(x, z) = 1`` as soon as some
sampled pair ``(x, y)`` has ``y`` in the subtree of ``z`` in the BFS tree of ``x``, so with ``s_xz`` that
subtree's size and ``N = V (V - 1)``::

    E[Acc(M_t) | M_0] = ( |M_0| + sum_{(x, z) reachable, not in M_0} (1 - (1 - s_xz / N)^t) ) / N,

a mixture of exponentials whose plateau is the reachable-pair fraction (the deductive closure of
``M_0``). The paper approximates the subtree sizes with the total progeny of a Poisson(lambda) branching
process (:func:`branching_approximation`) and bounds the curve (:func:`theorem1_bounds`, Theorem 1), with
``C_lambda = (1 - rho)^2``, ``rho`` the extinction probability (:func:`extinction_probability`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from tqdm.auto import tqdm

__all__ = [
    "BFSForest",
    "bfs_forest",
    "branching_approximation",
    "c_lambda",
    "expected_density",
    "extinction_probability",
    "progeny_pmfs",
    "random_digraph",
    "reachable_fraction",
    "simulate",
    "theorem1_bounds",
]


def random_digraph(n_vertices: int, p: float, seed: int) -> np.ndarray:
    """Adjacency (bool ``[V, V]``, no self-loops) of a directed Erdős–Rényi graph: each ordered pair w.p. ``p``."""
    if n_vertices < 2:
        raise ValueError(f"n_vertices must be >= 2, got {n_vertices}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"edge probability p must be in [0, 1], got {p}")
    rng = np.random.default_rng(seed)
    adj = rng.random((n_vertices, n_vertices)) < p
    np.fill_diagonal(adj, False)
    return adj


@dataclass(frozen=True)
class BFSForest:
    """The BFS tree of every source in ``M_0``.

    ``parent[x, z]``: parent of ``z`` in the tree of ``x`` (``-1``: unreachable or ``z == x``);
    ``subtree[x, z]``: number of vertices in ``z``'s subtree (``0`` when unreachable);
    ``depth[x, z]``: shortest-path length (``-1`` when unreachable, ``0`` for ``z == x``).
    """

    parent: np.ndarray
    subtree: np.ndarray
    depth: np.ndarray

    @property
    def reachable(self) -> np.ndarray:
        """Bool ``[V, V]``: ``z`` reachable from ``x`` by a path of length >= 1 (``z != x``)."""
        return self.depth > 0


def bfs_forest(adj: np.ndarray) -> BFSForest:
    """Breadth-first search from every vertex (neighbours in increasing order; first discoverer is the parent)."""
    adj = np.asarray(adj, dtype=bool)
    if adj.ndim != 2 or adj.shape[0] != adj.shape[1]:
        raise ValueError(f"adjacency must be square, got shape {adj.shape}")
    n = adj.shape[0]
    nbrs = [np.flatnonzero(adj[i]).tolist() for i in range(n)]
    parent = np.full((n, n), -1, dtype=np.int64)
    depth = np.full((n, n), -1, dtype=np.int64)
    subtree = np.zeros((n, n), dtype=np.int64)
    for x in range(n):
        depth[x, x] = 0
        order = [x]
        queue = deque([x])
        while queue:
            u = queue.popleft()
            for v in nbrs[u]:
                if depth[x, v] < 0:
                    depth[x, v] = depth[x, u] + 1
                    parent[x, v] = u
                    order.append(v)
                    queue.append(v)
        size = subtree[x]
        for v in reversed(order):
            size[v] += 1
            if v != x:
                size[parent[x, v]] += size[v]
        size[x] = 0  # the root is not a target
    return BFSForest(parent=parent, subtree=subtree, depth=depth)


def reachable_fraction(adj: np.ndarray) -> float:
    """Fraction of the ``V (V - 1)`` ordered pairs ``(x, y)``, ``x != y``, with a path ``x -> y``: the plateau."""
    n = adj.shape[0]
    return float(bfs_forest(adj).reachable.sum()) / (n * (n - 1))


def _pair_paths(forest: BFSForest) -> list[list[np.ndarray]]:
    """``paths[x][y]``: the vertices ``z^1..z^k, y`` of the BFS shortest path ``x -> y`` (empty: unreachable)."""
    n = forest.parent.shape[0]
    out: list[list[np.ndarray]] = []
    empty = np.zeros(0, dtype=np.int64)
    for x in range(n):
        row: list[np.ndarray] = []
        par = forest.parent[x]
        for y in range(n):
            if y == x or forest.depth[x, y] < 0:
                row.append(empty)
                continue
            path = [y]
            while par[path[-1]] != x:
                path.append(int(par[path[-1]]))
            row.append(np.asarray(path[::-1], dtype=np.int64))
        out.append(row)
    return out


def simulate(adj: np.ndarray, n_steps: int, record_at: Sequence[int], seed: int, progress: bool = False) -> np.ndarray:
    """Run the EntiGraph process on ``M_0 = adj`` for ``n_steps``; the link density at each ``record_at`` step.

    ``record_at`` are step counts in ``[0, n_steps]`` (0 = the source graph's density ``||M_0|| / N``).
    Pairs are drawn with ``numpy.random.default_rng(seed)``: same graph and seed, same trajectory.
    """
    adj = np.asarray(adj, dtype=bool)
    n = adj.shape[0]
    n_pairs = n * (n - 1)
    record = sorted({int(t) for t in record_at})
    if record and (record[0] < 0 or record[-1] > n_steps):
        raise ValueError(f"record_at must lie in [0, n_steps={n_steps}], got {record[0]}..{record[-1]}")
    paths = _pair_paths(bfs_forest(adj))
    known = adj.copy()
    count = int(known.sum())
    rng = np.random.default_rng(seed)
    x_all = rng.integers(0, n, size=n_steps)
    y_all = rng.integers(0, n - 1, size=n_steps)
    y_all = y_all + (y_all >= x_all)  # uniform over y != x
    values = {}
    nxt = 0
    if record and record[0] == 0:
        values[0] = count / n_pairs
        nxt = 1
    steps = tqdm(range(n_steps), desc="entigraph process", mininterval=5.0, disable=not progress)
    for t in steps:
        path = paths[x_all[t]][y_all[t]]
        if path.size:
            row = known[x_all[t]]
            new = path[~row[path]]
            if new.size:
                row[new] = True
                count += int(new.size)
        while nxt < len(record) and record[nxt] == t + 1:
            values[record[nxt]] = count / n_pairs
            nxt += 1
    return np.array([values[int(t)] for t in record_at], dtype=float)


def expected_density(adj: np.ndarray, t: Sequence[float] | np.ndarray) -> np.ndarray:
    """Exact ``E[Acc(M_t) | M_0]`` (module docstring): a mixture of exponentials in ``t`` over subtree sizes."""
    adj = np.asarray(adj, dtype=bool)
    n = adj.shape[0]
    n_pairs = n * (n - 1)
    forest = bfs_forest(adj)
    unknown = forest.reachable & ~adj
    sizes, counts = np.unique(forest.subtree[unknown], return_counts=True)
    t = np.asarray(t, dtype=float)
    log_keep = np.log1p(-sizes / n_pairs)  # per-step probability that no pair of the subtree is drawn
    missing = (counts[None, :] * np.exp(np.outer(t, log_keep))).sum(axis=1)
    return (adj.sum() + unknown.sum() - missing) / n_pairs


def extinction_probability(lam: float) -> float:
    """``rho(lambda)``: the smallest root in [0, 1] of ``rho = exp(lambda (rho - 1))`` (Poisson branching)."""
    if lam <= 1.0:
        return 1.0
    return float(brentq(lambda r: r - math.exp(lam * (r - 1.0)), 0.0, 1.0 - 1e-12, xtol=1e-15, rtol=1e-15))


def c_lambda(lam: float) -> float:
    """``C_lambda = (1 - rho(lambda))^2``: the asymptotic reachable-pair fraction (the plateau)."""
    return (1.0 - extinction_probability(lam)) ** 2


def progeny_pmfs(lam: float, max_level: int, n_points: int = 1 << 16) -> np.ndarray:
    """``pmf[l, k]``: P(total progeny of generations 0..l of a Poisson(lambda) Galton-Watson tree = k).

    Computed on the unit circle by FFT from the generating function ``G_l(s) = s exp(lambda (G_{l-1}(s) - 1))``,
    ``G_0(s) = s``; mass beyond ``n_points - 1`` would alias, so keep ``E[T_l]`` well below ``n_points``.
    """
    s = np.exp(2j * np.pi * np.arange(n_points) / n_points)
    g = s.copy()
    out = np.zeros((max_level + 1, n_points))
    for level in range(max_level + 1):
        if level > 0:
            g = s * np.exp(lam * (g - 1.0))
        pmf = np.fft.fft(g).real / n_points  # coefficients of a polynomial evaluated at exp(+2 pi i j / M)
        out[level] = np.clip(pmf, 0.0, None)
    return out


def branching_approximation(
    t: Sequence[float] | np.ndarray, n_vertices: int, lam: float, p: float, n_points: int = 1 << 16
) -> np.ndarray:
    """The paper's mixture-of-exponentials approximation of the link density (Sec. 6.2)::

        Acc(M_t) ~ p + C_lambda (1 - sum_{l>=0} ((lambda-1)/lambda^(l+1)) sum_{k>=1} p_l(k) (1 - k/(V(V-1)))^t)

    with ``p_l`` the pmf of the total progeny up to level ``l`` (:func:`progeny_pmfs`). Levels whose mean
    progeny exceeds ``n_points / 8`` are folded into the deepest computed level (their total weight is
    ``lambda^-(L+1)``), which keeps the value at ``t = 0`` exactly ``p``.
    """
    if lam <= 1.0:
        raise ValueError(f"the approximation needs lambda > 1, got {lam}")
    n_pairs = n_vertices * (n_vertices - 1)
    max_level = 0
    while (lam ** (max_level + 2) - 1) / (lam - 1) <= n_points / 8:
        max_level += 1
    pmfs = progeny_pmfs(lam, max_level, n_points)
    k = np.arange(n_points, dtype=float)
    base = np.clip(1.0 - k / n_pairs, 0.0, None)
    t = np.asarray(t, dtype=float)
    powers = np.power(base[None, :], t[:, None])  # [T, K]; 0^0 = 1 at t = 0
    weights = (lam - 1.0) / lam ** (np.arange(max_level + 1) + 1.0)
    weights[-1] += lam ** -(max_level + 1.0)  # the deeper levels' weight, with the deepest computed pmf
    mix = powers @ (pmfs * weights[:, None]).T  # [T, L]
    return p + c_lambda(lam) * (1.0 - mix.sum(axis=1))


def theorem1_bounds(
    t: Sequence[float] | np.ndarray, n_vertices: int, lam: float, p: float, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """Theorem 1's lower and upper curves (w.p. -> 1 as V -> infinity, for any eps > 0)::

    (p + C_lambda (1 - C_LB^t)) (1 - eps) <= Acc(M_t) <= (p + C_lambda (1 - C_UB^t)) (1 + eps),
    C_LB = 1 - 1/(V(V-1)),  C_UB = 1 - (1 + eps) log V / (V(V-1) log lambda).
    """
    n_pairs = n_vertices * (n_vertices - 1)
    t = np.asarray(t, dtype=float)
    cl = c_lambda(lam)
    c_lb = 1.0 - 1.0 / n_pairs
    c_ub = 1.0 - (1.0 + eps) * math.log(n_vertices) / (n_pairs * math.log(lam))
    lower = (p + cl * (1.0 - c_lb**t)) * (1.0 - eps)
    upper = (p + cl * (1.0 - c_ub**t)) * (1.0 + eps)
    return lower, upper
