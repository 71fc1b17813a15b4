"""Benchmark: GPU training throughput and MFU of a GPT-2-small-sized model in bf16.

Runs only when CUDA is available; otherwise prints a message and exits 0 (CPU-only CI
and the development machines have no GPU).

Model: GPT-2 small shape (12 layers, 12 heads, d_model 768, context 1024) with the
vocabulary padded from 50,257 to 50,304 (a multiple of 64, as nanoGPT does, for
tensor-core friendly shapes); tied embeddings; 124M parameters. Training goes through
the toolkit's trainer (:func:`repro.common.lm.trainer.train`) with bf16 autocast, AdamW
and gradient clipping, on a random walk over token ids; steps after ``--warmup`` are timed.

MFU (model FLOPs utilisation, Chowdhery et al. 2022, App. B) =
``tokens/s x flops_per_token / peak bf16 FLOP/s``, with
:func:`repro.common.lm.models.model_flops_per_token` (6N + 12·L·d·T) and the dense bf16
peak of the detected GPU (``--peak-tflops`` overrides; unknown GPUs report no MFU); the peak table and the
MFU formula live in ``gpu_common.py``, shared with ``train_mfu.py``.

It also checks that training really ran on CUDA (parameters on the GPU, finite and
decreasing loss) and that KV-cache sampling on CUDA matches the naive loop (greedy).

    .venv/bin/python benchmarks/lm_gpu.py [--batch-size 16] [--steps 30] [--warmup 10] [--compile]

Writes ``benchmarks/results/lm_gpu.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from gpu_common import mfu, peak_tflops, random_walk_tokens, timed_tokens_per_s

from repro.common.io import write_json
from repro.common.lm import sampling as S
from repro.common.lm.models import ModelConfig, build_model, count_params, model_flops_per_token
from repro.common.lm.trainer import TrainConfig, train
from repro.common.machine import timing_context

GPT2_SMALL = ModelConfig(arch="gpt2", n_layer=12, n_head=12, d_model=768, context=1024, vocab_size=50304)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--steps", type=int, default=30, help="timed steps")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--peak-tflops", type=float, default=None)
    ap.add_argument("--compile", action="store_true", help="torch.compile the model first")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "lm_gpu.json")
    args = ap.parse_args()

    if not torch.cuda.is_available():
        print("lm_gpu: CUDA is not available on this machine; skipping the GPU benchmark (nothing written).")
        return 0

    machine = timing_context()  # before the timed steps: the (CPU) speed probe takes about a second
    device = torch.device("cuda")
    name = torch.cuda.get_device_name(device)
    peak = args.peak_tflops or peak_tflops(name)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True

    model = build_model(GPT2_SMALL, seed=0)
    n_params = count_params(model)
    fpt = model_flops_per_token(GPT2_SMALL, model)
    train_model = torch.compile(model) if args.compile else model
    steps = args.warmup + args.steps
    cfg = TrainConfig(
        steps=steps,
        batch_size=args.batch_size,
        context=GPT2_SMALL.context,
        lr=6e-4,
        warmup=5,
        min_lr=6e-5,
        eval_every=0,
        log_every=1,
        device="cuda",
        precision="bf16",
        seed=0,
    )
    tokens = random_walk_tokens(20_000_000)  # learnable, so a falling loss shows that training works
    torch.cuda.reset_peak_memory_stats()
    hist = train(train_model, tokens, cfg, progress=False)
    seconds, tok_s = timed_tokens_per_s(hist, args.warmup, args.steps, cfg.tokens_per_step)
    mfu_value = mfu(tok_s, fpt, peak)
    losses = [e["train_loss"] for e in hist]
    on_cuda = all(p.device.type == "cuda" for p in model.parameters())
    train_ok = on_cuda and all(np.isfinite(losses)) and losses[-1] < losses[0]

    # Sampling on CUDA: KV-cache batch vs naive loop, greedy (fp32 weights).
    model.eval()
    rng = np.random.default_rng(1)
    prompts = [rng.integers(0, 1024, int(rng.integers(8, 33))).tolist() for _ in range(8)]
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    fast = S.generate(model, prompts, 64)
    torch.cuda.synchronize()
    fast_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    naive = S.generate_naive(model, prompts, 64)
    torch.cuda.synchronize()
    naive_s = time.perf_counter() - t0
    # fp32 weights on a GPU: TF32 matmuls can differ in the last bits between the batched
    # and the single-sequence path, so count matching tokens rather than demanding equality.
    same = sum(a == b for x, y in zip(fast, naive, strict=True) for a, b in zip(x, y, strict=True))
    result = {
        "benchmark": "lm_gpu",
        "device": name,
        "model_config": GPT2_SMALL.to_dict(),
        "params": n_params,
        "flops_per_token_train": fpt,
        "batch_size": args.batch_size,
        "tokens_per_step": cfg.tokens_per_step,
        "compiled": args.compile,
        "timed_steps": args.steps,
        "seconds": seconds,
        "tokens_per_s": tok_s,
        "peak_bf16_tflops": peak,
        "mfu": mfu_value,
        "max_memory_gib": torch.cuda.max_memory_allocated() / 2**30,
        "train_on_cuda": on_cuda,
        "train_ok": train_ok,
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "sampling": {
            "prompts": len(prompts),
            "new_tokens": 64,
            "kv_cache_s": fast_s,
            "naive_s": naive_s,
            "speedup": naive_s / fast_s,
            "greedy_tokens_matching": same / (len(prompts) * 64),
        },
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "machine": machine,
    }
    write_json(args.out, result)
    mfu_txt = f"{100 * mfu_value:.1f}%" if mfu_value is not None else "n/a (unknown peak; pass --peak-tflops)"
    print(
        f"{name}: {tok_s:,.0f} tokens/s, MFU {mfu_txt}; train ok: {train_ok}; "
        f"sampling speedup {naive_s / fast_s:.1f}x, greedy match {same / (len(prompts) * 64):.3f}"
    )
    print(f"wrote {args.out}")
    return 0 if train_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
