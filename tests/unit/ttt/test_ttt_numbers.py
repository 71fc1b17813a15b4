"""numbers.json helpers: equivalence numbers and the latency sweep (tiny sizes; speed is a benchmark's job)."""

from __future__ import annotations

import torch

from repro.ttt.equivalence import equivalence_numbers
from repro.ttt.latency import LatencyConfig, format_table, measure_latency
from repro.ttt.models import LMConfig


def test_equivalence_numbers() -> None:
    nums = equivalence_numbers()
    assert nums["equivalence.primal_dual.max_abs_diff"] < 1e-10
    assert nums["equivalence.linear_attention.max_abs_diff"] < 1e-10
    assert all(isinstance(v, float) for v in nums.values())


def test_measure_latency_rows() -> None:
    threads = torch.get_num_threads()
    cfg = LatencyConfig(
        contexts=(8, 20),
        model=LMConfig(vocab_size=32, d_model=16, n_layer=1, n_head=2),
        repeats=1,
        decode_steps=2,
        threads=None,
    )
    seen = []
    rows = measure_latency(cfg, progress=seen.append)
    assert len(rows) == 6 == len(seen)
    assert {r["arch"] for r in rows} == {"ttt_linear", "transformer", "mamba"}
    for r in rows:
        assert set(r) >= {"device", "ctx", "arch", "prefill_ms_per_token", "decode_ms_per_token"}
        assert r["prefill_ms_per_token"] > 0 and r["decode_ms_per_token"] > 0
        assert r["device"].startswith("cpu")
    mamba = next(r for r in rows if r["arch"] == "mamba")
    assert mamba["model"] == "Mamba"
    table = format_table(rows)
    assert table.count("\n") == 3 and "ttt_linear prefill" in table
    assert torch.get_num_threads() == threads  # threads=None leaves the setting alone


def test_per_position_loss_and_late_minus_early() -> None:
    import numpy as np
    import pytest

    from repro.ttt.experiments import binned_curve, context_use_summary, late_minus_early_loss, per_position_loss
    from repro.ttt.models import build_model

    torch.manual_seed(0)
    model = build_model(LMConfig(variant="ttt_linear", vocab_size=11, d_model=16, n_layer=1, n_head=2))
    windows = torch.randint(0, 11, (5, 17))
    curve = per_position_loss(model, windows, batch_size=2)
    assert curve.shape == (16,)
    with torch.no_grad():
        logits = model(windows[:, :-1])
    direct = torch.nn.functional.cross_entropy(logits[:, 3], windows[:, 4])
    assert abs(curve[3] - float(direct)) < 1e-5
    assert model.training  # mode restored
    assert late_minus_early_loss(np.arange(8.0)) == pytest.approx(6.0)  # (6+7)/2 - (0+1)/2
    summary = context_use_summary(model, windows)
    assert summary["late_minus_early_loss"] == pytest.approx(summary["loss_late"] - summary["loss_early"])
    b = binned_curve(np.arange(100.0), n_bins=8)
    assert len(b["position"]) == len(b["loss"]) and b["loss"] == sorted(b["loss"])
