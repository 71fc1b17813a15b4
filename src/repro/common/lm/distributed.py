"""Data parallelism for the trainer under ``torchrun`` (issue 29, item 1: DDP; PyTorch's own stack, not a home-made one).

``torchrun --nproc_per_node N`` (or ``srun`` under SLURM, which sets the same variables through torchrun's
rendezvous) starts N copies of a job; each reads its place from ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``
(:func:`from_environ`). :func:`repro.common.lm.trainer.train` then:

* joins the process group (:func:`join`: NCCL on CUDA, gloo on the CPU, so the same code runs on a laptop);
* wraps the model in ``DistributedDataParallel`` (:func:`wrap`), which averages gradients over ranks;
* draws every micro-batch of the *global* batch exactly as one process would (the trainer's offsets depend on the
  seed and the step only) and gives each rank an equal block of its rows (:func:`shard`). The mean of the ranks'
  mean losses is the global mean, so N ranks take the same optimizer steps as one, up to float rounding of the
  reductions: the global batch does not depend on the number of ranks;
* logs the loss averaged over ranks (:func:`mean_over_ranks`); rank 0 alone writes checkpoints, the others wait
  (:func:`barrier`). Every rank resumes from the same checkpoint, and the data position is the step, so a resumed
  run continues exactly; a checkpoint written with N ranks resumes with any number that divides the micro-batch
  (the weights and the optimizer state are whole on every rank under DDP, and the batches do not depend on N).

One process (no ``WORLD_SIZE``, or 1) is the trainer as before: nothing here runs.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["Ranks", "barrier", "device_of", "from_environ", "join", "mean_over_ranks", "no_sync", "shard", "wrap"]


@dataclass(frozen=True)
class Ranks:
    """This process's place in a data-parallel run: ``rank`` of ``world``, ``local_rank`` on its machine."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the one that writes checkpoints, logs and progress bars."""
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        return self.world > 1


def from_environ(environ: Mapping[str, str] | None = None) -> Ranks:
    """The ranks torchrun (or a SLURM launch through it) names in ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``;
    one process when they are not set. Inconsistent values are an error naming them."""
    env = os.environ if environ is None else environ
    try:
        world = int(env.get("WORLD_SIZE", "1"))
        rank = int(env.get("RANK", "0"))
        local = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError as err:
        raise ValueError(f"torchrun's RANK / WORLD_SIZE / LOCAL_RANK are not integers: {err}") from None
    if world < 1 or not 0 <= rank < world or local < 0:
        raise ValueError(f"RANK={rank}, WORLD_SIZE={world}, LOCAL_RANK={local}: expected 0 <= RANK < WORLD_SIZE")
    return Ranks(rank, world, local)


def device_of(ranks: Ranks, device: torch.device) -> torch.device:
    """The device of this rank: on CUDA, GPU ``LOCAL_RANK`` of those the job sees (torchrun starts one process
    per GPU); otherwise ``device`` unchanged."""
    if ranks.parallel and device.type == "cuda":
        return torch.device("cuda", ranks.local_rank)
    return device


def join(ranks: Ranks, device: torch.device) -> None:
    """Join the process group once (NCCL for CUDA devices, gloo on the CPU); a single process joins nothing."""
    if ranks.parallel and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=ranks.rank, world_size=ranks.world)


def wrap(model: nn.Module, ranks: Ranks, device: torch.device) -> nn.Module:
    """``DistributedDataParallel(model)`` when there are several ranks (it broadcasts rank 0's weights, then
    averages gradients in backward); the model itself otherwise."""
    if not ranks.parallel:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def no_sync(net: nn.Module, sync: bool) -> contextlib.AbstractContextManager[None]:
    """Skip DDP's gradient all-reduce for a micro-batch that is not the last of its step (``sync`` False): the
    gradients accumulate locally and the last backward reduces their sum once."""
    if sync or not hasattr(net, "no_sync"):
        return contextlib.nullcontext()
    return net.no_sync()  # type: ignore[no-any-return,operator]


def shard(x: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    """This rank's equal block of the rows of a global micro-batch ``x`` (rows must divide by the world)."""
    if not ranks.parallel:
        return x
    n = x.shape[0]
    if n % ranks.world:
        raise ValueError(f"a micro-batch of {n} sequences does not split over {ranks.world} ranks")
    size = n // ranks.world
    return x[ranks.rank * size : (ranks.rank + 1) * size]


def mean_over_ranks(t: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    """The mean of ``t`` over ranks (every rank gets it); ``t`` itself for one process."""
    if not ranks.parallel:
        return t
    out = t.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / ranks.world


def barrier(ranks: Ranks) -> None:
    """Wait for every rank (after rank 0 wrote a checkpoint, before the others read it)."""
    if ranks.parallel and dist.is_initialized():
        dist.barrier()


@contextlib.contextmanager
def process_group(ranks: Ranks, device: torch.device) -> Iterator[None]:
    """Join for the duration of a ``with`` block and leave after (a script's whole run)."""
    join(ranks, device)
    try:
        yield
    finally:
        if ranks.parallel and dist.is_initialized():
            dist.destroy_process_group()
