"""Which devices a job computes on: the project's one device resolver (issue 28).

On one multi-GPU machine Snakemake runs GPU jobs side by side, as many as the global ``gpu`` resource allows
(workflow/rules/common.smk: ``gpu_cap``), but it never says *which* GPUs a job gets: every job would start on
``cuda:0``. :func:`claim_gpus` gives each job devices of its own. :func:`repro.common.steps.run_step` calls it
with the rule's ``gpu`` resource before the step function runs, so no step can forget it. It

1. lists the visible devices (:func:`visible_gpus`): ``CUDA_VISIBLE_DEVICES`` when set (what CUDA itself would
   enumerate), else ``$REPRO_FAKE_GPUS`` (tests: pretend this machine has N devices), else ``nvidia-smi -L``,
   else torch;
2. locks ``n`` of them: one file per device under ``$REPRO_GPU_LOCK_DIR`` (default ``.snakemake/gpu-locks``),
   held with ``flock``. The kernel drops an flock when its process dies, however it dies (an exception, SIGKILL,
   the OOM killer), so a crashed job's devices are free again at once: there is no stale lock to clean up and no
   pid that could have been reused. The file names its holder (pid, host, rule) for the error messages;
3. sets ``CUDA_VISIBLE_DEVICES`` to them, so that ``cuda`` / ``cuda:0`` in the step (:func:`resolve_device`)
   is the job's first device, and releases them when the step ends (or the process exits).

Under SLURM (``SLURM_JOB_ID`` set) the scheduler has already given the job its devices, and inside a job's
cgroup they may be renumbered from 0 (two jobs on one node could both see a device "0"): the claim only checks
the count and locks nothing.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Self

if TYPE_CHECKING:
    import torch

__all__ = [
    "FAKE_GPUS_ENV",
    "LOCK_DIR_ENV",
    "WAIT_ENV",
    "DeviceError",
    "GpuClaim",
    "claim_gpus",
    "gpu_count",
    "resolve_device",
    "visible_gpus",
]

FAKE_GPUS_ENV = "REPRO_FAKE_GPUS"  # tests only: "4" pretends four devices when CUDA_VISIBLE_DEVICES is unset
LOCK_DIR_ENV = "REPRO_GPU_LOCK_DIR"  # share one folder between checkouts that use the same GPUs
WAIT_ENV = "REPRO_GPU_WAIT_S"  # how long a claim waits for devices another process holds
# The number of GPUs the running step holds (set by claim_gpus while the claim lasts): a step that launches one rank
# per GPU (repro.common.lm.launch) starts as many ranks as it got, also when Snakemake scaled the request down.
CLAIMED_ENV = "REPRO_CLAIMED_GPUS"
DEFAULT_LOCK_DIR = Path(".snakemake") / "gpu-locks"
# Snakemake starts a job only when its gpu resource fits, so free devices are normally there at once; a wait
# covers devices held outside this run (another checkout sharing the lock folder, a job still exiting).
DEFAULT_WAIT_S = 300.0


class DeviceError(RuntimeError):
    """A job cannot get the devices it asks for; the message says how many, which are visible and who holds them."""


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else is passed to :class:`torch.device`.

    Inside a job that claimed GPUs (:func:`claim_gpus`), ``cuda`` and ``cuda:0`` are the job's first device:
    CUDA numbers only the devices ``CUDA_VISIBLE_DEVICES`` lists.
    """
    import torch  # here, not at the top: the claim side of this module must not import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


# --- which devices exist --------------------------------------------------------------------------------------


def _parse_visible(value: str) -> list[str]:
    """The devices a ``CUDA_VISIBLE_DEVICES`` value lists: CUDA stops at the first empty or negative entry."""
    devices = []
    for entry in (e.strip() for e in value.split(",")):
        if not entry or entry.startswith("-"):
            break
        devices.append(entry)
    return devices


def _nvidia_smi_count() -> int | None:
    """How many GPUs ``nvidia-smi -L`` lists (None: no nvidia-smi, or no working driver)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        proc = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    # "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-...)"; MIG instances are indented lines under their GPU.
    return sum(1 for line in proc.stdout.splitlines() if line.startswith("GPU "))


def visible_gpus(*, probe_torch: bool = True) -> list[str]:
    """The devices this process may use, as ``CUDA_VISIBLE_DEVICES`` entries (indices or UUIDs).

    ``CUDA_VISIBLE_DEVICES`` when set; else ``$REPRO_FAKE_GPUS`` devices ``0..N-1``; else the GPUs
    ``nvidia-smi -L`` lists; else (``probe_torch``) ``torch.cuda.device_count()``. The workflow passes
    ``probe_torch=False`` at parse time, where importing torch would slow every ``snakemake -n``.
    """
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return _parse_visible(env)
    fake = os.environ.get(FAKE_GPUS_ENV, "").strip()
    if fake:
        if not fake.isdigit():
            raise DeviceError(f"{FAKE_GPUS_ENV}={fake!r}: expected a device count such as 8")
        return [str(i) for i in range(int(fake))]
    count = _nvidia_smi_count()
    if count is None and probe_torch:
        import torch

        count = torch.cuda.device_count()
    return [str(i) for i in range(count or 0)]


def gpu_count(*, probe_torch: bool = True) -> int:
    """How many devices :func:`visible_gpus` lists."""
    return len(visible_gpus(probe_torch=probe_torch))


# --- claiming devices -------------------------------------------------------------------------------------------


@dataclass
class GpuClaim:
    """Devices one job holds; :meth:`release` (or leaving the ``with`` block) gives them back."""

    devices: tuple[str, ...]
    _files: list[IO[str]] = field(default_factory=list, repr=False)
    _previous_env: str | None = field(default=None, repr=False)
    _env_set: bool = field(default=False, repr=False)

    def release(self) -> None:
        """Unlock the devices and restore ``CUDA_VISIBLE_DEVICES`` (idempotent)."""
        for fh in self._files:
            fh.truncate(0)  # still locked: the file no longer names a holder once the device is free
            fh.close()  # closing the last descriptor drops the flock
        self._files.clear()
        if self._env_set:
            if self._previous_env is None:
                os.environ.pop("CUDA_VISIBLE_DEVICES", None)
            else:
                os.environ["CUDA_VISIBLE_DEVICES"] = self._previous_env
            os.environ.pop(CLAIMED_ENV, None)
            self._env_set = False
        atexit.unregister(self.release)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _lock_path(lock_dir: Path, host: str, device: str) -> Path:
    # The host is part of the name: a lock folder on a shared file system may serve several machines.
    return lock_dir / f"{host}-gpu-{re.sub(r'[^A-Za-z0-9_.-]', '_', device)}.lock"


def _try_lock(path: Path, holder: str) -> IO[str] | None:
    """The open, flock'ed file at ``path`` with ``holder`` written in it; None when another process holds it."""
    fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held open for the claim's lifetime)
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        return None
    # The file is never deleted: removing a lock file while another process waits on it would let two
    # processes hold "the" lock on two different inodes.
    fh.seek(0)
    fh.truncate()
    fh.write(holder + "\n")
    fh.flush()
    return fh


def _holders(lock_dir: Path, host: str, devices: list[str]) -> list[str]:
    """ "GPU <dev>: <holder>" for each of ``devices`` that a process holds now (a free device's file may still
    name a process that died holding it)."""
    out = []
    for dev in devices:
        try:
            with open(_lock_path(lock_dir, host, dev), encoding="utf-8") as fh:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    out.append(f"GPU {dev}: {fh.read().strip() or 'unknown'}")
        except OSError:
            continue
    return out


def _check_cuda_not_started() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        raise DeviceError(
            "CUDA was initialised before the job claimed its GPUs, so CUDA_VISIBLE_DEVICES can no longer "
            "take effect: claim the devices before any CUDA call (repro.common.steps.run_step does)"
        )


def claim_gpus(
    n: int,
    *,
    lock_dir: str | os.PathLike[str] | None = None,
    wait_s: float | None = None,
    holder: str = "",
) -> GpuClaim:
    """Claim ``n`` of the visible GPUs for this process and point ``CUDA_VISIBLE_DEVICES`` at them.

    ``n == 0`` claims nothing and changes nothing. ``lock_dir``: default ``$REPRO_GPU_LOCK_DIR``, else
    ``.snakemake/gpu-locks`` (relative to the working directory, the checkout for a Snakemake job).
    ``wait_s``: how long to wait for devices other processes hold (default ``$REPRO_GPU_WAIT_S``, else 300 s).
    ``holder`` names the claimer in the lock file (the rule). Raises :class:`DeviceError` when ``n`` exceeds
    the visible devices, or naming the holders when ``n`` devices did not come free in time. The claim is
    released by :meth:`GpuClaim.release`, at the end of a ``with`` block, or at process exit.
    """
    if n < 0:
        raise ValueError(f"claim_gpus: n must be >= 0, got {n}")
    if n == 0:
        return GpuClaim(devices=())
    visible = visible_gpus()
    if n > len(visible):
        source = (
            f"CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']!r}"
            if "CUDA_VISIBLE_DEVICES" in os.environ
            else "nvidia-smi -L / torch"
        )
        raise DeviceError(
            f"{holder or 'this job'} needs {n} GPU(s) but {len(visible)} are visible here ({source}). "
            f"Run on a machine with {n} GPUs, or cap Snakemake's gpu resource at this machine's count "
            f"(--resources gpu={len(visible)}), which runs the job on fewer devices"
        )
    _check_cuda_not_started()
    if os.environ.get("SLURM_JOB_ID"):
        chosen: list[str] = visible[:n]
        files: list[IO[str]] = []
    else:
        chosen, files = _lock_devices(n, visible, lock_dir, wait_s, holder)
    claim = GpuClaim(
        devices=tuple(chosen), _files=files, _previous_env=os.environ.get("CUDA_VISIBLE_DEVICES"), _env_set=True
    )
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(chosen)
    os.environ[CLAIMED_ENV] = str(len(chosen))
    atexit.register(claim.release)
    return claim


def _lock_devices(
    n: int, visible: list[str], lock_dir: str | os.PathLike[str] | None, wait_s: float | None, holder: str
) -> tuple[list[str], list[IO[str]]]:
    folder = Path(lock_dir or os.environ.get(LOCK_DIR_ENV) or DEFAULT_LOCK_DIR).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    wait = float(os.environ.get(WAIT_ENV, DEFAULT_WAIT_S)) if wait_s is None else wait_s
    host = socket.gethostname()
    record = f"pid {os.getpid()} on {host}" + (f" ({holder})" if holder else "")
    deadline = time.monotonic() + wait
    told = False
    while True:
        held: list[tuple[str, IO[str]]] = []
        for dev in visible:
            fh = _try_lock(_lock_path(folder, host, dev), record)
            if fh is not None:
                held.append((dev, fh))
                if len(held) == n:
                    return [d for d, _ in held], [f for _, f in held]
        # All or nothing: keeping a partial set while waiting could deadlock two claimers.
        for _, fh in held:
            fh.close()
        others = _holders(folder, host, visible)
        if time.monotonic() >= deadline:
            raise DeviceError(
                f"{holder or 'this job'} needs {n} of the GPUs {visible} but only {len(held)} came free "
                f"within {wait:g} s; held by: {others or 'unknown'} (lock folder {folder})"
            )
        if not told:
            print(f"repro: waiting for {n} free GPU(s); held by: {others}", file=sys.stderr)
            told = True
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
