"""Fixtures for the graphunc tests: the released files (fetched via the mirror) and the params."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from repro.common.fetch import fetch


@pytest.fixture(scope="session")
def gu_params(paper_params: Callable[..., dict]) -> dict:
    """The resolved graphunc block at the tiny scale (tests/conftest.py's ``paper_params``)."""
    return paper_params("graphunc", "tiny")


@pytest.fixture(scope="session")
def smoke_params(paper_params: Callable[..., dict]) -> dict:
    """The resolved graphunc block at the smoke scale."""
    return paper_params("graphunc", "smoke")


@pytest.fixture(scope="session")
def released(gu_params, mirror, tmp_path_factory) -> dict[str, Path]:
    """Every pinned release file (input name -> local path), fetched once from the mirror."""
    rel = gu_params["release"]
    out = tmp_path_factory.mktemp("graphunc_release")
    return {
        name: fetch(f"{rel['base_url']}/{spec['path']}", spec["sha256"], out / spec["path"])
        for name, spec in rel["files"].items()
    }
