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

Models that do not fit on one device train under FSDP2 instead (``TrainConfig.parallel = "fsdp"``; :func:`wrap`):
``torch.distributed.fsdp.fully_shard`` on every block (each child of the model's ``nn.ModuleList`` objects) and then
the root, so each rank holds 1/N of the parameters, gradients and optimizer state and gathers one block's weights at
a time; with bf16 the gathered weights are bf16 and gradients are reduced in fp32 (``MixedPrecisionPolicy``). Its
checkpoints are sharded (:mod:`torch.distributed.checkpoint`, written by every rank; see the trainer), and loading
reshards them, so an FSDP run resumes with another number of ranks, or with one process.

Activation checkpointing (:func:`checkpoint_blocks`) recomputes each block's activations in backward instead of
keeping them (memory for compute; the same gradients).

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

__all__ = [
    "STRATEGIES",
    "Ranks",
    "barrier",
    "blocks",
    "checkpoint_blocks",
    "device_of",
    "from_environ",
    "is_sharded",
    "join",
    "leave",
    "mean_over_ranks",
    "no_sync",
    "shard",
    "wrap",
]

STRATEGIES = ("ddp", "fsdp")  # TrainConfig.parallel


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


def join(ranks: Ranks, device: torch.device, *, alone: bool = False) -> bool:
    """Join the process group once (NCCL for CUDA devices, gloo on the CPU); a single process joins nothing unless
    ``alone`` (FSDP in one process shards over a world of one). Returns whether this call created the group (the
    caller that created a group for one process destroys it: :func:`leave`)."""
    if dist.is_initialized():
        return False
    if ranks.parallel:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=ranks.rank, world_size=ranks.world)
        return True
    if alone:
        _join_alone(device)
        return True
    return False


def leave() -> None:
    """Destroy the process group (after the last collective of a run)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def blocks(model: nn.Module) -> list[nn.Module]:
    """The repeated blocks of a model: every child of every ``nn.ModuleList`` in it (transformer layers of the
    toolkit's and Hugging Face's models alike). The units FSDP shards and activation checkpointing recomputes one
    at a time."""
    found: list[nn.Module] = []
    for module in model.modules():
        if isinstance(module, nn.ModuleList):
            found.extend(module.children())
    return found


def wrap(
    model: nn.Module, ranks: Ranks, device: torch.device, *, strategy: str = "ddp", bf16: bool = False
) -> nn.Module:
    """The module to run forward and backward through.

    ``ddp``: ``DistributedDataParallel(model)`` when there are several ranks (it broadcasts rank 0's weights, then
    averages gradients in backward); the model itself otherwise. ``fsdp``: ``fully_shard`` on each block, then on the
    root, in place (the model's parameters become sharded DTensors, so build the optimizer after this); with ``bf16``
    the gathered parameters are bf16 and gradients are reduced in fp32. FSDP in one process also shards (over a
    world of one), so its checkpoints have one format whatever the number of ranks."""
    if strategy not in STRATEGIES:
        raise ValueError(f"parallel must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
    if strategy == "fsdp":
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        if not dist.is_initialized():
            raise RuntimeError("FSDP needs a process group: join(ranks, device, alone=True) first")
        kwargs = (
            {"mp_policy": MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)} if bf16 else {}
        )
        for block in blocks(model):
            fully_shard(block, **kwargs)
        fully_shard(model, **kwargs)
        return model
    if not ranks.parallel:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def _join_alone(device: torch.device) -> None:
    """A process group of one, for FSDP in a single process (torchrun's variables are not set)."""
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    if "MASTER_PORT" not in os.environ:
        import socket

        with socket.socket() as sock:  # a free port: two single-process FSDP jobs on one machine must not collide
            sock.bind(("127.0.0.1", 0))
            os.environ["MASTER_PORT"] = str(sock.getsockname()[1])
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=0, world_size=1)


def is_sharded(model: nn.Module) -> bool:
    """Whether ``fully_shard`` was applied to ``model`` (its checkpoints are then sharded)."""
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


def checkpoint_blocks(model: nn.Module) -> int:
    """Activation checkpointing on every block (:func:`blocks`): its activations are recomputed in backward
    (``torch.distributed._composable.checkpoint``, which keeps parameter names, so checkpoints and FSDP see the
    same model; the RNG state is restored for the recomputation, so dropout draws the same masks). Returns the
    number of blocks. Apply it before :func:`wrap`."""
    from torch.distributed._composable import checkpoint

    found = blocks(model)
    for block in found:
        checkpoint(block)
    return len(found)


def no_sync(net: nn.Module, sync: bool) -> contextlib.AbstractContextManager[None]:
    """Skip the gradient reduction for a micro-batch that is not the last of its step (``sync`` False): the
    gradients accumulate locally and the last backward reduces their sum once (DDP's ``no_sync``, FSDP2's
    ``set_requires_gradient_sync``)."""
    if sync:
        return contextlib.nullcontext()
    if hasattr(net, "set_requires_gradient_sync"):
        return _fsdp_no_sync(net)
    if not hasattr(net, "no_sync"):
        return contextlib.nullcontext()
    return net.no_sync()  # type: ignore[no-any-return,operator]


@contextlib.contextmanager
def _fsdp_no_sync(net: nn.Module) -> Iterator[None]:
    net.set_requires_gradient_sync(False)  # type: ignore[operator]
    try:
        yield
    finally:
        net.set_requires_gradient_sync(True)  # type: ignore[operator]


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
    created = join(ranks, device)
    try:
        yield
    finally:
        if created:
            leave()
