"""The openai backend over real HTTP on 127.0.0.1 against repro's own server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from repro.common.llm import get_llm
from repro.common.llm.cache import CachedLLM
from repro.common.llm.openai import LLMHTTPError
from repro.common.llm.serve import serve_in_thread

PROMPT = "ROMEO:\nI will"
SRC = str(Path(__file__).resolve().parents[4] / "src")


@pytest.fixture(scope="module")
def tiny(tiny_lm):
    return get_llm("tiny", path=str(tiny_lm.model_dir), device="cpu")


@pytest.fixture(scope="module")
def server(tiny):
    srv, url = serve_in_thread(tiny, "127.0.0.1", 0)
    yield url
    srv.shutdown()
    srv.server_close()


def test_openai_backend_agrees_with_the_local_model(server, tiny):
    client = get_llm("openai", model=tiny.model, base_url=server, max_retries=0, timeout=30)
    prompts = ["KING:", "QUEEN:", PROMPT, "First Citizen:\n"]
    assert client.generate(prompts, max_tokens=12) == tiny.generate(prompts, max_tokens=12)
    sampled = client.generate(["KING:"], n=3, temperature=1.0, max_tokens=12, seed=5)
    assert sampled == tiny.generate(["KING:"], n=3, temperature=1.0, max_tokens=12, seed=5)
    assert client.generate(["KING:"], max_tokens=20, stop=["\n"]) == tiny.generate(
        ["KING:"], max_tokens=20, stop=["\n"]
    )
    # Continuations that start with a space tokenise the same jointly and separately.
    conts = [" go", " not be", " love thee"]
    assert client.logprobs(PROMPT, conts) == pytest.approx(tiny.logprobs(PROMPT, conts), abs=1e-4)
    top_http, top_local = client.top_logprobs(PROMPT, 4), tiny.top_logprobs(PROMPT, 4)
    assert list(top_http) == list(top_local)
    assert list(top_http.values()) == pytest.approx(list(top_local.values()), abs=1e-5)
    msgs = [{"role": "user", "content": "Who art thou?"}]
    assert client.chat(msgs, max_tokens=8, temperature=0.0) == tiny.chat(msgs, max_tokens=8, temperature=0.0)
    chat_mode = get_llm("openai", model=tiny.model, base_url=server, mode="chat", max_retries=0)
    assert chat_mode.generate(["Who art thou?"], max_tokens=8, temperature=0.0) == [
        tiny.chat(msgs, max_tokens=8, temperature=0.0)
    ]
    assert len(chat_mode.top_logprobs("Who art thou?", 3)) == 3
    client.close()


def test_openai_backend_through_the_cache(server, tiny, tmp_path):
    client = get_llm("openai", model=tiny.model, base_url=server, max_retries=0, cache=str(tmp_path / "c.sqlite"))
    assert isinstance(client, CachedLLM)
    first = client.generate(["KING:", "QUEEN:"], max_tokens=8)
    sent = client.inner.requests_sent
    assert client.generate(["KING:", "QUEEN:"], max_tokens=8) == first
    assert client.inner.requests_sent == sent  # served from disk, no HTTP


def test_server_wire_format_and_errors(server, tiny):
    models = requests.get(f"{server}/models", timeout=10).json()
    assert models["data"][0]["id"] == tiny.model
    r = requests.post(
        f"{server}/completions", json={"prompt": "KING:", "max_tokens": 3, "logprobs": 2, "temperature": 0}, timeout=30
    ).json()
    choice = r["choices"][0]
    assert len(choice["logprobs"]["tokens"]) == 3 == r["usage"]["completion_tokens"]
    assert "".join(choice["logprobs"]["tokens"]) == choice["text"]
    assert all(len(t) <= 2 for t in choice["logprobs"]["top_logprobs"])
    echo = requests.post(
        f"{server}/completions", json={"prompt": "KING:", "max_tokens": 0, "echo": True, "logprobs": 0}, timeout=30
    ).json()["choices"][0]
    assert echo["text"] == "KING:" and echo["logprobs"]["token_logprobs"][0] is None
    bad = requests.post(f"{server}/completions", json={"prompt": {"not": "a prompt"}}, timeout=10)
    assert bad.status_code == 400 and "prompt" in bad.json()["error"]["message"]
    assert requests.post(f"{server}/nowhere", json={}, timeout=10).status_code == 404
    garbage = requests.post(f"{server}/completions", data=b"{not json", timeout=10)
    assert garbage.status_code == 400


def test_api_key_from_environment(tiny, monkeypatch):
    from repro.common.llm.base import LLMError

    srv, url = serve_in_thread(tiny, "127.0.0.1", 0, api_key="s3cret")
    try:
        no_key = get_llm("openai", model=tiny.model, base_url=url, max_retries=3, backoff=0.01)
        with pytest.raises(LLMHTTPError, match="401") as err:
            no_key.generate(["KING:"], max_tokens=2)
        assert err.value.status == 401 and no_key.requests_sent == 1  # 4xx other than 429: no retry
        with pytest.raises(LLMError, match="REPRO_TEST_KEY"):
            get_llm("openai", model=tiny.model, base_url=url, api_key_env="REPRO_TEST_KEY")
        monkeypatch.setenv("REPRO_TEST_KEY", "s3cret")
        keyed = get_llm("openai", model=tiny.model, base_url=url, api_key_env="REPRO_TEST_KEY")
        assert keyed.generate(["KING:"], max_tokens=2) == tiny.generate(["KING:"], max_tokens=2)
    finally:
        srv.shutdown()
        srv.server_close()


def test_serve_cli_subprocess(tiny_lm, tiny):
    """``python -m repro.common.llm.serve`` starts, reports its port, answers, and stops."""
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "repro.common.llm.serve",
            "--model",
            str(tiny_lm.model_dir),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--device",
            "cpu",
            "--served-model-name",
            "tiny-test",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline()  # blocks until the server is listening (or the process died)
        assert line.startswith("serving 'tiny-test' on http://127.0.0.1:"), (line, proc.stderr.read())
        url = line.split(" on ")[1].strip()
        client = get_llm("openai", model="tiny-test", base_url=url, max_retries=0, timeout=60)
        assert client.generate([PROMPT], max_tokens=10) == tiny.generate([PROMPT], max_tokens=10)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
