"""The rehearsal's stand-in servers as the workflow runs them (repro.common.standins.serve, issue 28): specs from
params, the stand-ins a step's params refer to, and the supervisor process (ports, lazy data, shutdown)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import requests

from repro.common.standins.build import DATA_FILE, build
from repro.common.standins.serve import (
    ROOT,
    ServerSpec,
    StandinError,
    referenced_standins,
    server_specs,
    start,
    unconfigured_standins,
)

DOCS = [
    ("wikitext2", "Prompting methods", "Chain of thought prompting improves reasoning of large language models. " * 5),
    ("wikitext2", "Code generation", "Large language models write code; prompting with tests improves it. " * 5),
    ("wikitext2", "River Thames", "The Thames flows through London to the North Sea, past many bridges. " * 5),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_server_specs_from_params_and_their_errors():
    specs = server_specs({"servers": {"b": {"app": "m:f", "port": 2001}, "a": {"app": "m:g", "port": 2000}}})
    assert [(s.name, s.port, s.data) for s in specs] == [
        ("a", 2000, f"{ROOT}/servers/a"),
        ("b", 2001, f"{ROOT}/servers/b"),
    ]
    assert specs[0].url == "http://127.0.0.1:2000"
    with pytest.raises(StandinError, match=r"standins.servers.a has no \['port'\]"):
        server_specs({"servers": {"a": {"app": "m:f"}}})
    with pytest.raises(StandinError, match="not module:function"):
        server_specs({"servers": {"a": {"app": "m.f", "port": 1}}})
    with pytest.raises(StandinError, match="port twice"):
        server_specs({"servers": {"a": {"app": "m:f", "port": 1}, "b": {"app": "m:f", "port": 1}}})
    assert server_specs(None) == []


def test_referenced_standins_are_folders_and_servers():
    specs = [ServerSpec("s2", "m:f", f"{ROOT}/servers/s2", 18431)]
    params = {
        "tokenizer": {"hf_id": f"{ROOT}/tokenizers/llama-2"},
        "data": [f"{ROOT}/datasets/pile/data/train.jsonl", "monology/pile-uncopyrighted"],
        "retrieval": {"base_url": "http://127.0.0.1:18431/graph/v1", "other": "http://127.0.0.1:184310/x"},
    }
    assert referenced_standins(params, specs) == [
        f"{ROOT}/datasets/pile",
        f"{ROOT}/servers/s2",
        f"{ROOT}/tokenizers/llama-2",
    ]
    assert referenced_standins({"x": "https://api.semanticscholar.org/graph/v1"}, specs) == []
    with pytest.raises(StandinError, match="<kind>/<name>"):
        referenced_standins({"x": f"{ROOT}/tokenizers"}, specs)
    block = {"tokenizers": {"llama-2": {}}, "servers": {"s2": {}}}
    used = [f"{ROOT}/tokenizers/llama-2", f"{ROOT}/servers/s2", f"{ROOT}/tokenizers/llama2"]
    assert unconfigured_standins(used, block) == [f"{ROOT}/tokenizers/llama2"]


def test_supervisor_serves_lazily_and_stops(tmp_path, monkeypatch):
    """Before its data folder exists a server answers 503 naming it; once built it serves the real client; a taken
    port is refused naming the server; stop() frees the port."""
    monkeypatch.chdir(tmp_path)
    from repro.ideagen.retrieval import SemanticScholarClient, build_bank

    port = _free_port()
    spec = ServerSpec("semantic_scholar", "repro.common.standins.build:s2_app", f"{ROOT}/servers/s2", port)
    env_path = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(Path(__file__).parents[3] / "src"), env_path]))
    sup = start([spec], log_path=tmp_path / "servers.log", timeout=60)
    try:
        reply = requests.get(f"{spec.url}/graph/v1/paper/search", params={"query": "prompting"}, timeout=10)
        assert reply.status_code == 503 and "not built yet" in reply.json()["error"]
        build("servers", "s2", {"api": "semantic_scholar"}, DOCS, Path(spec.data))
        assert json.loads((Path(spec.data) / DATA_FILE).read_text())["papers"]
        client = SemanticScholarClient(None, base_url=f"{spec.url}/graph/v1", api_key_env=None, max_retries=0)
        hits = client.search("prompting large language models", 5)
        assert hits and {h.title for h in hits} <= {t for _, t, _ in DOCS}
        bank = build_bank(client, "prompting large language models", bank_size=3, limit=2, expand_top=2, max_queries=4)
        assert len({p.paper_id for p in bank}) == len(bank) >= 1
        with pytest.raises(StandinError, match=f"semantic_scholar cannot listen on 127.0.0.1:{port}"):
            start([spec], log_path=tmp_path / "servers2.log", timeout=30)
    finally:
        sup.stop()
    with socket.socket() as sock:  # the port is free again (SO_REUSEADDR: closed client connections linger)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))


def test_supervisor_exits_when_its_parent_is_killed(tmp_path):
    """A killed Snakemake leaves no server behind: the supervisor watches the process that started it."""
    port = _free_port()
    script = textwrap.dedent(
        f"""
        import time
        from repro.common.standins.serve import ServerSpec, start
        start([ServerSpec("s", "repro.common.standins.build:s2_app", "nowhere", {port})], log_path={str(tmp_path / "log")!r})
        print("started", flush=True)
        time.sleep(600)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[3] / "src")}
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    assert parent.stdout is not None and parent.stdout.readline().strip() == "started"
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                time.sleep(0.2)
        except OSError:
            break
    else:
        pytest.fail(f"the supervisor still listens on {port} 15 s after its parent was killed")
