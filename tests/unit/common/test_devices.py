"""Per-job GPUs on one machine (issue 28): repro.common.devices.claim_gpus with fake devices.

``REPRO_FAKE_GPUS=N`` pretends this machine has N GPUs; each claimer is a separate process (a claim sets
``CUDA_VISIBLE_DEVICES`` in its own process, as a Snakemake job's does), holding its devices until told to exit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from repro.common.declarations import step
from repro.common.devices import DeviceError, claim_gpus, visible_gpus
from repro.common.steps import StepResult, run_step

# A claimer: claim N devices, print them as JSON, hold them until the file argv[3] exists, then exit.
CLAIMER = """
import json, sys, time
from pathlib import Path
from repro.common.devices import claim_gpus
claim = claim_gpus(int(sys.argv[1]), lock_dir=sys.argv[2], wait_s=0, holder="claimer")
print(json.dumps(list(claim.devices)), flush=True)
while not Path(sys.argv[3]).exists():
    time.sleep(0.05)
"""


@pytest.fixture
def fake_gpus(monkeypatch, tmp_path) -> Path:
    """Four fake GPUs, no CUDA_VISIBLE_DEVICES; returns the lock folder."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.setenv("REPRO_FAKE_GPUS", "4")
    return tmp_path / "locks"


class Claimers:
    """Claimer processes started by a test; all of them are told to exit (and reaped) at its end."""

    def __init__(self, locks: Path, tmp: Path) -> None:
        self.locks, self.stop, self.procs = locks, tmp / "stop", []

    def start(self, n: int) -> tuple[subprocess.Popen[str], list[str]]:
        proc = subprocess.Popen(
            [sys.executable, "-c", CLAIMER, str(n), str(self.locks), str(self.stop)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        line = proc.stdout.readline()
        assert line, f"claimer exited: {proc.wait(timeout=30)} {proc.stderr.read()}"
        return proc, json.loads(line)

    def close(self) -> None:
        self.stop.touch()
        for proc in self.procs:
            proc.wait(timeout=30)


@pytest.fixture
def claimers(fake_gpus, tmp_path) -> Iterator[Claimers]:
    c = Claimers(fake_gpus, tmp_path)
    yield c
    c.close()


def test_visible_gpus_prefers_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("REPRO_FAKE_GPUS", "8")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert visible_gpus() == ["3", "5"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,-1,4")  # CUDA stops at the first invalid entry
    assert visible_gpus() == ["2"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == []
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert visible_gpus() == [str(i) for i in range(8)]


def test_two_concurrent_claimers_get_disjoint_devices(claimers):
    _, first = claimers.start(2)
    _, second = claimers.start(2)
    assert len(first) == len(second) == 2
    assert not set(first) & set(second), (first, second)
    assert set(first) | set(second) == {"0", "1", "2", "3"}


def test_a_claim_waits_for_no_one_when_every_device_is_held_and_names_the_holders(claimers, fake_gpus):
    claimers.start(3)
    with pytest.raises(DeviceError, match=r"needs 2 of the GPUs .* only 1 came free .*claimer"):
        claim_gpus(2, lock_dir=fake_gpus, wait_s=0)
    # All or nothing: the failed claim left the one free device free.
    with claim_gpus(1, lock_dir=fake_gpus, wait_s=0) as claim:
        assert len(claim.devices) == 1


def test_a_claim_larger_than_the_visible_devices_fails_clearly(fake_gpus):
    with pytest.raises(DeviceError, match=r"needs 5 GPU\(s\) but 4 are visible here .*--resources gpu=4"):
        claim_gpus(5, lock_dir=fake_gpus, wait_s=0, holder="entigraph__cpt")


def test_a_killed_holders_devices_are_reclaimed(claimers, fake_gpus):
    proc, held = claimers.start(4)
    with pytest.raises(DeviceError):
        claim_gpus(1, lock_dir=fake_gpus, wait_s=0)
    proc.send_signal(signal.SIGKILL)  # no cleanup runs: the kernel drops its locks
    proc.wait(timeout=30)
    with claim_gpus(4, lock_dir=fake_gpus, wait_s=0) as claim:
        assert sorted(claim.devices) == sorted(held)


def test_a_claim_waits_for_a_holder_that_exits(claimers, fake_gpus):
    claimers.start(4)
    claimers.stop.touch()  # the holder exits within ~0.05 s; the claim below waits for it
    start = time.monotonic()
    with claim_gpus(2, lock_dir=fake_gpus, wait_s=30) as claim:
        assert len(claim.devices) == 2
    assert time.monotonic() - start < 25


def test_claim_sets_and_restores_cuda_visible_devices(fake_gpus):
    with claim_gpus(2, lock_dir=fake_gpus, wait_s=0) as claim:
        assert os.environ["CUDA_VISIBLE_DEVICES"] == ",".join(claim.devices)
        assert visible_gpus() == list(claim.devices)  # what the job (and CUDA) now sees
    assert "CUDA_VISIBLE_DEVICES" not in os.environ
    with claim_gpus(0, lock_dir=fake_gpus) as claim:  # a CPU job: nothing claimed, nothing changed
        assert claim.devices == () and "CUDA_VISIBLE_DEVICES" not in os.environ


def test_under_slurm_the_allocation_is_used_without_locks(fake_gpus, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")  # SLURM's (possibly renumbered) devices of this job
    with claim_gpus(2, lock_dir=fake_gpus, wait_s=0) as claim:
        assert claim.devices == ("0", "1")
    assert not fake_gpus.exists()
    with pytest.raises(DeviceError, match="needs 3 GPU"):
        claim_gpus(3, lock_dir=fake_gpus)


@step(reads=())
def probe_step(inputs) -> StepResult:
    """A step that records the devices it sees."""
    return StepResult(numbers={"probe": {"devices": os.environ.get("CUDA_VISIBLE_DEVICES")}})


def test_run_step_runs_the_step_on_the_rules_claimed_gpus(fake_gpus, monkeypatch, tmp_path):
    monkeypatch.setenv("REPRO_GPU_LOCK_DIR", str(fake_gpus))
    monkeypatch.setattr("repro.common.steps.step_function", lambda slug, name: probe_step)
    out = tmp_path / "numbers.json"
    result = run_step("fake__probe", {}, {"numbers": out}, gpus=2)
    assert result.numbers["probe"]["devices"] == "0,1"
    assert "CUDA_VISIBLE_DEVICES" not in os.environ  # released when the step ended
    assert run_step("fake__probe", {}, {"numbers": out}).numbers["probe"]["devices"] is None  # gpu=0: untouched
