"""Fixtures for the obsscaling tests: the released CSVs (fetched via the mirror) and the params.

The CSVs are fetched once per session with ``repro.common.fetch`` into a temporary
folder, from ``$REPRO_MIRROR`` (defaulting to ``../shared/mirror`` next to the
repository when that folder exists); no test touches the network when a mirror is there.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # tiny matrices: threads only add overhead

from repro.common.config import select_keys  # noqa: E402
from repro.common.fetch import MIRROR_ENV, fetch  # noqa: E402
from repro.common.scorecard import PaperExpected, load_expected  # noqa: E402
from repro.common.declarations import declaration_of  # noqa: E402
from repro.common.steps import build_config, config_type, nest  # noqa: E402
from repro.obsscaling import steps as S  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_MIRROR = ROOT.parent / "shared" / "mirror"


@pytest.fixture(scope="session")
def obs_params(paper_params: Callable[..., dict]) -> dict:
    """The resolved obsscaling block of params.yaml at the tiny scale (= paper settings), shared by the
    session: tests that modify params take ``params`` instead."""
    return paper_params("obsscaling", "tiny")


@pytest.fixture()
def params(paper_params: Callable[..., dict]) -> dict:
    """A private deep copy of the params, safe to modify in a test (``paper_params`` copies on every call)."""
    return paper_params("obsscaling", "tiny")


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


# Each step's params keys and config type, from its declaration (@step in repro.obsscaling.steps): the keys
# the workflow writes into the step's params file and the dataclass the adapter builds from them.
STEP_KEYS: dict[str, tuple[type, list[str]]] = {}
for _name, _fn in vars(S).items():
    _decl = declaration_of(_fn) if callable(_fn) else None
    if _decl is not None:
        STEP_KEYS[_decl.name] = (config_type(_fn), list(_decl.reads))


def _step_config(step: str, params: dict):
    cls, keys = STEP_KEYS[step]
    return build_config(cls, nest(select_keys(params, keys, "obsscaling")), "obsscaling")


@pytest.fixture(scope="session")
def step_config():
    """``step_config(step, params)``: the typed config of a step from a (modified) params block, as the adapter builds it."""
    return _step_config


@pytest.fixture(scope="session")
def step_names() -> list[str]:
    return list(STEP_KEYS)


@pytest.fixture(scope="session")
def expected() -> PaperExpected:
    """workflow/expected/obsscaling.yaml: the only place the reference values are written."""
    return load_expected(ROOT / "workflow" / "expected" / "obsscaling.yaml")
