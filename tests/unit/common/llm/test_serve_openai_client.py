"""Conformance of ``repro.common.llm.serve`` with the official ``openai`` client (issue 18).

Real HTTP on 127.0.0.1 only. Two servers: the session's trained tiny model (``tiny``
backend) and the same weights as a plain HF checkpoint (``hf`` backend). Streaming
(sync and async, chat and completions) must reproduce the non-streamed replies
exactly; token-id prompts must equal text prompts; an unknown model is a 404.
"""

from __future__ import annotations

import asyncio
import shutil

import openai
import pytest

from repro.common.llm import get_llm
from repro.common.llm.serve import load_local_llm, serve_in_thread

PROMPT = "ROMEO:\nI will"
MSGS = [{"role": "user", "content": "Who art thou?"}]


@pytest.fixture(scope="module")
def tiny(tiny_lm):
    return get_llm("tiny", path=str(tiny_lm.model_dir), device="cpu")


@pytest.fixture(scope="module")
def hf_dir(tiny_lm, tmp_path_factory):
    d = tmp_path_factory.mktemp("serve_hf") / "plain_hf"
    shutil.copytree(tiny_lm.model_dir, d)
    (d / "repro_lm.json").unlink()  # now only an HF checkpoint
    return d


@pytest.fixture(scope="module", params=["tiny", "hf"])
def served(request, tiny, hf_dir):
    """``(llm, base_url, server_state)`` for each backend."""
    llm = tiny if request.param == "tiny" else load_local_llm(hf_dir, device="cpu")
    srv, url = serve_in_thread(llm, "127.0.0.1", 0)
    yield llm, url, srv.app.state.server
    srv.shutdown()
    srv.server_close()


def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=60)


def _stream_text(stream) -> tuple[dict[int, str], dict[int, str], object]:
    texts: dict[int, str] = {}
    finish: dict[int, str] = {}
    usage = None
    for ch in stream:
        if ch.usage is not None:
            usage = ch.usage
        for c in ch.choices:
            piece = c.text if hasattr(c, "text") else (c.delta.content or "")
            texts[c.index] = texts.get(c.index, "") + piece
            if c.finish_reason:
                finish[c.index] = c.finish_reason
    return texts, finish, usage


def test_models_list_retrieve_and_unknown_model(served):
    llm, url, _ = served
    c = client(url)
    assert [m.id for m in c.models.list().data] == [llm.model]
    assert c.models.retrieve(llm.model).id == llm.model
    with pytest.raises(openai.NotFoundError) as e:
        c.models.retrieve("no-such-model")
    assert e.value.body["code"] == "model_not_found"
    with pytest.raises(openai.NotFoundError) as e:
        c.completions.create(model="gpt-4o", prompt="KING:", max_tokens=2)
    assert e.value.body == {
        "message": "The model `gpt-4o` does not exist.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }
    with pytest.raises(openai.NotFoundError):
        c.chat.completions.create(model="gpt-4o", messages=MSGS, max_tokens=2)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"temperature": 0, "max_tokens": 24},
        {"temperature": 1.0, "max_tokens": 24, "n": 3, "seed": 5},
        {"temperature": 0.8, "max_tokens": 30, "seed": 1, "stop": ["\n", "e"], "top_p": 0.9},
    ],
)
def test_completions_stream_equals_non_stream(served, kwargs):
    llm, url, _ = served
    c = client(url)
    full = c.completions.create(model=llm.model, prompt=PROMPT, **kwargs)
    texts, finish, usage = _stream_text(
        c.completions.create(
            model=llm.model, prompt=PROMPT, stream=True, stream_options={"include_usage": True}, **kwargs
        )
    )
    assert texts == {ch.index: ch.text for ch in full.choices}
    assert finish == {ch.index: ch.finish_reason for ch in full.choices}
    assert usage.model_dump() == full.usage.model_dump()
    if "top_p" not in kwargs:  # the server samples exactly as the in-process backend does
        local = llm.generate(
            [PROMPT],
            n=kwargs.get("n", 1),
            temperature=kwargs["temperature"],
            max_tokens=kwargs["max_tokens"],
            seed=kwargs.get("seed"),
        )[0]
        assert [ch.text for ch in full.choices] == local
    if "stop" in kwargs:
        assert all("\n" not in t and "e" not in t for t in texts.values())


def test_chat_stream_equals_non_stream_sync_and_async(served):
    llm, url, _ = served
    c = client(url)
    kw = {"model": llm.model, "messages": MSGS, "max_tokens": 16, "temperature": 1.0, "seed": 3, "n": 2}
    full = c.chat.completions.create(**kw)
    assert [ch.message.content for ch in full.choices] == llm.chat(MSGS, n=2, temperature=1.0, max_tokens=16, seed=3)
    texts, finish, usage = _stream_text(
        c.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kw)
    )
    assert texts == {ch.index: ch.message.content for ch in full.choices}
    assert finish == {ch.index: ch.finish_reason for ch in full.choices}
    assert usage.total_tokens == full.usage.total_tokens

    async def run_async():
        ac = openai.AsyncOpenAI(base_url=url, api_key="unused", max_retries=0, timeout=60)
        try:
            chat = await ac.chat.completions.create(**kw)
            stream = await ac.chat.completions.create(stream=True, **kw)
            chat_parts: dict[int, str] = {}
            async for ch in stream:
                for cc in ch.choices:
                    chat_parts[cc.index] = chat_parts.get(cc.index, "") + (cc.delta.content or "")
            comp = await ac.completions.create(
                model=llm.model, prompt=PROMPT, max_tokens=12, temperature=0, stream=True
            )
            comp_text = "".join([ch.choices[0].text async for ch in comp])
            return chat, chat_parts, comp_text
        finally:
            await ac.close()

    chat, chat_parts, comp_text = asyncio.run(run_async())
    assert [ch.message.content for ch in chat.choices] == [ch.message.content for ch in full.choices]
    assert chat_parts == texts
    assert comp_text == llm.generate([PROMPT], max_tokens=12)[0][0]


def test_stream_logprobs_match_non_stream(served):
    llm, url, _ = served
    c = client(url)
    kw = {"model": llm.model, "prompt": "KING:", "max_tokens": 8, "temperature": 0, "logprobs": 2}
    full = c.completions.create(**kw).choices[0].logprobs
    toks, lps = [], []
    for ch in c.completions.create(stream=True, **kw):
        for cc in ch.choices:
            if cc.logprobs:
                toks += cc.logprobs.tokens
                lps += cc.logprobs.token_logprobs
    assert toks == full.tokens
    assert lps == pytest.approx(full.token_logprobs, abs=1e-5)
    ckw = {"model": llm.model, "messages": MSGS, "max_tokens": 6, "temperature": 0, "logprobs": True, "top_logprobs": 3}
    chat = c.chat.completions.create(**ckw).choices[0]
    assert "".join(t.token for t in chat.logprobs.content).lstrip() == chat.message.content
    assert all(len(t.top_logprobs) == 3 for t in chat.logprobs.content)
    streamed = [
        t
        for ch in c.chat.completions.create(stream=True, **ckw)
        for cc in ch.choices
        if cc.logprobs
        for t in cc.logprobs.content
    ]
    assert [t.token for t in streamed] == [t.token for t in chat.logprobs.content]


def test_token_id_prompts(served):
    llm, url, _ = served
    c = client(url)
    ids = llm.prompt_ids(PROMPT)
    by_text = c.completions.create(model=llm.model, prompt=PROMPT, max_tokens=8, temperature=0)
    one = c.completions.create(model=llm.model, prompt=ids, max_tokens=8, temperature=0)
    many = c.completions.create(model=llm.model, prompt=[ids, llm.prompt_ids("KING:")], max_tokens=8, temperature=0)
    assert one.choices[0].text == by_text.choices[0].text == many.choices[0].text
    assert many.choices[1].text == llm.generate(["KING:"], max_tokens=8)[0][0]
    assert one.usage.prompt_tokens == len(ids)
    echo = c.completions.create(model=llm.model, prompt=[ids], max_tokens=0, echo=True, logprobs=0)
    assert echo.choices[0].text == llm.decode(ids)


def test_content_parts_developer_role_and_max_completion_tokens(served):
    llm, url, _ = served
    c = client(url)
    plain = c.chat.completions.create(
        model=llm.model,
        max_tokens=8,
        temperature=0,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Who art thou?"}],
    )
    parts = c.chat.completions.create(
        model=llm.model,
        max_completion_tokens=8,
        temperature=0,
        messages=[
            {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
            {"role": "user", "content": [{"type": "text", "text": "Who art thou?"}]},
        ],
    )
    assert parts.choices[0].message.content == plain.choices[0].message.content
    one = c.chat.completions.create(model=llm.model, messages=MSGS, max_completion_tokens=1, temperature=0)
    assert one.usage.completion_tokens == 1
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model=llm.model, messages=MSGS, max_completion_tokens=0)
    assert e.value.body["param"] == "max_completion_tokens" and isinstance(e.value.body["code"], str)


def test_stream_without_usage_and_done_marker(served):
    """Raw SSE: ``data:`` lines, JSON chunks, ``data: [DONE]`` last; no usage unless asked."""
    import requests

    llm, url, _ = served
    r = requests.post(
        f"{url}/completions",
        json={"model": llm.model, "prompt": "KING:", "max_tokens": 4, "temperature": 0, "stream": True},
        stream=True,
        timeout=30,
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    lines = [ln for ln in r.iter_lines(decode_unicode=True) if ln]
    assert all(ln.startswith("data: ") for ln in lines) and lines[-1] == "data: [DONE]"
    import json

    chunks = [json.loads(ln[6:]) for ln in lines[:-1]]
    assert all(ch["object"] == "text_completion" and "usage" not in ch for ch in chunks)


def test_concurrent_requests_interleave_without_mixing(served):
    """Requests decode step by step under one lock; concurrent replies equal sequential ones."""
    from concurrent.futures import ThreadPoolExecutor

    llm, url, _ = served
    c = client(url)
    jobs = [("KING:", 0), ("QUEEN:", 1), (PROMPT, 2), ("First Citizen:\n", 3)]

    def one(job):
        prompt, seed = job
        stream = c.completions.create(model=llm.model, prompt=prompt, max_tokens=20, n=2, seed=seed, stream=True)
        return _stream_text(stream)[0]

    sequential = [one(j) for j in jobs]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(one, jobs)) == sequential
