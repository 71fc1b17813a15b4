"""One package shape for every paper (issue 26): ``config.py``, ``steps.py`` and ``figures.py``, steps only.

For every registered paper: the package has ``config.py`` (its typed step configs), ``steps.py`` (the step
functions) and ``figures.py``; every public function defined in ``steps.py`` (or in a sibling ``*_steps``
module whose steps ``steps.py`` re-exports, as ideagen's) is a declared step (``@step``); and every step's
``config`` parameter is annotated with a dataclass defined in ``repro.<slug>.config``.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import typing
from pathlib import Path
from types import ModuleType

import pytest

from repro.common.declarations import declaration_of
from repro.common.registry import load_registry

ROOT = Path(__file__).resolve().parents[3]
SLUGS = load_registry(ROOT / "workflow" / "papers.yaml").slugs


def _step_modules(slug: str) -> list[ModuleType]:
    """``repro.<slug>.steps`` and the sibling ``repro.<slug>.*_steps`` modules it imports step functions from."""
    steps = importlib.import_module(f"repro.{slug}.steps")
    modules = {steps.__name__: steps}
    for obj in vars(steps).values():
        name = getattr(obj, "__module__", None) if inspect.isfunction(obj) else None
        if name and name.startswith(f"repro.{slug}.") and name.rsplit(".", 1)[1].endswith("_steps"):
            modules[name] = importlib.import_module(name)
    return list(modules.values())


def _public_functions(module: ModuleType) -> dict[str, typing.Callable[..., typing.Any]]:
    """The public functions defined in ``module`` itself (not the ones it imports)."""
    return {
        name: obj
        for name, obj in vars(module).items()
        if inspect.isfunction(obj) and not name.startswith("_") and obj.__module__ == module.__name__
    }


def test_every_paper_is_checked():
    assert len(SLUGS) >= 10, SLUGS


@pytest.mark.parametrize("slug", SLUGS)
def test_package_has_config_steps_and_figures(slug):
    package = ROOT / "src" / "repro" / slug
    missing = [name for name in ("config.py", "steps.py", "figures.py") if not (package / name).is_file()]
    assert not missing, f"src/repro/{slug}/ lacks {missing} (one package shape: DESIGN.md, issue 26)"


@pytest.mark.parametrize("slug", SLUGS)
def test_steps_modules_hold_steps_only(slug):
    undeclared = []
    for module in _step_modules(slug):
        for name, fn in _public_functions(module).items():
            if declaration_of(fn) is None:
                undeclared.append(f"{module.__name__}.{name}")
    assert not undeclared, (
        f"public functions in the steps modules of {slug} that are not @step-declared steps: {undeclared}; "
        f"move helpers to the paper's method modules (or make them private glue)"
    )


@pytest.mark.parametrize("slug", SLUGS)
def test_step_configs_live_in_config_module(slug):
    steps = importlib.import_module(f"repro.{slug}.steps")
    declared = {name: fn for name, fn in vars(steps).items() if inspect.isfunction(fn) and declaration_of(fn)}
    assert declared, f"repro.{slug}.steps declares no step"
    elsewhere = {}
    for name, fn in declared.items():
        if "config" not in inspect.signature(fn).parameters:
            continue
        tp = typing.get_type_hints(fn)["config"]
        assert dataclasses.is_dataclass(tp), f"{slug}: {name}'s config annotation {tp!r} is not a dataclass"
        if tp.__module__ != f"repro.{slug}.config":
            elsewhere[name] = f"{tp.__module__}.{tp.__qualname__}"
    assert not elsewhere, f"{slug}: step configs defined outside repro.{slug}.config: {elsewhere}"
