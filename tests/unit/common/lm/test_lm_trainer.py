"""Trainer: schedule, determinism, exact resume from checkpoints, token data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from repro.common.lm.models import ModelConfig, build_model
from repro.common.lm.trainer import (
    CHECKPOINT_FILE,
    TrainConfig,
    load_tokens,
    lr_at,
    sample_windows,
    save_tokens,
    train,
)

VOCAB = 64


@pytest.fixture(scope="module")
def tokens() -> np.ndarray:
    # A learnable stream: a noisy repeating pattern.
    rng = np.random.default_rng(0)
    base = np.tile(np.arange(VOCAB), 200)
    noise = rng.integers(0, VOCAB, base.size)
    return np.where(rng.random(base.size) < 0.1, noise, base).astype(np.uint16)


def _cfg(**kw) -> TrainConfig:
    base = dict(
        steps=16,
        batch_size=4,
        context=32,
        lr=3e-3,
        warmup=4,
        min_lr=3e-4,
        eval_every=4,
        eval_batches=2,
        log_every=3,
        grad_accum=2,
        seed=0,
    )
    base.update(kw)
    return TrainConfig(**base)


def _model(arch: str = "gpt2", dropout: float = 0.1):
    return build_model(
        ModelConfig(arch=arch, n_layer=2, n_head=2, d_model=32, context=32, vocab_size=VOCAB, dropout=dropout), seed=0
    )


def _same_weights(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def _strip(history):
    return [{k: v for k, v in e.items() if k != "elapsed"} for e in history]


def test_lr_schedule():
    cfg = TrainConfig(steps=100, lr=1.0, warmup=10, min_lr=0.1)
    assert lr_at(0, cfg) == pytest.approx(0.1)
    assert lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(10, cfg) == pytest.approx(1.0)
    assert lr_at(55, cfg) == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi * 0.5)))
    assert lr_at(100, cfg) == pytest.approx(0.1)
    lrs = [lr_at(s, cfg) for s in range(10, 100)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))


@pytest.mark.parametrize("arch,dropout", [("gpt2", 0.1), ("llama", 0.0)])
def test_exact_resume_after_interruption(tmp_path, tokens, arch, dropout):
    """N steps straight == N/2 steps, a checkpoint, a fresh process state, then N/2 more."""
    cfg = _cfg()
    straight = _model(arch, dropout)
    h_straight = train(straight, tokens, cfg, eval_tokens=tokens[:2000], progress=False)

    first = _model(arch, dropout)
    train(first, tokens, cfg, eval_tokens=tokens[:2000], out_dir=tmp_path, stop_at=7, progress=False)
    assert (tmp_path / CHECKPOINT_FILE).is_file()
    torch.manual_seed(12345)  # a "new process": different global RNG, differently initialised model
    resumed = build_model(
        ModelConfig(arch=arch, n_layer=2, n_head=2, d_model=32, context=32, vocab_size=VOCAB, dropout=dropout), seed=99
    )
    h_resumed = train(resumed, tokens, cfg, eval_tokens=tokens[:2000], out_dir=tmp_path, progress=False)

    assert _same_weights(straight, resumed)
    assert _strip(h_straight) == _strip(h_resumed)
    assert [e["step"] for e in h_straight] == [3, 4, 6, 8, 9, 12, 15, 16]
    assert h_straight[-1]["tokens"] == 16 * cfg.tokens_per_step
    assert sum(e["eval_loss"] is not None for e in h_straight) == 4
    # Rerunning a finished run is a no-op that returns the stored history.
    again = _model(arch, dropout)
    h_again = train(again, tokens, cfg, out_dir=tmp_path, progress=False)
    assert _same_weights(again, straight) and _strip(h_again) == _strip(h_straight)
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT_FILE]  # no temp files left


def test_resume_after_a_crash_from_the_last_periodic_checkpoint(tmp_path, tokens):
    cfg = _cfg(ckpt_every=4)
    straight = _model()
    h_straight = train(straight, tokens, cfg, eval_tokens=tokens[:2000], progress=False)

    def crash(entry):
        if entry["step"] == 9:
            raise KeyboardInterrupt  # killed between checkpoints (last one at step 8)

    with pytest.raises(KeyboardInterrupt):
        train(_model(), tokens, cfg, eval_tokens=tokens[:2000], out_dir=tmp_path, callback=crash, progress=False)
    resumed = _model()
    h_resumed = train(resumed, tokens, cfg, eval_tokens=tokens[:2000], out_dir=tmp_path, progress=False)
    assert _same_weights(straight, resumed)
    assert _strip(h_straight) == _strip(h_resumed)


def test_training_is_deterministic_and_seed_dependent(tokens):
    a, b, c = _model(), _model(), _model()
    ha = train(a, tokens, _cfg(), progress=False)
    hb = train(b, tokens, _cfg(), progress=False)
    train(c, tokens, _cfg(seed=1), progress=False)
    assert _same_weights(a, b) and _strip(ha) == _strip(hb)
    assert not _same_weights(a, c)


def test_resume_refuses_a_changed_config(tmp_path, tokens):
    train(_model(), tokens, _cfg(), out_dir=tmp_path, stop_at=4, progress=False)
    with pytest.raises(ValueError, match="lr"):
        train(_model(), tokens, _cfg(lr=1e-2), out_dir=tmp_path, progress=False)
    # Fields that do not change the weights may differ.
    train(_model(), tokens, _cfg(eval_every=8, log_every=5), out_dir=tmp_path, progress=False)


def test_loss_decreases(tokens):
    model = _model(dropout=0.0)
    hist = train(model, tokens, _cfg(steps=200, eval_every=50, grad_accum=1), eval_tokens=tokens, progress=False)
    evals = [e["eval_loss"] for e in hist if e["eval_loss"] is not None]
    assert evals[-1] < evals[0] < math.log(VOCAB) + 0.5
    assert evals[-1] < 0.6 * math.log(VOCAB)


def test_token_windows_and_files(tmp_path, tokens):
    x, y = sample_windows(tokens, 5, 32, np.random.default_rng(0))
    assert x.shape == y.shape == (5, 32) and x.dtype == torch.int64
    assert torch.equal(x[:, 1:], y[:, :-1])
    mm = save_tokens(tmp_path / "ids.npy", tokens)
    assert isinstance(mm, np.memmap) and np.array_equal(mm, tokens)
    assert np.array_equal(load_tokens(tmp_path / "ids.npy"), tokens)
    with pytest.raises(ValueError, match="context"):
        sample_windows(tokens[:10], 1, 32, np.random.default_rng(0))


def test_config_round_trip_and_validation():
    cfg = _cfg()
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="fp8")
    with pytest.raises(ValueError, match="min_lr"):
        TrainConfig(lr=1e-4, min_lr=1e-3)


def test_checkpoint_from_other_inputs_is_not_resumed(tmp_path, tokens):
    """resume_key: a checkpoint written for other inputs (data, code) is ignored, never resumed."""
    from repro.common.lm.trainer import checkpoint_resume_key

    cfg = TrainConfig(steps=4, batch_size=2, context=16, warmup=1, eval_every=0, log_every=1, seed=0)
    out = tmp_path / "run"
    train(_model(), tokens, cfg, out_dir=out, progress=False, stop_at=2, resume_key="inputs-A")
    assert checkpoint_resume_key(out / "checkpoint.safetensors") == "inputs-A"
    # Same key: resumes at step 2 and only logs steps 3-4.
    hist = train(_model(), tokens, cfg, out_dir=out, progress=False, resume_key="inputs-A")
    assert [h["step"] for h in hist][-1] == 4
    # Other key: the step-4 checkpoint belongs to other inputs, so training starts from step 0.
    seen = []
    train(_model(), tokens, cfg, out_dir=out, progress=False, resume_key="inputs-B", callback=seen.append)
    assert [h["step"] for h in seen] == [1, 2, 3, 4]
    assert checkpoint_resume_key(out / "checkpoint.safetensors") == "inputs-B"
