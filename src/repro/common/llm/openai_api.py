"""Documented limits of the OpenAI API that callers and the strict server share.

The API reference: completions ``logprobs`` "The maximum value for logprobs is 5"; chat
``top_logprobs`` is "an integer between 0 and 20" and needs ``logprobs: true``. A vLLM
server accepts up to its ``--max-logprobs`` (20 by default) on both endpoints. The repro
server's strict mode (:mod:`repro.common.llm.server.app`) enforces these values; paper
configs that target the API check against them (e.g. :class:`repro.distalign.config.LiveConfig`).
Kept in a module of its own so that importing the limits pulls in neither the HTTP client
nor the server.
"""

from __future__ import annotations

OPENAI_MAX_LOGPROBS = 5  # /v1/completions 'logprobs'
OPENAI_MAX_TOP_LOGPROBS = 20  # /v1/chat/completions 'top_logprobs'

__all__ = ["OPENAI_MAX_LOGPROBS", "OPENAI_MAX_TOP_LOGPROBS"]
