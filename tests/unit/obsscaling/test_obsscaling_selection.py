"""repro.obsscaling.selection: V-optimal family subsets (Sec. 5) against the authors' printed results."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from repro.common.scorecard import check_partial

from repro.common.lowrank import fit_pca
from repro.obsscaling.data import EVAL_FAMILIES, FAMILY, FLOPS, merge_on_model, read_table, select_models
from repro.obsscaling.selection import best_subset, random_subsets, search_family_subsets


@pytest.fixture(scope="module")
def pool(obs_data, obs_params):
    bench = obs_params["benchmarks"]["default"]
    df = merge_on_model(select_models(read_table(obs_data["base_eval"])), read_table(obs_data["post_training"]))
    pool = df[df[FLOPS] <= 84].dropna(subset=bench).reset_index(drop=True)
    x = pool[bench].to_numpy(float)
    return pool, fit_pca(x, 5).transform(x)[:, :3]


@pytest.fixture(scope="module")
def search(pool):
    df, scores = pool
    return search_family_subsets(scores, df[FAMILY].tolist(), EVAL_FAMILIES, max_families=10)


def test_pool_and_search_size(pool, search):
    assert len(pool[0]) == 45 and len(search.families) == 14
    assert search.n_subsets == 15913  # sum_{k=1..10} C(14, k), as printed in the notebook


@pytest.mark.parametrize("budget", [4, 8, 12])
def test_best_subsets_match_references(search, expected, budget):
    """Objective and family set of the V-optimal subset (references: workflow/expected/obsscaling.yaml)."""
    best = best_subset(search, budget)
    numbers = {
        f"subset_selection.budget{budget}.objective": best.objective,
        f"subset_selection.budget{budget}.families": list(best.families),
    }
    compared, failures = check_partial(expected, numbers, "tiny")
    assert compared == 2 and not failures, failures
    assert best.n_models == budget


def test_budget4_models(search, pool):
    best = best_subset(search, 4)
    models = sorted(pool[0].loc[pool[0][FAMILY].isin(best.families), "Model"])
    assert models == ["bigcode/starcoder2-3b", "microsoft/phi-1_5", "microsoft/phi-2", "mosaicml/mpt-7b"]


def test_random_baseline_matches_notebook_first_draw(search, expected):
    draws = random_subsets(search, 4, 5, grace=2, min_models=3, seed=0)
    compared, failures = check_partial(
        expected, {"subset_selection.random.budget4.objective_draw0": draws[0].objective}, "tiny"
    )
    assert compared == 1 and not failures, failures
    assert all(3 <= d.n_models <= 4 for d in draws)
    assert random_subsets(search, 4, 5, seed=0) == draws  # deterministic
    assert random_subsets(search, 4, 5, seed=1) != draws


def test_vectorised_objective_equals_direct_computation(pool):
    df, scores = pool
    small = search_family_subsets(scores, df[FAMILY].tolist(), EVAL_FAMILIES, max_families=3)
    fams = np.asarray(df[FAMILY])
    g_all = scores.T @ scores
    for i in range(0, small.n_subsets, 37):
        c = small.choice(i)
        xs = scores[np.isin(fams, c.families)]
        direct = -np.trace(g_all @ np.linalg.inv(xs.T @ xs)) if len(xs) >= 3 else -np.inf
        assert c.objective == pytest.approx(direct, rel=1e-10)
        assert c.n_models == len(xs)
    n = len(small.families)
    assert small.n_subsets == sum(len(list(itertools.combinations(range(n), k))) for k in (1, 2, 3))


def test_include_families_and_errors(pool):
    df, scores = pool
    s = search_family_subsets(scores, df[FAMILY].tolist(), EVAL_FAMILIES, max_families=3, include=("Llama-2",))
    assert all("Llama-2" in s.choice(i).families for i in range(s.n_subsets))
    assert s.choice(0).families[-1] == "Llama-2"
    with pytest.raises(ValueError, match="no feasible"):
        best_subset(s, 1)
    with pytest.raises(ValueError, match="include"):
        search_family_subsets(scores, df[FAMILY].tolist(), EVAL_FAMILIES, include=("Mistral",))
    with pytest.raises(ValueError, match="exceed"):
        search_family_subsets(scores, df[FAMILY].tolist(), EVAL_FAMILIES, max_families=10, max_subsets=100)
    with pytest.raises(ValueError, match="not in the search order"):
        search_family_subsets(scores, df[FAMILY].tolist(), ("Llama-2",))
    with pytest.raises(IndexError):
        s.choice(s.n_subsets)


def test_subsets_with_too_few_models_are_infeasible():
    scores = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    s = search_family_subsets(scores, ["a", "b", "b"], ("a", "b"), max_families=2)
    objectives = {s.choice(i).families: s.choice(i).objective for i in range(s.n_subsets)}
    assert objectives[("a",)] == -np.inf  # 1 model < 2 PCs
    assert np.isfinite(objectives[("b",)]) and np.isfinite(objectives[("a", "b")])
    assert objectives[("a", "b")] == pytest.approx(-2.0)  # selecting everything: -tr(I) = -n_pcs
