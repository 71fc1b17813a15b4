"""Restore shared results with DVC so that Snakemake sees them as current.

``dvc pull`` writes files with fresh modification times in arbitrary order, and a
fresh clone has no ``.snakemake`` metadata, so Snakemake would rerun every rule of
a pulled paper. DVC, however, knows whether the pulled outputs still match their
dependencies (params section, library code, rules): :func:`pull` asks
``dvc status`` and, only for stages it reports unchanged, marks the pulled outputs
up to date with ``snakemake --touch`` (outputs touched in DAG order). Stages whose
dependencies changed locally are left alone, so Snakemake reruns them: a stale
result is never reported as current.

Usage (from the repository root)::

    python -m repro.common.dvcsync pull [-r REMOTE]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

_RUN_STAGE = re.compile(r"^run@(?P<scale>[a-z]+)-(?P<paper>[a-z0-9_]+)$")
_SCORECARD_STAGE = re.compile(r"^scorecard@(?P<scale>[a-z]+)$")


def _run(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), check=False, capture_output=True, text=True)


def _stage_list() -> list[str]:
    proc = _run(["dvc", "stage", "list", "--name-only"])
    if proc.returncode != 0:
        raise RuntimeError(f"dvc stage list failed:\n{proc.stderr}")
    return [line.strip() for line in proc.stdout.splitlines() if line.strip()]


def changed_stages() -> set[str]:
    """Names of stages that ``dvc status`` reports as changed (deps or outs)."""
    proc = _run(["dvc", "status", "--json"])
    if proc.returncode != 0:
        raise RuntimeError(f"dvc status failed:\n{proc.stderr}")
    return set(json.loads(proc.stdout or "{}"))


def snakemake_targets(stages: Sequence[str]) -> list[tuple[str, str]]:
    """(scale, target) pairs for the run/scorecard stages among ``stages``."""
    out = []
    for name in stages:
        if m := _RUN_STAGE.match(name):
            out.append((m["scale"], m["paper"]))
        elif m := _SCORECARD_STAGE.match(name):
            out.append((m["scale"], f"results/{m['scale']}/scorecard.md"))
    return out


def _stage_output(scale: str, target: str) -> str:
    """The results path a run/scorecard stage produces."""
    return target if target.startswith("results/") else f"results/{scale}/{target}"


def pull(remote: str | None = None, *, quiet: bool = False) -> dict[str, list[str]]:
    """``dvc pull`` then mark every unchanged stage's outputs current for Snakemake.

    Returns {"current": [...], "stale": [...], "absent": [...]} (stage names).
    """
    # --allow-missing: stages nobody has computed yet (e.g. paper scale) are not an error.
    cmd = ["dvc", "pull", "--allow-missing", *(["-r", remote] if remote else [])]
    proc = _run(cmd)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    stages = _stage_list()
    changed = changed_stages()
    report: dict[str, list[str]] = {"current": [], "stale": [], "absent": []}
    # Run stages first, then scorecards (which read the run stages' numbers).
    ordered = sorted(stages, key=lambda s: (s.startswith("scorecard"), s))
    for stage in ordered:
        targets = snakemake_targets([stage])
        if not targets:
            continue
        scale, target = targets[0]
        if not Path(_stage_output(scale, target)).exists():
            report["absent"].append(stage)
            continue
        if stage in changed:
            report["stale"].append(stage)
            continue
        touch = ["snakemake", "--touch", "--cores", "1", "--quiet", "all", "--config", f"scale={scale}", "--", target]
        proc = _run(touch)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(touch)} failed:\n{proc.stdout}\n{proc.stderr}")
        report["current"].append(stage)
    if not quiet:
        for stage in report["current"]:
            print(f"current: {stage}")
        for stage in report["stale"]:
            print(f"stale (dependencies changed locally; snakemake will rerun it): {stage}")
        for stage in report["absent"]:
            print(f"absent (not in the remote; never computed and pushed): {stage}")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m repro.common.dvcsync", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_pull = sub.add_parser("pull", help="dvc pull, then mark unchanged results current for snakemake")
    p_pull.add_argument("-r", "--remote", default=None, help="DVC remote name (default: the default remote)")
    args = parser.parse_args(argv)
    if args.command == "pull":
        try:
            pull(args.remote)
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
