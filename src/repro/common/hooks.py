"""End-of-run hook for the Snakefile: let ``snakemake`` exit as soon as its last job is done.

The default profile sets ``max-jobs-per-timespan: 500/5s`` so that Snakemake re-runs its job selection
every 5 s rather than every second (each selection stats every input of every ready job; README,
"Speed"). Snakemake schedules that re-selection with a non-daemon :class:`threading.Timer`, and Python
waits for such threads before it exits: without this hook every run that started a job would linger up
to 5 s after its last job. The Snakefile's ``onsuccess``/``onerror`` hooks run after the scheduler has
returned, when a pending re-selection has nothing left to do, so cancelling the timers is safe.
"""

from __future__ import annotations

import threading


def cancel_pending_timers() -> int:
    """Cancel every live, non-daemon :class:`threading.Timer` of this process; return how many."""
    cancelled = 0
    for thread in threading.enumerate():
        if isinstance(thread, threading.Timer) and thread.is_alive() and not thread.daemon:
            thread.cancel()
            cancelled += 1
    return cancelled
