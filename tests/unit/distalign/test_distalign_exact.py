"""Known-answer tests of the exact tier against the released data (pinned commit, via the mirror)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from repro.common.steps import build_config
from repro.distalign import config as C
from repro.distalign import steps as S
from repro.distalign.data import DataError, load_truth
from repro.distalign.exact import VerbalPolicy, raw_cells, released_tvs, replay_cells


def test_released_tvs_dedupes_nyt_and_keeps_parse_failures(da_inputs):
    t = released_tvs(da_inputs["tvs_csv"])
    g4 = t[(t.model == "gpt-4") & (t.method == "verbalize") & t.steering.isin(["persona", "fewshot"])]
    assert (g4.dataset == "nytimes").sum() == 1880 and (g4.dataset == "opinionqa").sum() == 1198
    assert (g4.dataset == "globalvalues").sum() == 600


def test_replay_reproduces_released_gpt4_tvs_exactly(da_files, da_inputs):
    cells = [
        c
        for c in raw_cells(da_files)
        if c.model == "gpt-4"
        and c.dataset == "globalvalues"
        and c.task == "task1"
        and c.output_type in ("express_distribution", "sequence")
    ]
    table, _, fails = replay_cells(cells, VerbalPolicy())
    rel = released_tvs(da_inputs["tvs_csv"])
    merged = table.merge(rel, on=["dataset", "model", "steering", "method", "group", "q"], suffixes=("", "_r"))
    assert len(merged) == len(table) == 600
    assert np.allclose(merged.tv, merged.tv_r, atol=1e-12, equal_nan=True)
    assert fails[("verbalize", "note_dropped")] == 4  # 'E' keys the authors' parser dropped
    strict, _, sfails = replay_cells(
        [c for c in cells if c.output_type == "express_distribution"], VerbalPolicy("fail", 0.05, False)
    )
    assert sfails[("verbalize", "unknown_option")] == 4 and strict.tv.isna().sum() >= 4


def test_cells_and_leaderboard_known_answers(da_inputs, da_params, tmp_path):
    cells = S.cells_step(da_inputs, build_config(C.CellsConfig, da_params["cells"]))
    n = cells.numbers["cells"]
    assert n["opinionqa.gpt-4.persona.verbalize.tv"] == pytest.approx(0.18091, abs=1e-3)
    assert n["released_table.n_within_tolerance"] == n["released_table.n_cells"] == 128
    cells.tables["tvs"].to_csv(tmp_path / "tvs.csv", index=False)
    lb = S.leaderboard_step({"tvs": tmp_path / "tvs.csv"}, C.LeaderboardConfig(n_boot=100))
    n = lb.numbers["leaderboard"]
    assert n["gpt-4.verbalize.plain_mean"] == pytest.approx(0.2288, abs=1e-3)
    assert n["anthropic_opus.verbalize.plain_mean"] == pytest.approx(0.2263, abs=1e-3)
    assert "anthropic_opus.logprobs.tv" not in n  # no log-probs from the Anthropic API


def test_baselines_human_and_uniform(da_inputs, da_params):
    cfg = build_config(C.BaselinesConfig, {**da_params["baselines"], "floor_reps": 20})
    n = S.baselines_step(da_inputs, cfg).numbers["baselines"]
    assert n["human.tv"] == pytest.approx(0.2466, abs=1e-3)
    assert n["uniform.nytimes.tv"] == pytest.approx(0.2234, abs=1e-3)  # released NYT uniform rows
    assert 0.08 < n["floor30.tv"] < 0.13


def test_fewshot_count_over_released_table(da_inputs, tmp_path):
    cells = S.cells_step(da_inputs, C.CellsConfig())
    cells.tables["table"].to_csv(tmp_path / "cells.csv", index=False)
    n = S.fewshot_beats_persona_step({"cells_csv": da_inputs["cells_csv"], "cells": tmp_path / "cells.csv"}).numbers
    n = n["fewshot_beats_persona"]
    assert n["cells"] == 48 and n["count"] == n["recomputed.count"]
    assert n["mean_tv.persona"] == pytest.approx(0.350, abs=1e-3)


def test_truth_loader_uses_group_answer_keys_and_names_bad_files(da_files, tmp_path):
    qs = load_truth("opinionqa", da_files)
    assert len(qs) == 599  # FEM2_W29 has no Male respondents
    q = next(q for q in qs if q.qid == "GOVPRIORITYc_W54" and q.group == "Democrat")
    assert len(q.options) == 5 and q.p.sum() == pytest.approx(1.0)
    bad = tmp_path / "data.json"
    bad.write_text(
        json.dumps(
            {
                "Book": {
                    "MC_options": "['1', '2']",
                    "Democrat": "{'1': 0, '2': 0}",
                    "Republican": "{'1': 1}",
                    "Male": "{'1': 1}",
                    "Female": "{'1': 1}",
                }
            }
        )
    )
    with pytest.raises(DataError, match="Book:Democrat"):
        load_truth("nytimes", {"nytimes/data.json": bad})
    with pytest.raises(DataError, match="unknown dataset"):
        load_truth("nope", da_files)
