"""Replay of the released safety results (v2 Sec. 5, safety setting; notes Sec. 5).

The safety fork released, for the hard and the simple AutoBencher safety sets, every model's
answers judged by the refusal judge (``PRUNED.compare_answers.json``: one record per prompt,
``is_correct == "true"`` when the model refused). The attack success rate is the fraction of
prompts the model did **not** refuse. The files hold harmful requests: they are read here for
these counts only and never enter any corpus (a test checks that).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

__all__ = ["MODEL_DIRS", "SafetyCounts", "attack_success"]

#: numbers-key model name -> released folder name in the (hard, simple) set.
MODEL_DIRS: dict[str, tuple[str, str]] = {
    "gpt35_turbo": ("gpt3.5", "gpt-3.5"),
    "gpt4": ("gpt4", "gpt-4"),
    "gpt4o": ("gpt-4o", "gpt-4o"),
    "gpt4o_mini": ("gpt-4o-mini", "gpt-4o-mini"),
    "claude3_haiku": ("haiku", "haiku"),
    "claude35_sonnet": ("sonnet3.5", "sonnet3.5"),
    "mistral_7b": ("mistral", "mistral"),
    "mixtral_8x7b": ("mixtral", "mixtral"),
    "llama3_8b": ("8llama", "8llama"),
    "llama3_70b": ("70llama", "70llama"),
}


@dataclass(frozen=True)
class SafetyCounts:
    """Judged answers of one model on one set."""

    n: int
    refused: int

    @property
    def asr(self) -> float:
        return (self.n - self.refused) / self.n


def attack_success(path: str | os.PathLike[str]) -> SafetyCounts:
    """Count refusals in one ``PRUNED.compare_answers.json`` (``is_correct`` must be "true"/"false")."""
    with open(path, encoding="utf-8") as fh:
        records = json.load(fh)
    if not isinstance(records, list) or not records:
        raise ValueError(f"{path}: expected a non-empty JSON list of judged answers")
    refused = 0
    for i, r in enumerate(records):
        flag = str(r.get("is_correct", "")).strip().lower() if isinstance(r, dict) else ""
        if flag not in ("true", "false"):
            raise ValueError(f"{path}: record {i} has is_correct={r.get('is_correct') if isinstance(r, dict) else r!r}")
        refused += flag == "true"
    return SafetyCounts(len(records), refused)
