"""The paper registry, ``workflow/papers.yaml`` (DESIGN.md, "Adding a paper").

The one list of registered papers. The Snakefile includes each paper's rules file
from it, ``dvc.yaml`` reads it through ``vars:``, :func:`repro.common.config.validate_params`
derives the top-level params schema from it, and the scorecard iterates over it. A paper's title is
typed here only: the scorecard headings take it from :attr:`Registry.titles`, a test checks the
README's papers table against it, and the expected files and package docstrings point here.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from repro.common.io import read_yaml

TIERS = ("exact", "end_to_end")
_SLUG = re.compile(r"^[a-z][a-z0-9]*$")


class RegistryError(ValueError):
    """``workflow/papers.yaml`` is malformed; the message names the entry and field."""


@dataclass(frozen=True)
class Paper:
    """One registered paper."""

    slug: str
    title: str
    tiers: tuple[str, ...]
    downloads: tuple[str, ...]
    # numbers.json keys (fnmatch patterns) that time this machine (seconds, tokens/s, speed-ups): the
    # only numbers a rerun on the same machine may change; every other number is byte-identical from scratch
    # there (across CPU models, see README "Determinism" and repro.common.floatenv).
    timing: tuple[str, ...] = ()

    def without_timings(self, numbers: Mapping[str, object]) -> dict[str, object]:
        """``numbers`` less the keys that time the machine (the ``timing`` patterns)."""
        return {k: v for k, v in numbers.items() if not any(fnmatch.fnmatchcase(k, p) for p in self.timing)}


@dataclass(frozen=True)
class Download:
    """A download group: the rule that fetches its pinned files and the folder they land in."""

    folder: str
    target: str  # a Snakemake rule without wildcards (DVC stage fetch@<group> runs it)


@dataclass(frozen=True)
class Registry:
    """The parsed registry: papers in file order, download groups, DVC scales."""

    papers: dict[str, Paper]
    downloads: dict[str, Download]
    scales: tuple[str, ...]

    @property
    def slugs(self) -> list[str]:
        return list(self.papers)

    @property
    def titles(self) -> dict[str, str]:
        """slug -> the paper's title, typed only here (the scorecard reads it; a test checks the README's copies)."""
        return {slug: paper.title for slug, paper in self.papers.items()}


def load_registry(path: str | os.PathLike[str]) -> Registry:
    """Parse and check ``workflow/papers.yaml``."""
    path = Path(path)
    doc = read_yaml(path) or {}
    unknown = set(doc) - {"papers", "downloads", "scales"}
    if unknown:
        raise RegistryError(f"{path}: unknown top-level key(s) {sorted(unknown)}")
    downloads = {}
    for key, spec in (doc.get("downloads") or {}).items():
        if (
            not isinstance(spec, dict)
            or set(spec) != {"folder", "target"}
            or not all(isinstance(v, str) for v in spec.values())
        ):
            raise RegistryError(f"{path}: downloads.{key}: needs exactly `folder` and `target` (strings)")
        downloads[str(key)] = Download(folder=spec["folder"], target=spec["target"])
    papers = {}
    for slug, spec in (doc.get("papers") or {}).items():
        where = f"{path}: papers.{slug}"
        if not _SLUG.match(str(slug)):
            raise RegistryError(f"{where}: a slug is lower-case letters and digits")
        if not isinstance(spec, dict):
            raise RegistryError(f"{where}: expected a mapping")
        extra = set(spec) - {"title", "tiers", "downloads", "timing"}
        if extra:
            raise RegistryError(f"{where}: unknown field(s) {sorted(extra)}")
        tiers = tuple(spec.get("tiers") or ())
        if not tiers or set(tiers) - set(TIERS):
            raise RegistryError(f"{where}.tiers: {list(tiers)}; each must be one of {list(TIERS)}")
        groups = tuple(spec.get("downloads") or ())
        missing = [g for g in groups if g not in downloads]
        if missing:
            raise RegistryError(f"{where}.downloads: {missing} not in the `downloads` section {sorted(downloads)}")
        if not isinstance(spec.get("title"), str):
            raise RegistryError(f"{where}.title: required string")
        timing = spec.get("timing") or []
        if not isinstance(timing, list) or not all(isinstance(t, str) and t for t in timing):
            raise RegistryError(f"{where}.timing: a list of numbers.json key patterns (strings)")
        papers[str(slug)] = Paper(
            slug=str(slug), title=spec["title"], tiers=tiers, downloads=groups, timing=tuple(timing)
        )
    if not papers:
        raise RegistryError(f"{path}: no papers registered")
    scales = tuple(doc.get("scales") or ())
    return Registry(papers=papers, downloads=downloads, scales=scales)
