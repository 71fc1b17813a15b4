# Helpers shared by every paper's rules (no rules here).
#
# Parameters and library code are file inputs of the rules that use them, so that
# Snakemake's mtime logic reruns exactly the affected steps after a parameter edit
# or a code change, also in a fresh clone restored with `dvc pull` (which carries
# no .snakemake metadata): see `step_params` and `code_inputs`.
#
# Rules carry no `params:` directive: everything a job reads besides its data comes from such a file
# (`step_params`, `params_file`, `pins_file`). One mechanism for "this value changed, rerun", and a cheap
# no-change `snakemake -n`: to compare the `params:` of each job with its record, Snakemake imports pandas
# (~0.3 s of a 2 s start, more from a cold disk); with no `params:` it never does.

import importlib
import os
import re
import sys
from snakemake.exceptions import WorkflowError
from pathlib import Path

from repro.common.declarations import DeclarationError, read_declarations_cached
from repro.common.devices import gpu_count
from repro.common.fetch import check_pins
from repro.common.imports import ImportGraph
from repro.common.config import CONFIG_SECTION_KEY, REHEARSAL as REHEARSAL_SCALE
from repro.common.config import ParamsError, resolve, select_keys, validate_params_cached
from repro.common.io import DataError, fingerprint, read_json, write_json, write_json_if_changed
from repro.common.hooks import cancel_pending_timers
from repro.common.locks import live_owners, record_owner, release_stale_locks
from repro.common.registry import RegistryError, load_registry
from repro.common.standins.serve import StandinError, referenced_standins, server_specs, unconfigured_standins

# The registered papers: workflow/papers.yaml is the only list of them.
try:
    REGISTRY = load_registry(os.path.join(workflow.basedir, "workflow", "papers.yaml"))
except RegistryError as _err:
    raise WorkflowError(str(_err)) from None
PAPERS = REGISTRY.slugs

# Validate params.yaml at parse time; the error names the key.
try:
    validate_params_cached(  # skipped when params, schemas and the validator are unchanged since it passed
        config,
        os.path.join(workflow.basedir, "workflow", "schemas"),
        PAPERS,
        ".snakemake/repro-parse-cache/params-valid.txt",
    )
except ParamsError as _err:
    raise WorkflowError(str(_err)) from None

SCALE = config.get("scale", "tiny")

# GPUs on one machine (issue 28). Snakemake starts GPU jobs side by side while their `gpu` resources fit the global
# `gpu` cap, and each job then locks devices of its own (repro.common.devices, called by run_step). Without a cap,
# jobs would be started together that need more GPUs than exist; so a local paper-scale run that names none
# (`--resources gpu=N`) is capped at the GPUs nvidia-smi lists (or CUDA_VISIBLE_DEVICES). Snakemake lowers a job's
# request to the cap (an 8-GPU rule runs on 4 on a 4-GPU machine). A cluster run (`--jobs`, as the site profiles
# set: Snakemake then submits instead of running here) is not capped: the cluster gives each job its GPUs. A
# machine with no GPU gets no cap, so a GPU job there fails with the claim's clear error instead of running on 0.
if (
    SCALE == "paper"
    and workflow.is_main_process
    and "gpu" not in workflow.global_resources
    and workflow.global_resources["_nodes"].value is None
):
    _gpus_here = gpu_count(probe_torch=False)
    if _gpus_here:
        workflow.register_resource("gpu", _gpus_here)
        print(f"repro: {_gpus_here} GPU(s) here: GPU jobs share them (override: --resources gpu=N)", file=sys.stderr)

# What cannot run here (issue 28; REPRO_PREFLIGHT=not_run): instead of stopping a paper-scale run at its first failed
# preflight check, leave each step that fails one of its own checks (a key, an endpoint, the network, GPUs, the
# paper's budget) out of the DAG, with every step that reads its outputs, and list them as NOT RUN rows
# (not_run_steps). Found here, at parse time, by repro.common.preflight.unrunnable; the main process writes the
# answer where the jobs a cluster executor re-parses read it, so every parse builds the same DAG.
PREFLIGHT_NOT_RUN_FILE = Path(".snakemake/repro-preflight-not-run.json")


def preflight_not_run():
    """paper -> step -> why it cannot run here, when REPRO_PREFLIGHT=not_run at paper scale; else {}."""
    from repro.common.preflight import MODE_ENV, NOT_RUN_MODE

    mode = os.environ.get(MODE_ENV, "stop")
    if mode not in ("stop", NOT_RUN_MODE):
        raise WorkflowError(f"{MODE_ENV}={mode!r}: expected 'stop' (the default) or {NOT_RUN_MODE!r}")
    if SCALE != "paper" or mode != NOT_RUN_MODE:
        return {}
    if not workflow.is_main_process:
        return read_json(PREFLIGHT_NOT_RUN_FILE) if PREFLIGHT_NOT_RUN_FILE.is_file() else {}
    from repro.common.preflight import declarations, plan_from_declarations, unrunnable

    root = Path(workflow.basedir)
    declared = {slug: declarations(root, slug) for slug in PAPERS}
    cluster = workflow.global_resources["_nodes"].value is not None  # --jobs: a cluster gives each job its GPUs
    found = unrunnable(config, plan_from_declarations(root, PAPERS, "paper", config), declared, cluster=cluster)
    write_json(PREFLIGHT_NOT_RUN_FILE, found)
    steps = [f"{slug}__{step}" for slug, why in found.items() for step in why]
    print(
        f"repro: {MODE_ENV}={NOT_RUN_MODE}: {len(steps)} step(s) cannot run here and are left out, with what reads "
        f"them, as NOT RUN rows: {', '.join(steps) or 'none'}",
        file=sys.stderr,
    )
    return found


PREFLIGHT_NOT_RUN = preflight_not_run()

# Resume after a killed run (repro.common.locks): the locks a SIGKILLed run left behind are released
# when their recorded owner is gone; a live run holding this checkout is named. Only the main process
# does this (cluster jobs re-parse the Snakefile with locking disabled).
if getattr(workflow.exec_mode, "name", "DEFAULT") == "DEFAULT":
    for _owner in release_stale_locks(Path(".snakemake")):
        print(f"repro: released the locks of a killed run (pid {_owner.pid}: {_owner.command})", file=sys.stderr)
    for _owner in live_owners(Path(".snakemake")):
        print(
            f"repro: snakemake pid {_owner.pid} on {_owner.host} is running in this checkout ({_owner.command}); "
            "a run that needs the same files is refused until it ends",
            file=sys.stderr,
        )


def preflight():
    """Issue 28: before the first job of a paper-scale run, check what every job of the built DAG needs (keys,
    endpoints, GPUs, disk, budget) and print each paper's estimate (repro.common.preflight); a failed check stops
    the run here, before any job. Called by `onstart`, which Snakemake runs only for a real run (never for -n or
    --no-hooks), after it built the DAG. REPRO_SKIP_PREFLIGHT=1 skips it."""
    if SCALE != "paper" or os.environ.get("REPRO_SKIP_PREFLIGHT") == "1" or workflow.touch:
        return
    from repro.common.preflight import PreflightError, gate

    jobs = [(job.rule.name, int(job.resources.get("gpu", 0) or 0)) for job in workflow.dag.needrun_jobs()]
    try:
        print(gate(config, jobs, workflow.basedir, PAPERS, cluster=not workflow.local_exec), file=sys.stderr)
    except PreflightError as err:
        raise WorkflowError(str(err)) from None


# The rehearsal's stand-in API servers (issue 28; repro.common.standins.serve): params.yaml standins.servers.
try:
    STANDIN_SERVERS = server_specs(config.get("standins"))
except StandinError as _err:
    raise WorkflowError(str(_err)) from None
_STANDIN_SUPERVISOR = []
if SCALE == REHEARSAL_SCALE:  # the key the rehearsal's LLM servers ask for; jobs and servers inherit it
    from repro.common.standins.build import STANDIN_KEY_ENV

    os.environ.setdefault(STANDIN_KEY_ENV, "rehearsal-key")


def start_standin_servers():
    """At paper_toy, start the stand-in servers before the first job when a job of the run calls one (its
    folder is among the job's inputs: standin_inputs); a taken port stops the run here, naming it. Stopped by
    onsuccess / onerror, and by themselves when this process is gone."""
    if SCALE != REHEARSAL_SCALE or workflow.touch or not STANDIN_SERVERS:
        return
    folders = {spec.data for spec in STANDIN_SERVERS}
    if not any(folders & {str(f) for f in job.input} for job in workflow.dag.needrun_jobs()):
        return
    from repro.common.standins.serve import start

    try:
        _STANDIN_SUPERVISOR.append(start(STANDIN_SERVERS, log_path=f"logs/{SCALE}/standins/servers.log"))
    except (StandinError, OSError) as err:
        raise WorkflowError(f"stand-in servers (params.yaml standins.servers): {err}") from None
    names = ", ".join(f"{spec.name} {spec.url}" for spec in STANDIN_SERVERS)
    print(f"repro: stand-in servers up: {names}", file=sys.stderr)


def stop_standin_servers():
    while _STANDIN_SUPERVISOR:
        _STANDIN_SUPERVISOR.pop().stop()


onstart:
    preflight()
    start_standin_servers()
    record_owner(Path(".snakemake"), list(getattr(workflow.persistence, "_lockfile", {}).values()))


# Exit right after the last job instead of waiting for Snakemake's next job-selection timer (repro.common.hooks).
onsuccess:
    stop_standin_servers()
    cancel_pending_timers()


onerror:
    stop_standin_servers()
    cancel_pending_timers()


def paper_params(slug, scale=SCALE):
    """The resolved parameters of a paper at a scale (base block + scale overrides)."""
    return resolve(config, slug, scale)


def step_params(slug, step, keys=None, section=None):
    """Rule input: results/{scale}/<slug>/params/<step>.json holding only `keys`.

    `keys` are dotted params keys; the default is the step's own section, [step].
    `section`: the one section the step's typed config is built from (its keys default to
    [section]); recorded in the file for repro.common.steps.run_step. Without it, the
    config has one field per top-level key.

    The file is written now, at parse time, for the configured scale, and only when
    its content changes, so its mtime moves exactly when a parameter this step
    reads is edited. (Writing it from an input function instead would race
    Snakemake's file-existence cache on a first run.) Returns an input function
    that gives the path, with a clear error for a scale that is not configured.
    """
    keys = ([section] if section else [step]) if keys is None else keys
    if section is not None and section not in keys:
        raise WorkflowError(f"step_params({slug!r}, {step!r}): section {section!r} is not one of the keys {keys}")
    try:
        selected = select_keys(paper_params(slug, SCALE), keys, slug)
    except ParamsError as err:
        raise WorkflowError(str(err)) from None
    if section is not None:
        selected[CONFIG_SECTION_KEY] = section
    params_file(slug, step, selected)

    def _params_file(wildcards):
        if wildcards.scale != SCALE:
            raise WorkflowError(
                f"results/{wildcards.scale}/{slug}/... requested while scale={SCALE}: "
                f"run with --config scale={wildcards.scale} (or the matching profile)"
            )
        return f"results/{wildcards.scale}/{slug}/params/{step}.json"

    return _params_file


# Code inputs are computed, never listed (issue 26): the source files of every repro module a rule's adapter
# script and its paper module import, transitively (repro.common.imports reads them from the source; the
# per-file import lists are cached under .snakemake by size and mtime, so a no-change parse reads no source).
IMPORTS = ImportGraph(os.path.join(workflow.basedir, "src"), cache=".snakemake/repro-parse-cache/imports.json")


def code_inputs(script, *modules):
    """Rule input `code`: the source files of every repro module that workflow/scripts/<script>.py and the dotted
    `modules` import (themselves included), so an edit to any of them reruns the rule and no other edit does.
    `modules` name what the script loads by a computed name (the paper's steps or figures module)."""
    key = (script, *modules)
    if key not in _CODE_INPUTS:  # one closure per (script, modules): rules of a paper share it
        entries = IMPORTS.script_imports(os.path.join(workflow.basedir, "workflow", "scripts", f"{script}.py"))
        try:
            _CODE_INPUTS[key] = IMPORTS.files_of([*entries, *modules])
        except ValueError as err:
            raise WorkflowError(f"code_inputs({script!r}): {err}") from None
    return list(_CODE_INPUTS[key])


_CODE_INPUTS = {}


def step_code(slug):
    """Code inputs of a compute step of `slug` (adapter workflow/scripts/common/step.py + repro.<slug>.steps)."""
    return code_inputs("common/step", f"repro.{slug}.steps")


def figure_code(slug):
    """Code inputs of a figure rule of `slug` (adapter common/figure.py + repro.<slug>.figures)."""
    return code_inputs("common/figure", f"repro.{slug}.figures")


# Figure rules are generated (workflow/rules/figures.smk) from what each paper registers here.
FIGURE_RULES = {}


def figure_rule(slug, name, inputs, labels=None):
    """Register figure `name` of `slug`: figures.smk generates the rule <slug>__fig_<name> with the named input
    files `inputs` (what repro.<slug>.figures.FIGURES[name] plots) and, when given, `labels` (JSON-able titles and
    axis labels from params) written to results/{scale}/<slug>/params/fig_<name>.json only when they change."""
    figures = FIGURE_RULES.setdefault(slug, {})
    if name in figures:
        raise WorkflowError(f"figure_rule({slug!r}, {name!r}): registered twice")
    label_input = {} if labels is None else {"labels": params_file(slug, f"fig_{name}", labels)}
    figures[name] = {"inputs": dict(inputs), "labels": label_input}


# The steps each paper declares (@step on repro.<slug>.steps functions; repro.common.declarations), read from
# the source of the paper's package, cached like the imports.
def declared_steps(slug):
    """name -> StepDeclaration of every step the package repro.<slug> declares, in source order."""
    package = Path(workflow.basedir, "src", "repro", slug)
    try:
        return read_declarations_cached(
            sorted(package.rglob("*.py")), f".snakemake/repro-parse-cache/steps-{slug}.json"
        )
    except (DeclarationError, SyntaxError) as err:
        raise WorkflowError(str(err)) from None


STEPS = {slug: declared_steps(slug) for slug in PAPERS}


def step_declaration(slug, step):
    """The declaration of step `step` of `slug`, with an error listing the declared steps."""
    declared = STEPS.get(slug) or declared_steps(slug)
    if step not in declared:
        raise WorkflowError(
            f"{slug}__{step}: repro.{slug}.steps declares no step {step!r} (@step on {step}_step); "
            f"declared: {sorted(declared)}"
        )
    return declared[step]


def step_inputs(slug, step):
    """The inputs every compute step <slug>__<step> has, built from the step's declaration: `params` (its params
    file holding the declared `reads` keys, when it declares any), `code` (step_code) and, at the rehearsal scale,
    `standins` (the stand-in folders those keys point at). A rule adds its data inputs and names its outputs; use
    as `input: data=..., **step_inputs(slug, step)`."""
    decl = step_declaration(slug, step)
    inputs = {"code": step_code(slug)}
    if decl.reads:
        inputs["params"] = step_params(slug, step, list(decl.reads), section=decl.section)
    return {**inputs, **standin_inputs(slug, step)}


def standin_inputs(slug, step):
    """At the rehearsal scale, {"standins": the stand-in folders the params a step reads point at} (built by
    standins__build; a server's folder for a URL of a stand-in server); {} elsewhere or when there are none. Part of
    step_inputs; a rule whose paths carry no {scale} wildcard (declared_params_file) adds it itself."""
    decl = step_declaration(slug, step)
    if SCALE != REHEARSAL_SCALE or not decl.reads:
        return {}
    used = referenced_standins(select_keys(paper_params(slug), list(decl.reads), slug), STANDIN_SERVERS)
    unknown = unconfigured_standins(used, config.get("standins"))
    if unknown:
        raise WorkflowError(
            f"params.yaml: {slug}.{REHEARSAL_SCALE} points {slug}__{step} at {unknown}, which params.yaml "
            "standins does not describe (standins.<kind>.<name>)"
        )
    return {"standins": used} if used else {}


def check_declared_steps(slugs=None):
    """Every declared step has its <slug>__<step> (checked once all rule files are included, and by each merge),
    so a step whose rule was renamed or deleted cannot sit unused while its numbers silently leave numbers.json."""
    defined = {rule.name for rule in workflow.rules}
    for slug in slugs or STEPS:
        declared = STEPS.get(slug) or declared_steps(slug)
        missing = [name for name in declared if f"{slug}__{name}" not in defined]
        if missing:
            raise WorkflowError(
                f"repro.{slug} declares steps that workflow/rules/{slug}.smk does not define as {slug}__<step>, "
                f"namely {missing}"
            )


def declared_params_file(slug, step):
    """The params file of a declared step as a plain path of the configured scale, for a rule whose outputs
    carry no {scale} wildcard (e.g. a download into resources/); step_inputs gives the wildcard form."""
    decl = step_declaration(slug, step)
    step_params(slug, step, list(decl.reads), section=decl.section)
    return f"results/{SCALE}/{slug}/params/{step}.json"


def numbers_parts(slug, skip=()):
    """Inputs of <slug>__numbers (the merge): the `numbers` output of every step declared `merged` that runs at the
    configured scale, in declaration order (the step must be defined above the merge). `skip`: steps a
    paper's params leave out of this run's DAG (e.g. a stand-in model trained only for a local backend)."""
    declared = STEPS.get(slug) or declared_steps(slug)
    check_declared_steps([slug])
    unknown = sorted(set(skip) - set(declared))
    if unknown:
        raise WorkflowError(f"numbers_parts({slug!r}): skip names undeclared steps {unknown}")
    not_run = not_run_steps(slug)
    parts = [
        getattr(rules, f"{slug}__{name}").output.numbers
        for name, decl in declared.items()
        if decl.merged and decl.runs_at(SCALE) and name not in skip and name not in not_run
    ]
    return parts + not_run_part(slug)


def not_run_part(slug):
    """The numbers part of the steps of `slug` declared not run at the configured scale (issue 28): a params
    file of not_run.<step> = what is missing, so the scorecard shows what needs those steps as NOT RUN instead of
    a job that raises; [] when every step runs. numbers_parts includes it; a merge rule listing its parts by
    hand adds it."""
    not_run = {f"not_run.{name}": why for name, why in not_run_steps(slug).items()}
    return [params_file(slug, "not_run", not_run)] if not_run else []


_NOT_RUN = {}  # slug -> {step: why}, complete (derived through the DAG) once all step rules of the paper exist
_EARLY_ANSWERS = {}  # (slug, step) -> whether runs_here said it runs, asked before the paper's set was complete


def not_run_steps(slug):
    """step -> why it does not run at the configured scale, for every step of `slug` that belongs to this scale:
    declared `not_run` there, found by the preflight (REPRO_PREFLIGHT=not_run: PREFLIGHT_NOT_RUN), or derived
    through the DAG: an input of its rule is an output of a step that does not run (named in the reason), so that
    no planned job waits on a file nothing will write. Derived once every step rule of the paper is defined (the
    paper's merge: numbers_parts); asked earlier (runs_here at the top of a rules file), it gives the declared and
    preflight reasons only, and that answer is checked against the complete one."""
    if slug in _NOT_RUN:
        return _NOT_RUN[slug]
    declared = STEPS.get(slug) or declared_steps(slug)
    why = {name: decl.not_run_at(SCALE) for name, decl in declared.items() if decl.not_run_at(SCALE)}
    for name, reason in PREFLIGHT_NOT_RUN.get(slug, {}).items():
        if name in declared and declared[name].runs_at(SCALE):
            why.setdefault(name, reason)
    defined = {rule_.name for rule_ in workflow.rules}
    if any(f"{slug}__{name}" not in defined for name in declared):
        return why  # the paper's rules are not all defined yet
    why = _derive_not_run(slug, declared, why)
    for (s, step), ran in _EARLY_ANSWERS.items():
        if s == slug and ran != (declared[step].runs_at(SCALE) and step not in why):
            raise WorkflowError(
                f"runs_here({slug!r}, {step!r}) was asked before {slug}'s step rules were all defined and answered "
                f"{ran}; {slug}__{step} {'does not run' if ran else 'runs'} once the DAG is known ({why.get(step)}): "
                f"ask it after the step rules it depends on"
            )
    _NOT_RUN[slug] = why
    return why


def _output_patterns(slug, steps):
    """(regex, step) for each output of the rules <slug>__<step>: a path the output names, or a file in it."""
    patterns = []
    for step in steps:
        rule_ = getattr(rules, f"{slug}__{step}", None)
        for out in rule_.output if rule_ is not None else ():
            regex = re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(str(out)))
            patterns.append((re.compile(f"{regex}(/.*)?"), step))
    return patterns


def _derive_not_run(slug, declared, why):
    """`why` plus every step of this scale whose rule reads a file a step of `why` writes, transitively; a derived
    reason names the step it reads from and the step where the chain starts, with that step's reason."""
    why, cause = dict(why), {name: name for name in why}
    while True:
        patterns = _output_patterns(slug, why)
        added = False
        for name, decl in declared.items():
            if name in why or not decl.runs_at(SCALE):
                continue
            inputs = [str(f) for f in getattr(rules, f"{slug}__{name}").input if isinstance(f, str)]
            ups = sorted({up for path in inputs for regex, up in patterns if regex.fullmatch(path)})
            if ups:
                root = cause[name] = cause[ups[0]]
                via = "" if root == ups[0] else f", which needs {slug}__{root}"
                why[name] = f"needs {slug}__{ups[0]}{via}, which does not run here: {why[root]}"
                added = True
        if not added:
            return why


def figure_files_here(slug, names):
    """The PNGs of figures `names` of `slug` to make at the configured scale: every one whose inputs all come from
    steps that run here. A figure with an input written by a step declared not run at this scale (issue 28) is
    left out, so the paper's target asks for no job that cannot run. Call it after the paper's figure_rule calls
    (at the end of its rules file): the producing step of each input is found by matching the input against the
    outputs of the paper's step rules."""
    declared = STEPS.get(slug) or declared_steps(slug)
    patterns = _output_patterns(slug, declared)
    not_run = not_run_steps(slug)
    keep = []
    for name in names:
        spec = FIGURE_RULES.get(slug, {}).get(name)
        if spec is None:
            raise WorkflowError(f"figure_files_here({slug!r}): figure {name!r} is not registered with figure_rule")
        paths = [str(x) for v in spec["inputs"].values() for x in (v if isinstance(v, (list, tuple)) else [v])]
        steps = {step for path in paths for regex, step in patterns if regex.fullmatch(path)}
        if all(declared[step].runs_at(SCALE) and step not in not_run for step in steps):
            keep.append(f"results/{SCALE}/{slug}/figures/{name}.png")
    return keep


def runs_here(slug, step):
    """Whether step `step` of `slug` runs at the configured scale (its declared `scales`): the one test a rule
    file uses to include a step's outputs in a target at some scales only."""
    runs = step_declaration(slug, step).runs_at(SCALE) and step not in not_run_steps(slug)
    if slug not in _NOT_RUN:  # asked before the paper's DAG is known: checked once it is (not_run_steps)
        _EARLY_ANSWERS[(slug, step)] = runs
    return runs


def gpus(n=1):
    """GPU resource request for paper-scale rules (read by executors such as SLURM; locally, the GPUs the step
    claims: repro.common.steps.run_step). A rule asking for more than one must launch a distributed run
    (tests/workflow/test_gpu_rules.py)."""
    return n if SCALE == "paper" else 0


def runtime(paper_minutes, small_minutes=10):
    """Runtime request in minutes (read by cluster executors): the paper-scale budget or the small one."""
    return paper_minutes if SCALE == "paper" else small_minutes


def params_file(slug, name, content):
    """Write results/{SCALE}/<slug>/params/<name>.json now (parse time), only when `content` changes, and
    return its {scale}-wildcard path: a rule input for parameters that are not one params.yaml section (e.g.
    one training run's resolved model and optimiser config). step_params is this for params.yaml keys."""
    _write_at_parse(f"results/{SCALE}/{slug}/params/{name}.json", content, "results")
    return f"results/{{scale}}/{slug}/params/{name}.json"


def pins_file(slug, files):
    """Write results/pins/<slug>.json now (parse time), only when the pins change, and return its path: the
    input of a paper's fetch rule. `files` maps each output name to a spec with its pinned "url" and "sha256"
    (other keys, such as "path", are left out); fetch.py reads the file. Not per scale: a scale switch must not
    refetch; a changed pin does. Not under resources/: that folder is a dependency of every DVC run stage and
    holds only downloads."""
    pins = {}
    for name, spec in files.items():
        # A pin is a sha256 or, for a file known offline only by its repository's tree, a git blob id.
        digest = "git_blob" if "git_blob" in spec and not spec.get("sha256") else "sha256"
        missing = [key for key in ("url", digest) if key not in spec]
        if missing:
            raise WorkflowError(f"pins_file({slug!r}): file {name!r} has no {missing}")
        pins[name] = {"url": spec["url"], digest: spec[digest]}
    path = f"results/pins/{slug}.json"
    _write_at_parse(path, pins, "results")
    return path


def _write_at_parse(path, content, folder):
    try:
        write_json_if_changed(path, content)
    except OSError as err:  # an unwritable or full folder: say so before any job starts
        raise WorkflowError(
            f"cannot write {path}: {err.strerror or err}; the {folder} folder must be writable"
        ) from None


# API budgets while the run goes (issue 28; repro.common.llm.budget): at paper scale and at the rehearsal, every call
# of a priced model that misses the cache is reserved in a ledger first and refused past preflight.budget_usd.<slug>.
# Jobs inherit the variable; the budgets and prices are not step params (editing them makes no result stale).
if SCALE in ("paper", REHEARSAL_SCALE) and config.get("preflight"):
    from repro.common.llm.budget import BUDGET_ENV, ledger_path  # only here: a tiny-scale parse needs no LLM package

    _budget_file = f".snakemake/repro-parse-cache/llm-budget-{SCALE}.json"
    _write_at_parse(
        _budget_file,
        {
            "ledger": ledger_path(SCALE),
            "budgets": config["preflight"].get("budget_usd") or {},
            "prices": {
                m: {"input": p["input"], "output": p["output"]} for m, p in config["preflight"]["prices"].items()
            },
        },
        ".snakemake",
    )
    os.environ[BUDGET_ENV] = os.path.abspath(_budget_file)


# The software environment of every rule, relative to workflow/rules. The repro
# package with its locked dependencies. Plain `snakemake` uses the active venv;
# `--software-deployment-method conda` builds this environment instead.
REPRO_ENV = "../envs/repro.yaml"


def parse_cache(name, function, params, *args, files=(), ordered=False):
    """`module:function`(params, *args) at parse time, cached in .snakemake/repro-parse-cache/ under a fingerprint
    of `params` and `args` (JSON-able), the source of every repro module `module` imports (IMPORTS) and the data
    `files` the function reads besides its code. A no-change `snakemake -n` then skips expensive planning (e.g.
    building models to match parameter counts) and its heavy imports (the module is imported only on a miss). Any
    params or code change recomputes. The result is JSON-able. `ordered`: the result is a dict whose key order
    means something (files a step reads in order); the cache keeps it (canonical JSON sorts keys)."""
    mod_name, _, attr = function.partition(":")
    digest = fingerprint([*IMPORTS.files_of([mod_name]), *files], extra=[params, *args] if args else params)
    path = Path(".snakemake/repro-parse-cache") / f"{name}-{SCALE}.json"
    if path.exists():
        cached = read_json(path)
        if cached.get("digest") == digest:
            return dict(cached["value"]) if ordered else cached["value"]
    value = getattr(importlib.import_module(mod_name), attr)(params, *args)
    write_json(path, {"digest": digest, "value": list(value.items()) if ordered else value})
    # Return what a cache hit returns (JSON keeps key order as stored): a first parse and a later one must give
    # identical rule params, or Snakemake sees "params changed" and reruns.
    stored = read_json(path)["value"]
    return dict(stored) if ordered else stored


# The released-data downloads (issue 26): one shape for every paper. A paper whose registry entry names a download
# group with target <slug>__fetch gets that rule from workflow/rules/downloads.smk; its files are what
# repro.<slug>.data.pinned_files(params, folder) pins, under the group's folder (typed once, in the registry).
def _fetch_folders():
    folders = {}
    for slug, paper in REGISTRY.papers.items():
        own = [g for g in paper.downloads if REGISTRY.downloads[g].target == f"{slug}__fetch"]
        if len(own) > 1:
            raise WorkflowError(
                f"workflow/papers.yaml: papers.{slug}.downloads: groups {own} all have target {slug}__fetch; "
                "one rule writes one folder"
            )
        if own:
            folders[slug] = REGISTRY.downloads[own[0]].folder
    return folders


FETCH_FOLDERS = _fetch_folders()  # slug -> download folder of its rule <slug>__fetch
_DOWNLOADS = {}


def downloads(slug):
    """name -> {"url", "sha256", "path"} of the released files that <slug>__fetch writes, as pinned by the paper's
    repro.<slug>.data:pinned_files(resolved params block, registry folder), through parse_cache (the data module
    may import pandas; its package's data files, e.g. distalign's released_files.tsv, are fingerprinted too).
    Key order is the function's. Use `{name: spec["path"] for name, spec in downloads(slug).items()}` as inputs."""
    if slug not in FETCH_FOLDERS:
        raise WorkflowError(
            f"downloads({slug!r}): workflow/papers.yaml names no download group with target {slug}__fetch "
            f"for {slug}; papers with one: {sorted(FETCH_FOLDERS)}"
        )
    if slug not in _DOWNLOADS:  # the fetch rule and the paper's rules file share one call
        folder = FETCH_FOLDERS[slug]
        package = Path(workflow.basedir, "src", "repro", slug)
        data_files = sorted(p for p in package.iterdir() if p.is_file() and p.suffix not in (".py", ".pyc"))
        try:
            specs = parse_cache(
                f"{slug}-files",
                f"repro.{slug}.data:pinned_files",
                paper_params(slug),
                folder,
                files=data_files,
                ordered=True,
            )
        except DataError as err:  # a bad params value, named by the data module
            raise WorkflowError(f"repro.{slug}.data.pinned_files: {err}") from None
        for name, spec in specs.items():
            digest = "git_blob" if "git_blob" in spec and not spec.get("sha256") else "sha256"
            missing = [key for key in ("url", digest, "path") if key not in spec]
            if missing or not spec["path"].startswith(f"{folder}/"):
                raise WorkflowError(
                    f"repro.{slug}.data.pinned_files: file {name!r} has no {missing}"
                    if missing
                    else f"repro.{slug}.data.pinned_files: file {name!r} lands at {spec['path']}, not under {folder}/"
                )
        # An empty or malformed checksum stops the parse (issue 28), not the download hours into a run. The paper's
        # pinned_files names the params key where it checks; this catches a pin list that does not (a data file).
        try:
            check_pins(specs, f"repro.{slug}.data.pinned_files")
        except DataError as err:
            raise WorkflowError(str(err)) from None
        _DOWNLOADS[slug] = specs
    return _DOWNLOADS[slug]


# Every paper's pins are built and checked now, before any rules file writes a params or pins file: a bad pin (an
# empty sha256) refuses the run with nothing written. Free: downloads.smk asks for each of them anyway (cached).
for _slug in FETCH_FOLDERS:
    downloads(_slug)


# The rehearsal scale's stand-ins (workflow/rules/standins.smk builds them; repro.common.standins).
STANDINS = config.get("standins") or {}
STANDINS_OUT = "results/{scale}/standins"


def _standin_params():
    """One params file per stand-in (its spec and the corpora), written at parse so an edit rebuilds only it."""
    for kind in ("tokenizers", "models", "datasets", "servers"):
        for name, spec in (STANDINS.get(kind) or {}).items():
            record = {"kind": kind, "name": name, "spec": spec, "corpora": STANDINS.get("corpora", [])}
            params_file("standins", f"{kind}-{name}", record)


def _standin_dependency(wildcards):
    """What a stand-in is built on: a model's tokenizer (standins.models.<name>.tokenizer), an LLM server's model
    (standins.servers.<name>.model), a files server's released sources (its files' `source`: <paper>.<file> of the
    paper's downloads, in repro.common.standins.build.file_sources order)."""
    if wildcards.kind not in ("models", "servers"):
        return []
    spec = (STANDINS.get(wildcards.kind) or {}).get(wildcards.name)
    if spec is None:
        raise WorkflowError(f"params.yaml: no standins.{wildcards.kind}.{wildcards.name}")
    if wildcards.kind == "models":
        return [f"results/{wildcards.scale}/standins/tokenizers/{spec['tokenizer']}"]
    if spec.get("api") == "files":
        from repro.common.standins.build import file_sources

        paths = []
        for source in file_sources(spec):
            slug, _, name = source.partition(".")
            released = downloads(slug) if slug in FETCH_FOLDERS else {}
            if name not in released:
                raise WorkflowError(
                    f"params.yaml: standins.servers.{wildcards.name}: source {source!r} is not <paper>.<file> of a "
                    f"paper's released files ({slug}: {sorted(released)})"
                )
            paths.append(released[name]["path"])
        return paths
    return [f"results/{wildcards.scale}/standins/models/{spec['model']}"] if "model" in spec else []


if SCALE == REHEARSAL_SCALE:
    _standin_params()
