"""Cross-machine float spread, measured on one machine (issue 25: the same answers on every machine).

Two CPUs run the same code through different float kernels: numpy and OpenBLAS dispatch on the SIMD set
(SSE, AVX2, AVX-512), MKL picks its code path from the CPU, torch's ATen picks vectorised kernels of one
width or another, and a BLAS call splits its sums by the number of threads. The results agree to rounding,
but an optimiser (a finite-difference L-BFGS-B fit, an SGD trajectory) can turn rounding into a visible
difference. Every one of those choices can be forced from the environment, so the spread a key shows
across machines can be measured on one machine: run the same target under each environment of
:data:`FLOAT_ENVIRONMENTS` and record, per key, the largest deviation from the unperturbed run
(:func:`spread`). ``benchmarks/float_spread.py`` does this and writes ``benchmarks/results/float_spread.json``.

Tests that compare with committed or reference numbers allow, per key, :data:`SPREAD_FACTOR` times that
measured spread, and never less than :data:`FLOOR_REL` relative (:func:`tolerance`, :func:`differences`):
a machine that differs passes, a regression (a changed default, a changed formula) still fails.

The emulation is faithful: under ``no-avx512`` an AVX-512 machine (AMD EPYC Zen 4) reproduces to ten
digits the obsscaling agent numbers that an AVX2-only machine (Zen 3) computed (README, "Determinism").
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "FLOAT_ENVIRONMENTS",
    "FLOOR_REL",
    "SPREAD_FACTOR",
    "numpy_dispatch_targets",
    "environment",
    "spread",
    "tolerance",
    "differences",
]

# Environments: each forces one float-kernel choice a different machine would make, or several at once.
# ``{numpy:...}`` values are expanded by :func:`environment` to the dispatch targets this numpy build has.
FLOAT_ENVIRONMENTS: dict[str, dict[str, str]] = {
    "reference": {},
    # BLAS and OpenMP thread counts: a sum split over more or fewer threads rounds differently.
    "threads-1": {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
    "threads-4": {"OMP_NUM_THREADS": "4", "OPENBLAS_NUM_THREADS": "4", "MKL_NUM_THREADS": "4"},
    # torch's vectorised (ATen) kernels: 256-bit, and none (scalar code).
    "torch-avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "torch-scalar": {"ATEN_CPU_CAPABILITY": "default"},
    # MKL (torch's BLAS on x86): the code path an AVX2 CPU gets, and the SSE2 "compatible" one.
    "mkl-avx2": {"MKL_CBWR": "AVX2"},
    "mkl-compatible": {"MKL_CBWR": "COMPATIBLE"},
    # OpenBLAS (numpy's and scipy's BLAS/LAPACK): AVX2 and AVX kernels.
    "openblas-haswell": {"OPENBLAS_CORETYPE": "Haswell"},
    "openblas-sandybridge": {"OPENBLAS_CORETYPE": "Sandybridge"},
    # numpy's own SIMD loops (exp, log, sums): without the AVX-512 targets, and baseline only.
    "numpy-no-avx512": {"NPY_DISABLE_CPU_FEATURES": "{numpy:avx512}"},
    "numpy-baseline": {"NPY_DISABLE_CPU_FEATURES": "{numpy:all}"},
    # A whole CPU without AVX-512 (e.g. AMD Zen 3), and an SSE-only one.
    "no-avx512": {
        "ATEN_CPU_CAPABILITY": "avx2",
        "MKL_CBWR": "AVX2",
        "OPENBLAS_CORETYPE": "Zen",
        "NPY_DISABLE_CPU_FEATURES": "{numpy:avx512}",
    },
    "sse-only": {
        "ATEN_CPU_CAPABILITY": "default",
        "MKL_CBWR": "COMPATIBLE",
        "OPENBLAS_CORETYPE": "Nehalem",
        "NPY_DISABLE_CPU_FEATURES": "{numpy:all}",
    },
}

# A key may differ across machines by this many times the largest deviation measured over the
# environments (12 perturbations are a sample of the machines a user has, not their maximum) ...
SPREAD_FACTOR = 10.0
# ... and always by this much relative: below any real regression, above the last-bit differences of a
# well-conditioned computation (a PCA, a least-squares fit) on any BLAS.
FLOOR_REL = 1e-9


def numpy_dispatch_targets() -> list[str]:
    """The SIMD targets numpy dispatches to beyond its baseline on this machine (names vary by version)."""
    import numpy as np

    core = getattr(np, "_core", None) or np.core  # numpy 2 / numpy 1
    umath = core._multiarray_umath
    found = [name for name, on in umath.__cpu_features__.items() if on]
    return [t for t in umath.__cpu_dispatch__ if t in found]


def environment(name: str, base: Mapping[str, str]) -> dict[str, str]:
    """``base`` (e.g. ``os.environ``) with the float environment ``name`` applied."""
    if name not in FLOAT_ENVIRONMENTS:
        raise KeyError(f"unknown float environment {name!r}; known: {', '.join(FLOAT_ENVIRONMENTS)}")
    env = dict(base)
    for key, value in FLOAT_ENVIRONMENTS[name].items():
        if value.startswith("{numpy:"):
            targets = numpy_dispatch_targets()
            if value == "{numpy:avx512}":
                targets = [t for t in targets if "512" in t or t == "X86_V4"]
            value = ",".join(targets)
            if not value:  # nothing to disable on this CPU: the environment is the reference
                continue
        env[key] = value
    return env


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _pairs(a: Any, b: Any) -> list[tuple[float, float]] | None:
    """Numbers to compare: one pair, or a pair per element of two equally long lists of numbers."""
    if _is_number(a) and _is_number(b):
        return [(a, b)]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and all(map(_is_number, a + b)):
        return list(zip(a, b))
    return None


def spread(reference: Mapping[str, Any], runs: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Per numeric key of ``reference``, the largest absolute and relative deviation of ``runs`` from it.

    A list of numbers is compared element by element. Only keys that moved are returned (a key absent from
    a run, or a non-number that changed, is reported with infinite spread: more than rounding changed).
    """
    out: dict[str, dict[str, float]] = {}
    for run in runs:
        for key, ref in reference.items():
            value = run.get(key)
            if value == ref or (
                isinstance(ref, float) and isinstance(value, float) and math.isnan(ref) and math.isnan(value)
            ):
                continue
            pairs = _pairs(ref, value)
            if pairs:
                dev = max(abs(x - y) for x, y in pairs)
                rel = max(abs(x - y) / max(abs(x), abs(y)) if x != y else 0.0 for x, y in pairs)
            else:
                dev = rel = math.inf
            cur = out.setdefault(key, {"abs": 0.0, "rel": 0.0})
            cur["abs"], cur["rel"] = max(cur["abs"], dev), max(cur["rel"], rel)
    return dict(sorted(out.items()))


def tolerance(key: str, a: float, b: float, measured: Mapping[str, Mapping[str, float]]) -> float:
    """The absolute difference allowed between ``a`` and ``b`` for ``key``, given the measured spread."""
    floor = FLOOR_REL * max(abs(a), abs(b))
    moved = measured.get(key, {}).get("abs") or 0.0  # null (JSON's infinity) only for non-numbers
    return max(floor, SPREAD_FACTOR * moved)


def differences(
    expected: Mapping[str, Any], actual: Mapping[str, Any], measured: Mapping[str, Mapping[str, float]]
) -> list[str]:
    """Keys of ``actual`` whose value differs from ``expected`` by more than the float spread allows.

    Each entry names the key, both values and the tolerance, for an assertion message. Lists of numbers
    are compared element by element; other values must be equal; a key missing from ``expected`` counts
    as a difference.
    """
    out = []
    for key, b in actual.items():
        a = expected.get(key)
        pairs = _pairs(a, b)
        if pairs:
            worst = max(pairs, key=lambda p: abs(p[0] - p[1]) - tolerance(key, p[0], p[1], measured))
            tol = tolerance(key, *worst, measured)
            if abs(worst[0] - worst[1]) > tol:
                out.append(f"{key}: {a!r} vs {b!r} (|diff| {abs(worst[0] - worst[1]):.3g} > tolerance {tol:.3g})")
        elif a != b and not (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)):
            out.append(f"{key}: {a!r} vs {b!r}")
    return out
