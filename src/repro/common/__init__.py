"""Shared infrastructure used by two or more papers (fetch, io, seeds, fits, plotting, lm, llm)."""
