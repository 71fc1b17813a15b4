"""Fixtures for workflow tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from workflow_helpers import copy_repo


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    return copy_repo(tmp_path / "repo")


@pytest.fixture(scope="session")
def smoke_repo(tmp_path_factory) -> Path:
    """One copy of the repository shared by the smoke tests: each runs its paper at smoke scale in it
    (shared downloads and corpora are built once), and the determinism test compares a second, killed
    and resumed, from-scratch run against it."""
    return copy_repo(tmp_path_factory.mktemp("smoke") / "repo")
