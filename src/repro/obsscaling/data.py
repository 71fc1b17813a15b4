"""The released evaluation tables of Observational Scaling Laws and their model filters.

Data: the seven CSVs under ``eval_results/`` of ryoungj/ObsScaling (pinned commit
and sha256 in params.yaml). Every loader checks that the columns an analysis needs
are present and raises :class:`DataError` naming the file and the missing
column(s) otherwise, before anything is computed or written.

The family lists below are facts about the data release (which families the
authors evaluated, which have public parameter/token counts, which models were
preregistered after the paper, the random-guess level of each BBH subtask), as
described in the paper (Sec. 3.1, App. A) and its repository; analyses select
among them by name in params.yaml.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from repro.common.fetch import pins_from_template
from repro.common.io import DataError, read_csv

__all__ = [
    "BBH_SUBTASK_CHANCE",
    "EVAL_FAMILIES",
    "FAMILIES_WITHOUT_FLOPS",
    "FAMILY",
    "FLOPS",
    "META_COLUMNS",
    "MODEL",
    "PREREGISTERED_MODELS",
    "SIZE",
    "TOKENS",
    "DataError",
    "bbh_chance",
    "family_list",
    "merge_on_model",
    "pinned_files",
    "read_table",
    "select_models",
    "slug",
]

MODEL, FAMILY = "Model", "Model Family"
SIZE, TOKENS, FLOPS = "Model Size (B)", "Pretraining Data Size (T)", "FLOPs (1E21)"
META_COLUMNS = (MODEL, FAMILY, SIZE, TOKENS, FLOPS)

# Families the authors evaluated on the standard benchmarks, in the repository's
# order (this order fixes the enumeration order of the family-subset search).
EVAL_FAMILIES: tuple[str, ...] = (
    "Llama-2",
    "Llama",
    "Llama-3",
    "Llama-3.1",
    "Qwen2",
    "Qwen1.5",
    "Qwen",
    "Mistral",
    "Mixtral",
    "Yi",
    "Yi-1.5",
    "Gemma",
    "Gemma-2",
    "Falcon",
    "Phi",
    "Pythia",
    "BLOOM",
    "GPT-Neo/J",
    "OPT",
    "MPT",
    "XGLM",
    "CodeLlama",
    "StarCoder",
    "StarCoder2",
    "DeepSeek-Coder",
    "DeepSeek-V2",
    "DeepSeek-Coder-V2",
    "Jamba",
)
# Evaluated families without public parameter and token counts (no FLOPs).
FAMILIES_WITHOUT_FLOPS: tuple[str, ...] = ("Mistral", "Mixtral", "Qwen2")
# Models released after the paper (May 2024), predicted in advance and evaluated later.
PREREGISTERED_MODELS: tuple[str, ...] = (
    "meta-llama/Meta-Llama-3.1-405B-FP8",
    "meta-llama/Meta-Llama-3.1-70B",
    "meta-llama/Meta-Llama-3.1-8B",
    "Qwen/Qwen1.5-110B",
    "Qwen/Qwen2-72B",
    "Qwen/Qwen2-57B-A14B",
    "Qwen/Qwen2-7B",
    "Qwen/Qwen2-1.5B",
    "Qwen/Qwen2-0.5B",
    "deepseek-ai/DeepSeek-V2",
    "deepseek-ai/DeepSeek-Coder-V2-Base",
    "google/gemma-2-27b",
    "google/gemma-2-9b",
    "google/gemma-2-2b",
    "mistralai/Mixtral-8x22B-v0.1",
    "mistralai/Mistral-Nemo-Base-2407",
    "01-ai/Yi-1.5-34B",
    "01-ai/Yi-1.5-9B",
    "01-ai/Yi-1.5-6B",
    "ai21labs/Jamba-v0.1",
)
# Random-guess accuracy of each BIG-Bench Hard subtask (number of answer options).
BBH_SUBTASK_CHANCE: dict[str, float] = {
    "boolean_expressions": 1 / 2,
    "causal_judgement": 1 / 2,
    "date_understanding": 1 / 6,
    "disambiguation_qa": 1 / 3,
    "dyck_languages": 0.0,
    "formal_fallacies": 1 / 2,
    "geometric_shapes": 1 / 9,
    "hyperbaton": 1 / 2,
    "logical_deduction_five_objects": 1 / 5,
    "logical_deduction_seven_objects": 1 / 7,
    "logical_deduction_three_objects": 1 / 3,
    "movie_recommendation": 1 / 5,
    "multistep_arithmetic_two": 0.0,
    "navigate": 1 / 2,
    "object_counting": 0.0,
    "penguins_in_a_table": 1 / 5,
    "reasoning_about_colored_objects": 1 / 18,
    "ruin_names": 1 / 4,
    "salient_translation_error_detection": 1 / 6,
    "snarks": 1 / 2,
    "sports_understanding": 1 / 2,
    "temporal_sequences": 1 / 4,
    "tracking_shuffled_objects_five_objects": 1 / 5,
    "tracking_shuffled_objects_seven_objects": 1 / 7,
    "tracking_shuffled_objects_three_objects": 1 / 3,
    "web_of_lies": 1 / 2,
    "word_sorting": 0.0,
}


def read_table(path: str | os.PathLike[str], required: Iterable[str] = (MODEL,)) -> pd.DataFrame:
    """Read one CSV and check that every ``required`` column is present.

    Raises :class:`DataError` naming the file and all missing columns, or a
    duplicated model name.
    """
    df = read_csv(path)
    missing = [c for c in dict.fromkeys(required) if c not in df.columns]
    if missing:
        cols = ", ".join(repr(c) for c in missing)
        raise DataError(f"{path}: missing column(s) {cols}")
    if MODEL in df.columns and df[MODEL].duplicated().any():
        dup = sorted(df.loc[df[MODEL].duplicated(), MODEL].unique())
        raise DataError(f"{path}: duplicated model rows {dup}")
    return df


def family_list(name: str) -> tuple[str, ...]:
    """Named family filters: ``eval`` (all evaluated) or ``eval_with_flops``."""
    if name == "eval":
        return EVAL_FAMILIES
    if name == "eval_with_flops":
        return tuple(f for f in EVAL_FAMILIES if f not in FAMILIES_WITHOUT_FLOPS)
    raise ValueError(f"unknown family filter {name!r}; expected 'eval' or 'eval_with_flops'")


def select_models(
    df: pd.DataFrame,
    families: Sequence[str] | None = EVAL_FAMILIES,
    *,
    include_preregistered: bool = False,
    preregistered: Sequence[str] = PREREGISTERED_MODELS,
) -> pd.DataFrame:
    """Keep models of ``families`` (None: all) and drop preregistered ones unless asked.

    This is the paper's default model scope: with the defaults, 77 base models
    from 21 families (75 of them with FLOPs).
    """
    keep = pd.Series(True, index=df.index)
    if families is not None:
        keep &= df[FAMILY].isin(list(families))
    if not include_preregistered:
        keep &= ~df[MODEL].isin(list(preregistered))
    return df.loc[keep].reset_index(drop=True)


def merge_on_model(left: pd.DataFrame, right: pd.DataFrame) -> pd.DataFrame:
    """Inner join on the model name, keeping ``left``'s row order."""
    overlap = [c for c in right.columns if c in left.columns and c != MODEL]
    return left.merge(right.drop(columns=overlap), on=MODEL, how="inner")


def slug(name: str) -> str:
    """A numbers.json-friendly key: 'GPT-Neo/J' -> 'gpt_neo_j', 'Qwen1.5' -> 'qwen1_5'."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def bbh_chance() -> float:
    """Mean random-guess accuracy over the 27 BBH subtasks (Leaderboard v2 BBH floor)."""
    return sum(BBH_SUBTASK_CHANCE.values()) / len(BBH_SUBTASK_CHANCE)


def pinned_files(params: Mapping[str, Any], folder: str) -> dict[str, dict[str, str]]:
    """name -> {url, sha256, path} of the released CSVs (Sec. 3.1: the authors' ``eval_results/`` tables).

    ``params``: the resolved obsscaling block of params.yaml; its ``data`` section holds the URL template (with
    ``{commit}`` and ``{file}``), the commit and ``files: {name: {file, sha256}}``. ``folder``: the download
    folder of the paper's registry group (workflow/papers.yaml), standing for the repository; each file lands at
    ``<folder>/<commit>/<path in the repository>``, the mirror layout (``repro.common.fetch.local_path``).
    """
    return pins_from_template(params["data"], folder, "obsscaling data")
