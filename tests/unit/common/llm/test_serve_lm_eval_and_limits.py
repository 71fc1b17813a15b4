"""lm-eval-harness's request pattern, limits, bad inputs and disconnects (issue 18).

lm-eval-harness (``local-completions``, ``tokenized_requests=True``) scores a
(context, continuation) pair by sending ``prompt=[context_ids + continuation_ids]``
with ``echo=True, max_tokens=1, logprobs=1, temperature=0`` and summing
``token_logprobs[ctxlen:-1]``: the last entry must be the *generated* token, EOS
included. The EOS case uses a copy of the session's tiny model whose logits we
control: its final layer norm is zeroed and its bias set to a unit vector ``e``,
so the hidden state is ``e`` at every position and the logits are ``W_emb @ e``;
the EOS embedding row is set to ``5 e``, which makes EOS the argmax everywhere
(checked by the fixture).
"""

from __future__ import annotations

import copy
import json
import time

import openai
import pytest
import requests
import torch

from repro.common.llm import get_llm
from repro.common.lm import evaluate as ev
from repro.common.lm.models import save_model_dir
from repro.common.llm.serve import serve_in_thread

LIMITS = {"max_n": 4, "max_tokens": 4000, "max_logprobs": 5, "max_body": 64 << 10}


@pytest.fixture(scope="module")
def tiny(tiny_lm):
    return get_llm("tiny", path=str(tiny_lm.model_dir), device="cpu")


@pytest.fixture(scope="module")
def server(tiny):
    srv, url = serve_in_thread(tiny, "127.0.0.1", 0, **LIMITS)
    yield url, srv.app.state.server
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def eos_lm(tiny_lm, tmp_path_factory):
    """A model whose next token is EOS after any prefix (see the module docstring)."""
    model = copy.deepcopy(tiny_lm.model)
    hf = model.hf
    eos = tiny_lm.tokenizer.eos_id
    with torch.no_grad():
        e = torch.zeros(tiny_lm.cfg.d_model)
        e[0] = 1.0
        hf.transformer.ln_f.weight.zero_()
        hf.transformer.ln_f.bias.copy_(e)
        hf.transformer.wte.weight[eos] = 5.0 * e  # tied: the output row of EOS too
    d = save_model_dir(tmp_path_factory.mktemp("serve_eos") / "eos_model", model, tiny_lm.cfg, tiny_lm.tokenizer)
    llm = get_llm("tiny", path=str(d), device="cpu")
    probe = ev.next_token_logprobs(llm.module, [tiny_lm.tokenizer.encode("KING: x"), [eos]], llm.context)
    assert (probe.argmax(-1) == eos).all(), "fixture premise: EOS must be the argmax"
    srv, url = serve_in_thread(llm, "127.0.0.1", 0)
    yield llm, url
    srv.shutdown()
    srv.server_close()


def lm_eval_pairs(tiny_lm, k: int = 5) -> list[tuple[list[int], list[int]]]:
    """(context_ids, continuation_ids) built as lm-eval's ``_encode_pair`` does."""
    tok = tiny_lm.tokenizer
    pairs = []
    for text in tiny_lm.heldout_texts[:k]:
        words = text[:120].split(" ")
        context, continuation = " ".join(words[:-3]), " " + " ".join(words[-3:])
        ctx = tok.encode(context)
        whole = tok.encode(context + continuation)
        pairs.append((ctx[-40:], whole[len(ctx) :][:20]))
    return pairs


def lm_eval_score(client: openai.OpenAI, model: str, pairs):
    """lm-eval-harness's ``local-completions`` loglikelihood request and parsing."""
    out = client.completions.create(
        model=model, prompt=[c + x for c, x in pairs], max_tokens=1, logprobs=1, echo=True, temperature=0, seed=1234
    )
    results = []
    for choice, (ctx, _) in zip(sorted(out.choices, key=lambda c: c.index), pairs, strict=True):
        lp = choice.logprobs
        logprob = sum(lp.token_logprobs[len(ctx) : -1])
        greedy = all(
            t == max(top.values())
            for t, top in zip(lp.token_logprobs[len(ctx) : -1], lp.top_logprobs[len(ctx) : -1], strict=True)
        )
        results.append((logprob, greedy, lp))
    return results


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=60)


def test_lm_eval_echo_scoring_matches_in_process(server, tiny, tiny_lm):
    url, _ = server
    pairs = lm_eval_pairs(tiny_lm)
    ref = ev.score_continuations_ids(tiny.module, pairs, tiny.context)
    got = lm_eval_score(_client(url), tiny.model, pairs)
    for (lp, greedy, raw), r, (ctx, cont) in zip(got, ref, pairs, strict=True):
        assert len(raw.token_logprobs) == len(ctx) + len(cont) + 1  # the prompt and the generated token
        assert lp == pytest.approx(r.sum_logprob, abs=1e-4)
        assert greedy == r.is_greedy


def test_lm_eval_scoring_when_the_next_token_is_eos(eos_lm, tiny_lm):
    llm, url = eos_lm
    c = _client(url)
    pairs = lm_eval_pairs(tiny_lm)
    ref = ev.score_continuations_ids(llm.module, pairs, llm.context)
    got = lm_eval_score(c, llm.model, pairs)
    eos_text = tiny_lm.tokenizer.decode([tiny_lm.tokenizer.eos_id])
    for (lp, _, raw), r, (ctx, cont) in zip(got, ref, pairs, strict=True):
        assert raw.tokens[-1] == eos_text and raw.token_logprobs[-1] is not None
        assert len(raw.token_logprobs) == len(ctx) + len(cont) + 1
        assert lp == pytest.approx(r.sum_logprob, abs=1e-4)
    # Non-echo: an immediate EOS is a 'stop' with empty text, and its log-prob is reported.
    one = c.completions.create(model=llm.model, prompt="KING:", max_tokens=5, logprobs=1, temperature=0)
    ch = one.choices[0]
    assert ch.text == "" and ch.finish_reason == "stop" and ch.logprobs.tokens == [eos_text]
    assert one.usage.completion_tokens == 1
    # The project's own openai backend (text prompts, echo) agrees with the in-process model.
    backend = get_llm("openai", model=llm.model, base_url=url, max_retries=0, echo_max_tokens=1)
    assert backend.logprobs("KING: I", [" will go"]) == pytest.approx(llm.logprobs("KING: I", [" will go"]), abs=1e-4)


def _is_error(r: requests.Response, status: int | None = None) -> dict:
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    if status is not None:
        assert r.status_code == status, r.text[:300]
    err = r.json()["error"]
    assert isinstance(err["message"], str) and err["message"]
    assert isinstance(err["type"], str) and isinstance(err["code"], str) and "param" in err
    return err


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("completions", {"prompt": "KING:", "n": 5}, "n"),
        ("completions", {"prompt": "KING:", "max_tokens": 4001}, "max_tokens"),
        ("completions", {"prompt": "KING:", "logprobs": 6}, "logprobs"),
        ("completions", {"prompt": list(range(1, 66))}, "prompt"),  # 65 tokens > context 64
        (
            "chat/completions",
            {"messages": [{"role": "user", "content": "hi"}], "logprobs": True, "top_logprobs": 6},
            "top_logprobs",
        ),
        (
            "chat/completions",
            {"messages": [{"role": "user", "content": "hi"}], "logprobs": True, "top_logprobs": -1},
            "top_logprobs",
        ),
        ("chat/completions", {"messages": [{"role": "user", "content": "hi"}], "n": 5}, "n"),
        ("chat/completions", {"messages": [{"role": "user", "content": "hi " * 80}]}, "messages"),
    ],
)
def test_limits_are_clear_400s(server, path, body, param):
    url, _ = server
    r = requests.post(f"{url}/{path}", json=body, timeout=30)
    err = _is_error(r, 400)
    assert err["param"] == param
    if param in ("prompt", "messages") and "n" not in body:
        assert err["code"] == "context_length_exceeded" and "maximum context length is 64" in err["message"]


BAD = [
    ("completions", b"{not json"),
    ("completions", b"[1, 2]"),
    ("completions", b""),
    ("completions", {"max_tokens": 3}),
    ("completions", {"prompt": []}),
    ("completions", {"prompt": [[]]}),
    ("completions", {"prompt": [1.5, 2]}),
    ("completions", {"prompt": [10**6]}),
    ("completions", {"prompt": "x", "n": 0}),
    ("completions", {"prompt": "x", "n": "many"}),
    ("completions", {"prompt": "x", "temperature": -1}),
    ("completions", {"prompt": "x", "max_tokens": -1}),
    ("completions", {"prompt": "x", "stop": ["a", "b", "c", "d", "e"]}),
    ("completions", {"prompt": "x", "top_p": 0}),
    ("completions", {"prompt": "x", "logprobs": -1}),
    ("completions", {"prompt": "x", "suffix": "y"}),
    ("completions", {"prompt": "x", "best_of": 3}),
    ("completions", {"prompt": "x", "logit_bias": {"1": 5}}),
    ("completions", {"prompt": "x", "presence_penalty": 1.0}),
    ("completions", {"prompt": "x", "echo": {"a": 1}}),
    ("chat/completions", {"messages": []}),
    ("chat/completions", {"messages": "hi"}),
    ("chat/completions", {"messages": [{"role": "tool", "content": "x"}]}),
    ("chat/completions", {"messages": [{"role": "user"}]}),
    (
        "chat/completions",
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
    ),
    ("chat/completions", {"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 0}),
    ("chat/completions", {"messages": [{"role": "user", "content": "hi"}], "top_logprobs": 2}),
    ("chat/completions", {"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function"}]}),
    ("chat/completions", {"messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "json_schema"}}),
]


def test_bad_inputs_are_4xx_error_objects(server):
    url, _ = server
    for path, body in BAD:
        if isinstance(body, bytes):
            r = requests.post(f"{url}/{path}", data=body, headers={"Content-Type": "application/json"}, timeout=10)
        else:
            r = requests.post(f"{url}/{path}", json=body, timeout=10)
        try:
            _is_error(r, 400)
        except AssertionError as exc:
            raise AssertionError(f"{path} {body!r}: {exc}") from None
    _is_error(requests.get(f"{url}/nowhere", timeout=10), 404)
    _is_error(requests.get(f"{url}/completions", timeout=10), 405)
    err = _is_error(requests.post(f"{url}/completions", data=b"x" * (100 << 10), timeout=30), 413)
    assert err["code"] == "request_too_large"
    with pytest.raises(openai.APIStatusError) as e:  # the official client sees the 413, not a broken pipe
        _client(url).completions.create(model="model", prompt="x" * (100 << 10), max_tokens=1)
    assert e.value.status_code == 413


def _steps_settle(state, timeout: float = 10.0) -> int:
    """Wait until the server's decoding-step counter stops moving; its final value."""
    last, t0 = state.active_steps, time.monotonic()
    while time.monotonic() - t0 < timeout:
        time.sleep(0.3)
        now = state.active_steps
        if now == last:
            return now
        last = now
    raise AssertionError("the server kept decoding")


def test_work_stops_when_the_client_disconnects(server, tiny):
    url, state = server
    c = _client(url)
    before = _steps_settle(state)
    stream = c.completions.create(model=tiny.model, prompt="KING:", max_tokens=4000, temperature=1.0, stream=True)
    for i, _ in enumerate(stream):
        if i == 2:
            break
    stream.close()
    assert _steps_settle(state) - before < 4000  # abandoned long before max_tokens
    before = state.active_steps
    with pytest.raises(requests.Timeout):
        requests.post(
            f"{url}/completions", json={"prompt": "KING:", "max_tokens": 4000, "temperature": 1.0}, timeout=0.3
        )
    assert _steps_settle(state) - before < 4000
    # A retry does not queue behind the abandoned request.
    t0 = time.monotonic()
    c.completions.create(model=tiny.model, prompt="KING:", max_tokens=4, temperature=0)
    assert time.monotonic() - t0 < 5


def test_api_key_errors_use_the_error_object(tiny):
    srv, url = serve_in_thread(tiny, "127.0.0.1", 0, api_key="s3cret")
    try:
        with pytest.raises(openai.AuthenticationError) as e:
            _client(url).models.list()
        assert e.value.body["code"] == "invalid_api_key"
        ok = openai.OpenAI(base_url=url, api_key="s3cret", max_retries=0)
        assert ok.models.list().data[0].id == tiny.model
        assert requests.get(url.removesuffix("/v1") + "/health", timeout=10).json() == {"status": "ok"}
    finally:
        srv.shutdown()
        srv.server_close()


def test_raw_error_body_shape(server):
    url, _ = server
    r = requests.post(f"{url}/completions", json={"prompt": "x", "model": "nope"}, timeout=10)
    assert r.status_code == 404
    assert json.loads(r.text) == {
        "error": {
            "message": "The model `nope` does not exist.",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found",
        }
    }


def test_a_server_failure_mid_stream_reaches_the_client(server, tiny, monkeypatch):
    url, state = server

    def broken(*args, **kwargs):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(state, "step", broken)
    c = _client(url)
    with pytest.raises(openai.APIError, match="injected failure"):
        for _ in c.completions.create(model=tiny.model, prompt="KING:", max_tokens=4, stream=True):
            pass
    with pytest.raises(openai.InternalServerError) as e:  # a server bug: 500 with an error object
        c.chat.completions.create(model=tiny.model, messages=[{"role": "user", "content": "hi"}], max_tokens=4)
    assert e.value.body["code"] == "internal_error"
