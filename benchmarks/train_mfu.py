"""Benchmark: training tokens/s and MFU on one GPU for a Pythia-160M and a TinyLlama-1.1B shape, bf16, eager and
``torch.compile``; and TTT-Linear vs attention prefill at 8k context (issue 29, item 6).

Goal (issue 29): at least 45% MFU for the 160M model (for comparison, HF's GPT-2 reached 17% eager and 32%
compiled on an H200).

Models (random init, no download):

* ``pythia-160m``: GPT-NeoX (Black et al. 2022) at the Pythia-160M shape (Biderman et al. 2023): 12 layers,
  d_model 768, 12 heads, d_ff 3072, vocabulary 50,304, context 2048, rotary on 25% of each head, parallel
  residual, untied output layer; 162M parameters, via ``ModelConfig(arch="gpt_neox")`` and
  :func:`repro.common.lm.models.build_model`.
* ``tinyllama-1.1b``: Llama (Touvron et al. 2023) at the TinyLlama-1.1B shape (Zhang et al. 2024): 22 layers,
  d_model 2048, 32 heads, 4 KV heads, d_ff 5632, vocabulary 32,000, context 2048, untied; 1.10B parameters,
  via ``ModelConfig(arch="llama")`` and :func:`repro.common.lm.models.build_model`.

Training goes through the toolkit's trainer (:func:`repro.common.lm.trainer.train`: bf16 autocast, AdamW, gradient
clipping, the trainer's loss) on a random walk over token ids; the optimizer steps after ``--warmup`` are timed
(the trainer reads each step's loss back, so the span is synchronised). The trainer rather than a tight loop,
because its per-step host work is small against a GPU step: drawing the windows takes ~0.2 ms per micro-batch
(16 x 2049 tokens, measured on the 2-core development machine) and the loss ``.item()`` is one synchronisation
per optimizer step, while a step of the 160M model at the goal takes ~70 ms. A tight loop with the same loss
and optimizer would cost the same on the GPU: the trainer's loss upcasts the logits to float32 outside the
compiled model (6.6 GB of float32 logits per 160M step at batch 16, read and written several times by the
loss's forward and backward: some 60 GB of memory traffic, ~20 ms at H100 bandwidth, the largest cost outside
the model), and AdamW updates float32 master weights. The 1.1B model runs micro-batches of 4 sequences
(memory) with 4 accumulated per optimizer step, so that the optimizer's share stays that of a 32k-token step
as for the 160M model.

MFU (Chowdhery et al. 2022, App. B) = ``tokens/s x FLOPs/token / peak bf16 FLOP/s`` (``gpu_common.mfu``), with
FLOPs/token = ``6N + 12·L·d·T`` from :func:`repro.common.lm.models.model_flops_per_token`, N counted from the
module (non-embedding parameters plus the output layer), and the dense bf16 peak of the detected GPU
(``gpu_common.PEAK_BF16_TFLOPS``; ``--peak-tflops`` overrides).

TTT line: prefill of one ``1 x --ttt-context`` sequence (default 8192) at width 2048 = 32 heads x 64, bf16,
mini-batch 16: the Triton TTT-Linear kernel (``repro.ttt.kernels.triton_ttt_linear_scan``, default strategy),
the PyTorch dual form (``repro.ttt.layers.ttt_scan`` with the kernel switched off) and causal
``scaled_dot_product_attention`` (flash backend), on the inputs ``ttt_gpu_kernel.py`` builds; the sequence
mixing alone (the projections around it are the same matmuls for both layers). Milliseconds are medians of
CUDA-event timings.

``--smoke`` runs the same code on the CPU with tiny shapes (2 layers, d_model 32, context 64; ``torch.compile``
with the ``eager`` backend, since Inductor's C++ build takes ~40 s per model there; the kernel in Triton's
interpreter, float32; 64-token TTT context); it checks the code path, its numbers are no benchmark. Without
CUDA and without ``--smoke`` it prints a message and exits 0, writing nothing.

    python benchmarks/train_mfu.py [--models pythia-160m tinyllama-1.1b] [--batch-size N] [--steps 20]
        [--warmup 5] [--no-compile] [--peak-tflops T] [--ttt-context 8192] [--smoke]

Writes ``benchmarks/results/train_mfu.json`` (``train_mfu_smoke.json`` with ``--smoke``) after every line, with
the date, the card, the markdown table and :func:`repro.common.machine.timing_context`. ``gpu_mfu.sh`` runs it
on a lent GPU. Exit status 1 if a line failed.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import math
import os
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers
from gpu_common import mfu, peak_tflops, random_walk_tokens, timed_tokens_per_s

from repro.common.io import write_json
from repro.common.lm.models import ModelConfig, build_model, count_params, model_flops_per_token
from repro.common.lm.trainer import TrainConfig, train
from repro.common.machine import timing_context

RESULTS = Path(__file__).resolve().parent / "results"
GOAL_MFU = 0.45  # issue 29, item 6: for the 160M model
GOAL_MODEL = "pythia-160m"


@dataclass(frozen=True)
class Spec:
    """One model line: its shape and how it is trained (micro-batch, accumulation, peak learning rate)."""

    label: str
    cfg: ModelConfig
    batch_size: int
    grad_accum: int
    lr: float


MODELS = {
    "pythia-160m": Spec(
        "Pythia-160M (GPT-NeoX)",
        ModelConfig(
            arch="gpt_neox",
            n_layer=12,
            n_head=12,
            d_model=768,
            d_ff=3072,
            context=2048,
            vocab_size=50304,
            tie_embeddings=False,
        ),
        batch_size=16,
        grad_accum=1,
        lr=6e-4,
    ),
    "tinyllama-1.1b": Spec(
        "TinyLlama-1.1B (Llama)",
        ModelConfig(
            arch="llama",
            n_layer=22,
            n_head=32,
            n_kv_head=4,
            d_model=2048,
            d_ff=5632,
            context=2048,
            vocab_size=32000,
            tie_embeddings=False,
        ),
        batch_size=4,  # 16 GiB of weights, gradients and AdamW state leave room for 4 x 2048 activations on 80 GB
        grad_accum=4,
        lr=4e-4,
    ),
}
# --smoke: the same architectures shrunk for the CPU (one accumulation step more for Llama, to run that path too).
SMOKE_MODELS = {
    "pythia-160m": Spec(
        "Pythia-160M (GPT-NeoX), smoke shape",
        MODELS["pythia-160m"].cfg.replace(n_layer=2, n_head=2, d_model=32, d_ff=128, context=64, vocab_size=128),
        batch_size=2,
        grad_accum=1,
        lr=1e-3,
    ),
    "tinyllama-1.1b": Spec(
        "TinyLlama-1.1B (Llama), smoke shape",
        MODELS["tinyllama-1.1b"].cfg.replace(
            n_layer=2, n_head=4, n_kv_head=2, d_model=32, d_ff=88, context=64, vocab_size=128
        ),
        batch_size=2,
        grad_accum=2,
        lr=1e-3,
    ),
}


def build(cfg: ModelConfig) -> torch.nn.Module:
    """The toolkit's model for ``cfg`` (GPT-NeoX with Pythia's options: partial rotary, parallel residual; Llama)."""
    return build_model(cfg, seed=0)


# ---------------------------------------------------------------------------------------------------
# training lines
# ---------------------------------------------------------------------------------------------------


def train_line(
    key: str,
    spec: Spec,
    model: torch.nn.Module,
    *,
    compiled: bool,
    backend: str,
    args: argparse.Namespace,
    device: torch.device,
    tokens: np.ndarray,
    peak: float | None,
    flops_per_token: float,
) -> dict[str, Any]:
    """Train ``model`` for ``warmup + steps`` optimizer steps and return its line (tokens/s, MFU, memory)."""
    batch = args.batch_size or spec.batch_size
    accum = args.grad_accum or spec.grad_accum
    cfg = TrainConfig(
        steps=args.warmup + args.steps,
        batch_size=batch,
        grad_accum=accum,
        context=spec.cfg.context,
        lr=spec.lr,
        warmup=min(5, args.warmup + args.steps),
        min_lr=spec.lr / 10,
        eval_every=0,
        log_every=1,  # an entry per step: the timed span starts exactly after the warm-up
        device=device.type,
        precision="bf16",
        seed=0,
        # the process's torch CPU threads (the trainer sets them): one on the shared CPU machine; on a GPU host
        # all cores, which only speeds up building the next model on the CPU
        threads=1 if args.smoke else (os.cpu_count() or 1),
    )
    line: dict[str, Any] = {
        "model": key,
        "label": spec.label,
        "mode": "compile" if compiled else "eager",
        "compile_backend": backend if compiled else None,
        "params": count_params(model),
        "flops_per_token": flops_per_token,
        "batch_size": batch,
        "grad_accum": accum,
        "context": spec.cfg.context,
        "tokens_per_step": cfg.tokens_per_step,
        "warmup_steps": args.warmup,
        "timed_steps": args.steps,
        "precision": "bf16 autocast" if device.type == "cuda" else "fp32 (the trainer's bf16 autocast is CUDA-only)",
    }
    net = torch.compile(model, backend=backend) if compiled else model
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    torch._dynamo.utils.counters.clear()
    hist = train(net, tokens, cfg, progress=False)
    seconds, tok_s = timed_tokens_per_s(hist, args.warmup, args.steps, cfg.tokens_per_step)
    losses = [e["train_loss"] for e in hist]
    line.update(
        {
            "warmup_s": hist[args.warmup - 1]["elapsed"],  # includes compilation for the compiled line
            "seconds": seconds,
            "tokens_per_s": tok_s,
            "mfu": mfu(tok_s, flops_per_token, peak),
            "max_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None,
            "first_loss": losses[0],
            "last_loss": losses[-1],
            # a graph break splits the compiled model into pieces with eager Python between them
            "graph_breaks": sum(torch._dynamo.utils.counters["graph_break"].values()) if compiled else None,
            "ok": bool(all(math.isfinite(x) for x in losses) and tok_s > 0),
        }
    )
    return line


def free(device: torch.device) -> None:
    """Drop compiled graphs and cached blocks between lines, so that each line's peak memory is its own."""
    torch._dynamo.reset()
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


# ---------------------------------------------------------------------------------------------------
# TTT-Linear vs attention prefill
# ---------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def env(name: str, value: str | None) -> Iterator[None]:
    """Set (or, with ``None``, leave) an environment variable for the duration, then restore it."""
    old = os.environ.get(name)
    if value is not None:
        os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def cpu_ms(fn: Callable[[], object], warmup: int = 1, reps: int = 3) -> float:
    """Median wall-clock milliseconds of ``fn`` on the CPU after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(1e3 * (time.perf_counter() - t0))
    return statistics.median(times)


def ttt_prefill_line(context: int, device: torch.device) -> dict[str, Any]:
    """Prefill ms and tokens/s of the TTT-Linear kernel, its PyTorch dual form and causal SDPA at one width."""
    import ttt_gpu_kernel as K  # the inputs and calls of the kernel benchmark (benchmarks/ is on sys.path)
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.nn.functional import scaled_dot_product_attention as sdpa

    from repro.ttt.kernels import triton_available

    cuda = device.type == "cuda"
    # GPU: the width of the 1.3B models the paper times (2048 = 32 x 64), in bf16; CPU (--smoke): a small float32
    # problem that Triton's interpreter runs in a second
    B, H, d, dtype = (1, K.H, K.D, torch.bfloat16) if cuda else (1, 2, 16, torch.float32)
    p = K.make_problem(B, context, H, d, dtype, device.type)
    pt = K.cast(p, dtype)  # the PyTorch dual form needs one dtype throughout (a model cast to bf16)
    q, k, v = (p[n].contiguous() for n in ("xq", "xk", "xv"))

    def attention() -> object:
        if not cuda:
            return sdpa(q, k, v, is_causal=True)
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            return sdpa(q, k, v, is_causal=True)

    methods: dict[str, Callable[[], object]] = {
        "ttt_linear_kernel": lambda: K.ours(p, "auto"),
        "ttt_linear_torch_dual": lambda: K.torch_dual(pt),
        "attention_sdpa": attention,
    }
    line: dict[str, Any] = {
        "batch": B,
        "context": context,
        "heads": H,
        "head_dim": d,
        "mini_batch": K.BT,
        "dtype": str(dtype).removeprefix("torch."),
        "kernel_mode": "compiled" if cuda else "Triton interpreter (TRITON_INTERPRET=1)",
        "rows": [],
    }
    with torch.inference_mode(), env("TRITON_INTERPRET", None if cuda else "1"):
        for name, fn in methods.items():
            row: dict[str, Any] = {"method": name}
            if name == "ttt_linear_kernel" and not triton_available():
                row["error"] = "triton is not importable"
            else:
                try:
                    # Triton's interpreter takes ~0.3 s a call and times nothing of interest: one call will do
                    interp = not cuda and name == "ttt_linear_kernel"
                    ms = K.cuda_ms(fn) if cuda else cpu_ms(fn, warmup=0 if interp else 1, reps=1 if interp else 3)
                    row.update({"ms": ms, "tokens_per_s": B * context / (ms / 1e3)})
                except Exception as e:  # noqa: BLE001 - recorded; the other rows still run
                    row["error"] = repr(e)[:500]
            line["rows"].append(row)
        if triton_available():
            # the kernel and the dual form compute the same thing: a mismatch here makes the timing meaningless
            z_kernel, _ = K.ours(p, "auto")
            z_dual, _ = K.torch_dual(pt)
            err = (z_kernel.double() - z_dual.double()).pow(2).mean() / z_dual.double().pow(2).mean()
            line["kernel_vs_dual_rel_rms"] = err.sqrt().item()
    ms = {r["method"]: r.get("ms") for r in line["rows"]}
    if ms["attention_sdpa"] and ms["ttt_linear_kernel"]:
        line["kernel_speedup_vs_sdpa"] = ms["attention_sdpa"] / ms["ttt_linear_kernel"]
    if cuda:
        torch.cuda.empty_cache()
    return line


# ---------------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------------


def _num(x: float | None, fmt: str, none: str = "n/a") -> str:
    return none if x is None else format(x, fmt)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _count(n: int) -> str:
    return f"{n / 1e6:,.1f}M" if n >= 100_000 else f"{n:,}"


def format_table(record: dict[str, Any]) -> str:
    """The markdown table of a record: one row per training line, then the TTT prefill rows."""
    peak = record.get("peak_bf16_tflops")
    out = [
        (
            f"train_mfu, {record['date_utc']} UTC, {record['device']}, torch {record['torch']}, "
            f"peak bf16 {_num(peak, '.1f', 'unknown')} TFLOP/s, goal: MFU >= {GOAL_MFU:.0%} for {GOAL_MODEL}"
        ),
        "",
        "| model | params | mode | batch x accum x ctx | tokens/s | MFU | peak mem GiB | warm-up s |",
        "|---|---:|---|---|---:|---:|---:|---:|",
    ]
    for r in record["runs"]:
        if "error" in r:
            out.append(f"| {r['model']} | | {r['mode']} | | failed: {r['error'].splitlines()[-1][:80]} | | | |")
            continue
        mode = r["mode"] if r["compile_backend"] in (None, "inductor") else f"{r['mode']} ({r['compile_backend']})"
        out.append(
            f"| {r['label']} | {_count(r['params'])} | {mode} | {r['batch_size']} x {r['grad_accum']} x "
            f"{r['context']} | {r['tokens_per_s']:,.0f} | {_pct(r['mfu'])} | "
            f"{_num(r['max_memory_gib'], '.1f')} | {r['warmup_s']:.1f} |"
        )
    ttt = record.get("ttt_prefill")
    if ttt:
        out += [
            "",
            (
                f"| prefill {ttt['batch']} x {ttt['context']}, {ttt['heads']} heads x {ttt['head_dim']}, "
                f"{ttt['dtype']}, mini-batch {ttt['mini_batch']} | ms | tokens/s |"
            ),
            "|---|---:|---:|",
        ]
        for row in ttt["rows"]:
            if "ms" in row:
                out.append(f"| {row['method']} | {row['ms']:.3f} | {row['tokens_per_s']:,.0f} |")
            else:
                out.append(f"| {row['method']} | failed: {row['error'][:80]} | |")
        if ttt["kernel_mode"] != "compiled":
            out.append(f"\n(the kernel ran in {ttt['kernel_mode']}: a check of the code path, not a timing)")
        if "kernel_speedup_vs_sdpa" in ttt:
            out.append(
                f"\nTTT-Linear kernel vs SDPA: {ttt['kernel_speedup_vs_sdpa']:.2f}x; kernel vs dual form rel. RMS "
                f"{ttt.get('kernel_vs_dual_rel_rms', float('nan')):.1e}"
            )
    elif "ttt_prefill_error" in record:
        out.append(f"\nTTT prefill failed: {record['ttt_prefill_error'].splitlines()[-1][:120]}")
    return "\n".join(out)


def goal_met(runs: list[dict[str, Any]]) -> bool | None:
    """Whether the best line of the 160M model reaches the goal MFU (``None`` without an MFU for it)."""
    mfus = [r["mfu"] for r in runs if r["model"] == GOAL_MODEL and r.get("mfu") is not None]
    return max(mfus) >= GOAL_MFU if mfus else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    ap.add_argument("--batch-size", type=int, default=None, help="micro-batch for every model (default: per model)")
    ap.add_argument("--grad-accum", type=int, default=None, help="micro-batches per step (default: per model)")
    ap.add_argument("--steps", type=int, default=None, help="timed optimizer steps (default 20; smoke 3)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps first, >= 1 (default 5; smoke 1)")
    ap.add_argument("--no-compile", action="store_true", help="eager lines only")
    ap.add_argument("--compile-backend", default=None, help="torch.compile backend (default inductor; smoke eager)")
    ap.add_argument("--peak-tflops", type=float, default=None, help="peak bf16 TFLOP/s (default: by device name)")
    ap.add_argument("--ttt-context", type=int, default=None, help="TTT prefill tokens (default 8192; smoke 64)")
    ap.add_argument("--no-ttt", action="store_true", help="skip the TTT prefill line")
    ap.add_argument("--smoke", action="store_true", help="tiny shapes on the CPU: checks the code path only")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    smoke = args.smoke
    args.steps = (3 if smoke else 20) if args.steps is None else args.steps
    args.warmup = (1 if smoke else 5) if args.warmup is None else args.warmup
    if args.steps < 1 or args.warmup < 1:
        ap.error("--steps and --warmup must be at least 1 (the timed span starts after a logged warm-up step)")
    backend = args.compile_backend or ("eager" if smoke else "inductor")
    ttt_context = args.ttt_context or (64 if smoke else 8192)
    out_path = args.out or RESULTS / ("train_mfu_smoke.json" if smoke else "train_mfu.json")

    if not smoke and not torch.cuda.is_available():
        print(
            "train_mfu: CUDA is not available on this machine; skipping the GPU benchmark (nothing written). "
            "--smoke runs the code path on the CPU with tiny shapes."
        )
        return 0
    device = torch.device("cpu" if smoke else "cuda")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (--smoke, tiny shapes)"
    peak = args.peak_tflops or (peak_tflops(name) if device.type == "cuda" else None)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    try:
        import triton

        triton_version = triton.__version__
    except ImportError as e:
        triton_version = f"not importable: {e!r}"
    record: dict[str, Any] = {
        "benchmark": "train_mfu",
        "issue": "29, item 6",
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "device": name,
        "smoke": smoke,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "transformers": transformers.__version__,
        "triton": triton_version,
        "peak_bf16_tflops": peak,
        "goal": f"MFU >= {GOAL_MFU} for {GOAL_MODEL} (best of eager and compiled)",
        "flops_per_token_formula": "6N + 12*L*d*T (repro.common.lm.models.model_flops_per_token; N from the module)",
        "machine": timing_context(),  # before the timed steps: the (CPU) speed probe takes about a second
        "runs": [],
    }
    specs = SMOKE_MODELS if smoke else MODELS
    # enough for random windows of every model's batch; fewer on the CPU, where the cumulative sum costs ~1 s
    span = min(1024, *(specs[k].cfg.vocab_size for k in args.models))  # ids every model's embedding has
    tokens = random_walk_tokens(200_000 if smoke else 4_000_000, span=span)
    ok = True

    def save() -> None:
        record["goal_met"] = None if smoke else goal_met(record["runs"])  # tiny CPU shapes say nothing of it
        record["table_markdown"] = format_table(record)
        write_json(out_path, record)  # after every line, so that a time-out keeps what was measured

    def run_model(key: str) -> None:
        nonlocal ok
        spec = specs[key]
        try:
            model = build(spec.cfg)
            fpt = model_flops_per_token(spec.cfg, model)
        except Exception:  # noqa: BLE001 - recorded; the other models still run
            record["runs"].append({"model": key, "mode": "build", "error": traceback.format_exc()[-3000:]})
            print(record["runs"][-1]["error"], flush=True)
            ok = False
            return
        for compiled in (False,) if args.no_compile else (False, True):
            t0 = time.perf_counter()
            try:
                line = train_line(
                    key,
                    spec,
                    model,
                    compiled=compiled,
                    backend=backend,
                    args=args,
                    device=device,
                    tokens=tokens,
                    peak=peak,
                    flops_per_token=fpt,
                )
                ok &= line["ok"]
                print(
                    f"{key} {line['mode']}: {line['tokens_per_s']:,.0f} tokens/s, MFU "
                    f"{_pct(line['mfu'])}, loss {line['first_loss']:.3f} -> "
                    f"{line['last_loss']:.3f} ({time.perf_counter() - t0:.0f} s)",
                    flush=True,
                )
            except Exception:  # noqa: BLE001 - an out-of-memory or compile error is recorded; the next line runs
                line = {
                    "model": key,
                    "mode": "compile" if compiled else "eager",
                    "error": traceback.format_exc()[-3000:],
                }
                print(line["error"], flush=True)
                ok = False
            record["runs"].append(line)
            free(device)
            save()
        del model
        free(device)

    # the small model first and the TTT line before the 1.1B model, whose compilation takes longest: a time-out
    # then costs the least
    for key in [k for k in MODELS if k in args.models and k != "tinyllama-1.1b"]:
        run_model(key)
    if not args.no_ttt:
        try:
            record["ttt_prefill"] = ttt_prefill_line(ttt_context, device)
            ok &= all("ms" in r for r in record["ttt_prefill"]["rows"])
        except Exception:  # noqa: BLE001 - recorded; the 1.1B model still runs
            record["ttt_prefill_error"] = traceback.format_exc()[-3000:]
            print(record["ttt_prefill_error"], flush=True)
            ok = False
        save()
    if "tinyllama-1.1b" in args.models:
        run_model("tinyllama-1.1b")
    save()
    print(record["table_markdown"])
    print(f"wrote {out_path}" + ("" if ok else "; some lines FAILED"), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
