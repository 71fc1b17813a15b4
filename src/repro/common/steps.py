"""The step layer every paper follows (DESIGN.md, "Adding a paper").

One name per step: the Snakemake rule ``<slug>__<step>`` runs the library function
``repro.<slug>.steps.<step>_step``, whose numbers land under the ``<step>.`` prefix of
``numbers.json`` and whose parameters are the ``<step>`` section of the paper's
params block (or the keys its declaration lists). Every step function is declared with
:func:`repro.common.declarations.step`, and the workflow builds the rule's params file, code
inputs and numbers merge from that declaration.

A step function has the signature::

    def <step>_step(inputs: Mapping[str, Path], config: <Step>Config) -> StepResult

and, if it writes files itself (a checkpoint, a tokenizer), a third parameter
``outputs: Mapping[str, Path]`` with the rule's named outputs. An input that is a
list of files (e.g. ``code``) arrives as a list of paths.

``inputs`` are the rule's named input files; ``config`` is a typed (dataclass)
config built once, at the edge, from the step's resolved-params JSON by
:func:`build_config`: library functions never see ``Mapping[str, Any]``. The
result is written by :func:`write_step_outputs` only after the whole step
succeeded, atomically, so a failing step leaves no output. :func:`merge_numbers`
joins the per-step numbers into ``numbers.json`` and refuses a key produced twice.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from repro.common.config import CONFIG_SECTION_KEY, PAPER_ENV
from repro.common.declarations import declaration_of
from repro.common.devices import claim_gpus
from repro.common.io import atomic_open, flatten, read_json, write_json

__all__ = [
    "StepResult",
    "StepError",
    "ConfigError",
    "write_step_outputs",
    "merge_numbers",
    "nest",
    "build_config",
    "step_function",
    "run_step",
]

PathLike = str | os.PathLike[str]


class StepError(ValueError):
    """A step cannot run or its result does not fit the rule; the message says why."""


class ConfigError(ValueError):
    """A step's params do not fit its typed config; the message names the key."""


@dataclass
class StepResult:
    """What a compute step produces.

    ``numbers``: nested (or dotted) numbers, flattened into ``numbers.json`` under
    the step's prefix (written to the rule output ``numbers``; a step whose rule has
    no such output, e.g. one training run, returns none). ``tables``: small tables
    (CSV), one per named rule output, that figure rules plot. ``records``: JSON
    documents (e.g. a loss curve), one per named output. ``files``: other named
    outputs the step already wrote itself, atomically (e.g. a checkpoint written by
    the trainer); listed so the writer can check every rule output is accounted for.
    """

    numbers: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    records: dict[str, Any] = field(default_factory=dict)
    files: tuple[str, ...] = ()


def write_step_outputs(result: StepResult, outputs: Mapping[str, PathLike], prefix: str | None = None) -> None:
    """Write ``numbers`` (JSON), tables (CSV) and records (JSON) to the rule's named outputs, atomically.

    The output names must be exactly ``numbers`` (if the rule has it) + the table,
    record and file names. With ``prefix`` (the step name), every numbers key must
    start with it: rule name, step function and numbers prefix are one name.
    """
    with_numbers = "numbers" in outputs
    if result.numbers and not with_numbers:
        raise StepError("the step produced numbers but its rule has no `numbers` output")
    expected = {*result.tables, *result.records, *result.files} | ({"numbers"} if with_numbers else set())
    if set(outputs) != expected:
        raise StepError(f"step outputs {sorted(outputs)} do not match the results {sorted(expected)}")
    if prefix is not None:
        stray = sorted(k for k in flatten(result.numbers) if k != prefix and not k.startswith(prefix + "."))
        if stray:
            raise StepError(f"step {prefix!r} produced numbers outside its prefix '{prefix}.': {stray[:5]}")
    for name, table in result.tables.items():
        with atomic_open(outputs[name], "w", newline="", encoding="utf-8") as fh:
            table.to_csv(fh, index=False, float_format="%.10g")
    for name, record in result.records.items():
        write_json(outputs[name], record)
    if with_numbers:
        write_json(outputs["numbers"], result.numbers)


def merge_numbers(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Flatten and merge the per-step numbers (sorted keys); a key produced twice is an error."""
    out: dict[str, Any] = {}
    for part in parts:
        for key, value in flatten(part).items():
            if key in out:
                raise StepError(f"numbers key {key!r} produced by two steps")
            out[key] = value
    return dict(sorted(out.items()))


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Turn a step-params JSON (dotted keys, e.g. ``{"pca.n_components": 5}``) into nested dicts."""
    out: dict[str, Any] = {}
    for key in sorted(flat, key=lambda k: k.count(".")):
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        if isinstance(node.get(leaf), dict) and isinstance(flat[key], Mapping):
            node[leaf].update(flat[key])
        else:
            node[leaf] = flat[key]
    return out


# --- typed configs -----------------------------------------------------------------------


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Convert a JSON value to the annotated type ``tp``; raise :class:`ConfigError` naming ``where``."""
    if tp is Any or tp is object:
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: {value!r} fits none of {tp}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if _is_dataclass_type(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}, got {type(value).__name__}")
        return build_config(tp, value, where)
    if origin in (tuple, list, Sequence, typing.Sequence) or tp in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            items = [_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
        elif origin is tuple and args:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
            items = [_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args))]
        else:
            items = [_coerce(v, args[0] if args else Any, f"{where}[{i}]") for i, v in enumerate(value)]
        return list(items) if origin is list or tp is list else tuple(items)
    if origin in (dict, Mapping, typing.Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        ktp, vtp = args if args else (Any, Any)
        return {_coerce(k, ktp, where): _coerce(v, vtp, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


def build_config(cls: type, params: Mapping[str, Any], where: str = "params") -> Any:
    """Build the dataclass ``cls`` from a (nested) params mapping, with named-key errors.

    Field types are enforced (ints stay ints, lists become tuples where annotated),
    nested dataclasses are built recursively, an unknown key or a missing required
    key is a :class:`ConfigError` naming ``where.<key>``. This is the one place
    where raw params become typed configs (nanoGPT's ``GPTConfig(**model_args)``).
    """
    if not _is_dataclass_type(cls):
        raise TypeError(f"build_config: {cls!r} is not a dataclass")
    if not isinstance(params, Mapping):
        raise ConfigError(f"{where}: expected a mapping for {cls.__name__}, got {type(params).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(params) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {[f'{where}.{k}' for k in unknown]}; {cls.__name__} has {sorted(fields)}"
        )
    kwargs = {}
    for name, f in fields.items():
        if name not in params:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{where}.{name}: required by {cls.__name__} but missing")
            continue
        kwargs[name] = _coerce(params[name], hints[name], f"{where}.{name}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: {err}") from err


# --- the generic adapter -------------------------------------------------------------------


def step_function(slug: str, step: str) -> Callable[..., StepResult]:
    """``repro.<slug>.steps.<step>_step``, with an error listing the steps that exist."""
    module = importlib.import_module(f"repro.{slug}.steps")
    fn = getattr(module, f"{step}_step", None)
    if fn is None:
        known = sorted(n[: -len("_step")] for n in dir(module) if n.endswith("_step") and callable(getattr(module, n)))
        raise StepError(f"repro.{slug}.steps has no step {step!r} (function {step}_step); steps: {known}")
    return fn


def config_type(fn: Callable[..., Any]) -> type | None:
    """The dataclass annotated on a step function's ``config`` parameter (None: the step takes none)."""
    sig = inspect.signature(fn)
    if "config" not in sig.parameters:
        return None
    tp = typing.get_type_hints(fn).get("config")
    if not _is_dataclass_type(tp):
        raise StepError(f"{fn.__module__}.{fn.__name__}: parameter 'config' must be annotated with a dataclass")
    return tp


def run_step(
    rule: str,
    inputs: Mapping[str, PathLike],
    outputs: Mapping[str, PathLike],
    params_file: PathLike | None = None,
    config_section: str | None = None,
    gpus: int = 0,
) -> StepResult:
    """Run the step that rule ``<slug>__<step>`` names and write its outputs.

    ``gpus``: the rule's ``gpu`` resource. The step runs holding that many GPUs of its own
    (:func:`repro.common.devices.claim_gpus`: locked against the other jobs on this machine, and
    ``CUDA_VISIBLE_DEVICES`` set to them before the step can touch CUDA), released when it ends.

    The step's params JSON (dotted keys) is nested; the typed config is built from
    the ``config_section`` of it (default: the whole mapping), so a step whose
    config is its own section names it (e.g. ``"pca"``) and a step that reads
    several sections takes a config with one field per section. The section is
    named either by the caller or inside the params file (its
    ``CONFIG_SECTION_KEY``, written by ``step_params(..., section=...)``).
    """
    if "__" not in rule:
        raise StepError(f"rule {rule!r} is not named <slug>__<step>")
    slug, step = rule.split("__", 1)
    fn = step_function(slug, step)
    declared = declaration_of(fn)
    if declared is None:
        raise StepError(
            f"{fn.__module__}.{fn.__name__} is not declared: decorate it with @step(...) "
            "(repro.common.declarations), which the workflow reads to build the rule's params and code inputs"
        )
    kwargs: dict[str, Any] = {}
    cls = config_type(fn)
    if cls is not None:
        params = nest(read_json(params_file)) if params_file is not None else {}
        named = params.pop(CONFIG_SECTION_KEY, None)
        if named is not None and config_section is not None and named != config_section:
            raise StepError(f"{params_file}: config section {named!r}, but the caller asks for {config_section!r}")
        config_section = config_section or named
        if declared.reads and config_section != declared.section:
            raise StepError(
                f"{params_file}: written for config section {config_section!r}, but {fn.__name__} "
                f"declares section {declared.section!r}: the rule takes its params from step_inputs({slug!r}, {step!r})"
            )
        where = f"{slug}.{config_section}" if config_section else slug
        if config_section:
            params = params.get(config_section, {})
        kwargs["config"] = build_config(cls, params, where)
    if "outputs" in inspect.signature(fn).parameters:
        kwargs["outputs"] = {k: Path(v) for k, v in outputs.items()}
    paths = {k: Path(v) if isinstance(v, (str, os.PathLike)) else [Path(x) for x in v] for k, v in inputs.items()}
    previous = os.environ.get(PAPER_ENV)
    os.environ[PAPER_ENV] = slug  # whose API budget the step's LLM calls draw on (repro.common.llm.budget)
    try:
        with claim_gpus(gpus, holder=rule):
            result = fn(paths, **kwargs)
    finally:
        if previous is None:
            os.environ.pop(PAPER_ENV, None)
        else:
            os.environ[PAPER_ENV] = previous
    if not isinstance(result, StepResult):
        raise StepError(f"{fn.__module__}.{fn.__name__} returned {type(result).__name__}, not a StepResult")
    write_step_outputs(result, outputs, prefix=step)
    return result
