"""The steps of autobencher (one rule ``autobencher__<step>`` each; numbers under ``<step>.``).

* ``safety``: attack success rates per model on the released hard and simple safety sets.
* ``panel``: one seed of the tiny tier's synthetic world: train the test-taker panel and the
  parametric writer (no numbers; a table and the model directories).
* ``tiny``: the search (adaptive vs random) on every seed, the existing benchmark, the metrics,
  the no-privileged-information ablation and the panel's sanity floors.
* ``paper_plan``: paper scale only: the plan of the LLM roles, Wikipedia and the paper's panel.

This module holds the step functions only; their typed configs are in :mod:`repro.autobencher.config`,
the method in :mod:`~repro.autobencher.world`, :mod:`~repro.autobencher.panel`,
:mod:`~repro.autobencher.tiny` and :mod:`~repro.autobencher.safety`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from repro.autobencher.config import PanelStepConfig, PaperPlanConfig, TinyStepConfig
from repro.autobencher.panel import train_panel
from repro.autobencher.safety import MODEL_DIRS, attack_success
from repro.autobencher.tiny import PANEL_INFO, panel_dirs, run_seed
from repro.autobencher.world import build_world
from repro.common.declarations import step
from repro.common.io import atomic_dir, write_json
from repro.common.steps import StepError, StepResult

log = logging.getLogger(__name__)

__all__ = [
    "panel_step",
    "paper_plan_step",
    "safety_step",
    "tiny_step",
]

SETS = ("hard", "simple")


# --- safety -------------------------------------------------------------------------------------


@step(reads=())
def safety_step(inputs: Mapping[str, Path]) -> StepResult:
    """ASR = share of prompts not refused, per model and set (inputs ``<set>_<model>``)."""
    numbers: dict[str, float] = {}
    rows = []
    for model in MODEL_DIRS:
        for s in SETS:
            key = f"{s}_{model}"
            if key not in inputs:
                raise StepError(f"safety: missing input {key!r} (the released compare_answers file)")
            c = attack_success(inputs[key])
            numbers[f"safety.{model}.asr_{s}"] = c.asr
            numbers[f"safety.{model}.n_{s}"] = c.n
            rows.append({"model": model, "set": s, "n": c.n, "refused": c.refused, "asr": c.asr})
    table = pd.DataFrame(rows)
    for s in SETS:
        numbers[f"safety.mean_asr_{s}"] = float(table.loc[table["set"] == s, "asr"].mean())
    return StepResult(numbers=numbers, tables={"table": table})


# --- panel --------------------------------------------------------------------------------------


@step(
    reads=(),
    merged=False,
    not_run={
        "paper_toy": (
            "the tiny tier's own CPU experiment (it runs at tiny scale); at the "
            "paper block's settings it takes CPU-hours, and no rehearsal sizes are "
            "set for it"
        )
    },
)
def panel_step(inputs: Mapping[str, Path], config: PanelStepConfig, outputs: Mapping[str, Path]) -> StepResult:
    """Train the test-takers and the writer of one seed's world; write their model directories."""
    world = build_world(config.world, config.seed)
    with atomic_dir(outputs["models"]) as tmp:
        info = train_panel(world, config.panel, config.seed, Path(tmp), threads=config.threads)
        write_json(Path(tmp) / PANEL_INFO, {"seed": config.seed, "models": info})
    rows = [
        {"model": name, "seed": config.seed, **{k: v for k, v in d.items() if k != "value_counts"}}
        for name, d in info.items()
    ]
    return StepResult(tables={"table": pd.DataFrame(rows)}, files=("models",))


# --- tiny ---------------------------------------------------------------------------------------


@step(
    reads=("world", "panel", "tiny"),
    not_run={
        "paper_toy": (
            "the tiny tier's own CPU experiment (it runs at tiny scale); at the "
            "paper block's settings it takes CPU-hours, and no rehearsal sizes are "
            "set for it"
        )
    },
)
def tiny_step(inputs: Mapping[str, Path], config: TinyStepConfig) -> StepResult:
    """The tiny tier over every seed: metrics of the found datasets vs the existing benchmark (mean, std)."""
    dirs = panel_dirs(inputs, config.tiny.seeds)
    rows, per_seed = [], {}
    for s, d in dirs.items():
        world = build_world(config.world, s)
        r, num = run_seed(world, d, config, s)
        rows.extend(r)
        per_seed[s] = {k: v for k, v in num.items() if not k.endswith(".by_domain")}
        log.info("seed %d: %s", s, {k: round(v, 3) for k, v in per_seed[s].items() if "." in k and "panel" not in k})
    numbers: dict[str, float] = {}
    keys = list(next(iter(per_seed.values())))
    for k in keys:
        vals = np.array([per_seed[s][k] for s in per_seed], dtype=float)
        numbers[f"tiny.{k}"] = float(np.mean(vals))
        if re.match(r"^(human|adaptive|random|gain_vs_\w+|no_privileged_info)\.", k):
            numbers[f"tiny.{k}_std"] = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
        for s in per_seed:
            numbers[f"tiny.seed{s}.{k}"] = float(per_seed[s][k])
        numbers[f"tiny.{k}.per_seed"] = [float(v) for v in vals]  # seed order: tiny.seeds
    for m in ("novelty", "difficulty", "separability", "mean_error"):
        numbers[f"tiny.relative_gain.{m}"] = numbers[f"tiny.gain_vs_human.{m}"]
        numbers[f"tiny.relative_gain.{m}_std"] = numbers[f"tiny.gain_vs_human.{m}_std"]
    numbers["tiny.panel.worst_margin_over_floor"] = min(v["panel.min_margin_over_floor"] for v in per_seed.values())
    for k in keys:  # each model's margin over its own floors, worst seed (the claims' per-arm preconditions)
        if k.endswith(".margin_over_floor"):
            numbers[f"tiny.{k.removesuffix('.margin_over_floor')}.worst_margin_over_floor"] = min(
                v[k] for v in per_seed.values()
            )
    numbers["tiny.n_seeds"] = len(per_seed)
    numbers["tiny.seeds"] = [int(s) for s in per_seed]
    return StepResult(numbers=numbers, tables={"datasets": pd.DataFrame(rows)})


# --- paper scale --------------------------------------------------------------------------------


@step(scales=("paper",))
def paper_plan_step(inputs: Mapping[str, Path], config: PaperPlanConfig) -> StepResult:
    """The job plan of the paper-scale search (offline: names every role, prompt and test-taker).

    Networked users run the same loop (:mod:`repro.autobencher.search`) with the LLM roles of
    :mod:`repro.autobencher.roles` built by ``repro.common.llm.from_params`` from these rows.
    """
    from repro.autobencher.roles import JUDGE_PROMPT, PROPOSER_PROMPT, TEST_TAKER_PROMPT, WRITER_PROMPT

    missing = {"proposer", "question_writer", "judge"} - set(config.roles)
    if missing:
        raise StepError(f"paper_plan.roles: missing role(s) {sorted(missing)}")
    prompts = {"proposer": PROPOSER_PROMPT, "question_writer": WRITER_PROMPT, "judge": JUDGE_PROMPT}
    rows = [
        {"kind": "role", "name": r, "backend": b.backend, "model": b.model, "prompt": prompts[r]}
        for r, b in sorted(config.roles.items())
    ]
    rows += [
        {"kind": "test_taker", "name": m, "backend": "openai", "model": m, "prompt": TEST_TAKER_PROMPT}
        for m in config.panel
    ]
    n_calls = len(config.domains) * config.iterations * config.n_keep
    return StepResult(
        numbers={"paper_plan.n_test_takers": len(config.panel), "paper_plan.n_categories": n_calls},
        tables={"table": pd.DataFrame(rows)},
    )
