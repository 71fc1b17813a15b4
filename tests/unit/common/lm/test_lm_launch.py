"""Starting a step's training on N ranks (issue 29, item 4; repro.common.lm.launch): torchrun on one machine, srun and
one torchrun per node in a SLURM allocation of several nodes; rank 0's result comes back, a failing rank fails the
launch, and a step holding GPUs starts one rank per GPU it holds."""

from __future__ import annotations

import sys

import pytest

from repro.common.devices import CLAIMED_ENV
from repro.common.lm.launch import LaunchError, launcher_command, ranks_here, run_ranks


def report(tag: str, fail_on: int = -1) -> dict[str, object]:
    """A rank's view of its launch (module level: every rank imports it by name)."""
    import os

    import torch.distributed as dist

    from repro.common.lm.distributed import from_environ, process_group

    ranks = from_environ()
    if ranks.rank == fail_on:
        raise RuntimeError(f"rank {ranks.rank} fails on purpose")
    import torch

    with process_group(ranks, torch.device("cpu")):
        total = torch.tensor([ranks.rank + 1.0])
        dist.all_reduce(total)  # the ranks joined one group
    return {
        "tag": tag,
        "rank": ranks.rank,
        "world": ranks.world,
        "sum": float(total),
        "omp": os.environ["OMP_NUM_THREADS"],
    }


@pytest.fixture
def importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ranks import this test module by name: put its folder on their path."""
    import os
    from pathlib import Path

    here = str(Path(__file__).parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")])))


def test_two_ranks_run_the_function_and_rank_0_answers(tmp_path, importable) -> None:
    out = run_ranks(2, report, {"tag": "x"}, threads=1, workdir=tmp_path)
    assert out == {"tag": "x", "rank": 0, "world": 2, "sum": 3.0, "omp": "1"}
    assert list(tmp_path.iterdir()) == []  # the payload folder is removed


def test_a_failing_rank_fails_the_launch(tmp_path, importable) -> None:
    with pytest.raises(LaunchError, match=r"2-rank run of test_lm_launch:report failed \(exit status 1\)"):
        run_ranks(2, report, {"tag": "x", "fail_on": 1}, workdir=tmp_path)


def test_one_rank_runs_in_this_process() -> None:
    def local(a: int) -> int:  # not importable by another process: one rank never launches
        return a + 1

    assert run_ranks(1, local, {"a": 1}) == 2
    with pytest.raises(ValueError, match="module-level function"):
        run_ranks(2, local, {"a": 1})


def test_the_launcher_is_torchrun_here_and_srun_across_slurm_nodes(monkeypatch: pytest.MonkeyPatch) -> None:
    assert launcher_command(4, {}) == [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=4",
    ]
    assert launcher_command(4, {"SLURM_JOB_ID": "7", "SLURM_NNODES": "1"})[2:4] == [
        "torch.distributed.run",
        "--standalone",
    ]

    class Listing:
        stdout = "gpu-a\ngpu-b\n"

    monkeypatch.setattr("repro.common.lm.launch.subprocess.run", lambda *a, **k: Listing())
    slurm = {"SLURM_JOB_ID": "7", "SLURM_NNODES": "2", "SLURM_JOB_NODELIST": "gpu-[a-b]"}
    cmd = launcher_command(16, slurm)
    assert cmd[:3] == ["srun", "--nodes=2", "--ntasks-per-node=1"]
    assert "--nproc_per_node=8" in cmd and "--rdzv_endpoint=gpu-a:29500" in cmd and "--rdzv_id=7" in cmd
    with pytest.raises(ValueError, match="3 ranks do not split evenly over the allocation's 2 nodes"):
        launcher_command(3, slurm)


def test_a_step_holding_gpus_starts_one_rank_per_gpu() -> None:
    assert ranks_here(8, {}) == 8  # no GPU held: CPU ranks as configured
    assert ranks_here(8, {CLAIMED_ENV: "8"}) == 8
    assert ranks_here(8, {CLAIMED_ENV: "2"}) == 2  # Snakemake scaled the request down to the GPUs here
