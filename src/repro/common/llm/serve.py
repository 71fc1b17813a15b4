"""An OpenAI-compatible HTTP server for local models (tiny model dirs, HF checkpoints).

    python -m repro.common.llm.serve --model results/tiny/x/model [--host 127.0.0.1 --port 8000]

Serves ``GET /v1/models``, ``GET /v1/models/{id}``, ``POST /v1/completions`` and
``POST /v1/chat/completions`` in the OpenAI wire format (FastAPI + uvicorn, pydantic
request models), so the ``openai`` backend, the official ``openai`` client,
lm-evaluation-harness (``local-completions``, token-id prompts and echo scoring) and
other OpenAI-speaking tools can use a pipeline-trained model as they would a vLLM
server at paper scale.

Supported: ``stream`` (server-sent events, ``stream_options.include_usage``), ``n``,
``temperature``, ``top_p``, ``top_k`` (vLLM extension), ``seed``, ``stop``,
``max_tokens``/``max_completion_tokens``, completions ``logprobs``/``echo`` (the
generated EOS token is returned with its log-prob, as vLLM does) and prompts as text
or token ids, chat ``logprobs``/``top_logprobs``, text content parts and the
``developer`` role. Not supported (a 400 names the parameter): tools, structured
output, penalties, ``logit_bias``, ``suffix``, ``best_of`` != n. A ``model`` other
than the served name is a 404, as in OpenAI and vLLM. Defaults follow the OpenAI API
(``temperature=1``, ``max_tokens=16`` for completions; 256 for chat).

Limits (a 400 above them): ``--max-n``, ``--max-tokens``, ``--max-logprobs``, a
prompt longer than the model's context; a body over ``--max-body`` is a 413.
Generation past the context continues on a sliding window (vLLM refuses instead).

One forward pass at a time: concurrent requests interleave token by token on one
model (no batching across requests), so this is a development and test server; use
vLLM for throughput. Work stops when the client disconnects. It binds to 127.0.0.1
by default; ``--api-key-env NAME`` requires ``Authorization: Bearer $NAME``.

Strict mode, for rehearsing paper-scale code against a local stand-in of an OpenAI model:

    python -m repro.common.llm.serve --model DIR --served-model-name gpt-4o --strict --model-kind chat

``--model-kind chat|completion`` declares the one endpoint the model is served on, as
OpenAI serves each model (a chat model on ``/v1/completions`` is OpenAI's 404, "This is a
chat model and not supported in the v1/completions endpoint", and the converse on chat);
``--strict`` (which needs ``--model-kind``) also refuses request fields the OpenAI API
does not define (400 naming the field; vLLM extensions such as ``top_k`` included),
a missing ``model``, completions ``logprobs`` above 5 and chat ``top_logprobs`` above
20 or without ``logprobs: true``, as the API reference documents. Without ``--strict``
nothing changes: unknown fields are ignored and ``--max-logprobs`` caps both, as in vLLM.
"""

from __future__ import annotations

import argparse
import os
import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from repro.common.llm.local import LocalLM


def load_local_llm(path: str | os.PathLike[str], *, device: str = "auto") -> LocalLM:
    """A repro model directory -> ``tiny`` backend; any other path or id -> ``hf`` backend."""
    from repro.common.lm.models import CONFIG_FILE

    if (Path(path) / CONFIG_FILE).is_file():
        from repro.common.llm.tiny import TinyLLM

        return TinyLLM(path, device=device)
    from repro.common.llm.hf import HFLLM

    return HFLLM(str(path), device=device)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


class ServerThread:
    """A uvicorn server on a background thread (tests, notebooks).

    ``url`` is the ``/v1`` base URL. Stop with :meth:`shutdown` (then :meth:`server_close`,
    kept for the old ``http.server`` interface), or use it as a context manager.
    """

    def __init__(self, app, sock: socket.socket, *, verbose: bool = False) -> None:
        import uvicorn

        self.app = app
        self.socket = sock
        host, port = sock.getsockname()[:2]
        self.server_address = (host, port)
        self.url = f"http://{host}:{port}/v1"
        config = uvicorn.Config(
            app,
            log_level="info" if verbose else "warning",
            access_log=verbose,
            lifespan="off",
            timeout_graceful_shutdown=2,
            http="h11",
            loop="asyncio",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, name="llm-serve", daemon=True
        )

    def start(self, timeout: float = 30.0) -> ServerThread:
        self.thread.start()
        t0 = time.monotonic()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the server thread died while starting")
            if time.monotonic() - t0 > timeout:
                raise RuntimeError("the server did not start in time")
            time.sleep(0.01)
        return self

    def shutdown(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def server_close(self) -> None:
        self.socket.close()

    def __enter__(self) -> ServerThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


def make_app(
    llm: LocalLM,
    *,
    api_key: str | None = None,
    served_name: str | None = None,
    strict: bool = False,
    model_kind: str | None = None,
    **limits: Any,
):
    """The FastAPI app serving ``llm``; ``limits`` are :class:`~repro.common.llm.server.app.Limits` fields.

    ``strict`` and ``model_kind`` are :class:`~repro.common.llm.server.app.OpenAIServer`'s
    (the module docstring's strict mode).
    """
    from repro.common.llm.server.app import Limits, OpenAIServer, create_app

    state = OpenAIServer(
        llm,
        limits=Limits(**limits),
        api_key=api_key,
        served_name=served_name,
        strict=strict,
        model_kind=model_kind,
    )
    return create_app(state)


def serve_in_thread(
    llm: LocalLM,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    api_key: str | None = None,
    verbose: bool = False,
    served_name: str | None = None,
    strict: bool = False,
    model_kind: str | None = None,
    **limits: Any,
):
    """Start a server on a background thread; returns ``(server, base_url)``.

    ``port=0`` picks a free port. Call ``server.shutdown(); server.server_close()`` to stop it.
    ``strict``/``model_kind``: see :func:`make_app`.
    """
    app = make_app(llm, api_key=api_key, served_name=served_name, strict=strict, model_kind=model_kind, **limits)
    server = ServerThread(app, _bind(host, port), verbose=verbose).start()
    return server, server.url


def main(argv: Sequence[str] | None = None) -> int:
    from repro.common.llm.server.app import Limits

    d = Limits()
    ap = argparse.ArgumentParser(
        prog="python -m repro.common.llm.serve",
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[2:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--model", required=True, help="repro model directory or HF checkpoint path/id")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000, help="0 picks a free port (printed on start)")
    ap.add_argument("--device", default="auto")
    ap.add_argument(
        "--served-model-name", default=None, help="model id to report and accept (default: the directory name)"
    )
    ap.add_argument("--api-key-env", default=None, help="require 'Authorization: Bearer $API_KEY_ENV'")
    ap.add_argument("--max-n", type=int, default=d.max_n, help="most samples per prompt (n)")
    ap.add_argument("--max-tokens", type=int, default=d.max_tokens, help="most generated tokens per sample")
    ap.add_argument("--max-logprobs", type=int, default=d.max_logprobs, help="most logprobs/top_logprobs")
    ap.add_argument("--max-prompts", type=int, default=d.max_prompts, help="most prompts per completions request")
    ap.add_argument("--max-body", type=int, default=d.max_body, help="largest request body in bytes (413 above)")
    ap.add_argument(
        "--model-kind",
        choices=("chat", "completion"),
        default=None,
        help="serve the model on this endpoint only, as OpenAI does (default: both, as vLLM does)",
    )
    ap.add_argument(
        "--strict",
        action="store_true",
        help="refuse what the OpenAI API refuses (unknown fields, logprobs > 5, top_logprobs > 20); needs --model-kind",
    )
    ap.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = ap.parse_args(argv)
    api_key = None
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env)
        if not api_key:
            ap.error(f"environment variable {args.api_key_env} is not set")
    if args.strict and args.model_kind is None:
        ap.error("--strict needs --model-kind chat|completion (OpenAI serves each model on one endpoint)")
    for name in ("max_n", "max_tokens", "max_logprobs", "max_prompts", "max_body"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1")
    llm = load_local_llm(args.model, device=args.device)
    if args.served_model_name:
        llm.model = args.served_model_name
    app = make_app(
        llm,
        api_key=api_key,
        strict=args.strict,
        model_kind=args.model_kind,
        max_n=args.max_n,
        max_tokens=args.max_tokens,
        max_logprobs=args.max_logprobs,
        max_prompts=args.max_prompts,
        max_body=args.max_body,
    )
    sock = _bind(args.host, args.port)
    host, port = sock.getsockname()[:2]
    print(f"serving {llm.model!r} on http://{host}:{port}/v1", flush=True)
    import uvicorn

    config = uvicorn.Config(
        app,
        log_level="info" if args.verbose else "warning",
        access_log=args.verbose,
        lifespan="off",
        http="h11",
        loop="asyncio",
        timeout_graceful_shutdown=5,
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["ServerThread", "load_local_llm", "main", "make_app", "serve_in_thread"]
