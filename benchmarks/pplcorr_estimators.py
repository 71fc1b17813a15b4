"""Benchmark: every pplcorr estimator on 90 LLMs x 100,000 texts (goal: < 10 s each on this machine).

Usage: PYTHONPATH=src python benchmarks/pplcorr_estimators.py [--texts 100000] [--llms 90]
Writes benchmarks/results/pplcorr_estimators.json (wall and CPU seconds per estimator). The entry
``sign_sign_float64_pairwise`` times the previous implementation of ``sign_sign`` (float64 pairwise
sign products, one row at a time) on the same inputs, as the "before" of the int8 dense-rank version,
and checks that both agree exactly. The machine is shared: compare CPU seconds, not only wall time.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from repro.common.io import write_json
from repro.common.machine import timing_context
from repro.pplcorr.estimators import ESTIMATORS, l2, linear


def sign_sign_float64_pairwise(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The former ``sign_sign``: ``O(N^2 D)`` float64 sign products, one row at a time (the "before")."""
    n = X.shape[0]
    out = np.zeros(X.shape[1])
    for l in range(1, n):
        out += np.sign(y[l] - y[:l]) @ np.sign(X[l] - X[:l])
    return 2.0 / (n * (n - 1)) * out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--llms", type=int, default=90)
    ap.add_argument("--texts", type=int, default=100_000)
    ap.add_argument("--out", default="benchmarks/results/pplcorr_estimators.json")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    X = rng.uniform(0.5, 1.5, size=(args.llms, args.texts))
    y = rng.uniform(0, 1, size=args.llms)
    out = {"llms": args.llms, "texts": args.texts, "machine": timing_context(), "results": {}}
    tau = np.full(args.texts, 1.0 / (0.1 * args.texts))
    fns = {
        **ESTIMATORS,
        "linear": lambda X, y: linear(ESTIMATORS["spearmanr"](X, y), tau),
        "l2": lambda X, y: l2(ESTIMATORS["spearmanr"](X, y), tau),
        "sign_sign_float64_pairwise": sign_sign_float64_pairwise,
    }
    got = {}
    for name, fn in fns.items():
        w0, c0 = time.perf_counter(), time.process_time()
        got[name] = fn(X, y)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        out["results"][name] = {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "under_10s": wall < 10}
        print(f"{name:10s} wall {wall:7.3f} s  cpu {cpu:7.3f} s", flush=True)
    out["sign_sign_max_abs_diff_vs_pairwise"] = float(
        np.max(np.abs(got["sign_sign"] - got["sign_sign_float64_pairwise"]))
    )
    write_json(Path(args.out), out)
    print(json.dumps(out["results"]))


if __name__ == "__main__":
    main()
