"""Worker of test_lm_distributed.py: one training run of a toy LM, alone or as a rank under torchrun.

``python ddp_worker.py OUT STEPS [STOP_AT]``: trains from (or resumes) OUT/checkpoint.safetensors and, on rank 0,
writes OUT/history.json. The data is a fixed random Markov chain over 64 tokens, so the loss falls.
``$DDP_WORKER_CKPT_EVERY`` writes a checkpoint every that many steps and ``$DDP_WORKER_SLEEP`` pauses that many
seconds after each step (a run long enough to be killed halfway); ``$DDP_WORKER_PARALLEL`` is the strategy (ddp,
the default, or fsdp) and ``$DDP_WORKER_ACT_CKPT=1`` turns on activation checkpointing.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from repro.common.lm.distributed import from_environ, process_group
from repro.common.lm.models import ModelConfig, build_model
from repro.common.lm.trainer import TrainConfig, train

VOCAB = 64


def tokens(n: int = 20_000) -> np.ndarray:
    rng = np.random.default_rng(0)
    nxt = rng.integers(0, VOCAB, size=(VOCAB, 3))  # each token has 3 likely successors
    out = np.empty(n, dtype=np.int32)
    out[0] = 0
    for i in range(1, n):
        out[i] = nxt[out[i - 1], rng.integers(0, 3)]
    return out


def main(out: str, steps: int, stop_at: int | None) -> None:
    cfg = TrainConfig(
        steps=steps,
        batch_size=8,
        grad_accum=2,
        context=32,
        lr=3e-3,
        warmup=2,
        eval_every=0,
        log_every=1,
        ckpt_every=int(os.environ.get("DDP_WORKER_CKPT_EVERY", "0")),
        device="cpu",
        parallel=os.environ.get("DDP_WORKER_PARALLEL", "ddp"),
        activation_checkpointing=os.environ.get("DDP_WORKER_ACT_CKPT") == "1",
    )
    pause = float(os.environ.get("DDP_WORKER_SLEEP", "0"))
    model = build_model(ModelConfig(n_layer=2, n_head=2, d_model=32, context=32, vocab_size=VOCAB), seed=0)
    ranks = from_environ()
    with process_group(ranks, torch.device("cpu")):
        history = train(
            model, tokens(), cfg, out_dir=out, stop_at=stop_at, progress=False, callback=lambda _: time.sleep(pause)
        )
    if ranks.main:
        Path(out, "history.json").write_text(json.dumps(history))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else None)
