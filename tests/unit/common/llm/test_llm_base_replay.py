"""The LLM interface, its registry, and the replay backend."""

from __future__ import annotations

import ast
import inspect
import json
from pathlib import Path

import pytest

from repro.common.llm import base, from_params, get_llm
from repro.common.llm.base import LLM, LLMError, create_llm, register
from repro.common.llm.cache import CachedLLM
from repro.common.llm.replay import ReplayLLM, ReplayMissingError, load_records

ROWS = [
    {
        "dataset": "opinionqa",
        "model": "gpt-4",
        "prompt_id": "q1",
        "method": "verbalize",
        "output": "A: 40%",
        "prompt": "What share of people...?",
    },
    {"dataset": "opinionqa", "model": "gpt-4", "prompt_id": "q1", "method": "verbalize", "output": "A: 35%"},
    {
        "dataset": "opinionqa",
        "model": "gpt-4",
        "prompt_id": "q2",
        "method": "verbalize",
        "outputs": ["B", "C"],
        "logprobs": {" yes": -0.1, " no": -2.3},
        "top_logprobs": {" yes": -0.1, " no": -2.3, " maybe": -4.0},
    },
    {"dataset": "opinionqa", "model": "gpt-4", "prompt_id": "q1", "method": "sequence", "output": "other method"},
]


def test_registry_and_params():
    assert {"replay", "tiny", "hf", "openai"} <= set(base.available())

    @register("test-echo")
    class Echo(LLM):
        model = "echo"

        def generate(self, prompts, n=1, temperature=0.0, max_tokens=256, stop=None, seed=None):
            return [[p.upper()] * n for p in prompts]

        def logprobs(self, prompt, continuations):
            return [-float(len(c)) for c in continuations]

        def top_logprobs(self, prompt, k):
            return {"x": 0.0}

    llm = get_llm("test-echo")
    assert llm.backend == "test-echo"
    assert llm.generate(["ab"], n=2) == [["AB", "AB"]]
    assert llm.chat([{"role": "user", "content": "hi"}]) == ["USER: HI\n\nASSISTANT:"]
    with pytest.raises(KeyError, match="unknown LLM backend 'nope'"):
        get_llm("nope")
    with pytest.raises(LLMError, match="environment variable"):
        from_params({"backend": "openai", "model": "m", "api_key": "sk-secret"})
    with pytest.raises(LLMError, match="backend"):
        from_params({"model": "m"})
    assert from_params({"backend": "test-echo"}).generate(["x"]) == [["X"]]


def test_cache_is_composed_outside_the_registry(tmp_path):
    """base builds backends without cache; repro.common.llm.get_llm/from_params wrap CachedLLM."""

    @register("test-upper")
    class Upper(LLM):
        model = "upper"
        calls = 0

        def generate(self, prompts, n=1, temperature=0.0, max_tokens=256, stop=None, seed=None):
            Upper.calls += 1
            return [[p.upper()] * n for p in prompts]

        def logprobs(self, prompt, continuations):
            return [0.0 for _ in continuations]

        def top_logprobs(self, prompt, k):
            return {}

    assert "cache" not in inspect.signature(create_llm).parameters
    plain = create_llm("test-upper")
    assert isinstance(plain, Upper) and isinstance(get_llm("test-upper"), Upper)
    cached = get_llm("test-upper", cache=tmp_path / "c.sqlite")
    assert isinstance(cached, CachedLLM) and isinstance(cached.inner, Upper)
    assert cached.generate(["a"]) == [["A"]] and cached.generate(["a"]) == [["A"]]
    assert Upper.calls == 1  # the second call was a cache hit
    again = from_params({"backend": "test-upper", "cache": str(tmp_path / "c.sqlite")})
    assert isinstance(again, CachedLLM) and again.generate(["a"]) == [["A"]] and Upper.calls == 1
    # The interface module itself does not depend on the cache.
    tree = ast.parse(Path(base.__file__).read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not any("cache" in (m or "") for m in imported), imported


def test_render_chat_and_stop():
    text = base.render_chat([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    assert text == "System: Be brief.\n\nUser: Hi\n\nAssistant:"
    with pytest.raises(ValueError, match="role"):
        base.render_chat([{"role": "tool", "content": "x"}])
    assert base.cut_at_stop("abc\ndef###", ["###", "\n"]) == "abc"
    assert base.cut_at_stop("abc", None) == "abc"


def test_replay_answers_only_released_records(tmp_path):
    llm = ReplayLLM(dataset="opinionqa", model="gpt-4", method="verbalize", records=ROWS)
    assert llm.generate(["q1"], n=2) == [["A: 40%", "A: 35%"]]  # same key twice: two samples
    assert llm.generate(["q2"]) == [["B"]]
    assert llm.generate(["What share of people...?"]) == [["A: 40%"]]  # lookup by prompt text
    assert llm.chat([{"role": "user", "content": "q2"}], n=2) == ["B", "C"]
    assert llm.logprobs("q2", [" no", " yes"]) == [-2.3, -0.1]
    assert llm.top_logprobs("q2", 2) == {" yes": -0.1, " no": -2.3}
    with pytest.raises(ReplayMissingError) as err:
        llm.generate(["q3"])
    assert isinstance(err.value, KeyError)
    assert "prompt_id='q3'" in str(err.value) and "model='gpt-4'" in str(err.value)
    with pytest.raises(ReplayMissingError, match="2 released output"):
        llm.generate(["q2"], n=3)
    with pytest.raises(ReplayMissingError, match="continuation ' maybe'"):
        llm.logprobs("q2", [" maybe"])
    with pytest.raises(ReplayMissingError, match="top log-probs"):
        llm.top_logprobs("q1", 1)
    other = ReplayLLM(dataset="opinionqa", model="gpt-4", method="sequence", records=ROWS)
    assert other.generate(["q1"]) == [["other method"]]


def test_replay_loads_jsonl_and_csv_with_column_mapping(tmp_path):
    jl = tmp_path / "out.jsonl"
    jl.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n")
    assert len(load_records(jl)) == 3
    csv_path = tmp_path / "out.csv"
    csv_path.write_text('qid,response,model\nq7,hello,llama\nq8,"a, b",llama\n')
    llm = get_llm(
        "replay",
        path=str(csv_path),
        dataset="d",
        model="llama",
        method="m",
        mapping={"qid": "prompt_id", "response": "output"},
        defaults={"dataset": "d", "method": "m"},
    )
    assert llm.generate(["q7", "q8"]) == [["hello"], ["a, b"]]
    with pytest.raises(ValueError, match="key field"):
        load_records([{"dataset": "d", "model": "m", "method": "x", "output": "y"}])
    with pytest.raises(ValueError, match="no output"):
        load_records([{"dataset": "d", "model": "m", "prompt_id": "1", "method": "x"}])
