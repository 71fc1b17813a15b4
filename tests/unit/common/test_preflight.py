"""Preflight of a paper-scale run (issue 28, item 4): repro.common.preflight.

No test touches the network: every endpoint probe is injected, and so are the environment, the GPU count and
the free disk where a test depends on them.
"""

from __future__ import annotations

import copy
import inspect
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest

from repro.common.config import ParamsError, validate_params
from repro.common.preflight import (
    DEFAULT_BASE_URLS,
    PLAN_ONLY_STEPS,
    PlannedJob,
    Report,
    check_gpus,
    check_network,
    declarations,
    find_downloads,
    format_report,
    main,
    plan_from_declarations,
    run_preflight,
    unrunnable,
)
from repro.common.registry import load_registry

ROOT = Path(__file__).resolve().parents[3]
PAPERS = load_registry(ROOT / "workflow" / "papers.yaml").slugs
KEYS = {"OPENAI_API_KEY": "sk-test", "ANTHROPIC_API_KEY": "sk-ant-test", "S2_API_KEY": "s2"}
PLENTY = 10**15  # free bytes: 1 PB
# The checkout the estimates read (released data, the rehearsal's token counts): an empty folder, so that no test
# depends on what this machine has fetched or rehearsed (test_calls_and_tokens_from_the_data_and_the_rehearsal
# gives them on purpose).
EMPTY = Path(tempfile.mkdtemp(prefix="preflight-workdir-"))


def answers(url: str, timeout: float) -> str | None:
    """A probe under which every endpoint answers."""
    return None


def preflight(config: dict[str, Any], jobs: list[PlannedJob], **kwargs: Any) -> Report:
    declared = {p: declarations(ROOT, p) for p in {j.paper for j in jobs if j.paper}}
    options = {"environ": KEYS, "probe": answers, "visible": 8, "free_bytes": PLENTY, "workdir": EMPTY, **kwargs}
    return run_preflight(config, jobs, declared, **options)


def job(paper: str, step: str, gpus: int = 0) -> PlannedJob:
    return PlannedJob(f"{paper}__{step}", paper, step, gpus)


def failed(report: Report, what: str) -> list[Any]:
    return [c for c in report.failed if c.what == what]


def test_everything_present_passes(params_yaml: dict[str, Any]) -> None:
    report = preflight(params_yaml, [job("distalign", "live", 1), job("ideagen", "seeds")])
    assert report.failed == [], format_report(report)


def test_calls_and_tokens_from_the_data_and_the_rehearsal(params_yaml: dict[str, Any], tmp_path, monkeypatch) -> None:
    """distalign's live calls are counted in the released questions, and their prompt tokens are the rehearsal's
    per-call mean as the cache layer's ledger counted it (repro.common.llm.budget), scaled to the calls."""
    from repro.common import preflight as pf
    from repro.common.llm.budget import BudgetGuard, Price, ledger_path

    # Without the released data or a rehearsal here, the calls stay unknown.
    bare = preflight(params_yaml, [job("distalign", "live", 1)]).estimates["distalign"]
    assert not bare.calls_complete and bare.in_tokens is None
    counts = {(d, s): 10 for d in ("opinionqa", "nytimes", "globalvalues") for s in ("none", "persona", "fewshot")}
    monkeypatch.setattr(pf, "_distalign_questions", lambda p, w: counts)  # 90 prompts per model and method
    prices = {m: Price(1.0, 1.0) for m in ("gpt-4", "gpt-3.5-turbo-0125")}
    guard = BudgetGuard(tmp_path / ledger_path("paper_toy"), "distalign", 100.0, prices)
    guard.settle(guard.reserve("gpt-4", "chat", 2, 1000, 10), 5)  # 500 prompt tokens per chat call
    guard.settle(guard.reserve("gpt-4", "top_logprobs", 1, 300, 1), 1)
    report = preflight(params_yaml, [job("distalign", "live", 1)], workdir=tmp_path)
    est = report.estimates["distalign"]
    assert est.calls == 90 * (2 * 3 + 2 * 2)  # V, Seq, Log-p for the 2 OpenAI models; V, Seq for the 2 Anthropic
    assert est.calls_complete and est.out_complete
    assert est.out_tokens == 90 * (4 * 200 + 4 * 100 + 2 * 1)
    assert est.in_tokens is None  # only gpt-4 was rehearsed: the other models' prompts are not counted
    measured = [c for c in pf._distalign_calls(pf.resolve(params_yaml, "distalign", "paper"), {"live"}, tmp_path)]
    gpt4 = {c.max_tokens: c.in_tokens for c in measured if c.model == "gpt-4"}
    assert gpt4 == {200: 90 * 500, 100: 90 * 500, 1: 90 * 300}


def test_missing_credential_fails_naming_the_variable_and_the_step(params_yaml: dict[str, Any]) -> None:
    env = {k: v for k, v in KEYS.items() if k != "ANTHROPIC_API_KEY"}
    report = preflight(params_yaml, [job("distalign", "live"), job("ideagen", "seeds")], environ=env)
    bad = failed(report, "credentials")
    assert {c.step for c in bad} == {"distalign__live", "ideagen__seeds"}
    assert all("ANTHROPIC_API_KEY" in c.detail for c in bad)
    assert "ANTHROPIC_API_KEY" in format_report(report)


def test_optional_key_only_reports(params_yaml: dict[str, Any]) -> None:
    # Semantic Scholar answers without a key (repro.ideagen.retrieval): a missing S2_API_KEY does not stop a run.
    report = preflight(params_yaml, [job("ideagen", "retrieval")], environ={})
    assert failed(report, "credentials") == []
    assert any(c.what == "credentials" and "S2_API_KEY" in c.detail for c in report.checks)


def test_unreachable_endpoint_fails(params_yaml: dict[str, Any]) -> None:
    asked = []

    def probe(url: str, timeout: float) -> str | None:
        asked.append(url)
        return "timed out" if "anthropic" in url else None

    report = preflight(params_yaml, [job("distalign", "live"), job("ideagen", "seeds")], probe=probe)
    bad = failed(report, "endpoint")  # one row per paper that needs it, so the table marks both
    assert [(c.paper, c.step) for c in bad] == [("distalign", "distalign__live"), ("ideagen", "ideagen__seeds")]
    assert all("api.anthropic.com" in c.detail and "timed out" in c.detail for c in bad)
    assert len(asked) == len(set(asked)), "each endpoint is probed once"


def test_gpus_insufficient_fails() -> None:
    jobs = [PlannedJob("p__train", "p", "train", 8), PlannedJob("p__eval", "p", "eval", 1)]
    (short,) = check_gpus(jobs, visible=4)
    assert not short.ok and short.step == "p__train" and "8 GPU(s); 4 visible" in short.detail
    assert all(c.ok for c in check_gpus(jobs, visible=8))
    assert all(c.ok for c in check_gpus(jobs, visible=0, cluster=True))  # the cluster gives each job its GPUs
    assert check_gpus([PlannedJob("p__cpu", "p", "cpu", 0)], visible=0) == []


def test_budget_exceeded_fails(params_yaml: dict[str, Any]) -> None:
    s = resolve_ideagen_seeds(params_yaml)
    calls = len(s["topics"]) * math.ceil(s["n_per_topic"] / (s["ideas_per_call"] * s["samples_per_call"]))
    price = params_yaml["preflight"]["prices"][params_yaml["ideagen"]["base"]["llms"][s["llm"]]["model"]]["output"]
    usd = calls * s["samples_per_call"] * s["max_tokens"] * price / 1e6
    report = preflight(params_yaml, [job("ideagen", "seeds")])
    assert report.estimates["ideagen"].calls == calls
    assert report.estimates["ideagen"].usd == pytest.approx(usd)
    assert failed(report, "budget") == []

    config = copy.deepcopy(params_yaml)
    config["preflight"]["budget_usd"]["ideagen"] = usd / 2
    (over,) = failed(preflight(config, [job("ideagen", "seeds")]), "budget")
    assert over.paper == "ideagen" and "exceeds" in over.detail

    del config["preflight"]["budget_usd"]["ideagen"]
    (none,) = failed(preflight(config, [job("ideagen", "seeds")]), "budget")
    assert "no preflight.budget_usd.ideagen" in none.detail


def resolve_ideagen_seeds(params_yaml: dict[str, Any]) -> dict[str, Any]:
    return params_yaml["ideagen"]["base"]["seeds"]


def test_gpu_hours_from_six_n_d(params_yaml: dict[str, Any]) -> None:
    est = preflight(params_yaml, [job("ttt", "train", 1)]).estimates["ttt"]
    assert est.gpu_hours > 0 and est.gpu_complete
    config = copy.deepcopy(params_yaml)
    config["preflight"]["gpu"]["mfu"] /= 2
    assert preflight(config, [job("ttt", "train", 1)]).estimates["ttt"].gpu_hours == pytest.approx(2 * est.gpu_hours)


FAKE_STEPS = """
from repro.common.declarations import step

@step(reads=("llm",))
def ask_step(inputs, config): ...

@step(reads=("llm",), not_run={"paper": "the pipeline behind it is not implemented"})
def spend_step(inputs, config): ...
"""
FAKE_RULES = """
rule fake__ask:
    resources:
        gpu=gpus(),

rule fake__spend:
    resources:
        gpu=gpus(64),
"""


def test_not_run_step_is_not_checked(tmp_path: Path) -> None:
    (tmp_path / "src" / "repro" / "fake").mkdir(parents=True)
    (tmp_path / "src" / "repro" / "fake" / "steps.py").write_text(FAKE_STEPS)
    (tmp_path / "workflow" / "rules").mkdir(parents=True)
    (tmp_path / "workflow" / "rules" / "fake.smk").write_text(FAKE_RULES)
    jobs = plan_from_declarations(tmp_path, ["fake"], "paper")
    assert [(j.rule, j.gpus) for j in jobs] == [("fake__ask", 1)]  # not fake__spend, nor its 64 GPUs
    config = {"fake": {"base": {"llm": {"backend": "openai", "model": "m", "api_key_env": "FAKE_KEY"}}}}
    config["preflight"] = {"budget_usd": {"fake": 0}}
    declared = {"fake": declarations(tmp_path, "fake")}
    report = run_preflight(config, jobs, declared, environ={}, probe=answers, visible=1, free_bytes=PLENTY)
    (bad,) = failed(report, "credentials")
    assert bad.step == "fake__ask"  # checked once, for the step that runs


def test_cli_prints_a_row_per_paper(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--scale", "paper", "--root", str(ROOT)], probe=answers, environ={})
    out = capsys.readouterr().out
    rows = [line.split("|")[1].strip() for line in out.splitlines() if line.startswith("| ")]
    assert rows[0] == "paper" and [r for r in rows[1:] if r in PAPERS] == list(PAPERS)
    assert rc == 1 and "OPENAI_API_KEY" in out  # no keys given: the run would be stopped


def test_default_base_urls_match_the_backends() -> None:
    from repro.common.llm.openai import OpenAILLM
    from repro.ideagen.retrieval import S2_BASE

    assert DEFAULT_BASE_URLS["openai"] == inspect.signature(OpenAILLM).parameters["base_url"].default
    assert DEFAULT_BASE_URLS["semantic_scholar"] == S2_BASE


def test_plan_only_steps_build_no_backend() -> None:
    import ast
    import importlib
    import textwrap

    for paper, step in PLAN_ONLY_STEPS:
        source = inspect.getsource(getattr(importlib.import_module(f"repro.{paper}.steps"), f"{step}_step"))
        tree = ast.parse(textwrap.dedent(source))
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert "from_params" not in names, f"{paper}.{step} builds a backend: it is not plan-only"
        assert not any(m and m.startswith("repro.common.llm") for m in modules), f"{paper}.{step} imports a backend"


def test_preflight_block_is_validated(params_yaml: dict[str, Any]) -> None:
    validate_params(params_yaml, ROOT / "workflow" / "schemas", PAPERS)
    config = copy.deepcopy(params_yaml)
    config["preflight"]["gpu"]["mfu_typo"] = 0.5
    with pytest.raises(ParamsError, match="preflight.gpu.mfu_typo"):
        validate_params(config, ROOT / "workflow" / "schemas", PAPERS)


def test_downloads_are_hub_ids_and_urls_that_are_not_here(tmp_path: Path) -> None:
    """The network check's needs: hub ids (also of an in-process hf model) and URLs not in resources/ or the
    mirror; not an API model's id, a URL template (pinned fetch rules fill it in) or a local path."""
    mirror = tmp_path / "mirror"
    (mirror / "github.com/o/r/c").mkdir(parents=True)
    (mirror / "github.com/o/r/c/f.csv").write_text("x")
    (tmp_path / "results/x").mkdir(parents=True)
    params = {
        "data": {
            "hub_dataset": "monology/pile-uncopyrighted",
            "local": "results/x",
            "url": "https://example.org/a/b.csv",
            "template": "https://example.org/{commit}/b.csv",
            "mirrored": "https://raw.githubusercontent.com/o/r/c/f.csv",
        },
        "api": {"backend": "openai", "model": "mistralai/Mixtral", "api_key_env": "K", "base_url": "https://x/v1"},
        "local_llm": {"backend": "hf", "model": "meta-llama/Meta-Llama-3-70B-Instruct", "api_key_env": None},
    }
    environ = {"REPRO_MIRROR": str(mirror), "HF_ENDPOINT": "http://hub.test/"}
    found = find_downloads(params, "demo", "s", ["data", "api", "local_llm"], workdir=tmp_path, environ=environ)
    assert {(d.key, d.probe) for d in found} == {
        ("data.hub_dataset", "http://hub.test"),
        ("data.url", "https://example.org"),
        ("local_llm.model", "http://hub.test"),
    }
    offline = find_downloads(
        params, "demo", "s", ["data"], workdir=tmp_path, environ={**environ, "HF_HUB_OFFLINE": "1"}
    )
    assert [d.key for d in offline] == ["data.url"]  # the hub's cache is trusted offline; the URL is not here
    checks = check_network(found, lambda url, t: None if "hub" in url else "refused")
    assert [c.ok for c in checks] == [True, False]  # one per address, in the order first needed
    assert "https://example.org did not answer: refused; needed for https://example.org/a/b.csv" in checks[1].detail


def test_unrunnable_names_each_step_and_the_check_it_fails(params_yaml: dict[str, Any]) -> None:
    """REPRO_PREFLIGHT=not_run: each planned step that fails a check of its own is named with it; steps that pass
    are not; with everything present nothing is."""
    jobs = [job("ttt", "train", 1), job("ttt", "tokenizer"), job("distalign", "live", 1), job("obsscaling", "pca")]
    declared = {p: declarations(ROOT, p) for p in ("ttt", "distalign", "obsscaling")}

    def probe(url: str, timeout: float) -> str | None:
        return "connection refused" if "hub.invalid" in url else None

    environ = {"HF_ENDPOINT": "http://hub.invalid"}
    out = unrunnable(params_yaml, jobs, declared, environ=environ, probe=probe, visible=0, workdir=EMPTY)
    assert set(out) == {"ttt", "distalign"}
    assert "gpus: ttt__train requests 1 GPU(s); 0 visible here" in out["ttt"]["train"]
    assert "network: monology/pile-uncopyrighted (ttt.data.hub_dataset)" in out["ttt"]["tokenizer"]
    assert "OPENAI_API_KEY is not set" in out["distalign"]["live"] and "gpus" in out["distalign"]["live"]
    assert all(why.startswith("cannot run here (preflight): ") for p in out.values() for why in p.values())
    assert unrunnable(params_yaml, jobs, declared, environ=KEYS, probe=answers, visible=8, workdir=EMPTY) == {}
    # on a cluster each job gets its GPUs there: only the hub is missing
    everything_but_the_hub = {**KEYS, **environ}
    on_cluster = unrunnable(
        params_yaml, jobs, declared, environ=everything_but_the_hub, probe=probe, visible=0, cluster=True, workdir=EMPTY
    )
    assert set(on_cluster) == {"ttt", "distalign"} and set(on_cluster["ttt"]) == {"tokenizer"}
    assert "Meta-Llama-3-70B-Instruct (distalign.live.models.4.model)" in on_cluster["distalign"]["live"]


def test_unrunnable_over_budget_leaves_out_the_paid_steps_only(params_yaml: dict[str, Any]) -> None:
    jobs = [job("ideagen", "retrieval"), job("ideagen", "seeds"), job("ideagen", "dedup")]
    declared = {"ideagen": declarations(ROOT, "ideagen")}
    config = copy.deepcopy(params_yaml)
    config["preflight"]["budget_usd"]["ideagen"] = 1
    out = unrunnable(config, jobs, declared, environ=KEYS, probe=answers, visible=8, workdir=EMPTY)
    assert set(out["ideagen"]) == {"seeds"}
    assert "budget: estimate $" in out["ideagen"]["seeds"] and "exceeds $1" in out["ideagen"]["seeds"]


def test_a_gpu_request_that_names_a_params_key_is_read_from_the_papers_params(tmp_path):
    """gpus(TTT["train"]["ranks"]) in a rules file plans that many GPUs at paper scale (issue 29: one rank per GPU)."""
    from repro.common.preflight import plan_from_rules

    rules = tmp_path / "workflow" / "rules"
    rules.mkdir(parents=True)
    (rules / "fake.smk").write_text(
        'rule fake__a:\n    resources:\n        gpu=gpus(FAKE["train"]["ranks"]),\n'
        "rule fake__b:\n    resources:\n        gpu=gpus(4),\n"
        "rule fake__c:\n    resources:\n        gpu=gpus(n_gpus()),\n"
        'rule fake__d:\n    resources:\n        gpu=gpus(FAKE["train"]["missing"]),\n'
    )
    plan = plan_from_rules(tmp_path, "fake", {"train": {"ranks": 8}})
    assert plan == {"fake__a": 8, "fake__b": 4, "fake__c": None, "fake__d": None}
    assert plan_from_rules(tmp_path, "fake")["fake__a"] is None  # without params: an expression
