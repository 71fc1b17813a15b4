"""Benchmark: batched marginal-contribution fits (torch) vs a naive loop of scikit-learn fits.

The cost of the paper (Sec. 3) is fitting D and D + {z} for many subsets D and points z. For each
subset size k we draw ``--subsets`` class-balanced subsets of the tiny lm_clf pool and value ``--points``
points: (1 + P) logistic regressions per subset. The batched solver (repro.datavalue.solvers.fit_logreg:
damped Newton, float64, the (1 + P) fits of a subset in one solve, D + {z} warm-started at D) is timed on
all of them; the naive loop (scikit-learn LogisticRegression(C=1), default lbfgs, tol 1e-4, one fit at a
time) on the first ``--naive`` fits per size, extrapolated per fit. Agreement: marginal contributions
u(D + z) - u(D) (u = -validation cross-entropy) from the batched fits vs tight scikit-learn fits
(newton-cholesky, tol 1e-10) on those fits: the stated tolerance is 1e-6 absolute.

    .venv/bin/python benchmarks/datavalue_batched_solver.py [--sizes 100 300 1000] [--points 100]

Writes ``benchmarks/results/datavalue_batched_solver.json`` (wall and CPU seconds, load average: on a
shared machine the wall-clock ratio is noisy, the CPU-time ratio less so). One torch thread.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from repro.common.io import write_json
from repro.common.machine import timing_context
from repro.datavalue.contributions import choose_points
from repro.datavalue.data import DatasetSpec, load_dataset, sample_balanced
from repro.datavalue.solvers import ModelSpec, Problems, fit_logreg, val_cross_entropy

TOL_DELTA = 1e-6


def _ce(model: LogisticRegression, x: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(model.predict_proba(x)[np.arange(len(y)), y], 1e-300, None)
    return float(-np.mean(np.log(p)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000])
    ap.add_argument("--points", type=int, default=100)
    ap.add_argument("--subsets", type=int, default=4)
    ap.add_argument("--naive", type=int, default=40, help="naive fits timed per size (extrapolated)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    machine = timing_context()  # before the timed fits: the speed probe takes about a second
    ds = load_dataset("lm_clf", DatasetSpec(source="synthetic", n_pool=3000, dim=20, flip_fraction=0.1))
    rng = np.random.default_rng(0)
    points = choose_points(ds, args.points, rng)
    others = np.setdiff1d(np.arange(len(ds.y_pool)), points)
    xv, yv = torch.as_tensor(ds.x_val), torch.as_tensor(ds.y_val)
    spec = ModelSpec(kind="logreg", C=1.0)
    rows = []
    for k in args.sizes:
        subs = others[sample_balanced(ds.y_pool[others], k, 2, rng, args.subsets)]
        x, y = ds.x_pool[subs], ds.y_pool[subs]
        G, P, d = len(subs), len(points), x.shape[2]
        w0c, t0c = time.process_time(), time.perf_counter()
        m0, _ = fit_logreg(Problems.build(x, y, np.ones((G, 1, k))), spec)
        aug = Problems.build(
            x,
            y,
            np.ones((G, P, k)),
            np.broadcast_to(ds.x_pool[points], (G, P, d)),
            np.broadcast_to(ds.y_pool[points], (G, P)),
            np.ones((G, P)),
        )
        m1, _ = fit_logreg(aug, spec, init=m0.expand(G, P, -1))
        delta = (val_cross_entropy(m0, xv, yv) - val_cross_entropy(m1, xv, yv)).numpy()  # (G, P)
        b_wall, b_cpu = time.perf_counter() - t0c, time.process_time() - w0c
        n_fits = G * (P + 1)
        # naive loop: the base fit of subset 0, then D + {z} one at a time
        w0c, t0c = time.process_time(), time.perf_counter()
        n_naive = min(args.naive, P)
        LogisticRegression(C=1.0).fit(x[0], y[0])
        for p in points[:n_naive]:
            LogisticRegression(C=1.0).fit(np.vstack([x[0], ds.x_pool[p]]), np.append(y[0], ds.y_pool[p]))
        n_wall, n_cpu = time.perf_counter() - t0c, time.process_time() - w0c
        per_fit_wall, per_fit_cpu = n_wall / (n_naive + 1), n_cpu / (n_naive + 1)
        # agreement with tight scikit-learn fits
        tight = dict(C=1.0, solver="newton-cholesky", tol=1e-10, max_iter=1000)
        base = _ce(LogisticRegression(**tight).fit(x[0], y[0]), ds.x_val, ds.y_val)
        ref = np.array(
            [
                base
                - _ce(
                    LogisticRegression(**tight).fit(np.vstack([x[0], ds.x_pool[p]]), np.append(y[0], ds.y_pool[p])),
                    ds.x_val,
                    ds.y_val,
                )
                for p in points[:n_naive]
            ]
        )
        diff = float(np.abs(delta[0, :n_naive] - ref).max())
        row = {
            "k": k,
            "fits": n_fits,
            "batched_wall_s": b_wall,
            "batched_cpu_s": b_cpu,
            "batched_fits_per_s": n_fits / b_wall,
            "naive_fits_per_s": 1 / per_fit_wall,
            "speedup_wall": per_fit_wall * n_fits / b_wall,
            "speedup_cpu": per_fit_cpu * n_fits / b_cpu,
            "max_abs_delta_diff_vs_sklearn_tight": diff,
            "tolerance": TOL_DELTA,
            "within_tolerance": diff <= TOL_DELTA,
            "median_abs_delta": float(np.median(np.abs(ref))),
        }
        print(row, flush=True)
        rows.append(row)
    out = {
        "benchmark": "datavalue batched logistic-regression fits vs scikit-learn loop",
        "machine": machine,
        "torch_threads": 1,
        "points": args.points,
        "subsets": args.subsets,
        "rows": rows,
    }
    write_json(Path(__file__).parent / "results" / "datavalue_batched_solver.json", out)


if __name__ == "__main__":
    main()
