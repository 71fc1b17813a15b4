#!/usr/bin/env bash
# Issue 29, item 6, in one run on a lent H100/H200 (about 4-6 minutes; benchmarks/train_mfu.py is cut at 7.5):
# training tokens/s and MFU of a Pythia-160M (GPT-NeoX) and a TinyLlama-1.1B (Llama) shape, bf16, eager and
# torch.compile, through the toolkit trainer; TTT-Linear (Triton kernel, PyTorch dual form) vs SDPA prefill at 8k.
# Prints the markdown table; the record is benchmarks/results/train_mfu.json (also copied to $OUT when that is
# set). Exit status: non-zero if a line failed or the run was cut.
#
# Usage from the repository root:  bash benchmarks/gpu_mfu.sh [extra train_mfu.py flags, e.g. --models pythia-160m]
# Python: $PYTHON, else .venv/bin/python if it exists, else python3 (with a CUDA torch, triton and transformers; the
# lent machines' python3 has them). Wheels in .whl/ are installed into /tmp/site first, as gpu_check.sh does.
set -uo pipefail
cd "$(dirname "$0")/.."
. benchmarks/gpu_env.sh  # $PY, carried wheels, PYTHONPATH

nvidia-smi -L 2>/dev/null || true
"$PY" - <<'EOF'
import torch, transformers, triton
print("torch", torch.__version__, "transformers", transformers.__version__, "triton", triton.__version__,
      "cuda", torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else "")
EOF

REC=benchmarks/results/train_mfu.json
STAMP=$(mktemp)  # a record older than this is a previous run's (the file is committed once a run is recorded)
echo "== train_mfu ($(date -u +%H:%M:%S))"
timeout 450 "$PY" benchmarks/train_mfu.py "$@"
status=$?
if [ $status -eq 124 ] && [ "$REC" -nt "$STAMP" ]; then
  # cut by the timeout: the record holds every line finished before it (written after each line)
  echo "== train_mfu was cut at 450 s; the lines measured so far:"
  "$PY" -c "import json, sys; print(json.load(open(sys.argv[1]))['table_markdown'])" "$REC"
fi
echo "== done ($(date -u +%H:%M:%S)) status=$status"
if [ -n "${OUT:-}" ] && [ "$REC" -nt "$STAMP" ]; then
  cp "$REC" "$OUT"/
fi
rm -f "$STAMP"
exit $status
