"""params.yaml: validation against JSON schemas and per-scale resolution.

``params.yaml`` holds, per paper, a ``base`` block (the paper's own settings, used
at ``paper`` scale) and optional override blocks per smaller scale (``tiny``,
``smoke``). :func:`resolve` deep-merges the overrides into the base block; an
override key that the base block does not have is an error, so a typo can never
silently create a new setting (DESIGN.md, "Params").
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema

from repro.common.io import read_yaml

SCALES = ("paper", "tiny", "smoke")


class ParamsError(ValueError):
    """params.yaml is invalid; the message names the offending key."""


def _key_path(path: Any) -> str:
    return ".".join(str(p) for p in path if str(p)) or "<top level>"


def load_schema(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML/JSON schema file."""
    return read_yaml(path)


def validate_block(block: Any, schema: Mapping[str, Any], where: str, context: str = "") -> None:
    """Validate one block against ``schema``; raise :class:`ParamsError` naming the key.

    Only the deepest error is reported: it names the exact key, and one clear
    message beats a wall of cascading ones.
    """
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(block))
    if not errors:
        return
    err = max(errors, key=lambda e: len(e.absolute_path))
    key = _key_path([where, *err.absolute_path])
    suffix = f" ({context})" if context else ""
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed))
        keys = ", ".join(f"{key}.{k}" if (where or err.absolute_path) else str(k) for k in extra)
        raise ParamsError(f"params.yaml: unknown key {keys}{suffix}; allowed keys here: {allowed}")
    raise ParamsError(f"params.yaml: {key}: {err.message}{suffix}")


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Return ``base`` with ``override`` merged in; unknown override keys are errors."""
    out = copy.deepcopy(dict(base))
    for k, v in override.items():
        if k not in out:
            raise ParamsError(f"params.yaml: unknown key {where}.{k} (not in the base block)")
        if isinstance(v, Mapping) and isinstance(out[k], Mapping):
            out[k] = deep_merge(out[k], v, f"{where}.{k}")
        else:
            out[k] = copy.deepcopy(v)
    return out


def resolve(config: Mapping[str, Any], slug: str, scale: str) -> dict[str, Any]:
    """The effective parameters of paper ``slug`` at ``scale`` (base + overrides)."""
    if scale not in SCALES:
        raise ParamsError(f"params.yaml: scale: {scale!r} is not one of {list(SCALES)}")
    if slug not in config:
        raise ParamsError(f"params.yaml: missing block for paper {slug!r}")
    block = config[slug]
    base = block["base"]
    if scale == "paper":
        return copy.deepcopy(base)
    merged = base
    # smoke builds on tiny: the smoke config is the tiny run made smaller still.
    for s in ("tiny", "smoke") if scale == "smoke" else ("tiny",):
        if block.get(s):
            merged = deep_merge(merged, block[s], f"{slug}.{s}")
    return merged


def top_level_schema(schema_dir: str | os.PathLike[str], papers: Sequence[str]) -> dict[str, Any]:
    """The top-level schema with one required ``paper_block`` property per registered paper.

    ``params.schema.yaml`` describes everything but the papers; the list of papers
    comes from the registry (``workflow/papers.yaml``), never typed a second time.
    """
    schema = load_schema(Path(schema_dir) / "params.schema.yaml")
    schema = copy.deepcopy(schema)
    for slug in papers:
        schema["properties"][slug] = {
            "$ref": "#/$defs/paper_block",
            "description": f"paper {slug} (workflow/papers.yaml)",
        }
    schema["required"] = [*schema.get("required", []), *papers]
    return schema


def validate_params(config: Mapping[str, Any], schema_dir: str | os.PathLike[str], papers: Sequence[str]) -> None:
    """Validate the whole params.yaml: top level, then every paper at every scale.

    ``schema_dir`` holds ``params.schema.yaml`` (top level, papers excluded) and
    ``<slug>.schema.yaml`` per paper (the schema of the resolved block); ``papers``
    are the registered slugs. A block for an unregistered paper is an unknown key.
    """
    schema_dir = Path(schema_dir)
    validate_block(dict(config), top_level_schema(schema_dir, papers), "")
    for slug in papers:
        block = config[slug]
        paper_schema = schema_dir / f"{slug}.schema.yaml"
        if not paper_schema.exists():
            raise ParamsError(f"{paper_schema}: missing (every registered paper has a params schema)")
        schema = load_schema(paper_schema)
        # The base block first, so an error in it is named obsscaling.base.<key>; an
        # error that appears only once overrides are merged comes from that scale's block.
        validate_block(block["base"], schema, f"{slug}.base")
        for scale in ("tiny", "smoke"):
            validate_block(resolve(config, slug, scale), schema, f"{slug}.{scale}", "after merging into base")


# A step's resolved-params file may name the one section its typed config is built from (``step_params(...,
# section=...)`` in common.smk; read by repro.common.steps.run_step). It lives in the file, not in a rule's
# ``params:``, because rules carry no ``params:`` (see common.smk's header).
CONFIG_SECTION_KEY = "__config_section__"


def select_keys(params: Mapping[str, Any], keys: Sequence[str], slug: str) -> dict[str, Any]:
    """Pick dotted keys (e.g. ``"pca.n_components"`` or ``"pca"``) from a resolved block.

    This is what a rule's resolved-params file holds (``step_params`` in common.smk);
    a key that does not exist is a :class:`ParamsError` naming it and the keys there.
    """
    out: dict[str, Any] = {}
    for key in keys:
        node: Any = params
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                here = sorted(node) if isinstance(node, Mapping) else repr(node)
                raise ParamsError(
                    f"params.yaml: unknown key {slug}.{key} (asked for by a rule of {slug}); keys here: {here}"
                )
            node = node[part]
        out[key] = node
    return out
