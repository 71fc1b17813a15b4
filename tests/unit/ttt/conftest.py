"""Fixtures for the ttt tests: the params.yaml ttt block (smoke scale), typed, never retyped."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from repro.common.config import resolve
from repro.common.steps import build_config
from repro.ttt.config import TttParams

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def ttt_block() -> dict:
    with open(ROOT / "params.yaml", encoding="utf-8") as fh:
        return resolve(yaml.safe_load(fh), "ttt", "smoke")


@pytest.fixture(scope="session")
def ttt_params(ttt_block) -> TttParams:
    """The smoke-scale TttParams with a character tokenizer, two sizes and three steps per run."""
    params = build_config(TttParams, ttt_block, "ttt")
    small = replace(params.sizes[0], steps=3)
    return replace(
        params,
        tokenizer=replace(params.tokenizer, kind="char", vocab_size=64),
        context=32,
        mini_batch_size=8,
        sizes=(small, replace(small, name="m", d_model=small.d_model + 16)),
        train=replace(params.train, eval_every=1, log_every=1, device="cpu"),
        minibatch=replace(params.minibatch, sizes=(1, 4, None)),
        ladder=replace(params.ladder, rows=("linear_attention", "ln_residual", "mamba_backbone"), eta_grid=(1.0, 2.0)),
    )
