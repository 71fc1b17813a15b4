"""The shared tiny-LM recipe (repro.common.lm.recipe): determinism, history, the toolkit steps it stands for."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from repro.common.lm.models import ModelConfig, build_model, load_model_dir
from repro.common.lm.recipe import TinyLMSpec, train_tiny_lm
from repro.common.lm.trainer import TrainConfig, train

VOCAB = 32


@pytest.fixture(scope="module")
def tokens() -> np.ndarray:
    # A learnable stream: a repeating pattern with 10% noise.
    rng = np.random.default_rng(0)
    base = np.tile(np.arange(VOCAB), 60)
    return np.where(rng.random(base.size) < 0.1, rng.integers(0, VOCAB, base.size), base).astype(np.int64)


def _spec(**kw) -> TinyLMSpec:
    base = {"vocab_size": VOCAB, "n_layer": 1, "n_head": 2, "d_model": 16, "context": 16, "steps": 7}
    base |= {"batch_size": 4, "lr": 3e-3, "warmup": 2}
    return TinyLMSpec(**(base | kw))


def _without_elapsed(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in h.items() if k != "elapsed"} for h in history]


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_same_seed_same_weights_and_history_other_seed_differs(tokens):
    a = train_tiny_lm(_spec(seed=5), tokens, progress=False)
    b = train_tiny_lm(_spec(seed=5), tokens, progress=False)
    _assert_same_weights(a.model, b.model)
    assert _without_elapsed(a.history) == _without_elapsed(b.history)
    c = train_tiny_lm(_spec(seed=6), tokens, progress=False)
    assert not torch.equal(
        a.model.state_dict()["hf.transformer.wte.weight"], c.model.state_dict()["hf.transformer.wte.weight"]
    )


def test_history_covers_the_configured_steps(tokens):
    lm = train_tiny_lm(_spec(steps=7, log_every=3), tokens, progress=False)
    assert [h["step"] for h in lm.history] == [3, 6, 7]
    assert lm.history[-1]["tokens"] == 7 * 4 * 16
    assert all(np.isfinite(h["train_loss"]) and h["eval_loss"] is None for h in lm.history)
    assert not lm.model.training  # handed back ready to score


def test_recipe_is_exactly_the_four_toolkit_steps(tokens):
    """The callers' hand-written recipe, bit for bit: same configs, same seeds, same call order."""
    spec = _spec(steps=6, eval_every=3, eval_batches=2, log_every=2, seed=3)
    held = tokens[:400]
    mcfg = ModelConfig(arch="gpt2", n_layer=1, n_head=2, d_model=16, context=16, vocab_size=VOCAB)
    model = build_model(mcfg, seed=3)
    tcfg = TrainConfig(
        steps=6,
        batch_size=4,
        context=16,
        lr=3e-3,
        warmup=2,
        min_lr=3e-3 / 10,
        eval_every=3,
        eval_batches=2,
        log_every=2,
        seed=3,
        threads=1,
        device="cpu",
    )
    history = train(model, tokens, tcfg, eval_tokens=held, progress=False)
    assert spec.model_config() == mcfg and spec.train_config() == tcfg
    lm = train_tiny_lm(spec, tokens, eval_tokens=held, progress=False)
    _assert_same_weights(model, lm.model)
    assert _without_elapsed(history) == _without_elapsed(lm.history)
    assert [h["step"] for h in lm.history if h["eval_loss"] is not None] == [3, 6]


def test_unnamed_fields_keep_the_toolkit_defaults():
    tcfg, default = _spec().train_config(), TrainConfig()
    named = {"steps", "batch_size", "context", "lr", "warmup", "min_lr", "eval_every", "eval_batches"}
    named |= {"log_every", "seed", "threads", "device"}
    for f in dataclasses.fields(TrainConfig):
        if f.name not in named:
            assert getattr(tcfg, f.name) == getattr(default, f.name), f.name
    assert TinyLMSpec(vocab_size=VOCAB).log_every == default.log_every
    assert TinyLMSpec(vocab_size=VOCAB).model_config() == ModelConfig(vocab_size=VOCAB)


def test_save_dir_writes_a_loadable_model_directory(tokens, tmp_path):
    lm = train_tiny_lm(_spec(), tokens, progress=False, save_dir=tmp_path / "m", extra={"why": "test"})
    loaded, cfg = load_model_dir(tmp_path / "m")
    assert cfg == lm.config
    _assert_same_weights(loaded, lm.model)
    assert json.loads((tmp_path / "m" / "repro_lm.json").read_text())["extra"] == {"why": "test"}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"steps": 0}, "TinyLMSpec.steps=0"),
        ({"vocab_size": True}, "TinyLMSpec.vocab_size=True"),
        ({"batch_size": 2.5}, "TinyLMSpec.batch_size=2.5"),
        ({"warmup": -1}, "TinyLMSpec.warmup=-1"),
        ({"lr": 0.0}, "TinyLMSpec.lr=0.0"),
        ({"lr": float("nan")}, "TinyLMSpec.lr=nan"),
        ({"n_head": 3}, "TinyLMSpec.d_model=16 is not divisible by n_head=3"),
    ],
)
def test_a_bad_spec_value_is_named(change, named):
    with pytest.raises(ValueError, match=named.replace(".", r"\.")):
        _spec(**change)


def test_eval_settings_and_eval_tokens_go_together(tokens, tmp_path):
    with pytest.raises(ValueError, match=r"TinyLMSpec\.eval_every=2 needs eval_tokens"):
        train_tiny_lm(_spec(eval_every=2), tokens, progress=False)
    with pytest.raises(ValueError, match=r"eval_tokens given but TinyLMSpec\.eval_every=0"):
        train_tiny_lm(_spec(), tokens, eval_tokens=tokens, progress=False)
    with pytest.raises(ValueError, match="pass save_dir too"):
        train_tiny_lm(_spec(), tokens, extra={"x": 1}, progress=False)
