"""Launch a step's training on N ranks with ``torchrun`` (issue 29, item 4: rules that request N GPUs start N ranks).

A paper-scale rule that asks for N GPUs (``gpus(N)`` in its rules file) runs its step in one Snakemake job, which
claims the N devices (:func:`repro.common.devices.claim_gpus` points ``CUDA_VISIBLE_DEVICES`` at them). The step then
calls :func:`run_ranks`, which starts

    python -m torch.distributed.run --standalone --nproc_per_node N -m repro.common.lm.launch <payload>

so that each of the N processes runs the same function (``module:name``) on the same arguments, as one rank of a
data-parallel run (:mod:`repro.common.lm.distributed`: rank ``LOCAL_RANK`` takes GPU ``LOCAL_RANK`` of those the job
claimed). With no GPU the ranks are CPU processes on the gloo backend: the code a GPU cluster runs is the code the
rehearsal scale tests with 2 CPU ranks. Under SLURM with several nodes in the allocation (``SLURM_NNODES`` > 1) the
launch goes through ``srun``, one torchrun per node, meeting at the first node (c10d rendezvous).

The function's return value on rank 0 comes back to the caller (pickled through a file); a rank that fails makes
the launch fail with its exit status, and the ranks' output goes to the job's log as it comes. One rank runs the
function in this process: no launcher, no process group, the single-process trainer as before.
"""

from __future__ import annotations

import importlib
import os
import pickle
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["LaunchError", "launcher_command", "ranks_here", "run_ranks"]

# The launcher's module: `python -m torch.distributed.run` is `torchrun` without relying on the script being on PATH.
TORCHRUN = "torch.distributed.run"
_RDZV_PORT = 29500  # torchrun's default c10d port on the first node


class LaunchError(RuntimeError):
    """A multi-rank run failed (one of its ranks exited with an error)."""


def _slurm_nodes(environ: Mapping[str, str]) -> tuple[int, str | None]:
    """(number of nodes, first node's host name) of the SLURM allocation this job runs in; (1, None) outside."""
    if not environ.get("SLURM_JOB_ID"):
        return 1, None
    nodes = int(environ.get("SLURM_NNODES", "1") or 1)
    if nodes <= 1:
        return 1, None
    listing = subprocess.run(
        ["scontrol", "show", "hostnames", environ.get("SLURM_JOB_NODELIST", "")],
        capture_output=True,
        text=True,
        check=True,
    )
    return nodes, listing.stdout.split()[0]


def launcher_command(ranks: int, environ: Mapping[str, str] | None = None) -> list[str]:
    """The command prefix that starts ``ranks`` processes of ``python -m ...``: torchrun on this machine, or, in a
    SLURM allocation of several nodes, ``srun`` starting one torchrun per node (``ranks`` must divide evenly)."""
    env = os.environ if environ is None else environ
    if ranks < 1:
        raise ValueError(f"ranks must be >= 1, got {ranks}")
    nodes, head = _slurm_nodes(env)
    if nodes == 1:
        return [sys.executable, "-m", TORCHRUN, "--standalone", f"--nproc_per_node={ranks}"]
    if ranks % nodes:
        raise ValueError(f"{ranks} ranks do not split evenly over the allocation's {nodes} nodes (SLURM_NNODES)")
    return [
        "srun",
        f"--nodes={nodes}",
        "--ntasks-per-node=1",
        sys.executable,
        "-m",
        TORCHRUN,
        f"--nnodes={nodes}",
        f"--nproc_per_node={ranks // nodes}",
        "--rdzv_backend=c10d",
        f"--rdzv_endpoint={head}:{_RDZV_PORT}",
        f"--rdzv_id={env['SLURM_JOB_ID']}",
    ]


def ranks_here(requested: int, environ: Mapping[str, str] | None = None) -> int:
    """How many ranks a step that asked for ``requested`` starts: one per GPU it holds when it holds any (the rule's
    ``gpus(N)``, possibly scaled down by Snakemake's ``--resources gpu=``), else ``requested`` CPU processes."""
    from repro.common.devices import CLAIMED_ENV

    env = os.environ if environ is None else environ
    claimed = int(env.get(CLAIMED_ENV, "0") or 0)
    if claimed and claimed != requested:
        print(f"{requested} ranks requested, {claimed} GPU(s) held: starting {claimed}", file=sys.stderr, flush=True)
    return claimed or requested


def _target_name(fn: Callable[..., Any]) -> str:
    module, name = fn.__module__, fn.__qualname__
    if module == "__main__" or "<" in name:
        raise ValueError(f"run_ranks needs a module-level function another process can import, not {module}:{name}")
    return f"{module}:{name}"


def run_ranks(
    ranks: int,
    fn: Callable[..., Any],
    kwargs: Mapping[str, Any],
    *,
    threads: int = 1,
    workdir: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Any:
    """Run ``fn(**kwargs)`` on ``ranks`` ranks and return rank 0's result.

    ``fn`` must be importable by name (a module-level function) and ``kwargs`` picklable (paths, dataclasses).
    ``threads``: torch CPU threads of each rank (``OMP_NUM_THREADS``). ``workdir``: where the payload and the result
    files go (default a temporary folder; on a cluster, a folder every node sees).
    """
    if ranks == 1:
        return fn(**kwargs)
    command = launcher_command(ranks, environ)
    with tempfile.TemporaryDirectory(prefix="repro-launch-", dir=workdir) as tmp:
        payload, result = Path(tmp) / "payload.pkl", Path(tmp) / "result.pkl"
        payload.write_bytes(pickle.dumps({"target": _target_name(fn), "kwargs": dict(kwargs), "result": str(result)}))
        env = {k: v for k, v in (os.environ if environ is None else environ).items()}
        for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
            env.pop(key, None)  # a launch inside a launched process starts its own group
        env["OMP_NUM_THREADS"] = str(threads)
        full = [*command, "-m", __name__, str(payload)]
        sink = _log_stream()
        print(f"launching {ranks} ranks: {shlex.join(full)}", file=sys.stderr, flush=True)
        proc = subprocess.run(full, env=env, stdout=sink, stderr=sink, check=False)
        if proc.returncode != 0:
            raise LaunchError(
                f"the {ranks}-rank run of {_target_name(fn)} failed (exit status {proc.returncode}); "
                "the ranks' errors are in the log above"
            )
        if not result.is_file():
            raise LaunchError(f"the {ranks}-rank run of {_target_name(fn)} ended without rank 0's result")
        return pickle.loads(result.read_bytes())


def _log_stream() -> Any:
    """Where the ranks' output goes: this process's ``sys.stderr`` when it is a file (a Snakemake step sets it to
    the rule's log), else the inherited descriptors."""
    try:
        sys.stderr.flush()
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    return sys.stderr


def _main(argv: Sequence[str]) -> None:
    """One rank: import the target, call it, and on rank 0 write its result for :func:`run_ranks`."""
    from repro.common.lm.distributed import from_environ

    (payload_path,) = argv
    payload = pickle.loads(Path(payload_path).read_bytes())
    module, name = payload["target"].split(":")
    fn: Any = importlib.import_module(module)
    for part in name.split("."):
        fn = getattr(fn, part)
    out = fn(**payload["kwargs"])
    if from_environ().main:
        tmp = Path(payload["result"] + ".tmp")
        tmp.write_bytes(pickle.dumps(out))
        os.replace(tmp, payload["result"])


if __name__ == "__main__":
    _main(sys.argv[1:])
