"""Workflow steps of ideagen: rule ``ideagen__<step>`` -> ``<step>_step`` -> numbers ``<step>.*``.

Exact tier (released reviews): :func:`stats_step` (Test 1, reviews as units),
:func:`stats_idea_step` (Test 2, ideas as units), :func:`per_topic_step`,
:func:`mixed_step` (mixed-effects model without the withheld reviewer term).
End-to-end tier (the ideation agent): :func:`retrieval_step` -> :func:`generator_step`
(tiny stand-in LM) -> :func:`seeds_step` -> :func:`embed_step` -> :func:`dedup_step`;
:func:`tournament_step` ranks the study's ideas with a pairwise judge.

The steps are defined in :mod:`._stats_steps`, :mod:`._agent_steps` and :mod:`._rank_steps` and
re-exported here (the workflow runs ``repro.ideagen.steps.<step>_step``); their typed configs are in
:mod:`repro.ideagen.config`.
"""

from __future__ import annotations

from repro.ideagen._agent_steps import (
    GENERATOR_LABEL,
    JUDGE_LABEL,
    embed_step,
    generator_step,
    retrieval_step,
    seeds_step,
)
from repro.ideagen._rank_steps import dedup_step, tournament_step
from repro.ideagen._stats_steps import (
    mixed_step,
    per_topic_step,
    stats_idea_step,
    stats_step,
)

__all__ = [
    "GENERATOR_LABEL",
    "JUDGE_LABEL",
    "dedup_step",
    "embed_step",
    "generator_step",
    "mixed_step",
    "per_topic_step",
    "retrieval_step",
    "seeds_step",
    "stats_idea_step",
    "stats_step",
    "tournament_step",
]
