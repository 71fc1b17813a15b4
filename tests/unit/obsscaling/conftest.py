"""Fixtures for the obsscaling tests: the released CSVs (fetched via the mirror) and the params.

The CSVs are fetched once per session with ``repro.common.fetch`` into a temporary
folder, from ``$REPRO_MIRROR`` (defaulting to ``../shared/mirror`` next to the
repository when that folder exists); no test touches the network when a mirror is there.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # tiny matrices: threads only add overhead

from repro.common.config import resolve  # noqa: E402
from repro.common.fetch import MIRROR_ENV, fetch  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_MIRROR = ROOT.parent / "shared" / "mirror"


@pytest.fixture(scope="session")
def obs_params() -> dict:
    """The resolved obsscaling block of params.yaml at the tiny scale (= paper settings)."""
    with open(ROOT / "params.yaml", encoding="utf-8") as fh:
        config = yaml.safe_load(fh)
    return resolve(config, "obsscaling", "tiny")


@pytest.fixture()
def params(obs_params) -> dict:
    """A private deep copy of the params, safe to modify in a test."""
    return copy.deepcopy(obs_params)


@pytest.fixture(scope="session")
def obs_data(obs_params, tmp_path_factory) -> dict[str, Path]:
    """name -> local path of each released CSV (sha256-checked)."""
    mirror = os.environ.get(MIRROR_ENV) or (str(DEFAULT_MIRROR) if DEFAULT_MIRROR.is_dir() else None)
    dest = tmp_path_factory.mktemp("obsscaling_data")
    data = obs_params["data"]
    paths = {}
    for name, spec in data["files"].items():
        url = data["url"].format(commit=data["commit"], file=spec["file"])
        paths[name] = fetch(url, spec["sha256"], dest / spec["file"], mirror=mirror)
    return paths
