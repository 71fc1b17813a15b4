"""Fixtures for the distalign tests: the released files (fetched once via the mirror) and the params."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from repro.common.config import resolve
from repro.common.fetch import fetch
from repro.distalign.data import file_name, released_files

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def da_params() -> dict:
    """The resolved distalign block of params.yaml at the tiny scale."""
    with open(ROOT / "params.yaml", encoding="utf-8") as fh:
        return resolve(yaml.safe_load(fh), "distalign", "tiny")


@pytest.fixture(scope="session")
def da_files(da_params, mirror, tmp_path_factory) -> dict[str, Path]:
    """Repository path -> local copy of every released file (sha256-checked, from the mirror)."""
    dest = tmp_path_factory.mktemp("distalign_data")
    url = da_params["data"]["url"].replace("{commit}", da_params["data"]["commit"])
    return {p: fetch(f"{url}/{p}", sha, dest / p, mirror=mirror) for p, sha in released_files().items()}


@pytest.fixture(scope="session")
def da_inputs(da_files) -> dict[str, Path]:
    """Step inputs as the rules name them."""
    inputs = {file_name(p): v for p, v in da_files.items()}
    inputs["tvs_csv"] = da_files["results/eval_disagreement_bootstrapping.csv"]
    inputs["cells_csv"] = da_files["results/leaderboard_distrib_alignment_all.csv"]
    return inputs
