"""Test-wide setup: the data mirror (no test may use the network)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _mirror() -> Path:
    # CI sets REPRO_MIRROR=../shared/mirror relative to the repository root; make it
    # absolute so tests that change directory (workflow runs in tmp clones) still see it.
    raw = os.environ.get("REPRO_MIRROR") or str(ROOT.parent / "shared" / "mirror")
    path = Path(raw)
    if not path.is_absolute():
        path = (ROOT / path).resolve()
    return path


MIRROR = _mirror()
os.environ["REPRO_MIRROR"] = str(MIRROR)


@pytest.fixture(scope="session")
def mirror() -> Path:
    """Absolute path of the data mirror; fails loudly (never skips) when it is absent."""
    if not MIRROR.is_dir():
        pytest.fail(f"data mirror not found at {MIRROR}: set REPRO_MIRROR (CI uses ../shared/mirror)")
    return MIRROR


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT
