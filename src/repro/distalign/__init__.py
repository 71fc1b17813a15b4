"""Benchmarking Distributional Alignment of LLMs (Meister, Guestrin, Hashimoto; NAACL 2025)."""
