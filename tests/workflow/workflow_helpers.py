"""Helpers for workflow tests: run snakemake/dvc in a throwaway copy of the repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from repro.common.scorecard import Scorecard

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the venv's bin: snakemake and dvc live next to python


def run(
    cmd: list[str], cwd: Path, check: bool = True, timeout: int = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command with the venv on PATH (and ``env`` added); on failure show its output in the assertion."""
    full = dict(os.environ)
    full["PATH"] = f"{BIN}{os.pathsep}{full.get('PATH', '')}"
    full.update(env or {})
    proc = subprocess.run(cmd, cwd=cwd, env=full, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\n--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-6000:]}"
        )
    return proc


def copy_repo(dest: Path) -> Path:
    """Copy the project's files (tracked and untracked, not ignored) into ``dest``."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def snakemake(args: list[str], cwd: Path, check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return run([str(BIN / "snakemake"), *args], cwd, check=check, timeout=timeout)


def smoke_run(
    repo: Path,
    slug: str,
    required: list[str],
    figures: tuple[str, ...],
    cores: int | None = None,
    timeout: int = 900,
) -> tuple[dict, Scorecard]:
    """The common end-to-end smoke check of one paper, shared by every ``test_<slug>_smoke.py``.

    Runs ``snakemake <slug>`` at smoke scale in ``repo``; asserts that every key in ``required`` is in its
    numbers.json, that each figure in ``figures`` is a real plot (over 10 kB), that the scorecard passes
    (the exact tier is enforced at every scale) and that a second dry run has nothing to do, without
    importing the modules that would make a no-change ``snakemake`` slow (``SLOW_AT_START``).
    Returns (numbers, scorecard) for the paper-specific assertions.
    """
    from repro.common.registry import load_registry
    from repro.common.scorecard import check_scorecard, evaluate_scorecard

    cores_arg = [f"-c{cores}"] if cores else []
    snakemake([*cores_arg, "--config", "scale=smoke", "--", slug], repo, timeout=timeout)
    path = repo / f"results/smoke/{slug}/numbers.json"
    numbers = json.loads(path.read_text())
    missing = [k for k in required if k not in numbers]
    assert not missing, f"{slug} numbers.json lacks {missing}"
    for fig in figures:
        png = repo / f"results/smoke/{slug}/figures/{fig}.png"
        assert png.stat().st_size > 10_000, f"{png} is {png.stat().st_size} bytes: not a real plot"
    titles = load_registry(repo / "workflow/papers.yaml").titles
    card = evaluate_scorecard("smoke", {slug: path}, [repo / f"workflow/expected/{slug}.yaml"], titles=titles)
    check_scorecard(card)
    again = run(
        [sys.executable, "-X", "importtime", str(BIN / "snakemake"), "-n", "--config", "scale=smoke", "--", slug], repo
    )
    assert "Nothing to be done" in again.stdout, f"a second dry run of {slug} plans jobs:\n{again.stdout[-3000:]}"
    slow = sorted(imported_modules(again.stderr) & set(SLOW_AT_START))
    assert not slow, f"a no-change dry run of {slug} imports {slow}: {[SLOW_AT_START[m] for m in slow]}"
    return numbers, card


# Modules a no-change `snakemake -n` must not import (README "Speed": the goal is under 3 s), and why one would be.
SLOW_AT_START = {
    "pandas": "Snakemake imports pandas to compare a rule's `params:` with its record; rules carry no `params:` "
    "(workflow/rules/common.smk: step_params, params_file, pins_file)",
    "torch": "a rules file imports a library module at parse time; import it inside the step instead",
    "matplotlib": "a rules file imports a plotting module at parse time",
    "snakemake_executor_plugin_slurm": "the cluster plugins belong in .cluster-plugins, not in the venv "
    "(README, Quick start): Snakemake imports every installed plugin at each start",
    "snakemake_executor_plugin_kubernetes": "as snakemake_executor_plugin_slurm",
    "snakemake_storage_plugin_s3": "as snakemake_executor_plugin_slurm",
}


def imported_modules(importtime_stderr: str) -> set[str]:
    """The top-level packages named in ``python -X importtime`` output."""
    names = set()
    for line in importtime_stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def planned_rules(dry_run_stdout: str) -> dict[str, int]:
    """The job-count table of a `snakemake -n` run: {rule: count} (without 'total')."""
    counts: dict[str, int] = {}
    lines = dry_run_stdout.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("job") and "count" in line:
            for row in lines[i + 2 :]:
                parts = row.split()
                if len(parts) != 2 or not parts[1].isdigit():
                    break
                if parts[0] != "total":
                    counts[parts[0]] = int(parts[1])
            break
    return counts


# --- Real services on 127.0.0.1 for the sharing/report tests (sshd, an S3 server, a headless browser) ---------


def require_binary(name: str, *candidates: str, hint: str) -> str:
    """The path of a system binary the test needs; a clear failure (never a skip) when it is missing.

    ``.ci/run`` installs these with apt-get; ``hint`` says which package provides the binary.
    """
    import pytest

    for cand in (name, *candidates):
        found = shutil.which(cand) or (cand if os.path.isabs(cand) and os.access(cand, os.X_OK) else None)
        if found:
            return found
    pytest.fail(f"required binary {name!r} not found (tried {[name, *candidates]}): {hint}", pytrace=False)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, what: str, log: Path, timeout: float = 30.0) -> None:
    """Wait until ``port`` accepts connections; fail with the server's log if it exits or times out."""
    import socket
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode} before listening on {port}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    stop(proc)
    raise AssertionError(f"{what} did not listen on 127.0.0.1:{port} within {timeout} s:\n{log.read_text()}")


def stop(proc: subprocess.Popen) -> None:
    """Terminate a server this test started (and only it)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def start_sshd(base: Path) -> tuple[subprocess.Popen, dict[str, str]]:
    """A real OpenSSH server (Debian ``openssh-server``) on 127.0.0.1 with a throwaway host and client key.

    Returns the process and {"user", "port", "keyfile"} for a client that logs in as the current user.
    """
    import getpass

    sshd = require_binary("sshd", "/usr/sbin/sshd", hint="apt-get install -y openssh-server (see .ci/run)")
    keygen = require_binary("ssh-keygen", hint="apt-get install -y openssh-client (see .ci/run)")
    base.mkdir(parents=True, exist_ok=True)
    host_key, client_key = base / "host_ed25519", base / "client_ed25519"
    for key in (host_key, client_key):
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    authorized = base / "authorized_keys"
    authorized.write_text((base / "client_ed25519.pub").read_text())
    authorized.chmod(0o600)
    port = free_port()
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory (as the service does)
    config = base / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {host_key}",
                f"AuthorizedKeysFile {authorized}",
                f"PidFile {base / 'sshd.pid'}",
                "StrictModes no",
                "UsePAM no",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "PermitRootLogin prohibit-password",
                "Subsystem sftp internal-sftp",
                "LogLevel ERROR",
                "",
            ]
        )
    )
    log = base / "sshd.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(config)], stdout=out, stderr=subprocess.STDOUT)
    wait_port(port, proc, "sshd", log)
    return proc, {"user": getpass.getuser(), "port": str(port), "keyfile": str(client_key)}


S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def start_s3_server(base: Path, bucket: str) -> tuple[subprocess.Popen, str]:
    """moto's S3-compatible server (``moto[server]``) on 127.0.0.1 with ``bucket`` created; returns (process, url)."""
    port = free_port()
    base.mkdir(parents=True, exist_ok=True)
    log = base / "moto_server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **S3_CREDENTIALS},
        )
    wait_port(port, proc, "moto_server", log)
    url = f"http://127.0.0.1:{port}"
    import boto3

    boto3.client("s3", endpoint_url=url, **_boto_credentials()).create_bucket(Bucket=bucket)
    return proc, url


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "region_name": S3_CREDENTIALS["AWS_DEFAULT_REGION"],
    }


CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--window-size=1400,1000",
)


class Browser:
    """A real headless Chromium (Debian ``chromium``) driven over the DevTools protocol (websocket-client).

    Started with a fresh ``--user-data-dir`` and ``--remote-debugging-port=0`` (the port is read back from
    DevToolsActivePort); one page target; :meth:`evaluate` runs JavaScript (awaiting promises) and
    :meth:`screenshot` returns PNG bytes. Use as a context manager: the process is ended on exit.
    """

    def __init__(self, base: Path) -> None:
        self.base = base
        self.binary = require_binary(
            "chromium", "chromium-browser", hint="apt-get install -y chromium (Debian's package; see .ci/run)"
        )
        self._id = 0
        self.events: list[dict] = []

    def __enter__(self) -> Browser:
        import json
        import time
        import urllib.request

        import websocket

        profile = self.base / "chromium-profile"
        profile.mkdir(parents=True, exist_ok=True)
        log = self.base / "chromium.log"
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                [
                    self.binary,
                    *CHROMIUM_FLAGS,
                    f"--user-data-dir={profile}",
                    "--remote-debugging-port=0",
                    "about:blank",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        active = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (active.exists() and active.read_text().count("\n") >= 1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                stop(self.proc)
                raise AssertionError(f"chromium did not start (exit {self.proc.returncode}):\n{log.read_text()}")
            time.sleep(0.1)
        port = int(active.read_text().splitlines()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            pages = [t for t in json.load(resp) if t["type"] == "page"]
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=120, suppress_origin=True)
        self.call("Page.enable")
        self.call("Runtime.enable")
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.ws.close()
        finally:
            stop(self.proc)

    def call(self, method: str, **params):
        """One DevTools command; returns its result (events that arrive meanwhile are kept in ``events``)."""
        import json

        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return msg["result"]
            self.events.append(msg)

    def open(self, url: str, timeout: float = 60.0) -> None:
        """Navigate and wait for the load event."""
        import json
        import time

        self.events = []
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            if time.monotonic() > deadline:
                raise AssertionError(f"{url}: no load event within {timeout} s")
            self.events.append(json.loads(self.ws.recv()))

    def evaluate(self, expression: str):
        """The value of a JavaScript expression (promises awaited); a JavaScript exception fails the test."""
        res = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in res:
            raise AssertionError(f"JavaScript error: {res['exceptionDetails']}")
        return res["result"].get("value")

    def screenshot(self) -> bytes:
        import base64

        return base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])


def png_is_blank(png: bytes) -> tuple[bool, str]:
    """Whether a screenshot is (nearly) one flat colour; also a short description of its pixels."""
    import io

    import matplotlib.image
    import numpy as np

    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")[..., :3]
    background = np.median(pixels.reshape(-1, 3), axis=0)
    differs = np.abs(pixels - background).max(axis=-1) > 0.1
    distinct = len(np.unique((pixels.reshape(-1, 3) * 255).astype(np.uint8), axis=0))
    desc = (
        f"{pixels.shape[1]}x{pixels.shape[0]} px, {differs.mean():.1%} differ from the background, {distinct} colours"
    )
    return bool(differs.mean() < 0.01 or distinct < 16), desc
