"""One interface for every language model the papers query (DESIGN.md, "LLM backends").

A paper's params.yaml names a backend and its options, e.g.::

    llm: {backend: openai, model: meta-llama/Llama-3.1-8B-Instruct,
          base_url: http://127.0.0.1:8000/v1, api_key_env: VLLM_API_KEY,
          cache: resources/llm_cache.sqlite}

and the library calls :func:`repro.common.llm.from_params` (or
:func:`repro.common.llm.get_llm`) to obtain an :class:`LLM`, wrapped in the disk cache
when ``cache`` is given. This module is the interface and the registry only (it knows
nothing of caching): backends register themselves with :func:`register` and
:func:`create_llm` instantiates one; the four built-in ones (``replay``, ``tiny``,
``hf``, ``openai``) are imported lazily on first use so that importing this module
stays cheap (no torch import for replay-only papers).

Sampling semantics shared by all backends: ``temperature == 0`` is greedy decoding;
``n`` samples per prompt; ``stop`` strings end a completion and are not included;
``seed`` makes sampling reproducible where the backend supports it (and is part of
the cache key, so cached samples are reproducible everywhere).
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Message = Mapping[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}


class LLMError(RuntimeError):
    """A backend could not answer (bad configuration, unreachable server, bad reply)."""


class LLM(ABC):
    """Abstract language model.

    Subclasses set :attr:`backend` (registry name) and :attr:`model` (model identifier),
    which the disk cache uses in its keys, and implement the three abstract methods.
    ``chat`` has a default that renders messages with :func:`render_chat` and calls
    :meth:`generate`; backends with a native chat format override it.
    """

    backend: str = "abstract"
    model: str = ""

    @abstractmethod
    def generate(
        self,
        prompts: Sequence[str],
        n: int = 1,
        temperature: float = 0.0,
        max_tokens: int = 256,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
    ) -> list[list[str]]:
        """``n`` completions (text after the prompt) for each prompt: ``out[i][j]``."""

    @abstractmethod
    def logprobs(self, prompt: str, continuations: Sequence[str]) -> list[float]:
        """Sum of token log-probs (natural log) of each continuation given ``prompt``."""

    @abstractmethod
    def top_logprobs(self, prompt: str, k: int) -> dict[str, float]:
        """The ``k`` most likely next tokens after ``prompt`` and their log-probs."""

    def chat(
        self,
        messages: Sequence[Message],
        n: int = 1,
        temperature: float = 0.0,
        max_tokens: int = 256,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
    ) -> list[str]:
        """``n`` assistant replies to a conversation."""
        prompt = render_chat(messages)
        return self.generate([prompt], n=n, temperature=temperature, max_tokens=max_tokens, stop=stop, seed=seed)[0]

    def describe(self) -> dict[str, Any]:
        """Identity used in cache keys and logs."""
        return {"backend": self.backend, "model": self.model}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (threads, connections); optional."""

    def __enter__(self) -> LLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r})"


def render_chat(messages: Sequence[Message]) -> str:
    """A plain chat rendering for models without a chat template.

    ``"System: ...\\n\\nUser: ...\\n\\nAssistant:"``: readable, and what the tiny models
    are trained on when a paper fine-tunes them for chat.
    """
    parts = []
    for m in messages:
        role = str(m.get("role", "user"))
        if role not in ("system", "user", "assistant"):
            raise ValueError(f"unknown chat role {role!r}")
        parts.append(f"{role.capitalize()}: {m.get('content', '')}")
    return "\n\n".join(parts) + "\n\nAssistant:"


def cut_at_stop(text: str, stop: Sequence[str] | None) -> str:
    """``text`` up to (not including) the earliest occurrence of any stop string."""
    if not stop:
        return text
    cut = len(text)
    for s in stop:
        if s:
            i = text.find(s)
            if i != -1:
                cut = min(cut, i)
    return text[:cut]


def check_sampling(n: int, temperature: float, max_tokens: int) -> None:
    """Validate common sampling arguments with clear messages."""
    if n < 1:
        raise ValueError("n must be >= 1")
    if temperature < 0:
        raise ValueError("temperature must be >= 0")
    if max_tokens < 0:
        raise ValueError("max_tokens must be >= 0")


# ---------------------------------------------------------------------------------------
# Registry

_REGISTRY: dict[str, Callable[..., LLM]] = {}
# Built-in backends, imported on first use.
_BUILTIN = {
    "replay": "repro.common.llm.replay",
    "tiny": "repro.common.llm.tiny",
    "hf": "repro.common.llm.hf",
    "openai": "repro.common.llm.openai",
}


def register(name: str) -> Callable[[Callable[..., LLM]], Callable[..., LLM]]:
    """Class (or factory) decorator: make a backend available as ``get_llm(name, ...)``."""

    def deco(factory: Callable[..., LLM]) -> Callable[..., LLM]:
        existing = _REGISTRY.get(name)
        if (
            existing is not None
            and existing is not factory
            and (
                getattr(existing, "__qualname__", None),
                getattr(existing, "__module__", None),
            )
            != (getattr(factory, "__qualname__", None), getattr(factory, "__module__", None))
        ):
            raise ValueError(f"LLM backend {name!r} is already registered")
        _REGISTRY[name] = factory
        if isinstance(factory, type) and issubclass(factory, LLM):
            factory.backend = name
        return factory

    return deco


def available() -> list[str]:
    """Names of all known backends (built-in and registered)."""
    return sorted(set(_REGISTRY) | set(_BUILTIN))


def create_llm(name: str, **kwargs: Any) -> LLM:
    """Instantiate backend ``name`` with ``kwargs`` (no cache).

    Callers normally use :func:`repro.common.llm.get_llm` or
    :func:`repro.common.llm.from_params`, which also wrap the backend in the disk cache.
    """
    if name not in _REGISTRY and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])
    factory = _REGISTRY.get(name)
    if factory is None:
        raise KeyError(f"unknown LLM backend {name!r}; available: {', '.join(available())}")
    return factory(**kwargs)


__all__ = [
    "LLM",
    "LLMError",
    "Message",
    "available",
    "check_sampling",
    "create_llm",
    "cut_at_stop",
    "register",
    "render_chat",
]
