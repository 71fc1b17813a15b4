"""The static-file stand-in (issue 28; repro.common.standins.files): a pinned download the mirror lacks (pplcorr's
RedPajama-V2 sample) is served at the rehearsal by a local server that answers like raw.githubusercontent.com, with
the real file's schema, and the paper's fetch code (repro.common.gitblob.fetch_git_blob) reads it by URL and pin."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
import yaml
from fastapi.testclient import TestClient

from repro.common.config import resolve
from repro.common.fetch import FetchError, mirror_key
from repro.common.gitblob import fetch_git_blob, git_blob_sha1
from repro.common.standins.build import StandinSpecError, build, file_sources
from repro.common.standins.files import FILES_DIR, make_app
from repro.pplcorr import data, exact

ROOT = Path(__file__).resolve().parents[3]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
SERVER = PARAMS["standins"]["servers"]["github-raw"]


def released(mirror: Path, name: str) -> Path:
    base = resolve(PARAMS, "pplcorr", "paper")["data"]
    url = base["url"].format(commit=base["commit"], file=base["files"][name]["file"])
    return mirror / mirror_key(url)


@pytest.fixture
def built(mirror: Path, tmp_path: Path) -> Path:
    sources = {s: released(mirror, s.split(".", 1)[1]) for s in file_sources(SERVER)}
    out = tmp_path / "github-raw"
    build("servers", "github-raw", SERVER, [], out, sources=sources)
    return out


def test_the_stand_in_has_the_real_schema_and_the_pinned_blob(built: Path, mirror: Path) -> None:
    """The rehearsal pins the stand-in's git blob id (params.yaml pplcorr.paper_toy.rpjv2.git_blob): the bytes are
    made by string operations only, so every machine builds the same file."""
    toy = resolve(PARAMS, "pplcorr", "paper_toy")["rpjv2"]
    (path,) = SERVER["files"]
    served = built / FILES_DIR / path
    assert git_blob_sha1(served) == toy["git_blob"]
    X = data.load_bpb(served, id_column="domain")  # the paper's loader, with the RPJv2 file's id column
    synthetic = data.load_bpb(released(mirror, "bpb_synthetic"))
    assert list(X.index) == list(synthetic.index)  # the released LLMs
    n_texts = synthetic.shape[1]
    for i in (0, n_texts - 1, n_texts, X.shape[1] - 1):  # values copied as written, the texts cycled
        assert (X.iloc[:, i].to_numpy() == synthetic.iloc[:, i % n_texts].to_numpy()).all(), i
    # every released RPJv2 top-ten domain sits at its row under its name (what the exact step checks)
    for target in resolve(PARAMS, "pplcorr", "paper")["exact"]["targets"]:
        for i, name in exact.reference_top_ten(released(mirror, f"info_{target}")).items():
            assert X.columns[i] == name, (target, i)
    assert X.shape[1] == 1 + max(
        i
        for t in PARAMS["pplcorr"]["base"]["exact"]["targets"]
        for i in exact.reference_top_ten(released(mirror, f"info_{t}"))
    )


def test_the_server_answers_like_a_raw_host(built: Path) -> None:
    http = TestClient(make_app(built))
    (path,) = SERVER["files"]
    got = http.get(f"/{path}")
    assert got.status_code == 200 and got.content == (built / FILES_DIR / path).read_bytes()
    assert http.head(f"/{path}").status_code == 200
    assert http.get("/TristanThrush/perplexity-correlations/nope.csv").status_code == 404
    assert http.get("/../../etc/passwd").status_code == 404


def test_a_bad_files_spec_names_the_key(tmp_path: Path) -> None:
    spec = {"api": "files", "files": {"a/b.csv": {"schema": "nope", "source": "x.y"}}}
    with pytest.raises(StandinSpecError, match=r"standins\.servers\.s\.files\.a/b\.csv\.schema 'nope'"):
        build("servers", "s", spec, [], tmp_path / "s", sources={"x.y": tmp_path / "src"})
    assert not (tmp_path / "s").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_fetch_git_blob_downloads_what_the_mirror_lacks(built: Path, tmp_path: Path, mirror: Path) -> None:
    """The paper's fetch code over HTTP: a URL the mirror does not hold is downloaded (and its blob checked), even
    with REPRO_MIRROR set; a host that does not answer is a FetchError naming the mirror path it looked at."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(make_app(built), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        (path,) = SERVER["files"]
        pin = resolve(PARAMS, "pplcorr", "paper_toy")["rpjv2"]["git_blob"]
        got = fetch_git_blob(f"http://127.0.0.1:{port}/{path}", pin, tmp_path / "rpjv2.csv")
        assert git_blob_sha1(got) == pin
        with pytest.raises(FetchError, match="git blob id mismatch"):
            fetch_git_blob(f"http://127.0.0.1:{port}/{path}", "0" * 40, tmp_path / "bad.csv")
        assert not (tmp_path / "bad.csv").exists()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    with pytest.raises(FetchError, match=r"cannot download .*; not in the mirror \("):
        fetch_git_blob(f"http://127.0.0.1:{_free_port()}/{path}", pin, tmp_path / "gone.csv", timeout=5)
