"""Prefill and decode latency per token vs context length (Sun et al. 2024, Sec. 3.3, Fig. "latency").

The paper measures, on an A100 for 1.3B models, forward (prefill) and generate (decode) time per token as
the context grows: the Transformer's grows linearly with context (attention over all previous tokens),
while TTT and Mamba stay about constant (a fixed-size hidden state). This module measures the same two
quantities for our models:

* TTT-Linear: dual-form mini-batch scan for prefill, primal form one token at a time for decode;
* Transformer: causal SDPA for prefill, KV-cache attention for decode;
* Mamba: selective scan for prefill, (conv, SSM) state update for decode.

Protocol: warm-up runs, then the median of ``repeats`` timings; ``torch.set_num_threads`` is set from
the config (2 on the shared CPU machine); on CUDA every timing is bracketed by ``synchronize``.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F

from repro.common.seeds import seed_everything
from repro.ttt.archs import get_arch
from repro.ttt.models import KVCache, LMCache, LMConfig, build_model


@dataclass
class LatencyConfig:
    """What to time (defaults: the toy models of papers/ttt.md Sec. 6 on a 2-core CPU)."""

    archs: tuple[str, ...] = ("ttt_linear", "transformer", "mamba")  # names in repro.ttt.archs.ARCHS
    contexts: tuple[int, ...] = (256, 512, 1024, 2048, 4096, 8192)
    model: LMConfig = field(default_factory=lambda: LMConfig(vocab_size=256, d_model=128, n_layer=4, n_head=4))
    mamba_layers_per_block: int = 2  # Mamba has two mixers per Transformer block (equal parameters)
    batch: int = 1
    warmup: int = 1
    repeats: int = 5  # median of this many prefill timings
    decode_steps: int = 16  # median over this many single-token decode steps (after warm-up steps)
    threads: int | None = 2  # torch.set_num_threads; None leaves it alone
    device: str = "cpu"
    dtype: str = "float32"
    seed: int = 0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], object], device: torch.device) -> float:
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t0


def device_label(device: torch.device, threads: int | None) -> str:
    """``cpu (2 threads)`` or the CUDA device name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({threads if threads is not None else torch.get_num_threads()} threads)"


def arch_config(arch: str, base: LMConfig, mamba_layers_per_block: int = 2) -> LMConfig:
    """The ``LMConfig`` of architecture ``arch`` (repro.ttt.archs) on top of ``base``."""
    a = get_arch(arch)
    variant, backbone = a.variant, a.backbone
    cfg = replace(base, variant=variant, backbone=backbone, ttt_form="dual")
    if variant == "mamba":
        cfg = replace(cfg, n_layer=base.n_layer * mamba_layers_per_block)
    return cfg


def reserve_kv(cache: LMCache, extra: int) -> None:
    """Grow every KV cache of ``cache`` once to hold ``extra`` more tokens, so that no timed decode step pays
    for a capacity doubling (a copy of the whole cache: the old 4k-to-8k jump of the Transformer's decode)."""
    for state in cache.layers:
        if isinstance(state, KVCache) and state.k.shape[2] < state.length + extra:
            grow = (0, 0, 0, state.length + extra - state.k.shape[2])
            state.k, state.v = F.pad(state.k, grow), F.pad(state.v, grow)


def measure_latency(cfg: LatencyConfig, progress: Callable[[dict], None] | None = None) -> list[dict]:
    """Rows ``{device, ctx, arch, prefill_ms_per_token, decode_ms_per_token, ...}`` for every arch and context.

    ``prefill_ms_per_token`` = median time of ``prefill(ids[B, ctx])`` / ctx (after ``warmup`` untimed runs);
    ``decode_ms_per_token`` = median over ``repeats`` fresh caches x ``decode_steps`` timed steps (after
    ``warmup`` untimed steps each) of one ``step`` right after a prefill of ``ctx`` tokens (so the Transformer
    attends to ``ctx`` cached keys), with the KV caches' capacity reserved before timing and garbage collected
    before every context. Times are per token of one sequence; with ``batch > 1`` every step handles ``batch`` tokens.
    """
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    device = torch.device(cfg.device)
    dtype = getattr(torch, cfg.dtype)
    label = device_label(device, cfg.threads)
    rows: list[dict] = []
    for arch in cfg.archs:
        seed_everything(cfg.seed)
        mcfg = arch_config(arch, cfg.model, cfg.mamba_layers_per_block)
        model = build_model(mcfg).to(device=device, dtype=dtype).eval()
        n_params = model.num_parameters()
        gen = torch.Generator().manual_seed(cfg.seed)
        for ctx in cfg.contexts:
            ids = torch.randint(
                0, mcfg.vocab_size, (cfg.batch, ctx + cfg.decode_steps + cfg.warmup + 1), generator=gen
            ).to(device)
            prompt = ids[:, :ctx]
            gc.collect()  # the same allocator state before every context (no garbage of the previous one)
            with torch.inference_mode():
                for _ in range(cfg.warmup):
                    _timed(lambda: model.prefill(prompt), device)
                pre = [_timed(lambda: model.prefill(prompt), device) for _ in range(cfg.repeats)]
                steps: list[float] = []
                for _ in range(cfg.repeats):  # decode: a fresh cache per repeat, its capacity reserved up front
                    _, cache = model.prefill(prompt)
                    reserve_kv(cache, cfg.warmup + cfg.decode_steps + 1)
                    for i in range(cfg.warmup + cfg.decode_steps):
                        tok = ids[:, ctx + i]
                        _sync(device)
                        t0 = time.perf_counter()
                        _, cache = model.step(tok, cache)
                        _sync(device)
                        if i >= cfg.warmup:
                            steps.append(time.perf_counter() - t0)
                    del cache
            row = {
                "device": label,
                "ctx": ctx,
                "arch": arch,
                "model": mcfg.name,
                "n_params": n_params,
                "batch": cfg.batch,
                "prefill_ms_per_token": 1e3 * statistics.median(pre) / ctx,
                "decode_ms_per_token": 1e3 * statistics.median(steps),
            }
            rows.append(row)
            if progress is not None:
                progress(row)
        del model
    return rows


def format_table(rows: list[dict]) -> str:
    """Markdown table: one line per context, prefill and decode ms/token per arch."""
    archs = list(dict.fromkeys(r["arch"] for r in rows))
    ctxs = sorted({r["ctx"] for r in rows})
    by = {(r["arch"], r["ctx"]): r for r in rows}
    head = "| ctx | " + " | ".join(f"{a} prefill | {a} decode" for a in archs) + " |"
    sep = "|---:|" + "---:|" * (2 * len(archs))
    lines = [head, sep]
    for c in ctxs:
        cells = []
        for a in archs:
            r = by.get((a, c))
            cells += [
                "" if r is None else f"{r['prefill_ms_per_token']:.4f}",
                "" if r is None else f"{r['decode_ms_per_token']:.3f}",
            ]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
