"""Request models of the OpenAI API subset the server implements (pydantic v2).

Field names, types and defaults follow the OpenAI API reference (``/v1/completions``,
``/v1/chat/completions``); ``top_k`` is vLLM's extension. Unknown fields are ignored,
as vLLM does, except the ones whose meaning the server cannot honour
(:meth:`unsupported`), which are refused with a 400 naming the parameter.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class APIError(Exception):
    """An error answered with an OpenAI-style error object.

    ``{"error": {"message", "type", "param", "code"}}``; ``code`` is a string.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str = "invalid_value",
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

__all__ = ["APIError", "ChatMessage", "ChatRequest", "CompletionRequest", "ROLES", "StreamOptions", "TextPart"]
