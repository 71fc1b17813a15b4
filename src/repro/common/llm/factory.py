"""Building an :class:`~repro.common.llm.base.LLM` from a name or a params block, with its disk cache.

The composition of the backend registry (:mod:`repro.common.llm.base`, which knows nothing
of caching) and the sqlite cache (:mod:`repro.common.llm.cache`): ``cache=PATH`` wraps the
backend in :class:`~repro.common.llm.cache.CachedLLM`. Re-exported by :mod:`repro.common.llm`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from repro.common.llm.base import LLM, LLMError, available, create_llm
from repro.common.llm.cache import CachedLLM


def get_llm(name: str, *, cache: str | os.PathLike[str] | None = None, **kwargs: Any) -> LLM:
    """Instantiate backend ``name`` with ``kwargs``; wrap it in a disk cache if ``cache`` is a path."""
    llm = create_llm(name, **kwargs)
    if cache is not None:
        llm = CachedLLM(llm, cache)
    return llm


def from_params(params: Mapping[str, Any]) -> LLM:
    """Build an LLM from a params.yaml block: ``{backend: NAME, cache: PATH?, ...options}``.

    Secrets never appear in params: a key such as ``api_key`` is refused (use
    ``api_key_env``, the *name* of an environment variable).
    """
    params = dict(params)
    for secret in ("api_key", "token", "password"):
        if secret in params:
            raise LLMError(
                f"params must not contain {secret!r}: put the secret in an environment variable "
                "and give its name (e.g. api_key_env: OPENAI_API_KEY)"
            )
    try:
        name = params.pop("backend")
    except KeyError:
        raise LLMError("LLM params need a 'backend' key (one of: " + ", ".join(available()) + ")") from None
    return get_llm(name, **params)


__all__ = ["from_params", "get_llm"]
