"""benchmarks/train_mfu.py (issue 29, item 6: tokens/s and MFU of a Pythia-160M and a TinyLlama-1.1B shape on
one GPU; TTT-Linear vs attention prefill at 8k) without a GPU: its ``--smoke`` path runs the same code on the
CPU with tiny shapes, and its FLOPs/token and MFU are checked against hand counts.

Hand counts: a GPT-NeoX layer has ``12d² + 13d`` parameters (QKV ``3d² + 3d``, output ``d² + d``, MLP
``8d² + 5d``, two LayerNorms ``4d``); a Llama layer with ``k`` KV heads of size ``h`` has ``2d² + 2d·k·h``
(attention) ``+ 3·d·d_ff`` (SwiGLU) ``+ 2d`` (RMSNorms). FLOPs/token = ``6N + 12·L·d·T`` with N the
non-embedding parameters plus the output layer (untied here).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[4]
BENCH = ROOT / "benchmarks"


def _neox_n(L: int, d: int, V: int) -> int:
    """Non-embedding parameters (with the final LayerNorm) plus the untied output layer."""
    return L * (12 * d * d + 13 * d) + 2 * d + V * d


def _llama_n(L: int, d: int, kv: int, head: int, ff: int, V: int) -> int:
    return L * (2 * d * d + 2 * d * kv * head + 3 * d * ff + 2 * d) + d + V * d


@pytest.fixture(scope="module")
def bench():
    """The benchmark modules (``benchmarks/`` is no package; the scripts import each other by bare name)."""
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("train_mfu"), importlib.import_module("gpu_common")
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    """One ``--smoke`` run as a subprocess (its own process: torch.compile and Triton's interpreter leave state)."""
    out = tmp_path_factory.mktemp("train_mfu") / "train_mfu_smoke.json"
    env = {k: v for k, v in os.environ.items() if k not in ("TRITON_INTERPRET", "REPRO_TTT_KERNEL")}
    proc = subprocess.run(
        [sys.executable, str(BENCH / "train_mfu.py"), "--smoke", "--peak-tflops", "1", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        check=False,  # the assertion below shows the output
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout


def test_mfu_formula_on_a_hand_computed_example(bench):
    _, common = bench
    # Pythia-160M: N = 85,056,000 non-embedding parameters (Biderman et al. 2023, Table 1) + 50,304 x 768 output
    n = 85_056_000 + 50_304 * 768
    assert n == _neox_n(12, 768, 50_304) == 123_689_472
    fpt = 6 * n + 12 * 12 * 768 * 2048
    assert fpt == 968_629_248
    # 400k tokens/s on an H100 SXM (989.5 TFLOP/s dense bf16): 3.8745e14 / 9.895e14
    assert common.mfu(400_000, fpt, 989.5) == pytest.approx(0.391563, abs=1e-6)
    assert common.mfu(400_000, fpt, None) is None
    assert common.peak_tflops("NVIDIA H100 80GB HBM3") == 989.5
    assert common.peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert common.peak_tflops("NVIDIA H200") == 989.5
    assert common.peak_tflops("Some CPU") is None


def test_full_size_models_count_as_the_papers_do(bench):
    """The GPU shapes, built on the meta device (no memory): Pythia-160M's 162,322,944 parameters (Biderman et al.
    2023) and TinyLlama's 1,100,048,384, and the FLOPs/token that their MFU uses."""
    from repro.common.lm.models import count_params, model_flops_per_token

    train_mfu, _ = bench
    expected = {
        "pythia-160m": (162_322_944, 6 * _neox_n(12, 768, 50_304) + 12 * 12 * 768 * 2048),
        "tinyllama-1.1b": (1_100_048_384, 6 * _llama_n(22, 2048, 4, 64, 5632, 32_000) + 12 * 22 * 2048 * 2048),
    }
    for key, (params, fpt) in expected.items():
        spec = train_mfu.MODELS[key]
        with torch.device("meta"):
            model = train_mfu.build(spec.cfg)
        assert count_params(model) == params, key
        assert model_flops_per_token(spec.cfg, model) == fpt, key
    assert expected["pythia-160m"][1] == 968_629_248


def test_smoke_lines_have_positive_finite_throughput(smoke):
    record, stdout = smoke
    assert record["smoke"] is True and record["goal_met"] is None
    assert record["date_utc"] and record["device"].startswith("CPU")
    assert "probe" in record["machine"] and "record" in record["machine"]
    lines = {(r["model"], r["mode"]): r for r in record["runs"]}
    assert set(lines) == {(m, mode) for m in ("pythia-160m", "tinyllama-1.1b") for mode in ("eager", "compile")}
    # the smoke shapes (benchmarks/train_mfu.py SMOKE_MODELS): context 64, vocabulary 128, untied
    fpt = {
        "pythia-160m": 6 * _neox_n(2, 32, 128) + 12 * 2 * 32 * 64,
        "tinyllama-1.1b": 6 * _llama_n(2, 32, 2, 8, 88, 128) + 12 * 2 * 32 * 64,
    }
    assert fpt == {"pythia-160m": 226_560, "tinyllama-1.1b": 212_928}
    for (model, mode), r in lines.items():
        assert "error" not in r, r.get("error")
        assert r["ok"] is True
        assert math.isfinite(r["tokens_per_s"]) and r["tokens_per_s"] > 0, (model, mode)
        assert r["tokens_per_step"] == r["batch_size"] * r["grad_accum"] * 64
        assert r["tokens_per_s"] == pytest.approx(r["timed_steps"] * r["tokens_per_step"] / r["seconds"])
        assert r["flops_per_token"] == fpt[model]
        # --peak-tflops 1: MFU = tokens/s x FLOPs/token / 1e12
        assert r["mfu"] == pytest.approx(r["tokens_per_s"] * fpt[model] / 1e12)
        assert math.isfinite(r["first_loss"]) and math.isfinite(r["last_loss"])
        assert r["compile_backend"] == ("eager" if mode == "compile" else None)
        assert r["label"] in stdout
    assert lines["tinyllama-1.1b", "eager"]["grad_accum"] == 2  # the accumulation path ran too


def test_smoke_ttt_prefill_line(smoke):
    record, stdout = smoke
    ttt = record["ttt_prefill"]
    assert (ttt["batch"], ttt["context"], ttt["mini_batch"]) == (1, 64, 16)
    rows = {r["method"]: r for r in ttt["rows"]}
    assert set(rows) == {"ttt_linear_kernel", "ttt_linear_torch_dual", "attention_sdpa"}
    for name, r in rows.items():
        assert "error" not in r, (name, r.get("error"))
        assert math.isfinite(r["ms"]) and r["ms"] > 0
        assert r["tokens_per_s"] == pytest.approx(64 / (r["ms"] / 1e3))
        assert f"| {name} |" in stdout
    # the kernel (Triton's interpreter, float32) computes what the PyTorch dual form computes
    assert ttt["kernel_vs_dual_rel_rms"] < 1e-5
    assert ttt["kernel_speedup_vs_sdpa"] == pytest.approx(
        rows["attention_sdpa"]["ms"] / rows["ttt_linear_kernel"]["ms"]
    )
