"""params.yaml: validation against JSON schemas and per-scale resolution.

``params.yaml`` holds, per paper, a ``base`` block (the paper's own settings, used
at ``paper`` scale) and optional override blocks per smaller scale (``tiny``,
``smoke``) and for the rehearsal of paper scale (``paper_toy``: ids, URLs and sizes
only). :func:`resolve` deep-merges the overrides into the base block; an
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

from repro.common.io import atomic_write_text, fingerprint, read_yaml

SCALES = ("paper", "tiny", "smoke", "paper_toy")
# paper_toy rehearses paper scale (issue 28): the base block with a `paper_toy` overlay that may change only the
# keys the paper's params schema marks `x-rehearsal` (ids, URLs, sizes; tests/unit/common/test_rehearsal.py).
REHEARSAL = "paper_toy"
# The environment variable naming the paper (slug) whose step runs in this process (repro.common.steps.run_step sets
# it; repro.common.llm.budget charges the step's API calls to that paper's budget).
PAPER_ENV = "REPRO_PAPER"


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
    if scale == REHEARSAL:
        return deep_merge(base, block.get(REHEARSAL) or {}, f"{slug}.{REHEARSAL}")
    merged = base
    # smoke builds on tiny: the smoke config is the tiny run made smaller still.
    for s in ("tiny", "smoke") if scale == "smoke" else ("tiny",):
        if block.get(s):
            merged = deep_merge(merged, block[s], f"{slug}.{s}")
    return merged


REHEARSAL_KINDS = ("id", "url", "size")


def _schema_child(schema: Mapping[str, Any], node: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    """The schema of ``key`` inside the object schema ``node`` (``$ref`` to ``#/$defs/...`` followed)."""
    while "$ref" in node:
        ref = str(node["$ref"])
        if not ref.startswith("#/$defs/"):
            return None
        node = schema["$defs"][ref.removeprefix("#/$defs/")]
    child = node.get("properties", {}).get(key)
    if child is None and isinstance(node.get("additionalProperties"), Mapping):
        child = node["additionalProperties"]
    if child is not None:
        while "$ref" in child:  # keep the key's own annotations (x-rehearsal, description) beside the $ref
            own = {k: v for k, v in child.items() if k != "$ref"}
            child = {**schema["$defs"][str(child["$ref"]).removeprefix("#/$defs/")], **own}
    return child


def rehearsal_violations(
    paper: Mapping[str, Any], rehearsal: Mapping[str, Any], schema: Mapping[str, Any], where: str = ""
) -> list[str]:
    """The keys where the rehearsal's resolved params differ from paper scale's although the paper's schema does
    not mark them ``x-rehearsal: id | url | size`` (issue 28: only hub ids, URLs and sizes may differ, so the
    rehearsal runs the paper-scale code paths exactly). Mappings are compared key by key, and so are the items of
    two lists of the same length whose key is not marked itself (e.g. one endpoint per model: only its ``base_url``
    may change); any other value as a whole, against the ``x-rehearsal`` of its own key."""
    out: list[str] = []

    def walk(a: Any, b: Any, node: Mapping[str, Any] | None, path: str) -> None:
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            for k in sorted(set(a) | set(b), key=str):
                child = _schema_child(schema, node, str(k)) if node is not None else None
                walk(a.get(k), b.get(k), child, f"{path}.{k}" if path else str(k))
            return
        if (
            isinstance(a, list)
            and isinstance(b, list)
            and len(a) == len(b)
            and node is not None
            and node.get("x-rehearsal") not in REHEARSAL_KINDS
            and isinstance(node.get("items"), Mapping)
        ):
            for i, (x, y) in enumerate(zip(a, b)):
                walk(x, y, node["items"], f"{path}[{i}]")
            return
        if a != b and (node is None or node.get("x-rehearsal") not in REHEARSAL_KINDS):
            out.append(f"{where}.{path}" if where else path)

    walk(paper, rehearsal, schema, "")
    return out


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
        for scale in ("tiny", "smoke", REHEARSAL):
            validate_block(resolve(config, slug, scale), schema, f"{slug}.{scale}", "after merging into base")
        bad = rehearsal_violations(resolve(config, slug, "paper"), resolve(config, slug, REHEARSAL), schema, slug)
        if bad:
            raise ParamsError(
                f"params.yaml: {slug}.{REHEARSAL} changes {bad}, which {paper_schema.name} does not mark "
                f"x-rehearsal ({' | '.join(REHEARSAL_KINDS)}): the rehearsal may change hub ids, URLs and sizes only"
            )


def validate_params_cached(
    config: Mapping[str, Any],
    schema_dir: str | os.PathLike[str],
    papers: Sequence[str],
    stamp: str | os.PathLike[str],
) -> None:
    """:func:`validate_params`, skipped when nothing it reads changed since it last passed: the stamp file holds a
    fingerprint of the params, the schema files and this module. The workflow validates at every parse; a
    no-change ``snakemake -n`` should not spend ~0.4 s re-checking 40 resolved blocks (README, "Speed")."""
    schema_files = sorted(Path(schema_dir).glob("*.yaml"))
    digest = fingerprint([*schema_files, __file__], extra={"params": config, "papers": list(papers)})
    stamp = Path(stamp)
    if stamp.is_file() and stamp.read_text(encoding="utf-8") == digest:
        return
    validate_params(config, schema_dir, papers)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(stamp, digest)


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
