"""Cross-machine tolerances (repro.common.floatenv) and the machine record (repro.common.machine)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from repro.common.floatenv import FLOAT_ENVIRONMENTS, FLOOR_REL, SPREAD_FACTOR, differences, environment, spread
from repro.common.machine import cpu_info, machine_record, machine_record_under, speed_probe

ROOT = Path(__file__).resolve().parents[3]
SPREAD_RECORD = ROOT / "benchmarks/results/float_spread.json"


def test_spread_is_the_largest_deviation_per_key():
    ref = {"a": 1.0, "b": 2.0, "n": 3, "s": "x", "same": 0.5}
    runs = [
        {"a": 1.0 + 1e-12, "b": 2.0, "n": 3, "s": "x", "same": 0.5},
        {"a": 1.0 - 3e-12, "b": 2.5, "n": 4, "s": "y", "same": 0.5},
    ]
    out = spread(ref, runs)
    assert set(out) == {"a", "b", "n", "s"}
    assert out["a"]["abs"] == pytest.approx(3e-12, rel=1e-3)
    assert out["b"] == {"abs": 0.5, "rel": 0.2}
    assert out["n"]["abs"] == 1
    assert math.isinf(out["s"]["abs"])  # a non-number that changed: more than rounding


def test_differences_allow_the_measured_spread_and_catch_more():
    measured = {"fit": {"abs": 1e-6, "rel": 1e-4}}
    expected = {"fit": 0.01, "pca": 0.8, "count": 7, "name": "a"}
    # within SPREAD_FACTOR x spread, and within the floor for a key that never moved
    ok = {"fit": 0.01 + 0.9 * SPREAD_FACTOR * 1e-6, "pca": 0.8 * (1 + 0.5 * FLOOR_REL), "count": 7, "name": "a"}
    assert differences(expected, ok, measured) == []
    bad = {
        "fit": 0.01 + 1.1 * SPREAD_FACTOR * 1e-6,
        "pca": 0.8 * (1 + 10 * FLOOR_REL),
        "count": 8,
        "name": "b",
        "new": 1.0,
    }
    found = {line.split(":")[0] for line in differences(expected, bad, measured)}
    assert found == {"fit", "pca", "count", "name", "new"}


def test_environments_expand_numpy_targets_and_unknown_names_fail():
    env = environment("no-avx512", {"KEEP": "1"})
    assert env["KEEP"] == "1" and env["ATEN_CPU_CAPABILITY"] == "avx2" and env["OPENBLAS_CORETYPE"] == "Zen"
    assert "{numpy" not in env.get("NPY_DISABLE_CPU_FEATURES", "")
    with pytest.raises(KeyError, match="unknown float environment 'avx1024'.*no-avx512"):
        environment("avx1024", {})


def test_each_environment_changes_what_it_says_in_a_child_process():
    """The knobs take: torch's ATen capability and OpenBLAS's kernel set follow the environment."""
    sse = machine_record_under(environment("sse-only", os.environ))
    assert sse["torch_cpu_capability"] == "DEFAULT" and [b.split()[-1] for b in sse["blas"]] == ["Nehalem"]
    haswell = machine_record_under(environment("openblas-haswell", os.environ))
    assert [b.split()[-1] for b in haswell["blas"]] == ["Haswell"]
    assert haswell["env"]["OPENBLAS_CORETYPE"] == "Haswell"


def test_machine_record_and_probe():
    rec = machine_record()
    assert rec["cores"] >= 1 and rec["numpy"] and rec["torch_cpu_capability"]
    assert set(cpu_info()["simd"]) <= set(__import__("repro.common.machine", fromlist=["SIMD_FLAGS"]).SIMD_FLAGS)
    probe = speed_probe(repeats=1)
    assert probe["matmul_gflops"] > 0 and probe["python_mops"] > 0


def test_the_committed_spread_record_covers_the_exact_tier_and_every_environment():
    """benchmarks/results/float_spread.json is what the workflow test's tolerances come from."""
    record = json.loads(SPREAD_RECORD.read_text())
    exact = record["exact"]
    assert set(exact["environments"]) == set(FLOAT_ENVIRONMENTS)
    assert exact["spread_factor"] == SPREAD_FACTOR and exact["floor_rel"] == FLOOR_REL
    obs = exact["papers"]["obsscaling"]
    assert obs["summary"]["keys"] > 500
    # The committed numbers came from another machine; the measured tolerances admit them.
    assert exact["committed_check"]["differences_beyond_tolerance"] == []
    assert set(record["smoke"]["papers"]) == set(json.loads((ROOT / "results/tiny/metrics.json").read_text())) - {
        "claims",
        "machine",
    }


def test_lists_of_numbers_are_compared_element_by_element():
    measured = {"draws": {"abs": 1e-6, "rel": 1e-3}}
    assert spread({"draws": [1.0, 2.0]}, [{"draws": [1.0, 2.0 + 1e-6]}])["draws"]["abs"] == pytest.approx(1e-6)
    assert differences({"draws": [1.0, 2.0]}, {"draws": [1.0 + 5e-6, 2.0]}, measured) == []
    assert len(differences({"draws": [1.0, 2.0]}, {"draws": [1.0, 2.1]}, measured)) == 1
    assert len(differences({"draws": [1.0, 2.0]}, {"draws": [1.0]}, measured)) == 1
