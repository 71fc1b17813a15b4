"""Seeding for reproducible runs (DESIGN.md, "Determinism")."""

from __future__ import annotations

import os
import random

import numpy as np


def seed_everything(seed: int, *, torch_threads: int | None = None) -> np.random.Generator:
    """Seed python, numpy and (if installed) torch; return a numpy Generator.

    ``torch_threads`` sets ``torch.set_num_threads``: tiny CPU jobs use one thread
    each by default, so that parallel Snakemake jobs do not oversubscribe cores and
    results do not depend on the thread count.
    """
    random.seed(seed)
    np.random.seed(seed % (2**32))
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency, but keep seeds importable
        return np.random.default_rng(seed)
    torch.manual_seed(seed)
    if torch_threads is not None:
        torch.set_num_threads(torch_threads)
    return np.random.default_rng(seed)
