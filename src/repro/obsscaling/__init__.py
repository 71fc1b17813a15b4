"""Observational Scaling Laws (Ruan, Maddison, Hashimoto; NeurIPS 2024), exact tier.

Modules: :mod:`data` (loaders, family filters), :mod:`capability` (PCA capability
space, per-family log-linearity), :mod:`predict` (sigmoid-link scaling predictions),
:mod:`selection` (V-optimal family subsets), :mod:`steps` (one function per workflow
step), :mod:`figures` (plots from the steps' tables).
"""
