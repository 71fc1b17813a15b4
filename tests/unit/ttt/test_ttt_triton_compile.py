"""The compiled path without a GPU: the Triton TTT-Linear kernels lower to Hopper (sm_90) machine code.

The interpreter tests check the arithmetic; this checks what only the compiler sees (types, layouts, the
loop-carried weights) by compiling ahead of time with the ``ptxas`` that the ``triton`` wheel ships, and
reads the resource usage of the cubin: the default launch must not spill registers (a spill in the scan's
serial loop would cost every mini-batch a round trip to local memory). Runs in a subprocess because Triton
fixes interpreted vs compiled mode for its own library when it is first imported in a process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src"

SCRIPT = """
import json
from repro.ttt.kernels.ttt_linear import compile_report
print(json.dumps({s: compile_report(d=64, b=16, dtype="bf16", strategy=s, arch=90) for s in ("fused", "split")}))
"""


@pytest.fixture(scope="module")
def report() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    env.setdefault("TRITON_DEFAULT_FP_FUSION", "1")
    res = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("strategy,kernel", [("fused", "scan"), ("split", "scan"), ("split", "out")])
def test_kernels_compile_for_sm90_without_spills(report: dict, strategy: str, kernel: str) -> None:
    usage = report[strategy][kernel]
    assert 0 < usage["REG"] <= 255
    assert usage["STACK"] == 0 and usage["LOCAL"] == 0, usage
    assert usage["shared_dynamic"] <= 228 * 1024  # Hopper's shared memory per SM
