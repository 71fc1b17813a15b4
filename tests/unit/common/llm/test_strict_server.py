"""Strict mode of ``repro.common.llm.serve``: refuse what the OpenAI API refuses (issue 28).

Each refusal is checked twice, with the official ``openai`` client over real HTTP on
127.0.0.1: the strict server (standing in for gpt-4o, a chat model, or davinci-002, a
completions model) refuses the request as the OpenAI API does, and the same request to
the default (vLLM-like) server on the same model succeeds, so each test fails without
strict mode.
"""

from __future__ import annotations

import openai
import pytest
import requests
from openai.types import completion_create_params as completion_params
from openai.types.chat import completion_create_params as chat_params

from repro.common.llm import get_llm
from repro.common.llm.serve import main, make_app, serve_in_thread
from repro.common.llm.server.protocol import CHAT_FIELDS, COMPLETION_FIELDS

PROMPT = "ROMEO:\nI will"
MSGS = [{"role": "user", "content": "Who art thou?"}]
LIMITS = {"max_logprobs": 30}  # above both OpenAI caps, so only strict mode can refuse 6 or 21


@pytest.fixture(scope="module")
def tiny(tiny_lm):
    return get_llm("tiny", path=str(tiny_lm.model_dir), device="cpu")


def _serve(tiny, **kw):
    srv, url = serve_in_thread(tiny, "127.0.0.1", 0, **LIMITS, **kw)
    return srv, openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=60)


@pytest.fixture(scope="module")
def servers(tiny):
    """Clients of: the default server ('lax', both endpoints), strict gpt-4o (chat), strict davinci-002."""
    started = {
        "lax": _serve(tiny, served_name="gpt-4o"),
        "chat": _serve(tiny, served_name="gpt-4o", strict=True, model_kind="chat"),
        "completion": _serve(tiny, served_name="davinci-002", strict=True, model_kind="completion"),
    }
    yield {k: c for k, (_, c) in started.items()}
    for srv, _ in started.values():
        srv.shutdown()
        srv.server_close()


def _fields(module) -> set[str]:
    keys: set[str] = set()
    for td in (module.CompletionCreateParamsNonStreaming, module.CompletionCreateParamsStreaming):
        keys |= td.__required_keys__ | td.__optional_keys__
    return keys


def test_known_fields_are_the_openai_clients():
    """The committed field sets are exactly the pinned client's request TypedDicts."""
    assert COMPLETION_FIELDS == _fields(completion_params)
    assert CHAT_FIELDS == _fields(chat_params)


def test_chat_model_refused_on_completions(servers):
    assert servers["lax"].completions.create(model="gpt-4o", prompt=PROMPT, max_tokens=2).choices
    with pytest.raises(openai.NotFoundError) as e:
        servers["chat"].completions.create(model="gpt-4o", prompt=PROMPT, max_tokens=2)
    assert e.value.body == {
        "message": "This is a chat model and not supported in the v1/completions endpoint. "
        "Did you mean to use v1/chat/completions?",
        "type": "invalid_request_error",
        "param": "model",
        "code": None,
    }
    with pytest.raises(openai.NotFoundError):  # streamed too: refused before the stream starts
        servers["chat"].completions.create(model="gpt-4o", prompt=PROMPT, max_tokens=2, stream=True)
    assert servers["chat"].chat.completions.create(model="gpt-4o", messages=MSGS, max_tokens=2).choices


def test_completion_model_refused_on_chat(servers):
    assert servers["lax"].chat.completions.create(model="gpt-4o", messages=MSGS, max_tokens=2).choices
    with pytest.raises(openai.NotFoundError) as e:
        servers["completion"].chat.completions.create(model="davinci-002", messages=MSGS, max_tokens=2)
    assert e.value.body["param"] == "model" and e.value.body["code"] is None
    assert e.value.body["message"].startswith("This is not a chat model")
    assert servers["completion"].completions.create(model="davinci-002", prompt=PROMPT, max_tokens=2).choices


def test_completions_logprobs_capped_at_5(servers):
    lax = servers["lax"].completions.create(model="gpt-4o", prompt=PROMPT, max_tokens=1, logprobs=6)
    assert len(lax.choices[0].logprobs.top_logprobs[0]) >= 6
    c = servers["completion"]
    assert c.completions.create(model="davinci-002", prompt=PROMPT, max_tokens=1, logprobs=5).choices
    with pytest.raises(openai.BadRequestError) as e:
        c.completions.create(model="davinci-002", prompt=PROMPT, max_tokens=1, logprobs=6)
    assert e.value.body["param"] == "logprobs" and "OpenAI" in e.value.body["message"]


def test_chat_top_logprobs_capped_at_20_and_need_logprobs(servers):
    kw = {"model": "gpt-4o", "messages": MSGS, "max_tokens": 1}
    assert servers["lax"].chat.completions.create(**kw, logprobs=True, top_logprobs=21).choices
    assert servers["lax"].chat.completions.create(**kw, top_logprobs=0).choices
    c = servers["chat"]
    reply = c.chat.completions.create(**kw, logprobs=True, top_logprobs=20)
    assert len(reply.choices[0].logprobs.content[0].top_logprobs) == 20
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(**kw, logprobs=True, top_logprobs=21)
    assert e.value.body["param"] == "top_logprobs"
    with pytest.raises(openai.BadRequestError) as e:  # OpenAI: any top_logprobs needs logprobs=true
        c.chat.completions.create(**kw, top_logprobs=0)
    assert e.value.body["param"] == "top_logprobs"


@pytest.mark.parametrize("field", ["top_k", "max_token"])  # a vLLM extension, a typo
def test_unknown_fields_refused(servers, field):
    assert (
        servers["lax"]
        .chat.completions.create(model="gpt-4o", messages=MSGS, max_tokens=1, extra_body={field: 5})
        .choices
    )
    with pytest.raises(openai.BadRequestError) as e:
        servers["chat"].chat.completions.create(model="gpt-4o", messages=MSGS, max_tokens=1, extra_body={field: 5})
    assert e.value.body["param"] == field and field in e.value.body["message"]
    with pytest.raises(openai.BadRequestError) as e:
        servers["completion"].completions.create(
            model="davinci-002", prompt=PROMPT, max_tokens=1, extra_body={field: 5}
        )
    assert e.value.body["param"] == field


def test_model_required(servers):
    base = {k: str(c.base_url).rstrip("/") for k, c in servers.items()}
    body = {"messages": MSGS, "max_tokens": 1}
    assert requests.post(f"{base['lax']}/chat/completions", json=body, timeout=60).status_code == 200
    r = requests.post(f"{base['chat']}/chat/completions", json=body, timeout=60)
    assert r.status_code == 400 and r.json()["error"]["param"] == "model"


def test_strict_needs_a_model_kind(tiny, capsys):
    with pytest.raises(ValueError, match="model_kind"):
        make_app(tiny, strict=True)
    with pytest.raises(ValueError, match="model_kind"):
        make_app(tiny, model_kind="embedding")
    with pytest.raises(SystemExit):
        main(["--model", "unused", "--strict"])
    assert "--model-kind" in capsys.readouterr().err
