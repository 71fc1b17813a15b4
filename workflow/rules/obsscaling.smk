# Observational Scaling Laws (Ruan, Maddison, Hashimoto 2024), exact tier.
#
# DAG: fetch -> pca -> family_loglinear
#            -> post_training | agents | lbv2 | preregistered | emergent | subset_selection
#            -> numbers (results/{scale}/obsscaling/numbers.json) ; one fig_* rule per figure.
# Every analysis runs on the authors' released CSVs (pinned in params.yaml: obsscaling.data),
# in seconds, so tiny = paper settings; smoke shrinks the family-subset search.
#
# numbers.json keys (flat, dotted; MSEs are in the transformed target space):
#   pca.explained_variance.pc1..pc5, .top3; pca.complete_cases.explained_variance.pc1..pc5;
#   pca.loadings.pc{1,2,3}.<benchmark>; pca.n_models, .n_families, .n_models_with_flops
#   family_loglinear.mean_r2, .n_families, family_loglinear.<family>.{n,r2,slope}
#   post_training.<target>.<x>.{train_mse,test_mse,train_mae,test_mae,n_train,n_test,test_mse_converged}
#       target: gsm8k_naive gsm8k_cot gsm8k_cot_sc bbh_fewshot bbh_cot; x: log_size log_flops pc1 pc2 pc3
#       (pcK = PC-1..K); .pc<k>.equiv_slope (steepness per decade of Llama-2-equivalent FLOPs);
#       post_training.<target>.pc3_notebook_pca.* (PCA with 3 components)
#   agents.<agentbench|agentboard>.pc<k>.{train_mse,test_mse,...}, k = 1..4
#   lbv2.<gpqa|math_hard|bbh>.<log_size|log_flops|pc3>.{train_mse,test_mse,...}, lbv2.<task>.chance
#   preregistered.<gsm8k_naive|gsm8k_cot|gsm8k_cot_sc>.pc3.{train_mse,test_mse,n_train,n_test}
#   emergent.<task>.<log_size|log_flops|pc3>.{train_mse,test_mse,...}
#   subset_selection.budget<B>.{objective,families,n_models,n_families};
#   subset_selection.random.budget<B>.{objective_mean,objective_draw0,families_draw0}
#   subset_selection.eval.<vopt|random>.budget<B>.gmean_test_mse (random: mean over draws; .log_mean/.log_std)
#   subset_selection.eval.all.{gmean_test_mse,n_train_models}; subset_selection.n_subsets;
#   subset_selection.pool.*; subset_selection.guide.budget<B>.{objective,families,n_models};
#   subset_selection.guide.n_subsets
# Rule = step = numbers prefix: obsscaling__<step> runs repro.obsscaling.steps.<step>_step (typed config:
# repro.obsscaling.config) through workflow/scripts/common/step.py.


# The released CSVs (rule obsscaling__fetch, workflow/rules/downloads.smk): name -> local path.
OBS_FILE = {name: spec["path"] for name, spec in downloads("obsscaling").items()}
OBS_OUT = "results/{scale}/obsscaling"
OBS_LOG = "logs/{scale}/obsscaling"
OBS_BENCH = "benchmarks/{scale}/obsscaling"
OBS_FIT_KEYS = ["benchmarks", "imputation", "pca", "fit"]
OBS = paper_params("obsscaling")
OBS_FIGURES = ["pca", "family_loglinear", "post_training", "agents", "subset_selection"]
OBS_TITLES = OBS["figures"]["titles"]
OBS_TITLES_POST = {name: OBS_TITLES.get(name, name) for name in OBS["post_training"]["targets"]}
OBS_TITLES_AGENTS = {name: OBS_TITLES.get(name, name) for name in OBS["agents"]["targets"]}


rule obsscaling__pca:
    """(a) Sec. 3.2: PCA (with PCA imputation) of the base models' benchmark matrix."""
    input:
        **step_inputs("obsscaling", "pca"),
        base_eval=OBS_FILE["base_eval"],
    output:
        numbers=f"{OBS_OUT}/pca/numbers.json",
        scree=f"{OBS_OUT}/pca/scree.csv",
        loadings=f"{OBS_OUT}/pca/loadings.csv",
        scores=f"{OBS_OUT}/pca/scores.csv",
    log:
        f"{OBS_LOG}/pca.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule obsscaling__family_loglinear:
    """(b) Sec. 3.2, Fig. 3: PC-1 vs log10 FLOPs within each family."""
    input:
        **step_inputs("obsscaling", "family_loglinear"),
        scores=rules.obsscaling__pca.output.scores,
    output:
        numbers=f"{OBS_OUT}/family_loglinear/numbers.json",
        fits=f"{OBS_OUT}/family_loglinear/fits.csv",
    log:
        f"{OBS_LOG}/family_loglinear.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule obsscaling__post_training:
    """(c) Sec. 4.2: GSM8K naive/CoT/CoT+SC and BBH, trained below the Llama-2-7B FLOPs cutoff."""
    input:
        **step_inputs("obsscaling", "post_training"),
        base_eval=OBS_FILE["base_eval"],
        post_training=OBS_FILE["post_training"],
    output:
        numbers=f"{OBS_OUT}/post_training/numbers.json",
        predictions=f"{OBS_OUT}/post_training/predictions.csv",
        fits=f"{OBS_OUT}/post_training/fits.csv",
    log:
        f"{OBS_LOG}/post_training.log",
    benchmark:
        f"{OBS_BENCH}/post_training.tsv"
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule obsscaling__agents:
    """(d) Sec. 4.3: AgentBench / AgentBoard from instruct-model benchmarks, top 10% held out."""
    input:
        **step_inputs("obsscaling", "agents"),
        instruct_eval=OBS_FILE["instruct_eval"],
        agent_eval=OBS_FILE["agent_eval"],
    output:
        numbers=f"{OBS_OUT}/agents/numbers.json",
        predictions=f"{OBS_OUT}/agents/predictions.csv",
        fits=f"{OBS_OUT}/agents/fits.csv",
    log:
        f"{OBS_LOG}/agents.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule obsscaling__lbv2:
    """(e) App. C.3: Open LLM Leaderboard v2 (GPQA, MATH-hard, BBH) with per-target cutoffs."""
    input:
        **step_inputs("obsscaling", "lbv2"),
        base_eval=OBS_FILE["base_eval"],
        leaderboard_v2=OBS_FILE["leaderboard_v2"],
    output:
        numbers=f"{OBS_OUT}/lbv2/numbers.json",
        predictions=f"{OBS_OUT}/lbv2/predictions.csv",
    log:
        f"{OBS_LOG}/lbv2.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule obsscaling__preregistered:
    """(f) Models released after the paper, predicted from the earlier ones (GSM8K, PC-1..3)."""
    input:
        **step_inputs("obsscaling", "preregistered"),
        base_eval=OBS_FILE["base_eval"],
        post_training=OBS_FILE["post_training"],
    output:
        numbers=f"{OBS_OUT}/preregistered/numbers.json",
        predictions=f"{OBS_OUT}/preregistered/predictions.csv",
    log:
        f"{OBS_LOG}/preregistered.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule obsscaling__emergent:
    """(g) Sec. 4.1: BIG-bench 'emergent' tasks; per-task cutoff and transform from params (unverified)."""
    input:
        **step_inputs("obsscaling", "emergent"),
        base_eval=OBS_FILE["base_eval"],
        emergent=OBS_FILE["emergent"],
    output:
        numbers=f"{OBS_OUT}/emergent/numbers.json",
        predictions=f"{OBS_OUT}/emergent/predictions.csv",
    log:
        f"{OBS_LOG}/emergent.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule obsscaling__subset_selection:
    """(h) Sec. 5: V-optimal family subsets by budget vs random subsets, scored on the GSM8K targets."""
    input:
        **step_inputs("obsscaling", "subset_selection"),
        base_eval=OBS_FILE["base_eval"],
        post_training=OBS_FILE["post_training"],
    output:
        numbers=f"{OBS_OUT}/subset_selection/numbers.json",
        curve=f"{OBS_OUT}/subset_selection/curve.csv",
        choices=f"{OBS_OUT}/subset_selection/choices.csv",
    log:
        f"{OBS_LOG}/subset_selection.log",
    benchmark:
        f"{OBS_BENCH}/subset_selection.tsv"
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule obsscaling__numbers:
    """Merge every step's numbers into results/{scale}/obsscaling/numbers.json (keys: see the header)."""
    input:
        parts=numbers_parts("obsscaling"),
        code=code_inputs("common/numbers"),
    output:
        numbers=f"{OBS_OUT}/numbers.json",
    log:
        f"{OBS_LOG}/numbers.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/numbers.py"


# Figures (Figs. 2, 3, 5, 6, 7): one generated rule per entry, drawn by repro.obsscaling.figures.FIGURES[name]
# from the compute steps' small tables; labels come from params (obsscaling.figures and the steps' own keys).
OBS_FIG_INPUTS = {
    "pca": dict(scree=rules.obsscaling__pca.output.scree, loadings=rules.obsscaling__pca.output.loadings),
    "family_loglinear": dict(
        scores=rules.obsscaling__pca.output.scores, fits=rules.obsscaling__family_loglinear.output.fits
    ),
    "post_training": dict(rules.obsscaling__post_training.output),
    "agents": dict(rules.obsscaling__agents.output),
    "subset_selection": dict(
        curve=rules.obsscaling__subset_selection.output.curve,
        numbers=rules.obsscaling__subset_selection.output.numbers,
    ),
}
OBS_FIG_LABELS = {
    "post_training": dict(
        OBS["figures"]["post_training"],
        targets=list(OBS["post_training"]["targets"]),  # panel order: params.yaml order (a list survives JSON)
        titles=OBS_TITLES_POST,
        reference_family=OBS["post_training"]["reference_family"],
    ),
    "agents": dict(
        OBS["figures"]["agents"],
        targets=list(OBS["agents"]["targets"]),
        titles=OBS_TITLES_AGENTS,
        reference_family=OBS["agents"]["reference_family"],
    ),
}

for _fig in OBS_FIGURES:
    figure_rule("obsscaling", _fig, OBS_FIG_INPUTS[_fig], labels=OBS_FIG_LABELS.get(_fig, {}))


# The paper's target, after its figure_rule calls (figure_files_here reads them).
rule obsscaling:
    """Every obsscaling number and figure at the configured scale (a figure whose inputs come from a step declared not
    run at this scale is left out: figure_files_here)."""
    input:
        numbers=f"results/{SCALE}/obsscaling/numbers.json",
        figures=figure_files_here("obsscaling", OBS_FIGURES),
