"""Fixtures for the graphunc tests: the released files (fetched via the mirror) and the params."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from repro.common.config import resolve
from repro.common.fetch import fetch

ROOT = Path(__file__).resolve().parents[3]


def _params(scale: str) -> dict:
    with open(ROOT / "params.yaml", encoding="utf-8") as fh:
        return resolve(yaml.safe_load(fh), "graphunc", scale)


@pytest.fixture(scope="session")
def gu_params() -> dict:
    """The resolved graphunc block at the tiny scale."""
    return _params("tiny")


@pytest.fixture(scope="session")
def smoke_params() -> dict:
    """The resolved graphunc block at the smoke scale."""
    return _params("smoke")


@pytest.fixture(scope="session")
def released(gu_params, mirror, tmp_path_factory) -> dict[str, Path]:
    """Every pinned release file (input name -> local path), fetched once from the mirror."""
    rel = gu_params["release"]
    out = tmp_path_factory.mktemp("graphunc_release")
    return {
        name: fetch(f"{rel['base_url']}/{spec['path']}", spec["sha256"], out / spec["path"])
        for name, spec in rel["files"].items()
    }
