"""The OpenAI-compatible server behind ``python -m repro.common.llm.serve``.

:mod:`~repro.common.llm.server.protocol` (pydantic request models, error objects),
:mod:`~repro.common.llm.server.engine` (token-by-token decoding, stop strings,
log-probs) and :mod:`~repro.common.llm.server.app` (FastAPI routes, streaming,
limits, disconnects). Importing this package imports FastAPI; the ``openai``
backend does not need it.
"""
