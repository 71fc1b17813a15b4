"""A small OpenAI-compatible HTTP server for local models (tiny model dirs, HF checkpoints).

    python -m repro.common.llm.serve --model results/tiny/x/model [--host 127.0.0.1 --port 8000]

Serves ``GET /v1/models``, ``POST /v1/completions`` (``n``, ``temperature``,
``max_tokens``, ``stop``, ``seed``, ``top_k``, ``logprobs``, ``echo``) and ``POST
/v1/chat/completions`` (``logprobs``/``top_logprobs`` too), in the OpenAI wire
format, so the ``openai`` backend (and any OpenAI client) can use a pipeline-trained
model exactly as it would use a vLLM server at paper scale. It is a development and
test server (stdlib ``ThreadingHTTPServer``, one model call at a time); use vLLM for
throughput. It binds to 127.0.0.1 by default; ``--api-key-env NAME`` requires
``Authorization: Bearer $NAME`` on every request.

Defaults follow the OpenAI API: ``temperature=1``, ``max_tokens=16`` for completions.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from repro.common.llm.local import LocalLM

MAX_BODY = 16 << 20  # refuse request bodies over 16 MiB


class BadRequest(ValueError):
    """A client error, answered with HTTP 400 and an OpenAI-style error object."""


def load_local_llm(path: str | os.PathLike[str], *, device: str = "auto") -> LocalLM:
    """A repro model directory -> ``tiny`` backend; any other path or id -> ``hf`` backend."""
    from repro.common.lm.models import CONFIG_FILE

    if (Path(path) / CONFIG_FILE).is_file():
        from repro.common.llm.tiny import TinyLLM

        return TinyLLM(path, device=device)
    from repro.common.llm.hf import HFLLM

    return HFLLM(str(path), device=device)


# ---------------------------------------------------------------------------------------
# Request handling (pure functions of the LocalLM, unit-testable without sockets)


def _get(body: dict[str, Any], name: str, typ, default):
    value = body.get(name, default)
    if value is None:
        return default
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, typ) or isinstance(value, bool) and typ is not bool:
        raise BadRequest(f"'{name}' must be of type {typ.__name__}")
    return value


def _stops(body: dict[str, Any]) -> list[str]:
    stop = body.get("stop")
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        return stop
    raise BadRequest("'stop' must be a string or a list of strings")


def _cut_tokens(llm: LocalLM, ids: list[int], stops: Sequence[str]) -> tuple[list[int], str, bool]:
    """Apply stop strings to generated ids: (kept ids, text, stopped_by_string)."""
    text = llm.decode(ids)
    cut = len(text)
    for s in stops:
        i = text.find(s) if s else -1
        if i != -1:
            cut = min(cut, i)
    if cut == len(text):
        return ids, text, False
    kept: list[int] = []
    for k in range(len(ids)):  # keep the tokens that start before the cut
        if len(llm.decode(ids[:k])) >= cut:
            break
        kept.append(ids[k])
    return kept, text[:cut], True


def _offsets(llm: LocalLM, ids: Sequence[int]) -> list[int]:
    return [len(llm.decode(list(ids[:i]))) for i in range(len(ids))]


def _completion_logprobs(
    llm: LocalLM, prompt_ids: list[int], gen_ids: list[int], k: int, echo: bool, text_start: int
) -> dict[str, Any]:
    """OpenAI legacy ``logprobs`` object for the returned tokens."""
    full = prompt_ids + gen_ids
    lps, tops = llm.score_ids(full, top_k=max(k, 0)) if len(full) > 1 else ([], [])
    first = 0 if echo else len(prompt_ids)
    toks, values, top_list = [], [], []
    for pos in range(first, len(full)):
        toks.append(llm.decode([full[pos]]))
        if pos == 0:
            values.append(None)
            top_list.append(None)
            continue
        values.append(lps[pos - 1])
        if k > 0:
            top_list.append({llm.decode([i]): v for i, v in tops[pos - 1]})
        else:
            top_list.append(None)
    if echo:
        offsets = _offsets(llm, full)
    else:
        offsets = [text_start + o for o in _offsets(llm, gen_ids)]
    return {"tokens": toks, "token_logprobs": values, "top_logprobs": top_list, "text_offset": offsets}


def handle_completions(llm: LocalLM, body: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/completions``."""
    prompt = body.get("prompt")
    prompts = [prompt] if isinstance(prompt, str) else prompt
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise BadRequest("'prompt' must be a string or a non-empty list of strings (token ids are not supported)")
    n = _get(body, "n", int, 1)
    temperature = _get(body, "temperature", float, 1.0)
    max_tokens = _get(body, "max_tokens", int, 16)
    seed = body.get("seed")
    if seed is not None and not isinstance(seed, int):
        raise BadRequest("'seed' must be an integer")
    logprobs = body.get("logprobs")
    if logprobs is not None and (not isinstance(logprobs, int) or isinstance(logprobs, bool) or logprobs < 0):
        raise BadRequest("'logprobs' must be a non-negative integer")
    echo = _get(body, "echo", bool, False)
    top_k = body.get("top_k")
    stops = _stops(body)
    if n < 1 or max_tokens < 0 or temperature < 0:
        raise BadRequest("need n >= 1, max_tokens >= 0, temperature >= 0")

    choices, n_prompt, n_gen = [], 0, 0
    for pi, p in enumerate(prompts):
        p_ids = llm.prompt_ids(p)
        n_prompt += len(p_ids)
        if max_tokens > 0:
            gens = llm.generate_ids([p_ids], n=n, temperature=temperature, max_tokens=max_tokens, seed=seed,
                                    top_k=top_k if isinstance(top_k, int) and top_k > 0 else None)[0]
        else:
            gens = [[] for _ in range(n)]
        for j, g in enumerate(gens):
            kept, text, by_string = _cut_tokens(llm, g, stops)
            n_gen += len(kept)
            finish = "stop" if by_string or len(g) < max_tokens else "length"
            out_text = (p + text) if echo else text
            choice: dict[str, Any] = {"index": pi * n + j, "text": out_text, "finish_reason": finish, "logprobs": None}
            if logprobs is not None:
                choice["logprobs"] = _completion_logprobs(llm, p_ids, kept, logprobs, echo, 0)
            choices.append(choice)
    return {
        "id": f"cmpl-{uuid.uuid4().hex[:24]}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": llm.model,
        "choices": choices,
        "usage": {"prompt_tokens": n_prompt, "completion_tokens": n_gen, "total_tokens": n_prompt + n_gen},
    }


def handle_chat(llm: LocalLM, body: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/chat/completions``."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(
        isinstance(m, dict) and isinstance(m.get("content"), str) and m.get("role") in ("system", "user", "assistant")
        for m in messages
    ):
        raise BadRequest("'messages' must be a non-empty list of {role, content} objects")
    n = _get(body, "n", int, 1)
    temperature = _get(body, "temperature", float, 1.0)
    max_tokens = _get(body, "max_tokens", int, body.get("max_completion_tokens") or 256)
    seed = body.get("seed")
    want_lp = _get(body, "logprobs", bool, False)
    top = _get(body, "top_logprobs", int, 0)
    stops = _stops(body)
    if n < 1 or max_tokens < 0 or temperature < 0:
        raise BadRequest("need n >= 1, max_tokens >= 0, temperature >= 0")
    p_ids = llm.chat_prompt_ids(messages)
    gens = llm.generate_ids([p_ids], n=n, temperature=temperature, max_tokens=max_tokens, seed=seed)[0]
    choices, n_gen = [], 0
    for j, g in enumerate(gens):
        kept, text, by_string = _cut_tokens(llm, g, stops)
        if llm.chat_template is None:
            text = text.lstrip()  # the plain template ends in "Assistant:"
        n_gen += len(kept)
        choice: dict[str, Any] = {
            "index": j,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop" if by_string or len(g) < max_tokens else "length",
            "logprobs": None,
        }
        if want_lp:
            lps, tops = llm.score_ids(p_ids + kept, top_k=top)
            content = []
            for t, tok in enumerate(kept):
                pos = len(p_ids) + t - 1
                content.append({
                    "token": llm.decode([tok]),
                    "logprob": lps[pos],
                    "top_logprobs": [{"token": llm.decode([i]), "logprob": v} for i, v in tops[pos]] if top else [],
                })
            choice["logprobs"] = {"content": content}
        choices.append(choice)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": llm.model,
        "choices": choices,
        "usage": {"prompt_tokens": len(p_ids), "completion_tokens": n_gen, "total_tokens": len(p_ids) + n_gen},
    }


# ---------------------------------------------------------------------------------------
# HTTP


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "repro-llm-serve/1"

    def log_message(self, fmt: str, *args: Any) -> None:
        if self.server.verbose:
            sys.stderr.write(f"{self.address_string()} - {fmt % args}\n")

    def _send(self, status: int, obj: dict[str, Any]) -> None:
        data = json.dumps(obj).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        self._send(status, {"error": {"message": message, "type": kind, "code": status}})

    def _authorised(self) -> bool:
        key = self.server.api_key
        if key is None:
            return True
        if self.headers.get("Authorization") == f"Bearer {key}":
            return True
        self._error(401, "missing or wrong API key", "authentication_error")
        return False

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        if not self._authorised():
            return
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self._send(200, {"object": "list", "data": [
                {"id": self.server.llm.model, "object": "model", "created": 0, "owned_by": "repro"}
            ]})
        elif self.path.rstrip("/") in ("/health", "/v1/health"):
            self._send(200, {"status": "ok"})
        else:
            self._error(404, f"no route {self.path}")

    def do_POST(self) -> None:  # noqa: N802
        if not self._authorised():
            return
        routes = {"/v1/completions": handle_completions, "/v1/chat/completions": handle_chat}
        fn = routes.get(self.path.rstrip("/"))
        if fn is None:
            self._error(404, f"no route {self.path}")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > MAX_BODY:
                raise BadRequest("request body missing or too large")
            body = json.loads(self.rfile.read(length))
            if not isinstance(body, dict):
                raise BadRequest("request body must be a JSON object")
            reply = fn(self.server.llm, body)
        except (BadRequest, json.JSONDecodeError, UnicodeDecodeError) as exc:
            self._error(400, str(exc))
        except Exception as exc:  # a server bug must answer 500, not hang the client
            self._error(500, f"{type(exc).__name__}: {exc}", "server_error")
        else:
            self._send(200, reply)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr, llm: LocalLM, api_key: str | None, verbose: bool) -> None:
        super().__init__(addr, _Handler)
        self.llm = llm
        self.api_key = api_key
        self.verbose = verbose


def make_server(
    llm: LocalLM, host: str = "127.0.0.1", port: int = 0, *, api_key: str | None = None, verbose: bool = False
) -> ThreadingHTTPServer:
    """An (unstarted) server for ``llm``; ``port=0`` picks a free port (see ``server_address``)."""
    return _Server((host, port), llm, api_key, verbose)


def serve_in_thread(llm: LocalLM, host: str = "127.0.0.1", port: int = 0, **kwargs: Any):
    """Start a server on a background thread; returns ``(server, base_url)``.

    Call ``server.shutdown(); server.server_close()`` to stop it.
    """
    server = make_server(llm, host, port, **kwargs)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="llm-serve",
                     daemon=True).start()
    h, p = server.server_address[:2]
    return server, f"http://{h}:{p}/v1"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m repro.common.llm.serve", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="repro model directory or HF checkpoint path/id")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000, help="0 picks a free port (printed on start)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--served-model-name", default=None, help="model id to report (default: directory name)")
    ap.add_argument("--api-key-env", default=None, help="require Bearer $API_KEY_ENV on requests")
    ap.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = ap.parse_args(argv)
    api_key = None
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env)
        if not api_key:
            ap.error(f"environment variable {args.api_key_env} is not set")
    llm = load_local_llm(args.model, device=args.device)
    if args.served_model_name:
        llm.model = args.served_model_name
    server = make_server(llm, args.host, args.port, api_key=api_key, verbose=args.verbose)
    host, port = server.server_address[:2]
    print(f"serving {llm.model!r} on http://{host}:{port}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = [
    "BadRequest",
    "handle_chat",
    "handle_completions",
    "load_local_llm",
    "main",
    "make_server",
    "serve_in_thread",
]
