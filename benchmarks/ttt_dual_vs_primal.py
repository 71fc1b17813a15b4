"""Benchmark: TTT dual form vs primal form at mini-batch size b = 16 (Sun et al. 2024, Sec. 2.5).

The paper reports the dual form > 5x faster than the primal form in JAX training. Here both forms run the
same inner loop (``repro.ttt.layers.ttt_scan``, analytic LN backward in both, so that the comparison is
about materialising per-token weights vs matmuls, not about autograd overhead) on random inputs, for
TTT-Linear and TTT-MLP, forward only (prefill) and forward + backward (training), at the toy model's head
shape and at the 125M model's (12 heads x 64). The two forms are timed alternately after a warm-up; the
speedup is the median over pairs of primal time / dual time.

    .venv/bin/python benchmarks/ttt_dual_vs_primal.py [--threads 2] [--repeats 5]

Writes ``benchmarks/results/ttt_dual_vs_primal.json``. The CPU is shared with other jobs, so absolute
times are noisy; ratios within one run are what the check uses (dual >= 5x faster for TTT-Linear
forward + backward at the toy training shape: the paper's "more than 5x", Sec. 3.3; 3x before issue 27).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from repro.common.io import write_json
from repro.common.machine import timing_context
from repro.ttt.equivalence import random_problem
from repro.ttt.layers import ttt_scan

SHAPES = {  # name: (batch, heads, head_dim, seq_len)
    "toy_train": (8, 4, 32, 512),  # 4 heads x 32 = the toy d_model 128, a training micro-batch
    "toy_prefill": (1, 4, 32, 2048),  # one long sequence
    "125m_heads": (1, 12, 64, 1024),  # the paper's 125M layer shape (12 heads x 64)
}

# The paper's claim (Sec. 3.3: the dual form is more than 5x faster); the tiny claim dual_faster_than_primal v2
# uses the same bar (workflow/expected/ttt.yaml).
TARGET_SPEEDUP = 5.0


def _paired_times(fns: dict[str, Callable[[], None]], repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Time the forms alternately (dual, primal, dual, ...), so that load from other jobs on the shared
    cores hits both forms alike; per-pair ratios are then robust where absolute times are not."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    out: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            out[k].append(time.perf_counter() - t0)
    return out


def _case(p: dict, form: str, mode: str) -> Callable[[], None]:
    if mode == "forward":

        def fn() -> None:
            with torch.inference_mode():
                ttt_scan(
                    p["state"],
                    p["xq"],
                    p["xk"],
                    p["xv"],
                    p["eta"],
                    p["scale"],
                    p["spec"],
                    p["gamma"],
                    p["beta"],
                    form=form,
                )

        return fn
    leaves = [t.detach().requires_grad_() for t in (p["xq"], p["xk"], p["xv"])]

    def fn_bwd() -> None:
        z, _ = ttt_scan(p["state"], *leaves, p["eta"], p["scale"], p["spec"], p["gamma"], p["beta"], form=form)
        z.square().mean().backward()

    return fn_bwd


def run(threads: int, repeats: int, mini_batch_size: int = 16) -> list[dict]:
    torch.set_num_threads(threads)
    rows = []
    for kind in ("linear", "mlp"):
        for name, (B, H, d, T) in SHAPES.items():
            p = random_problem(
                kind, batch=B, n_head=H, seq_len=T, head_dim=d, mini_batch_size=mini_batch_size, dtype=torch.float32
            )
            # learning rates as in a trained model's layer: η ≈ η_base σ(·) / head_dim, s_i = 1/(i+1)
            p["eta"] = p["eta"] * (5.0 / d)
            p["scale"] = 1.0 / torch.arange(1, mini_batch_size + 1, dtype=torch.float32)
            for mode in ("forward", "forward_backward"):
                t = _paired_times({f: _case(p, f, mode) for f in ("dual", "primal")}, repeats)
                ratios = [tp / td for td, tp in zip(t["dual"], t["primal"])]
                row = {
                    "inner": kind,
                    "shape": name,
                    "batch": B,
                    "heads": H,
                    "head_dim": d,
                    "seq_len": T,
                    "mini_batch_size": mini_batch_size,
                    "mode": mode,
                    "dual_ms_median": 1e3 * statistics.median(t["dual"]),
                    "primal_ms_median": 1e3 * statistics.median(t["primal"]),
                    "dual_ms_min": 1e3 * min(t["dual"]),
                    "primal_ms_min": 1e3 * min(t["primal"]),
                    "speedup": statistics.median(ratios),
                    "speedup_of_min": min(t["primal"]) / min(t["dual"]),
                }
                rows.append(row)
                print(
                    f"{kind:6s} {name:12s} {mode:16s} dual {row['dual_ms_median']:8.1f} ms  "
                    f"primal {row['primal_ms_median']:8.1f} ms  speedup {row['speedup']:5.1f}x "
                    f"(of min times {row['speedup_of_min']:5.1f}x)",
                    flush=True,
                )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "ttt_dual_vs_primal.json"))
    args = ap.parse_args(argv)
    load_before = os.getloadavg()[0]  # recorded, not assumed: the ratios move with machine load (4x-10x seen)
    machine = timing_context()  # before the timings: the speed probe takes about a second
    rows = run(args.threads, args.repeats)
    key = next(
        r for r in rows if r["inner"] == "linear" and r["shape"] == "toy_train" and r["mode"] == "forward_backward"
    )
    out = {
        "benchmark": "ttt_dual_vs_primal",
        "torch": torch.__version__,
        "threads": args.threads,
        "repeats": args.repeats,
        "load_average_1min_before": load_before,
        "note": "absolute times depend on machine load (load_average_1min_before); ratios are taken within one "
        "run. Both forms use the analytic LN backward.",
        "check": {
            "target_speedup": TARGET_SPEEDUP,
            "case": "linear/toy_train/forward_backward",
            "speedup": key["speedup"],
            "passed": key["speedup"] >= TARGET_SPEEDUP,
        },
        "machine": machine,
        "rows": rows,
    }
    write_json(args.out, out)
    print(
        f"wrote {args.out}; check speedup {key['speedup']:.1f}x (target {TARGET_SPEEDUP:g}x): "
        f"{'PASS' if key['speedup'] >= TARGET_SPEEDUP else 'FAIL'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
