"""Failure injection for the openai backend: a scripted fake server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from repro.common.llm import get_llm
from repro.common.llm.openai import LLMConnectionError, LLMHTTPError, LLMResponseError, LLMTimeoutError

OK = {"choices": [{"index": 0, "text": "fine", "finish_reason": "stop"}]}


class Script:
    """A list of canned replies, one per request; the last one repeats."""

    def __init__(self, *replies):
        self.replies = list(replies)
        self.seen = 0
        self.lock = threading.Lock()

    def next(self):
        with self.lock:
            reply = self.replies[min(self.seen, len(self.replies) - 1)]
            self.seen += 1
        return reply


@pytest.fixture
def fake():
    """Start a fake server; ``fake(script)`` returns its base URL."""
    servers = []

    def start(script: Script) -> str:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, body, delay, headers = script.next()
                if delay:
                    time.sleep(delay)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and hung up

        srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}/v1"

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def _client(url, **kw):
    opts = dict(model="m", base_url=url, max_retries=3, backoff=0.01, max_backoff=0.05, timeout=5)
    opts.update(kw)
    return get_llm("openai", **opts)


def test_429_then_success_is_retried(fake):
    script = Script(
        (429, {"error": "slow down"}, 0, {"Retry-After": "0"}), (503, {"error": "busy"}, 0, None), (200, OK, 0, None)
    )
    client = _client(fake(script))
    assert client.generate(["p"]) == [["fine"]]
    assert script.seen == 3 and client.requests_sent == 3


def test_persistent_500_gives_a_clear_error(fake):
    script = Script((500, {"error": "internal"}, 0, None))
    client = _client(fake(script), max_retries=2)
    with pytest.raises(LLMHTTPError, match=r"HTTP 500.*gave up after 3 attempts") as err:
        client.generate(["p"])
    assert err.value.status == 500 and script.seen == 3


def test_timeout_gives_a_clear_error(fake):
    script = Script((200, OK, 1.0, None))
    client = _client(fake(script), timeout=0.2, max_retries=1)
    t0 = time.perf_counter()
    with pytest.raises(LLMTimeoutError, match=r"timed out.*gave up after 2 attempts"):
        client.generate(["p"])
    assert time.perf_counter() - t0 < 5


@pytest.mark.parametrize(
    "body,match",
    [
        (b"<html>Bad gateway</html>", "malformed JSON"),
        (b"[1, 2]", "expected a JSON object"),
        ({"choices": []}, "no choices"),
        ({"object": "text_completion"}, "no choices"),
        ({"choices": [{"index": 0, "text": None}]}, "without text"),
        ({"choices": [{"index": 0, "message": {"content": None}}]}, "without text"),
    ],
)
def test_malformed_replies_are_clear_errors_never_empty_answers(fake, body, match):
    script = Script((200, body, 0, None))
    with pytest.raises(LLMResponseError, match=match):
        _client(fake(script)).generate(["p"])
    assert script.seen == 1  # a bad reply is not a transient failure: no retry


def test_fewer_choices_than_asked_is_an_error(fake):
    script = Script((200, OK, 0, None))
    with pytest.raises(LLMResponseError, match="asked for 2 choices, got 1"):
        _client(fake(script)).generate(["p"], n=2, temperature=1.0)
    chat = Script((200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": None}}]}, 0, None))
    with pytest.raises(LLMResponseError, match="message content"):
        _client(fake(chat)).chat([{"role": "user", "content": "hi"}])


def test_connection_refused_after_retries():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = _client(f"http://127.0.0.1:{port}/v1", max_retries=2)
    with pytest.raises(LLMConnectionError, match="gave up after 3 attempts"):
        client.generate(["p"])


def test_concurrency_limit(fake):
    active, peak, lock = [0], [0], threading.Lock()

    class Counting(Script):
        def next(self):
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            time.sleep(0.05)
            with lock:
                active[0] -= 1
            return super().next()

    client = _client(fake(Counting((200, OK, 0, None))), max_concurrency=3)
    assert client.generate([f"p{i}" for i in range(12)]) == [["fine"]] * 12
    assert 1 < peak[0] <= 3
    client.close()
