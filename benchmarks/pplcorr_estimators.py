"""Benchmark: every pplcorr estimator on 90 LLMs x 100,000 texts (goal: < 10 s each on this machine).

Usage: PYTHONPATH=src python benchmarks/pplcorr_estimators.py [--texts 100000] [--llms 90]
Writes benchmarks/results/pplcorr_estimators.json (wall and CPU seconds per estimator).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from repro.common.io import write_json
from repro.pplcorr.estimators import ESTIMATORS, l2, linear


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--llms", type=int, default=90)
    ap.add_argument("--texts", type=int, default=100_000)
    ap.add_argument("--out", default="benchmarks/results/pplcorr_estimators.json")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    X = rng.uniform(0.5, 1.5, size=(args.llms, args.texts))
    y = rng.uniform(0, 1, size=args.llms)
    out = {"llms": args.llms, "texts": args.texts, "cpu_count": os.cpu_count(), "results": {}}
    tau = np.full(args.texts, 1.0 / (0.1 * args.texts))
    fns = {
        **ESTIMATORS,
        "linear": lambda X, y: linear(ESTIMATORS["spearmanr"](X, y), tau),
        "l2": lambda X, y: l2(ESTIMATORS["spearmanr"](X, y), tau),
    }
    for name, fn in fns.items():
        w0, c0 = time.perf_counter(), time.process_time()
        fn(X, y)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        out["results"][name] = {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "under_10s": wall < 10}
        print(f"{name:10s} wall {wall:7.3f} s  cpu {cpu:7.3f} s", flush=True)
    write_json(Path(args.out), out)
    print(json.dumps(out["results"]))


if __name__ == "__main__":
    main()
