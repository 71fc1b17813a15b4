"""The scorecard: every computed number next to the published one (DESIGN.md, "Two tiers").

Each paper lists the published numbers it is compared with in
``workflow/expected/<slug>.yaml``::

    paper: obsscaling
    title: Observational Scaling Laws (Ruan et al., 2024)
    entries:
      - key: pca.explained_variance.pc1     # a key of numbers.json
        published: 0.8016                   # null: report the value, assert nothing
        tolerance: {abs: 1.0e-4}            # or {rtol: 0.01}
        source: "Sec. 3.2, Fig. 2 (explained variance)"
        scales: [tiny, paper]               # where the comparison is meaningful
        note: optional free text shown in the table

:func:`build_scorecard` turns those files and the ``numbers.json`` files into one
Markdown table per paper with a status per row.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from repro.common.io import read_json

MATCH, MISMATCH, MISSING, REPORTED, NOT_AT_SCALE = "match", "MISMATCH", "missing", "reported", "n/a at this scale"


class ExpectedError(ValueError):
    """An expected-numbers file is malformed; the message names the file and entry."""


@dataclass(frozen=True)
class Expected:
    """One published number and how to compare with it."""

    key: str
    published: float | None
    source: str
    scales: tuple[str, ...]
    abs_tol: float | None = None
    rtol: float | None = None
    note: str = ""

    def within(self, value: float) -> bool:
        """True when ``value`` matches the published number within tolerance."""
        assert self.published is not None
        diff = abs(value - self.published)
        if self.abs_tol is not None and diff <= self.abs_tol:
            return True
        if self.rtol is not None and diff <= self.rtol * abs(self.published):
            return True
        return False


@dataclass
class PaperExpected:
    """The parsed ``workflow/expected/<slug>.yaml``."""

    slug: str
    title: str
    entries: list[Expected] = field(default_factory=list)


def load_expected(path: str | os.PathLike[str]) -> PaperExpected:
    """Parse and check one expected file; malformed entries raise :class:`ExpectedError`."""
    path = Path(path)
    with open(path, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh) or {}
    for req in ("paper", "title", "entries"):
        if req not in doc:
            raise ExpectedError(f"{path}: missing top-level key {req!r}")
    entries = []
    for i, e in enumerate(doc["entries"]):
        where = f"{path}: entries[{i}]"
        for req in ("key", "published", "source", "scales"):
            if req not in e:
                raise ExpectedError(f"{where}: missing {req!r}")
        tol = e.get("tolerance") or {}
        if e["published"] is not None and not ({"abs", "rtol"} & set(tol)):
            raise ExpectedError(f"{where} ({e['key']}): a published value needs tolerance.abs or tolerance.rtol")
        unknown = set(e) - {"key", "published", "source", "scales", "tolerance", "note"}
        if unknown:
            raise ExpectedError(f"{where}: unknown field(s) {sorted(unknown)}")
        entries.append(
            Expected(
                key=str(e["key"]),
                published=None if e["published"] is None else float(e["published"]),
                source=str(e["source"]),
                scales=tuple(e["scales"]),
                abs_tol=tol.get("abs"),
                rtol=tol.get("rtol"),
                note=str(e.get("note", "")),
            )
        )
    return PaperExpected(slug=str(doc["paper"]), title=str(doc["title"]), entries=entries)


def status(entry: Expected, numbers: Mapping[str, Any], scale: str) -> tuple[str, Any]:
    """(status, computed value) of one entry against a paper's numbers.json."""
    value = numbers.get(entry.key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING, None
    if scale not in entry.scales:
        return NOT_AT_SCALE, value
    if entry.published is None or not isinstance(value, (int, float)):
        return REPORTED, value
    return (MATCH if entry.within(float(value)) else MISMATCH), value


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, (int, float)):
        v = float(v)
        if v != 0 and (abs(v) < 1e-2 or abs(v) >= 1e4):
            return f"{v:.3e}"
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(str(x) for x in v)
    return str(v)


def _tol(e: Expected) -> str:
    parts = []
    if e.abs_tol is not None:
        parts.append(f"±{e.abs_tol:g}")
    if e.rtol is not None:
        parts.append(f"rtol {e.rtol:g}")
    return " or ".join(parts) or "—"


def build_scorecard(
    scale: str,
    numbers_files: Mapping[str, str | os.PathLike[str]],
    expected_files: Sequence[str | os.PathLike[str]],
) -> str:
    """Markdown scorecard for ``scale``.

    ``numbers_files`` maps slug -> numbers.json; ``expected_files`` are the
    ``workflow/expected/*.yaml`` files. A paper with expectations but no numbers
    file is listed as not run, so nothing is silently dropped.
    """
    lines = [f"# Scorecard ({scale} scale)", ""]
    lines.append(
        "Status: **match** within tolerance; **MISMATCH** outside it; **reported** computed, "
        "no published value to assert; **n/a at this scale** the comparison is only meaningful "
        "at another scale; **missing** the pipeline did not produce the key."
    )
    lines.append("")
    totals: dict[str, int] = {}
    for path in sorted(expected_files, key=lambda p: Path(p).name):
        exp = load_expected(path)
        lines.append(f"## {exp.slug}: {exp.title}")
        lines.append("")
        if exp.slug not in numbers_files:
            lines.append(f"_Not run at {scale} scale in this invocation._")
            lines.append("")
            continue
        numbers = read_json(numbers_files[exp.slug])
        lines.append("| key | computed | published | tolerance | status | source | note |")
        lines.append("|---|---|---|---|---|---|---|")
        for e in exp.entries:
            st, val = status(e, numbers, scale)
            totals[st] = totals.get(st, 0) + 1
            note = e.note.replace("|", "\\|").replace("\n", " ")
            lines.append(
                f"| `{e.key}` | {_fmt(val)} | {_fmt(e.published)} | {_tol(e)} | {st} | {e.source} | {note} |"
            )
        lines.append("")
    summary = ", ".join(f"{v} {k}" for k, v in sorted(totals.items()))
    lines.insert(2, f"Totals: {summary or 'no entries'}.")
    lines.insert(3, "")
    return "\n".join(lines) + "\n"
