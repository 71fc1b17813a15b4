# Helpers shared by every paper's rules (no rules here).
#
# Parameters and library code are file inputs of the rules that use them, so that
# Snakemake's mtime logic reruns exactly the affected steps after a parameter edit
# or a code change, also in a fresh clone restored with `dvc pull` (which carries
# no .snakemake metadata): see `step_params` and `library_files`.
#
# Rules carry no `params:` directive: everything a job reads besides its data comes from such a file
# (`step_params`, `params_file`, `pins_file`). One mechanism for "this value changed, rerun", and a cheap
# no-change `snakemake -n`: to compare the `params:` of each job with its record, Snakemake imports pandas
# (~0.3 s of a 2 s start, more from a cold disk); with no `params:` it never does.

import importlib
import os
import sys
from snakemake.exceptions import WorkflowError
from pathlib import Path

from repro.common.config import CONFIG_SECTION_KEY, ParamsError, resolve, select_keys, validate_params
from repro.common.io import fingerprint, read_json, write_json, write_json_if_changed
from repro.common.hooks import cancel_pending_timers
from repro.common.locks import live_owners, record_owner, release_stale_locks
from repro.common.registry import RegistryError, load_registry

# The registered papers: workflow/papers.yaml is the only list of them.
try:
    REGISTRY = load_registry(os.path.join(workflow.basedir, "workflow", "papers.yaml"))
except RegistryError as _err:
    raise WorkflowError(str(_err)) from None
PAPERS = REGISTRY.slugs

# Validate params.yaml at parse time; the error names the key.
try:
    validate_params(config, os.path.join(workflow.basedir, "workflow", "schemas"), PAPERS)
except ParamsError as _err:
    raise WorkflowError(str(_err)) from None

SCALE = config.get("scale", "tiny")

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


onstart:
    record_owner(Path(".snakemake"), list(getattr(workflow.persistence, "_lockfile", {}).values()))


# Exit right after the last job instead of waiting for Snakemake's next job-selection timer (repro.common.hooks).
onsuccess:
    cancel_pending_timers()


onerror:
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


def library_files(*modules):
    """The source files of library modules, as rule inputs (code changes rerun).

    A module is a dotted name under src/repro ("obsscaling", "common.io"): a
    package contributes all its .py files, a module its own file.
    """
    files = []
    for mod in modules:
        base = Path("src/repro", *mod.split("."))
        if base.is_dir():
            files.extend(sorted(str(p) for p in base.rglob("*.py")))
        elif base.with_suffix(".py").exists():
            files.append(str(base.with_suffix(".py")))
        else:
            raise WorkflowError(f"library_files: no module src/repro/{mod}")
    return files


def gpus(n=1):
    """GPU resource request for paper-scale rules (read by executors such as SLURM)."""
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
        missing = [key for key in ("url", "sha256") if key not in spec]
        if missing:
            raise WorkflowError(f"pins_file({slug!r}): file {name!r} has no {missing}")
        pins[name] = {"url": spec["url"], "sha256": spec["sha256"]}
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


# The software environment of every rule, relative to workflow/rules. The repro
# package with its locked dependencies. Plain `snakemake` uses the active venv;
# `--software-deployment-method conda` builds this environment instead.
REPRO_ENV = "../envs/repro.yaml"


def parse_cache(name, function, params, modules):
    """`module:function`(params) at parse time, cached in .snakemake/repro-parse-cache/ under a fingerprint of
    `params` (JSON-able) and the source of the library `modules` it depends on. A no-change `snakemake -n`
    then skips expensive planning (e.g. building models to match parameter counts) and its heavy imports
    (the module is imported only on a miss). Any params or code change recomputes. The result is JSON-able."""
    digest = fingerprint(library_files(*modules), extra=params)
    path = Path(".snakemake/repro-parse-cache") / f"{name}-{SCALE}.json"
    if path.exists():
        cached = read_json(path)
        if cached.get("digest") == digest:
            return cached["value"]
    mod_name, _, attr = function.partition(":")
    value = getattr(importlib.import_module(mod_name), attr)(params)
    write_json(path, {"digest": digest, "value": value})
    # Return what a cache hit returns (JSON keeps key order as stored): a first parse and a later one must give
    # identical rule params, or Snakemake sees "params changed" and reruns.
    return read_json(path)["value"]
