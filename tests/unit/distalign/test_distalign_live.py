"""Paper-scale path (prompts -> backend -> parse -> TV) with a stub model, and the params block."""

from __future__ import annotations

import numpy as np

from repro.common.llm.base import LLM
from repro.common.steps import build_config
from repro.distalign import live
from repro.distalign.config import LiveConfig
from repro.distalign.data import load_truth


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
