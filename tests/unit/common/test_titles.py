"""A paper's title is typed in one place, the registry (``workflow/papers.yaml``, ``papers.<slug>.title``).

The scorecard takes its headings from the registry; the expected files may not carry a title (the loader
refuses one); the README's papers table repeats each title for the reader, checked here against the registry;
each package docstring points to the registry instead of retyping the title (once, four copies of each title
existed and two of them disagreed).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from repro.common.registry import load_registry
from repro.common.scorecard import load_expected

ROOT = Path(__file__).resolve().parents[3]
REGISTRY = load_registry(ROOT / "workflow" / "papers.yaml")
# A row of the README's papers table: | `slug` | title | status |
_ROW = re.compile(r"^\| `(?P<slug>[a-z0-9]+)` \| (?P<title>[^|]+?) \| [^|]+ \|$")


def _readme_papers_table() -> dict[str, str]:
    """slug -> title of the rows of the table in the README's "## Papers" section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Papers\n", 1)[1].split("\n## ", 1)[0]
    rows = [m for line in section.splitlines() if (m := _ROW.match(line))]
    slugs = [m["slug"] for m in rows]
    assert len(slugs) == len(set(slugs)), f"README papers table lists a paper twice: {slugs}"
    return {m["slug"]: m["title"] for m in rows}


def test_readme_papers_table_has_every_registered_paper_with_the_registry_title():
    table = _readme_papers_table()
    assert set(table) == set(REGISTRY.slugs), "README papers table and workflow/papers.yaml list different papers"
    wrong = {slug: (title, REGISTRY.titles[slug]) for slug, title in table.items() if title != REGISTRY.titles[slug]}
    assert not wrong, f"README title != workflow/papers.yaml title (copy the registry's): {wrong}"


@pytest.mark.parametrize("slug", REGISTRY.slugs)
def test_expected_file_has_no_title(slug):
    # load_expected refuses a top-level `title:`; a file that loads carries none.
    assert load_expected(ROOT / "workflow" / "expected" / f"{slug}.yaml").slug == slug


@pytest.mark.parametrize("slug", REGISTRY.slugs)
def test_package_docstring_points_to_the_registry_and_does_not_retype_the_title(slug):
    path = ROOT / "src" / "repro" / slug / "__init__.py"
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    assert f"papers.{slug}.title" in doc, f"{path}: the docstring should point to workflow/papers.yaml"
    # The title without its authors-and-year parenthesis, e.g. "Observational Scaling Laws and the ..."
    name = REGISTRY.titles[slug].rsplit(" (", 1)[0]
    assert name.lower() not in doc.lower(), f"{path}: the docstring retypes the title {name!r}"
