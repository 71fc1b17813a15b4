"""Benchmark: closeness centrality of every claim in one large bipartite generation-claim graph.

Jiang et al. 2024 (Sec. 3.2) read closeness centrality at the claim nodes. networkx runs
one BFS per node over the whole graph (``O(n (n + m))``); :func:`repro.graphunc.graph.
bipartite_closeness` uses the bipartite structure: claims with the same neighbour set
(a subset of the ``g`` generations) have the same distances, so it works on at most
``min(c, 2^g)`` groups and a ``g x g`` generation distance matrix.

Goal: 10,000 claims and 10 generations in under 2 s. The result is checked for
bit-equality with ``networkx.closeness_centrality`` on small graphs here (and in the unit
tests), and on a 1,000-claim graph against networkx with its time recorded.

    .venv/bin/python benchmarks/graphunc_closeness.py [--claims 10000] [--generations 10]

Writes ``benchmarks/results/graphunc_closeness.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import networkx as nx
import numpy as np

from repro.common.io import write_json
from repro.common.machine import timing_context
from repro.graphunc.graph import bipartite_closeness, build_graph


def _matrix(rng: np.random.Generator, g: int, c: int) -> np.ndarray:
    # claims supported by a random number of generations (like self-consistency 0.1 .. 1.0)
    p = rng.uniform(0.05, 1.0, size=c)
    return (rng.random((g, c)) < p).astype(float)


def _timed(fn, *args, repeats: int = 3) -> tuple[float, float, object]:
    wall, cpu, out = [], [], None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn(*args)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return min(wall), min(cpu), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--claims", type=int, default=10_000)
    ap.add_argument("--generations", type=int, default=10)
    ap.add_argument("--check-claims", type=int, default=1_000, help="graph size for the networkx comparison")
    ap.add_argument("--out", default="benchmarks/results/graphunc_closeness.json")
    args = ap.parse_args()
    machine = timing_context()  # before the timings: the speed probe takes about a second
    rng = np.random.default_rng(0)

    for seed in range(20):  # small graphs: bit-equality with networkx
        r = np.random.default_rng(seed)
        m = _matrix(r, int(r.integers(1, 11)), int(r.integers(1, 60)))
        ref = nx.closeness_centrality(build_graph(m))
        assert np.array_equal(bipartite_closeness(m), [ref[m.shape[0] + i] for i in range(m.shape[1])])

    m_check = _matrix(rng, args.generations, args.check_claims)
    nx_wall, nx_cpu, ref = _timed(lambda: nx.closeness_centrality(build_graph(m_check)), repeats=1)
    ours = bipartite_closeness(m_check)
    g = args.generations
    equal = bool(np.array_equal(ours, [ref[g + i] for i in range(args.check_claims)]))

    m = _matrix(rng, args.generations, args.claims)
    wall, cpu, scores = _timed(bipartite_closeness, m)
    record = {
        "benchmark": "graphunc closeness centrality, bipartite method",
        "claims": args.claims,
        "generations": args.generations,
        "edges": int(m.sum()),
        "wall_s": wall,
        "cpu_s": cpu,
        "goal_s": 2.0,
        "meets_goal": wall < 2.0,
        "networkx_check": {
            "claims": args.check_claims,
            "bit_equal": equal,
            "networkx_wall_s": nx_wall,
            "networkx_cpu_s": nx_cpu,
        },
        "small_graphs_bit_equal": 20,
        "machine": machine,
    }
    write_json(Path(args.out), record)
    print(record)
    assert equal and np.isfinite(scores).all()


if __name__ == "__main__":
    main()
