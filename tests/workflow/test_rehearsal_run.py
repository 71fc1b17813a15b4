"""The rehearsal of paper scale runs end to end (issue 28, item 3): ``snakemake --config scale=paper_toy``
finishes for all ten papers on CPU, plans no job for a step declared not run there, records what each such step
lacks in its paper's numbers.json, and the scorecard says the numbers mean nothing and compares none. The steps
wired to stand-ins ran on them: ttt's Hugging Face tokenizer and datasets call on local folders, ideagen's
Semantic Scholar client on the local server, pplcorr's pinned RPJv2 download on a local raw-file host, distalign's API models on strict local OpenAI-compatible servers
(and its hf model in process on a toy checkpoint); the workflow started and stopped the servers."""

from __future__ import annotations

import json
import socket

import yaml
from workflow_helpers import ROOT, copy_repo, planned_rules, snakemake

from repro.common.declarations import read_declarations
from repro.common.registry import load_registry

SLUGS = load_registry(ROOT / "workflow/papers.yaml").slugs


def test_the_rehearsal_runs_every_paper(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    plan = planned_rules(snakemake(["-n", "--config", "scale=paper_toy"], repo).stdout)
    snakemake(["-c2", "--config", "scale=paper_toy"], repo, timeout=1500)
    card = (repo / "results/paper_toy/scorecard.md").read_text()
    assert "**Rehearsal scale**" in card
    assert " match" not in card.split("Totals:", 1)[1].split("\n", 1)[0], "a number was compared at the rehearsal"
    for slug in SLUGS:
        numbers = json.loads((repo / f"results/paper_toy/{slug}/numbers.json").read_text())
        declared = read_declarations(sorted((ROOT / "src/repro" / slug).rglob("*.py")))
        for name, decl in declared.items():
            why = decl.not_run_at("paper_toy")
            if why:
                assert numbers.get(f"not_run.{name}") == why, (slug, name)
                assert f"{slug}__{name}" not in plan, f"{slug}__{name} is declared not run at paper_toy but planned"
                assert f"- `{name}`: {why}" in card
            elif decl.runs_at("paper_toy") and decl.merged and f"{slug}__{name}" in plan:
                assert any(k.startswith(f"{name}.") for k in numbers), f"{slug}: step {name} ran but left no numbers"
        for key, why in numbers.items():  # declared, or derived through the DAG (common.smk not_run_steps)
            if key.startswith("not_run.") and key.count(".") == 1:
                name = key.removeprefix("not_run.")
                assert f"{slug}__{name}" not in plan and f"- `{name}`: {why}" in card, (slug, name)
    recall = json.loads((repo / "results/paper_toy/ttt/numbers.json").read_text())["not_run.recall"]
    assert recall.startswith("needs ttt__recall_run, which does not run here: "), recall  # derived, not declared
    # The stand-ins were built and read through the paper-scale code paths.
    ttt = json.loads((repo / "results/paper_toy/ttt/numbers.json").read_text())
    assert ttt["tokenizer.kind"] == "hf" and ttt["data.train_documents"] > 0 and ttt["data.heldout_documents"] > 0
    # The tokens went through the paper-scale data path: tokenised by 2 processes into shard folders (issue 29, item 3).
    index = json.loads((repo / "results/paper_toy/ttt/data/train/index.json").read_text())
    assert len(index["shards"]) > 1 and sum(s["tokens"] for s in index["shards"]) == ttt["data.train_tokens"]
    assert plan.get("ttt__train", 0) == 24, "the rehearsal trains every run of Table 3 (6 archs x 4 sizes)"
    # ... each on 2 CPU ranks started by torchrun, where the paper scale starts one rank per GPU (issue 29, item 4).
    histories = [json.loads(p.read_text()) for p in (repo / "results/paper_toy/ttt/runs").glob("*/history.json")]
    assert len(histories) == 24 and {h["ranks"] for h in histories} == {2}
    assert "launching 2 ranks: " in (repo / "logs/paper_toy/ttt/train/ttt_linear-125m-s0.log").read_text()
    pplcorr = json.loads((repo / "results/paper_toy/pplcorr/numbers.json").read_text())
    assert "exact.rpjv2.arc_easy.heldout_spearman" in pplcorr  # the RPJv2 file fetched from the files stand-in
    ideagen = json.loads((repo / "results/paper_toy/ideagen/numbers.json").read_text())
    assert ideagen["retrieval.backend"] == "semantic_scholar"
    topics = yaml.safe_load((ROOT / "params.yaml").read_text())["ideagen"]["base"]["retrieval"]["topics"]
    assert all(ideagen[f"retrieval.{t.lower()}.n_papers"] > 0 for t in topics)
    assert (repo / "results/paper_toy/ideagen/s2-cache.sqlite").is_file()
    ideagen_toy = yaml.safe_load((ROOT / "params.yaml").read_text())["ideagen"]["paper_toy"]
    assert ideagen["seeds.n_total"] == len(topics) * ideagen_toy["seeds"]["n_per_topic"]  # claude: a local server
    assert ideagen["embed.n_seeds"] == ideagen["seeds.n_total"]
    live = json.loads((repo / "results/paper_toy/distalign/numbers.json").read_text())
    models = [
        m["name"] for m in yaml.safe_load((ROOT / "params.yaml").read_text())["distalign"]["base"]["live"]["models"]
    ]
    for name in models:  # every model answered through its endpoint (4 strict local servers) or in process (hf)
        assert any(k.startswith(f"live.{name}.") and k.endswith(".parse_fail_rate") for k in live), name
    # The cache layer metered the priced API models' calls against distalign's budget (repro.common.llm.budget).
    from repro.common.llm.budget import BudgetGuard

    for paper in ("distalign", "ideagen"):
        totals = BudgetGuard(repo / "resources/llm_cache/spend-paper_toy.sqlite", paper, 0.0, {}).totals()
        assert totals["calls"] > 0 and totals["in_tokens"] > 0 and totals["out_tokens"] > 0, (paper, totals)
    for port in range(18431, 18438):  # the workflow stopped its stand-in servers
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))


def test_a_rehearsal_path_to_an_undescribed_standin_is_refused_at_parse(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    params = repo / "params.yaml"
    text = params.read_text()
    assert "results/paper_toy/standins/tokenizers/llama-2," in text
    params.write_text(
        text.replace("results/paper_toy/standins/tokenizers/llama-2,", "results/paper_toy/standins/tokenizers/llama2,")
    )
    out = snakemake(["-n", "--config", "scale=paper_toy"], repo, check=False)
    assert out.returncode != 0
    message = out.stdout + out.stderr  # Snakemake prints a parse error on stdout
    assert "results/paper_toy/standins/tokenizers/llama2" in message and "standins.<kind>.<name>" in message
