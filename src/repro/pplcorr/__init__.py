"""Pretraining data selection by the correlation between per-domain perplexities and benchmark scores.

The paper: ``workflow/papers.yaml``, ``papers.pplcorr.title``.
"""
