"""The rehearsal's stand-in servers, started and stopped by the workflow (issue 28, item 1).

At ``paper_toy`` the papers' API clients talk to local servers at the base URLs the params give them (e.g.
``ideagen.paper_toy.retrieval.base_url: http://127.0.0.1:18431/graph/v1``), the way an S3-compatible server stands
in for S3: the client code is the paper-scale code, only the URL differs. params.yaml's top-level ``standins.servers``
names each server: the ``module:function`` that builds its ASGI app from a data file, the data file (built by a
``standins__*`` rule), and the port.

The workflow's ``onstart`` (workflow/rules/common.smk) runs :func:`start` once per rehearsal: one supervisor process
binds every port first (a busy port stops the run before any job, naming the server and port) and serves each app on
its own thread. An app is built on its first request, not at start: its data file is a rule output that does not
exist before the run's jobs make it, and every step that calls a server has the server's data file as an input
(``standin_inputs`` in common.smk), so the file exists by then. ``onsuccess`` / ``onerror`` stop the supervisor, and
the supervisor exits by itself when the Snakemake process that started it is gone (a killed run leaves no server).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
ROOT = "results/paper_toy/standins"  # where rule standins__build writes <kind>/<name>


class StandinError(RuntimeError):
    """A stand-in server could not start (busy port, bad spec, the supervisor died)."""


@dataclass(frozen=True)
class ServerSpec:
    """One stand-in server: ``app`` = ``module:function`` taking the data path (and ``options``) to an ASGI app."""

    name: str
    app: str
    data: str
    port: int
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def server_specs(block: Mapping[str, Any] | None) -> list[ServerSpec]:
    """The servers of params.yaml's ``standins.servers`` (name -> {app, port, options}), in name order; each
    serves the folder ``results/paper_toy/standins/servers/<name>`` that rule standins__build makes."""
    servers = (block or {}).get("servers") or {}
    specs = []
    for name, spec in sorted(servers.items()):
        missing = [k for k in ("app", "port") if k not in spec]
        if missing:
            raise StandinError(f"params.yaml: standins.servers.{name} has no {missing}")
        if ":" not in str(spec["app"]):
            raise StandinError(f"params.yaml: standins.servers.{name}.app {spec['app']!r} is not module:function")
        data = f"{ROOT}/servers/{name}"
        specs.append(ServerSpec(name, str(spec["app"]), data, int(spec["port"]), dict(spec.get("options") or {})))
    ports = [s.port for s in specs]
    if len(set(ports)) != len(ports):
        raise StandinError(f"params.yaml: standins.servers use a port twice: {ports}")
    return specs


def server_for_url(specs: Sequence[ServerSpec], value: str) -> ServerSpec | None:
    """The stand-in server a URL points at (its host and port), or None."""
    for spec in specs:
        if value == spec.url or value.startswith(spec.url + "/"):
            return spec
    return None


def referenced_standins(value: Any, specs: Sequence[ServerSpec]) -> list[str]:
    """The stand-in folders a step's params refer to (sorted, unique): every string naming a path under
    ``results/paper_toy/standins/<kind>/<name>`` gives that folder, every URL of a stand-in server gives the
    server's folder. The workflow makes them inputs of the step, so stand-ins are built before the steps that
    read them (and served data exists before a step calls the server)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for child in node.values():
                walk(child)
        elif isinstance(node, (list, tuple)):
            for child in node:
                walk(child)
        elif isinstance(node, str):
            if node.startswith(ROOT + "/"):
                parts = node[len(ROOT) + 1 :].split("/")
                if len(parts) < 2 or not parts[1]:
                    raise StandinError(f"{node!r}: a stand-in path is {ROOT}/<kind>/<name>[/...]")
                found.add(f"{ROOT}/{parts[0]}/{parts[1]}")
            elif (spec := server_for_url(specs, node)) is not None:
                found.add(spec.data)

    walk(value)
    return sorted(found)


def unconfigured_standins(folders: Sequence[str], block: Mapping[str, Any] | None) -> list[str]:
    """The folders of :func:`referenced_standins` that params.yaml ``standins`` does not describe (no rule could
    build them): a typo in a ``<slug>.paper_toy`` path is named at parse time, not as a missing input."""
    block = block or {}
    bad = []
    for folder in folders:
        kind, name = folder[len(ROOT) + 1 :].split("/")[:2]
        if name not in (block.get(kind) or {}):
            bad.append(folder)
    return bad


class LazyApp:
    """An ASGI app built on its first request from the spec's data file (which a rule builds during the run).

    Until the file exists every request gets 503 naming it, so a step run without its stand-in input fails
    clearly (after the client's retries) instead of talking to an empty server.
    """

    def __init__(self, spec: ServerSpec) -> None:
        self.spec = spec
        self.app: Any = None
        self.lock = threading.Lock()

    def _build(self) -> Any:
        with self.lock:
            if self.app is None:
                module, _, function = self.spec.app.partition(":")
                factory = getattr(importlib.import_module(module), function)
                self.app = factory(self.spec.data, **self.spec.options)
                print(f"standins: {self.spec.name} serves {self.spec.data} at {self.spec.url}", file=sys.stderr)
            return self.app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.app is None and not Path(self.spec.data).exists():
            body = json.dumps(
                {"error": f"stand-in {self.spec.name}: its data {self.spec.data} is not built yet (standins__ rule)"}
            ).encode()
            await send(
                {"type": "http.response.start", "status": 503, "headers": [(b"content-type", b"application/json")]}
            )
            await send({"type": "http.response.body", "body": body})
            return
        app = self.app if self.app is not None else self._build()
        await app(scope, receive, send)


def _watch_parent(parent: int, stop: threading.Event) -> None:
    """Set ``stop`` when process ``parent`` is gone (a killed Snakemake must not leave servers behind)."""
    while not stop.is_set():
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            stop.set()
            return
        except PermissionError:  # exists, owned by someone else: cannot happen for our parent, keep serving
            pass
        stop.wait(1.0)


def supervise(specs: Sequence[ServerSpec], parent: int | None = None) -> int:
    """Bind every port (all or none), print ``ready``, serve until SIGTERM or the parent is gone."""
    from repro.common.llm.serve import ServerThread, _bind

    sockets = []
    for spec in specs:
        try:
            sockets.append(_bind(HOST, spec.port))
        except OSError as err:
            for sock in sockets:
                sock.close()
            print(f"standins: {spec.name} cannot listen on {HOST}:{spec.port}: {err.strerror or err}", flush=True)
            return 3
    threads = [ServerThread(LazyApp(spec), sock).start() for spec, sock in zip(specs, sockets)]
    print("ready", flush=True)
    stop = threading.Event()
    if parent is not None:
        threading.Thread(target=_watch_parent, args=(parent, stop), daemon=True).start()
    import signal

    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    for thread in threads:
        thread.shutdown()
        thread.server_close()
    return 0


class Supervisor:
    """The running supervisor process of :func:`start`; :meth:`stop` ends it (idempotent)."""

    def __init__(self, process: subprocess.Popen[str], specs: Sequence[ServerSpec]) -> None:
        self.process, self.specs = process, list(specs)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(specs: Sequence[ServerSpec], *, log_path: str | os.PathLike[str], timeout: float = 60.0) -> Supervisor:
    """Start the supervisor of ``specs`` (a child of this process, which it outlives by at most a second) and wait
    until every port listens; :class:`StandinError` when a port is taken or the supervisor dies."""
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "a")  # noqa: SIM115 - the child writes to it for its whole life
    cmd = [sys.executable, "-m", "repro.common.standins.serve", "--parent", str(os.getpid())]
    cmd += ["--specs", json.dumps([asdict(s) for s in specs])]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
    line = ""
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    with selectors.DefaultSelector() as waiting:  # wait for its first line at most until the deadline
        waiting.register(process.stdout, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0 and waiting.select(timeout=left):
            line = process.stdout.readline().strip()
            if line or process.poll() is not None:
                break
    if line != "ready":
        process.kill()
        process.wait()
        raise StandinError(line or f"the stand-in servers did not start within {timeout:.0f} s (log: {log_path})")
    for spec in specs:  # the sockets listen before "ready"; check from outside anyway
        with socket.create_connection((HOST, spec.port), timeout=5):
            pass
    return Supervisor(process, specs)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--specs", required=True, help="JSON list of ServerSpec fields")
    ap.add_argument("--parent", type=int, default=None, help="exit when this process is gone")
    args = ap.parse_args(argv)
    specs = [ServerSpec(**s) for s in json.loads(args.specs)]
    return supervise(specs, args.parent)


if __name__ == "__main__":
    sys.exit(main())
