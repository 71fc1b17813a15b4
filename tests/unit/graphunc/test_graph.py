"""Graph construction and centralities (Sec. 3): invariants, networkx equality, and the released scores."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from repro.graphunc.data import load_prompts
from repro.graphunc.graph import (
    bipartite_closeness,
    build_graph,
    claim_centralities,
    closeness_with_node_confidence,
    self_consistency,
)


def _random_matrix(rng, g, c, p):
    return (rng.random((g, c)) < p).astype(float)


@pytest.mark.parametrize("seed", range(40))
def test_bipartite_closeness_equals_networkx(seed):
    rng = np.random.default_rng(seed)
    g, c = int(rng.integers(1, 8)), int(rng.integers(1, 40))
    m = _random_matrix(rng, g, c, float(rng.choice([0.05, 0.2, 0.5, 0.9])))  # sparse ones are disconnected
    ref = nx.closeness_centrality(build_graph(m))
    ours = bipartite_closeness(m)
    assert np.array_equal(ours, np.array([ref[g + i] for i in range(c)]))  # bit-exact, not approximately


def test_closeness_edge_cases():
    assert bipartite_closeness(np.zeros((3, 0))).shape == (0,)
    assert np.array_equal(bipartite_closeness(np.zeros((2, 3))), np.zeros(3))  # isolated claims
    # one generation supporting both claims: r = 2 reachable at total distance 1 + 2, n - 1 = 2 -> (2/3) * (2/2)
    assert bipartite_closeness(np.ones((1, 2))) == pytest.approx([2 / 3, 2 / 3])


def test_bad_matrix_is_rejected():
    with pytest.raises(ValueError, match="0/1"):
        bipartite_closeness(np.array([[0.5, 1.0]]))
    with pytest.raises(ValueError, match="2-D"):
        build_graph(np.ones(3))
    with pytest.raises(ValueError, match="one value per claim"):
        closeness_with_node_confidence(np.ones((2, 3)), np.ones(2))


def test_closeness_with_confidence_one_equals_closeness():
    rng = np.random.default_rng(0)
    m = _random_matrix(rng, 5, 20, 0.5)
    # VC = 1 adds nothing: the same as closeness up to the order of floating-point operations
    assert closeness_with_node_confidence(m, np.ones(20)) == pytest.approx(bipartite_closeness(m), rel=1e-15)
    lower = closeness_with_node_confidence(m, np.full(20, 0.5))
    assert np.all(lower <= bipartite_closeness(m))


def test_self_consistency_is_scaled_degree():
    rng = np.random.default_rng(1)
    m = _random_matrix(rng, 4, 9, 0.5)
    deg = nx.degree_centrality(build_graph(m))
    n = m.shape[0] + m.shape[1]
    np.testing.assert_allclose(self_consistency(m) * m.shape[0] / (n - 1), [deg[4 + i] for i in range(9)])


@pytest.mark.parametrize("name", ["matrix_factscore_gpt4_s5", "matrix_popqa_gpt35_s5"])
def test_released_centralities_bit_exact(released, name):
    """Known answer: every stored per-claim centrality of the released files, reproduced exactly."""
    prompts = load_prompts(released[name], 5)
    n = 0
    for p in prompts:
        c = claim_centralities(p.matrix, p.vc)
        assert c.eigenvector is not None
        for method in ("sc", "closeness", "betweenness", "eigenvector", "pagerank", "closeness_vc"):
            assert np.array_equal(getattr(c, method), p.stored[method]), (p.entity, method)
        n += p.matrix.shape[1]
    assert n > 2500
