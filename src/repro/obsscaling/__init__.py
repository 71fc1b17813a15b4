"""Scaling predictions from public models' benchmark scores through a low-dimensional capability space, exact tier.

The paper: ``workflow/papers.yaml``, ``papers.obsscaling.title`` (NeurIPS 2024).

Modules: :mod:`data` (loaders, family filters), :mod:`capability` (PCA capability
space, per-family log-linearity), :mod:`predict` (sigmoid-link scaling predictions),
:mod:`selection` (V-optimal family subsets), :mod:`steps` (one function per workflow
step), :mod:`figures` (plots from the steps' tables).
"""
