"""GPU check and benchmark of the Triton TTT-Linear kernel (Sun et al. 2024, Sec. 3.3: faster than a
Transformer at 8k context).

Three sections, each recorded in one JSON file, ``benchmarks/results/ttt_gpu_kernel_<device>.json``:

* ``check``: the kernel (``fused`` and ``split`` strategies) against the PyTorch dual form (the reference,
  run in float64 on the GPU) for ``B=2, H=4, T=1000`` (62 whole mini-batches and a partial one), ``d=64``:
  float32 inputs with IEEE products must agree to ``FP32_ATOL`` (outputs, final state, pending gradients);
  bfloat16 inputs to a relative RMS error of ``BF16_RTOL`` (bf16 resolution 2^-8 = 3.9e-3 per rounding);
  the PyTorch dual form run in bf16 is recorded beside it. Also: ``TTTLayer`` on CUDA dispatches to the
  kernel in ``auto`` mode, and its output matches ``REPRO_TTT_KERNEL=torch``. Exit status 1 on a failure.
* ``prefill``: milliseconds for ``B x T`` in (1 x 2k, 1 x 8k, 1 x 32k, 8 x 8k, 8 x 32k), 32 heads x 64, bf16,
  mini-batch 16, LN + residual, learnable-W0 shape (W0, b0), per-token eta and position factors: our kernel
  (both strategies at the default 8 warps, eager and CUDA-graph replayed; split also at 4 warps), the PyTorch dual form (eager and graph replayed),
  flash-linear-attention's ``chunk_ttt_linear`` (if importable), and ``scaled_dot_product_attention``
  (flash backend, causal). fla's TTT-Linear differs from ours in its output residual
  (``f_res(x_Q) + LN(f_res(x_Q))`` instead of ``x_Q + LN(f_res(x_Q))``, see tests/unit/ttt/test_ttt_triton_fla.py);
  the work is the same. Timings: CUDA events, median of repeated runs after warm-up (and fla's autotuning).
* ``decode``: ms/token for one decode step at context 2k/8k/32k, TTT-Linear (primal form per token) vs a
  KV-cached Transformer, 4 blocks of d_model 2048 = 32 heads x 64, bf16, batch 1
  (``repro.ttt.latency.measure_latency``; its prefill column uses the kernel for TTT-Linear).

Without CUDA it prints a message and exits 0. ``benchmarks/gpu_check.sh`` runs it with ``lm_gpu.py``.

    python benchmarks/ttt_gpu_kernel.py [--sections check prefill decode] [--quick]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch

from repro.common.io import write_json
from repro.common.machine import timing_context
from repro.ttt.kernels import KERNEL_ENV, triton_ttt_linear_scan, use_triton
from repro.ttt.layers import InnerSpec, InnerState, TTTLayer, TTTLayerConfig, ttt_scan

FP32_ATOL = 1e-4
BF16_RTOL = 1e-2
SHAPES = [(1, 2048), (1, 8192), (1, 32768), (8, 8192), (8, 32768)]
H, D, BT = 32, 64, 16


# ---------------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------------


def make_problem(B: int, T: int, n_head: int, d: int, dtype: torch.dtype, device: str, seed: int = 0) -> dict:
    """Views laid out as a layer makes them (``[B, T, H, d]`` storage, ``[B, H, T, d]`` views), generic values."""
    g = torch.Generator(device=device).manual_seed(seed)

    def rnd(*shape: int, std: float = 1.0) -> torch.Tensor:
        return torch.randn(*shape, generator=g, device=device, dtype=torch.float32) * std

    xq, xk, xv = (rnd(B, T, n_head, d).to(dtype).transpose(1, 2) for _ in range(3))
    eta = (0.5 + 0.5 * torch.rand(B, T, n_head, generator=g, device=device)) / d  # σ(θ_lr x) / head_dim
    params = {
        "W1": rnd(n_head, d, d, std=0.02).expand(B, n_head, d, d),
        "b1": rnd(n_head, 1, d, std=0.02).expand(B, n_head, 1, d),
    }
    return {
        "state": InnerState(params, {k: torch.zeros_like(v) for k, v in params.items()}, 0),
        "xq": xq,
        "xk": xk,
        "xv": xv,
        "eta": eta.to(dtype).transpose(1, 2),
        "scale": 1.0 / torch.arange(1, BT + 1, device=device, dtype=torch.float32) + 0.01,
        "spec": InnerSpec("linear", True, BT),
        "gamma": 1.0 + rnd(n_head, d, std=0.1),
        "beta": rnd(n_head, d, std=0.1),
    }


def cast(p: dict, dtype: torch.dtype) -> dict:
    """The same problem in another dtype (views, rates, W0, LN weights; position factors kept float32)."""
    q = dict(p)
    for k in ("xq", "xk", "xv", "eta", "gamma", "beta"):
        q[k] = p[k].to(dtype)
    params = {k: v.to(dtype) for k, v in p["state"].params.items()}
    q["state"] = InnerState(params, {k: torch.zeros_like(v) for k, v in params.items()}, 0)
    q["scale"] = p["scale"].to(dtype)
    return q


def torch_dual(p: dict) -> tuple[torch.Tensor, InnerState]:
    """The PyTorch dual form (the reference), whatever the switch says."""
    old = os.environ.get(KERNEL_ENV)
    os.environ[KERNEL_ENV] = "torch"
    try:
        return ttt_scan(p["state"], p["xq"], p["xk"], p["xv"], p["eta"], p["scale"], p["spec"], p["gamma"], p["beta"])
    finally:
        if old is None:
            del os.environ[KERNEL_ENV]
        else:
            os.environ[KERNEL_ENV] = old


def ours(p: dict, strategy: str) -> tuple[torch.Tensor, InnerState]:
    return triton_ttt_linear_scan(
        p["state"], p["xq"], p["xk"], p["xv"], p["eta"], p["scale"], p["spec"], p["gamma"], p["beta"], strategy=strategy
    )


# ---------------------------------------------------------------------------------------------------
# check
# ---------------------------------------------------------------------------------------------------


def _rel(a: torch.Tensor, ref: torch.Tensor) -> float:
    a, ref = a.double(), ref.double()
    return ((a - ref).pow(2).mean() / ref.pow(2).mean()).sqrt().item()


def _maxabs(a: torch.Tensor, ref: torch.Tensor) -> float:
    return (a.double() - ref.double()).abs().max().item()


def section_check(dev: str = "cuda", T: int = 1000, layer_T: int = 333, layer_heads: int = H) -> dict:
    """(Arguments only for a CPU dry run of this code in Triton's interpreter.)"""
    p32 = make_problem(2, T, 4, D, torch.float32, dev, seed=1)
    z64, s64 = torch_dual(cast(p32, torch.float64))
    out: dict = {"shape": f"B=2, H=4, T={T}, d={D}", "fp32_atol": FP32_ATOL, "bf16_rtol": BF16_RTOL, "cases": {}}
    ok = True
    zt32, _ = torch_dual(p32)
    out["torch_fp32_vs_fp64_max_abs"] = _maxabs(zt32, z64)
    pbf = cast(p32, torch.bfloat16)
    ztb, stb = torch_dual(pbf)
    out["torch_bf16_vs_fp64_rel_rms"] = _rel(ztb, z64)
    for strategy in ("fused", "split"):
        z, st = ours(p32, strategy)
        case = {"out_max_abs": _maxabs(z, z64), "count": st.count, "count_ref": s64.count}
        case.update({f"{k}_max_abs": _maxabs(st.params[k], s64.params[k]) for k in st.params})
        case.update({f"grad_{k}_max_abs": _maxabs(st.grads[k], s64.grads[k]) for k in st.grads})
        case["pass"] = st.count == s64.count and all(v < FP32_ATOL for k, v in case.items() if k.endswith("abs"))
        out["cases"][f"fp32_{strategy}"] = case
        ok &= case["pass"]
        # bf16 views/rates, W0 and LN kept as the layer keeps them (parameters in float32)
        pb = dict(p32)
        for k in ("xq", "xk", "xv", "eta"):
            pb[k] = p32[k].to(torch.bfloat16)
        z, st = ours(pb, strategy)
        case = {
            "out_rel_rms": _rel(z, z64),
            "W1_rel_rms": _rel(st.params["W1"], s64.params["W1"]),
            "b1_rel_rms": _rel(st.params["b1"], s64.params["b1"]),
            "out_dtype": str(z.dtype),
        }
        case["pass"] = all(v < BF16_RTOL for k, v in case.items() if k.endswith("rms"))
        out["cases"][f"bf16_{strategy}"] = case
        ok &= case["pass"]
    # the layer on CUDA: auto mode dispatches to the kernel, and agrees with the PyTorch dual form
    torch.manual_seed(0)
    layer = TTTLayer(TTTLayerConfig(d_model=layer_heads * D, n_head=layer_heads, mini_batch_size=BT)).to(dev).eval()
    x = torch.randn(2, layer_T, layer_heads * D, device=dev)
    with torch.inference_mode():
        xq, xk, xv, _, _ = layer._views(x, None)
        st0 = layer.init_state(2)
        dispatched = use_triton(st0.inner, xq, xk, xv, layer._eta(x), layer.spec, *layer._ln())
        os.environ.pop(KERNEL_ENV, None)
        y_auto, _ = layer.prefill(x)
        os.environ[KERNEL_ENV] = "torch"
        y_torch, _ = layer.prefill(x)
        del os.environ[KERNEL_ENV]
    layer_case = {"auto_dispatches_to_triton": dispatched, "layer_fp32_max_abs": _maxabs(y_auto, y_torch)}
    layer_case["pass"] = dispatched and layer_case["layer_fp32_max_abs"] < FP32_ATOL
    out["cases"]["layer_fp32"] = layer_case
    ok &= layer_case["pass"]
    # peer: fla's chunk kernel, rates mapped as in the unit test (η constant per head, η' = 2 s_i η)
    try:
        from fla.ops.ttt import chunk_ttt_linear

        q = make_problem(2, 1024, 4, D, torch.float32, dev, seed=2)
        q["eta"] = q["eta"][:, :, :1].expand_as(q["eta"]).contiguous()
        _, s_ref = torch_dual(q)
        s_i = q["scale"][torch.arange(1024, device=dev) % BT]
        eta_f = (2.0 * s_i * q["eta"]).transpose(1, 2)[..., None].contiguous()
        _, h, hb = chunk_ttt_linear(
            q["xq"].transpose(1, 2).contiguous(),
            q["xk"].transpose(1, 2).contiguous(),
            q["xv"].transpose(1, 2).contiguous(),
            q["gamma"],
            q["beta"],
            eta_f,
            scale=1.0,
            eps=q["spec"].eps,
            chunk_size=BT,
            initial_state=q["state"].params["W1"].contiguous(),
            initial_state_bias=q["state"].params["b1"].contiguous(),
            output_final_state=True,
        )
        out["fla_chunk_fp32_final_W_max_abs_vs_ours"] = _maxabs(h, s_ref.params["W1"])
        out["fla_chunk_fp32_final_b_max_abs_vs_ours"] = _maxabs(hb, s_ref.params["b1"])
    except Exception as e:  # informative only
        out["fla_chunk_error"] = repr(e)
    out["pass"] = bool(ok)
    return out


# ---------------------------------------------------------------------------------------------------
# prefill benchmark
# ---------------------------------------------------------------------------------------------------


def cuda_ms(fn: Callable[[], object], warmup: int = 2, reps: int = 10, budget_s: float = 3.0) -> float:
    """Median milliseconds of ``fn`` by CUDA events, after ``warmup`` calls; fewer reps for slow calls."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times: list[float] = []
    t_end = time.perf_counter() + budget_s
    while len(times) < reps and (len(times) < 3 or time.perf_counter() < t_end):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def graphed(fn: Callable[[], object]) -> Callable[[], object]:
    """``fn`` captured in a CUDA graph (after two warm-up calls on a side stream); returns the replay."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(2):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    return g.replay


def section_prefill(shapes: list[tuple[int, int]]) -> dict:
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.nn.functional import scaled_dot_product_attention as sdpa

    try:
        from fla.ops.ttt import chunk_ttt_linear
    except Exception as e:
        chunk_ttt_linear, fla_error = None, repr(e)
    else:
        fla_error = None
    rows = []
    for B, T in shapes:
        row: dict = {"batch": B, "context": T}
        p = make_problem(B, T, H, D, torch.bfloat16, "cuda")
        # bf16 views and rates; the kernel takes W0, b0 and the inner LN in float32 (a layer's parameters),
        # the PyTorch dual form needs one dtype throughout (a model cast to bf16)
        pt = cast(p, torch.bfloat16)
        methods: dict[str, Callable[[], object]] = {
            "ours_fused": lambda: ours(p, "fused"),
            "ours_split": lambda: ours(p, "split"),
            "ours_split_w4": lambda: triton_ttt_linear_scan(
                p["state"],
                p["xq"],
                p["xk"],
                p["xv"],
                p["eta"],
                p["scale"],
                p["spec"],
                p["gamma"],
                p["beta"],
                strategy="split",
                num_warps=4,
            ),
            "torch_dual": lambda: torch_dual(pt),
        }
        if chunk_ttt_linear is not None:
            qf, kf, vf = (p[k].transpose(1, 2) for k in ("xq", "xk", "xv"))  # [B, T, H, d] storage, no copy
            ef = p["eta"].transpose(1, 2)[..., None]
            w0 = p["state"].params["W1"].contiguous()
            b0 = p["state"].params["b1"].contiguous()
            methods["fla_chunk"] = lambda: chunk_ttt_linear(
                qf,
                kf,
                vf,
                p["gamma"],
                p["beta"],
                ef,
                scale=1.0,
                eps=1e-6,
                chunk_size=BT,
                initial_state=w0,
                initial_state_bias=b0,
                output_final_state=True,
            )
        qs, ks, vs = (p[k].contiguous() for k in ("xq", "xk", "xv"))

        def attn() -> object:
            with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                return sdpa(qs, ks, vs, is_causal=True)

        methods["sdpa_flash"] = attn
        with torch.inference_mode():
            for name, fn in methods.items():
                try:
                    row[f"{name}_ms"] = cuda_ms(fn, warmup=3 if name == "fla_chunk" else 2)
                except Exception as e:
                    row[f"{name}_error"] = repr(e)[:300]
                if name in ("ours_fused", "ours_split", "torch_dual"):
                    try:
                        row[f"{name}_graph_ms"] = cuda_ms(graphed(fn))
                    except Exception as e:
                        row[f"{name}_graph_error"] = repr(e)[:300]
                torch.cuda.empty_cache()
        ours_best = min((row[k] for k in row if k.startswith("ours") and k.endswith("_ms")), default=None)
        row["ours_best_ms"] = ours_best
        if ours_best is not None and "sdpa_flash_ms" in row:
            row["ours_vs_sdpa_speedup"] = row["sdpa_flash_ms"] / ours_best
        if ours_best is not None and "fla_chunk_ms" in row:
            row["ours_vs_fla_speedup"] = row["fla_chunk_ms"] / ours_best
        print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
        rows.append(row)
        del p, methods
        torch.cuda.empty_cache()
    return {
        "heads": H,
        "head_dim": D,
        "mini_batch": BT,
        "dtype": "bfloat16",
        "fla_import_error": fla_error,
        "rows": rows,
        "goal": "ours_best_ms < sdpa_flash_ms at 1 x 8k, and ours_best_ms <= fla_chunk_ms",
        "goal_met_1x8k": next(
            (
                r.get("ours_vs_sdpa_speedup", 0) > 1 and r.get("ours_vs_fla_speedup", 0) >= 1
                for r in rows
                if (r["batch"], r["context"]) == (1, 8192)
            ),
            None,
        ),
    }


# ---------------------------------------------------------------------------------------------------
# decode
# ---------------------------------------------------------------------------------------------------


def section_decode(contexts: tuple[int, ...]) -> dict:
    from repro.ttt.latency import LatencyConfig, format_table, measure_latency
    from repro.ttt.models import LMConfig

    cfg = LatencyConfig(
        archs=("ttt_linear", "transformer"),
        contexts=contexts,
        model=LMConfig(vocab_size=32000, d_model=H * D, n_layer=4, n_head=H, context=2048),
        batch=1,
        warmup=2,
        repeats=3,
        decode_steps=32,
        threads=None,
        device="cuda",
        dtype="bfloat16",
    )
    rows = measure_latency(
        cfg,
        progress=lambda r: print(
            f"{r['arch']:12s} ctx {r['ctx']:6d}  prefill {r['prefill_ms_per_token']:.5f} ms/tok  "
            f"decode {r['decode_ms_per_token']:.3f} ms/tok",
            flush=True,
        ),
    )
    return {
        "model": "4 blocks, d_model 2048, 32 heads x 64, vocab 32000, bf16, batch 1",
        "rows": rows,
        "table_markdown": format_table(rows),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--sections", nargs="+", default=["check", "prefill", "decode"], choices=["check", "prefill", "decode"]
    )
    ap.add_argument("--quick", action="store_true", help="prefill 1 x 2k and 1 x 8k only; decode at 2k only")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("ttt_gpu_kernel: CUDA is not available on this machine; nothing to do (nothing written).")
        return 0
    name = torch.cuda.get_device_name()
    slug = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower()
    out_path = args.out or Path(__file__).parent / "results" / f"ttt_gpu_kernel_{slug}.json"
    import triton

    record: dict = {
        "benchmark": "ttt_gpu_kernel",
        "device": name,
        "torch": torch.__version__,
        "triton": triton.__version__,
        "machine": timing_context(),  # before the sections: the speed probe takes about a second
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    }
    try:
        import fla

        record["fla"] = getattr(fla, "__version__", "?")
    except Exception as e:
        record["fla"] = f"not importable: {e!r}"
    ok = True
    for sec in args.sections:
        t0 = time.perf_counter()
        print(f"== {sec}", flush=True)
        try:
            if sec == "check":
                record["check"] = section_check()
                ok &= record["check"]["pass"]
                print(record["check"], flush=True)
            elif sec == "prefill":
                record["prefill"] = section_prefill(SHAPES[:2] if args.quick else SHAPES)
            else:
                record["decode"] = section_decode((2048,) if args.quick else (2048, 8192, 32768))
                print(record["decode"]["table_markdown"], flush=True)
        except Exception:
            record[f"{sec}_error"] = traceback.format_exc()[-3000:]
            print(record[f"{sec}_error"], flush=True)
            ok = False
        record[f"{sec}_seconds"] = time.perf_counter() - t0
        write_json(out_path, record)  # after every section, so a timeout keeps what was measured
    print(f"wrote {out_path}; checks {'passed' if ok else 'FAILED'}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
