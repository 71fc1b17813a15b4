#!/usr/bin/env bash
# GPU checks in one run (an H100/H200; about 3-6 minutes, well under 10):
#   1. the Triton TTT-Linear kernel against the PyTorch dual form on CUDA (fp32 and bf16 tolerances), the
#      prefill benchmark (ours / PyTorch dual form / fla / SDPA) and decode ms/token  -> benchmarks/ttt_gpu_kernel.py
#   2. the shared trainer's tokens/s and MFU (GPT-2 small, bf16)                       -> benchmarks/lm_gpu.py
# Results: benchmarks/results/ttt_gpu_kernel_<device>.json and benchmarks/results/lm_gpu.json (also copied to
# $OUT when that is set). Exit status: non-zero if a correctness check failed or a step crashed.
#
# Usage from the repository root:  bash benchmarks/gpu_check.sh [--quick]
# Python: $PYTHON, else .venv/bin/python if it exists, else python3 (with a CUDA torch and triton).
# flash-linear-attention (fla-core, pure Python) is optional: without it the fla column is reported missing.
# On a machine without a registry, carry its wheel:  mkdir -p .whl && pip download --no-deps -d .whl
# fla-core==0.6.0  (keep .whl/ out of git, e.g. via .git/info/exclude); this script installs .whl/*.whl
# into /tmp/site first when that folder exists.
set -uo pipefail
cd "$(dirname "$0")/.."
. benchmarks/gpu_env.sh  # $PY, carried wheels, PYTHONPATH
QUICK=()
[ "${1:-}" = "--quick" ] && QUICK=(--quick)

nvidia-smi -L 2>/dev/null || true
"$PY" - <<'EOF'
import torch, triton
print("torch", torch.__version__, "triton", triton.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name() if torch.cuda.is_available() else "")
EOF

status=0
echo "== ttt_gpu_kernel ($(date -u +%H:%M:%S))"
timeout 420 "$PY" benchmarks/ttt_gpu_kernel.py "${QUICK[@]}" || status=1
echo "== lm_gpu ($(date -u +%H:%M:%S))"
timeout 150 "$PY" benchmarks/lm_gpu.py --steps 20 --warmup 5 || status=1
echo "== done ($(date -u +%H:%M:%S)) status=$status"
if [ -n "${OUT:-}" ]; then
  cp benchmarks/results/ttt_gpu_kernel_*.json benchmarks/results/lm_gpu.json "$OUT"/ 2>/dev/null || true
fi
exit $status
