"""What machine computed a result, and how fast it is (issue 25: the same answers on every machine).

Two things travel with every committed result and every recorded timing:

* :func:`machine_record`: the facts that decide float results: CPU model and the SIMD flags that pick
  kernels (SSE4.2, AVX, AVX2, FMA, AVX-512), the core count, the thread counts, the library versions, the
  BLAS library and the kernel set it chose (threadpoolctl), and torch's ATen CPU capability. Two machines
  with the same record compute the same bits; otherwise training numbers can differ (see README,
  "Determinism").
* :func:`speed_probe`: a fixed fp32 matmul (GFLOP/s, one torch thread) and a fixed pure-Python loop
  (million iterations/s), measured where the timing was taken, so a wall-clock number from a slower machine
  can be read against the reference machine's (README, "Speed").

Both are cheap (the probe takes about half a second) and import torch only when asked.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Mapping
import time
from typing import Any

__all__ = ["SIMD_FLAGS", "cpu_info", "machine_record", "machine_record_under", "speed_probe", "timing_context"]

# The /proc/cpuinfo flags that select float kernels in numpy, OpenBLAS, MKL and torch (ATen).
SIMD_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
)

# Float-kernel knobs read from the environment by the libraries (repro.common.floatenv sets them).
_ENV_KNOBS = (
    "ATEN_CPU_CAPABILITY",
    "MKL_CBWR",
    "MKL_ENABLE_INSTRUCTIONS",
    "OPENBLAS_CORETYPE",
    "NPY_DISABLE_CPU_FEATURES",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
)


def cpu_info() -> dict[str, Any]:
    """CPU model and SIMD flags from /proc/cpuinfo (Linux); elsewhere only ``platform.processor()``.

    ``family``/``model_id`` tell CPU generations apart where a virtual machine's model name does not
    (e.g. "AMD EPYC" is family 25 model 17 on Zen 4, which has AVX-512, and family 25 model 1 on Zen 3).
    """
    info: dict[str, str] = {}
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("flags", "Features"):
                    flags = set(value.split())
                    break
                info.setdefault(key, value.strip())
    except OSError:
        pass
    return {
        "model": info.get("model name") or platform.processor() or platform.machine(),
        "vendor": info.get("vendor_id", ""),
        "family": info.get("cpu family", ""),
        "model_id": info.get("model", ""),
        "arch": platform.machine(),
        "simd": [f for f in SIMD_FLAGS if f in flags],
    }


def machine_record() -> dict[str, Any]:
    """The facts about this machine and its float libraries that decide which bits a computation gives."""
    import numpy as np
    import scipy

    record: dict[str, Any] = {
        "cpu": cpu_info(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "env": {k: os.environ[k] for k in _ENV_KNOBS if k in os.environ},
    }
    try:
        import torch

        record["torch"] = torch.__version__
        record["torch_threads"] = torch.get_num_threads()
        record["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    except ImportError:  # the exact tiers run without torch
        pass
    try:
        from threadpoolctl import threadpool_info

        record["blas"] = sorted(
            f"{info.get('internal_api')} {info.get('version')} {info.get('architecture') or ''}".strip()
            for info in threadpool_info()
            if info.get("user_api") == "blas"
        )
    except ImportError:
        pass
    return record


def machine_record_under(env: Mapping[str, str]) -> dict[str, Any]:
    """:func:`machine_record` as a child process with environment ``env`` sees it (the libraries read their
    float-kernel variables at import, so only a new process shows what an environment does)."""
    code = "import json; from repro.common.machine import machine_record; print(json.dumps(machine_record()))"
    proc = subprocess.run([sys.executable, "-c", code], env=dict(env), capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def _best_of(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def speed_probe(repeats: int = 7) -> dict[str, float]:
    """Machine speed in the same run as a timing: fp32 matmul GFLOP/s (one thread) and Python Mops/s.

    The matmul is 512 x 512 x 512 fp32 in torch on one thread (the tiny tier's setting: one thread per
    job); the loop is a fixed integer loop of 10^6 iterations. Each is the best of ``repeats`` runs, which
    reads the machine rather than its momentary load. ``loadavg_1m`` says how busy the machine was.
    """
    import torch

    n, iters = 512, 1_000_000
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        gen = torch.Generator().manual_seed(0)
        a = torch.randn(n, n, generator=gen)
        b = torch.randn(n, n, generator=gen)
        torch.mm(a, b)  # warm-up: kernel selection, page faults
        matmul_s = _best_of(lambda: torch.mm(a, b), repeats)
    finally:
        torch.set_num_threads(threads)

    def loop() -> int:
        total = 0
        for i in range(iters):
            total += i & 7
        return total

    loop_s = _best_of(loop, repeats)
    return {
        "matmul_gflops": round(2 * n**3 / matmul_s / 1e9, 2),
        "python_mops": round(iters / loop_s / 1e6, 2),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def timing_context() -> dict[str, Any]:
    """What every recorded timing carries (issue 25): the machine, a speed probe and the load average.

    Benchmarks (``benchmarks/*.py``) put this under ``"machine"`` in their JSON records; a timing read on a
    slower machine is compared after scaling by the probe (README, "Speed").
    """
    return {"record": machine_record(), "probe": speed_probe(), "load_average": [round(x, 2) for x in os.getloadavg()]}
