"""Data parallelism of the trainer under torchrun (issue 29, items 1 and 5; repro.common.lm.distributed), on the CPU
with the gloo backend: 2 ranks take the steps of 1 with the same global batch, a 2-rank run resumes exactly after an
interruption and after a SIGKILL, and a checkpoint resumes with another number of ranks.

Each run is tests/unit/common/lm/ddp_worker.py, started alone or by ``torchrun --standalone --nproc_per_node 2``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from repro.common.lm.distributed import Ranks, from_environ, shard
from repro.common.lm.trainer import CHECKPOINT_FILE, TrainConfig, train

WORKER = Path(__file__).with_name("ddp_worker.py")
STEPS = 12
# 2 ranks average two half-batch means where 1 rank takes one mean, and DDP sums the ranks' gradients: the same
# numbers in another order, so float32 rounding (eps 1.2e-7) differs, and AdamW carries it on. Measured: at most
# 1.2e-7 relative over the 12 steps; the tolerance leaves two orders of magnitude for other CPUs and torch builds.
RTOL = 1e-5


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    return {**env, "OMP_NUM_THREADS": "1", **extra}


def run(out: Path, ranks: int, steps: int = STEPS, stop_at: int | None = None, **env: str) -> list[float]:
    """Train (or resume) in ``out`` with ``ranks`` processes; the train losses rank 0 logged."""
    out.mkdir(parents=True, exist_ok=True)
    args = [str(WORKER), str(out), str(steps), *([str(stop_at)] if stop_at else [])]
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}"]
    cmd = [*launch, *args] if ranks > 1 else [sys.executable, *args]
    proc = subprocess.run(cmd, env=_env(**env), capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [e["train_loss"] for e in json.loads((out / "history.json").read_text())]


def close(a: list[float], b: list[float]) -> float:
    assert len(a) == len(b)
    return max(abs(x - y) / abs(x) for x, y in zip(a, b))


@pytest.fixture(scope="module")
def one_rank(tmp_path_factory: pytest.TempPathFactory) -> list[float]:
    return run(tmp_path_factory.mktemp("one"), 1)


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory: pytest.TempPathFactory) -> list[float]:
    return run(tmp_path_factory.mktemp("two"), 2)


def test_two_ranks_take_the_steps_of_one(one_rank: list[float], two_ranks: list[float]) -> None:
    assert one_rank[-1] < one_rank[0] - 0.2  # it learns, so the comparison is of a moving curve
    assert close(one_rank, two_ranks) < RTOL


def test_an_interrupted_two_rank_run_resumes_exactly(tmp_path: Path, two_ranks: list[float]) -> None:
    run(tmp_path, 2, stop_at=STEPS // 2)
    assert run(tmp_path, 2) == two_ranks  # the same floats: the data position is the step, the state is saved


def test_a_checkpoint_resumes_with_another_number_of_ranks(tmp_path: Path, two_ranks: list[float]) -> None:
    """Under DDP every rank holds the whole model and optimizer state, and the batches do not depend on the ranks:
    a run stopped with 1 rank goes on with 2 (and the reverse), to the same curve up to rounding."""
    run(tmp_path / "a", 1, stop_at=STEPS // 2)
    assert close(run(tmp_path / "a", 2), two_ranks) < RTOL
    run(tmp_path / "b", 2, stop_at=STEPS // 2)
    assert close(run(tmp_path / "b", 1), two_ranks) < RTOL


def test_a_killed_two_rank_run_resumes_to_identical_losses(tmp_path: Path, two_ranks: list[float]) -> None:
    """SIGKILL of torchrun and both ranks after the first checkpoint (every 2 steps; checkpoints do not change the
    trajectory), then a rerun: the losses of the uninterrupted run, to the last bit."""
    steps, env = STEPS, {"DDP_WORKER_CKPT_EVERY": "2"}
    out = tmp_path / "killed"
    out.mkdir()
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    proc = subprocess.Popen(
        [*launch, str(WORKER), str(out), str(steps)],
        env=_env(DDP_WORKER_SLEEP="0.5", **env),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not (out / CHECKPOINT_FILE).exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert (out / CHECKPOINT_FILE).exists() and proc.poll() is None, "no checkpoint before the run ended"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # torchrun and both ranks, mid-run
        proc.wait(timeout=30)
    assert not (out / "history.json").exists()
    assert run(out, 2, steps, **env) == two_ranks


def test_ranks_come_from_torchrun_and_split_the_batch() -> None:
    assert from_environ({}) == Ranks(0, 1, 0)
    assert from_environ({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}) == Ranks(1, 2, 1)
    with pytest.raises(ValueError, match="RANK=2, WORLD_SIZE=2"):
        from_environ({"RANK": "2", "WORLD_SIZE": "2"})
    import torch

    x = torch.arange(8).reshape(4, 2)
    assert torch.equal(torch.cat([shard(x, Ranks(r, 2, r)) for r in range(2)]), x)
    with pytest.raises(ValueError, match="4 sequences does not split over 3 ranks"):
        shard(x, Ranks(0, 3, 0))


def test_a_batch_that_does_not_split_is_refused_before_joining(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np
    import torch

    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(ValueError, match="batch_size=8 does not split over 3 ranks"):
        train(torch.nn.Linear(2, 2), np.zeros(100, dtype=np.int32), TrainConfig(steps=1, batch_size=8, context=4))
