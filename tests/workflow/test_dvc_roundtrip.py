"""DVC sharing round trip (DESIGN.md: "Snakemake owns the DAG; DVC versions and shares").

One checkout computes run@tiny-obsscaling once (the cheapest paper) and pushes it to three real remotes
started here on 127.0.0.1: a local folder, an SSH remote (the distribution's OpenSSH ``sshd`` with
``dvc-ssh``) and an S3 remote (``dvc-s3`` against moto's S3-compatible server). For each remote a fresh
git clone configures the remote, pulls with ``python -m repro.common.dvcsync pull`` and has nothing to
rerun; a parameter edit makes exactly the affected rules rerun and DVC report the stage as changed, so a
stale result is never reported as current. "Every paper's artifacts" is checked structurally: dvc.yaml has
a run stage per registered paper and scale and a fetch stage per download group (test_dvc_stages.py).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from workflow_helpers import (
    BIN,
    S3_CREDENTIALS,
    copy_repo,
    planned_rules,
    run,
    snakemake,
    start_s3_server,
    start_sshd,
    stop,
)

AGENTS_EDIT = ("      test_fraction: 0.1\n", "      test_fraction: 0.2\n")
REMOTES = ["local", "ssh", "s3"]
BUCKET = "repro-dvc"


def _git(args: list[str], cwd: Path) -> None:
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd)


def _dvc(args: list[str], cwd: Path, check: bool = True):
    return run([str(BIN / "dvc"), *args], cwd, check=check, env=S3_CREDENTIALS)


def _edit(repo: Path) -> None:
    p = repo / "params.yaml"
    text = p.read_text()
    assert AGENTS_EDIT[0] in text
    p.write_text(text.replace(*AGENTS_EDIT, 1))


def _configure_remote(repo: Path, name: str, url: str, options: dict[str, str]) -> None:
    """What `dvc remote add --local NAME URL` + `dvc remote modify --local NAME KEY VALUE` write (access
    details stay out of git, as a collaborator would set them), written at once: one dvc process per option
    would cost a second of CPU each."""
    lines = [f"['remote \"{name}\"']", f"    url = {url}", *(f"    {k} = {v}" for k, v in options.items())]
    with (repo / ".dvc/config.local").open("a") as fh:
        fh.write("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def origin(tmp_path_factory) -> Path:
    """A git+DVC checkout that computed run@tiny-obsscaling (once for every remote) and committed dvc.lock."""
    base = tmp_path_factory.mktemp("dvc")
    repo = copy_repo(base / "origin")
    _git(["init", "-q", "-b", "main"], repo)
    # One paper's stage keeps the test fast (the tiny ttt run alone takes minutes).
    _dvc(["repro", "run@tiny-obsscaling"], repo)  # fetch@obsscaling -> run@tiny-obsscaling
    _git(["add", "-A"], repo)
    _git(["commit", "-qm", "results"], repo)
    return repo


@pytest.fixture(scope="module", params=REMOTES)
def remote(request, origin, tmp_path_factory) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(name, url, options) of a real remote on 127.0.0.1 that `origin` has pushed to."""
    kind = request.param
    base = tmp_path_factory.mktemp(f"remote-{kind}")
    server = None
    if kind == "local":
        url, options = str(base / "store"), {}
    elif kind == "ssh":
        server, info = start_sshd(base / "sshd")
        url = f"ssh://{info['user']}@127.0.0.1:{info['port']}{base / 'store'}"
        options = {"keyfile": info["keyfile"]}
    else:
        server, endpoint = start_s3_server(base / "s3", BUCKET)
        url = f"s3://{BUCKET}/store"
        options = {
            "endpointurl": endpoint,
            "access_key_id": S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "secret_access_key": S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            "region": S3_CREDENTIALS["AWS_DEFAULT_REGION"],
        }
    try:
        _configure_remote(origin, kind, url, options)
        out = _dvc(["push", "-r", kind], origin).stdout
        assert "pushed" in out, out
        yield kind, url, options
    finally:
        if server is not None:
            stop(server)


def _clone(origin: Path, dest: Path) -> Path:
    _git(["clone", "-q", str(origin), str(dest)], dest.parent)
    assert not (dest / "results/tiny/obsscaling").exists()  # only the committed scorecard, metrics, figures
    return dest


def _pull(clone: Path, name: str) -> str:
    return run([sys.executable, "-m", "repro.common.dvcsync", "pull", "-r", name], clone, env=S3_CREDENTIALS).stdout


def test_push_clone_pull_reruns_nothing(remote, origin, tmp_path):
    """Each remote kind: a second clone that configures the remote and pulls reruns nothing."""
    name, url, options = remote
    numbers_origin = json.loads((origin / "results/tiny/obsscaling/numbers.json").read_text())
    clone = _clone(origin, tmp_path / "clone")
    _configure_remote(clone, name, url, options)
    out = _pull(clone, name)
    assert "current: run@tiny-obsscaling" in out, out
    assert json.loads((clone / "results/tiny/obsscaling/numbers.json").read_text()) == numbers_origin
    for fig in (origin / "results/tiny/obsscaling/figures").glob("*.png"):
        assert (clone / fig.relative_to(origin)).read_bytes() == fig.read_bytes()
    # dvcsync called the stage current only because `dvc status` found it unchanged; Snakemake agrees.
    assert "Nothing to be done" in snakemake(["-n", "obsscaling"], clone).stdout


def test_edit_after_pull_reruns_exactly_affected(origin, tmp_path):
    """Nothing stale after a parameter edit (a local remote: the remote kind does not matter here, compute
    does): after the pull, an edit plans exactly the affected rules, `dvc status` calls the stage changed,
    only the planned steps write new files and the edited number changes. An edit made before the pull
    leaves the stage stale (dvcsync does not mark it current)."""
    store = tmp_path / "store"
    _configure_remote(origin, "rerun", str(store), {})
    _dvc(["push", "-r", "rerun"], origin)
    numbers_origin = json.loads((origin / "results/tiny/obsscaling/numbers.json").read_text())
    clone = _clone(origin, tmp_path / "clone")
    _configure_remote(clone, "rerun", str(store), {})
    _pull(clone, "rerun")
    _edit(clone)
    plan = planned_rules(snakemake(["-n", "obsscaling"], clone).stdout)
    assert plan == {"obsscaling__agents": 1, "obsscaling__fig_agents": 1, "obsscaling__numbers": 1, "obsscaling": 1}
    assert "changed deps" in _dvc(["status", "run@tiny-obsscaling"], clone).stdout
    before = {p: p.stat().st_mtime_ns for p in (clone / "results/tiny/obsscaling").rglob("*") if p.is_file()}
    snakemake(["obsscaling"], clone)
    changed = {str(p.relative_to(clone)) for p, t in before.items() if p.stat().st_mtime_ns != t}
    assert changed
    expected_parts = ("/agents/", "/figures/agents.", "/numbers.json", "/params/agents.json")
    unexpected = {c for c in changed if not any(s in c for s in expected_parts)}
    assert not unexpected, unexpected
    numbers_new = json.loads((clone / "results/tiny/obsscaling/numbers.json").read_text())
    assert numbers_new["agents.agentbench.pc1.test_mse"] != numbers_origin["agents.agentbench.pc1.test_mse"]
    assert numbers_new["post_training.gsm8k_cot.pc3.test_mse"] == numbers_origin["post_training.gsm8k_cot.pc3.test_mse"]

    # A parameter edited before the pull.
    clone2 = _clone(origin, tmp_path / "clone2")
    _configure_remote(clone2, "rerun", str(store), {})
    _edit(clone2)
    out = _pull(clone2, "rerun")
    assert "stale (dependencies changed locally; snakemake will rerun it): run@tiny-obsscaling" in out
    assert planned_rules(snakemake(["-n", "obsscaling"], clone2).stdout).get("obsscaling__agents") == 1
