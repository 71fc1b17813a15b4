"""Every params schema (workflow/schemas/*.schema.yaml) is a valid Draft 2020-12 schema and
documents every key: each entry under ``properties`` (at any depth) and each ``$defs`` entry
has a non-empty ``description``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parents[3]
SCHEMAS = sorted((ROOT / "workflow" / "schemas").glob("*.schema.yaml"))

# JSON Schema keywords whose value is a map of name -> subschema, one subschema, or a list of them.
_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_ONE = (
    "additionalProperties",
    "items",
    "contains",
    "not",
    "if",
    "then",
    "else",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "additionalItems",
)
_LISTS = ("prefixItems", "oneOf", "anyOf", "allOf")
_DOCUMENTED = ("properties", "$defs")  # entries of these must carry a description


def _subschemas(node: Any, path: str = "", keyword: str | None = None) -> Iterator[tuple[str, str | None, Any]]:
    """Yield ``(path, keyword, schema)`` for ``node`` and every subschema below it; ``keyword``
    is the map keyword (e.g. ``properties``) a schema is an entry of, else None."""
    yield path, keyword, node
    if not isinstance(node, dict):
        return
    for kw in _MAPS:
        if isinstance(node.get(kw), dict):
            for name, sub in node[kw].items():
                yield from _subschemas(sub, f"{path}/{kw}/{name}", kw)
    for kw in _ONE:
        if isinstance(node.get(kw), dict):
            yield from _subschemas(node[kw], f"{path}/{kw}")
    for kw in _LISTS:
        if isinstance(node.get(kw), list):
            for i, sub in enumerate(node[kw]):
                yield from _subschemas(sub, f"{path}/{kw}/{i}")


def undocumented(schema: dict[str, Any]) -> list[str]:
    """JSON-pointer paths of ``properties``/``$defs`` entries without a non-empty description."""
    bad = []
    for path, keyword, sub in _subschemas(schema):
        if keyword not in _DOCUMENTED:
            continue
        desc = sub.get("description") if isinstance(sub, dict) else None
        if not (isinstance(desc, str) and desc.strip()):
            bad.append(path)
    return bad


def _load(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def test_schemas_are_found() -> None:
    names = {p.name for p in SCHEMAS}
    assert {"params.schema.yaml", "obsscaling.schema.yaml", "ttt.schema.yaml"} <= names, names


@pytest.mark.parametrize("path", SCHEMAS, ids=[p.name for p in SCHEMAS])
def test_schema_is_valid_draft_2020_12(path: Path) -> None:
    schema = _load(path)
    assert schema.get("$schema") == "https://json-schema.org/draft/2020-12/schema", (
        f"{path.name}: $schema must be the Draft 2020-12 URI, not {schema.get('$schema')!r}"
    )
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("path", SCHEMAS, ids=[p.name for p in SCHEMAS])
def test_every_key_has_a_description(path: Path) -> None:
    bad = undocumented(_load(path))
    assert not bad, f"{path.name}: {len(bad)} key(s) without a description:\n  " + "\n  ".join(bad)


def test_the_walk_finds_undocumented_keys_at_any_depth() -> None:
    schema = {
        "$defs": {
            "a": {"type": "integer"},
            "b": {"type": "object", "description": "b", "properties": {"c": {"type": "string", "description": " "}}},
        },
        "properties": {
            "x": {
                "description": "x",
                "type": "array",
                "items": {"type": "object", "properties": {"y": {"type": "integer"}}},
            },
            "z": {
                "description": "z",
                "type": "object",
                "additionalProperties": {"type": "object", "properties": {"w": {"oneOf": [{"type": "null"}]}}},
            },
            "ok": {"description": "fine", "oneOf": [{"type": "null"}, {"type": "integer"}]},
        },
    }
    assert sorted(undocumented(schema)) == sorted(
        [
            "/$defs/a",
            "/$defs/b/properties/c",
            "/properties/x/items/properties/y",
            "/properties/z/additionalProperties/properties/w",
        ]
    )
