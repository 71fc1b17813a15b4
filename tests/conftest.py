"""Test-wide setup: the data mirror (no test may use the network) and the papers' params (params.yaml)."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _mirror() -> Path:
    # CI sets REPRO_MIRROR=../shared/mirror relative to the repository root; make it
    # absolute so tests that change directory (workflow runs in tmp clones) still see it.
    raw = os.environ.get("REPRO_MIRROR") or str(ROOT.parent / "shared" / "mirror")
    path = Path(raw)
    if not path.is_absolute():
        path = (ROOT / path).resolve()
    return path


MIRROR = _mirror()
os.environ["REPRO_MIRROR"] = str(MIRROR)


@pytest.fixture(scope="session")
def mirror() -> Path:
    """Absolute path of the data mirror; fails loudly (never skips) when it is absent."""
    if not MIRROR.is_dir():
        pytest.fail(f"data mirror not found at {MIRROR}: set REPRO_MIRROR (CI uses ../shared/mirror)")
    return MIRROR


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


# --- params.yaml: read once per session, resolved per (paper, scale) --------------------------------
#
# Every unit test that needs a paper's settings takes them from here, so the file is parsed once and
# resolved by the same ``repro.common.config.resolve`` the workflow uses (settings are never retyped in
# a test). Tests of params.yaml itself (schema validation, bad-input cases) read the raw file on purpose.

ParamsFactory = Callable[..., dict[str, Any]]
ConfigFactory = Callable[..., Any]


@pytest.fixture(scope="session")
def params_yaml() -> dict[str, Any]:
    """The raw params.yaml, parsed once per session. Shared: never modify it (resolve a copy instead)."""
    with open(ROOT / "params.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="session")
def paper_params(params_yaml: dict[str, Any]) -> ParamsFactory:
    """``paper_params(slug, scale="tiny") -> dict``: the resolved params.yaml block of paper ``slug``.

    Each call returns a private deep copy, so a test may edit what it gets; the resolution itself is
    done once per (slug, scale) and session.
    """
    # Imported here, not at the top: repro.common.config imports numpy, and some paper conftests set
    # thread variables (OPENBLAS_NUM_THREADS) before numpy is first imported.
    from repro.common.config import resolve

    cache: dict[tuple[str, str], dict[str, Any]] = {}

    def get(slug: str, scale: str = "tiny") -> dict[str, Any]:
        if (slug, scale) not in cache:
            cache[slug, scale] = resolve(params_yaml, slug, scale)
        return copy.deepcopy(cache[slug, scale])

    return get


@pytest.fixture(scope="session")
def paper_config(paper_params: ParamsFactory) -> ConfigFactory:
    """``paper_config(cls, slug, section=None, scale="tiny", where=None)``: the dataclass ``cls`` built
    with ``repro.common.steps.build_config`` from paper ``slug``'s resolved block, or from its ``section``
    (a dotted path such as ``"paper_plan"`` or ``"train.optimizer"``).

    ``where`` (the key prefix in error messages) defaults to ``slug`` or ``slug.section``.
    """
    from repro.common.steps import build_config

    def get(cls: type, slug: str, section: str | None = None, scale: str = "tiny", where: str | None = None) -> Any:
        node: Any = paper_params(slug, scale)
        for key in section.split(".") if section else ():
            node = node[key]
        return build_config(cls, node, where or (f"{slug}.{section}" if section else slug))

    return get
