"""Fixtures for the distalign tests: the released files (fetched once via the mirror) and the params."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from repro.common.fetch import fetch
from repro.distalign.data import file_name, released_files


@pytest.fixture(scope="session")
def da_params(paper_params: Callable[..., dict]) -> dict:
    """The resolved distalign block of params.yaml at the tiny scale (tests/conftest.py's ``paper_params``)."""
    return paper_params("distalign", "tiny")


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
