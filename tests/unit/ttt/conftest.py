"""Fixtures for the ttt tests: the params.yaml ttt block (smoke scale), typed, never retyped."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from repro.ttt.config import TttParams


@pytest.fixture(scope="session")
def ttt_block(paper_params: Callable[..., dict]) -> dict:
    """The resolved ttt block at the smoke scale (tests/conftest.py's ``paper_params``)."""
    return paper_params("ttt", "smoke")


@pytest.fixture(scope="session")
def ttt_params(paper_config: Callable[..., Any]) -> TttParams:
    """The smoke-scale TttParams with a character tokenizer, two sizes and three steps per run."""
    params = paper_config(TttParams, "ttt", scale="smoke")
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
