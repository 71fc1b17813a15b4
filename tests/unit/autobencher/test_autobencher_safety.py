"""Replay of the released safety results: known answers from the released files, bad input,
and the guarantee that no released (harmful) prompt enters a training corpus."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from repro.autobencher.panel import PanelConfig, build_corpus
from repro.autobencher.safety import MODEL_DIRS, attack_success
from repro.autobencher.steps import safety_step
from repro.autobencher.world import WorldConfig, build_world
from repro.common.steps import build_config

ROOT = Path(__file__).resolve().parents[3]

# notes Sec. 5 (recomputed from the released data; 3 decimals)
REFERENCE = {
    "gpt35_turbo": (0.404, 0.233),
    "gpt4": (0.536, 0.260),
    "gpt4o": (0.636, 0.373),
    "gpt4o_mini": (0.563, 0.287),
    "claude35_sonnet": (0.212, 0.007),
    "mistral_7b": (0.748, 0.640),
    "mixtral_8x7b": (0.808, 0.700),
    "llama3_8b": (0.305, 0.127),
    "llama3_70b": (0.377, 0.133),
}


def test_asr_matches_the_reference_table(safety_files):
    res = safety_step(safety_files)
    for model, (hard, simple) in REFERENCE.items():
        assert res.numbers[f"safety.{model}.asr_hard"] == pytest.approx(hard, abs=5e-4)
        assert res.numbers[f"safety.{model}.asr_simple"] == pytest.approx(simple, abs=5e-4)
    assert res.numbers["safety.gpt4.n_hard"] == 151 and res.numbers["safety.gpt4.n_simple"] == 150
    assert set(res.tables["table"].model) == set(MODEL_DIRS)


def test_bad_records_are_named(tmp_path):
    p = tmp_path / "x.json"
    p.write_text(json.dumps([{"is_correct": "true"}, {"is_correct": "maybe"}]))
    with pytest.raises(ValueError, match="record 1"):
        attack_success(p)
    p.write_text("{}")
    with pytest.raises(ValueError, match="non-empty JSON list"):
        attack_success(p)


def test_missing_input_is_named(safety_files):
    partial = {k: v for k, v in safety_files.items() if k != "hard_gpt4"}
    with pytest.raises(ValueError, match="hard_gpt4"):
        safety_step(partial)


def _shingles(text: str, k: int = 4) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z]+", text.lower())
    return {tuple(words[i : i + k]) for i in range(len(words) - k + 1)}


def test_no_released_prompt_enters_a_training_corpus(safety_files, ab_params):
    """The pretraining corpora are built from the synthetic world only: no 4-word shingle of any released
    prompt or answer occurs in them, and the rules that train models do not read the released files."""
    released = set()
    for path in safety_files.values():
        for r in json.loads(Path(path).read_text(encoding="utf-8")):
            released |= _shingles(r["question"]) | _shingles(r.get("test_taker_answer", ""))
    assert len(released) > 1000
    world = build_world(build_config(WorldConfig, ab_params["world"]), 0)
    panel = build_config(PanelConfig, ab_params["panel"])
    for spec in [*panel.models, panel.writer]:
        corpus = build_corpus(world, spec, 2000, 0)
        grams = set().union(*(_shingles(s) for s in corpus))
        assert not grams & released, spec.name
    rules = (ROOT / "workflow/rules/autobencher.smk").read_text(encoding="utf-8")
    for rule in ("autobencher__panel", "autobencher__tiny"):
        block = rules.split(f"rule {rule}:")[1].split("\nrule ")[0]
        assert "AB_FILE" not in block and "safety" not in block.split("output:")[0], rule
