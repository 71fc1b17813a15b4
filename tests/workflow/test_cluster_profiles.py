"""Beyond one machine: the SLURM and Kubernetes site profiles with the paper workflow profile, offline.

What is exercised (and what is not):

- SLURM (``snakemake-executor-plugin-slurm``): a paper-scale dry run of the whole workflow with
  ``--profile profiles/slurm-example`` resolves the plugin and its settings (including the partition
  file); every job carries the site's default resources (the workflow profile must not drop them) and the
  GPU rules request ``gpu >= 1``. Then one real submission: the plugin runs against fake ``sbatch``/
  ``sacct``/``sinfo``/``scontrol``/``sacctmgr`` scripts on PATH (no SLURM here), which record the call; the
  ``sbatch`` command line of a GPU job has ``--gpus=N``, the GPU partition picked from partitions.yaml,
  the account and the runtime. The fake cluster then reports the job FAILED, so nothing runs; a real
  scheduler, job status polling of running jobs and the job step inside the allocation are not exercised.
- Kubernetes (``snakemake-executor-plugin-kubernetes``) with S3 default storage
  (``snakemake-storage-plugin-s3``): a paper-scale dry run with ``--profile profiles/kubernetes-example``
  against moto's S3-compatible server on 127.0.0.1, after staging the workflow's source inputs in the
  bucket (as the README says to): the storage plugin really queries every input in S3, all paths are
  ``s3://`` paths, GPU jobs carry ``gpu >= 1`` and ``gpu_manufacturer``. No Kubernetes API server is
  contacted (the executor is not instantiated in a dry run): pod creation is not exercised.

The plugins live in ``.cluster-plugins`` (installed with ``--target``, see README "Quick start"), not in the
venv: Snakemake imports every plugin it can find at each start, which would slow every ``snakemake`` call of
the project by ~0.6 s. Only the ``snakemake`` calls of this module put that folder on ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import re
import shlex
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from workflow_helpers import (
    BIN,
    ROOT,
    S3_CREDENTIALS,
    _boto_credentials,
    copy_repo,
    run,
    start_s3_server,
    stop,
)

PAPER = ["--workflow-profile", "profiles/paper"]
SLURM = [*PAPER, "--profile", "profiles/slurm-example"]
K8S = [*PAPER, "--profile", "profiles/kubernetes-example"]
BUCKET = "repro-k8s"


def _jobs(dry_run_stdout: str) -> list[dict[str, str]]:
    """The job blocks of a `snakemake -n` printout: rule, input, output, resources (as printed)."""
    jobs = []
    for block in re.split(r"\n(?=\[[^\]]+\]\n(?:local)?rule )", dry_run_stdout):
        m = re.search(r"^(?:local)?rule (\S+):", block, re.M)
        if not m:
            continue
        job = {"rule": m.group(1)}
        for key in ("input", "output", "resources"):
            km = re.search(rf"^\s+{key}: (.*)$", block, re.M)
            job[key] = km.group(1) if km else ""
        jobs.append(job)
    return jobs


def _resources(job: dict[str, str]) -> dict[str, str]:
    return dict(part.split("=", 1) for part in job["resources"].split(", ") if "=" in part)


def _gpu_jobs(jobs: list[dict[str, str]]) -> list[dict[str, str]]:
    return [j for j in jobs if int(_resources(j).get("gpu", "0")) >= 1]


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """One copy for every check here: the paper-scale parse cache (.snakemake/repro-parse-cache) is shared."""
    return copy_repo(tmp_path_factory.mktemp("cluster") / "repo")


PLUGINS = ROOT / ".cluster-plugins"
INSTALL = (
    ".venv/bin/pip install -c requirements.lock --no-deps --upgrade --target .cluster-plugins "
    "-r requirements-cluster-plugins.txt"
)


def _pinned_plugins() -> dict[str, str]:
    """The Snakemake plugins of the ``cluster`` extra (what users install), name -> pinned version."""
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["cluster"]
    pins = dict(req.split("==") for req in extra)
    return {name: version for name, version in pins.items() if name.startswith("snakemake-")}


@pytest.fixture(scope="module", autouse=True)
def cluster_plugins() -> None:
    """Fail (never skip) when the plugins folder is missing or differs from the ``cluster`` extra's pins."""
    found = {d.metadata["Name"].lower(): d.version for d in metadata.distributions(path=[str(PLUGINS)])}
    for name, version in _pinned_plugins().items():
        if found.get(name) != version:
            pytest.fail(
                f"{PLUGINS}: {name}=={version} (the cluster extra's pin) is not installed there "
                f"(found: {found.get(name)}); run from the repository root: {INSTALL}"
            )
    # Only the plugins: their dependencies come from the venv (the test extra), not from shadow copies here.
    assert set(found) <= {*_pinned_plugins(), "snakemake-executor-plugin-slurm-jobstep"}, found


def _snakemake(args: list[str], repo: Path, env: dict[str, str] | None = None, check: bool = True):
    env = {**(env or {}), "PYTHONPATH": os.pathsep.join(filter(None, [str(PLUGINS), os.environ.get("PYTHONPATH")]))}
    return run([str(BIN / "snakemake"), *args], repo, check=check, env=env)


@pytest.fixture(scope="module")
def slurm_dry_run(repo) -> list[dict[str, str]]:
    proc = _snakemake(["-n", *SLURM], repo)
    out = proc.stdout + proc.stderr
    assert "Using profiles profiles/slurm-example and workflow specific profile profiles/paper" in out
    return _jobs(out)


def test_slurm_profile_dry_runs_every_paper_with_site_resources(slurm_dry_run):
    jobs = slurm_dry_run
    assert len(jobs) > 50
    missing = [j["rule"] for j in jobs if _resources(j).get("slurm_account") != "YOUR_ACCOUNT"]
    assert not missing, f"jobs without the site profile's default resources (slurm_account): {sorted(set(missing))}"
    gpu_rules = {j["rule"] for j in _gpu_jobs(jobs)}
    # Every paper with a rule that requests GPUs (gpu=gpus(...)) for a step that runs at paper scale contributes GPU
    # jobs there; a step declared not run there (issue 28) plans no job. The plan is preflight's, read from the
    # declarations and the rule files without a parse (repro.common.preflight.plan_from_declarations).
    from repro.common.preflight import plan_from_declarations
    from repro.common.registry import load_registry

    slugs = load_registry(ROOT / "workflow/papers.yaml").slugs
    declaring = {job.paper for job in plan_from_declarations(ROOT, slugs, "paper") if job.gpus != 0}
    assert declaring, "no rule requests a GPU"
    assert {r.split("__")[0] for r in gpu_rules} == declaring, (gpu_rules, declaring)


FAKE_SLURM = """#!/bin/sh
# Fake SLURM command for tests: record the call; sbatch prints a job id, sacct says FAILED.
printf '%s\\n' "$(basename "$0") $*" >> "{log}"
case "$(basename "$0")" in
  sbatch) cat > /dev/null; echo 4242 ;;
  sacct) echo "4242|FAILED|1:0" ;;
  squeue) ;;
  sinfo) echo "PARTITION"; echo "YOUR_CPU_PARTITION*"; echo "YOUR_GPU_PARTITION" ;;
  *) ;;
esac
exit 0
"""


def test_slurm_submits_gpu_job_with_gpus_and_gpu_partition(repo, slurm_dry_run, tmp_path):
    """One GPU job that is a root of the paper-scale DAG, really submitted through the plugin to fake
    SLURM commands: its sbatch call requests the GPUs, the GPU partition, the account and the runtime."""
    roots = [j for j in _gpu_jobs(slurm_dry_run) if all((repo / f).exists() for f in j["input"].split(", "))]
    assert roots, "no GPU job whose inputs exist at paper scale (a DAG root) to submit"
    job = roots[0]
    gpus = int(_resources(job)["gpu"])
    fake = tmp_path / "fake-slurm"
    fake.mkdir()
    log = tmp_path / "slurm-calls.log"
    for name in ("sbatch", "sacct", "squeue", "sinfo", "scontrol", "sacctmgr", "sshare", "scancel"):
        (fake / name).write_text(FAKE_SLURM.format(log=log))
        (fake / name).chmod(0o755)
    target = job["output"].split(", ")[0]
    # The preflight (repro.common.preflight) is tested on its own; here it would stop the submission on this
    # machine's disk or network, before the sbatch call this test is about.
    env = {"PATH": f"{fake}{os.pathsep}{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "REPRO_SKIP_PREFLIGHT": "1"}
    proc = _snakemake(
        [
            *SLURM,
            *("--allowed-rules", job["rule"], "--retries", "0", "--latency-wait", "1"),
            *("--slurm-init-seconds-before-status-checks", "1"),  # the plugin's default first waits 40 s
            *("--", target),
        ],
        repo,
        env=env,
        check=False,
    )
    calls = log.read_text().splitlines() if log.exists() else []
    sbatch = [c for c in calls if c.startswith("sbatch ")]
    assert len(sbatch) == 1, f"{calls}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    argv = shlex.split(sbatch[0])
    assert f"--gpus={gpus}" in argv, argv
    assert argv[argv.index("-p") + 1] == "YOUR_GPU_PARTITION", argv
    assert argv[argv.index("-A") + 1] == "YOUR_ACCOUNT", argv
    assert argv[argv.index("-t") + 1] == _resources(job)["runtime"], argv
    assert proc.returncode != 0  # the fake cluster reports the job FAILED: nothing ran here


def _stage_sources(repo: Path, endpoint: str) -> int:
    """Upload what the README's Kubernetes recipe stages: code, workflow files, the parse-time params and pins."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, **_boto_credentials())
    files = [p for top in ("src", "workflow") for p in (repo / top).rglob("*") if p.is_file()]
    files += list((repo / "results/paper").glob("*/params/*.json")) + list((repo / "results/pins").glob("*.json"))
    for p in files:
        if "__pycache__" not in p.parts:
            s3.upload_file(str(p), BUCKET, f"repro/{p.relative_to(repo)}")
    return len(files)


def test_kubernetes_profile_with_s3_storage_dry_runs(repo, slurm_dry_run, tmp_path):
    server, endpoint = start_s3_server(tmp_path / "s3", BUCKET)
    try:
        assert _stage_sources(repo, endpoint) > 100
        out = _snakemake(
            [
                "-n",
                *K8S,
                "--default-storage-prefix",
                f"s3://{BUCKET}/repro",
                "--storage-s3-endpoint-url",
                endpoint,
            ],
            repo,
            env=S3_CREDENTIALS,
        )
    finally:
        stop(server)
    out = out.stdout + out.stderr
    assert "Using profiles profiles/kubernetes-example and workflow specific profile profiles/paper" in out
    jobs = _jobs(out)
    assert len(jobs) == len(slurm_dry_run)
    outputs = [o for j in jobs for o in j["output"].split(", ") if o]
    assert outputs and all(o.startswith(f"s3://{BUCKET}/repro/") for o in outputs), outputs[:5]
    gpu = _gpu_jobs(jobs)
    assert {j["rule"] for j in gpu} == {j["rule"] for j in _gpu_jobs(slurm_dry_run)}
    assert all(_resources(j).get("gpu_manufacturer") == "nvidia" for j in gpu)
