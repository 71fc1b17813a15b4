"""The toy model of Sec. 6: known answers, peers (networkx), invariants and bad input."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest

from repro.entigraph import mixexp, toy


def _nx_reachable_fraction(adj: np.ndarray) -> float:
    g = nx.DiGraph()
    g.add_nodes_from(range(adj.shape[0]))
    g.add_edges_from(zip(*np.nonzero(adj)))
    n = adj.shape[0]
    total = sum(len(nx.descendants(g, x)) for x in range(n))
    return total / (n * (n - 1))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_reachable_fraction_equals_networkx(seed):
    adj = toy.random_digraph(40, 2.0 / 40, seed)
    assert toy.reachable_fraction(adj) == pytest.approx(_nx_reachable_fraction(adj), abs=1e-15)


def test_bfs_depth_is_shortest_path_length():
    adj = toy.random_digraph(30, 3.0 / 30, 5)
    g = nx.DiGraph(list(zip(*np.nonzero(adj))))
    forest = toy.bfs_forest(adj)
    for x in range(30):
        lengths = nx.single_source_shortest_path_length(g, x) if x in g else {x: 0}
        for z in range(30):
            assert forest.depth[x, z] == lengths.get(z, -1)


def test_path_graph_known_answer():
    # 0 -> 1 -> 2 -> 3: reachable ordered pairs 6 of 12; M0 has 3; the subtree of z in the tree of x has
    # 3 - z + ... vertices, so E[Acc] has a closed form we can write down.
    adj = np.zeros((4, 4), dtype=bool)
    adj[0, 1] = adj[1, 2] = adj[2, 3] = True
    assert toy.reachable_fraction(adj) == 0.5
    t = np.array([0, 1, 10, 1000])
    n = 12
    # unknown reachable pairs: (0,2) subtree {2,3} -> 2, (0,3) -> 1, (1,3) -> 1
    want = (3 + 3 - (1 - 2 / n) ** t - 2 * (1 - 1 / n) ** t) / n
    np.testing.assert_allclose(toy.expected_density(adj, t), want, rtol=0, atol=1e-15)
    sim = toy.simulate(adj, 5000, [0, 5000], seed=0)
    assert sim[0] == 0.25 and sim[1] == 0.5


def test_simulation_plateau_and_monotone():
    adj = toy.random_digraph(50, 3.0 / 50, 7)
    grid = [0, 10, 100, 1000, 10000, 60000]
    sim = toy.simulate(adj, 60000, grid, seed=7)
    assert np.all(np.diff(sim) >= 0)
    assert sim[0] == pytest.approx(adj.sum() / (50 * 49))
    assert sim[-1] == pytest.approx(toy.reachable_fraction(adj), abs=1e-15)


def test_simulation_deterministic_and_mean_matches_exact_expectation():
    adj = toy.random_digraph(25, 3.0 / 25, 1)
    grid = [50, 200, 800]
    a = toy.simulate(adj, 800, grid, seed=3)
    np.testing.assert_array_equal(a, toy.simulate(adj, 800, grid, seed=3))
    runs = np.array([toy.simulate(adj, 800, grid, seed=s) for s in range(300)])
    exact = toy.expected_density(adj, grid)
    se = runs.std(axis=0) / math.sqrt(len(runs))
    assert np.all(np.abs(runs.mean(axis=0) - exact) < 5 * se + 1e-12)


def test_notes_reference_trajectory():
    # The project notes' reference trajectory for V = 100, p = 0.03 (seed A): plateau 0.874.
    adj = toy.random_digraph(100, 0.03, 0)
    assert toy.reachable_fraction(adj) == pytest.approx(0.874, abs=5e-4)


def test_closed_forms():
    rho = toy.extinction_probability(3.0)
    assert rho == pytest.approx(math.exp(3.0 * (rho - 1.0)), abs=1e-14)
    assert rho == pytest.approx(0.0595, abs=5e-5)
    assert toy.c_lambda(3.0) == pytest.approx(0.8845, abs=5e-5)
    assert toy.extinction_probability(0.8) == 1.0


def test_progeny_pmf_known_answers():
    pmf = toy.progeny_pmfs(2.0, 3, n_points=1 << 12)
    np.testing.assert_allclose(pmf.sum(axis=1), 1.0, atol=1e-9)
    assert pmf[0, 1] == pytest.approx(1.0)
    # level 1: 1 + Poisson(2)
    assert pmf[1, 1] == pytest.approx(math.exp(-2.0), abs=1e-12)
    assert pmf[1, 3] == pytest.approx(math.exp(-2.0) * 2.0**2 / 2, abs=1e-12)
    # E[T_l] = sum_{i<=l} lambda^i
    mean = (pmf * np.arange(pmf.shape[1])).sum(axis=1)
    np.testing.assert_allclose(mean, [1, 3, 7, 15], rtol=1e-9)


def test_branching_approximation_limits():
    t = np.array([0.0, 1e9])
    approx = toy.branching_approximation(t, 100, 3.0, 0.03)
    assert approx[0] == pytest.approx(0.03, abs=1e-9)
    assert approx[1] == pytest.approx(0.03 + toy.c_lambda(3.0), abs=1e-3)
    with pytest.raises(ValueError, match="lambda > 1"):
        toy.branching_approximation(t, 100, 1.0, 0.01)


def test_bounds_ordered():
    lo, up = toy.theorem1_bounds(np.array([0, 10, 1e4, 1e7]), 100, 3.0, 0.03, 0.05)
    assert np.all(lo <= up)


def test_mixexp_recovers_parameters():
    t = np.logspace(0, 5, 50)
    y = mixexp.mixexp_curve(t, 0.1, 0.7, np.array([0.3, 0.7]), np.array([1e-2, 1e-4]))
    fit = mixexp.fit_mixexp(t, y, 2)
    assert fit.rmse < 1e-6
    assert fit.plateau == pytest.approx(0.8, abs=1e-4)
    with pytest.raises(ValueError, match="cannot fit"):
        mixexp.fit_mixexp(t[:3], y[:3], 2)


def test_mixexp_plateau_bound():
    # A curve still rising at the last point: the unbounded fit puts its plateau above 1, the bounded one at <= 1.
    t = np.array([0.0, 4, 8, 16, 32, 64])
    y = 0.2 + 0.006 * t
    free = mixexp.fit_mixexp(t, y, 1, p_fixed=0.2)
    bounded = mixexp.fit_mixexp(t, y, 1, p_fixed=0.2, max_plateau=1.0)
    assert free.plateau > 1.0
    assert bounded.plateau <= 1.0 + 1e-12
    assert bounded.rmse >= free.rmse - 1e-12
    # an inactive bound changes nothing
    y2 = mixexp.mixexp_curve(t, 0.2, 0.5, np.array([1.0]), np.array([0.05]))
    fit = mixexp.fit_mixexp(t, y2, 1, p_fixed=0.2, max_plateau=1.0)
    assert fit.plateau == pytest.approx(0.7, abs=1e-6)
    assert fit.rmse < 1e-8
    with pytest.raises(ValueError, match="max_plateau"):
        mixexp.fit_mixexp(t, y2, 1, p_fixed=1.0, max_plateau=1.0)


def test_loglinear_fit_slope_and_r2():
    tokens = np.array([4000, 8000, 16000, 32000, 64000])
    line = 0.1 + 0.2 * np.log10(tokens)
    slope, r2 = mixexp.loglinear_fit(tokens, line)
    assert slope == pytest.approx(0.2) and r2 == pytest.approx(1.0)
    # a curve that bends up on log tokens (accuracy linear in tokens) falls below the 0.9 bar of the claim
    slope, r2 = mixexp.loglinear_fit(tokens, 0.25 + tokens / 64000 * 0.5)
    assert slope > 0 and r2 < 0.9
    with pytest.raises(ValueError, match="at least 3"):
        mixexp.loglinear_fit(tokens[:2], line[:2])


def test_bad_input():
    with pytest.raises(ValueError, match="n_vertices"):
        toy.random_digraph(1, 0.5, 0)
    with pytest.raises(ValueError, match="square"):
        toy.bfs_forest(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="record_at"):
        toy.simulate(np.zeros((3, 3), dtype=bool), 10, [20], seed=0)
