"""``openai`` backend: any OpenAI-compatible HTTP endpoint.

Works with the OpenAI API, with hosted OpenAI-compatible providers, and with a vLLM
server, which is the documented way to serve open models at paper scale
(DESIGN.md, "Beyond one machine")::

    vllm serve meta-llama/Llama-3.1-8B-Instruct --port 8000 --api-key $VLLM_API_KEY
    # params.yaml
    llm: {backend: openai, model: meta-llama/Llama-3.1-8B-Instruct,
          base_url: http://127.0.0.1:8000/v1, api_key_env: VLLM_API_KEY}

For the tiny scale, ``python -m repro.common.llm.serve --model DIR`` serves a model
directory behind the same API (that is also how this backend is tested).

Endpoints used: ``/completions`` (generation in ``mode="completions"``, continuation
log-probs with ``echo`` + ``logprobs``, next-token ``top_logprobs``) and
``/chat/completions`` (chat, generation in ``mode="chat"``, next-token log-probs in
chat mode). Continuation log-probs need ``echo`` with ``logprobs`` on the completions
endpoint (vLLM and the repro server have it; OpenAI's current models do not).

Robustness: requests run on a thread pool of ``max_concurrency``; 429, 5xx, timeouts
and connection errors are retried ``max_retries`` times with exponential backoff
(honouring ``Retry-After``); other 4xx fail at once. A reply that is not JSON, lacks
choices or text, or has fewer choices than asked raises :class:`LLMResponseError`:
never a silent empty answer. The API key is read from the environment variable
named by ``api_key_env`` (never from params).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from repro.common.llm.base import LLM, LLMError, Message, check_sampling, register

RETRY_STATUS = frozenset({429, 500, 502, 503, 504, 520, 521, 522, 524, 529})


class LLMHTTPError(LLMError):
    """The server answered with an HTTP error status."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class LLMTimeoutError(LLMError):
    """The server did not answer within the timeout (after all retries)."""


class LLMConnectionError(LLMError):
    """The server could not be reached (after all retries)."""


class LLMResponseError(LLMError):
    """The server answered, but not with a usable OpenAI-style reply."""


def _snippet(text: str, n: int = 300) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= n else text[:n] + "..."


@register("openai")
class OpenAILLM(LLM):
    """Client for an OpenAI-compatible server.

    ``mode`` chooses the endpoint behind :meth:`generate`: ``"completions"`` (raw
    text continuation; base models, vLLM) or ``"chat"`` (each prompt sent as one user
    message; chat-only APIs). ``extra_body`` is merged into every request (e.g.
    vLLM's ``top_k``). ``echo_max_tokens`` is the ``max_tokens`` sent with echo
    scoring requests (0 where the server allows it, else 1; extra tokens are ignored).
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str = "https://api.openai.com/v1",
        api_key_env: str | None = None,
        mode: str = "completions",
        max_concurrency: int = 8,
        timeout: float = 60.0,
        max_retries: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        extra_body: Mapping[str, Any] | None = None,
        echo_max_tokens: int = 0,
    ) -> None:
        if mode not in ("completions", "chat"):
            raise ValueError(f"mode must be 'completions' or 'chat', not {mode!r}")
        if max_concurrency < 1 or max_retries < 0 or timeout <= 0:
            raise ValueError("need max_concurrency >= 1, max_retries >= 0, timeout > 0")
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.mode = mode
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.extra_body = dict(extra_body or {})
        self.echo_max_tokens = echo_max_tokens
        self._headers = {"Content-Type": "application/json"}
        if api_key_env:
            key = os.environ.get(api_key_env)
            if not key:
                raise LLMError(
                    f"environment variable {api_key_env} (named by api_key_env) is not set; export the API key there"
                )
            self._headers["Authorization"] = f"Bearer {key}"
        self._local = threading.local()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._jitter = random.Random()
        self._count_lock = threading.Lock()
        self.requests_sent = 0  # attempts, retries included (for tests and logs)

    # -- transport -------------------------------------------------------------------------

    def _session(self) -> requests.Session:
        # requests.Session is not documented as thread-safe: one per worker thread.
        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = requests.Session()
        return s

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        delay = min(self.max_backoff, self.backoff * (2**attempt))
        delay *= 1.0 + 0.25 * self._jitter.random()  # de-synchronise concurrent retries
        if retry_after:
            try:
                delay = max(delay, min(float(retry_after), self.max_backoff))
            except ValueError:
                pass  # an HTTP-date Retry-After: keep our own backoff
        return delay

    def post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST JSON to ``base_url + path`` with retries; the decoded JSON object."""
        url = f"{self.base_url}{path}"
        payload = {**self.extra_body, **body}
        last: LLMError | None = None
        for attempt in range(self.max_retries + 1):
            retry_after = None
            with self._count_lock:
                self.requests_sent += 1
            try:
                r = self._session().post(url, json=payload, headers=self._headers, timeout=self.timeout)
            except requests.Timeout as exc:
                last = LLMTimeoutError(f"POST {url} timed out after {self.timeout}s: {exc}")
            except requests.ConnectionError as exc:
                last = LLMConnectionError(f"cannot connect to {url}: {exc}")
            else:
                if r.status_code in RETRY_STATUS or 500 <= r.status_code < 600:
                    last = LLMHTTPError(f"POST {url} -> HTTP {r.status_code}: {_snippet(r.text)}", r.status_code)
                    retry_after = r.headers.get("Retry-After")
                elif r.status_code >= 400:
                    raise LLMHTTPError(f"POST {url} -> HTTP {r.status_code}: {_snippet(r.text)}", r.status_code)
                else:
                    try:
                        data = r.json()
                    except ValueError:
                        raise LLMResponseError(
                            f"POST {url} -> HTTP {r.status_code} with malformed JSON: {_snippet(r.text)!r}"
                        ) from None
                    if not isinstance(data, dict):
                        raise LLMResponseError(f"POST {url}: expected a JSON object, got {_snippet(r.text)!r}")
                    if "error" in data and "choices" not in data:
                        raise LLMHTTPError(f"POST {url}: server error {data['error']!r:.300}", r.status_code)
                    return data
            if attempt < self.max_retries:
                time.sleep(self._delay(attempt, retry_after))
        assert last is not None
        raise type(last)(
            f"{last} (gave up after {self.max_retries + 1} attempts)",
            *([last.status] if isinstance(last, LLMHTTPError) else []),
        )

    def _map(self, fn, items: Sequence[Any]) -> list[Any]:
        if len(items) <= 1 or self.max_concurrency == 1:
            return [fn(x) for x in items]
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="openai-llm")
        return list(self._pool.map(fn, items))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    # -- reply parsing ---------------------------------------------------------------------

    @staticmethod
    def _choices(data: Mapping[str, Any], n: int, what: str) -> list[Mapping[str, Any]]:
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices:
            raise LLMResponseError(f"{what}: reply has no choices: {_snippet(str(data))}")
        if len(choices) < n:
            raise LLMResponseError(f"{what}: asked for {n} choices, got {len(choices)}")
        choices = sorted(choices, key=lambda c: c.get("index", 0) if isinstance(c, Mapping) else 0)
        return choices[:n]

    @staticmethod
    def _text(choice: Any, what: str) -> str:
        text = choice.get("text") if isinstance(choice, Mapping) else None
        if not isinstance(text, str):
            raise LLMResponseError(f"{what}: choice without text: {_snippet(str(choice))}")
        return text

    @staticmethod
    def _content(choice: Any, what: str) -> str:
        msg = choice.get("message") if isinstance(choice, Mapping) else None
        content = msg.get("content") if isinstance(msg, Mapping) else None
        if not isinstance(content, str):
            raise LLMResponseError(f"{what}: choice without message content: {_snippet(str(choice))}")
        return content

    # -- LLM interface -----------------------------------------------------------------------

    def _sampling(self, n, temperature, max_tokens, stop, seed) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "n": n, "temperature": temperature, "max_tokens": max_tokens}
        if stop:
            body["stop"] = list(stop)
        if seed is not None:
            body["seed"] = int(seed)
        return body

    def generate(self, prompts, n=1, temperature=0.0, max_tokens=256, stop=None, seed=None):
        check_sampling(n, temperature, max_tokens)
        if self.mode == "chat":
            return self._map(
                lambda p: self.chat(
                    [{"role": "user", "content": p}],
                    n=n,
                    temperature=temperature,
                    max_tokens=max_tokens,
                    stop=stop,
                    seed=seed,
                ),
                list(prompts),
            )
        base = self._sampling(n, temperature, max_tokens, stop, seed)

        def one(prompt: str) -> list[str]:
            data = self.post("/completions", {**base, "prompt": prompt})
            return [self._text(c, "completions") for c in self._choices(data, n, "completions")]

        return self._map(one, list(prompts))

    def chat(self, messages: Sequence[Message], n=1, temperature=0.0, max_tokens=256, stop=None, seed=None):
        check_sampling(n, temperature, max_tokens)
        body = {**self._sampling(n, temperature, max_tokens, stop, seed), "messages": [dict(m) for m in messages]}
        data = self.post("/chat/completions", body)
        return [self._content(c, "chat") for c in self._choices(data, n, "chat")]

    def logprobs(self, prompt: str, continuations: Sequence[str]) -> list[float]:
        """Sum of the log-probs of the tokens that start at or after ``len(prompt)``.

        The server tokenises ``prompt + continuation`` jointly (echo), so a token that
        straddles the boundary counts with the prompt; begin continuations with their
        separating space (``" Paris"``) so the boundary falls between tokens.
        """
        if self.mode == "chat":
            raise LLMError("continuation log-probs need the completions endpoint (echo); use mode='completions'")

        def one(cont: str) -> float:
            full = prompt + cont
            data = self.post(
                "/completions",
                {
                    "model": self.model,
                    "prompt": full,
                    "max_tokens": self.echo_max_tokens,
                    "echo": True,
                    "logprobs": 1,
                    "temperature": 0.0,
                },
            )
            lp = self._choices(data, 1, "logprobs")[0].get("logprobs")
            if not isinstance(lp, Mapping):
                raise LLMResponseError("logprobs: reply without logprobs (does the server support echo?)")
            offsets, values = lp.get("text_offset"), lp.get("token_logprobs")
            if not isinstance(offsets, list) or not isinstance(values, list) or len(offsets) != len(values):
                raise LLMResponseError("logprobs: reply lacks text_offset/token_logprobs of equal length")
            picked = [v for off, v in zip(offsets, values, strict=True) if len(prompt) <= off < len(full)]
            if not picked:
                raise LLMResponseError(f"logprobs: no tokens of continuation {cont!r} in the echoed prompt")
            if any(v is None for v in picked):
                raise LLMResponseError("logprobs: continuation starts the text (no context); give a prompt")
            return float(sum(picked))

        return self._map(one, list(continuations))

    def top_logprobs(self, prompt: str, k: int) -> dict[str, float]:
        if self.mode == "chat":
            data = self.post(
                "/chat/completions",
                {
                    "model": self.model,
                    "messages": [{"role": "user", "content": prompt}],
                    "max_tokens": 1,
                    "temperature": 0.0,
                    "logprobs": True,
                    "top_logprobs": k,
                },
            )
            try:
                first = self._choices(data, 1, "top_logprobs")[0]["logprobs"]["content"][0]["top_logprobs"]
                return {str(t["token"]): float(t["logprob"]) for t in first}
            except (KeyError, IndexError, TypeError) as exc:
                raise LLMResponseError(f"top_logprobs: unexpected chat logprobs format: {exc!r}") from None
        data = self.post(
            "/completions",
            {
                "model": self.model,
                "prompt": prompt,
                "max_tokens": 1,
                "temperature": 0.0,
                "logprobs": k,
            },
        )
        try:
            first = self._choices(data, 1, "top_logprobs")[0]["logprobs"]["top_logprobs"][0]
            return {str(t): float(v) for t, v in first.items()}
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise LLMResponseError(f"top_logprobs: unexpected logprobs format: {exc!r}") from None

    def describe(self) -> dict[str, Any]:
        # The endpoint URL is deliberately not part of the identity: the same model served
        # on another host or port (a vLLM server on a new node) shares cached answers.
        return {"backend": self.backend, "model": self.model, "mode": self.mode, "extra_body": self.extra_body}


__all__ = [
    "LLMConnectionError",
    "LLMHTTPError",
    "LLMResponseError",
    "LLMTimeoutError",
    "OpenAILLM",
]
