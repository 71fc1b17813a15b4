# Graph-based Uncertainty Metrics for Long-form Language Model Outputs (Jiang et al., NeurIPS 2024).
#
# DAG:
#   graphunc__fetch (released matrices, cached metrics, UAD FActScore outputs; pinned, sha256)
#     -> graphunc__exact    centralities from the released entailment matrices (bit-exact with the stored
#                           scores), AUROC/AUPRC/AUPRC-n per method, relative AUPRC gain, UAD curves
#     -> graphunc__authors  the authors' cached metrics of all twelve settings
#   graphunc__tiny          synthetic KB -> corpus -> tiny LM -> greedy + sampled bios -> claims -> graphs
#                           -> centralities, metrics with bootstrap CIs, uncertainty-aware decoding
#                           (tiny: 400 fictional people, popularity 30 * rank^-1, GPT-2 2x64 trained 1,000 steps,
#                           greedy + 9 samples at T = 1, claims merged from 5 texts, 3 seeds; ~1 CPU-min per seed)
#   -> graphunc__numbers (results/{scale}/graphunc/numbers.json); graphunc__fig_<name> per figure.
#   At paper scale the same DAG runs (the settings whose matrices are pinned; the others are listed under
#   release.unpinned) plus graphunc__paper_plan, which writes the LLM job plan (backends, model ids,
#   prompts) of the full pipeline for networked users.
#
# numbers.json keys (flat, dotted):
#   exact.<dataset>_<model>.s<S>.<method>.<auroc|auprc|auprc_n>   recomputed from the released matrix;
#       dataset in {factscore, popqa}, model in {gpt35, gpt4, llama3_70b}, S = generations (5 or 10),
#       method in {sc, closeness, betweenness, eigenvector, pagerank, vc, closeness_vc, sc_vc, ilvc}
#       (vc = verbalised confidence with options, ilvc = inline verbalised confidence, sc_vc = SC + VC)
#   exact.<setting>.s<S>.{n_claims, frac_true, eigenvector_failures}
#   exact.centrality_max_abs_diff, exact.centrality_n_compared   recomputed vs stored per-claim scores
#   exact.relative_auprc_gain        mean over the 12 settings of AUPRC(C_C+VC)/AUPRC(SC) - 1 (cached values)
#   exact.relative_gain.<new>_over_<old>.<auprc|auprc_n|auroc>.<mean_of_ratios|ratio_of_means>, .n_settings
#   exact.relative_auprc_gain_recomputed_settings   the same over the recomputed settings only
#   exact.uad.<method>.p<percentile>.<precision|true_claims|false_claims|respond_ratio|n_outputs>
#       method in {closeness, sc, sc_vc (SC + 0.1 VC), sc_ilvc, sc_ml}; exact.uad.<greedy|cove>.<same>
#   exact.uad.init_score_max_abs_diff   recomputed precision vs the stored FActScore init_score
#   authors.<setting>.s<S>.<method>.<auroc|auprc|auprc_n>, authors.<setting>.s<S>.n_claims
#   tiny.<method>.<auroc|auprc|auprc_n>[_ci_low|_ci_high]   pooled over seeds, bootstrap over (seed, person)
#   tiny.<method>.<auroc|auprc|auprc_n>.per_seed   one value per model seed (order: tiny.seeds); the unit of
#       the comparison claims (a seed = LM init, data order, sampling and held-out split)
#   tiny.seeds, tiny.frac_true.per_seed
#   tiny.floor.random.<auroc|auprc>, tiny.floor.majority.<precision|true_claims>   floors (a random score; a bio
#       stating every attribute's majority value)
#   tiny.uad.<greedy|closeness|sc>.<precision|true_claims|false_claims|respond_ratio>[.per_seed], tiny.uad.percentile
#   tiny.uad_sweep.<closeness|sc>.p<percentile>.<precision|true_claims>   the trade-off curve (Fig. 4 in miniature)
#   tiny.lm.final_train_loss, tiny.greedy.precision_all_people, tiny.n_claims, tiny.frac_true, tiny.n_seeds

GU_PARAMS = paper_params("graphunc")
# The released artifacts (rule graphunc__fetch, workflow/rules/downloads.smk): input name -> local path.
GU_FILE = {name: spec["path"] for name, spec in downloads("graphunc").items()}
GU_MATRIX = {k: v for k, v in GU_FILE.items() if k.startswith("matrix_")}
GU_AUTHORS = {k: v for k, v in GU_FILE.items() if k.startswith("authors_")}
GU_UAD = {k: v for k, v in GU_FILE.items() if k.startswith("uad_")}
GU_OUT = "results/{scale}/graphunc"
GU_LOG = "logs/{scale}/graphunc"
GU_FIGURES = {
    "auc_bars": {"exact": f"{GU_OUT}/exact/table.csv", "authors": f"{GU_OUT}/authors/table.csv"},
    "uad": {"uad": f"{GU_OUT}/exact/uad.csv", "tiny_uad": f"{GU_OUT}/tiny/uad.csv"},
    "graph": {"example": f"{GU_OUT}/exact/example.csv"},
    "tiny": {"tiny": f"{GU_OUT}/tiny/table.csv"},
}
GU_PAPER_PLAN = [f"results/{SCALE}/graphunc/paper_plan/plan.csv"] if runs_here("graphunc", "paper_plan") else []


rule graphunc__exact:
    """Secs. 3-4, Table 1, Figs. 3-4: graphs from the released matrices, centralities, AUROC/AUPRC, UAD."""
    input:
        **GU_MATRIX,
        **GU_AUTHORS,
        **GU_UAD,
        **step_inputs("graphunc", "exact"),
    output:
        numbers=f"{GU_OUT}/exact/numbers.json",
        table=f"{GU_OUT}/exact/table.csv",
        uad=f"{GU_OUT}/exact/uad.csv",
        example=f"{GU_OUT}/exact/example.csv",
    log:
        f"{GU_LOG}/exact.log",
    benchmark:
        "benchmarks/{scale}/graphunc/exact.tsv"
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule graphunc__authors:
    """Table 1 / Fig. 3: the authors' cached AUROC / AUPRC / AUPRC-n of all twelve settings."""
    input:
        **GU_AUTHORS,
        code=step_code("graphunc"),
    output:
        numbers=f"{GU_OUT}/authors/numbers.json",
        table=f"{GU_OUT}/authors/table.csv",
    log:
        f"{GU_LOG}/authors.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule graphunc__tiny:
    """Secs. 3-5 end to end on a synthetic KB with a tiny LM: claim metrics with CIs, UAD vs greedy."""
    input:
        **step_inputs("graphunc", "tiny"),
    output:
        numbers=f"{GU_OUT}/tiny/numbers.json",
        table=f"{GU_OUT}/tiny/table.csv",
        claims=f"{GU_OUT}/tiny/claims.csv",
        uad=f"{GU_OUT}/tiny/uad.csv",
    log:
        f"{GU_LOG}/tiny.log",
    benchmark:
        "benchmarks/{scale}/graphunc/tiny.tsv"
    conda:
        REPRO_ENV
    threads: 1
    resources:
        runtime=20,
    script:
        "../scripts/common/step.py"


rule graphunc__paper_plan:
    """Paper scale (Sec. 4.1): the LLM job plan (generation, decomposition, merging, entailment, VC) per setting."""
    input:
        **step_inputs("graphunc", "paper_plan"),
    output:
        numbers=f"{GU_OUT}/paper_plan/numbers.json",
        plan=f"{GU_OUT}/paper_plan/plan.csv",
    log:
        f"{GU_LOG}/paper_plan.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule graphunc__numbers:
    """results/{scale}/graphunc/numbers.json: every step's numbers, flat dotted keys, duplicates refused."""
    input:
        parts=numbers_parts("graphunc"),
        code=code_inputs("common/numbers"),
    output:
        numbers=f"{GU_OUT}/numbers.json",
    log:
        f"{GU_LOG}/numbers.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/numbers.py"


for _fig, _inputs in GU_FIGURES.items():
    figure_rule("graphunc", _fig, _inputs, labels=GU_PARAMS["figures"])


# The paper's target, after its figure_rule calls (figure_files_here reads them).
rule graphunc:
    """Every graphunc number and figure at the configured scale (a figure whose inputs come from a step declared not
    run at this scale is left out: figure_files_here)."""
    input:
        numbers=f"results/{SCALE}/graphunc/numbers.json",
        figures=figure_files_here("graphunc", list(GU_FIGURES)),
        plan=GU_PAPER_PLAN,
