"""Fixtures for the autobencher tests: the params and the released safety files (via the mirror)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from repro.common.fetch import fetch


@pytest.fixture(scope="session")
def ab_params(paper_params: Callable[..., dict]) -> dict:
    """The resolved autobencher block at the tiny scale (tests/conftest.py's ``paper_params``)."""
    return paper_params("autobencher", "tiny")


@pytest.fixture(scope="session")
def smoke_params(paper_params: Callable[..., dict]) -> dict:
    """The resolved autobencher block at the smoke scale."""
    return paper_params("autobencher", "smoke")


@pytest.fixture(scope="session")
def safety_files(ab_params, mirror, tmp_path_factory) -> dict[str, Path]:
    """Rule input name -> local copy of each released judged-answers file (sha256-checked)."""
    dest = tmp_path_factory.mktemp("autobencher_release")
    rel = ab_params["release"]
    return {
        name: fetch(f"{rel['base_url']}/{spec['path']}", spec["sha256"], dest / name, mirror=mirror)
        for name, spec in rel["files"].items()
    }
