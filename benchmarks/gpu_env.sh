# Sourced by the GPU scripts (gpu_check.sh, gpu_mfu.sh) from the repository root: picks the Python ($PY), installs
# carried wheels (.whl/*.whl) into /tmp/site, and puts src/ on the path with the settings a GPU run needs.
# Python: $PYTHON, else .venv/bin/python if it exists, else python3 (with a CUDA torch and triton).
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
if compgen -G ".whl/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 REPRO_MIRROR="${REPRO_MIRROR:-../shared/mirror}"
unset TRITON_INTERPRET REPRO_TTT_KERNEL
