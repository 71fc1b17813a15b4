"""Benchmark: prefill and decode ms/token vs context length for TTT-Linear, Transformer and Mamba.

The CPU analogue of the paper's latency figure (Sun et al. 2024, Sec. 3.3): toy models (d = 128, 4 blocks,
4 heads; Mamba with 8 mixers for about equal parameters), batch 1, float32, warm-up then median of
``--repeats``. Uses ``repro.ttt.latency.measure_latency``; runs on CUDA with ``--device cuda``.

    .venv/bin/python benchmarks/ttt_latency.py [--threads 2] [--contexts 256 512 ... 8192]

Writes ``benchmarks/results/ttt_latency_<device>[_<threads>t].json`` and prints a markdown table. On the shared 2-core
machine other jobs run at the same time, so absolute times are noisy; with 2 threads an op can stall for a
scheduler quantum (~8 ms) while the other core is busy, so ``--threads 1`` gives the cleaner curves there.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

import torch

from repro.common.io import write_json
from repro.common.machine import timing_context
from repro.ttt.latency import LatencyConfig, format_table, measure_latency
from repro.ttt.models import LMConfig


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--decode-steps", type=int, default=16)
    ap.add_argument("--contexts", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096, 8192])
    ap.add_argument("--archs", nargs="+", default=["ttt_linear", "transformer", "mamba"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    cfg = LatencyConfig(
        archs=tuple(args.archs),
        contexts=tuple(args.contexts),
        model=LMConfig(vocab_size=256, d_model=args.d_model, n_layer=args.n_layer, n_head=args.n_head),
        repeats=args.repeats,
        decode_steps=args.decode_steps,
        threads=args.threads,
        device=args.device,
    )
    machine = timing_context()  # before the timings: the speed probe takes about a second
    rows = measure_latency(
        cfg,
        progress=lambda r: print(
            f"{r['arch']:12s} ctx {r['ctx']:6d}  prefill {r['prefill_ms_per_token']:.4f} ms/tok  "
            f"decode {r['decode_ms_per_token']:.3f} ms/tok",
            flush=True,
        ),
    )
    table = format_table(rows)
    print(table)
    name = f"ttt_latency_{args.device}" + (f"_{args.threads}t" if args.device == "cpu" else "") + ".json"
    out = Path(args.out) if args.out else Path(__file__).parent / "results" / name
    write_json(
        out,
        {
            "benchmark": "ttt_latency",
            "torch": torch.__version__,
            "machine": machine,
            "config": asdict(cfg),
            "note": "toy models, batch 1, float32; TTT-Linear: dual-form prefill, primal decode; Transformer: "
            "SDPA prefill, KV-cache decode. CPU runs share 2 cores with other jobs: absolute times are noisy.",
            "rows": rows,
            "table_markdown": table,
        },
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
