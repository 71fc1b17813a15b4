"""Formatting is checked like the Snakemake catalog's CI: ruff format for Python, snakefmt for the rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_python_is_ruff_formatted():
    proc = _run([str(BIN / "ruff"), "format", "--check", "src", "tests", "benchmarks", "workflow/scripts"])
    assert proc.returncode == 0, f"run `ruff format src tests benchmarks workflow/scripts`:\n{proc.stdout}{proc.stderr}"


def test_snakefiles_are_snakefmt_formatted():
    proc = _run([str(BIN / "snakefmt"), "--check", "Snakefile", "workflow/rules"])
    assert proc.returncode == 0, f"run `snakefmt Snakefile workflow/rules`:\n{proc.stdout}{proc.stderr}"


def test_no_format_escape_hatches():
    """Formatter escape markers (skip / off) hide unformatted code; none are needed."""
    files = _run(["git", "ls-files", "*.py", "*.smk", "Snakefile"]).stdout.split()
    marked = [
        f for f in files if "fmt: " + "skip" in (ROOT / f).read_text() or "fmt: " + "off" in (ROOT / f).read_text()
    ]
    assert not marked, marked


def test_test_module_names_are_unique():
    """Test folders have no __init__.py, so pytest imports modules by basename: two equal names break collection."""
    names = [p.name for p in (ROOT / "tests").rglob("test_*.py")]
    assert len(names) == len(set(names)), sorted(n for n in set(names) if names.count(n) > 1)
