"""Paper-scale path (prompts -> backend -> parse -> TV) with a stub model, and the params block."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from repro.common.llm.base import LLM
from repro.common.steps import ConfigError, build_config
from repro.distalign import live
from repro.distalign.config import LIVE_MODES, LiveConfig
from repro.distalign.data import load_truth

ROOT = Path(__file__).resolve().parents[3]


class Stub(LLM):
    """Answers V with a fixed malformed/valid mix, Seq with 30 A's, Log-p with A."""

    backend, model = "stub", "stub"

    def __init__(self):
        self.prompts = []

    def generate(self, prompts, n=1, temperature=0.0, max_tokens=256, stop=None, seed=None):
        self.prompts.extend(prompts)
        return [["{'A': '100%'}" if "JSON" in p else "A" * 30 for _ in range(n)] for p in prompts]

    def logprobs(self, prompt, continuations):
        raise NotImplementedError

    def top_logprobs(self, prompt, k):
        return {"A": np.log(0.9), " B": np.log(0.1)}


def test_live_prompts_and_scoring(da_files):
    qs = [q for q in load_truth("nytimes", da_files) if q.group == "Democrat"][:3]
    block = da_files["inputs/nytimes/express_distribution/prompt_task2.txt"].read_text()
    rng = np.random.default_rng(0)
    prompt = live.build_prompt(block, qs[0], "verbalize", "fewshot", qs[1:], rng)
    assert block.strip()[:40] in prompt and "'Democrat'" in prompt and prompt.rstrip().endswith("Answer:")
    assert prompt.count("Answer: {") >= 2  # the two shots carry the group's true distribution
    stub = Stub()
    for method in ("verbalize", "sequence", "logprobs"):
        answers = live.ask(stub, ["Q " + method] * 3 if method != "verbalize" else ["JSON"] * 3, method, 1.0, 20, "sys")
        tvs, fails = live.score(qs, answers, method)
        assert np.isfinite(tvs).all() and not fails
        hat = [0.9, 0.1] if method == "logprobs" else [1.0, 0.0]  # the stub's mass on A (and B)
        expected = [0.5 * np.abs(np.r_[hat, np.zeros(len(q.p) - 2)] - q.p).sum() for q in qs]
        assert np.allclose(tvs, expected)
    tvs, fails = live.score(qs[:1], ["not json"], "verbalize")
    assert np.isnan(tvs[0]) and fails["invalid_json"] == 1


def test_live_config_builds_from_params(da_params):
    cfg = build_config(LiveConfig, da_params["live"])
    assert [m.name for m in cfg.models] == [
        "gpt-3.5-turbo-0125",
        "gpt-4",
        "anthropic_haiku",
        "anthropic_opus",
        "llama3-70b",
    ]
    assert cfg.top_logprobs == 20 and cfg.temperature == 1.0


# --- rehearsal against the strict OpenAI-compatible server (issue 28) ----------------------------


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory, da_files):
    """An untrained GPT-2 (byte-level BPE, long context) standing in for an API model: fast to build,
    and the request path, not the answers, is under test."""
    from repro.common.llm import get_llm
    from repro.common.lm.models import ModelConfig, build_model, save_model_dir
    from repro.common.lm.tokenizer import train_tokenizer

    texts = [p.read_text(encoding="utf-8") for k, p in da_files.items() if k.endswith(".txt")]
    tok = train_tokenizer(texts, "bpe", vocab_size=512)
    cfg = ModelConfig(arch="gpt2", n_layer=1, n_head=2, d_model=16, context=2048, vocab_size=tok.vocab_size)
    d = save_model_dir(tmp_path_factory.mktemp("da_stand_in") / "model", build_model(cfg, seed=0), cfg, tok)
    return get_llm("tiny", path=str(d), device="cpu")


def _rehearsal(da_params, model: dict, url: str, cache, **live) -> LiveConfig:
    """The params' live block with one model (endpoint pointed at the stand-in) and one cell."""
    block = dict(da_params["live"])
    block.update(
        datasets=["opinionqa"],
        steering=["none"],
        methods=["logprobs"],
        cache=str(cache),
        models=[{**model, "base_url": url}],
        **live,
    )
    return build_config(LiveConfig, block)


def _params_model(da_params, name: str) -> dict:
    (model,) = [m for m in da_params["live"]["models"] if m["name"] == name]
    return model


# gpt-4 as params.yaml declares it (a chat model); a completion model (davinci-002, Log-p capped at 5).
REHEARSALS = {
    "chat": lambda p: (_params_model(p, "gpt-4"), {}),
    "completion": lambda p: (
        {**_params_model(p, "gpt-4"), "name": "davinci-002", "model": "davinci-002", "mode": "completion"},
        {"top_logprobs": 5},
    ),
}


@pytest.mark.parametrize("kind", sorted(REHEARSALS))
def test_live_rehearsal_on_strict_server(kind, da_params, da_inputs, da_files, stand_in, tmp_path, monkeypatch):
    """Each model's requests pass OpenAI's rules: the strict server serves it on its one endpoint only.

    Before issue 28 the chat model's Log-p went to /completions with logprobs=20: a 404 there.
    """
    from repro.common.llm import from_params
    from repro.common.llm.serve import serve_in_thread
    from repro.distalign.steps import live_step

    model, live_overrides = REHEARSALS[kind](da_params)
    monkeypatch.setenv(model["api_key_env"], "unused")
    srv, url = serve_in_thread(stand_in, served_name=model["model"], strict=True, model_kind=kind)
    try:
        cfg = _rehearsal(da_params, model, url, tmp_path / "cache.sqlite", **live_overrides)
        res = live_step(da_inputs, cfg)
        # V and Seq on two prompts (their long replies make all 100 slow on the stand-in).
        (m,) = cfg.models
        llm = from_params(live.backend_params(m, str(tmp_path / "cache.sqlite")))
        qs = [q for q in load_truth("opinionqa", da_files) if q.group == "Democrat"][:2]
        for method in ("verbalize", "sequence"):
            block = da_files[f"inputs/opinion_surveys/{live.OUTPUT_TYPE[method]}/prompt_task0.txt"].read_text()
            prompts = [live.build_prompt(block, q, method, "none", [], np.random.default_rng(0)) for q in qs]
            answers = live.ask(llm, prompts, method, 1.0, cfg.top_logprobs, cfg.system_prompt, m.mode)
            assert len(answers) == 2 and all(isinstance(a, str) for a in answers)
    finally:
        srv.shutdown()
        srv.server_close()
    name = model["name"]
    assert set(res.numbers["live"]) == {f"{name}.opinionqa.none.logprobs.{k}" for k in ("tv", "parse_fail_rate")}
    assert len(res.tables["table"]) == 100  # one row per question of the first group


def test_live_config_refuses_more_logprobs_than_openai_gives(da_params):
    """Log-p of the paper reads the top 20: fine for chat models (cap 20), not for the API's
    completion models (cap 5), which is a config error rather than a failed run."""
    model = _params_model(da_params, "gpt-4")
    cfg = _rehearsal(da_params, model, "http://unused/v1", "unused.sqlite")
    assert cfg.models[0].mode == "chat" and cfg.top_logprobs == 20
    completion = {**model, "mode": "completion"}
    with pytest.raises(ConfigError, match="cap of 5"):
        _rehearsal(da_params, completion, "http://unused/v1", "unused.sqlite")
    assert _rehearsal(da_params, completion, "http://unused/v1", "unused.sqlite", top_logprobs=5).top_logprobs == 5
    assert _rehearsal(da_params, {**completion, "backend": "hf"}, None, "unused.sqlite").models[0].mode
    with pytest.raises(ConfigError, match="mode must be one of"):
        _rehearsal(da_params, {**model, "mode": "completions"}, "http://unused/v1", "unused.sqlite")
    with pytest.raises(ConfigError, match="cap of 20"):
        _rehearsal(da_params, model, "http://unused/v1", "unused.sqlite", top_logprobs=21)


def test_live_mode_schema_enum_is_the_configs():
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "distalign.schema.yaml").read_text())
    item = schema["properties"]["live"]["properties"]["models"]["items"]
    assert tuple(item["properties"]["mode"]["enum"]) == LIVE_MODES and "mode" in item["required"]
