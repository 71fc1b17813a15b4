"""The figure layer every paper follows (DESIGN.md: compute never plots; figures from a registry).

Rule ``<slug>__fig_<name>`` calls ``repro.<slug>.figures.FIGURES[name](inputs, labels)``:
``inputs`` are the rule's named input files (small CSV/JSON tables written by compute
steps), ``labels`` presentation values from params. The registry replaces if/elif
chains over figure names; a name that is not registered is an error listing those that are.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from repro.common.plotting import apply_style, savefig

PlotFn = Callable[[Mapping[str, Path], Mapping[str, Any]], Any]


class FigureError(ValueError):
    """A figure rule names a figure the paper does not register."""


def figure_function(slug: str, name: str) -> PlotFn:
    """``repro.<slug>.figures.FIGURES[name]``, with an error listing the registered figures."""
    registry = getattr(importlib.import_module(f"repro.{slug}.figures"), "FIGURES", None)
    if registry is None:
        raise FigureError(f"repro.{slug}.figures has no FIGURES registry")
    if name not in registry:
        raise FigureError(f"repro.{slug}.figures: no figure {name!r}; registered: {sorted(registry)}")
    return registry[name]


def run_figure(
    rule: str, inputs: Mapping[str, str | os.PathLike[str]], png: str | os.PathLike[str], labels: Mapping[str, Any]
) -> Path:
    """Draw the figure that rule ``<slug>__fig_<name>`` names and save it as PNG + PDF."""
    slug, _, rest = rule.partition("__")
    if not rest.startswith("fig_"):
        raise FigureError(f"rule {rule!r} is not named <slug>__fig_<name>")
    apply_style()
    fig = figure_function(slug, rest[len("fig_") :])({k: Path(v) for k, v in inputs.items()}, dict(labels))
    return savefig(fig, png)
