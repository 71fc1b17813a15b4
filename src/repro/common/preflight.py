"""Preflight of a paper-scale run (issue 28, item 4): check what the planned jobs need, estimate what they cost.

Before the first job of a paper-scale run, every planned job's needs are checked and the run prints a per-paper
estimate. A failed check stops the run before any job starts, naming the check; so no API money is spent on a DAG
whose later step cannot run (a missing GPU, key or endpoint anywhere in the plan stops all of it).

Checks (:class:`Check`, one row each):

- ``credentials``: every environment variable a planned step's params name in an ``api_key_env`` key is set
  (a backend whose key is optional, e.g. Semantic Scholar, only reports it);
- ``endpoint``: each distinct ``base_url`` of those backends answers an HTTP GET within a short timeout (any HTTP
  status counts: a 401 or 404 proves the host is there; only no answer fails);
- ``gpus``: the visible GPUs (:func:`repro.common.devices.visible_gpus`) cover the largest ``gpu`` request of a
  planned job, the number :func:`repro.common.devices.claim_gpus` will claim (skipped on a cluster executor,
  which gives each job its own GPUs);
- ``disk``: free space in the working directory >= ``preflight.min_free_disk_gb``;
- ``pins``: every download's sha256 is checked when the workflow parses (common.smk ``downloads``); reported;
- ``budget``: the estimated API spend of a paper stays within ``preflight.budget_usd.<slug>``;
- ``network``: each hub id (``owner/name``) and URL a planned step's params name outside a backend block can be
  fetched: the hub (``$HF_ENDPOINT``, else huggingface.co) answers, unless ``HF_HUB_OFFLINE=1`` says its cache holds
  them; a URL is already under ``resources/``, in ``$REPRO_MIRROR``, or its host answers.

A run can also leave out what cannot run here instead of stopping (``REPRO_PREFLIGHT=not_run``, issue 28): the
workflow asks :func:`unrunnable` at parse time which planned steps fail a check, leaves them and every step that
reads their outputs out of the DAG, and the scorecard lists each as NOT RUN with the failed check. The run-wide
checks (disk, and the remaining jobs' own checks at ``onstart``) still stop it.

Estimates (:class:`Estimate`) come from the paper-scale params alone: LLM calls and tokens where the params fix
them (otherwise "unknown", never a guess), dollars at the list prices in ``preflight.prices``, and GPU-hours =
6 N D / (peak x MFU) for training runs whose size and token count the params give.

Which jobs are planned: inside a run, the jobs of Snakemake's DAG that need to run (workflow/rules/common.smk calls
:func:`gate` from its ``onstart`` handler, which Snakemake runs after it built the DAG, only for a real run, never
for ``-n``); from the command line (``python -m repro.common.preflight --scale paper``), every declared step that
runs at the scale (:mod:`repro.common.declarations`), with the ``gpus(N)`` literal of its rule. A step declared
``not_run`` at the scale is never planned, so never checked. ``REPRO_SKIP_PREFLIGHT=1`` skips the hook.

No step imports this module, so editing it makes no result stale.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro.common.config import resolve, select_keys
from repro.common.declarations import StepDeclaration, read_declarations
from repro.common.fetch import MIRROR_ENV, FetchError, local_path, mirror_key

__all__ = [
    "MODE_ENV",
    "NOT_RUN_MODE",
    "SKIP_ENV",
    "Check",
    "Estimate",
    "Need",
    "PlannedJob",
    "PreflightError",
    "Report",
    "check_budget",
    "check_credentials",
    "check_disk",
    "check_endpoints",
    "check_gpus",
    "check_network",
    "declarations",
    "estimate",
    "find_downloads",
    "find_needs",
    "format_report",
    "gate",
    "job_of",
    "main",
    "plan_from_declarations",
    "plan_from_rules",
    "probe_url",
    "run_preflight",
    "unrunnable",
]

SKIP_ENV = "REPRO_SKIP_PREFLIGHT"  # "1": the workflow's onstart hook skips the preflight
# "not_run": steps that fail a check are left out of the run as NOT RUN rows (unrunnable) instead of stopping it.
MODE_ENV, NOT_RUN_MODE = "REPRO_PREFLIGHT", "not_run"
# The hub's address: huggingface_hub's own variables (HF_ENDPOINT moves it; HF_HUB_OFFLINE=1 reads its cache only).
HUB_ENDPOINT_ENV, HUB_OFFLINE_ENV, DEFAULT_HUB = "HF_ENDPOINT", "HF_HUB_OFFLINE", "https://huggingface.co"
# A hub id as the params write one: owner/name, one slash (a local path such as results/... has more, or is found).
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

# Where a backend block without a base_url sends its requests: repro.common.llm.openai.OpenAILLM's default and
# repro.ideagen.retrieval.S2_BASE (tests/unit/common/test_preflight.py keeps these in step with the code).
DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "semantic_scholar": "https://api.semanticscholar.org/graph/v1",
}
# Backends whose key is optional: Semantic Scholar answers without one, at a lower rate limit
# (repro.ideagen.retrieval.SemanticScholarClient sends the key only when the variable is set).
OPTIONAL_KEY_BACKENDS = frozenset({"semantic_scholar"})
# Steps that only write the LLM job plan of the paper's pipeline and call no endpoint (their docstrings say so;
# the test checks that their source builds no backend). Their keys and endpoints are not needed by this run.
PLAN_ONLY_STEPS = frozenset({("graphunc", "paper_plan"), ("autobencher", "paper_plan")})


class PreflightError(RuntimeError):
    """A preflight check failed; the message names each failed check, its paper and its step."""


@dataclass(frozen=True)
class Check:
    """One preflight check: ``what`` (credentials | endpoint | gpus | disk | pins | budget) of ``step`` (a rule
    name, or "-" for the whole paper or run) of ``paper`` ("*" for the run), and its outcome."""

    paper: str
    step: str
    what: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class PlannedJob:
    """A job the run will start: its rule, the paper and declared step the rule is (None: not a step, e.g. a
    figure or merge rule), and its ``gpu`` request (None: the rule file's request is not a literal)."""

    rule: str
    paper: str | None
    step: str | None
    gpus: int | None


@dataclass(frozen=True)
class Need:
    """An external service a step's params name: a backend block with an ``api_key_env`` key."""

    paper: str
    step: str
    key: str  # dotted params key of the block, e.g. live.models.1
    backend: str
    env: str | None  # the environment variable holding the key (None: the block names none)
    base_url: str | None  # None: the backend runs in process (hf, ngram, ...)
    optional_key: bool


@dataclass
class Estimate:
    """What one paper's planned steps cost: LLM calls, input/output tokens, dollars and GPU-hours.

    Each number is the part the params fix; its ``*_complete`` flag says whether that is all of it (False: some
    planned calls, tokens or FLOPs are unknown, and the table shows "+ unknown"). ``out_tokens`` is a ceiling
    (calls x samples x max_tokens); ``in_tokens`` is None when any call's prompt length is not fixed by the
    params; ``usd`` prices the known tokens (None: a model has no list price). ``notes`` say where each number
    comes from.
    """

    paper: str
    calls: int = 0
    calls_complete: bool = True
    in_tokens: int | None = 0
    out_tokens: int = 0
    out_complete: bool = True
    usd: float | None = 0.0
    usd_complete: bool = True
    gpu_hours: float = 0.0
    gpu_complete: bool = True
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    """The checks and estimates of one preflight."""

    checks: list[Check]
    estimates: dict[str, Estimate]

    @property
    def failed(self) -> list[Check]:
        """The checks that did not pass."""
        return [c for c in self.checks if not c.ok]


# --- what the planned steps need ---------------------------------------------------------------------------------


def _blocks(node: Any, key: str) -> Iterable[tuple[str, Mapping[str, Any]]]:
    """Every mapping under ``node`` that has an ``api_key_env`` key, with its dotted key."""
    if isinstance(node, Mapping):
        if "api_key_env" in node:
            yield key, node
        for k, v in node.items():
            yield from _blocks(v, f"{key}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _blocks(v, f"{key}.{i}")


def find_needs(params: Mapping[str, Any], paper: str, step: str, reads: Sequence[str]) -> list[Need]:
    """The services step ``step`` of ``paper`` needs: each backend block under the params keys it ``reads``.

    Every block under those keys counts, also one the step could pick by name but does not at this setting
    (e.g. the second of two named LLMs): strict by design, a spare key is cheaper than a run stopped halfway.
    """
    needs = []
    for key, value in select_keys(params, list(reads), paper).items():
        for where, block in _blocks(value, key):
            backend = str(block.get("backend") or "openai")
            env = block.get("api_key_env") or None
            base_url = block.get("base_url") or DEFAULT_BASE_URLS.get(backend)
            needs.append(
                Need(paper, step, where, backend, env, base_url, optional_key=backend in OPTIONAL_KEY_BACKENDS)
            )
    return needs


def _rule(need: Need) -> str:
    return f"{need.paper}__{need.step}"


def check_credentials(needs: Sequence[Need], environ: Mapping[str, str]) -> list[Check]:
    """One check per (step, variable): the variable is set and not empty (an optional key only reports)."""
    checks, seen = [], set()
    for n in needs:
        if n.env is None or (n.paper, n.step, n.env) in seen:
            continue
        seen.add((n.paper, n.step, n.env))
        if environ.get(n.env):
            checks.append(Check(n.paper, _rule(n), "credentials", True, f"{n.env} is set ({n.key})"))
        elif n.optional_key:
            detail = f"{n.env} is not set: {n.backend} is used without a key, at its lower rate limit ({n.key})"
            checks.append(Check(n.paper, _rule(n), "credentials", True, detail))
        else:
            detail = f"environment variable {n.env} is not set (named by params {n.paper}.{n.key}.api_key_env)"
            checks.append(Check(n.paper, _rule(n), "credentials", False, detail))
    return checks


def probe_url(url: str, timeout: float) -> str | None:
    """GET ``url``; None when the host answers with any HTTP status, else why it did not (the error)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="GET"), timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None  # 401 / 404 / 405: a server answered
    except (urllib.error.URLError, OSError, ValueError) as err:
        return str(getattr(err, "reason", err))


Prober = Callable[[str, float], "str | None"]


def _once(probe: Prober) -> Prober:
    """``probe`` asking each address once (a run's steps share endpoints; each paper gets its own check row)."""
    answers: dict[str, str | None] = {}

    def ask(url: str, timeout: float) -> str | None:
        if url not in answers:
            answers[url] = probe(url, timeout)
        return answers[url]

    return ask


def check_endpoints(needs: Sequence[Need], probe: Prober = probe_url, timeout: float = 5.0) -> list[Check]:
    """One check per paper and distinct ``base_url`` (each probed once), filed under the paper's first step that
    needs it; its detail names every step of the paper that does."""
    users: dict[tuple[str, str], list[Need]] = {}
    for n in needs:
        if n.base_url:
            users.setdefault((n.paper, n.base_url.rstrip("/")), []).append(n)
    ask = _once(probe)
    checks = []
    for (paper, url), ns in users.items():
        error = ask(url, timeout)
        steps = ", ".join(sorted({_rule(n) for n in ns}))
        detail = f"{url} answers (needed by {steps})" if error is None else f"{url} did not answer: {error} ({steps})"
        checks.append(Check(paper, _rule(ns[0]), "endpoint", error is None, detail))
    return checks


@dataclass(frozen=True)
class Download:
    """A network resource a step's params name outside a backend block: a hub id or a URL (``value`` at params key
    ``key``), and the address whose answer decides whether it can be fetched (``probe``)."""

    paper: str
    step: str
    key: str
    value: str
    probe: str


def _strings(node: Any, key: str) -> Iterable[tuple[str, str]]:
    """Every string under ``node`` with its dotted key, skipping API backend blocks (an API's model id is no hub id;
    its base_url is an endpoint) but not in-process ``hf`` ones, whose model is a hub id."""
    if isinstance(node, Mapping):
        if "api_key_env" not in node or node.get("backend") == "hf":
            for k, v in node.items():
                yield from _strings(v, f"{key}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _strings(v, f"{key}.{i}")
    elif isinstance(node, str):
        yield key, node


def find_downloads(
    params: Mapping[str, Any],
    paper: str,
    step: str,
    reads: Sequence[str],
    *,
    workdir: str | os.PathLike[str] = ".",
    environ: Mapping[str, str] | None = None,
) -> list[Download]:
    """What step ``step`` of ``paper`` fetches over the network: each hub id (``owner/name``, not a local path)
    and each http(s) URL (not a ``{}`` template, which the paper's pinned fetch rule fills in) under the params keys
    it ``reads``, unless it is here already: a URL under ``<workdir>/resources`` or ``$REPRO_MIRROR``; hub ids when
    ``HF_HUB_OFFLINE=1`` (huggingface_hub then reads its cache only). Strict like :func:`find_needs`: a hub id the
    step might not use at this setting still counts."""
    environ = os.environ if environ is None else environ
    workdir = Path(workdir)
    hub = (environ.get(HUB_ENDPOINT_ENV) or DEFAULT_HUB).rstrip("/")
    offline = environ.get(HUB_OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes")
    mirror = environ.get(MIRROR_ENV)
    out = []
    for key, value in select_keys(params, list(reads), paper).items():
        for where, text in _strings(value, key):
            if text.startswith(("http://", "https://")):
                if "{" in text:
                    continue
                try:
                    here = (workdir / local_path(text)).exists() or bool(
                        mirror and (Path(mirror) / mirror_key(text)).exists()
                    )
                except FetchError:  # a bare host: nothing to look up locally
                    here = False
                if not here:
                    scheme, _, rest = text.partition("://")
                    out.append(Download(paper, step, where, text, f"{scheme}://{rest.split('/', 1)[0]}"))
            elif _HUB_ID.match(text) and not offline and not (workdir / text).exists():
                out.append(Download(paper, step, where, text, hub))
    return out


def check_network(downloads: Sequence[Download], probe: Prober = probe_url, timeout: float = 5.0) -> list[Check]:
    """One check per paper and distinct address (each probed once), filed under the paper's first step that
    needs it; the detail names what the paper's steps fetch from it."""
    users: dict[tuple[str, str], list[Download]] = {}
    for d in downloads:
        users.setdefault((d.paper, d.probe), []).append(d)
    ask = _once(probe)
    checks = []
    for (paper, url), ds in users.items():
        error = ask(url, timeout)
        what = sorted({f"{d.value} ({d.paper}__{d.step})" for d in ds})
        listed = ", ".join(what[:4]) + (f" and {len(what) - 4} more" if len(what) > 4 else "")
        detail = f"{url} answers" if error is None else f"{url} did not answer: {error}; needed for {listed}"
        checks.append(Check(paper, f"{paper}__{ds[0].step}", "network", error is None, detail))
    return checks


def check_gpus(jobs: Sequence[PlannedJob], visible: int, cluster: bool = False) -> list[Check]:
    """Per paper: the visible GPUs cover the largest ``gpu`` request of its planned jobs."""
    checks = []
    by_paper: dict[str, list[PlannedJob]] = {}
    for j in jobs:
        if j.gpus is None or j.gpus > 0:
            by_paper.setdefault(j.paper or "*", []).append(j)
    for paper, js in sorted(by_paper.items()):
        known = [j for j in js if j.gpus is not None]
        top = max(known, key=lambda j: j.gpus or 0) if known else None
        unknown = sorted({j.rule for j in js if j.gpus is None})
        if cluster:
            checks.append(Check(paper, "-", "gpus", True, "cluster executor: each job gets its GPUs there"))
            continue
        if top is not None and (top.gpus or 0) > visible:
            detail = f"{top.rule} requests {top.gpus} GPU(s); {visible} visible here (repro.common.devices)"
            checks.append(Check(paper, top.rule, "gpus", False, detail))
        elif unknown and visible == 0:
            detail = f"{', '.join(unknown)} request(s) GPUs (count not a literal); none visible here"
            checks.append(Check(paper, unknown[0], "gpus", False, detail))
        else:
            need = top.gpus if top is not None else "?"
            checks.append(Check(paper, top.rule if top else "-", "gpus", True, f"needs {need}, {visible} visible"))
    return checks


def check_disk(path: str | os.PathLike[str], need_gb: float, free_bytes: int | None = None) -> Check:
    """Free space under ``path`` is at least ``need_gb`` (``free_bytes``: injected by tests)."""
    free = shutil.disk_usage(path).free if free_bytes is None else free_bytes
    free_gb = free / 1e9
    detail = f"{free_gb:.0f} GB free in {Path(path).resolve()}; preflight.min_free_disk_gb = {need_gb:g}"
    return Check("*", "-", "disk", free_gb >= need_gb, detail)


def check_budget(est: Estimate, budget: float | None) -> Check:
    """The paper's estimated API spend stays within its budget (a paper with paid calls and no budget fails).

    With part of the spend unknown, the known part is held against the budget and the detail says so: the run
    itself is not metered yet (the LLM backends do not count dollars).
    """
    if est.usd is None:
        return Check(est.paper, "-", "budget", False, "API spend unknown (a model has no price in preflight.prices)")
    if est.usd == 0 and est.calls == 0 and est.calls_complete:
        return Check(est.paper, "-", "budget", True, "no paid API calls planned")
    if budget is None:
        detail = f"paid API calls planned but no preflight.budget_usd.{est.paper}"
        return Check(est.paper, "-", "budget", False, detail)
    part = "" if est.usd_complete else " (known part only: output tokens at their ceiling; the rest unknown)"
    verdict = "exceeds" if est.usd > budget else "within"
    return Check(
        est.paper, "-", "budget", est.usd <= budget, f"estimate ${est.usd:,.0f}{part} {verdict} ${budget:,.0f}"
    )


# --- estimates -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Calls:
    """LLM calls of one step with one model: ``calls`` (None: unknown), each with ``samples`` completions of at
    most ``max_tokens`` (None: unknown)."""

    step: str
    model: str
    calls: int | None
    samples: int = 1
    max_tokens: int | None = None
    note: str = ""
    in_tokens: int | None = None  # all the calls' prompt tokens (None: unknown)


def rehearsal_in_tokens(workdir: str | os.PathLike[str], paper: str) -> dict[tuple[str, str], float]:
    """Mean prompt tokens per call by (model, method), as the cache layer counted them during the rehearsal
    (repro.common.llm.budget; the ledger of scale paper_toy), or {} before a rehearsal ran here. The rehearsal
    builds the paper's prompts from the paper's data with the paper's code, so their length carries over; the
    toy model's replies do not (output tokens stay bounded by max_tokens)."""
    from repro.common.llm.budget import ledger_path, ledger_rates

    path = Path(workdir) / ledger_path("paper_toy")
    if not path.is_file():
        return {}
    return {k: v["in_tokens"] / v["calls"] for k, v in ledger_rates(path, paper).items() if v["calls"]}


def _ideagen_calls(p: Mapping[str, Any], steps: set[str], workdir: Path) -> list[_Calls]:
    out = []
    s = p["seeds"]
    llm = p["llms"].get(s["llm"], {})
    if "seeds" in steps and llm.get("backend") == "openai":
        per_call = s["ideas_per_call"] * s["samples_per_call"]
        # at least ceil(n / per_call) calls per topic (repro.ideagen.generator.generate_seeds; more when a reply
        # parses to fewer ideas); the prompt lists up to avoid_repeating earlier names, so its length is unknown
        calls = len(s["topics"]) * math.ceil(s["n_per_topic"] / per_call)
        note = f"seeds: >= {calls} calls (topics x n_per_topic / ideas per call); prompt tokens unknown"
        out.append(_Calls("seeds", llm["model"], calls, s["samples_per_call"], s["max_tokens"], note))
    t = p["tournament"]
    judge = p["llms"].get(t["llm"], {})
    if "tournament" in steps and t["judge"] == "llm" and judge.get("backend") == "openai":
        note = "tournament: calls unknown (rounds x pairs over the released study's ideas)"
        out.append(_Calls("tournament", judge["model"], None, note=note))
    return out


def _distalign_questions(p: Mapping[str, Any], workdir: Path) -> dict[tuple[str, str], int] | None:
    """Prompts per (dataset, steering) of the live rerun, counted in the released files when they are here (the
    step's own selection: steering none asks one group per question, the others every group), else None."""
    from repro.common.registry import load_registry
    from repro.distalign.data import DataError, load_truth, pinned_files

    if not (workdir / "workflow/papers.yaml").is_file():
        return None
    registry = load_registry(workdir / "workflow/papers.yaml")
    groups = [g for g in registry.papers["distalign"].downloads if registry.downloads[g].target == "distalign__fetch"]
    if not groups:
        return None
    folder = registry.downloads[groups[0]].folder
    files = {
        spec["path"].removeprefix(folder + "/"): workdir / spec["path"]
        for spec in pinned_files(p, folder).values()
        if (workdir / spec["path"]).is_file()
    }
    out = {}
    for ds in p["live"]["datasets"]:
        try:
            qs = load_truth(ds, files)
        except (DataError, OSError):
            return None
        for steering in p["live"]["steering"]:
            n = sum(1 for q in qs if q.group == qs[0].group) if steering == "none" else len(qs)
            out[(ds, steering)] = n if p["live"].get("max_questions") is None else min(n, p["live"]["max_questions"])
    return out


# Output tokens per live call by method (repro.distalign.live.ask: V 200, Seq 100; Log-p reads one token).
_DISTALIGN_MAX_TOKENS = {"verbalize": 200, "sequence": 100, "logprobs": 1}


def _distalign_calls(p: Mapping[str, Any], steps: set[str], workdir: Path) -> list[_Calls]:
    """The live rerun: one call per prompt, model, dataset, steering and method (no Log-p for Anthropic models).
    Calls are counted in the released questions when they are here; prompt tokens are the rehearsal's per-call
    mean (rehearsal_in_tokens) times the calls."""
    if "live" not in steps:
        return []
    live = p["live"]
    questions = _distalign_questions(p, workdir)
    measured = rehearsal_in_tokens(workdir, "distalign")
    if questions is None:
        combos = len(live["datasets"]) * len(live["steering"]) * len(live["methods"])
        note = f"live: calls unknown ({combos} dataset x steering x method settings per model x the released questions)"
        return [_Calls("live", m["model"], None, note=note) for m in live["models"] if m["backend"] == "openai"]
    out = []
    per_setting = sum(questions.values())
    for m in live["models"]:
        if m["backend"] != "openai":
            continue
        for method in live["methods"]:
            if method == "logprobs" and m["name"].startswith("anthropic"):
                continue
            kind = "top_logprobs" if method == "logprobs" else "chat"
            mean_in = measured.get((m["model"], kind))
            note = f"live: {per_setting} prompts per model and method (the released questions)" + (
                "; prompt tokens as counted at the rehearsal" if measured else "; prompt tokens unknown (no rehearsal)"
            )
            calls = per_setting
            tokens_in = None if mean_in is None else round(mean_in * calls)
            out.append(_Calls("live", m["model"], calls, 1, _DISTALIGN_MAX_TOKENS[method], note, tokens_in))
    return out


def _entigraph_calls(p: Mapping[str, Any], steps: set[str], workdir: Path) -> list[_Calls]:
    if "synth" not in steps or p["synth"]["llm"]["backend"] != "openai":
        return []
    g = p["synth"]["generation"]
    note = "synth: calls unknown (entities and pairs per QuALITY article)"
    return [_Calls("synth", p["synth"]["llm"]["model"], None, 1, g["max_tokens"], note)]


# Per paper: the LLM calls of its planned steps, read from its paper-scale params. A paper not listed makes no
# paid call in the steps this workflow runs (graphunc and autobencher plan theirs: PLAN_ONLY_STEPS).
LLM_CALLS: dict[str, Callable[[Mapping[str, Any], set[str], Path], list[_Calls]]] = {
    "ideagen": _ideagen_calls,
    "distalign": _distalign_calls,
    "entigraph": _entigraph_calls,
}


def _params_n(n_layer: int, d_model: int, vocab: int) -> float:
    """Parameters of a decoder: 12 L d^2 (attention + MLP blocks) + V d (embedding); TTT and Mamba layers are
    matched to the Transformer's size in the paper, so the same count stands for them."""
    return 12 * n_layer * d_model**2 + vocab * d_model


def _ttt_flops(p: Mapping[str, Any], steps: set[str]) -> tuple[float, set[str], list[str]]:
    """6 N D of the ttt training runs: the text study (Table 3) and the recall runs (main, mini-batch, ladder)."""
    flops, counted, notes = 0.0, set(), []
    if "train" in steps:
        counted.add("train")
        tr = p["train"]
        tokens_per_step = tr["batch_size"] * tr["grad_accum"] * p["context"]
        runs = len(p["archs"]) * len(p["seeds"])
        text = sum(
            6 * _params_n(z["n_layer"], z["d_model"], p["tokenizer"]["vocab_size"]) * z["steps"] * tokens_per_step
            for z in p["sizes"]
        )
        flops += runs * text
        notes.append(f"train: {runs * len(p['sizes'])} text runs, {runs * text:.2e} FLOPs")
    if "recall_run" in steps:
        counted.add("recall_run")
        r = p["recall"]
        m, task = r["model"], r["task"]
        per_run = 6 * _params_n(m["n_layer"], m["d_model"], task["n_keys"] + task["n_values"])
        per_run *= r["train"]["steps"] * r["train"]["batch_size"] * task["context"]
        n_seeds = len(r["seeds"])
        runs = n_seeds * (
            len(r["archs"]) * len(r["pairs"])
            + len(p["minibatch"]["sizes"])
            + len(p["ladder"]["rows"]) * len(p["ladder"]["eta_grid"])
        )
        flops += runs * per_run
        notes.append(f"recall_run: <= {runs} runs (shared runs counted per group), {runs * per_run:.2e} FLOPs")
    return flops, counted, notes


# Per paper: training FLOPs (6 N D) of its planned steps where the params give N and D, and the steps counted.
TRAIN_FLOPS: dict[str, Callable[[Mapping[str, Any], set[str]], tuple[float, set[str], list[str]]]] = {"ttt": _ttt_flops}


def estimate(
    paper: str,
    params: Mapping[str, Any],
    steps: set[str],
    gpu_steps: set[str],
    settings: Mapping[str, Any],
    workdir: str | os.PathLike[str] = ".",
) -> Estimate:
    """The estimate of ``paper`` for its planned ``steps`` (``gpu_steps``: those that request GPUs), from its
    paper-scale ``params``, the ``preflight`` block ``settings`` (prices, GPU peak and MFU) and, where the checkout
    ``workdir`` has them, the released data and the rehearsal's token counts."""
    est = Estimate(paper)
    prices = settings.get("prices", {})
    for c in LLM_CALLS.get(paper, lambda _p, _s, _w: [])(params, steps, Path(workdir)):
        if c.note not in est.notes:  # one note per step, not per model
            est.notes.append(c.note)
        if c.in_tokens is None:  # the prompt lengths are not fixed by the params and no rehearsal counted them
            est.in_tokens = None
            est.usd_complete = False  # so the price is at best the output part
        elif est.in_tokens is not None:
            est.in_tokens += c.in_tokens
        if c.calls is None:
            est.calls_complete = est.out_complete = False
        else:
            est.calls += c.calls
        out = None if c.calls is None or c.max_tokens is None else c.calls * c.samples * c.max_tokens
        if out is None:
            est.out_complete = False
        else:
            est.out_tokens += out
        if c.model not in prices:
            est.usd = None
            est.notes.append(f"{c.model}: no list price in preflight.prices")
        elif out is not None and est.usd is not None:
            est.usd += out * float(prices[c.model]["output"]) / 1e6
            if c.in_tokens is not None:
                est.usd += c.in_tokens * float(prices[c.model]["input"]) / 1e6
    gpu = settings.get("gpu", {})
    flops, counted, notes = TRAIN_FLOPS.get(paper, lambda _p, _s: (0.0, set(), []))(params, steps)
    est.notes += notes
    est.gpu_hours = flops / (float(gpu["peak_tflops"]) * 1e12 * float(gpu["mfu"])) / 3600 if flops else 0.0
    unestimated = sorted(gpu_steps - counted)
    if unestimated:
        est.gpu_complete = False
        est.notes.append(f"GPU steps without a FLOP count in params: {', '.join(unestimated)}")
    return est


# --- the plan -----------------------------------------------------------------------------------------------------


def declarations(root: Path, paper: str) -> dict[str, StepDeclaration]:
    """The steps ``repro.<paper>`` declares (read from the source, like the workflow)."""
    return read_declarations(sorted((root / "src" / "repro" / paper).rglob("*.py")))


def job_of(rule: str, gpus: int | None, steps: Mapping[str, Mapping[str, StepDeclaration]]) -> PlannedJob:
    """The planned job of ``rule``: its paper and step when it is ``<paper>__<declared step>``."""
    paper, sep, step = rule.partition("__")
    if not sep or paper not in steps:
        return PlannedJob(rule, None, None, gpus)
    return PlannedJob(rule, paper, step if step in steps[paper] else None, gpus)


_RULE = re.compile(r"^rule (\w+):", re.MULTILINE)
_GPUS = re.compile(r"\bgpu=gpus\(([^)]*)\)")


_PARAMS_REF = re.compile(r'^[A-Z][A-Z0-9_]*((?:\["[^"\]]+"\])+)$')


def plan_from_rules(root: Path, paper: str, params: Mapping[str, Any] | None = None) -> dict[str, int | None]:
    """rule -> ``gpu`` request in ``workflow/rules/<paper>.smk`` at paper scale (``gpus()`` = 1, ``gpus(N)`` = N,
    ``gpus(TTT["train"]["ranks"])`` = that key of the paper's paper-scale ``params`` when given, another expression =
    None; a rule without one requests 0). Read as text: the command line plans without a parse."""
    text = (root / "workflow" / "rules" / f"{paper}.smk").read_text(encoding="utf-8")
    heads = list(_RULE.finditer(text))
    out: dict[str, int | None] = {}
    for i, head in enumerate(heads):
        body = text[head.end() : heads[i + 1].start() if i + 1 < len(heads) else len(text)]
        m = _GPUS.search(body)
        arg = m.group(1).strip() if m else "0"
        out[head.group(1)] = 1 if arg == "" else int(arg) if arg.isdigit() else _params_count(arg, params)
    return out


def _params_count(arg: str, params: Mapping[str, Any] | None) -> int | None:
    """The integer a ``NAME["a"]["b"]`` argument names in the paper's params (a rules file's ``PAPER = paper_params(
    ...)``), or None when it is another expression or the key is not an integer there."""
    m = _PARAMS_REF.match(arg)
    if params is None or m is None:
        return None
    value: Any = params
    for key in re.findall(r'\["([^"\]]+)"\]', m.group(1)):
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def plan_from_declarations(
    root: Path, papers: Sequence[str], scale: str, config: Mapping[str, Any] | None = None
) -> list[PlannedJob]:
    """The command line's plan: every rule ``<paper>__<step>`` of a declared step that runs at ``scale``; with
    ``config`` (params.yaml), GPU requests that name a params key are read from the paper's paper-scale params."""
    jobs = []
    for paper in papers:
        declared = declarations(root, paper)
        gpu = plan_from_rules(root, paper, resolve(config, paper, "paper") if config is not None else None)
        for name, decl in declared.items():
            if decl.runs_at(scale):
                rule = f"{paper}__{name}"
                jobs.append(PlannedJob(rule, paper, name, gpu.get(rule, 0) if scale == "paper" else 0))
    return jobs


# --- the preflight ------------------------------------------------------------------------------------------------


def run_preflight(
    config: Mapping[str, Any],
    jobs: Sequence[PlannedJob],
    declared: Mapping[str, Mapping[str, StepDeclaration]],
    *,
    environ: Mapping[str, str] | None = None,
    probe: Prober = probe_url,
    visible: int | None = None,
    cluster: bool = False,
    workdir: str | os.PathLike[str] = ".",
    free_bytes: int | None = None,
) -> Report:
    """Check the planned ``jobs`` and estimate each paper's cost from its paper-scale params in ``config``.

    ``declared``: paper -> its step declarations. ``environ``, ``probe``, ``visible`` (GPU count) and
    ``free_bytes`` are injectable for tests; by default the process environment, an HTTP GET, the GPUs
    :func:`repro.common.devices.visible_gpus` lists and the disk's free space.
    """
    from repro.common.devices import visible_gpus  # not at the top: only the default needs it

    environ = os.environ if environ is None else environ
    visible = len(visible_gpus(probe_torch=False)) if visible is None else visible
    settings = config.get("preflight", {})
    papers = sorted({j.paper for j in jobs if j.paper})
    needs: list[Need] = []
    downloads: list[Download] = []
    checks: list[Check] = []
    estimates = {}
    for paper in papers:
        params = resolve(config, paper, "paper")
        steps = {j.step for j in jobs if j.paper == paper and j.step}
        for step in sorted(steps):
            decl = declared[paper][step]
            if (paper, step) not in PLAN_ONLY_STEPS:
                needs += find_needs(params, paper, step, decl.reads)
                downloads += find_downloads(params, paper, step, decl.reads, workdir=workdir, environ=environ)
        gpu_steps = {j.step for j in jobs if j.paper == paper and j.step and (j.gpus is None or j.gpus > 0)}
        estimates[paper] = estimate(paper, params, steps, gpu_steps, settings, workdir)
        checks.append(Check(paper, "-", "pins", True, "sha256 of every download checked at parse (common.smk)"))
    checks += check_credentials(needs, environ)
    probe = _once(probe)
    checks += check_endpoints(needs, probe, float(settings.get("probe_timeout_s", 5.0)))
    checks += check_network(downloads, probe, float(settings.get("probe_timeout_s", 5.0)))
    checks += check_gpus(jobs, visible, cluster)
    checks.append(check_disk(workdir, float(settings.get("min_free_disk_gb", 0)), free_bytes))
    budgets = settings.get("budget_usd", {})
    checks += [check_budget(est, budgets.get(paper)) for paper, est in estimates.items()]
    return Report(checks, estimates)


def unrunnable(
    config: Mapping[str, Any],
    jobs: Sequence[PlannedJob],
    declared: Mapping[str, Mapping[str, StepDeclaration]],
    *,
    environ: Mapping[str, str] | None = None,
    probe: Prober = probe_url,
    visible: int | None = None,
    cluster: bool = False,
    workdir: str | os.PathLike[str] = ".",
) -> dict[str, dict[str, str]]:
    """paper -> step -> why it cannot run here, for each planned step that fails a check of its own (credentials,
    endpoint, network, gpus) and, where a paper's estimate over the steps that can run exceeds its budget, each of
    those that makes paid calls (``REPRO_PREFLIGHT=not_run``: the workflow leaves them out as NOT RUN rows instead
    of stopping). The same checks as :func:`run_preflight`, per step; each address is probed once."""
    from repro.common.devices import visible_gpus

    environ = os.environ if environ is None else environ
    visible = len(visible_gpus(probe_torch=False)) if visible is None else visible
    settings = config.get("preflight", {})
    timeout = float(settings.get("probe_timeout_s", 5.0))
    ask = _once(probe)

    def answer(url: str) -> str | None:
        return ask(url, timeout)

    out: dict[str, dict[str, str]] = {}
    for paper in sorted({j.paper for j in jobs if j.paper}):
        params = resolve(config, paper, "paper")
        planned = [j for j in jobs if j.paper == paper and j.step]
        why: dict[str, str] = {}
        for j in planned:
            assert j.step is not None
            reads = declared[paper][j.step].reads
            reasons = []
            if (paper, j.step) not in PLAN_ONLY_STEPS:
                needs = find_needs(params, paper, j.step, reads)
                reasons += [c.detail for c in check_credentials(needs, environ) if not c.ok]
                for url in dict.fromkeys(n.base_url.rstrip("/") for n in needs if n.base_url):
                    if (error := answer(url)) is not None:
                        reasons.append(f"endpoint {url} did not answer: {error}")
                for d in find_downloads(params, paper, j.step, reads, workdir=workdir, environ=environ):
                    if (error := answer(d.probe)) is not None:
                        reasons.append(
                            f"network: {d.value} ({paper}.{d.key}) needs {d.probe}, which did not answer: {error}"
                        )
            if not cluster and (j.gpus is None and visible == 0 or (j.gpus or 0) > visible):
                reasons.append(f"gpus: {j.rule} requests {j.gpus or 'some'} GPU(s); {visible} visible here")
            if reasons:
                why[j.step] = "; ".join(dict.fromkeys(reasons))
        runnable = {j.step for j in planned if j.step not in why}
        gpu_steps = {j.step for j in planned if j.step in runnable and (j.gpus is None or j.gpus > 0)}
        est = estimate(paper, params, runnable, gpu_steps, settings, workdir)  # type: ignore[arg-type]
        budget = check_budget(est, settings.get("budget_usd", {}).get(paper))
        if not budget.ok:
            paid = LLM_CALLS.get(paper, lambda _p, _s, _w: [])(params, runnable, Path(workdir))  # type: ignore[arg-type]
            for step in sorted({c.step for c in paid}):
                why[step] = f"budget: {budget.detail} (preflight.budget_usd.{paper})"
        if why:
            out[paper] = {step: f"cannot run here (preflight): {reason}" for step, reason in why.items()}
    return out


def _part(value: str, complete: bool) -> str:
    return value if complete else f"{value} + unknown"


def format_report(report: Report) -> str:
    """The per-paper table (paper | LLM calls | tokens | USD | GPU-hours | checks failed), then the failed checks
    and the estimates' notes. Tokens are "input / output ceiling"."""
    rows = [("paper", "LLM calls", "tokens (in / out <=)", "USD", "GPU-hours", "checks failed")]
    for paper, e in report.estimates.items():
        calls = _part(f"{e.calls:,}", e.calls_complete)
        tokens = (
            "0"
            if e.calls == 0 and e.calls_complete
            else (
                f"{'unknown' if e.in_tokens is None else f'{e.in_tokens:,}'} / {_part(f'{e.out_tokens:,}', e.out_complete)}"
            )
        )
        usd = "unknown" if e.usd is None else _part(f"{e.usd:,.0f}", e.usd_complete)
        hours = _part(f"{e.gpu_hours:,.0f}", e.gpu_complete)
        failed = sorted({c.what for c in report.failed if c.paper == paper})
        rows.append((paper, calls, tokens, usd, hours, ", ".join(failed) or "-"))
    run_wide = sorted({c.what for c in report.failed if c.paper == "*"})
    if run_wide:  # a run-wide check (disk) is one row, not a mark on every paper's
        rows.append(("(whole run)", "", "", "", "", ", ".join(run_wide)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    out = ["Preflight (paper scale)", *lines]
    if report.failed:
        out.append("Failed checks:")
        out += [f"  {c.what} [{c.paper} {c.step}]: {c.detail}" for c in report.failed]
    notes = [f"  {p}: {n}" for p, e in report.estimates.items() for n in e.notes]
    if notes:
        out.append("Notes:")
        out += notes
    return "\n".join(out)


def gate(
    config: Mapping[str, Any],
    rule_gpus: Sequence[tuple[str, int]],
    root: str | os.PathLike[str],
    papers: Sequence[str],
    *,
    cluster: bool = False,
) -> str:
    """The workflow's hook (common.smk ``onstart``): preflight the DAG's planned jobs, given as (rule, gpu)
    pairs; return the report, or raise :class:`PreflightError` with it when a check failed."""
    root = Path(root)
    declared = {p: declarations(root, p) for p in papers}
    jobs = [job_of(rule, gpus, declared) for rule, gpus in rule_gpus]
    report = run_preflight(config, jobs, declared, cluster=cluster)
    text = format_report(report)
    if report.failed:
        raise PreflightError(
            f"{text}\npreflight failed: {len(report.failed)} check(s); nothing was started "
            f"(fix them, or set {SKIP_ENV}=1 to run anyway)"
        )
    return text


def main(
    argv: Sequence[str] | None = None, *, probe: Prober = probe_url, environ: Mapping[str, str] | None = None
) -> int:
    """``python -m repro.common.preflight --scale paper [--papers ...]``: print the table; exit 1 on a failed check."""
    from repro.common.io import read_yaml
    from repro.common.registry import load_registry

    ap = argparse.ArgumentParser(prog="python -m repro.common.preflight", description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="paper", choices=["paper"], help="the scale to check (paper only)")
    ap.add_argument("--papers", nargs="*", help="slugs (default: every registered paper)")
    ap.add_argument("--root", default=".", help="the checkout (default: the working directory)")
    ap.add_argument("--params", default=None, help="params file (default: <root>/params.yaml)")
    args = ap.parse_args(argv)
    root = Path(args.root)
    config = read_yaml(args.params or root / "params.yaml")
    registered = load_registry(root / "workflow" / "papers.yaml").slugs
    papers = args.papers or list(registered)
    unknown = sorted(set(papers) - set(registered))
    if unknown:
        ap.error(f"unknown paper(s) {unknown}; registered: {list(registered)}")
    declared = {p: declarations(root, p) for p in papers}
    jobs = plan_from_declarations(root, papers, args.scale, config)
    report = run_preflight(config, jobs, declared, environ=environ, probe=probe, workdir=root)
    # Papers with no planned step still get a row, so the table has one per paper asked for.
    for p in papers:
        report.estimates.setdefault(p, Estimate(p, notes=["no step runs at this scale"]))
    report.estimates = {p: report.estimates[p] for p in papers}
    print(format_report(report))
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
