"""One interface to language models, four backends, one disk cache (DESIGN.md, "LLM backends").

``get_llm(name, **options)`` / ``from_params(params_block)`` build an :class:`LLM`:
``replay`` (released outputs, offline exact tier), ``tiny`` (a model directory from
:mod:`repro.common.lm`), ``hf`` (transformers, local path or hub id) and ``openai``
(any OpenAI-compatible endpoint, e.g. vLLM or :mod:`repro.common.llm.serve`). Pass
``cache="path.sqlite"`` to wrap any of them in :class:`~repro.common.llm.cache.CachedLLM`
(the composition lives in :mod:`repro.common.llm.factory`; :mod:`repro.common.llm.base`
is the interface and registry, :func:`~repro.common.llm.base.create_llm` builds a backend
without cache). Backends are imported lazily, so this package does not import torch by itself.
"""

from repro.common.llm.base import LLM, LLMError, available, register, render_chat
from repro.common.llm.factory import from_params, get_llm

__all__ = ["LLM", "LLMError", "available", "from_params", "get_llm", "register", "render_chat"]
