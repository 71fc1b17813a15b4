"""Dual vs primal form of the TTT-Linear inner loop (Sun et al. 2024, Sec. 2.5: the dual form is > 5x faster).

Both forms run :func:`repro.ttt.layers.ttt_scan` (analytic LN backward in both, so the comparison is about
materialising per-token weights vs matmuls, not autograd overhead) on a random problem, forward + backward
(training), timed alternately after a warm-up; the speedup is the median over pairs of primal / dual time.
``benchmarks/ttt_dual_vs_primal.py`` runs the same comparison over more shapes.
"""

from __future__ import annotations

import statistics
import time

import torch

from repro.ttt.equivalence import random_problem
from repro.ttt.layers import ttt_scan


def dual_vs_primal(
    batch: int, heads: int, head_dim: int, seq_len: int, mini_batch_size: int, repeats: int, threads: int
) -> dict[str, float]:
    """``{dual_ms, primal_ms, dual_vs_primal}``: median times and the median paired speedup (primal / dual)."""
    if repeats < 1:
        raise ValueError("ttt.speed.repeats must be >= 1")
    torch.set_num_threads(threads)
    p = random_problem(
        "linear",
        batch=batch,
        n_head=heads,
        seq_len=seq_len,
        head_dim=head_dim,
        mini_batch_size=mini_batch_size,
        dtype=torch.float32,
    )
    # learning rates as in a trained layer: eta ~ eta_base sigma(.) / head_dim, s_i = 1/(i+1)
    p["eta"] = p["eta"] * (5.0 / head_dim)
    p["scale"] = 1.0 / torch.arange(1, mini_batch_size + 1, dtype=torch.float32)
    leaves = [t.detach().requires_grad_() for t in (p["xq"], p["xk"], p["xv"])]

    def run(form: str) -> float:
        t0 = time.perf_counter()
        z, _ = ttt_scan(p["state"], *leaves, p["eta"], p["scale"], p["spec"], p["gamma"], p["beta"], form=form)
        z.square().mean().backward()
        return time.perf_counter() - t0

    run("dual"), run("primal")  # warm-up
    dual, primal = [], []
    for _ in range(repeats):
        dual.append(run("dual"))
        primal.append(run("primal"))
    return {
        "dual_ms": 1e3 * statistics.median(dual),
        "primal_ms": 1e3 * statistics.median(primal),
        "dual_vs_primal": statistics.median(p_ / d_ for d_, p_ in zip(dual, primal)),
    }
