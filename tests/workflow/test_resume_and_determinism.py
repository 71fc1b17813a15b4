"""Faults and determinism, over every registered paper (README, "Troubleshooting").

Run A is the shared smoke copy (each paper's smoke test ran in it; whatever is missing is built here).
Run B starts from scratch in a second copy and is killed with SIGKILL in the middle of a training rule of
two papers; while the first is running, a concurrent ``snakemake`` in the same checkout must be refused with
a lock error that names the running process. A plain ``snakemake`` then resumes B (the killed run's locks
are released: repro.common.locks) and every paper's ``numbers.json`` must equal run A's byte for byte,
except the keys a paper declares as timings of this machine (``timing:`` in workflow/papers.yaml).
"""

from __future__ import annotations

import csv
import fnmatch
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from workflow_helpers import BIN, ROOT, copy_repo, snakemake

from repro.common.registry import load_registry

REGISTRY = load_registry(ROOT / "workflow" / "papers.yaml")
SMOKE = ["-c2", "--config", "scale=smoke", "--"]
# (paper, training rule): killed once the rule has started
KILLS = (("graphunc", "graphunc__tiny"), ("distalign", "distalign__tiny"))


def _start(repo: Path, paper: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.Popen(
        [str(BIN / "snakemake"), *SMOKE, paper],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the kill takes the job processes too
    )


def _wait_for_rule(proc: subprocess.Popen[str], rule: str, timeout: float = 900) -> str:
    """Read the run's output until `rule` starts; return what was read."""
    seen = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)
        if line.strip() in (f"rule {rule}:", f"localrule {rule}:"):
            return "".join(seen)
        assert time.monotonic() < deadline, f"{rule} did not start within {timeout} s"
    raise AssertionError(f"the run ended before {rule} started:\n{''.join(seen)[-4000:]}")


def _parseable(root: Path) -> list[str]:
    """Result files that do not parse (a truncated JSON or CSV)."""
    bad = []
    for path in root.rglob("*"):
        try:
            if path.suffix == ".json":
                json.loads(path.read_text())
            elif path.suffix == ".csv":
                list(csv.reader(path.open()))
        except (ValueError, csv.Error, UnicodeDecodeError):
            bad.append(str(path))
    return bad


def test_killed_run_resumes_and_every_paper_is_deterministic(smoke_repo, tmp_path):
    papers = REGISTRY.slugs
    snakemake([*SMOKE, *papers], smoke_repo, timeout=3000)  # run A (mostly done by the smoke tests)

    repo = copy_repo(tmp_path / "b")
    for i, (paper, rule) in enumerate(KILLS):
        proc = _start(repo, paper)
        try:
            _wait_for_rule(proc, rule)
            time.sleep(2)  # inside the training loop
            if i == 0:
                other = snakemake(["-c1", "--config", "scale=smoke", "--", paper], repo, check=False)
                out = other.stdout + other.stderr
                assert other.returncode != 0 and "LockException" in out, out[-3000:]
                assert f"snakemake pid {proc.pid} " in out, out[-3000:]  # names the running process
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        assert list((repo / ".snakemake" / "locks").glob("*.lock")), "the killed run should have left its locks"
        assert not (repo / f"results/smoke/{paper}/numbers.json").exists()
        assert not _parseable(repo / "results"), _parseable(repo / "results")

    resumed = snakemake([*SMOKE, *papers], repo, timeout=3000)  # plain snakemake: no --unlock needed
    assert "released the locks of a killed run" in resumed.stderr

    differ = []
    for paper in papers:
        a = (smoke_repo / f"results/smoke/{paper}/numbers.json").read_bytes()
        b = (repo / f"results/smoke/{paper}/numbers.json").read_bytes()
        timing = REGISTRY.papers[paper].timing
        if not timing:
            if a != b:
                differ.append(paper)
            continue
        na, nb = json.loads(a), json.loads(b)
        for pattern in timing:  # a declared timing key exists: the list is not stale
            assert any(fnmatch.fnmatchcase(k, pattern) for k in na), f"{paper}: no key matches timing {pattern!r}"
        if REGISTRY.papers[paper].without_timings(na) != REGISTRY.papers[paper].without_timings(nb):
            keys = sorted(k for k in set(na) | set(nb) if na.get(k) != nb.get(k))
            differ.append(f"{paper}: {keys[:10]}")
    assert not differ, f"numbers.json differs between two from-scratch runs: {differ}"
