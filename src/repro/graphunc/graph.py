"""The bipartite generation-claim graph and its claim centralities (Jiang et al. 2024, Sec. 3).

A prompt with ``g`` generations and ``c`` merged claims gives the 0/1 entailment matrix
``M`` (``g x c``; ``M[j, i] = 1`` when generation ``j`` supports claim ``i``). The graph is
undirected and unweighted, nodes ``0..g-1`` are the generations and ``g..g+c-1`` the
claims, and ``A = [[0, M], [M^T, 0]]`` (Sec. 3.1). Claim-level uncertainty is a centrality
of the claim node (Sec. 3.2): degree (= self-consistency, the column mean of ``M``),
closeness, betweenness, eigenvector and PageRank centrality, all with networkx's defaults,
and closeness with verbalised confidence on the claim nodes (``C_C + VC``, Sec. 3.3).

:func:`bipartite_closeness` computes closeness without all-pairs BFS on the full graph:
the distance between two claims depends only on their neighbour sets (subsets of the
``g`` generations), so claims are grouped by neighbour set and distances are computed
between the (at most ``min(c, 2^g)``) groups through a ``g x g`` generation distance
matrix. It equals networkx's ``closeness_centrality`` bit for bit (same floating-point
operations), which the unit tests check.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

__all__ = [
    "CENTRALITIES",
    "Centralities",
    "build_graph",
    "self_consistency",
    "bipartite_closeness",
    "closeness_with_node_confidence",
    "claim_centralities",
]

# Methods read off the graph (Sec. 3.2), in the paper's order.
CENTRALITIES = ("sc", "closeness", "betweenness", "eigenvector", "pagerank", "closeness_vc")


def _check_matrix(matrix: np.ndarray) -> np.ndarray:
    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2:
        raise ValueError(f"entailment matrix must be 2-D (generations x claims), got shape {m.shape}")
    if m.size and not np.isin(m, (0.0, 1.0)).all():
        raise ValueError("entailment matrix must hold only 0/1 entries")
    return m


def build_graph(matrix: np.ndarray) -> nx.Graph:
    """The bipartite graph of Sec. 3.1: generation nodes ``0..g-1``, claim nodes ``g..g+c-1``.

    Edges are added claim by claim, generation by generation, so that networkx's
    adjacency order (which decides tie-breaking in shortest paths) is fixed.
    """
    m = _check_matrix(matrix)
    g, c = m.shape
    graph = nx.Graph()
    graph.add_nodes_from(range(g + c))
    for j in range(g):
        for i in range(c):
            if m[j, i] == 1:
                graph.add_edge(j, g + i)
    return graph


def self_consistency(matrix: np.ndarray) -> np.ndarray:
    """Degree centrality up to a constant: the fraction of generations that support each claim."""
    m = _check_matrix(matrix)
    return m.mean(axis=0)


def _generation_distances(m: np.ndarray) -> np.ndarray:
    """Shortest-path lengths between generation nodes in the bipartite graph (inf: unreachable).

    Two generations sharing a claim are at distance 2; BFS over the ``g``-node
    projection (``g`` is small: 5 or 10 in the paper).
    """
    g = m.shape[0]
    share = (m @ m.T) > 0
    dist = np.full((g, g), np.inf)
    for s in range(g):
        dist[s, s] = 0.0
        frontier, seen, hops = [s], {s}, 0
        while frontier:
            hops += 1
            nxt = []
            for u in frontier:
                for v in np.flatnonzero(share[u]):
                    if v not in seen:
                        seen.add(int(v))
                        dist[s, v] = 2.0 * hops
                        nxt.append(int(v))
            frontier = nxt
    return dist


def bipartite_closeness(matrix: np.ndarray) -> np.ndarray:
    """Closeness centrality of every claim node (networkx defaults, Wasserman-Faust scaling).

    For claim ``u`` with ``r`` reachable other nodes at total distance ``D`` in a graph of
    ``n`` nodes: ``(r / D) * (r / (n - 1))`` (0 for an isolated claim). Claims are grouped by
    neighbour set; for groups ``a`` and ``b`` with neighbour sets ``A`` and ``B`` the
    claim-claim distance is ``2 + min_{j in A, k in B} d(j, k)`` (``2`` inside one group,
    ``0`` to itself) and the claim-generation distance ``1 + min_{j in A} d(j, k)``.
    Cost ``O(g^2 c + k^2 g^2)`` with ``k <= min(c, 2^g)`` distinct neighbour sets.
    """
    m = _check_matrix(matrix)
    g, c = m.shape
    n = g + c
    if c == 0:
        return np.zeros(0)
    dgen = _generation_distances(m)
    keys, inverse, counts = np.unique(m.T.astype(np.int8), axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    k = keys.shape[0]
    # distance from each neighbour-set group to each generation: 1 + min over its neighbours
    to_gen = np.full((k, g), np.inf)
    for a in range(k):
        nb = np.flatnonzero(keys[a])
        if nb.size:
            to_gen[a] = 1.0 + dgen[nb].min(axis=0)
    # group-to-group claim distances: 1 + min_k (distance of group b's claims to generation k) over k in A
    dist_claims = np.full((k, k), np.inf)
    for a in range(k):
        nb = np.flatnonzero(keys[a])
        if nb.size:
            dist_claims[a] = 1.0 + to_gen[:, nb].min(axis=1)
    out = np.zeros(k)
    for a in range(k):
        reach_g = np.isfinite(to_gen[a])
        reach_c = np.isfinite(dist_claims[a])
        # other claims of the same group are at distance 2; the node itself is excluded
        r = int(reach_g.sum()) + int(counts[reach_c].sum()) - (1 if reach_c[a] else 0)
        total = int(to_gen[a, reach_g].sum()) + int((dist_claims[a, reach_c] * counts[reach_c]).sum())
        total -= 2 if reach_c[a] else 0  # the claim itself was counted once at distance 2
        if r > 0 and total > 0:
            value = r / total  # networkx: (len(sp) - 1.0) / totsp, then *= (len(sp) - 1.0) / (n - 1)
            value *= r / (n - 1)
            out[a] = value
    return out[inverse]


def closeness_with_node_confidence(matrix: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """``C_C + VC`` (Sec. 3.3): closeness where each claim node on a path adds ``1 - VC``.

    For claim ``u`` and every other reachable node ``t``, one shortest path is taken with
    networkx's bidirectional BFS (``nx.shortest_path``, whose tie-breaking fixes which
    claims the path visits); the path's cost is its length plus ``1 - VC`` of every claim
    node on it, endpoints included (a VC of -1, a parse failure, adds 2). The score is
    ``(r / (n - 1)) * r / D`` with ``D`` the summed costs, as for closeness.
    """
    m = _check_matrix(matrix)
    g, c = m.shape
    conf = np.asarray(confidence, dtype=float)
    if conf.shape != (c,):
        raise ValueError(f"confidence must hold one value per claim ({c}), got shape {conf.shape}")
    graph = build_graph(m)
    n = g + c
    penalty = {g + i: 1.0 - conf[i] for i in range(c)}
    out = np.zeros(c)
    for i in range(c):
        u = g + i
        reachable = nx.node_connected_component(graph, u)
        r = len(reachable) - 1
        if r == 0:
            continue
        total = 0.0
        for t in sorted(reachable):
            if t == u:
                continue
            path = nx.shortest_path(graph, u, t)
            cost = float(np.sum([penalty[v] for v in path if v >= g]))
            total += (len(path) - 1) + cost
        if total > 0:
            # the order of the floating-point operations follows the stored scores: ((r / (n-1)) * r) / D
            out[i] = r / (n - 1) * r / total
    return out


@dataclass(frozen=True)
class Centralities:
    """Per-claim scores of one prompt's graph (arrays of length ``c``); eigenvector is None on failure."""

    sc: np.ndarray
    closeness: np.ndarray
    betweenness: np.ndarray
    eigenvector: np.ndarray | None
    pagerank: np.ndarray
    closeness_vc: np.ndarray


def claim_centralities(
    matrix: np.ndarray, confidence: np.ndarray, use_networkx_closeness: bool = False
) -> Centralities:
    """Every graph score of Sec. 3.2-3.3 for one prompt, read at the claim nodes.

    Eigenvector centrality uses ``max_iter=5000``; when power iteration does not converge
    the paper marks all claims with -1 (dropped in evaluation): here ``None``.
    """
    m = _check_matrix(matrix)
    g, c = m.shape
    graph = build_graph(m)
    claims = range(g, g + c)
    if use_networkx_closeness:
        cc = nx.closeness_centrality(graph)
        closeness = np.array([cc[v] for v in claims])
    else:
        closeness = bipartite_closeness(m)
    bc = nx.betweenness_centrality(graph)
    try:
        ec = nx.eigenvector_centrality(graph, max_iter=5000)
        eigen: np.ndarray | None = np.array([ec[v] for v in claims])
    except (nx.PowerIterationFailedConvergence, nx.NetworkXException):
        eigen = None
    pr = nx.pagerank(graph, max_iter=5000)
    return Centralities(
        sc=self_consistency(m),
        closeness=closeness,
        betweenness=np.array([bc[v] for v in claims]),
        eigenvector=eigen,
        pagerank=np.array([pr[v] for v in claims]),
        closeness_vc=closeness_with_node_confidence(m, confidence),
    )
