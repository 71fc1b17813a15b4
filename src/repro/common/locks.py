"""Resume after a killed run: tell Snakemake's stale locks from a live run's.

Snakemake locks the files a run will read and write (``.snakemake/locks/<n>.<input|output>.lock``)
and removes the locks when it exits. A run killed with SIGKILL (or by a power loss, an OOM kill, a
cluster pre-emption) leaves its locks behind, and every later ``snakemake`` refuses to start until
someone runs ``snakemake --unlock``; yet two live runs in one checkout must still be refused.

This module records who owns each lock: when a run starts its jobs (the Snakefile's ``onstart``
hook, called with the locks held) :func:`record_owner` writes ``.snakemake/repro-locks/<n>.json``
with the process id, its start time (so that a reused pid is not mistaken for the owner), the host
and the command line. At the next parse, :func:`release_stale_locks` removes the lock files whose
recorded owner is gone, and :func:`live_owners` names a live one, so that the error says which run
holds the checkout. Locks without a record (a run killed before it started its jobs, a run on
another host, a non-file persistence backend) are left alone: Snakemake's own error, which
suggests ``--unlock``, applies to them.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from repro.common.io import atomic_write_text

_RECORDS = "repro-locks"


@dataclass(frozen=True)
class LockOwner:
    """The Snakemake process that holds a set of lock files."""

    pid: int
    start_ticks: int  # field 22 of /proc/<pid>/stat: distinguishes a reused pid
    host: str
    command: str
    lockfiles: tuple[str, ...]
    record: Path

    def alive(self) -> bool:
        """True while the recorded process runs (on another host we cannot tell: assume it does)."""
        if self.host != socket.gethostname():
            return True
        return _start_ticks(self.pid) == self.start_ticks


def _start_ticks(pid: int) -> int | None:
    """The start time of a live process in clock ticks since boot, or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces: split after it.
    return int(stat.rsplit(")", 1)[1].split()[19])


def record_owner(snakemake_dir: Path, lockfiles: list[str]) -> Path | None:
    """Record this process as the owner of ``lockfiles`` (the run's own lock files).

    Called from the Snakefile's ``onstart`` hook, i.e. with the locks held. Returns the record's
    path, or None where the lock files are unknown (nothing to record).
    """
    ticks = _start_ticks(os.getpid())
    if not lockfiles or ticks is None:
        return None
    first = min(Path(f).name.split(".")[0] for f in lockfiles)
    record = snakemake_dir / _RECORDS / f"{first}.json"
    record.parent.mkdir(parents=True, exist_ok=True)
    owner = {
        "pid": os.getpid(),
        "start_ticks": ticks,
        "host": socket.gethostname(),
        "command": " ".join(sys.argv),
        "lockfiles": sorted(str(Path(f).resolve()) for f in lockfiles),
    }
    atomic_write_text(record, json.dumps(owner, indent=1) + "\n")
    return record


def _owners(snakemake_dir: Path) -> list[LockOwner]:
    owners = []
    for record in sorted((snakemake_dir / _RECORDS).glob("*.json")):
        try:
            raw = json.loads(record.read_text())
            owners.append(
                LockOwner(
                    pid=int(raw["pid"]),
                    start_ticks=int(raw["start_ticks"]),
                    host=str(raw["host"]),
                    command=str(raw["command"]),
                    lockfiles=tuple(raw["lockfiles"]),
                    record=record,
                )
            )
        except (OSError, ValueError, KeyError, TypeError):
            record.unlink(missing_ok=True)  # a record cut short by a kill: it protects nothing
    return owners


def release_stale_locks(snakemake_dir: Path) -> list[LockOwner]:
    """Remove the lock files of recorded owners that are no longer running; return those owners.

    Records whose lock files are already gone (the run ended normally) are removed too.
    """
    released = []
    for owner in _owners(snakemake_dir):
        present = [Path(f) for f in owner.lockfiles if Path(f).exists()]
        if present and owner.alive():
            continue
        for lock in present:
            lock.unlink(missing_ok=True)
        owner.record.unlink(missing_ok=True)
        if present:
            released.append(owner)
    return released


def live_owners(snakemake_dir: Path) -> list[LockOwner]:
    """Recorded owners that still run and still hold lock files."""
    return [o for o in _owners(snakemake_dir) if o.alive() and any(Path(f).exists() for f in o.lockfiles)]
