"""Benchmark: CPU training throughput (tokens/s) of the tiny LM at 1 and 2 torch threads.

The tiny config is the toolkit's default :class:`~repro.common.lm.models.ModelConfig`:
GPT-2, 4 layers, 4 heads, d_model 128, context 256, vocabulary 2048 (tied
embeddings): 1,088,256 parameters (793,344 non-embedding). One optimizer step is a
micro-batch of 16 sequences x 256 tokens (4,096 tokens) through the real trainer
(:func:`repro.common.lm.trainer.train`: window sampling, fp32 forward/backward, clipping,
AdamW). Token ids are random (throughput does not depend on the text). Steps
``warmup..warmup+steps`` are timed from the trainer's own history.

    .venv/bin/python benchmarks/lm_throughput.py [--steps 20] [--warmup 5] [--threads 1 2]

Writes ``benchmarks/results/lm_throughput.json``. DESIGN.md asks for one torch thread per
job "unless measured faster": this is that measurement. The machine's load average is
recorded; when other jobs share the cores the 2-thread number is pessimistic.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch

from repro.common.io import write_json
from repro.common.lm.models import ModelConfig, build_model, count_params, model_flops_per_token
from repro.common.lm.trainer import TrainConfig, train
from repro.common.machine import timing_context

TINY = ModelConfig(arch="gpt2", n_layer=4, n_head=4, d_model=128, context=256, vocab_size=2048)


def measure(threads: int, steps: int, warmup: int, batch_size: int = 16) -> dict:
    cfg = TrainConfig(
        steps=warmup + steps,
        batch_size=batch_size,
        context=TINY.context,
        warmup=2,
        eval_every=0,
        log_every=1,
        threads=threads,
        device="cpu",
        seed=0,
    )
    tokens = np.random.default_rng(0).integers(0, TINY.vocab_size, 1_000_000).astype(np.uint16)
    model = build_model(TINY, seed=0)
    hist = train(model, tokens, cfg, progress=False)
    t = {e["step"]: e["elapsed"] for e in hist}
    seconds = t[warmup + steps] - t[warmup]
    tok_s = steps * cfg.tokens_per_step / seconds
    return {
        "threads": threads,
        "steps_timed": steps,
        "tokens_per_step": cfg.tokens_per_step,
        "seconds": seconds,
        "tokens_per_s": tok_s,
        "gflops_per_s": tok_s * model_flops_per_token(TINY, model) / 1e9,
        "final_train_loss": hist[-1]["train_loss"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "lm_throughput.json")
    args = ap.parse_args()

    load_before = os.getloadavg()
    machine = timing_context()  # before the timings: the speed probe takes about a second
    rows = []
    for th in args.threads:
        row = measure(th, args.steps, args.warmup)
        rows.append(row)
        print(f"threads={th}: {row['tokens_per_s']:,.0f} tokens/s ({row['seconds']:.2f}s for {args.steps} steps)")
    load_after = os.getloadavg()
    model = build_model(TINY, seed=0)
    result = {
        "benchmark": "lm_throughput",
        "model_config": TINY.to_dict(),
        "params": count_params(model),
        "params_non_embedding": count_params(model, exclude_embeddings=True),
        "flops_per_token_train": model_flops_per_token(TINY, model),
        "batch": "16 sequences x 256 tokens per optimizer step, fp32, AdamW, grad clip 1.0",
        "rows": rows,
        "speedup_2_over_1_threads": (rows[1]["tokens_per_s"] / rows[0]["tokens_per_s"] if len(rows) > 1 else None),
        "load_average_before": load_before,
        "load_average_after": load_after,
        # A 1-minute load average well above 0 before the run means other jobs shared the
        # cores, which makes the 2-thread number pessimistic.
        "note": (
            "measured on an idle machine"
            if load_before[0] < 0.75
            else "other jobs shared the cores during the run (see load averages): the 2-thread number is pessimistic"
        ),
        "torch": torch.__version__,
        "machine": machine,
    }
    write_json(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
