"""V-optimal selection of model families to evaluate (Ruan et al. 2024, Sec. 5).

Choosing which models to evaluate is an experimental-design problem on the
capability space: with PC scores X of all candidate models, a subset S should
minimise the average prediction variance of a linear model fitted on S,
``tr(X^T X (X_S^T X_S)^{-1})`` (V-optimality). The search is over whole model
families (a chosen family brings all its models; the budget counts models) and
is exhaustive over combinations of up to ``max_families`` families. The search
is vectorised: each family's Gram matrix is computed once and summed per subset.

A random baseline draws family combinations whose model count lies in
``[budget - grace, budget]`` (and is at least ``min_models``), by shuffling the
enumerated combinations with a seeded ``random.Random``.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["SubsetSearch", "SubsetChoice", "search_family_subsets", "best_subset", "random_subsets"]


@dataclass(frozen=True)
class SubsetChoice:
    """One family subset: its families (in search order), model count and objective."""

    families: tuple[str, ...]
    n_models: int
    objective: float


@dataclass(frozen=True)
class SubsetSearch:
    """All enumerated family subsets, in enumeration order."""

    families: tuple[str, ...]  # candidate families, in search order
    family_sizes: np.ndarray  # models per candidate family
    members: list[np.ndarray]  # per subset size: (n_subsets, size) family indices
    n_models: np.ndarray  # (n_subsets_total,) models per subset
    objective: np.ndarray  # (n_subsets_total,) -tr(G_all G_S^-1); -inf when singular

    @property
    def n_subsets(self) -> int:
        return int(self.objective.size)

    def choice(self, i: int) -> SubsetChoice:
        """The ``i``-th subset in enumeration order."""
        j = i
        for block in self.members:
            if j < len(block):
                fams = tuple(self.families[f] for f in block[j])
                return SubsetChoice(fams, int(self.n_models[i]), float(self.objective[i]))
            j -= len(block)
        raise IndexError(i)


def _batched_objective(g_all: np.ndarray, g_sub: np.ndarray, n_models: np.ndarray, n_pcs: int) -> np.ndarray:
    """-tr(G_all @ inv(G_S)) per subset; -inf for subsets with fewer models than PCs or singular."""
    out = np.full(len(g_sub), -np.inf)
    ok = n_models >= n_pcs
    if ok.any():
        sub = g_sub[ok]
        det = np.linalg.det(sub)
        scale = np.abs(sub).max(axis=(1, 2)) ** n_pcs
        invertible = np.abs(det) > 1e-12 * np.where(scale > 0, scale, 1.0)
        vals = np.full(len(sub), -np.inf)
        if invertible.any():
            inv = np.linalg.inv(sub[invertible])
            vals[invertible] = -np.einsum("ij,nji->n", g_all, inv)
        out[ok] = vals
    return out


def search_family_subsets(
    scores: np.ndarray,
    row_families: Sequence[str],
    family_order: Sequence[str],
    *,
    max_families: int = 10,
    include: Sequence[str] = (),
    max_subsets: int = 10_000_000,
) -> SubsetSearch:
    """Evaluate the V-optimality objective for every family subset of up to ``max_families``.

    ``scores`` (n_models, n_pcs) are the capability-space coordinates of the
    candidate models, ``row_families`` their family names. Candidate families
    are those of ``family_order`` present in ``row_families`` (in that order);
    ``include`` families are always part of the subset (appended after the others).
    """
    scores = np.asarray(scores, dtype=float)
    row_families = np.asarray(row_families)
    n_pcs = scores.shape[1]
    present = set(row_families.tolist())
    unknown = present - set(family_order)
    if unknown:
        raise ValueError(f"families not in the search order: {sorted(unknown)}")
    families = [f for f in family_order if f in present]
    for f in include:
        if f not in families:
            raise ValueError(f"include family {f!r} has no candidate model")
    free = [f for f in families if f not in include]
    order = free + list(include)  # include families are appended after the free ones
    grams = np.stack([scores[row_families == f].T @ scores[row_families == f] for f in order])
    sizes = np.array([(row_families == f).sum() for f in order])
    g_all = scores.T @ scores
    n_free = len(free)
    inc_idx = np.arange(n_free, len(order))
    max_free = max_families - len(include)
    total = sum(math.comb(n_free, k) for k in range(1, max_free + 1))
    if total > max_subsets:
        raise ValueError(f"{total} family subsets exceed max_subsets={max_subsets}; lower max_families")
    members, n_models_all, obj_all = [], [], []
    g_inc = grams[inc_idx].sum(axis=0) if len(inc_idx) else np.zeros_like(g_all)
    n_inc = int(sizes[inc_idx].sum())
    for k in range(1, max_free + 1):
        combos = np.fromiter(
            itertools.chain.from_iterable(itertools.combinations(range(n_free), k)), dtype=np.int64
        ).reshape(-1, k)
        if not len(combos):
            continue
        g_sub = grams[combos].sum(axis=1) + g_inc
        n_models = sizes[combos].sum(axis=1) + n_inc
        members.append(np.hstack([combos, np.broadcast_to(inc_idx, (len(combos), len(inc_idx)))]))
        n_models_all.append(n_models)
        obj_all.append(_batched_objective(g_all, g_sub, n_models, n_pcs))
    return SubsetSearch(
        families=tuple(order),
        family_sizes=sizes,
        members=members,
        n_models=np.concatenate(n_models_all) if n_models_all else np.zeros(0, dtype=int),
        objective=np.concatenate(obj_all) if obj_all else np.zeros(0),
    )


def best_subset(search: SubsetSearch, budget: int) -> SubsetChoice:
    """The subset with the largest objective among those with at most ``budget`` models.

    Ties go to the subset enumerated first.
    """
    feasible = np.flatnonzero(search.n_models <= budget)
    if not len(feasible) or not np.isfinite(search.objective[feasible]).any():
        raise ValueError(f"no feasible family subset within a budget of {budget} models")
    best = feasible[np.argmax(search.objective[feasible])]  # argmax: first maximum
    return search.choice(int(best))


def random_subsets(
    search: SubsetSearch, budget: int, n_draws: int, *, grace: int = 2, min_models: int = 3, seed: int = 0
) -> list[SubsetChoice]:
    """``n_draws`` random subsets with ``max(budget - grace, min_models) <= n_models <= budget``.

    The eligible subsets are listed in enumeration order and shuffled with
    ``random.Random(seed)`` (reseeded per budget); the first ``n_draws`` are returned.
    """
    lo = max(budget - grace, min_models)
    eligible = [int(i) for i in np.flatnonzero((search.n_models <= budget) & (search.n_models >= lo))]
    if len(eligible) < n_draws:
        raise ValueError(f"only {len(eligible)} subsets with {lo}..{budget} models; need {n_draws}")
    random.Random(seed).shuffle(eligible)
    return [search.choice(i) for i in eligible[:n_draws]]
