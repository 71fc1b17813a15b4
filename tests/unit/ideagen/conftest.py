"""Fixtures for the ideagen tests: the released reviews (fetched via the mirror) and the params.

Files are fetched once per session with ``repro.common.fetch`` from ``$REPRO_MIRROR``
(default ``../shared/mirror`` next to the repository when it exists).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from repro.common.fetch import MIRROR_ENV, fetch

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_MIRROR = ROOT.parent / "shared" / "mirror"


@pytest.fixture(scope="session")
def idea_params(paper_params: Callable[..., dict]) -> dict:
    """The resolved ideagen block of params.yaml at the tiny scale (tests/conftest.py's ``paper_params``)."""
    return paper_params("ideagen", "tiny")


@pytest.fixture(scope="session")
def idea_data(idea_params, tmp_path_factory) -> dict[str, Path]:
    """name -> local path of each released file (sha256-checked)."""
    mirror = os.environ.get(MIRROR_ENV) or (str(DEFAULT_MIRROR) if DEFAULT_MIRROR.is_dir() else None)
    dest = tmp_path_factory.mktemp("ideagen_data")
    data = idea_params["data"]
    return {
        name: fetch(
            data["url"].format(commit=data["commit"], file=spec["file"]),
            spec["sha256"],
            dest / spec["file"],
            mirror=mirror,
        )
        for name, spec in data["files"].items()
    }
