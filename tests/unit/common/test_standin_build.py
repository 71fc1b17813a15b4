"""Rule standins__build (repro.common.standins.build): each kind of stand-in from documents, the spec errors named
by their params key, and the strict LLM server over a toy checkpoint answering the real OpenAI client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from repro.common.standins.build import DATA_FILE, STANDIN_KEY_ENV, StandinSpecError, build, llm_app

TEXT = (
    "The river flows past the old mill, and the miller counts his sacks of grain each morning. "
    "Prompting large language models with worked examples improves their arithmetic. "
)
DOCS = [("wikitext2", f"Article {i}", TEXT * (3 + i)) for i in range(6)] + [("jack_sheppard", "Chapter I", TEXT * 4)]


def test_servers_and_datasets_from_documents(tmp_path):
    made = build("servers", "s2", {"api": "semantic_scholar"}, DOCS, tmp_path / "s2")
    assert made == {"api": "semantic_scholar", "records": len(DOCS)}
    papers = json.loads((tmp_path / "s2" / DATA_FILE).read_text())["papers"]
    assert {p["title"] for p in papers} == {title for _, title, _ in DOCS}
    made = build("servers", "wiki", {"api": "wikipedia"}, DOCS, tmp_path / "wiki")
    assert made["records"] == len(DOCS)
    sets = {"wikitext2": "Wikipedia (en)", "jack_sheppard": "Gutenberg (PG-19)"}
    counts = build("datasets", "pile", {"schema": "pile", "sets": sets}, DOCS, tmp_path / "pile")
    assert sum(counts.values()) == len(DOCS)


def test_spec_errors_name_the_params_key(tmp_path):
    with pytest.raises(StandinSpecError, match=r"standins.tokenizers.t has no \['vocab_size'\]"):
        build("tokenizers", "t", {"family": "llama"}, DOCS, tmp_path / "t")
    with pytest.raises(StandinSpecError, match=r"standins.datasets.p.sets names no pile_set_name for corpora \['jack"):
        build("datasets", "p", {"schema": "pile", "sets": {"wikitext2": "Wikipedia (en)"}}, DOCS, tmp_path / "p")
    with pytest.raises(StandinSpecError, match="standins.servers.x.api 'gopher'"):
        build("servers", "x", {"api": "gopher"}, DOCS, tmp_path / "x")
    with pytest.raises(StandinSpecError, match="needs its model folder"):
        build("servers", "o", {"api": "openai", "model": "m"}, [], tmp_path / "o")
    with pytest.raises(StandinSpecError, match="kind 'weights'"):
        build("weights", "w", {}, DOCS, tmp_path / "w")
    assert not any(tmp_path.iterdir()), "a failed build left files behind"


def test_the_strict_llm_stand_in_answers_the_openai_client_and_refuses_what_the_api_refuses(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv(STANDIN_KEY_ENV, "k")
    build("tokenizers", "tok", {"family": "llama", "vocab_size": 300}, DOCS, tmp_path / "tok")
    sizes = {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "intermediate_size": 64, "max_position": 512}
    spec = {"family": "llama", "tokenizer": "tok", "sizes": sizes}
    build("models", "m", spec, DOCS, tmp_path / "m", dependency=tmp_path / "tok")
    build("servers", "gpt", {"api": "openai", "model": "m"}, [], tmp_path / "gpt", dependency=tmp_path / "m")
    assert json.loads((tmp_path / "gpt" / DATA_FILE).read_text()) == {"model": str(tmp_path / "m")}
    client = TestClient(llm_app(str(tmp_path / "gpt"), served_name="gpt-4", model_kind="chat"))
    headers = {"Authorization": "Bearer k"}
    chat = {"model": "gpt-4", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 4}
    reply = client.post("/v1/chat/completions", json=chat, headers=headers)
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["role"] == "assistant"
    assert client.post("/v1/chat/completions", json=chat).status_code == 401  # no key
    prompt = {"model": "gpt-4", "prompt": "Hello", "max_tokens": 4}
    assert client.post("/v1/completions", json=prompt, headers=headers).status_code == 404  # a chat-only model
    many = {**chat, "logprobs": True, "top_logprobs": 21}
    assert client.post("/v1/chat/completions", json=many, headers=headers).status_code == 400  # over the API's cap
    unknown = {**chat, "frobnicate": 1}
    assert client.post("/v1/chat/completions", json=unknown, headers=headers).status_code == 400


def test_the_rule_adapter_entry_point_reads_the_params_file(tmp_path, monkeypatch):
    from repro.common.standins import build as build_module

    monkeypatch.setattr(build_module, "documents", lambda corpora, folder: DOCS if corpora == ["wikitext2"] else [])
    record = {"kind": "servers", "name": "s2", "spec": {"api": "semantic_scholar"}, "corpora": ["wikitext2"]}
    (tmp_path / "p.json").write_text(json.dumps(record))
    made = build_module.main(str(tmp_path / "p.json"), "resources/corpora", str(tmp_path / "out"))
    assert made["records"] == len(DOCS) and Path(tmp_path / "out" / DATA_FILE).is_file()
