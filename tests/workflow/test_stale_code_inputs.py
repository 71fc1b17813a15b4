"""Code inputs come from imports (issue 26, item 2): an edit to any repro module reruns exactly the jobs whose
code imports it, and their dependants; no edit goes unnoticed and none reruns anything else.

Ground truth: the modules a job's code imports are the static import closure of what its adapter loads
(repro.common.imports; tests/unit/common/test_imports.py checks that closure against what importing really
executes). What is tested here is the workflow's wiring: that every rule carries the code inputs of what it
runs, and that Snakemake plans from them exactly what the closure says.

Method, on a finished smoke run (smoke_repo): every module under src/repro is edited at once, and one
`snakemake -n` then plans every job that has code and prints each job's inputs (its code inputs among them)
and why it runs: edited inputs ("Updated input files") or upstream jobs ("Input files updated by another
job"), nothing else. By Snakemake's mtime rule an edit of module X alone plans the jobs with X among their
inputs and everything downstream of them, so that one run predicts the plan of every single edit. For every
paper one module is then edited alone and Snakemake's plan is compared with the prediction, and a module no
job imports plans nothing.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from workflow_helpers import planned_rules, snakemake

from repro.common.imports import ImportGraph
from repro.common.registry import load_registry

SMOKE = ["--config", "scale=smoke"]
EDIT = "\n# edited by tests/workflow/test_stale_code_inputs.py\n"


def _jobs(dry_run_stdout: str) -> dict[str, dict]:
    """Each planned job of a `snakemake -n` output: jobid -> {rule, input, output, updated, upstream, other}."""
    jobs: dict[str, dict] = {}
    for block in re.split(r"\n(?=(?:local)?rule \S+:\n)", dry_run_stdout):
        head = re.match(r"(?:local)?rule (\S+):\n", block)
        if not head:
            continue
        fields = dict(re.findall(r"^    (\w+): (.*)$", block, re.M))
        reasons = [r.strip() for r in fields.get("reason", "").split(";") if r.strip()]
        job = {
            "rule": head.group(1),
            "input": set(filter(None, (f.strip() for f in fields.get("input", "").split(",")))),
            "output": set(filter(None, (f.strip() for f in fields.get("output", "").split(",")))),
            "updated": set(),
            "upstream": False,
            "other": [],
        }
        for reason in reasons:
            kind, _, files = reason.partition(": ")
            if kind == "Updated input files":
                job["updated"] |= {f.strip() for f in files.split(",")}
            elif kind == "Input files updated by another job":
                job["upstream"] = True
            else:
                job["other"].append(reason)
        jobs[fields["jobid"]] = job
    return jobs


def _downstream(jobs: dict[str, dict], start: set[str]) -> set[str]:
    """``start`` and every planned job that reads an output of one of them, transitively."""
    readers: dict[str, set[str]] = {}
    for jid, job in jobs.items():
        for path in job["input"]:
            readers.setdefault(path, set()).add(jid)
    seen, todo = set(start), list(start)
    while todo:
        for path in jobs[todo.pop()]["output"]:
            for reader in readers.get(path, ()):
                if reader not in seen:
                    seen.add(reader)
                    todo.append(reader)
    return seen


def _code_of(rule: str, graph: ImportGraph, slugs: list[str], scripts: Path) -> set[str]:
    """The repro modules (files) a job of ``rule`` runs: its adapter script's imports plus the module the
    adapter loads by name (a paper's steps or figures module), as the rule's name says."""

    def closure(script: str, *modules: str) -> set[str]:
        return set(graph.files_of([*graph.script_imports(scripts / f"{script}.py"), *modules]))

    if rule == "scorecard":
        return closure("common/scorecard")
    slug, _, step = rule.partition("__")
    if slug not in slugs or step == "fetch":
        return set()  # fetch rules: sha256-pinned downloads do not depend on code; gallery: a copy
    if step == "numbers":
        return closure("common/numbers")
    if step.startswith("fig_"):
        return closure("common/figure", f"repro.{slug}.figures")
    return closure("common/step", f"repro.{slug}.steps")


def test_an_edit_reruns_exactly_the_jobs_that_import_it(smoke_repo):
    repo = smoke_repo
    slugs = load_registry(repo / "workflow/papers.yaml").slugs
    snakemake(["--cores", str(min(4, os.cpu_count() or 1)), *SMOKE], repo, timeout=3000)  # run A (usually done)
    assert "Nothing to be done" in snakemake(["-n", *SMOKE], repo).stdout

    modules = sorted(p.relative_to(repo).as_posix() for p in (repo / "src/repro").rglob("*.py"))
    saved = {m: ((repo / m).read_bytes(), (repo / m).stat()) for m in modules}

    def edit(paths: list[str]) -> None:
        for i, m in enumerate(paths):
            (repo / m).write_bytes(saved[m][0] + EDIT.encode())
            now = time.time_ns() + 10**9 * (1 + i)  # newer than every output (copied sources keep old mtimes)
            os.utime(repo / m, ns=(now, now))

    def restore() -> None:
        for m, (text, st) in saved.items():
            (repo / m).write_bytes(text)
            os.utime(repo / m, ns=(st.st_atime_ns, st.st_mtime_ns))

    graph = ImportGraph(repo / "src")
    scripts = repo / "workflow/scripts"
    try:
        edit(modules)
        jobs = _jobs(snakemake(["-n", *SMOKE], repo).stdout)
        restore()
        unexplained = {
            j["rule"]: j["other"] for j in jobs.values() if j["other"] or not (j["updated"] or j["upstream"])
        }
        assert not unexplained, f"jobs planned for another reason than an edited input: {unexplained}"

        # Per job: its code inputs are exactly the modules its code imports (Snakemake reports the edited inputs
        # of a job only when no upstream job reruns, so the inputs themselves are compared).
        for job in jobs.values():
            expected = _code_of(job["rule"], graph, slugs, scripts)
            code = {f for f in job["input"] if f.startswith("src/")}
            assert code == expected, (
                f"{job['rule']}: code inputs differ from what it imports; "
                f"missing {sorted(expected - code)[:8]}, extra {sorted(code - expected)[:8]}"
            )
            assert job["updated"] <= code, f"{job['rule']}: updated inputs {job['updated'] - code} are not code"
            job["code"] = code
        rules_with_code = {j["rule"] for j in jobs.values() if j["code"]}
        assert "scorecard" in rules_with_code
        # Every step rule of every paper is in the plan (each one imports its paper's steps module).
        planned = {j["rule"] for j in jobs.values()}
        for slug in slugs:
            assert any(r.startswith(f"{slug}__") and not r.startswith(f"{slug}__fig") for r in planned), slug

        # The plan of one edit, predicted from the all-edits run: the jobs that import it and their dependants.
        def predicted(module: str) -> dict[str, int]:
            ids = _downstream(jobs, {jid for jid, j in jobs.items() if module in j["code"]})
            counts: dict[str, int] = {}
            for jid in ids:
                counts[jobs[jid]["rule"]] = counts.get(jobs[jid]["rule"], 0) + 1
            if counts:
                counts["all"] = 1  # the default target is planned whenever anything is
            return counts

        # Anchors, one real single edit per paper: the module its steps were most likely to miss (its config, as
        # obsscaling's hand list did), and a module nothing imports.
        for slug in slugs:
            config = f"src/repro/{slug}/config.py"
            module = config if config in saved else f"src/repro/{slug}/steps.py"
            edit([module])
            try:
                got = planned_rules(snakemake(["-n", *SMOKE], repo).stdout)
            finally:
                restore()
            assert got == predicted(module), f"editing {module}: planned {got}, predicted {predicted(module)}"
            assert any(r.startswith(f"{slug}__") for r in got), f"editing {module} plans no {slug} step"
            others = [r for r in got if "__" in r and r.split("__")[0] != slug]
            assert not others, f"editing {module} plans other papers' jobs {others}"
        unused = [m for m in modules if not any(m in j["code"] for j in jobs.values())]
        assert unused, "every module is some job's code input: pick a module outside the DAG for this check"
        edit([unused[0]])
        try:
            proc = snakemake(["-n", *SMOKE], repo)
        finally:
            restore()
        assert "Nothing to be done" in proc.stdout, f"editing {unused[0]}, which no job imports, plans jobs"
    finally:
        restore()
    assert "Nothing to be done" in snakemake(["-n", *SMOKE], repo).stdout
