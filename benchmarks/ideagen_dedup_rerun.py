"""ideagen: cost of a new dedup threshold once the MiniLM embeddings exist (the embeddings cache).

Copies the repository (tracked + untracked files), the computed ``results/tiny/ideagen`` and the LLM
cache (mtimes preserved) into a temporary folder, edits ``ideagen.dedup.threshold`` there, and runs
``snakemake ideagen``: only dedup and its descendants (numbers, the non-duplicate figure) may run.
Writes ``benchmarks/results/ideagen_dedup_rerun.json`` (wall seconds, rules run, load average).
Run after ``snakemake ideagen``: ``.venv/bin/python benchmarks/ideagen_dedup_rerun.py [--threshold 0.7]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from repro.common.machine import timing_context

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threshold", type=float, default=0.7)
    args = ap.parse_args()
    if not (ROOT / "results/tiny/ideagen/embed/seed_emb.csv").exists():
        sys.exit("run `snakemake ideagen` first (no results/tiny/ideagen/embed/seed_emb.csv)")
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / "repo"
        files = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split("\0")
        for rel in filter(None, files):
            if (ROOT / rel).is_file():
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / rel, dest / rel)
        for extra in ("results/tiny/ideagen", "resources"):
            if (ROOT / extra).exists():
                shutil.copytree(ROOT / extra, dest / extra, dirs_exist_ok=True, copy_function=shutil.copy2)
        params = dest / "params.yaml"
        text = params.read_text()
        old = "threshold: 0.8          # cosine"
        assert old in text, "params.yaml: ideagen.dedup.threshold line not found"
        params.write_text(text.replace(old, f"threshold: {args.threshold}          # cosine"))
        env = dict(
            os.environ,
            PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            REPRO_MIRROR=os.environ.get("REPRO_MIRROR", str(ROOT.parent / "shared" / "mirror")),
        )
        machine = timing_context()  # before the timed run: the speed probe takes about a second
        t0 = time.perf_counter()
        out = subprocess.run(
            [str(BIN / "snakemake"), "-c2", "ideagen"], cwd=dest, env=env, capture_output=True, text=True, check=True
        )
        wall = time.perf_counter() - t0
        rules = sorted(
            {
                line.split("Rule: ")[1].rstrip(")")
                for line in (out.stdout + out.stderr).splitlines()
                if "Finished jobid" in line and "Rule: " in line
            }
        )
        numbers = json.loads((dest / "results/tiny/ideagen/numbers.json").read_text())
    record = {
        "threshold": args.threshold,
        "wall_s": round(wall, 2),
        "rules_run": rules,
        "unique_fraction": {k: v for k, v in numbers.items() if k.startswith("dedup.unique_fraction.")},
        "machine": machine,
    }
    out_path = ROOT / "benchmarks/results/ideagen_dedup_rerun.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
