# AutoBencher: declarative benchmark construction (Li, Liu, Liang, Hashimoto et al.; arXiv 2407.08351, ICLR 2025).
#
# DAG:
#   autobencher__fetch   the safety fork's judged answers (hard + simple sets, 10 models), pinned commit, sha256
#     -> autobencher__safety   attack success rate per model and set (exact tier; read for metrics only,
#                              never a corpus: tests/unit/autobencher/test_safety.py checks that)
#   autobencher__panel (one job per seed)   synthetic world -> per-model corpora (facts in proportion to
#                              pageviews ** alpha x specialties) -> tiny GPT-2 test-takers + the parametric writer
#     -> autobencher__tiny    existing benchmark (most salient topics), adaptive (bandit + salience rerank) and
#                              random search per domain, metrics of the selected datasets, the no-privileged-info
#                              ablation, the panel vs its floors
#   autobencher__paper_plan  (paper scale only) the roles, prompts and panel of a networked run
#   -> autobencher__numbers (results/{scale}/autobencher/numbers.json) ; autobencher__fig_<name> per figure.
#
# numbers.json keys (flat, dotted; metric in novelty, difficulty, separability, objective, mean_error; method in
# adaptive, random, human = the existing benchmark; means over seeds, `_std` = sample std over seeds):
#   tiny.<method>.<metric>[_std]     mean over domains of the mean over the domain's selected datasets
#   tiny.<method>.{n_explored,salient_share}[_std]   explored categories and their salient share
#   tiny.relative_gain.<novelty|difficulty|separability>[_std]   the paper's "x% more": mean over domains of
#       (AutoBench - HumanBench) = tiny.gain_vs_human.<metric>; tiny.gain_vs_random.<metric>[_std] likewise
#   tiny.no_privileged_info.wrong_gold_rate[_std]   share of wrong golds when the writer LM answers its own
#       questions on the adaptive selected datasets; ..._human on the existing benchmark's topics
#   tiny.privileged_info.wrong_gold_rate   the same with golds from the fact table (0 by construction)
#   tiny.panel.<model>.{accuracy,floor_unigram}   on every question of the world; floor = the option most frequent
#       in the model's own corpus (count-based); tiny.panel.floor_random (1/4);
#       tiny.panel.writer.{accuracy,floor_unigram} (the parametric writer, same floors);
#       tiny.panel.min_margin_over_floor (min over models of accuracy - max floor; mean over seeds),
#       tiny.panel.worst_margin_over_floor (its minimum over seeds: the claims' precondition);
#       tiny.panel.mean_pairwise_topic_spearman (how alike two models rank the topics)
#   tiny.<key>.per_seed   every per-seed key above as a list in the order of tiny.seeds (the comparison claims'
#       units, issue 27); tiny.<method>.mean_error = 1 - the panel's mean accuracy (more_difficult v2);
#       tiny.panel.<model>.margin_over_floor / worst_margin_over_floor (each model against its own floors, worst seed)
#   tiny.seed<k>.<key>   every key above for seed k; tiny.n_seeds, tiny.seeds
#   safety.<model>.{asr_hard,asr_simple,n_hard,n_simple}, safety.mean_asr_<hard|simple>; model in gpt35_turbo,
#       gpt4, gpt4o, gpt4o_mini, claude3_haiku, claude35_sonnet, mistral_7b, mixtral_8x7b, llama3_8b, llama3_70b
#   paper_plan.{n_test_takers,n_categories}   paper scale only

AB = paper_params("autobencher")
# The safety fork's judged answers (rule autobencher__fetch, workflow/rules/downloads.smk): name -> local path.
AB_FILE = {name: spec["path"] for name, spec in downloads("autobencher").items()}
AB_SEEDS = AB["tiny"]["seeds"]
AB_OUT = "results/{scale}/autobencher"
AB_LOG = "logs/{scale}/autobencher"
AB_BENCH = "benchmarks/{scale}/autobencher"
AB_FIGURES = ["tiny", "safety"]
# One params file per panel seed (world + panel sections + the seed), written at parse time when it changes.
AB_PANEL_PARAMS = {
    seed: params_file("autobencher", f"panel-s{seed}", {"world": AB["world"], "panel": AB["panel"], "seed": seed})
    for seed in AB_SEEDS
}


wildcard_constraints:
    abseed="|".join(str(s) for s in AB_SEEDS),


rule autobencher__safety:
    """v2 safety table: attack success rate (share of prompts not refused) per model, hard and simple sets."""
    input:
        **AB_FILE,
        code=step_code("autobencher"),
    output:
        numbers=f"{AB_OUT}/safety/numbers.json",
        table=f"{AB_OUT}/safety/table.csv",
    log:
        f"{AB_LOG}/safety.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule autobencher__panel:
    """Sec. 6 of the notes: one seed's synthetic world and its tiny test-taker panel + parametric writer."""
    input:
        params=f"{AB_OUT}/params/panel-s{{abseed}}.json",  # AB_PANEL_PARAMS, written at parse time
        code=step_code("autobencher"),
    output:
        models=directory(f"{AB_OUT}/panel/s{{abseed}}"),
        table=f"{AB_OUT}/panel/s{{abseed}}.csv",
    log:
        f"{AB_LOG}/panel/s{{abseed}}.log",
    benchmark:
        f"{AB_BENCH}/panel/s{{abseed}}.tsv"
    conda:
        REPRO_ENV
    threads: 1
    resources:
        runtime=30,
    script:
        "../scripts/common/step.py"


rule autobencher__tiny:
    """Secs. 3-4 at tiny scale: adaptive vs random search, metrics vs the existing benchmark, ablation, floors."""
    input:
        **{f"panel_s{s}": f"{AB_OUT}/panel/s{s}" for s in AB_SEEDS},
        **step_inputs("autobencher", "tiny"),
    output:
        numbers=f"{AB_OUT}/tiny/numbers.json",
        datasets=f"{AB_OUT}/tiny/datasets.csv",
    log:
        f"{AB_LOG}/tiny.log",
    benchmark:
        f"{AB_BENCH}/tiny.tsv"
    conda:
        REPRO_ENV
    threads: 1
    resources:
        runtime=30,
    script:
        "../scripts/common/step.py"


rule autobencher__paper_plan:
    """Paper scale only: the roles (GPT-4-turbo), prompts, Wikipedia privileged info and the model panel."""
    input:
        **step_inputs("autobencher", "paper_plan"),
    output:
        numbers=f"{AB_OUT}/paper_plan/numbers.json",
        table=f"{AB_OUT}/paper_plan/table.csv",
    log:
        f"{AB_LOG}/paper_plan.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule autobencher__numbers:
    """Merge every step's numbers into results/{scale}/autobencher/numbers.json (keys: see the header)."""
    input:
        parts=numbers_parts("autobencher"),
        code=code_inputs("common/numbers"),
    output:
        numbers=f"{AB_OUT}/numbers.json",
    log:
        f"{AB_LOG}/numbers.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/numbers.py"


AB_FIG_INPUTS = {
    "tiny": {"datasets": rules.autobencher__tiny.output.datasets, "numbers": rules.autobencher__tiny.output.numbers},
    "safety": {"table": rules.autobencher__safety.output.table},
}

for _fig in AB_FIGURES:
    figure_rule("autobencher", _fig, AB_FIG_INPUTS[_fig], labels=AB["figures"])


# The paper's target, after its figure_rule calls (figure_files_here reads them).
rule autobencher:
    """Every autobencher number and figure at the configured scale (a figure whose inputs come from a step declared not
    run at this scale is left out: figure_files_here)."""
    input:
        numbers=f"results/{SCALE}/autobencher/numbers.json",
        figures=figure_files_here("autobencher", AB_FIGURES),
