"""Cross-machine float spread, measured on this machine (issue 25; repro.common.floatenv).

Runs the same Snakemake targets, each time in a fresh copy of the working tree, under every float
environment of ``repro.common.floatenv.FLOAT_ENVIRONMENTS`` (thread counts; torch, MKL, OpenBLAS and
numpy kernels forced to AVX2, AVX, SSE or scalar code), then records per paper and key the largest
deviation from the unperturbed run. The tests' tolerances for numbers compared across machines come from
this record (``SPREAD_FACTOR`` x the measured spread, at least ``FLOOR_REL`` relative).

Suites:

* ``exact``: obsscaling's exact tier at smoke scale (the numbers a test compares with the committed
  ``results/tiny/metrics.json``), under all 13 environments (about 20 s each). The record also checks the
  committed numbers, computed on another machine, against the tolerances this run derives.
* ``smoke``: every paper at smoke scale, training steps included, under 5 environments (about 5 min each
  on 2 cores): how far training numbers move when only the float kernels change.

    REPRO_MIRROR=../shared/mirror .venv/bin/python benchmarks/float_spread.py --suite exact
    REPRO_MIRROR=../shared/mirror .venv/bin/python benchmarks/float_spread.py --suite smoke
    env $(.venv/bin/python benchmarks/float_spread.py --print-env no-avx512) REPRO_MIRROR=../shared/mirror .venv/bin/pytest

Writes (merges its suite into) ``benchmarks/results/float_spread.json``. A run is resumable: an
environment whose copy already holds its results is not run again (``--fresh`` starts over).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from repro.common.floatenv import (
    FLOAT_ENVIRONMENTS,
    FLOOR_REL,
    SPREAD_FACTOR,
    differences,
    environment,
    spread,
    tolerance,
)
from repro.common.io import read_json, write_json
from repro.common.machine import machine_record, machine_record_under, speed_probe
from repro.common.registry import load_registry
from repro.common.scorecard import evaluate_scorecard

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "workflow"))
from workflow_helpers import copy_repo  # noqa: E402 (the tests' copy of the working tree)

BIN = Path(sys.executable).parent
REGISTRY = load_registry(ROOT / "workflow" / "papers.yaml")
SUITES = {
    "exact": {"papers": ["obsscaling"], "envs": list(FLOAT_ENVIRONMENTS)},
    "smoke": {"papers": REGISTRY.slugs, "envs": ["reference", "threads-1", "torch-avx2", "no-avx512", "sse-only"]},
}


def _run_env(name: str, papers: list[str], work: Path, cores: int, fresh: bool) -> dict:
    repo = work / name
    targets = [f"results/smoke/{p}/numbers.json" for p in papers]
    env = environment(name, os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    done = all((repo / t).exists() for t in targets)
    if fresh and repo.exists():
        shutil.rmtree(repo)
        done = False
    info: dict = {"env": environment(name, {})}
    # what the environment did to the libraries, read in a child process that has it (each knob took)
    child = machine_record_under(env)
    info["libraries"] = {"torch": child.get("torch_cpu_capability"), "blas": child.get("blas")}
    if not done:
        if not repo.exists():
            copy_repo(repo)
        print(f"== {name}: snakemake {' '.join(papers)} at smoke scale ({time.strftime('%H:%M:%S')})", flush=True)
        start = time.perf_counter()
        with open(work / f"{name}.log", "w") as log:
            subprocess.run(
                [str(BIN / "snakemake"), f"-c{cores}", "--config", "scale=smoke", "--", *targets],
                cwd=repo,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=True,
            )
        info["wall_s"] = round(time.perf_counter() - start, 1)
    else:
        print(f"== {name}: results present in {repo}, not rerun", flush=True)
    return info


def _numbers(repo: Path, slug: str) -> dict:
    return REGISTRY.papers[slug].without_timings(read_json(repo / f"results/smoke/{slug}/numbers.json"))


def _scorecard(repo: Path, slug: str) -> dict:
    """The paper's scorecard on one environment's numbers: totals, failing rows, claim verdicts."""
    card = evaluate_scorecard(
        "smoke",
        {slug: repo / f"results/smoke/{slug}/numbers.json"},
        [ROOT / f"workflow/expected/{slug}.yaml"],
        titles=REGISTRY.titles,
    )
    return {
        "totals": card.totals,
        "failures": card.failures,
        "claims": {name: c["verdict"] for name, c in card.claims.items()},
    }


def _summary(numbers: dict, moved: dict) -> dict:
    # a value that is not a number and changed (a flag, a list of names) has infinite spread (null in JSON)
    rel = [v["rel"] for v in moved.values() if v["rel"] is not None and v["rel"] != float("inf")]
    return {
        "keys": len(numbers),
        "keys_moved": len(moved),
        "keys_changed_not_numbers": [k for k, v in moved.items() if v["rel"] is None or v["rel"] == float("inf")],
        "median_rel_moved": statistics.median(rel) if rel else 0.0,
        "max_rel": max(rel) if rel else 0.0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suite", choices=list(SUITES))
    ap.add_argument(
        "--print-env",
        metavar="NAME",
        help="print one environment's variables as KEY=VALUE and exit, e.g. to run the tests as another CPU would: "
        "env $(.venv/bin/python benchmarks/float_spread.py --print-env no-avx512) .venv/bin/pytest",
    )
    ap.add_argument("--envs", nargs="*", help="environments to run (default: the suite's)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/repro-float-spread"), help="where the copies go")
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--fresh", action="store_true", help="rerun environments whose results exist")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/float_spread.json")
    args = ap.parse_args()
    if args.print_env:
        print(" ".join(f"{k}={v}" for k, v in environment(args.print_env, {}).items()))
        return
    if not args.suite:
        ap.error("--suite is required")
    suite = SUITES[args.suite]
    envs = args.envs or suite["envs"]
    if "reference" not in envs:
        envs = ["reference", *envs]
    work = args.work / args.suite
    work.mkdir(parents=True, exist_ok=True)

    probe_before = speed_probe()
    runs = {name: _run_env(name, suite["papers"], work, args.cores, args.fresh) for name in envs}
    papers = {}
    for slug in suite["papers"]:
        ref = _numbers(work / "reference", slug)
        others = {name: _numbers(work / name, slug) for name in envs if name != "reference"}
        moved = spread(ref, others.values())
        per_env = {name: _summary(ref, spread(ref, [nums])) for name, nums in others.items()}
        cards = {name: _scorecard(work / name, slug) for name in envs}
        for name in others:  # verdicts that differ from the unperturbed run's
            per_env[name]["scorecard"] = cards[name]["totals"]
            per_env[name]["scorecard_failures"] = cards[name]["failures"]
            per_env[name]["verdicts_changed"] = {
                claim: f"{cards['reference']['claims'][claim]} -> {verdict}"
                for claim, verdict in cards[name]["claims"].items()
                if verdict != cards["reference"]["claims"].get(claim)
            }
        papers[slug] = {
            "summary": _summary(ref, moved),
            "scorecard": cards["reference"]["totals"],
            "per_environment": per_env,
            "keys": moved,
        }

    record: dict = {
        "suite": args.suite,
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine_record(),
        "speed_probe": probe_before,
        "spread_factor": SPREAD_FACTOR,
        "floor_rel": FLOOR_REL,
        "environments": runs,
        "papers": papers,
    }
    if args.suite == "exact":
        # Validation on a machine this run never saw: the committed numbers (their machine is recorded in
        # metrics.json) against this machine's reference run, with the tolerances just measured. Smoke only
        # shrinks the subset search, so those keys are left out (as in tests/workflow/test_workflow.py).
        committed_all = read_json(ROOT / "results/tiny/metrics.json")
        committed = committed_all["obsscaling"]
        fresh = {
            k: v for k, v in _numbers(work / "reference", "obsscaling").items() if not k.startswith("subset_selection.")
        }
        # Keys added since the commit was made (none once results/tiny is regenerated) are listed, not compared.
        ref = {k: v for k, v in fresh.items() if k in committed}
        moved = papers["obsscaling"]["keys"]
        ratios = []
        for key, value in ref.items():
            other = committed.get(key)
            if isinstance(value, float) and isinstance(other, float) and value != other:
                ratios.append((abs(value - other) / tolerance(key, value, other, moved), key))
        ratios.sort(reverse=True)
        record["committed_check"] = {
            "committed_machine": committed_all.get("machine", "not recorded"),
            "keys_compared": len(ref),
            "keys_not_in_the_commit": sorted(set(fresh) - set(ref)),
            "keys_that_differ": len(ratios),
            "differences_beyond_tolerance": differences(committed, ref, moved),
            "largest_diff_over_tolerance": [(round(r, 4), k) for r, k in ratios[:5]],
        }
    record["speed_probe_after"] = speed_probe()

    out = read_json(args.out) if args.out.exists() else {}
    out[args.suite] = record
    write_json(args.out, out)
    for slug, paper in papers.items():
        s = paper["summary"]
        print(f"{slug}: {s['keys_moved']}/{s['keys']} keys moved, max relative {s['max_rel']:.3g}")
    if "committed_check" in record:
        c = record["committed_check"]
        print(
            f"committed vs this machine: {c['keys_that_differ']} differ, {len(c['differences_beyond_tolerance'])} beyond tolerance"
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
