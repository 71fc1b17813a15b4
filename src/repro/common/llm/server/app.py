"""The FastAPI application: routes, validation, limits, streaming, disconnects.

Routes: ``GET /v1/models``, ``GET /v1/models/{id}``, ``POST /v1/completions``,
``POST /v1/chat/completions``, ``GET /health``. Every error is an OpenAI-style
object ``{"error": {"message", "type", "param", "code"}}`` with a 4xx status for bad
input (a 500 only for a server bug). Streaming uses server-sent events
(``data: {chunk}`` lines, then ``data: [DONE]``), with ``stream_options.include_usage``.
Work stops when the client disconnects (checked between decoding steps).

Strict mode (``OpenAIServer(strict=True, model_kind=...)``) answers like the OpenAI API
where it is stricter than vLLM: a chat model on ``/v1/completions`` (or a completion
model on chat) is OpenAI's 404 with ``param: "model"`` and ``code: null``; a request
field the API does not define is a 400 naming it; ``model`` is required; completions
``logprobs`` <= 5, chat ``top_logprobs`` <= 20 and only with ``logprobs: true``. So a
rehearsal against this server fails where the real API would.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from repro.common.llm.local import LocalLM
from repro.common.llm.server.engine import Cancelled, Decoder, Delta, ModelRunner, RowText, Token
from repro.common.llm.server.protocol import (
    CHAT_FIELDS,
    COMPLETION_FIELDS,
    MODEL_KINDS,
    OPENAI_MAX_LOGPROBS,
    OPENAI_MAX_TOP_LOGPROBS,
    ROLES,
    APIError,
    ChatRequest,
    CompletionRequest,
    check_known_fields,
)


@dataclass(frozen=True)
class Limits:
    """Per-request caps, each refused with a 400 naming the parameter when exceeded."""

    max_n: int = 16  # samples per prompt (n)
    max_tokens: int = 4096  # generated tokens per sample
    max_logprobs: int = 20  # logprobs (completions) / top_logprobs (chat), as vLLM's default
    max_prompts: int = 256  # prompts in one completions request
    max_body: int = 16 << 20  # request body bytes (413 above)


# ---------------------------------------------------------------------------------------
# helpers


def _err_response(exc: APIError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


def _validation_error(exc: ValidationError | RequestValidationError) -> APIError:
    errs = exc.errors()
    first = errs[0] if errs else {}
    loc = [str(x) for x in first.get("loc", ()) if x != "body"]
    # Union members add their type name to the location (e.g. 'str', 'list[int]'): keep the field path.
    param = ".".join(
        x for x in loc if not any(c in x for c in "[]") and x not in ("str", "int", "float", "bool", "function-after")
    )
    param = param or None
    msg = first.get("msg", "invalid request")
    return APIError(
        400,
        f"Invalid value for '{param}': {msg}" if param else msg,
        param=param,
        code="invalid_type" if "type" in str(first.get("type", "")) else "invalid_value",
    )


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body; over ``limit`` bytes -> 413 after draining (so the client sees the
    answer instead of a broken pipe), up to 8x the limit, then the connection is dropped."""
    declared = request.headers.get("content-length")
    chunks, size, over = [], 0, False
    if declared is not None and declared.isdigit() and int(declared) > 8 * limit:
        raise APIError(
            413, f"request body of {declared} bytes exceeds the limit of {limit} bytes", code="request_too_large"
        )
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            over = True
            if size > 8 * limit:
                break
            continue
        chunks.append(chunk)
    if over:
        raise APIError(413, f"request body exceeds the limit of {limit} bytes", code="request_too_large")
    return b"".join(chunks)


def _parse(model: type[BaseModel], raw: bytes, known: frozenset[str] | None = None) -> Any:
    """The validated request; with ``known`` (strict mode), other top-level fields are a 400."""
    if not raw:
        raise APIError(400, "request body is empty; send a JSON object", code="invalid_json")
    try:
        obj = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise APIError(400, f"request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(obj, dict):
        raise APIError(400, "request body must be a JSON object", code="invalid_json")
    if known is not None:
        check_known_fields(obj, known)
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        raise _validation_error(exc) from None


def _check_range(name: str, value: float | None, lo: float | None, hi: float | None, what: str = "") -> None:
    if value is None:
        return
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bounds = f">= {lo}" if hi is None else f"between {lo} and {hi}"
        raise APIError(400, f"Invalid value for '{name}': expected a value {bounds}{what}, got {value}", param=name)


async def _watch_disconnect(request: Request, cancel: threading.Event) -> None:
    while True:
        msg = await request.receive()
        if msg["type"] == "http.disconnect":
            cancel.set()
            return


async def _run_cancellable(request: Request, fn: Callable[[threading.Event], Any]) -> Any:
    """Run ``fn(cancel)`` on a worker thread; ``cancel`` is set when the client disconnects."""
    cancel = threading.Event()
    result: list[Any] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(_watch_disconnect, request, cancel)
        try:
            result.append(await anyio.to_thread.run_sync(fn, cancel))
        except Cancelled as exc:
            result.append(exc)
        finally:
            tg.cancel_scope.cancel()
    if isinstance(result[0], Cancelled):
        raise result[0]
    return result[0]


def _sse(obj: Any) -> str:
    return f"data: {json.dumps(obj)}\n\n"


async def _guarded(events: AsyncIterator[str]) -> AsyncIterator[str]:
    """A failure after the stream started (headers sent) becomes an error event, as in vLLM;
    the ``openai`` client raises it as an ``APIError``."""
    try:
        async for ev in events:
            yield ev
    except Exception as exc:  # noqa: BLE001 - reported to the client, not swallowed
        yield _sse(APIError(500, f"{type(exc).__name__}: {exc}", code="internal_error").body())
        yield "data: [DONE]\n\n"


# ---------------------------------------------------------------------------------------
# the server state


class OpenAIServer:
    """Validation and response building around one :class:`LocalLM`.

    ``model_kind`` (``"chat"`` or ``"completion"``) declares the one endpoint the model is
    served on, as each OpenAI model is (gpt-4o: chat only; davinci-002: completions only);
    None serves both, as vLLM does. ``strict`` answers like the OpenAI API (module
    docstring) and needs ``model_kind``, since a rehearsal must say which kind of
    model it stands in for.
    """

    def __init__(
        self,
        llm: LocalLM,
        *,
        limits: Limits = Limits(),
        api_key: str | None = None,
        served_name: str | None = None,
        strict: bool = False,
        model_kind: str | None = None,
    ) -> None:
        if model_kind is not None and model_kind not in MODEL_KINDS:
            raise ValueError(f"model_kind must be one of {MODEL_KINDS} or None, not {model_kind!r}")
        if strict and model_kind is None:
            raise ValueError("strict mode needs model_kind ('chat' or 'completion'): OpenAI serves each model on one")
        self.strict = strict
        self.model_kind = model_kind
        self.runner = ModelRunner(llm)
        self.llm = llm
        self.limits = limits
        self.api_key = api_key
        self.name = served_name or llm.model
        self.created = int(time.time())
        self.active_steps = 0  # decoding steps run (tests check that work stops on disconnect)

    # -- common checks --------------------------------------------------------------------

    def check_model(self, name: str | None) -> None:
        if name is None and self.strict:
            raise APIError(400, "you must provide a model parameter", param="model", code="missing_required_parameter")
        if name is not None and name != self.name:
            raise APIError(404, f"The model `{name}` does not exist.", param="model", code="model_not_found")

    def check_endpoint(self, endpoint: str) -> None:
        """A model asked on the other endpoint than its ``model_kind``: the OpenAI API's 404."""
        if self.model_kind == "chat" and endpoint == "completion":
            raise APIError(
                404,
                "This is a chat model and not supported in the v1/completions endpoint. "
                "Did you mean to use v1/chat/completions?",
                param="model",
                code=None,
            )
        if self.model_kind == "completion" and endpoint == "chat":
            raise APIError(
                404,
                "This is not a chat model and thus not supported in the v1/chat/completions endpoint. "
                "Did you mean to use v1/completions?",
                param="model",
                code=None,
            )

    def logprobs_cap(self, openai_cap: int) -> tuple[int, str]:
        """The largest ``logprobs``/``top_logprobs`` accepted, and the limit named in the error."""
        if self.strict and openai_cap <= self.limits.max_logprobs:
            return openai_cap, " (the OpenAI API's limit)"
        return self.limits.max_logprobs, " (server limit --max-logprobs)"

    def check_sampling(self, req, max_tokens: int, max_name: str, min_tokens: int) -> None:
        req.unsupported()
        lim = self.limits
        _check_range("n", req.n, 1, lim.max_n, " (server limit --max-n)")
        _check_range(max_name, max_tokens, min_tokens, lim.max_tokens, " (server limit --max-tokens)")
        _check_range("temperature", req.temperature, 0, 2)
        if req.top_p is not None and not 0 < req.top_p <= 1:
            raise APIError(400, f"Invalid value for 'top_p': expected 0 < top_p <= 1, got {req.top_p}", param="top_p")
        if req.top_k is not None and (req.top_k < -1):
            raise APIError(400, "Invalid value for 'top_k': expected -1, 0 (off) or a positive integer", param="top_k")
        stops = req.stops()
        if len(stops) > 4 or any(len(s) > 256 for s in stops):
            raise APIError(400, "'stop' takes at most 4 strings of at most 256 characters", param="stop")

    def check_prompt(self, ids: Sequence[int], param: str) -> list[int]:
        ids = list(ids)
        if not ids:
            raise APIError(400, f"'{param}' is empty", param=param)
        bad = [t for t in ids if not 0 <= t < self.runner.vocab_size]
        if bad:
            raise APIError(
                400,
                f"token id {bad[0]} in '{param}' is outside the vocabulary [0, {self.runner.vocab_size})",
                param=param,
            )
        if len(ids) > self.runner.context:
            raise APIError(
                400,
                f"This model's maximum context length is {self.runner.context} tokens. However, "
                f"your prompt has {len(ids)} tokens. Please reduce the length of the prompt.",
                param=param,
                code="context_length_exceeded",
            )
        return ids

    def decoder(self, req, prompt: list[int], max_tokens: int, n_top: int) -> Decoder:
        temperature = 1.0 if req.temperature is None else float(req.temperature)
        top_k = req.top_k if req.top_k and req.top_k > 0 else None
        return Decoder(
            self.runner,
            prompt,
            n=req.n,
            max_tokens=max_tokens,
            temperature=temperature,
            top_k=top_k,
            top_p=1.0 if req.top_p is None else float(req.top_p),
            seed=req.seed,
            n_top=n_top,
        )

    def run_rows(self, dec: Decoder, rows: list[RowText], cancel: threading.Event | None) -> list[list[Delta]]:
        """Decode to the end; each row's deltas (one per step)."""
        out: list[list[Delta]] = [[] for _ in rows]
        while not dec.finished:
            if cancel is not None and cancel.is_set():
                raise Cancelled("client disconnected")
            for r, d in enumerate(self.step(dec, rows)):
                out[r].append(d)
        return out

    def step(self, dec: Decoder, rows: list[RowText]) -> list[Delta]:
        steps = dec.advance()
        self.active_steps += 1
        return [row.push(s, last=dec.done[r]) for r, (row, s) in enumerate(zip(rows, steps, strict=True))]

    # -- completions --------------------------------------------------------------------

    def completion_prompts(self, req: CompletionRequest) -> list[tuple[list[int], str]]:
        p = req.prompt
        if p is None:
            raise APIError(400, "you must provide a 'prompt'", param="prompt", code="missing_required_parameter")
        if isinstance(p, str):
            items: list[str | list[int]] = [p]
        elif p and all(isinstance(x, int) for x in p):
            items = [list(p)]  # one prompt of token ids
        else:
            items = list(p)
        if not items:
            raise APIError(400, "'prompt' is an empty list", param="prompt")
        if len(items) > self.limits.max_prompts:
            raise APIError(
                400, f"at most {self.limits.max_prompts} prompts per request (got {len(items)})", param="prompt"
            )
        out = []
        for it in items:
            if isinstance(it, str):
                out.append((self.check_prompt(self.llm.prompt_ids(it), "prompt"), it))
            else:
                ids = self.check_prompt(it, "prompt")
                out.append((ids, self.llm.decode(ids)))
        return out

    def prepare_completion(self, req: CompletionRequest):
        self.check_model(req.model)
        self.check_endpoint("completion")
        max_tokens = 16 if req.max_tokens is None else req.max_tokens
        self.check_sampling(req, max_tokens, "max_tokens", 0)
        cap, what = self.logprobs_cap(OPENAI_MAX_LOGPROBS)
        _check_range("logprobs", req.logprobs, 0, cap, what)
        prompts = self.completion_prompts(req)
        return prompts, max_tokens

    def echo_tokens(self, ids: list[int], k: int) -> list[Token]:
        """The echoed prompt's tokens with their log-probs (the first has none) and offsets."""
        lps, tops = self.runner.score(ids, k)
        toks = []
        for i, t in enumerate(ids):
            off = len(self.llm.decode(ids[:i])) if i else 0
            toks.append(
                Token(
                    t,
                    self.runner.piece(t),
                    None if i == 0 else lps[i - 1],
                    () if i == 0 or not k else tuple(tops[i - 1]),
                    off,
                )
            )
        return toks

    def legacy_logprobs(self, toks: Sequence[Token], k: int) -> dict[str, Any]:
        return {
            "tokens": [t.text for t in toks],
            "token_logprobs": [t.logprob for t in toks],
            "top_logprobs": [None if t.logprob is None else self._top_dict(t, k) for t in toks],
            "text_offset": [t.offset for t in toks],
        }

    def _top_dict(self, t: Token, k: int) -> dict[str, float]:
        out: dict[str, float] = {}
        for i, v in t.top[:k]:
            out.setdefault(self.runner.piece(i), v)
        # Like OpenAI and vLLM, the sampled token is always listed (k may not include it).
        out.setdefault(t.text, t.logprob)
        return out

    def completion_sync(self, req: CompletionRequest, prompts, max_tokens, cancel) -> dict[str, Any]:
        choices, n_prompt, n_gen = [], 0, 0
        k = req.logprobs
        for pi, (ids, ptext) in enumerate(prompts):
            n_prompt += len(ids)
            base = len(ptext) if req.echo else 0
            rows = [RowText(self.runner, req.stops(), base=base) for _ in range(req.n)]
            deltas = self.run_rows(self.decoder(req, ids, max_tokens, k or 0), rows, cancel)
            echoed = self.echo_tokens(ids, k or 0) if (req.echo and k is not None) else []
            for j, (row, ds) in enumerate(zip(rows, deltas, strict=True)):
                text = "".join(d.text for d in ds)
                toks = [t for d in ds for t in d.tokens]
                n_gen += row.n_tokens
                choice: dict[str, Any] = {
                    "index": pi * req.n + j,
                    "text": (ptext + text) if req.echo else text,
                    "logprobs": None if k is None else self.legacy_logprobs(echoed + toks, k),
                    "finish_reason": row.finish_reason or "length",
                }
                choices.append(choice)
        return {
            "id": f"cmpl-{uuid.uuid4().hex[:24]}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": self.name,
            "choices": choices,
            "usage": {"prompt_tokens": n_prompt, "completion_tokens": n_gen, "total_tokens": n_prompt + n_gen},
        }

    async def completion_stream(self, req: CompletionRequest, prompts, max_tokens) -> AsyncIterator[str]:
        cid, created = f"cmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        k = req.logprobs
        include_usage = bool(req.stream_options and req.stream_options.include_usage)
        n_prompt = n_gen = 0

        def chunk(index: int, text: str, toks: Sequence[Token] | None, finish: str | None) -> str:
            return _sse(
                {
                    "id": cid,
                    "object": "text_completion",
                    "created": created,
                    "model": self.name,
                    "choices": [
                        {
                            "index": index,
                            "text": text,
                            "finish_reason": finish,
                            "logprobs": None if k is None or toks is None else self.legacy_logprobs(toks, k),
                        }
                    ],
                    **({"usage": None} if include_usage else {}),
                }
            )

        for pi, (ids, ptext) in enumerate(prompts):
            n_prompt += len(ids)
            base = len(ptext) if req.echo else 0
            if req.echo:
                echoed = (await anyio.to_thread.run_sync(self.echo_tokens, ids, k or 0)) if k is not None else []
                for j in range(req.n):
                    yield chunk(pi * req.n + j, ptext, echoed, None)
            rows = [RowText(self.runner, req.stops(), base=base) for _ in range(req.n)]
            dec = self.decoder(req, ids, max_tokens, k or 0)
            if dec.finished:  # max_tokens == 0
                for j in range(req.n):
                    yield chunk(pi * req.n + j, "", [], "length")
            while not dec.finished:
                deltas = await anyio.to_thread.run_sync(self.step, dec, rows)
                for j, d in enumerate(deltas):
                    if d.text or d.tokens or d.finish_reason:
                        yield chunk(pi * req.n + j, d.text, d.tokens, d.finish_reason)
            n_gen += sum(r.n_tokens for r in rows)
        if include_usage:
            yield _sse(
                {
                    "id": cid,
                    "object": "text_completion",
                    "created": created,
                    "model": self.name,
                    "choices": [],
                    "usage": {"prompt_tokens": n_prompt, "completion_tokens": n_gen, "total_tokens": n_prompt + n_gen},
                }
            )
        yield "data: [DONE]\n\n"

    # -- chat -------------------------------------------------------------------------------

    def chat_messages(self, req: ChatRequest) -> list[dict[str, str]]:
        if not req.messages:
            raise APIError(
                400, "'messages' must be a non-empty list", param="messages", code="missing_required_parameter"
            )
        out = []
        for i, m in enumerate(req.messages):
            if m.role not in ROLES:
                raise APIError(
                    400,
                    f"messages[{i}].role {m.role!r} is not supported (one of: "
                    f"{', '.join(ROLES)}; tool messages need tool calling, which is not supported)",
                    param=f"messages.[{i}].role",
                )
            if m.content is None:
                raise APIError(400, f"messages[{i}].content is missing", param=f"messages.[{i}].content")
            if isinstance(m.content, str):
                text = m.content
            else:
                parts = []
                for p in m.content:
                    if p.type != "text" or p.text is None:
                        raise APIError(
                            400,
                            f"messages[{i}].content: only text parts are supported (got {p.type!r})",
                            param=f"messages.[{i}].content",
                        )
                    parts.append(p.text)
                text = "\n".join(parts)
            # 'developer' is OpenAI's new name for 'system'.
            out.append({"role": "system" if m.role == "developer" else m.role, "content": text})
        return out

    def prepare_chat(self, req: ChatRequest):
        self.check_model(req.model)
        self.check_endpoint("chat")
        mt = req.max_completion_tokens if req.max_completion_tokens is not None else req.max_tokens
        name = "max_completion_tokens" if req.max_completion_tokens is not None else "max_tokens"
        max_tokens = 256 if mt is None else mt
        self.check_sampling(req, max_tokens, name, 1)
        cap, what = self.logprobs_cap(OPENAI_MAX_TOP_LOGPROBS)
        _check_range("top_logprobs", req.top_logprobs, 0, cap, what)
        # OpenAI refuses any top_logprobs (0 included) without logprobs; vLLM only a positive one.
        asks_top = req.top_logprobs is not None if self.strict else bool(req.top_logprobs)
        if asks_top and not req.logprobs:
            raise APIError(400, "'top_logprobs' needs 'logprobs': true", param="top_logprobs")
        messages = self.chat_messages(req)
        try:
            ids = self.llm.chat_prompt_ids(messages)
        except Exception as exc:  # a chat template refusing the conversation (e.g. role order)
            raise APIError(400, f"the model's chat template refused the messages: {exc}", param="messages") from None
        return self.check_prompt(ids, "messages"), max_tokens

    def _chat_lp(self, toks: Sequence[Token], k: int) -> list[dict[str, Any]]:
        return [
            {
                "token": t.text,
                "logprob": t.logprob,
                "bytes": list(t.text.encode("utf-8")),
                "top_logprobs": [
                    {"token": self.runner.piece(i), "logprob": v, "bytes": list(self.runner.piece(i).encode("utf-8"))}
                    for i, v in t.top[:k]
                ],
            }
            for t in toks
            if not t.special
        ]

    def _rows(self, req: ChatRequest) -> list[RowText]:
        return [RowText(self.runner, req.stops(), strip_lead=self.llm.chat_template is None) for _ in range(req.n)]

    def chat_sync(self, req: ChatRequest, ids, max_tokens, cancel) -> dict[str, Any]:
        k = req.top_logprobs or 0
        rows = self._rows(req)
        deltas = self.run_rows(self.decoder(req, ids, max_tokens, k), rows, cancel)
        choices = []
        for j, (row, ds) in enumerate(zip(rows, deltas, strict=True)):
            toks = [t for d in ds for t in d.tokens]
            choices.append(
                {
                    "index": j,
                    "message": {"role": "assistant", "content": "".join(d.text for d in ds)},
                    "logprobs": {"content": self._chat_lp(toks, k)} if req.logprobs else None,
                    "finish_reason": row.finish_reason or "length",
                }
            )
        n_gen = sum(r.n_tokens for r in rows)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.name,
            "choices": choices,
            "usage": {"prompt_tokens": len(ids), "completion_tokens": n_gen, "total_tokens": len(ids) + n_gen},
        }

    async def chat_stream(self, req: ChatRequest, ids, max_tokens) -> AsyncIterator[str]:
        cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        k = req.top_logprobs or 0
        include_usage = bool(req.stream_options and req.stream_options.include_usage)

        def chunk(index: int, delta: dict[str, Any], toks: Sequence[Token] | None, finish: str | None) -> str:
            return _sse(
                {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": self.name,
                    "choices": [
                        {
                            "index": index,
                            "delta": delta,
                            "finish_reason": finish,
                            "logprobs": {"content": self._chat_lp(toks, k)} if req.logprobs and toks else None,
                        }
                    ],
                    **({"usage": None} if include_usage else {}),
                }
            )

        for j in range(req.n):
            yield chunk(j, {"role": "assistant", "content": ""}, None, None)
        rows = self._rows(req)
        dec = self.decoder(req, ids, max_tokens, k)
        while not dec.finished:
            deltas = await anyio.to_thread.run_sync(self.step, dec, rows)
            for j, d in enumerate(deltas):
                if d.text or (req.logprobs and any(not t.special for t in d.tokens)):
                    yield chunk(j, {"content": d.text}, d.tokens, None)
                if d.finish_reason:
                    yield chunk(j, {}, None, d.finish_reason)
        if include_usage:
            n_gen = sum(r.n_tokens for r in rows)
            yield _sse(
                {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": self.name,
                    "choices": [],
                    "usage": {"prompt_tokens": len(ids), "completion_tokens": n_gen, "total_tokens": len(ids) + n_gen},
                }
            )
        yield "data: [DONE]\n\n"

    def model_card(self) -> dict[str, Any]:
        return {
            "id": self.name,
            "object": "model",
            "created": self.created,
            "owned_by": "repro",
            "max_model_len": self.runner.context,
        }


# ---------------------------------------------------------------------------------------
# the app


class _BearerAuth:
    """Pure ASGI middleware: ``Authorization: Bearer KEY`` on every route but ``/health``
    (a pure middleware, unlike ``@app.middleware``, leaves streaming and disconnect
    detection untouched)."""

    def __init__(self, app, key: str) -> None:
        self.app = app
        self.key = key

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope.get("path") not in ("/health", "/v1/health"):
            headers = dict(scope.get("headers") or [])
            if headers.get(b"authorization", b"").decode("latin-1") != f"Bearer {self.key}":
                exc = APIError(
                    401, "Incorrect API key provided (send 'Authorization: Bearer KEY')", code="invalid_api_key"
                )
                await _err_response(exc)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(state: OpenAIServer) -> FastAPI:
    """The FastAPI app serving ``state``'s model."""
    app = FastAPI(title="repro OpenAI-compatible server", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.server = state
    if state.api_key is not None:
        app.add_middleware(_BearerAuth, key=state.api_key)

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError):
        return _err_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _req_validation(request: Request, exc: RequestValidationError):
        return _err_response(_validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "invalid_request")
        msg = f"no route {request.method} {request.url.path}" if exc.status_code in (404, 405) else str(exc.detail)
        return _err_response(APIError(exc.status_code, msg, code=code))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception):
        return _err_response(APIError(500, f"{type(exc).__name__}: {exc}", code="internal_error"))

    @app.get("/health")
    @app.get("/v1/health")
    async def health():
        return {"status": "ok"}

    @app.get("/v1/models")
    @app.get("/models")
    async def models():
        return {"object": "list", "data": [state.model_card()]}

    @app.get("/v1/models/{model_id:path}")
    @app.get("/models/{model_id:path}")
    async def model(model_id: str):
        state.check_model(model_id)
        return state.model_card()

    @app.post("/v1/completions")
    @app.post("/completions")
    async def completions(request: Request):
        known = COMPLETION_FIELDS if state.strict else None
        req = _parse(CompletionRequest, await _read_body(request, state.limits.max_body), known)
        prompts, max_tokens = state.prepare_completion(req)
        if req.stream:
            return StreamingResponse(
                _guarded(state.completion_stream(req, prompts, max_tokens)), media_type="text/event-stream"
            )
        try:
            reply = await _run_cancellable(
                request, lambda cancel: state.completion_sync(req, prompts, max_tokens, cancel)
            )
        except Cancelled:
            return JSONResponse(
                {
                    "error": {
                        "message": "client disconnected",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "client_disconnected",
                    }
                },
                status_code=499,
            )
        return JSONResponse(reply)

    @app.post("/v1/chat/completions")
    @app.post("/chat/completions")
    async def chat(request: Request):
        req = _parse(
            ChatRequest, await _read_body(request, state.limits.max_body), CHAT_FIELDS if state.strict else None
        )
        ids, max_tokens = state.prepare_chat(req)
        if req.stream:
            return StreamingResponse(_guarded(state.chat_stream(req, ids, max_tokens)), media_type="text/event-stream")
        try:
            reply = await _run_cancellable(request, lambda cancel: state.chat_sync(req, ids, max_tokens, cancel))
        except Cancelled:
            return JSONResponse(
                {
                    "error": {
                        "message": "client disconnected",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "client_disconnected",
                    }
                },
                status_code=499,
            )
        return JSONResponse(reply)

    return app


__all__ = ["Limits", "OpenAIServer", "create_app"]
