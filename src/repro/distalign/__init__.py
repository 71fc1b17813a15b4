"""How well LLMs match a population's distribution of opinions or preferences, benchmarked.

The paper: ``workflow/papers.yaml``, ``papers.distalign.title`` (NAACL 2025).
"""
