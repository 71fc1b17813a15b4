"""Research ideas from LLMs against human experts': the human study's statistics and the ideation agent.

The paper: ``workflow/papers.yaml``, ``papers.ideagen.title`` (ICLR 2025; arXiv 2409.04109).

Exact tier: the human-study statistics recomputed from the released blind reviews
(:mod:`.data`, :mod:`.stats`). End-to-end tier: the ideation agent as a pipeline:
retrieval (:mod:`.retrieval`), seed overgeneration through the LLM backend
(:mod:`.generator`), MiniLM embeddings (:mod:`.embed`), deduplication and the
diversity curve (:mod:`.dedup`), Swiss-system tournament ranking (:mod:`.tournament`).
Workflow steps live in :mod:`.steps`, figures in :mod:`.figures`.
"""
