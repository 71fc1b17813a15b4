"""Workflow tests: lint, dry runs at both scales, params errors, a smoke run, bad data."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from workflow_helpers import BIN, ROOT, planned_rules, run, snakemake

from repro.common.floatenv import differences
from repro.common.registry import load_registry
from repro.common.scorecard import check_scorecard, evaluate_scorecard

# Cross-machine float spread of obsscaling's numbers, measured by benchmarks/float_spread.py --suite exact.
OBS_SPREAD = json.loads((ROOT / "benchmarks/results/float_spread.json").read_text())["exact"]["papers"]["obsscaling"][
    "keys"
]

REQUIRED_OBSSCALING_KEYS = (
    ["pca.explained_variance.pc1", "pca.explained_variance.top3", "family_loglinear.mean_r2"]
    + [
        f"post_training.{t}.{x}.test_mse"
        for t in ("gsm8k_naive", "gsm8k_cot", "gsm8k_cot_sc", "bbh_fewshot", "bbh_cot")
        for x in ("log_size", "log_flops", "pc1", "pc2", "pc3")
    ]
    + [f"agents.{a}.pc{k}.test_mse" for a in ("agentbench", "agentboard") for k in range(1, 5)]
    + [f"lbv2.{t}.{x}.test_mse" for t in ("gpqa", "math_hard", "bbh") for x in ("log_size", "log_flops", "pc3")]
    + [f"preregistered.{t}.pc3.test_mse" for t in ("gsm8k_naive", "gsm8k_cot", "gsm8k_cot_sc")]
)


def test_lint_is_clean():
    proc = snakemake(["--lint"], ROOT)
    assert "Congratulations, your workflow is in a good condition!" in proc.stdout + proc.stderr


def test_dry_run_tiny_plans_every_paper(repo_copy):
    out = snakemake(["-n"], repo_copy).stdout
    rules = planned_rules(out)
    assert rules.get("obsscaling__numbers") == 1 and rules.get("scorecard") == 1
    assert "results/tiny/obsscaling/numbers.json" in out


def test_dry_run_paper_scale(repo_copy):
    """The paper-scale DAG plans every paper's numbers and no job of a step declared not run there (issue 28,
    item 6: such a step is a NOT RUN row, never a job that raises)."""
    from repro.common.declarations import read_declarations

    out = snakemake(["-n", "--workflow-profile", "profiles/paper"], repo_copy).stdout
    assert "results/paper/obsscaling/numbers.json" in out
    assert "results/tiny/" not in out
    rules = planned_rules(out)
    not_run = []
    for slug in load_registry(ROOT / "workflow/papers.yaml").slugs:
        assert rules.get(f"{slug}__numbers") == 1, slug
        declared = read_declarations(sorted((ROOT / "src/repro" / slug).rglob("*.py")))
        not_run += [f"{slug}__{name}" for name, decl in declared.items() if decl.not_run_at("paper")]
    assert not_run, "no step is declared not run at paper scale: update this test's premise"
    assert not [r for r in not_run if r in rules], f"steps declared not run at paper scale are planned: {rules}"


def test_paper_scale_here_leaves_out_what_cannot_run(repo_copy):
    """REPRO_PREFLIGHT=not_run (issue 28) on a machine with no GPU, no API keys and no hub: the steps that fail a
    check of their own leave the DAG with every step that reads their outputs, each becomes a not_run.<step> entry
    of its paper saying why (the scorecard's NOT RUN rows), and every paper's merge is still planned. A mode the
    workflow does not know is refused, naming the variable."""
    from repro.common.preflight import plan_from_rules

    here = {
        "REPRO_PREFLIGHT": "not_run",
        "CUDA_VISIBLE_DEVICES": "",  # no GPU
        "HF_ENDPOINT": "http://127.0.0.1:9",  # a hub that does not answer (the discard port)
        "HF_HUB_OFFLINE": "",
        "OPENAI_API_KEY": "",
        "ANTHROPIC_API_KEY": "",
    }
    cmd = [str(BIN / "snakemake"), "-n", "--workflow-profile", "profiles/paper"]
    proc = run(cmd, repo_copy, env=here)
    rules = planned_rules(proc.stdout)
    slugs = load_registry(ROOT / "workflow/papers.yaml").slugs
    gpu_rules = {rule for slug in slugs for rule, n in plan_from_rules(ROOT, slug).items() if n is None or n > 0}
    assert gpu_rules and not gpu_rules & set(rules), sorted(gpu_rules & set(rules))
    for slug in slugs:
        assert rules.get(f"{slug}__numbers") == 1, slug
    not_run = {
        slug: json.loads(path.read_text())
        for slug in slugs
        if (path := repo_copy / f"results/paper/{slug}/params/not_run.json").is_file()
    }
    ttt = not_run["ttt"]
    assert "gpus: ttt__train requests 8 GPU(s); 0 visible here" in ttt["not_run.train"]  # ttt.train.ranks
    assert "network: monology/pile-uncopyrighted" in ttt["not_run.data"]
    assert ttt["not_run.text"].startswith("needs ttt__")  # derived through the DAG: it reads what they write
    assert "OPENAI_API_KEY is not set" in not_run["distalign"]["not_run.live"]
    planned_steps = {rule.split("__", 1)[1] for rule in rules if rule.startswith("ttt__")}
    assert not planned_steps & {key.removeprefix("not_run.") for key in ttt}
    assert "REPRO_PREFLIGHT=not_run:" in proc.stderr and "ttt__train" in proc.stderr

    bad = run(cmd, repo_copy, env={**here, "REPRO_PREFLIGHT": "skip"}, check=False)
    assert bad.returncode != 0 and "REPRO_PREFLIGHT='skip'" in bad.stdout + bad.stderr


def _edit_params(repo: Path, old: str, new: str) -> None:
    p = repo / "params.yaml"
    text = p.read_text()
    assert old in text, old
    p.write_text(text.replace(old, new, 1))


def test_unknown_params_key_is_named_and_nothing_written(repo_copy):
    _edit_params(repo_copy, "      test_fraction: 0.1\n", "      test_fraction: 0.1\n      test_fractoin: 0.2\n")
    proc = snakemake(["-n"], repo_copy, check=False)
    assert proc.returncode != 0
    assert "unknown key obsscaling.base.agents.test_fractoin" in proc.stdout + proc.stderr
    assert not (repo_copy / "results/tiny/obsscaling").exists()  # no params file, no half-written result


def test_wrong_params_type_is_named(repo_copy):
    _edit_params(repo_copy, "      test_fraction: 0.1\n", "      test_fraction: lots\n")
    proc = snakemake(["-n"], repo_copy, check=False)
    assert proc.returncode != 0
    assert "obsscaling.base.agents.test_fraction: 'lots' is not of type 'number'" in proc.stdout + proc.stderr


def test_smoke_run_enforces_the_exact_tier_and_matches_the_committed_results(repo_copy):
    snakemake(["--config", "scale=smoke", "--", "obsscaling"], repo_copy, timeout=900)
    numbers = json.loads((repo_copy / "results/smoke/obsscaling/numbers.json").read_text())
    missing = [k for k in REQUIRED_OBSSCALING_KEYS if k not in numbers]
    assert not missing, missing
    # The exact tier is enforced: an unexplained MISMATCH or a missing reference key fails (CI catches a regression).
    card = evaluate_scorecard(
        "smoke",
        {"obsscaling": repo_copy / "results/smoke/obsscaling/numbers.json"},
        [ROOT / "workflow/expected/obsscaling.yaml"],
        titles=load_registry(ROOT / "workflow/papers.yaml").titles,
    )
    check_scorecard(card)
    # Up to three rows are EXPLAINED: fits that are bistable under the authors' optimiser, where the CPU's
    # rounding picks the outcome (their round-off study reaches the published value; float_spread.json).
    assert card.totals.get("match", 0) >= 100 and card.totals.get("EXPLAINED", 0) <= 3, card.totals
    for fig in ("pca", "family_loglinear", "post_training", "agents", "subset_selection"):
        png = repo_copy / f"results/smoke/obsscaling/figures/{fig}.png"
        assert png.stat().st_size > 10_000, png
    # The committed tiny results (results/tiny/metrics.json) equal this fresh computation wherever the two
    # scales share settings (smoke only shrinks the subset search): a stale commit is caught. The committed
    # numbers may come from another CPU, so each key may differ by its measured cross-machine float spread
    # (benchmarks/results/float_spread.json, repro.common.floatenv; the finite-difference L-BFGS-B fits move
    # by up to ~1e-3 relative), never by less than 1e-9 relative.
    committed = json.loads((ROOT / "results/tiny/metrics.json").read_text())["obsscaling"]
    shared = {k: v for k, v in numbers.items() if not k.startswith("subset_selection.")}
    assert len(shared) > 500
    stale = differences(committed, shared, OBS_SPREAD)
    assert not stale, stale[:10]
    # A second run has nothing to do.
    again = snakemake(["-n", "--config", "scale=smoke", "--", "obsscaling"], repo_copy).stdout
    assert "Nothing to be done" in again
    # ... and a real regression is still caught: a stopping tolerance one decade tighter in the imputation
    # (a change that looks harmless) moves numbers beyond the float spread.
    _edit_params(repo_copy, "      tol: 1.0e-4        # stop when", "      tol: 1.0e-5        # stop when")
    snakemake(["--config", "scale=smoke", "--", "results/smoke/obsscaling/numbers.json"], repo_copy, timeout=900)
    edited = json.loads((repo_copy / "results/smoke/obsscaling/numbers.json").read_text())
    caught = differences(committed, {k: edited[k] for k in shared}, OBS_SPREAD)
    assert len(caught) > 50, caught


def test_corrupted_download_fails_cleanly(repo_copy, mirror, tmp_path, monkeypatch):
    """A mirror file whose sha256 differs from the pin: one clear error, no file left behind."""
    rel = Path("github.com/ryoungj/ObsScaling/4d6e1e43fd2635d04654aa77d1df9d5266ea0382/eval_results")
    bad_mirror = tmp_path / "bad-mirror"
    shutil.copytree(mirror / rel, bad_mirror / rel)
    target = bad_mirror / rel / "instruct_llm_agent_eval.csv"
    target.chmod(0o644)
    target.write_text(target.read_text().replace("ABench-OA", "ABench-XX"))
    monkeypatch.setenv("REPRO_MIRROR", str(bad_mirror))
    proc = snakemake(["--cores", "1", "obsscaling__fetch"], repo_copy, check=False)
    assert proc.returncode != 0
    assert "sha256 mismatch" in proc.stdout + proc.stderr
    assert not (repo_copy / "resources" / rel / "instruct_llm_agent_eval.csv").exists()


def test_missing_mirror_copy_names_url_and_variable(repo_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_MIRROR", str(tmp_path / "empty"))
    proc = snakemake(["--cores", "1", "obsscaling__fetch"], repo_copy, check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "raw.githubusercontent.com/ryoungj/ObsScaling" in text and "REPRO_MIRROR" in text
    assert not (repo_copy / "resources").exists() or not any((repo_copy / "resources").rglob("*.csv"))
