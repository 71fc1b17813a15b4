"""repro.common.hooks: the end-of-run hook cancels pending non-daemon timers (so snakemake exits at once)."""

from __future__ import annotations

import threading

from repro.common.hooks import cancel_pending_timers


def test_pending_timer_is_cancelled_and_never_fires():
    fired = threading.Event()
    timer = threading.Timer(60.0, fired.set)
    timer.start()
    daemon = threading.Timer(60.0, fired.set)
    daemon.daemon = True  # daemon timers do not hold up the exit: left alone
    daemon.start()
    try:
        assert cancel_pending_timers() == 1
        timer.join(timeout=5.0)
        assert not timer.is_alive()
        assert daemon.is_alive()
        assert not fired.is_set()
    finally:
        daemon.cancel()
        timer.cancel()
