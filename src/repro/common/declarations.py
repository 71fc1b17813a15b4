"""Step declarations: what a step reads and where it runs, written once, on the step function (issue 26).

Every compute step of a paper is a function ``<name>_step`` in ``repro.<slug>.steps`` (DESIGN.md, "Adding
a paper"), declared with :func:`step`::

    @step(reads=("benchmarks", "imputation", "pca.n_components"))
    def pca_step(inputs: Mapping[str, Path], config: PcaConfig) -> StepResult: ...

The workflow reads the declarations at parse time and builds from them what each rule ``<slug>__<name>``
used to spell out by hand: the step's params file (the ``reads`` keys of the paper's resolved params), its
code inputs (every ``repro`` module the steps module imports, :mod:`repro.common.imports`) and the merge of
the paper's ``numbers.json`` (the ``merged`` steps of the configured scale). Rule files keep what is
specific to a paper: data inputs and outputs, resources and the shape of the DAG.

The workflow reads declarations from the source (:func:`read_declarations`), not by importing the steps
modules: a no-change ``snakemake -n`` must not import torch. So the decorator's arguments are literals;
:func:`step` checks the same values at import time, and :func:`repro.common.steps.run_step` checks that the
params file a rule passed was written for the declared section.
"""

from __future__ import annotations

import ast
import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from repro.common.io import atomic_write_text

__all__ = [
    "REHEARSAL",
    "SCALES",
    "DeclarationError",
    "StepDeclaration",
    "declaration_of",
    "read_declarations",
    "read_declarations_cached",
    "step",
]

# The scales a step can run at (params.yaml `scale`; profiles/paper sets "paper").
SCALES: tuple[str, ...] = ("smoke", "tiny", "paper")
# The rehearsal of paper scale (issue 28): the paper's settings and code paths, with hub models, datasets and APIs
# replaced by local stand-ins (params.yaml <slug>.paper_toy overrides ids, URLs and sizes only). A step runs there
# exactly when it runs at paper scale, unless it declares what its rehearsal lacks: not_run={"paper_toy": ...}.
REHEARSAL, REHEARSED = "paper_toy", "paper"

F = TypeVar("F", bound=Callable[..., Any])


class DeclarationError(ValueError):
    """A step declaration is malformed or missing; the message names the function and the file."""


@dataclass(frozen=True)
class StepDeclaration:
    """One step as declared on its function.

    ``name``: the step (function ``<name>_step``, rule ``<slug>__<name>``, numbers prefix ``<name>.``).
    ``reads``: the dotted params keys its params file holds; ``()`` when the rule supplies its parameters
    another way (one training run's resolved config written with ``params_file``) or the step takes none.
    ``section``: the one key of ``reads`` its typed config is built from (None: one config field per key).
    ``scales``: where the step runs; a step outside the configured scale is left out of the numbers merge.
    ``merged``: whether its ``numbers`` output joins the paper's ``numbers.json`` (False for intermediate
    numbers, e.g. one training run's or a data step's that a later step summarises).
    ``not_run``: scale -> what is missing, for a scale where the step belongs to the experiment but is not
    implemented (issue 28: nothing raises for being missing). The step does not run there; the paper's
    ``numbers.json`` records ``not_run.<name>`` = the reason, and the scorecard shows every claim and number
    that needs the step's keys (``<name>.*``) as NOT RUN with it. Dropping the entry makes the step run.
    """

    name: str
    reads: tuple[str, ...]
    section: str | None
    scales: tuple[str, ...]
    merged: bool
    not_run: dict[str, str] = dataclasses.field(default_factory=dict)

    def runs_at(self, scale: str) -> bool:
        """Whether the step runs at ``scale`` (declared there and not marked not run there; the rehearsal
        scale follows paper scale)."""
        if scale == REHEARSAL:
            return self.runs_at(REHEARSED) and REHEARSAL not in self.not_run
        return scale in self.scales and scale not in self.not_run

    def not_run_at(self, scale: str) -> str | None:
        """What is missing for the step to run at ``scale``, or None (it runs there, or is not part of it). At
        the rehearsal scale: what its rehearsal lacks, else what paper scale lacks."""
        if scale == REHEARSAL and REHEARSED in self.scales:
            return self.not_run.get(REHEARSAL) or self.not_run.get(REHEARSED)
        return self.not_run.get(scale)


def _declaration(
    name: str,
    reads: Sequence[str] | None,
    section: str | None,
    scales: Sequence[str],
    merged: bool,
    where: str,
    not_run: Any = None,
) -> StepDeclaration:
    """Validate the decorator's arguments into a declaration (shared by the decorator and the source reader)."""
    if reads is None:  # the default: the step's own params section, which its typed config is built from
        reads, section = (name,), name if section is None else section
    reads = tuple(reads)
    if any(not isinstance(k, str) or not k for k in reads):
        raise DeclarationError(f"{where}: reads must be dotted params keys, got {list(reads)}")
    if len(set(reads)) != len(reads):
        raise DeclarationError(f"{where}: reads lists a key twice: {list(reads)}")
    if section is not None and section not in reads:
        raise DeclarationError(f"{where}: section {section!r} is not one of reads {list(reads)}")
    scales = tuple(scales)
    unknown = [s for s in scales if s not in SCALES]
    if not scales or unknown:
        raise DeclarationError(f"{where}: scales {list(scales)} must be a non-empty subset of {list(SCALES)}")
    if not isinstance(merged, bool):
        raise DeclarationError(f"{where}: merged must be true or false, got {merged!r}")
    not_run = {} if not_run is None else not_run
    allowed = [*scales, REHEARSAL] if REHEARSED in scales else list(scales)
    if not isinstance(not_run, dict) or any(
        s not in allowed or not isinstance(why, str) or not why.strip() for s, why in not_run.items()
    ):
        raise DeclarationError(
            f"{where}: not_run maps a scale of {allowed} to what is missing (a non-empty text), got {not_run!r}"
        )
    return StepDeclaration(name=name, reads=reads, section=section, scales=scales, merged=merged, not_run=dict(not_run))


def _step_name(function_name: str, where: str) -> str:
    if not function_name.endswith("_step") or function_name == "_step":
        raise DeclarationError(f"{where}: a step function is named <step>_step, not {function_name!r}")
    return function_name[: -len("_step")]


def step(
    *,
    reads: Sequence[str] | None = None,
    section: str | None = None,
    scales: Sequence[str] = SCALES,
    merged: bool = True,
    not_run: dict[str, str] | None = None,
) -> Callable[[F], F]:
    """Declare the decorated ``<name>_step`` a workflow step (see :class:`StepDeclaration` for the fields).

    Without ``reads`` the step reads its own params section ``<name>`` and builds its config from it.
    Arguments must be literals: the workflow reads them from the source without importing the module.
    """

    def decorate(fn: F) -> F:
        where = f"{fn.__module__}.{fn.__qualname__}"
        fn.__repro_step__ = _declaration(  # type: ignore[attr-defined]
            _step_name(fn.__name__, where), reads, section, scales, merged, where, not_run
        )
        return fn

    return decorate


def declaration_of(fn: Callable[..., Any]) -> StepDeclaration | None:
    """The declaration of a step function (None: not declared)."""
    return getattr(fn, "__repro_step__", None)


def _is_step_decorator(node: ast.expr) -> bool:
    func = node.func if isinstance(node, ast.Call) else node
    return (isinstance(func, ast.Name) and func.id == "step") or (
        isinstance(func, ast.Attribute) and func.attr == "step"
    )


def read_declarations(paths: Sequence[str | os.PathLike[str]]) -> dict[str, StepDeclaration]:
    """The steps declared in the source files ``paths`` (one paper's modules), by name, in source order.

    Reads ``@step(...)`` decorators with :func:`ast.literal_eval`; a non-literal argument, a second
    declaration of one name or a decorator on a function not named ``<name>_step`` is a
    :class:`DeclarationError` naming the file and line.
    """
    out: dict[str, StepDeclaration] = {}
    for path in paths:
        tree = ast.parse(Path(path).read_bytes(), filename=str(path))
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef):
                continue
            for deco in node.decorator_list:
                if not _is_step_decorator(deco):
                    continue
                where = f"{path}:{node.lineno} ({node.name})"
                kwargs: dict[str, Any] = {}
                if isinstance(deco, ast.Call):
                    if deco.args:
                        raise DeclarationError(f"{where}: @step takes keyword arguments only")
                    for kw in deco.keywords:
                        try:
                            kwargs[str(kw.arg)] = ast.literal_eval(kw.value)
                        except ValueError:
                            raise DeclarationError(
                                f"{where}: @step({kw.arg}=...) must be a literal (the workflow reads it from the "
                                "source without importing the module)"
                            ) from None
                unknown = sorted(set(kwargs) - {"reads", "section", "scales", "merged", "not_run"})
                if unknown:
                    raise DeclarationError(f"{where}: @step has no argument(s) {unknown}")
                name = _step_name(node.name, where)
                if name in out:
                    raise DeclarationError(f"{where}: step {name!r} is declared twice")
                out[name] = _declaration(
                    name,
                    kwargs.get("reads"),
                    kwargs.get("section"),
                    kwargs.get("scales", SCALES),
                    kwargs.get("merged", True),
                    where,
                    kwargs.get("not_run"),
                )
    return out


def read_declarations_cached(
    paths: Sequence[str | os.PathLike[str]], cache: str | os.PathLike[str]
) -> dict[str, StepDeclaration]:
    """:func:`read_declarations`, kept in the JSON file ``cache`` under each source file's size and mtime.

    The workflow calls this for every paper at each parse; an unchanged tree reads no source.
    """
    import json  # lazy: only the workflow's parse uses the cache

    stamps = []
    # This module is stamped too: a change to what a declaration holds (a new field, the default scales)
    # must not be served from a cache written by the old reader.
    for path in [__file__, *paths]:
        st = os.stat(path)
        stamps.append([str(path), st.st_size, st.st_mtime_ns])
    cache_path = Path(cache)
    if cache_path.is_file():
        try:
            raw = json.loads(cache_path.read_text(encoding="utf-8"))
            if raw.get("stamps") == stamps:
                return {
                    d["name"]: StepDeclaration(**{**d, "reads": tuple(d["reads"]), "scales": tuple(d["scales"])})
                    for d in raw["steps"]
                }
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a corrupt cache is rebuilt, never trusted
    steps = read_declarations(paths)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"stamps": stamps, "steps": [dataclasses.asdict(d) for d in steps.values()]}
    # atomic_write_text: a unique temporary name, so two workflows parsing at once never collide.
    atomic_write_text(cache_path, json.dumps(payload))
    return steps
