# Improving Pretraining Data Using Perplexity Correlations (Thrush, Potts, Hashimoto 2024).
#
# DAG:  pplcorr__fetch -> crosscheck                       (ours vs the authors' PyPI package)
#                      -> exact                            (top-ten lists, Fig. 4 held-out ranks)
#       [paper scale: pplcorr__rpjv2 -> exact; pplcorr__paper_pretrain]
#       corpora__fetch -> pages -> population -> live      (the live data-selection loop; population:
#                                                           byte n-grams + tiny toolkit transformers)
#       -> numbers (results/{scale}/pplcorr/numbers.json) ; fig_top10, fig_heldout, fig_live_arms.
#
# numbers.json keys (flat, dotted):
#   crosscheck.max_abs_diff              max |ours - perplexity-correlations| over product, sign, sign_cdf,
#                                        sign_sign, spearmanr, l2 (float64), all cases
#   crosscheck.<fn>.max_abs_diff         per function; crosscheck.linear_max_abs_diff (the oracle's linear
#                                        is float32), crosscheck.linear_same_support (1: same selected set)
#   crosscheck.n_cases
#   exact.<target>.top10_overlap         |our top-10 ∩ released top_ten_from_estimate| (synthetic matrix)
#   exact.<target>.ref_in_near_tie_topk  1 when every reference text is in our top-13 (.ref_count_in_near_tie_topk: how many)
#   exact.<target>.max_missing_gap       largest (10th estimate - estimate of a missed reference text)
#   exact.<target>.heldout_spearman      Fig. 4: 5-fold out-of-fold Spearman(predicted, true error)
#   exact.<target>.heldout_fold_spearman_mean, exact.<target>.sign_cdf_rank_corr, exact.n_llms
#   exact.rpjv2.<target>.*               the same on the RPJv2 domain matrix (paper scale only)
#     targets: arc_easy piqa sciq lambada lambada_de lambada_es lambada_fr lambada_it
#   live.population.size                 number of population LMs (byte n-grams + tiny transformers);
#                                        live.population.{n_ngrams, n_transformers}
#   live.floor.cloze_error               sanity floor: random-guess error 1 - 1/n_choices
#   live.<target>.{target_domain_rank, n_domains_selected, heldout_spearman, bpb_error_spearman}
#   live.<target>.population.{error_min, error_mean, frac_beat_floor, transformer_error_min, transformer_error_mean}
#   live.<target>.<arm>.{error_mean, error_std}  the fresh tiny transformer pretrained on the arm's pages
#                                        (mean/std over seeds); arm: random pplcorr domain_filter dsir
#   live.<target>.<arm>.{error, ngram_error, bigram_floor_error}.per_seed  the same per seed (lists, in the
#                                        order of live.seeds: the unit of the scorecard's comparison claims)
#   live.seeds                           the live step's seeds (tiny: 0-5)
#   live.<target>.<arm>.{ngram_error_mean, ngram_error_std}  byte 4-gram on the same pages (cross-check)
#   live.<target>.<arm>.bigram_floor_error_mean  count-based Witten-Bell byte bigram on the same pages (floor)
#   live.<target>.<arm>.beats_floor      1 when the transformer beats the random-guess and the bigram floor
#   live.<target>.pplcorr.classifier_f1  live.pretrain.{n_params, n_models}
#     live targets: science (abc:science), speeches (state_union:speeches)
# Intermediate numbers (not in numbers.json): pages/numbers.json, population/numbers.json.


PPL = paper_params("pplcorr")
# The released files (rule pplcorr__fetch, workflow/rules/downloads.smk): name -> local path.
PPL_FILE = {name: spec["path"] for name, spec in downloads("pplcorr").items()}
PPL_OUT = "results/{scale}/pplcorr"
PPL_LOG = "logs/{scale}/pplcorr"
PPL_BENCH = "benchmarks/{scale}/pplcorr"
PPL_FIGURES = ["top10", "heldout", "live_arms"]
PPL_RPJV2 = "rpjv2" in PPL["exact"]["variants"]
PPL_EXACT_INPUTS = {
    "errors": PPL_FILE["errors"],
    "bpb_synthetic": PPL_FILE["bpb_synthetic"],
    **{k: v for k, v in PPL_FILE.items() if k.startswith("info_")},
    **({"bpb_rpjv2": PPL["rpjv2"]["dest"]} if PPL_RPJV2 else {}),
}
PPL_CORPORA = {
    f"corpus_{c}": f"{CORPORA_RESOURCES}/{c}.json"
    for c in [
        "tinyshakespeare",
        "wikitext2",
        "news_from_nowhere",
        "jack_sheppard",
        "state_union",
        "inaugural",
        "movie_reviews",
        "shakespeare",
        "switchboard",
    ]
}
# The opt-in corpora (brown, nps_chat, abc, webtext: research-only licences) are refused by corpora__fetch;
# pplcorr__pages fetches them itself (repro.common.fetch, sha256-checked) with allow_opt_in=True.
PPL_FIG_INPUTS = {
    "top10": {"top10": f"{PPL_OUT}/exact/top10.csv"},
    "heldout": {"heldout": f"{PPL_OUT}/exact/heldout.csv", "numbers": f"{PPL_OUT}/exact/numbers.json"},
    "live_arms": {"arms": f"{PPL_OUT}/live/arms.csv", "numbers": f"{PPL_OUT}/live/numbers.json"},
}
PPL_FIG_LABELS = {
    "top10": {"title": "Top-10 synthetic documents per target (spearmanr estimate)"},
    "heldout": {"title": "Held-out LLM error-rank prediction (5-fold, Fig. 4 procedure)"},
    "live_arms": {"title": "Live tiny loop: cloze error of a fresh LM per selection arm"},
}
PPL_CAPTIONS = {
    "top10": "Sec. 4 / released fasttext_info: top-ten synthetic documents per target",
    "heldout": "Fig. 4: held-out prediction of LLM benchmark ranks from BPB",
    "live_arms": "Table 1 in miniature: target error per selection arm",
}


# The rpjv2 matrix lies where params put it (resources/ at paper scale: no {scale} wildcard), so the rule's paths
# are those of this scale.
PPL_RPJV2_PARAMS = declared_params_file("pplcorr", "rpjv2")


rule pplcorr__rpjv2:
    """Paper scale: the RPJv2 domain BPB matrix (90 LLMs x ~10k domains), git-blob-checked."""
    input:
        **standin_inputs("pplcorr", "rpjv2"),
        params=PPL_RPJV2_PARAMS,
        code=step_code("pplcorr"),
    output:
        numbers=f"results/{SCALE}/pplcorr/rpjv2/numbers.json",
        matrix=PPL["rpjv2"]["dest"],
    log:
        f"logs/{SCALE}/pplcorr/rpjv2.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule pplcorr__crosscheck:
    """Sec. 3: our estimators and projections vs the authors' package on random and released cases."""
    input:
        **step_inputs("pplcorr", "crosscheck"),
        bpb=PPL_FILE["bpb_synthetic"],
        errors=PPL_FILE["errors"],
    output:
        numbers=f"{PPL_OUT}/crosscheck/numbers.json",
        table=f"{PPL_OUT}/crosscheck/table.csv",
    log:
        f"{PPL_LOG}/crosscheck.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule pplcorr__exact:
    """Sec. 4, Fig. 4: per-target estimates, top-ten lists vs the released YAMLs, held-out rank prediction."""
    input:
        **PPL_EXACT_INPUTS,
        **step_inputs("pplcorr", "exact"),
    output:
        numbers=f"{PPL_OUT}/exact/numbers.json",
        top10=f"{PPL_OUT}/exact/top10.csv",
        heldout=f"{PPL_OUT}/exact/heldout.csv",
    log:
        f"{PPL_LOG}/exact.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule pplcorr__pages:
    """Live tier: >= 20 domains of mirrored corpora cut into pages and split; cloze targets."""
    input:
        **PPL_CORPORA,
        **step_inputs("pplcorr", "pages"),
    output:
        numbers=f"{PPL_OUT}/pages/numbers.json",
        pages=f"{PPL_OUT}/pages/pages.csv",
        cloze=f"{PPL_OUT}/pages/cloze.csv",
    log:
        f"{PPL_LOG}/pages.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule pplcorr__population:
    """Live tier: the LM population (byte n-grams + tiny transformers); BPB per domain (X) and cloze errors (y)."""
    input:
        **step_inputs("pplcorr", "population"),
        pages=rules.pplcorr__pages.output.pages,
        cloze=rules.pplcorr__pages.output.cloze,
    output:
        numbers=f"{PPL_OUT}/population/numbers.json",
        bpb=f"{PPL_OUT}/population/bpb.csv",
        errors=f"{PPL_OUT}/population/errors.csv",
    log:
        f"{PPL_LOG}/population.log",
    benchmark:
        f"{PPL_BENCH}/population.tsv"
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule pplcorr__live:
    """Live tier: estimate -> project -> classifier -> select -> fresh tiny transformer, four arms x seeds."""
    input:
        **step_inputs("pplcorr", "live"),
        pages=rules.pplcorr__pages.output.pages,
        cloze=rules.pplcorr__pages.output.cloze,
        bpb=rules.pplcorr__population.output.bpb,
        errors=rules.pplcorr__population.output.errors,
    output:
        numbers=f"{PPL_OUT}/live/numbers.json",
        arms=f"{PPL_OUT}/live/arms.csv",
        estimates=f"{PPL_OUT}/live/estimates.csv",
    log:
        f"{PPL_LOG}/live.log",
    benchmark:
        f"{PPL_BENCH}/live.tsv"
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule pplcorr__paper_pretrain:
    """Paper scale: Pythia-160M pretraining per selection on RPJv2 (networked GPU users; dry-run here)."""
    input:
        **step_inputs("pplcorr", "paper_pretrain"),
    output:
        numbers=f"{PPL_OUT}/paper_pretrain/numbers.json",
    log:
        f"{PPL_LOG}/paper_pretrain.log",
    conda:
        REPRO_ENV
    resources:
        gpu=gpus(PPL["paper_pretrain"]["gpus"]),
        runtime=24 * 60,
    script:
        "../scripts/common/step.py"


rule pplcorr__numbers:
    """Merge every step's numbers into results/{scale}/pplcorr/numbers.json (keys: see the header)."""
    input:
        parts=numbers_parts("pplcorr"),
        code=code_inputs("common/numbers"),
    output:
        numbers=f"{PPL_OUT}/numbers.json",
    log:
        f"{PPL_LOG}/numbers.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/numbers.py"


for _fig in PPL_FIGURES:
    figure_rule("pplcorr", _fig, PPL_FIG_INPUTS[_fig], labels=PPL_FIG_LABELS[_fig])


# The paper's target, after its figure_rule calls (figure_files_here reads them).
rule pplcorr:
    """Every pplcorr number and figure at the configured scale (a figure whose inputs come from a step declared not
    run at this scale is left out: figure_files_here)."""
    input:
        numbers=f"results/{SCALE}/pplcorr/numbers.json",
        figures=figure_files_here("pplcorr", PPL_FIGURES),
        paper=[f"results/{SCALE}/pplcorr/paper_pretrain/numbers.json"] if runs_here("pplcorr", "paper_pretrain") else [],
