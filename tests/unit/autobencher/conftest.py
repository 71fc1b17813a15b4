"""Fixtures for the autobencher tests: the params and the released safety files (via the mirror)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from repro.common.config import resolve
from repro.common.fetch import fetch

ROOT = Path(__file__).resolve().parents[3]


def _params(scale: str) -> dict:
    with open(ROOT / "params.yaml", encoding="utf-8") as fh:
        return resolve(yaml.safe_load(fh), "autobencher", scale)


@pytest.fixture(scope="session")
def ab_params() -> dict:
    """The resolved autobencher block at the tiny scale."""
    return _params("tiny")


@pytest.fixture(scope="session")
def smoke_params() -> dict:
    """The resolved autobencher block at the smoke scale."""
    return _params("smoke")


@pytest.fixture(scope="session")
def safety_files(ab_params, mirror, tmp_path_factory) -> dict[str, Path]:
    """Rule input name -> local copy of each released judged-answers file (sha256-checked)."""
    dest = tmp_path_factory.mktemp("autobencher_release")
    rel = ab_params["release"]
    return {
        name: fetch(f"{rel['base_url']}/{spec['path']}", spec["sha256"], dest / name, mirror=mirror)
        for name, spec in rel["files"].items()
    }
