"""Request models of the OpenAI API subset the server implements (pydantic v2).

Field names, types and defaults follow the OpenAI API reference (``/v1/completions``,
``/v1/chat/completions``); ``top_k`` is vLLM's extension. Unknown fields are ignored,
as vLLM does, except the ones whose meaning the server cannot honour
(:meth:`unsupported`), which are refused with a 400 naming the parameter.

Strict mode (``serve --strict``) refuses what the OpenAI API refuses instead: a field
outside :data:`COMPLETION_FIELDS` / :data:`CHAT_FIELDS` (the request fields of the
official ``openai`` client's ``CompletionCreateParams`` TypedDicts; a unit test keeps
the two sets equal to the pinned client's), and log-prob requests above
:data:`OPENAI_MAX_LOGPROBS` / :data:`OPENAI_MAX_TOP_LOGPROBS` (the API reference: "The
maximum value for logprobs is 5"; ``top_logprobs`` "between 0 and 20", and
``logprobs`` "must be set to true if this parameter is used").
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from repro.common.llm.openai_api import OPENAI_MAX_LOGPROBS, OPENAI_MAX_TOP_LOGPROBS


class APIError(Exception):
    """An error answered with an OpenAI-style error object.

    ``{"error": {"message", "type", "param", "code"}}``; ``code`` is a string, or None
    where the OpenAI API sends ``null`` (its wrong-endpoint 404s, mirrored in strict mode).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = "invalid_value",
        kind: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.kind = kind or _KIND.get(status, "invalid_request_error")

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


_KIND = {
    401: "authentication_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    500: "server_error",
    503: "server_error",
}


# The request fields of the OpenAI API, as the official client (openai 3.57.0) types them in
# openai/types/completion_create_params.py and openai/types/chat/completion_create_params.py
# (CompletionCreateParamsBase plus 'stream'). Committed rather than imported so that the server
# does not depend on the client (a test dependency); test_strict_server checks them against it.
COMPLETION_FIELDS = frozenset(
    {
        "best_of",
        "echo",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "max_tokens",
        "model",
        "n",
        "presence_penalty",
        "prompt",
        "seed",
        "stop",
        "stream",
        "stream_options",
        "suffix",
        "temperature",
        "top_p",
        "user",
    }
)
CHAT_FIELDS = frozenset(
    {
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "messages",
        "metadata",
        "modalities",
        "model",
        "moderation",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
        "verbosity",
        "web_search_options",
    }
)
MODEL_KINDS = ("chat", "completion")  # the endpoint an OpenAI model is served on (strict mode)


def check_known_fields(body: dict[str, Any], known: frozenset[str]) -> None:
    """Strict mode: refuse the first top-level field the OpenAI API does not define.

    vLLM and the default mode ignore such fields (a typo such as ``max_token`` or a vLLM
    extension such as ``top_k`` passes unnoticed); the OpenAI API answers a 400.
    """
    for name in body:
        if name not in known:
            raise APIError(
                400,
                f"Unrecognized request argument supplied: {name}",
                param=name,
                code="unknown_parameter",
            )


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool | None = False


class _Sampling(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str | None = None  # optional, as in vLLM: the served model
    n: int = 1
    temperature: float | None = None  # None -> 1.0 (OpenAI default)
    top_p: float | None = None
    top_k: int | None = None  # vLLM extension; None, 0 or -1 -> no top-k restriction
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    user: str | None = None

    def stops(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)

    def unsupported(self) -> None:
        """Refuse parameters whose non-default values the server cannot honour."""
        for name in ("presence_penalty", "frequency_penalty"):
            if getattr(self, name):
                raise APIError(
                    400, f"'{name}' is not supported by this server (only 0)", param=name, code="unsupported_parameter"
                )
        if self.logit_bias:
            raise APIError(
                400, "'logit_bias' is not supported by this server", param="logit_bias", code="unsupported_parameter"
            )


class CompletionRequest(_Sampling):
    """``POST /v1/completions``. ``prompt``: text, list of texts, token ids, or lists of token ids."""

    prompt: str | list[str] | list[int] | list[list[int]] | None = None
    max_tokens: int | None = 16
    echo: bool | None = False
    logprobs: int | None = None
    best_of: int | None = None
    suffix: str | None = None

    def unsupported(self) -> None:
        super().unsupported()
        if self.suffix:
            raise APIError(
                400,
                "'suffix' (insertion) is not supported by this server",
                param="suffix",
                code="unsupported_parameter",
            )
        if self.best_of is not None and self.best_of != self.n:
            raise APIError(
                400,
                "'best_of' other than n is not supported by this server",
                param="best_of",
                code="unsupported_parameter",
            )


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: str
    content: str | list[TextPart] | None = None
    name: str | None = None


class ChatRequest(_Sampling):
    """``POST /v1/chat/completions``."""

    messages: list[ChatMessage] = Field(default_factory=list)
    max_tokens: int | None = None  # deprecated by OpenAI in favour of max_completion_tokens
    max_completion_tokens: int | None = None
    logprobs: bool | None = False
    top_logprobs: int | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    response_format: dict[str, Any] | None = None

    def unsupported(self) -> None:
        super().unsupported()
        if self.tools:
            raise APIError(
                400,
                "tool calling ('tools') is not supported by this server",
                param="tools",
                code="unsupported_parameter",
            )
        if self.response_format and self.response_format.get("type", "text") != "text":
            raise APIError(
                400,
                "'response_format' other than {'type': 'text'} is not supported by this server",
                param="response_format",
                code="unsupported_parameter",
            )


ROLES = ("system", "developer", "user", "assistant")  # 'developer' is served as 'system'

__all__ = [
    "CHAT_FIELDS",
    "COMPLETION_FIELDS",
    "MODEL_KINDS",
    "OPENAI_MAX_LOGPROBS",
    "OPENAI_MAX_TOP_LOGPROBS",
    "ROLES",
    "APIError",
    "ChatMessage",
    "ChatRequest",
    "CompletionRequest",
    "StreamOptions",
    "TextPart",
    "check_known_fields",
]
