"""Step declarations (repro.common.declarations): one @step per step function, read from the source by the
workflow and checked at import and at run time (issue 26, item 1)."""

from __future__ import annotations

import importlib
import inspect
import textwrap
from pathlib import Path

import pytest

from repro.common.declarations import (
    SCALES,
    DeclarationError,
    StepDeclaration,
    declaration_of,
    read_declarations,
    read_declarations_cached,
    step,
)
from repro.common.registry import load_registry

ROOT = Path(__file__).resolve().parents[3]
SLUGS = load_registry(ROOT / "workflow/papers.yaml").slugs


def test_defaults_read_the_own_section():
    @step()
    def pca_step(inputs, config):  # noqa: ARG001
        return None

    assert declaration_of(pca_step) == StepDeclaration("pca", ("pca",), "pca", SCALES, True)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"reads": ("a",), "section": "b"}, r"section 'b' is not one of reads \['a'\]"),
        ({"reads": ("a", "a")}, "reads lists a key twice"),
        ({"scales": ("huge",)}, r"scales \['huge'\] must be a non-empty subset"),
        ({"scales": ()}, "must be a non-empty subset"),
        ({"merged": "yes"}, "merged must be true or false"),
    ],
)
def test_bad_declarations_are_refused(kwargs, match):
    with pytest.raises(DeclarationError, match=match):

        @step(**kwargs)
        def x_step(inputs):  # noqa: ARG001
            return None


def test_a_step_function_is_named_after_its_step():
    with pytest.raises(DeclarationError, match="named <step>_step"):

        @step()
        def helper(inputs):  # noqa: ARG001
            return None


def _module(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "steps.py"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_source_reader_matches_the_decorator(tmp_path):
    path = _module(
        tmp_path,
        """
        from repro.common.declarations import step
        from repro.common import declarations

        @step()
        def a_step(inputs, config): ...

        @declarations.step(reads=("x", "y.z"), scales=("paper",), merged=False)
        def b_step(inputs, config): ...

        def helper(): ...
        """,
    )
    assert read_declarations([path]) == {
        "a": StepDeclaration("a", ("a",), "a", SCALES, True),
        "b": StepDeclaration("b", ("x", "y.z"), None, ("paper",), False),
    }


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("KEYS = ('a',)\n@step(reads=KEYS)\ndef a_step(inputs): ...\n", r"steps\.py:3 \(a_step\).*must be a literal"),
        ("@step('a')\ndef a_step(inputs): ...\n", "keyword arguments only"),
        ("@step(read=('a',))\ndef a_step(inputs): ...\n", r"has no argument\(s\) \['read'\]"),
        ("@step()\ndef a_step(inputs): ...\n@step()\ndef a_step(inputs): ...\n", "declared twice"),
    ],
)
def test_source_reader_names_the_file_and_line(tmp_path, body, match):
    with pytest.raises(DeclarationError, match=match):
        read_declarations([_module(tmp_path, body)])


def test_cached_reader_sees_an_edit(tmp_path):
    path = _module(tmp_path, "@step()\ndef a_step(inputs): ...\n")
    cache = tmp_path / "cache.json"
    assert set(read_declarations_cached([path], cache)) == {"a"}
    assert set(read_declarations_cached([path], cache)) == {"a"}  # from the cache
    path.write_text("@step()\ndef a_step(inputs): ...\n@step()\ndef bb_step(inputs): ...\n", encoding="utf-8")
    assert set(read_declarations_cached([path], cache)) == {"a", "bb"}


@pytest.mark.parametrize("slug", SLUGS)
def test_every_step_is_declared_and_the_source_reader_agrees(slug):
    """Every <name>_step function that repro.<slug>.steps exposes carries a declaration, and what the workflow
    reads from the source is what the decorator recorded."""
    module = importlib.import_module(f"repro.{slug}.steps")
    functions = {
        name[: -len("_step")]: fn
        for name, fn in vars(module).items()
        if name.endswith("_step") and inspect.isfunction(fn) and not name.startswith("_")
    }
    assert functions, f"repro.{slug}.steps has no steps"
    undeclared = sorted(name for name, fn in functions.items() if declaration_of(fn) is None)
    assert not undeclared, f"repro.{slug}.steps: undeclared steps {undeclared}"
    from_source = read_declarations(sorted((ROOT / "src/repro" / slug).rglob("*.py")))
    assert from_source == {name: declaration_of(fn) for name, fn in functions.items()}
